/*
 * http_server.c — the listening socket, libmicrohttpd and its limits; see
 * http_server.h.
 *
 * The request deadline: every connection gets a record (the socket context
 * of MHD_OPTION_NOTIFY_CONNECTION) on the server's list. The record is
 * "reading" from the connection's start, and again from the end of each of
 * its requests (MHD_OPTION_NOTIFY_COMPLETED), until the application's
 * handler gets the last call of the request (the whole body is in) or has
 * queued an answer. The reaper shuts down the socket of a record reading
 * for longer than http.request_timeout. libmicrohttpd calls the CLOSED
 * notification (which takes the record off the list under the same lock)
 * before it closes the descriptor, so the reaper never touches a descriptor
 * number that may have been reused.
 */
#include "http_server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#define HTTP_SERVER_BACKLOG 128
#define HTTP_SERVER_LOG_PER_S 5 /* libmicrohttpd messages logged per second at most */

/* One connection, while libmicrohttpd has it. */
typedef struct http_conn {
    struct http_conn *prev, *next;
    struct MHD_Connection *conn;
    int fd;
    int64_t start_ms; /* when the current request's deadline started */
    int calls;        /* handler calls of the current request */
    int reading;      /* the current request is not all in yet */
    int cut;          /* shut down by the reaper */
} http_conn_t;

struct http_server {
    struct MHD_Daemon *mhd;
    http_server_app_t app;
    char name[32];
    int port;
    int64_t timeout_ms;

    pthread_mutex_t mu; /* guards the list, the records and the log window */
    pthread_cond_t cv;
    http_conn_t *conns;
    int stopping;
    pthread_t reaper;
    int reaper_started;

    int64_t log_window_ms; /* start of the current second of MHD messages */
    int log_n;             /* messages in it */
    int log_dropped;       /* dropped since the last one logged */
};

/* libmicrohttpd's own messages, a few per second at most: a flood of
 * refused connections must not flood the log. format(printf, 2, 0): fmt is
 * a printf format with its arguments in a va_list (clang -Wformat-nonliteral). */
static __attribute__((format(printf, 2, 0))) void http_server_mhd_log(void *cls, const char *fmt,
                                                                      va_list ap)
{
    http_server_t *s = cls;
    int64_t now = clock_mono_ms();
    pthread_mutex_lock(&s->mu);
    if (now - s->log_window_ms >= 1000) {
        s->log_window_ms = now;
        s->log_n = 0;
    }
    int keep = s->log_n++ < HTTP_SERVER_LOG_PER_S, dropped = 0;
    if (keep) {
        dropped = s->log_dropped;
        s->log_dropped = 0;
    } else {
        s->log_dropped++;
    }
    pthread_mutex_unlock(&s->mu);
    if (!keep)
        return;
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t len = strlen(buf);
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    if (dropped)
        log_msg(LOG_WARN, s->name, NULL, NULL, "http: %s (%d similar messages not logged)", buf,
                dropped);
    else
        log_msg(LOG_WARN, s->name, NULL, NULL, "http: %s", buf);
}

/* ---- the request deadline ---------------------------------------------------------------- */

/* @locality: libmicrohttpd's threads. */
static void http_server_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                               enum MHD_ConnectionNotificationCode toe)
{
    http_server_t *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        http_conn_t *c = calloc(1, sizeof(*c));
        if (!c)
            return; /* no deadline for this one; never a crash */
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        c->conn = conn;
        c->fd = ci ? ci->connect_fd : -1;
        c->start_ms = clock_mono_ms();
        c->reading = 1;
        pthread_mutex_lock(&s->mu);
        c->next = s->conns;
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
        pthread_mutex_unlock(&s->mu);
        *socket_context = c;
        return;
    }
    http_conn_t *c = *socket_context;
    if (!c)
        return;
    pthread_mutex_lock(&s->mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&s->mu);
    free(c);
    *socket_context = NULL;
}

static http_conn_t *http_server_conn(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* Calls the application's handler, noting when the request is all in.
 * @locality: libmicrohttpd's threads. */
static enum MHD_Result http_server_access(void *cls, struct MHD_Connection *conn, const char *url,
                                          const char *method, const char *version,
                                          const char *upload_data, size_t *upload_data_size,
                                          void **con_cls)
{
    http_server_t *s = cls;
    http_conn_t *c = http_server_conn(conn);
    if (c) {
        pthread_mutex_lock(&s->mu);
        /* The first call has the headers; a later call without data is the
         * last one: the body is in, the handler's time is its own. */
        if (c->calls++ > 0 && *upload_data_size == 0)
            c->reading = 0;
        pthread_mutex_unlock(&s->mu);
    }
    enum MHD_Result ret = s->app.access(s->app.cls, conn, url, method, version, upload_data,
                                        upload_data_size, con_cls);
    if (c) {
        /* An answer queued early (a refusal from the headers): nothing more
         * is read for this request. */
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_HTTP_STATUS);
        if (ci && ci->http_status) {
            pthread_mutex_lock(&s->mu);
            c->reading = 0;
            pthread_mutex_unlock(&s->mu);
        }
    }
    return ret;
}

