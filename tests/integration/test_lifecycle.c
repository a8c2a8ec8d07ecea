/*
 * test_lifecycle.c — the life of an incident after its escalation, end to end
 * on the test bed's real Kafka and Redis: people's commands
 * (incidents.commands), the confirmation window after RESOLVE, reopen by a
 * trigger and by a command, the completion gate (review, preventive task,
 * tasks, sign-offs), the client update plan, redelivered and bad commands.
 * Played as the monitoring system (alerts on incidents.detected) and the
 * people (commands) would, read back from ormis.audit, incidents.escalated
 * and incidents.dlq. Windows and intervals are set short (seconds); every
 * wait is bounded.
 *
 * Owned by the lifecycle room.
 *
 * @locality the Criterion test thread (one test at a time, --jobs 1)
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "e2e.h"
#include "incident/v1/incident.pb-c.h"
#include "testutil.h"

#define CMD(k) INCIDENT__V1__COMMAND_KIND__COMMAND_##k
#define ST(s) INCIDENT__V1__STATUS__STATUS_##s

/* One incident's life under test: the processes, the audit reader, the
 * records read so far, its dedup key and incident id. */
typedef struct life {
    e2e_t p;
    tu_consumer_t *audit;
    e2e_trail_t t;
    char key[128];
    char id[128];
} life_t;

/* The life of the running test, for life_fini(). */
static life_t *life_running;

/* The contract's follow-up (tu_spawn() gives incidentd the close-at-once
 * life of the first round's tests); a test's own settings come after. */
static const char *const life_contract_sets[] = {
    "followup.window.global=30m", "followup.window.local=10m", "review.required=global, critical"};

static void life_start(life_t *l, const char *key_prefix, const char *const *sets)
{
    memset(l, 0, sizeof(*l));
    life_running = l;
    const char *all[32];
    size_t n = 0;
    for (size_t i = 0; i < sizeof(life_contract_sets) / sizeof(life_contract_sets[0]); i++)
        all[n++] = life_contract_sets[i];
    for (size_t i = 0; sets && sets[i] && n < 31; i++)
        all[n++] = sets[i];
    all[n] = NULL;
    e2e_start(&l->p, all);
    l->audit = e2e_audit_consumer(&l->p);
    snprintf(l->key, sizeof(l->key), "%s", tu_unique(key_prefix));
}

static void life_stop(life_t *l)
{
    e2e_trail_free(&l->t);
    tu_consumer_destroy(l->audit);
    e2e_stop(&l->p);
    life_running = NULL;
}

/* Every test's .fini: a failed assertion ends the test before life_stop();
 * its incidentd must not outlive it (SIGTERM, then SIGKILL after 10 s). */
static void life_fini(void)
{
    if (!life_running)
        return;
    for (int i = 0; i < life_running->p.n_pids; i++)
        tu_stop(life_running->p.pids[i], SIGTERM, 10000);
    life_running->p.n_pids = 0;
    life_running = NULL;
}

/* The records read so far, on stderr (when a wait failed). */
static void life_dump(const life_t *l)
{
    for (size_t i = 0; i < l->t.n; i++)
        fprintf(stderr, "  %s #%" PRIu64 " %-20s %-10s %s\n", l->t.recs[i]->incident_id,
                l->t.recs[i]->seq, l->t.recs[i]->action, l->t.recs[i]->actor, l->t.recs[i]->detail);
}

/* Waits for the next record of the key with @p action; asserts it came. */
static const Incident__V1__AuditRecord *wait_for(life_t *l, const char *action)
{
    int found = e2e_trail_wait(l->audit, &l->t, l->key, action, E2E_WAIT_MS);
    if (!found)
        life_dump(l);
    cr_assert(found, "no `%s` record for %s within %d ms (log %s)", action, l->key, E2E_WAIT_MS,
              l->p.log);
    return l->t.recs[l->t.n - 1];
}

/* Publishes a command of @p actor on the incident under test (a fresh
 * command id); @p c gives the other fields (may be NULL). */
