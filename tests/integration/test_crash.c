/*
 * test_crash.c — never lose, never duplicate: thousands of alerts go through
 * two incidentd processes that are killed with SIGKILL at random moments and
 * restarted, on the real Kafka broker (transactions, read_committed) and the
 * real Redis of the test bed. Afterwards every incident must be in its
 * expected final state, every ORMIS chain must verify with seq 1..n, no
 * output topic may hold a transition twice, and the dead-letter topic must
 * hold exactly the bad messages sent.
 *
 * INCIDENTD_CRASH_INCIDENTS (default 1250, 4 alerts each) and
 * INCIDENTD_CRASH_SEED scale and replay a run.
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"
#include "incident/v1/incident.pb-c.h"
#include "ormis.h"
#include "testutil.h"

#define ALERTS_PER_INCIDENT 4
#define BAD_MESSAGES 25
#define N_PROCS 2

typedef struct key_trail {
    char id[64];   /* first incident id seen */
    int other_ids; /* records of any other incident id */
    Incident__V1__AuditRecord **recs;
    size_t n, cap;
} key_trail_t;

typedef struct crash {
    char prefix[128];
    char log[256];
    pid_t pids[N_PROCS];
    int kills;
} crash_t;

static pid_t crash_spawn(crash_t *c, int i)
{
    char inst[64];
    snprintf(inst, sizeof(inst), "instance_id=w%d", i);
    const char *argv[] = {
        tu_bin("incidentd"), "--brokers",   tu_brokers(), "--redis", tu_redis(), "--topic-prefix",
        c->prefix,           "--stages",    "all",        "--set",   inst,       "--set",
        "batch.ms=10",       "--log-level", "info",       NULL};
    static const char *const env[] = {"INCIDENTD_TOPICS_PARTITIONS=6", NULL};
    pid_t pid = tu_spawn(argv, env, c->log);
    cr_assert(pid > 0);
    return pid;
}

static void crash_kill_one(crash_t *c)
{
    int i = rand() % N_PROCS;
    kill(c->pids[i], SIGKILL);
    tu_stop(c->pids[i], SIGKILL, 10000);
    c->kills++;
    c->pids[i] = crash_spawn(c, i);
}

static int key_index(const crash_t *c, const char *key, int n)
{
    size_t pl = strlen(c->prefix);
    if (strncmp(key, c->prefix, pl) != 0 || key[pl] != 'k')
        return -1;
    int i = atoi(key + pl + 1);
    return i >= 0 && i < n ? i : -1;
}

static void count_dlq(void *arg, tu_msg_t *m)
{
    int *n = arg;
    (void)m;
    (*n)++;
}

