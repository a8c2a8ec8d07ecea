/*
 * resolved.c — the resolved stage: the follow-up of a resolved incident or
 * disturbance. It sends the final update to the stakeholders (and to the
 * clients when they were notified), checks that the ORMIS record is complete
 * and closes the incident. Audit only: nothing is emitted downstream.
 */
#include "hd_internal.h"

#include <stdio.h>
#include <string.h>

/* Audit actions every closed record must contain. */
static const char *const required_actions[] = {"detected", "classified", "resolved"};

/* "" when the record of @p st is complete, else what is missing. */
static const char *record_missing(arena_t *arena, const hd_state_t *st)
{
    const char *missing = "";
    for (size_t i = 0; i < sizeof(required_actions) / sizeof(required_actions[0]); i++) {
        if (!hd_strv_has(st->recorded_actions, st->n_recorded_actions, required_actions[i]))
            missing =
                arena_printf(arena, "%s%s%s", missing, *missing ? ", " : "", required_actions[i]);
    }
    if (st->incident->version == 0)
        missing =
            arena_printf(arena, "%s%saudit sequence (version 0)", missing, *missing ? ", " : "");
    return missing;
}

void hd_resolved_apply(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_event_t *ev,
                       hd_transition_t *out)
{
    memset(out, 0, sizeof(*out));
    if (hd_event_validate(ev, out->error, sizeof(out->error)) < 0) {
        out->verdict = HD_REJECT;
        return;
    }
    if (!cur || !cur->incident || cur->incident->status != INCIDENT__V1__STATUS__STATUS_RESOLVED)
        return;

    arena_t *a = ctx->arena;
    const char *missing = record_missing(a, cur);
    hd_state_t *st = hd_state_copy(a, cur);
    hd_incident_t *inc = st->incident;

    int notify = inc->client_comms == INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY;
    const char *stakeholders =
        inc->n_stakeholders ? arena_printf(a, "stakeholders (%s)",
                                           hd_names_text(a, inc->stakeholders, inc->n_stakeholders))
                            : NULL;
    const char *clients =
        notify ? arena_printf(a, "%zu client%s", inc->n_clients, inc->n_clients == 1 ? "" : "s")
               : NULL;
    const char *followup;
    if (stakeholders && clients)
        followup = arena_printf(a, "final update sent to %s and to %s", stakeholders, clients);
    else if (stakeholders || clients)
        followup =
            arena_printf(a, "final update sent to %s", stakeholders ? stakeholders : clients);
    else
        followup = "no recipients";
    hd_record_add(ctx, st, out, "followed_up", NULL, followup);

    inc->stage = INCIDENT__V1__STAGE__STAGE_CLOSED;
    inc->status = INCIDENT__V1__STATUS__STATUS_CLOSED;
    inc->closed_at_ms = ctx->now_ms;
    /* The closing record is the last of the chain: it counts itself. */
    hd_record_add(ctx, st, out, "closed", NULL,
                  *missing ? arena_printf(a, "record incomplete: missing %s", missing)
                           : arena_printf(a, "record complete (%llu records)",
                                          (unsigned long long)(inc->version + 1)));
    out->closed = 1;
}
