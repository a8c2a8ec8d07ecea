/*
 * http_util.h — what the HTTP stages share beyond the server set-up
 * (http_server.h): a token-bucket rate limiter per source, the client's
 * address, the bearer token of a request and the JSON Content-Type check.
 * Used by the webhook ingest stage (ingest.c) and the API (api.c).
 *
 * @locality the limiter is safe on any thread (one mutex); the rest reads a
 * connection on its own thread.
 */
#ifndef INCIDENTD_HTTP_UTIL_H
#define INCIDENTD_HTTP_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#define HTTP_LIMIT_BUCKETS 1024 /* hash slots */

typedef struct http_limit_bucket http_limit_bucket_t;

/* Token buckets by source key ("ip:<address>", "person:<name>", ...). */
typedef struct http_limit {
    pthread_mutex_t mu;
    double rate;  /* tokens per second; 0 = unlimited */
    double burst; /* bucket size */
    http_limit_bucket_t *slots[HTTP_LIMIT_BUCKETS];
    size_t n;
} http_limit_t;

/** An empty limiter of @p rate tokens per second (0 = unlimited) and
 *  @p burst (at least 1). Free with http_limit_destroy(). */
void http_limit_init(http_limit_t *l, double rate, double burst);
/** Frees every bucket; accepts a limiter never used. */
void http_limit_destroy(http_limit_t *l);
/** Takes one token of @p key. Returns 0, or the seconds to wait (1..3600). */
int http_limit_take(http_limit_t *l, const char *key);

/** The numeric address of the client of @p conn into @p buf ("unknown"
 *  when it cannot be told). */
void http_client_addr(struct MHD_Connection *conn, char *buf, size_t size);

/** The token of "Authorization: Bearer <token>" (surrounding blanks
 *  dropped): a pointer into the header with its length in *@p len, or NULL
 *  when there is none. Borrowed from the connection. */
const char *http_bearer(struct MHD_Connection *conn, size_t *len);

/** Non-zero when the request's body is declared JSON: application/json or
 *  application/<x>+json, any parameters, any case; no Content-Type at all
 *  counts as JSON. */
int http_json_type(struct MHD_Connection *conn);

/** Appends @p n bytes of a request body to @p *body (grown as needed, kept
 *  NUL-terminated; *len and *cap are its length and capacity). Out of
 *  memory aborts with a message. */
void http_body_append(char **body, size_t *len, size_t *cap, const char *data, size_t n);

#endif
