/*
 * test_hd_scoped.c — the scoped stage (handlers/scoped.c): the global action
 * plan, local handling under guidelines, local CRITICAL informing the TM, and
 * the client communication decision.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <string.h>

#include "handlers.h"

#define ACTOR "incidentd/scoped"

#define NOW 1700000000000LL

static arena_t arena;
static hd_rules_t rules;
static hd_ctx_t ctx;

static void setup(void)
{
    arena_init(&arena, 0);
    hd_rules_default(&rules);
    ctx.rules = &rules;
    ctx.arena = &arena;
    ctx.now_ms = NOW;
    ctx.actor = ACTOR;
    ctx.cause_id = "INC-1:5";
}
static void teardown(void) { arena_destroy(&arena); }

/* ---- builders ------------------------------------------------------------------ */

/* A NULL-terminated list as a new arena array; *n gets its length. */
static char **list(size_t *n, const char *first, ...)
{
    const char *items[64];
    size_t count = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s && count < 64; s = va_arg(ap, const char *))
        items[count++] = s;
    va_end(ap);
    *n = count;
    char **v = arena_alloc(&arena, (count ? count : 1) * sizeof(*v));
    for (size_t i = 0; i < count; i++)
        v[i] = arena_strdup(&arena, items[i]);
    return v;
}

/* An open MAJOR incident of service "db" at @p stage, version 5, one site,
 * no clients, with the records of detection and classification. */
static hd_state_t *state_new(Incident__V1__Stage stage, Incident__V1__Scope scope)
{
    hd_state_t *st = arena_alloc(&arena, sizeof(*st));
    hd_state_t sinit = INCIDENTD__V1__STORED_INCIDENT__INIT;
    *st = sinit;
    hd_incident_t *inc = arena_alloc(&arena, sizeof(*inc));
    hd_incident_t iinit = INCIDENT__V1__INCIDENT__INIT;
    *inc = iinit;
    inc->id = "INC-1";
    inc->dedup_key = "db-down";
    inc->stage = stage;
    inc->status = INCIDENT__V1__STATUS__STATUS_OPEN;
    inc->kind = INCIDENT__V1__KIND__KIND_INCIDENT;
    inc->scope = scope;
    inc->severity = INCIDENT__V1__SEVERITY__SEVERITY_MAJOR;
    inc->service = "db";
    inc->summary = "database down";
    inc->sites = list(&inc->n_sites, "site-a", NULL);
    inc->alert_count = 1;
    inc->version = 5;
    inc->detected_at_ms = NOW - 1000;
    st->incident = inc;
    st->recorded_actions = list(&st->n_recorded_actions, "detected", "classified", NULL);
    return st;
}

/* The event announcing @p st (its snapshot as the runtime would send it). */
static hd_event_t *event_of(const hd_state_t *st, int64_t at_ms)
{
    hd_event_t *ev = arena_alloc(&arena, sizeof(*ev));
    hd_event_t init = INCIDENT__V1__INCIDENT_EVENT__INIT;
    *ev = init;
    ev->incident = hd_state_copy(&arena, st)->incident;
    ev->event_id = arena_printf(&arena, "%s:%llu", ev->incident->id,
                                (unsigned long long)ev->incident->version);
    ev->at_ms = at_ms;
    return ev;
}

static int has_action(const hd_state_t *st, const char *action)
{
    for (size_t i = 0; i < st->n_recorded_actions; i++)
        if (strcmp(st->recorded_actions[i], action) == 0)
            return 1;
    return 0;
}

/* The invariants of every applied transition with records. */
static void check_records(const hd_transition_t *out, uint64_t first_seq)
{
    cr_assert_eq(out->verdict, HD_APPLY);
    cr_assert_not_null(out->state);
    cr_assert(out->n_records > 0);
    for (size_t i = 0; i < out->n_records; i++) {
        const hd_record_t *rec = out->records[i];
        cr_assert_eq(rec->seq, first_seq + i, "record %zu seq %llu", i,
                     (unsigned long long)rec->seq);
        cr_assert_str_eq(rec->incident_id, out->state->incident->id);
        cr_assert_eq(rec->at_ms, NOW);
        cr_assert_str_eq(rec->cause_id, "INC-1:5");
        cr_assert_str_eq(rec->actor, ACTOR);
        cr_assert_str_eq(rec->prev_hash, "");
        cr_assert_str_eq(rec->hash, "");
        cr_assert(strlen(rec->detail) > 0);
        cr_assert_not_null(rec->snapshot);
        cr_assert_eq(rec->snapshot->version, rec->seq);
        cr_assert_eq(rec->stage, rec->snapshot->stage);
        cr_assert_neq(rec->snapshot, out->state->incident);
        for (size_t j = 0; j < i; j++)
            cr_assert_neq(rec->snapshot, out->records[j]->snapshot);
        cr_assert(has_action(out->state, rec->action), "action %s not noted", rec->action);
    }
    cr_assert_eq(out->state->incident->version, first_seq + out->n_records - 1);
    for (size_t i = 0; i < out->n_outputs; i++)
        cr_assert_eq(out->outputs[i].snapshot, out->state->incident);
}

