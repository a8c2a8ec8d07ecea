/*
 * test_api.c — the API stage end to end: a real incidentd (all stages plus
 * --api) on the test bed's Kafka and Redis, with a people directory of
 * tokens and roles, talked to over HTTP as the console and scripts do.
 *
 * Covers: 401 without or with an unknown token, 403 for a role that may
 * not (a viewer's command, a stakeholder's acknowledge, the CSM on a global
 * incident), 400 naming the field, 404, the actor is the token's person,
 * paging with limit/cursor and filters, the event stream resumed with
 * Last-Event-ID, the rate limit after authentication, and that
 * /v1/openapi.json documents every route of the dispatch table; the
 * incident page's timeline served from Redis (the same records as
 * ormis.audit), read from the topic when Redis lost it and from Redis
 * again after a rebuild, an incident older than timelines read from the
 * topic, and a merge storm past the timeline's bounds (records, bytes)
 * that still answers while Redis keeps none of it.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

#include "api_internal.h"
#include "e2e.h"
#include "http_client.h"
#include "store.h"
#include "testutil.h"

#define WAIT_MS 90000
#define HTTP_MS 30000

#define TM_TOKEN "tm-token-0123456789abcdef"
#define CSM_TOKEN "csm-token-0123456789abcdef"
#define SAM_TOKEN "sam-token-0123456789abcdef"
#define VIC_TOKEN "vic-token-0123456789abcdef"

static const char *const people_sets[] = {
    "people.tina.token=" TM_TOKEN,      "people.tina.role=technical_manager",
    "people.carl.token=" CSM_TOKEN,     "people.carl.role=customer_service_manager",
    "people.sam.token=" SAM_TOKEN,      "people.sam.role=stakeholder",
    "people.vic.token=" VIC_TOKEN,      "people.vic.role=viewer",
    "handling.global_stakeholders=sam", NULL};

/* An incidentd with the API and the people of people_sets. */
static void proc_start(e2e_api_t *p, const char *stages, const char *const *extra)
{
    const char *all[32];
    int n = 0;
    for (int i = 0; people_sets[i]; i++)
        all[n++] = people_sets[i];
    for (int i = 0; extra && extra[i] && n < 31; i++)
        all[n++] = extra[i];
    all[n] = NULL;
    e2e_api_start(p, stages, all);
}

#define call e2e_api_call
#define jstr e2e_jstr

static void find_incident(const e2e_api_t *p, const char *key, const char *stage, char *id,
                          size_t id_size);

/* Publishes a trigger and waits until the API lists its incident in stage
 * @p stage; the incident id into @p id. */
static void open_incident(const e2e_api_t *p, const char *key, int global, const char *stage,
                          char *id, size_t id_size)
{
    Incident__V1__Alert a = e2e_alert(tu_unique("alert"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                      INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL);
    char *sites[] = {"paris", "lyon"};
    a.sites = sites;
    a.n_sites = global ? 2 : 1;
    a.summary = "Checkout errors";
    e2e_publish(&p->e, &a);
    find_incident(p, key, stage, id, id_size);
}

/* Waits until the API lists the incident of @p key in stage @p stage (NULL:
 * any); its id into @p id. */
static void find_incident(const e2e_api_t *p, const char *key, const char *stage, char *id,
                          size_t id_size)
{
    int64_t deadline = tu_now_ms() + WAIT_MS;
    char path[256];
    snprintf(path, sizeof(path), "/v1/incidents?limit=500%s%s", stage ? "&stage=" : "",
             stage ? stage : "");
    while (tu_now_ms() < deadline) {
        cJSON *j;
        cr_assert_eq(call(p, "GET", path, TM_TOKEN, NULL, &j), 200);
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "incidents"))
        {
            if (strcmp(jstr(it, "dedup_key"), key) == 0) {
                snprintf(id, id_size, "%s", jstr(it, "id"));
                cJSON_Delete(j);
                return;
            }
        }
        cJSON_Delete(j);
        usleep(300 * 1000);
    }
    cr_assert_fail("incident of %s never listed in %s; log %s", key, stage ? stage : "any stage",
                   p->e.log);
}

