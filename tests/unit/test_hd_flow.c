/*
 * test_hd_flow.c — whole incident lives through every stage handler, the way
 * the runtime chains them: each transition's state becomes the next current
 * state, each output becomes the next stage's event and each armed timer
 * is fired when its time comes; commands of people join in. Checks that the
 * ORMIS record is one gap-free sequence across stages.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "handlers.h"

#define T0 1700000000000LL
#define MIN_MS 60000LL

static arena_t arena;
static hd_rules_t rules;
static hd_ctx_t ctx;

/* The life so far: current state and every record's action, in order. */
static hd_state_t *state;
static const char *actions[64];
static size_t n_actions;
static uint64_t last_seq;

static void setup(void)
{
    arena_init(&arena, 0);
    hd_rules_default(&rules);
    ctx.rules = &rules;
    ctx.arena = &arena;
    ctx.now_ms = T0;
    ctx.actor = "incidentd";
    ctx.cause_id = "cause";
    state = NULL;
    n_actions = 0;
    last_seq = 0;
}
static void teardown(void) { arena_destroy(&arena); }

TestSuite(hd_flow, .init = setup, .fini = teardown);

/* Takes in an applied transition as the runtime would. */
static void take(const hd_transition_t *out)
{
    cr_assert_neq(out->verdict, HD_REJECT, "rejected: %s", out->error);
    for (size_t i = 0; i < out->n_records; i++) {
        cr_assert_eq(out->records[i]->seq, last_seq + 1, "seq %llu after %llu",
                     (unsigned long long)out->records[i]->seq, (unsigned long long)last_seq);
        last_seq = out->records[i]->seq;
        /* well formed for protobuf-c: no NULL strings, packable */
        cr_assert(protobuf_c_message_check(&out->records[i]->base));
        cr_assert(incident__v1__audit_record__get_packed_size(out->records[i]) > 0);
        cr_assert(n_actions < 64);
        actions[n_actions++] = out->records[i]->action;
    }
    if (out->state) {
        cr_assert_eq(out->state->incident->version, last_seq);
        cr_assert(protobuf_c_message_check(&out->state->base));
        size_t len = incidentd__v1__stored_incident__get_packed_size(out->state);
        uint8_t *buf = arena_alloc(&arena, len);
        incidentd__v1__stored_incident__pack(out->state, buf);
        hd_state_t *back = incidentd__v1__stored_incident__unpack(arena_pb(&arena), len, buf);
        cr_assert_not_null(back);
        cr_assert_eq(back->incident->version, last_seq);
        cr_assert_eq(back->n_recorded_actions, out->state->n_recorded_actions);
        state = out->state;
    }
}

static hd_alert_t *alert_new(Incident__V1__Action action, Incident__V1__Severity sev,
                             const char *site)
{
    hd_alert_t *a = arena_alloc(&arena, sizeof(*a));
    hd_alert_t init = INCIDENT__V1__ALERT__INIT;
    *a = init;
    a->alert_id = arena_printf(&arena, "alert-%zu", n_actions);
    a->dedup_key = "checkout-errors";
    a->action = action;
    a->severity = sev;
    a->service = "checkout";
    if (site) {
        a->sites = arena_alloc(&arena, sizeof(char *));
        a->sites[0] = (char *)site;
        a->n_sites = 1;
    }
    a->actor = "alice";
    return a;
}

static hd_transition_t detect(hd_alert_t *a)
{
    hd_transition_t out;
    hd_detected_apply(&ctx, state, a, "INC-7", &out);
    take(&out);
    return out;
}

static hd_event_t *event_of(const hd_transition_t *out, size_t i)
{
    cr_assert(i < out->n_outputs);
    hd_event_t *ev = arena_alloc(&arena, sizeof(*ev));
    hd_event_t init = INCIDENT__V1__INCIDENT_EVENT__INIT;
    *ev = init;
    ev->incident = (hd_incident_t *)out->outputs[i].snapshot;
    ev->event_id = arena_printf(&arena, "%s:%llu", ev->incident->id,
                                (unsigned long long)ev->incident->version);
    ev->at_ms = ctx.now_ms;
    return ev;
}

typedef void (*stage_fn)(const hd_ctx_t *, const hd_state_t *, const hd_event_t *,
                         hd_transition_t *);

