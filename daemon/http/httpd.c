/*
 * httpd.c — the operations endpoint; see httpd.h.
 *
 * Served by http_server.c with a thread per connection, so that a /readyz
 * waiting on a hung Redis or broker (about a second at most) or a scrape
 * reading the Redis gauges holds only its own connection: /healthz answers
 * meanwhile.
 *
 * Readiness beyond the workers' own counters (which stay "up" while an idle
 * stage asks nothing): a PING on Redis (metrics_redis_ping()) when stage
 * workers run, and a metadata request to the brokers on a Kafka handle of
 * its own when any stage runs (ingest included), each with a short timeout;
 * the result is cached for HTTPD_READY_CACHE_MS.
 */
#include "httpd.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <microhttpd.h>

#include "clock.h"
#include "http_server.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"

#define HTTPD_IDLE_TIMEOUT_S 10
#define HTTPD_READY_CACHE_MS 1000 /* a readiness probe's result is served this long */
#define HTTPD_KAFKA_TIMEOUT_MS 1000

struct httpd {
    http_server_t *server;
    metrics_t *metrics;
    const worker_stats_t **stats; /* borrowed entries */
    const char **names;           /* borrowed entries */
    size_t n;
    int ingest;     /* the ingest stage runs in this process */
    rd_kafka_t *rk; /* the brokers' reachability; NULL when no stage runs */

    pthread_mutex_t ready_mu; /* one probe at a time; guards the cache below */
    int64_t probed_ms;        /* 0 = never */
    int redis_ok, kafka_ok;
    char redis_why[200], kafka_why[200];
};

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

/* Asks Redis (when stage workers run) and the brokers, unless the last
 * answers are fresh. Called with h->ready_mu held: concurrent /readyz wait
 * for one probe and share its answer. */
static void httpd_probe_locked(httpd_t *h)
{
    int64_t now = clock_mono_ms();
    if (h->probed_ms && now - h->probed_ms < HTTPD_READY_CACHE_MS)
        return;
    int redis_was = h->redis_ok, kafka_was = h->kafka_ok, first = h->probed_ms == 0;
    if (h->n) {
        h->redis_ok = metrics_redis_ping(h->metrics, h->redis_why, sizeof(h->redis_why)) == 0;
        if (h->redis_ok && !redis_was && !first)
            log_info("readyz: redis answers PING again");
        else if (!h->redis_ok && (redis_was || first))
            log_warn("readyz: redis does not answer PING: %s", h->redis_why);
    }
    if (h->rk) {
        const struct rd_kafka_metadata *md = NULL;
        /* Brokers only (no topic): one round trip to any broker. */
        rd_kafka_resp_err_t err = rd_kafka_metadata(h->rk, 0, NULL, &md, HTTPD_KAFKA_TIMEOUT_MS);
        h->kafka_ok = err == RD_KAFKA_RESP_ERR_NO_ERROR && md && md->broker_cnt > 0;
        if (!h->kafka_ok)
            snprintf(h->kafka_why, sizeof(h->kafka_why), "%s",
                     err ? rd_kafka_err2str(err) : "no brokers in the metadata");
        if (md)
            rd_kafka_metadata_destroy(md);
        if (h->kafka_ok && !kafka_was && !first)
            log_info("readyz: kafka brokers reachable again");
        else if (!h->kafka_ok && (kafka_was || first))
            log_warn("readyz: kafka brokers not reachable: %s", h->kafka_why);
    }
    h->probed_ms = clock_mono_ms();
}

/* Appends one stage's line to @p body (cut at @p cap). Returns 1 when the
 * stage is ready. */
static int httpd_ready_line(const httpd_t *h, const char *name, const worker_stats_t *st,
                            char *body, size_t cap, size_t *len)
{
    int kafka = !st || atomic_load(&st->kafka_up) > 0;
    int redis = !st || atomic_load(&st->redis_up) > 0;
    int assigned = st ? atomic_load(&st->assigned) : 1;
    int ping = !st || h->redis_ok;
    int brokers = !h->rk || h->kafka_ok;
    int k;
    if (kafka && redis && assigned > 0 && ping && brokers) {
        if (st)
            k = snprintf(body + *len, cap - *len, "%s: ready (%d partitions assigned)\n", name,
                         assigned);
        else
            k = snprintf(body + *len, cap - *len, "%s: ready\n", name);
    } else {
        k = snprintf(body + *len, cap - *len, "%s: not ready:%s%s%s%s%s%s%s%s%s\n", name,
                     kafka ? "" : " kafka not up (transactions not initialised);",
                     redis ? "" : " redis not up;", assigned > 0 ? "" : " no partitions assigned;",
                     ping ? "" : " redis does not answer PING (", ping ? "" : h->redis_why,
                     ping ? "" : ");", brokers ? "" : " kafka brokers not reachable (",
                     brokers ? "" : h->kafka_why, brokers ? "" : ");");
    }
    if (k > 0)
        *len += (size_t)k;
    if (*len >= cap)
        *len = cap - 1; /* cut, never past the buffer */
    return kafka && redis && assigned > 0 && ping && brokers;
}