/* POSTs a command body; the status, and the answer's "field" into @p field. */
static int command(const e2e_api_t *p, const char *id, const char *token, const char *body,
                   char *field, size_t field_size)
{
    char path[300];
    snprintf(path, sizeof(path), "/v1/incidents/%s/commands", id);
    cJSON *j;
    int st = call(p, "POST", path, token, body, &j);
    if (field)
        snprintf(field, field_size, "%s", jstr(j, st == 202 ? "actor" : "field"));
    cJSON_Delete(j);
    return st;
}

/* Waits until the timeline of @p id has a record of @p action; returns its actor. */
static void wait_action(const e2e_api_t *p, const char *id, const char *action, char *actor,
                        size_t actor_size)
{
    char path[300];
    snprintf(path, sizeof(path), "/v1/incidents/%s", id);
    int64_t deadline = tu_now_ms() + WAIT_MS;
    while (tu_now_ms() < deadline) {
        cJSON *j;
        cr_assert_eq(call(p, "GET", path, VIC_TOKEN, NULL, &j), 200);
        cJSON *chain = cJSON_GetObjectItemCaseSensitive(j, "chain");
        cr_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(chain, "ok")), "chain of %s: %s",
                  id, jstr(chain, "reason"));
        const cJSON *rec;
        cJSON_ArrayForEach(rec, cJSON_GetObjectItemCaseSensitive(j, "timeline"))
        {
            if (strcmp(jstr(rec, "action"), action) == 0) {
                snprintf(actor, actor_size, "%s", jstr(rec, "actor"));
                cJSON_Delete(j);
                return;
            }
        }
        cJSON_Delete(j);
        usleep(300 * 1000);
    }
    cr_assert_fail("no %s in the timeline of %s; log %s", action, id, p->e.log);
}

