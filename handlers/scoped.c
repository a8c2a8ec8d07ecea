/*
 * scoped.c — the scoped stage: the handling protocol of a scoped incident.
 * GLOBAL: the Technical Manager runs an action plan, escalation level 1, the
 * global stakeholders are informed and a resolution meeting is held. LOCAL:
 * the Customer Service Manager handles it under the service's guideline at
 * level 0, except a CRITICAL one, which also informs the TM (level 1). Both
 * decide the client communication; under NOTIFY the client update plan
 * starts (a CLIENT_UPDATE timer, followup.c). The escalation notice is
 * planned for the owner and every stakeholder informed at that level
 * (`notification_planned`). A global incident's resolution meeting is planned
 * with the owner and the stakeholders.
 */
#include "hd_internal.h"

#include <stdio.h>
#include <string.h>

/* The resolution meeting of a global incident: owner and stakeholders. */
static void meeting_plan(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out)
{
    arena_t *a = ctx->arena;
    hd_incident_t *inc = st->incident;
    const char *owner = inc->owner && *inc->owner
                            ? inc->owner
                            : arena_printf(a, "%s (none named)", hd_role_name(inc->owner_role));
    hd_record_add(ctx, st, out, HD_ACTION_MEETING_PLANNED, NULL,
                  arena_printf(a, "resolution meeting planned; attendees: %s%s%s", owner,
                               inc->n_stakeholders ? ", " : "",
                               inc->n_stakeholders
                                   ? hd_names_text(a, inc->stakeholders, inc->n_stakeholders)
                                   : ""));
}

/* The clients' notice and the start of their update plan (NOTIFY). */
static void clients_notify(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out)
{
    arena_t *a = ctx->arena;
    hd_incident_t *inc = st->incident;
    const hd_rules_t *r = ctx->rules;
    int global = inc->scope == INCIDENT__V1__SCOPE__SCOPE_GLOBAL;
    hd_client_update_arm(ctx, st, out);
    const char *notice =
        global ? arena_printf(a, "global notice to all clients (%zu affected client%s named)",
                              inc->n_clients, inc->n_clients == 1 ? "" : "s")
               : arena_printf(a, "%zu affected client%s notified: %s", inc->n_clients,
                              inc->n_clients == 1 ? "" : "s",
                              hd_names_text(a, inc->clients, inc->n_clients));
    hd_record_add(ctx, st, out, HD_ACTION_CLIENT_NOTIFIED, NULL,
                  arena_printf(a, "%s; client updates every %s, next due at %lld", notice,
                               hd_duration_text(a, hd_client_update_interval(r, inc)),
                               (long long)inc->next_client_update_due_ms));
}

void hd_scoped_apply(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_event_t *ev,
                     hd_transition_t *out)
{
    memset(out, 0, sizeof(*out));
    if (hd_event_validate(ev, out->error, sizeof(out->error)) < 0) {
        out->verdict = HD_REJECT;
        return;
    }
    if (!cur || !cur->incident || cur->incident->kind != INCIDENT__V1__KIND__KIND_INCIDENT ||
        !hd_is_open(cur->incident) || cur->incident->stage != INCIDENT__V1__STAGE__STAGE_SCOPED)
        return;
    if (cur->incident->scope != INCIDENT__V1__SCOPE__SCOPE_GLOBAL &&
        cur->incident->scope != INCIDENT__V1__SCOPE__SCOPE_LOCAL)
        return; /* stage SCOPED without a scope: nothing to decide from */

    arena_t *a = ctx->arena;
    const hd_rules_t *r = ctx->rules;
    hd_state_t *st = hd_state_copy(a, cur);
    hd_incident_t *inc = st->incident;
    int global = inc->scope == INCIDENT__V1__SCOPE__SCOPE_GLOBAL;

    /* kind is INCIDENT here: clients are told when there are any, or when
     * the incident reaches everyone anyway. */
    inc->client_comms = inc->n_clients > 0 || global
                            ? INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY
                            : INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NONE;
    inc->stage = INCIDENT__V1__STAGE__STAGE_ESCALATED;

    if (global) {
        if (inc->escalation_level < 1)
            inc->escalation_level = 1;
        hd_stakeholders_add(a, inc, r->global_stakeholders, r->n_global_stakeholders);
        hd_stakeholders_add_level(a, r, inc, 1);
        inc->resolution_meeting = 1;
        hd_record_add(ctx, st, out, HD_ACTION_ESCALATED, NULL,
                      arena_printf(a,
                                   "global: Technical Manager runs the action plan; "
                                   "level %u; informed: %s; resolution meeting scheduled",
                                   inc->escalation_level,
                                   hd_names_text(a, inc->stakeholders, inc->n_stakeholders)));
    } else {
        const char *guideline = hd_guideline_of(r, inc->service);
        st->guideline = arena_strdup(a, guideline);
        const char *guideline_text = *guideline ? guideline : "none";
        if (inc->severity >= INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL) {
            if (inc->escalation_level < 1)
                inc->escalation_level = 1;
            const char *tm[] = {r->tm_stakeholder};
            hd_stakeholders_add(a, inc, tm, 1);
            hd_stakeholders_add_level(a, r, inc, 1);
            hd_record_add(ctx, st, out, HD_ACTION_ESCALATED, NULL,
                          arena_printf(a,
                                       "local critical: Customer Service Manager under "
                                       "guideline '%s'; Technical Manager informed; "
                                       "level %u; informed: %s",
                                       guideline_text, inc->escalation_level,
                                       hd_names_text(a, inc->stakeholders, inc->n_stakeholders)));
        } else {
            hd_record_add(ctx, st, out, HD_ACTION_HANDLED, NULL,
                          arena_printf(a,
                                       "local: Customer Service Manager under "
                                       "guideline '%s'; level %u",
                                       guideline_text, inc->escalation_level));
        }
    }

    /* The escalation notice: the owner and everyone informed at this level. */
    hd_notify_team(ctx, st, out, HD_NOTICE_ESCALATION, HD_TO_OWNER | HD_TO_STAKEHOLDERS,
                   arena_printf(a, "level %u", inc->escalation_level));
    if (global)
        meeting_plan(ctx, st, out);
    if (inc->client_comms == INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY)
        clients_notify(ctx, st, out);
    hd_output_add(out, HD_TOPIC_ESCALATED);
    hd_outputs_finish(out);
}
