/*
 * test_hd_resolved.c — the resolved stage (handlers/resolved.c) and the
 * follow-up it shares with the CONFIRM timer (handlers/followup.c): the
 * confirmation window, the planned final update, the completeness check of
 * the ORMIS record, the completion gate and the close.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "hd_fixture.h"

#define ACTOR "incidentd/resolved"

static void setup(void) { hdf_setup(ACTOR, "INC-1:5"); }

TestSuite(hd_resolved, .init = setup, .fini = hdf_teardown);

#define MIN_MS 60000LL

/* A resolved LOCAL MAJOR incident at version 9 whose record has every step
 * and whose confirmation window (10 min) ended at HDF_NOW. */
static hd_state_t *resolved(void)
{
    return hdf_state_resolved(INCIDENT__V1__SCOPE__SCOPE_LOCAL, HDF_NOW - 10 * MIN_MS);
}

static hd_transition_t run(const hd_state_t *cur)
{
    hd_transition_t out;
    memset(&out, 0x5a, sizeof(out));
    hd_resolved_apply(&hdf_ctx, cur, hdf_event_of(cur ? cur : resolved(), HDF_NOW - 10), &out);
    return out;
}

Test(hd_resolved, nothing_without_incident)
{
    hd_transition_t out = run(NULL);
    hdf_check_noop(&out);
}

Test(hd_resolved, open_incident_not_closed)
{
    hd_state_t *cur = resolved();
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_OPEN;
    hd_transition_t out = run(cur);
    hdf_check_noop(&out);
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED;
    out = run(cur);
    hdf_check_noop(&out);
}

Test(hd_resolved, closed_incident_not_closed_again)
{
    hd_state_t *cur = resolved();
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_CLOSED;
    cur->incident->stage = INCIDENT__V1__STAGE__STAGE_CLOSED;
    hd_transition_t out = run(cur);
    hdf_check_noop(&out);
}

Test(hd_resolved, invalid_event_rejected)
{
    hd_transition_t out;
    hd_event_t *ev = hdf_event_of(resolved(), HDF_NOW);
    ev->incident->id = "";
    hd_resolved_apply(&hdf_ctx, resolved(), ev, &out);
    cr_assert_eq(out.verdict, HD_REJECT);
    cr_assert(hdf_contains(out.error, "incident.id"));
}

Test(hd_resolved, inside_window_waits_for_confirm_timer)
{
    hd_state_t *cur = resolved();
    hdf_ctx.now_ms = cur->followup_until_ms - 1;
    hd_transition_t out = run(cur);
    hdf_check_noop(&out);
}

Test(hd_resolved, confirmed_incident_not_confirmed_again)
{
    hd_state_t *cur = resolved();
    cur->incident->confirmed_at_ms = HDF_NOW - 1;
    hd_transition_t out = run(cur);
    hdf_check_noop(&out);
}

Test(hd_resolved, complete_record_is_closed)
{
    hd_state_t *cur = resolved();
    hd_transition_t out = run(cur);
    hdf_check_records(&out, 10);
    cr_assert_eq(out.n_records, 3);
    const hd_record_t *confirmed = out.records[0], *followed = out.records[1],
                      *closed = out.records[2];
    cr_assert_str_eq(confirmed->action, "confirmed");
    cr_assert_eq(confirmed->snapshot->confirmed_at_ms, HDF_NOW);
    cr_assert_str_eq(confirmed->detail, "no trigger or reopen within 10 min of the resolution");
    cr_assert_str_eq(followed->action, "followed_up");
    cr_assert_eq(followed->stage, INCIDENT__V1__STAGE__STAGE_RESOLVED);
    cr_assert_eq(followed->snapshot->status, INCIDENT__V1__STATUS__STATUS_RESOLVED);
    cr_assert_str_eq(followed->detail, "no recipients: no final update");
    cr_assert_str_eq(closed->action, "closed");
    cr_assert_eq(closed->stage, INCIDENT__V1__STAGE__STAGE_CLOSED);
    cr_assert_str_eq(closed->detail, "record complete (12 records)");

    const hd_incident_t *inc = out.state->incident;
    cr_assert_eq(inc->stage, INCIDENT__V1__STAGE__STAGE_CLOSED);
    cr_assert_eq(inc->status, INCIDENT__V1__STATUS__STATUS_CLOSED);
    cr_assert_eq(inc->closed_at_ms, HDF_NOW);
    cr_assert_eq(inc->confirmed_at_ms, HDF_NOW);
    cr_assert_eq(inc->resolved_at_ms, HDF_NOW - 10 * MIN_MS);
    cr_assert_eq(inc->version, 12);
    cr_assert_eq(out.closed, 1);
    cr_assert_eq(out.n_outputs, 0);
    cr_assert_eq(out.timer_op, HD_TIMER_NONE);
    cr_assert_eq(out.n_timers, 0);
    /* confirmed: the dedup key leaves the open index now */
    cr_assert_eq(out.index_op, HD_INDEX_CLOSE);
    cr_assert(hdf_has_action(out.state, "confirmed"));
    cr_assert(hdf_has_action(out.state, "followed_up"));
    cr_assert(hdf_has_action(out.state, "closed"));
    cr_assert_eq(out.state->n_recorded_actions, 9);
    /* input untouched */
    cr_assert_eq(cur->incident->version, 9);
    cr_assert_eq(cur->incident->status, INCIDENT__V1__STATUS__STATUS_RESOLVED);
    cr_assert_eq(cur->n_recorded_actions, 6);
}

