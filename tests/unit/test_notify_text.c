/*
 * test_notify_text.c — the texts of the notifications and the webhook
 * document (notify_text.c).
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "notify_text.h"

static char *sites[] = {"eu-1", "eu-2"};
static char *clients[] = {"acme"};

static Incident__V1__Incident incident(void)
{
    Incident__V1__Incident inc = INCIDENT__V1__INCIDENT__INIT;
    inc.id = "INC-42";
    inc.summary = "payments API\nerrors";
    inc.service = "payments";
    inc.severity = INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL;
    inc.scope = INCIDENT__V1__SCOPE__SCOPE_GLOBAL;
    inc.owner = "tm-oncall";
    inc.owner_role = INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER;
    inc.n_sites = 2;
    inc.sites = sites;
    inc.n_clients = 1;
    inc.clients = clients;
    inc.escalation_level = 2;
    return inc;
}

static notify_text_t render(const notify_text_in_t *in)
{
    notify_text_t t;
    cr_assert_eq(notify_text_render(in, &t), 0, "kind %s", notify_kind_name(in->kind));
    cr_assert_not_null(t.subject);
    cr_assert_not_null(t.body);
    for (const char *p = t.subject; *p; p++)
        cr_assert((unsigned char)*p >= 0x20, "control in subject '%s'", t.subject);
    return t;
}

#define HAS(s, needle) cr_assert(strstr((s), (needle)), "'%s' lacks '%s'", (s), (needle))
#define LACKS(s, needle) cr_assert_null(strstr((s), (needle)), "'%s' has '%s'", (s), (needle))

Test(notify_text, escalation_tells_owner_and_stakeholder_what_to_do)
{
    Incident__V1__Incident inc = incident();
    notify_text_in_t in = {.kind = NOTIFY_KIND_ESCALATION,
                           .incident = &inc,
                           .recipient = "tm-oncall",
                           .console_url = "https://console.example/",
                           .level = 2,
                           .why = "global incident"};
    notify_text_t t = render(&in);
    HAS(t.subject, "[INC-42]");
    HAS(t.subject, "CRITICAL");
    HAS(t.subject, "level 2");
    HAS(t.body, "escalation level 2: global incident");
    HAS(t.body, "You own this incident: acknowledge it now");
    HAS(t.body, "\nOpen the incident: https://console.example/#/incidents/INC-42\n");
    HAS(t.body, "GLOBAL");
    notify_text_free(&t);

    in.recipient = "cfo";
    t = render(&in);
    HAS(t.body, "informed as a stakeholder");
    LACKS(t.body, "You own");
    notify_text_free(&t);

    in.kind = NOTIFY_KIND_REESCALATION;
    in.level = 3;
    in.recipient = "tm-oncall";
    t = render(&in);
    HAS(t.subject, "not acknowledged");
    HAS(t.body, "not acknowledged in time and is now at escalation level 3");
    HAS(t.body, "acknowledge it now");
    notify_text_free(&t);
}

Test(notify_text, client_texts_carry_no_console_link)
{
    Incident__V1__Incident inc = incident();
    notify_text_in_t in = {.kind = NOTIFY_KIND_CLIENT_UPDATE,
                           .incident = &inc,
                           .recipient = "acme",
                           .console_url = "https://console.example",
                           .update = "Payments are delayed; next update at 16:00."};
    notify_text_t t = render(&in);
    HAS(t.subject, "payments");
    HAS(t.body, "Payments are delayed; next update at 16:00.");
    HAS(t.body, "reference INC-42");
    LACKS(t.body, "console.example");
    notify_text_free(&t);

    in.kind = NOTIFY_KIND_FINAL_UPDATE;
    in.update = NULL;
    t = render(&in);
    HAS(t.subject, "Resolved");
    HAS(t.body, "has been resolved");
    LACKS(t.body, "console.example");
    notify_text_free(&t);

    in.kind = NOTIFY_KIND_CLIENT_UPDATE;
    cr_assert_eq(notify_text_render(&in, &t), -1, "a client update needs its text");
    cr_assert_null(t.subject);
}

Test(notify_text, reminders)
{
    Incident__V1__Incident inc = incident();
    notify_text_in_t in = {.kind = NOTIFY_KIND_CLIENT_UPDATE_REMINDER,
                           .incident = &inc,
                           .recipient = "tm-oncall",
                           .console_url = "http://c",
                           .due_at_ms = 1445412480000LL};
    notify_text_t t = render(&in);
    HAS(t.subject, "client update due");
    HAS(t.body, "due at 2015-10-21 07:28 UTC");
    HAS(t.body, "http://c/#/incidents/INC-42");
    notify_text_free(&t);

    in.kind = NOTIFY_KIND_COMPLETION_REMINDER;
    in.missing = "review missing, 1 sign-off missing";
    t = render(&in);
    HAS(t.subject, "completion pending: review missing");
    HAS(t.body, "cannot be closed yet: review missing, 1 sign-off missing");
    notify_text_free(&t);

    notify_text_in_t s = {.kind = NOTIFY_KIND_SILENCE_REMINDER,
                          .recipient = "alice",
                          .console_url = "http://c",
                          .silence_id = "sil-7",
                          .silence_comment = "db upgrade",
                          .due_at_ms = 1445412480000LL,
                          .still_firing = 1};
    t = render(&s);
    HAS(t.subject, "Silence sil-7");
    HAS(t.subject, "still firing");
    HAS(t.body, "Your silence sil-7 (\"db upgrade\") ends at 2015-10-21 07:28 UTC");
    HAS(t.body, "check it now");
    HAS(t.body, "http://c/#/silences");
    notify_text_free(&t);
    /* at its end, from the incident's state: no comment kept */
    s.silence_comment = NULL;
    t = render(&s);
    HAS(t.subject, "Silence sil-7 has ended and an alert is still firing");
    HAS(t.body, "Your silence sil-7 ends at 2015-10-21 07:28 UTC.");
    notify_text_free(&t);
    /* before its end */
    s.silence_comment = "db upgrade";
    s.still_firing = 0;
    t = render(&s);
    HAS(t.subject, "Silence sil-7 ends soon");
    HAS(t.body, "Extend it if the work it covers is not finished");
    notify_text_free(&t);
    s.silence_id = NULL;
    cr_assert_eq(notify_text_render(&s, &t), -1);
}

