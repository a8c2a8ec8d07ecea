/*
 * test_hd_rules.c — default thresholds, the classification and scope rules
 * at their boundaries, roster and guideline look-ups, enum names and the
 * deep copy of a stored incident (handlers/hdf_rules.c).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "hd_fixture.h"

/* No transitions here: only hdf_arena and hdf_rules are used. */
static void setup(void) { hdf_setup(NULL, NULL); }

TestSuite(hd_rules, .init = setup, .fini = hdf_teardown);

static char **names(const char *prefix, size_t n)
{
    char **v = arena_alloc(&hdf_arena, (n ? n : 1) * sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = arena_printf(&hdf_arena, "%s%zu", prefix, i);
    return v;
}

static hd_state_t *state_new(Incident__V1__Severity sev, size_t n_sites, size_t n_clients)
{
    hd_state_t *st = arena_alloc(&hdf_arena, sizeof(*st));
    hd_state_t sinit = INCIDENTD__V1__STORED_INCIDENT__INIT;
    *st = sinit;
    hd_incident_t *inc = arena_alloc(&hdf_arena, sizeof(*inc));
    hd_incident_t iinit = INCIDENT__V1__INCIDENT__INIT;
    *inc = iinit;
    inc->id = "INC-1";
    inc->service = "web";
    inc->severity = sev;
    inc->sites = names("site-", n_sites);
    inc->n_sites = n_sites;
    inc->clients = names("client-", n_clients);
    inc->n_clients = n_clients;
    st->incident = inc;
    return st;
}

/* ---- defaults -------------------------------------------------------------- */

Test(hd_rules, defaults_match_contract)
{
    hd_rules_t r;
    memset(&r, 0x5a, sizeof(r));
    hd_rules_default(&r);
    cr_assert_eq(r.incident_min_severity, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    cr_assert_eq(r.client_min_severity, INCIDENT__V1__SEVERITY__SEVERITY_MINOR);
    cr_assert_eq(r.client_min_count, 1);
    cr_assert_eq(r.reclassify_triggers, 3);
    cr_assert_eq(r.reclassify_window_ms, 600000);
    cr_assert_eq(r.global_min_sites, 2);
    cr_assert_eq(r.global_min_clients, 10);
    cr_assert_str_eq(r.tm_stakeholder, "technical-manager");
    cr_assert_eq(r.ack_timeout_ms, 1800000);
    cr_assert_eq(r.max_escalation_level, 3);
    cr_assert_eq(r.n_critical_services, 0);
    cr_assert_null(r.critical_services);
    cr_assert_eq(r.n_roster, 0);
    cr_assert_null(r.roster);
    cr_assert_eq(r.n_global_stakeholders, 0);
    cr_assert_eq(r.n_guidelines, 0);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(r.n_level_stakeholders[i], 0);
        cr_assert_null(r.level_stakeholders[i]);
    }
}

/* ---- names ----------------------------------------------------------------- */

Test(hd_rules, followup_defaults_match_contract)
{
    hd_rules_t r;
    hd_rules_default(&r);
    cr_assert_eq(r.followup_window_global_ms, 30 * 60000LL);
    cr_assert_eq(r.followup_window_local_ms, 10 * 60000LL);
    cr_assert_eq(r.followup_window_disturbance_ms, 0);
    cr_assert_eq(r.review_required_global, 1);
    cr_assert_eq(r.review_min_severity, INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL);
    cr_assert_eq(r.review_due_ms, 5 * 24 * 3600000LL);
    cr_assert_eq(r.n_completion_signoff, 0);
    cr_assert_eq(r.client_update_global_ms, 30 * 60000LL);
    cr_assert_eq(r.client_update_local_ms, 60 * 60000LL);
    cr_assert_eq(r.client_updates_missed_max, 2);

    hd_incident_t inc = INCIDENT__V1__INCIDENT__INIT;
    inc.kind = INCIDENT__V1__KIND__KIND_INCIDENT;
    inc.scope = INCIDENT__V1__SCOPE__SCOPE_GLOBAL;
    cr_assert_eq(hd_followup_window(&r, &inc), 30 * 60000LL);
    cr_assert_eq(hd_client_update_interval(&r, &inc), 30 * 60000LL);
    inc.scope = INCIDENT__V1__SCOPE__SCOPE_LOCAL;
    cr_assert_eq(hd_followup_window(&r, &inc), 10 * 60000LL);
    cr_assert_eq(hd_client_update_interval(&r, &inc), 60 * 60000LL);
    inc.kind = INCIDENT__V1__KIND__KIND_DISTURBANCE;
    cr_assert_eq(hd_followup_window(&r, &inc), 0);
}

Test(hd_rules, command_kind_names)
{
    cr_assert_str_eq(hd_command_kind_name(INCIDENT__V1__COMMAND_KIND__COMMAND_SIGN_OFF),
                     "SIGN_OFF");
    cr_assert_str_eq(hd_command_kind_name(INCIDENT__V1__COMMAND_KIND__COMMAND_HANDOVER),
                     "HANDOVER");
    cr_assert_str_eq(hd_command_kind_name((Incident__V1__CommandKind)13), "UNKNOWN");
}

Test(hd_rules, state_copy_copies_tasks_and_sign_offs)
{
    hd_state_t *st =
        hdf_state_new(INCIDENT__V1__STAGE__STAGE_RESOLVED, INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    hd_task_t t = INCIDENT__V1__TASK__INIT;
    t.id = "T-1";
    hd_task_t *tasks[] = {&t};
    st->incident->tasks = tasks;
    st->incident->n_tasks = 1;
    st->incident->signed_off = hdf_list(&st->incident->n_signed_off, "cto", NULL);
    hd_state_t *copy = hd_state_copy(&hdf_arena, st);
    cr_assert_eq(copy->incident->n_tasks, 1);
    cr_assert_neq(copy->incident->tasks, st->incident->tasks);
    cr_assert_neq(copy->incident->tasks[0], &t);
    cr_assert_str_eq(copy->incident->tasks[0]->id, "T-1");
    cr_assert_str_eq(copy->incident->tasks[0]->title, "");
    cr_assert_neq(copy->incident->signed_off, st->incident->signed_off);
    cr_assert_str_eq(copy->incident->signed_off[0], "cto");
    cr_assert_str_eq(copy->incident->root_cause, "");
}

Test(hd_rules, enum_names)
{
    cr_assert_str_eq(hd_severity_name(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR), "MAJOR");
    cr_assert_str_eq(hd_severity_name(INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL), "CRITICAL");
    cr_assert_str_eq(hd_severity_name(INCIDENT__V1__SEVERITY__SEVERITY_INFO), "INFO");
    cr_assert_str_eq(hd_severity_name(INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED), "UNSPECIFIED");
    cr_assert_str_eq(hd_scope_name(INCIDENT__V1__SCOPE__SCOPE_GLOBAL), "GLOBAL");
    cr_assert_str_eq(hd_scope_name(INCIDENT__V1__SCOPE__SCOPE_LOCAL), "LOCAL");
    cr_assert_str_eq(hd_stage_name(INCIDENT__V1__STAGE__STAGE_ESCALATED), "ESCALATED");
    cr_assert_str_eq(hd_stage_name(INCIDENT__V1__STAGE__STAGE_CLOSED), "CLOSED");
    cr_assert_str_eq(hd_status_name(INCIDENT__V1__STATUS__STATUS_OPEN), "OPEN");
    cr_assert_str_eq(hd_status_name(INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED), "ACKNOWLEDGED");
    cr_assert_str_eq(hd_kind_name(INCIDENT__V1__KIND__KIND_INCIDENT), "INCIDENT");
    cr_assert_str_eq(hd_kind_name(INCIDENT__V1__KIND__KIND_DISTURBANCE), "DISTURBANCE");
    cr_assert_str_eq(hd_role_name(INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER), "TECHNICAL_MANAGER");
    cr_assert_str_eq(hd_role_name(INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER),
                     "CUSTOMER_SERVICE_MANAGER");
}

Test(hd_rules, unknown_enum_names)
{
    cr_assert_str_eq(hd_severity_name((Incident__V1__Severity)6), "UNKNOWN");
    cr_assert_str_eq(hd_severity_name((Incident__V1__Severity)-1), "UNKNOWN");
    cr_assert_str_eq(hd_scope_name((Incident__V1__Scope)3), "UNKNOWN");
    cr_assert_str_eq(hd_stage_name((Incident__V1__Stage)7), "UNKNOWN");
    cr_assert_str_eq(hd_status_name((Incident__V1__Status)5), "UNKNOWN");
    cr_assert_str_eq(hd_kind_name((Incident__V1__Kind)3), "UNKNOWN");
    cr_assert_str_eq(hd_role_name((Incident__V1__Role)99), "UNKNOWN");
}

/* ---- classification ---------------------------------------------------------- */

static int is_incident(Incident__V1__Severity sev, size_t n_clients, char *why)
{
    return hd_is_incident(&hdf_rules, state_new(sev, 1, n_clients)->incident, why, 128);
}

Test(hd_rules, major_is_incident)
{
    char why[128];
    cr_assert(is_incident(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 0, why));
    cr_assert_str_eq(why, "severity MAJOR >= MAJOR");
    cr_assert(is_incident(INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL, 0, why));
    cr_assert_str_eq(why, "severity CRITICAL >= MAJOR");
}

Test(hd_rules, minor_needs_a_client)
{
    char why[128];
    cr_assert_not(is_incident(INCIDENT__V1__SEVERITY__SEVERITY_MINOR, 0, why));
    cr_assert_str_eq(why, "severity MINOR, no clients: below incident rule");
    cr_assert(is_incident(INCIDENT__V1__SEVERITY__SEVERITY_MINOR, 1, why));
    cr_assert_str_eq(why, "severity MINOR with 1 client");
    cr_assert(is_incident(INCIDENT__V1__SEVERITY__SEVERITY_MINOR, 2, why));
    cr_assert_str_eq(why, "severity MINOR with 2 clients");
}

Test(hd_rules, warning_with_clients_is_disturbance)
{
    char why[128];
    cr_assert_not(is_incident(INCIDENT__V1__SEVERITY__SEVERITY_WARNING, 5, why));
    cr_assert_str_eq(why, "severity WARNING with 5 clients: below incident rule");
    cr_assert_not(is_incident(INCIDENT__V1__SEVERITY__SEVERITY_WARNING, 0, why));
    cr_assert_str_eq(why, "severity WARNING, no clients: below incident rule");
    cr_assert_not(is_incident(INCIDENT__V1__SEVERITY__SEVERITY_INFO, 100, why));
}

Test(hd_rules, client_min_count_is_configurable)
{
    char why[128];
    hdf_rules.client_min_count = 2;
    cr_assert_not(is_incident(INCIDENT__V1__SEVERITY__SEVERITY_MINOR, 1, why));
    cr_assert(is_incident(INCIDENT__V1__SEVERITY__SEVERITY_MINOR, 2, why));
}

Test(hd_rules, critical_service_is_incident)
{
    const char *critical[] = {"billing", "payments"};
    hdf_rules.critical_services = critical;
    hdf_rules.n_critical_services = 2;
    hd_state_t *st = state_new(INCIDENT__V1__SEVERITY__SEVERITY_INFO, 1, 0);
    char why[128];
    st->incident->service = "payments";
    cr_assert(hd_is_incident(&hdf_rules, st->incident, why, sizeof(why)));
    cr_assert_str_eq(why, "service payments is critical");
    st->incident->service = "web";
    cr_assert_not(hd_is_incident(&hdf_rules, st->incident, why, sizeof(why)));
    st->incident->service = "payment"; /* exact match only */
    cr_assert_not(hd_is_incident(&hdf_rules, st->incident, why, sizeof(why)));
}

Test(hd_rules, is_incident_accepts_null_why)
{
    hd_state_t *st = state_new(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 1, 0);
    cr_assert(hd_is_incident(&hdf_rules, st->incident, NULL, 0));
}

/* ---- scope ----------------------------------------------------------------- */

static Incident__V1__Scope scope_of(hd_state_t *st, char *why)
{
    return hd_scope_of(&hdf_rules, st, why, 128);
}

Test(hd_rules, one_site_is_local_two_are_global)
{
    char why[128];
    hd_state_t *st = state_new(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 1, 0);
    cr_assert_eq(scope_of(st, why), INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    cr_assert_str_eq(why, "1 site, 0 clients: below global thresholds (2 sites, 10 clients)");
    st = state_new(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 2, 0);
    cr_assert_eq(scope_of(st, why), INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cr_assert_str_eq(why, "2 distinct sites >= 2");
}

Test(hd_rules, repeated_site_counts_once)
{
    char why[128];
    hd_state_t *st = state_new(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 2, 0);
    st->incident->sites[1] = st->incident->sites[0];
    cr_assert_eq(scope_of(st, why), INCIDENT__V1__SCOPE__SCOPE_LOCAL);
}

Test(hd_rules, star_site_is_global)
{
    char why[128];
    hd_state_t *st = state_new(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 1, 0);
    st->incident->sites[0] = "*";
    cr_assert_eq(scope_of(st, why), INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cr_assert_str_eq(why, "site \"*\" (all sites)");
}

Test(hd_rules, nine_clients_local_ten_global)
{
    char why[128];
    hd_state_t *st = state_new(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 1, 9);
    cr_assert_eq(scope_of(st, why), INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    cr_assert_str_eq(why, "1 site, 9 clients: below global thresholds (2 sites, 10 clients)");
    st = state_new(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 1, 10);
    cr_assert_eq(scope_of(st, why), INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cr_assert_str_eq(why, "10 distinct clients >= 10");
}

Test(hd_rules, no_sites_is_local)
{
    char why[128];
    hd_state_t *st = state_new(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 0, 0);
    cr_assert_eq(scope_of(st, why), INCIDENT__V1__SCOPE__SCOPE_LOCAL);
}

Test(hd_rules, label_scope_global)
{
    char why[128];
    hd_state_t *st = state_new(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 1, 0);
    hdf_state_label(st, "team", "db");
    hdf_state_label(st, "scope", "local");
    cr_assert_eq(scope_of(st, why), INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    hdf_state_label(st, "scope", "global");
    cr_assert_eq(scope_of(st, why), INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cr_assert_str_eq(why, "label scope=global");
}

Test(hd_rules, scope_thresholds_configurable)
{
    char why[128];
    hdf_rules.global_min_sites = 3;
    hdf_rules.global_min_clients = 3;
    hd_state_t *st = state_new(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 2, 2);
    cr_assert_eq(scope_of(st, why), INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    st = state_new(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 2, 3);
    cr_assert_eq(scope_of(st, why), INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
}

Test(hd_rules, scope_of_nothing)
{
    char why[128];
    cr_assert_eq(scope_of(NULL, why), INCIDENT__V1__SCOPE__SCOPE_UNSPECIFIED);
}

/* ---- roster and guidelines ------------------------------------------------- */

Test(hd_rules, owner_exact_before_default)
{
    const hd_roster_entry_t roster[] = {
        {INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER, "*", "tm-default"},
        {INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER, "payments", "tm-payments"},
        {INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER, "", "csm-default"},
        {INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER, "web", "csm-web"},
    };
    hdf_rules.roster = roster;
    hdf_rules.n_roster = 4;
    cr_assert_str_eq(
        hd_owner_of(&hdf_rules, INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER, "payments"),
        "tm-payments");
    cr_assert_str_eq(hd_owner_of(&hdf_rules, INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER, "web"),
                     "tm-default");
    cr_assert_str_eq(
        hd_owner_of(&hdf_rules, INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER, "web"),
        "csm-web");
    cr_assert_str_eq(
        hd_owner_of(&hdf_rules, INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER, "payments"),
        "csm-default");
}

Test(hd_rules, owner_none_without_entry)
{
    cr_assert_str_eq(hd_owner_of(&hdf_rules, INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER, "web"),
                     "");
    const hd_roster_entry_t roster[] = {
        {INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER, "web", "csm-web"},
    };
    hdf_rules.roster = roster;
    hdf_rules.n_roster = 1;
    /* wrong role, or wrong service without a default: nobody */
    cr_assert_str_eq(hd_owner_of(&hdf_rules, INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER, "web"),
                     "");
    cr_assert_str_eq(
        hd_owner_of(&hdf_rules, INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER, "db"), "");
}

Test(hd_rules, guideline_exact_before_default)
{
    const hd_guideline_t guidelines[] = {
        {"*", "follow the standard runbook"},
        {"web", "restart the web tier"},
    };
    cr_assert_str_eq(hd_guideline_of(&hdf_rules, "web"), "");
    hdf_rules.guidelines = guidelines;
    hdf_rules.n_guidelines = 1;
    cr_assert_str_eq(hd_guideline_of(&hdf_rules, "web"), "follow the standard runbook");
    hdf_rules.n_guidelines = 2;
    cr_assert_str_eq(hd_guideline_of(&hdf_rules, "web"), "restart the web tier");
    cr_assert_str_eq(hd_guideline_of(&hdf_rules, "db"), "follow the standard runbook");
    const hd_guideline_t only_web[] = {{"web", "restart the web tier"}};
    hdf_rules.guidelines = only_web;
    hdf_rules.n_guidelines = 1;
    cr_assert_str_eq(hd_guideline_of(&hdf_rules, "db"), "");
}

/* ---- deep copy ----------------------------------------------------------------- */

Test(hd_rules, state_copy_is_deep)
{
    hd_state_t *st = state_new(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 2, 3);
    st->incident->stakeholders = names("person-", 2);
    st->incident->n_stakeholders = 2;
    st->incident->version = 7;
    st->recorded_actions = names("action-", 2);
    st->n_recorded_actions = 2;
    int64_t times[] = {10, 20};
    st->trigger_times_ms = times;
    st->n_trigger_times_ms = 2;
    hdf_state_label(st, "team", "db");
    st->guideline = "be careful";
    st->last_hash = "abc";

    hd_state_t *c = hd_state_copy(&hdf_arena, st);
    cr_assert_neq(c, st);
    cr_assert_neq(c->incident, st->incident);
    cr_assert_str_eq(c->incident->id, "INC-1");
    cr_assert_eq(c->incident->version, 7);
    cr_assert_eq(c->incident->severity, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    cr_assert_neq(c->incident->sites, st->incident->sites);
    cr_assert_eq(c->incident->n_sites, 2);
    cr_assert_str_eq(c->incident->sites[1], "site-1");
    cr_assert_neq(c->incident->clients, st->incident->clients);
    cr_assert_eq(c->incident->n_clients, 3);
    cr_assert_neq(c->incident->stakeholders, st->incident->stakeholders);
    cr_assert_str_eq(c->incident->stakeholders[0], "person-0");
    cr_assert_neq(c->recorded_actions, st->recorded_actions);
    cr_assert_eq(c->n_recorded_actions, 2);
    cr_assert_neq(c->trigger_times_ms, st->trigger_times_ms);
    cr_assert_eq(c->trigger_times_ms[1], 20);
    cr_assert_neq(c->labels, st->labels);
    cr_assert_neq(c->labels[0], st->labels[0]);
    cr_assert_str_eq(c->labels[0]->value, "db");
    cr_assert_str_eq(c->guideline, "be careful");
    cr_assert_str_eq(c->last_hash, "abc");

    /* changing the copy leaves the original alone */
    c->incident->sites[0] = "elsewhere";
    c->incident->version = 9;
    c->trigger_times_ms[0] = 99;
    c->labels[0]->value = "web";
    c->recorded_actions[0] = "x";
    cr_assert_str_eq(st->incident->sites[0], "site-0");
    cr_assert_eq(st->incident->version, 7);
    cr_assert_eq(times[0], 10);
    cr_assert_str_eq(st->labels[0]->value, "db");
    cr_assert_str_eq(st->recorded_actions[0], "action-0");
}

Test(hd_rules, state_copy_of_null_and_empty)
{
    cr_assert_null(hd_state_copy(&hdf_arena, NULL));
    hd_state_t empty = INCIDENTD__V1__STORED_INCIDENT__INIT;
    hd_state_t *c = hd_state_copy(&hdf_arena, &empty);
    cr_assert_not_null(c);
    cr_assert_null(c->incident);
    cr_assert_eq(c->n_labels, 0);
    cr_assert_str_eq(c->guideline, "");
}
