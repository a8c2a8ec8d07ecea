/*
 * test_ingest_map.c — the webhook body mappings (daemon/common/ingest_map.c):
 * the documented example payloads of Alertmanager (webhook version 4) and
 * the PagerDuty Events API v2, field by field; the JSON Alert mapping;
 * limits; invalid bodies; the time parser.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "handlers.h"
#include "ingest_map.h"

/* Alertmanager's webhook payload as documented (configuration.md,
 * <webhook_config>), with one firing and one resolved alert. */
static const char am_example[] =
    "{\n"
    "  \"version\": \"4\",\n"
    "  \"groupKey\": \"{}/{severity=~\\\"critical|major\\\"}:{alertname=\\\"HighErrorRate\\\"}\",\n"
    "  \"truncatedAlerts\": 0,\n"
    "  \"status\": \"firing\",\n"
    "  \"receiver\": \"incidentd\",\n"
    "  \"groupLabels\": {\"alertname\": \"HighErrorRate\"},\n"
    "  \"commonLabels\": {\"alertname\": \"HighErrorRate\", \"job\": \"checkout\"},\n"
    "  \"commonAnnotations\": {},\n"
    "  \"externalURL\": \"http://alertmanager.example.com:9093\",\n"
    "  \"alerts\": [\n"
    "    {\n"
    "      \"status\": \"firing\",\n"
    "      \"labels\": {\"alertname\": \"HighErrorRate\", \"job\": \"checkout\",\n"
    "                 \"instance\": \"10.0.0.7:9100\", \"severity\": \"critical\",\n"
    "                 \"site\": \"paris\", \"clients\": \"acme, globex\"},\n"
    "      \"annotations\": {\"summary\": \"Checkout error rate above 5%\",\n"
    "                      \"description\": \"5xx ratio is 7.1% on 10.0.0.7:9100\",\n"
    "                      \"sites\": \"berlin,paris\"},\n"
    "      \"startsAt\": \"2024-05-01T12:00:00.123456789Z\",\n"
    "      \"endsAt\": \"0001-01-01T00:00:00Z\",\n"
    "      \"generatorURL\": \"http://prometheus.example.com:9090/graph?g0.expr=...\",\n"
    "      \"fingerprint\": \"c4a7b5e3d2f10986\"\n"
    "    },\n"
    "    {\n"
    "      \"status\": \"resolved\",\n"
    "      \"labels\": {\"alertname\": \"HighErrorRate\", \"job\": \"checkout\",\n"
    "                 \"instance\": \"10.0.0.8:9100\", \"severity\": \"major\",\n"
    "                 \"service\": \"payments\"},\n"
    "      \"annotations\": {\"description\": \"5xx ratio back to 0.2%\"},\n"
    "      \"startsAt\": \"2024-05-01T11:50:00+02:00\",\n"
    "      \"endsAt\": \"2024-05-01T12:05:00.5Z\",\n"
    "      \"generatorURL\": \"http://prometheus.example.com:9090/graph?g0.expr=...\",\n"
    "      \"fingerprint\": \"0f1e2d3c4b5a6978\"\n"
    "    }\n"
    "  ]\n"
    "}\n";

/* The Events API v2 example event ("Send an alert event"). */
static const char pd_example[] =
    "{\n"
    "  \"payload\": {\n"
    "    \"summary\": \"DISK at 99% on machine prod-datapipe03.example.com\",\n"
    "    \"timestamp\": \"2015-07-17T08:42:58.315+0000\",\n"
    "    \"severity\": \"critical\",\n"
    "    \"source\": \"prod-datapipe03.example.com\",\n"
    "    \"component\": \"mysql\",\n"
    "    \"group\": \"prod-datapipe\",\n"
    "    \"class\": \"disk\",\n"
    "    \"custom_details\": {\n"
    "      \"free space\": \"1%\",\n"
    "      \"ping time\": \"1500ms\",\n"
    "      \"load avg\": 0.75\n"
    "    }\n"
    "  },\n"
    "  \"routing_key\": \"e93facc04764012d7bfb002500d5d1a6\",\n"
    "  \"dedup_key\": \"srv01/mysql\",\n"
    "  \"event_action\": \"trigger\",\n"
    "  \"client\": \"Sample Monitoring Service\",\n"
    "  \"client_url\": \"https://monitoring.example.com\",\n"
    "  \"links\": [{\"href\": \"http://pagerduty.example.com\", \"text\": \"An example link.\"}],\n"
    "  \"images\": [{\"src\": "
    "\"https://www.pagerduty.com/wp-content/uploads/2016/05/pagerduty-logo-green.png\",\n"
    "              \"href\": \"https://example.com/\", \"alt\": \"Example text\"}]\n"
    "}\n";

static arena_t arena;

static void setup(void) { arena_init(&arena, 0); }
static void teardown(void) { arena_destroy(&arena); }

TestSuite(ingest_map, .init = setup, .fini = teardown);

static const char *label(const hd_alert_t *a, const char *key)
{
    for (size_t i = 0; i < a->n_labels; i++)
        if (strcmp(a->labels[i]->key, key) == 0)
            return a->labels[i]->value;
    return NULL;
}

static int has(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return 1;
    return 0;
}

