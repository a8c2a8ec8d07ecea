/*
 * escalated.c — the escalated stage: the ack timer. An escalated incident
 * that nobody has acknowledged arms a timer at its current level; when the
 * timer fires and the incident is still open at that level, it goes one
 * level up (up to max_escalation_level), more people are informed and it is
 * emitted on incidents.escalated again, which arms the next timer.
 * hd_timer_apply() is the entry of every fired timer: the other kinds
 * (confirmation, client update, review) are decided in followup.c, the end
 * of a silenced disturbance's silence in detected.c.
 */
#include "hd_internal.h"

#include <stdio.h>
#include <string.h>

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
    /* at_ms is read from the message: a due time beyond the int64 range
     * saturates (never due) rather than overflowing. */
    hd_timer_add(out, HD_TIMER_ARM, HD_TIMER_ACK, level,
                 hd_time_add(ev->at_ms, ctx->rules->ack_timeout_ms));
}

/* The fired ack timer: one level up when still open at that level. */
static void timer_ack(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_timer_t *timer,
                      hd_transition_t *out)
{
    if (!timer_applies(cur))
        return;
    const hd_rules_t *r = ctx->rules;
    uint32_t level = cur->incident->escalation_level;
    if (timer->level != level || level >= r->max_escalation_level)
        return; /* acknowledged, escalated otherwise meanwhile, or at the top */

    arena_t *a = ctx->arena;
    hd_state_t *st = hd_state_copy(a, cur);
    st->incident->stage = INCIDENT__V1__STAGE__STAGE_ESCALATED;
    hd_escalate(
        ctx, st, out,
        arena_printf(a, "not acknowledged within %s", hd_duration_text(a, r->ack_timeout_ms)));
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
    if (cur && !cur->incident)
        return; /* nothing to decide from */
    switch ((int)timer->kind) {
    case HD_TIMER_ACK:
        timer_ack(ctx, cur, timer, out);
        break;
    case HD_TIMER_CONFIRM:
        hd_timer_confirm(ctx, cur, timer, out);
        break;
    case HD_TIMER_CLIENT_UPDATE:
        hd_timer_client_update(ctx, cur, timer, out);
        break;
    case HD_TIMER_REVIEW:
        hd_timer_review(ctx, cur, timer, out);
        break;
    case HD_TIMER_SILENCE_END:
        hd_timer_silence_end(ctx, cur, timer, out);
        break;
    default:
        out->verdict = HD_REJECT;
        snprintf(out->error, sizeof(out->error), "timer: unknown kind %d", (int)timer->kind);
        return;
    }
    hd_outputs_finish(out);
}
