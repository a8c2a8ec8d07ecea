/*
 * test_hd_escalated.c — the escalated stage (handlers/escalated.c): arming
 * the ack timer, re-escalating when it fires, and stopping at the top level
 * or once acknowledged; and the other fired timers hd_timer_apply() takes
 * (handlers/followup.c): confirmation, client updates, review reminders.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "hd_fixture.h"

#define ACTOR "incidentd/escalated"

static void setup(void) { hdf_setup(ACTOR, "INC-1:5"); }

TestSuite(hd_escalated, .init = setup, .fini = hdf_teardown);

#define EV_AT (HDF_NOW - 500)
#define ACK_MS 1800000LL

static hd_state_t *escalated(uint32_t level)
{
    hd_state_t *st =
        hdf_state_new(INCIDENT__V1__STAGE__STAGE_ESCALATED, INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    st->incident->escalation_level = level;
    st->incident->owner_role = INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER;
    return st;
}

static hd_transition_t arm(const hd_state_t *cur, const hd_state_t *ev_src)
{
    hd_transition_t out;
    memset(&out, 0x5a, sizeof(out));
    hd_escalated_apply(&hdf_ctx, cur, hdf_event_of(ev_src, EV_AT), &out);
    return out;
}

static hd_timer_t *timer_new(uint32_t level)
{
    hd_timer_t *t = arena_alloc(&hdf_arena, sizeof(*t));
    hd_timer_t init = INCIDENTD__V1__TIMER_FIRED__INIT;
    *t = init;
    t->incident_id = "INC-1";
    t->level = level;
    t->due_ms = HDF_NOW;
    return t;
}

static hd_transition_t fire(const hd_state_t *cur, uint32_t level)
{
    hd_transition_t out;
    memset(&out, 0x5a, sizeof(out));
    hd_timer_apply(&hdf_ctx, cur, timer_new(level), &out);
    return out;
}

static hd_transition_t fire_kind(const hd_state_t *cur, hd_timer_kind_t kind, uint32_t level)
{
    hd_transition_t out;
    memset(&out, 0x5a, sizeof(out));
    hd_timer_t *t = timer_new(level);
    t->kind = (Incidentd__V1__TimerKind)kind;
    hd_timer_apply(&hdf_ctx, cur, t, &out);
    return out;
}

static void check_armed(const hd_transition_t *out, uint32_t level)
{
    cr_assert_eq(out->verdict, HD_APPLY);
    cr_assert_null(out->state);
    cr_assert_eq(out->n_records, 0);
    cr_assert_eq(out->n_outputs, 0);
    cr_assert_eq(out->timer_op, HD_TIMER_ARM);
    cr_assert_eq(out->timer_level, level);
    cr_assert_eq(out->timer_due_ms, EV_AT + ACK_MS);
    cr_assert_eq(out->index_op, HD_INDEX_NONE);
}

/* ---- arming ---------------------------------------------------------------------- */

Test(hd_escalated, arms_timer_at_current_level)
{
    hd_state_t *cur = escalated(1);
    hd_transition_t out = arm(cur, cur);
    check_armed(&out, 1);
}

Test(hd_escalated, arms_timer_for_local_level_0)
{
    hd_state_t *cur = escalated(0);
    cur->incident->scope = INCIDENT__V1__SCOPE__SCOPE_LOCAL;
    hd_transition_t out = arm(cur, cur);
    check_armed(&out, 0);
}

Test(hd_escalated, timeout_configurable)
{
    hdf_rules.ack_timeout_ms = 5000;
    hd_state_t *cur = escalated(2);
    hd_transition_t out = arm(cur, cur);
    cr_assert_eq(out.timer_op, HD_TIMER_ARM);
    cr_assert_eq(out.timer_due_ms, EV_AT + 5000);
}

Test(hd_escalated, stale_event_level_not_armed)
{
    hd_state_t *cur = escalated(2);
    hd_transition_t out = arm(cur, escalated(1));
    hdf_check_noop(&out);
}