Test(api, tokens_roles_bodies_and_not_found, .timeout = 600)
{
    e2e_api_t p;
    proc_start(&p, "all", NULL);
    char gid[128], lid[128], field[128];
    open_incident(&p, tu_unique("global"), 1, "STAGE_ESCALATED", gid, sizeof(gid));

    /* 401: no token, an unknown one; a viewer reads */
    cr_expect_eq(call(&p, "GET", "/v1/incidents", NULL, NULL, NULL), 401);
    cr_expect_eq(call(&p, "GET", "/v1/incidents", "not-a-token-of-anyone", NULL, NULL), 401);
    cr_expect_eq(command(&p, gid, NULL, "{\"kind\":\"COMMAND_NOTE\",\"text\":\"x\"}", NULL, 0),
                 401);
    cr_expect_eq(call(&p, "GET", "/v1/incidents", VIC_TOKEN, NULL, NULL), 200);
    cJSON *me = NULL;
    cr_expect_eq(call(&p, "GET", "/v1/me", CSM_TOKEN, NULL, &me), 200);
    cr_expect_str_eq(jstr(me, "name"), "carl");
    cr_expect_str_eq(jstr(me, "role"), "customer_service_manager");
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(me, "may_control")));
    cJSON_Delete(me);
    cr_expect_eq(call(&p, "GET", "/v1/me", VIC_TOKEN, NULL, &me), 200);
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(me, "may_command")));
    cJSON_Delete(me);

    /* 403: a viewer's command; a stakeholder may note and sign off but not
     * acknowledge; the CSM does not own a global incident */
    cr_expect_eq(command(&p, gid, VIC_TOKEN, "{\"kind\":\"COMMAND_NOTE\",\"text\":\"x\"}", NULL, 0),
                 403);
    cr_expect_eq(
        command(&p, gid, SAM_TOKEN, "{\"kind\":\"COMMAND_ACKNOWLEDGE\"}", field, sizeof(field)),
        403);
    cr_expect_eq(command(&p, gid, CSM_TOKEN, "{\"kind\":\"COMMAND_ACKNOWLEDGE\"}", NULL, 0), 403);
    cr_expect_eq(command(&p, gid, SAM_TOKEN, "{\"kind\":\"COMMAND_NOTE\",\"text\":\"seen\"}", field,
                         sizeof(field)),
                 202);
    cr_expect_str_eq(field, "sam");

    /* 400 naming the field */
    cr_expect_eq(command(&p, gid, TM_TOKEN, "{\"kind\":\"COMMAND_BOGUS\"}", field, sizeof(field)),
                 400);
    cr_expect_str_eq(field, "kind");
    cr_expect_eq(command(&p, gid, TM_TOKEN, "{\"kind\":\"COMMAND_REVIEW\"}", field, sizeof(field)),
                 400);
    cr_expect_str_eq(field, "root_cause");
    cr_expect_eq(command(&p, gid, TM_TOKEN, "{\"kind\":\"COMMAND_NOTE\",\"txt\":\"x\"}", field,
                         sizeof(field)),
                 400);
    cr_expect_str_eq(field, "txt");
    cr_expect_eq(command(&p, gid, TM_TOKEN, "{}", field, sizeof(field)), 400);
    cr_expect_str_eq(field, "kind");
    cr_expect_eq(command(&p, gid, TM_TOKEN, "[1,2", NULL, 0), 400);
    /* the actor is the token's person: a body naming another is refused */
    cr_expect_eq(command(&p, gid, TM_TOKEN,
                         "{\"kind\":\"COMMAND_ACKNOWLEDGE\",\"actor\":\"mallory\"}", field,
                         sizeof(field)),
                 400);
    cr_expect_str_eq(field, "actor");

    /* 404 */
    cr_expect_eq(command(&p, "INC-nope", TM_TOKEN, "{\"kind\":\"COMMAND_ACKNOWLEDGE\"}", NULL, 0),
                 404);
    cr_expect_eq(call(&p, "GET", "/v1/incidents/INC-nope", TM_TOKEN, NULL, NULL), 404);
    cr_expect_eq(call(&p, "GET", "/v1/nothing", TM_TOKEN, NULL, NULL), 404);
    cr_expect_eq(call(&p, "DELETE", "/v1/incidents", TM_TOKEN, NULL, NULL), 405);

    /* the TM acknowledges the global incident: recorded with the TM as actor */
    cr_assert_eq(
        command(&p, gid, TM_TOKEN, "{\"kind\":\"COMMAND_ACKNOWLEDGE\"}", field, sizeof(field)),
        202);
    cr_expect_str_eq(field, "tina");
    char actor[128];
    wait_action(&p, gid, "acknowledged", actor, sizeof(actor));
    cr_expect_str_eq(actor, "tina");
    wait_action(&p, gid, "note", actor, sizeof(actor));
    cr_expect_str_eq(actor, "sam");
    /* what the state refuses is answered 409 with the reason, never sent */
    cJSON *j = NULL;
    char path[300];
    snprintf(path, sizeof(path), "/v1/incidents/%s/commands", gid);
    cr_expect_eq(call(&p, "POST", path, TM_TOKEN, "{\"kind\":\"COMMAND_ACKNOWLEDGE\"}", &j), 409);
    cr_expect(strstr(jstr(j, "message"), "acknowledged") != NULL, "%s", jstr(j, "message"));
    cJSON_Delete(j);
    cr_expect_eq(
        command(&p, gid, TM_TOKEN, "{\"kind\":\"COMMAND_TASK_DONE\",\"task_id\":\"T9\"}", NULL, 0),
        409);
    /* a retry naming its command_id is the stage's to drop: accepted */
    cr_expect_eq(command(&p, gid, TM_TOKEN,
                         "{\"kind\":\"COMMAND_ACKNOWLEDGE\",\"command_id\":\"retry-1\"}", NULL, 0),
                 202);

    /* a local incident: its owner (the CSM role) may; the TM may not */
    open_incident(&p, tu_unique("local"), 0, "STAGE_ESCALATED", lid, sizeof(lid));
    cr_expect_eq(command(&p, lid, TM_TOKEN, "{\"kind\":\"COMMAND_ACKNOWLEDGE\"}", NULL, 0), 403);
    cr_expect_eq(
        command(&p, lid, CSM_TOKEN, "{\"kind\":\"COMMAND_ACKNOWLEDGE\"}", field, sizeof(field)),
        202);
    wait_action(&p, lid, "acknowledged", actor, sizeof(actor));
    cr_expect_str_eq(actor, "carl");
    e2e_stop(&p.e);
}

