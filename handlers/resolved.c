/*
 * resolved.c — the resolved stage: the follow-up of a resolved incident or
 * disturbance. It sends the final update to the stakeholders (and to the
 * clients when they were notified), checks that the ORMIS record is complete
 * and closes the incident. Audit only: nothing is emitted downstream.
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

/* Audit actions every closed record must contain. */
static const char *const required_actions[] = {"detected", "classified", "resolved"};

/* "" when the record of @p st is complete, else what is missing. */
static const char *record_missing(arena_t *arena, const hd_state_t *st)
{
    const char *missing = "";
    for (size_t i = 0; i < sizeof(required_actions) / sizeof(required_actions[0]); i++) {
        size_t j = 0;
        while (j < st->n_recorded_actions &&
               strcmp(nz(st->recorded_actions[j]), required_actions[i]) != 0)
            j++;
        if (j == st->n_recorded_actions)
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
                                           names_text(a, inc->stakeholders, inc->n_stakeholders))
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
    record_add(ctx, st, out, "followed_up", NULL, followup);

    inc->stage = INCIDENT__V1__STAGE__STAGE_CLOSED;
    inc->status = INCIDENT__V1__STATUS__STATUS_CLOSED;
    inc->closed_at_ms = ctx->now_ms;
    /* The closing record is the last of the chain: it counts itself. */
    record_add(ctx, st, out, "closed", NULL,
               *missing ? arena_printf(a, "record incomplete: missing %s", missing)
                        : arena_printf(a, "record complete (%llu records)",
                                       (unsigned long long)(inc->version + 1)));
    out->closed = 1;
}