Test(hd_resolved, disturbance_confirmed_at_once_and_closed_without_review)
{
    hd_state_t *cur = resolved();
    cur->incident->kind = INCIDENT__V1__KIND__KIND_DISTURBANCE;
    cur->incident->scope = INCIDENT__V1__SCOPE__SCOPE_UNSPECIFIED;
    cur->incident->severity = INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL; /* no review anyway */
    cur->incident->version = 3;
    cur->incident->resolved_at_ms = HDF_NOW;
    cur->followup_until_ms = HDF_NOW; /* window 0 */
    cur->recorded_actions =
        hdf_list(&cur->n_recorded_actions, "detected", "classified", "resolved", NULL);
    hd_transition_t out = run(cur);
    hdf_check_records(&out, 4);
    cr_assert_str_eq(out.records[0]->action, "confirmed");
    cr_assert_str_eq(out.records[0]->detail, "confirmed at once (no confirmation window)");
    cr_assert_str_eq(out.records[1]->detail, "no recipients: no final update");
    cr_assert_str_eq(out.records[2]->action, "closed");
    cr_assert_str_eq(out.records[2]->detail, "record complete (6 records)");
    cr_assert_eq(out.closed, 1);
    cr_assert_eq(out.index_op, HD_INDEX_CLOSE);
}

Test(hd_resolved, missing_classified_is_incomplete_but_closed)
{
    hd_state_t *cur = resolved();
    cur->recorded_actions = hdf_list(&cur->n_recorded_actions, "detected", "resolved", NULL);
    hd_transition_t out = run(cur);
    hdf_check_records(&out, 10);
    cr_assert_str_eq(out.records[2]->detail, "record incomplete: missing classified");
    cr_assert_eq(out.state->incident->status, INCIDENT__V1__STATUS__STATUS_CLOSED);
    cr_assert_eq(out.closed, 1);
}

Test(hd_resolved, missing_several_named)
{
    hd_state_t *cur = resolved();
    cur->recorded_actions = hdf_list(&cur->n_recorded_actions, "classified", NULL);
    hd_transition_t out = run(cur);
    cr_assert_str_eq(out.records[2]->detail, "record incomplete: missing detected, resolved");
}

Test(hd_resolved, version_0_is_incomplete)
{
    hd_state_t *cur = resolved();
    cur->incident->version = 0;
    hd_transition_t out = run(cur);
    hdf_check_records(&out, 1);
    cr_assert(hdf_contains(out.records[2]->detail, "record incomplete: missing"), "%s",
              out.records[2]->detail);
    cr_assert(hdf_contains(out.records[2]->detail, "version 0"));
}