/* The ids of one page, appended to @p seen (asserting no repeats); the next cursor. */
static int page(const e2e_api_t *p, const char *query, char seen[][128], int *n_seen, char *cursor,
                size_t cursor_size, int64_t *last_ms)
{
    cJSON *j;
    cr_assert_eq(call(p, "GET", query, VIC_TOKEN, NULL, &j), 200);
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "incidents"))
    {
        for (int k = 0; k < *n_seen; k++)
            cr_expect_str_neq(seen[k], jstr(it, "id"), "an incident on two pages");
        int64_t ms = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(it, "detected_at_ms"));
        cr_expect(ms <= *last_ms, "newest first");
        *last_ms = ms;
        snprintf(seen[(*n_seen)++], 128, "%s", jstr(it, "id"));
        n++;
    }
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "next_cursor");
    snprintf(cursor, cursor_size, "%s", cJSON_IsString(c) ? c->valuestring : "");
    cJSON_Delete(j);
    return n;
}

Test(api, paging_with_limit_and_cursor_and_filters, .timeout = 600)
{
    e2e_api_t p;
    proc_start(&p, "all", NULL);
    char ids[5][128];
    for (int i = 0; i < 5; i++)
        open_incident(&p, tu_unique("page"), i < 2, "STAGE_ESCALATED", ids[i], sizeof(ids[i]));

    char seen[16][128], cursor[300] = "", q[512];
    int n_seen = 0, pages = 0;
    int64_t last_ms = INT64_MAX;
    do {
        snprintf(q, sizeof(q), "/v1/incidents?limit=2%s%s", cursor[0] ? "&cursor=" : "", cursor);
        int n = page(&p, q, seen, &n_seen, cursor, sizeof(cursor), &last_ms);
        cr_expect(n == 2 || (n == 1 && !cursor[0]), "page %d has %d", pages, n);
        pages++;
    } while (cursor[0] && pages < 10);
    cr_expect_eq(pages, 3);
    cr_expect_eq(n_seen, 5);

    last_ms = INT64_MAX;
    int global_n = page(&p, "/v1/incidents?scope=SCOPE_GLOBAL", seen, &(int){0}, cursor,
                        sizeof(cursor), &last_ms);
    cr_expect_eq(global_n, 2);
    last_ms = INT64_MAX;
    int local_n = page(&p, "/v1/incidents?scope=local&severity=SEVERITY_MAJOR%2B&status=open", seen,
                       &(int){0}, cursor, sizeof(cursor), &last_ms);
    cr_expect_eq(local_n, 3);
    cr_expect_eq(call(&p, "GET", "/v1/incidents?limit=0", VIC_TOKEN, NULL, NULL), 400);
    cr_expect_eq(call(&p, "GET", "/v1/incidents?cursor=zzz", VIC_TOKEN, NULL, NULL), 400);
    cr_expect_eq(call(&p, "GET", "/v1/incidents?status=sleeping", VIC_TOKEN, NULL, NULL), 400);
    e2e_stop(&p.e);
}

/* ---- the event stream ------------------------------------------------------------------ */

/* A stream connection: reads until @p want appears (or the time runs out);
 * what was read into @p buf. */
static int stream_open(int port, const char *last_id)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "GET /v1/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n%s%s%s"
                     "Accept: text/event-stream\r\n\r\n",
                     VIC_TOKEN, last_id ? "Last-Event-ID: " : "", last_id ? last_id : "",
                     last_id ? "\r\n" : "");
    cr_assert_eq(write(fd, req, (size_t)n), n);
    return fd;
}