Test(hd_escalated, no_timer_at_max_level)
{
    hd_state_t *cur = escalated(3);
    hd_transition_t out = arm(cur, cur);
    hdf_check_noop(&out);
    hdf_rules.max_escalation_level = 4;
    out = arm(cur, cur);
    check_armed(&out, 3);
}

Test(hd_escalated, no_timer_once_acknowledged)
{
    hd_state_t *cur = escalated(1);
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED;
    hd_transition_t out = arm(cur, cur);
    hdf_check_noop(&out);
}

Test(hd_escalated, no_timer_when_not_escalated_or_not_incident)
{
    hd_state_t *cur = escalated(1);
    cur->incident->stage = INCIDENT__V1__STAGE__STAGE_SCOPED;
    hd_transition_t out = arm(cur, cur);
    hdf_check_noop(&out);
    cur = escalated(1);
    cur->incident->kind = INCIDENT__V1__KIND__KIND_DISTURBANCE;
    out = arm(cur, cur);
    hdf_check_noop(&out);
    out = arm(NULL, escalated(1));
    hdf_check_noop(&out);
    cur = escalated(1);
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_RESOLVED;
    out = arm(cur, cur);
    hdf_check_noop(&out);
}

Test(hd_escalated, invalid_event_rejected)
{
    hd_transition_t out;
    hd_escalated_apply(&hdf_ctx, escalated(1), NULL, &out);
    cr_assert_eq(out.verdict, HD_REJECT);
    cr_assert(strlen(out.error) > 0);
}

/* ---- firing --------------------------------------------------------------------- */

Test(hd_escalated, timer_escalates_one_level)
{
    const char *level2[] = {"vp-eng", "cto"};
    hdf_rules.level_stakeholders[2] = level2;
    hdf_rules.n_level_stakeholders[2] = 2;
    hd_state_t *cur = escalated(1);
    cur->incident->stakeholders = hdf_list(&cur->incident->n_stakeholders, "cto", NULL);
    const hd_contact_t contacts[] = {{"cto", 0, HD_CHANNEL_EMAIL | HD_CHANNEL_SLACK},
                                     {"vp-eng", 0, HD_CHANNEL_WEBHOOK}};
    hdf_rules.contacts = contacts;
    hdf_rules.n_contacts = 2;
    hd_transition_t out = fire(cur, 1);
    hdf_check_records(&out, 6);
    cr_assert_eq(out.n_records, 2);
    cr_assert_str_eq(out.records[0]->action, "escalated");
    /* the re-escalation notice: owner (unnamed) and everyone informed at level 2 */
    cr_assert_str_eq(out.records[1]->action, "notification_planned");
    cr_assert_str_eq(out.records[1]->detail,
                     "reescalation (level 2): 3 deliveries planned: INC-1:7:1 -> cto/email, "
                     "INC-1:7:2 -> cto/slack, INC-1:7:3 -> vp-eng/webhook; audited, not sent: "
                     "owner (unnamed): no channel");
    cr_assert_eq(out.n_deliveries, 3);
    cr_assert_str_eq(out.deliveries[2].id, "INC-1:7:3");
    cr_assert_str_eq(out.deliveries[2].recipient, "vp-eng");
    cr_assert_eq(out.deliveries[2].channel, HD_CHANNEL_WEBHOOK);
    cr_assert_eq(out.deliveries[2].notice, HD_NOTICE_REESCALATION);
    cr_assert_eq(out.records[0]->stage, INCIDENT__V1__STAGE__STAGE_ESCALATED);
    cr_assert(hdf_contains(out.records[0]->detail, "not acknowledged within 30 min: level 1 -> 2"),
              "%s", out.records[0]->detail);
    const hd_incident_t *inc = out.state->incident;
    cr_assert_eq(inc->escalation_level, 2);
    cr_assert_eq(inc->n_stakeholders, 2);
    cr_assert_str_eq(inc->stakeholders[0], "cto");
    cr_assert_str_eq(inc->stakeholders[1], "vp-eng");
    cr_assert_eq(out.n_outputs, 1);
    cr_assert_eq(out.outputs[0].topic, HD_TOPIC_ESCALATED);
    cr_assert_eq(out.outputs[0].snapshot->escalation_level, 2);
    cr_assert_eq(out.timer_op, HD_TIMER_NONE);
    /* input untouched */
    cr_assert_eq(cur->incident->escalation_level, 1);
    cr_assert_eq(cur->incident->n_stakeholders, 1);
}