#define MAP_OK(fn, body, out)                                                  \
    do {                                                                       \
        char err_[512] = "";                                                   \
        int rc_ = fn((body), strlen(body), &arena, (out), err_, sizeof(err_)); \
        cr_assert_eq(rc_, 0, "%s", err_);                                      \
    } while (0)

/* Maps and expects a refusal whose reason contains @p want. */
static void map_bad(int (*fn)(const char *, size_t, arena_t *, ingest_batch_t *, char *, size_t),
                    const char *body, const char *want)
{
    ingest_batch_t b;
    char err[512] = "";
    cr_assert_eq(fn(body, strlen(body), &arena, &b, err, sizeof(err)), -1, "accepted: %s", body);
    cr_assert(strstr(err, want), "reason '%s' lacks '%s'", err, want);
    cr_assert_eq(b.n, 0);
}

/* ---- Alertmanager ----------------------------------------------------------------------- */

Test(ingest_map, alertmanager_documented_payload_field_by_field)
{
    ingest_batch_t b;
    MAP_OK(ingest_map_alertmanager, am_example, &b);
    cr_assert_eq(b.n, 2);
    cr_expect_null(b.dedup_key);
    cr_expect_null(b.routing_key);

    const hd_alert_t *f = b.alerts[0];
    cr_expect_eq(f->action, INCIDENT__V1__ACTION__ACTION_TRIGGER);
    cr_expect_eq(f->severity, INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL);
    cr_expect_str_eq(f->dedup_key, "am:c4a7b5e3d2f10986");
    cr_expect_eq(strncmp(f->alert_id, "am:", 3), 0);
    cr_expect_eq(strlen(f->alert_id), 3 + 64);
    cr_expect_str_eq(f->summary, "Checkout error rate above 5%");
    cr_expect_str_eq(f->service, "checkout"); /* job, no service label */
    cr_expect_str_eq(f->source, "alertmanager/incidentd");
    cr_expect_str_eq(f->actor, "");
    cr_expect_eq(f->occurred_at_ms, 1714564800123LL); /* startsAt, ms */
    cr_expect_eq(f->n_sites, 2);                      /* label site + annotation sites, united */
    cr_expect(has(f->sites, f->n_sites, "paris"));
    cr_expect(has(f->sites, f->n_sites, "berlin"));
    cr_expect_eq(f->n_clients, 2);
    cr_expect(has(f->clients, f->n_clients, "acme"));
    cr_expect(has(f->clients, f->n_clients, "globex"));
    cr_expect_eq(f->n_labels, 6, "every label kept");
    cr_expect_str_eq(label(f, "alertname"), "HighErrorRate");
    cr_expect_str_eq(label(f, "instance"), "10.0.0.7:9100");
    cr_expect_str_eq(label(f, "severity"), "critical");
    cr_expect_str_eq(label(f, "clients"), "acme, globex");
    cr_expect_null(label(f, "summary"), "annotations are not labels");
    cr_expect_eq(hd_alert_validate(f, NULL, 0), 0);

    const hd_alert_t *r = b.alerts[1];
    cr_expect_eq(r->action, INCIDENT__V1__ACTION__ACTION_RESOLVE);
    cr_expect_eq(r->severity, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    cr_expect_str_eq(r->dedup_key, "am:0f1e2d3c4b5a6978");
    cr_expect_str_eq(r->summary, "5xx ratio back to 0.2%"); /* description when no summary */
    cr_expect_str_eq(r->service, "payments");               /* service wins over job */
    cr_expect_str_eq(r->actor, "alertmanager");
    cr_expect_eq(r->occurred_at_ms, 1714565100500LL); /* endsAt for resolved */
    cr_expect_eq(r->n_sites, 0);
    cr_expect_str_neq(r->alert_id, f->alert_id);
}

Test(ingest_map, alertmanager_ids_are_stable_for_a_retry_and_change_with_the_status)
{
    ingest_batch_t b1, b2;
    MAP_OK(ingest_map_alertmanager, am_example, &b1);
    MAP_OK(ingest_map_alertmanager, am_example, &b2);
    cr_expect_str_eq(b1.alerts[0]->alert_id, b2.alerts[0]->alert_id);
    cr_expect_str_eq(b1.alerts[1]->alert_id, b2.alerts[1]->alert_id);

    const char *firing =
        "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[{\"status\":\"firing\","
        "\"labels\":{\"alertname\":\"X\"},\"startsAt\":\"2024-05-01T12:00:00Z\","
        "\"endsAt\":\"0001-01-01T00:00:00Z\",\"fingerprint\":\"abc\"}]}";
    const char *resolved =
        "{\"version\":\"4\",\"status\":\"resolved\",\"alerts\":[{\"status\":"
        "\"resolved\",\"labels\":{\"alertname\":\"X\"},\"startsAt\":\"2024-05-"
        "01T12:00:00Z\",\"endsAt\":\"2024-05-01T12:10:00Z\",\"fingerprint\":\"abc\"}]}";
    MAP_OK(ingest_map_alertmanager, firing, &b1);
    MAP_OK(ingest_map_alertmanager, resolved, &b2);
    cr_expect_str_eq(b1.alerts[0]->dedup_key, b2.alerts[0]->dedup_key);
    cr_expect_str_neq(b1.alerts[0]->alert_id, b2.alerts[0]->alert_id);
    cr_expect_eq(b1.alerts[0]->severity, INCIDENT__V1__SEVERITY__SEVERITY_WARNING,
                 "a firing alert without a severity label is a WARNING");
    cr_expect_str_eq(b1.alerts[0]->summary, "X", "alertname when no summary or description");
    cr_expect_str_eq(b1.alerts[0]->source, "alertmanager");
}

Test(ingest_map, alertmanager_without_fingerprint_keys_by_the_sorted_label_set)
{
    ingest_batch_t b1, b2, b3;
    MAP_OK(ingest_map_alertmanager,
           "{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"a\":\"1\",\"b\":\"2\"}}]}", &b1);
    MAP_OK(ingest_map_alertmanager,
           "{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"b\":\"2\",\"a\":\"1\"}}]}", &b2);
    MAP_OK(ingest_map_alertmanager,
           "{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"a\":\"1\",\"b\":\"3\"}}]}", &b3);
    cr_expect_str_eq(b1.alerts[0]->dedup_key, b2.alerts[0]->dedup_key);
    cr_expect_str_neq(b1.alerts[0]->dedup_key, b3.alerts[0]->dedup_key);
    cr_expect_eq(strlen(b1.alerts[0]->dedup_key), 3 + 64);
    /* the group status stands for an alert without its own */
    MAP_OK(ingest_map_alertmanager,
           "{\"status\":\"resolved\",\"alerts\":[{\"labels\":{\"a\":\"1\"}}]}", &b1);
    cr_expect_eq(b1.alerts[0]->action, INCIDENT__V1__ACTION__ACTION_RESOLVE);
}

Test(ingest_map, alertmanager_severity_values)
{
    static const struct {
        const char *v;
        Incident__V1__Severity want;
    } cases[] = {
        {"critical", INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL},
        {"CRITICAL", INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL},
        {"page", INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL},
        {"major", INCIDENT__V1__SEVERITY__SEVERITY_MAJOR},
        {"error", INCIDENT__V1__SEVERITY__SEVERITY_MAJOR},
        {"high", INCIDENT__V1__SEVERITY__SEVERITY_MAJOR},
        {"minor", INCIDENT__V1__SEVERITY__SEVERITY_MINOR},
        {"warning", INCIDENT__V1__SEVERITY__SEVERITY_WARNING},
        {"Warn", INCIDENT__V1__SEVERITY__SEVERITY_WARNING},
        {"info", INCIDENT__V1__SEVERITY__SEVERITY_INFO},
        {"none", INCIDENT__V1__SEVERITY__SEVERITY_INFO},
        {"something-else", INCIDENT__V1__SEVERITY__SEVERITY_WARNING},
        {"", INCIDENT__V1__SEVERITY__SEVERITY_WARNING},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"alerts\":[{\"status\":\"firing\",\"fingerprint\":\"f\",\"labels\":{"
                 "\"severity\":\"%s\"}}]}",
                 cases[i].v);
        ingest_batch_t b;
        MAP_OK(ingest_map_alertmanager, body, &b);
        cr_expect_eq(b.alerts[0]->severity, cases[i].want, "severity '%s'", cases[i].v);
    }
}

