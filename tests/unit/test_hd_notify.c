/*
 * test_hd_notify.c — planned deliveries and delivery receipts
 * (handlers/notify.c, hd_notify_plan() in handlers/hd_common.c): who is told
 * of each notice on which channel, deterministic delivery ids, recipients
 * without a channel audited, the bound per notice, and the receipts of the
 * notify stage (notified, retry, delivery_failed + escalation, unknown
 * incident) with the completion gate waiting for the final updates.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "hd_fixture.h"

#define ACTOR "incidentd/notify"
#define MIN_MS 60000LL

static void setup(void) { hdf_setup(ACTOR, "INC-1:7:1#1"); }

TestSuite(hd_notify, .init = setup, .fini = hdf_teardown);

/* The directory of most tests: tina (email + slack), ops-lead (webhook),
 * client acme (email + webhook + a slack bit clients cannot use), and a
 * person named like a client who must not be taken for it. */
static const hd_contact_t contacts[] = {
    {"tina", 0, HD_CHANNEL_EMAIL | HD_CHANNEL_SLACK},
    {"ops-lead", 0, HD_CHANNEL_WEBHOOK},
    {"acme", 1, HD_CHANNELS_ALL},
    {"globex", 0, HD_CHANNEL_EMAIL},
};

static void directory(void)
{
    hdf_rules.contacts = contacts;
    hdf_rules.n_contacts = sizeof(contacts) / sizeof(contacts[0]);
}

static void check_delivery(const hd_delivery_t *d, const char *id, const char *recipient,
                           int client, unsigned channel, hd_notice_t notice)
{
    cr_assert_str_eq(d->id, id);
    cr_assert_str_eq(d->recipient, recipient);
    cr_assert_eq(!!d->client, client, "%s client", id);
    cr_assert_eq(d->channel, channel, "%s channel %u", id, d->channel);
    cr_assert_eq(d->notice, notice);
}

/* ---- names and the directory ------------------------------------------------------- */

Test(hd_notify, names_round_trip)
{
    for (int i = 0; i < HD_NOTICE_COUNT; i++)
        cr_assert_eq(hd_notice_parse(hd_notice_name((hd_notice_t)i)), i);
    cr_assert_str_eq(hd_notice_name(HD_NOTICE_FINAL_UPDATE), "final_update");
    cr_assert_str_eq(hd_notice_name(HD_NOTICE_COUNT), "unknown");
    cr_assert_eq(hd_notice_parse("final update"), -1);
    cr_assert_eq(hd_notice_parse(NULL), -1);
    cr_assert_eq(hd_channel_parse("email"), HD_CHANNEL_EMAIL);
    cr_assert_eq(hd_channel_parse("webhook"), HD_CHANNEL_WEBHOOK);
    cr_assert_eq(hd_channel_parse("slack"), HD_CHANNEL_SLACK);
    cr_assert_eq(hd_channel_parse("sms"), 0);
    cr_assert_str_eq(hd_channel_name(HD_CHANNEL_EMAIL | HD_CHANNEL_SLACK), "unknown");
}

Test(hd_notify, contact_of_tells_people_from_clients)
{
    directory();
    cr_assert_eq(hd_contact_of(&hdf_rules, "acme", 1), &contacts[2]);
    cr_assert_null(hd_contact_of(&hdf_rules, "acme", 0));
    cr_assert_eq(hd_contact_of(&hdf_rules, "globex", 0), &contacts[3]);
    cr_assert_null(hd_contact_of(&hdf_rules, "globex", 1));
    cr_assert_null(hd_contact_of(&hdf_rules, "nobody", 0));
}

/* ---- planning per notice ------------------------------------------------------------ */

/* A GLOBAL incident at stage SCOPED owned by tina, with ops-lead and cto
 * among the global stakeholders and clients acme and globex. */