static void stream_until(int fd, char *buf, size_t size, size_t *len, const char *want, int ms)
{
    int64_t deadline = tu_now_ms() + ms;
    while (!strstr(buf, want) && tu_now_ms() < deadline && *len + 1 < size) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 200) <= 0)
            continue;
        ssize_t got = read(fd, buf + *len, size - *len - 1);
        if (got <= 0)
            break;
        *len += (size_t)got;
        buf[*len] = '\0';
    }
    cr_assert(strstr(buf, want), "the stream never sent %s; got: %.2000s", want, buf);
}

/* The id of the last event before @p upto in @p buf. */
static void last_event_id(const char *buf, const char *upto, char *out, size_t size)
{
    const char *id = NULL;
    for (const char *q = strstr(buf, "id: "); q && q < upto; q = strstr(q + 1, "\nid: "))
        id = q[0] == '\n' ? q + 1 : q;
    cr_assert(id, "no id before the event");
    size_t n = strcspn(id + 4, "\r\n");
    snprintf(out, size, "%.*s", (int)n, id + 4);
}

Test(api, stream_resumes_after_last_event_id, .timeout = 600)
{
    e2e_api_t p;
    proc_start(&p, "all", NULL);
    static char buf[1 << 20];
    size_t len = 0;
    buf[0] = '\0';
    int fd = stream_open(p.port, NULL);
    stream_until(fd, buf, sizeof(buf), &len, "event: ready", 30000);
    cr_expect(strstr(buf, "text/event-stream"), "%.500s", buf);

    char id[128], want[300], resume[4096];
    open_incident(&p, tu_unique("stream"), 1, "STAGE_ESCALATED", id, sizeof(id));
    snprintf(want, sizeof(want), "\"incident_id\":\"%s\",\"seq\":5,", id);
    stream_until(fd, buf, sizeof(buf), &len, want, WAIT_MS);
    /* resume right after seq 5: the ones after it come, seq <= 5 never again */
    const char *at = strstr(buf, want);
    const char *next = strstr(at, "\n\n");
    last_event_id(buf, next, resume, sizeof(resume));
    close(fd);

    cr_assert_eq(command(&p, id, TM_TOKEN, "{\"kind\":\"COMMAND_ACKNOWLEDGE\"}", NULL, 0), 202);
    len = 0;
    buf[0] = '\0';
    fd = stream_open(p.port, resume);
    stream_until(fd, buf, sizeof(buf), &len, "\"action\":\"acknowledged\"", WAIT_MS);
    close(fd);
    for (int seq = 1; seq <= 5; seq++) {
        snprintf(want, sizeof(want), "\"incident_id\":\"%s\",\"seq\":%d,", id, seq);
        cr_expect(!strstr(buf, want), "seq %d sent again after Last-Event-ID %s", seq, resume);
    }
    snprintf(want, sizeof(want), "\"incident_id\":\"%s\",\"seq\":6,", id);
    cr_expect(strstr(buf, want), "seq 6 follows the resumed position: %.3000s", buf);
    /* a position that is not one of ours */
    cr_expect_eq(call(&p, "GET", "/v1/stream?last_event_id=x.y", VIC_TOKEN, NULL, NULL), 400);
    e2e_stop(&p.e);
}

/* ---- the route table, the OpenAPI document, the rate limit (the api stage alone) ---------- */

