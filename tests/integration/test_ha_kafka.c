/*
 * test_ha_kafka.c — high availability on Kafka: the pipeline on the real
 * three-node KRaft cluster of the "hatestbed" fixture (deploy/testbed.sh up
 * DIR cluster: replication factor 3, min.insync.replicas 2). Two incidentd
 * processes run every stage while alerts stream in; meanwhile one broker is
 * SIGKILLed and restarted, then the active controller (the KRaft quorum
 * leader) is SIGKILLed and restarted. At the end every incident must be
 * whole: one incident per key, both triggers counted once (alert_count 2,
 * one `merged`), escalated once (one `escalated` record, one event on
 * incidents.escalated), resolved and closed once, no transition twice on any
 * output topic, no dead letter, every chain verifying, and `incidentctl
 * verify` clean. A second test checks that topics.replication decides the
 * replication factor of the topics incidentd creates.
 *
 * INCIDENTD_HA_SECONDS (default 40) is how long alerts stream at least; the
 * faults come at fixed fractions of it, and alerts stream on until the last
 * node is back. Owned by the tests (label "ha").
 *
 * @locality the test's one thread (Criterion runs each test in a process)
 */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "e2e.h"
#include "ormis.h"
#include "testutil.h"

#define HA_RATE 20 /* new incidents per second, 3 alerts each */
#define HA_PROCS 2

typedef struct ha_key {
    int resolve_sent;
    int escalated_events;
    Incident__V1__AuditRecord **recs;
    size_t n, cap;
} ha_key_t;

typedef struct ha {
    e2e_t p;
    const char *cluster;
    ha_key_t *keys;
    int n_keys, cap_keys, alerts, closed;
    tu_consumer_t *audit;
    size_t records, foreign;
} ha_t;

/* ---- the cluster ------------------------------------------------------------------ */

/* Runs deploy/kafka-cluster.sh CMD [NODE] to its end; its output in @p out. */
static int ha_cluster(const ha_t *h, const char *cmd, int node, char *out, size_t size)
{
    char script[1024], nbuf[16], op[300], ep[300];
    snprintf(script, sizeof(script), "%s/deploy/kafka-cluster.sh",
             getenv("INCIDENTD_SOURCE_DIR") ? getenv("INCIDENTD_SOURCE_DIR") : ".");
    snprintf(nbuf, sizeof(nbuf), "%d", node);
    snprintf(op, sizeof(op), "/tmp/%scluster.out", h->p.prefix);
    snprintf(ep, sizeof(ep), "/tmp/%scluster.err", h->p.prefix);
    const char *argv[] = {"/bin/bash", script, cmd, h->cluster, node > 0 ? nbuf : NULL, NULL};
    int rc = tu_run(argv, op, ep, 180000);
    FILE *f = fopen(op, "r");
    out[0] = '\0';
    if (f) {
        size_t n = fread(out, 1, size - 1, f);
        out[n] = '\0';
        fclose(f);
    }
    unlink(op);
    unlink(ep);
    return rc;
}

static int ha_leader(const ha_t *h)
{
    char out[256];
    cr_assert_eq(ha_cluster(h, "leader", 0, out, sizeof(out)), 0, "kafka-cluster.sh leader");
    return atoi(out);
}

static void ha_kill(const ha_t *h, int node)
{
    char out[256];
    cr_assert_eq(ha_cluster(h, "kill", node, out, sizeof(out)), 0, "kill node %d", node);
}

/* ---- alerts and the audit trail ---------------------------------------------------- */

static void ha_publish(ha_t *h, int k, const char *suffix, Incident__V1__Action action)
{
    static char *two_sites[] = {"paris", "lyon"}, *one_site[] = {"paris"};
    char key[192], aid[192];
    snprintf(key, sizeof(key), "%sk%d", h->p.prefix, k);
    snprintf(aid, sizeof(aid), "%sa%d-%s", h->p.prefix, k, suffix);
    Incident__V1__Alert a = e2e_alert(aid, key, action,
                                      action == INCIDENT__V1__ACTION__ACTION_TRIGGER
                                          ? INCIDENT__V1__SEVERITY__SEVERITY_MAJOR
                                          : INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED);
    /* the first trigger names two sites: GLOBAL, escalated at once */
    a.n_sites = strcmp(suffix, "t") == 0 ? 2 : 1;
    a.sites = strcmp(suffix, "t") == 0 ? two_sites : one_site;
    unsigned char buf[1024];
    size_t len = incident__v1__alert__get_packed_size(&a);
    cr_assert(len <= sizeof(buf));
    incident__v1__alert__pack(&a, buf);
    cr_assert_eq(tu_produce_async(e2e_topic(&h->p, "incidents.detected"), key, buf, len), 0);
    h->alerts++;
}

