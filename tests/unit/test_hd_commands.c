/*
 * test_hd_commands.c — the commands of people (handlers/commands.c), their
 * validation (handlers/validate.c) and the completion gate they complete
 * (handlers/followup.c): each kind allowed and refused, one record by the
 * person per command, the bounds of what commands can grow.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "hd_fixture.h"

#define MIN_MS 60000LL
#define PERSON "alice"

#define ACTOR "incidentd/commands"

static void setup(void) { hdf_setup(ACTOR, "cmd-1"); }

TestSuite(hd_commands, .init = setup, .fini = hdf_teardown);

/* ---- builders ------------------------------------------------------------------ */

static hd_command_t *cmd_new(Incident__V1__CommandKind kind)
{
    hd_command_t *c = arena_alloc(&hdf_arena, sizeof(*c));
    hd_command_t init = INCIDENT__V1__COMMAND__INIT;
    *c = init;
    c->command_id = "cmd-1";
    c->incident_id = "INC-1";
    c->kind = kind;
    c->actor = PERSON;
    return c;
}

static hd_transition_t run(const hd_state_t *cur, const hd_command_t *c)
{
    hd_transition_t out;
    memset(&out, 0x5a, sizeof(out)); /* the handler must initialise everything */
    cr_assert_eq(hd_command_validate(c, NULL, 0), 0, "the test's command is invalid");
    hd_command_apply(&hdf_ctx, cur, c, &out);
    return out;
}

/* Runs @p c on @p cur and asserts a rejection whose reason contains @p why. */
static void refused(const hd_state_t *cur, const hd_command_t *c, const char *why)
{
    hd_transition_t out = run(cur, c);
    cr_assert_eq(out.verdict, HD_REJECT, "%s accepted", hd_command_kind_name(c->kind));
    cr_assert(hdf_contains(out.error, why), "reason '%s' lacks '%s'", out.error, why);
    cr_assert_null(out.state);
    cr_assert_eq(out.n_records, 0);
    cr_assert_eq(out.n_outputs, 0);
    cr_assert_eq(out.n_timers, 0);
    cr_assert_eq(out.closed, 0);
}

/* Runs @p c and asserts one record @p action by the person, seq 6. */
static hd_transition_t applied(const hd_state_t *cur, const hd_command_t *c, const char *action)
{
    hd_transition_t out = run(cur, c);
    cr_assert_eq(out.verdict, HD_APPLY, "refused: %s", out.error);
    cr_assert_eq(out.n_records, 1, "%zu records", out.n_records);
    hdf_check_records_by(&out, cur->incident->version + 1, PERSON);
    cr_assert_str_eq(out.records[0]->action, action);
    cr_assert_str_eq(out.records[0]->actor, PERSON);
    return out;
}

