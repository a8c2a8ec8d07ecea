/*
 * test_pipeline.c — the incident process end to end, on the test bed's real
 * Kafka broker and real Redis, played as a monitoring system (publishing
 * alerts to incidents.detected) and a notifier/auditor (reading the stage
 * topics and ormis.audit) would.
 *
 * Each test starts its own incidentd process(es) with a unique topic prefix
 * (which also namespaces its Redis keys), so tests do not see each other.
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "incident/v1/incident.pb-c.h"
#include "ormis.h"
#include "testutil.h"

#define WAIT_MS 60000
#define MAX_RECS 256

typedef struct pipeline {
    char prefix[128];
    pid_t pids[4];
    int n_pids;
    char log[256];
} pipeline_t;

/* Starts one incidentd with the given extra "--set" settings. */
static pid_t pipeline_spawn(pipeline_t *p, const char *stages, const char *const *sets)
{
    const char *argv[64];
    int n = 0;
    argv[n++] = tu_bin("incidentd");
    argv[n++] = "--brokers";
    argv[n++] = tu_brokers();
    argv[n++] = "--redis";
    argv[n++] = tu_redis();
    argv[n++] = "--topic-prefix";
    argv[n++] = p->prefix;
    argv[n++] = "--stages";
    argv[n++] = stages;
    argv[n++] = "--set";
    argv[n++] = "timer.poll=200ms";
    argv[n++] = "--set";
    argv[n++] = "batch.ms=5";
    for (int i = 0; sets && sets[i] && n < 60; i++) {
        argv[n++] = "--set";
        argv[n++] = sets[i];
    }
    argv[n] = NULL;
    static const char *const env[] = {"INCIDENTD_TOPICS_PARTITIONS=3", NULL};
    pid_t pid = tu_spawn(argv, env, p->log);
    cr_assert(pid > 0, "spawn incidentd");
    p->pids[p->n_pids++] = pid;
    return pid;
}

static void pipeline_start(pipeline_t *p, const char *const *sets)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->prefix, sizeof(p->prefix), "%s.", tu_unique("e2e"));
    snprintf(p->log, sizeof(p->log), "/tmp/%sincidentd.log", p->prefix);
    pipeline_spawn(p, "all", sets);
}

static void pipeline_stop(pipeline_t *p)
{
    for (int i = 0; i < p->n_pids; i++) {
        int rc = tu_stop(p->pids[i], SIGTERM, 30000);
        cr_expect_eq(rc, 0, "incidentd exits 0 on SIGTERM (got %d); log %s", rc, p->log);
    }
    p->n_pids = 0;
}

static const char *topic(const pipeline_t *p, const char *name)
{
    static char buf[8][256];
    static int slot;
    char *b = buf[slot++ % 8];
    snprintf(b, sizeof(buf[0]), "%s%s", p->prefix, name);
    return b;
}

/* An alert with the given fields; strings borrowed. */
static Incident__V1__Alert alert_make(const char *id, const char *key, Incident__V1__Action action,
                                      Incident__V1__Severity sev)
{
    Incident__V1__Alert a = INCIDENT__V1__ALERT__INIT;
    a.alert_id = (char *)id;
    a.dedup_key = (char *)key;
    a.action = action;
    a.severity = sev;
    a.service = "checkout";
    a.source = "e2e";
    a.summary = "checkout errors";
    return a;
}

static void publish(const pipeline_t *p, const Incident__V1__Alert *a)
{
    cr_assert_eq(tu_produce_alert(topic(p, "incidents.detected"), a), 0, "publish alert %s",
                 a->alert_id);
}

/* The audit trail of incidents, as read from ormis.audit. */
typedef struct trail {
    Incident__V1__AuditRecord *recs[MAX_RECS];
    size_t n;
} trail_t;

static void trail_free(trail_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        incident__v1__audit_record__free_unpacked(t->recs[i], NULL);
    t->n = 0;
}

/* Reads ormis.audit until a record of an incident with dedup key @p key has
 * action @p until (or the time runs out). Keeps the records of that key. */
