/*
 * test_hd_classified.c — the classified stage (handlers/classified.c): first
 * scope and owner, widening LOCAL to GLOBAL, never narrowing.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "hd_fixture.h"

#define ACTOR "incidentd/classified"

static void setup(void) { hdf_setup(ACTOR, "INC-1:5"); }

TestSuite(hd_classified, .init = setup, .fini = hdf_teardown);

static hd_transition_t run(const hd_state_t *cur)
{
    hd_transition_t out;
    memset(&out, 0x5a, sizeof(out));
    const hd_state_t *ev_src = cur ? cur
                                   : hdf_state_new(INCIDENT__V1__STAGE__STAGE_CLASSIFIED,
                                                   INCIDENT__V1__SCOPE__SCOPE_UNSPECIFIED);
    hd_classified_apply(&hdf_ctx, cur, hdf_event_of(ev_src, HDF_NOW - 10), &out);
    return out;
}

static hd_state_t *classified(void)
{
    return hdf_state_new(INCIDENT__V1__STAGE__STAGE_CLASSIFIED,
                         INCIDENT__V1__SCOPE__SCOPE_UNSPECIFIED);
}

static void clients_set(hd_state_t *st, size_t n)
{
    st->incident->clients = arena_alloc(&hdf_arena, (n ? n : 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++)
        st->incident->clients[i] = arena_printf(&hdf_arena, "client-%zu", i);
    st->incident->n_clients = n;
}

static void label_set(hd_state_t *st, const char *key, const char *value)
{
    Incidentd__V1__StoredIncident__LabelsEntry *e = arena_alloc(&hdf_arena, sizeof(*e));
    Incidentd__V1__StoredIncident__LabelsEntry init =
        INCIDENTD__V1__STORED_INCIDENT__LABELS_ENTRY__INIT;
    *e = init;
    e->key = (char *)key;
    e->value = (char *)value;
    st->labels = arena_alloc(&hdf_arena, sizeof(*st->labels));
    st->labels[0] = e;
    st->n_labels = 1;
}

/* ---- no-ops --------------------------------------------------------------------- */

Test(hd_classified, nothing_without_incident)
{
    hd_transition_t out = run(NULL);
    hdf_check_noop(&out);
}

Test(hd_classified, disturbance_never_scoped)
{
    hd_state_t *cur = classified();
    cur->incident->kind = INCIDENT__V1__KIND__KIND_DISTURBANCE;
    cur->incident->sites = hdf_list(&cur->incident->n_sites, "a", "b", NULL);
    hd_transition_t out = run(cur);
    hdf_check_noop(&out);
}

Test(hd_classified, resolved_incident_not_scoped)
{
    hd_state_t *cur = classified();
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_RESOLVED;
    hd_transition_t out = run(cur);
    hdf_check_noop(&out);
}

Test(hd_classified, invalid_event_rejected)
{
    hd_transition_t out;
    hd_classified_apply(&hdf_ctx, classified(), NULL, &out);
    cr_assert_eq(out.verdict, HD_REJECT);
    cr_assert(strlen(out.error) > 0);
    hd_event_t *ev = hdf_event_of(classified(), HDF_NOW);
    ev->event_id = "";
    hd_classified_apply(&hdf_ctx, classified(), ev, &out);
    cr_assert_eq(out.verdict, HD_REJECT);
    cr_assert(hdf_contains(out.error, "event_id"));
}

/* ---- first scope ----------------------------------------------------------------- */