/* An open GLOBAL incident, handled (escalated, level 1, NOTIFY). */
static hd_state_t *open_global(void)
{
    hd_state_t *st =
        hdf_state_new(INCIDENT__V1__STAGE__STAGE_ESCALATED, INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    st->incident->escalation_level = 1;
    st->incident->owner = "tina";
    st->incident->owner_role = INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER;
    st->incident->client_comms = INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY;
    st->client_update_seq = 1;
    return st;
}

/* A GLOBAL incident confirmed and blocked at the completion gate. */
static hd_state_t *blocked(void)
{
    hd_state_t *st = hdf_state_resolved(INCIDENT__V1__SCOPE__SCOPE_GLOBAL, HDF_NOW - 60 * MIN_MS);
    st->incident->confirmed_at_ms = HDF_NOW - 30 * MIN_MS;
    st->incident->owner = "tina";
    st->review_seq = 1;
    return st;
}

static hd_task_t *task_new(const char *id, int preventive, int done, int cancelled)
{
    hd_task_t *t = arena_alloc(&hdf_arena, sizeof(*t));
    hd_task_t init = INCIDENT__V1__TASK__INIT;
    *t = init;
    t->id = (char *)id;
    t->title = "do it";
    t->preventive = preventive;
    t->done = done;
    t->cancelled = cancelled;
    return t;
}

static void tasks_set(hd_state_t *st, size_t n, hd_task_t **v)
{
    st->incident->tasks = v;
    st->incident->n_tasks = n;
}

/* ---- audit action names -------------------------------------------------------- */

Test(hd_commands, action_names_are_one_table)
{
    cr_assert_str_eq(hd_action_name(HD_ACTION_MERGED), "merged");
    cr_assert_str_eq(hd_action_name(HD_ACTION_CLIENT_UPDATE_DUE), "client_update_due");
    cr_assert_str_eq(hd_action_name(HD_ACTION_SILENCED), "silenced");
    cr_assert_str_eq(hd_action_name(HD_ACTION_COUNT), "unknown");
    for (int i = 0; i < HD_ACTION_COUNT; i++) {
        const char *name = hd_action_name((hd_action_t)i);
        cr_assert_str_neq(name, "unknown", "action %d has no name", i);
        cr_assert_eq(hd_action_parse(name), i, "%s", name);
    }
    cr_assert_eq(hd_action_parse("resolved"), HD_ACTION_RESOLVED);
    cr_assert_eq(hd_action_parse("nope"), -1);
    cr_assert_eq(hd_action_parse(NULL), -1);
}

/* ---- validation ------------------------------------------------------------------ */

static void invalid(hd_command_t *c, const char *why)
{
    char err[256];
    cr_assert_eq(hd_command_validate(c, err, sizeof(err)), -1, "accepted, expected %s", why);
    cr_assert(hdf_contains(err, why), "reason '%s' lacks '%s'", err, why);
}

Test(hd_commands, validate_limits)
{
    hd_command_t *c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_NOTE);
    cr_assert_eq(hd_command_validate(c, NULL, 0), 0);
    c->command_id = "";
    invalid(c, "command_id: missing");
    c->command_id = arena_alloc(&hdf_arena, 130);
    memset(c->command_id, 'x', 129);
    invalid(c, "command_id: 129 bytes, limit 128");
    c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_NOTE);
    c->incident_id = "";
    invalid(c, "incident_id: missing");
    c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_UNSPECIFIED);
    invalid(c, "kind: COMMAND_UNSPECIFIED");
    c->kind = (Incident__V1__CommandKind)13;
    invalid(c, "kind: unknown value 13");
    c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_NOTE);
    c->actor = "";
    invalid(c, "actor: missing");
    c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_NOTE);
    c->text = arena_alloc(&hdf_arena, 8194);
    memset(c->text, 'x', 8192);
    cr_assert_eq(hd_command_validate(c, NULL, 0), 0); /* 8 KiB exactly */
    c->text[8192] = 'x';
    invalid(c, "text: 8193 bytes, limit 8192");
    c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_MEETING);
    c->attendees = arena_alloc(&hdf_arena, 65 * sizeof(char *));
    for (size_t i = 0; i < 65; i++)
        c->attendees[i] = "bob";
    c->n_attendees = 64;
    cr_assert_eq(hd_command_validate(c, NULL, 0), 0);
    c->n_attendees = 65;
    invalid(c, "attendees: 65 entries, limit 64");
    c->n_attendees = 1;
    c->attendees[0] = "";
    invalid(c, "attendees[0]: missing");
}

Test(hd_commands, validate_utf8_and_nul)
{
    hd_command_t *c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_NOTE);
    c->text = "bad \xff byte";
    invalid(c, "text: not valid UTF-8");
    c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_NOTE);
    c->actor = "al"
               "\xC0\x80"
               "ice"; /* a NUL kept by the decoder */
    invalid(c, "actor: contains a NUL byte");
    c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_MEETING);
    c->attendees = hdf_list(&c->n_attendees, "bob", "\xed\xa0\x80", NULL);
    invalid(c, "attendees[1]: not valid UTF-8");
    cr_assert_eq(hd_command_validate(NULL, NULL, 0), -1);
}

/* ---- refused everywhere -------------------------------------------------------------- */

Test(hd_commands, unknown_incident_refused)
{
    refused(NULL, cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_NOTE), "unknown incident INC-1");
}

Test(hd_commands, other_incidents_state_refused)
{
    hd_command_t *c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_NOTE);
    c->text = "x";
    c->incident_id = "INC-2";
    refused(open_global(), c, "command for incident INC-2 given the state of INC-1");
}

