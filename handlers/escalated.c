/*
 * escalated.c — the escalated stage: the ack timer. An escalated incident
 * that nobody has acknowledged arms a timer at its current level; when the
 * timer fires and the incident is still open at that level, it goes one
 * level up (up to max_escalation_level), more people are informed and it is
 * emitted on incidents.escalated again, which arms the next timer.
 */
#include "handlers.h"

#include <stdio.h>
#include <string.h>

/* ---- transition helpers ------------------------------------------------------ */

static char *nz(const char *s) { return (char *)(s ? s : protobuf_c_empty_string); }

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
    for (size_t i = 0; i < st->n_recorded_actions; i++)
        if (strcmp(st->recorded_actions[i], action) == 0)
            return;
    char **v = arena_alloc(arena, (st->n_recorded_actions + 1) * sizeof(*v));
    if (st->n_recorded_actions)
        memcpy(v, st->recorded_actions, st->n_recorded_actions * sizeof(*v));
    v[st->n_recorded_actions] = arena_strdup(arena, action);
    st->recorded_actions = v;
    st->n_recorded_actions++;
}

/* Appends one audit record for the change just made to @p st: the version
 * moves to the record's seq and the record carries a snapshot of the
 * incident as it is now. */
static void record_add(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out,
                       const char *action, const char *actor, const char *detail)
{
    if (out->n_records >= HD_MAX_RECORDS)
        return; /* no handler writes more than a few; keep the array safe */
    hd_incident_t *inc = st->incident;
    hd_record_t *rec = arena_alloc(ctx->arena, sizeof(*rec));
    hd_record_t init = INCIDENT__V1__AUDIT_RECORD__INIT;
    *rec = init;
    inc->version++;
    rec->incident_id = nz(inc->id);
    rec->seq = inc->version;
    rec->stage = inc->stage;
    rec->action = arena_strdup(ctx->arena, action);
    rec->actor = arena_strdup(ctx->arena, actor && *actor ? actor : ctx->actor);
    rec->at_ms = ctx->now_ms;
    rec->detail = arena_strdup(ctx->arena, detail);
    rec->snapshot = snapshot_of(ctx->arena, inc);
    rec->cause_id = arena_strdup(ctx->arena, ctx->cause_id);
    action_note(ctx->arena, st, action);
    out->records[out->n_records++] = rec;
    out->state = st;
    out->verdict = HD_APPLY;
}

static void output_add(hd_transition_t *out, hd_topic_t topic)
{
    if (out->n_outputs < HD_MAX_OUTPUTS)
        out->outputs[out->n_outputs++].topic = topic;
}

/* Outputs carry the final snapshot of the new state. */
static void outputs_finish(hd_transition_t *out)
{
    for (size_t i = 0; i < out->n_outputs; i++)
        out->outputs[i].snapshot = out->state ? out->state->incident : NULL;
}

/* "30 min", "90 s" or "1500 ms". */
static const char *duration_text(arena_t *arena, int64_t ms)
{
    if (ms != 0 && ms % 60000 == 0)
        return arena_printf(arena, "%lld min", (long long)(ms / 60000));
    if (ms != 0 && ms % 1000 == 0)
        return arena_printf(arena, "%lld s", (long long)(ms / 1000));
    return arena_printf(arena, "%lld ms", (long long)ms);
}

/* ---- stakeholders ------------------------------------------------------------ */

/* Adds the non-empty names of @p names not yet informed (a new array). */
static void stakeholders_add(arena_t *arena, hd_incident_t *inc, const char *const *names, size_t n)
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
        size_t j = 0;
        while (j < count && strcmp(v[j], names[i]) != 0)
            j++;
        if (j == count)
            v[count++] = arena_strdup(arena, names[i]);
    }
    inc->stakeholders = v;
    inc->n_stakeholders = count;
}

/* Adds the people to inform on reaching @p level (1..3). */
static void stakeholders_add_level(arena_t *arena, const hd_rules_t *r, hd_incident_t *inc,
                                   uint32_t level)
{
    if (level < sizeof(r->level_stakeholders) / sizeof(r->level_stakeholders[0]))
        stakeholders_add(arena, inc, r->level_stakeholders[level], r->n_level_stakeholders[level]);
}

/* "a, b, c" (at most 16 names, then "and N more"), or "none". */
static const char *names_text(arena_t *arena, char *const *v, size_t n)
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

/* An incident the ack timer applies to: open (not acknowledged) incidents. */
static int timer_applies(const hd_state_t *cur)
{
    return cur && cur->incident && cur->incident->kind == INCIDENT__V1__KIND__KIND_INCIDENT &&
           cur->incident->status == INCIDENT__V1__STATUS__STATUS_OPEN;
}

void hd_escalated_apply(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_event_t *ev,
                        hd_transition_t *out)
{
    memset(out, 0, sizeof(*out));
    if (hd_event_validate(ev, out->error, sizeof(out->error)) < 0) {
        out->verdict = HD_REJECT;
        return;
    }
    if (!timer_applies(cur) || cur->incident->stage != INCIDENT__V1__STAGE__STAGE_ESCALATED)
        return;
    uint32_t level = cur->incident->escalation_level;
    /* An event of an older level is stale: the newer event arms its own. */
    if (ev->incident->escalation_level != level || level >= ctx->rules->max_escalation_level)
        return;
    out->verdict = HD_APPLY;
    out->timer_op = HD_TIMER_ARM;
    out->timer_level = level;
    out->timer_due_ms = ev->at_ms + ctx->rules->ack_timeout_ms;
}

void hd_timer_apply(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_timer_t *timer,
                    hd_transition_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!timer) {
        out->verdict = HD_REJECT;
        snprintf(out->error, sizeof(out->error), "timer: missing");
        return;
    }
    if (!timer_applies(cur))
        return;
    const hd_rules_t *r = ctx->rules;
    uint32_t level = cur->incident->escalation_level;
    if (timer->level != level || level >= r->max_escalation_level)
        return; /* acknowledged, escalated otherwise meanwhile, or at the top */

    arena_t *a = ctx->arena;
    hd_state_t *st = hd_state_copy(a, cur);
    hd_incident_t *inc = st->incident;
    inc->escalation_level = level + 1;
    inc->stage = INCIDENT__V1__STAGE__STAGE_ESCALATED;
    if (level == 0) {
        const char *tm[] = {r->tm_stakeholder};
        stakeholders_add(a, inc, tm, 1);
    }
    stakeholders_add_level(a, r, inc, inc->escalation_level);
    record_add(ctx, st, out, "escalated", NULL,
               arena_printf(a, "not acknowledged within %s: level %u -> %u; informed: %s",
                            duration_text(a, r->ack_timeout_ms), level, inc->escalation_level,
                            names_text(a, inc->stakeholders, inc->n_stakeholders)));
    output_add(out, HD_TOPIC_ESCALATED);
    outputs_finish(out);
}