Test(notify_text, every_kind_needs_its_incident_and_has_a_name)
{
    notify_text_t t;
    for (int k = 0; k < NOTIFY_KIND_COUNT; k++) {
        cr_assert_eq(notify_kind_parse(notify_kind_name((notify_kind_t)k)), k);
        if (k == NOTIFY_KIND_SILENCE_REMINDER)
            continue;
        notify_text_in_t in = {.kind = (notify_kind_t)k, .recipient = "x", .update = "u"};
        cr_assert_eq(notify_text_render(&in, &t), -1, "%s without incident",
                     notify_kind_name((notify_kind_t)k));
    }
    cr_assert_eq(notify_kind_parse("page"), -1);
    notify_text_in_t bad = {.kind = NOTIFY_KIND_COUNT};
    cr_assert_eq(notify_text_render(&bad, &t), -1);
}

Test(notify_text, webhook_document)
{
    Incident__V1__Incident inc = incident();
    notify_text_in_t in = {.kind = NOTIFY_KIND_ESCALATION,
                           .incident = &inc,
                           .recipient = "tm-oncall",
                           .level = 2,
                           .why = "w"};
    notify_text_t t = render(&in);
    char *doc = notify_webhook_body("dlv-1", NOTIFY_KIND_ESCALATION, "tm-oncall", &t, &inc);
    cJSON *j = cJSON_Parse(doc);
    cr_assert_not_null(j, "%s", doc);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "event_id")->valuestring, "dlv-1");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "kind")->valuestring, "escalation");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "recipient")->valuestring, "tm-oncall");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "subject")->valuestring, t.subject);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "text")->valuestring, t.body);
    cJSON *i = cJSON_GetObjectItem(j, "incident");
    cr_assert(cJSON_IsObject(i));
    cr_assert_str_eq(cJSON_GetObjectItem(i, "id")->valuestring, "INC-42");
    cr_assert_str_eq(cJSON_GetObjectItem(i, "severity")->valuestring, "SEVERITY_CRITICAL");
    cr_assert_str_eq(cJSON_GetObjectItem(i, "summary")->valuestring, "payments API\nerrors");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(i, "sites")), 2);
    cr_assert_eq(cJSON_GetObjectItem(i, "escalation_level")->valueint, 2);
    cJSON_Delete(j);
    free(doc);

    doc = notify_webhook_body("dlv-2", NOTIFY_KIND_SILENCE_REMINDER, "alice", NULL, NULL);
    j = cJSON_Parse(doc);
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "incident")), "%s", doc);
    cJSON_Delete(j);
    free(doc);
    notify_text_free(&t);
}
