/*
 * test_hd_classified.c — the classified stage (handlers/classified.c): first
 * scope and owner, widening LOCAL to GLOBAL, never narrowing.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <string.h>

#include "handlers.h"

#define ACTOR "incidentd/classified"

#define NOW 1700000000000LL

static arena_t arena;
static hd_rules_t rules;
static hd_ctx_t ctx;

static void setup(void)
{
    arena_init(&arena, 0);
    hd_rules_default(&rules);
    ctx.rules = &rules;
    ctx.arena = &arena;
    ctx.now_ms = NOW;
    ctx.actor = ACTOR;
    ctx.cause_id = "INC-1:5";
}
static void teardown(void) { arena_destroy(&arena); }

/* ---- builders ------------------------------------------------------------------ */

/* A NULL-terminated list as a new arena array; *n gets its length. */
static char **list(size_t *n, const char *first, ...)
{
    const char *items[64];
    size_t count = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s && count < 64; s = va_arg(ap, const char *))
        items[count++] = s;
    va_end(ap);
    *n = count;
    char **v = arena_alloc(&arena, (count ? count : 1) * sizeof(*v));
    for (size_t i = 0; i < count; i++)
        v[i] = arena_strdup(&arena, items[i]);
    return v;
}

/* An open MAJOR incident of service "db" at @p stage, version 5, one site,
 * no clients, with the records of detection and classification. */
static hd_state_t *state_new(Incident__V1__Stage stage, Incident__V1__Scope scope)
{
    hd_state_t *st = arena_alloc(&arena, sizeof(*st));
    hd_state_t sinit = INCIDENTD__V1__STORED_INCIDENT__INIT;
    *st = sinit;
    hd_incident_t *inc = arena_alloc(&arena, sizeof(*inc));
    hd_incident_t iinit = INCIDENT__V1__INCIDENT__INIT;
    *inc = iinit;
    inc->id = "INC-1";
    inc->dedup_key = "db-down";
    inc->stage = stage;
    inc->status = INCIDENT__V1__STATUS__STATUS_OPEN;
    inc->kind = INCIDENT__V1__KIND__KIND_INCIDENT;
    inc->scope = scope;
    inc->severity = INCIDENT__V1__SEVERITY__SEVERITY_MAJOR;
    inc->service = "db";
    inc->summary = "database down";
    inc->sites = list(&inc->n_sites, "site-a", NULL);
    inc->alert_count = 1;
    inc->version = 5;
    inc->detected_at_ms = NOW - 1000;
    st->incident = inc;
    st->recorded_actions = list(&st->n_recorded_actions, "detected", "classified", NULL);
    return st;
}

/* The event announcing @p st (its snapshot as the runtime would send it). */
static hd_event_t *event_of(const hd_state_t *st, int64_t at_ms)
{
    hd_event_t *ev = arena_alloc(&arena, sizeof(*ev));
    hd_event_t init = INCIDENT__V1__INCIDENT_EVENT__INIT;
    *ev = init;
    ev->incident = hd_state_copy(&arena, st)->incident;
    ev->event_id = arena_printf(&arena, "%s:%llu", ev->incident->id,
                                (unsigned long long)ev->incident->version);
    ev->at_ms = at_ms;
    return ev;
}

static int has_action(const hd_state_t *st, const char *action)
{
    for (size_t i = 0; i < st->n_recorded_actions; i++)
        if (strcmp(st->recorded_actions[i], action) == 0)
            return 1;
    return 0;
}

/* The invariants of every applied transition with records. */
static void check_records(const hd_transition_t *out, uint64_t first_seq)
{
    cr_assert_eq(out->verdict, HD_APPLY);
    cr_assert_not_null(out->state);
    cr_assert(out->n_records > 0);
    for (size_t i = 0; i < out->n_records; i++) {
        const hd_record_t *rec = out->records[i];
        cr_assert_eq(rec->seq, first_seq + i, "record %zu seq %llu", i,
                     (unsigned long long)rec->seq);
        cr_assert_str_eq(rec->incident_id, out->state->incident->id);
        cr_assert_eq(rec->at_ms, NOW);
        cr_assert_str_eq(rec->cause_id, "INC-1:5");
        cr_assert_str_eq(rec->actor, ACTOR);
        cr_assert_str_eq(rec->prev_hash, "");
        cr_assert_str_eq(rec->hash, "");
        cr_assert(strlen(rec->detail) > 0);
        cr_assert_not_null(rec->snapshot);
        cr_assert_eq(rec->snapshot->version, rec->seq);
        cr_assert_eq(rec->stage, rec->snapshot->stage);
        cr_assert_neq(rec->snapshot, out->state->incident);
        for (size_t j = 0; j < i; j++)
            cr_assert_neq(rec->snapshot, out->records[j]->snapshot);
        cr_assert(has_action(out->state, rec->action), "action %s not noted", rec->action);
    }
    cr_assert_eq(out->state->incident->version, first_seq + out->n_records - 1);
    for (size_t i = 0; i < out->n_outputs; i++)
        cr_assert_eq(out->outputs[i].snapshot, out->state->incident);
}