/* A new incident: its trigger and a merging trigger. */
static void ha_new_incident(ha_t *h)
{
    if (h->n_keys == h->cap_keys) {
        h->cap_keys = h->cap_keys ? h->cap_keys * 2 : 1024;
        h->keys = realloc(h->keys, (size_t)h->cap_keys * sizeof(*h->keys));
        cr_assert_not_null(h->keys);
    }
    memset(&h->keys[h->n_keys], 0, sizeof(h->keys[0]));
    ha_publish(h, h->n_keys, "t", INCIDENT__V1__ACTION__ACTION_TRIGGER);
    ha_publish(h, h->n_keys, "m", INCIDENT__V1__ACTION__ACTION_TRIGGER);
    h->n_keys++;
}

/* The key index of dedup key @p key, or -1 when it is not this test's. */
static int ha_key_index(const ha_t *h, const char *key)
{
    size_t pl = strlen(h->p.prefix);
    if (strncmp(key, h->p.prefix, pl) != 0 || key[pl] != 'k')
        return -1;
    int i = atoi(key + pl + 1);
    return i >= 0 && i < h->n_keys ? i : -1;
}

/* Reads the audit records that are there (at most ~100 ms of waiting); an
 * incident's escalation sends its resolve. Returns how many were read. */
static int ha_read_audit(ha_t *h, int wait_ms)
{
    int n = 0;
    tu_msg_t *m;
    while ((m = tu_consumer_next(h->audit, wait_ms)) != NULL) {
        Incident__V1__AuditRecord *r = incident__v1__audit_record__unpack(NULL, m->len, m->val);
        tu_msg_free(m);
        cr_assert_not_null(r, "audit record decodes");
        h->records++;
        n++;
        int k = r->snapshot ? ha_key_index(h, r->snapshot->dedup_key) : -1;
        if (k < 0) {
            h->foreign++;
            incident__v1__audit_record__free_unpacked(r, NULL);
            continue;
        }
        ha_key_t *kt = &h->keys[k];
        if (strcmp(r->action, "escalated") == 0 && !kt->resolve_sent) {
            ha_publish(h, k, "r", INCIDENT__V1__ACTION__ACTION_RESOLVE);
            kt->resolve_sent = 1;
        }
        h->closed += strcmp(r->action, "closed") == 0;
        if (kt->n == kt->cap) {
            kt->cap = kt->cap ? kt->cap * 2 : 16;
            kt->recs = realloc(kt->recs, kt->cap * sizeof(*kt->recs));
            cr_assert_not_null(kt->recs);
        }
        kt->recs[kt->n++] = r;
    }
    return n;
}

/* ---- the faults ------------------------------------------------------------------- */

/* A node restart in the background (kafka-cluster.sh start), so alerts keep
 * streaming while it comes back. */
typedef struct ha_fault {
    int broker, leader; /* the nodes killed: any broker but the leader, then the leader */
    pid_t restart;      /* the running restart, or 0 */
    int step;           /* 0 nothing yet, 1 broker killed, 2 back, 3 leader killed, 4 back */
    char log[300];
} ha_fault_t;

static pid_t ha_restart(const ha_t *h, ha_fault_t *f, int node)
{
    static char script[1024], nbuf[16];
    snprintf(script, sizeof(script), "%s/deploy/kafka-cluster.sh",
             getenv("INCIDENTD_SOURCE_DIR") ? getenv("INCIDENTD_SOURCE_DIR") : ".");
    snprintf(nbuf, sizeof(nbuf), "%d", node);
    const char *argv[] = {"/bin/bash", script, "start", h->cluster, nbuf, NULL};
    pid_t pid = tu_spawn(argv, NULL, f->log);
    cr_assert(pid > 0);
    return pid;
}

/* Reaps the restart in the background once it has ended (f->restart 0
 * again); asserts it succeeded. Returns 1 when it just ended. */
static int ha_restart_done(ha_fault_t *f)
{
    int status;
    if (!f->restart || waitpid(f->restart, &status, WNOHANG) != f->restart)
        return 0;
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "node restart failed (log %s)",
              f->log);
    f->restart = 0;
    return 1;
}

/* Moves the fault schedule on at fraction @p at of the streaming time; the
 * controller leader dies only once the first node is back. */