static void send(life_t *l, Incident__V1__CommandKind kind, const char *actor,
                 const Incident__V1__Command *c)
{
    Incident__V1__Command cmd = INCIDENT__V1__COMMAND__INIT;
    if (c)
        cmd = *c;
    char cid[128];
    snprintf(cid, sizeof(cid), "%s", tu_unique("cmd"));
    cmd.command_id = cid;
    cmd.incident_id = l->id;
    cmd.kind = kind;
    cmd.actor = (char *)actor;
    e2e_command(&l->p, &cmd);
}

/* A trigger of the key under test; @p global: two sites and a client. */
static void trigger(life_t *l, Incident__V1__Severity sev, int global)
{
    static char *sites[] = {"paris", "berlin"};
    static char *clients[] = {"acme"};
    Incident__V1__Alert a =
        e2e_alert(tu_unique("a"), l->key, INCIDENT__V1__ACTION__ACTION_TRIGGER, sev);
    a.n_sites = global ? 2 : 1;
    a.sites = sites;
    a.n_clients = global ? 1 : 0;
    a.clients = global ? clients : NULL;
    e2e_publish(&l->p, &a);
}

/* Asserts that @p want appears, in this order, among the records of
 * incident @p id (other records may come between). */
static void expect_in_order(const life_t *l, const char *id, const char *const *want)
{
    const Incident__V1__AuditRecord *one[E2E_MAX_RECS];
    size_t n = e2e_trail_of(&l->t, id, one);
    size_t w = 0;
    for (size_t i = 0; i < n && want[w]; i++)
        if (strcmp(one[i]->action, want[w]) == 0)
            w++;
    cr_expect_null(want[w], "record `%s` (the %zu-th expected) missing or out of order in %s",
                   want[w], w + 1, id);
    for (size_t i = 0; i < n; i++)
        cr_expect_eq(one[i]->seq, i + 1, "seq of %s: %" PRIu64 " at %zu", id, one[i]->seq, i);
}

/* Asserts that the records of incident @p id from the first @p from on are
 * exactly @p want, in order. */
static void expect_tail(const life_t *l, const char *id, const char *from, const char *const *want)
{
    const Incident__V1__AuditRecord *one[E2E_MAX_RECS];
    size_t n = e2e_trail_of(&l->t, id, one);
    size_t i = 0;
    while (i < n && strcmp(one[i]->action, from) != 0)
        i++;
    size_t w = 0;
    for (; i < n && want[w]; i++, w++)
        cr_expect_str_eq(one[i]->action, want[w], "record %zu after `%s`", w, from);
    cr_expect_null(want[w], "records end before `%s`", want[w] ? want[w] : "");
    cr_expect_eq(i, n, "%zu records more than expected after `%s`", n - i, from);
}

/* ---- the whole life of a global incident ------------------------------------------- */

