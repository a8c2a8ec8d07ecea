/*
 * test_hd_escalated.c — the escalated stage (handlers/escalated.c): arming
 * the ack timer, re-escalating when it fires, and stopping at the top level
 * or once acknowledged.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <string.h>

#include "handlers.h"

#define ACTOR "incidentd/escalated"

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

TestSuite(hd_escalated, .init = setup, .fini = teardown);

#define EV_AT (NOW - 500)
#define ACK_MS 1800000LL

static hd_state_t *escalated(uint32_t level)
{
    hd_state_t *st =
        state_new(INCIDENT__V1__STAGE__STAGE_ESCALATED, INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    st->incident->escalation_level = level;
    st->incident->owner_role = INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER;
    return st;
}

static hd_transition_t arm(const hd_state_t *cur, const hd_state_t *ev_src)
{
    hd_transition_t out;
    memset(&out, 0x5a, sizeof(out));
    hd_escalated_apply(&ctx, cur, event_of(ev_src, EV_AT), &out);
    return out;
}

static hd_timer_t *timer_new(uint32_t level)
{
    hd_timer_t *t = arena_alloc(&arena, sizeof(*t));
    hd_timer_t init = INCIDENTD__V1__TIMER_FIRED__INIT;
    *t = init;
    t->incident_id = "INC-1";
    t->level = level;
    t->due_ms = NOW;
    return t;
}

static hd_transition_t fire(const hd_state_t *cur, uint32_t level)
{
    hd_transition_t out;
    memset(&out, 0x5a, sizeof(out));
    hd_timer_apply(&ctx, cur, timer_new(level), &out);
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
    rules.ack_timeout_ms = 5000;
    hd_state_t *cur = escalated(2);
    hd_transition_t out = arm(cur, cur);
    cr_assert_eq(out.timer_op, HD_TIMER_ARM);
    cr_assert_eq(out.timer_due_ms, EV_AT + 5000);
}

Test(hd_escalated, stale_event_level_not_armed)
{
    hd_state_t *cur = escalated(2);
    hd_transition_t out = arm(cur, escalated(1));
    check_noop(&out);
}

Test(hd_escalated, no_timer_at_max_level)
{
    hd_state_t *cur = escalated(3);
    hd_transition_t out = arm(cur, cur);
    check_noop(&out);
    rules.max_escalation_level = 4;
    out = arm(cur, cur);
    check_armed(&out, 3);
}

Test(hd_escalated, no_timer_once_acknowledged)
{
    hd_state_t *cur = escalated(1);
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED;
    hd_transition_t out = arm(cur, cur);
    check_noop(&out);
}

Test(hd_escalated, no_timer_when_not_escalated_or_not_incident)
{
    hd_state_t *cur = escalated(1);
    cur->incident->stage = INCIDENT__V1__STAGE__STAGE_SCOPED;
    hd_transition_t out = arm(cur, cur);
    check_noop(&out);
    cur = escalated(1);
    cur->incident->kind = INCIDENT__V1__KIND__KIND_DISTURBANCE;
    out = arm(cur, cur);
    check_noop(&out);
    out = arm(NULL, escalated(1));
    check_noop(&out);
    cur = escalated(1);
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_RESOLVED;
    out = arm(cur, cur);
    check_noop(&out);
}

Test(hd_escalated, invalid_event_rejected)
{
    hd_transition_t out;
    hd_escalated_apply(&ctx, escalated(1), NULL, &out);
    cr_assert_eq(out.verdict, HD_REJECT);
    cr_assert(strlen(out.error) > 0);
}

/* ---- firing --------------------------------------------------------------------- */

Test(hd_escalated, timer_escalates_one_level)
{
    const char *level2[] = {"vp-eng", "cto"};
    rules.level_stakeholders[2] = level2;
    rules.n_level_stakeholders[2] = 2;
    hd_state_t *cur = escalated(1);
    cur->incident->stakeholders = list(&cur->incident->n_stakeholders, "cto", NULL);
    hd_transition_t out = fire(cur, 1);
    check_records(&out, 6);
    cr_assert_eq(out.n_records, 1);
    cr_assert_str_eq(out.records[0]->action, "escalated");
    cr_assert_eq(out.records[0]->stage, INCIDENT__V1__STAGE__STAGE_ESCALATED);
    cr_assert(contains(out.records[0]->detail, "not acknowledged within 30 min: level 1 -> 2"),
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
    rules.level_stakeholders[1] = level1;
    rules.n_level_stakeholders[1] = 1;
    hd_state_t *cur = escalated(0);
    cur->incident->scope = INCIDENT__V1__SCOPE__SCOPE_LOCAL;
    hd_transition_t out = fire(cur, 0);
    check_records(&out, 6);
    const hd_incident_t *inc = out.state->incident;
    cr_assert_eq(inc->escalation_level, 1);
    cr_assert_eq(inc->n_stakeholders, 2);
    cr_assert_str_eq(inc->stakeholders[0], "technical-manager");
    cr_assert_str_eq(inc->stakeholders[1], "duty-manager");
    cr_assert(contains(out.records[0]->detail, "level 0 -> 1"));
}

Test(hd_escalated, timer_of_other_level_ignored)
{
    hd_transition_t out = fire(escalated(2), 1);
    check_noop(&out);
    out = fire(escalated(1), 2);
    check_noop(&out);
}

Test(hd_escalated, timer_stops_at_level_3)
{
    hd_transition_t out = fire(escalated(3), 3);
    check_noop(&out);
}

Test(hd_escalated, timer_ignored_once_acknowledged)
{
    hd_state_t *cur = escalated(1);
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED;
    hd_transition_t out = fire(cur, 1);
    check_noop(&out);
}

Test(hd_escalated, timer_ignored_for_resolved_or_missing)
{
    hd_state_t *cur = escalated(1);
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_RESOLVED;
    hd_transition_t out = fire(cur, 1);
    check_noop(&out);
    out = fire(NULL, 1);
    check_noop(&out);
}

Test(hd_escalated, missing_timer_rejected)
{
    hd_transition_t out;
    hd_timer_apply(&ctx, escalated(1), NULL, &out);
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
    hd_detected_apply(&ctx, cur, &ack, "unused", &acked);
    cr_assert_eq(acked.timer_op, HD_TIMER_CANCEL);
    out = fire(acked.state, 1);
    check_noop(&out);
}

Test(hd_escalated, escalates_to_3_then_stops)
{
    hd_state_t *st = escalated(1);
    for (uint32_t level = 1; level < 3; level++) {
        hd_transition_t armed = arm(st, st);
        check_armed(&armed, level);
        hd_transition_t fired = fire(st, armed.timer_level);
        check_records(&fired, st->incident->version + 1);
        cr_assert_eq(fired.state->incident->escalation_level, level + 1);
        st = fired.state;
    }
    cr_assert_eq(st->incident->escalation_level, 3);
    cr_assert_eq(st->incident->version, 7);
    hd_transition_t out = arm(st, st);
    check_noop(&out);
    out = fire(st, 3);
    check_noop(&out);
}