Test(ingest_map, alertmanager_limits)
{
    /* 64 labels pass, 65 are refused */
    char body[8192];
    for (int n = 64; n <= 65; n++) {
        size_t k = (size_t)snprintf(body, sizeof(body),
                                    "{\"alerts\":[{\"status\":\"firing\",\"fingerprint\":\"f\","
                                    "\"labels\":{");
        for (int i = 0; i < n; i++)
            k += (size_t)snprintf(body + k, sizeof(body) - k, "%s\"l%d\":\"v\"", i ? "," : "", i);
        snprintf(body + k, sizeof(body) - k, "}}]}");
        ingest_batch_t b;
        char err[256] = "";
        int rc = ingest_map_alertmanager(body, strlen(body), &arena, &b, err, sizeof(err));
        if (n == 64) {
            cr_expect_eq(rc, 0, "%s", err);
            cr_expect_eq(b.alerts[0]->n_labels, 64);
        } else {
            cr_expect_eq(rc, -1);
            cr_expect(strstr(err, "alerts[0].labels: 65 labels, limit 64"), "%s", err);
        }
    }
    /* a long description is cut at 1024 bytes, on a UTF-8 boundary */
    char *longd = malloc(4000);
    size_t k = (size_t)snprintf(longd, 4000,
                                "{\"alerts\":[{\"status\":\"firing\",\"fingerprint\":"
                                "\"f\",\"annotations\":{\"description\":\"x");
    for (int i = 0; i < 600; i++)
        k += (size_t)snprintf(longd + k, 4000 - k, "\xc3\xa9"); /* é: 2 bytes */
    snprintf(longd + k, 4000 - k, "\"}}]}");
    ingest_batch_t b;
    MAP_OK(ingest_map_alertmanager, longd, &b);
    cr_expect_eq(strlen(b.alerts[0]->summary), 1023, "1 + 511 * 2 bytes");
    free(longd);
    /* a label value beyond the contract is refused with the field named */
    char *bigv = malloc(2000);
    k = (size_t)snprintf(bigv, 2000,
                         "{\"alerts\":[{\"status\":\"firing\",\"fingerprint\":\"f\","
                         "\"labels\":{\"big\":\"");
    memset(bigv + k, 'v', 1100);
    k += 1100;
    snprintf(bigv + k, 2000 - k, "\"}}]}");
    map_bad(ingest_map_alertmanager, bigv, "alerts[0]: labels[0].value: 1100 bytes, limit 1024");
    free(bigv);
    /* a fingerprint too long for a dedup key */
    char fp[400];
    memset(fp, 'f', 300);
    fp[300] = '\0';
    char body2[600];
    snprintf(body2, sizeof(body2), "{\"alerts\":[{\"status\":\"firing\",\"fingerprint\":\"%s\"}]}",
             fp);
    map_bad(ingest_map_alertmanager, body2, "dedup_key");
}

