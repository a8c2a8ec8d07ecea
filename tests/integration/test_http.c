/*
 * test_http.c — the operations endpoint of the real incidentd binary on the
 * test bed's real Kafka and Redis: --http on a free loopback port,
 *
 *   - /healthz answers while the process starts, /readyz turns 200 once
 *     every stage has Kafka, Redis and partitions;
 *   - one alert published to incidents.detected shows in /metrics as a
 *     detected-stage transition and audit records, the whole exposition
 *     parses (tests/prom.h), and the open-incident gauge (read from Redis) counts it;
 *   - SIGTERM: exit 0;
 *   - /readyz of an idle stage turns 503 within 5 s of the test bed's
 *     redis-server being SIGSTOPped (a hung Redis) and 200 again after
 *     SIGCONT; an ingest-only process is 503 with a dead broker address
 *     and 200 with the test bed's.
 *
 * Every wait is bounded.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "e2e.h"
#include "http_client.h"
#include "incident/v1/incident.pb-c.h"
#include "prom.h"
#include "testutil.h"

#define READY_MS 90000
#define WAIT_MS 60000

/* ---- the test ------------------------------------------------------------- */

/* The incidentd of the running test: killed by the fini when an assertion
 * ended the test before it was stopped. */
static pid_t child;

/* The test bed's redis-server while the test has it stopped. */
static pid_t stopped_redis;

static void fini(void)
{
    if (stopped_redis > 0)
        kill(stopped_redis, SIGCONT);
    stopped_redis = 0;
    if (child > 0)
        tu_stop(child, SIGKILL, 10000);
    child = 0;
}

TestSuite(http, .fini = fini);

/* Fails the test (after stopping it) when incidentd has exited. */
static void assert_alive(pid_t pid, const char *log)
{
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
        child = 0; /* reaped */
    cr_assert_eq(r, 0, "incidentd exited early (status %d); log %s", r == pid ? status : 0, log);
}

