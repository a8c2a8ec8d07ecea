/*
 * commands.c — the commands of people (topic incidents.commands): acknowledge,
 * resolve, reopen, notes, tasks, meetings, client updates, sign-offs, the
 * post-incident review and handovers. Each applied command is one audit
 * record whose actor is the person; a command the incident's state does not
 * allow is rejected with the reason (the runtime dead-letters it). Resolve,
 * reopen and the completion gate are shared with the alerts and timers
 * (followup.c).
 */
#include "hd_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef void (*command_fn)(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_command_t *cmd,
                           hd_transition_t *out);

static void reject(hd_transition_t *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void reject(hd_transition_t *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->error, sizeof(out->error), fmt, ap);
    va_end(ap);
    out->verdict = HD_REJECT;
}

static int has_text(const char *s) { return s && *s; }

/* The command's text, or @p none when it has none. */
static const char *text_or(const hd_command_t *cmd, const char *none)
{
    return has_text(cmd->text) ? cmd->text : none;
}

/* Rejects unless @p cur is RESOLVED (the follow-up commands). */
static int need_resolved(const hd_state_t *cur, const hd_command_t *cmd, hd_transition_t *out,
                         const char *what)
{
    if (cur->incident->status == INCIDENT__V1__STATUS__STATUS_RESOLVED)
        return 0;
    reject(out, "incident %s is %s: %s comes after its resolution", hd_nz(cur->incident->id),
           hd_status_name(cur->incident->status), what);
    return -1;
}

/* ---- the process ---------------------------------------------------------------- */

static void cmd_acknowledge(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_command_t *cmd,
                            hd_transition_t *out)
{
    const hd_incident_t *c = cur->incident;
    if (c->status != INCIDENT__V1__STATUS__STATUS_OPEN) {
        reject(out, "incident %s is %s: only an OPEN incident can be acknowledged", hd_nz(c->id),
               hd_status_name(c->status));
        return;
    }
    hd_state_t *st = hd_state_copy(ctx->arena, cur);
    hd_incident_t *inc = st->incident;
    inc->status = INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED;
    inc->acknowledged_at_ms = ctx->now_ms;
    hd_record_add(ctx, st, out, HD_ACTION_ACKNOWLEDGED, cmd->actor,
                  arena_printf(ctx->arena,
                               "acknowledged by %s (command %s): re-escalation stopped at level %u",
                               cmd->actor, cmd->command_id, inc->escalation_level));
    hd_timer_add(out, HD_TIMER_CANCEL, HD_TIMER_ACK, inc->escalation_level, 0);
}

static void cmd_resolve(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_command_t *cmd,
                        hd_transition_t *out)
{
    const hd_incident_t *c = cur->incident;
    if (!hd_is_open(c)) {
        reject(out, "incident %s is %s: only an OPEN or ACKNOWLEDGED incident can be resolved",
               hd_nz(c->id), hd_status_name(c->status));
        return;
    }
    hd_state_t *st = hd_state_copy(ctx->arena, cur);
    hd_resolve(ctx, st, out, cmd->actor,
               arena_printf(ctx->arena, "%s resolved by %s (command %s): %s", hd_kind_name(c->kind),
                            cmd->actor, cmd->command_id, text_or(cmd, "no summary given")));
}

static void cmd_reopen(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_command_t *cmd,
                       hd_transition_t *out)
{
    const hd_incident_t *c = cur->incident;
    if (!hd_in_window(ctx->rules, cur, ctx->now_ms)) {
        if (c->status != INCIDENT__V1__STATUS__STATUS_RESOLVED)
            reject(out, "incident %s is %s: only a resolved incident can be reopened", hd_nz(c->id),
                   hd_status_name(c->status));
        else
            reject(out,
                   "incident %s: its confirmation window ended at %lld; a new trigger opens a "
                   "new incident",
                   hd_nz(c->id), (long long)hd_window_end(ctx->rules, cur));
        return;
    }
    hd_reopen(ctx, hd_state_copy(ctx->arena, cur), out, cmd->actor,
              arena_printf(ctx->arena, "reopened by %s (command %s): %s", cmd->actor,
                           cmd->command_id, text_or(cmd, "no reason given")));
}

