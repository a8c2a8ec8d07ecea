/*
 * test_ingest.c — the webhook ingest stage end to end: a real incidentd
 * (--stages all --ingest-http) on the test bed's Kafka and Redis, sent real
 * HTTP requests as Alertmanager and a PagerDuty Events v2 integration would
 * send them, and the outcome read from ormis.audit: incidents open, are
 * acknowledged, resolve and close. Also the refusals a sender sees: 400,
 * 401, 413, 429.
 *
 * Each test starts its own incidentd with a unique topic prefix (the e2e
 * fixture, tests/e2e.h) and talks to it with the tests' HTTP client
 * (tests/http_client.h).
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"
#include "http_client.h"
#include "incident/v1/incident.pb-c.h"
#include "testutil.h"

#define WAIT_MS 90000
#define HTTP_MS 30000

/* One incidentd of the e2e fixture with the ingest stage on a free port. */
typedef struct proc {
    e2e_t e;
    char set[64]; /* "ingest_http=127.0.0.1:<port>" */
    int port;
} proc_t;

/* Starts incidentd (all stages + ingest) with "--set" @p sets, and waits
 * until the ingest port answers /healthz. */
static void proc_start(proc_t *p, const char *const *sets)
{
    memset(p, 0, sizeof(*p));
    p->port = tu_free_port();
    snprintf(p->set, sizeof(p->set), "ingest_http=127.0.0.1:%d", p->port);
    const char *all[16] = {p->set};
    int n = 1;
    for (int i = 0; sets && sets[i] && n < 15; i++)
        all[n++] = sets[i];
    all[n] = NULL;
    e2e_start(&p->e, all);
    e2e_wait_healthz(p->port, p->e.log);
}

/* An Alertmanager notification (webhook payload version 4) of one alert,
 * as Alertmanager sends it. */
static char *am_payload(const char *status, const char *fingerprint, const char *ends_at)
{
    char *b = malloc(4096);
    snprintf(b, 4096,
             "{\"receiver\":\"incidentd\",\"status\":\"%s\","
             "\"alerts\":[{\"status\":\"%s\",\"labels\":{\"alertname\":\"CheckoutErrors\","
             "\"instance\":\"10.0.0.7:9100\",\"job\":\"checkout\",\"severity\":\"critical\","
             "\"site\":\"paris\"},\"annotations\":{\"summary\":\"Checkout error rate above "
             "5%%\",\"description\":\"5xx ratio is 7.1%%\"},\"startsAt\":\"2024-05-01T12:00:00"
             ".123Z\",\"endsAt\":\"%s\",\"generatorURL\":\"http://prometheus:9090/graph?g0.expr="
             "rate%%28http_errors_total%%5B5m%%5D%%29\",\"fingerprint\":\"%s\"}],"
             "\"groupLabels\":{\"alertname\":\"CheckoutErrors\"},\"commonLabels\":{\"alertname\":"
             "\"CheckoutErrors\",\"instance\":\"10.0.0.7:9100\",\"job\":\"checkout\",\"severity\":"
             "\"critical\",\"site\":\"paris\"},\"commonAnnotations\":{\"summary\":\"Checkout "
             "error rate above 5%%\"},\"externalURL\":\"http://alertmanager:9093\","
             "\"version\":\"4\",\"groupKey\":\"{}:{alertname=\\\"CheckoutErrors\\\"}\","
             "\"truncatedAlerts\":0}",
             status, status, ends_at, fingerprint);
    return b;
}

/* The value of a JSON string member in a flat answer ("dedup_key"). */
static void json_str(const char *body, const char *name, char *out, size_t size)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":\"", name);
    const char *p = strstr(body, pat);
    out[0] = '\0';
    if (!p)
        return;
    p += strlen(pat);
    const char *e = strchr(p, '"');
    if (e)
        snprintf(out, size, "%.*s", (int)(e - p), p);
}

