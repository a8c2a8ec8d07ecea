/*
 * http_client.c — the tests' HTTP/1.1 client; see http_client.h.
 */
#include "http_client.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

_Thread_local const char *tu_http_source_addr;

#define CHUNK 8192

void tu_http_resp_free(tu_http_resp_t *r)
{
    free(r->body);
    r->body = NULL;
}

const char *tu_http_header(const tu_http_resp_t *r, const char *name)
{
    static char val[512];
    size_t nl = strlen(name);
    const char *p = strstr(r->head, "\r\n");
    while (p && p[2]) {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t n = e ? (size_t)(e - v) : strlen(v);
            snprintf(val, sizeof(val), "%.*s", (int)n, v);
            return val;
        }
        p = strstr(p, "\r\n");
    }
    return NULL;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* A socket connected to 127.0.0.1:@p port from tu_http_source_addr, or -1. */
static int connect_loopback(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (tu_http_source_addr) {
        struct sockaddr_in src;
        memset(&src, 0, sizeof(src));
        src.sin_family = AF_INET;
        if (inet_pton(AF_INET, tu_http_source_addr, &src.sin_addr) != 1 ||
            bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0) {
            close(fd);
            return -1;
        }
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The request line and headers into a malloc'ed buffer (room for the body
 * left); NULL when out of memory. */
static char *head_build(int port, const char *method, const char *path, const char *const *headers,
                        const char *body, size_t len, unsigned flags, size_t *n_out)
{
    size_t cap = 4096 + (body ? len : 0) * 2 + 64;
    char *req = malloc(cap);
    if (!req)
        return NULL;
    size_t n =
        (size_t)snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n",
                         method, path, port);
    if (body || (flags & TU_HTTP_NO_BODY)) {
        if (!(flags & TU_HTTP_NO_CONTENT_TYPE))
            n += (size_t)snprintf(req + n, cap - n, "Content-Type: application/json\r\n");
        if (flags & TU_HTTP_CHUNKED)
            n += (size_t)snprintf(req + n, cap - n, "Transfer-Encoding: chunked\r\n");
        else
            n += (size_t)snprintf(req + n, cap - n, "Content-Length: %zu\r\n", len);
    }
    for (size_t i = 0; headers && headers[i]; i++)
        n += (size_t)snprintf(req + n, cap - n, "%s\r\n", headers[i]);
    n += (size_t)snprintf(req + n, cap - n, "\r\n");
    *n_out = n;
    return req;
}

/* The body, whole or in chunks of CHUNK bytes. */
static int body_send(int fd, const char *body, size_t len, unsigned flags)
{
    if (!(flags & TU_HTTP_CHUNKED))
        return send_all(fd, body, len);
    int rc = 0;
    for (size_t off = 0; rc == 0 && off < len; off += CHUNK) {
        size_t c = len - off < CHUNK ? len - off : CHUNK;
        char hdr[32];
        int hn = snprintf(hdr, sizeof(hdr), "%zx\r\n", c);
        rc = send_all(fd, hdr, (size_t)hn);
        if (rc == 0)
            rc = send_all(fd, body + off, c);
        if (rc == 0)
            rc = send_all(fd, "\r\n", 2);
    }
    return rc == 0 ? send_all(fd, "0\r\n\r\n", 5) : rc;
}

/* Reads to EOF (or until @p timeout_ms passed); a malloc'ed NUL-terminated
 * buffer, its length in *n_out. */
static char *answer_read(int fd, int timeout_ms, size_t *n_out)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long left =
            timeout_ms - ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
        if (left <= 0)
            break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)left) <= 0)
            break;
        if (n + 4096 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
        ssize_t k = recv(fd, buf + n, cap - n - 1, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    buf[n] = '\0';
    *n_out = n;
    return buf;
}

/* Splits the answer @p resp (borrowed) into status, head and body. */
static int answer_parse(const char *resp, size_t n, tu_http_resp_t *out)
{
    const char *eoh = strstr(resp, "\r\n\r\n");
    if (!eoh || sscanf(resp, "HTTP/1.%*d %d", &out->status) != 1) {
        out->status = 0;
        return -1;
    }
    size_t hl = (size_t)(eoh - resp);
    snprintf(out->head, sizeof(out->head), "%.*s",
             (int)(hl < sizeof(out->head) - 1 ? hl : sizeof(out->head) - 1), resp);
    out->body_len = n - hl - 4;
    out->body = malloc(out->body_len + 1);
    cr_assert_not_null(out->body);
    memcpy(out->body, eoh + 4, out->body_len);
    out->body[out->body_len] = '\0';
    return 0;
}

int tu_http_request(int port, const char *method, const char *path, const char *const *headers,
                    const char *body, size_t len, unsigned flags, int timeout_ms,
                    tu_http_resp_t *out)
{
    memset(out, 0, sizeof(*out));
    int fd = connect_loopback(port);
    if (fd < 0)
        return -1;
    size_t n;
    char *req = head_build(port, method, path, headers, body, len, flags, &n);
    if (!req) {
        close(fd);
        return -1;
    }
    int rc = send_all(fd, req, n);
    free(req);
    if (rc == 0 && body && !(flags & TU_HTTP_NO_BODY))
        body_send(fd, body, len, flags);
    /* A server may answer before reading everything: read what it said. */
    char *resp = answer_read(fd, timeout_ms, &n);
    close(fd);
    rc = answer_parse(resp, n, out);
    free(resp);
    return rc;
}

int tu_http_post(int port, const char *path, const char *const *headers, const char *json,
                 int timeout_ms, tu_http_resp_t *out)
{
    if (tu_http_request(port, "POST", path, headers, json, strlen(json), 0, timeout_ms, out) != 0)
        return 0;
    return out->status;
}

int tu_http_get(int port, const char *path, char **body)
{
    tu_http_resp_t r;
    *body = NULL;
    if (tu_http_request(port, "GET", path, NULL, NULL, 0, 0, 10000, &r) != 0)
        return 0;
    *body = r.body; /* handed over */
    return r.status;
}

int tu_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t sl = sizeof(sa);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    return ntohs(sa.sin_port);
}
