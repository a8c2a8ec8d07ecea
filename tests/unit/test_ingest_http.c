/*
 * test_ingest_http.c — the ingest stage's HTTP surface (daemon/http/ingest.c) with real
 * HTTP requests over a socket, without a Kafka broker: routes, methods,
 * bodies refused before Kafka (400, 413), content types (415), bearer
 * tokens (401, checked before the rate limit), the rate limit (429), 503
 * when Kafka never confirms, answered even while the stage stops, and the
 * HTTP server's limits against slow clients (http_server.c): the pool, the
 * per-address limit and the total request deadline. The path through Kafka
 * is tests/integration/test_ingest.c.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "http_client.h"
#include "ingest.h"
#include "log.h"
#include "testutil.h"

#define T_MS 20000

static const char pd_trigger[] =
    "{\"routing_key\":\"e93facc04764012d7bfb002500d5d1a6\",\"event_action\":\"trigger\","
    "\"payload\":{\"summary\":\"disk full\",\"source\":\"db1\",\"severity\":\"critical\"}}";

typedef struct fixture {
    config_t cfg;
    ingest_t *in;
    int port;
} fixture_t;

/* Starts the stage on a free port with "--set" @p sets (NULL-terminated),
 * its Kafka producer pointed at a closed port. */
static void start(fixture_t *f, const char *const *sets)
{
    const char *argv[40] = {"incidentd",     "--brokers",   "127.0.0.1:1", "--stages", "ingest",
                            "--ingest-http", "127.0.0.1:0", "--log-level", "warn"};
    int argc = 9;
    for (int i = 0; sets && sets[i] && argc < 38; i++) {
        argv[argc++] = "--set";
        argv[argc++] = sets[i];
    }
    char err[512];
    cr_assert_eq(config_load(&f->cfg, argc, (char **)argv, err, sizeof(err)), 0, "%s", err);
    log_set_level_name(f->cfg.log_level);
    f->in = ingest_start(&f->cfg, err, sizeof(err));
    cr_assert_not_null(f->in, "%s", err);
    f->port = ingest_port(f->in);
    cr_assert_gt(f->port, 0);
}

static void stop(fixture_t *f)
{
    ingest_stop(f->in);
    config_destroy(&f->cfg);
}

static int get(const fixture_t *f, const char *method, const char *path, tu_http_resp_t *r)
{
    if (tu_http_request(f->port, method, path, NULL, NULL, 0, 0, T_MS, r) != 0)
        return 0;
    return r->status;
}

Test(ingest, healthz_routes_and_methods)
{
    fixture_t f;
    start(&f, NULL);
    tu_http_resp_t r;
    cr_expect_eq(get(&f, "GET", "/healthz", &r), 200);
    cr_expect(strstr(r.body, "\"status\":\"ok\""), "%s", r.body);
    tu_http_resp_free(&r);
    cr_expect_eq(get(&f, "POST", "/healthz", &r), 405);
    cr_expect_str_eq(tu_http_header(&r, "Allow"), "GET, HEAD");
    tu_http_resp_free(&r);
    cr_expect_eq(get(&f, "GET", "/v1/events", &r), 405);
    cr_expect_str_eq(tu_http_header(&r, "Allow"), "POST");
    tu_http_resp_free(&r);
    cr_expect_eq(get(&f, "PUT", "/v1/alertmanager", &r), 405);
    tu_http_resp_free(&r);
    cr_expect_eq(get(&f, "GET", "/nope", &r), 404);
    tu_http_resp_free(&r);
    cr_expect_eq(tu_http_post(f.port, "/v1/alert", NULL, "{}", T_MS, &r), 404);
    tu_http_resp_free(&r);
    stop(&f);
}