Test(ingest, alertmanager_firing_then_resolved_opens_and_closes_an_incident, .timeout = 600)
{
    proc_t p;
    proc_start(&p, NULL);
    tu_consumer_t *audit = e2e_audit_consumer(&p.e);
    char fp[128], key[160];
    snprintf(fp, sizeof(fp), "%s", tu_unique("fp"));
    snprintf(key, sizeof(key), "am:%s", fp);

    tu_http_resp_t r;
    char *firing = am_payload("firing", fp, "0001-01-01T00:00:00Z");
    cr_assert_eq(tu_http_post(p.port, "/v1/alertmanager", NULL, firing, HTTP_MS, &r), 202, "%s",
                 r.body);
    cr_expect(strstr(r.body, "\"status\":\"success\""), "%s", r.body);
    tu_http_resp_free(&r);
    /* Alertmanager re-sends a firing alert (repeat_interval, retries): the
     * same alert id, so it changes nothing */
    cr_assert_eq(tu_http_post(p.port, "/v1/alertmanager", NULL, firing, HTTP_MS, &r), 202, "%s",
                 r.body);
    tu_http_resp_free(&r);

    e2e_trail_t t = {0};
    cr_assert(e2e_trail_wait(audit, &t, key, "classified", WAIT_MS), "incident opened; log %s",
              p.e.log);
    const Incident__V1__AuditRecord *det = e2e_trail_last(&t, "detected");
    cr_assert_not_null(det);
    cr_expect_eq(det->snapshot->severity, INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL);
    cr_expect_str_eq(det->snapshot->service, "checkout");
    cr_expect_str_eq(det->snapshot->summary, "Checkout error rate above 5%");
    cr_assert_eq(det->snapshot->n_sites, 1);
    cr_expect_str_eq(det->snapshot->sites[0], "paris");
    cr_expect_eq(e2e_trail_last(&t, "classified")->snapshot->kind,
                 INCIDENT__V1__KIND__KIND_INCIDENT);

    /* someone takes it: acknowledged through the JSON alert route */
    char ack[512];
    snprintf(ack, sizeof(ack),
             "{\"alert_id\":\"%s\",\"dedup_key\":\"%s\",\"action\":\"ACTION_ACKNOWLEDGE\","
             "\"actor\":\"alice\"}",
             tu_unique("ack"), key);
    cr_assert_eq(tu_http_post(p.port, "/v1/alerts", NULL, ack, HTTP_MS, &r), 202, "%s", r.body);
    tu_http_resp_free(&r);
    cr_assert(e2e_trail_wait(audit, &t, key, "acknowledged", WAIT_MS), "acknowledged; log %s",
              p.e.log);
    cr_expect_eq(e2e_trail_last(&t, "acknowledged")->snapshot->status,
                 INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED);

    char *resolved = am_payload("resolved", fp, "2024-05-01T12:10:00Z");
    cr_assert_eq(tu_http_post(p.port, "/v1/alertmanager", NULL, resolved, HTTP_MS, &r), 202, "%s",
                 r.body);
    tu_http_resp_free(&r);
    cr_assert(e2e_trail_wait(audit, &t, key, "closed", WAIT_MS), "incident closed; log %s",
              p.e.log);
    const Incident__V1__AuditRecord *closed = e2e_trail_last(&t, "closed");
    cr_expect_eq(closed->snapshot->status, INCIDENT__V1__STATUS__STATUS_CLOSED);
    cr_expect_eq(closed->snapshot->alert_count, 1, "the repeated notification was not merged");
    cr_expect_eq(e2e_trail_count(&t, "merged"), 0);
    cr_expect_eq(e2e_trail_count(&t, "detected"), 1);
    cr_expect_str_eq(e2e_trail_last(&t, "resolved")->actor, "alertmanager");

    free(firing);
    free(resolved);
    e2e_trail_free(&t);
    tu_consumer_destroy(audit);
    e2e_stop(&p.e);
}