Test(hd_escalated, timer_from_level_0_informs_tm)
{
    const char *level1[] = {"duty-manager"};
    hdf_rules.level_stakeholders[1] = level1;
    hdf_rules.n_level_stakeholders[1] = 1;
    hd_state_t *cur = escalated(0);
    cur->incident->scope = INCIDENT__V1__SCOPE__SCOPE_LOCAL;
    hd_transition_t out = fire(cur, 0);
    hdf_check_records(&out, 6);
    const hd_incident_t *inc = out.state->incident;
    cr_assert_eq(inc->escalation_level, 1);
    cr_assert_eq(inc->n_stakeholders, 2);
    cr_assert_str_eq(inc->stakeholders[0], "technical-manager");
    cr_assert_str_eq(inc->stakeholders[1], "duty-manager");
    cr_assert(hdf_contains(out.records[0]->detail, "level 0 -> 1"));
}

Test(hd_escalated, timer_of_other_level_ignored)
{
    hd_transition_t out = fire(escalated(2), 1);
    hdf_check_noop(&out);
    out = fire(escalated(1), 2);
    hdf_check_noop(&out);
}

Test(hd_escalated, timer_stops_at_level_3)
{
    hd_transition_t out = fire(escalated(3), 3);
    hdf_check_noop(&out);
}

Test(hd_escalated, timer_ignored_once_acknowledged)
{
    hd_state_t *cur = escalated(1);
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED;
    hd_transition_t out = fire(cur, 1);
    hdf_check_noop(&out);
}

Test(hd_escalated, timer_ignored_for_resolved_or_missing)
{
    hd_state_t *cur = escalated(1);
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_RESOLVED;
    hd_transition_t out = fire(cur, 1);
    hdf_check_noop(&out);
    out = fire(NULL, 1);
    hdf_check_noop(&out);
}

Test(hd_escalated, missing_timer_rejected)
{
    hd_transition_t out;
    hd_timer_apply(&hdf_ctx, escalated(1), NULL, &out);
    cr_assert_eq(out.verdict, HD_REJECT);
}

Test(hd_escalated, ack_between_arm_and_fire_stops_escalation)
{
    hd_state_t *cur = escalated(1);
    hd_transition_t out = arm(cur, cur);
    check_armed(&out, 1);
    /* the detected stage acknowledges before the timer fires */
    hd_alert_t ack = INCIDENT__V1__ALERT__INIT;
    ack.alert_id = "ack-1";
    ack.dedup_key = "db-down";
    ack.action = INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE;
    ack.actor = "alice";
    hd_transition_t acked;
    hd_detected_apply(&hdf_ctx, cur, &ack, "unused", &acked);
    cr_assert_eq(acked.timer_op, HD_TIMER_CANCEL);
    out = fire(acked.state, 1);
    hdf_check_noop(&out);
}

Test(hd_escalated, escalates_to_3_then_stops)
{
    hd_state_t *st = escalated(1);
    for (uint32_t level = 1; level < 3; level++) {
        hd_transition_t armed = arm(st, st);
        check_armed(&armed, level);
        hd_transition_t fired = fire(st, armed.timer_level);
        hdf_check_records(&fired, st->incident->version + 1);
        cr_assert_eq(fired.state->incident->escalation_level, level + 1);
        st = fired.state;
    }
    cr_assert_eq(st->incident->escalation_level, 3);
    /* each escalation: escalated + the re-escalation notice planned */
    cr_assert_eq(st->incident->version, 9);
    hd_transition_t out = arm(st, st);
    hdf_check_noop(&out);
    out = fire(st, 3);
    hdf_check_noop(&out);
}

