/*
 * test_ha_redis.c — Redis high availability under a real failover: a primary,
 * one replica and three redis-sentinel (deploy/redis.sh ha-start, the
 * CTest fixture redis_ha) and the test bed's broker.
 *
 *  - with redis.min_replicas = 1, alerts stream through every stage while
 *    the primary is SIGKILLed; Sentinel promotes the replica, incidentd
 *    finds it by itself, the killed one comes back as a replica, and at the
 *    end nothing is lost or duplicated and every chain verifies
 *    (incidentctl verify); WAIT shortfalls were counted meanwhile;
 *  - with redis.min_replicas = 0, the replica misses the last applies (its
 *    link cut while it is stopped) before the primary dies: after the
 *    failover incidentd finds the lost writes (the applied-writes mark),
 *    rebuilds from ormis.audit and carries on; again nothing is lost or
 *    duplicated and every chain verifies.
 *
 * INCIDENTD_HA_INCIDENTS (default 150) and INCIDENTD_HA_SECONDS (publishing
 * time of the first test, default 10) make a run longer.
 *
 * Owned by the tests; @locality: the test's thread.
 */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "e2e.h"
#include "http_client.h"
#include "prom.h"
#include "redis_conn.h"

static const char *ha_setting(const char *key)
{
    const char *v = tu_testbed(key);
    cr_assert_not_null(v, "%s missing: run through ctest (fixture redis_ha)", key);
    return v;
}

static int ha_env_int(const char *name, int def)
{
    const char *v = getenv(name);
    return v && atoi(v) > 0 ? atoi(v) : def;
}

/* Reads the first line of DIR/<member>/<file> as a number (-1 if none). */
static long ha_member_num(const char *member, const char *file)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s/%s", ha_setting("INCIDENTD_TEST_REDIS_HA_DIR"), member,
             file);
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

/* A connection to the primary the Sentinels name, through incidentd's own
 * connection code (ROLE checked); NULL while there is none. *port is its
 * port. */