Test(http, metrics_health_and_readiness_of_the_real_daemon, .timeout = 300)
{
    char prefix[128], log[256], http[64];
    snprintf(prefix, sizeof(prefix), "%s.", tu_unique("http"));
    snprintf(log, sizeof(log), "/tmp/%sincidentd.log", prefix);
    int port = tu_free_port();
    snprintf(http, sizeof(http), "http=127.0.0.1:%d", port);
    const char *sets[] = {http, "batch.ms=5", NULL};
    pid_t pid = e2e_spawn_on(prefix, log, "all", 3, sets, NULL);
    child = pid;

    /* Ready: every stage has Kafka, Redis and partitions. /healthz answers
     * as soon as the server is up, whatever the readiness. */
    int64_t deadline = tu_now_ms() + READY_MS;
    int ready = 0, healthy = 0;
    char *body = NULL;
    while (!ready && tu_now_ms() < deadline) {
        assert_alive(pid, log);
        free(body);
        if (!healthy) {
            int hs = tu_http_get(port, "/healthz", &body);
            if (hs == 200) {
                cr_expect_str_eq(body, "ok\n");
                healthy = 1;
            }
            free(body);
            body = NULL;
        }
        int status = tu_http_get(port, "/readyz", &body);
        if (status == 200)
            ready = 1;
        else if (status != 0)
            cr_assert_eq(status, 503, "/readyz: %d %s", status, body ? body : "");
        if (!ready)
            usleep(200 * 1000);
    }
    cr_assert(ready, "/readyz 200 within %d ms; last answer: %s; log %s", READY_MS,
              body ? body : "(none)", log);
    cr_expect_str_eq(body, "ready\n");
    free(body);
    cr_expect(healthy, "/healthz answered 200");

    tu_prom_t *e = tu_prom_scrape(port);
    cr_assert_not_null(e, "/metrics 200");
    const char *stages[] = {"detected", "classified", "scoped", "escalated", "resolved"};
    for (size_t i = 0; i < 5; i++) {
        char lab[64];
        snprintf(lab, sizeof(lab), "stage=\"%s\"", stages[i]);
        cr_expect_gt(tu_prom_sum(e, "incidentd_partitions_assigned", lab), 0, "%s", lab);
        cr_expect_eq(tu_prom_sum(e, "incidentd_kafka_up", lab), 1, "%s", lab);
        cr_expect_eq(tu_prom_sum(e, "incidentd_redis_up", lab), 1, "%s", lab);
        cr_expect_eq(tu_prom_sum(e, "incidentd_transitions_total", lab), 0, "%s", lab);
    }
    free(e);

    /* One alert: a MAJOR trigger opens an incident and goes down the stages. */
    Incident__V1__Alert a = INCIDENT__V1__ALERT__INIT;
    a.alert_id = (char *)tu_unique("a");
    a.dedup_key = (char *)tu_unique("key");
    a.action = INCIDENT__V1__ACTION__ACTION_TRIGGER;
    a.severity = INCIDENT__V1__SEVERITY__SEVERITY_MAJOR;
    a.service = "checkout";
    a.source = "test_http";
    a.summary = "checkout errors";
    char topic[256];
    snprintf(topic, sizeof(topic), "%sincidents.detected", prefix);
    cr_assert_eq(tu_produce_alert(topic, &a), 0);

    deadline = tu_now_ms() + WAIT_MS;
    double transitions = -1, audit = -1, n_open = -1, classified = -1;
    while (tu_now_ms() < deadline) {
        assert_alive(pid, log);
        e = tu_prom_scrape(port);
        cr_assert_not_null(e, "/metrics 200");
        transitions = tu_prom_sum(e, "incidentd_transitions_total", "stage=\"detected\"");
        audit = tu_prom_sum(e, "incidentd_audit_records_total", NULL);
        n_open = tu_prom_sum(e, "incidentd_open_incidents", NULL);
        classified = tu_prom_sum(e, "incidentd_batches_total", "stage=\"classified\"");
        free(e);
        /* The open-incident gauge is cached for 5 s: it may lag. */
        if (transitions >= 1 && audit >= 2 && n_open >= 1 && classified >= 1)
            break;
        usleep(250 * 1000);
    }
    cr_expect_geq(transitions, 1, "detected transitions; log %s", log);
    cr_expect_geq(audit, 2, "audit records; log %s", log);
    cr_expect_geq(n_open, 1, "the incident among the open ones in Redis; log %s", log);

    /* The final exposition, checked as a whole. */
    e = tu_prom_scrape(port);
    cr_assert_not_null(e);
    cr_expect_geq(tu_prom_sum(e, "incidentd_consumed_total", "stage=\"detected\""), 1);
    cr_expect_geq(tu_prom_sum(e, "incidentd_batches_total", NULL), 1);
    /* The classified stage decided the event from the state it carries: its
     * batch's one Redis round trip is the apply (no read). */
    cr_expect_eq(tu_prom_sum(e, "incidentd_redis_batch_round_trips_total", "stage=\"classified\""),
                 tu_prom_sum(e, "incidentd_batches_total", "stage=\"classified\""),
                 "one round trip per classified batch");
    /* ... and the detected stage applied the alert of a key it had not
     * seen on the assumption that the key has no incident: one script,
     * checked by the apply, no read. */
    cr_expect_eq(tu_prom_sum(e, "incidentd_redis_batch_round_trips_total", "stage=\"detected\""),
                 tu_prom_sum(e, "incidentd_batches_total", "stage=\"detected\""),
                 "detected: a new key's alert read and applied in one round trip");
    cr_expect_eq(tu_prom_sum(e, "incidentd_dead_lettered_total", NULL), 0);
    double count = tu_prom_sum(e, "incidentd_processing_seconds_count", "stage=\"detected\"");
    double inf =
        tu_prom_sum(e, "incidentd_processing_seconds_bucket", "stage=\"detected\",le=\"+Inf\"");
    cr_expect_geq(count, 1);
    cr_expect_eq(inf, count, "+Inf bucket == _count");
    /* The commits' own time and the worker's wait for a commit on its own
     * thread (batch.overlap_commit, off by default: 0), in seconds. */
    cr_expect_gt(tu_prom_sum(e, "incidentd_commit_seconds_total", "stage=\"detected\""), 0);
    cr_expect_geq(tu_prom_sum(e, "incidentd_commit_wait_seconds_total", "stage=\"detected\""), 0);
    cr_expect_str_eq(tu_prom_type(e, "incidentd_commit_seconds_total"), "counter");
    cr_expect_eq(tu_prom_sum(e, "incidentd_build_info", NULL), 1);
    cr_expect_gt(tu_prom_sum(e, "process_resident_memory_bytes", NULL), 0);
    cr_expect_gt(tu_prom_sum(e, "process_start_time_seconds", NULL), 1e9);
    cr_expect_geq(tu_prom_sum(e, "incidentd_consumer_lag", NULL), 0, "lag exported");
    cr_expect_geq(tu_prom_sum(e, "incidentd_open_incidents_by_kind", "kind=\"incident\""), 1,
                  "the MAJOR alert's incident counted by kind");
    free(e);

    /* Acknowledge and resolve: the MTTA and MTTR histograms count them. */
    Incident__V1__Alert k = a;
    k.alert_id = (char *)tu_unique("k");
    k.action = INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE;
    k.severity = 0;
    cr_assert_eq(tu_produce_alert(topic, &k), 0);
    Incident__V1__Alert r = k;
    r.alert_id = (char *)tu_unique("r");
    r.action = INCIDENT__V1__ACTION__ACTION_RESOLVE;
    cr_assert_eq(tu_produce_alert(topic, &r), 0);
    double mtta = -1, mttr = -1;
    deadline = tu_now_ms() + WAIT_MS;
    while (tu_now_ms() < deadline && (mtta < 1 || mttr < 1)) {
        e = tu_prom_scrape(port);
        cr_assert_not_null(e);
        mtta = tu_prom_sum(e, "incidentd_time_to_acknowledge_seconds_count", "stage=\"detected\"");
        mttr = tu_prom_sum(e, "incidentd_time_to_resolve_seconds_count", "stage=\"detected\"");
        free(e);
        usleep(250 * 1000);
    }
    cr_expect_eq(mtta, 1, "one acknowledgement in the MTTA histogram");
    cr_expect_eq(mttr, 1, "one resolution in the MTTR histogram");

    char *missing;
    cr_expect_eq(tu_http_get(port, "/nope", &missing), 404);
    free(missing);

    int rc = tu_stop(pid, SIGTERM, 30000);
    child = 0;
    cr_expect_eq(rc, 0, "incidentd exits 0 on SIGTERM (got %d); log %s", rc, log);
}