/* Trigger (global, client notified), acknowledge and resolve by commands. */
static void global_open_ack_resolve(life_t *l)
{
    trigger(l, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 1);
    const Incident__V1__AuditRecord *cn = wait_for(l, "client_notified");
    snprintf(l->id, sizeof(l->id), "%s", cn->incident_id);
    cr_assert_eq(cn->snapshot->scope, INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cr_expect_eq(cn->snapshot->client_comms, INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY);
    cr_expect_str_eq(cn->snapshot->owner, "tina");

    send(l, CMD(ACKNOWLEDGE), "tina", NULL);
    const Incident__V1__AuditRecord *ack = wait_for(l, "acknowledged");
    cr_expect_str_eq(ack->actor, "tina");
    cr_expect_eq(ack->snapshot->status, ST(ACKNOWLEDGED));

    Incident__V1__Command c = INCIDENT__V1__COMMAND__INIT;
    c.text = "rolled back the deploy";
    send(l, CMD(RESOLVE), "tina", &c);
    const Incident__V1__AuditRecord *res = wait_for(l, "resolved");
    cr_expect_str_eq(res->incident_id, l->id);
    cr_expect_str_eq(res->actor, "tina");
    cr_expect_eq(res->snapshot->status, ST(RESOLVED));
    cr_expect_eq(res->snapshot->reopen_count, 0);
    cr_expect(strstr(res->detail, "confirmation window") != NULL, "detail: %s", res->detail);
}

/* A trigger inside the window reopens the same incident: OPEN, back on
 * incidents.escalated at its level, the ack timer armed again. */
static void global_retrigger_reopens(life_t *l)
{
    trigger(l, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 1);
    const Incident__V1__AuditRecord *re = wait_for(l, "reopened");
    cr_assert_str_eq(re->incident_id, l->id, "the same incident reopens");
    cr_expect_eq(re->snapshot->status, ST(OPEN));
    cr_expect_eq(re->snapshot->reopen_count, 1);
    cr_expect_eq(re->snapshot->stage, INCIDENT__V1__STAGE__STAGE_ESCALATED);
    uint32_t level = re->snapshot->escalation_level;
    const Incident__V1__AuditRecord *mg = wait_for(l, "merged");
    cr_expect_str_eq(mg->incident_id, l->id);
    cr_expect_eq(mg->snapshot->alert_count, 2);

    Incident__V1__IncidentEvent *ev =
        e2e_event_wait(&l->p, "incidents.escalated", l->id, mg->seq, E2E_WAIT_MS);
    cr_assert_not_null(ev, "the reopened incident is back on incidents.escalated (v%" PRIu64 ")",
                       mg->seq);
    cr_expect_eq(ev->incident->status, ST(OPEN));
    cr_expect_eq(ev->incident->escalation_level, level, "at its level");
    incident__v1__incident_event__free_unpacked(ev, NULL);

    /* Nobody acknowledges: the ack timer armed again escalates one level. */
    const Incident__V1__AuditRecord *esc = wait_for(l, "escalated");
    cr_expect_str_eq(esc->incident_id, l->id);
    cr_expect_eq(esc->snapshot->escalation_level, level + 1, "re-escalated after the reopen");
}

/* Resolved again, reopened by a person's command, resolved again. */
static void global_reopen_by_command(life_t *l)
{
    send(l, CMD(RESOLVE), "tina", NULL);
    cr_expect_eq(wait_for(l, "resolved")->snapshot->reopen_count, 1);
    Incident__V1__Command c = INCIDENT__V1__COMMAND__INIT;
    c.text = "errors are back in berlin";
    send(l, CMD(REOPEN), "ops-lead", &c);
    const Incident__V1__AuditRecord *re = wait_for(l, "reopened");
    cr_expect_str_eq(re->incident_id, l->id);
    cr_expect_str_eq(re->actor, "ops-lead");
    cr_expect_eq(re->snapshot->status, ST(OPEN));
    cr_expect_eq(re->snapshot->reopen_count, 2);
    cr_expect(strstr(re->detail, "errors are back in berlin") != NULL, "detail: %s", re->detail);
    send(l, CMD(RESOLVE), "tina", NULL);
    const Incident__V1__AuditRecord *res = wait_for(l, "resolved");
    cr_expect_str_eq(res->actor, "tina");
    cr_expect_eq(res->snapshot->reopen_count, 2);
}

/* A quiet window: confirmed, followed up, blocked listing each missing piece. */
static void global_confirmed_and_blocked(life_t *l)
{
    const Incident__V1__AuditRecord *cf = wait_for(l, "confirmed");
    cr_expect_str_eq(cf->incident_id, l->id);
    cr_expect_eq(cf->snapshot->status, ST(RESOLVED));
    cr_expect(cf->snapshot->confirmed_at_ms > 0);
    wait_for(l, "followed_up");
    const Incident__V1__AuditRecord *np = wait_for(l, "notification_planned");
    cr_expect(strstr(np->detail, "cto") != NULL, "final update to the stakeholders: %s",
              np->detail);
    const Incident__V1__AuditRecord *bl = wait_for(l, "completion_blocked");
    const char *pieces[] = {"review not submitted", "no preventive task", "sign-off missing: cto",
                            "sign-off missing: ops-lead"};
    for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++)
        cr_expect(strstr(bl->detail, pieces[i]) != NULL, "blocked names '%s': %s", pieces[i],
                  bl->detail);
    cr_expect_eq(bl->snapshot->status, ST(RESOLVED));
    cr_expect_eq(bl->snapshot->closed_at_ms, 0);
    cr_expect_not(bl->snapshot->review_submitted);
}

/* A task command: add (title in text) or finish (task_id). */
static void send_task(life_t *l, Incident__V1__CommandKind kind, const char *task_id,
                      const char *title, int preventive)
{
    Incident__V1__Command c = INCIDENT__V1__COMMAND__INIT;
    c.task_id = (char *)task_id;
    c.text = (char *)title;
    c.assignee = title ? "tina" : "";
    c.preventive = preventive;
    send(l, kind, "tina", &c);
}