Test(hd_resolved, final_update_to_stakeholders_and_clients)
{
    hd_state_t *cur = resolved();
    cur->incident->stakeholders =
        hdf_list(&cur->incident->n_stakeholders, "ops-lead", "technical-manager", NULL);
    cur->incident->clients = hdf_list(&cur->incident->n_clients, "acme", "globex", "initech", NULL);
    cur->incident->client_comms = INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY;
    hd_transition_t out = run(cur);
    hdf_check_records(&out, 10);
    cr_assert_eq(out.n_records, 4);
    cr_assert_str_eq(out.records[1]->action, "followed_up");
    cr_assert_str_eq(out.records[1]->detail,
                     "final update planned for 2 stakeholders and the clients");
    cr_assert_str_eq(out.records[2]->action, "notification_planned");
    /* nobody in the directory: every recipient audited, none dropped */
    cr_assert_str_eq(out.records[2]->detail,
                     "final_update: no delivery planned; audited, not sent: ops-lead: no channel, "
                     "technical-manager: no channel, client acme: no channel, client globex: no "
                     "channel, client initech: no channel");
    cr_assert_eq(out.n_deliveries, 0);
    cr_assert_str_eq(out.records[3]->action, "closed");
}

Test(hd_resolved, final_update_to_stakeholders_only)
{
    hd_state_t *cur = resolved();
    cur->incident->stakeholders = hdf_list(&cur->incident->n_stakeholders, "ops-lead", NULL);
    cur->incident->clients = hdf_list(&cur->incident->n_clients, "acme", NULL);
    cur->incident->client_comms = INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NONE;
    hd_transition_t out = run(cur);
    cr_assert_str_eq(out.records[1]->detail, "final update planned for 1 stakeholder");
    cr_assert_str_eq(out.records[2]->detail,
                     "final_update: no delivery planned; audited, not sent: ops-lead: no channel");
}

Test(hd_resolved, final_update_to_clients_only)
{
    hd_state_t *cur = resolved();
    cur->incident->clients = hdf_list(&cur->incident->n_clients, "acme", NULL);
    cur->incident->client_comms = INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY;
    hd_transition_t out = run(cur);
    cr_assert_str_eq(out.records[1]->detail,
                     "final update planned for 0 stakeholders and the clients");
    cr_assert_str_eq(out.records[2]->detail,
                     "final_update: no delivery planned; audited, not sent: client acme: no "
                     "channel");
}

Test(hd_resolved, final_update_to_all_clients_of_global_incident)
{
    hd_state_t *cur = hdf_state_resolved(INCIDENT__V1__SCOPE__SCOPE_GLOBAL, HDF_NOW - 30 * MIN_MS);
    cur->incident->severity = INCIDENT__V1__SEVERITY__SEVERITY_MAJOR;
    cur->incident->client_comms = INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY;
    hdf_rules.review_required_global = 0; /* the gate is not what this is about */
    hd_transition_t out = run(cur);
    /* "all clients" names nobody who could be reached: no plan */
    cr_assert_eq(out.n_records, 3);
    cr_assert_str_eq(out.records[1]->detail, "no recipients: no final update");
    cr_assert(out.closed);
}

Test(hd_resolved, resolve_then_close_a_disturbance)
{
    /* a disturbance goes from the detected stage straight to resolved */
    hd_alert_t open = INCIDENT__V1__ALERT__INIT;
    open.alert_id = "a-1";
    open.dedup_key = "disk-warn";
    open.action = INCIDENT__V1__ACTION__ACTION_TRIGGER;
    open.severity = INCIDENT__V1__SEVERITY__SEVERITY_WARNING;
    hd_transition_t t1;
    hd_detected_apply(&hdf_ctx, NULL, &open, "INC-1", &t1);
    cr_assert_eq(t1.state->incident->kind, INCIDENT__V1__KIND__KIND_DISTURBANCE);
    hd_alert_t fix = open;
    fix.alert_id = "a-2";
    fix.action = INCIDENT__V1__ACTION__ACTION_RESOLVE;
    hd_transition_t t2;
    hd_detected_apply(&hdf_ctx, t1.state, &fix, "unused", &t2);
    cr_assert_eq(t2.n_outputs, 1);
    cr_assert_eq(t2.outputs[0].topic, HD_TOPIC_RESOLVED);
    hd_transition_t t3 = run(t2.state);
    hdf_check_records(&t3, 4);
    cr_assert_str_eq(t3.records[2]->detail, "record complete (6 records)");
    cr_assert_eq(t3.state->incident->status, INCIDENT__V1__STATUS__STATUS_CLOSED);
}
