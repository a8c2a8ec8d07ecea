/*
 * ingest.c — the webhook ingest stage; see ingest.h.
 *
 * One libmicrohttpd daemon with a thread per connection, so that a request
 * waiting for Kafka's acknowledgement holds only its own connection. A
 * request walks: route and method -> bearer token -> rate limit of the
 * client address -> Content-Type -> Content-Length against ingest.max_body
 * (all answered before the body is read) -> body gathered up to the limit -> mapping
 * (ingest_map.c) -> rate limit of the routing key (/v1/events) -> produce
 * every alert -> wait for every delivery report -> 202.
 *
 * The wait for Kafka's acknowledgement is acked_producer.h's; the rate
 * limiter, client address, bearer token and Content-Type check are
 * http_util.h's (shared with the API).
 *
 * Tokens are kept only as SHA-256 digests and compared in constant time;
 * neither they nor the Authorization header are ever logged.
 */
#include "ingest.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "acked_producer.h"
#include "arena.h"
#include "clock.h"
#include "http_server.h"
#include "http_util.h"
#include "ingest_map.h"
#include "kafka.h"
#include "log.h"
#include "worker.h"

#define INGEST_PARSE_MAX 4 /* bodies parsed at once: bounds the JSON trees in memory */
#define INGEST_CONNECTION_TIMEOUT_S 30
#define INGEST_STOP_WAIT_MS 15000
#define INGEST_DISCARD_MAX (8u * 1024 * 1024) /* unannounced excess read before closing */
#define INGEST_BUCKETS 1024                   /* rate-limit hash slots */
#define INGEST_SOURCES_MAX 100000             /* sources remembered before pruning */

static void ingest_oom(void)
{
    fputs("incidentd: out of memory\n", stderr);
    abort();
}

/* ---- routes ------------------------------------------------------------------------ */

typedef enum ingest_route_id {
    INGEST_ROUTE_ALERTMANAGER = 0,
    INGEST_ROUTE_EVENTS,
    INGEST_ROUTE_ALERTS,
    INGEST_ROUTE_N,
} ingest_route_id_t;

typedef int (*ingest_map_fn)(const char *body, size_t len, arena_t *arena, ingest_batch_t *out,
                             char *err, size_t err_size);

static const struct ingest_route {
    const char *path;
    const char *name; /* in logs and ingest.token.<name> */
    ingest_map_fn map;
} ingest_routes[INGEST_ROUTE_N] = {
    [INGEST_ROUTE_ALERTMANAGER] = {"/v1/alertmanager", "alertmanager", ingest_map_alertmanager},
    [INGEST_ROUTE_EVENTS] = {"/v1/events", "events", ingest_map_events},
    [INGEST_ROUTE_ALERTS] = {"/v1/alerts", "alerts", ingest_map_alert_json},
};

/* ---- the stage --------------------------------------------------------------------------- */

struct ingest {
    http_server_t *server;
    int max_body;
    char topic[300];
    /* SHA-256 of each route's token; has_token 0 = the route is open */
    unsigned char token_md[INGEST_ROUTE_N][SHA256_DIGEST_LENGTH];
    int has_token[INGEST_ROUTE_N];
    http_limit_t limiter;
    acked_producer_t *producer;
    atomic_int in_flight; /* requests begun and not completed */
    sem_t parse_sem;      /* INGEST_PARSE_MAX mappings at once */
    int parse_sem_ok;
    atomic_uint_fast64_t accepted, rejected;
};

/* One request. */
typedef struct ingest_req {
    ingest_t *in;
    int route;    /* ingest_route_id_t, or -1 */
    int answered; /* a response is queued already */
    char *body;   /* gathered body, NUL-terminated */
    size_t len, cap;
    size_t excess;   /* bytes beyond max_body, read and dropped */
    char client[64]; /* the client's address, for the rate limit and logs */
} ingest_req_t;

/* ---- answers ------------------------------------------------------------------------------ */

/* Queues a JSON answer {"status": status, "message": message} plus, when
 * given, "dedup_key" and "alerts" (when @p n_alerts >= 0). */
