/*
 * test_hd_detected.c — the detected stage (handlers/detected.c): opening,
 * classification, merging, reclassification, acknowledge and resolve, with
 * the audit records each writes.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "hd_fixture.h"

#define MIN_MS 60000LL

static void setup(void) { hdf_setup("incidentd/detected", "alert-9"); }

TestSuite(hd_detected, .init = setup, .fini = hdf_teardown);

/* ---- builders ------------------------------------------------------------------ */

static hd_alert_t *alert_new(Incident__V1__Action action, Incident__V1__Severity sev)
{
    hd_alert_t *a = arena_alloc(&hdf_arena, sizeof(*a));
    hd_alert_t init = INCIDENT__V1__ALERT__INIT;
    *a = init;
    a->alert_id = "alert-9";
    a->dedup_key = "db-down";
    a->action = action;
    a->severity = sev;
    a->service = "db";
    a->summary = "database down";
    return a;
}

static hd_alert_t *trigger(Incident__V1__Severity sev)
{
    return alert_new(INCIDENT__V1__ACTION__ACTION_TRIGGER, sev);
}

/* An open, classified incident at version @p version with one trigger at
 * HDF_NOW - 20 min (outside the window). */
static hd_state_t *state_new(Incident__V1__Kind kind, Incident__V1__Severity sev, uint64_t version)
{
    hd_state_t *st = hdf_state_new(INCIDENT__V1__STAGE__STAGE_CLASSIFIED,
                                   INCIDENT__V1__SCOPE__SCOPE_UNSPECIFIED);
    hd_incident_t *inc = st->incident;
    inc->kind = kind;
    inc->severity = sev;
    inc->version = version;
    inc->detected_at_ms = HDF_NOW - 20 * MIN_MS;
    st->trigger_times_ms = arena_alloc(&hdf_arena, sizeof(int64_t));
    st->trigger_times_ms[0] = HDF_NOW - 20 * MIN_MS;
    st->n_trigger_times_ms = 1;
    return st;
}

static void triggers_set(hd_state_t *st, size_t n, const int64_t *times)
{
    st->trigger_times_ms = arena_alloc(&hdf_arena, (n ? n : 1) * sizeof(int64_t));
    memcpy(st->trigger_times_ms, times, n * sizeof(int64_t));
    st->n_trigger_times_ms = n;
}

static hd_transition_t run(const hd_state_t *cur, const hd_alert_t *alert)
{
    hd_transition_t out;
    memset(&out, 0x5a, sizeof(out)); /* the handler must initialise everything */
    hd_detected_apply(&hdf_ctx, cur, alert, "INC-NEW", &out);
    return out;
}

/* ---- opening ------------------------------------------------------------------- */