Test(ingest_map, alertmanager_invalid_bodies)
{
    map_bad(ingest_map_alertmanager, "", "empty body");
    map_bad(ingest_map_alertmanager, "{", "invalid JSON");
    map_bad(ingest_map_alertmanager, "{} x", "text after the value");
    map_bad(ingest_map_alertmanager, "[]", "expected a JSON object");
    map_bad(ingest_map_alertmanager, "{}", "alerts: missing");
    map_bad(ingest_map_alertmanager, "{\"alerts\":{}}", "alerts: expected an array");
    map_bad(ingest_map_alertmanager, "{\"version\":\"3\",\"alerts\":[]}", "version");
    map_bad(ingest_map_alertmanager, "{\"version\":4,\"alerts\":[]}", "version");
    map_bad(ingest_map_alertmanager, "{\"alerts\":[1]}", "alerts[0]: expected an object");
    map_bad(ingest_map_alertmanager, "{\"alerts\":[{\"fingerprint\":\"f\"}]}",
            "alerts[0].status: missing");
    map_bad(ingest_map_alertmanager,
            "{\"alerts\":[{\"status\":\"pending\",\"fingerprint\":\"f\"}]}",
            "alerts[0].status: 'pending'");
    map_bad(ingest_map_alertmanager, "{\"alerts\":[{\"status\":\"firing\"}]}",
            "neither a fingerprint nor labels");
    map_bad(ingest_map_alertmanager,
            "{\"alerts\":[{\"status\":\"firing\",\"fingerprint\":\"f\",\"labels\":{\"a\":1}}]}",
            "alerts[0].labels.a: expected a string");
    map_bad(ingest_map_alertmanager,
            "{\"alerts\":[{\"status\":\"firing\",\"fingerprint\":\"f\",\"labels\":[]}]}",
            "alerts[0].labels: expected an object");
    map_bad(
        ingest_map_alertmanager,
        "{\"alerts\":[{\"status\":\"firing\",\"fingerprint\":\"f\",\"startsAt\":\"yesterday\"}]}",
        "alerts[0].startsAt");
    map_bad(
        ingest_map_alertmanager,
        "{\"alerts\":[{\"status\":\"firing\",\"fingerprint\":\"f\",\"labels\":{\"a\":\"\xff\"}}]}",
        "not valid UTF-8");
    /* the second alert spoils the whole notification */
    map_bad(ingest_map_alertmanager,
            "{\"alerts\":[{\"status\":\"firing\",\"fingerprint\":\"f\"},{\"status\":\"x\"}]}",
            "alerts[1]");
    /* an empty notification is no error */
    ingest_batch_t b;
    MAP_OK(ingest_map_alertmanager, "{\"version\":\"4\",\"alerts\":[]}", &b);
    cr_expect_eq(b.n, 0);
}

/* ---- PagerDuty Events API v2 ---------------------------------------------------------------- */

Test(ingest_map, events_documented_trigger_field_by_field)
{
    ingest_batch_t b;
    MAP_OK(ingest_map_events, pd_example, &b);
    cr_assert_eq(b.n, 1);
    const hd_alert_t *a = b.alerts[0];
    cr_expect_str_eq(b.dedup_key, "srv01/mysql");
    cr_expect_str_eq(b.routing_key, "e93facc04764012d7bfb002500d5d1a6");
    cr_expect_eq(a->action, INCIDENT__V1__ACTION__ACTION_TRIGGER);
    cr_expect_eq(a->severity, INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL);
    cr_expect_str_eq(a->dedup_key, "srv01/mysql");
    cr_expect_eq(strncmp(a->alert_id, "pd:", 3), 0);
    cr_expect_eq(strlen(a->alert_id), 3 + 64);
    cr_expect_str_eq(a->summary, "DISK at 99% on machine prod-datapipe03.example.com");
    cr_expect_str_eq(a->source, "prod-datapipe03.example.com");
    cr_expect_str_eq(a->service, "mysql");
    cr_expect_eq(a->occurred_at_ms, 1437122578315LL);
    cr_expect_str_eq(a->actor, "", "actor only for acknowledge/resolve");
    cr_expect_str_eq(label(a, "group"), "prod-datapipe");
    cr_expect_str_eq(label(a, "class"), "disk");
    cr_expect_str_eq(label(a, "free space"), "1%");
    cr_expect_str_eq(label(a, "ping time"), "1500ms");
    cr_expect_str_eq(label(a, "load avg"), "0.75", "non-strings JSON-encoded");
    cr_expect_eq(a->n_labels, 5);
    cr_expect_eq(hd_alert_validate(a, NULL, 0), 0);
}