static enum MHD_Result ingest_answer(struct MHD_Connection *conn, unsigned int code,
                                     const char *status, const char *message, const char *dedup_key,
                                     long n_alerts, int retry_after_s)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        ingest_oom();
    cJSON_AddItemToObjectCS(o, "status", cJSON_CreateString(status));
    if (message)
        cJSON_AddItemToObjectCS(o, "message", cJSON_CreateString(message));
    if (dedup_key)
        cJSON_AddItemToObjectCS(o, "dedup_key", cJSON_CreateString(dedup_key));
    if (n_alerts >= 0)
        cJSON_AddItemToObjectCS(o, "alerts", cJSON_CreateNumber((double)n_alerts));
    if (code == MHD_HTTP_BAD_REQUEST && message) {
        cJSON *errors = cJSON_CreateArray();
        cJSON_AddItemToArray(errors, cJSON_CreateString(message));
        cJSON_AddItemToObjectCS(o, "errors", errors);
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text)
        ingest_oom();
    size_t len = strlen(text);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
                                strcmp(message, "use GET") == 0 ? "GET, HEAD" : "POST");
    if (code == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"incidentd\"");
    if (retry_after_s > 0) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", retry_after_s);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    enum MHD_Result ret = MHD_queue_response(conn, code, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Logs and counts a refusal, then answers it. */
static enum MHD_Result ingest_refuse(ingest_req_t *r, struct MHD_Connection *conn,
                                     unsigned int code, const char *status, const char *message,
                                     int retry_after_s)
{
    atomic_fetch_add(&r->in->rejected, 1);
    /* a flood of 429s must not flood the log */
    log_level_t level = code >= 500                          ? LOG_WARN
                        : code == MHD_HTTP_TOO_MANY_REQUESTS ? LOG_DEBUG
                                                             : LOG_INFO;
    log_msg(level, "ingest", NULL, NULL, "%s from %s: %u %s",
            r->route >= 0 ? ingest_routes[r->route].path : "-", r->client, code, message);
    return ingest_answer(conn, code, status, message, NULL, -1, retry_after_s);
}

/* ---- checks made from the headers ------------------------------------------------------------ */

/* Non-zero when the request carries the route's bearer token (or the route
 * needs none). */
static int ingest_authorized(const ingest_t *in, int route, struct MHD_Connection *conn)
{
    if (!in->has_token[route])
        return 1;
    size_t n;
    const char *t = http_bearer(conn, &n);
    if (!t)
        return 0;
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)t, n, md);
    return CRYPTO_memcmp(md, in->token_md[route], sizeof(md)) == 0;
}

/* Produces the batch's alerts (keyed by dedup key) and waits for Kafka's
 * acknowledgement of every one. Returns 0, else -1 with a reason. */
static int ingest_deliver(ingest_t *in, const ingest_batch_t *batch, char *why, size_t why_size)
{
    if (batch->n == 0)
        return 0;
    acked_record_t *recs = calloc(batch->n, sizeof(*recs));
    if (!recs)
        ingest_oom();
    for (size_t i = 0; i < batch->n; i++) {
        const hd_alert_t *a = batch->alerts[i];
        size_t len = incident__v1__alert__get_packed_size(a);
        recs[i].value = malloc(len ? len : 1);
        if (!recs[i].value)
            ingest_oom();
        incident__v1__alert__pack(a, recs[i].value);
        recs[i].len = len;
        recs[i].key = a->dedup_key;
        recs[i].key_len = strlen(a->dedup_key);
    }
    int rc = acked_producer_send(in->producer, in->topic, recs, batch->n, why, why_size);
    free(recs);
    return rc;
}

/* The first call of a request (headers read, no body yet): everything that
 * can be refused without the body is refused here. Returns MHD_YES to go on
 * reading the body with *answered 0. */
