/*
 * followup.c — follow-up and completion: what happens between RESOLVE and
 * CLOSED, and the client update plan of an unresolved incident.
 *
 * RESOLVE starts a confirmation window (followup.window.*); a trigger of the
 * dedup key or COMMAND_REOPEN inside it reopens the same incident. A quiet
 * window ends in `confirmed`, the final updates are planned (`followed_up`,
 * `notification_planned` with their deliveries) and the completion gate
 * decides: `closed`, or `completion_blocked` until the final updates are
 * delivered (or failed: receipts, notify.c) and, when a review is required,
 * the review, the preventive task, the tasks and the sign-offs are there (a
 * REVIEW timer reminds the owner and escalates).
 * Under NOTIFY a CLIENT_UPDATE timer asks for a client update every
 * comms.update_interval while unresolved; two missed in a row escalate.
 * The fired timers of these kinds are decided here (hd_timer_apply() in
 * escalated.c dispatches).
 */
#include "hd_internal.h"

#include <stdio.h>
#include <string.h>

/* Audit actions every closed record must contain. */
static const hd_action_t required_actions[] = {HD_ACTION_DETECTED, HD_ACTION_CLASSIFIED,
                                               HD_ACTION_RESOLVED};

static int is_global(const hd_incident_t *inc)
{
    return inc->scope == INCIDENT__V1__SCOPE__SCOPE_GLOBAL;
}

static int is_notify(const hd_incident_t *inc)
{
    return inc->client_comms == INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY;
}

/* ---- rules ------------------------------------------------------------------------ */

int64_t hd_followup_window(const hd_rules_t *r, const hd_incident_t *inc)
{
    if (inc->kind != INCIDENT__V1__KIND__KIND_INCIDENT)
        return r->followup_window_disturbance_ms;
    return is_global(inc) ? r->followup_window_global_ms : r->followup_window_local_ms;
}

int64_t hd_client_update_interval(const hd_rules_t *r, const hd_incident_t *inc)
{
    return is_global(inc) ? r->client_update_global_ms : r->client_update_local_ms;
}

int hd_review_required(const hd_rules_t *r, const hd_incident_t *inc)
{
    if (inc->kind != INCIDENT__V1__KIND__KIND_INCIDENT)
        return 0;
    if (r->review_required_global && is_global(inc))
        return 1;
    return r->review_min_severity != INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED &&
           inc->severity >= r->review_min_severity;
}

/* Who must sign off (completion.signoff): the configured list, else the
 * global stakeholders for GLOBAL and the named owner for LOCAL. */
static const char *const *signoff_required(const hd_rules_t *r, const hd_incident_t *inc,
                                           const char **owner_slot, size_t *n)
{
    if (r->n_completion_signoff) {
        *n = r->n_completion_signoff;
        return r->completion_signoff;
    }
    if (is_global(inc)) {
        *n = r->n_global_stakeholders;
        return r->global_stakeholders;
    }
    *owner_slot = inc->owner;
    *n = inc->owner && *inc->owner ? 1 : 0;
    return owner_slot;
}

/* Appends the review pieces of @p inc that are missing to @p v (from *n). */
static void review_missing(const hd_rules_t *r, const hd_incident_t *inc, arena_t *arena,
                           const char **v, size_t *n)
{
    const char *owner_slot = NULL;
    size_t n_signers = 0;
    const char *const *signers = signoff_required(r, inc, &owner_slot, &n_signers);
    if (!inc->review_submitted)
        v[(*n)++] = "review not submitted";
    int preventive = 0;
    for (size_t i = 0; i < inc->n_tasks; i++)
        if (inc->tasks[i] && inc->tasks[i]->preventive && !inc->tasks[i]->cancelled)
            preventive = 1;
    if (!preventive)
        v[(*n)++] = "no preventive task";
    for (size_t i = 0; i < inc->n_tasks; i++) {
        const hd_task_t *t = inc->tasks[i];
        if (t && !t->done && !t->cancelled)
            v[(*n)++] = arena_printf(arena, "task %s not done or cancelled", hd_nz(t->id));
    }
    for (size_t i = 0; i < n_signers; i++)
        if (signers[i] && *signers[i] &&
            !hd_strv_has(inc->signed_off, inc->n_signed_off, signers[i]))
            v[(*n)++] = arena_printf(arena, "sign-off missing: %s", signers[i]);
}

