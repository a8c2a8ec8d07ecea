/*
 * resolved.c — the resolved stage: the event of a resolved incident or
 * disturbance. One whose confirmation window is already over (a disturbance
 * by default: no window) is confirmed, followed up and goes through the
 * completion gate here (followup.c); one still inside its window waits for
 * its CONFIRM timer, which does the same.
 */
#include "hd_internal.h"

#include <stdio.h>
#include <string.h>

void hd_resolved_apply(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_event_t *ev,
                       hd_transition_t *out)
{
    memset(out, 0, sizeof(*out));
    if (hd_event_validate(ev, out->error, sizeof(out->error)) < 0) {
        out->verdict = HD_REJECT;
        return;
    }
    if (!cur || !cur->incident || cur->incident->status != INCIDENT__V1__STATUS__STATUS_RESOLVED ||
        cur->incident->confirmed_at_ms != 0)
        return;
    if (ctx->now_ms < hd_window_end(ctx->rules, cur))
        return; /* the CONFIRM timer decides at the window's end */
    hd_confirm(ctx, hd_state_copy(ctx->arena, cur), out);
    hd_outputs_finish(out);
}
