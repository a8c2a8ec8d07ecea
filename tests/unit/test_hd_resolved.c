/*
 * test_hd_resolved.c — the resolved stage (handlers/resolved.c): the final
 * update, the completeness check of the ORMIS record and the close.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <string.h>

#include "handlers.h"

#define ACTOR "incidentd/resolved"

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

TestSuite(hd_resolved, .init = setup, .fini = teardown);

/* A resolved incident at version 9 whose record has every step. */
static hd_state_t *resolved(void)
{
    hd_state_t *st =
        state_new(INCIDENT__V1__STAGE__STAGE_RESOLVED, INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    st->incident->status = INCIDENT__V1__STATUS__STATUS_RESOLVED;
    st->incident->resolved_at_ms = NOW - 100;
    st->incident->version = 9;
    st->recorded_actions = list(&st->n_recorded_actions, "detected", "classified", "scoped",
                                "assigned", "handled", "resolved", NULL);
    return st;
}

static hd_transition_t run(const hd_state_t *cur)
{
    hd_transition_t out;
    memset(&out, 0x5a, sizeof(out));
    hd_resolved_apply(&ctx, cur, event_of(cur ? cur : resolved(), NOW - 10), &out);
    return out;
}

Test(hd_resolved, nothing_without_incident)
{
    hd_transition_t out = run(NULL);
    check_noop(&out);
}

Test(hd_resolved, open_incident_not_closed)
{
    hd_state_t *cur = resolved();
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_OPEN;
    hd_transition_t out = run(cur);
    check_noop(&out);
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED;
    out = run(cur);
    check_noop(&out);
}

Test(hd_resolved, closed_incident_not_closed_again)
{
    hd_state_t *cur = resolved();
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_CLOSED;
    cur->incident->stage = INCIDENT__V1__STAGE__STAGE_CLOSED;
    hd_transition_t out = run(cur);
    check_noop(&out);
}

Test(hd_resolved, invalid_event_rejected)
{
    hd_transition_t out;
    hd_event_t *ev = event_of(resolved(), NOW);
    ev->incident->id = "";
    hd_resolved_apply(&ctx, resolved(), ev, &out);
    cr_assert_eq(out.verdict, HD_REJECT);
    cr_assert(contains(out.error, "incident.id"));
}

Test(hd_resolved, complete_record_is_closed)
{
    hd_state_t *cur = resolved();
    hd_transition_t out = run(cur);
    check_records(&out, 10);
    cr_assert_eq(out.n_records, 2);
    const hd_record_t *followed = out.records[0], *closed = out.records[1];
    cr_assert_str_eq(followed->action, "followed_up");
    cr_assert_eq(followed->stage, INCIDENT__V1__STAGE__STAGE_RESOLVED);
    cr_assert_eq(followed->snapshot->status, INCIDENT__V1__STATUS__STATUS_RESOLVED);
    cr_assert_str_eq(followed->detail, "no recipients");
    cr_assert_str_eq(closed->action, "closed");
    cr_assert_eq(closed->stage, INCIDENT__V1__STAGE__STAGE_CLOSED);
    cr_assert_str_eq(closed->detail, "record complete (11 records)");

    const hd_incident_t *inc = out.state->incident;
    cr_assert_eq(inc->stage, INCIDENT__V1__STAGE__STAGE_CLOSED);
    cr_assert_eq(inc->status, INCIDENT__V1__STATUS__STATUS_CLOSED);
    cr_assert_eq(inc->closed_at_ms, NOW);
    cr_assert_eq(inc->resolved_at_ms, NOW - 100);
    cr_assert_eq(inc->version, 11);
    cr_assert_eq(out.closed, 1);
    cr_assert_eq(out.n_outputs, 0);
    cr_assert_eq(out.timer_op, HD_TIMER_NONE);
    cr_assert_eq(out.index_op, HD_INDEX_NONE);
    cr_assert(has_action(out.state, "followed_up"));
    cr_assert(has_action(out.state, "closed"));
    cr_assert_eq(out.state->n_recorded_actions, 8);
    /* input untouched */
    cr_assert_eq(cur->incident->version, 9);
    cr_assert_eq(cur->incident->status, INCIDENT__V1__STATUS__STATUS_RESOLVED);
    cr_assert_eq(cur->n_recorded_actions, 6);
}

Test(hd_resolved, disturbance_record_is_complete)
{
    hd_state_t *cur = resolved();
    cur->incident->kind = INCIDENT__V1__KIND__KIND_DISTURBANCE;
    cur->incident->scope = INCIDENT__V1__SCOPE__SCOPE_UNSPECIFIED;
    cur->incident->version = 3;
    cur->recorded_actions =
        list(&cur->n_recorded_actions, "detected", "classified", "resolved", NULL);
    hd_transition_t out = run(cur);
    check_records(&out, 4);
    cr_assert_str_eq(out.records[0]->detail, "no recipients");
    cr_assert_str_eq(out.records[1]->detail, "record complete (5 records)");
    cr_assert_eq(out.closed, 1);
}

Test(hd_resolved, missing_classified_is_incomplete_but_closed)
{
    hd_state_t *cur = resolved();
    cur->recorded_actions = list(&cur->n_recorded_actions, "detected", "resolved", NULL);
    hd_transition_t out = run(cur);
    check_records(&out, 10);
    cr_assert_str_eq(out.records[1]->detail, "record incomplete: missing classified");
    cr_assert_eq(out.state->incident->status, INCIDENT__V1__STATUS__STATUS_CLOSED);
    cr_assert_eq(out.closed, 1);
}

Test(hd_resolved, missing_several_named)
{
    hd_state_t *cur = resolved();
    cur->recorded_actions = list(&cur->n_recorded_actions, "classified", NULL);
    hd_transition_t out = run(cur);
    cr_assert_str_eq(out.records[1]->detail, "record incomplete: missing detected, resolved");
}

Test(hd_resolved, version_0_is_incomplete)
{
    hd_state_t *cur = resolved();
    cur->incident->version = 0;
    hd_transition_t out = run(cur);
    check_records(&out, 1);
    cr_assert(contains(out.records[1]->detail, "record incomplete: missing"), "%s",
              out.records[1]->detail);
    cr_assert(contains(out.records[1]->detail, "version 0"));
}

Test(hd_resolved, final_update_to_stakeholders_and_clients)
{
    hd_state_t *cur = resolved();
    cur->incident->stakeholders =
        list(&cur->incident->n_stakeholders, "ops-lead", "technical-manager", NULL);
    cur->incident->clients = list(&cur->incident->n_clients, "acme", "globex", "initech", NULL);
    cur->incident->client_comms = INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY;
    hd_transition_t out = run(cur);
    cr_assert_str_eq(out.records[0]->detail,
                     "final update sent to stakeholders (ops-lead, technical-manager) "
                     "and to 3 clients");
}

Test(hd_resolved, final_update_to_stakeholders_only)
{
    hd_state_t *cur = resolved();
    cur->incident->stakeholders = list(&cur->incident->n_stakeholders, "ops-lead", NULL);
    cur->incident->clients = list(&cur->incident->n_clients, "acme", NULL);
    cur->incident->client_comms = INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NONE;
    hd_transition_t out = run(cur);
    cr_assert_str_eq(out.records[0]->detail, "final update sent to stakeholders (ops-lead)");
}

Test(hd_resolved, final_update_to_clients_only)
{
    hd_state_t *cur = resolved();
    cur->incident->clients = list(&cur->incident->n_clients, "acme", NULL);
    cur->incident->client_comms = INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY;
    hd_transition_t out = run(cur);
    cr_assert_str_eq(out.records[0]->detail, "final update sent to 1 client");
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
    hd_detected_apply(&ctx, NULL, &open, "INC-1", &t1);
    cr_assert_eq(t1.state->incident->kind, INCIDENT__V1__KIND__KIND_DISTURBANCE);
    hd_alert_t fix = open;
    fix.alert_id = "a-2";
    fix.action = INCIDENT__V1__ACTION__ACTION_RESOLVE;
    hd_transition_t t2;
    hd_detected_apply(&ctx, t1.state, &fix, "unused", &t2);
    cr_assert_eq(t2.n_outputs, 1);
    cr_assert_eq(t2.outputs[0].topic, HD_TOPIC_RESOLVED);
    hd_transition_t t3 = run(t2.state);
    check_records(&t3, 4);
    cr_assert_str_eq(t3.records[1]->detail, "record complete (5 records)");
    cr_assert_eq(t3.state->incident->status, INCIDENT__V1__STATUS__STATUS_CLOSED);
}
