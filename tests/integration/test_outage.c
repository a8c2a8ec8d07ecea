/*
 * test_outage.c — outages of the real parts mid-stream:
 *
 *  - Redis stops for 10 s and comes back with its data: workers pause (no
 *    busy loop, no crash), resume by themselves, nothing is lost;
 *  - Redis stops and comes back empty: the live state is rebuilt from
 *    ormis.audit automatically, each incident's timeline with it (whole:
 *    one record per version), the incidents carry on (seq continues);
 *  - the Kafka broker restarts: same guarantees;
 *  - Redis with a password (AUTH) works, and the password is never logged.
 *
 * Each test runs its own redis-server (and, for the broker restart, its own
 * broker through deploy/kafka.sh) so it can stop them.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "http_client.h"
#include "incident/v1/incident.pb-c.h"
#include "ormis.h"
#include "prom.h"
#include "testutil.h"

#define N_INC 150

typedef struct redis {
    int port;
    char dir[400];
    pid_t pid;
    const char *password;
} redis_t;

static void redis_start(redis_t *r, int persist)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", r->port);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "mkdir -p %s", r->dir);
    cr_assert_eq(system(cmd), 0);
    char log[450];
    snprintf(log, sizeof(log), "%s/redis.log", r->dir);
    const char *argv[20] = {"/usr/bin/redis-server",
                            "--port",
                            port,
                            "--bind",
                            "127.0.0.1",
                            "--dir",
                            r->dir,
                            "--save",
                            "",
                            "--appendonly",
                            persist ? "yes" : "no",
                            "--appendfsync",
                            "always"};
    int n = 13;
    if (r->password) {
        argv[n++] = "--requirepass";
        argv[n++] = r->password;
    }
    argv[n] = NULL;
    r->pid = tu_spawn(argv, NULL, log);
    /* wait until it accepts connections */
    int64_t deadline = tu_now_ms() + 10000;
    for (;;) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)r->port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(fd);
        if (ok)
            break;
        cr_assert(tu_now_ms() < deadline, "redis-server started");
        usleep(50 * 1000);
    }
}

static const char *redis_url(const redis_t *r)
{
    static char buf[128];
    snprintf(buf, sizeof(buf), "redis://127.0.0.1:%d/0", r->port);
    return buf;
}

typedef struct run {
    char prefix[128];
    char log[256];
    pid_t pid;
    int http_port; /* /metrics */
} run_t;

static void run_start(run_t *run, const char *brokers, const char *redis, const char *password)
{
    const char *argv[32] = {
        tu_bin("incidentd"),   "--brokers", brokers,      "--redis",     redis,
        "--topic-prefix",      run->prefix, "--stages",   "all",         "--set",
        "topics.partitions=3", "--set",     "batch.ms=5", "--log-level", "debug"};
    int n = 15;
    /* commits overlapped with the next batch (worker_commit.c): the outages
     * also hit a commit running on its thread */
    argv[n++] = "--set";
    argv[n++] = "batch.overlap_commit=on";
    char pw[128], http[64];
    run->http_port = tu_free_port();
    snprintf(http, sizeof(http), "127.0.0.1:%d", run->http_port);
    argv[n++] = "--http";
    argv[n++] = http;
    if (password) {
        snprintf(pw, sizeof(pw), "redis.password=%s", password);
        argv[n++] = "--set";
        argv[n++] = pw;
    }
    argv[n] = NULL;
    run->pid = tu_spawn(argv, NULL, run->log);
    cr_assert(run->pid > 0);
}

static void run_init(run_t *run, const char *what)
{
    snprintf(run->prefix, sizeof(run->prefix), "%s.", tu_unique(what));
    snprintf(run->log, sizeof(run->log), "/tmp/%sincidentd.log", run->prefix);
}