/* Tasks, review and sign-offs; the last sign-off closes. */
static void global_completes(life_t *l)
{
    send_task(l, CMD(TASK_ADD), "T-1", "canary every deploy", 1);
    const Incident__V1__AuditRecord *r = wait_for(l, "task_added");
    cr_expect_str_eq(r->actor, "tina");
    cr_assert_eq(r->snapshot->n_tasks, 1);
    cr_expect_str_eq(r->snapshot->tasks[0]->id, "T-1");
    cr_expect(r->snapshot->tasks[0]->preventive);
    send_task(l, CMD(TASK_ADD), "T-2", "update the runbook", 0);
    cr_expect_eq(wait_for(l, "task_added")->snapshot->n_tasks, 2);

    Incident__V1__Command c = INCIDENT__V1__COMMAND__INIT;
    c.root_cause = "a bad deploy of the payments gateway";
    c.text = "canaries would have caught it";
    send(l, CMD(REVIEW), "tina", &c);
    r = wait_for(l, "review_submitted");
    cr_expect_str_eq(r->actor, "tina");
    cr_expect(r->snapshot->review_submitted);
    cr_expect_str_eq(r->snapshot->root_cause, "a bad deploy of the payments gateway");

    send(l, CMD(SIGN_OFF), "cto", NULL);
    r = wait_for(l, "signed_off");
    cr_expect_str_eq(r->actor, "cto");
    cr_assert_eq(r->snapshot->n_signed_off, 1);
    cr_expect_str_eq(r->snapshot->signed_off[0], "cto");
    cr_expect_eq(r->snapshot->status, ST(RESOLVED), "still blocked");

    send_task(l, CMD(TASK_CANCEL), "T-2", NULL, 0);
    cr_expect(wait_for(l, "task_cancelled")->snapshot->tasks[1]->cancelled);
    send_task(l, CMD(TASK_DONE), "T-1", NULL, 0);
    r = wait_for(l, "task_done");
    cr_expect(r->snapshot->tasks[0]->done);
    cr_expect_eq(r->snapshot->status, ST(RESOLVED), "still blocked: one sign-off missing");

    send(l, CMD(SIGN_OFF), "ops-lead", NULL);
    const Incident__V1__AuditRecord *so = wait_for(l, "signed_off");
    cr_expect_str_eq(so->actor, "ops-lead");
    const Incident__V1__AuditRecord *cl = wait_for(l, "closed");
    cr_expect_str_eq(cl->incident_id, l->id);
    cr_expect_eq(cl->seq, so->seq + 1, "the last sign-off closes it");
    cr_expect_eq(cl->snapshot->status, ST(CLOSED));
    cr_expect_eq(cl->snapshot->stage, INCIDENT__V1__STAGE__STAGE_CLOSED);
    cr_expect(cl->snapshot->closed_at_ms > 0);
    cr_expect(cl->snapshot->review_submitted);
    cr_expect_eq(cl->snapshot->n_signed_off, 2);
    cr_expect_eq(cl->snapshot->reopen_count, 2);
}

Test(lifecycle, global_incident_lives_from_resolve_to_closed, .timeout = 240, .fini = life_fini)
{
    static const char *const sets[] = {"handling.global_stakeholders=cto,ops-lead",
                                       "roster.technical_manager.default=tina",
                                       "escalation.ack_timeout=4s",
                                       "followup.window.global=6s",
                                       "comms.update_interval.global=1h",
                                       "review.due=1h",
                                       NULL};
    life_t l;
    life_start(&l, "life", sets);
    global_open_ack_resolve(&l);
    global_retrigger_reopens(&l);
    global_reopen_by_command(&l);
    global_confirmed_and_blocked(&l);
    global_completes(&l);

    static const char *const order[] = {
        "detected",        "classified",   "scoped",   "assigned", "escalated",
        "client_notified", "acknowledged", "resolved", "reopened", "merged",
        "escalated",       "resolved",     "reopened", "resolved", NULL};
    expect_in_order(&l, l.id, order);
    static const char *const tail[] = {"confirmed",
                                       "followed_up",
                                       "notification_planned",
                                       "completion_blocked",
                                       "task_added",
                                       "task_added",
                                       "review_submitted",
                                       "signed_off",
                                       "task_cancelled",
                                       "task_done",
                                       "signed_off",
                                       "closed",
                                       NULL};
    expect_tail(&l, l.id, "confirmed", tail);

    /* After CLOSED the same key opens a new incident. */
    trigger(&l, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 1);
    const Incident__V1__AuditRecord *d = wait_for(&l, "detected");
    cr_expect_str_neq(d->incident_id, l.id, "a new incident after the close");
    cr_expect_eq(d->seq, 1);
    cr_expect_eq(d->snapshot->reopen_count, 0);
    e2e_trail_verify(&l.t);
    life_stop(&l);
}

