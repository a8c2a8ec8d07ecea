/*
 * ingest_client.h — a small HTTP/1.1 client over a socket, for the ingest
 * tests (tests/unit/test_ingest.c, tests/integration/test_ingest.c): one
 * request per connection ("Connection: close"), the answer read to EOF.
 * Header-only: every function is static.
 */
#ifndef INCIDENTD_TESTS_INGEST_CLIENT_H
#define INCIDENTD_TESTS_INGEST_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IC_NO_BODY 1u         /* announce the Content-Length, send no body */
#define IC_CHUNKED 2u         /* send the body with Transfer-Encoding: chunked */
#define IC_NO_CONTENT_TYPE 4u /* no "Content-Type: application/json" (give one in headers) */

/* Source address of this thread's requests (e.g. "127.0.0.2", to be another
 * client on the loopback); NULL = the kernel's choice. */
static _Thread_local const char *ic_source_addr;

typedef struct ic_resp {
    int status;      /* 0 = no answer */
    char head[8192]; /* status line and headers */
    char *body;      /* malloc'ed, NUL-terminated */
    size_t body_len;
} ic_resp_t;

static __attribute__((unused)) void ic_resp_free(ic_resp_t *r)
{
    free(r->body);
    r->body = NULL;
}

static int ic_send_all(int fd, const char *p, size_t n)
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

/* The value of header @p name in @p r (a static buffer), or NULL. */
static __attribute__((unused)) const char *ic_header(const ic_resp_t *r, const char *name)
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

/*
 * Sends one request to 127.0.0.1:@p port and reads the answer within
 * @p timeout_ms. @p headers: extra "Name: value" lines, NULL-terminated (may
 * be NULL). Returns 0 with @p out filled (free with ic_resp_free()), or -1
 * when nothing (or no status line) came back.
 */
static __attribute__((unused)) int ic_request(int port, const char *method, const char *path,
                                              const char *const *headers, const char *body,
                                              size_t len, unsigned flags, int timeout_ms,
                                              ic_resp_t *out)
{
    memset(out, 0, sizeof(*out));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (ic_source_addr) {
        struct sockaddr_in src;
        memset(&src, 0, sizeof(src));
        src.sin_family = AF_INET;
        if (inet_pton(AF_INET, ic_source_addr, &src.sin_addr) != 1 ||
            bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0) {
            close(fd);
            return -1;
        }
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    size_t cap = 4096 + (body ? len : 0) * 2 + 64;
    char *req = malloc(cap);
    if (!req) {
        close(fd);
        return -1;
    }
    size_t n =
        (size_t)snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n",
                         method, path, port);
    if (body || (flags & IC_NO_BODY)) {
        if (!(flags & IC_NO_CONTENT_TYPE))
            n += (size_t)snprintf(req + n, cap - n, "Content-Type: application/json\r\n");
        if (flags & IC_CHUNKED)
            n += (size_t)snprintf(req + n, cap - n, "Transfer-Encoding: chunked\r\n");
        else
            n += (size_t)snprintf(req + n, cap - n, "Content-Length: %zu\r\n", len);
    }
    for (size_t i = 0; headers && headers[i]; i++)
        n += (size_t)snprintf(req + n, cap - n, "%s\r\n", headers[i]);
    n += (size_t)snprintf(req + n, cap - n, "\r\n");
    int rc = ic_send_all(fd, req, n);
    if (rc == 0 && body && !(flags & IC_NO_BODY)) {
        if (flags & IC_CHUNKED) {
            for (size_t off = 0; rc == 0 && off < len; off += 8192) {
                size_t c = len - off < 8192 ? len - off : 8192;
                char hdr[32];
                int hn = snprintf(hdr, sizeof(hdr), "%zx\r\n", c);
                rc = ic_send_all(fd, hdr, (size_t)hn);
                if (rc == 0)
                    rc = ic_send_all(fd, body + off, c);
                if (rc == 0)
                    rc = ic_send_all(fd, "\r\n", 2);
            }
            if (rc == 0)
                rc = ic_send_all(fd, "0\r\n\r\n", 5);
        } else {
            rc = ic_send_all(fd, body, len);
        }
    }
    free(req);
    /* A server may answer before reading everything: read what it said. */
    size_t rcap = 65536, rlen = 0;
    char *resp = malloc(rcap);
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
        if (rlen + 4096 > rcap) {
            rcap *= 2;
            resp = realloc(resp, rcap);
        }
        ssize_t k = recv(fd, resp + rlen, rcap - rlen - 1, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        rlen += (size_t)k;
    }
    close(fd);
    resp[rlen] = '\0';
    char *eoh = strstr(resp, "\r\n\r\n");
    if (!eoh || sscanf(resp, "HTTP/1.%*d %d", &out->status) != 1) {
        free(resp);
        out->status = 0;
        return -1;
    }
    size_t hl = (size_t)(eoh - resp);
    snprintf(out->head, sizeof(out->head), "%.*s",
             (int)(hl < sizeof(out->head) - 1 ? hl : sizeof(out->head) - 1), resp);
    out->body_len = rlen - hl - 4;
    out->body = malloc(out->body_len + 1);
    memcpy(out->body, eoh + 4, out->body_len);
    out->body[out->body_len] = '\0';
    free(resp);
    return 0;
}

/* POST of a JSON body with optional extra headers; the status, or 0. */
static __attribute__((unused)) int ic_post(int port, const char *path, const char *const *headers,
                                           const char *json, int timeout_ms, ic_resp_t *out)
{
    if (ic_request(port, "POST", path, headers, json, strlen(json), 0, timeout_ms, out) != 0)
        return 0;
    return out->status;
}

#endif
