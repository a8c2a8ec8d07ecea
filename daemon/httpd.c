/*
 * httpd.c — the operations endpoint; see httpd.h.
 *
 * libmicrohttpd with its internal polling thread: one thread serves every
 * request, so a slow scrape (Redis, see metrics.c) delays only other
 * scrapes. The listening socket is made here (bind errors get a reason, and
 * port 0 gets its real port back from getsockname) and handed to MHD.
 */
#include "httpd.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log.h"
#include "metrics.h"

#define HTTPD_CONNECTION_LIMIT 64
#define HTTPD_CONNECTION_TIMEOUT_S 10

struct httpd {
    struct MHD_Daemon *mhd;
    metrics_t *metrics;
    const worker_stats_t **stats; /* borrowed entries */
    const char **names;           /* borrowed entries */
    size_t n;
    int port;
};

/* libmicrohttpd's own messages go into our log. format(printf, 2, 0): fmt is
 * a printf format with its arguments in a va_list (clang -Wformat-nonliteral). */
static __attribute__((format(printf, 2, 0))) void httpd_mhd_log(void *cls, const char *fmt,
                                                                va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t len = strlen(buf);
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    log_warn("http: %s", buf);
}

/* Queues a response; @p body is copied unless @p owned (then MHD frees it). */
static enum MHD_Result httpd_reply(struct MHD_Connection *conn, unsigned int status,
                                   const char *content_type, char *body, size_t len, int owned)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        if (owned)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result httpd_text(struct MHD_Connection *conn, unsigned int status,
                                  const char *text)
{
    return httpd_reply(conn, status, "text/plain; charset=utf-8", (char *)text, strlen(text), 0);
}

/* GET /readyz: 200 "ready" when every stage worker has Kafka and Redis up
 * and partitions assigned; else 503 and one line per stage. */
static enum MHD_Result httpd_readyz(httpd_t *h, struct MHD_Connection *conn)
{
    size_t cap = 64 + h->n * 160, len = 0;
    char *body = malloc(cap);
    if (!body)
        return MHD_NO;
    body[0] = '\0';
    int ready = 1;
    for (size_t i = 0; i < h->n; i++) {
        const worker_stats_t *st = h->stats[i];
        int kafka = atomic_load(&st->kafka_up) > 0;
        int redis = atomic_load(&st->redis_up) > 0;
        int assigned = atomic_load(&st->assigned);
        int k;
        if (kafka && redis && assigned > 0) {
            k = snprintf(body + len, cap - len, "%s: ready (%d partitions assigned)\n", h->names[i],
                         assigned);
        } else {
            ready = 0;
            k = snprintf(body + len, cap - len, "%s: not ready:%s%s%s\n", h->names[i],
                         kafka ? "" : " kafka not up (transactions not initialised);",
                         redis ? "" : " redis not up;",
                         assigned > 0 ? "" : " no partitions assigned;");
        }
        if (k > 0)
            len += (size_t)k;
        if (len >= cap)
            len = cap - 1; /* cut, never past the buffer */
    }
    if (ready) {
        free(body);
        return httpd_text(conn, MHD_HTTP_OK, "ready\n");
    }
    return httpd_reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", body, len,
                       1);
}

/* @locality: libmicrohttpd's polling thread. */
static enum MHD_Result httpd_handle(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls)
{
    static int httpd_seen;
    httpd_t *h = cls;
    (void)version;
    (void)upload_data;
    /* First call: headers only. Answer once any body has been read (and
     * dropped): no endpoint takes one. */
    if (*con_cls == NULL) {
        *con_cls = &httpd_seen;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return httpd_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");

    if (strcmp(url, "/metrics") == 0) {
        size_t len;
        char *text = metrics_render(h->metrics, &len);
        return httpd_reply(conn, MHD_HTTP_OK, METRICS_CONTENT_TYPE, text, len, 1);
    }
    if (strcmp(url, "/healthz") == 0)
        return httpd_text(conn, MHD_HTTP_OK, "ok\n");
    if (strcmp(url, "/readyz") == 0)
        return httpd_readyz(h, conn);
    return httpd_text(conn, MHD_HTTP_NOT_FOUND, "not found (try /metrics, /healthz, /readyz)\n");
}

/* Binds and listens on host:port ("" = every IPv4 address). Returns the
 * socket, or -1 with a message. Sets *bound to the real port. */
static int httpd_listen(const char *host, int port, int *bound, char *errstr, size_t errstr_size)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = host[0] ? AF_UNSPEC : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    int gai = getaddrinfo(host[0] ? host : NULL, service, &hints, &res);
    if (gai != 0) {
        snprintf(errstr, errstr_size, "cannot resolve '%s': %s", host, gai_strerror(gai));
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0)
            break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(errstr, errstr_size, "cannot listen on %s:%d: %s", host[0] ? host : "*", port,
                 strerror(err));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    *bound = port;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            *bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            *bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return fd;
}

httpd_t *httpd_start(const config_t *cfg, const worker_stats_t *const *stats,
                     const char *const *names, size_t n, char *errstr, size_t errstr_size)
{
    char host[256];
    int port = 0, fd = -1;
    httpd_t *h = NULL;
    if (!cfg->http || config_parse_hostport(cfg->http, host, sizeof(host), &port) < 0) {
        snprintf(errstr, errstr_size, "http: expected host:port, got '%s'",
                 cfg->http ? cfg->http : "");
        return NULL;
    }
    h = calloc(1, sizeof(*h));
    if (!h)
        goto oom;
    if (n) {
        h->stats = calloc(n, sizeof(*h->stats));
        h->names = calloc(n, sizeof(*h->names));
        if (!h->stats || !h->names)
            goto oom;
        for (size_t i = 0; i < n; i++) {
            h->stats[i] = stats[i];
            h->names[i] = names[i];
        }
    }
    h->n = n;
    h->metrics = metrics_new(cfg, stats, names, n);

    fd = httpd_listen(host, port, &h->port, errstr, errstr_size);
    if (fd < 0)
        goto fail;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, httpd_handle, h, MHD_OPTION_EXTERNAL_LOGGER,
                              httpd_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTPD_CONNECTION_LIMIT,
                              MHD_OPTION_CONNECTION_TIMEOUT,
                              (unsigned int)HTTPD_CONNECTION_TIMEOUT_S, MHD_OPTION_END);
    /* The socket is the daemon's now: MHD_stop_daemon() closes it, and so
     * do most of MHD_start_daemon()'s failure paths (not all: a failed start
     * may leak it, but closing it here could close a reused number). */
    fd = -1;
    if (!h->mhd) {
        snprintf(errstr, errstr_size, "cannot start the HTTP server on %s:%d", host, h->port);
        goto fail;
    }
    log_info("http: serving /metrics, /healthz, /readyz on %s%s%s:%d", strchr(host, ':') ? "[" : "",
             host[0] ? host : "*", strchr(host, ':') ? "]" : "", h->port);
    return h;

oom:
    snprintf(errstr, errstr_size, "out of memory");
fail:
    if (fd >= 0)
        close(fd);
    httpd_stop(h);
    return NULL;
}

void httpd_stop(httpd_t *h)
{
    if (!h)
        return;
    if (h->mhd)
        MHD_stop_daemon(h->mhd);
    metrics_destroy(h->metrics);
    free(h->stats);
    free(h->names);
    free(h);
}

int httpd_port(const httpd_t *h) { return h ? h->port : -1; }