static void ha_fault_step(const ha_t *h, ha_fault_t *f, double at)
{
    if (f->step == 0 && at >= 0.15) {
        int leader = ha_leader(h);
        f->broker = leader % 3 + 1; /* a broker that is not the controller leader */
        ha_kill(h, f->broker);
        printf("ha: node %d (a broker, not the controller leader %d) SIGKILLed\n", f->broker,
               leader);
        f->step = 1;
    } else if (f->step == 1 && at >= 0.35) {
        f->restart = ha_restart(h, f, f->broker);
        f->step = 2;
    } else if (f->step == 2 && at >= 0.55 && !f->restart) {
        f->leader = ha_leader(h);
        ha_kill(h, f->leader);
        printf("ha: node %d (the controller leader) SIGKILLed\n", f->leader);
        f->step = 3;
    } else if (f->step == 3 && at >= 0.75) {
        f->restart = ha_restart(h, f, f->leader);
        f->step = 4;
    }
    fflush(stdout);
}

/* ---- the checks -------------------------------------------------------------------- */

#define HA_LOST_MAX 8

typedef struct ha_sum {
    int lost, duplicated, broken, wrong, extra_incidents;
    size_t events, dup_events;
    int dead_letters;
    size_t detected; /* alerts on incidents.detected: what the test's producer delivered */
    int lost_keys[HA_LOST_MAX]; /* the first lost keys, for the diagnosis */
} ha_sum_t;

typedef struct ha_events {
    ha_t *h;
    e2e_ids_t ids;
} ha_events_t;

/* An e2e_drain() callback of incidents.escalated: counts each key's events. */
static void ha_count_escalated(void *arg, tu_msg_t *m)
{
    ha_events_t *ev = arg;
    Incident__V1__IncidentEvent *e = incident__v1__incident_event__unpack(NULL, m->len, m->val);
    int k = e && e->incident ? ha_key_index(ev->h, e->incident->dedup_key) : -1;
    if (k >= 0)
        ev->h->keys[k].escalated_events++;
    if (e)
        incident__v1__incident_event__free_unpacked(e, NULL);
    e2e_collect_event_id(&ev->ids, m);
}

static void ha_count_one(void *arg, tu_msg_t *m)
{
    (void)m;
    (*(int *)arg)++;
}

static int ha_actions(const ha_key_t *kt, const char *action)
{
    int n = 0;
    for (size_t i = 0; i < kt->n; i++)
        n += strcmp(kt->recs[i]->action, action) == 0;
    return n;
}

/* One incident: whole, each step once, its chain verifying. */
static void ha_check_key(int k, ha_key_t *kt, ha_sum_t *s)
{
    static const char *const once[] = {"detected", "merged", "escalated", "resolved", "closed"};
    if (kt->n == 0) {
        if (s->lost < HA_LOST_MAX)
            s->lost_keys[s->lost] = k;
        s->lost++;
        return;
    }
    for (size_t i = 1; i < kt->n; i++)
        if (strcmp(kt->recs[i]->incident_id, kt->recs[0]->incident_id) != 0) {
            s->extra_incidents++;
            break;
        }
    ormis_sort((const Incident__V1__AuditRecord **)kt->recs, kt->n);
    ormis_verify_result_t res;
    if (ormis_verify((const Incident__V1__AuditRecord *const *)kt->recs, kt->n, &res) < 0) {
        s->broken++;
        s->duplicated += strstr(res.reason, "repeated") != NULL;
        cr_log_warn("key %d: %s", k, res.reason);
    }
    int wrong = kt->escalated_events != 1;
    for (size_t i = 0; i < sizeof(once) / sizeof(once[0]); i++) {
        int n = ha_actions(kt, once[i]);
        wrong |= n != 1;
        s->duplicated += n > 1;
    }
    const Incident__V1__AuditRecord *last = kt->recs[kt->n - 1];
    wrong |= strcmp(last->action, "closed") != 0 || last->snapshot->alert_count != 2;
    if (wrong && s->wrong < 5)
        cr_log_warn("key %d: %zu records, last %s, alert_count %u, %d escalated events", k, kt->n,
                    last->action, last->snapshot->alert_count, kt->escalated_events);
    s->wrong += wrong;
    s->lost += ha_actions(kt, "closed") == 0;
}