Test(hd_detected, trigger_opens_major_incident)
{
    hd_alert_t *a = trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    a->sites = hdf_list(&a->n_sites, "site-a", "site-b", "site-a", NULL);
    a->clients = hdf_list(&a->n_clients, "acme", "globex", NULL);
    hdf_alert_label(a, "team", "dba");
    hd_transition_t out = run(NULL, a);

    hdf_check_records_by(&out, 1, "incidentd/detected");
    cr_assert_eq(out.n_records, 2);
    cr_assert_eq(out.index_op, HD_INDEX_OPEN);
    cr_assert_eq(out.timer_op, HD_TIMER_NONE);
    cr_assert_eq(out.closed, 0);
    cr_assert_eq(out.n_outputs, 1);
    cr_assert_eq(out.outputs[0].topic, HD_TOPIC_CLASSIFIED);

    const hd_record_t *det = out.records[0], *cls = out.records[1];
    cr_assert_str_eq(det->action, "detected");
    cr_assert_eq(det->stage, INCIDENT__V1__STAGE__STAGE_DETECTED);
    cr_assert_eq(det->snapshot->kind, INCIDENT__V1__KIND__KIND_UNSPECIFIED);
    cr_assert_eq(det->snapshot->status, INCIDENT__V1__STATUS__STATUS_OPEN);
    cr_assert_str_eq(cls->action, "classified");
    cr_assert_eq(cls->stage, INCIDENT__V1__STAGE__STAGE_CLASSIFIED);
    cr_assert_eq(cls->snapshot->kind, INCIDENT__V1__KIND__KIND_INCIDENT);
    cr_assert(strstr(cls->detail, "severity MAJOR >= MAJOR") != NULL, "%s", cls->detail);

    const hd_incident_t *inc = out.state->incident;
    cr_assert_str_eq(inc->id, "INC-NEW");
    cr_assert_str_eq(inc->dedup_key, "db-down");
    cr_assert_eq(inc->stage, INCIDENT__V1__STAGE__STAGE_CLASSIFIED);
    cr_assert_eq(inc->status, INCIDENT__V1__STATUS__STATUS_OPEN);
    cr_assert_eq(inc->kind, INCIDENT__V1__KIND__KIND_INCIDENT);
    cr_assert_eq(inc->scope, INCIDENT__V1__SCOPE__SCOPE_UNSPECIFIED);
    cr_assert_eq(inc->severity, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    cr_assert_str_eq(inc->service, "db");
    cr_assert_str_eq(inc->summary, "database down");
    cr_assert_eq(inc->n_sites, 2);
    cr_assert_str_eq(inc->sites[0], "site-a");
    cr_assert_str_eq(inc->sites[1], "site-b");
    cr_assert_eq(inc->n_clients, 2);
    cr_assert_str_eq(inc->clients[0], "acme");
    cr_assert_str_eq(inc->clients[1], "globex");
    cr_assert_eq(inc->alert_count, 1);
    cr_assert_eq(inc->detected_at_ms, HDF_NOW);
    cr_assert_eq(inc->version, 2);
    cr_assert_str_eq(inc->owner, "");

    cr_assert_eq(out.state->n_trigger_times_ms, 1);
    cr_assert_eq(out.state->trigger_times_ms[0], HDF_NOW);
    cr_assert_eq(out.state->n_labels, 1);
    cr_assert_str_eq(out.state->labels[0]->key, "team");
    cr_assert_str_eq(out.state->labels[0]->value, "dba");
    cr_assert_eq(out.state->n_recorded_actions, 2);
    cr_assert_str_eq(out.state->recorded_actions[0], "detected");
    cr_assert_str_eq(out.state->recorded_actions[1], "classified");
    cr_assert_str_eq(out.state->last_hash, "");
    /* the input alert is untouched */
    cr_assert_eq(a->n_sites, 3);
}

Test(hd_detected, minor_without_clients_opens_disturbance)
{
    hd_transition_t out = run(NULL, trigger(INCIDENT__V1__SEVERITY__SEVERITY_MINOR));
    hdf_check_records_by(&out, 1, "incidentd/detected");
    cr_assert_eq(out.state->incident->kind, INCIDENT__V1__KIND__KIND_DISTURBANCE);
    cr_assert(strstr(out.records[1]->detail, "DISTURBANCE") != NULL);
    cr_assert(strstr(out.records[1]->detail, "below incident rule") != NULL);
    /* disturbances still go to the classified topic */
    cr_assert_eq(out.n_outputs, 1);
    cr_assert_eq(out.outputs[0].topic, HD_TOPIC_CLASSIFIED);
    cr_assert_eq(out.index_op, HD_INDEX_OPEN);
}

Test(hd_detected, minor_with_one_client_opens_incident)
{
    hd_alert_t *a = trigger(INCIDENT__V1__SEVERITY__SEVERITY_MINOR);
    a->clients = hdf_list(&a->n_clients, "acme", NULL);
    hd_transition_t out = run(NULL, a);
    cr_assert_eq(out.state->incident->kind, INCIDENT__V1__KIND__KIND_INCIDENT);
    cr_assert(strstr(out.records[1]->detail, "severity MINOR with 1 client") != NULL);
}

Test(hd_detected, warning_with_clients_opens_disturbance)
{
    hd_alert_t *a = trigger(INCIDENT__V1__SEVERITY__SEVERITY_WARNING);
    a->clients = hdf_list(&a->n_clients, "acme", "globex", NULL);
    hd_transition_t out = run(NULL, a);
    cr_assert_eq(out.state->incident->kind, INCIDENT__V1__KIND__KIND_DISTURBANCE);
}

Test(hd_detected, critical_service_opens_incident)
{
    const char *critical[] = {"db"};
    hdf_rules.critical_services = critical;
    hdf_rules.n_critical_services = 1;
    hd_transition_t out = run(NULL, trigger(INCIDENT__V1__SEVERITY__SEVERITY_INFO));
    cr_assert_eq(out.state->incident->kind, INCIDENT__V1__KIND__KIND_INCIDENT);
    cr_assert(strstr(out.records[1]->detail, "service db is critical") != NULL);
}

Test(hd_detected, trigger_on_closed_or_resolved_incident_opens_new_one)
{
    hd_state_t *cur =
        state_new(INCIDENT__V1__KIND__KIND_INCIDENT, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 9);
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_RESOLVED;
    hd_transition_t out = run(cur, trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR));
    hdf_check_records_by(&out, 1, "incidentd/detected");
    cr_assert_str_eq(out.state->incident->id, "INC-NEW");
    cr_assert_eq(out.index_op, HD_INDEX_OPEN);
}

/* ---- merging ------------------------------------------------------------------- */