Test(api, openapi_documents_every_route_and_rate_limit_follows_auth, .timeout = 300)
{
    e2e_api_t p;
    const char *const sets[] = {"api.rate=1", "api.burst=3", NULL};
    proc_start(&p, "api", sets);
    cJSON *doc;
    cr_assert_eq(call(&p, "GET", "/v1/openapi.json", NULL, NULL, &doc), 200);
    cr_expect_str_eq(jstr(doc, "openapi"), "3.1.0");
    const cJSON *paths = cJSON_GetObjectItemCaseSensitive(doc, "paths");
    int documented = 0;
    const cJSON *pi;
    cJSON_ArrayForEach(pi, paths) documented += cJSON_GetArraySize(pi);
    cr_expect_eq((size_t)documented, api_n_routes, "one operation per route");
    for (size_t i = 0; i < api_n_routes; i++) {
        const api_route_t *rt = &api_routes[i];
        char method[8];
        snprintf(method, sizeof(method), "%s", rt->method);
        for (char *c = method; *c; c++)
            *c = (char)(*c | 0x20);
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(paths, rt->path), method);
        cr_expect(op, "%s %s is not documented", rt->method, rt->path);
        /* and it is served: never the "no such route" 404 */
        if (strcmp(rt->method, "GET") == 0 && !strchr(rt->path, '{') &&
            strcmp(rt->path, "/v1/stream") != 0) {
            cJSON *j = NULL;
            tu_http_resp_t r;
            cr_assert_eq(tu_http_request(p.port, "GET", rt->path, NULL, NULL, 0, 0, HTTP_MS, &r),
                         0);
            cr_expect(r.status == 200 || r.status == 401, "%s: %d", rt->path, r.status);
            tu_http_resp_free(&r);
            cJSON_Delete(j);
        }
    }
    cJSON_Delete(doc);

    /* unauthenticated requests spend nobody's budget; then 3 (burst) pass, the 4th is 429 */
    for (int i = 0; i < 5; i++)
        cr_expect_eq(call(&p, "GET", "/v1/incidents", "wrong-token-0123456789", NULL, NULL), 401);
    int ok = 0, limited = 0;
    for (int i = 0; i < 4; i++) {
        int st = call(&p, "GET", "/v1/incidents?stage=STAGE_RESOLVED", VIC_TOKEN, NULL, NULL);
        ok += st == 200;
        limited += st == 429;
    }
    cr_expect(ok >= 3 && limited >= 1, "ok %d, limited %d", ok, limited);
    /* another person has a budget of their own */
    cr_expect_eq(call(&p, "GET", "/v1/incidents?stage=STAGE_RESOLVED", TM_TOKEN, NULL, NULL), 200);
    e2e_stop(&p.e);
}

/* ---- the incident page: its timeline from Redis ------------------------------------------ */

/* GET /v1/incidents/{id} (200 asserted); the caller frees the answer. */
static cJSON *show(const e2e_api_t *p, const char *id)
{
    char path[300];
    snprintf(path, sizeof(path), "/v1/incidents/%s", id);
    cJSON *j = NULL;
    cr_assert_eq(call(p, "GET", path, VIC_TOKEN, NULL, &j), 200, "GET %s", path);
    return j;
}

static double jnum(const cJSON *o, const char *name)
{
    return cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, name));
}

/* The incident's version on the page. */
static int page_version(const cJSON *page)
{
    return (int)jnum(cJSON_GetObjectItemCaseSensitive(page, "incident"), "version");
}

/* An integer of Redis (a string reply as a number; -2: no such key or field). */
static long long bed_int(store_t *st, const char *fmt, const char *prefix, const char *id,
                         const char *arg)
{
    redisReply *r = store_command(st, fmt, prefix, id, arg);
    cr_assert_not_null(r, "redis: %s", store_error(st));
    long long v = r->type == REDIS_REPLY_INTEGER  ? r->integer
                  : r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10)
                                                  : -2;
    freeReplyObject(r);
    return v;
}

#define TL_LEN(st, p, id) bed_int(st, "LLEN %stl:{%s}%s", (p)->e.prefix, id, "")
#define TL_BYTES(st, p, id) bed_int(st, "HGET %sinc:{%s} %s", (p)->e.prefix, id, "tlbytes")

/* Asserts that the page's timeline is the incident's records on
 * ormis.audit: seq 1..n in chain order, each with the hash of the topic's
 * record of that seq (the hash covers the whole record), and a chain that
 * verifies; and that it was read from @p source. */