Test(hd_classified, one_site_is_local_csm)
{
    hd_state_t *cur = classified();
    hd_transition_t out = run(cur);
    hdf_check_records(&out, 6);
    cr_assert_eq(out.n_records, 2);
    const hd_record_t *scoped = out.records[0], *assigned = out.records[1];
    cr_assert_str_eq(scoped->action, "scoped");
    cr_assert_eq(scoped->stage, INCIDENT__V1__STAGE__STAGE_SCOPED);
    cr_assert_eq(scoped->snapshot->scope, INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    cr_assert_eq(scoped->snapshot->owner_role, INCIDENT__V1__ROLE__ROLE_UNSPECIFIED);
    cr_assert(hdf_contains(scoped->detail, "LOCAL"), "%s", scoped->detail);
    cr_assert(hdf_contains(scoped->detail, "below global thresholds"), "%s", scoped->detail);
    cr_assert_str_eq(assigned->action, "assigned");
    cr_assert_eq(assigned->stage, INCIDENT__V1__STAGE__STAGE_SCOPED);
    cr_assert_eq(assigned->snapshot->owner_role, INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER);
    cr_assert(hdf_contains(assigned->detail, "CUSTOMER_SERVICE_MANAGER"), "%s", assigned->detail);

    const hd_incident_t *inc = out.state->incident;
    cr_assert_eq(inc->scope, INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    cr_assert_eq(inc->stage, INCIDENT__V1__STAGE__STAGE_SCOPED);
    cr_assert_eq(inc->owner_role, INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER);
    cr_assert_str_eq(inc->owner, "");
    cr_assert_eq(inc->version, 7);
    cr_assert_eq(out.n_outputs, 1);
    cr_assert_eq(out.outputs[0].topic, HD_TOPIC_SCOPED);
    cr_assert_eq(out.timer_op, HD_TIMER_NONE);
    cr_assert_eq(out.index_op, HD_INDEX_NONE);
    cr_assert(hdf_has_action(out.state, "scoped"));
    cr_assert(hdf_has_action(out.state, "assigned"));
    /* input untouched */
    cr_assert_eq(cur->incident->version, 5);
    cr_assert_eq(cur->incident->scope, INCIDENT__V1__SCOPE__SCOPE_UNSPECIFIED);
    cr_assert_eq(cur->n_recorded_actions, 2);
}

Test(hd_classified, two_sites_are_global_tm)
{
    hd_state_t *cur = classified();
    cur->incident->sites = hdf_list(&cur->incident->n_sites, "site-a", "site-b", NULL);
    hd_transition_t out = run(cur);
    hdf_check_records(&out, 6);
    cr_assert_eq(out.state->incident->scope, INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cr_assert_eq(out.state->incident->owner_role, INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER);
    cr_assert(hdf_contains(out.records[0]->detail, "GLOBAL: 2 distinct sites >= 2"), "%s",
              out.records[0]->detail);
    cr_assert(hdf_contains(out.records[1]->detail, "TECHNICAL_MANAGER"));
}

Test(hd_classified, star_site_is_global)
{
    hd_state_t *cur = classified();
    cur->incident->sites = hdf_list(&cur->incident->n_sites, "*", NULL);
    hd_transition_t out = run(cur);
    cr_assert_eq(out.state->incident->scope, INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
}

Test(hd_classified, nine_clients_local_ten_global)
{
    hd_state_t *cur = classified();
    clients_set(cur, 9);
    hd_transition_t out = run(cur);
    cr_assert_eq(out.state->incident->scope, INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    cur = classified();
    clients_set(cur, 10);
    out = run(cur);
    cr_assert_eq(out.state->incident->scope, INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cr_assert(hdf_contains(out.records[0]->detail, "10 distinct clients"));
}

Test(hd_classified, label_scope_global)
{
    hd_state_t *cur = classified();
    label_set(cur, "scope", "global");
    hd_transition_t out = run(cur);
    cr_assert_eq(out.state->incident->scope, INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cr_assert(hdf_contains(out.records[0]->detail, "label scope=global"));
}

Test(hd_classified, acknowledged_incident_is_scoped)
{
    hd_state_t *cur = classified();
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED;
    hd_transition_t out = run(cur);
    hdf_check_records(&out, 6);
    cr_assert_eq(out.state->incident->status, INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED);
}

/* ---- roster --------------------------------------------------------------------- */

Test(hd_classified, owner_from_roster_exact_service)
{
    const hd_roster_entry_t roster[] = {
        {INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER, "*", "tm-default"},
        {INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER, "db", "tm-db"},
        {INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER, "", "csm-default"},
    };
    hdf_rules.roster = roster;
    hdf_rules.n_roster = 3;
    hd_state_t *cur = classified();
    cur->incident->sites = hdf_list(&cur->incident->n_sites, "*", NULL);
    hd_transition_t out = run(cur);
    cr_assert_str_eq(out.state->incident->owner, "tm-db");
    cr_assert(hdf_contains(out.records[1]->detail, "tm-db"), "%s", out.records[1]->detail);
    cr_assert_str_eq(out.records[1]->snapshot->owner, "tm-db");
}

Test(hd_classified, owner_from_roster_default)
{
    const hd_roster_entry_t roster[] = {
        {INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER, "web", "tm-web"},
        {INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER, "web", "csm-web"},
        {INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER, "*", "csm-default"},
    };
    hdf_rules.roster = roster;
    hdf_rules.n_roster = 3;
    hd_transition_t out = run(classified());
    cr_assert_eq(out.state->incident->owner_role,
                 INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER);
    cr_assert_str_eq(out.state->incident->owner, "csm-default");
}

/* ---- widening -------------------------------------------------------------------- */

Test(hd_classified, local_widens_to_global)
{
    hd_state_t *cur =
        hdf_state_new(INCIDENT__V1__STAGE__STAGE_ESCALATED, INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    cur->incident->owner_role = INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER;
    cur->incident->version = 11;
    cur->incident->sites = hdf_list(&cur->incident->n_sites, "site-a", "site-b", NULL);
    hd_transition_t out = run(cur);
    hdf_check_records(&out, 12);
    cr_assert_eq(out.n_records, 2);
    cr_assert_str_eq(out.records[0]->action, "scoped");
    cr_assert(hdf_contains(out.records[0]->detail, "widened from LOCAL to GLOBAL: "), "%s",
              out.records[0]->detail);
    cr_assert_str_eq(out.records[1]->action, "assigned");
    cr_assert_eq(out.state->incident->scope, INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cr_assert_eq(out.state->incident->stage, INCIDENT__V1__STAGE__STAGE_SCOPED);
    cr_assert_eq(out.state->incident->owner_role, INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER);
    cr_assert_eq(out.state->incident->version, 13);
    cr_assert_eq(out.n_outputs, 1);
    cr_assert_eq(out.outputs[0].topic, HD_TOPIC_SCOPED);
}

Test(hd_classified, local_staying_local_is_noop)
{
    hd_state_t *cur =
        hdf_state_new(INCIDENT__V1__STAGE__STAGE_ESCALATED, INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    clients_set(cur, 9);
    hd_transition_t out = run(cur);
    hdf_check_noop(&out);
}

Test(hd_classified, global_never_narrows)
{
    hd_state_t *cur =
        hdf_state_new(INCIDENT__V1__STAGE__STAGE_ESCALATED, INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    /* one site, no clients: would be LOCAL if scoped now */
    hd_transition_t out = run(cur);
    hdf_check_noop(&out);
}

Test(hd_classified, global_staying_global_is_noop)
{
    hd_state_t *cur =
        hdf_state_new(INCIDENT__V1__STAGE__STAGE_ESCALATED, INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cur->incident->sites = hdf_list(&cur->incident->n_sites, "site-a", "site-b", NULL);
    hd_transition_t out = run(cur);
    hdf_check_noop(&out);
}