Test(hd_detected, trigger_merges_into_open_incident)
{
    hd_state_t *cur =
        state_new(INCIDENT__V1__KIND__KIND_INCIDENT, INCIDENT__V1__SEVERITY__SEVERITY_MINOR, 7);
    cur->incident->clients = hdf_list(&cur->incident->n_clients, "acme", NULL);
    cur->incident->scope = INCIDENT__V1__SCOPE__SCOPE_LOCAL;
    cur->incident->stage = INCIDENT__V1__STAGE__STAGE_ESCALATED;
    char **cur_sites = cur->incident->sites;
    hd_alert_t *a = trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    a->sites = hdf_list(&a->n_sites, "site-a", "site-b", NULL);
    a->clients = hdf_list(&a->n_clients, "globex", "acme", NULL);
    hd_transition_t out = run(cur, a);

    hdf_check_records_by(&out, 8, "incidentd/detected");
    cr_assert_eq(out.n_records, 1);
    cr_assert_str_eq(out.records[0]->action, "merged");
    const hd_incident_t *inc = out.state->incident;
    cr_assert_str_eq(inc->id, "INC-1");
    cr_assert_eq(inc->alert_count, 2);
    cr_assert_eq(inc->severity, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    cr_assert_eq(inc->stage, INCIDENT__V1__STAGE__STAGE_ESCALATED);
    cr_assert_eq(out.records[0]->stage, INCIDENT__V1__STAGE__STAGE_ESCALATED);
    cr_assert_eq(inc->n_sites, 2);
    cr_assert_str_eq(inc->sites[0], "site-a");
    cr_assert_str_eq(inc->sites[1], "site-b");
    cr_assert_eq(inc->n_clients, 2);
    cr_assert_str_eq(inc->clients[0], "acme");
    cr_assert_str_eq(inc->clients[1], "globex");
    cr_assert_eq(inc->version, 8);
    cr_assert_eq(out.index_op, HD_INDEX_NONE);
    cr_assert_eq(out.timer_op, HD_TIMER_NONE);
    cr_assert(hdf_has_action(out.state, "merged"));
    cr_assert(hdf_has_action(out.state, "detected"));
    /* LOCAL incident: the classified stage re-checks the scope */
    cr_assert_eq(out.n_outputs, 1);
    cr_assert_eq(out.outputs[0].topic, HD_TOPIC_CLASSIFIED);

    /* the current state is untouched */
    cr_assert_eq(cur->incident->version, 7);
    cr_assert_eq(cur->incident->alert_count, 1);
    cr_assert_eq(cur->incident->n_sites, 1);
    cr_assert_eq(cur->incident->sites, cur_sites);
    cr_assert_eq(cur->incident->severity, INCIDENT__V1__SEVERITY__SEVERITY_MINOR);
    cr_assert_eq(cur->n_trigger_times_ms, 1);
    cr_assert_eq(cur->n_recorded_actions, 2);
}

Test(hd_detected, merge_never_lowers_severity)
{
    hd_state_t *cur =
        state_new(INCIDENT__V1__KIND__KIND_INCIDENT, INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL, 3);
    hd_transition_t out = run(cur, trigger(INCIDENT__V1__SEVERITY__SEVERITY_WARNING));
    cr_assert_eq(out.state->incident->severity, INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL);
}

Test(hd_detected, merge_unites_labels_alert_wins)
{
    hd_state_t *cur =
        state_new(INCIDENT__V1__KIND__KIND_INCIDENT, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 3);
    hdf_state_label(cur, "team", "dba");
    hdf_state_label(cur, "region", "eu");
    hd_alert_t *a = trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    hdf_alert_label(a, "region", "us");
    hdf_alert_label(a, "scope", "global");
    hd_transition_t out = run(cur, a);
    cr_assert_eq(out.state->n_labels, 3);
    cr_assert_str_eq(out.state->labels[0]->key, "team");
    cr_assert_str_eq(out.state->labels[0]->value, "dba");
    cr_assert_str_eq(out.state->labels[1]->key, "region");
    cr_assert_str_eq(out.state->labels[1]->value, "us");
    cr_assert_str_eq(out.state->labels[2]->key, "scope");
    cr_assert_str_eq(out.state->labels[2]->value, "global");
    /* the stored labels are untouched */
    cr_assert_eq(cur->n_labels, 2);
    cr_assert_str_eq(cur->labels[1]->value, "eu");
}

Test(hd_detected, merge_into_global_incident_has_no_output)
{
    hd_state_t *cur =
        state_new(INCIDENT__V1__KIND__KIND_INCIDENT, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 3);
    cur->incident->scope = INCIDENT__V1__SCOPE__SCOPE_GLOBAL;
    hd_transition_t out = run(cur, trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR));
    hdf_check_records_by(&out, 4, "incidentd/detected");
    cr_assert_eq(out.n_records, 1);
    cr_assert_eq(out.n_outputs, 0);
}

Test(hd_detected, merge_into_unscoped_incident_goes_to_classified)
{
    hd_state_t *cur =
        state_new(INCIDENT__V1__KIND__KIND_INCIDENT, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 2);
    hd_transition_t out = run(cur, trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR));
    cr_assert_eq(out.n_outputs, 1);
    cr_assert_eq(out.outputs[0].topic, HD_TOPIC_CLASSIFIED);
}

Test(hd_detected, merge_into_acknowledged_incident)
{
    hd_state_t *cur =
        state_new(INCIDENT__V1__KIND__KIND_INCIDENT, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 5);
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED;
    hd_transition_t out = run(cur, trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR));
    hdf_check_records_by(&out, 6, "incidentd/detected");
    cr_assert_str_eq(out.records[0]->action, "merged");
    cr_assert_eq(out.state->incident->status, INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED);
}

/* ---- reclassification ---------------------------------------------------------- */

Test(hd_detected, two_triggers_in_window_stay_disturbance)
{
    hd_state_t *cur = state_new(INCIDENT__V1__KIND__KIND_DISTURBANCE,
                                INCIDENT__V1__SEVERITY__SEVERITY_WARNING, 2);
    const int64_t times[] = {HDF_NOW - 1 * MIN_MS};
    triggers_set(cur, 1, times);
    hd_transition_t out = run(cur, trigger(INCIDENT__V1__SEVERITY__SEVERITY_WARNING));
    hdf_check_records_by(&out, 3, "incidentd/detected");
    cr_assert_eq(out.n_records, 1);
    cr_assert_str_eq(out.records[0]->action, "merged");
    cr_assert_eq(out.state->incident->kind, INCIDENT__V1__KIND__KIND_DISTURBANCE);
    cr_assert_eq(out.n_outputs, 0);
    cr_assert_eq(out.state->n_trigger_times_ms, 2);
    cr_assert_eq(out.state->trigger_times_ms[1], HDF_NOW);
}

