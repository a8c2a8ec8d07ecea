/*
 * test_hd_scoped.c — the scoped stage (handlers/scoped.c): the global action
 * plan with its resolution meeting, local handling under guidelines, local
 * CRITICAL informing the TM, the client communication decision and the
 * client update plan it starts.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "hd_fixture.h"

#define ACTOR "incidentd/scoped"

static void setup(void) { hdf_setup(ACTOR, "INC-1:5"); }

static int strv_has(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return 1;
    return 0;
}

TestSuite(hd_scoped, .init = setup, .fini = hdf_teardown);

static hd_transition_t run(const hd_state_t *cur)
{
    hd_transition_t out;
    memset(&out, 0x5a, sizeof(out));
    const hd_state_t *ev_src =
        cur ? cur
            : hdf_state_new(INCIDENT__V1__STAGE__STAGE_SCOPED, INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    hd_scoped_apply(&hdf_ctx, cur, hdf_event_of(ev_src, HDF_NOW - 10), &out);
    return out;
}

static hd_state_t *scoped(Incident__V1__Scope scope)
{
    hd_state_t *st = hdf_state_new(INCIDENT__V1__STAGE__STAGE_SCOPED, scope);
    st->incident->owner_role = scope == INCIDENT__V1__SCOPE__SCOPE_GLOBAL
                                   ? INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER
                                   : INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER;
    st->recorded_actions =
        hdf_list(&st->n_recorded_actions, "detected", "classified", "scoped", "assigned", NULL);
    return st;
}

static const char *global_people[] = {"ops-lead", "cto"};
static const char *level1_people[] = {"cto", "on-call"};

static void people_configure(void)
{
    hdf_rules.global_stakeholders = global_people;
    hdf_rules.n_global_stakeholders = 2;
    hdf_rules.level_stakeholders[1] = level1_people;
    hdf_rules.n_level_stakeholders[1] = 2;
}

/* ---- no-ops --------------------------------------------------------------------- */

Test(hd_scoped, nothing_without_incident)
{
    hd_transition_t out = run(NULL);
    hdf_check_noop(&out);
}