size_t hd_completion_missing(const hd_rules_t *r, const hd_state_t *st, arena_t *arena,
                             const char ***items)
{
    *items = NULL;
    const hd_incident_t *inc = st->incident;
    if (!inc)
        return 0;
    int review = hd_review_required(r, inc);
    if (!review && st->n_pending_final_updates == 0)
        return 0;
    size_t n_signers = 0;
    const char *owner_slot = NULL;
    if (review)
        signoff_required(r, inc, &owner_slot, &n_signers);
    const char **v = arena_alloc(arena, (3 + inc->n_tasks + n_signers) * sizeof(*v));
    size_t n = 0;
    if (st->n_pending_final_updates)
        v[n++] =
            arena_printf(arena, "final updates not delivered: %zu", st->n_pending_final_updates);
    if (review)
        review_missing(r, inc, arena, v, &n);
    *items = n ? v : NULL;
    return n;
}

/* ---- states ----------------------------------------------------------------------- */

int64_t hd_window_end(const hd_rules_t *r, const hd_state_t *st)
{
    if (st->followup_until_ms)
        return st->followup_until_ms;
    return hd_time_add(st->incident->resolved_at_ms, hd_followup_window(r, st->incident));
}

int hd_in_window(const hd_rules_t *r, const hd_state_t *st, int64_t now_ms)
{
    return st && st->incident && st->incident->status == INCIDENT__V1__STATUS__STATUS_RESOLVED &&
           st->incident->confirmed_at_ms == 0 && now_ms < hd_window_end(r, st);
}

int hd_is_blocked(const hd_state_t *st)
{
    return st && st->incident && st->incident->status == INCIDENT__V1__STATUS__STATUS_RESOLVED &&
           st->incident->confirmed_at_ms != 0;
}

/* The owner as a person or, when none is named, as the role. */
static const char *owner_text(arena_t *arena, const hd_incident_t *inc)
{
    if (inc->owner && *inc->owner)
        return inc->owner;
    return arena_printf(arena, "the %s (none named)", hd_role_name(inc->owner_role));
}

/* ---- resolve and reopen ----------------------------------------------------------- */

void hd_resolve(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out, const char *actor,
                const char *detail)
{
    arena_t *a = ctx->arena;
    hd_incident_t *inc = st->incident;
    int64_t window = hd_followup_window(ctx->rules, inc);
    if (window < 0)
        window = 0;
    inc->stage = INCIDENT__V1__STAGE__STAGE_RESOLVED;
    inc->status = INCIDENT__V1__STATUS__STATUS_RESOLVED;
    inc->resolved_at_ms = ctx->now_ms;
    inc->next_client_update_due_ms = 0;
    st->missed_client_updates = 0;
    st->followup_until_ms = hd_time_add(ctx->now_ms, window);
    hd_record_add(
        ctx, st, out, HD_ACTION_RESOLVED, actor,
        window ? arena_printf(a, "%s; confirmation window %s", detail, hd_duration_text(a, window))
               : arena_printf(a, "%s; no confirmation window", detail));
    hd_timer_add(out, HD_TIMER_CANCEL, HD_TIMER_ACK, inc->escalation_level, 0);
    if (st->client_update_seq)
        hd_timer_add(out, HD_TIMER_CANCEL, HD_TIMER_CLIENT_UPDATE, st->client_update_seq, 0);
    if (window)
        hd_timer_add(out, HD_TIMER_ARM, HD_TIMER_CONFIRM, inc->reopen_count, st->followup_until_ms);
    hd_output_add(out, HD_TOPIC_RESOLVED);
}