Test(hd_commands, closed_incident_refuses_every_kind)
{
    hd_state_t *cur = blocked();
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_CLOSED;
    cur->incident->stage = INCIDENT__V1__STAGE__STAGE_CLOSED;
    for (int k = INCIDENT__V1__COMMAND_KIND__COMMAND_ACKNOWLEDGE;
         k <= INCIDENT__V1__COMMAND_KIND__COMMAND_HANDOVER; k++) {
        hd_command_t *c = cmd_new((Incident__V1__CommandKind)k);
        c->text = "x";
        c->task_id = "T-1";
        c->assignee = "bob";
        c->root_cause = "x";
        refused(cur, c, "incident INC-1 is closed");
    }
}

/* ---- acknowledge, resolve, reopen ------------------------------------------------------ */

Test(hd_commands, acknowledge_open_incident)
{
    hd_state_t *cur = open_global();
    hd_transition_t out =
        applied(cur, cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_ACKNOWLEDGE), "acknowledged");
    cr_assert_eq(out.state->incident->status, INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED);
    cr_assert_eq(out.state->incident->acknowledged_at_ms, HDF_NOW);
    cr_assert(hdf_contains(out.records[0]->detail, "acknowledged by alice (command cmd-1)"));
    hdf_timer(&out, HD_TIMER_CANCEL, HD_TIMER_ACK);
    cr_assert_eq(cur->incident->status, INCIDENT__V1__STATUS__STATUS_OPEN);
}

Test(hd_commands, acknowledge_refused_unless_open)
{
    hd_state_t *cur = open_global();
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED;
    refused(cur, cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_ACKNOWLEDGE), "is ACKNOWLEDGED");
    refused(blocked(), cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_ACKNOWLEDGE), "is RESOLVED");
}

Test(hd_commands, resolve_starts_confirmation_window)
{
    hd_state_t *cur = open_global();
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED;
    hd_command_t *c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_RESOLVE);
    c->text = "rolled back";
    hd_transition_t out = applied(cur, c, "resolved");
    cr_assert_eq(out.n_records, 1);
    cr_assert(
        hdf_contains(out.records[0]->detail, "resolved by alice (command cmd-1): rolled back"),
        "%s", out.records[0]->detail);
    cr_assert_eq(out.state->incident->status, INCIDENT__V1__STATUS__STATUS_RESOLVED);
    cr_assert_eq(out.n_outputs, 1);
    cr_assert_eq(out.outputs[0].topic, HD_TOPIC_RESOLVED);
    cr_assert_eq(out.index_op, HD_INDEX_NONE);
    cr_assert_eq(out.closed, 0);
    hdf_timer(&out, HD_TIMER_CANCEL, HD_TIMER_ACK);
    cr_assert_eq(hdf_timer(&out, HD_TIMER_CANCEL, HD_TIMER_CLIENT_UPDATE)->level, 1);
    const hd_timer_effect_t *t = hdf_timer(&out, HD_TIMER_ARM, HD_TIMER_CONFIRM);
    cr_assert_eq(t->due_ms, HDF_NOW + 30 * MIN_MS); /* GLOBAL window */
    cr_assert_eq(t->level, 0);
    cr_assert_eq(out.state->incident->next_client_update_due_ms, 0);
}

Test(hd_commands, resolve_of_resolved_refused)
{
    refused(blocked(), cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_RESOLVE),
            "only an OPEN or ACKNOWLEDGED incident can be resolved");
}

Test(hd_commands, reopen_inside_window)
{
    hd_state_t *cur = hdf_state_resolved(INCIDENT__V1__SCOPE__SCOPE_GLOBAL, HDF_NOW - 29 * MIN_MS);
    cur->incident->escalation_level = 2;
    hd_command_t *c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_REOPEN);
    c->text = "still failing for acme";
    hd_transition_t out = applied(cur, c, "reopened");
    cr_assert_eq(out.n_records, 1);
    cr_assert(hdf_contains(out.records[0]->detail, "still failing for acme"));
    const hd_incident_t *inc = out.state->incident;
    cr_assert_eq(inc->status, INCIDENT__V1__STATUS__STATUS_OPEN);
    cr_assert_eq(inc->stage, INCIDENT__V1__STAGE__STAGE_ESCALATED);
    cr_assert_eq(inc->reopen_count, 1);
    cr_assert_eq(inc->escalation_level, 2);
    cr_assert_eq(out.n_outputs, 1);
    cr_assert_eq(out.outputs[0].topic, HD_TOPIC_ESCALATED);
    cr_assert_eq(hdf_timer(&out, HD_TIMER_ARM, HD_TIMER_ACK)->level, 2);
    hdf_timer(&out, HD_TIMER_CANCEL, HD_TIMER_CONFIRM);
    cr_assert_not(hdf_has_timer(&out, HD_TIMER_ARM, HD_TIMER_CLIENT_UPDATE)); /* comms NONE */
}

