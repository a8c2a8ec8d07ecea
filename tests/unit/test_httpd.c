/*
 * test_httpd.c — the operations endpoint (httpd.c, metrics.c) on
 * 127.0.0.1:0 with hand-set worker counters, scraped with the tests' HTTP
 * client (tests/http_client.h) and exposition parser (tests/prom.h):
 *
 *   - /metrics is well-formed text exposition 0.0.4 (every line parsed,
 *     HELP and TYPE before the samples of each family, no duplicate
 *     series), counters and gauges equal what was set, the histogram is
 *     cumulative with +Inf == _count;
 *   - /readyz 503 naming what is missing per stage, 200 once set; Redis
 *     asked with PING (a fake) and the brokers with a metadata request
 *     (librdkafka's mock cluster): a hung Redis or a broker down gives 503
 *     within seconds, even when the workers' counters say "up"; an
 *     ingest-only process needs the brokers; a process without stages is
 *     ready; /healthz answers while a /readyz waits; 404; 405;
 *   - /healthz is served while 150 slow clients hold connections;
 *   - the open-incident gauges from a fake Redis (the keys asked for and the
 *     numbers shown), and a scrape stays fast when Redis refuses or never
 *     answers;
 *   - bad address and port in use fail with a reason; no descriptor leaks.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "config.h"
#include "http_client.h"
#include "httpd.h"
#include "prom.h"
#include "testutil.h"

/* ---- set-up: a config and two fake stage workers -------------------------- */

static config_t cfg;
static worker_stats_t stats[2];
static const worker_stats_t *const stats_p[2] = {&stats[0], &stats[1]};
static const char *const names[2] = {"detected", "scoped"};

/* Loads a config with --http 127.0.0.1:0, the given Redis URL and brokers,
 * and, when @p ingest, --stages ingest. */
static void load_cfg_full(const char *redis, const char *brokers, int ingest)
{
    char err[512];
    const char *argv[] = {"incidentd", "--http",        "127.0.0.1:0",    "--redis", redis,
                          "--brokers", brokers,         "--topic-prefix", "unit.",   "--stages",
                          "ingest",    "--ingest-http", "127.0.0.1:0",    NULL};
    config_destroy(&cfg);
    int rc = config_load(&cfg, ingest ? 13 : 9, (char **)argv, err, sizeof(err));
    cr_assert_eq(rc, 0, "config_load: %s", err);
}

/* Port 1 on loopback: nothing listens, connect is refused at once. */
static void load_cfg(const char *redis) { load_cfg_full(redis, "127.0.0.1:1", 0); }

static void setup(void)
{
    tu_clean_env();
    memset(&cfg, 0, sizeof(cfg));
    memset(stats, 0, sizeof(stats));
    /* Port 1 on loopback: nothing listens, connect is refused at once. */
    load_cfg("redis://127.0.0.1:1/0");
}

static void teardown(void) { config_destroy(&cfg); }

TestSuite(httpd, .init = setup, .fini = teardown, .timeout = 60);