static int trail_wait(tu_consumer_t *c, trail_t *t, const char *key, const char *until, int ms)
{
    int64_t deadline = tu_now_ms() + ms;
    while (tu_now_ms() < deadline) {
        tu_msg_t *m = tu_consumer_next(c, 500);
        if (!m)
            continue;
        Incident__V1__AuditRecord *r = incident__v1__audit_record__unpack(NULL, m->len, m->val);
        tu_msg_free(m);
        if (!r)
            continue;
        if (!r->snapshot || strcmp(r->snapshot->dedup_key, key) != 0 || t->n >= MAX_RECS) {
            incident__v1__audit_record__free_unpacked(r, NULL);
            continue;
        }
        t->recs[t->n++] = r;
        if (strcmp(r->action, until) == 0)
            return 1;
    }
    return 0;
}

/* Records of one incident id, in order. */
static size_t trail_of(const trail_t *t, const char *id, const Incident__V1__AuditRecord **out)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->recs[i]->incident_id, id) == 0)
            out[n++] = t->recs[i];
    return n;
}

static int trail_has(const trail_t *t, const char *action)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->recs[i]->action, action) == 0)
            return 1;
    return 0;
}

static const Incident__V1__AuditRecord *trail_last(const trail_t *t, const char *action)
{
    for (size_t i = t->n; i > 0; i--)
        if (strcmp(t->recs[i - 1]->action, action) == 0)
            return t->recs[i - 1];
    return NULL;
}

static void trail_verify(const trail_t *t)
{
    const Incident__V1__AuditRecord *one[MAX_RECS];
    for (size_t i = 0; i < t->n; i++) {
        size_t n = trail_of(t, t->recs[i]->incident_id, one);
        ormis_verify_result_t res;
        cr_assert_eq(ormis_verify(one, n, &res), 0, "chain of %s: %s", t->recs[i]->incident_id,
                     res.reason);
    }
}

/* Counts messages of @p name whose incident has dedup key @p key within ms. */
static int count_events(const pipeline_t *p, const char *name, const char *key, int ms)
{
    const char *topics[] = {topic(p, name), NULL};
    tu_consumer_t *c = tu_consumer_new(topics);
    int n = 0;
    int64_t deadline = tu_now_ms() + ms;
    while (tu_now_ms() < deadline) {
        tu_msg_t *m = tu_consumer_next(c, 300);
        if (!m)
            continue;
        Incident__V1__IncidentEvent *ev = incident__v1__incident_event__unpack(NULL, m->len, m->val);
        if (ev && ev->incident && strcmp(ev->incident->dedup_key, key) == 0)
            n++;
        if (ev)
            incident__v1__incident_event__free_unpacked(ev, NULL);
        tu_msg_free(m);
    }
    tu_consumer_destroy(c);
    return n;
}

static tu_consumer_t *audit_consumer(const pipeline_t *p)
{
    const char *topics[] = {topic(p, "ormis.audit"), NULL};
    return tu_consumer_new(topics);
}

