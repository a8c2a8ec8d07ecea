/*
 * classified.c — the classified stage: the scope of an incident (local or
 * global, rules in rules.c) and its owner. A merge that brings more sites or
 * clients can widen LOCAL to GLOBAL; the scope never narrows. Disturbances
 * are never scoped.
 */
#include "hd_internal.h"

#include <stdio.h>
#include <string.h>

#include "rotation.h"

/* Records the scope and the owner that goes with it. */
static void scope_assign(const hd_ctx_t *ctx, hd_state_t *st, Incident__V1__Scope scope,
                         const char *scope_detail, hd_transition_t *out)
{
    arena_t *a = ctx->arena;
    hd_incident_t *inc = st->incident;
    inc->scope = scope;
    inc->stage = INCIDENT__V1__STAGE__STAGE_SCOPED;
    hd_record_add(ctx, st, out, HD_ACTION_SCOPED, NULL, scope_detail);

    inc->owner_role = scope == INCIDENT__V1__SCOPE__SCOPE_GLOBAL
                          ? INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER
                          : INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER;
    const char *rotation = NULL;
    inc->owner = arena_strdup(a, hd_owner_on_call(ctx->rules, inc, ctx->now_ms, &rotation));
    hd_record_add(ctx, st, out, HD_ACTION_ASSIGNED, NULL,
                  *inc->owner ? arena_printf(a, "%s incident owned by %s %s%s%s%s",
                                             hd_scope_name(scope), hd_role_name(inc->owner_role),
                                             inc->owner, rotation ? " (on call in rotation " : "",
                                             rotation ? rotation : "", rotation ? ")" : "")
                              : arena_printf(a,
                                             "%s incident owned by %s (no roster entry for "
                                             "service '%s')",
                                             hd_scope_name(scope), hd_role_name(inc->owner_role),
                                             inc->service));
    hd_output_add(out, HD_TOPIC_SCOPED);
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
        !hd_is_open(cur->incident))
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
    hd_outputs_finish(out);
}