/* The pid of the test bed's redis-server (<testbed>/redis/redis.pid), or 0
 * when the test bed did not start it (INCIDENTD_TEST_REDIS given). */
static pid_t testbed_redis_pid(void)
{
    const char *env = getenv("INCIDENTD_TESTBED_ENV");
    if (!env || getenv("INCIDENTD_TEST_REDIS"))
        return 0;
    char path[512];
    const char *slash = strrchr(env, '/');
    snprintf(path, sizeof(path), "%.*s/redis/redis.pid", slash ? (int)(slash - env) : 1,
             slash ? env : ".");
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    long pid = 0;
    if (fscanf(f, "%ld", &pid) != 1)
        pid = 0;
    fclose(f);
    return (pid_t)pid;
}

/* Asks /readyz every 250 ms until it answers @p want, for up to @p ms.
 * Returns the last status; *body gets the last body (caller frees). */
static int readyz_until(int port, int want, int ms, char **body)
{
    int64_t deadline = tu_now_ms() + ms;
    *body = NULL;
    for (;;) {
        free(*body);
        int status = tu_http_get(port, "/readyz", body);
        if (status == want || tu_now_ms() >= deadline)
            return status;
        usleep(250 * 1000);
    }
}

/* Starts incidentd with --http on a free port and @p extra arguments
 * (NULL-terminated); returns the port. */