Test(crash, sigkill_storm_loses_and_duplicates_nothing, .timeout = 1200)
{
    const char *env_n = getenv("INCIDENTD_CRASH_INCIDENTS");
    const char *env_seed = getenv("INCIDENTD_CRASH_SEED");
    int n_inc = env_n ? atoi(env_n) : 1250;
    unsigned seed = env_seed ? (unsigned)atoi(env_seed) : (unsigned)getpid();
    srand(seed);
    crash_t c = {0};
    snprintf(c.prefix, sizeof(c.prefix), "%s.", tu_unique("crash"));
    snprintf(c.log, sizeof(c.log), "/tmp/%sincidentd.log", c.prefix);
    for (int i = 0; i < N_PROCS; i++)
        c.pids[i] = crash_spawn(&c, i);

    char detected[256];
    snprintf(detected, sizeof(detected), "%sincidents.detected", c.prefix);
    static const Incident__V1__Severity sevs[] = {
        INCIDENT__V1__SEVERITY__SEVERITY_WARNING, INCIDENT__V1__SEVERITY__SEVERITY_MINOR,
        INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL};
    static const Incident__V1__Action acts[ALERTS_PER_INCIDENT] = {
        INCIDENT__V1__ACTION__ACTION_TRIGGER, INCIDENT__V1__ACTION__ACTION_TRIGGER,
        INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE, INCIDENT__V1__ACTION__ACTION_RESOLVE};

    /* Publish round by round (all triggers, all merges, ...) at a steady
     * pace, killing a random worker every 1.5-3.5 s meanwhile. */
    int64_t t_start = tu_now_ms();
    int64_t next_kill = tu_now_ms() + 1500 + rand() % 2000;
    const int64_t publish_ms = 20000;
    int total = n_inc * ALERTS_PER_INCIDENT, sent = 0, bad_sent = 0;
    char *site_a[] = {"paris"}, *site_b[] = {"lyon"};
    char *clients[] = {"acme", "globex"};
    for (int round = 0; round < ALERTS_PER_INCIDENT; round++) {
        for (int i = 0; i < n_inc; i++) {
            char key[192], aid[192];
            snprintf(key, sizeof(key), "%sk%d", c.prefix, i);
            snprintf(aid, sizeof(aid), "%sa%d-%d", c.prefix, i, round);
            Incident__V1__Alert a = INCIDENT__V1__ALERT__INIT;
            a.alert_id = aid;
            a.dedup_key = key;
            a.action = acts[round];
            a.severity =
                acts[round] == INCIDENT__V1__ACTION__ACTION_TRIGGER ? sevs[(i + round) % 4] : 0;
            a.service = "crash";
            a.summary = "crash test";
            a.n_sites = 1;
            a.sites = round == 0 ? site_a : (i % 3 == 0 ? site_b : site_a);
            a.n_clients = (size_t)(i % 3);
            a.clients = clients;
            size_t len = incident__v1__alert__get_packed_size(&a);
            unsigned char buf[1024];
            cr_assert(len <= sizeof(buf));
            incident__v1__alert__pack(&a, buf);
            cr_assert_eq(tu_produce_async(detected, key, buf, len), 0);
            sent++;
            if (sent % (total / BAD_MESSAGES) == 0 && bad_sent < BAD_MESSAGES) {
                cr_assert_eq(tu_produce_async(detected, "bad", "\x0a\xff\xff\xff\xff", 5), 0);
                bad_sent++;
            }
            /* pace */
            int64_t due = t_start + publish_ms * sent / total;
            while (tu_now_ms() < due) {
                if (tu_now_ms() >= next_kill) {
                    crash_kill_one(&c);
                    next_kill = tu_now_ms() + 1500 + rand() % 2000;
                }
                usleep(2000);
            }
        }
    }
    cr_assert_eq(tu_flush(30000), 0, "all alerts delivered to Kafka");
    while (c.kills < 5 || tu_now_ms() < t_start + publish_ms + 5000) {
        if (tu_now_ms() >= next_kill) {
            crash_kill_one(&c);
            next_kill = tu_now_ms() + 1500 + rand() % 2000;
        }
        usleep(10000);
    }

    /* Let the survivors finish: read the audit log until every incident is
     * closed (bounded), then until it is idle. */
    key_trail_t *keys = calloc((size_t)n_inc, sizeof(*keys));
    char audit[256];
    snprintf(audit, sizeof(audit), "%sormis.audit", c.prefix);
    const char *topics[] = {audit, NULL};
    tu_consumer_t *con = tu_consumer_new(topics);
    int closed = 0;
    size_t records = 0, foreign = 0;
    int64_t deadline = tu_now_ms() + 600000, last = tu_now_ms();
    while (tu_now_ms() < deadline && (closed < n_inc || tu_now_ms() - last < 5000)) {
        tu_msg_t *m = tu_consumer_next(con, 200);
        if (!m)
            continue;
        last = tu_now_ms();
        Incident__V1__AuditRecord *r = incident__v1__audit_record__unpack(NULL, m->len, m->val);
        tu_msg_free(m);
        cr_assert_not_null(r, "audit record decodes");
        records++;
        int k = r->snapshot ? key_index(&c, r->snapshot->dedup_key, n_inc) : -1;
        if (k < 0) {
            foreign++;
            incident__v1__audit_record__free_unpacked(r, NULL);
            continue;
        }
        key_trail_t *kt = &keys[k];
        if (!kt->id[0])
            snprintf(kt->id, sizeof(kt->id), "%s", r->incident_id);
        if (strcmp(kt->id, r->incident_id) != 0)
            kt->other_ids++;
        if (strcmp(r->action, "closed") == 0)
            closed++;
        if (kt->n == kt->cap) {
            kt->cap = kt->cap ? kt->cap * 2 : 16;
            kt->recs = realloc(kt->recs, kt->cap * sizeof(*kt->recs));
        }
        kt->recs[kt->n++] = r;
    }
    tu_consumer_destroy(con);

    /* Check every incident. */
    int lost = 0, dup_records = 0, broken = 0, wrong_state = 0, extra_incidents = 0, reordered = 0;
    for (int i = 0; i < n_inc; i++) {
        key_trail_t *kt = &keys[i];
        if (kt->n == 0) {
            lost++;
            continue;
        }
        if (kt->other_ids)
            extra_incidents++;
        /* Topic order may differ from seq order after a replay (see
         * ormis_sort()); the chain must be whole in seq order. */
        for (size_t j = 1; j < kt->n; j++)
            if (kt->recs[j]->seq < kt->recs[j - 1]->seq) {
                reordered++;
                break;
            }
        ormis_sort((const Incident__V1__AuditRecord **)kt->recs, kt->n);
        ormis_verify_result_t res;
        if (ormis_verify((const Incident__V1__AuditRecord *const *)kt->recs, kt->n, &res) < 0) {
            broken++;
            if (strstr(res.reason, "repeated"))
                dup_records++;
            if (broken <= 5)
                cr_log_warn("incident %s (key %d): %s", kt->id, i, res.reason);
        }
        const Incident__V1__AuditRecord *lastr = kt->recs[kt->n - 1];
        int merged = 0, closes = 0;
        for (size_t j = 0; j < kt->n; j++) {
            merged += strcmp(kt->recs[j]->action, "merged") == 0;
            closes += strcmp(kt->recs[j]->action, "closed") == 0;
        }
        if (strcmp(lastr->action, "closed") != 0 || closes != 1 || merged != 1 ||
            lastr->snapshot->alert_count != 2 ||
            lastr->snapshot->status != INCIDENT__V1__STATUS__STATUS_CLOSED ||
            lastr->snapshot->acknowledged_at_ms == 0) {
            wrong_state++;
            if (wrong_state <= 5)
                cr_log_warn("key %d: last %s, %d closes, %d merges, alert_count %u", i,
                            lastr->action, closes, merged, lastr->snapshot->alert_count);
        }
        if (closes == 0)
            lost++;
    }

    /* No transition twice on any output topic. */
    size_t dup_events = 0;
    static const char *const outs[] = {"incidents.classified", "incidents.scoped",
                                       "incidents.escalated", "incidents.resolved"};
    size_t events = 0;
    for (size_t t = 0; t < 4; t++) {
        char name[256];
        snprintf(name, sizeof(name), "%s%s", c.prefix, outs[t]);
        e2e_ids_t ids = {0};
        events += e2e_drain(name, 3000, 120000, e2e_collect_event_id, &ids);
        dup_events += e2e_ids_duplicates(&ids);
    }
    int dlq = 0;
    char dlqt[256];
    snprintf(dlqt, sizeof(dlqt), "%sincidents.dlq", c.prefix);
    e2e_drain(dlqt, 3000, 60000, count_dlq, &dlq);

    for (int i = 0; i < N_PROCS; i++)
        cr_expect_eq(tu_stop(c.pids[i], SIGTERM, 60000), 0, "clean exit after the storm");

    printf("crash test (seed %u): alerts sent %d (+%d bad), kills %d, incidents checked %d, "
           "audit records %zu, output events %zu, dead letters %d, lost %d, duplicated %zu, "
           "broken chains %d, wrong final state %d, extra incidents %d, replayed out of topic "
           "order %d\n",
           seed, sent, bad_sent, c.kills, n_inc, records, events, dlq, lost,
           (size_t)dup_records + dup_events, broken, wrong_state, extra_incidents, reordered);
    fflush(stdout);

    cr_expect_geq(c.kills, 5);
    cr_expect_eq(lost, 0, "lost incidents");
    cr_expect_eq(dup_records, 0, "repeated audit records");
    cr_expect_eq(dup_events, 0, "duplicated output events");
    cr_expect_eq(broken, 0, "broken chains");
    cr_expect_eq(wrong_state, 0, "incidents in a wrong final state");
    cr_expect_eq(extra_incidents, 0, "keys with more than one incident");
    cr_expect_eq(foreign, 0, "audit records of unknown keys");
    cr_expect_eq(dlq, bad_sent, "dead letters are exactly the bad messages");

    for (int i = 0; i < n_inc; i++) {
        for (size_t j = 0; j < keys[i].n; j++)
            incident__v1__audit_record__free_unpacked(keys[i].recs[j], NULL);
        free(keys[i].recs);
    }
    free(keys);
}