static void check_noop(const hd_transition_t *out)
{
    cr_assert_eq(out->verdict, HD_NOOP);
    cr_assert_null(out->state);
    cr_assert_eq(out->n_records, 0);
    cr_assert_eq(out->n_outputs, 0);
    cr_assert_eq(out->timer_op, HD_TIMER_NONE);
    cr_assert_eq(out->index_op, HD_INDEX_NONE);
    cr_assert_eq(out->closed, 0);
}

static int contains(const char *haystack, const char *needle)
{
    return strstr(haystack, needle) != NULL;
}

TestSuite(hd_classified, .init = setup, .fini = teardown);

static hd_transition_t run(const hd_state_t *cur)
{
    hd_transition_t out;
    memset(&out, 0x5a, sizeof(out));
    const hd_state_t *ev_src = cur ? cur
                                   : state_new(INCIDENT__V1__STAGE__STAGE_CLASSIFIED,
                                               INCIDENT__V1__SCOPE__SCOPE_UNSPECIFIED);
    hd_classified_apply(&ctx, cur, event_of(ev_src, NOW - 10), &out);
    return out;
}

static hd_state_t *classified(void)
{
    return state_new(INCIDENT__V1__STAGE__STAGE_CLASSIFIED, INCIDENT__V1__SCOPE__SCOPE_UNSPECIFIED);
}