static httpd_t *start(size_t n)
{
    char err[256] = "";
    httpd_t *h = httpd_start(&cfg, stats_p, names, n, err, sizeof(err));
    cr_assert_not_null(h, "httpd_start: %s", err);
    cr_assert_gt(httpd_port(h), 0);
    return h;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- requests ------------------------------------------------------------ */

/* Sends one request (with a text @p body when not NULL) and reads the whole
 * reply; asserts that one came. */
static tu_http_resp_t request(int port, const char *method, const char *path, const char *body)
{
    static const char *const text[] = {"Content-Type: text/plain", NULL};
    tu_http_resp_t r;
    int rc = tu_http_request(port, method, path, body ? text : NULL, body, body ? strlen(body) : 0,
                             TU_HTTP_NO_CONTENT_TYPE, 10000, &r);
    cr_assert_eq(rc, 0, "no answer to %s %s", method, path);
    return r;
}

/* Scrapes and parses /metrics; asserts a 200. */
static tu_prom_t *scrape(int port)
{
    tu_prom_t *e = tu_prom_scrape(port);
    cr_assert_not_null(e, "/metrics 200");
    return e;
}

/* ---- the tests ------------------------------------------------------------ */

Test(httpd, metrics_exposition_counters_and_histogram)
{
    /* Every per-stage counter gets its own value on each stage. */
    struct {
        const char *metric;
        size_t off;
    } u64s[] = {
        {"incidentd_consumed_total", offsetof(worker_stats_t, consumed)},
        {"incidentd_produced_total", offsetof(worker_stats_t, produced)},
        {"incidentd_transitions_total", offsetof(worker_stats_t, transitions)},
        {"incidentd_audit_records_total", offsetof(worker_stats_t, audit_records)},
        {"incidentd_dead_lettered_total", offsetof(worker_stats_t, dead_lettered)},
        {"incidentd_duplicates_total", offsetof(worker_stats_t, duplicates)},
        {"incidentd_replays_total", offsetof(worker_stats_t, replays)},
        {"incidentd_conflicts_total", offsetof(worker_stats_t, conflicts)},
        {"incidentd_failed_batches_total", offsetof(worker_stats_t, failed)},
        {"incidentd_batches_total", offsetof(worker_stats_t, batches)},
        {"incidentd_in_flight", offsetof(worker_stats_t, in_flight)},
        {"incidentd_redis_round_trips_total", offsetof(worker_stats_t, redis_round_trips)},
        {"incidentd_redis_errors_total", offsetof(worker_stats_t, redis_errors)},
        {"incidentd_escalations_total", offsetof(worker_stats_t, escalations)},
        {"incidentd_timers_fired_total", offsetof(worker_stats_t, timers_fired)},
        {"incidentd_delivery_claims_total", offsetof(worker_stats_t, delivery_claims)},
        {"incidentd_deliveries_deferred_total", offsetof(worker_stats_t, deliveries_deferred)},
    };
    size_t n_u64 = sizeof(u64s) / sizeof(u64s[0]);
    for (size_t s = 0; s < 2; s++)
        for (size_t i = 0; i < n_u64; i++)
            atomic_store((atomic_uint_fast64_t *)(void *)((char *)&stats[s] + u64s[i].off),
                         (uint_fast64_t)(1000 * (s + 1) + i + 1));
    /* A value past 2^53 keeps its digits (printed as an integer). */
    atomic_store(&stats[1].consumed, (uint_fast64_t)9007199254740993ull);
    atomic_store(&stats[0].assigned, 3);
    atomic_store(&stats[0].redis_up, 1);
    atomic_store(&stats[1].kafka_up, 1);
    /* Per-bucket counts as the worker keeps them: k+1 in bucket k. */
    for (int k = 0; k < WORKER_LAT_BUCKETS; k++)
        atomic_store(&stats[0].lat_bucket[k], (uint_fast64_t)(k + 1));
    atomic_store(&stats[0].lat_sum_us, 1234567);
    atomic_store(&stats[0].lat_count, 66);

    httpd_t *h = start(2);
    tu_http_resp_t raw = request(httpd_port(h), "GET", "/metrics", NULL);
    cr_assert(strstr(raw.body, "incidentd_consumed_total{stage=\"scoped\"} 9007199254740993\n"),
              "large counters printed exactly");
    tu_http_resp_free(&raw);
    tu_prom_t *e = scrape(httpd_port(h));

    for (size_t s = 0; s < 2; s++) {
        char lab[64];
        snprintf(lab, sizeof(lab), "stage=\"%s\"", names[s]);
        for (size_t i = 0; i < n_u64; i++) {
            if (s == 1 && i == 0)
                continue; /* the large one, checked above */
            double want = (double)(1000 * (s + 1) + i + 1);
            cr_expect_eq(tu_prom_get(e, u64s[i].metric, lab), want, "%s{%s}", u64s[i].metric, lab);
            const char *type = tu_prom_type(e, u64s[i].metric);
            cr_expect_str_eq(type, strstr(u64s[i].metric, "_total") ? "counter" : "gauge",
                             "TYPE of %s", u64s[i].metric);
        }
    }
    cr_expect_eq(tu_prom_get(e, "incidentd_partitions_assigned", "stage=\"detected\""), 3);
    cr_expect_eq(tu_prom_get(e, "incidentd_partitions_assigned", "stage=\"scoped\""), 0);
    cr_expect_eq(tu_prom_get(e, "incidentd_redis_up", "stage=\"detected\""), 1);
    cr_expect_eq(tu_prom_get(e, "incidentd_redis_up", "stage=\"scoped\""), 0);
    cr_expect_eq(tu_prom_get(e, "incidentd_kafka_up", "stage=\"detected\""), 0);
    cr_expect_eq(tu_prom_get(e, "incidentd_kafka_up", "stage=\"scoped\""), 1);
    cr_expect_str_eq(tu_prom_type(e, "incidentd_partitions_assigned"), "gauge");

    /* The histogram: le ascending, counts cumulative, +Inf == _count. */
    cr_expect_str_eq(tu_prom_type(e, "incidentd_processing_seconds"), "histogram");
    for (size_t s = 0; s < 2; s++) {
        double prev_le = -1, prev = -1, inf = -1;
        size_t buckets = 0;
        char want_prefix[64];
        snprintf(want_prefix, sizeof(want_prefix), "stage=\"%s\",le=\"", names[s]);
        for (size_t i = 0; i < e->n; i++) {
            if (strcmp(e->s[i].name, "incidentd_processing_seconds_bucket") != 0 ||
                strncmp(e->s[i].labels, want_prefix, strlen(want_prefix)) != 0)
                continue;
            const char *le = e->s[i].labels + strlen(want_prefix);
            double bound = strncmp(le, "+Inf\"", 5) == 0 ? INFINITY : strtod(le, NULL);
            cr_expect_gt(bound, prev_le, "le ascending");
            cr_expect_geq(e->s[i].value, prev, "buckets cumulative");
            if (buckets < WORKER_LAT_BUCKETS - 1) {
                cr_expect(fabs(bound - worker_lat_bounds_ms[buckets] / 1000.0) < 1e-12,
                          "bucket %zu: le %g s", buckets, bound);
            }
            if (s == 0) {
                /* 1 + 2 + ... + (k+1) */
                double want = (double)((buckets + 1) * (buckets + 2) / 2);
                cr_expect_eq(e->s[i].value, want, "bucket %zu of detected", buckets);
            }
            prev_le = bound;
            prev = e->s[i].value;
            if (isinf(bound))
                inf = e->s[i].value;
            buckets++;
        }
        char lab[64];
        snprintf(lab, sizeof(lab), "stage=\"%s\"", names[s]);
        cr_expect_eq(buckets, WORKER_LAT_BUCKETS, "every bucket of %s", names[s]);
        cr_expect_eq(inf, tu_prom_get(e, "incidentd_processing_seconds_count", lab),
                     "+Inf == _count");
        if (s == 0) {
            cr_expect_eq(inf, 66);
            cr_expect(fabs(tu_prom_get(e, "incidentd_processing_seconds_sum", lab) - 1.234567) <
                      1e-9);
        } else {
            cr_expect_eq(inf, 0);
        }
    }

    cr_expect_eq(tu_prom_get(e, "incidentd_build_info", "version=\"" INCIDENTD_VERSION "\""), 1);
    cr_expect_gt(tu_prom_get(e, "process_resident_memory_bytes", ""), 1024 * 1024);
    double start_s = tu_prom_get(e, "process_start_time_seconds", "");
    double now_s = (double)time(NULL);
    cr_expect(start_s > now_s - 3600 && start_s <= now_s + 1, "process_start_time_seconds %f",
              start_s);
    cr_expect_geq(tu_prom_get(e, "process_cpu_seconds_total", ""), 0);
    /* Redis refused: the gauges are left out, the scrape still works. */
    cr_expect_not(tu_prom_has(e, "incidentd_open_incidents"));
    free(e);
    httpd_stop(h);
}

Test(httpd, without_stage_workers_ready_and_metrics)
{
    httpd_t *h = start(0);
    tu_http_resp_t r = request(httpd_port(h), "GET", "/readyz", NULL);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(r.body, "ready\n");
    tu_http_resp_free(&r);
    tu_prom_t *e = scrape(httpd_port(h));
    cr_expect_not(tu_prom_has(e, "incidentd_consumed_total"));
    cr_expect_eq(tu_prom_get(e, "incidentd_build_info", "version=\"" INCIDENTD_VERSION "\""), 1);
    free(e);
    httpd_stop(h);
}

Test(httpd, healthz_404_405)
{
    httpd_t *h = start(2);
    int port = httpd_port(h);
    tu_http_resp_t r = request(port, "GET", "/healthz", NULL);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(r.body, "ok\n");
    tu_http_resp_free(&r);

    r = request(port, "GET", "/healthz?verbose=1", NULL);
    cr_expect_eq(r.status, 200, "a query string does not change the path");
    tu_http_resp_free(&r);

    r = request(port, "HEAD", "/healthz", NULL);
    cr_expect_eq(r.status, 200);
    cr_expect_eq(r.body_len, 0, "HEAD has no body");
    tu_http_resp_free(&r);

    const char *missing[] = {"/", "/metrics/", "/nope", "/healthzz", "/METRICS"};
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        r = request(port, "GET", missing[i], NULL);
        cr_expect_eq(r.status, 404, "GET %s", missing[i]);
        tu_http_resp_free(&r);
    }

    const char *methods[] = {"POST", "PUT", "DELETE", "PATCH"};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        r = request(port, methods[i], "/metrics", "some body");
        cr_expect_eq(r.status, 405, "%s /metrics", methods[i]);
        const char *allow = tu_http_header(&r, "Allow");
        cr_expect_not_null(allow, "Allow header");
        cr_expect_str_eq(allow ? allow : "", "GET, HEAD");
        tu_http_resp_free(&r);
    }
    r = request(port, "POST", "/nope", NULL);
    cr_expect_eq(r.status, 405);
    tu_http_resp_free(&r);

    /* Still serving after all that. */
    r = request(port, "GET", "/healthz", NULL);
    cr_expect_eq(r.status, 200);
    tu_http_resp_free(&r);
    httpd_stop(h);
}

