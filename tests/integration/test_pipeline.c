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

#include "e2e.h"
#include "incident/v1/incident.pb-c.h"
#include "ormis.h"
#include "testutil.h"

Test(pipeline, global_incident_runs_the_whole_process)
{
    static const char *const sets[] = {"handling.global_stakeholders=cto,ops-lead",
                                       "roster.technical_manager.default=tina", NULL};
    e2e_t p;
    e2e_start(&p, sets);
    tu_consumer_t *audit = e2e_audit_consumer(&p);
    const char *key = tu_unique("global");
    char *sites[] = {"paris", "berlin"};
    char *clients[] = {"acme"};
    Incident__V1__Alert a = e2e_alert(tu_unique("a"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                      INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    a.n_sites = 2;
    a.sites = sites;
    a.n_clients = 1;
    a.clients = clients;
    e2e_publish(&p, &a);

    e2e_trail_t t = {0};
    cr_assert(e2e_trail_wait(audit, &t, key, "client_notified", E2E_WAIT_MS),
              "global incident escalated");
    const Incident__V1__AuditRecord *esc = e2e_trail_last(&t, "escalated");
    cr_assert_not_null(esc);
    cr_expect_eq(esc->snapshot->scope, INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cr_expect_eq(esc->snapshot->owner_role, INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER);
    cr_expect_str_eq(esc->snapshot->owner, "tina");
    cr_expect_eq(esc->snapshot->escalation_level, 1);
    cr_expect(esc->snapshot->resolution_meeting);
    cr_expect_eq(esc->snapshot->n_stakeholders, 2);
    const Incident__V1__AuditRecord *cn = e2e_trail_last(&t, "client_notified");
    cr_expect_eq(cn->snapshot->client_comms, INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY);

    Incident__V1__Alert r = e2e_alert(tu_unique("r"), key, INCIDENT__V1__ACTION__ACTION_RESOLVE,
                                      INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED);
    r.actor = "alice";
    e2e_publish(&p, &r);
    cr_assert(e2e_trail_wait(audit, &t, key, "closed", E2E_WAIT_MS), "incident closed");
    const Incident__V1__AuditRecord *closed = e2e_trail_last(&t, "closed");
    cr_expect_eq(closed->snapshot->stage, INCIDENT__V1__STAGE__STAGE_CLOSED);
    cr_expect_eq(closed->snapshot->status, INCIDENT__V1__STATUS__STATUS_CLOSED);
    cr_expect(closed->snapshot->closed_at_ms > 0);
    cr_expect_str_eq(e2e_trail_last(&t, "resolved")->actor, "alice");

    /* The order of the process and an intact chain, seq 1..n. The second
     * round plans the escalation notice and the TM's resolution meeting when
     * handling starts and confirms the resolution before the final updates
     * are planned (here with no confirmation window and no review:
     * tu_close_at_once_env; nobody has a channel, so nothing is pending). */
    const char *expect[] = {"detected",        "classified",      "scoped",
                            "assigned",        "escalated",       "notification_planned",
                            "meeting_planned", "client_notified", "resolved",
                            "confirmed",       "followed_up",     "notification_planned",
                            "closed"};
    cr_assert_eq(t.n, 13, "13 audit records, got %zu", t.n);
    for (size_t i = 0; i < t.n; i++) {
        cr_expect_str_eq(t.recs[i]->action, expect[i]);
        cr_expect_eq(t.recs[i]->seq, i + 1);
    }
    e2e_trail_verify(&t);
    cr_expect_eq(e2e_count_events(&p, "incidents.resolved", key, 3000), 1, "one resolved event");
    e2e_trail_free(&t);
    tu_consumer_destroy(audit);
    e2e_stop(&p);
}

Test(pipeline, local_incident_goes_to_the_csm)
{
    static const char *const sets[] = {"roster.customer_service_manager.checkout=carol",
                                       "guideline.checkout=restart the pods", NULL};
    e2e_t p;
    e2e_start(&p, sets);
    tu_consumer_t *audit = e2e_audit_consumer(&p);
    const char *key = tu_unique("local");
    char *sites[] = {"paris"};
    Incident__V1__Alert a = e2e_alert(tu_unique("a"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                      INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    a.n_sites = 1;
    a.sites = sites;
    e2e_publish(&p, &a);
    e2e_trail_t t = {0};
    cr_assert(e2e_trail_wait(audit, &t, key, "handled", E2E_WAIT_MS), "local incident handled");
    const Incident__V1__AuditRecord *h = e2e_trail_last(&t, "handled");
    cr_expect_eq(h->snapshot->scope, INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    cr_expect_eq(h->snapshot->owner_role, INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER);
    cr_expect_str_eq(h->snapshot->owner, "carol");
    cr_expect_eq(h->snapshot->escalation_level, 0);
    cr_expect_eq(h->snapshot->client_comms, INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NONE);
    cr_expect(strstr(h->detail, "restart the pods") != NULL, "guideline in detail: %s", h->detail);
    cr_expect_not(e2e_trail_has(&t, "client_notified"));
    e2e_trail_verify(&t);
    e2e_trail_free(&t);
    tu_consumer_destroy(audit);
    e2e_stop(&p);
}

Test(pipeline, disturbance_is_documented_not_escalated_and_reclassified_on_third_trigger)
{
    e2e_t p;
    e2e_start(&p, NULL);
    tu_consumer_t *audit = e2e_audit_consumer(&p);
    const char *key = tu_unique("dist");
    Incident__V1__Alert a = e2e_alert(tu_unique("a"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                      INCIDENT__V1__SEVERITY__SEVERITY_WARNING);
    e2e_publish(&p, &a);
    e2e_trail_t t = {0};
    cr_assert(e2e_trail_wait(audit, &t, key, "classified", E2E_WAIT_MS));
    cr_expect_eq(e2e_trail_last(&t, "classified")->snapshot->kind,
                 INCIDENT__V1__KIND__KIND_DISTURBANCE);

    /* A second trigger merges; still a disturbance, never scoped. */
    Incident__V1__Alert b = e2e_alert(tu_unique("b"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                      INCIDENT__V1__SEVERITY__SEVERITY_WARNING);
    e2e_publish(&p, &b);
    cr_assert(e2e_trail_wait(audit, &t, key, "merged", E2E_WAIT_MS));
    cr_expect_eq(e2e_trail_last(&t, "merged")->snapshot->alert_count, 2);
    cr_expect_eq(e2e_count_events(&p, "incidents.scoped", key, 2000), 0,
                 "disturbance never scoped");

    /* The third trigger within 10 minutes makes it an incident. */
    Incident__V1__Alert c = e2e_alert(tu_unique("c"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                      INCIDENT__V1__SEVERITY__SEVERITY_WARNING);
    e2e_publish(&p, &c);
    cr_assert(e2e_trail_wait(audit, &t, key, "reclassified", E2E_WAIT_MS), "reclassified");
    cr_expect_eq(e2e_trail_last(&t, "reclassified")->snapshot->kind,
                 INCIDENT__V1__KIND__KIND_INCIDENT);
    cr_assert(e2e_trail_wait(audit, &t, key, "handled", E2E_WAIT_MS), "then scoped and handled");
    e2e_trail_verify(&t);
    e2e_trail_free(&t);
    tu_consumer_destroy(audit);
    e2e_stop(&p);
}

Test(pipeline, disturbance_resolves_and_closes_without_scope)
{
    e2e_t p;
    e2e_start(&p, NULL);
    tu_consumer_t *audit = e2e_audit_consumer(&p);
    const char *key = tu_unique("dres");
    Incident__V1__Alert a = e2e_alert(tu_unique("a"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                      INCIDENT__V1__SEVERITY__SEVERITY_INFO);
    e2e_publish(&p, &a);
    e2e_trail_t t = {0};
    cr_assert(e2e_trail_wait(audit, &t, key, "classified", E2E_WAIT_MS));
    Incident__V1__Alert r = e2e_alert(tu_unique("r"), key, INCIDENT__V1__ACTION__ACTION_RESOLVE, 0);
    e2e_publish(&p, &r);
    cr_assert(e2e_trail_wait(audit, &t, key, "closed", E2E_WAIT_MS));
    cr_expect_not(e2e_trail_has(&t, "scoped"));
    cr_expect_not(e2e_trail_has(&t, "escalated"));
    cr_expect_eq(e2e_count_events(&p, "incidents.resolved", key, 2000), 1);
    cr_expect_eq(e2e_count_events(&p, "incidents.escalated", key, 500), 0);
    e2e_trail_verify(&t);
    e2e_trail_free(&t);
    tu_consumer_destroy(audit);
    e2e_stop(&p);
}

Test(pipeline, merge_widens_local_to_global)
{
    e2e_t p;
    e2e_start(&p, NULL);
    tu_consumer_t *audit = e2e_audit_consumer(&p);
    const char *key = tu_unique("widen");
    char *s1[] = {"paris"}, *s2[] = {"lyon"};
    Incident__V1__Alert a = e2e_alert(tu_unique("a"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                      INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    a.n_sites = 1;
    a.sites = s1;
    e2e_publish(&p, &a);
    e2e_trail_t t = {0};
    cr_assert(e2e_trail_wait(audit, &t, key, "handled", E2E_WAIT_MS));
    Incident__V1__Alert b = e2e_alert(tu_unique("b"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                      INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL);
    b.n_sites = 1;
    b.sites = s2;
    e2e_publish(&p, &b);
    cr_assert(e2e_trail_wait(audit, &t, key, "escalated", E2E_WAIT_MS), "widened and escalated");
    const Incident__V1__AuditRecord *e = e2e_trail_last(&t, "escalated");
    cr_expect_eq(e->snapshot->scope, INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cr_expect_eq(e->snapshot->severity, INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL);
    cr_expect_eq(e->snapshot->n_sites, 2);
    cr_expect_eq(e->snapshot->alert_count, 2);
    cr_expect_eq(e->snapshot->owner_role, INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER);
    e2e_trail_verify(&t);
    e2e_trail_free(&t);
    tu_consumer_destroy(audit);
    e2e_stop(&p);
}

static char *all_sites[] = {"*"};

/* Publishes a trigger of severity @p sev on every site (a GLOBAL incident). */
static void publish_global(const e2e_t *p, const char *key, Incident__V1__Severity sev)
{
    Incident__V1__Alert a =
        e2e_alert(tu_unique("a"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER, sev);
    a.n_sites = 1;
    a.sites = all_sites;
    e2e_publish(p, &a);
}

/* Waits until the key's last escalation is at @p level. Returns non-zero when it is. */
static int wait_escalation_level(tu_consumer_t *audit, e2e_trail_t *t, const char *key,
                                 uint32_t level)
{
    int64_t deadline = tu_now_ms() + E2E_WAIT_MS;
    while (tu_now_ms() < deadline)
        if (e2e_trail_wait(audit, t, key, "escalated", 2000) &&
            e2e_trail_last(t, "escalated")->snapshot->escalation_level == level)
            return 1;
    return 0;
}

Test(pipeline, unacknowledged_incident_re_escalates_until_acknowledged)
{
    static const char *const sets[] = {"escalation.ack_timeout=1500ms", NULL};
    e2e_t p;
    e2e_start(&p, sets);
    tu_consumer_t *audit = e2e_audit_consumer(&p);
    const char *key = tu_unique("ack");
    publish_global(&p, key, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    e2e_trail_t t = {0};
    /* level 1 at once, then 2 after the timeout */
    cr_assert(wait_escalation_level(audit, &t, key, 2),
              "re-escalated to level 2 after the ack timeout");
    Incident__V1__Alert k =
        e2e_alert(tu_unique("k"), key, INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE, 0);
    k.actor = "bob";
    e2e_publish(&p, &k);
    cr_assert(e2e_trail_wait(audit, &t, key, "acknowledged", E2E_WAIT_MS));
    const Incident__V1__AuditRecord *ack = e2e_trail_last(&t, "acknowledged");
    cr_expect_eq(ack->snapshot->status, INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED);
    cr_expect_str_eq(ack->actor, "bob");
    uint32_t level_at_ack = ack->snapshot->escalation_level;
    /* Nothing escalates after the acknowledgement (wait > 2 timeouts). */
    size_t before = t.n;
    e2e_trail_wait(audit, &t, key, "escalated", 4000);
    for (size_t i = before; i < t.n; i++)
        cr_expect(strcmp(t.recs[i]->action, "escalated") != 0, "escalated after ack");
    cr_expect(level_at_ack >= 2 && level_at_ack <= 3);
    e2e_trail_verify(&t);
    e2e_trail_free(&t);
    tu_consumer_destroy(audit);
    e2e_stop(&p);
}

Test(pipeline, escalation_stops_at_level_three)
{
    static const char *const sets[] = {"escalation.ack_timeout=1s", NULL};
    e2e_t p;
    e2e_start(&p, sets);
    tu_consumer_t *audit = e2e_audit_consumer(&p);
    const char *key = tu_unique("max");
    publish_global(&p, key, INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL);
    e2e_trail_t t = {0};
    cr_assert(wait_escalation_level(audit, &t, key, 3), "reached level 3");
    e2e_trail_wait(audit, &t, key, "never", 3000);
    int n_esc = 0;
    for (size_t i = 0; i < t.n; i++)
        n_esc += strcmp(t.recs[i]->action, "escalated") == 0;
    cr_expect_eq(n_esc, 3, "levels 1, 2, 3 once each (got %d)", n_esc);
    cr_expect_eq(e2e_count_events(&p, "incidents.escalated", key, 2000), 3);
    e2e_trail_verify(&t);
    e2e_trail_free(&t);
    tu_consumer_destroy(audit);
    e2e_stop(&p);
}

Test(pipeline, redelivered_alert_changes_nothing_and_closed_key_reopens)
{
    e2e_t p;
    e2e_start(&p, NULL);
    tu_consumer_t *audit = e2e_audit_consumer(&p);
    const char *key = tu_unique("redeliver");
    const char *aid = tu_unique("a");
    Incident__V1__Alert a = e2e_alert(aid, key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                      INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    e2e_publish(&p, &a);
    e2e_publish(&p, &a); /* the same alert again */
    e2e_trail_t t = {0};
    cr_assert(e2e_trail_wait(audit, &t, key, "handled", E2E_WAIT_MS));
    e2e_trail_wait(audit, &t, key, "never", 2000);
    cr_expect_not(e2e_trail_has(&t, "merged"), "a redelivered alert is not merged");
    cr_expect_eq(e2e_trail_last(&t, "handled")->snapshot->alert_count, 1);
    char first_id[128];
    snprintf(first_id, sizeof(first_id), "%s", t.recs[0]->incident_id);

    Incident__V1__Alert r = e2e_alert(tu_unique("r"), key, INCIDENT__V1__ACTION__ACTION_RESOLVE, 0);
    e2e_publish(&p, &r);
    cr_assert(e2e_trail_wait(audit, &t, key, "closed", E2E_WAIT_MS));
    /* After the close the same key opens a new incident. */
    Incident__V1__Alert b = e2e_alert(tu_unique("b"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                      INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    e2e_publish(&p, &b);
    cr_assert(e2e_trail_wait(audit, &t, key, "detected", E2E_WAIT_MS));
    const Incident__V1__AuditRecord *d = e2e_trail_last(&t, "detected");
    cr_expect_str_neq(d->incident_id, first_id, "a new incident");
    cr_expect_eq(d->seq, 1);
    e2e_trail_verify(&t);
    e2e_trail_free(&t);
    tu_consumer_destroy(audit);
    e2e_stop(&p);
}

Test(pipeline, bad_input_goes_to_the_dead_letter_topic)
{
    e2e_t p;
    e2e_start(&p, NULL);
    const char *dlq[] = {e2e_topic(&p, "incidents.dlq"), NULL};
    tu_consumer_t *c = tu_consumer_new(dlq);
    /* undecodable bytes */
    cr_assert_eq(tu_produce(e2e_topic(&p, "incidents.detected"), "k1", "\xff\xff\xff garbage", 12),
                 0);
    /* missing dedup key */
    Incident__V1__Alert a = e2e_alert(tu_unique("a"), "", INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                      INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    e2e_publish(&p, &a);
    /* unknown action */
    Incident__V1__Alert b = e2e_alert(tu_unique("b"), "kb", (Incident__V1__Action)9,
                                      INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    e2e_publish(&p, &b);
    /* acknowledge of nothing */
    Incident__V1__Alert k =
        e2e_alert(tu_unique("k"), tu_unique("none"), INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE, 0);
    e2e_publish(&p, &k);
    int n = 0;
    int64_t deadline = tu_now_ms() + E2E_WAIT_MS;
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
    tu_consumer_t *audit = e2e_audit_consumer(&p);
    const char *key = tu_unique("after-bad");
    Incident__V1__Alert g = e2e_alert(tu_unique("g"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                      INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    e2e_publish(&p, &g);
    e2e_trail_t t = {0};
    cr_expect(e2e_trail_wait(audit, &t, key, "classified", E2E_WAIT_MS));
    e2e_trail_free(&t);
    tu_consumer_destroy(audit);
    tu_consumer_destroy(c);
    e2e_stop(&p);
}

Test(pipeline, two_processes_share_the_stages)
{
    e2e_t p;
    e2e_start(&p, NULL);
    e2e_spawn(&p, "all", NULL);
    tu_consumer_t *audit = e2e_audit_consumer(&p);
    enum { N = 20 };
    char keys[N][128];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "%s", tu_unique("two"));
        Incident__V1__Alert a =
            e2e_alert(tu_unique("a"), keys[i], INCIDENT__V1__ACTION__ACTION_TRIGGER,
                      INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
        e2e_publish(&p, &a);
        Incident__V1__Alert r =
            e2e_alert(tu_unique("r"), keys[i], INCIDENT__V1__ACTION__ACTION_RESOLVE, 0);
        e2e_publish(&p, &r);
    }
    /* Every incident closes exactly once with a valid chain. */
    int closed[N] = {0};
    int total = 0;
    int64_t deadline = tu_now_ms() + 2 * E2E_WAIT_MS;
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
    e2e_stop(&p);
}