Test(hd_detected, three_triggers_in_window_reclassify)
{
    hd_state_t *cur = state_new(INCIDENT__V1__KIND__KIND_DISTURBANCE,
                                INCIDENT__V1__SEVERITY__SEVERITY_WARNING, 4);
    cur->incident->stage = INCIDENT__V1__STAGE__STAGE_CLASSIFIED;
    const int64_t times[] = {HDF_NOW - 9 * MIN_MS, HDF_NOW - 1 * MIN_MS};
    triggers_set(cur, 2, times);
    hd_transition_t out = run(cur, trigger(INCIDENT__V1__SEVERITY__SEVERITY_WARNING));
    hdf_check_records_by(&out, 5, "incidentd/detected");
    cr_assert_eq(out.n_records, 2);
    cr_assert_str_eq(out.records[0]->action, "merged");
    cr_assert_eq(out.records[0]->snapshot->kind, INCIDENT__V1__KIND__KIND_DISTURBANCE);
    cr_assert_str_eq(out.records[1]->action, "reclassified");
    cr_assert_eq(out.records[1]->stage, INCIDENT__V1__STAGE__STAGE_CLASSIFIED);
    cr_assert_eq(out.records[1]->snapshot->kind, INCIDENT__V1__KIND__KIND_INCIDENT);
    cr_assert(strstr(out.records[1]->detail, "3 triggers within 10 min") != NULL, "%s",
              out.records[1]->detail);
    cr_assert_eq(out.state->incident->kind, INCIDENT__V1__KIND__KIND_INCIDENT);
    cr_assert_eq(out.state->incident->version, 6);
    cr_assert(hdf_has_action(out.state, "reclassified"));
    cr_assert_eq(out.n_outputs, 1);
    cr_assert_eq(out.outputs[0].topic, HD_TOPIC_CLASSIFIED);
    cr_assert_eq(out.outputs[0].snapshot->kind, INCIDENT__V1__KIND__KIND_INCIDENT);
}

Test(hd_detected, triggers_outside_window_are_dropped)
{
    hd_state_t *cur = state_new(INCIDENT__V1__KIND__KIND_DISTURBANCE,
                                INCIDENT__V1__SEVERITY__SEVERITY_WARNING, 4);
    const int64_t times[] = {HDF_NOW - 10 * MIN_MS - 1, HDF_NOW - 11 * MIN_MS,
                             HDF_NOW - 2 * MIN_MS};
    triggers_set(cur, 3, times);
    hd_transition_t out = run(cur, trigger(INCIDENT__V1__SEVERITY__SEVERITY_WARNING));
    cr_assert_eq(out.n_records, 1);
    cr_assert_eq(out.state->incident->kind, INCIDENT__V1__KIND__KIND_DISTURBANCE);
    cr_assert_eq(out.state->n_trigger_times_ms, 2);
    cr_assert_eq(out.state->trigger_times_ms[0], HDF_NOW - 2 * MIN_MS);
    cr_assert_eq(out.state->trigger_times_ms[1], HDF_NOW);
    cr_assert_eq(cur->n_trigger_times_ms, 3);
}

Test(hd_detected, trigger_exactly_at_window_edge_counts)
{
    hd_state_t *cur = state_new(INCIDENT__V1__KIND__KIND_DISTURBANCE,
                                INCIDENT__V1__SEVERITY__SEVERITY_WARNING, 4);
    const int64_t times[] = {HDF_NOW - 10 * MIN_MS, HDF_NOW - 1};
    triggers_set(cur, 2, times);
    hd_transition_t out = run(cur, trigger(INCIDENT__V1__SEVERITY__SEVERITY_WARNING));
    cr_assert_eq(out.n_records, 2);
    cr_assert_str_eq(out.records[1]->action, "reclassified");
}

Test(hd_detected, reclassify_threshold_configurable)
{
    hdf_rules.reclassify_triggers = 2;
    hdf_rules.reclassify_window_ms = 30000;
    hd_state_t *cur = state_new(INCIDENT__V1__KIND__KIND_DISTURBANCE,
                                INCIDENT__V1__SEVERITY__SEVERITY_WARNING, 4);
    const int64_t times[] = {HDF_NOW - 29000};
    triggers_set(cur, 1, times);
    hd_transition_t out = run(cur, trigger(INCIDENT__V1__SEVERITY__SEVERITY_WARNING));
    cr_assert_eq(out.n_records, 2);
    cr_assert(strstr(out.records[1]->detail, "2 triggers within 30 s") != NULL, "%s",
              out.records[1]->detail);
}

Test(hd_detected, trigger_times_keep_64_most_recent)
{
    hd_state_t *cur =
        state_new(INCIDENT__V1__KIND__KIND_INCIDENT, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 4);
    int64_t times[70];
    for (int i = 0; i < 70; i++)
        times[i] = HDF_NOW - 70 + i;
    triggers_set(cur, 70, times);
    hd_transition_t out = run(cur, trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR));
    cr_assert_eq(out.state->n_trigger_times_ms, 64);
    cr_assert_eq(out.state->trigger_times_ms[63], HDF_NOW);
    cr_assert_eq(out.state->trigger_times_ms[0], HDF_NOW - 63);
}

Test(hd_detected, merge_reaching_major_reclassifies)
{
    hd_state_t *cur = state_new(INCIDENT__V1__KIND__KIND_DISTURBANCE,
                                INCIDENT__V1__SEVERITY__SEVERITY_WARNING, 2);
    hd_transition_t out = run(cur, trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR));
    cr_assert_eq(out.n_records, 2);
    cr_assert_str_eq(out.records[1]->action, "reclassified");
    cr_assert(strstr(out.records[1]->detail, "severity MAJOR >= MAJOR") != NULL);
    cr_assert_eq(out.n_outputs, 1);
    cr_assert_eq(out.outputs[0].topic, HD_TOPIC_CLASSIFIED);
}