/* A request ended: the next one's deadline starts now. */
static void http_server_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                                  enum MHD_RequestTerminationCode toe)
{
    http_server_t *s = cls;
    http_conn_t *c = http_server_conn(conn);
    if (c) {
        pthread_mutex_lock(&s->mu);
        c->start_ms = clock_mono_ms();
        c->calls = 0;
        c->reading = 1;
        pthread_mutex_unlock(&s->mu);
    }
    if (s->app.completed)
        s->app.completed(s->app.cls, conn, con_cls, toe);
}

/* Shuts down the sockets of the connections past their deadline. Called
 * with s->mu held. */
static void http_server_reap_locked(http_server_t *s, int64_t now)
{
    for (http_conn_t *c = s->conns; c; c = c->next) {
        if (!c->reading || c->cut || c->fd < 0 || now - c->start_ms < s->timeout_ms)
            continue;
        /* Not close(): libmicrohttpd reads the end of the stream, closes
         * the connection and frees it (CLOSED takes it off this list). */
        shutdown(c->fd, SHUT_RDWR);
        c->cut = 1;
        log_msg(LOG_DEBUG, s->name, NULL, NULL,
                "http: closed a connection without a whole request after %lld ms",
                (long long)(now - c->start_ms));
    }
}

static void *http_server_reaper_main(void *arg)
{
    http_server_t *s = arg;
    int64_t tick = s->timeout_ms / 4;
    tick = tick < 50 ? 50 : tick > 500 ? 500 : tick;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        struct timespec ts = clock_timespec_of_us(clock_mono_us() + tick * 1000);
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        if (!s->stopping)
            http_server_reap_locked(s, clock_mono_ms());
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- the listening socket ------------------------------------------------------------------ */

/* Binds and listens on host:port ("" = every IPv4 address). Returns the
 * socket, or -1 with a message. Sets *bound to the real port. */
static int http_server_listen(const char *host, int port, int *bound, char *errstr,
                              size_t errstr_size)
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
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, HTTP_SERVER_BACKLOG) == 0)
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

/* ---- start / stop -------------------------------------------------------------------------- */

/* Starts libmicrohttpd on @p fd, which it owns from then on (even on
 * failure: closing it here could close a reused number). */
static struct MHD_Daemon *http_server_mhd_start(http_server_t *s, const config_t *cfg, int fd)
{
    unsigned int flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (s->app.thread_per_connection)
        flags |= MHD_USE_THREAD_PER_CONNECTION;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    return MHD_start_daemon(
        flags, 0, NULL, NULL, http_server_access, s, MHD_OPTION_EXTERNAL_LOGGER,
        http_server_mhd_log, s, MHD_OPTION_NOTIFY_CONNECTION, http_server_notify, s,
        MHD_OPTION_NOTIFY_COMPLETED, http_server_completed, s, MHD_OPTION_LISTEN_SOCKET,
        (MHD_socket)fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->http_max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)cfg->http_per_ip_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, s->app.idle_timeout_s, MHD_OPTION_END);
}

http_server_t *http_server_start(const config_t *cfg, const char *listen,
                                 const http_server_app_t *app, char *errstr, size_t errstr_size)
{
    char host[256];
    int port = 0;
    if (!listen || config_parse_hostport(listen, host, sizeof(host), &port) < 0) {
        snprintf(errstr, errstr_size, "%s: expected host:port, got '%s'", app->setting,
                 listen ? listen : "");
        return NULL;
    }
    http_server_t *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    s->app = *app;
    snprintf(s->name, sizeof(s->name), "%s", app->name);
    s->timeout_ms = cfg->http_request_timeout_ms > 0 ? cfg->http_request_timeout_ms : 10000;
    pthread_mutex_init(&s->mu, NULL);
    clock_cond_init(&s->cv);

    int fd = http_server_listen(host, port, &s->port, errstr, errstr_size);
    if (fd < 0)
        goto fail;
    s->mhd = http_server_mhd_start(s, cfg, fd);
    if (!s->mhd) {
        snprintf(errstr, errstr_size, "cannot start the %s HTTP server on %s:%d", app->name, host,
                 s->port);
        goto fail;
    }
    if (pthread_create(&s->reaper, NULL, http_server_reaper_main, s) != 0) {
        snprintf(errstr, errstr_size, "cannot start the %s HTTP request reaper", app->name);
        goto fail;
    }
    s->reaper_started = 1;
    log_msg(LOG_INFO, s->name, NULL, NULL,
            "http: listening on %s%s%s:%d (at most %d connections, %d per address; "
            "requests within %lld ms)",
            strchr(host, ':') ? "[" : "", host[0] ? host : "*", strchr(host, ':') ? "]" : "",
            s->port, cfg->http_max_connections, cfg->http_per_ip_connections,
            (long long)s->timeout_ms);
    return s;
fail:
    http_server_stop(s);
    return NULL;
}

void http_server_quiesce(http_server_t *s)
{
    if (!s || !s->mhd)
        return;
    MHD_socket lfd = MHD_quiesce_daemon(s->mhd);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
}

void http_server_stop(http_server_t *s)
{
    if (!s)
        return;
    /* libmicrohttpd first: the reaper may go on cutting slow clients while
     * it waits for its connections. */
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    if (s->reaper_started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = 1;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->reaper, NULL);
    }
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int http_server_port(const http_server_t *s) { return s ? s->port : -1; }