/* ---- Redis --------------------------------------------------------------- */

/* A listening socket on 127.0.0.1 (port into *port). */
static int listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(fd, 8), 0);
    socklen_t sl = sizeof(sa);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

typedef struct fake_redis {
    int lfd;
    pthread_t tid;
    int connections; /* to serve, one after the other */
    int close_after; /* close a connection after this many commands (0 = never) */
    int pong;        /* answer +PONG instead of :<n> */
    char got[4096];  /* every byte received */
    size_t n_got;
    int n_commands;
    int n_connections;
} fake_redis_t;

/* Serves f->connections connections in turn: answers each RESP command (an
 * array header '*' at the start of the stream or after a CRLF) with
 * ":<n>\r\n", n = 10, 11, ... in order, until the client closes or
 * close_after commands were answered on that connection. */
static void *fake_redis_run(void *arg)
{
    fake_redis_t *f = arg;
    for (int c = 0; c < f->connections; c++) {
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0)
            return NULL;
        f->n_connections++;
        char buf[1024];
        ssize_t k;
        int at_line_start = 1, answered = 0;
        while ((!f->close_after || answered < f->close_after) &&
               (k = recv(fd, buf, sizeof(buf), 0)) > 0) {
            for (ssize_t i = 0; i < k; i++) {
                if (f->n_got < sizeof(f->got) - 1)
                    f->got[f->n_got++] = buf[i];
                if (at_line_start && buf[i] == '*') {
                    char rep[32];
                    int n = f->pong ? snprintf(rep, sizeof(rep), "+PONG\r\n")
                                    : snprintf(rep, sizeof(rep), ":%d\r\n", 10 + f->n_commands);
                    f->n_commands++;
                    answered++;
                    if (send(fd, rep, (size_t)n, MSG_NOSIGNAL) != n)
                        break;
                }
                at_line_start = buf[i] == '\n';
            }
        }
        close(fd);
    }
    return NULL;
}

