/*
 * hd_common.c — the transition helpers every stage handler uses (declared in
 * hd_internal.h): audit records with their seq and snapshot, the recorded
 * actions, outputs, stakeholders and the texts of record details.
 */
#include "hd_internal.h"

#include <string.h>

int hd_is_open(const hd_incident_t *inc)
{
    return inc->status == INCIDENT__V1__STATUS__STATUS_OPEN ||
           inc->status == INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED;
}

/* ---- audit actions -------------------------------------------------------------- */

/* The wire string of every hd_action_t, in enum order. */
static const char *const action_names[HD_ACTION_COUNT] = {
    [HD_ACTION_DETECTED] = "detected",
    [HD_ACTION_CLASSIFIED] = "classified",
    [HD_ACTION_RECLASSIFIED] = "reclassified",
    [HD_ACTION_MERGED] = "merged",
    [HD_ACTION_SCOPED] = "scoped",
    [HD_ACTION_ASSIGNED] = "assigned",
    [HD_ACTION_ESCALATED] = "escalated",
    [HD_ACTION_HANDLED] = "handled",
    [HD_ACTION_CLIENT_NOTIFIED] = "client_notified",
    [HD_ACTION_ACKNOWLEDGED] = "acknowledged",
    [HD_ACTION_RESOLVED] = "resolved",
    [HD_ACTION_FOLLOWED_UP] = "followed_up",
    [HD_ACTION_CLOSED] = "closed",
    [HD_ACTION_REOPENED] = "reopened",
    [HD_ACTION_CONFIRMED] = "confirmed",
    [HD_ACTION_COMPLETION_BLOCKED] = "completion_blocked",
    [HD_ACTION_NOTE] = "note",
    [HD_ACTION_MEETING_PLANNED] = "meeting_planned",
    [HD_ACTION_TASK_ADDED] = "task_added",
    [HD_ACTION_TASK_DONE] = "task_done",
    [HD_ACTION_TASK_CANCELLED] = "task_cancelled",
    [HD_ACTION_MEETING_HELD] = "meeting_held",
    [HD_ACTION_CLIENT_UPDATE] = "client_update",
    [HD_ACTION_CLIENT_UPDATE_DUE] = "client_update_due",
    [HD_ACTION_SIGNED_OFF] = "signed_off",
    [HD_ACTION_REVIEW_SUBMITTED] = "review_submitted",
    [HD_ACTION_HANDED_OVER] = "handed_over",
    [HD_ACTION_NOTIFICATION_PLANNED] = "notification_planned",
    [HD_ACTION_NOTIFIED] = "notified",
    [HD_ACTION_DELIVERY_FAILED] = "delivery_failed",
    [HD_ACTION_SILENCED] = "silenced",
};

const char *hd_action_name(hd_action_t action)
{
    if ((unsigned)action >= HD_ACTION_COUNT || !action_names[action])
        return "unknown";
    return action_names[action];
}

int hd_action_parse(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < HD_ACTION_COUNT; i++)
        if (action_names[i] && strcmp(action_names[i], name) == 0)
            return i;
    return -1;
}

/* ---- audit records ------------------------------------------------------------ */

/* A copy of @p inc that later changes to the state cannot reach. */
static hd_incident_t *snapshot_of(arena_t *arena, hd_incident_t *inc)
{
    hd_state_t tmp = INCIDENTD__V1__STORED_INCIDENT__INIT;
    tmp.incident = inc;
    return hd_state_copy(arena, &tmp)->incident;
}

/* Adds @p action to the distinct actions of the state (a new array). */
static void action_note(arena_t *arena, hd_state_t *st, const char *action)
{
    if (hd_strv_has(st->recorded_actions, st->n_recorded_actions, action))
        return;
    char **v = arena_alloc(arena, (st->n_recorded_actions + 1) * sizeof(*v));
    if (st->n_recorded_actions)
        memcpy(v, st->recorded_actions, st->n_recorded_actions * sizeof(*v));
    v[st->n_recorded_actions] = arena_strdup(arena, action);
    st->recorded_actions = v;
    st->n_recorded_actions++;
}