static enum MHD_Result ingest_begin(ingest_req_t *r, struct MHD_Connection *conn, const char *url,
                                    const char *method, int *answered)
{
    ingest_t *in = r->in;
    *answered = 1;
    int is_get =
        strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (strcmp(url, "/healthz") == 0) {
        if (!is_get)
            return ingest_answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed", "use GET",
                                 NULL, -1, 0);
        return ingest_answer(conn, MHD_HTTP_OK, "ok", NULL, NULL, -1, 0);
    }
    for (int i = 0; i < INGEST_ROUTE_N; i++)
        if (strcmp(url, ingest_routes[i].path) == 0)
            r->route = i;
    if (r->route < 0)
        return ingest_refuse(r, conn, MHD_HTTP_NOT_FOUND, "not found",
                             "unknown path (POST /v1/alertmanager, /v1/events or /v1/alerts)", 0);
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        return ingest_refuse(r, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed", "use POST",
                             0);

    /* The token first: a request without the right one must not spend the
     * budget of the sender it pretends to be. */
    if (!ingest_authorized(in, r->route, conn))
        return ingest_refuse(r, conn, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                             "missing or wrong bearer token", 0);
    char key[80];
    snprintf(key, sizeof(key), "ip:%s", r->client);
    int wait = http_limit_take(&in->limiter, key);
    if (wait)
        return ingest_refuse(r, conn, MHD_HTTP_TOO_MANY_REQUESTS, "throttle event",
                             "too many requests from this address", wait);
    if (!http_json_type(conn))
        return ingest_refuse(r, conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported media type",
                             "Content-Type must be application/json", 0);

    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(cl, &end, 10);
        if (errno || end == cl || v > (unsigned long long)in->max_body) {
            char msg[96];
            snprintf(msg, sizeof(msg), "body larger than %d bytes", in->max_body);
            return ingest_refuse(r, conn, MHD_HTTP_CONTENT_TOO_LARGE, "payload too large", msg, 0);
        }
    }
    *answered = 0;
    return MHD_YES;
}

/* The whole body is in: map, limit, deliver, answer. */
static enum MHD_Result ingest_finish(ingest_req_t *r, struct MHD_Connection *conn)
{
    ingest_t *in = r->in;
    const struct ingest_route *route = &ingest_routes[r->route];
    if (r->excess) {
        char msg[96];
        snprintf(msg, sizeof(msg), "body larger than %d bytes", in->max_body);
        return ingest_refuse(r, conn, MHD_HTTP_CONTENT_TOO_LARGE, "payload too large", msg, 0);
    }
    arena_t arena;
    arena_init(&arena, 0);
    ingest_batch_t batch;
    char err[512];
    enum MHD_Result ret;
    while (sem_wait(&in->parse_sem) != 0 && errno == EINTR)
        ;
    int mapped = route->map(r->body ? r->body : "", r->len, &arena, &batch, err, sizeof(err));
    sem_post(&in->parse_sem);
    if (mapped != 0) {
        ret = ingest_refuse(r, conn, MHD_HTTP_BAD_REQUEST, "invalid event", err, 0);
        goto out;
    }
    if (batch.routing_key) {
        size_t kl = strlen(batch.routing_key) + 4;
        char *key = arena_alloc(&arena, kl);
        snprintf(key, kl, "rk:%s", batch.routing_key);
        int wait = http_limit_take(&in->limiter, key);
        if (wait) {
            ret = ingest_refuse(r, conn, MHD_HTTP_TOO_MANY_REQUESTS, "throttle event",
                                "too many requests for this routing_key", wait);
            goto out;
        }
    }
    if (ingest_deliver(in, &batch, err, sizeof(err)) != 0) {
        ret = ingest_refuse(r, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", err, 5);
        goto out;
    }
    atomic_fetch_add(&in->accepted, batch.n);
    log_msg(LOG_DEBUG, "ingest", NULL, batch.n ? batch.alerts[0]->alert_id : NULL,
            "%s from %s: %zu alerts accepted", route->path, r->client, batch.n);
    if (batch.dedup_key)
        ret = ingest_answer(conn, MHD_HTTP_ACCEPTED, "success", "Event processed", batch.dedup_key,
                            -1, 0);
    else
        ret = ingest_answer(conn, MHD_HTTP_ACCEPTED, "success",
                            batch.n == 1 ? "1 alert accepted" : "alerts accepted", NULL,
                            (long)batch.n, 0);
out:
    r->answered = 1;
    arena_destroy(&arena);
    return ret;
}

/* @locality: the connection's thread. */
static enum MHD_Result ingest_handle(void *cls, struct MHD_Connection *conn, const char *url,
                                     const char *method, const char *version,
                                     const char *upload_data, size_t *upload_data_size,
                                     void **con_cls)
{
    ingest_t *in = cls;
    (void)version;
    ingest_req_t *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r)
            ingest_oom();
        r->in = in;
        r->route = -1;
        *con_cls = r;
        atomic_fetch_add(&in->in_flight, 1);
        http_client_addr(conn, r->client, sizeof(r->client));
        return ingest_begin(r, conn, url, method, &r->answered);
    }
    if (r->answered) { /* answered at the first call: drop any body */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->excess || r->len + n > (size_t)in->max_body) {
            /* Announced no length (chunked) yet sends too much: read and drop
             * the rest for a proper 413, up to a point. */
            r->excess += n;
            return r->excess > INGEST_DISCARD_MAX ? MHD_NO : MHD_YES;
        }
        http_body_append(&r->body, &r->len, &r->cap, upload_data, n);
        return MHD_YES;
    }
    return ingest_finish(r, conn);
}