/* Starts a fake Redis serving @p connections (see fake_redis_run) in a
 * thread; its URL into @p url. */
static void fake_redis_start(fake_redis_t *f, int connections, int close_after, int pong, char *url,
                             size_t size)
{
    memset(f, 0, sizeof(*f));
    f->connections = connections;
    f->close_after = close_after;
    f->pong = pong;
    int rport;
    f->lfd = listener(&rport);
    cr_assert_eq(pthread_create(&f->tid, NULL, fake_redis_run, f), 0);
    snprintf(url, size, "redis://127.0.0.1:%d/0", rport);
}

Test(httpd, open_incidents_from_redis)
{
    fake_redis_t f;
    char url[64];
    fake_redis_start(&f, 1, 0, 0, url, sizeof(url));
    load_cfg(url);

    httpd_t *h = start(2);
    tu_prom_t *e = scrape(httpd_port(h));
    cr_expect_str_eq(tu_prom_type(e, "incidentd_open_incidents"), "gauge");
    const char *stages[] = {"detected", "classified", "scoped", "escalated", "resolved"};
    for (int i = 0; i < 5; i++) {
        char lab[64];
        snprintf(lab, sizeof(lab), "stage=\"%s\"", stages[i]);
        cr_expect_eq(tu_prom_get(e, "incidentd_open_incidents", lab), 10 + i, "%s", lab);
    }
    cr_expect_eq(tu_prom_get(e, "incidentd_open_incidents_by_kind", "kind=\"incident\""), 15);
    cr_expect_eq(tu_prom_get(e, "incidentd_open_incidents_by_kind", "kind=\"disturbance\""), 16);
    free(e);
    /* Cached: a second scrape within 5 s asks Redis nothing. */
    e = scrape(httpd_port(h));
    cr_expect_eq(tu_prom_get(e, "incidentd_open_incidents", "stage=\"resolved\""), 14);
    free(e);
    httpd_stop(h); /* closes the connection: the fake returns */
    pthread_join(f.tid, NULL);
    close(f.lfd);

    cr_expect_eq(f.n_commands, 7, "seven SCARDs, no AUTH/SELECT for db 0 without a password");
    f.got[f.n_got] = '\0';
    const char *keys[] = {"unit.stage:DETECTED",  "unit.stage:CLASSIFIED", "unit.stage:SCOPED",
                          "unit.stage:ESCALATED", "unit.stage:RESOLVED",   "unit.kind:INCIDENT",
                          "unit.kind:DISTURBANCE"};
    for (int i = 0; i < 7; i++)
        cr_expect(strstr(f.got, keys[i]), "asked for %s in: %s", keys[i], f.got);
    cr_expect(strstr(f.got, "SCARD"), "%s", f.got);
}