/* Reads the output topics and checks every incident. */
static void ha_check(ha_t *h, ha_sum_t *s)
{
    static const char *const outs[] = {"incidents.classified", "incidents.scoped",
                                       "incidents.resolved"};
    ha_events_t ev = {.h = h};
    s->events =
        e2e_drain(e2e_topic(&h->p, "incidents.escalated"), 3000, 120000, ha_count_escalated, &ev);
    s->dup_events = e2e_ids_duplicates(&ev.ids);
    for (size_t t = 0; t < sizeof(outs) / sizeof(outs[0]); t++) {
        e2e_ids_t ids = {0};
        s->events += e2e_drain(e2e_topic(&h->p, outs[t]), 3000, 120000, e2e_collect_event_id, &ids);
        s->dup_events += e2e_ids_duplicates(&ids);
    }
    e2e_drain(e2e_topic(&h->p, "incidents.dlq"), 2000, 60000, ha_count_one, &s->dead_letters);
    int detected = 0;
    e2e_drain(e2e_topic(&h->p, "incidents.detected"), 5000, 120000, ha_count_one, &detected);
    s->detected = (size_t)detected;
    for (int k = 0; k < h->n_keys; k++)
        ha_check_key(k, &h->keys[k], s);
}

/* The diagnosis of a lost key: is its alert on incidents.detected, and are
 * its records on ormis.audit for a fresh reader (then only the test's
 * reader missed them)? */
typedef struct ha_find {
    const ha_t *h;
    int key, alerts, records;
} ha_find_t;

static void ha_find_alert(void *arg, tu_msg_t *m)
{
    ha_find_t *f = arg;
    f->alerts += ha_key_index(f->h, m->key) == f->key;
}

static void ha_find_record(void *arg, tu_msg_t *m)
{
    ha_find_t *f = arg;
    Incident__V1__AuditRecord *r = incident__v1__audit_record__unpack(NULL, m->len, m->val);
    if (r && r->snapshot && ha_key_index(f->h, r->snapshot->dedup_key) == f->key)
        f->records++;
    if (r)
        incident__v1__audit_record__free_unpacked(r, NULL);
}

static void ha_diagnose_lost(const ha_t *h, const ha_sum_t *s)
{
    for (int i = 0; i < s->lost && i < HA_LOST_MAX; i++) {
        ha_find_t f = {.h = h, .key = s->lost_keys[i]};
        e2e_drain(e2e_topic(&h->p, "incidents.detected"), 3000, 120000, ha_find_alert, &f);
        e2e_drain(e2e_topic(&h->p, "ormis.audit"), 3000, 120000, ha_find_record, &f);
        printf("ha: lost key %d (%sk%d): %d alerts on incidents.detected, %d audit records "
               "for a fresh reader\n",
               f.key, h->p.prefix, f.key, f.alerts, f.records);
    }
}

static void ha_free(ha_t *h)
{
    for (int k = 0; k < h->n_keys; k++) {
        for (size_t i = 0; i < h->keys[k].n; i++)
            incident__v1__audit_record__free_unpacked(h->keys[k].recs[i], NULL);
        free(h->keys[k].recs);
    }
    free(h->keys);
    tu_consumer_destroy(h->audit);
}

/* ---- the tests --------------------------------------------------------------------- */

/* Streams alerts for @p secs seconds, and on until both nodes are back (a
 * restart on a busy machine can take longer): every fault happens while
 * alerts come in. */
static void ha_stream(ha_t *h, ha_fault_t *f, int secs)
{
    int64_t t0 = tu_now_ms(), end = t0 + (int64_t)secs * 1000;
    while (tu_now_ms() < end || f->step < 4 || f->restart) {
        int64_t now = tu_now_ms();
        while (h->n_keys < (int)((now - t0) * HA_RATE / 1000))
            ha_new_incident(h);
        ha_restart_done(f);
        ha_fault_step(h, f, (double)(now - t0) / ((double)secs * 1000));
        ha_read_audit(h, 1);
        cr_assert_lt(now, end + 300000, "the nodes did not come back (step %d, log %s)", f->step,
                     f->log);
    }
    cr_assert_eq(tu_flush(60000), 0, "every alert acknowledged by the cluster");
}