Test(ingest_map, events_acknowledge_and_resolve)
{
    ingest_batch_t b;
    MAP_OK(ingest_map_events,
           "{\"routing_key\":\"e93facc04764012d7bfb002500d5d1a6\",\"dedup_key\":\"srv01/mysql\","
           "\"event_action\":\"acknowledge\",\"client\":\"alice\"}",
           &b);
    cr_expect_eq(b.alerts[0]->action, INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE);
    cr_expect_str_eq(b.alerts[0]->dedup_key, "srv01/mysql");
    cr_expect_str_eq(b.alerts[0]->actor, "alice");
    cr_expect_eq(b.alerts[0]->severity, INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED);
    MAP_OK(ingest_map_events,
           "{\"routing_key\":\"e93facc04764012d7bfb002500d5d1a6\",\"dedup_key\":\"srv01/mysql\","
           "\"event_action\":\"resolve\"}",
           &b);
    cr_expect_eq(b.alerts[0]->action, INCIDENT__V1__ACTION__ACTION_RESOLVE);
    map_bad(ingest_map_events, "{\"routing_key\":\"k\",\"event_action\":\"resolve\"}",
            "dedup_key: required for resolve");
}

Test(ingest_map, events_generated_dedup_key_is_stable_per_body_and_routing_key)
{
    const char *body = "{\"routing_key\":\"k1\",\"event_action\":\"trigger\",\"payload\":{"
                       "\"summary\":\"s\",\"source\":\"h\",\"severity\":\"warning\"}}";
    const char *other = "{\"routing_key\":\"k2\",\"event_action\":\"trigger\",\"payload\":{"
                        "\"summary\":\"s\",\"source\":\"h\",\"severity\":\"warning\"}}";
    ingest_batch_t b1, b2, b3;
    MAP_OK(ingest_map_events, body, &b1);
    MAP_OK(ingest_map_events, body, &b2);
    MAP_OK(ingest_map_events, other, &b3);
    cr_expect_eq(strlen(b1.dedup_key), 32);
    for (const char *p = b1.dedup_key; *p; p++)
        cr_expect((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
    cr_expect_str_eq(b1.dedup_key, b2.dedup_key);
    cr_expect_str_eq(b1.alerts[0]->alert_id, b2.alerts[0]->alert_id, "a retry is idempotent");
    cr_expect_str_neq(b1.dedup_key, b3.dedup_key);
    cr_expect_str_neq(b1.alerts[0]->alert_id, b3.alerts[0]->alert_id);
    cr_expect_eq(b1.alerts[0]->severity, INCIDENT__V1__SEVERITY__SEVERITY_WARNING);
}

Test(ingest_map, events_severities_sites_clients_and_details)
{
    static const struct {
        const char *v;
        Incident__V1__Severity want;
    } sev[] = {{"critical", INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL},
               {"error", INCIDENT__V1__SEVERITY__SEVERITY_MAJOR},
               {"warning", INCIDENT__V1__SEVERITY__SEVERITY_WARNING},
               {"info", INCIDENT__V1__SEVERITY__SEVERITY_INFO}};
    for (size_t i = 0; i < 4; i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"routing_key\":\"k\",\"event_action\":\"trigger\",\"payload\":{\"summary\":"
                 "\"s\",\"source\":\"h\",\"severity\":\"%s\"}}",
                 sev[i].v);
        ingest_batch_t b;
        MAP_OK(ingest_map_events, body, &b);
        cr_expect_eq(b.alerts[0]->severity, sev[i].want, "%s", sev[i].v);
    }
    ingest_batch_t b;
    MAP_OK(ingest_map_events,
           "{\"routing_key\":\"k\",\"event_action\":\"trigger\",\"payload\":{\"summary\":\"s\","
           "\"source\":\"h\",\"severity\":\"error\",\"custom_details\":{\"sites\":[\"paris\","
           "\"lyon\"],\"client\":\"acme\",\"nested\":{\"a\":[1,2]},\"flag\":true,\"none\":null}}}",
           &b);
    const hd_alert_t *a = b.alerts[0];
    cr_expect_eq(a->n_sites, 2);
    cr_expect(has(a->sites, a->n_sites, "lyon"));
    cr_expect_eq(a->n_clients, 1);
    cr_expect_str_eq(a->clients[0], "acme");
    cr_expect_str_eq(label(a, "nested"), "{\"a\":[1,2]}");
    cr_expect_str_eq(label(a, "flag"), "true");
    cr_expect_str_eq(label(a, "none"), "null");
    cr_expect_str_eq(label(a, "sites"), "[\"paris\",\"lyon\"]");
    /* custom_details that is not an object is one label */
    MAP_OK(ingest_map_events,
           "{\"routing_key\":\"k\",\"event_action\":\"trigger\",\"payload\":{\"summary\":\"s\","
           "\"source\":\"h\",\"severity\":\"info\",\"custom_details\":\"free text\"}}",
           &b);
    cr_expect_str_eq(label(b.alerts[0], "custom_details"), "free text");
}

Test(ingest_map, events_custom_details_are_bounded)
{
    /* 100 details: the first 64 labels are kept (group first), the rest dropped */
    char body[16384];
    size_t k = (size_t)snprintf(body, sizeof(body),
                                "{\"routing_key\":\"k\",\"event_action\":\"trigger\",\"payload\":{"
                                "\"summary\":\"s\",\"source\":\"h\",\"severity\":\"info\","
                                "\"group\":\"g\",\"custom_details\":{");
    for (int i = 0; i < 100; i++)
        k += (size_t)snprintf(body + k, sizeof(body) - k, "%s\"d%d\":%d", i ? "," : "", i, i);
    k += (size_t)snprintf(body + k, sizeof(body) - k, ",\"long\":\"");
    memset(body + k, 'x', 2000);
    k += 2000;
    snprintf(body + k, sizeof(body) - k, "\"}}}");
    ingest_batch_t b;
    MAP_OK(ingest_map_events, body, &b);
    cr_expect_eq(b.alerts[0]->n_labels, 64);
    cr_expect_str_eq(label(b.alerts[0], "group"), "g");
    cr_expect_str_eq(label(b.alerts[0], "d62"), "62");
    cr_expect_null(label(b.alerts[0], "d63"));

    /* a long value is cut to 1024 bytes */
    char body2[4096];
    k = (size_t)snprintf(body2, sizeof(body2),
                         "{\"routing_key\":\"k\",\"event_action\":\"trigger\",\"payload\":{"
                         "\"summary\":\"s\",\"source\":\"h\",\"severity\":\"info\","
                         "\"custom_details\":{\"long\":\"");
    memset(body2 + k, 'x', 2000);
    k += 2000;
    snprintf(body2 + k, sizeof(body2) - k, "\"}}}");
    MAP_OK(ingest_map_events, body2, &b);
    cr_expect_eq(strlen(label(b.alerts[0], "long")), 1024);
}

Test(ingest_map, events_limits)
{
    char body[4096], big[1100];
    /* dedup_key: 255 pass, 256 refused */
    for (int n = 255; n <= 256; n++) {
        memset(big, 'd', (size_t)n);
        big[n] = '\0';
        snprintf(body, sizeof(body),
                 "{\"routing_key\":\"k\",\"event_action\":\"trigger\",\"dedup_key\":\"%s\","
                 "\"payload\":{\"summary\":\"s\",\"source\":\"h\",\"severity\":\"info\"}}",
                 big);
        ingest_batch_t b;
        char err[256] = "";
        int rc = ingest_map_events(body, strlen(body), &arena, &b, err, sizeof(err));
        if (n == 255)
            cr_expect_eq(rc, 0, "%s", err);
        else
            cr_expect(rc == -1 && strstr(err, "dedup_key: 256 characters, limit 255"), "%s", err);
    }
    /* summary: 1024 pass, 1025 refused */
    for (int n = 1024; n <= 1025; n++) {
        memset(big, 's', (size_t)n);
        big[n] = '\0';
        snprintf(body, sizeof(body),
                 "{\"routing_key\":\"k\",\"event_action\":\"trigger\",\"payload\":{\"summary\":"
                 "\"%s\",\"source\":\"h\",\"severity\":\"info\"}}",
                 big);
        ingest_batch_t b;
        char err[256] = "";
        int rc = ingest_map_events(body, strlen(body), &arena, &b, err, sizeof(err));
        if (n == 1024)
            cr_expect_eq(rc, 0, "%s", err);
        else
            cr_expect(rc == -1 && strstr(err, "payload.summary: 1025 characters, limit 1024"), "%s",
                      err);
    }
}

Test(ingest_map, events_invalid_bodies)
{
    map_bad(ingest_map_events, "not json", "invalid JSON");
    map_bad(ingest_map_events, "[1]", "expected a JSON object");
    map_bad(ingest_map_events, "{\"event_action\":\"trigger\"}", "routing_key: missing");
    map_bad(ingest_map_events, "{\"routing_key\":5,\"event_action\":\"trigger\"}",
            "routing_key: expected a string");
    map_bad(ingest_map_events, "{\"routing_key\":\"k\"}", "event_action: missing");
    map_bad(ingest_map_events, "{\"routing_key\":\"k\",\"event_action\":\"snooze\"}",
            "event_action: 'snooze'");
    map_bad(ingest_map_events, "{\"routing_key\":\"k\",\"event_action\":\"trigger\"}",
            "payload: required for trigger");
    map_bad(ingest_map_events,
            "{\"routing_key\":\"k\",\"event_action\":\"trigger\",\"payload\":{\"source\":\"h\","
            "\"severity\":\"info\"}}",
            "payload.summary: required");
    map_bad(ingest_map_events,
            "{\"routing_key\":\"k\",\"event_action\":\"trigger\",\"payload\":{\"summary\":\"s\","
            "\"severity\":\"info\"}}",
            "payload.source: required");
    map_bad(ingest_map_events,
            "{\"routing_key\":\"k\",\"event_action\":\"trigger\",\"payload\":{\"summary\":\"s\","
            "\"source\":\"h\"}}",
            "payload.severity: required");
    map_bad(ingest_map_events,
            "{\"routing_key\":\"k\",\"event_action\":\"trigger\",\"payload\":{\"summary\":\"s\","
            "\"source\":\"h\",\"severity\":\"major\"}}",
            "payload.severity: 'major' is not critical, error, warning or info");
    map_bad(ingest_map_events,
            "{\"routing_key\":\"k\",\"event_action\":\"trigger\",\"payload\":{\"summary\":\"s\","
            "\"source\":\"h\",\"severity\":\"info\",\"timestamp\":\"17/07/2015\"}}",
            "payload.timestamp");
    map_bad(ingest_map_events,
            "{\"routing_key\":\"k\",\"event_action\":\"trigger\",\"payload\":{\"summary\":7,"
            "\"source\":\"h\",\"severity\":\"info\"}}",
            "payload.summary: expected a string");
    map_bad(ingest_map_events,
            "{\"routing_key\":\"k\",\"event_action\":\"trigger\",\"payload\":\"text\"}",
            "payload: expected an object");
}

/* ---- JSON Alert ------------------------------------------------------------------------------ */

Test(ingest_map, alert_json_single_and_array)
{
    ingest_batch_t b;
    MAP_OK(ingest_map_alert_json,
           "{\"alert_id\":\"a-1\",\"dedupKey\":\"k-1\",\"action\":\"ACTION_TRIGGER\","
           "\"severity\":\"major\",\"service\":\"checkout\",\"summary\":\"errors\","
           "\"sites\":[\"paris\"],\"clients\":[\"acme\"],\"labels\":{\"scope\":\"global\"},"
           "\"occurred_at_ms\":\"1714564800000\"}",
           &b);
    cr_assert_eq(b.n, 1);
    const hd_alert_t *a = b.alerts[0];
    cr_expect_str_eq(a->alert_id, "a-1");
    cr_expect_str_eq(a->dedup_key, "k-1");
    cr_expect_eq(a->action, INCIDENT__V1__ACTION__ACTION_TRIGGER);
    cr_expect_eq(a->severity, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    cr_expect_str_eq(a->sites[0], "paris");
    cr_expect_str_eq(a->clients[0], "acme");
    cr_expect_str_eq(label(a, "scope"), "global");
    cr_expect_eq(a->occurred_at_ms, 1714564800000LL);
    cr_expect_null(b.dedup_key);

    MAP_OK(ingest_map_alert_json,
           "[{\"alert_id\":\"a-2\",\"dedup_key\":\"k\",\"action\":\"trigger\",\"severity\":"
           "\"info\"},{\"alert_id\":\"a-3\",\"dedup_key\":\"k\",\"action\":\"resolve\"}]",
           &b);
    cr_expect_eq(b.n, 2);
    cr_expect_eq(b.alerts[1]->action, INCIDENT__V1__ACTION__ACTION_RESOLVE);
    MAP_OK(ingest_map_alert_json, "[]", &b);
    cr_expect_eq(b.n, 0);
}

Test(ingest_map, alert_json_invalid)
{
    map_bad(ingest_map_alert_json, "{\"alert_id\":", "invalid JSON");
    map_bad(ingest_map_alert_json, "\"x\"", "expected a JSON object");
    map_bad(ingest_map_alert_json,
            "{\"alert_id\":\"a\",\"dedup_key\":\"k\",\"action\":\"trigger\"}",
            "severity: required for TRIGGER");
    map_bad(ingest_map_alert_json, "{\"alert_id\":\"a\",\"dedup_key\":\"k\",\"action\":\"nope\"}",
            "action");
    map_bad(ingest_map_alert_json, "{\"alertId\":\"a\",\"colour\":\"red\"}",
            "colour: unknown field");
    map_bad(ingest_map_alert_json, "{\"dedup_key\":\"k\",\"action\":\"resolve\"}",
            "alert_id: missing");
    map_bad(
        ingest_map_alert_json,
        "[{\"alert_id\":\"a\",\"dedup_key\":\"k\",\"action\":\"resolve\"},{\"alert_id\":\"b\"}]",
        "[1]: dedup_key: missing");
    map_bad(ingest_map_alert_json,
            "{\"alert_id\":\"a\\u00e9\xe9\",\"dedup_key\":\"k\",\"action\":\"resolve\"}",
            "alert_id: not valid UTF-8");
}

/* ---- time and UTF-8 -----------------------------------------------------------------------------
 */

Test(ingest_map, time_parser)
{
    int64_t ms = -1;
    cr_expect_eq(ingest_map_time_ms("1970-01-01T00:00:00Z", &ms), 0);
    cr_expect_eq(ms, 0);
    cr_expect_eq(ingest_map_time_ms("2024-05-01T12:00:00Z", &ms), 0);
    cr_expect_eq(ms, 1714564800000LL);
    cr_expect_eq(ingest_map_time_ms("2024-05-01T14:00:00+02:00", &ms), 0);
    cr_expect_eq(ms, 1714564800000LL);
    cr_expect_eq(ingest_map_time_ms("2024-05-01T11:30:00.25-0030", &ms), 0);
    cr_expect_eq(ms, 1714564800250LL);
    cr_expect_eq(ingest_map_time_ms("2024-02-29 00:00:00z", &ms), 0);
    cr_expect_eq(ingest_map_time_ms("1969-12-31T23:59:59Z", &ms), 0);
    cr_expect_eq(ms, -1000);
    cr_expect_eq(ingest_map_time_ms("0001-01-01T00:00:00Z", &ms), 0);
    cr_expect_eq(ms, 0, "Go's zero time means not set");
    const char *bad[] = {"",
                         "2024-05-01",
                         "2024-05-01T12:00:00",
                         "2024-13-01T12:00:00Z",
                         "2023-02-29T12:00:00Z",
                         "2024-05-01T24:00:00Z",
                         "2024-05-01T12:00:00.Z",
                         "2024-05-01T12:00:00+2",
                         "2024-05-01T12:00:00Zjunk",
                         "0000-01-01T00:00:00Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(ingest_map_time_ms(bad[i], &ms), -1, "'%s' accepted", bad[i]);
}

/* ---- NUL bytes ------------------------------------------------------------------------------ */

/* Like map_bad(), for a body of @p len bytes (it may hold a raw NUL). */
static void map_bad_n(int (*fn)(const char *, size_t, arena_t *, ingest_batch_t *, char *, size_t),
                      const char *body, size_t len, const char *want)
{
    ingest_batch_t b;
    char err[512] = "";
    cr_assert_eq(fn(body, len, &arena, &b, err, sizeof(err)), -1, "accepted: %s", body);
    cr_assert(strstr(err, want), "reason '%s' lacks '%s'", err, want);
}

/* cJSON ends a C string at \u0000: "x\u0000-1" and "x\u0000-2" would both be
 * the alert "x", merged or dropped as a duplicate. */
Test(ingest_map, nul_escape_is_refused_naming_the_field)
{
    map_bad(ingest_map_alert_json,
            "{\"alert_id\":\"x\\u0000-1\",\"dedup_key\":\"k\",\"action\":\"resolve\"}",
            "alert_id: contains a NUL byte");
    map_bad(ingest_map_alert_json,
            "{\"alert_id\":\"a\",\"dedup_key\":\"k\\u0000\",\"action\":\"resolve\"}",
            "dedup_key: contains a NUL byte");
    map_bad(ingest_map_alert_json,
            "{\"alert_id\":\"a\",\"dedup_key\":\"k\",\"action\":\"trigger\",\"severity\":"
            "\"info\",\"sites\":[\"ok\",\"p\\u0000\"]}",
            "sites[1]: contains a NUL byte");
    map_bad(ingest_map_alert_json,
            "{\"alert_id\":\"a\",\"dedup_key\":\"k\",\"action\":\"trigger\",\"severity\":"
            "\"info\",\"labels\":{\"te\\u0000am\":\"x\"}}",
            "labels[0].key: contains a NUL byte");
    map_bad(ingest_map_alertmanager,
            "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[{\"status\":\"firing\","
            "\"labels\":{\"alertname\":\"High\\u0000Rate\"},\"fingerprint\":\"f1\"}]}",
            "alerts[0]: summary: contains a NUL byte");
    map_bad(ingest_map_alertmanager,
            "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[{\"status\":\"firing\","
            "\"labels\":{\"alertname\":\"HighRate\"},\"fingerprint\":\"f\\u00001\"}]}",
            "dedup_key: contains a NUL byte");
    map_bad(ingest_map_events,
            "{\"routing_key\":\"k\",\"event_action\":\"trigger\",\"dedup_key\":\"d\\u0000x\","
            "\"payload\":{\"summary\":\"s\",\"source\":\"h\",\"severity\":\"info\"}}",
            "dedup_key: contains a NUL byte");
    map_bad(ingest_map_events,
            "{\"routing_key\":\"k\",\"event_action\":\"trigger\",\"payload\":{\"summary\":"
            "\"disk\\u0000full\",\"source\":\"h\",\"severity\":\"info\"}}",
            "summary: contains a NUL byte");
    map_bad(ingest_map_events,
            "{\"routing_key\":\"k\\u0000\",\"event_action\":\"trigger\",\"payload\":{"
            "\"summary\":\"s\",\"source\":\"h\",\"severity\":\"info\"}}",
            "routing_key: NUL byte");
}

Test(ingest_map, raw_nul_byte_in_a_string_is_refused)
{
    static const char body[] =
        "{\"alert_id\":\"x\0-1\",\"dedup_key\":\"k\",\"action\":\"resolve\"}";
    map_bad_n(ingest_map_alert_json, body, sizeof(body) - 1, "alert_id: contains a NUL byte");
}

Test(ingest_map, escaped_backslash_before_u0000_is_text)
{
    /* "\\u0000" is a backslash and the text u0000, not a NUL. */
    ingest_batch_t b;
    MAP_OK(ingest_map_alert_json,
           "{\"alert_id\":\"x\\\\u0000\",\"dedup_key\":\"k\",\"action\":\"resolve\"}", &b);
    cr_assert_eq(b.n, 1);
    cr_assert_str_eq(b.alerts[0]->alert_id, "x\\u0000");
}