static void publish_all(const run_t *run, Incident__V1__Action action, int from, int to)
{
    char topic[256];
    snprintf(topic, sizeof(topic), "%sincidents.detected", run->prefix);
    for (int i = from; i < to; i++) {
        char key[192], aid[192];
        snprintf(key, sizeof(key), "%sk%d", run->prefix, i);
        snprintf(aid, sizeof(aid), "%sa%d-%d", run->prefix, i, (int)action);
        Incident__V1__Alert a = INCIDENT__V1__ALERT__INIT;
        a.alert_id = aid;
        a.dedup_key = key;
        a.action = action;
        a.severity = action == INCIDENT__V1__ACTION__ACTION_TRIGGER
                         ? (i % 2 ? INCIDENT__V1__SEVERITY__SEVERITY_MAJOR
                                  : INCIDENT__V1__SEVERITY__SEVERITY_WARNING)
                         : 0;
        a.service = "outage";
        unsigned char buf[512];
        size_t len = incident__v1__alert__get_packed_size(&a);
        incident__v1__alert__pack(&a, buf);
        cr_assert_eq(tu_produce_async(topic, key, buf, len), 0);
    }
    cr_assert_eq(tu_flush(60000), 0, "alerts delivered");
}

/* CPU seconds used by @p pid so far. */
static double cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    /* fields after ')': state(3) ... utime(14) stime(15) */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Reads the audit log until every key has a "closed" record; checks each
 * incident's chain (seq order), one incident per key, no dead letters. */
static void expect_all_closed(const run_t *run, int n, int max_ms)
{
    char audit[256], dlq[256];
    snprintf(audit, sizeof(audit), "%sormis.audit", run->prefix);
    snprintf(dlq, sizeof(dlq), "%sincidents.dlq", run->prefix);
    const char *topics[] = {audit, NULL};
    tu_consumer_t *c = tu_consumer_new(topics);
    Incident__V1__AuditRecord **recs[N_INC];
    size_t nrec[N_INC] = {0};
    char ids[N_INC][64];
    memset(ids, 0, sizeof(ids));
    int closed = 0, other_ids = 0;
    for (int i = 0; i < n; i++)
        recs[i] = calloc(64, sizeof(*recs[i]));
    int64_t deadline = tu_now_ms() + max_ms;
    size_t pl = strlen(run->prefix);
    while (closed < n && tu_now_ms() < deadline) {
        tu_msg_t *m = tu_consumer_next(c, 300);
        if (!m)
            continue;
        Incident__V1__AuditRecord *r = incident__v1__audit_record__unpack(NULL, m->len, m->val);
        tu_msg_free(m);
        cr_assert_not_null(r);
        int k = atoi(r->snapshot->dedup_key + pl + 1);
        cr_assert(k >= 0 && k < n);
        if (!ids[k][0])
            snprintf(ids[k], sizeof(ids[k]), "%s", r->incident_id);
        other_ids += strcmp(ids[k], r->incident_id) != 0;
        closed += strcmp(r->action, "closed") == 0;
        if (nrec[k] < 64)
            recs[k][nrec[k]++] = r;
        else
            incident__v1__audit_record__free_unpacked(r, NULL);
    }
    tu_consumer_destroy(c);
    cr_expect_eq(closed, n, "all %d incidents closed (got %d); log %s", n, closed, run->log);
    cr_expect_eq(other_ids, 0, "one incident per key");
    int broken = 0;
    for (int i = 0; i < n; i++) {
        ormis_sort((const Incident__V1__AuditRecord **)recs[i], nrec[i]);
        ormis_verify_result_t res;
        if (nrec[i] &&
            ormis_verify((const Incident__V1__AuditRecord *const *)recs[i], nrec[i], &res) < 0) {
            broken++;
            cr_log_warn("key %d: %s", i, res.reason);
        }
        for (size_t j = 0; j < nrec[i]; j++)
            incident__v1__audit_record__free_unpacked(recs[i][j], NULL);
        free(recs[i]);
    }
    cr_expect_eq(broken, 0, "broken chains");
    /* nothing was dead-lettered (a resolve that found no incident would be) */
    const char *dt[] = {dlq, NULL};
    tu_consumer_t *d = tu_consumer_new(dt);
    tu_msg_t *m = tu_consumer_next(d, 4000);
    cr_expect_null(m, "no dead letters (got one: %s)", m ? m->x_error : "");
    tu_msg_free(m);
    tu_consumer_destroy(d);
}

/* Reads version, tlbytes and the timeline's length of incident key @p ik
 * (its tl key @p tk) at one instant; 0, or -1 when it is gone. */