/* ---- the other timer kinds ------------------------------------------------------------ */

#define MIN_MS 60000LL

Test(hd_escalated, timer_kind_values_match_the_proto)
{
    cr_assert_eq((int)HD_TIMER_ACK, INCIDENTD__V1__TIMER_KIND__TIMER_KIND_ACK);
    cr_assert_eq((int)HD_TIMER_CONFIRM, INCIDENTD__V1__TIMER_KIND__TIMER_KIND_CONFIRM);
    cr_assert_eq((int)HD_TIMER_CLIENT_UPDATE, INCIDENTD__V1__TIMER_KIND__TIMER_KIND_CLIENT_UPDATE);
    cr_assert_eq((int)HD_TIMER_REVIEW, INCIDENTD__V1__TIMER_KIND__TIMER_KIND_REVIEW);
    cr_assert_str_eq(hd_timer_kind_name(HD_TIMER_CLIENT_UPDATE), "client_update");
    cr_assert_str_eq(hd_timer_kind_name((hd_timer_kind_t)9), "unknown");
}

Test(hd_escalated, unknown_timer_kind_rejected)
{
    hd_transition_t out = fire_kind(escalated(1), (hd_timer_kind_t)7, 1);
    cr_assert_eq(out.verdict, HD_REJECT);
    cr_assert_str_eq(out.error, "timer: unknown kind 7");
}

/* A GLOBAL incident under NOTIFY whose client update timer seq 2 is armed. */
static hd_state_t *notifying(uint32_t level)
{
    hd_state_t *st = escalated(level);
    st->incident->client_comms = INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY;
    st->incident->next_client_update_due_ms = HDF_NOW;
    st->client_update_seq = 2;
    return st;
}

Test(hd_escalated, client_update_due_is_recorded_emitted_and_rearmed)
{
    hd_state_t *cur = notifying(1);
    hd_transition_t out = fire_kind(cur, HD_TIMER_CLIENT_UPDATE, 2);
    hdf_check_records(&out, 6);
    cr_assert_eq(out.n_records, 2);
    cr_assert_str_eq(out.records[0]->action, "client_update_due");
    cr_assert(hdf_contains(out.records[0]->detail, "1 missed in a row"), "%s",
              out.records[0]->detail);
    /* the reminder to the owner (no roster: unnamed, no channel) */
    cr_assert_str_eq(out.records[1]->action, "notification_planned");
    cr_assert_str_eq(out.records[1]->detail, "client_update_due: no delivery planned; audited, "
                                             "not sent: owner (unnamed): no channel");
    cr_assert_eq(out.n_outputs, 1);
    cr_assert_eq(out.outputs[0].topic, HD_TOPIC_ESCALATED);
    const hd_timer_effect_t *t = hdf_timer(&out, HD_TIMER_ARM, HD_TIMER_CLIENT_UPDATE);
    cr_assert_eq(t->level, 3);
    cr_assert_eq(t->due_ms, HDF_NOW + 30 * MIN_MS); /* GLOBAL: every 30 min */
    cr_assert_eq(out.state->missed_client_updates, 1);
    cr_assert_eq(out.state->incident->next_client_update_due_ms, HDF_NOW + 30 * MIN_MS);
    cr_assert_eq(out.state->incident->escalation_level, 1);
}