Test(hd_commands, reopen_refused_outside_window)
{
    hd_state_t *cur = hdf_state_resolved(INCIDENT__V1__SCOPE__SCOPE_GLOBAL, HDF_NOW - 30 * MIN_MS);
    refused(cur, cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_REOPEN),
            "its confirmation window ended at");
    refused(blocked(), cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_REOPEN),
            "its confirmation window ended at");
    refused(open_global(), cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_REOPEN),
            "only a resolved incident can be reopened");
}

/* ---- notes, meetings, handover, client updates ------------------------------------------- */

Test(hd_commands, note_recorded_in_any_open_state)
{
    hd_command_t *c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_NOTE);
    c->text = "db failover started";
    hd_transition_t out = applied(open_global(), c, "note");
    cr_assert_str_eq(out.records[0]->detail, "db failover started");
    cr_assert_eq(out.n_outputs, 0);
    cr_assert_eq(out.n_timers, 0);
    out = applied(blocked(), c, "note");
    cr_assert_eq(out.closed, 0);
}

Test(hd_commands, note_without_text_refused)
{
    refused(open_global(), cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_NOTE),
            "text: required for NOTE");
}

Test(hd_commands, meeting_held_counts)
{
    hd_state_t *cur = open_global();
    cur->incident->meetings = 1;
    hd_command_t *c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_MEETING);
    c->attendees = hdf_list(&c->n_attendees, "tina", "bob", NULL);
    c->text = "fail over; freeze deploys";
    hd_transition_t out = applied(cur, c, "meeting_held");
    cr_assert_eq(out.state->incident->meetings, 2);
    cr_assert_str_eq(out.records[0]->detail,
                     "meeting 2 held; attendees: tina, bob; decisions: fail over; freeze deploys");
}

Test(hd_commands, handover_changes_owner)
{
    hd_command_t *c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_HANDOVER);
    c->assignee = "bob";
    c->text = "shift change";
    hd_transition_t out = applied(open_global(), c, "handed_over");
    cr_assert_str_eq(out.state->incident->owner, "bob");
    cr_assert_str_eq(out.records[0]->detail, "owner tina -> bob (by alice): shift change");
}

Test(hd_commands, handover_refused_without_assignee_or_to_the_owner)
{
    refused(open_global(), cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_HANDOVER),
            "assignee: required");
    hd_command_t *c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_HANDOVER);
    c->assignee = "tina";
    refused(open_global(), c, "owned by tina already");
}

Test(hd_commands, client_update_resets_the_plan)
{
    hd_state_t *cur = open_global();
    cur->missed_client_updates = 1;
    hd_command_t *c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_CLIENT_UPDATE);
    c->text = "we are failing over, next update at 14:00";
    hd_transition_t out = applied(cur, c, "client_update");
    cr_assert_eq(out.state->incident->last_client_update_at_ms, HDF_NOW);
    cr_assert_eq(out.state->incident->next_client_update_due_ms, HDF_NOW + 30 * MIN_MS);
    cr_assert_eq(out.state->missed_client_updates, 0);
    cr_assert_eq(out.n_timers, 2);
    cr_assert_eq(out.timers[0].op, HD_TIMER_CANCEL); /* the old one first */
    cr_assert_eq(out.timers[0].kind, HD_TIMER_CLIENT_UPDATE);
    cr_assert_eq(out.timers[1].op, HD_TIMER_ARM);
    cr_assert_eq(out.timers[1].level, 2);
    cr_assert_eq(out.timers[1].due_ms, HDF_NOW + 30 * MIN_MS);
}