Test(hd_detected, merge_adding_client_to_minor_reclassifies)
{
    hd_state_t *cur =
        state_new(INCIDENT__V1__KIND__KIND_DISTURBANCE, INCIDENT__V1__SEVERITY__SEVERITY_MINOR, 2);
    hd_alert_t *a = trigger(INCIDENT__V1__SEVERITY__SEVERITY_WARNING);
    a->clients = hdf_list(&a->n_clients, "acme", NULL);
    hd_transition_t out = run(cur, a);
    cr_assert_eq(out.n_records, 2);
    cr_assert_str_eq(out.records[1]->action, "reclassified");
    cr_assert(strstr(out.records[1]->detail, "severity MINOR with 1 client") != NULL);
}

/* ---- acknowledge --------------------------------------------------------------- */

Test(hd_detected, acknowledge_open_incident_stops_timer)
{
    hd_state_t *cur =
        state_new(INCIDENT__V1__KIND__KIND_INCIDENT, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 6);
    cur->incident->stage = INCIDENT__V1__STAGE__STAGE_ESCALATED;
    cur->incident->escalation_level = 1;
    hd_alert_t *a = alert_new(INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE,
                              INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED);
    a->actor = "alice";
    hd_transition_t out = run(cur, a);
    hdf_check_records_by(&out, 7, "alice");
    cr_assert_eq(out.n_records, 1);
    cr_assert_str_eq(out.records[0]->action, "acknowledged");
    cr_assert_eq(out.records[0]->stage, INCIDENT__V1__STAGE__STAGE_ESCALATED);
    cr_assert(strstr(out.records[0]->detail, "alice") != NULL);
    cr_assert_eq(out.state->incident->status, INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED);
    cr_assert_eq(out.state->incident->acknowledged_at_ms, HDF_NOW);
    cr_assert_eq(out.state->incident->escalation_level, 1);
    cr_assert_eq(out.timer_op, HD_TIMER_CANCEL);
    cr_assert_eq(out.index_op, HD_INDEX_NONE);
    cr_assert_eq(out.n_outputs, 0);
    cr_assert(hdf_has_action(out.state, "acknowledged"));
    cr_assert_eq(cur->incident->status, INCIDENT__V1__STATUS__STATUS_OPEN);
}

Test(hd_detected, acknowledge_without_actor_uses_stage_actor)
{
    hd_state_t *cur =
        state_new(INCIDENT__V1__KIND__KIND_INCIDENT, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 6);
    hd_transition_t out = run(cur, alert_new(INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE,
                                             INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED));
    hdf_check_records_by(&out, 7, "incidentd/detected");
}

Test(hd_detected, acknowledge_twice_is_noop)
{
    hd_state_t *cur =
        state_new(INCIDENT__V1__KIND__KIND_INCIDENT, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 6);
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED;
    hd_transition_t out = run(cur, alert_new(INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE,
                                             INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED));
    cr_assert_eq(out.verdict, HD_NOOP);
    cr_assert_null(out.state);
    cr_assert_eq(out.n_records, 0);
    cr_assert_eq(out.n_outputs, 0);
    cr_assert_eq(out.timer_op, HD_TIMER_NONE);
    cr_assert_eq(out.index_op, HD_INDEX_NONE);
}

Test(hd_detected, acknowledge_without_incident_rejected)
{
    hd_transition_t out = run(NULL, alert_new(INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE,
                                              INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED));
    cr_assert_eq(out.verdict, HD_REJECT);
    cr_assert_str_eq(out.error, "no open incident for dedup_key db-down");
    cr_assert_null(out.state);
    cr_assert_eq(out.n_records, 0);
}

/* ---- resolve -------------------------------------------------------------------- */

Test(hd_detected, resolve_incident)
{
    hd_state_t *cur =
        state_new(INCIDENT__V1__KIND__KIND_INCIDENT, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 8);
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED;
    cur->incident->stage = INCIDENT__V1__STAGE__STAGE_ESCALATED;
    hd_alert_t *a = alert_new(INCIDENT__V1__ACTION__ACTION_RESOLVE,
                              INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED);
    a->actor = "bob";
    hd_transition_t out = run(cur, a);
    hdf_check_records_by(&out, 9, "bob");
    cr_assert_eq(out.n_records, 1);
    cr_assert_str_eq(out.records[0]->action, "resolved");
    cr_assert_eq(out.records[0]->stage, INCIDENT__V1__STAGE__STAGE_RESOLVED);
    const hd_incident_t *inc = out.state->incident;
    cr_assert_eq(inc->stage, INCIDENT__V1__STAGE__STAGE_RESOLVED);
    cr_assert_eq(inc->status, INCIDENT__V1__STATUS__STATUS_RESOLVED);
    cr_assert_eq(inc->resolved_at_ms, HDF_NOW);
    /* the dedup key stays with the incident for the confirmation window */
    cr_assert_eq(out.index_op, HD_INDEX_NONE);
    cr_assert_eq(out.timer_op, HD_TIMER_CANCEL);
    hdf_timer(&out, HD_TIMER_CANCEL, HD_TIMER_ACK);
    const hd_timer_effect_t *confirm = hdf_timer(&out, HD_TIMER_ARM, HD_TIMER_CONFIRM);
    cr_assert_eq(confirm->due_ms, HDF_NOW + 10 * MIN_MS); /* not scoped: the local window */
    cr_assert_eq(confirm->level, 0);
    cr_assert_eq(out.state->followup_until_ms, HDF_NOW + 10 * MIN_MS);
    cr_assert(hdf_contains(out.records[0]->detail, "confirmation window 10 min"), "%s",
              out.records[0]->detail);
    cr_assert_eq(out.closed, 0);
    cr_assert_eq(out.n_outputs, 1);
    cr_assert_eq(out.outputs[0].topic, HD_TOPIC_RESOLVED);
    cr_assert(hdf_has_action(out.state, "resolved"));
}