static void cmd_handover(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_command_t *cmd,
                         hd_transition_t *out)
{
    if (!has_text(cmd->assignee)) {
        reject(out, "assignee: required for HANDOVER (the new owner)");
        return;
    }
    if (strcmp(hd_nz(cur->incident->owner), cmd->assignee) == 0) {
        reject(out, "incident %s is owned by %s already", hd_nz(cur->incident->id), cmd->assignee);
        return;
    }
    hd_state_t *st = hd_state_copy(ctx->arena, cur);
    hd_incident_t *inc = st->incident;
    const char *old = *inc->owner ? inc->owner : "nobody named";
    inc->owner = arena_strdup(ctx->arena, cmd->assignee);
    hd_record_add(ctx, st, out, HD_ACTION_HANDED_OVER, cmd->actor,
                  arena_printf(ctx->arena, "owner %s -> %s (by %s): %s", old, inc->owner,
                               cmd->actor, text_or(cmd, "no reason given")));
}

/* ---- notes and meetings --------------------------------------------------------- */

static void cmd_note(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_command_t *cmd,
                     hd_transition_t *out)
{
    if (!has_text(cmd->text)) {
        reject(out, "text: required for NOTE");
        return;
    }
    hd_state_t *st = hd_state_copy(ctx->arena, cur);
    hd_record_add(ctx, st, out, HD_ACTION_NOTE, cmd->actor, cmd->text);
}

static void cmd_meeting(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_command_t *cmd,
                        hd_transition_t *out)
{
    hd_state_t *st = hd_state_copy(ctx->arena, cur);
    hd_incident_t *inc = st->incident;
    if (inc->meetings < UINT32_MAX)
        inc->meetings++;
    hd_record_add(ctx, st, out, HD_ACTION_MEETING_HELD, cmd->actor,
                  arena_printf(ctx->arena, "meeting %u held; attendees: %s; decisions: %s",
                               inc->meetings,
                               hd_names_text(ctx->arena, cmd->attendees, cmd->n_attendees),
                               text_or(cmd, "none recorded")));
}

static void cmd_client_update(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_command_t *cmd,
                              hd_transition_t *out)
{
    const hd_incident_t *c = cur->incident;
    if (c->client_comms != INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY) {
        reject(out, "incident %s has no client communication (client_comms %s)", hd_nz(c->id),
               c->client_comms == INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NONE ? "NONE"
                                                                                : "not decided");
        return;
    }
    if (!has_text(cmd->text)) {
        reject(out, "text: required for CLIENT_UPDATE (what the clients were told)");
        return;
    }
    hd_state_t *st = hd_state_copy(ctx->arena, cur);
    hd_incident_t *inc = st->incident;
    inc->last_client_update_at_ms = ctx->now_ms;
    st->missed_client_updates = 0;
    const char *next = "no further update planned (resolved)";
    if (hd_is_open(inc)) {
        hd_timer_add(out, HD_TIMER_CANCEL, HD_TIMER_CLIENT_UPDATE, st->client_update_seq, 0);
        hd_client_update_arm(ctx, st, out);
        next =
            arena_printf(ctx->arena, "next due at %lld", (long long)inc->next_client_update_due_ms);
    }
    hd_record_add(
        ctx, st, out, HD_ACTION_CLIENT_UPDATE, cmd->actor,
        arena_printf(ctx->arena, "client update by %s: %s; %s", cmd->actor, cmd->text, next));
    hd_notify_team(ctx, st, out, HD_NOTICE_CLIENT_UPDATE, HD_TO_CLIENTS, NULL);
}

/* ---- tasks ---------------------------------------------------------------------- */

/* The index of task @p id in @p inc, or -1. */
static long task_find(const hd_incident_t *inc, const char *id)
{
    for (size_t i = 0; i < inc->n_tasks; i++)
        if (inc->tasks[i] && strcmp(hd_nz(inc->tasks[i]->id), id) == 0)
            return (long)i;
    return -1;
}