Test(hd_commands, client_update_after_resolution_plans_nothing)
{
    hd_state_t *cur = blocked();
    cur->incident->client_comms = INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY;
    hd_command_t *c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_CLIENT_UPDATE);
    c->text = "all fixed";
    hd_transition_t out = applied(cur, c, "client_update");
    cr_assert_eq(out.n_timers, 0);
    cr_assert_eq(out.state->incident->next_client_update_due_ms, 0);
}

Test(hd_commands, client_update_refused_without_client_comms_or_text)
{
    hd_state_t *cur = open_global();
    cur->incident->client_comms = INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NONE;
    hd_command_t *c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_CLIENT_UPDATE);
    c->text = "x";
    refused(cur, c, "has no client communication (client_comms NONE)");
    refused(open_global(), cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_CLIENT_UPDATE),
            "text: required for CLIENT_UPDATE");
}

/* ---- tasks ---------------------------------------------------------------------------- */

Test(hd_commands, task_add_with_given_id)
{
    hd_command_t *c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_TASK_ADD);
    c->text = "add canary stage";
    c->task_id = "T-1";
    c->assignee = "bob";
    c->due_at_ms = HDF_NOW + 7 * 24 * 60 * MIN_MS;
    c->preventive = 1;
    hd_state_t *cur = open_global();
    hd_transition_t out = applied(cur, c, "task_added");
    const hd_incident_t *inc = out.state->incident;
    cr_assert_eq(inc->n_tasks, 1);
    cr_assert_str_eq(inc->tasks[0]->id, "T-1");
    cr_assert_str_eq(inc->tasks[0]->title, "add canary stage");
    cr_assert_str_eq(inc->tasks[0]->assignee, "bob");
    cr_assert_eq(inc->tasks[0]->due_at_ms, c->due_at_ms);
    cr_assert(inc->tasks[0]->preventive);
    cr_assert_not(inc->tasks[0]->done);
    cr_assert(
        hdf_contains(out.records[0]->detail, "preventive task T-1 'add canary stage' for bob"),
        "%s", out.records[0]->detail);
    cr_assert_eq(cur->incident->n_tasks, 0);
}

Test(hd_commands, task_add_derives_id_from_command_id)
{
    hd_command_t *c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_TASK_ADD);
    c->text = "write runbook";
    hd_transition_t a = applied(open_global(), c, "task_added");
    hd_transition_t b = applied(open_global(), c, "task_added");
    const char *id = a.state->incident->tasks[0]->id;
    cr_assert(strncmp(id, "task-", 5) == 0, "%s", id);
    cr_assert_str_eq(id, b.state->incident->tasks[0]->id); /* deterministic */
    c->command_id = "cmd-2";
    hd_transition_t other = applied(open_global(), c, "task_added");
    cr_assert_str_neq(id, other.state->incident->tasks[0]->id);
}

Test(hd_commands, task_add_refused)
{
    refused(open_global(), cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_TASK_ADD),
            "text: the task title");
    hd_command_t *c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_TASK_ADD);
    c->text = arena_alloc(&hdf_arena, 1100);
    memset(c->text, 'x', 1025);
    refused(open_global(), c, "1..1024 bytes (1025 given)");
    hd_state_t *cur = open_global();
    hd_task_t *one[] = {task_new("T-1", 0, 0, 0)};
    tasks_set(cur, 1, one);
    c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_TASK_ADD);
    c->text = "again";
    c->task_id = "T-1";
    refused(cur, c, "has a task T-1 already");
}

Test(hd_commands, task_add_bounded)
{
    hd_state_t *cur = open_global();
    hd_task_t **v = arena_alloc(&hdf_arena, HD_TASKS_MAX * sizeof(*v));
    for (int i = 0; i < HD_TASKS_MAX - 1; i++)
        v[i] = task_new(arena_printf(&hdf_arena, "T-%d", i), 0, 0, 0);
    tasks_set(cur, HD_TASKS_MAX - 1, v);
    hd_command_t *c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_TASK_ADD);
    c->text = "the last one";
    hd_transition_t out = applied(cur, c, "task_added");
    cr_assert_eq(out.state->incident->n_tasks, HD_TASKS_MAX);
    c->command_id = "cmd-2";
    refused(out.state, c, "has 100 tasks, limit 100");
}