static int spawn_with_http(const char *prefix, const char *brokers, const char *const *extra,
                           const char *log)
{
    static char http[64];
    int port = tu_free_port();
    snprintf(http, sizeof(http), "127.0.0.1:%d", port);
    const char *argv[32] = {tu_bin("incidentd"), "--brokers", brokers,  "--redis", tu_redis(),
                            "--topic-prefix",    prefix,      "--http", http};
    int argc = 9;
    for (size_t i = 0; extra[i] && argc < 31; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    static const char *const env[] = {"INCIDENTD_TOPICS_PARTITIONS=3", NULL};
    pid_t pid = tu_spawn(argv, env, log);
    cr_assert(pid > 0);
    child = pid;
    return port;
}

Test(http, readyz_is_503_within_5s_of_a_hung_redis, .timeout = 300)
{
    pid_t redis = testbed_redis_pid();
    if (redis <= 0)
        cr_skip_test("the test bed's redis-server is not ours to stop");
    char prefix[128], log[256];
    snprintf(prefix, sizeof(prefix), "%s.", tu_unique("ready"));
    snprintf(log, sizeof(log), "/tmp/%sincidentd.log", prefix);
    static const char *const extra[] = {"--stages", "detected", NULL};
    int port = spawn_with_http(prefix, tu_brokers(), extra, log);
    char *body;
    int status = readyz_until(port, 200, READY_MS, &body);
    cr_assert_eq(status, 200, "ready first: %s; log %s", body ? body : "(none)", log);
    free(body);

    /* Idle stage, hung Redis: the worker's own connection notices nothing. */
    cr_assert_eq(kill(redis, SIGSTOP), 0, "SIGSTOP redis %d: %s", (int)redis, strerror(errno));
    stopped_redis = redis;
    int64_t t0 = tu_now_ms();
    status = readyz_until(port, 503, 5000, &body);
    int64_t took = tu_now_ms() - t0;
    kill(redis, SIGCONT);
    stopped_redis = 0;
    cr_expect_eq(status, 503, "hung redis: %d %s; log %s", status, body ? body : "", log);
    cr_expect_leq(took, 6000, "503 after %lld ms", (long long)took);
    cr_expect(body && strstr(body, "redis does not answer PING"), "%s", body ? body : "");
    free(body);

    status = readyz_until(port, 200, WAIT_MS, &body);
    cr_expect_eq(status, 200, "redis back: %s; log %s", body ? body : "(none)", log);
    free(body);
    assert_alive(child, log);
    int rc = tu_stop(child, SIGTERM, 30000);
    child = 0;
    cr_expect_eq(rc, 0, "exit 0 (got %d); log %s", rc, log);
}

Test(http, readyz_of_an_ingest_only_process_needs_the_broker, .timeout = 300)
{
    char prefix[128], log[256], ingest[64], dead[64];
    snprintf(prefix, sizeof(prefix), "%s.", tu_unique("ready-ingest"));
    snprintf(log, sizeof(log), "/tmp/%sincidentd.log", prefix);
    snprintf(ingest, sizeof(ingest), "127.0.0.1:%d", tu_free_port());
    snprintf(dead, sizeof(dead), "127.0.0.1:%d", tu_free_port()); /* nothing listens */
    const char *extra[] = {"--stages", "ingest", "--ingest-http", ingest, NULL};

    int port = spawn_with_http(prefix, dead, extra, log);
    char *body;
    /* 503 from the first answer on: wait only for the server to be up */
    int status = readyz_until(port, 503, 30000, &body);
    cr_expect_eq(status, 503, "dead broker: %d %s; log %s", status, body ? body : "", log);
    cr_expect(body && strstr(body, "ingest: not ready: kafka brokers not reachable"), "%s",
              body ? body : "");
    free(body);
    cr_expect_eq(tu_stop(child, SIGTERM, 30000), 0, "exit 0; log %s", log);
    child = 0;

    snprintf(ingest, sizeof(ingest), "127.0.0.1:%d", tu_free_port());
    port = spawn_with_http(prefix, tu_brokers(), extra, log);
    status = readyz_until(port, 200, READY_MS, &body);
    cr_expect_eq(status, 200, "test bed broker: %s; log %s", body ? body : "(none)", log);
    free(body);
    cr_expect_eq(tu_stop(child, SIGTERM, 30000), 0, "exit 0; log %s", log);
    child = 0;
}