static hd_transition_t stage(stage_fn fn, const hd_transition_t *prev, hd_topic_t topic)
{
    cr_assert_eq(prev->n_outputs, 1);
    cr_assert_eq(prev->outputs[0].topic, topic);
    hd_transition_t out;
    fn(&ctx, state, event_of(prev, 0), &out);
    take(&out);
    return out;
}

static hd_transition_t fire_kind(hd_timer_kind_t kind, uint32_t level)
{
    hd_timer_t t = INCIDENTD__V1__TIMER_FIRED__INIT;
    t.incident_id = "INC-7";
    t.level = level;
    t.kind = (Incidentd__V1__TimerKind)kind;
    hd_transition_t out;
    hd_timer_apply(&ctx, state, &t, &out);
    take(&out);
    return out;
}

static hd_transition_t fire(uint32_t level) { return fire_kind(HD_TIMER_ACK, level); }

/* Fires the timer of @p kind that @p out armed, at its due time. */
static hd_transition_t fire_armed(const hd_transition_t *out, hd_timer_kind_t kind)
{
    const hd_timer_effect_t *t = hd_timer_find(out, kind);
    cr_assert_not_null(t, "no %s timer", hd_timer_kind_name(kind));
    cr_assert_eq(t->op, HD_TIMER_ARM);
    ctx.now_ms = t->due_ms;
    return fire_kind(kind, t->level);
}

/* A command of @p kind by "alice" (text, task id, root cause as given). */
static hd_transition_t command(Incident__V1__CommandKind kind, const char *text,
                               const char *task_id, int preventive, const char *root_cause)
{
    hd_command_t *c = arena_alloc(&arena, sizeof(*c));
    hd_command_t init = INCIDENT__V1__COMMAND__INIT;
    *c = init;
    c->command_id = arena_printf(&arena, "cmd-%zu", n_actions);
    c->incident_id = "INC-7";
    c->kind = kind;
    c->actor = "alice";
    c->text = (char *)(text ? text : "");
    c->task_id = (char *)(task_id ? task_id : "");
    c->preventive = preventive;
    c->root_cause = (char *)(root_cause ? root_cause : "");
    cr_assert_eq(hd_command_validate(c, NULL, 0), 0);
    hd_transition_t out;
    hd_command_apply(&ctx, state, c, &out);
    take(&out);
    return out;
}

static int timer_armed(const hd_transition_t *out, hd_timer_kind_t kind)
{
    const hd_timer_effect_t *t = hd_timer_find(out, kind);
    return t && t->op == HD_TIMER_ARM;
}

