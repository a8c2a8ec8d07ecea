/*
 * classified.c — the classified stage: the scope of an incident (local or
 * global, rules in rules.c) and its owner. A merge that brings more sites or
 * clients can widen LOCAL to GLOBAL; the scope never narrows. Disturbances
 * are never scoped.
 */
#include "handlers.h"

#include <stdio.h>
#include <string.h>

/* ---- transition helpers ------------------------------------------------------ */

static char *nz(const char *s) { return (char *)(s ? s : protobuf_c_empty_string); }

static int is_open(const hd_incident_t *inc)
{
    return inc->status == INCIDENT__V1__STATUS__STATUS_OPEN ||
           inc->status == INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED;
}

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

/* Records the scope and the owner that goes with it. */
static void scope_assign(const hd_ctx_t *ctx, hd_state_t *st, Incident__V1__Scope scope,
                         const char *scope_detail, hd_transition_t *out)
{
    arena_t *a = ctx->arena;
    hd_incident_t *inc = st->incident;
    inc->scope = scope;
    inc->stage = INCIDENT__V1__STAGE__STAGE_SCOPED;
    record_add(ctx, st, out, "scoped", NULL, scope_detail);

    inc->owner_role = scope == INCIDENT__V1__SCOPE__SCOPE_GLOBAL
                          ? INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER
                          : INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER;
    inc->owner = arena_strdup(a, hd_owner_of(ctx->rules, inc->owner_role, inc->service));
    record_add(ctx, st, out, "assigned", NULL,
               *inc->owner ? arena_printf(a, "%s incident owned by %s %s", hd_scope_name(scope),
                                          hd_role_name(inc->owner_role), inc->owner)
                           : arena_printf(a,
                                          "%s incident owned by %s (no roster entry for "
                                          "service '%s')",
                                          hd_scope_name(scope), hd_role_name(inc->owner_role),
                                          inc->service));
    output_add(out, HD_TOPIC_SCOPED);
}

void hd_classified_apply(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_event_t *ev,
                         hd_transition_t *out)
{
    memset(out, 0, sizeof(*out));
    if (hd_event_validate(ev, out->error, sizeof(out->error)) < 0) {
        out->verdict = HD_REJECT;
        return;
    }
    if (!cur || !cur->incident || cur->incident->kind != INCIDENT__V1__KIND__KIND_INCIDENT ||
        !is_open(cur->incident))
        return;

    char why[256];
    Incident__V1__Scope scope = hd_scope_of(ctx->rules, cur, why, sizeof(why));
    Incident__V1__Scope now_scope = cur->incident->scope;
    if (now_scope == INCIDENT__V1__SCOPE__SCOPE_UNSPECIFIED) {
        hd_state_t *st = hd_state_copy(ctx->arena, cur);
        scope_assign(ctx, st, scope, arena_printf(ctx->arena, "%s: %s", hd_scope_name(scope), why),
                     out);
    } else if (now_scope == INCIDENT__V1__SCOPE__SCOPE_LOCAL &&
               scope == INCIDENT__V1__SCOPE__SCOPE_GLOBAL) {
        hd_state_t *st = hd_state_copy(ctx->arena, cur);
        scope_assign(ctx, st, scope,
                     arena_printf(ctx->arena, "widened from LOCAL to GLOBAL: %s", why), out);
    }
    /* Same scope, or a GLOBAL incident that now looks LOCAL: never narrows. */
    outputs_finish(out);
}