Test(ingest, invalid_bodies_get_400_with_the_reason)
{
    fixture_t f;
    start(&f, NULL);
    tu_http_resp_t r;
    cr_expect_eq(tu_http_post(f.port, "/v1/events", NULL, "{\"routing_key\":", T_MS, &r), 400);
    cr_expect_str_eq(tu_http_header(&r, "Content-Type"), "application/json");
    cr_expect(strstr(r.body, "\"status\":\"invalid event\""), "%s", r.body);
    cr_expect(strstr(r.body, "invalid JSON"), "%s", r.body);
    cr_expect(strstr(r.body, "\"errors\":["), "%s", r.body);
    tu_http_resp_free(&r);
    cr_expect_eq(tu_http_post(f.port, "/v1/events", NULL,
                              "{\"routing_key\":\"k\",\"event_action\":\"trigger\",\"payload\":{"
                              "\"summary\":\"s\",\"source\":\"h\",\"severity\":\"fatal\"}}",
                              T_MS, &r),
                 400);
    cr_expect(strstr(r.body, "payload.severity"), "%s", r.body);
    tu_http_resp_free(&r);
    cr_expect_eq(tu_http_post(f.port, "/v1/alertmanager", NULL,
                              "{\"version\":\"4\",\"alerts\":[{}]}", T_MS, &r),
                 400);
    cr_expect(strstr(r.body, "alerts[0].status: missing"), "%s", r.body);
    tu_http_resp_free(&r);
    cr_expect_eq(tu_http_post(f.port, "/v1/alerts", NULL, "{\"alert_id\":\"a\"}", T_MS, &r), 400);
    cr_expect(strstr(r.body, "dedup_key: missing"), "%s", r.body);
    tu_http_resp_free(&r);
    cr_expect_eq(tu_http_request(f.port, "POST", "/v1/events", NULL, "", 0, 0, T_MS, &r), 0);
    cr_expect_eq(r.status, 400);
    tu_http_resp_free(&r);
    /* an empty notification needs no Kafka: accepted at once */
    cr_expect_eq(tu_http_post(f.port, "/v1/alertmanager", NULL, "{\"version\":\"4\",\"alerts\":[]}",
                              T_MS, &r),
                 202);
    cr_expect(strstr(r.body, "\"alerts\":0"), "%s", r.body);
    tu_http_resp_free(&r);
    stop(&f);
}

Test(ingest, oversized_bodies_get_413)
{
    static const char *const sets[] = {"ingest.max_body=2048", NULL};
    fixture_t f;
    start(&f, sets);
    tu_http_resp_t r;
    char *big = malloc(600000);
    memset(big, ' ', 600000);
    big[0] = '{';
    big[599999] = '}';
    /* announced: refused from the headers, before any of the body is sent */
    cr_assert_eq(
        tu_http_request(f.port, "POST", "/v1/events", NULL, big, 600000, TU_HTTP_NO_BODY, T_MS, &r),
        0);
    cr_expect_eq(r.status, 413);
    cr_expect(strstr(r.body, "larger than 2048 bytes"), "%s", r.body);
    tu_http_resp_free(&r);
    /* just over the limit */
    cr_assert_eq(
        tu_http_request(f.port, "POST", "/v1/alerts", NULL, big, 2049, TU_HTTP_NO_BODY, T_MS, &r),
        0);
    cr_expect_eq(r.status, 413);
    tu_http_resp_free(&r);
    /* unannounced (chunked): read and dropped past the limit, then 413 */
    cr_assert_eq(tu_http_request(f.port, "POST", "/v1/alertmanager", NULL, big, 600000,
                                 TU_HTTP_CHUNKED, T_MS, &r),
                 0);
    cr_expect_eq(r.status, 413);
    tu_http_resp_free(&r);
    /* at the limit it is read (and then judged: 400, not JSON of an event) */
    cr_assert_eq(
        tu_http_request(f.port, "POST", "/v1/events", NULL, big + 600000 - 2048, 2048, 0, T_MS, &r),
        0);
    cr_expect_eq(r.status, 400, "%s", r.body);
    tu_http_resp_free(&r);
    free(big);
    stop(&f);
}