Test(hd_commands, task_done_and_cancel)
{
    hd_state_t *cur = open_global();
    hd_task_t *v[] = {task_new("T-1", 0, 0, 0), task_new("T-2", 0, 0, 0)};
    tasks_set(cur, 2, v);
    hd_command_t *c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_TASK_DONE);
    c->task_id = "T-2";
    hd_transition_t out = applied(cur, c, "task_done");
    cr_assert(out.state->incident->tasks[1]->done);
    cr_assert_not(out.state->incident->tasks[0]->done);
    cr_assert_not(cur->incident->tasks[1]->done); /* the input's task untouched */
    c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_TASK_CANCEL);
    c->task_id = "T-1";
    c->text = "not needed";
    out = applied(cur, c, "task_cancelled");
    cr_assert(out.state->incident->tasks[0]->cancelled);
    cr_assert(hdf_contains(out.records[0]->detail, "cancelled by alice: not needed"));
    cr_assert_eq(out.closed, 0);
}

Test(hd_commands, task_done_or_cancel_refused)
{
    hd_state_t *cur = open_global();
    hd_task_t *v[] = {task_new("T-1", 0, 1, 0), task_new("T-2", 0, 0, 1)};
    tasks_set(cur, 2, v);
    hd_command_t *c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_TASK_DONE);
    refused(cur, c, "task_id: required for TASK_DONE");
    c->task_id = "T-9";
    refused(cur, c, "has no task T-9");
    c->task_id = "T-1";
    refused(cur, c, "task T-1 of incident INC-1 is done already");
    c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_TASK_CANCEL);
    c->task_id = "T-2";
    refused(cur, c, "task T-2 of incident INC-1 is cancelled already");
    c->task_id = "T-1";
    refused(cur, c, "is done already");
}

/* ---- sign-off and review ------------------------------------------------------------------ */

Test(hd_commands, sign_off_after_resolution)
{
    hd_state_t *cur = blocked();
    hd_command_t *c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_SIGN_OFF);
    c->text = "happy";
    hd_transition_t out = applied(cur, c, "signed_off");
    cr_assert_eq(out.state->incident->n_signed_off, 1);
    cr_assert_str_eq(out.state->incident->signed_off[0], PERSON);
    cr_assert_eq(out.closed, 0); /* review still missing */
}

Test(hd_commands, sign_off_refused)
{
    refused(open_global(), cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_SIGN_OFF),
            "a sign-off comes after its resolution");
    hd_state_t *cur = blocked();
    cur->incident->kind = INCIDENT__V1__KIND__KIND_DISTURBANCE;
    refused(cur, cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_SIGN_OFF),
            "DISTURBANCE INC-1 needs no sign-off");
    cur = blocked();
    cur->incident->signed_off = hdf_list(&cur->incident->n_signed_off, "bob", PERSON, NULL);
    refused(cur, cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_SIGN_OFF),
            "alice signed off incident INC-1 already");
}

Test(hd_commands, sign_off_bounded)
{
    hd_state_t *cur = blocked();
    char **v = arena_alloc(&hdf_arena, HD_SIGNOFFS_MAX * sizeof(*v));
    for (int i = 0; i < HD_SIGNOFFS_MAX; i++)
        v[i] = arena_printf(&hdf_arena, "p%d", i);
    cur->incident->signed_off = v;
    cur->incident->n_signed_off = HD_SIGNOFFS_MAX - 1;
    applied(cur, cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_SIGN_OFF), "signed_off");
    cur->incident->n_signed_off = HD_SIGNOFFS_MAX;
    refused(cur, cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_SIGN_OFF),
            "has 64 sign-offs, limit 64");
}

Test(hd_commands, review_sets_root_cause)
{
    hd_command_t *c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_REVIEW);
    c->root_cause = "expired certificate";
    c->text = "cert rotation was manual";
    hd_transition_t out = applied(blocked(), c, "review_submitted");
    cr_assert(out.state->incident->review_submitted);
    cr_assert_str_eq(out.state->incident->root_cause, "expired certificate");
    cr_assert_str_eq(out.records[0]->detail,
                     "review by alice; root cause: expired certificate; cert rotation was manual");
}

Test(hd_commands, review_refused)
{
    hd_command_t *c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_REVIEW);
    c->root_cause = "x";
    refused(open_global(), c, "the post-incident review comes after its resolution");
    refused(blocked(), cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_REVIEW),
            "root_cause: required for REVIEW");
}