static redisContext *ha_primary(int *port)
{
    redis_conn_opts_t o = {
        .url = "redis://127.0.0.1:1/0",
        .sentinels = ha_setting("INCIDENTD_TEST_REDIS_HA_SENTINELS"),
        .master_name = ha_setting("INCIDENTD_TEST_REDIS_HA_MASTER"),
    };
    char err[600];
    redis_conn_t *c = redis_conn_new(&o, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    redisContext *ctx = redis_conn_open(c, 1000, err, sizeof(err));
    const char *w = redis_conn_where(c);
    *port = atoi(strrchr(w, ':') + 1);
    redis_conn_destroy(c);
    return ctx;
}

/* The member ("primary", "replica": its directory) listening on @p port. */
static const char *ha_member_of(int port)
{
    return ha_member_num("primary", "port") == port ? "primary" : "replica";
}

/* Waits (≤ 60 s) for a primary with one replica in sync; returns its port. */
static int ha_wait_healthy(void)
{
    int64_t deadline = tu_now_ms() + 60000;
    while (tu_now_ms() < deadline) {
        int port = 0, ok = 0;
        redisContext *ctx = ha_primary(&port);
        if (ctx) {
            redisReply *r = redisCommand(ctx, "INFO replication");
            ok = r && r->type == REDIS_REPLY_STRING && strstr(r->str, "connected_slaves:1") &&
                 strstr(r->str, "state=online");
            if (r)
                freeReplyObject(r);
            redisFree(ctx);
        }
        if (ok)
            return port;
        usleep(200 * 1000);
    }
    cr_assert_fail("the Redis HA set has no primary with a replica in sync within 60 s");
    return -1;
}

/* Brings member @p member back on @p port with deploy/redis.sh (Sentinel
 * turns it into a replica of the current primary). */
static void ha_restart(const char *member, int port)
{
    char script[600], dir[600], ports[16];
    snprintf(script, sizeof(script), "%s/deploy/redis.sh", getenv("INCIDENTD_SOURCE_DIR"));
    snprintf(dir, sizeof(dir), "%s/%s", ha_setting("INCIDENTD_TEST_REDIS_HA_DIR"), member);
    snprintf(ports, sizeof(ports), "%d", port);
    setenv("REDIS_PORT", ports, 1);
    const char *argv[] = {script, "start", dir, NULL};
    int rc = tu_run(argv, "/dev/null", "/dev/null", 60000);
    unsetenv("REDIS_PORT");
    cr_assert_eq(rc, 0, "%s start %s", script, dir);
}

/* SIGKILLs the primary (on @p port), then @p before_failover (may be NULL)
 * runs; waits (≤ 30 s) until the Sentinels name another primary that
 * answers ROLE master, and brings the killed one back. Returns the ms from
 * the kill to the new primary. */
static int64_t ha_kill_primary(int port, void (*before_failover)(void))
{
    const char *member = ha_member_of(port);
    long pid = ha_member_num(member, "redis.pid");
    cr_assert_gt(pid, 0, "pid of the primary (%s)", member);
    int64_t t0 = tu_now_ms();
    cr_assert_eq(kill((pid_t)pid, SIGKILL), 0);
    if (before_failover)
        before_failover();
    int now_port = port;
    while (tu_now_ms() - t0 < 30000) {
        redisContext *ctx = ha_primary(&now_port);
        if (ctx)
            redisFree(ctx);
        if (ctx && now_port != port)
            break;
        usleep(100 * 1000);
    }
    int64_t took = tu_now_ms() - t0;
    cr_assert_neq(now_port, port, "Sentinel promoted the replica within 30 s");
    ha_restart(member, port);
    return took;
}

static void ha_verify_chains(const e2e_t *p)
{
    const char *argv[] = {tu_bin("incidentctl"),
                          "--brokers",
                          tu_brokers(),
                          "--topic-prefix",
                          p->prefix,
                          "verify",
                          NULL};
    char out[400];
    snprintf(out, sizeof(out), "/tmp/%sverify.out", p->prefix);
    cr_expect_eq(tu_run(argv, out, "/dev/null", 120000), 0, "incidentctl verify (see %s)", out);
}

/* The settings of an incidentd that finds Redis through the Sentinels. */
static void ha_sets(const char *sets[6], char *buf, size_t size, int min_replicas, int http)
{
    int n =
        snprintf(buf, size, "redis.sentinels=%s", ha_setting("INCIDENTD_TEST_REDIS_HA_SENTINELS"));
    sets[0] = buf;
    sets[1] = buf + n + 1;
    n += 1 + snprintf(buf + n + 1, size - (size_t)n - 1, "redis.master_name=%s",
                      ha_setting("INCIDENTD_TEST_REDIS_HA_MASTER"));
    sets[2] = buf + n + 1;
    n += 1 + snprintf(buf + n + 1, size - (size_t)n - 1, "redis.min_replicas=%d", min_replicas);
    sets[3] = buf + n + 1;
    snprintf(buf + n + 1, size - (size_t)n - 1, "http=127.0.0.1:%d", http);
    sets[4] = "redis.wait_timeout=500ms";
    sets[5] = NULL;
}

/* The processes of the running test, stopped (and a stopped replica resumed)
 * even when an assertion ends it early. */
static e2e_t procs;

static void ha_resume_stopped(void);

static void ha_cleanup(void)
{
    ha_resume_stopped();
    if (procs.n_pids)
        e2e_stop(&procs);
}

static void ha_print(const char *what, int n_inc, int sent, int64_t failover_ms,
                     const e2e_flow_result_t *res)
{
    printf("%s: alerts sent %d, incidents checked %d, failover in %lld ms, audit records %zu, "
           "output events %zu, dead letters %d, lost %d, duplicated %zu, broken chains %d, "
           "wrong final state %d, extra incidents %d\n",
           what, sent, n_inc, (long long)failover_ms, res->records, res->events, res->dlq,
           res->lost, (size_t)res->dup_records + res->dup_events, res->broken, res->wrong_state,
           res->extra_incidents);
    fflush(stdout);
}

Test(ha_redis, failover_mid_stream_loses_and_duplicates_nothing, .timeout = 900, .fini = ha_cleanup)
{
    int n_inc = ha_env_int("INCIDENTD_HA_INCIDENTS", 150);
    int64_t publish_ms = (int64_t)ha_env_int("INCIDENTD_HA_SECONDS", 10) * 1000;
    int port = ha_wait_healthy(), http = tu_free_port();
    e2e_prepare(&procs);
    e2e_t *p = &procs;
    const char *sets[6];
    char buf[1200];
    ha_sets(sets, buf, sizeof(buf), 1, http);
    e2e_spawn(p, "all", sets);

    /* Publish round by round at a steady pace; kill the primary when 40%
     * is out. */
    int total = n_inc * E2E_FLOW_ALERTS, sent = 0;
    int64_t t0 = tu_now_ms(), failover_ms = -1;
    for (int round = 0; round < E2E_FLOW_ALERTS; round++)
        for (int i = 0; i < n_inc; i++) {
            e2e_flow_alert(p->prefix, i, round);
            if (++sent == total * 2 / 5) {
                cr_assert_eq(tu_flush(30000), 0);
                failover_ms = ha_kill_primary(port, NULL);
            }
            while (tu_now_ms() < t0 + publish_ms * sent / total)
                usleep(2000);
        }
    cr_assert_eq(tu_flush(30000), 0, "all alerts delivered to Kafka");

    e2e_flow_result_t res;
    e2e_flow_check(p->prefix, n_inc, 300000, &res);
    tu_prom_t *prom = tu_prom_scrape(http);
    cr_assert_not_null(prom, "/metrics answers");
    double shortfalls = tu_prom_sum(prom, "incidentd_redis_wait_shortfalls_total", NULL);
    free(prom);
    ha_verify_chains(p);
    e2e_stop(p);
    ha_print("ha failover (min_replicas 1)", n_inc, sent, failover_ms, &res);
    printf("WAIT shortfalls counted: %.0f\n", shortfalls);
    e2e_flow_expect(&res);
    cr_expect_eq(res.dlq, 0, "no dead letters");
    /* Between the failover and the old primary's return as a replica, the
     * new primary has no replica: batches wait, fall short and retry. */
    cr_expect_gt(shortfalls, 0.0, "WAIT shortfalls counted in /metrics");
}

/* Stops the replica and cuts its link, so that it misses what comes next. */
static void ha_isolate_replica(int primary_port)
{
    const char *replica =
        strcmp(ha_member_of(primary_port), "primary") == 0 ? "replica" : "primary";
    long pid = ha_member_num(replica, "redis.pid");
    cr_assert_gt(pid, 0);
    cr_assert_eq(kill((pid_t)pid, SIGSTOP), 0);
    int port = 0;
    redisContext *ctx = ha_primary(&port);
    cr_assert_not_null(ctx);
    redisReply *r = redisCommand(ctx, "CLIENT KILL TYPE replica");
    cr_assert(r && r->type == REDIS_REPLY_INTEGER && r->integer == 1, "replica link cut");
    freeReplyObject(r);
    redisFree(ctx);
}

static void ha_resume_stopped(void)
{
    for (int m = 0; m < 2; m++)
        kill((pid_t)ha_member_num(m ? "replica" : "primary", "redis.pid"), SIGCONT);
}

/* Waits (≤ 60 s) for @p n audit records of @p action on p's prefix. */
static void ha_wait_action(const e2e_t *p, const char *action, int n)
{
    tu_consumer_t *c = e2e_audit_consumer(p);
    int seen = 0;
    int64_t deadline = tu_now_ms() + 60000;
    while (seen < n && tu_now_ms() < deadline) {
        tu_msg_t *m = tu_consumer_next(c, 200);
        if (!m)
            continue;
        Incident__V1__AuditRecord *r = incident__v1__audit_record__unpack(NULL, m->len, m->val);
        if (r && strcmp(r->action, action) == 0)
            seen++;
        if (r)
            incident__v1__audit_record__free_unpacked(r, NULL);
        tu_msg_free(m);
    }
    tu_consumer_destroy(c);
    cr_assert_eq(seen, n, "%d of %d '%s' records", seen, n, action);
}

static int ha_log_has(const char *path, const char *text)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int found = 0;
    while (f && !found && fgets(line, sizeof(line), f))
        found = strstr(line, text) != NULL;
    if (f)
        fclose(f);
    return found;
}