Test(hd_detected, resolve_disturbance_goes_to_resolved)
{
    hd_state_t *cur = state_new(INCIDENT__V1__KIND__KIND_DISTURBANCE,
                                INCIDENT__V1__SEVERITY__SEVERITY_WARNING, 2);
    hd_transition_t out = run(cur, alert_new(INCIDENT__V1__ACTION__ACTION_RESOLVE,
                                             INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED));
    hdf_check_records_by(&out, 3, "incidentd/detected");
    cr_assert_eq(out.state->incident->status, INCIDENT__V1__STATUS__STATUS_RESOLVED);
    cr_assert_eq(out.state->incident->kind, INCIDENT__V1__KIND__KIND_DISTURBANCE);
    cr_assert_eq(out.n_outputs, 1);
    cr_assert_eq(out.outputs[0].topic, HD_TOPIC_RESOLVED);
    /* no window: the resolved stage confirms at once, no CONFIRM timer */
    cr_assert_eq(out.index_op, HD_INDEX_NONE);
    cr_assert_not(hdf_has_timer(&out, HD_TIMER_ARM, HD_TIMER_CONFIRM));
    cr_assert_eq(out.state->followup_until_ms, HDF_NOW);
}

Test(hd_detected, resolve_without_incident_rejected)
{
    hd_transition_t out = run(NULL, alert_new(INCIDENT__V1__ACTION__ACTION_RESOLVE,
                                              INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED));
    cr_assert_eq(out.verdict, HD_REJECT);
    cr_assert_str_eq(out.error, "no open incident for dedup_key db-down");
}

Test(hd_detected, resolve_of_resolved_incident_rejected)
{
    hd_state_t *cur =
        state_new(INCIDENT__V1__KIND__KIND_INCIDENT, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 8);
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_RESOLVED;
    hd_transition_t out = run(cur, alert_new(INCIDENT__V1__ACTION__ACTION_RESOLVE,
                                             INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED));
    cr_assert_eq(out.verdict, HD_REJECT);
}

/* ---- the confirmation window ----------------------------------------------------- */

/* A LOCAL incident that was handled (escalated stage, NOTIFY), resolved
 * at HDF_NOW - 5 min: its window (10 min) ends at HDF_NOW + 5 min. */
static hd_state_t *resolved_in_window(void)
{
    hd_state_t *st = hdf_state_resolved(INCIDENT__V1__SCOPE__SCOPE_LOCAL, HDF_NOW - 5 * MIN_MS);
    st->incident->client_comms = INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY;
    st->incident->clients = hdf_list(&st->incident->n_clients, "acme", NULL);
    st->client_update_seq = 3;
    return st;
}

Test(hd_detected, trigger_inside_window_reopens_same_incident)
{
    hd_state_t *cur = resolved_in_window();
    hdf_ctx.now_ms = HDF_NOW;
    hd_transition_t out = run(cur, trigger(INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL));
    hdf_check_records(&out, 10);
    cr_assert_eq(out.n_records, 2);
    cr_assert_str_eq(out.records[0]->action, "reopened");
    cr_assert_eq(out.records[0]->snapshot->status, INCIDENT__V1__STATUS__STATUS_OPEN);
    cr_assert(hdf_contains(out.records[0]->detail, "alert alert-9"), "%s", out.records[0]->detail);
    cr_assert_str_eq(out.records[1]->action, "merged");
    const hd_incident_t *inc = out.state->incident;
    cr_assert_str_eq(inc->id, "INC-1"); /* the same incident */
    cr_assert_eq(inc->status, INCIDENT__V1__STATUS__STATUS_OPEN);
    cr_assert_eq(inc->stage, INCIDENT__V1__STAGE__STAGE_ESCALATED);
    cr_assert_eq(inc->reopen_count, 1);
    cr_assert_eq(inc->resolved_at_ms, 0);
    cr_assert_eq(inc->alert_count, 2);
    cr_assert_eq(inc->severity, INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL);
    cr_assert_eq(out.state->followup_until_ms, 0);
    cr_assert_eq(out.index_op, HD_INDEX_NONE);
    cr_assert(hdf_has_output(&out, HD_TOPIC_ESCALATED));
    hdf_timer(&out, HD_TIMER_CANCEL, HD_TIMER_CONFIRM);
    const hd_timer_effect_t *ack = hdf_timer(&out, HD_TIMER_ARM, HD_TIMER_ACK);
    cr_assert_eq(ack->level, 0);
    cr_assert_eq(ack->due_ms, HDF_NOW + hdf_rules.ack_timeout_ms);
    const hd_timer_effect_t *upd = hdf_timer(&out, HD_TIMER_ARM, HD_TIMER_CLIENT_UPDATE);
    cr_assert_eq(upd->level, 4);
    cr_assert_eq(upd->due_ms, HDF_NOW + 60 * MIN_MS);
    cr_assert_eq(inc->next_client_update_due_ms, HDF_NOW + 60 * MIN_MS);
    /* input untouched */
    cr_assert_eq(cur->incident->status, INCIDENT__V1__STATUS__STATUS_RESOLVED);
    cr_assert_eq(cur->incident->reopen_count, 0);
}