Test(ingest, bearer_tokens_global_and_per_route)
{
    static const char *const sets[] = {"ingest.token=s3cret-all", "ingest.token.events=s3cret-pd",
                                       NULL};
    fixture_t f;
    start(&f, sets);
    tu_http_resp_t r;
    const char *none[] = {NULL};
    const char *wrong[] = {"Authorization: Bearer nope", NULL};
    const char *basic[] = {"Authorization: Basic czNjcmV0LWFsbA==", NULL};
    const char *all[] = {"Authorization: Bearer s3cret-all", NULL};
    const char *pd[] = {"Authorization: bearer s3cret-pd", NULL};

    cr_expect_eq(tu_http_post(f.port, "/v1/alertmanager", none, "{}", T_MS, &r), 401);
    cr_expect_str_eq(tu_http_header(&r, "WWW-Authenticate"), "Bearer realm=\"incidentd\"");
    cr_expect(strstr(r.body, "\"status\":\"unauthorized\""), "%s", r.body);
    cr_expect_null(strstr(r.body, "s3cret"));
    tu_http_resp_free(&r);
    cr_expect_eq(tu_http_post(f.port, "/v1/alertmanager", wrong, "{}", T_MS, &r), 401);
    tu_http_resp_free(&r);
    cr_expect_eq(tu_http_post(f.port, "/v1/alertmanager", basic, "{}", T_MS, &r), 401);
    tu_http_resp_free(&r);
    cr_expect_eq(tu_http_post(f.port, "/v1/alertmanager", all, "{}", T_MS, &r), 400, "past auth");
    tu_http_resp_free(&r);
    cr_expect_eq(tu_http_post(f.port, "/v1/alerts", all, "{}", T_MS, &r), 400);
    tu_http_resp_free(&r);
    /* /v1/events has its own token: the global one does not open it */
    cr_expect_eq(tu_http_post(f.port, "/v1/events", all, "{}", T_MS, &r), 401);
    tu_http_resp_free(&r);
    cr_expect_eq(tu_http_post(f.port, "/v1/events", pd, "{}", T_MS, &r), 400);
    tu_http_resp_free(&r);
    cr_expect_eq(tu_http_post(f.port, "/v1/alerts", pd, "{}", T_MS, &r), 401);
    tu_http_resp_free(&r);
    /* health needs no token */
    cr_expect_eq(get(&f, "GET", "/healthz", &r), 200);
    tu_http_resp_free(&r);
    stop(&f);
}