static void cmd_task_add(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_command_t *cmd,
                         hd_transition_t *out)
{
    arena_t *a = ctx->arena;
    const hd_incident_t *c = cur->incident;
    size_t title_len = cmd->text ? strlen(cmd->text) : 0;
    if (title_len == 0 || title_len > HD_TASK_TITLE_MAX) {
        reject(out, "text: the task title, 1..%d bytes (%zu given)", HD_TASK_TITLE_MAX, title_len);
        return;
    }
    if (c->n_tasks >= HD_TASKS_MAX) {
        reject(out, "incident %s has %zu tasks, limit %d", hd_nz(c->id), c->n_tasks, HD_TASKS_MAX);
        return;
    }
    /* No clock, no randomness: the id follows from the command id. */
    const char *id =
        has_text(cmd->task_id)
            ? cmd->task_id
            : arena_printf(a, "task-%012llx",
                           (unsigned long long)(hd_hash64(cmd->command_id) & 0xffffffffffffULL));
    if (task_find(c, id) >= 0) {
        reject(out, "incident %s has a task %s already", hd_nz(c->id), id);
        return;
    }
    hd_state_t *st = hd_state_copy(a, cur);
    hd_incident_t *inc = st->incident;
    hd_task_t *t = arena_alloc(a, sizeof(*t));
    hd_task_t init = INCIDENT__V1__TASK__INIT;
    *t = init;
    t->id = arena_strdup(a, id);
    t->title = arena_strdup(a, cmd->text);
    t->assignee = arena_strdup(a, cmd->assignee);
    t->due_at_ms = cmd->due_at_ms;
    t->preventive = cmd->preventive;
    hd_task_t **v = arena_alloc(a, (inc->n_tasks + 1) * sizeof(*v));
    if (inc->n_tasks)
        memcpy(v, inc->tasks, inc->n_tasks * sizeof(*v));
    v[inc->n_tasks++] = t;
    inc->tasks = v;
    hd_record_add(ctx, st, out, HD_ACTION_TASK_ADDED, cmd->actor,
                  arena_printf(a, "%stask %s '%s' for %s, due %s",
                               t->preventive ? "preventive " : "", t->id, t->title,
                               *t->assignee ? t->assignee : "nobody named",
                               t->due_at_ms ? arena_printf(a, "at %lld", (long long)t->due_at_ms)
                                            : "without a date"));
}

/* TASK_DONE and TASK_CANCEL: @p cancel picks which. */
static void task_finish(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_command_t *cmd,
                        hd_transition_t *out, int cancel)
{
    arena_t *a = ctx->arena;
    const hd_incident_t *c = cur->incident;
    if (!has_text(cmd->task_id)) {
        reject(out, "task_id: required for %s", cancel ? "TASK_CANCEL" : "TASK_DONE");
        return;
    }
    long i = task_find(c, cmd->task_id);
    if (i < 0) {
        reject(out, "incident %s has no task %s", hd_nz(c->id), cmd->task_id);
        return;
    }
    if (c->tasks[i]->done || c->tasks[i]->cancelled) {
        reject(out, "task %s of incident %s is %s already", cmd->task_id, hd_nz(c->id),
               c->tasks[i]->done ? "done" : "cancelled");
        return;
    }
    hd_state_t *st = hd_state_copy(a, cur);
    hd_incident_t *inc = st->incident;
    hd_task_t *t = arena_alloc(a, sizeof(*t));
    *t = *inc->tasks[i]; /* the copy's array is new; the task is replaced, not written */
    if (cancel)
        t->cancelled = 1;
    else
        t->done = 1;
    inc->tasks[i] = t;
    hd_record_add(ctx, st, out, cancel ? HD_ACTION_TASK_CANCELLED : HD_ACTION_TASK_DONE, cmd->actor,
                  arena_printf(a, "task %s '%s' %s by %s: %s", t->id, t->title,
                               cancel ? "cancelled" : "done", cmd->actor,
                               text_or(cmd, "no comment")));
    hd_gate_recheck(ctx, st, out);
}

static void cmd_task_done(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_command_t *cmd,
                          hd_transition_t *out)
{
    task_finish(ctx, cur, cmd, out, 0);
}

static void cmd_task_cancel(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_command_t *cmd,
                            hd_transition_t *out)
{
    task_finish(ctx, cur, cmd, out, 1);
}

/* ---- completion ------------------------------------------------------------------ */

static void cmd_sign_off(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_command_t *cmd,
                         hd_transition_t *out)
{
    arena_t *a = ctx->arena;
    const hd_incident_t *c = cur->incident;
    if (c->kind != INCIDENT__V1__KIND__KIND_INCIDENT) {
        reject(out, "%s %s needs no sign-off", hd_kind_name(c->kind), hd_nz(c->id));
        return;
    }
    if (need_resolved(cur, cmd, out, "a sign-off") < 0)
        return;
    if (hd_strv_has(c->signed_off, c->n_signed_off, cmd->actor)) {
        reject(out, "%s signed off incident %s already", cmd->actor, hd_nz(c->id));
        return;
    }
    if (c->n_signed_off >= HD_SIGNOFFS_MAX) {
        reject(out, "incident %s has %zu sign-offs, limit %d", hd_nz(c->id), c->n_signed_off,
               HD_SIGNOFFS_MAX);
        return;
    }
    hd_state_t *st = hd_state_copy(a, cur);
    hd_incident_t *inc = st->incident;
    char **v = arena_alloc(a, (inc->n_signed_off + 1) * sizeof(*v));
    if (inc->n_signed_off)
        memcpy(v, inc->signed_off, inc->n_signed_off * sizeof(*v));
    v[inc->n_signed_off++] = arena_strdup(a, cmd->actor);
    inc->signed_off = v;
    hd_record_add(ctx, st, out, HD_ACTION_SIGNED_OFF, cmd->actor,
                  arena_printf(a, "signed off by %s: %s", cmd->actor, text_or(cmd, "no comment")));
    hd_gate_recheck(ctx, st, out);
}