Test(httpd, redis_closing_the_kept_connection_is_reconnected_at_once)
{
    /* Hiredis writes with write(2): the daemon ignores SIGPIPE, so do we. */
    signal(SIGPIPE, SIG_IGN);
    fake_redis_t f;
    char url[64];
    /* two connections, the first closed after 7 commands: Redis's idle
     * timeout, once the first scrape is answered */
    fake_redis_start(&f, 2, 7, 0, url, sizeof(url));
    load_cfg(url);

    httpd_t *h = start(2);
    tu_prom_t *e = scrape(httpd_port(h));
    cr_expect_eq(tu_prom_get(e, "incidentd_open_incidents", "stage=\"detected\""), 10);
    free(e);
    usleep(5200 * 1000); /* past the cache period */
    e = scrape(httpd_port(h));
    cr_expect_eq(tu_prom_get(e, "incidentd_open_incidents", "stage=\"detected\""), 17,
                 "read again on a new connection in the same scrape");
    cr_expect_eq(tu_prom_get(e, "incidentd_open_incidents", "stage=\"resolved\""), 21);
    free(e);
    httpd_stop(h);
    pthread_join(f.tid, NULL);
    close(f.lfd);
    cr_expect_eq(f.n_connections, 2);
}

Test(httpd, redis_that_never_answers_does_not_hold_the_scrape)
{
    /* Listening, never accepting: the kernel completes the handshake, the
     * commands are sent, no reply ever comes. */
    int rport;
    int lfd = listener(&rport);
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", rport);
    load_cfg(url);

    httpd_t *h = start(2);
    int64_t t0 = mono_ms();
    tu_prom_t *e = scrape(httpd_port(h));
    int64_t took = mono_ms() - t0;
    cr_expect_lt(took, 1500, "scrape took %lld ms", (long long)took);
    cr_expect_not(tu_prom_has(e, "incidentd_open_incidents"));
    cr_expect(tu_prom_has(e, "incidentd_consumed_total"));
    free(e);
    /* The failure is cached: the next scrape does not wait again. */
    t0 = mono_ms();
    e = scrape(httpd_port(h));
    took = mono_ms() - t0;
    cr_expect_lt(took, 200, "second scrape took %lld ms", (long long)took);
    free(e);
    httpd_stop(h);
    close(lfd);
}

