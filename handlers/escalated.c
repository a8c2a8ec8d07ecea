/*
 * escalated.c — the escalated stage: the ack timer. An escalated incident
 * that nobody has acknowledged arms a timer at its current level; when the
 * timer fires and the incident is still open at that level, it goes one
 * level up (up to max_escalation_level), more people are informed and it is
 * emitted on incidents.escalated again, which arms the next timer.
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
    out->timer_op = HD_TIMER_ARM;
    out->timer_level = level;
    /* at_ms is read from the message: a due time beyond the int64 range
     * saturates (never due) rather than overflowing. */
    int64_t timeout = ctx->rules->ack_timeout_ms;
    if (timeout > 0 && ev->at_ms > INT64_MAX - timeout)
        out->timer_due_ms = INT64_MAX;
    else
        out->timer_due_ms = ev->at_ms + timeout;
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
        hd_stakeholders_add(a, inc, tm, 1);
    }
    hd_stakeholders_add_level(a, r, inc, inc->escalation_level);
    hd_record_add(ctx, st, out, "escalated", NULL,
                  arena_printf(a, "not acknowledged within %s: level %u -> %u; informed: %s",
                               hd_duration_text(a, r->ack_timeout_ms), level, inc->escalation_level,
                               hd_names_text(a, inc->stakeholders, inc->n_stakeholders)));
    hd_output_add(out, HD_TOPIC_ESCALATED);
    hd_outputs_finish(out);
}