static hd_state_t *scoped_global(void)
{
    static const char *global[] = {"ops-lead", "cto"};
    hdf_rules.global_stakeholders = global;
    hdf_rules.n_global_stakeholders = 2;
    hd_state_t *st =
        hdf_state_new(INCIDENT__V1__STAGE__STAGE_SCOPED, INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    st->incident->owner = "tina";
    st->incident->clients = hdf_list(&st->incident->n_clients, "acme", "globex", NULL);
    return st;
}

static hd_transition_t scoped_run(const hd_state_t *cur)
{
    hd_transition_t out;
    hd_scoped_apply(&hdf_ctx, cur, hdf_event_of(cur, HDF_NOW), &out);
    return out;
}

Test(hd_notify, escalation_notice_to_owner_and_stakeholders)
{
    directory();
    hd_state_t *cur = scoped_global();
    hd_transition_t out;
    hd_scoped_apply(&hdf_ctx, cur, hdf_event_of(cur, HDF_NOW), &out);
    cr_assert_eq(out.verdict, HD_APPLY);
    size_t i = hdf_action_index(&out, "notification_planned");
    cr_assert_eq(i, 1); /* right after the escalated record */
    const hd_record_t *plan = out.records[i];
    cr_assert_eq(plan->seq, 7);
    cr_assert_str_eq(plan->detail, "escalation (level 1): 3 deliveries planned: INC-1:7:1 -> "
                                   "tina/email, INC-1:7:2 -> tina/slack, INC-1:7:3 -> "
                                   "ops-lead/webhook; audited, not sent: cto: no channel");
    /* the clients are not told of the escalation; one delivery per channel */
    cr_assert_eq(out.n_deliveries, 3);
    check_delivery(&out.deliveries[0], "INC-1:7:1", "tina", 0, HD_CHANNEL_EMAIL,
                   HD_NOTICE_ESCALATION);
    check_delivery(&out.deliveries[1], "INC-1:7:2", "tina", 0, HD_CHANNEL_SLACK,
                   HD_NOTICE_ESCALATION);
    check_delivery(&out.deliveries[2], "INC-1:7:3", "ops-lead", 0, HD_CHANNEL_WEBHOOK,
                   HD_NOTICE_ESCALATION);
}

Test(hd_notify, ids_are_the_same_on_replay)
{
    directory();
    hd_state_t *cur = scoped_global();
    hd_transition_t a = scoped_run(cur);
    hdf_ctx.now_ms += 3600000; /* a replay later on: no clock in the ids */
    hd_transition_t b = scoped_run(cur);
    cr_assert_eq(a.n_deliveries, b.n_deliveries);
    for (size_t i = 0; i < a.n_deliveries; i++) {
        cr_assert_str_eq(a.deliveries[i].id, b.deliveries[i].id);
        cr_assert_str_eq(a.deliveries[i].recipient, b.deliveries[i].recipient);
        cr_assert_eq(a.deliveries[i].channel, b.deliveries[i].channel);
    }
}

Test(hd_notify, owner_also_stakeholder_told_once)
{
    directory();
    hd_state_t *cur = scoped_global();
    cur->incident->stakeholders = hdf_list(&cur->incident->n_stakeholders, "tina", NULL);
    hd_transition_t out = scoped_run(cur);
    size_t tina = 0;
    for (size_t i = 0; i < out.n_deliveries; i++)
        tina += strcmp(out.deliveries[i].recipient, "tina") == 0;
    cr_assert_eq(tina, 2); /* email + slack, once */
}

Test(hd_notify, unnamed_owner_audited_not_dropped)
{
    hd_state_t *cur =
        hdf_state_new(INCIDENT__V1__STAGE__STAGE_SCOPED, INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    hd_transition_t out = scoped_run(cur);
    const hd_record_t *plan = out.records[hdf_action_index(&out, "notification_planned")];
    cr_assert_str_eq(plan->detail, "escalation (level 0): no delivery planned; audited, not "
                                   "sent: owner (unnamed): no channel");
    cr_assert_eq(out.n_deliveries, 0);
}

Test(hd_notify, local_critical_tells_the_tm)
{
    static const hd_contact_t tm[] = {{"technical-manager", 0, HD_CHANNEL_SLACK}};
    hdf_rules.contacts = tm;
    hdf_rules.n_contacts = 1;
    hd_state_t *cur =
        hdf_state_new(INCIDENT__V1__STAGE__STAGE_SCOPED, INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    cur->incident->severity = INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL;
    hd_transition_t out = scoped_run(cur);
    cr_assert_eq(out.n_deliveries, 1);
    check_delivery(&out.deliveries[0], "INC-1:7:1", "technical-manager", 0, HD_CHANNEL_SLACK,
                   HD_NOTICE_ESCALATION);
}

static hd_command_t *client_update(void)
{
    hd_command_t *c = arena_alloc(&hdf_arena, sizeof(*c));
    hd_command_t init = INCIDENT__V1__COMMAND__INIT;
    *c = init;
    c->command_id = "cmd-1";
    c->incident_id = "INC-1";
    c->kind = INCIDENT__V1__COMMAND_KIND__COMMAND_CLIENT_UPDATE;
    c->actor = "tina";
    c->text = "fix rolling out";
    return c;
}

/* An open GLOBAL incident at level 1 under NOTIFY, owned by tina. */
static hd_state_t *notifying(void)
{
    hd_state_t *st = scoped_global();
    st->incident->stage = INCIDENT__V1__STAGE__STAGE_ESCALATED;
    st->incident->escalation_level = 1;
    st->incident->client_comms = INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY;
    st->incident->stakeholders = hdf_list(&st->incident->n_stakeholders, "ops-lead", NULL);
    st->client_update_seq = 2;
    return st;
}

Test(hd_notify, client_update_goes_to_every_client_on_client_channels)
{
    directory();
    hd_transition_t out;
    hd_command_apply(&hdf_ctx, notifying(), client_update(), &out);
    cr_assert_eq(out.verdict, HD_APPLY);
    cr_assert_eq(out.n_records, 2);
    cr_assert_str_eq(out.records[1]->action, "notification_planned");
    /* acme: email and webhook, never slack; globex is a person's name, not a client's */
    cr_assert_str_eq(out.records[1]->detail,
                     "client_update: 2 deliveries planned: INC-1:7:1 -> client acme/email, "
                     "INC-1:7:2 -> client acme/webhook; audited, not sent: client globex: no "
                     "channel");
    cr_assert_eq(out.n_deliveries, 2);
    check_delivery(&out.deliveries[0], "INC-1:7:1", "acme", 1, HD_CHANNEL_EMAIL,
                   HD_NOTICE_CLIENT_UPDATE);
    check_delivery(&out.deliveries[1], "INC-1:7:2", "acme", 1, HD_CHANNEL_WEBHOOK,
                   HD_NOTICE_CLIENT_UPDATE);
}

Test(hd_notify, client_update_reminder_to_the_owner)
{
    directory();
    hd_timer_t timer = INCIDENTD__V1__TIMER_FIRED__INIT;
    timer.incident_id = "INC-1";
    timer.kind = INCIDENTD__V1__TIMER_KIND__TIMER_KIND_CLIENT_UPDATE;
    timer.level = 2;
    hd_transition_t out;
    hd_timer_apply(&hdf_ctx, notifying(), &timer, &out);
    cr_assert_eq(out.n_records, 2);
    cr_assert_eq(out.n_deliveries, 2);
    check_delivery(&out.deliveries[0], "INC-1:7:1", "tina", 0, HD_CHANNEL_EMAIL,
                   HD_NOTICE_CLIENT_UPDATE_DUE);
    check_delivery(&out.deliveries[1], "INC-1:7:2", "tina", 0, HD_CHANNEL_SLACK,
                   HD_NOTICE_CLIENT_UPDATE_DUE);
}

Test(hd_notify, second_missed_update_plans_reminder_and_reescalation)
{
    directory();
    hd_state_t *cur = notifying();
    cur->missed_client_updates = 1;
    hd_timer_t timer = INCIDENTD__V1__TIMER_FIRED__INIT;
    timer.incident_id = "INC-1";
    timer.kind = INCIDENTD__V1__TIMER_KIND__TIMER_KIND_CLIENT_UPDATE;
    timer.level = 2;
    hd_transition_t out;
    hd_timer_apply(&hdf_ctx, cur, &timer, &out);
    cr_assert_eq(out.n_records, 4);
    cr_assert_str_eq(out.records[2]->action, "escalated");
    /* owner reminder (seq 7), then owner + stakeholders at level 2 (seq 9) */
    cr_assert_eq(out.n_deliveries, 5);
    cr_assert_eq(out.deliveries[1].notice, HD_NOTICE_CLIENT_UPDATE_DUE);
    check_delivery(&out.deliveries[2], "INC-1:9:1", "tina", 0, HD_CHANNEL_EMAIL,
                   HD_NOTICE_REESCALATION);
    check_delivery(&out.deliveries[4], "INC-1:9:3", "ops-lead", 0, HD_CHANNEL_WEBHOOK,
                   HD_NOTICE_REESCALATION);
}

Test(hd_notify, clients_past_the_limit_are_listed_not_planned)
{
    /* 1,200 clients, each reachable by email and webhook */
    size_t n = 1200;
    hd_contact_t *dir = arena_alloc(&hdf_arena, n * sizeof(*dir));
    hd_state_t *cur = notifying();
    hd_incident_t *inc = cur->incident;
    inc->clients = arena_alloc(&hdf_arena, n * sizeof(*inc->clients));
    for (size_t i = 0; i < n; i++) {
        inc->clients[i] = arena_printf(&hdf_arena, "client-%04zu", i);
        dir[i] = (hd_contact_t){inc->clients[i], 1, HD_CHANNEL_EMAIL | HD_CHANNEL_WEBHOOK};
    }
    inc->n_clients = n;
    hdf_rules.contacts = dir;
    hdf_rules.n_contacts = n;
    hd_transition_t out;
    hd_command_apply(&hdf_ctx, cur, client_update(), &out);
    cr_assert_eq(out.n_deliveries, 2 * HD_NOTICE_RECIPIENTS_MAX);
    cr_assert_str_eq(out.deliveries[1999].id, "INC-1:7:2000");
    cr_assert_str_eq(out.deliveries[1999].recipient, "client-0999");
    const char *detail = out.records[1]->detail;
    cr_assert(hdf_contains(detail, "2000 deliveries planned: INC-1:7:1 -> client client-0000/"),
              "%.200s", detail);
    cr_assert(hdf_contains(detail, "; not planned: over the limit 1000: 200 recipients (client "
                                   "client-1000, "),
              "%s", strstr(detail, "; not planned") ? strstr(detail, "; not planned") : detail);
    cr_assert(hdf_contains(detail, " and 184 more)"));
    /* the detail stays bounded: the deliveries past its budget are counted */
    cr_assert(strlen(detail) < 70000, "%zu bytes", strlen(detail));
    cr_assert(hdf_contains(detail, " more; not planned"));
}

/* ---- final updates and the completion gate ------------------------------------------- */

/* A resolved LOCAL MAJOR incident (no review needed) whose window ended,
 * owned by tina, stakeholder ops-lead, client acme under NOTIFY. */
static hd_state_t *resolved(void)
{
    hd_state_t *st = hdf_state_resolved(INCIDENT__V1__SCOPE__SCOPE_LOCAL, HDF_NOW - 10 * MIN_MS);
    st->incident->owner = "tina";
    st->incident->stakeholders = hdf_list(&st->incident->n_stakeholders, "ops-lead", NULL);
    st->incident->clients = hdf_list(&st->incident->n_clients, "acme", NULL);
    st->incident->client_comms = INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY;
    return st;
}

static hd_transition_t confirm(const hd_state_t *cur)
{
    hd_transition_t out;
    hd_resolved_apply(&hdf_ctx, cur, hdf_event_of(cur, HDF_NOW), &out);
    return out;
}

Test(hd_notify, final_updates_planned_and_awaited)
{
    directory();
    hd_transition_t out = confirm(resolved());
    cr_assert_eq(out.n_records, 4);
    cr_assert_str_eq(out.records[1]->action, "followed_up");
    cr_assert_str_eq(out.records[2]->action, "notification_planned");
    /* stakeholders and clients; the owner is not among the final updates */
    cr_assert_str_eq(out.records[2]->detail,
                     "final_update: 3 deliveries planned: INC-1:12:1 -> ops-lead/webhook, "
                     "INC-1:12:2 -> client acme/email, INC-1:12:3 -> client acme/webhook");
    cr_assert_eq(out.n_deliveries, 3);
    cr_assert_eq(out.deliveries[0].notice, HD_NOTICE_FINAL_UPDATE);
    /* pending in the state; the gate waits for them even without a review */
    const hd_state_t *st = out.state;
    cr_assert_eq(st->n_pending_final_updates, 3);
    cr_assert_str_eq(st->pending_final_updates[0], "INC-1:12:1");
    cr_assert_str_eq(st->pending_final_updates[2], "INC-1:12:3");
    cr_assert_str_eq(out.records[3]->action, "completion_blocked");
    cr_assert_str_eq(out.records[3]->detail,
                     "final updates pending; 1 missing: final updates not delivered: 3; tina "
                     "reminded in 5 d");
    cr_assert_not(out.closed);
    cr_assert_eq(st->incident->status, INCIDENT__V1__STATUS__STATUS_RESOLVED);
}

Test(hd_notify, final_updates_without_channels_close_at_once)
{
    hd_transition_t out = confirm(resolved()); /* empty directory */
    cr_assert_eq(out.n_deliveries, 0);
    cr_assert_eq(out.state->n_pending_final_updates, 0);
    cr_assert(out.closed);
}

/* ---- receipts ------------------------------------------------------------------------ */

static hd_receipt_t *receipt(const char *delivery_id, const char *recipient, int client,
                             const char *channel, Incidentd__V1__ReceiptStatus status)
{
    hd_receipt_t *rc = arena_alloc(&hdf_arena, sizeof(*rc));
    hd_receipt_t init = INCIDENTD__V1__DELIVERY_RECEIPT__INIT;
    *rc = init;
    rc->incident_id = "INC-1";
    rc->delivery_id = (char *)delivery_id;
    rc->recipient = (char *)recipient;
    rc->client = client;
    rc->channel = (char *)channel;
    rc->notice = "final_update";
    rc->attempt = status == INCIDENTD__V1__RECEIPT_STATUS__RECEIPT_FAILED ? 8 : 2;
    rc->status = status;
    if (status != INCIDENTD__V1__RECEIPT_STATUS__RECEIPT_DELIVERED)
        rc->error = "HTTP 503 from https://hooks.example/ops";
    return rc;
}

static hd_transition_t apply(const hd_state_t *cur, const hd_receipt_t *rc)
{
    hd_transition_t out;
    memset(&out, 0x5a, sizeof(out));
    hd_receipt_apply(&hdf_ctx, cur, rc, &out);
    return out;
}

/* The state after the final updates were planned (3 pending). */
static hd_state_t *awaiting(void)
{
    directory();
    hd_transition_t out = confirm(resolved());
    cr_assert_eq(out.state->n_pending_final_updates, 3);
    return out.state;
}

#define DELIVERED INCIDENTD__V1__RECEIPT_STATUS__RECEIPT_DELIVERED
#define RETRY INCIDENTD__V1__RECEIPT_STATUS__RECEIPT_RETRY
#define FAILED INCIDENTD__V1__RECEIPT_STATUS__RECEIPT_FAILED

Test(hd_notify, delivered_is_notified)
{
    hd_state_t *cur = awaiting();
    uint64_t v = cur->incident->version;
    hd_transition_t out = apply(cur, receipt("INC-1:12:2", "acme", 1, "email", DELIVERED));
    hdf_check_records(&out, v + 1);
    cr_assert_eq(out.n_records, 1);
    cr_assert_str_eq(out.records[0]->action, "notified");
    cr_assert_str_eq(out.records[0]->actor, "incidentd/notify");
    cr_assert_str_eq(out.records[0]->detail,
                     "final_update INC-1:12:2 delivered to client acme by email (attempt 2)");
    cr_assert_eq(out.state->n_pending_final_updates, 2);
    cr_assert_str_eq(out.state->pending_final_updates[0], "INC-1:12:1");
    cr_assert_str_eq(out.state->pending_final_updates[1], "INC-1:12:3");
    cr_assert_not(out.closed);
    cr_assert_eq(out.n_outputs, 0);
    cr_assert_eq(cur->n_pending_final_updates, 3); /* input untouched */
}

Test(hd_notify, retry_records_nothing)
{
    hd_transition_t out = apply(awaiting(), receipt("INC-1:12:1", "ops-lead", 0, "webhook", RETRY));
    hdf_check_noop(&out);
}

Test(hd_notify, failed_is_recorded_and_escalates)
{
    hd_state_t *cur =
        hdf_state_new(INCIDENT__V1__STAGE__STAGE_ESCALATED, INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cur->incident->escalation_level = 1;
    cur->incident->owner = "tina";
    directory();
    hd_receipt_t *rc = receipt("INC-1:3:1", "ops-lead", 0, "webhook", FAILED);
    rc->notice = "escalation";
    hd_transition_t out = apply(cur, rc);
    hdf_check_records(&out, 6);
    cr_assert_eq(out.n_records, 3);
    cr_assert_str_eq(out.records[0]->action, "delivery_failed");
    cr_assert_str_eq(out.records[0]->detail,
                     "escalation INC-1:3:1 to ops-lead by webhook failed after 8 attempts: "
                     "HTTP 503 from https://hooks.example/ops; escalated one level");
    cr_assert_str_eq(out.records[1]->action, "escalated");
    cr_assert(
        hdf_contains(out.records[1]->detail, "delivery INC-1:3:1 to ops-lead failed: level 1 -> 2"),
        "%s", out.records[1]->detail);
    cr_assert_str_eq(out.records[2]->action, "notification_planned");
    cr_assert_eq(out.n_deliveries, 2); /* tina by email and slack, seq 8 */
    check_delivery(&out.deliveries[0], "INC-1:8:1", "tina", 0, HD_CHANNEL_EMAIL,
                   HD_NOTICE_REESCALATION);
    cr_assert_eq(out.state->incident->escalation_level, 2);
    cr_assert(hdf_has_output(&out, HD_TOPIC_ESCALATED));
}

Test(hd_notify, failed_at_the_top_or_closed_is_recorded_only)
{
    hd_state_t *cur =
        hdf_state_new(INCIDENT__V1__STAGE__STAGE_ESCALATED, INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cur->incident->escalation_level = 3;
    hd_transition_t out = apply(cur, receipt("INC-1:3:1", "ops-lead", 0, "webhook", FAILED));
    cr_assert_eq(out.n_records, 1);
    cr_assert(hdf_contains(out.records[0]->detail, "at the top level: not escalated"));
    cr_assert_eq(out.n_outputs, 0);

    cur->incident->escalation_level = 1;
    cur->incident->status = INCIDENT__V1__STATUS__STATUS_CLOSED;
    cur->incident->stage = INCIDENT__V1__STAGE__STAGE_CLOSED;
    out = apply(cur, receipt("INC-1:3:1", "ops-lead", 0, "webhook", FAILED));
    cr_assert_eq(out.verdict, HD_APPLY);
    cr_assert_eq(out.n_records, 1);
    cr_assert_str_eq(out.records[0]->action, "delivery_failed");
    cr_assert(hdf_contains(out.records[0]->detail, "incident closed: not escalated"));
    cr_assert_eq(out.state->incident->escalation_level, 1);
    cr_assert_not(out.closed);
}

Test(hd_notify, long_error_cut_on_a_character)
{
    hd_state_t *cur =
        hdf_state_new(INCIDENT__V1__STAGE__STAGE_ESCALATED, INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    cur->incident->escalation_level = 3;
    hd_receipt_t *rc = receipt("INC-1:3:1", "ops-lead", 0, "webhook", FAILED);
    char *err = arena_alloc(&hdf_arena, 3001);
    for (size_t i = 0; i < 3000; i += 3)
        memcpy(err + i, "\xe2\x82\xac", 3); /* the euro sign, 3 bytes each */
    rc->error = err;
    hd_transition_t out = apply(cur, rc);
    const char *d = out.records[0]->detail;
    const char *at = strstr(d, "attempts: ");
    cr_assert_not_null(at);
    const char *cut = strstr(at, "...;");
    cr_assert_not_null(cut);
    cr_assert_eq((cut - (at + 10)) % 3, 0, "cut inside a character");
    cr_assert((size_t)(cut - (at + 10)) <= 1024);
}

Test(hd_notify, settling_the_last_final_update_closes)
{
    hd_state_t *st = awaiting();
    hd_transition_t a = apply(st, receipt("INC-1:12:1", "ops-lead", 0, "webhook", DELIVERED));
    cr_assert_not(a.closed);
    hd_transition_t b = apply(a.state, receipt("INC-1:12:2", "acme", 1, "email", DELIVERED));
    cr_assert_not(b.closed);
    /* the last one fails: failed is final, the gate no longer waits */
    hd_transition_t c = apply(b.state, receipt("INC-1:12:3", "acme", 1, "webhook", FAILED));
    hdf_check_records(&c, b.state->incident->version + 1);
    cr_assert_str_eq(c.records[0]->action, "delivery_failed");
    cr_assert_str_eq(c.records[1]->action, "escalated");
    cr_assert_str_eq(c.records[c.n_records - 1]->action, "closed");
    cr_assert(c.closed);
    cr_assert_eq(c.state->n_pending_final_updates, 0);
    cr_assert_eq(c.state->incident->status, INCIDENT__V1__STATUS__STATUS_CLOSED);
}

Test(hd_notify, gate_still_waits_for_the_review)
{
    /* a GLOBAL incident needs a review: its final updates alone do not close it */
    directory();
    hd_state_t *cur = hdf_state_resolved(INCIDENT__V1__SCOPE__SCOPE_GLOBAL, HDF_NOW - 30 * MIN_MS);
    cur->incident->stakeholders = hdf_list(&cur->incident->n_stakeholders, "ops-lead", NULL);
    hd_transition_t conf = confirm(cur);
    cr_assert_eq(conf.state->n_pending_final_updates, 1);
    const hd_record_t *blocked = conf.records[conf.n_records - 1];
    cr_assert(hdf_contains(blocked->detail, "review required; 3 missing: final updates not "
                                            "delivered: 1; review not submitted"),
              "%s", blocked->detail);
    hd_transition_t out =
        apply(conf.state, receipt("INC-1:12:1", "ops-lead", 0, "webhook", DELIVERED));
    cr_assert_eq(out.n_records, 1);
    cr_assert_not(out.closed);
    cr_assert_eq(out.state->n_pending_final_updates, 0);
}

Test(hd_notify, receipt_for_an_unplanned_delivery_settles_nothing)
{
    hd_state_t *st = awaiting();
    hd_transition_t out = apply(st, receipt("INC-1:7:1", "tina", 0, "email", DELIVERED));
    cr_assert_eq(out.verdict, HD_APPLY);
    cr_assert_eq(out.state->n_pending_final_updates, 3);
    cr_assert_not(out.closed);
}

Test(hd_notify, unknown_incident_rejected)
{
    hd_transition_t out = apply(NULL, receipt("INC-1:12:1", "ops-lead", 0, "webhook", DELIVERED));
    cr_assert_eq(out.verdict, HD_REJECT);
    cr_assert_str_eq(out.error, "unknown incident INC-1 (delivery INC-1:12:1)");
    cr_assert_null(out.state);
    cr_assert_eq(out.n_records, 0);
    hd_state_t *other =
        hdf_state_new(INCIDENT__V1__STAGE__STAGE_ESCALATED, INCIDENT__V1__SCOPE__SCOPE_LOCAL);
    other->incident->id = "INC-2";
    out = apply(other, receipt("INC-1:12:1", "ops-lead", 0, "webhook", DELIVERED));
    cr_assert_eq(out.verdict, HD_REJECT);
}

/* Rejected with an error containing @p why. */
static void refused(const hd_receipt_t *rc, const char *why)
{
    hd_transition_t out = apply(awaiting(), rc);
    cr_assert_eq(out.verdict, HD_REJECT, "accepted, expected: %s", why);
    cr_assert(hdf_contains(out.error, why), "error '%s', expected '%s'", out.error, why);
    cr_assert_null(out.state);
    cr_assert_eq(out.n_records, 0);
    cr_assert_eq(out.n_deliveries, 0);
}

Test(hd_notify, bad_receipts_rejected)
{
    hd_receipt_t *rc = receipt("INC-1:12:1", "ops-lead", 0, "webhook", DELIVERED);
    rc->channel = "sms";
    refused(rc, "channel: unknown 'sms'");
    rc = receipt("INC-1:12:1", "ops-lead", 0, "webhook", DELIVERED);
    rc->notice = "gossip";
    refused(rc, "notice: unknown 'gossip'");
    rc = receipt("INC-1:12:1", "ops-lead", 0, "webhook", DELIVERED);
    rc->attempt = 0;
    refused(rc, "attempt: missing");
    rc = receipt("INC-1:12:1", "ops-lead", 0, "webhook",
                 INCIDENTD__V1__RECEIPT_STATUS__RECEIPT_STATUS_UNSPECIFIED);
    refused(rc, "status: unknown value 0");
    refused(receipt("INC-10:12:1", "ops-lead", 0, "webhook", DELIVERED),
            "delivery_id: INC-10:12:1 is not a delivery of incident INC-1");
    refused(receipt("", "ops-lead", 0, "webhook", DELIVERED), "delivery_id: required");
    refused(receipt("INC-1:12:1", "ops\xc0\x80lead", 0, "webhook", DELIVERED), "recipient: NUL");
    rc = receipt("INC-1:12:1", "ops-lead", 0, "webhook", FAILED);
    rc->error = "bad \xff byte";
    refused(rc, "error: ");
    hd_transition_t out;
    hd_receipt_apply(&hdf_ctx, awaiting(), NULL, &out);
    cr_assert_eq(out.verdict, HD_REJECT);
    cr_assert_str_eq(out.error, "receipt: missing");
}

Test(hd_notify, receipt_status_values)
{
    /* the notify worker writes these numbers; keep them stable */
    cr_assert_eq(INCIDENTD__V1__RECEIPT_STATUS__RECEIPT_DELIVERED, 1);
    cr_assert_eq(INCIDENTD__V1__RECEIPT_STATUS__RECEIPT_RETRY, 2);
    cr_assert_eq(INCIDENTD__V1__RECEIPT_STATUS__RECEIPT_FAILED, 3);
}