Test(httpd, redis_refused_scrape_is_fast)
{
    httpd_t *h = start(2);
    int64_t t0 = mono_ms();
    tu_prom_t *e = scrape(httpd_port(h));
    int64_t took = mono_ms() - t0;
    cr_expect_lt(took, 1000, "scrape took %lld ms", (long long)took);
    cr_expect_not(tu_prom_has(e, "incidentd_open_incidents"));
    free(e);
    httpd_stop(h);
}

/* ---- readiness ------------------------------------------------------------ */

/* librdkafka's mock cluster: one broker that answers metadata requests. */
typedef struct mock_kafka {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    char brokers[256];
} mock_kafka_t;

static void mock_kafka_start(mock_kafka_t *k)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    cr_assert_not_null(k->rk, "%s", err);
    k->mc = rd_kafka_mock_cluster_new(k->rk, 1);
    cr_assert_not_null(k->mc);
    snprintf(k->brokers, sizeof(k->brokers), "%s", rd_kafka_mock_cluster_bootstraps(k->mc));
}

static void mock_kafka_stop(mock_kafka_t *k)
{
    rd_kafka_mock_cluster_destroy(k->mc);
    rd_kafka_destroy(k->rk);
}

static void pong_redis_stop(fake_redis_t *f)
{
    shutdown(f->lfd, SHUT_RDWR); /* an accept() still waiting returns */
    pthread_join(f->tid, NULL);
    close(f->lfd);
}

static void set_workers_up(void)
{
    for (int s = 0; s < 2; s++) {
        atomic_store(&stats[s].kafka_up, 1);
        atomic_store(&stats[s].redis_up, 1);
        atomic_store(&stats[s].assigned, 1);
    }
}

/* Asks /readyz every 200 ms until it answers @p status, for up to @p ms.
 * Returns the last reply (free it). */
static tu_http_resp_t readyz_until(int port, int status, int ms)
{
    int64_t t0 = mono_ms();
    for (;;) {
        tu_http_resp_t r = request(port, "GET", "/readyz", NULL);
        if (r.status == status || mono_ms() - t0 > ms)
            return r;
        tu_http_resp_free(&r);
        usleep(200 * 1000);
    }
}

Test(httpd, readyz_names_what_is_missing)
{
    mock_kafka_t k;
    mock_kafka_start(&k);
    fake_redis_t f;
    char url[64];
    fake_redis_start(&f, 1, 0, 1, url, sizeof(url)); /* PONG, one kept connection */
    load_cfg_full(url, k.brokers, 0);
    httpd_t *h = start(2);
    int port = httpd_port(h);
    tu_http_resp_t r = request(port, "GET", "/readyz", NULL);
    cr_expect_eq(r.status, 503);
    cr_expect(strstr(r.body, "detected: not ready: kafka not up"), "%s", r.body);
    cr_expect(strstr(r.body, "redis not up"), "%s", r.body);
    cr_expect(strstr(r.body, "no partitions assigned"), "%s", r.body);
    cr_expect(strstr(r.body, "scoped: not ready"), "%s", r.body);
    tu_http_resp_free(&r);

    for (int s = 0; s < 2; s++) {
        atomic_store(&stats[s].kafka_up, 1);
        atomic_store(&stats[s].redis_up, 1);
    }
    atomic_store(&stats[0].assigned, 2);
    r = request(port, "GET", "/readyz", NULL);
    cr_expect_eq(r.status, 503, "scoped has no partitions yet");
    cr_expect(strstr(r.body, "detected: ready"), "%s", r.body);
    cr_expect(strstr(r.body, "scoped: not ready: no partitions assigned;"), "%s", r.body);
    cr_expect_null(strstr(r.body, "kafka"), "%s", r.body);
    tu_http_resp_free(&r);

    atomic_store(&stats[1].assigned, 1);
    r = request(port, "GET", "/readyz", NULL);
    cr_expect_eq(r.status, 200, "%s", r.body);
    cr_expect_str_eq(r.body, "ready\n");
    tu_http_resp_free(&r);

    atomic_store(&stats[0].redis_up, 0);
    r = request(port, "GET", "/readyz", NULL);
    cr_expect_eq(r.status, 503, "redis lost: not ready again");
    cr_expect(strstr(r.body, "detected: not ready: redis not up;"), "%s", r.body);
    tu_http_resp_free(&r);
    httpd_stop(h);
    pong_redis_stop(&f);
    cr_expect_gt(f.n_commands, 0, "redis was asked");
    f.got[f.n_got] = '\0';
    cr_expect(strstr(f.got, "PING"), "%s", f.got);
    mock_kafka_stop(&k);
}