Test(hd_escalated, second_missed_client_update_escalates)
{
    hd_state_t *cur = notifying(1);
    cur->missed_client_updates = 1;
    hd_transition_t out = fire_kind(cur, HD_TIMER_CLIENT_UPDATE, 2);
    hdf_check_records(&out, 6);
    cr_assert_eq(out.n_records, 4);
    cr_assert_str_eq(out.records[0]->action, "client_update_due");
    cr_assert(hdf_contains(out.records[0]->detail, "2 missed in a row"));
    cr_assert_str_eq(out.records[1]->action, "notification_planned");
    cr_assert_str_eq(out.records[2]->action, "escalated");
    cr_assert(
        hdf_contains(out.records[2]->detail, "2 client updates missed in a row: level 1 -> 2"),
        "%s", out.records[2]->detail);
    cr_assert_str_eq(out.records[3]->action, "notification_planned");
    cr_assert(hdf_contains(out.records[3]->detail, "reescalation (level 2)"), "%s",
              out.records[3]->detail);
    cr_assert_eq(out.state->incident->escalation_level, 2);
    cr_assert_eq(out.state->missed_client_updates, 0);
    cr_assert_eq(out.n_outputs, 1); /* one event on escalated, with the final snapshot */
}

Test(hd_escalated, client_update_at_top_level_only_recorded)
{
    hd_state_t *cur = notifying(3);
    cur->missed_client_updates = 5;
    hd_transition_t out = fire_kind(cur, HD_TIMER_CLIENT_UPDATE, 2);
    cr_assert_eq(out.n_records, 2); /* client_update_due + the owner's reminder */
    cr_assert_eq(out.state->incident->escalation_level, 3);
}

Test(hd_escalated, stale_or_inapplicable_client_update_timer_changes_nothing)
{
    hd_state_t *cur = notifying(1);
    hd_transition_t out = fire_kind(cur, HD_TIMER_CLIENT_UPDATE, 1); /* reset since */
    hdf_check_noop(&out);
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_RESOLVED;
    out = fire_kind(cur, HD_TIMER_CLIENT_UPDATE, 2);
    hdf_check_noop(&out);
    cur = notifying(1);
    cur->incident->client_comms = INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NONE;
    out = fire_kind(cur, HD_TIMER_CLIENT_UPDATE, 2);
    hdf_check_noop(&out);
    out = fire_kind(NULL, HD_TIMER_CLIENT_UPDATE, 2);
    hdf_check_noop(&out);
}

Test(hd_escalated, acknowledged_incident_still_owes_client_updates)
{
    hd_state_t *cur = notifying(1);
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED;
    hd_transition_t out = fire_kind(cur, HD_TIMER_CLIENT_UPDATE, 2);
    cr_assert_str_eq(out.records[0]->action, "client_update_due");
}

/* ---- confirmation ----------------------------------------------------------------------- */

Test(hd_escalated, confirm_timer_on_resolved_incident_confirms)
{
    hd_state_t *cur = hdf_state_resolved(INCIDENT__V1__SCOPE__SCOPE_LOCAL, HDF_NOW - 10 * MIN_MS);
    hd_transition_t out = fire_kind(cur, HD_TIMER_CONFIRM, 0);
    hdf_check_records(&out, 10);
    cr_assert_str_eq(out.records[0]->action, "confirmed");
    cr_assert_eq(out.index_op, HD_INDEX_CLOSE);
    cr_assert(out.closed);
}

Test(hd_escalated, stale_confirm_timer_changes_nothing)
{
    hd_state_t *cur = hdf_state_resolved(INCIDENT__V1__SCOPE__SCOPE_LOCAL, HDF_NOW - 10 * MIN_MS);
    cur->incident->reopen_count = 1; /* reopened and resolved again: level 1 is armed */
    hd_transition_t out = fire_kind(cur, HD_TIMER_CONFIRM, 0);
    hdf_check_noop(&out);
    cur = escalated(1); /* reopened: open again */
    out = fire_kind(cur, HD_TIMER_CONFIRM, 0);
    hdf_check_noop(&out);
    cur = hdf_state_resolved(INCIDENT__V1__SCOPE__SCOPE_LOCAL, HDF_NOW - 10 * MIN_MS);
    cur->incident->confirmed_at_ms = HDF_NOW - 1; /* confirmed already */
    out = fire_kind(cur, HD_TIMER_CONFIRM, 0);
    hdf_check_noop(&out);
}

/* ---- completion reminders ------------------------------------------------------------- */