/* ---- the completion gate ------------------------------------------------------------------- */

static const char *global_people[] = {"ops-lead", "cto"};

Test(hd_commands, confirmation_lists_each_missing_piece)
{
    hdf_rules.global_stakeholders = global_people;
    hdf_rules.n_global_stakeholders = 2;
    hd_state_t *cur = hdf_state_resolved(INCIDENT__V1__SCOPE__SCOPE_GLOBAL, HDF_NOW - 30 * MIN_MS);
    cur->incident->owner = "tina";
    hd_task_t *v[] = {task_new("T-1", 0, 0, 0), task_new("T-2", 1, 0, 1), task_new("T-3", 0, 1, 0)};
    tasks_set(cur, 3, v);
    cur->incident->signed_off = hdf_list(&cur->incident->n_signed_off, "cto", NULL);
    hd_transition_t out;
    hd_resolved_apply(&hdf_ctx, cur, hdf_event_of(cur, HDF_NOW), &out);
    hdf_check_records(&out, 10);
    const hd_record_t *rec = out.records[out.n_records - 1];
    cr_assert_str_eq(rec->action, "completion_blocked");
    cr_assert_str_eq(rec->detail, "review required; 4 missing: review not submitted; no "
                                  "preventive task; task T-1 not done or cancelled; sign-off "
                                  "missing: ops-lead; tina reminded in 5 d");
    cr_assert_eq(out.closed, 0);
    cr_assert_eq(out.state->incident->status, INCIDENT__V1__STATUS__STATUS_RESOLVED);
    cr_assert_eq(out.index_op, HD_INDEX_CLOSE);
    const hd_timer_effect_t *t = hdf_timer(&out, HD_TIMER_ARM, HD_TIMER_REVIEW);
    cr_assert_eq(t->due_ms, HDF_NOW + 5 * 24 * 60 * MIN_MS);
    cr_assert_eq(t->level, 1);
}

Test(hd_commands, local_critical_needs_the_owners_sign_off)
{
    hd_state_t *cur = hdf_state_resolved(INCIDENT__V1__SCOPE__SCOPE_LOCAL, HDF_NOW - 10 * MIN_MS);
    cur->incident->severity = INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL;
    cur->incident->owner = "carl";
    cur->incident->review_submitted = 1;
    hd_task_t *v[] = {task_new("T-1", 1, 1, 0)};
    tasks_set(cur, 1, v);
    const char **items;
    cr_assert_eq(hd_completion_missing(&hdf_rules, cur, &hdf_arena, &items), 1);
    cr_assert_str_eq(items[0], "sign-off missing: carl");
    /* a configured list replaces the default */
    static const char *signers[] = {"qa", "carl"};
    hdf_rules.completion_signoff = signers;
    hdf_rules.n_completion_signoff = 2;
    cr_assert_eq(hd_completion_missing(&hdf_rules, cur, &hdf_arena, &items), 2);
    cr_assert_str_eq(items[0], "sign-off missing: qa");
    /* no review needed: nothing is missing */
    cur->incident->severity = INCIDENT__V1__SEVERITY__SEVERITY_MAJOR;
    cr_assert_eq(hd_completion_missing(&hdf_rules, cur, &hdf_arena, &items), 0);
    cr_assert_null(items);
}

Test(hd_commands, review_required_rule)
{
    hd_incident_t inc = INCIDENT__V1__INCIDENT__INIT;
    inc.kind = INCIDENT__V1__KIND__KIND_INCIDENT;
    inc.scope = INCIDENT__V1__SCOPE__SCOPE_GLOBAL;
    inc.severity = INCIDENT__V1__SEVERITY__SEVERITY_MINOR;
    cr_assert(hd_review_required(&hdf_rules, &inc));
    inc.scope = INCIDENT__V1__SCOPE__SCOPE_LOCAL;
    cr_assert_not(hd_review_required(&hdf_rules, &inc));
    inc.severity = INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL;
    cr_assert(hd_review_required(&hdf_rules, &inc));
    inc.kind = INCIDENT__V1__KIND__KIND_DISTURBANCE;
    cr_assert_not(hd_review_required(&hdf_rules, &inc));
    inc.kind = INCIDENT__V1__KIND__KIND_INCIDENT;
    hdf_rules.review_min_severity = INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED;
    cr_assert_not(hd_review_required(&hdf_rules, &inc));
}