Test(hd_scoped, disturbance_never_escalated)
{
    hd_state_t *cur = scoped(INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    cur->incident->kind = INCIDENT__V1__KIND__KIND_DISTURBANCE;
    hd_transition_t out = run(cur);
    hdf_check_noop(&out);
}

Test(hd_scoped, only_at_stage_scoped)
{
    hd_state_t *cur = scoped(INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cur->incident->stage = INCIDENT__V1__STAGE__STAGE_ESCALATED;
    hd_transition_t out = run(cur);
    hdf_check_noop(&out);
    cur->incident->stage = INCIDENT__V1__STAGE__STAGE_CLASSIFIED;
    out = run(cur);
    hdf_check_noop(&out);
}

Test(hd_scoped, resolved_incident_not_escalated)
{
    hd_state_t *cur = scoped(INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_RESOLVED;
    hd_transition_t out = run(cur);
    hdf_check_noop(&out);
}

Test(hd_scoped, invalid_event_rejected)
{
    hd_transition_t out;
    hd_event_t *ev = hdf_event_of(scoped(INCIDENT__V1__SCOPE__SCOPE_LOCAL), HDF_NOW);
    ev->incident = NULL;
    hd_scoped_apply(&hdf_ctx, scoped(INCIDENT__V1__SCOPE__SCOPE_LOCAL), ev, &out);
    cr_assert_eq(out.verdict, HD_REJECT);
    cr_assert(strlen(out.error) > 0);
    cr_assert_null(out.state);
}

/* ---- global --------------------------------------------------------------------- */

Test(hd_scoped, global_runs_action_plan)
{
    people_configure();
    hd_state_t *cur = scoped(INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cur->incident->stakeholders = hdf_list(&cur->incident->n_stakeholders, "owner", NULL);
    hd_transition_t out = run(cur);
    hdf_check_records(&out, 6);
    cr_assert_eq(out.n_records, 4);
    const hd_record_t *esc = out.records[0], *plan = out.records[1], *meeting = out.records[2],
                      *notified = out.records[3];
    cr_assert_str_eq(esc->action, "escalated");
    cr_assert_eq(esc->stage, INCIDENT__V1__STAGE__STAGE_ESCALATED);
    cr_assert_str_eq(esc->detail,
                     "global: Technical Manager runs the action plan; level 1; informed: "
                     "owner, ops-lead, cto, on-call; resolution meeting scheduled");
    /* the client decision is already in the first record's snapshot */
    cr_assert_eq(esc->snapshot->client_comms, INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY);
    cr_assert_eq(esc->snapshot->escalation_level, 1);
    /* the escalation notice: owner and stakeholders, nobody in the directory */
    cr_assert_str_eq(plan->action, "notification_planned");
    cr_assert_str_eq(plan->detail, "escalation (level 1): no delivery planned; audited, not sent: "
                                   "owner (unnamed): no channel, owner: no channel, ops-lead: no "
                                   "channel, cto: no channel, on-call: no channel");
    cr_assert_eq(out.n_deliveries, 0);
    cr_assert_str_eq(meeting->action, "meeting_planned");
    cr_assert_str_eq(meeting->detail, "resolution meeting planned; attendees: "
                                      "TECHNICAL_MANAGER (none named), owner, ops-lead, cto, "
                                      "on-call");
    cr_assert_str_eq(notified->action, "client_notified");
    cr_assert_eq(notified->stage, INCIDENT__V1__STAGE__STAGE_ESCALATED);
    cr_assert(hdf_contains(notified->detail, "global notice"), "%s", notified->detail);
    cr_assert(hdf_contains(notified->detail, "client updates every 30 min, next due at"), "%s",
              notified->detail);
    /* the client update plan: every 30 min for a global incident */
    const hd_timer_effect_t *upd = hdf_timer(&out, HD_TIMER_ARM, HD_TIMER_CLIENT_UPDATE);
    cr_assert_eq(upd->due_ms, HDF_NOW + 30 * 60000);
    cr_assert_eq(upd->level, 1);
    cr_assert_eq(out.n_timers, 1);
    cr_assert_eq(out.state->client_update_seq, 1);
    cr_assert_eq(out.state->incident->next_client_update_due_ms, HDF_NOW + 30 * 60000);
    cr_assert_eq(notified->snapshot->next_client_update_due_ms, HDF_NOW + 30 * 60000);

    const hd_incident_t *inc = out.state->incident;
    cr_assert_eq(inc->stage, INCIDENT__V1__STAGE__STAGE_ESCALATED);
    cr_assert_eq(inc->escalation_level, 1);
    cr_assert(inc->resolution_meeting);
    cr_assert_eq(inc->client_comms, INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY);
    cr_assert_eq(inc->n_stakeholders, 4);
    cr_assert_str_eq(inc->stakeholders[0], "owner");
    cr_assert_str_eq(inc->stakeholders[1], "ops-lead");
    cr_assert_str_eq(inc->stakeholders[2], "cto");
    cr_assert_str_eq(inc->stakeholders[3], "on-call");
    cr_assert_eq(inc->version, 9);
    cr_assert_eq(out.n_outputs, 1);
    cr_assert_eq(out.outputs[0].topic, HD_TOPIC_ESCALATED);
    cr_assert_eq(out.timer_op, HD_TIMER_NONE);
    cr_assert(hdf_has_action(out.state, "escalated"));
    cr_assert(hdf_has_action(out.state, "meeting_planned"));
    cr_assert(hdf_has_action(out.state, "client_notified"));
    /* input untouched */
    cr_assert_eq(cur->incident->n_stakeholders, 1);
    cr_assert_eq(cur->incident->escalation_level, 0);
    cr_assert_eq(cur->incident->stage, INCIDENT__V1__STAGE__STAGE_SCOPED);
}

Test(hd_scoped, global_without_stakeholders_configured)
{
    hd_transition_t out = run(scoped(INCIDENT__V1__SCOPE__SCOPE_GLOBAL));
    hdf_check_records(&out, 6);
    cr_assert(hdf_contains(out.records[0]->detail, "informed: none"), "%s", out.records[0]->detail);
    cr_assert_eq(out.state->incident->n_stakeholders, 0);
}

Test(hd_scoped, global_keeps_higher_level)
{
    hd_state_t *cur = scoped(INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cur->incident->escalation_level = 2;
    hd_transition_t out = run(cur);
    cr_assert_eq(out.state->incident->escalation_level, 2);
    cr_assert(hdf_contains(out.records[0]->detail, "level 2"));
}

Test(hd_scoped, global_with_clients_notifies)
{
    hd_state_t *cur = scoped(INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cur->incident->clients = hdf_list(&cur->incident->n_clients, "acme", "globex", NULL);
    hd_transition_t out = run(cur);
    cr_assert_eq(out.n_records, 4);
    cr_assert_str_eq(out.records[3]->action, "client_notified");
    cr_assert(hdf_contains(out.records[3]->detail, "2 affected clients"), "%s",
              out.records[3]->detail);
}

Test(hd_scoped, global_meeting_names_the_owner)
{
    hd_state_t *cur = scoped(INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cur->incident->owner = "tina";
    hd_transition_t out = run(cur);
    const hd_record_t *meeting = out.records[hdf_action_index(&out, "meeting_planned")];
    cr_assert_str_eq(meeting->detail, "resolution meeting planned; attendees: tina");
}

/* ---- local ---------------------------------------------------------------------- */

Test(hd_scoped, local_without_clients_is_handled_by_csm)
{
    const hd_guideline_t guidelines[] = {{"*", "standard runbook"}, {"db", "fail over to replica"}};
    hdf_rules.guidelines = guidelines;
    hdf_rules.n_guidelines = 2;
    hd_state_t *cur = scoped(INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    hd_transition_t out = run(cur);
    hdf_check_records(&out, 6);
    cr_assert_eq(out.n_records, 2);
    cr_assert_str_eq(out.records[0]->action, "handled");
    cr_assert_str_eq(out.records[1]->action, "notification_planned");
    cr_assert_str_eq(out.records[1]->detail, "escalation (level 0): no delivery planned; audited, "
                                             "not sent: owner (unnamed): no channel");
    cr_assert_eq(out.records[0]->stage, INCIDENT__V1__STAGE__STAGE_ESCALATED);
    cr_assert_str_eq(out.records[0]->detail,
                     "local: Customer Service Manager under guideline 'fail over to "
                     "replica'; level 0");
    const hd_incident_t *inc = out.state->incident;
    cr_assert_eq(inc->escalation_level, 0);
    cr_assert_eq(inc->stage, INCIDENT__V1__STAGE__STAGE_ESCALATED);
    cr_assert_not(inc->resolution_meeting);
    cr_assert_eq(inc->n_stakeholders, 0);
    cr_assert_eq(inc->client_comms, INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NONE);
    cr_assert_str_eq(out.state->guideline, "fail over to replica");
    cr_assert_eq(out.n_outputs, 1);
    cr_assert_eq(out.outputs[0].topic, HD_TOPIC_ESCALATED);
    cr_assert_not(hdf_has_action(out.state, "client_notified"));
    cr_assert_str_eq(cur->guideline, "");
}

Test(hd_scoped, local_uses_default_guideline)
{
    const hd_guideline_t guidelines[] = {{"web", "restart web"}, {"", "standard runbook"}};
    hdf_rules.guidelines = guidelines;
    hdf_rules.n_guidelines = 2;
    hd_transition_t out = run(scoped(INCIDENT__V1__SCOPE__SCOPE_LOCAL));
    cr_assert_str_eq(out.state->guideline, "standard runbook");
    cr_assert(hdf_contains(out.records[0]->detail, "guideline 'standard runbook'"));
}

Test(hd_scoped, local_without_guideline)
{
    hd_transition_t out = run(scoped(INCIDENT__V1__SCOPE__SCOPE_LOCAL));
    cr_assert_str_eq(out.state->guideline, "");
    cr_assert(hdf_contains(out.records[0]->detail, "guideline 'none'"), "%s",
              out.records[0]->detail);
}

Test(hd_scoped, local_with_clients_notifies_them)
{
    hd_state_t *cur = scoped(INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    cur->incident->clients = hdf_list(&cur->incident->n_clients, "acme", "globex", "initech", NULL);
    hd_transition_t out = run(cur);
    hdf_check_records(&out, 6);
    cr_assert_eq(out.n_records, 3);
    cr_assert_str_eq(out.records[0]->action, "handled");
    cr_assert_eq(out.records[0]->snapshot->client_comms,
                 INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY);
    cr_assert_str_eq(out.records[1]->action, "notification_planned");
    cr_assert_str_eq(out.records[2]->action, "client_notified");
    cr_assert(hdf_contains(out.records[2]->detail, "3 affected clients notified"), "%s",
              out.records[2]->detail);
    cr_assert_eq(out.state->incident->client_comms,
                 INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY);
    cr_assert_eq(out.state->incident->version, 8);
    cr_assert_not(hdf_has_action(out.state, "meeting_planned"));
    /* the client update plan: every 60 min for a local incident */
    const hd_timer_effect_t *upd = hdf_timer(&out, HD_TIMER_ARM, HD_TIMER_CLIENT_UPDATE);
    cr_assert_eq(upd->due_ms, HDF_NOW + 60 * 60000);
    cr_assert_eq(out.state->incident->next_client_update_due_ms, HDF_NOW + 60 * 60000);
}

Test(hd_scoped, client_update_interval_configurable)
{
    hdf_rules.client_update_local_ms = 15 * 60000;
    hd_state_t *cur = scoped(INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    cur->incident->clients = hdf_list(&cur->incident->n_clients, "acme", NULL);
    cur->client_update_seq = 4; /* widened or scoped again: a new timer */
    hd_transition_t out = run(cur);
    const hd_timer_effect_t *upd = hdf_timer(&out, HD_TIMER_ARM, HD_TIMER_CLIENT_UPDATE);
    cr_assert_eq(upd->due_ms, HDF_NOW + 15 * 60000);
    cr_assert_eq(upd->level, 5);
}

Test(hd_scoped, no_client_update_plan_without_notify)
{
    hd_transition_t out = run(scoped(INCIDENT__V1__SCOPE__SCOPE_LOCAL));
    cr_assert_eq(out.n_timers, 0);
    cr_assert_eq(out.state->incident->next_client_update_due_ms, 0);
}

Test(hd_scoped, local_critical_informs_tm)
{
    people_configure();
    hd_state_t *cur = scoped(INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    cur->incident->severity = INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL;
    hd_transition_t out = run(cur);
    hdf_check_records(&out, 6);
    cr_assert_eq(out.n_records, 2);
    cr_assert_str_eq(out.records[0]->action, "escalated");
    cr_assert_str_eq(out.records[1]->action, "notification_planned");
    cr_assert(hdf_contains(out.records[0]->detail, "local critical"), "%s", out.records[0]->detail);
    cr_assert(hdf_contains(out.records[0]->detail, "Technical Manager informed"));
    const hd_incident_t *inc = out.state->incident;
    cr_assert_eq(inc->escalation_level, 1);
    cr_assert_eq(inc->stage, INCIDENT__V1__STAGE__STAGE_ESCALATED);
    cr_assert_not(inc->resolution_meeting);
    cr_assert_eq(inc->n_stakeholders, 3);
    cr_assert_str_eq(inc->stakeholders[0], "technical-manager");
    cr_assert(strv_has(inc->stakeholders, inc->n_stakeholders, "cto"));
    cr_assert(strv_has(inc->stakeholders, inc->n_stakeholders, "on-call"));
    /* global stakeholders are for GLOBAL incidents only */
    cr_assert_not(strv_has(inc->stakeholders, inc->n_stakeholders, "ops-lead"));
    cr_assert_eq(inc->client_comms, INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NONE);
}

Test(hd_scoped, local_critical_without_tm_stakeholder)
{
    hdf_rules.tm_stakeholder = "";
    hd_state_t *cur = scoped(INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    cur->incident->severity = INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL;
    hd_transition_t out = run(cur);
    cr_assert_eq(out.state->incident->escalation_level, 1);
    cr_assert_eq(out.state->incident->n_stakeholders, 0);
}

Test(hd_scoped, local_major_stays_at_level_0)
{
    hd_state_t *cur = scoped(INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    cur->incident->severity = INCIDENT__V1__SEVERITY__SEVERITY_MAJOR;
    hd_transition_t out = run(cur);
    cr_assert_eq(out.state->incident->escalation_level, 0);
    cr_assert_str_eq(out.records[0]->action, "handled");
    cr_assert_eq(out.state->incident->n_stakeholders, 0);
}

Test(hd_scoped, widened_incident_is_escalated_again)
{
    /* was LOCAL at level 0, the classified stage widened it to GLOBAL */
    people_configure();
    hd_state_t *cur = scoped(INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cur->incident->version = 12;
    cur->incident->client_comms = INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NONE;
    cur->guideline = "fail over to replica";
    hd_transition_t out = run(cur);
    hdf_check_records(&out, 13);
    cr_assert_eq(out.state->incident->escalation_level, 1);
    cr_assert(out.state->incident->resolution_meeting);
    cr_assert_eq(out.state->incident->client_comms,
                 INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY);
    /* escalated, notification_planned, meeting_planned, client_notified */
    cr_assert_eq(out.state->incident->version, 16);
}