void hd_client_update_arm(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out)
{
    hd_incident_t *inc = st->incident;
    st->client_update_seq++;
    inc->next_client_update_due_ms =
        hd_time_add(ctx->now_ms, hd_client_update_interval(ctx->rules, inc));
    hd_timer_add(out, HD_TIMER_ARM, HD_TIMER_CLIENT_UPDATE, st->client_update_seq,
                 inc->next_client_update_due_ms);
}

void hd_reopen(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out, const char *actor,
               const char *detail)
{
    const hd_rules_t *r = ctx->rules;
    hd_incident_t *inc = st->incident;
    uint32_t old_confirm = inc->reopen_count;
    int incident = inc->kind == INCIDENT__V1__KIND__KIND_INCIDENT;
    inc->status = INCIDENT__V1__STATUS__STATUS_OPEN;
    inc->reopen_count++;
    inc->resolved_at_ms = 0;
    inc->acknowledged_at_ms = 0;
    st->followup_until_ms = 0;
    /* Back where the process left it: never scoped, scoped but not yet
     * handled, or handled (escalated at its level). */
    hd_topic_t topic = HD_TOPIC_ESCALATED;
    if (!incident || inc->scope == INCIDENT__V1__SCOPE__SCOPE_UNSPECIFIED) {
        inc->stage = INCIDENT__V1__STAGE__STAGE_CLASSIFIED;
        topic = HD_TOPIC_CLASSIFIED;
    } else if (inc->client_comms == INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_UNSPECIFIED) {
        inc->stage = INCIDENT__V1__STAGE__STAGE_SCOPED;
        topic = HD_TOPIC_SCOPED;
    } else {
        inc->stage = INCIDENT__V1__STAGE__STAGE_ESCALATED;
        if (is_notify(inc))
            hd_client_update_arm(ctx, st, out);
    }
    hd_record_add(ctx, st, out, HD_ACTION_REOPENED, actor,
                  arena_printf(ctx->arena, "%s; reopened %u time%s, level %u", detail,
                               inc->reopen_count, inc->reopen_count == 1 ? "" : "s",
                               inc->escalation_level));
    hd_timer_add(out, HD_TIMER_CANCEL, HD_TIMER_CONFIRM, old_confirm, 0);
    if (topic == HD_TOPIC_ESCALATED && inc->escalation_level < r->max_escalation_level)
        hd_timer_add(out, HD_TIMER_ARM, HD_TIMER_ACK, inc->escalation_level,
                     hd_time_add(ctx->now_ms, r->ack_timeout_ms));
    if (incident) /* disturbances never appear on scoped or escalated */
        hd_output_add(out, topic);
}

/* ---- confirmation and the completion gate --------------------------------------- */

/* "" when the record of @p st is complete, else what is missing; @p base is
 * the version the state came with (before this transition's records). */
static const char *record_missing(arena_t *arena, const hd_state_t *st, uint64_t base)
{
    const char *missing = "";
    for (size_t i = 0; i < sizeof(required_actions) / sizeof(required_actions[0]); i++) {
        const char *name = hd_action_name(required_actions[i]);
        if (!hd_strv_has(st->recorded_actions, st->n_recorded_actions, name))
            missing = arena_printf(arena, "%s%s%s", missing, *missing ? ", " : "", name);
    }
    if (base == 0)
        missing =
            arena_printf(arena, "%s%saudit sequence (version 0)", missing, *missing ? ", " : "");
    return missing;
}

/* Closes @p st: stage and status CLOSED, the `closed` record. */
static void close_incident(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out)
{
    arena_t *a = ctx->arena;
    const char *missing = record_missing(a, st, st->incident->version - out->n_records);
    hd_incident_t *inc = st->incident;
    inc->stage = INCIDENT__V1__STAGE__STAGE_CLOSED;
    inc->status = INCIDENT__V1__STATUS__STATUS_CLOSED;
    inc->closed_at_ms = ctx->now_ms;
    /* The closing record is the last of the chain: it counts itself. */
    hd_record_add(ctx, st, out, HD_ACTION_CLOSED, NULL,
                  *missing ? arena_printf(a, "record incomplete: missing %s", missing)
                           : arena_printf(a, "record complete (%llu records)",
                                          (unsigned long long)(inc->version + 1)));
    if (st->review_seq)
        hd_timer_add(out, HD_TIMER_CANCEL, HD_TIMER_REVIEW, st->review_seq, 0);
    out->closed = 1;
}