Test(pipeline, global_incident_runs_the_whole_process)
{
    static const char *const sets[] = {"handling.global_stakeholders=cto,ops-lead",
                                       "roster.technical_manager.default=tina", NULL};
    pipeline_t p;
    pipeline_start(&p, sets);
    tu_consumer_t *audit = audit_consumer(&p);
    const char *key = tu_unique("global");
    char *sites[] = {"paris", "berlin"};
    char *clients[] = {"acme"};
    Incident__V1__Alert a = alert_make(tu_unique("a"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                       INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    a.n_sites = 2;
    a.sites = sites;
    a.n_clients = 1;
    a.clients = clients;
    publish(&p, &a);

    trail_t t = {0};
    cr_assert(trail_wait(audit, &t, key, "client_notified", WAIT_MS), "global incident escalated");
    const Incident__V1__AuditRecord *esc = trail_last(&t, "escalated");
    cr_assert_not_null(esc);
    cr_expect_eq(esc->snapshot->scope, INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cr_expect_eq(esc->snapshot->owner_role, INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER);
    cr_expect_str_eq(esc->snapshot->owner, "tina");
    cr_expect_eq(esc->snapshot->escalation_level, 1);
    cr_expect(esc->snapshot->resolution_meeting);
    cr_expect_eq(esc->snapshot->n_stakeholders, 2);
    const Incident__V1__AuditRecord *cn = trail_last(&t, "client_notified");
    cr_expect_eq(cn->snapshot->client_comms, INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY);

    Incident__V1__Alert r = alert_make(tu_unique("r"), key, INCIDENT__V1__ACTION__ACTION_RESOLVE,
                                       INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED);
    r.actor = "alice";
    publish(&p, &r);
    cr_assert(trail_wait(audit, &t, key, "closed", WAIT_MS), "incident closed");
    const Incident__V1__AuditRecord *closed = trail_last(&t, "closed");
    cr_expect_eq(closed->snapshot->stage, INCIDENT__V1__STAGE__STAGE_CLOSED);
    cr_expect_eq(closed->snapshot->status, INCIDENT__V1__STATUS__STATUS_CLOSED);
    cr_expect(closed->snapshot->closed_at_ms > 0);
    cr_expect_str_eq(trail_last(&t, "resolved")->actor, "alice");

    /* The order of the process and an intact chain, seq 1..n. */
    const char *expect[] = {"detected", "classified", "scoped", "assigned", "escalated",
                            "client_notified", "resolved", "followed_up", "closed"};
    cr_assert_eq(t.n, 9, "9 audit records, got %zu", t.n);
    for (size_t i = 0; i < t.n; i++) {
        cr_expect_str_eq(t.recs[i]->action, expect[i]);
        cr_expect_eq(t.recs[i]->seq, i + 1);
    }
    trail_verify(&t);
    cr_expect_eq(count_events(&p, "incidents.resolved", key, 3000), 1, "one resolved event");
    trail_free(&t);
    tu_consumer_destroy(audit);
    pipeline_stop(&p);
}

Test(pipeline, local_incident_goes_to_the_csm)
{
    static const char *const sets[] = {"roster.customer_service_manager.checkout=carol",
                                       "guideline.checkout=restart the pods", NULL};
    pipeline_t p;
    pipeline_start(&p, sets);
    tu_consumer_t *audit = audit_consumer(&p);
    const char *key = tu_unique("local");
    char *sites[] = {"paris"};
    Incident__V1__Alert a = alert_make(tu_unique("a"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                       INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    a.n_sites = 1;
    a.sites = sites;
    publish(&p, &a);
    trail_t t = {0};
    cr_assert(trail_wait(audit, &t, key, "handled", WAIT_MS), "local incident handled");
    const Incident__V1__AuditRecord *h = trail_last(&t, "handled");
    cr_expect_eq(h->snapshot->scope, INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    cr_expect_eq(h->snapshot->owner_role, INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER);
    cr_expect_str_eq(h->snapshot->owner, "carol");
    cr_expect_eq(h->snapshot->escalation_level, 0);
    cr_expect_eq(h->snapshot->client_comms, INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NONE);
    cr_expect(strstr(h->detail, "restart the pods") != NULL, "guideline in detail: %s", h->detail);
    cr_expect_not(trail_has(&t, "client_notified"));
    trail_verify(&t);
    trail_free(&t);
    tu_consumer_destroy(audit);
    pipeline_stop(&p);
}

Test(pipeline, disturbance_is_documented_not_escalated_and_reclassified_on_third_trigger)
{
    pipeline_t p;
    pipeline_start(&p, NULL);
    tu_consumer_t *audit = audit_consumer(&p);
    const char *key = tu_unique("dist");
    Incident__V1__Alert a = alert_make(tu_unique("a"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                       INCIDENT__V1__SEVERITY__SEVERITY_WARNING);
    publish(&p, &a);
    trail_t t = {0};
    cr_assert(trail_wait(audit, &t, key, "classified", WAIT_MS));
    cr_expect_eq(trail_last(&t, "classified")->snapshot->kind, INCIDENT__V1__KIND__KIND_DISTURBANCE);

    /* A second trigger merges; still a disturbance, never scoped. */
    Incident__V1__Alert b = alert_make(tu_unique("b"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                       INCIDENT__V1__SEVERITY__SEVERITY_WARNING);
    publish(&p, &b);
    cr_assert(trail_wait(audit, &t, key, "merged", WAIT_MS));
    cr_expect_eq(trail_last(&t, "merged")->snapshot->alert_count, 2);
    cr_expect_eq(count_events(&p, "incidents.scoped", key, 2000), 0, "disturbance never scoped");

    /* The third trigger within 10 minutes makes it an incident. */
    Incident__V1__Alert c = alert_make(tu_unique("c"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                       INCIDENT__V1__SEVERITY__SEVERITY_WARNING);
    publish(&p, &c);
    cr_assert(trail_wait(audit, &t, key, "reclassified", WAIT_MS), "reclassified");
    cr_expect_eq(trail_last(&t, "reclassified")->snapshot->kind, INCIDENT__V1__KIND__KIND_INCIDENT);
    cr_assert(trail_wait(audit, &t, key, "handled", WAIT_MS), "then scoped and handled");
    trail_verify(&t);
    trail_free(&t);
    tu_consumer_destroy(audit);
    pipeline_stop(&p);
}

Test(pipeline, disturbance_resolves_and_closes_without_scope)
{
    pipeline_t p;
    pipeline_start(&p, NULL);
    tu_consumer_t *audit = audit_consumer(&p);
    const char *key = tu_unique("dres");
    Incident__V1__Alert a = alert_make(tu_unique("a"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                       INCIDENT__V1__SEVERITY__SEVERITY_INFO);
    publish(&p, &a);
    trail_t t = {0};
    cr_assert(trail_wait(audit, &t, key, "classified", WAIT_MS));
    Incident__V1__Alert r = alert_make(tu_unique("r"), key, INCIDENT__V1__ACTION__ACTION_RESOLVE, 0);
    publish(&p, &r);
    cr_assert(trail_wait(audit, &t, key, "closed", WAIT_MS));
    cr_expect_not(trail_has(&t, "scoped"));
    cr_expect_not(trail_has(&t, "escalated"));
    cr_expect_eq(count_events(&p, "incidents.resolved", key, 2000), 1);
    cr_expect_eq(count_events(&p, "incidents.escalated", key, 500), 0);
    trail_verify(&t);
    trail_free(&t);
    tu_consumer_destroy(audit);
    pipeline_stop(&p);
}

Test(pipeline, merge_widens_local_to_global)
{
    pipeline_t p;
    pipeline_start(&p, NULL);
    tu_consumer_t *audit = audit_consumer(&p);
    const char *key = tu_unique("widen");
    char *s1[] = {"paris"}, *s2[] = {"lyon"};
    Incident__V1__Alert a = alert_make(tu_unique("a"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                       INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    a.n_sites = 1;
    a.sites = s1;
    publish(&p, &a);
    trail_t t = {0};
    cr_assert(trail_wait(audit, &t, key, "handled", WAIT_MS));
    Incident__V1__Alert b = alert_make(tu_unique("b"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                       INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL);
    b.n_sites = 1;
    b.sites = s2;
    publish(&p, &b);
    cr_assert(trail_wait(audit, &t, key, "escalated", WAIT_MS), "widened and escalated");
    const Incident__V1__AuditRecord *e = trail_last(&t, "escalated");
    cr_expect_eq(e->snapshot->scope, INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cr_expect_eq(e->snapshot->severity, INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL);
    cr_expect_eq(e->snapshot->n_sites, 2);
    cr_expect_eq(e->snapshot->alert_count, 2);
    cr_expect_eq(e->snapshot->owner_role, INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER);
    trail_verify(&t);
    trail_free(&t);
    tu_consumer_destroy(audit);
    pipeline_stop(&p);
}

Test(pipeline, unacknowledged_incident_re_escalates_until_acknowledged)
{
    static const char *const sets[] = {"escalation.ack_timeout=1500ms", NULL};
    pipeline_t p;
    pipeline_start(&p, sets);
    tu_consumer_t *audit = audit_consumer(&p);
    const char *key = tu_unique("ack");
    char *sites[] = {"*"};
    Incident__V1__Alert a = alert_make(tu_unique("a"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                       INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    a.n_sites = 1;
    a.sites = sites;
    publish(&p, &a);
    trail_t t = {0};
    /* level 1 at once, then 2 after the timeout */
    int level2 = 0;
    int64_t deadline = tu_now_ms() + WAIT_MS;
    while (!level2 && tu_now_ms() < deadline) {
        if (!trail_wait(audit, &t, key, "escalated", 2000))
            continue;
        level2 = trail_last(&t, "escalated")->snapshot->escalation_level == 2;
    }
    cr_assert(level2, "re-escalated to level 2 after the ack timeout");
    Incident__V1__Alert k = alert_make(tu_unique("k"), key, INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE, 0);
    k.actor = "bob";
    publish(&p, &k);
    cr_assert(trail_wait(audit, &t, key, "acknowledged", WAIT_MS));
    const Incident__V1__AuditRecord *ack = trail_last(&t, "acknowledged");
    cr_expect_eq(ack->snapshot->status, INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED);
    cr_expect_str_eq(ack->actor, "bob");
    uint32_t level_at_ack = ack->snapshot->escalation_level;
    /* Nothing escalates after the acknowledgement (wait > 2 timeouts). */
    size_t before = t.n;
    trail_wait(audit, &t, key, "escalated", 4000);
    for (size_t i = before; i < t.n; i++)
        cr_expect(strcmp(t.recs[i]->action, "escalated") != 0, "escalated after ack");
    cr_expect(level_at_ack >= 2 && level_at_ack <= 3);
    trail_verify(&t);
    trail_free(&t);
    tu_consumer_destroy(audit);
    pipeline_stop(&p);
}

Test(pipeline, escalation_stops_at_level_three)
{
    static const char *const sets[] = {"escalation.ack_timeout=1s", NULL};
    pipeline_t p;
    pipeline_start(&p, sets);
    tu_consumer_t *audit = audit_consumer(&p);
    const char *key = tu_unique("max");
    char *sites[] = {"*"};
    Incident__V1__Alert a = alert_make(tu_unique("a"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                       INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL);
    a.n_sites = 1;
    a.sites = sites;
    publish(&p, &a);
    trail_t t = {0};
    int64_t deadline = tu_now_ms() + WAIT_MS;
    int level3 = 0;
    while (!level3 && tu_now_ms() < deadline)
        if (trail_wait(audit, &t, key, "escalated", 2000))
            level3 = trail_last(&t, "escalated")->snapshot->escalation_level == 3;
    cr_assert(level3, "reached level 3");
    trail_wait(audit, &t, key, "never", 3000);
    int n_esc = 0;
    for (size_t i = 0; i < t.n; i++)
        n_esc += strcmp(t.recs[i]->action, "escalated") == 0;
    cr_expect_eq(n_esc, 3, "levels 1, 2, 3 once each (got %d)", n_esc);
    cr_expect_eq(count_events(&p, "incidents.escalated", key, 2000), 3);
    trail_verify(&t);
    trail_free(&t);
    tu_consumer_destroy(audit);
    pipeline_stop(&p);
}

Test(pipeline, redelivered_alert_changes_nothing_and_closed_key_reopens)
{
    pipeline_t p;
    pipeline_start(&p, NULL);
    tu_consumer_t *audit = audit_consumer(&p);
    const char *key = tu_unique("redeliver");
    const char *aid = tu_unique("a");
    Incident__V1__Alert a = alert_make(aid, key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                       INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    publish(&p, &a);
    publish(&p, &a); /* the same alert again */
    trail_t t = {0};
    cr_assert(trail_wait(audit, &t, key, "handled", WAIT_MS));
    trail_wait(audit, &t, key, "never", 2000);
    cr_expect_not(trail_has(&t, "merged"), "a redelivered alert is not merged");
    cr_expect_eq(trail_last(&t, "handled")->snapshot->alert_count, 1);
    char first_id[128];
    snprintf(first_id, sizeof(first_id), "%s", t.recs[0]->incident_id);

    Incident__V1__Alert r = alert_make(tu_unique("r"), key, INCIDENT__V1__ACTION__ACTION_RESOLVE, 0);
    publish(&p, &r);
    cr_assert(trail_wait(audit, &t, key, "closed", WAIT_MS));
    /* After the close the same key opens a new incident. */
    Incident__V1__Alert b = alert_make(tu_unique("b"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                       INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    publish(&p, &b);
    cr_assert(trail_wait(audit, &t, key, "detected", WAIT_MS));
    const Incident__V1__AuditRecord *d = trail_last(&t, "detected");
    cr_expect_str_neq(d->incident_id, first_id, "a new incident");
    cr_expect_eq(d->seq, 1);
    trail_verify(&t);
    trail_free(&t);
    tu_consumer_destroy(audit);
    pipeline_stop(&p);
}

Test(pipeline, bad_input_goes_to_the_dead_letter_topic)
{
    pipeline_t p;
    pipeline_start(&p, NULL);
    const char *dlq[] = {topic(&p, "incidents.dlq"), NULL};
    tu_consumer_t *c = tu_consumer_new(dlq);
    /* undecodable bytes */
    cr_assert_eq(tu_produce(topic(&p, "incidents.detected"), "k1", "\xff\xff\xff garbage", 12), 0);
    /* missing dedup key */
    Incident__V1__Alert a = alert_make(tu_unique("a"), "", INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                       INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    publish(&p, &a);
    /* unknown action */
    Incident__V1__Alert b = alert_make(tu_unique("b"), "kb", (Incident__V1__Action)9,
                                       INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    publish(&p, &b);
    /* acknowledge of nothing */
    Incident__V1__Alert k = alert_make(tu_unique("k"), tu_unique("none"),
                                       INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE, 0);
    publish(&p, &k);
    int n = 0;
    int64_t deadline = tu_now_ms() + WAIT_MS;
    while (n < 4 && tu_now_ms() < deadline) {
        tu_msg_t *m = tu_consumer_next(c, 500);
        if (!m)
            continue;
        cr_expect_str_eq(m->x_stage, "detected");
        cr_expect(m->x_error[0] != '\0', "x-error set");
        n++;
        tu_msg_free(m);
    }
    cr_expect_eq(n, 4, "4 dead letters, got %d", n);
    /* The worker carries on: a good alert still makes an incident. */
    tu_consumer_t *audit = audit_consumer(&p);
    const char *key = tu_unique("after-bad");
    Incident__V1__Alert g = alert_make(tu_unique("g"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                       INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    publish(&p, &g);
    trail_t t = {0};
    cr_expect(trail_wait(audit, &t, key, "classified", WAIT_MS));
    trail_free(&t);
    tu_consumer_destroy(audit);
    tu_consumer_destroy(c);
    pipeline_stop(&p);
}

Test(pipeline, two_processes_share_the_stages)
{
    pipeline_t p;
    pipeline_start(&p, NULL);
    pipeline_spawn(&p, "all", NULL);
    tu_consumer_t *audit = audit_consumer(&p);
    enum { N = 20 };
    char keys[N][128];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "%s", tu_unique("two"));
        Incident__V1__Alert a = alert_make(tu_unique("a"), keys[i],
                                           INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                           INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
        publish(&p, &a);
        Incident__V1__Alert r = alert_make(tu_unique("r"), keys[i],
                                           INCIDENT__V1__ACTION__ACTION_RESOLVE, 0);
        publish(&p, &r);
    }
    /* Every incident closes exactly once with a valid chain. */
    int closed[N] = {0};
    int total = 0;
    int64_t deadline = tu_now_ms() + 2 * WAIT_MS;
    while (total < N && tu_now_ms() < deadline) {
        tu_msg_t *m = tu_consumer_next(audit, 500);
        if (!m)
            continue;
        Incident__V1__AuditRecord *r = incident__v1__audit_record__unpack(NULL, m->len, m->val);
        tu_msg_free(m);
        if (!r)
            continue;
        if (strcmp(r->action, "closed") == 0)
            for (int i = 0; i < N; i++)
                if (strcmp(r->snapshot->dedup_key, keys[i]) == 0) {
                    closed[i]++;
                    total++;
                }
        incident__v1__audit_record__free_unpacked(r, NULL);
    }
    cr_assert_eq(total, N, "all %d incidents closed (got %d)", N, total);
    for (int i = 0; i < N; i++)
        cr_expect_eq(closed[i], 1);
    tu_consumer_destroy(audit);
    pipeline_stop(&p);
}
