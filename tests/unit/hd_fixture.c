/*
 * hd_fixture.c — the fixture of the handler unit tests (see hd_fixture.h).
 */
#include "hd_fixture.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <string.h>

arena_t hdf_arena;
hd_rules_t hdf_rules;
hd_ctx_t hdf_ctx;

/* What hdf_check_records() expects, as given to hdf_setup(). */
static const char *expect_actor;
static const char *expect_cause_id;

void hdf_setup(const char *actor, const char *cause_id)
{
    arena_init(&hdf_arena, 0);
    hd_rules_default(&hdf_rules);
    memset(&hdf_ctx, 0, sizeof(hdf_ctx));
    hdf_ctx.rules = &hdf_rules;
    hdf_ctx.arena = &hdf_arena;
    hdf_ctx.now_ms = HDF_NOW;
    hdf_ctx.actor = actor;
    hdf_ctx.cause_id = cause_id;
    expect_actor = actor;
    expect_cause_id = cause_id;
}

void hdf_teardown(void) { arena_destroy(&hdf_arena); }

/* ---- builders ------------------------------------------------------------------ */

char **hdf_list(size_t *n, const char *first, ...)
{
    const char *items[64];
    size_t count = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s && count < 64; s = va_arg(ap, const char *))
        items[count++] = s;
    va_end(ap);
    *n = count;
    char **v = arena_alloc(&hdf_arena, (count ? count : 1) * sizeof(*v));
    for (size_t i = 0; i < count; i++)
        v[i] = arena_strdup(&hdf_arena, items[i]);
    return v;
}

hd_state_t *hdf_state_new(Incident__V1__Stage stage, Incident__V1__Scope scope)
{
    hd_state_t *st = arena_alloc(&hdf_arena, sizeof(*st));
    hd_state_t sinit = INCIDENTD__V1__STORED_INCIDENT__INIT;
    *st = sinit;
    hd_incident_t *inc = arena_alloc(&hdf_arena, sizeof(*inc));
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
    inc->sites = hdf_list(&inc->n_sites, "site-a", NULL);
    inc->alert_count = 1;
    inc->version = 5;
    inc->detected_at_ms = HDF_NOW - 1000;
    st->incident = inc;
    st->recorded_actions = hdf_list(&st->n_recorded_actions, "detected", "classified", NULL);
    return st;
}

hd_event_t *hdf_event_of(const hd_state_t *st, int64_t at_ms)
{
    hd_event_t *ev = arena_alloc(&hdf_arena, sizeof(*ev));
    hd_event_t init = INCIDENT__V1__INCIDENT_EVENT__INIT;
    *ev = init;
    ev->incident = hd_state_copy(&hdf_arena, st)->incident;
    ev->event_id = arena_printf(&hdf_arena, "%s:%llu", ev->incident->id,
                                (unsigned long long)ev->incident->version);
    ev->at_ms = at_ms;
    return ev;
}

void hdf_state_label(hd_state_t *st, const char *key, const char *value)
{
    Incidentd__V1__StoredIncident__LabelsEntry **v =
        arena_alloc(&hdf_arena, (st->n_labels + 1) * sizeof(*v));
    if (st->n_labels)
        memcpy(v, st->labels, st->n_labels * sizeof(*v));
    Incidentd__V1__StoredIncident__LabelsEntry *e = arena_alloc(&hdf_arena, sizeof(*e));
    Incidentd__V1__StoredIncident__LabelsEntry init =
        INCIDENTD__V1__STORED_INCIDENT__LABELS_ENTRY__INIT;
    *e = init;
    e->key = (char *)key;
    e->value = (char *)value;
    v[st->n_labels++] = e;
    st->labels = v;
}

/* ---- checks -------------------------------------------------------------------- */

int hdf_has_action(const hd_state_t *st, const char *action)
{
    for (size_t i = 0; i < st->n_recorded_actions; i++)
        if (strcmp(st->recorded_actions[i], action) == 0)
            return 1;
    return 0;
}

int hdf_contains(const char *haystack, const char *needle)
{
    return strstr(haystack, needle) != NULL;
}