static int timeline_of(redisContext *rc, const char *ik, const char *tk, long long v[3])
{
    redisReply *r = redisCommand(rc, "EVAL %s 2 %s %s",
                                 "return {redis.call('HGET', KEYS[1], 'version') or '-2', "
                                 "redis.call('HGET', KEYS[1], 'tlbytes') or '-2', "
                                 "redis.call('LLEN', KEYS[2])}",
                                 ik, tk);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 3, "timeline of %s", ik);
    v[0] = strtoll(r->element[0]->str, NULL, 10);
    v[1] = strtoll(r->element[1]->str, NULL, 10);
    v[2] = r->element[2]->integer;
    freeReplyObject(r);
    return v[0] < 0 ? -1 : 0;
}

/* Once the workers rebuilt the empty Redis (its epoch marker is back),
 * every incident of @p run there has its whole timeline: one record per
 * version (the rebuilt ones from ormis.audit, the rest appended since). */
static void expect_timelines_rebuilt(const run_t *run, const redis_t *r)
{
    redisContext *rc = redisConnect("127.0.0.1", r->port);
    cr_assert(rc && !rc->err, "connect to redis");
    int64_t deadline = tu_now_ms() + 120000;
    for (;;) {
        redisReply *e = redisCommand(rc, "EXISTS %smeta:epoch", run->prefix);
        int done = e && e->type == REDIS_REPLY_INTEGER && e->integer == 1;
        freeReplyObject(e);
        if (done)
            break;
        cr_assert(tu_now_ms() < deadline, "the state was never rebuilt; log %s", run->log);
        usleep(200 * 1000);
    }
    redisReply *keys = redisCommand(rc, "KEYS %sinc:{*}", run->prefix);
    cr_assert(keys && keys->type == REDIS_REPLY_ARRAY);
    size_t whole = 0;
    for (size_t i = 0; i < keys->elements; i++) {
        const char *ik = keys->element[i]->str;
        char tk[300];
        snprintf(tk, sizeof(tk), "%stl:%s", run->prefix, ik + strlen(run->prefix) + 4);
        long long v[3];
        if (timeline_of(rc, ik, tk, v) < 0)
            continue;
        cr_expect(v[1] > 0 && v[2] == v[0], "%s: version %lld, tlbytes %lld, %lld records", ik,
                  v[0], v[1], v[2]);
        whole++;
    }
    cr_expect_geq(whole, N_INC / 2, "incidents rebuilt with their timelines");
    freeReplyObject(keys);
    redisFree(rc);
}

static void redis_outage(int keep_data)
{
    redis_t r = {.port = tu_free_port()};
    snprintf(r.dir, sizeof(r.dir), "/tmp/%s", tu_unique("outage-redis"));
    redis_start(&r, 1);
    run_t run;
    run_init(&run, keep_data ? "redis-back" : "redis-empty");
    run_start(&run, tu_brokers(), redis_url(&r), NULL);

    publish_all(&run, INCIDENT__V1__ACTION__ACTION_TRIGGER, 0, N_INC / 2);
    sleep(4);
    /* Redis goes away: gracefully with its data, or killed and replaced by
     * an empty one. */
    if (keep_data) {
        cr_assert_eq(tu_stop(r.pid, SIGTERM, 20000), 0, "redis stops");
    } else {
        tu_stop(r.pid, SIGKILL, 20000);
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", r.dir);
        cr_assert_eq(system(cmd), 0);
    }
    double cpu0 = cpu_seconds(run.pid);
    publish_all(&run, INCIDENT__V1__ACTION__ACTION_TRIGGER, N_INC / 2, N_INC);
    sleep(10);
    double cpu1 = cpu_seconds(run.pid);
    cr_assert(cpu0 >= 0 && cpu1 >= 0, "incidentd still running during the outage");
    printf("redis outage (%s): incidentd used %.2f s of CPU in 10 s\n",
           keep_data ? "with data" : "empty", cpu1 - cpu0);
    /* The outage is counted: incidentd_redis_errors_total moved. */
    tu_prom_t *prom = tu_prom_scrape(run.http_port);
    cr_assert_not_null(prom, "scrape /metrics during the outage");
    cr_expect_gt(tu_prom_sum(prom, "incidentd_redis_errors_total", NULL), 0.0,
                 "redis errors counted during the outage");
    free(prom);
    cr_expect_lt(cpu1 - cpu0, 3.0, "no busy loop while Redis is down");
    redis_start(&r, 1);
    if (!keep_data)
        expect_timelines_rebuilt(&run, &r);
    publish_all(&run, INCIDENT__V1__ACTION__ACTION_RESOLVE, 0, N_INC);
    expect_all_closed(&run, N_INC, 120000);
    cr_expect_eq(tu_stop(run.pid, SIGTERM, 30000), 0, "clean exit");
    tu_stop(r.pid, SIGTERM, 20000);
}