Test(hd_commands, last_missing_piece_closes)
{
    hdf_rules.global_stakeholders = global_people;
    hdf_rules.n_global_stakeholders = 2;
    hd_state_t *cur = blocked();
    hd_task_t *v[] = {task_new("T-1", 1, 0, 0)};
    tasks_set(cur, 1, v);
    cur->incident->signed_off = hdf_list(&cur->incident->n_signed_off, "cto", NULL);

    /* review: still the task and ops-lead missing */
    hd_command_t *c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_REVIEW);
    c->root_cause = "bad deploy";
    hd_transition_t out = applied(cur, c, "review_submitted");
    cr_assert_eq(out.n_records, 1);
    cr_assert_eq(out.closed, 0);
    cur = out.state;

    /* the task: still ops-lead */
    c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_TASK_DONE);
    c->task_id = "T-1";
    out = applied(cur, c, "task_done");
    cr_assert_eq(out.n_records, 1);
    cr_assert_eq(out.closed, 0);
    cur = out.state;

    /* someone who is not required signing off changes nothing */
    out = applied(cur, cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_SIGN_OFF), "signed_off");
    cr_assert_eq(out.closed, 0);

    /* ops-lead signs off: the last piece */
    c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_SIGN_OFF);
    c->actor = "ops-lead";
    out = run(cur, c);
    cr_assert_eq(out.verdict, HD_APPLY);
    cr_assert_eq(out.n_records, 2);
    cr_assert_str_eq(out.records[0]->action, "signed_off");
    cr_assert_str_eq(out.records[0]->actor, "ops-lead"); /* the person's command */
    cr_assert_eq(out.records[0]->seq, cur->incident->version + 1);
    cr_assert_str_eq(out.records[1]->action, "closed");
    cr_assert_str_eq(out.records[1]->actor, ACTOR); /* the process closes */
    cr_assert_eq(out.records[1]->seq, cur->incident->version + 2);
    cr_assert_eq(out.records[1]->snapshot->status, INCIDENT__V1__STATUS__STATUS_CLOSED);
    cr_assert_eq(out.state->incident->version, cur->incident->version + 2);
    cr_assert_eq(out.closed, 1);
    cr_assert_eq(out.state->incident->status, INCIDENT__V1__STATUS__STATUS_CLOSED);
    cr_assert_eq(hdf_timer(&out, HD_TIMER_CANCEL, HD_TIMER_REVIEW)->level, 1);
}

Test(hd_commands, gate_needs_a_preventive_task_not_cancelled)
{
    hd_state_t *cur = blocked();
    cur->incident->review_submitted = 1;
    hd_task_t *v[] = {task_new("T-1", 1, 0, 0), task_new("T-2", 0, 1, 0)};
    tasks_set(cur, 2, v);
    hd_command_t *c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_TASK_CANCEL);
    c->task_id = "T-1"; /* the only preventive task goes */
    hd_transition_t out = applied(cur, c, "task_cancelled");
    cr_assert_eq(out.closed, 0);
    const char **items;
    cr_assert_eq(hd_completion_missing(&hdf_rules, out.state, &hdf_arena, &items), 1);
    cr_assert_str_eq(items[0], "no preventive task");
    c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_TASK_DONE);
    c->task_id = "T-1";
    refused(out.state, c, "is cancelled already");
}

Test(hd_commands, command_inside_window_does_not_close)
{
    /* resolved, not confirmed: the gate waits for the confirmation */
    hd_state_t *cur = hdf_state_resolved(INCIDENT__V1__SCOPE__SCOPE_GLOBAL, HDF_NOW - 5 * MIN_MS);
    hd_task_t *v[] = {task_new("T-1", 1, 0, 0)};
    tasks_set(cur, 1, v);
    hd_command_t *c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_REVIEW);
    c->root_cause = "x";
    hd_transition_t out = applied(cur, c, "review_submitted");
    c = cmd_new(INCIDENT__V1__COMMAND_KIND__COMMAND_TASK_DONE);
    c->task_id = "T-1";
    out = applied(out.state, c, "task_done");
    cr_assert_eq(out.closed, 0);
    cr_assert_eq(out.n_records, 1);
}