void hd_record_add(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out, hd_action_t action,
                   const char *actor, const char *detail)
{
    if (out->n_records >= HD_MAX_RECORDS)
        return; /* no handler writes more than a few; keep the array safe */
    hd_incident_t *inc = st->incident;
    hd_record_t *rec = arena_alloc(ctx->arena, sizeof(*rec));
    hd_record_t init = INCIDENT__V1__AUDIT_RECORD__INIT;
    *rec = init;
    inc->version++;
    rec->incident_id = hd_nz(inc->id);
    rec->seq = inc->version;
    rec->stage = inc->stage;
    rec->action = (char *)hd_action_name(action);
    rec->actor = arena_strdup(ctx->arena, actor && *actor ? actor : ctx->actor);
    rec->at_ms = ctx->now_ms;
    rec->detail = arena_strdup(ctx->arena, detail);
    rec->snapshot = snapshot_of(ctx->arena, inc);
    rec->cause_id = arena_strdup(ctx->arena, ctx->cause_id);
    action_note(ctx->arena, st, rec->action);
    out->records[out->n_records++] = rec;
    out->state = st;
    out->verdict = HD_APPLY;
}

/* ---- timers ------------------------------------------------------------------- */

const char *hd_timer_kind_name(hd_timer_kind_t kind)
{
    static const char *const names[HD_TIMER_KINDS] = {"ack", "confirm", "client_update", "review"};
    return (unsigned)kind < HD_TIMER_KINDS ? names[kind] : "unknown";
}

void hd_timer_add(hd_transition_t *out, hd_timer_op_t op, hd_timer_kind_t kind, uint32_t level,
                  int64_t due_ms)
{
    if (out->n_timers >= HD_MAX_TIMERS)
        return;
    hd_timer_effect_t *t = &out->timers[out->n_timers++];
    t->op = op;
    t->kind = kind;
    t->level = level;
    t->due_ms = op == HD_TIMER_ARM ? due_ms : 0;
    if (kind == HD_TIMER_ACK) {
        out->timer_op = op;
        out->timer_level = t->level;
        out->timer_due_ms = t->due_ms;
    }
}

const hd_timer_effect_t *hd_timer_find(const hd_transition_t *out, hd_timer_kind_t kind)
{
    for (size_t i = 0; i < out->n_timers && i < HD_MAX_TIMERS; i++)
        if (out->timers[i].kind == kind)
            return &out->timers[i];
    return NULL;
}

int64_t hd_time_add(int64_t t, int64_t d)
{
    if (d > 0 && t > INT64_MAX - d)
        return INT64_MAX;
    if (d < 0 && t < INT64_MIN - d)
        return INT64_MIN;
    return t + d;
}

/* ---- escalation ----------------------------------------------------------------- */

void hd_escalate(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out, const char *why)
{
    arena_t *a = ctx->arena;
    const hd_rules_t *r = ctx->rules;
    hd_incident_t *inc = st->incident;
    uint32_t level = inc->escalation_level;
    inc->escalation_level = level + 1;
    if (level == 0) {
        const char *tm[] = {r->tm_stakeholder};
        hd_stakeholders_add(a, inc, tm, 1);
    }
    hd_stakeholders_add_level(a, r, inc, inc->escalation_level);
    hd_record_add(ctx, st, out, HD_ACTION_ESCALATED, NULL,
                  arena_printf(a, "%s: level %u -> %u; informed: %s", why, level,
                               inc->escalation_level,
                               hd_names_text(a, inc->stakeholders, inc->n_stakeholders)));
    hd_output_add(out, HD_TOPIC_ESCALATED);
}

/* ---- outputs ------------------------------------------------------------------ */