/* "a; b; c" of the @p n missing pieces. */
static const char *missing_text(arena_t *arena, const char **items, size_t n)
{
    const char *text = "";
    for (size_t i = 0; i < n; i++)
        text = arena_printf(arena, "%s%s%s", text, i ? "; " : "", items[i]);
    return text;
}

/* Arms the next REVIEW timer (seq +1) at now + review.due. */
static void review_arm(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out)
{
    st->review_seq++;
    hd_timer_add(out, HD_TIMER_ARM, HD_TIMER_REVIEW, st->review_seq,
                 hd_time_add(ctx->now_ms, ctx->rules->review_due_ms));
}

/* Adds the ids of out->deliveries from @p first to the pending final
 * updates of @p st (a new array): the completion gate waits for them. */
static void pending_add(arena_t *arena, hd_state_t *st, const hd_transition_t *out, size_t first)
{
    size_t add = out->n_deliveries - first;
    if (add == 0)
        return;
    size_t n = st->n_pending_final_updates;
    char **v = arena_alloc(arena, (n + add) * sizeof(*v));
    if (n)
        memcpy(v, st->pending_final_updates, n * sizeof(*v));
    for (size_t i = 0; i < add; i++)
        v[n + i] = (char *)out->deliveries[first + i].id;
    st->pending_final_updates = v;
    st->n_pending_final_updates = n + add;
}

/* `followed_up` and, when anyone is to be told, the final update planned
 * (`notification_planned`) for the stakeholders and, under NOTIFY, the
 * clients; its deliveries stay pending until their receipts. */
static void followup_plan(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out)
{
    arena_t *a = ctx->arena;
    hd_incident_t *inc = st->incident;
    hd_recipient_t *to;
    size_t n =
        hd_recipients_of(a, inc, HD_TO_STAKEHOLDERS | (is_notify(inc) ? HD_TO_CLIENTS : 0), &to);
    if (n == 0) {
        hd_record_add(ctx, st, out, HD_ACTION_FOLLOWED_UP, NULL, "no recipients: no final update");
        return;
    }
    hd_record_add(ctx, st, out, HD_ACTION_FOLLOWED_UP, NULL,
                  arena_printf(a, "final update planned for %zu stakeholder%s%s",
                               inc->n_stakeholders, inc->n_stakeholders == 1 ? "" : "s",
                               is_notify(inc) ? " and the clients" : ""));
    pending_add(a, st, out, hd_notify_plan(ctx, st, out, HD_NOTICE_FINAL_UPDATE, to, n, NULL));
}

void hd_confirm(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out)
{
    arena_t *a = ctx->arena;
    hd_incident_t *inc = st->incident;
    int64_t window = hd_followup_window(ctx->rules, inc);
    inc->confirmed_at_ms = ctx->now_ms;
    hd_record_add(ctx, st, out, HD_ACTION_CONFIRMED, NULL,
                  window > 0 ? arena_printf(a, "no trigger or reopen within %s of the resolution",
                                            hd_duration_text(a, window))
                             : "confirmed at once (no confirmation window)");
    out->index_op = HD_INDEX_CLOSE;
    followup_plan(ctx, st, out);

    const char **items;
    size_t n = hd_completion_missing(ctx->rules, st, a, &items);
    if (n == 0) {
        close_incident(ctx, st, out);
        return;
    }
    hd_record_add(ctx, st, out, HD_ACTION_COMPLETION_BLOCKED, NULL,
                  arena_printf(a, "%s; %zu missing: %s; %s reminded in %s",
                               hd_review_required(ctx->rules, inc) ? "review required"
                                                                   : "final updates pending",
                               n, missing_text(a, items, n), owner_text(a, inc),
                               hd_duration_text(a, ctx->rules->review_due_ms)));
    review_arm(ctx, st, out);
}