/* ---- redelivery, bad commands ------------------------------------------------------ */

/* Opens a local incident (one site) and waits until it is handled. */
static void local_open(life_t *l)
{
    trigger(l, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 0);
    const Incident__V1__AuditRecord *h = wait_for(l, "handled");
    snprintf(l->id, sizeof(l->id), "%s", h->incident_id);
}

Test(lifecycle, redelivered_command_applies_once, .timeout = 180, .fini = life_fini)
{
    static const char *const sets[] = {"followup.window.local=1h", NULL};
    life_t l;
    life_start(&l, "redeliver", sets);
    local_open(&l);
    /* Each command twice, as a producer retry or a replay would deliver it. */
    Incident__V1__Command task = e2e_cmd("cmd-task-1", l.id, CMD(TASK_ADD), "carl");
    task.text = "add a disk alarm";
    task.preventive = 1;
    e2e_command(&l.p, &task);
    e2e_command(&l.p, &task);
    Incident__V1__Command res = e2e_cmd("cmd-resolve-1", l.id, CMD(RESOLVE), "carl");
    e2e_command(&l.p, &res);
    e2e_command(&l.p, &res);
    Incident__V1__Command note = e2e_cmd("cmd-note-1", l.id, CMD(NOTE), "carl");
    note.text = "marker: after the redeliveries";
    e2e_command(&l.p, &note);
    e2e_command(&l.p, &note);
    /* A second marker: once it is applied, every copy before it was read. */
    Incident__V1__Command end = e2e_cmd("cmd-note-2", l.id, CMD(NOTE), "carl");
    end.text = "the end";
    e2e_command(&l.p, &end);
    const Incident__V1__AuditRecord *r = wait_for(&l, "note");
    cr_expect_str_eq(r->detail, "marker: after the redeliveries");
    r = wait_for(&l, "note");
    cr_expect_str_eq(r->detail, "the end");

    int added = 0, resolved = 0, notes = 0;
    for (size_t i = 0; i < l.t.n; i++) {
        added += strcmp(l.t.recs[i]->action, "task_added") == 0;
        resolved += strcmp(l.t.recs[i]->action, "resolved") == 0;
        notes += strcmp(l.t.recs[i]->action, "note") == 0;
    }
    cr_expect_eq(added, 1, "task added once (got %d)", added);
    cr_expect_eq(resolved, 1, "resolved once (got %d)", resolved);
    cr_expect_eq(notes, 2, "each note once (got %d)", notes);
    cr_expect_eq(r->snapshot->n_tasks, 1);
    cr_expect_eq(r->snapshot->status, ST(RESOLVED));
    /* A redelivery is dropped, not refused: no dead letter. */
    e2e_dead_t dead[4];
    int n = e2e_dlq_read(&l.p, dead, 4, 3000);
    cr_expect_eq(n, 0, "no dead letter for a redelivery (got %d: %s)", n, n ? dead[0].error : "");
    e2e_trail_verify(&l.t);
    life_stop(&l);
}

/* The dead letter whose reason contains @p what, or NULL. */
static const e2e_dead_t *dead_with(const e2e_dead_t *dead, int n, const char *what)
{
    for (int i = 0; i < n; i++)
        if (strstr(dead[i].error, what))
            return &dead[i];
    return NULL;
}