static void check_noop(const hd_transition_t *out)
{
    cr_assert_eq(out->verdict, HD_NOOP);
    cr_assert_null(out->state);
    cr_assert_eq(out->n_records, 0);
    cr_assert_eq(out->n_outputs, 0);
    cr_assert_eq(out->timer_op, HD_TIMER_NONE);
    cr_assert_eq(out->index_op, HD_INDEX_NONE);
    cr_assert_eq(out->closed, 0);
}

static int contains(const char *haystack, const char *needle)
{
    return strstr(haystack, needle) != NULL;
}

static int strv_has(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return 1;
    return 0;
}

TestSuite(hd_scoped, .init = setup, .fini = teardown);

static hd_transition_t run(const hd_state_t *cur)
{
    hd_transition_t out;
    memset(&out, 0x5a, sizeof(out));
    const hd_state_t *ev_src =
        cur ? cur : state_new(INCIDENT__V1__STAGE__STAGE_SCOPED, INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    hd_scoped_apply(&ctx, cur, event_of(ev_src, NOW - 10), &out);
    return out;
}

static hd_state_t *scoped(Incident__V1__Scope scope)
{
    hd_state_t *st = state_new(INCIDENT__V1__STAGE__STAGE_SCOPED, scope);
    st->incident->owner_role = scope == INCIDENT__V1__SCOPE__SCOPE_GLOBAL
                                   ? INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER
                                   : INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER;
    st->recorded_actions =
        list(&st->n_recorded_actions, "detected", "classified", "scoped", "assigned", NULL);
    return st;
}

static const char *global_people[] = {"ops-lead", "cto"};
static const char *level1_people[] = {"cto", "on-call"};

static void people_configure(void)
{
    rules.global_stakeholders = global_people;
    rules.n_global_stakeholders = 2;
    rules.level_stakeholders[1] = level1_people;
    rules.n_level_stakeholders[1] = 2;
}

/* ---- no-ops --------------------------------------------------------------------- */

Test(hd_scoped, nothing_without_incident)
{
    hd_transition_t out = run(NULL);
    check_noop(&out);
}

Test(hd_scoped, disturbance_never_escalated)
{
    hd_state_t *cur = scoped(INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    cur->incident->kind = INCIDENT__V1__KIND__KIND_DISTURBANCE;
    hd_transition_t out = run(cur);
    check_noop(&out);
}

Test(hd_scoped, only_at_stage_scoped)
{
    hd_state_t *cur = scoped(INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cur->incident->stage = INCIDENT__V1__STAGE__STAGE_ESCALATED;
    hd_transition_t out = run(cur);
    check_noop(&out);
    cur->incident->stage = INCIDENT__V1__STAGE__STAGE_CLASSIFIED;
    out = run(cur);
    check_noop(&out);
}

Test(hd_scoped, resolved_incident_not_escalated)
{
    hd_state_t *cur = scoped(INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_RESOLVED;
    hd_transition_t out = run(cur);
    check_noop(&out);
}

Test(hd_scoped, invalid_event_rejected)
{
    hd_transition_t out;
    hd_event_t *ev = event_of(scoped(INCIDENT__V1__SCOPE__SCOPE_LOCAL), NOW);
    ev->incident = NULL;
    hd_scoped_apply(&ctx, scoped(INCIDENT__V1__SCOPE__SCOPE_LOCAL), ev, &out);
    cr_assert_eq(out.verdict, HD_REJECT);
    cr_assert(strlen(out.error) > 0);
    cr_assert_null(out.state);
}

/* ---- global --------------------------------------------------------------------- */

Test(hd_scoped, global_runs_action_plan)
{
    people_configure();
    hd_state_t *cur = scoped(INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cur->incident->stakeholders = list(&cur->incident->n_stakeholders, "owner", NULL);
    hd_transition_t out = run(cur);
    check_records(&out, 6);
    cr_assert_eq(out.n_records, 2);
    const hd_record_t *esc = out.records[0], *notified = out.records[1];
    cr_assert_str_eq(esc->action, "escalated");
    cr_assert_eq(esc->stage, INCIDENT__V1__STAGE__STAGE_ESCALATED);
    cr_assert_str_eq(esc->detail,
                     "global: Technical Manager runs the action plan; level 1; informed: "
                     "owner, ops-lead, cto, on-call; resolution meeting scheduled");
    /* the client decision is already in the first record's snapshot */
    cr_assert_eq(esc->snapshot->client_comms, INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY);
    cr_assert_eq(esc->snapshot->escalation_level, 1);
    cr_assert_str_eq(notified->action, "client_notified");
    cr_assert_eq(notified->stage, INCIDENT__V1__STAGE__STAGE_ESCALATED);
    cr_assert(contains(notified->detail, "global notice"), "%s", notified->detail);

    const hd_incident_t *inc = out.state->incident;
    cr_assert_eq(inc->stage, INCIDENT__V1__STAGE__STAGE_ESCALATED);
    cr_assert_eq(inc->escalation_level, 1);
    cr_assert(inc->resolution_meeting);
    cr_assert_eq(inc->client_comms, INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY);
    cr_assert_eq(inc->n_stakeholders, 4);
    cr_assert_str_eq(inc->stakeholders[0], "owner");
    cr_assert_str_eq(inc->stakeholders[1], "ops-lead");
    cr_assert_str_eq(inc->stakeholders[2], "cto");
    cr_assert_str_eq(inc->stakeholders[3], "on-call");
    cr_assert_eq(inc->version, 7);
    cr_assert_eq(out.n_outputs, 1);
    cr_assert_eq(out.outputs[0].topic, HD_TOPIC_ESCALATED);
    cr_assert_eq(out.timer_op, HD_TIMER_NONE);
    cr_assert(has_action(out.state, "escalated"));
    cr_assert(has_action(out.state, "client_notified"));
    /* input untouched */
    cr_assert_eq(cur->incident->n_stakeholders, 1);
    cr_assert_eq(cur->incident->escalation_level, 0);
    cr_assert_eq(cur->incident->stage, INCIDENT__V1__STAGE__STAGE_SCOPED);
}

Test(hd_scoped, global_without_stakeholders_configured)
{
    hd_transition_t out = run(scoped(INCIDENT__V1__SCOPE__SCOPE_GLOBAL));
    check_records(&out, 6);
    cr_assert(contains(out.records[0]->detail, "informed: none"), "%s", out.records[0]->detail);
    cr_assert_eq(out.state->incident->n_stakeholders, 0);
}

Test(hd_scoped, global_keeps_higher_level)
{
    hd_state_t *cur = scoped(INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cur->incident->escalation_level = 2;
    hd_transition_t out = run(cur);
    cr_assert_eq(out.state->incident->escalation_level, 2);
    cr_assert(contains(out.records[0]->detail, "level 2"));
}

Test(hd_scoped, global_with_clients_notifies)
{
    hd_state_t *cur = scoped(INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cur->incident->clients = list(&cur->incident->n_clients, "acme", "globex", NULL);
    hd_transition_t out = run(cur);
    cr_assert_eq(out.n_records, 2);
    cr_assert_str_eq(out.records[1]->action, "client_notified");
    cr_assert(contains(out.records[1]->detail, "2 affected clients"), "%s", out.records[1]->detail);
}

/* ---- local ---------------------------------------------------------------------- */

Test(hd_scoped, local_without_clients_is_handled_by_csm)
{
    const hd_guideline_t guidelines[] = {{"*", "standard runbook"}, {"db", "fail over to replica"}};
    rules.guidelines = guidelines;
    rules.n_guidelines = 2;
    hd_state_t *cur = scoped(INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    hd_transition_t out = run(cur);
    check_records(&out, 6);
    cr_assert_eq(out.n_records, 1);
    cr_assert_str_eq(out.records[0]->action, "handled");
    cr_assert_eq(out.records[0]->stage, INCIDENT__V1__STAGE__STAGE_ESCALATED);
    cr_assert_str_eq(out.records[0]->detail,
                     "local: Customer Service Manager under guideline 'fail over to "
                     "replica'; level 0");
    const hd_incident_t *inc = out.state->incident;
    cr_assert_eq(inc->escalation_level, 0);
    cr_assert_eq(inc->stage, INCIDENT__V1__STAGE__STAGE_ESCALATED);
    cr_assert_not(inc->resolution_meeting);
    cr_assert_eq(inc->n_stakeholders, 0);
    cr_assert_eq(inc->client_comms, INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NONE);
    cr_assert_str_eq(out.state->guideline, "fail over to replica");
    cr_assert_eq(out.n_outputs, 1);
    cr_assert_eq(out.outputs[0].topic, HD_TOPIC_ESCALATED);
    cr_assert_not(has_action(out.state, "client_notified"));
    cr_assert_str_eq(cur->guideline, "");
}

Test(hd_scoped, local_uses_default_guideline)
{
    const hd_guideline_t guidelines[] = {{"web", "restart web"}, {"", "standard runbook"}};
    rules.guidelines = guidelines;
    rules.n_guidelines = 2;
    hd_transition_t out = run(scoped(INCIDENT__V1__SCOPE__SCOPE_LOCAL));
    cr_assert_str_eq(out.state->guideline, "standard runbook");
    cr_assert(contains(out.records[0]->detail, "guideline 'standard runbook'"));
}

Test(hd_scoped, local_without_guideline)
{
    hd_transition_t out = run(scoped(INCIDENT__V1__SCOPE__SCOPE_LOCAL));
    cr_assert_str_eq(out.state->guideline, "");
    cr_assert(contains(out.records[0]->detail, "guideline 'none'"), "%s", out.records[0]->detail);
}

Test(hd_scoped, local_with_clients_notifies_them)
{
    hd_state_t *cur = scoped(INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    cur->incident->clients = list(&cur->incident->n_clients, "acme", "globex", "initech", NULL);
    hd_transition_t out = run(cur);
    check_records(&out, 6);
    cr_assert_eq(out.n_records, 2);
    cr_assert_str_eq(out.records[0]->action, "handled");
    cr_assert_eq(out.records[0]->snapshot->client_comms,
                 INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY);
    cr_assert_str_eq(out.records[1]->action, "client_notified");
    cr_assert(contains(out.records[1]->detail, "3 affected clients notified"), "%s",
              out.records[1]->detail);
    cr_assert_eq(out.state->incident->client_comms,
                 INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY);
    cr_assert_eq(out.state->incident->version, 7);
}

Test(hd_scoped, local_critical_informs_tm)
{
    people_configure();
    hd_state_t *cur = scoped(INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    cur->incident->severity = INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL;
    hd_transition_t out = run(cur);
    check_records(&out, 6);
    cr_assert_eq(out.n_records, 1);
    cr_assert_str_eq(out.records[0]->action, "escalated");
    cr_assert(contains(out.records[0]->detail, "local critical"), "%s", out.records[0]->detail);
    cr_assert(contains(out.records[0]->detail, "Technical Manager informed"));
    const hd_incident_t *inc = out.state->incident;
    cr_assert_eq(inc->escalation_level, 1);
    cr_assert_eq(inc->stage, INCIDENT__V1__STAGE__STAGE_ESCALATED);
    cr_assert_not(inc->resolution_meeting);
    cr_assert_eq(inc->n_stakeholders, 3);
    cr_assert_str_eq(inc->stakeholders[0], "technical-manager");
    cr_assert(strv_has(inc->stakeholders, inc->n_stakeholders, "cto"));
    cr_assert(strv_has(inc->stakeholders, inc->n_stakeholders, "on-call"));
    /* global stakeholders are for GLOBAL incidents only */
    cr_assert_not(strv_has(inc->stakeholders, inc->n_stakeholders, "ops-lead"));
    cr_assert_eq(inc->client_comms, INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NONE);
}

Test(hd_scoped, local_critical_without_tm_stakeholder)
{
    rules.tm_stakeholder = "";
    hd_state_t *cur = scoped(INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    cur->incident->severity = INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL;
    hd_transition_t out = run(cur);
    cr_assert_eq(out.state->incident->escalation_level, 1);
    cr_assert_eq(out.state->incident->n_stakeholders, 0);
}

Test(hd_scoped, local_major_stays_at_level_0)
{
    hd_state_t *cur = scoped(INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    cur->incident->severity = INCIDENT__V1__SEVERITY__SEVERITY_MAJOR;
    hd_transition_t out = run(cur);
    cr_assert_eq(out.state->incident->escalation_level, 0);
    cr_assert_str_eq(out.records[0]->action, "handled");
    cr_assert_eq(out.state->incident->n_stakeholders, 0);
}

Test(hd_scoped, widened_incident_is_escalated_again)
{
    /* was LOCAL at level 0, the classified stage widened it to GLOBAL */
    people_configure();
    hd_state_t *cur = scoped(INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cur->incident->version = 12;
    cur->incident->client_comms = INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NONE;
    cur->guideline = "fail over to replica";
    hd_transition_t out = run(cur);
    check_records(&out, 13);
    cr_assert_eq(out.state->incident->escalation_level, 1);
    cr_assert(out.state->incident->resolution_meeting);
    cr_assert_eq(out.state->incident->client_comms,
                 INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY);
    cr_assert_eq(out.state->incident->version, 14);
}