void hd_output_add(hd_transition_t *out, hd_topic_t topic)
{
    for (size_t i = 0; i < out->n_outputs; i++)
        if (out->outputs[i].topic == topic)
            return; /* one event per topic: it carries the final snapshot anyway */
    if (out->n_outputs < HD_MAX_OUTPUTS)
        out->outputs[out->n_outputs++].topic = topic;
}

void hd_outputs_finish(hd_transition_t *out)
{
    for (size_t i = 0; i < out->n_outputs; i++)
        out->outputs[i].snapshot = out->state ? out->state->incident : NULL;
}

/* ---- string sets and stakeholders ---------------------------------------------- */

uint64_t hd_hash64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    return h;
}

void hd_hset_init(hd_hset_t *s, arena_t *arena, size_t max)
{
    size_t cap = 16;
    while (cap < 2 * max)
        cap *= 2;
    s->cap = cap;
    s->n = 0;
    s->slot = arena_alloc(arena, cap * sizeof(*s->slot));
    s->used = arena_alloc(arena, cap);
}

/* The slot of @p h, or the free slot where it would go. */
static size_t hset_find(const hd_hset_t *s, uint64_t h)
{
    size_t mask = s->cap - 1;
    size_t i = (size_t)(h ^ (h >> 29)) & mask;
    while (s->used[i] && s->slot[i] != h)
        i = (i + 1) & mask;
    return i;
}

int hd_hset_add(hd_hset_t *s, uint64_t h)
{
    size_t i = hset_find(s, h);
    if (s->used[i])
        return 0;
    s->used[i] = 1;
    s->slot[i] = h;
    s->n++;
    return 1;
}

int hd_hset_has(const hd_hset_t *s, uint64_t h) { return s->used[hset_find(s, h)]; }

int hd_strv_has(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] && strcmp(v[i], s) == 0)
            return 1;
    return 0;
}

void hd_stakeholders_add(arena_t *arena, hd_incident_t *inc, const char *const *names, size_t n)
{
    if (n == 0 || !names)
        return;
    char **v = arena_alloc(arena, (inc->n_stakeholders + n) * sizeof(*v));
    size_t count = 0;
    for (size_t i = 0; i < inc->n_stakeholders; i++)
        v[count++] = inc->stakeholders[i];
    for (size_t i = 0; i < n; i++) {
        if (!names[i] || !*names[i])
            continue;
        if (!hd_strv_has(v, count, names[i]))
            v[count++] = arena_strdup(arena, names[i]);
    }
    inc->stakeholders = v;
    inc->n_stakeholders = count;
}

void hd_stakeholders_add_level(arena_t *arena, const hd_rules_t *r, hd_incident_t *inc,
                               uint32_t level)
{
    if (level < sizeof(r->level_stakeholders) / sizeof(r->level_stakeholders[0]))
        hd_stakeholders_add(arena, inc, r->level_stakeholders[level],
                            r->n_level_stakeholders[level]);
}

/* ---- texts of record details --------------------------------------------------- */

const char *hd_duration_text(arena_t *arena, int64_t ms)
{
    if (ms != 0 && ms % 86400000 == 0)
        return arena_printf(arena, "%lld d", (long long)(ms / 86400000));
    if (ms != 0 && ms % 60000 == 0)
        return arena_printf(arena, "%lld min", (long long)(ms / 60000));
    if (ms != 0 && ms % 1000 == 0)
        return arena_printf(arena, "%lld s", (long long)(ms / 1000));
    return arena_printf(arena, "%lld ms", (long long)ms);
}

const char *hd_names_text(arena_t *arena, char *const *v, size_t n)
{
    if (n == 0)
        return "none";
    const size_t shown_max = 16;
    const char *text = "";
    for (size_t i = 0; i < n && i < shown_max; i++)
        text = arena_printf(arena, "%s%s%s", text, i ? ", " : "", v[i]);
    if (n > shown_max)
        text = arena_printf(arena, "%s and %zu more", text, n - shown_max);
    return text;
}