Test(ha_redis, writes_lost_in_a_failover_are_found_and_rebuilt, .timeout = 900, .fini = ha_cleanup)
{
    int n_inc = ha_env_int("INCIDENTD_HA_INCIDENTS", 150) / 2;
    int port = ha_wait_healthy(), http = tu_free_port();
    e2e_prepare(&procs);
    e2e_t *p = &procs;
    const char *sets[6];
    char buf[1200];
    ha_sets(sets, buf, sizeof(buf), 0, http);
    e2e_spawn(p, "all", sets);

    for (int round = 0; round < 2; round++)
        for (int i = 0; i < n_inc; i++)
            e2e_flow_alert(p->prefix, i, round);
    cr_assert_eq(tu_flush(30000), 0);
    ha_wait_action(p, "merged", n_inc);
    /* The acknowledgements reach the primary only. */
    ha_isolate_replica(port);
    for (int i = 0; i < n_inc; i++)
        e2e_flow_alert(p->prefix, i, 2);
    cr_assert_eq(tu_flush(30000), 0);
    ha_wait_action(p, "acknowledged", n_inc);
    int64_t failover_ms = ha_kill_primary(port, ha_resume_stopped);
    for (int i = 0; i < n_inc; i++)
        e2e_flow_alert(p->prefix, i, 3);
    cr_assert_eq(tu_flush(30000), 0);

    e2e_flow_result_t res;
    e2e_flow_check(p->prefix, n_inc, 300000, &res);
    ha_verify_chains(p);
    e2e_stop(p);
    ha_print("ha lost writes (min_replicas 0)", n_inc, n_inc * E2E_FLOW_ALERTS, failover_ms, &res);
    e2e_flow_expect(&res);
    cr_expect_eq(res.dlq, 0, "no dead letters");
    cr_expect(ha_log_has(p->log, "lost applied writes"), "the lost writes were found (%s)", p->log);
    cr_expect(ha_log_has(p->log, "rebuilt from"), "and the state rebuilt (%s)", p->log);
}