void hdf_check_records_by(const hd_transition_t *out, uint64_t first_seq, const char *actor)
{
    cr_assert_eq(out->verdict, HD_APPLY);
    cr_assert_not_null(out->state);
    cr_assert(out->n_records > 0);
    for (size_t i = 0; i < out->n_records; i++) {
        const hd_record_t *rec = out->records[i];
        cr_assert_eq(rec->seq, first_seq + i, "record %zu seq %llu", i,
                     (unsigned long long)rec->seq);
        cr_assert_str_eq(rec->incident_id, out->state->incident->id);
        cr_assert_eq(rec->at_ms, HDF_NOW);
        cr_assert_str_eq(rec->cause_id, expect_cause_id);
        cr_assert_str_eq(rec->actor, actor);
        cr_assert_str_eq(rec->prev_hash, "");
        cr_assert_str_eq(rec->hash, "");
        cr_assert(strlen(rec->detail) > 0);
        cr_assert_not_null(rec->snapshot);
        cr_assert_eq(rec->snapshot->version, rec->seq);
        cr_assert_eq(rec->stage, rec->snapshot->stage);
        cr_assert_neq(rec->snapshot, out->state->incident);
        for (size_t j = 0; j < i; j++)
            cr_assert_neq(rec->snapshot, out->records[j]->snapshot);
        cr_assert(hdf_has_action(out->state, rec->action), "action %s not noted", rec->action);
    }
    cr_assert_eq(out->state->incident->version, first_seq + out->n_records - 1);
    for (size_t i = 0; i < out->n_outputs; i++)
        cr_assert_eq(out->outputs[i].snapshot, out->state->incident);
}

void hdf_check_records(const hd_transition_t *out, uint64_t first_seq)
{
    hdf_check_records_by(out, first_seq, expect_actor);
}

void hdf_check_noop(const hd_transition_t *out)
{
    cr_assert_eq(out->verdict, HD_NOOP);
    cr_assert_null(out->state);
    cr_assert_eq(out->n_records, 0);
    cr_assert_eq(out->n_outputs, 0);
    cr_assert_eq(out->timer_op, HD_TIMER_NONE);
    cr_assert_eq(out->n_timers, 0);
    cr_assert_eq(out->index_op, HD_INDEX_NONE);
    cr_assert_eq(out->closed, 0);
    cr_assert_eq(out->n_deliveries, 0);
}

const hd_timer_effect_t *hdf_timer(const hd_transition_t *out, hd_timer_op_t op,
                                   hd_timer_kind_t kind)
{
    cr_assert(out->n_timers <= HD_MAX_TIMERS);
    for (size_t i = 0; i < out->n_timers; i++)
        if (out->timers[i].kind == kind && out->timers[i].op == op)
            return &out->timers[i];
    cr_assert_fail("no %s %s timer effect among %zu", op == HD_TIMER_ARM ? "arm" : "cancel",
                   hd_timer_kind_name(kind), out->n_timers);
    return NULL;
}

int hdf_has_timer(const hd_transition_t *out, hd_timer_op_t op, hd_timer_kind_t kind)
{
    for (size_t i = 0; i < out->n_timers && i < HD_MAX_TIMERS; i++)
        if (out->timers[i].kind == kind && out->timers[i].op == op)
            return 1;
    return 0;
}

size_t hdf_action_index(const hd_transition_t *out, const char *action)
{
    for (size_t i = 0; i < out->n_records; i++)
        if (strcmp(out->records[i]->action, action) == 0)
            return i;
    cr_assert_fail("no %s record among %zu", action, out->n_records);
    return 0;
}

int hdf_has_output(const hd_transition_t *out, hd_topic_t topic)
{
    for (size_t i = 0; i < out->n_outputs; i++)
        if (out->outputs[i].topic == topic)
            return 1;
    return 0;
}

hd_state_t *hdf_state_resolved(Incident__V1__Scope scope, int64_t resolved_at_ms)
{
    hd_state_t *st = hdf_state_new(INCIDENT__V1__STAGE__STAGE_RESOLVED, scope);
    hd_incident_t *inc = st->incident;
    inc->status = INCIDENT__V1__STATUS__STATUS_RESOLVED;
    inc->resolved_at_ms = resolved_at_ms;
    inc->version = 9;
    inc->escalation_level = scope == INCIDENT__V1__SCOPE__SCOPE_GLOBAL ? 1 : 0;
    inc->client_comms = INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NONE;
    inc->owner_role = scope == INCIDENT__V1__SCOPE__SCOPE_GLOBAL
                          ? INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER
                          : INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER;
    st->followup_until_ms = resolved_at_ms + hd_followup_window(&hdf_rules, inc);
    st->recorded_actions = hdf_list(&st->n_recorded_actions, "detected", "classified", "scoped",
                                    "assigned", "handled", "resolved", NULL);
    return st;
}

void hdf_alert_label(hd_alert_t *a, const char *key, const char *value)
{
    Incident__V1__Alert__LabelsEntry **v = arena_alloc(&hdf_arena, (a->n_labels + 1) * sizeof(*v));
    if (a->n_labels)
        memcpy(v, a->labels, a->n_labels * sizeof(*v));
    Incident__V1__Alert__LabelsEntry *e = arena_alloc(&hdf_arena, sizeof(*e));
    Incident__V1__Alert__LabelsEntry init = INCIDENT__V1__ALERT__LABELS_ENTRY__INIT;
    *e = init;
    e->key = (char *)key;
    e->value = (char *)value;
    v[a->n_labels++] = e;
    a->labels = v;
}
