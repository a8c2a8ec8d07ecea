/*
 * scoped.c — the scoped stage: the handling protocol of a scoped incident.
 * GLOBAL: the Technical Manager runs an action plan, escalation level 1, the
 * global stakeholders are informed and a resolution meeting is held. LOCAL:
 * the Customer Service Manager handles it under the service's guideline at
 * level 0, except a CRITICAL one, which also informs the TM (level 1). Both
 * decide the client communication.
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

void hd_scoped_apply(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_event_t *ev,
                     hd_transition_t *out)
{
    memset(out, 0, sizeof(*out));
    if (hd_event_validate(ev, out->error, sizeof(out->error)) < 0) {
        out->verdict = HD_REJECT;
        return;
    }
    if (!cur || !cur->incident || cur->incident->kind != INCIDENT__V1__KIND__KIND_INCIDENT ||
        !is_open(cur->incident) || cur->incident->stage != INCIDENT__V1__STAGE__STAGE_SCOPED)
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
        stakeholders_add(a, inc, r->global_stakeholders, r->n_global_stakeholders);
        stakeholders_add_level(a, r, inc, 1);
        inc->resolution_meeting = 1;
        record_add(ctx, st, out, "escalated", NULL,
                   arena_printf(a,
                                "global: Technical Manager runs the action plan; "
                                "level %u; informed: %s; resolution meeting scheduled",
                                inc->escalation_level,
                                names_text(a, inc->stakeholders, inc->n_stakeholders)));
    } else {
        const char *guideline = hd_guideline_of(r, inc->service);
        st->guideline = arena_strdup(a, guideline);
        const char *guideline_text = *guideline ? guideline : "none";
        if (inc->severity >= INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL) {
            if (inc->escalation_level < 1)
                inc->escalation_level = 1;
            const char *tm[] = {r->tm_stakeholder};
            stakeholders_add(a, inc, tm, 1);
            stakeholders_add_level(a, r, inc, 1);
            record_add(ctx, st, out, "escalated", NULL,
                       arena_printf(a,
                                    "local critical: Customer Service Manager under "
                                    "guideline '%s'; Technical Manager informed; "
                                    "level %u; informed: %s",
                                    guideline_text, inc->escalation_level,
                                    names_text(a, inc->stakeholders, inc->n_stakeholders)));
        } else {
            record_add(ctx, st, out, "handled", NULL,
                       arena_printf(a,
                                    "local: Customer Service Manager under "
                                    "guideline '%s'; level %u",
                                    guideline_text, inc->escalation_level));
        }
    }

    if (inc->client_comms == INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY) {
        record_add(ctx, st, out, "client_notified", NULL,
                   global ? arena_printf(a,
                                         "global notice to all clients "
                                         "(%zu affected client%s named)",
                                         inc->n_clients, inc->n_clients == 1 ? "" : "s")
                          : arena_printf(a, "%zu affected client%s notified: %s", inc->n_clients,
                                         inc->n_clients == 1 ? "" : "s",
                                         names_text(a, inc->clients, inc->n_clients)));
    }
    output_add(out, HD_TOPIC_ESCALATED);
    outputs_finish(out);
}