/* A GLOBAL incident confirmed and blocked at the gate, REVIEW timer seq 1. */
static hd_state_t *blocked(uint32_t level)
{
    hd_state_t *st =
        hdf_state_resolved(INCIDENT__V1__SCOPE__SCOPE_GLOBAL, HDF_NOW - 5 * 24 * 60 * MIN_MS);
    st->incident->escalation_level = level;
    st->incident->confirmed_at_ms = HDF_NOW - 5 * 24 * 60 * MIN_MS + 30 * MIN_MS;
    st->incident->owner = "tina";
    st->review_seq = 1;
    return st;
}

Test(hd_escalated, review_timer_reminds_owner_and_escalates)
{
    hd_state_t *cur = blocked(1);
    hd_transition_t out = fire_kind(cur, HD_TIMER_REVIEW, 1);
    hdf_check_records(&out, 10);
    cr_assert_eq(out.n_records, 4);
    cr_assert_str_eq(out.records[0]->action, "completion_blocked");
    cr_assert_str_eq(out.records[0]->detail,
                     "reminder to tina: still 2 missing after 5 d: review not submitted; "
                     "no preventive task");
    cr_assert_str_eq(out.records[1]->action, "notification_planned");
    cr_assert_str_eq(out.records[1]->detail, "completion_reminder: no delivery planned; audited, "
                                             "not sent: tina: no channel");
    cr_assert_str_eq(out.records[2]->action, "escalated");
    cr_assert(hdf_contains(out.records[2]->detail, "completion overdue by 5 d: level 1 -> 2"), "%s",
              out.records[2]->detail);
    cr_assert_str_eq(out.records[3]->action, "notification_planned");
    cr_assert_eq(out.state->incident->escalation_level, 2);
    cr_assert_eq(out.state->incident->status, INCIDENT__V1__STATUS__STATUS_RESOLVED);
    cr_assert_eq(out.state->incident->stage, INCIDENT__V1__STAGE__STAGE_RESOLVED);
    cr_assert(hdf_has_output(&out, HD_TOPIC_ESCALATED));
    const hd_timer_effect_t *t = hdf_timer(&out, HD_TIMER_ARM, HD_TIMER_REVIEW);
    cr_assert_eq(t->level, 2);
    cr_assert_eq(t->due_ms, HDF_NOW + 5 * 24 * 60 * MIN_MS);
    cr_assert_eq(out.closed, 0);
}

Test(hd_escalated, review_timer_at_top_level_reminds_only)
{
    hd_state_t *cur = blocked(3);
    hd_transition_t out = fire_kind(cur, HD_TIMER_REVIEW, 1);
    cr_assert_eq(out.n_records, 2); /* completion_blocked + the owner's reminder */
    cr_assert_str_eq(out.records[0]->action, "completion_blocked");
    cr_assert_eq(out.n_outputs, 0);
    hdf_timer(&out, HD_TIMER_ARM, HD_TIMER_REVIEW);
}

Test(hd_escalated, stale_review_timer_changes_nothing)
{
    hd_state_t *cur = blocked(1);
    hd_transition_t out = fire_kind(cur, HD_TIMER_REVIEW, 0);
    hdf_check_noop(&out);
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_CLOSED;
    out = fire_kind(cur, HD_TIMER_REVIEW, 1);
    hdf_check_noop(&out);
    cur = blocked(1);
    cur->incident->confirmed_at_ms = 0; /* not confirmed yet: nothing to remind of */
    out = fire_kind(cur, HD_TIMER_REVIEW, 1);
    hdf_check_noop(&out);
}

Test(hd_escalated, review_timer_closes_when_rules_need_nothing_any_more)
{
    hdf_rules.review_required_global = 0;
    hd_state_t *cur = blocked(1);
    hd_transition_t out = fire_kind(cur, HD_TIMER_REVIEW, 1);
    cr_assert_eq(out.n_records, 1);
    cr_assert_str_eq(out.records[0]->action, "closed");
    cr_assert(out.closed);
    hdf_timer(&out, HD_TIMER_CANCEL, HD_TIMER_REVIEW);
}