/* GET /readyz: 200 "ready" when every stage of this process can work: each
 * stage worker has Kafka and Redis up and partitions assigned, Redis
 * answers PING and the brokers answer (ingest: the brokers answer); else
 * 503 and one line per stage saying what is missing. */
static enum MHD_Result httpd_readyz(httpd_t *h, struct MHD_Connection *conn)
{
    size_t cap = 256 + (h->n + 1) * 640, len = 0;
    char *body = malloc(cap);
    if (!body)
        return MHD_NO;
    body[0] = '\0';
    int ready = 1;
    pthread_mutex_lock(&h->ready_mu);
    httpd_probe_locked(h);
    for (size_t i = 0; i < h->n; i++)
        ready &= httpd_ready_line(h, h->names[i], h->stats[i], body, cap, &len);
    if (h->ingest)
        ready &= httpd_ready_line(h, "ingest", NULL, body, cap, &len);
    pthread_mutex_unlock(&h->ready_mu);
    if (ready) {
        free(body);
        return httpd_text(conn, MHD_HTTP_OK, "ready\n");
    }
    return httpd_reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", body, len,
                       1);
}

/* @locality: the connection's thread (libmicrohttpd). */
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

/* The brokers' reachability probe: a producer that sends nothing, with
 * the process's Kafka settings. Its logs go to debug: /readyz says why. */
static void httpd_kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)level;
    log_msg(LOG_DEBUG, NULL, NULL, NULL, "rdkafka %s %s: %s", rd_kafka_name(rk), fac, buf);
}

static rd_kafka_t *httpd_kafka_new(const config_t *cfg, char *errstr, size_t errstr_size)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (kafka_conf_apply(cfg, conf, errstr, errstr_size) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    /* Back within a second of the brokers' return, not librdkafka's 10 s. */
    if (rd_kafka_conf_set(conf, "client.id", "incidentd-readyz", err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "reconnect.backoff.max.ms", "1000", err, sizeof(err))) {
        snprintf(errstr, errstr_size, "readyz kafka: %s", err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, httpd_kafka_log);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        snprintf(errstr, errstr_size, "readyz kafka: %s", err);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

httpd_t *httpd_start(const config_t *cfg, const worker_stats_t *const *stats,
                     const char *const *names, size_t n, char *errstr, size_t errstr_size)
{
    httpd_t *h = calloc(1, sizeof(*h));
    if (!h)
        goto oom;
    pthread_mutex_init(&h->ready_mu, NULL);
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
    h->ingest = (cfg->stage_mask & CONFIG_STAGE_INGEST) != 0;
    h->metrics = metrics_new(cfg, stats, names, n);
    if (n || h->ingest) {
        h->rk = httpd_kafka_new(cfg, errstr, errstr_size);
        if (!h->rk)
            goto fail;
    }
    const http_server_app_t app = {
        .name = "http",
        .setting = "http",
        .thread_per_connection = 1,
        .idle_timeout_s = HTTPD_IDLE_TIMEOUT_S,
        .access = httpd_handle,
        .cls = h,
    };
    h->server = http_server_start(cfg, cfg->http, &app, errstr, errstr_size);
    if (!h->server)
        goto fail;
    log_info("http: serving /metrics, /healthz, /readyz on port %d", httpd_port(h));
    return h;

oom:
    snprintf(errstr, errstr_size, "out of memory");
fail:
    httpd_stop(h);
    return NULL;
}

void httpd_stop(httpd_t *h)
{
    if (!h)
        return;
    http_server_stop(h->server);
    if (h->rk)
        rd_kafka_destroy(h->rk);
    metrics_destroy(h->metrics);
    pthread_mutex_destroy(&h->ready_mu);
    free(h->stats);
    free(h->names);
    free(h);
}

int httpd_port(const httpd_t *h) { return h ? http_server_port(h->server) : -1; }