static void clients_set(hd_state_t *st, size_t n)
{
    st->incident->clients = arena_alloc(&arena, (n ? n : 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++)
        st->incident->clients[i] = arena_printf(&arena, "client-%zu", i);
    st->incident->n_clients = n;
}

static void label_set(hd_state_t *st, const char *key, const char *value)
{
    Incidentd__V1__StoredIncident__LabelsEntry *e = arena_alloc(&arena, sizeof(*e));
    Incidentd__V1__StoredIncident__LabelsEntry init =
        INCIDENTD__V1__STORED_INCIDENT__LABELS_ENTRY__INIT;
    *e = init;
    e->key = (char *)key;
    e->value = (char *)value;
    st->labels = arena_alloc(&arena, sizeof(*st->labels));
    st->labels[0] = e;
    st->n_labels = 1;
}

/* ---- no-ops --------------------------------------------------------------------- */

Test(hd_classified, nothing_without_incident)
{
    hd_transition_t out = run(NULL);
    check_noop(&out);
}

Test(hd_classified, disturbance_never_scoped)
{
    hd_state_t *cur = classified();
    cur->incident->kind = INCIDENT__V1__KIND__KIND_DISTURBANCE;
    cur->incident->sites = list(&cur->incident->n_sites, "a", "b", NULL);
    hd_transition_t out = run(cur);
    check_noop(&out);
}

Test(hd_classified, resolved_incident_not_scoped)
{
    hd_state_t *cur = classified();
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_RESOLVED;
    hd_transition_t out = run(cur);
    check_noop(&out);
}

Test(hd_classified, invalid_event_rejected)
{
    hd_transition_t out;
    hd_classified_apply(&ctx, classified(), NULL, &out);
    cr_assert_eq(out.verdict, HD_REJECT);
    cr_assert(strlen(out.error) > 0);
    hd_event_t *ev = event_of(classified(), NOW);
    ev->event_id = "";
    hd_classified_apply(&ctx, classified(), ev, &out);
    cr_assert_eq(out.verdict, HD_REJECT);
    cr_assert(contains(out.error, "event_id"));
}

/* ---- first scope ----------------------------------------------------------------- */

Test(hd_classified, one_site_is_local_csm)
{
    hd_state_t *cur = classified();
    hd_transition_t out = run(cur);
    check_records(&out, 6);
    cr_assert_eq(out.n_records, 2);
    const hd_record_t *scoped = out.records[0], *assigned = out.records[1];
    cr_assert_str_eq(scoped->action, "scoped");
    cr_assert_eq(scoped->stage, INCIDENT__V1__STAGE__STAGE_SCOPED);
    cr_assert_eq(scoped->snapshot->scope, INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    cr_assert_eq(scoped->snapshot->owner_role, INCIDENT__V1__ROLE__ROLE_UNSPECIFIED);
    cr_assert(contains(scoped->detail, "LOCAL"), "%s", scoped->detail);
    cr_assert(contains(scoped->detail, "below global thresholds"), "%s", scoped->detail);
    cr_assert_str_eq(assigned->action, "assigned");
    cr_assert_eq(assigned->stage, INCIDENT__V1__STAGE__STAGE_SCOPED);
    cr_assert_eq(assigned->snapshot->owner_role, INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER);
    cr_assert(contains(assigned->detail, "CUSTOMER_SERVICE_MANAGER"), "%s", assigned->detail);

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
    cr_assert(has_action(out.state, "scoped"));
    cr_assert(has_action(out.state, "assigned"));
    /* input untouched */
    cr_assert_eq(cur->incident->version, 5);
    cr_assert_eq(cur->incident->scope, INCIDENT__V1__SCOPE__SCOPE_UNSPECIFIED);
    cr_assert_eq(cur->n_recorded_actions, 2);
}

Test(hd_classified, two_sites_are_global_tm)
{
    hd_state_t *cur = classified();
    cur->incident->sites = list(&cur->incident->n_sites, "site-a", "site-b", NULL);
    hd_transition_t out = run(cur);
    check_records(&out, 6);
    cr_assert_eq(out.state->incident->scope, INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cr_assert_eq(out.state->incident->owner_role, INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER);
    cr_assert(contains(out.records[0]->detail, "GLOBAL: 2 distinct sites >= 2"), "%s",
              out.records[0]->detail);
    cr_assert(contains(out.records[1]->detail, "TECHNICAL_MANAGER"));
}

Test(hd_classified, star_site_is_global)
{
    hd_state_t *cur = classified();
    cur->incident->sites = list(&cur->incident->n_sites, "*", NULL);
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
    cr_assert(contains(out.records[0]->detail, "10 distinct clients"));
}

Test(hd_classified, label_scope_global)
{
    hd_state_t *cur = classified();
    label_set(cur, "scope", "global");
    hd_transition_t out = run(cur);
    cr_assert_eq(out.state->incident->scope, INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cr_assert(contains(out.records[0]->detail, "label scope=global"));
}

Test(hd_classified, acknowledged_incident_is_scoped)
{
    hd_state_t *cur = classified();
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED;
    hd_transition_t out = run(cur);
    check_records(&out, 6);
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
    rules.roster = roster;
    rules.n_roster = 3;
    hd_state_t *cur = classified();
    cur->incident->sites = list(&cur->incident->n_sites, "*", NULL);
    hd_transition_t out = run(cur);
    cr_assert_str_eq(out.state->incident->owner, "tm-db");
    cr_assert(contains(out.records[1]->detail, "tm-db"), "%s", out.records[1]->detail);
    cr_assert_str_eq(out.records[1]->snapshot->owner, "tm-db");
}

Test(hd_classified, owner_from_roster_default)
{
    const hd_roster_entry_t roster[] = {
        {INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER, "web", "tm-web"},
        {INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER, "web", "csm-web"},
        {INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER, "*", "csm-default"},
    };
    rules.roster = roster;
    rules.n_roster = 3;
    hd_transition_t out = run(classified());
    cr_assert_eq(out.state->incident->owner_role,
                 INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER);
    cr_assert_str_eq(out.state->incident->owner, "csm-default");
}

/* ---- widening -------------------------------------------------------------------- */

Test(hd_classified, local_widens_to_global)
{
    hd_state_t *cur =
        state_new(INCIDENT__V1__STAGE__STAGE_ESCALATED, INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    cur->incident->owner_role = INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER;
    cur->incident->version = 11;
    cur->incident->sites = list(&cur->incident->n_sites, "site-a", "site-b", NULL);
    hd_transition_t out = run(cur);
    check_records(&out, 12);
    cr_assert_eq(out.n_records, 2);
    cr_assert_str_eq(out.records[0]->action, "scoped");
    cr_assert(contains(out.records[0]->detail, "widened from LOCAL to GLOBAL: "), "%s",
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
        state_new(INCIDENT__V1__STAGE__STAGE_ESCALATED, INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    clients_set(cur, 9);
    hd_transition_t out = run(cur);
    check_noop(&out);
}

Test(hd_classified, global_never_narrows)
{
    hd_state_t *cur =
        state_new(INCIDENT__V1__STAGE__STAGE_ESCALATED, INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    /* one site, no clients: would be LOCAL if scoped now */
    hd_transition_t out = run(cur);
    check_noop(&out);
}

Test(hd_classified, global_staying_global_is_noop)
{
    hd_state_t *cur =
        state_new(INCIDENT__V1__STAGE__STAGE_ESCALATED, INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cur->incident->sites = list(&cur->incident->n_sites, "site-a", "site-b", NULL);
    hd_transition_t out = run(cur);
    check_noop(&out);
}