static void expect_page_is_topic(const e2e_api_t *p, const cJSON *page, const char *id,
                                 const char *source)
{
    cr_expect_str_eq(jstr(page, "timeline_source"), source);
    const cJSON *chain = cJSON_GetObjectItemCaseSensitive(page, "chain");
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(chain, "ok")), "chain: %s",
              jstr(chain, "reason"));
    const cJSON *tl = cJSON_GetObjectItemCaseSensitive(page, "timeline");
    int n = cJSON_GetArraySize(tl);
    cr_assert(n > 0);
    char **hashes = calloc((size_t)n + 1, sizeof(*hashes));
    int got = 0;
    tu_consumer_t *c = e2e_audit_consumer(&p->e);
    for (int64_t deadline = tu_now_ms() + WAIT_MS; got < n && tu_now_ms() < deadline;) {
        tu_msg_t *m = tu_consumer_next(c, 500);
        Incident__V1__AuditRecord *r =
            m ? incident__v1__audit_record__unpack(NULL, m->len, m->val) : NULL;
        if (r && strcmp(r->incident_id, id) == 0 && r->seq >= 1 && r->seq <= (uint64_t)n &&
            !hashes[r->seq]) {
            hashes[r->seq] = strdup(r->hash);
            got++;
        }
        if (r)
            incident__v1__audit_record__free_unpacked(r, NULL);
        if (m)
            tu_msg_free(m);
    }
    tu_consumer_destroy(c);
    cr_assert_eq(got, n, "ormis.audit has %d of the page's %d records of %s", got, n, id);
    for (int i = 0; i < n; i++) {
        const cJSON *rec = cJSON_GetArrayItem(tl, i);
        cr_expect_eq((int)jnum(rec, "seq"), i + 1, "chain order");
        cr_expect_str_eq(jstr(rec, "hash"), hashes[i + 1], "record %d as on ormis.audit", i + 1);
        cr_expect_null(cJSON_GetObjectItemCaseSensitive(rec, "snapshot"));
    }
    for (int i = 0; i <= n; i++)
        free(hashes[i]);
    free(hashes);
}

Test(api, incident_page_timeline_from_redis_lost_and_rebuilt, .timeout = 600)
{
    e2e_api_t p;
    proc_start(&p, "all", NULL);
    char id[128], actor[128];
    open_incident(&p, tu_unique("tl"), 1, "STAGE_ESCALATED", id, sizeof(id));
    cr_assert_eq(command(&p, id, TM_TOKEN, "{\"kind\":\"COMMAND_ACKNOWLEDGE\"}", NULL, 0), 202);
    wait_action(&p, id, "acknowledged", actor, sizeof(actor));
    char err[256];
    redis_conn_opts_t ro = {.url = tu_redis()};
    store_t *st = store_new(&ro, p.e.prefix, err, sizeof(err));
    cr_assert_not_null(st, "%s", err);

    /* served from Redis: one record per version, the topic's records */
    cJSON *page = show(&p, id);
    expect_page_is_topic(&p, page, id, "redis");
    int version = page_version(page);
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(page, "timeline")), version);
    cr_expect_eq(TL_LEN(st, &p, id), version);
    cr_expect_gt(TL_BYTES(st, &p, id), 0);
    cJSON_Delete(page);

    /* Redis lost the incident: the page comes from ormis.audit */
    freeReplyObject(store_command(st, "DEL %sinc:{%s} %stl:{%s}", p.e.prefix, id, p.e.prefix, id));
    page = show(&p, id);
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(page, "live")));
    cr_expect_str_eq(jstr(page, "source"), "audit");
    expect_page_is_topic(&p, page, id, "audit");
    cJSON_Delete(page);

    /* the rebuild brings the timeline back with the state */
    cr_assert_eq(e2e_ctl_line(&p.e, NULL, 0, (const char *[]){"rebuild", "--yes", NULL}), 0);
    cr_expect_eq(TL_LEN(st, &p, id), version);
    page = show(&p, id);
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(page, "live")));
    expect_page_is_topic(&p, page, id, "redis");
    cJSON_Delete(page);

    /* an incident live before timelines were kept (no tlbytes, no list):
     * read from the topic, and its next transition starts none */
    freeReplyObject(store_command(st, "HDEL %sinc:{%s} tlbytes", p.e.prefix, id));
    freeReplyObject(store_command(st, "DEL %stl:{%s}", p.e.prefix, id));
    cr_assert_eq(command(&p, id, TM_TOKEN, "{\"kind\":\"COMMAND_NOTE\",\"text\":\"old\"}", NULL, 0),
                 202);
    wait_action(&p, id, "note", actor, sizeof(actor));
    cr_expect_eq(TL_BYTES(st, &p, id), -1);
    cr_expect_eq(TL_LEN(st, &p, id), 0);
    page = show(&p, id);
    expect_page_is_topic(&p, page, id, "audit");
    cJSON_Delete(page);
    store_destroy(st);
    e2e_stop(&p.e);
}