Test(hd_detected, trigger_one_ms_before_window_end_reopens)
{
    hd_state_t *cur = resolved_in_window();
    hdf_ctx.now_ms = cur->followup_until_ms - 1;
    hd_transition_t out;
    hd_detected_apply(&hdf_ctx, cur, trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR), "INC-NEW",
                      &out);
    cr_assert_eq(out.verdict, HD_APPLY);
    cr_assert_str_eq(out.state->incident->id, "INC-1");
    cr_assert_str_eq(out.records[0]->action, "reopened");
}

Test(hd_detected, trigger_at_window_end_opens_new_incident)
{
    hd_state_t *cur = resolved_in_window();
    hdf_ctx.now_ms = cur->followup_until_ms;
    hd_transition_t out;
    hd_detected_apply(&hdf_ctx, cur, trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR), "INC-NEW",
                      &out);
    cr_assert_eq(out.verdict, HD_APPLY);
    cr_assert_str_eq(out.state->incident->id, "INC-NEW");
    cr_assert_str_eq(out.records[0]->action, "detected");
    cr_assert_eq(out.index_op, HD_INDEX_OPEN);
}

Test(hd_detected, trigger_window_from_rules_for_older_state)
{
    /* a state stored before the window was: resolved_at + the rule's window */
    hd_state_t *cur = resolved_in_window();
    cur->followup_until_ms = 0;
    hdf_ctx.now_ms = HDF_NOW + 5 * MIN_MS - 1;
    hd_transition_t out = run(cur, trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR));
    cr_assert_str_eq(out.records[0]->action, "reopened");
    hdf_ctx.now_ms = HDF_NOW + 5 * MIN_MS;
    out = run(cur, trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR));
    cr_assert_str_eq(out.records[0]->action, "detected");
}

Test(hd_detected, trigger_after_confirmation_opens_new_incident)
{
    hd_state_t *cur = resolved_in_window();
    cur->incident->confirmed_at_ms = HDF_NOW - 1; /* blocked at the completion gate */
    hd_transition_t out = run(cur, trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR));
    cr_assert_str_eq(out.state->incident->id, "INC-NEW");
}

Test(hd_detected, reopen_of_unscoped_incident_goes_back_to_classified)
{
    hd_state_t *cur = resolved_in_window();
    cur->incident->scope = INCIDENT__V1__SCOPE__SCOPE_UNSPECIFIED;
    cur->incident->client_comms = INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_UNSPECIFIED;
    hd_transition_t out = run(cur, trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR));
    cr_assert_eq(out.state->incident->stage, INCIDENT__V1__STAGE__STAGE_CLASSIFIED);
    cr_assert_eq(out.n_outputs, 1);
    cr_assert_eq(out.outputs[0].topic, HD_TOPIC_CLASSIFIED);
    cr_assert_not(hdf_has_timer(&out, HD_TIMER_ARM, HD_TIMER_ACK));
}

Test(hd_detected, reopen_of_disturbance_emits_nothing_downstream)
{
    hdf_rules.followup_window_disturbance_ms = 60000;
    hd_state_t *cur = resolved_in_window();
    cur->incident->kind = INCIDENT__V1__KIND__KIND_DISTURBANCE;
    cur->incident->scope = INCIDENT__V1__SCOPE__SCOPE_UNSPECIFIED;
    cur->incident->severity = INCIDENT__V1__SEVERITY__SEVERITY_WARNING;
    cur->incident->n_clients = 0;
    hd_transition_t out = run(cur, trigger(INCIDENT__V1__SEVERITY__SEVERITY_WARNING));
    cr_assert_str_eq(out.records[0]->action, "reopened");
    cr_assert_eq(out.state->incident->status, INCIDENT__V1__STATUS__STATUS_OPEN);
    cr_assert_eq(out.state->incident->stage, INCIDENT__V1__STAGE__STAGE_CLASSIFIED);
    cr_assert_eq(out.n_outputs, 0);
    cr_assert_not(hdf_has_timer(&out, HD_TIMER_ARM, HD_TIMER_ACK));
}

Test(hd_detected, acknowledge_or_resolve_of_resolved_incident_rejected)
{
    hd_state_t *cur = resolved_in_window();
    hd_transition_t out = run(cur, alert_new(INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE,
                                             INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED));
    cr_assert_eq(out.verdict, HD_REJECT);
    cr_assert_str_eq(out.error, "incident INC-1 of dedup_key db-down is resolved already");
    out = run(cur, alert_new(INCIDENT__V1__ACTION__ACTION_RESOLVE,
                             INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED));
    cr_assert_eq(out.verdict, HD_REJECT);
    cr_assert_null(out.state);
}

Test(hd_detected, unknown_action_rejected)
{
    hd_alert_t *a = trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    a->action = INCIDENT__V1__ACTION__ACTION_UNSPECIFIED;
    hd_transition_t out = run(NULL, a);
    cr_assert_eq(out.verdict, HD_REJECT);
    cr_assert(strstr(out.error, "action") != NULL);
    a->action = (Incident__V1__Action)17;
    out = run(NULL, a);
    cr_assert_eq(out.verdict, HD_REJECT);
}

/* ---- a whole life in the detected stage ------------------------------------------ */