Test(ha_kafka, a_broker_and_the_controller_leader_die_nothing_lost_nothing_twice, .timeout = 900)
{
    ha_t h = {0};
    h.cluster = tu_testbed("INCIDENTD_TEST_CLUSTER_DIR");
    cr_assert_not_null(h.cluster, "no INCIDENTD_TEST_CLUSTER_DIR: run through ctest -L ha "
                                  "(fixture hatestbed, a three-node cluster)");
    const char *env_s = getenv("INCIDENTD_HA_SECONDS");
    int secs = env_s ? atoi(env_s) : 40;
    cr_assert_geq(secs, 10, "INCIDENTD_HA_SECONDS: at least 10");
    e2e_prepare(&h.p);
    static const char *const sets[HA_PROCS][3] = {
        {"topics.replication=3", "instance_id=ha0", NULL},
        {"topics.replication=3", "instance_id=ha1", NULL}};
    for (int i = 0; i < HA_PROCS; i++)
        e2e_spawn(&h.p, "all", sets[i]);
    cr_assert_eq(tu_topic_replicas(e2e_topic(&h.p, "ormis.audit"), 60000), 3,
                 "ormis.audit replicated three times (log %s)", h.p.log);
    h.audit = e2e_audit_consumer(&h.p);
    /* The test's producer is connected before the first alert: in one run
     * the first two alerts of the stream (before any fault) never reached
     * incidents.detected although no delivery error came back; whether
     * they did is checked at the end, apart from what incidentd did. */
    cr_assert_eq(tu_produce_async(e2e_topic(&h.p, "ha.warmup"), "w", "w", 1), 0);
    cr_assert_eq(tu_flush(60000), 0, "the test's producer is connected");
    ha_fault_t f = {0};
    snprintf(f.log, sizeof(f.log), "/tmp/%scluster-start.log", h.p.prefix);
    int64_t t0 = tu_now_ms();
    ha_stream(&h, &f, secs);
    int64_t t_faults = tu_now_ms() - t0, deadline = tu_now_ms() + 240000, last = tu_now_ms();
    while (tu_now_ms() < deadline && (h.closed < h.n_keys || tu_now_ms() - last < 3000))
        if (ha_read_audit(&h, 200) > 0)
            last = tu_now_ms();

    ha_sum_t s = {0};
    ha_check(&h, &s);
    ha_diagnose_lost(&h, &s);
    e2e_stop(&h.p);
    char out[4096];
    int vrc = e2e_ctl(&h.p, (const char *const[]){"verify", NULL}, out, sizeof(out), 120000);
    printf("ha kafka test: INCIDENTD_HA_SECONDS %d, streamed while the faults ran for %lld "
           "ms, incidents %d, alerts %d, "
           "audit records %zu, output events %zu, killed broker %d then controller leader %d, "
           "lost %d, duplicated %zu, broken chains %d, wrong %d, extra incidents %d, dead "
           "letters %d, incidentctl verify exit %d, alerts on incidents.detected %zu, total %lld "
           "ms\n",
           secs, (long long)t_faults, h.n_keys, h.alerts, h.records, s.events, f.broker, f.leader,
           s.lost, (size_t)s.duplicated + s.dup_events, s.broken, s.wrong, s.extra_incidents,
           s.dead_letters, vrc, s.detected, (long long)(tu_now_ms() - t0));
    fflush(stdout);
    /* at least once: after a fatal idempotence error the test's producer
     * sends what it failed again (tu_produce_async()), and incidentd counts
     * a repeated alert once (the checks above) */
    cr_expect_geq(s.detected, (size_t)h.alerts,
                  "every alert the test sent is on incidents.detected (else the test's own "
                  "producer lost it, not incidentd)");
    cr_expect_eq(s.lost, 0, "lost incidents");
    cr_expect_eq(s.duplicated, 0, "steps applied twice");
    cr_expect_eq(s.dup_events, 0, "output events twice");
    cr_expect_eq(s.broken, 0, "broken chains");
    cr_expect_eq(s.wrong, 0, "incidents not counted, escalated, resolved and closed once");
    cr_expect_eq(s.extra_incidents, 0, "keys with more than one incident");
    cr_expect_eq(h.foreign, 0, "audit records of unknown keys");
    cr_expect_eq(s.dead_letters, 0, "dead letters");
    cr_expect_eq(vrc, 0, "incidentctl verify: %s", out);
    cr_expect_neq(f.broker, f.leader, "two different nodes died");
    ha_free(&h);
}

Test(ha_kafka, topics_replication_sets_the_replication_factor, .timeout = 300)
{
    e2e_t p;
    e2e_prepare(&p);
    /* the cluster's default is 3: 2 can only come from topics.replication */
    static const char *const sets[] = {"topics.replication=2", NULL};
    e2e_spawn(&p, "detected", sets);
    cr_expect_eq(tu_topic_replicas(e2e_topic(&p, "incidents.detected"), 60000), 2);
    cr_expect_eq(tu_topic_replicas(e2e_topic(&p, "ormis.audit"), 60000), 2);
    e2e_stop(&p);
}