Test(httpd, readyz_asks_the_brokers_though_the_workers_say_up)
{
    mock_kafka_t k;
    mock_kafka_start(&k);
    fake_redis_t f;
    char url[64];
    fake_redis_start(&f, 1, 0, 1, url, sizeof(url)); /* PONG, one kept connection */
    load_cfg_full(url, k.brokers, 0);
    set_workers_up();
    httpd_t *h = start(2);
    int port = httpd_port(h);
    tu_http_resp_t r = readyz_until(port, 200, 5000);
    cr_expect_eq(r.status, 200, "%s", r.body);
    tu_http_resp_free(&r);

    rd_kafka_mock_broker_set_down(k.mc, 1);
    int64_t t0 = mono_ms();
    r = readyz_until(port, 503, 5000);
    cr_expect_eq(r.status, 503, "broker down: %s", r.body);
    cr_expect_lt(mono_ms() - t0, 5000);
    cr_expect(strstr(r.body, "detected: not ready: kafka brokers not reachable ("), "%s", r.body);
    tu_http_resp_free(&r);

    rd_kafka_mock_broker_set_up(k.mc, 1);
    r = readyz_until(port, 200, 10000);
    cr_expect_eq(r.status, 200, "broker back: %s", r.body);
    tu_http_resp_free(&r);
    httpd_stop(h);
    pong_redis_stop(&f);
    mock_kafka_stop(&k);
}

Test(httpd, readyz_with_a_hung_redis_is_503_within_seconds)
{
    mock_kafka_t k;
    mock_kafka_start(&k);
    /* Listening, never accepting: connected, the PING is never answered
     * (a SIGSTOPped redis-server). */
    int rport;
    int lfd = listener(&rport);
    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", rport);
    load_cfg_full(url, k.brokers, 0);
    set_workers_up(); /* an idle stage: its own connection has not noticed */
    httpd_t *h = start(2);
    int64_t t0 = mono_ms();
    tu_http_resp_t r = request(httpd_port(h), "GET", "/readyz", NULL);
    int64_t took = mono_ms() - t0;
    cr_expect_eq(r.status, 503, "%s", r.body);
    cr_expect(strstr(r.body, "detected: not ready: redis does not answer PING ("), "%s", r.body);
    cr_expect_lt(took, 3000, "answered in %lld ms", (long long)took);
    tu_http_resp_free(&r);
    /* cached: the next one within a second does not wait again */
    t0 = mono_ms();
    r = request(httpd_port(h), "GET", "/readyz", NULL);
    cr_expect_eq(r.status, 503);
    cr_expect_lt(mono_ms() - t0, 300);
    tu_http_resp_free(&r);
    httpd_stop(h);
    close(lfd);
    mock_kafka_stop(&k);
}

typedef struct readyz_call {
    int port;
    int status;
} readyz_call_t;

static void *readyz_thread(void *arg)
{
    readyz_call_t *c = arg;
    tu_http_resp_t r = request(c->port, "GET", "/readyz", NULL);
    c->status = r.status;
    tu_http_resp_free(&r);
    return NULL;
}

Test(httpd, healthz_answers_while_a_readyz_waits_for_the_brokers)
{
    set_workers_up();
    httpd_t *h = start(2); /* brokers 127.0.0.1:1: the metadata request waits ~1 s */
    readyz_call_t c = {.port = httpd_port(h)};
    pthread_t tid;
    cr_assert_eq(pthread_create(&tid, NULL, readyz_thread, &c), 0);
    usleep(150 * 1000);
    int64_t t0 = mono_ms();
    tu_http_resp_t r = request(httpd_port(h), "GET", "/healthz", NULL);
    int64_t took = mono_ms() - t0;
    cr_expect_eq(r.status, 200);
    cr_expect_lt(took, 500, "/healthz took %lld ms", (long long)took);
    tu_http_resp_free(&r);
    pthread_join(tid, NULL);
    cr_expect_eq(c.status, 503);
    httpd_stop(h);
}