/* Every request ends here, answered or not. @locality: the connection's thread. */
static void ingest_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                             enum MHD_RequestTerminationCode toe)
{
    ingest_t *in = cls;
    (void)conn;
    (void)toe;
    ingest_req_t *r = *con_cls;
    if (!r)
        return;
    free(r->body);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&in->in_flight, 1);
}

/* ---- start / stop ---------------------------------------------------------------------------- */

ingest_t *ingest_start(const config_t *cfg, char *errstr, size_t errstr_size)
{
    ingest_t *in = calloc(1, sizeof(*in));
    if (!in)
        ingest_oom();
    http_limit_init(&in->limiter, cfg->ingest_rate, cfg->ingest_burst);
    if (sem_init(&in->parse_sem, 0, INGEST_PARSE_MAX) != 0) {
        snprintf(errstr, errstr_size, "ingest: sem_init: %s", strerror(errno));
        goto fail;
    }
    in->parse_sem_ok = 1;
    in->max_body = cfg->ingest_max_body > 0 ? cfg->ingest_max_body : 512 * 1024;
    kafka_topic_name(cfg, "incidents.detected", in->topic, sizeof(in->topic));
    const char *route_tokens[INGEST_ROUTE_N] = {
        [INGEST_ROUTE_ALERTMANAGER] = cfg->ingest_token_alertmanager,
        [INGEST_ROUTE_EVENTS] = cfg->ingest_token_events,
        [INGEST_ROUTE_ALERTS] = cfg->ingest_token_alerts,
    };
    for (int i = 0; i < INGEST_ROUTE_N; i++) {
        const char *t = route_tokens[i] && *route_tokens[i] ? route_tokens[i] : cfg->ingest_token;
        if (t && *t) {
            SHA256((const unsigned char *)t, strlen(t), in->token_md[i]);
            in->has_token[i] = 1;
        }
    }

    in->producer = acked_producer_new(cfg, "incidentd-ingest", INGEST_WAIT_MS, errstr, errstr_size);
    if (!in->producer)
        goto fail;

    const http_server_app_t app = {
        .name = "ingest",
        .setting = "ingest_http",
        .thread_per_connection = 1, /* a request waiting for Kafka holds only its thread */
        .idle_timeout_s = INGEST_CONNECTION_TIMEOUT_S,
        .access = ingest_handle,
        .completed = ingest_completed,
        .cls = in,
    };
    in->server = http_server_start(cfg, cfg->ingest_http, &app, errstr, errstr_size);
    if (!in->server)
        goto fail;
    int auth = 0;
    for (int i = 0; i < INGEST_ROUTE_N; i++)
        auth += in->has_token[i];
    log_msg(LOG_INFO, "ingest", NULL, NULL,
            "ingest: listening on port %d, producing to %s (bearer token on %d of %d routes, "
            "max body %d bytes, rate %d/s burst %d per source)",
            ingest_port(in), in->topic, auth, (int)INGEST_ROUTE_N, in->max_body, cfg->ingest_rate,
            cfg->ingest_burst);
    return in;
fail:
    ingest_stop(in);
    return NULL;
}

void ingest_stop(ingest_t *in)
{
    if (!in)
        return;
    if (in->server) {
        /* No new connections; the requests in hand are answered first. */
        http_server_quiesce(in->server);
        int64_t deadline = clock_mono_us() + (int64_t)INGEST_STOP_WAIT_MS * 1000;
        while (atomic_load(&in->in_flight) > 0 && clock_mono_us() < deadline)
            usleep(20 * 1000);
        http_server_stop(in->server);
        in->server = NULL;
    }
    acked_producer_destroy(in->producer);
    log_msg(LOG_INFO, "ingest", NULL, NULL,
            "ingest: stopped (%llu alerts accepted, %llu requests refused)",
            (unsigned long long)atomic_load(&in->accepted),
            (unsigned long long)atomic_load(&in->rejected));
    http_limit_destroy(&in->limiter);
    if (in->parse_sem_ok)
        sem_destroy(&in->parse_sem);
    free(in);
}

int ingest_port(const ingest_t *in) { return in ? http_server_port(in->server) : -1; }