Test(lifecycle, bad_commands_are_dead_lettered_with_the_reason, .timeout = 180, .fini = life_fini)
{
    life_t l;
    life_start(&l, "badcmd", NULL);
    trigger(&l, INCIDENT__V1__SEVERITY__SEVERITY_WARNING, 0);
    const Incident__V1__AuditRecord *c = wait_for(&l, "classified");
    cr_assert_eq(c->snapshot->kind, INCIDENT__V1__KIND__KIND_DISTURBANCE);
    snprintf(l.id, sizeof(l.id), "%s", c->incident_id);

    char unknown[128];
    snprintf(unknown, sizeof(unknown), "%s", tu_unique("INC-nope"));
    Incident__V1__Command u = e2e_cmd(tu_unique("c"), unknown, CMD(NOTE), "tina");
    u.text = "hello?";
    e2e_command(&l.p, &u);
    send(&l, CMD(SIGN_OFF), "cto", NULL);
    Incident__V1__Command t = INCIDENT__V1__COMMAND__INIT;
    t.task_id = "T-404";
    send(&l, CMD(TASK_DONE), "tina", &t);
    send(&l, CMD(NOTE), "", NULL); /* no actor: refused by the contract's checks */
    Incident__V1__Command ok = INCIDENT__V1__COMMAND__INIT;
    ok.text = "the stage carries on";
    send(&l, CMD(NOTE), "tina", &ok);
    cr_expect_str_eq(wait_for(&l, "note")->detail, "the stage carries on");

    e2e_dead_t dead[8];
    int n = e2e_dlq_read(&l.p, dead, 8, E2E_WAIT_MS);
    cr_expect_eq(n, 4, "4 dead letters (got %d)", n);
    for (int i = 0; i < n; i++)
        cr_expect_str_eq(dead[i].stage, "commands", "x-stage of '%s'", dead[i].error);
    const e2e_dead_t *d = dead_with(dead, n, "unknown incident");
    cr_expect_not_null(d, "unknown incident dead-lettered");
    if (d)
        cr_expect(strstr(d->error, unknown) != NULL, "names the incident: %s", d->error);
    d = dead_with(dead, n, "needs no sign-off");
    cr_expect_not_null(d, "sign-off on a disturbance dead-lettered");
    if (d)
        cr_expect_str_eq(d->key, l.id);
    cr_expect_not_null(dead_with(dead, n, "no task T-404"), "task done on an unknown task");
    cr_expect_not_null(dead_with(dead, n, "actor"), "a command without actor");
    cr_expect_not(e2e_trail_has(&l.t, "signed_off"));
    cr_expect_not(e2e_trail_has(&l.t, "task_done"));
    e2e_trail_verify(&l.t);
    life_stop(&l);
}

/* ---- client updates, disturbances ------------------------------------------------ */

/* The number of records of the key with @p action among the first @p upto. */
static int count_upto(const life_t *l, const char *action, size_t upto)
{
    int n = 0;
    for (size_t i = 0; i < upto && i < l->t.n; i++)
        n += strcmp(l->t.recs[i]->action, action) == 0;
    return n;
}