Test(ingest, rate_limit_per_source_answers_429_with_retry_after)
{
    static const char *const sets[] = {"ingest.rate=1", "ingest.burst=2", NULL};
    fixture_t f;
    start(&f, sets);
    tu_http_resp_t r;
    cr_expect_eq(tu_http_post(f.port, "/v1/events", NULL, "{}", T_MS, &r), 400);
    tu_http_resp_free(&r);
    cr_expect_eq(tu_http_post(f.port, "/v1/events", NULL, "{}", T_MS, &r), 400);
    tu_http_resp_free(&r);
    cr_expect_eq(tu_http_post(f.port, "/v1/alerts", NULL, "{}", T_MS, &r), 429);
    const char *ra = tu_http_header(&r, "Retry-After");
    cr_assert_not_null(ra);
    cr_expect(atoi(ra) >= 1 && atoi(ra) <= 2, "Retry-After %s", ra);
    cr_expect(strstr(r.body, "\"status\":\"throttle event\""), "%s", r.body);
    tu_http_resp_free(&r);
    /* a token comes back after a second */
    struct timespec ts = {1, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    cr_expect_eq(tu_http_post(f.port, "/v1/events", NULL, "{}", T_MS, &r), 400);
    tu_http_resp_free(&r);
    stop(&f);
}

typedef struct pending_req {
    int port;
    int status;
    char retry_after[16];
    char body[512];
} pending_req_t;

static void *post_thread(void *arg)
{
    pending_req_t *p = arg;
    tu_http_resp_t r;
    p->status = tu_http_post(p->port, "/v1/events", NULL, pd_trigger, 30000, &r);
    if (p->status) {
        const char *ra = tu_http_header(&r, "Retry-After");
        snprintf(p->retry_after, sizeof(p->retry_after), "%s", ra ? ra : "");
        snprintf(p->body, sizeof(p->body), "%s", r.body);
        tu_http_resp_free(&r);
    }
    return NULL;
}

Test(ingest, kafka_not_confirming_gives_503_and_stop_answers_requests_in_flight, .timeout = 60)
{
    fixture_t f;
    start(&f, NULL);
    pending_req_t p = {.port = f.port};
    pthread_t tid;
    cr_assert_eq(pthread_create(&tid, NULL, post_thread, &p), 0);
    struct timespec ts = {0, 500 * 1000 * 1000};
    nanosleep(&ts, NULL);
    /* the request is waiting for Kafka: stopping answers it first */
    stop(&f);
    pthread_join(tid, NULL);
    cr_expect_eq(p.status, 503, "%s", p.body);
    cr_expect_str_eq(p.retry_after, "5");
    cr_expect(strstr(p.body, "\"status\":\"unavailable\""), "%s", p.body);
    cr_expect(strstr(p.body, "kafka"), "%s", p.body);
}

Test(ingest, a_busy_address_fails_to_start_with_a_reason)
{
    fixture_t f;
    start(&f, NULL);
    config_t cfg;
    char addr[64], err[512];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", f.port);
    const char *argv[] = {"incidentd", "--brokers", "127.0.0.1:1", "--ingest-http", addr};
    cr_assert_eq(config_load(&cfg, 5, (char **)argv, err, sizeof(err)), 0, "%s", err);
    cr_expect_null(ingest_start(&cfg, err, sizeof(err)));
    cr_expect(strstr(err, "cannot listen on 127.0.0.1"), "%s", err);
    config_destroy(&cfg);
    stop(&f);
}

Test(ingest, tokens_are_secrets_in_print_config)
{
    config_t cfg;
    char err[512];
    const char *argv[] = {"incidentd",
                          "--set",
                          "ingest.token=S3CRET-A",
                          "--set",
                          "ingest.token.alertmanager=S3CRET-B",
                          "--set",
                          "ingest.token.events=S3CRET-C",
                          "--set",
                          "ingest.token.alerts=S3CRET-D"};
    cr_assert_eq(config_load(&cfg, 9, (char **)argv, err, sizeof(err)), 0, "%s", err);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    config_print(&cfg, f);
    fclose(f);
    cr_expect_null(strstr(out, "S3CRET"), "token printed:\n%s", out);
    cr_expect(strstr(out, "ingest.token = ***"), "%s", out);
    cr_expect(strstr(out, "ingest.token.events = ***"), "%s", out);
    free(out);
    config_destroy(&cfg);
    /* a bad value is not echoed either */
    const char *bad[] = {"incidentd", "--set", "ingest.max_body=12"};
    cr_expect_eq(config_load(&cfg, 3, (char **)bad, err, sizeof(err)), -1);
    cr_expect(strstr(err, "ingest.max_body"), "%s", err);
    config_destroy(&cfg);
}

Test(ingest, non_json_content_types_get_415)
{
    fixture_t f;
    start(&f, NULL);
    tu_http_resp_t r;
    static const char *const refused[] = {"text/plain", "application/x-www-form-urlencoded",
                                          "application/jsonp", "application/xml", ""};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        char ct[96];
        snprintf(ct, sizeof(ct), "Content-Type: %s", refused[i]);
        const char *h[] = {ct, NULL};
        cr_expect_eq(tu_http_request(f.port, "POST", "/v1/events", h, "{}", 2,
                                     TU_HTTP_NO_CONTENT_TYPE, T_MS, &r),
                     0);
        cr_expect_eq(r.status, 415, "Content-Type '%s'", refused[i]);
        if (r.status == 415)
            cr_expect(strstr(r.body, "\"status\":\"unsupported media type\""), "%s", r.body);
        tu_http_resp_free(&r);
    }
    /* JSON with parameters, in any case, and +json types: past the check (400: the body) */
    static const char *const taken[] = {"application/json", "Application/JSON; charset=utf-8",
                                        "application/json;charset=UTF-8",
                                        "application/vnd.pagerduty+json"};
    for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++) {
        char ct[96];
        snprintf(ct, sizeof(ct), "Content-Type: %s", taken[i]);
        const char *h[] = {ct, NULL};
        cr_expect_eq(tu_http_request(f.port, "POST", "/v1/alerts", h, "{}", 2,
                                     TU_HTTP_NO_CONTENT_TYPE, T_MS, &r),
                     0);
        cr_expect_eq(r.status, 400, "Content-Type '%s'", taken[i]);
        tu_http_resp_free(&r);
    }
    /* no Content-Type at all: taken as JSON */
    cr_expect_eq(tu_http_request(f.port, "POST", "/v1/alerts", NULL, "{}", 2,
                                 TU_HTTP_NO_CONTENT_TYPE, T_MS, &r),
                 0);
    cr_expect_eq(r.status, 400, "%s", r.body);
    tu_http_resp_free(&r);
    stop(&f);
}

