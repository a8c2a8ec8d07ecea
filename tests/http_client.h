/*
 * http_client.h — the tests' HTTP/1.1 client over a loopback socket, used by
 * every test that talks to incidentd's HTTP servers (the operations endpoint:
 * tests/unit/test_httpd.c, tests/integration/test_http.c; the webhook ingest:
 * tests/unit/test_ingest_http.c, tests/integration/test_ingest.c), and a free
 * port for a server under test.
 *
 * One request per connection ("Connection: close"), the answer read to EOF
 * within a time limit. Tests only (Criterion assertions inside
 * tu_free_port()); any thread (the source address is per thread).
 */
#ifndef INCIDENTD_TESTS_HTTP_CLIENT_H
#define INCIDENTD_TESTS_HTTP_CLIENT_H

#include <stddef.h>

#define TU_HTTP_NO_BODY 1u         /* announce the Content-Length, send no body */
#define TU_HTTP_CHUNKED 2u         /* send the body with Transfer-Encoding: chunked */
#define TU_HTTP_NO_CONTENT_TYPE 4u /* no "Content-Type: application/json" (give one in headers) */

/* Source address of this thread's requests (e.g. "127.0.0.2", to be another
 * client on the loopback); NULL = the kernel's choice. */
extern _Thread_local const char *tu_http_source_addr;

typedef struct tu_http_resp {
    int status;      /* 0 = no answer */
    char head[8192]; /* status line and headers */
    char *body;      /* malloc'ed, NUL-terminated */
    size_t body_len;
} tu_http_resp_t;

/** Frees the body of @p r (accepts an empty one). */
void tu_http_resp_free(tu_http_resp_t *r);

/** The value of header @p name (case-insensitive) in @p r, in a static
 *  buffer, or NULL when absent. */
const char *tu_http_header(const tu_http_resp_t *r, const char *name);

/**
 * Sends one request to 127.0.0.1:@p port and reads the answer within
 * @p timeout_ms. @p headers: extra "Name: value" lines, NULL-terminated (may
 * be NULL). A @p body (of @p len bytes, may be NULL) goes with a
 * Content-Length (or chunked, TU_HTTP_* @p flags) and, unless
 * TU_HTTP_NO_CONTENT_TYPE, "Content-Type: application/json". Returns 0 with
 * @p out filled (caller frees with tu_http_resp_free()), or -1 when nothing
 * (or no status line) came back (then @p out holds no body).
 */
int tu_http_request(int port, const char *method, const char *path, const char *const *headers,
                    const char *body, size_t len, unsigned flags, int timeout_ms,
                    tu_http_resp_t *out);

/** POST of a JSON body with optional extra headers; the status, or 0 when
 *  nothing came back. @p out as for tu_http_request(). */
int tu_http_post(int port, const char *path, const char *const *headers, const char *json,
                 int timeout_ms, tu_http_resp_t *out);

/** GET @p path within 10 s: the status (0 = no answer) and the body in
 *  *@p body (malloc'ed, caller frees; NULL when no answer). */
int tu_http_get(int port, const char *path, char **body);

/** A TCP port of 127.0.0.1 that was free a moment ago (bind 0, read it,
 *  close); asserts that the kernel gave one. */
int tu_free_port(void);

#endif