Test(lifecycle, client_update_plan_asks_resets_and_escalates, .timeout = 180, .fini = life_fini)
{
    static const char *const sets[] = {
        "handling.global_stakeholders=cto", "roster.technical_manager.default=tina",
        "comms.update_interval.global=4s", "escalation.ack_timeout=1h", NULL};
    life_t l;
    life_start(&l, "comms", sets);
    trigger(&l, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, 1);
    const Incident__V1__AuditRecord *cn = wait_for(&l, "client_notified");
    snprintf(l.id, sizeof(l.id), "%s", cn->incident_id);
    uint32_t level = cn->snapshot->escalation_level;
    cr_expect(cn->snapshot->next_client_update_due_ms > 0, "a client update is planned");

    const Incident__V1__AuditRecord *due1 = wait_for(&l, "client_update_due");
    cr_expect(strstr(due1->detail, "1 missed in a row") != NULL, "first miss: %s", due1->detail);

    /* The update (within the interval) resets the plan and the count. */
    Incident__V1__Command c = INCIDENT__V1__COMMAND__INIT;
    c.text = "we are on it; next update soon";
    send(&l, CMD(CLIENT_UPDATE), "carl", &c);
    const Incident__V1__AuditRecord *up = wait_for(&l, "client_update");
    cr_expect_str_eq(up->actor, "carl");
    cr_expect(up->snapshot->last_client_update_at_ms > 0);
    cr_expect(up->snapshot->next_client_update_due_ms > up->snapshot->last_client_update_at_ms);
    cr_expect_eq(up->snapshot->escalation_level, level, "one missed update does not escalate");
    cr_expect_eq(count_upto(&l, "escalated", l.t.n), 1, "no escalation for one missed update");

    /* Missed again: the first again, then the second in a row escalates. */
    const Incident__V1__AuditRecord *due = wait_for(&l, "client_update_due");
    cr_expect(strstr(due->detail, "1 missed in a row") != NULL, "reset by the update: %s",
              due->detail);
    due = wait_for(&l, "client_update_due");
    cr_expect(strstr(due->detail, "2 missed in a row") != NULL, "second miss: %s", due->detail);
    /* The escalation is in the same transition: already committed. */
    cr_expect(e2e_trail_wait(l.audit, &l.t, l.key, "escalated", 10000), "escalated");
    const Incident__V1__AuditRecord *esc = l.t.recs[l.t.n - 1];
    cr_expect_str_eq(esc->action, "escalated");
    /* Between them only the notices the transition plans (the owner's
     * reminder): the same transition. */
    for (size_t i = 0; i < l.t.n; i++)
        if (l.t.recs[i]->seq > due->seq && l.t.recs[i]->seq < esc->seq)
            cr_expect_str_eq(l.t.recs[i]->action, "notification_planned",
                             "two missed in a row escalate at once");
    cr_expect_eq(esc->snapshot->escalation_level, level + 1);
    cr_expect_eq(count_upto(&l, "escalated", l.t.n), 2, "escalated once for two missed");

    /* Each missed update is emitted on incidents.escalated (committed with
     * its record: a short wait). */
    uint64_t due1_end = due1->seq; /* its transition's last record: the event's version */
    for (size_t i = 0; i < l.t.n; i++)
        if (l.t.recs[i]->seq == due1_end + 1 &&
            strcmp(l.t.recs[i]->action, "notification_planned") == 0)
            due1_end++;
    Incident__V1__IncidentEvent *ev =
        e2e_event_wait(&l.p, "incidents.escalated", l.id, due1_end, 10000);
    cr_expect_not_null(ev, "client_update_due (v%" PRIu64 ") emitted on incidents.escalated",
                       due1->seq);
    if (ev)
        incident__v1__incident_event__free_unpacked(ev, NULL);
    e2e_trail_verify(&l.t);
    life_stop(&l);
}

Test(lifecycle, disturbance_is_confirmed_at_once_and_closes_without_review, .timeout = 180,
     .fini = life_fini)
{
    static const char *const sets[] = {"review.required=global, critical", NULL};
    life_t l;
    life_start(&l, "dist", sets);
    trigger(&l, INCIDENT__V1__SEVERITY__SEVERITY_WARNING, 1);
    const Incident__V1__AuditRecord *c = wait_for(&l, "classified");
    cr_assert_eq(c->snapshot->kind, INCIDENT__V1__KIND__KIND_DISTURBANCE);
    snprintf(l.id, sizeof(l.id), "%s", c->incident_id);
    send(&l, CMD(RESOLVE), "ops", NULL);
    const Incident__V1__AuditRecord *res = wait_for(&l, "resolved");
    cr_expect_str_eq(res->actor, "ops");
    cr_expect(strstr(res->detail, "no confirmation window") != NULL, "detail: %s", res->detail);
    const Incident__V1__AuditRecord *cl = wait_for(&l, "closed");
    cr_expect_eq(cl->snapshot->status, ST(CLOSED));
    cr_expect_not(cl->snapshot->review_submitted);
    cr_expect_eq(cl->snapshot->n_tasks, 0);
    cr_expect_eq(cl->snapshot->n_signed_off, 0);
    cr_expect_not(e2e_trail_has(&l.t, "completion_blocked"));
    static const char *const all[] = {"detected",    "classified", "resolved", "confirmed",
                                      "followed_up", "closed",     NULL};
    expect_tail(&l, l.id, "detected", all);
    e2e_trail_verify(&l.t);
    life_stop(&l);
}