Test(outage, redis_down_10s_and_back_with_its_data, .timeout = 300) { redis_outage(1); }

Test(outage, redis_back_empty_is_rebuilt_from_the_audit_log, .timeout = 300) { redis_outage(0); }

Test(outage, kafka_broker_restart_mid_stream, .timeout = 400)
{
    char dir[200], cmd[1024], addr[128] = "";
    snprintf(dir, sizeof(dir), "/tmp/%s", tu_unique("outage-kafka"));
    int port = tu_free_port(), cport = tu_free_port();
    while (cport == port)
        cport = tu_free_port();
    const char *src = getenv("INCIDENTD_SOURCE_DIR");
    cr_assert_not_null(src, "INCIDENTD_SOURCE_DIR");
    snprintf(cmd, sizeof(cmd),
             "KAFKA_PORT=%d KAFKA_CONTROLLER_PORT=%d %s/deploy/kafka.sh start %s 2>%s.log", port,
             cport, src, dir, dir);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    while (fgets(addr, sizeof(addr), p))
        ;
    cr_assert_eq(pclose(p), 0, "broker started (%s.log)", dir);
    addr[strcspn(addr, "\r\n")] = '\0';
    setenv("INCIDENTD_TEST_BROKERS", addr, 1);

    redis_t r = {.port = tu_free_port()};
    snprintf(r.dir, sizeof(r.dir), "%s/redis", dir);
    redis_start(&r, 0);
    run_t run;
    run_init(&run, "kafka-restart");
    run_start(&run, addr, redis_url(&r), NULL);
    publish_all(&run, INCIDENT__V1__ACTION__ACTION_TRIGGER, 0, N_INC);
    sleep(3);
    snprintf(cmd, sizeof(cmd), "%s/deploy/kafka.sh stop %s 2>>%s.log", src, dir, dir);
    cr_assert_eq(system(cmd), 0, "broker stopped");
    sleep(5);
    cr_assert(cpu_seconds(run.pid) >= 0, "incidentd survives the broker's absence");
    snprintf(cmd, sizeof(cmd),
             "KAFKA_KEEP_DATA=1 KAFKA_PORT=%d KAFKA_CONTROLLER_PORT=%d %s/deploy/kafka.sh start %s "
             ">/dev/null 2>>%s.log",
             port, cport, src, dir, dir);
    cr_assert_eq(system(cmd), 0, "broker restarted");
    publish_all(&run, INCIDENT__V1__ACTION__ACTION_RESOLVE, 0, N_INC);
    expect_all_closed(&run, N_INC, 180000);
    cr_expect_eq(tu_stop(run.pid, SIGTERM, 60000), 0, "clean exit");
    tu_stop(r.pid, SIGTERM, 20000);
    snprintf(cmd, sizeof(cmd), "%s/deploy/kafka.sh stop %s 2>>%s.log; rm -rf %s/data", src, dir,
             dir, dir);
    cr_expect_eq(system(cmd), 0);
}

Test(outage, redis_password_is_used_and_never_logged, .timeout = 200)
{
    redis_t r = {.port = tu_free_port(), .password = "s3cret-Pa55word"};
    snprintf(r.dir, sizeof(r.dir), "/tmp/%s", tu_unique("auth-redis"));
    redis_start(&r, 0);
    run_t run;
    run_init(&run, "redis-auth");
    run_start(&run, tu_brokers(), redis_url(&r), r.password);
    publish_all(&run, INCIDENT__V1__ACTION__ACTION_TRIGGER, 0, 10);
    publish_all(&run, INCIDENT__V1__ACTION__ACTION_RESOLVE, 0, 10);
    expect_all_closed(&run, 10, 60000);
    cr_expect_eq(tu_stop(run.pid, SIGTERM, 30000), 0);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "grep -q 's3cret-Pa55word' %s", run.log);
    cr_expect_neq(system(cmd), 0, "the password never appears in the log");
    tu_stop(r.pid, SIGTERM, 20000);
}