Test(hd_detected, open_merge_ack_resolve_chain_of_seqs)
{
    hd_transition_t out = run(NULL, trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR));
    hd_state_t *st = out.state;
    hdf_ctx.now_ms = HDF_NOW; /* same time: the seqs are what matters */
    out = run(st, trigger(INCIDENT__V1__SEVERITY__SEVERITY_MINOR));
    hdf_check_records_by(&out, 3, "incidentd/detected");
    st = out.state;
    out = run(st, alert_new(INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE,
                            INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED));
    hdf_check_records_by(&out, 4, "incidentd/detected");
    st = out.state;
    out = run(st, alert_new(INCIDENT__V1__ACTION__ACTION_RESOLVE,
                            INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED));
    hdf_check_records_by(&out, 5, "incidentd/detected");
    cr_assert_eq(out.state->n_recorded_actions, 5);
    cr_assert_eq(out.state->incident->alert_count, 2);
    cr_assert_eq(out.state->n_trigger_times_ms, 2);
}

/* ---- bounds (contract "Bounds"): what an incident keeps ---------------------------- */

/* An alert with @p n clients "<prefix>-<i>" (arena). */
static void alert_clients(hd_alert_t *a, const char *prefix, size_t n)
{
    a->clients = arena_alloc(&hdf_arena, n * sizeof(*a->clients));
    for (size_t i = 0; i < n; i++)
        a->clients[i] = arena_printf(&hdf_arena, "%s-%zu", prefix, i);
    a->n_clients = n;
}

Test(hd_detected, open_keeps_at_most_limits_clients_and_counts_them_all)
{
    hd_alert_t *a = trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    alert_clients(a, "c", 1024);
    hd_transition_t out;
    hd_detected_apply(&hdf_ctx, NULL, a, "INC-1", &out);
    cr_assert_eq(out.verdict, HD_APPLY);
    cr_assert_eq(out.state->incident->n_clients, 1000, "kept %zu names",
                 out.state->incident->n_clients);
    cr_assert_eq(out.state->incident->clients_total, 1024);
}

Test(hd_detected, merges_stay_bounded_and_count_distinct_clients)
{
    hd_state_t *st = NULL;
    hd_transition_t out;
    /* 8 alerts of 1,000 distinct clients each, then the first one again. */
    for (int k = 0; k <= 8; k++) {
        hd_alert_t *a = trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
        alert_clients(a, k == 8 ? "batch0" : arena_printf(&hdf_arena, "batch%d", k), 1000);
        hd_detected_apply(&hdf_ctx, st, a, "INC-1", &out);
        cr_assert_eq(out.verdict, HD_APPLY);
        st = out.state;
        cr_assert_leq(st->incident->n_clients, 1000);
    }
    cr_assert_eq(st->incident->clients_total, 8000, "clients_total %u",
                 st->incident->clients_total);
    cr_assert_eq(st->incident->alert_count, 9);
    /* The record of the repeat says it brought no new client. */
    cr_assert(hdf_contains(out.records[0]->detail, "0 new clients"), "%s", out.records[0]->detail);
}

Test(hd_detected, sites_are_bounded_by_limits_sites)
{
    hdf_rules.max_sites = 3;
    hd_alert_t *a = trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    a->sites = hdf_list(&a->n_sites, "s1", "s2", "s3", "s4", "s5", NULL);
    hd_transition_t out;
    hd_detected_apply(&hdf_ctx, NULL, a, "INC-1", &out);
    cr_assert_eq(out.state->incident->n_sites, 3);
    cr_assert_str_eq(out.state->incident->sites[2], "s3");
}

Test(hd_detected, labels_are_bounded)
{
    hd_state_t *st = NULL;
    hd_transition_t out;
    for (int k = 0; k < 3; k++) {
        hd_alert_t *a = trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
        for (int i = 0; i < HD_LABELS_MAX; i++)
            hdf_alert_label(a, arena_printf(&hdf_arena, "k%d-%d", k, i), "v");
        hd_detected_apply(&hdf_ctx, st, a, "INC-1", &out);
        st = out.state;
    }
    cr_assert_eq(st->n_labels, HD_LABELS_MAX);
}

/* The merge is linear: 50 merges of 1,000 new clients each into an incident
 * at the cap must not compare every pair (that took seconds per alert). A
 * generous bound on the work, not a timing: the kept list never grows. */
Test(hd_detected, merge_past_the_cap_keeps_the_same_names)
{
    hd_state_t *st = NULL;
    hd_transition_t out;
    for (int k = 0; k < 50; k++) {
        hd_alert_t *a = trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
        alert_clients(a, arena_printf(&hdf_arena, "m%d", k), 1000);
        hd_detected_apply(&hdf_ctx, st, a, "INC-1", &out);
        st = out.state;
    }
    cr_assert_eq(st->incident->n_clients, 1000);
    cr_assert_str_eq(st->incident->clients[999], "m0-999");
    /* Exact up to HD_CLIENT_HASHES_MAX names, counting on past it. */
    cr_assert_eq(st->incident->clients_total, 50000);
    cr_assert_eq(st->n_client_hashes, HD_CLIENT_HASHES_MAX);
}

Test(hd_detected, clients_total_past_the_names_makes_the_scope_global)
{
    hdf_rules.max_clients = 10;
    hdf_rules.global_min_clients = 20;
    hd_alert_t *a = trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    alert_clients(a, "c", 25);
    hd_transition_t out;
    hd_detected_apply(&hdf_ctx, NULL, a, "INC-1", &out);
    char why[256];
    cr_assert_eq(hd_scope_of(&hdf_rules, out.state, why, sizeof(why)),
                 INCIDENT__V1__SCOPE__SCOPE_GLOBAL, "%s", why);
}