Test(ingest, events_v2_trigger_acknowledge_resolve, .timeout = 600)
{
    proc_t p;
    proc_start(&p, NULL);
    tu_consumer_t *audit = e2e_audit_consumer(&p.e);
    tu_http_resp_t r;

    /* no dedup_key: one is generated and returned */
    char trigger[1024];
    snprintf(trigger, sizeof(trigger),
             "{\"payload\":{\"summary\":\"DISK at 99%% on machine prod-datapipe03.example.com\","
             "\"timestamp\":\"2015-07-17T08:42:58.315+0000\",\"severity\":\"error\","
             "\"source\":\"prod-datapipe03.example.com\",\"component\":\"mysql\",\"group\":"
             "\"prod-datapipe\",\"class\":\"disk\",\"custom_details\":{\"ping time\":\"1500ms\","
             "\"load avg\":0.75,\"client\":\"acme\",\"run\":\"%s\"}},"
             "\"routing_key\":\"e93facc04764012d7bfb002500d5d1a6\",\"event_action\":\"trigger\","
             "\"client\":\"Sample Monitoring Service\",\"client_url\":"
             "\"https://monitoring.example.com\"}",
             tu_unique("run"));
    cr_assert_eq(tu_http_post(p.port, "/v1/events", NULL, trigger, HTTP_MS, &r), 202, "%s", r.body);
    char key[300], key2[300];
    json_str(r.body, "dedup_key", key, sizeof(key));
    cr_expect(strstr(r.body, "\"status\":\"success\""), "%s", r.body);
    cr_expect(strstr(r.body, "\"message\":\"Event processed\""), "%s", r.body);
    cr_assert_eq(strlen(key), 32, "generated dedup_key in %s", r.body);
    tu_http_resp_free(&r);
    /* a sender's retry of the same body: same key, nothing doubled */
    cr_assert_eq(tu_http_post(p.port, "/v1/events", NULL, trigger, HTTP_MS, &r), 202, "%s", r.body);
    json_str(r.body, "dedup_key", key2, sizeof(key2));
    cr_expect_str_eq(key2, key);
    tu_http_resp_free(&r);

    e2e_trail_t t = {0};
    cr_assert(e2e_trail_wait(audit, &t, key, "classified", WAIT_MS), "incident opened; log %s",
              p.e.log);
    const Incident__V1__AuditRecord *det = e2e_trail_last(&t, "detected");
    cr_expect_eq(det->snapshot->severity, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    cr_expect_str_eq(det->snapshot->service, "mysql");
    cr_assert_eq(det->snapshot->n_clients, 1);
    cr_expect_str_eq(det->snapshot->clients[0], "acme");

    char body[1024];
    snprintf(body, sizeof(body),
             "{\"routing_key\":\"e93facc04764012d7bfb002500d5d1a6\",\"dedup_key\":\"%s\","
             "\"event_action\":\"acknowledge\",\"client\":\"bob\"}",
             key);
    cr_assert_eq(tu_http_post(p.port, "/v1/events", NULL, body, HTTP_MS, &r), 202, "%s", r.body);
    json_str(r.body, "dedup_key", key2, sizeof(key2));
    cr_expect_str_eq(key2, key);
    tu_http_resp_free(&r);
    cr_assert(e2e_trail_wait(audit, &t, key, "acknowledged", WAIT_MS), "acknowledged; log %s",
              p.e.log);
    const Incident__V1__AuditRecord *ack = e2e_trail_last(&t, "acknowledged");
    cr_expect_eq(ack->snapshot->status, INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED);
    cr_expect_str_eq(ack->actor, "bob");

    snprintf(body, sizeof(body),
             "{\"routing_key\":\"e93facc04764012d7bfb002500d5d1a6\",\"dedup_key\":\"%s\","
             "\"event_action\":\"resolve\"}",
             key);
    cr_assert_eq(tu_http_post(p.port, "/v1/events", NULL, body, HTTP_MS, &r), 202, "%s", r.body);
    tu_http_resp_free(&r);
    cr_assert(e2e_trail_wait(audit, &t, key, "closed", WAIT_MS), "incident closed; log %s",
              p.e.log);
    cr_expect_eq(e2e_trail_last(&t, "closed")->snapshot->status,
                 INCIDENT__V1__STATUS__STATUS_CLOSED);
    cr_expect_eq(e2e_trail_count(&t, "merged"), 0, "the retried trigger changed nothing");
    cr_expect_eq(e2e_trail_last(&t, "closed")->snapshot->alert_count, 1);

    e2e_trail_free(&t);
    tu_consumer_destroy(audit);
    e2e_stop(&p.e);
}

Test(ingest, refusals_400_401_413_with_a_token, .timeout = 600)
{
    static const char *const sets[] = {"ingest.token=tok-123", NULL};
    proc_t p;
    proc_start(&p, sets);
    tu_http_resp_t r;
    const char *good[] = {"Authorization: Bearer tok-123", NULL};
    const char *bad[] = {"Authorization: Bearer tok-124", NULL};
    const char *event = "{\"routing_key\":\"k\",\"event_action\":\"trigger\",\"dedup_key\":\"d1\","
                        "\"payload\":{\"summary\":\"s\",\"source\":\"h\",\"severity\":\"info\"}}";

    cr_expect_eq(tu_http_post(p.port, "/v1/events", NULL, event, HTTP_MS, &r), 401);
    tu_http_resp_free(&r);
    cr_expect_eq(tu_http_post(p.port, "/v1/alertmanager", bad, "{}", HTTP_MS, &r), 401);
    tu_http_resp_free(&r);
    cr_expect_eq(tu_http_post(p.port, "/v1/events", good, "{\"routing_key\":", HTTP_MS, &r), 400);
    cr_expect(strstr(r.body, "\"status\":\"invalid event\""), "%s", r.body);
    tu_http_resp_free(&r);
    char *big = malloc(600 * 1024);
    memset(big, ' ', 600 * 1024);
    cr_assert_eq(tu_http_request(p.port, "POST", "/v1/events", good, big, 600 * 1024,
                                 TU_HTTP_NO_BODY, HTTP_MS, &r),
                 0);
    cr_expect_eq(r.status, 413);
    tu_http_resp_free(&r);
    free(big);
    cr_expect_eq(tu_http_post(p.port, "/v1/events", good, event, HTTP_MS, &r), 202, "%s", r.body);
    cr_expect(strstr(r.body, "\"dedup_key\":\"d1\""), "%s", r.body);
    tu_http_resp_free(&r);
    e2e_stop(&p.e);
    /* the token never reaches the log */
    FILE *f = fopen(p.e.log, "r");
    cr_assert_not_null(f);
    char line[4096];
    while (fgets(line, sizeof(line), f))
        cr_expect_null(strstr(line, "tok-123"), "token logged: %s", line);
    fclose(f);
}

typedef struct rk_req {
    int port;
    const char *src;
    char body[512];
    int status;
    char answer[512];
} rk_req_t;

/* One /v1/events request from the address q->src. */
static void *rk_thread(void *arg)
{
    rk_req_t *q = arg;
    tu_http_source_addr = q->src;
    tu_http_resp_t r;
    q->status = tu_http_post(q->port, "/v1/events", NULL, q->body, HTTP_MS, &r);
    if (q->status) {
        snprintf(q->answer, sizeof(q->answer), "%s", r.body);
        tu_http_resp_free(&r);
    }
    return NULL;
}

Test(ingest, rate_limit_answers_429, .timeout = 600)
{
    static const char *const sets[] = {"ingest.rate=1", "ingest.burst=2", NULL};
    proc_t p;
    proc_start(&p, sets); /* its /healthz polls are not rate limited */
    tu_http_resp_t r;
    const char *event = "{\"routing_key\":\"k\",\"event_action\":\"trigger\",\"dedup_key\":\"d2\","
                        "\"payload\":{\"summary\":\"s\",\"source\":\"h\",\"severity\":\"info\"}}";
    /* quick refusals spend the source's burst */
    cr_expect_eq(tu_http_post(p.port, "/v1/events", NULL, "{}", HTTP_MS, &r), 400, "%s", r.body);
    tu_http_resp_free(&r);
    cr_expect_eq(tu_http_post(p.port, "/v1/events", NULL, "{}", HTTP_MS, &r), 400, "%s", r.body);
    tu_http_resp_free(&r);
    cr_expect_eq(tu_http_post(p.port, "/v1/events", NULL, event, HTTP_MS, &r), 429, "%s", r.body);
    const char *ra = tu_http_header(&r, "Retry-After");
    cr_assert_not_null(ra);
    int wait_s = atoi(ra);
    cr_expect(wait_s >= 1 && wait_s <= 2, "Retry-After %s", ra);
    cr_expect(strstr(r.body, "\"status\":\"throttle event\""), "%s", r.body);
    tu_http_resp_free(&r);
    /* after Retry-After the sender gets through */
    sleep((unsigned)wait_s);
    cr_expect_eq(tu_http_post(p.port, "/v1/events", NULL, event, HTTP_MS, &r), 202, "%s", r.body);
    tu_http_resp_free(&r);

    /* The routing key is a source too: three senders at other addresses,
     * each within its own burst, share routing key "k3" (burst 2). */
    rk_req_t q[3];
    pthread_t tid[3];
    static const char *const srcs[] = {"127.0.0.2", "127.0.0.3", "127.0.0.4"};
    for (int i = 0; i < 3; i++) {
        q[i] = (rk_req_t){.port = p.port, .src = srcs[i], .status = 0};
        snprintf(q[i].body, sizeof(q[i].body),
                 "{\"routing_key\":\"k3\",\"event_action\":\"trigger\",\"dedup_key\":\"d3-%d\","
                 "\"payload\":{\"summary\":\"s\",\"source\":\"h\",\"severity\":\"info\"}}",
                 i);
        cr_assert_eq(pthread_create(&tid[i], NULL, rk_thread, &q[i]), 0);
    }
    int n202 = 0, n429 = 0;
    for (int i = 0; i < 3; i++) {
        pthread_join(tid[i], NULL);
        n202 += q[i].status == 202;
        n429 += q[i].status == 429;
        if (q[i].status == 429)
            cr_expect(strstr(q[i].answer, "routing_key"), "%s", q[i].answer);
    }
    cr_expect_eq(n202, 2, "two within the routing key's burst");
    cr_expect_eq(n429, 1, "the third throttled by its routing key");
    e2e_stop(&p.e);
}