static void check_actions(const char *const *expect, size_t n)
{
    cr_assert_eq(n_actions, n, "%zu actions, expected %zu", n_actions, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(actions[i], expect[i], "record %zu", i + 1);
}

Test(hd_flow, global_incident_escalates_until_acknowledged)
{
    hd_alert_t *a = alert_new(INCIDENT__V1__ACTION__ACTION_TRIGGER,
                              INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, "*");
    hd_transition_t det = detect(a);
    hd_transition_t cls = stage(hd_classified_apply, &det, HD_TOPIC_CLASSIFIED);
    cr_assert_eq(state->incident->scope, INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    hd_transition_t scp = stage(hd_scoped_apply, &cls, HD_TOPIC_SCOPED);
    cr_assert_eq(state->incident->escalation_level, 1);

    hd_transition_t esc = stage(hd_escalated_apply, &scp, HD_TOPIC_ESCALATED);
    cr_assert_eq(esc.timer_op, HD_TIMER_ARM);
    cr_assert_eq(esc.timer_due_ms, T0 + 30 * MIN_MS);
    ctx.now_ms = esc.timer_due_ms;
    hd_transition_t up = fire(esc.timer_level);
    cr_assert_eq(state->incident->escalation_level, 2);
    esc = stage(hd_escalated_apply, &up, HD_TOPIC_ESCALATED);
    cr_assert_eq(esc.timer_level, 2);

    ctx.now_ms += MIN_MS;
    hd_transition_t ack = detect(alert_new(INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE,
                                           INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED, NULL));
    cr_assert_eq(ack.timer_op, HD_TIMER_CANCEL);
    ctx.now_ms = esc.timer_due_ms;
    hd_transition_t late = fire(2);
    cr_assert_eq(late.verdict, HD_NOOP);

    hd_transition_t res = detect(alert_new(INCIDENT__V1__ACTION__ACTION_RESOLVE,
                                           INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED, NULL));
    /* inside the 30 min window the resolved stage waits for the timer */
    hd_transition_t wait = stage(hd_resolved_apply, &res, HD_TOPIC_RESOLVED);
    cr_assert_eq(wait.verdict, HD_NOOP);
    hd_transition_t conf = fire_armed(&res, HD_TIMER_CONFIRM);
    cr_assert_eq(conf.index_op, HD_INDEX_CLOSE);
    cr_assert_not(conf.closed); /* GLOBAL: the review is required */
    cr_assert_eq(state->incident->status, INCIDENT__V1__STATUS__STATUS_RESOLVED);

    ctx.now_ms += MIN_MS;
    command(INCIDENT__V1__COMMAND_KIND__COMMAND_REVIEW, "config push without canary", NULL, 0,
            "bad config");
    command(INCIDENT__V1__COMMAND_KIND__COMMAND_TASK_ADD, "canary every push", "T-1", 1, NULL);
    cr_assert_eq(state->incident->status, INCIDENT__V1__STATUS__STATUS_RESOLVED);
    hd_transition_t done =
        command(INCIDENT__V1__COMMAND_KIND__COMMAND_TASK_DONE, NULL, "T-1", 0, NULL);
    cr_assert(done.closed);

    const char *expect[] = {"detected",
                            "classified",
                            "scoped",
                            "assigned",
                            "escalated",
                            "notification_planned", /* the escalation notice */
                            "meeting_planned",
                            "client_notified",
                            "escalated",
                            "notification_planned", /* the re-escalation notice */
                            "acknowledged",
                            "resolved",
                            "confirmed",
                            "followed_up", /* no stakeholder, no client named: no plan */
                            "completion_blocked",
                            "review_submitted",
                            "task_added",
                            "task_done",
                            "closed"};
    check_actions(expect, sizeof(expect) / sizeof(expect[0]));
    cr_assert_str_eq(done.records[1]->detail, "record complete (19 records)");
    cr_assert_eq(state->incident->status, INCIDENT__V1__STATUS__STATUS_CLOSED);
}

Test(hd_flow, local_incident_reopened_inside_window_then_closed)
{
    hd_transition_t det = detect(alert_new(INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                           INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, "ams"));
    hd_transition_t cls = stage(hd_classified_apply, &det, HD_TOPIC_CLASSIFIED);
    hd_transition_t scp = stage(hd_scoped_apply, &cls, HD_TOPIC_SCOPED);
    stage(hd_escalated_apply, &scp, HD_TOPIC_ESCALATED);
    hd_transition_t res = detect(alert_new(INCIDENT__V1__ACTION__ACTION_RESOLVE,
                                           INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED, NULL));
    const hd_timer_effect_t *first = hd_timer_find(&res, HD_TIMER_CONFIRM);
    cr_assert_eq(first->due_ms, ctx.now_ms + 10 * MIN_MS);

    /* it fails again 9 min later: the same incident, reopened */
    ctx.now_ms += 9 * MIN_MS;
    hd_transition_t again = detect(alert_new(INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                             INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, "ams"));
    cr_assert_str_eq(state->incident->id, "INC-7");
    cr_assert_eq(state->incident->reopen_count, 1);
    cr_assert(timer_armed(&again, HD_TIMER_ACK));
    /* the first window's timer is stale now */
    ctx.now_ms = first->due_ms;
    cr_assert_eq(fire_kind(HD_TIMER_CONFIRM, first->level).verdict, HD_NOOP);

    hd_transition_t res2 = detect(alert_new(INCIDENT__V1__ACTION__ACTION_RESOLVE,
                                            INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED, NULL));
    hd_transition_t conf = fire_armed(&res2, HD_TIMER_CONFIRM);
    cr_assert(conf.closed); /* LOCAL MAJOR: no review needed */

    const char *expect[] = {
        "detected", "classified", "scoped", "assigned", "handled",   "notification_planned",
        "resolved", "reopened",   "merged", "resolved", "confirmed", "followed_up",
        "closed"};
    check_actions(expect, sizeof(expect) / sizeof(expect[0]));
}

Test(hd_flow, local_incident_widens_with_second_site)
{
    hd_transition_t det = detect(alert_new(INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                           INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, "ams"));
    hd_transition_t cls = stage(hd_classified_apply, &det, HD_TOPIC_CLASSIFIED);
    cr_assert_eq(state->incident->scope, INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    hd_transition_t scp = stage(hd_scoped_apply, &cls, HD_TOPIC_SCOPED);
    cr_assert_eq(state->incident->escalation_level, 0);
    cr_assert_eq(state->incident->client_comms, INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NONE);
    hd_transition_t esc = stage(hd_escalated_apply, &scp, HD_TOPIC_ESCALATED);
    cr_assert_eq(esc.timer_level, 0);

    /* a second site joins: the classified stage widens it */
    hd_transition_t merged = detect(alert_new(INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                              INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, "fra"));
    cls = stage(hd_classified_apply, &merged, HD_TOPIC_CLASSIFIED);
    cr_assert_eq(state->incident->scope, INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    scp = stage(hd_scoped_apply, &cls, HD_TOPIC_SCOPED);
    cr_assert_eq(state->incident->escalation_level, 1);
    cr_assert(state->incident->resolution_meeting);

    /* the level-0 timer armed before widening is stale now */
    hd_transition_t stale = fire(0);
    cr_assert_eq(stale.verdict, HD_NOOP);

    const char *expect[] = {"detected",
                            "classified",
                            "scoped",
                            "assigned",
                            "handled",
                            "notification_planned",
                            "merged",
                            "scoped",
                            "assigned",
                            "escalated",
                            "notification_planned",
                            "meeting_planned",
                            "client_notified"};
    check_actions(expect, sizeof(expect) / sizeof(expect[0]));
}

Test(hd_flow, repeated_disturbance_becomes_incident)
{
    hd_transition_t det = detect(alert_new(INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                           INCIDENT__V1__SEVERITY__SEVERITY_WARNING, "ams"));
    cr_assert_eq(state->incident->kind, INCIDENT__V1__KIND__KIND_DISTURBANCE);
    hd_transition_t cls = stage(hd_classified_apply, &det, HD_TOPIC_CLASSIFIED);
    cr_assert_eq(cls.verdict, HD_NOOP); /* disturbances are not scoped */

    ctx.now_ms += 4 * MIN_MS;
    hd_transition_t second = detect(alert_new(INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                              INCIDENT__V1__SEVERITY__SEVERITY_WARNING, "ams"));
    cr_assert_eq(second.n_outputs, 0);
    ctx.now_ms += 4 * MIN_MS;
    hd_transition_t third = detect(alert_new(INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                             INCIDENT__V1__SEVERITY__SEVERITY_WARNING, "ams"));
    cr_assert_eq(state->incident->kind, INCIDENT__V1__KIND__KIND_INCIDENT);
    cls = stage(hd_classified_apply, &third, HD_TOPIC_CLASSIFIED);
    cr_assert_eq(state->incident->scope, INCIDENT__V1__SCOPE__SCOPE_LOCAL);

    const char *expect[] = {"detected",     "classified", "merged",  "merged",
                            "reclassified", "scoped",     "assigned"};
    check_actions(expect, sizeof(expect) / sizeof(expect[0]));
}

Test(hd_flow, closed_key_opens_a_new_incident)
{
    detect(alert_new(INCIDENT__V1__ACTION__ACTION_TRIGGER, INCIDENT__V1__SEVERITY__SEVERITY_INFO,
                     NULL));
    hd_transition_t res = detect(alert_new(INCIDENT__V1__ACTION__ACTION_RESOLVE,
                                           INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED, NULL));
    stage(hd_resolved_apply, &res, HD_TOPIC_RESOLVED);
    cr_assert_eq(state->incident->status, INCIDENT__V1__STATUS__STATUS_CLOSED);

    hd_transition_t again;
    hd_detected_apply(&ctx, state,
                      alert_new(INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                INCIDENT__V1__SEVERITY__SEVERITY_INFO, NULL),
                      "INC-8", &again);
    cr_assert_eq(again.verdict, HD_APPLY);
    cr_assert_str_eq(again.state->incident->id, "INC-8");
    cr_assert_eq(again.records[0]->seq, 1);
    cr_assert_eq(again.index_op, HD_INDEX_OPEN);
}