static void cmd_review(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_command_t *cmd,
                       hd_transition_t *out)
{
    arena_t *a = ctx->arena;
    if (need_resolved(cur, cmd, out, "the post-incident review") < 0)
        return;
    if (!has_text(cmd->root_cause)) {
        reject(out, "root_cause: required for REVIEW");
        return;
    }
    hd_state_t *st = hd_state_copy(a, cur);
    hd_incident_t *inc = st->incident;
    int again = inc->review_submitted;
    inc->review_submitted = 1;
    inc->root_cause = arena_strdup(a, cmd->root_cause);
    hd_record_add(ctx, st, out, HD_ACTION_REVIEW_SUBMITTED, cmd->actor,
                  arena_printf(a, "%sreview by %s; root cause: %s; %s", again ? "revised " : "",
                               cmd->actor, inc->root_cause, text_or(cmd, "no summary")));
    hd_gate_recheck(ctx, st, out);
}

/* ---- entry -------------------------------------------------------------------------- */

static const command_fn command_table[] = {
    [INCIDENT__V1__COMMAND_KIND__COMMAND_ACKNOWLEDGE] = cmd_acknowledge,
    [INCIDENT__V1__COMMAND_KIND__COMMAND_RESOLVE] = cmd_resolve,
    [INCIDENT__V1__COMMAND_KIND__COMMAND_REOPEN] = cmd_reopen,
    [INCIDENT__V1__COMMAND_KIND__COMMAND_NOTE] = cmd_note,
    [INCIDENT__V1__COMMAND_KIND__COMMAND_TASK_ADD] = cmd_task_add,
    [INCIDENT__V1__COMMAND_KIND__COMMAND_TASK_DONE] = cmd_task_done,
    [INCIDENT__V1__COMMAND_KIND__COMMAND_TASK_CANCEL] = cmd_task_cancel,
    [INCIDENT__V1__COMMAND_KIND__COMMAND_MEETING] = cmd_meeting,
    [INCIDENT__V1__COMMAND_KIND__COMMAND_CLIENT_UPDATE] = cmd_client_update,
    [INCIDENT__V1__COMMAND_KIND__COMMAND_SIGN_OFF] = cmd_sign_off,
    [INCIDENT__V1__COMMAND_KIND__COMMAND_REVIEW] = cmd_review,
    [INCIDENT__V1__COMMAND_KIND__COMMAND_HANDOVER] = cmd_handover,
};

void hd_command_apply(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_command_t *cmd,
                      hd_transition_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!cmd) {
        reject(out, "command: missing");
        return;
    }
    unsigned kind = (unsigned)cmd->kind;
    if (kind >= sizeof(command_table) / sizeof(command_table[0]) || !command_table[kind]) {
        reject(out, "kind: unknown value %d", (int)cmd->kind);
        return;
    }
    if (!cur || !cur->incident) {
        reject(out, "unknown incident %s", hd_nz(cmd->incident_id));
        return;
    }
    if (strcmp(hd_nz(cur->incident->id), hd_nz(cmd->incident_id)) != 0) {
        reject(out, "command for incident %s given the state of %s", hd_nz(cmd->incident_id),
               hd_nz(cur->incident->id));
        return;
    }
    if (cur->incident->status == INCIDENT__V1__STATUS__STATUS_CLOSED) {
        reject(out, "incident %s is closed: %s not allowed", hd_nz(cur->incident->id),
               hd_command_kind_name(cmd->kind));
        return;
    }
    command_table[kind](ctx, cur, cmd, out);
    if (out->verdict == HD_REJECT) {
        /* Nothing of a refused command may reach the runtime. */
        char error[sizeof(out->error)];
        memcpy(error, out->error, sizeof(error));
        memset(out, 0, sizeof(*out));
        memcpy(out->error, error, sizeof(error));
        out->verdict = HD_REJECT;
        return;
    }
    hd_outputs_finish(out);
}