Test(ingest, wrong_tokens_do_not_spend_the_senders_budget)
{
    static const char *const sets[] = {"ingest.token=s3cret", "ingest.rate=1", "ingest.burst=2",
                                       NULL};
    fixture_t f;
    start(&f, sets);
    tu_http_resp_t r;
    const char *wrong[] = {"Authorization: Bearer guess", NULL};
    const char *right[] = {"Authorization: Bearer s3cret", NULL};
    /* someone else on the sender's address guessing tokens */
    for (int i = 0; i < 5; i++) {
        cr_expect_eq(tu_http_post(f.port, "/v1/events", wrong, "{}", T_MS, &r), 401, "guess %d", i);
        tu_http_resp_free(&r);
    }
    /* the sender still has its whole burst */
    cr_expect_eq(tu_http_post(f.port, "/v1/events", right, "{}", T_MS, &r), 400);
    tu_http_resp_free(&r);
    cr_expect_eq(tu_http_post(f.port, "/v1/events", right, "{}", T_MS, &r), 400);
    tu_http_resp_free(&r);
    cr_expect_eq(tu_http_post(f.port, "/v1/events", right, "{}", T_MS, &r), 429, "then the limit");
    tu_http_resp_free(&r);
    stop(&f);
}

/* Waits @p ms milliseconds. */
static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

Test(ingest, a_request_is_served_while_150_slow_clients_hold_connections, .timeout = 60)
{
    fixture_t f;
    start(&f, NULL); /* the default limits */
    /* 150 senders trickling headers from 127.0.0.2 .. 127.0.0.11, 15 each */
    int *slow = tu_slow_open(f.port, "/v1/events", 150, 2, 15);
    pause_ms(300);
    cr_expect_eq(tu_slow_trickle(slow, 150), 150, "every slow client is held");
    tu_http_resp_t r;
    cr_expect_eq(tu_http_post(f.port, "/v1/events", NULL, "{}", 5000, &r), 400, "served: %s",
                 r.body ? r.body : "(no answer)");
    tu_http_resp_free(&r);
    cr_expect_eq(get(&f, "GET", "/healthz", &r), 200);
    tu_http_resp_free(&r);
    tu_slow_close(slow, 150);
    stop(&f);
}

Test(ingest, the_per_address_limit_leaves_room_for_other_senders, .timeout = 60)
{
    static const char *const sets[] = {"http.max_connections=40", "http.per_ip_connections=10",
                                       NULL};
    fixture_t f;
    start(&f, sets);
    /* 30 connections from each of 127.0.0.2 and 127.0.0.3: 10 each are held */
    int *slow = tu_slow_open(f.port, "/v1/events", 60, 2, 30);
    pause_ms(300);
    cr_expect_eq(tu_slow_trickle(slow, 60), 20, "10 per address");
    tu_http_resp_t r;
    cr_expect_eq(tu_http_post(f.port, "/v1/events", NULL, "{}", 5000, &r), 400, "served: %s",
                 r.body ? r.body : "(no answer)");
    tu_http_resp_free(&r);
    tu_slow_close(slow, 60);
    stop(&f);
}

Test(ingest, a_slow_client_is_cut_at_the_request_deadline_though_it_keeps_sending, .timeout = 60)
{
    static const char *const sets[] = {"http.request_timeout=1s", NULL};
    fixture_t f;
    start(&f, sets);
    int *slow = tu_slow_open(f.port, "/v1/events", 1, 2, 1);
    int64_t t0 = tu_now_ms(), took = -1;
    /* a byte every 100 ms: MHD's idle timeout never fires */
    while (tu_now_ms() - t0 < 6000) {
        if (tu_slow_trickle(slow, 1) == 0) {
            took = tu_now_ms() - t0;
            break;
        }
        pause_ms(100);
    }
    cr_expect_geq(took, 900, "cut after %lld ms", (long long)took);
    cr_expect_lt(took, 4000, "cut after %lld ms (-1: never)", (long long)took);
    tu_http_resp_t r;
    cr_expect_eq(get(&f, "GET", "/healthz", &r), 200, "still serving");
    tu_http_resp_free(&r);
    tu_slow_close(slow, 1);
    stop(&f);
}

Test(ingest, waiting_for_kafka_does_not_count_against_the_request_deadline, .timeout = 60)
{
    static const char *const sets[] = {"http.request_timeout=1s", NULL};
    fixture_t f;
    start(&f, sets);
    tu_http_resp_t r;
    /* the whole request is in at once; then ~10 s waiting for a dead broker */
    cr_expect_eq(tu_http_post(f.port, "/v1/events", NULL, pd_trigger, 30000, &r), 503, "%s",
                 r.body ? r.body : "(no answer)");
    tu_http_resp_free(&r);
    stop(&f);
}