Test(httpd, ingest_only_process_needs_the_brokers)
{
    load_cfg_full("redis://127.0.0.1:1/0", "127.0.0.1:1", 1);
    httpd_t *h = start(0);
    tu_http_resp_t r = request(httpd_port(h), "GET", "/readyz", NULL);
    cr_expect_eq(r.status, 503, "no broker: %s", r.body);
    cr_expect(strstr(r.body, "ingest: not ready: kafka brokers not reachable ("), "%s", r.body);
    cr_expect_null(strstr(r.body, "redis"), "ingest needs no redis: %s", r.body);
    tu_http_resp_free(&r);
    httpd_stop(h);

    mock_kafka_t k;
    mock_kafka_start(&k);
    load_cfg_full("redis://127.0.0.1:1/0", k.brokers, 1);
    h = start(0);
    r = readyz_until(httpd_port(h), 200, 5000);
    cr_expect_eq(r.status, 200, "%s", r.body);
    tu_http_resp_free(&r);
    httpd_stop(h);
    mock_kafka_stop(&k);
}

/* ---- slow clients --------------------------------------------------------- */

Test(httpd, healthz_is_served_while_150_slow_clients_hold_connections)
{
    httpd_t *h = start(2);
    int *slow = tu_slow_open(httpd_port(h), "/metrics", 150, 2, 15);
    usleep(300 * 1000);
    cr_expect_eq(tu_slow_trickle(slow, 150), 150, "every slow client is held");
    tu_http_resp_t r = request(httpd_port(h), "GET", "/healthz", NULL);
    cr_expect_eq(r.status, 200);
    tu_http_resp_free(&r);
    tu_slow_close(slow, 150);
    httpd_stop(h);
}

/* ---- start-up errors and resources --------------------------------------- */

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

Test(httpd, port_in_use_and_bad_address)
{
    httpd_t *h = start(2);
    char addr[64], err[256] = "";
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", httpd_port(h));
    char *saved = cfg.http;
    cfg.http = addr;
    httpd_t *h2 = httpd_start(&cfg, stats_p, names, 2, err, sizeof(err));
    cr_expect_null(h2);
    cr_expect(strstr(err, "cannot listen on 127.0.0.1:") && strstr(err, "in use"), "%s", err);

    cfg.http = "no-port-here";
    err[0] = '\0';
    cr_expect_null(httpd_start(&cfg, stats_p, names, 2, err, sizeof(err)));
    cr_expect(strstr(err, "expected host:port"), "%s", err);

    /* TEST-NET-1: not an address of this machine. */
    cfg.http = "192.0.2.1:0";
    err[0] = '\0';
    cr_expect_null(httpd_start(&cfg, stats_p, names, 2, err, sizeof(err)));
    cr_expect(strstr(err, "cannot listen on 192.0.2.1:0"), "%s", err);
    cfg.http = saved;
    httpd_stop(h);
    httpd_stop(NULL);
    cr_expect_eq(httpd_port(NULL), -1);
}

Test(httpd, no_descriptor_leaks)
{
    int before = count_fds();
    for (int i = 0; i < 3; i++) {
        httpd_t *h = start(2);
        tu_http_resp_t r = request(httpd_port(h), "GET", "/metrics", NULL);
        cr_expect_eq(r.status, 200);
        tu_http_resp_free(&r);
        httpd_stop(h);
    }
    /* A failed start (port in use) leaves nothing open either. */
    httpd_t *h = start(2);
    int mid = count_fds();
    char addr[64], err[256];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", httpd_port(h));
    char *saved = cfg.http;
    cfg.http = addr;
    cr_expect_null(httpd_start(&cfg, stats_p, names, 2, err, sizeof(err)));
    cfg.http = saved;
    cr_expect_eq(count_fds(), mid, "descriptors after a failed start");
    httpd_stop(h);
    cr_expect_eq(count_fds(), before, "descriptors before and after");
}