void hd_gate_recheck(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out)
{
    const char **items;
    if (hd_is_blocked(st) && hd_completion_missing(ctx->rules, st, ctx->arena, &items) == 0)
        close_incident(ctx, st, out);
}

/* ---- fired timers ----------------------------------------------------------------- */

void hd_timer_confirm(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_timer_t *timer,
                      hd_transition_t *out)
{
    if (!cur || cur->incident->status != INCIDENT__V1__STATUS__STATUS_RESOLVED ||
        cur->incident->confirmed_at_ms != 0 || timer->level != cur->incident->reopen_count)
        return; /* reopened, confirmed already, or closed */
    hd_confirm(ctx, hd_state_copy(ctx->arena, cur), out);
}

void hd_timer_client_update(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_timer_t *timer,
                            hd_transition_t *out)
{
    if (!cur || cur->incident->kind != INCIDENT__V1__KIND__KIND_INCIDENT ||
        !hd_is_open(cur->incident) || !is_notify(cur->incident) ||
        timer->level != cur->client_update_seq)
        return; /* resolved, reset by a client update meanwhile, or no plan */
    arena_t *a = ctx->arena;
    const hd_rules_t *r = ctx->rules;
    hd_state_t *st = hd_state_copy(a, cur);
    hd_incident_t *inc = st->incident;
    int64_t due = inc->next_client_update_due_ms;
    st->missed_client_updates++;
    hd_client_update_arm(ctx, st, out);
    hd_record_add(ctx, st, out, HD_ACTION_CLIENT_UPDATE_DUE, NULL,
                  arena_printf(a,
                               "client update due at %lld (every %s) not given: %u missed in "
                               "a row; %s asked; next due at %lld",
                               (long long)due,
                               hd_duration_text(a, hd_client_update_interval(r, inc)),
                               st->missed_client_updates, owner_text(a, inc),
                               (long long)inc->next_client_update_due_ms));
    hd_notify_team(ctx, st, out, HD_NOTICE_CLIENT_UPDATE_DUE, HD_TO_OWNER, NULL);
    hd_output_add(out, HD_TOPIC_ESCALATED);
    if (st->missed_client_updates >= r->client_updates_missed_max &&
        inc->escalation_level < r->max_escalation_level) {
        uint32_t missed = st->missed_client_updates;
        st->missed_client_updates = 0;
        hd_escalate(ctx, st, out, arena_printf(a, "%u client updates missed in a row", missed));
    }
}

void hd_timer_review(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_timer_t *timer,
                     hd_transition_t *out)
{
    if (!hd_is_blocked(cur) || timer->level != cur->review_seq)
        return; /* closed meanwhile, or a newer reminder is armed */
    arena_t *a = ctx->arena;
    const hd_rules_t *r = ctx->rules;
    hd_state_t *st = hd_state_copy(a, cur);
    hd_incident_t *inc = st->incident;
    const char **items;
    size_t n = hd_completion_missing(r, st, a, &items);
    if (n == 0) { /* the rules changed since: nothing is missing any more */
        close_incident(ctx, st, out);
        return;
    }
    hd_record_add(ctx, st, out, HD_ACTION_COMPLETION_BLOCKED, NULL,
                  arena_printf(a, "reminder to %s: still %zu missing after %s: %s",
                               owner_text(a, inc), n, hd_duration_text(a, r->review_due_ms),
                               missing_text(a, items, n)));
    hd_notify_team(ctx, st, out, HD_NOTICE_COMPLETION_REMINDER, HD_TO_OWNER, NULL);
    if (inc->escalation_level < r->max_escalation_level)
        hd_escalate(
            ctx, st, out,
            arena_printf(a, "completion overdue by %s", hd_duration_text(a, r->review_due_ms)));
    review_arm(ctx, st, out);
}