/* Publishes @p n triggers of @p key (@p n_clients clients each, names of
 * 200 bytes) at once. */
static void storm(const e2e_api_t *p, const char *key, int n, int n_clients)
{
    static char names[1000][201];
    char *clients[1000];
    for (int i = 0; i < n_clients && i < 1000; i++) {
        snprintf(names[i], sizeof(names[i]), "client-%04d-%0188d", i, 0);
        clients[i] = names[i];
    }
    const char *topic = e2e_topic(&p->e, "incidents.detected");
    for (int i = 0; i < n; i++) {
        Incident__V1__Alert a =
            e2e_alert(tu_unique("storm"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                      INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL);
        a.clients = clients;
        a.n_clients = (size_t)n_clients;
        size_t len = incident__v1__alert__get_packed_size(&a);
        uint8_t *buf = malloc(len);
        incident__v1__alert__pack(&a, buf);
        cr_assert_eq(tu_produce_async(topic, key, buf, len), 0);
        free(buf);
    }
    cr_assert_eq(tu_flush(60000), 0);
}

/* Waits until the incident of @p key counts @p alerts alerts; its id into
 * @p id; the page (caller frees). */
static cJSON *wait_alerts(const e2e_api_t *p, const char *key, int alerts, char *id, size_t size)
{
    find_incident(p, key, NULL, id, size);
    for (int64_t deadline = tu_now_ms() + WAIT_MS; tu_now_ms() < deadline; usleep(500 * 1000)) {
        cJSON *page = show(p, id);
        if ((int)jnum(cJSON_GetObjectItemCaseSensitive(page, "incident"), "alert_count") >= alerts)
            return page;
        cJSON_Delete(page);
    }
    cr_assert_fail("%s never counted %d alerts; log %s", key, alerts, p->e.log);
    return NULL;
}

Test(api, merge_storm_past_the_timeline_bounds_reads_the_topic, .timeout = 600)
{
    e2e_api_t p;
    proc_start(&p, "all", NULL);
    char err[256], id[128], key[128];
    redis_conn_opts_t ro = {.url = tu_redis()};
    store_t *st = store_new(&ro, p.e.prefix, err, sizeof(err));
    cr_assert_not_null(st, "%s", err);

    /* more merges than the timeline keeps records: Redis drops it (holds
     * none) and the page, whole, comes from ormis.audit */
    int n = STORE_TIMELINE_MAX_RECORDS + 20;
    snprintf(key, sizeof(key), "%s", tu_unique("storm"));
    storm(&p, key, n, 0);
    cJSON *page = wait_alerts(&p, key, n, id, sizeof(id));
    int version = page_version(page);
    cr_expect_gt(version, STORE_TIMELINE_MAX_RECORDS);
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(page, "timeline")), version);
    expect_page_is_topic(&p, page, id, "audit");
    cJSON_Delete(page);
    cr_expect_eq(TL_BYTES(st, &p, id), -1);
    cr_expect_eq(TL_LEN(st, &p, id), 0);

    /* fewer records, each fat (1000 clients of 200 bytes in every
     * snapshot): past the bytes the timeline keeps, dropped as well */
    int fat = STORE_TIMELINE_MAX_BYTES / (1000 * 200) + 5;
    snprintf(key, sizeof(key), "%s", tu_unique("fat"));
    storm(&p, key, fat, 1000);
    page = wait_alerts(&p, key, fat, id, sizeof(id));
    cr_expect_lt(page_version(page), STORE_TIMELINE_MAX_RECORDS);
    expect_page_is_topic(&p, page, id, "audit");
    cJSON_Delete(page);
    cr_expect_eq(TL_BYTES(st, &p, id), -1);
    cr_expect_eq(TL_LEN(st, &p, id), 0);
    store_destroy(st);
    e2e_stop(&p.e);
}
