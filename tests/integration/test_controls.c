/*
 * test_controls.c — the operators' controls through the API on the real
 * test bed (Kafka + Redis) with the real incidentd: silences (POST, GET,
 * DELETE /v1/silences, shown with the maintenance windows) and on-call
 * rotations (GET /v1/rotations, overrides through POST
 * /v1/rotations/{name}/overrides and DELETE /v1/overrides/{id}).
 *
 * Covers: a silence with no end, over the maximum, without comment, without
 * matcher, naming another creator or carrying a NUL is refused 400 naming
 * the field; a viewer may not (403); a silence created through the API
 * holds across a restart of the detected worker (a matched TRIGGER is a
 * silenced disturbance whose incident names the silence), DELETE expires it
 * (404 a second time) and the next trigger opens an incident; a rotation
 * hands the same incident's re-escalation to the next member after the
 * period boundary; an override puts another person on call at once and its
 * removal gives the rotation back. The caps (silences.max_active = 2,
 * overrides.max_active = 1): one more is refused 409 naming the setting
 * (incidentctl silence add: exit 1, in words), a replacement is not one
 * more; a silence forged onto the topic past the cap waits in the tables
 * (logged): the detected worker does not silence by it until one in force
 * is expired, then it does; expiring one, or one ending, makes room again.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"
#include "incident/v1/incident.pb-c.h"
#include "testutil.h"

#define TM_TOKEN "tm-token-0123456789abcdef"
#define CSM_TOKEN "csm-token-0123456789abcdef"
#define VIC_TOKEN "vic-token-0123456789abcdef"

#define PEOPLE                                                                               \
    "people.tina.token=" TM_TOKEN, "people.tina.role=technical_manager",                     \
        "people.carl.token=" CSM_TOKEN, "people.carl.role=customer_service_manager",         \
        "people.vic.token=" VIC_TOKEN, "people.vic.role=viewer", "people.alice.role=viewer", \
        "people.bob.role=viewer", "people.carol.role=viewer"

static e2e_api_t api;
static e2e_t det; /* the detected worker on its own, to restart it alone */

static void stop_all(void)
{
    if (det.n_pids)
        e2e_stop(&det);
    if (api.e.n_pids)
        e2e_stop(&api.e);
}

static void trigger(const e2e_t *p, const char *key, const char *service, int global)
{
    Incident__V1__Alert a = e2e_alert(tu_unique("a"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                      INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL);
    char *sites[] = {"paris", "lyon"};
    a.service = (char *)service;
    a.sites = sites;
    a.n_sites = global ? 2 : 1;
    e2e_publish(p, &a);
}

/* POSTs @p body to /v1/silences as @p token; the status and the "field"
 * of a 400 in @p field. */
static int post_silence(const char *token, const char *body, char *field, size_t field_size)
{
    cJSON *j = NULL;
    int st = e2e_api_call(&api, "POST", "/v1/silences", token, body, &j);
    snprintf(field, field_size, "%s", e2e_jstr(j, st == 201 ? "id" : "field"));
    cJSON_Delete(j);
    return st;
}

/* The number of silences GET /v1/silences lists with id @p id, and the
 * maintenance window "nightly" found in *@p window. */
static int silences_listed(const char *id, int *window)
{
    cJSON *j = NULL;
    cr_assert_eq(e2e_api_call(&api, "GET", "/v1/silences", VIC_TOKEN, NULL, &j), 200);
    int n = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(j, "silences")) n +=
        strcmp(e2e_jstr(s, "id"), id) == 0;
    *window = 0;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(j, "maintenance"))
    {
        if (strcmp(e2e_jstr(s, "name"), "nightly") == 0 &&
            strcmp(e2e_jstr(s, "every"), "daily") == 0 && strcmp(e2e_jstr(s, "at"), "02:00") == 0 &&
            cJSON_GetObjectItemCaseSensitive(s, "active"))
            *window = 1;
    }
    cJSON_Delete(j);
    return n;
}

Test(controls, silence_through_the_api_across_a_restart, .fini = stop_all)
{
    const char *svc = tu_unique("svc");
    char svc_set[200];
    snprintf(svc_set, sizeof(svc_set), "maintenance.nightly.matchers={\"service\": \"%s-batch\"}",
             svc);
    const char *sets[] = {PEOPLE,
                          svc_set,
                          "maintenance.nightly.every=daily",
                          "maintenance.nightly.at=02:00",
                          "maintenance.nightly.for=1h",
                          "maintenance.nightly.tz=+01:00",
                          NULL};
    e2e_api_start(&api, "classified,scoped,escalated,resolved,commands,api", sets);
    memset(&det, 0, sizeof(det));
    snprintf(det.prefix, sizeof(det.prefix), "%s", api.e.prefix);
    snprintf(det.log, sizeof(det.log), "/tmp/%sdetected.log", det.prefix);
    e2e_spawn(&det, "detected", sets);

    int64_t now = tu_wall_ms();
    char body[1024], field[256];
    /* refused, naming the field */
    snprintf(body, sizeof(body), "{\"matchers\":{\"service\":\"%s\"},\"comment\":\"x\"}", svc);
    cr_expect_eq(post_silence(CSM_TOKEN, body, field, sizeof(field)), 400);
    cr_expect_str_eq(field, "ends_at_ms");
    snprintf(body, sizeof(body),
             "{\"matchers\":{\"service\":\"%s\"},\"comment\":\"x\",\"ends_at_ms\":%lld}", svc,
             (long long)(now + 8LL * 86400000));
    cr_expect_eq(post_silence(CSM_TOKEN, body, field, sizeof(field)), 400);
    cr_expect_str_eq(field, "ends_at_ms");
    snprintf(body, sizeof(body), "{\"matchers\":{\"service\":\"%s\"},\"ends_at_ms\":%lld}", svc,
             (long long)(now + 60000));
    cr_expect_eq(post_silence(CSM_TOKEN, body, field, sizeof(field)), 400);
    cr_expect_str_eq(field, "comment");
    snprintf(body, sizeof(body), "{\"matchers\":{},\"comment\":\"x\",\"ends_at_ms\":%lld}",
             (long long)(now + 60000));
    cr_expect_eq(post_silence(CSM_TOKEN, body, field, sizeof(field)), 400);
    cr_expect_str_eq(field, "matchers");
    snprintf(body, sizeof(body),
             "{\"matchers\":{\"service\":\"%s\"},\"comment\":\"a\\u0000b\",\"ends_at_ms\":%lld}",
             svc, (long long)(now + 60000));
    cr_expect_eq(post_silence(CSM_TOKEN, body, field, sizeof(field)), 400);
    cr_expect_str_eq(field, "comment");
    snprintf(body, sizeof(body),
             "{\"matchers\":{\"service\":\"%s\"},\"comment\":\"x\",\"ends_at_ms\":%lld,"
             "\"created_by\":\"tina\"}",
             svc, (long long)(now + 60000));
    cr_expect_eq(post_silence(CSM_TOKEN, body, field, sizeof(field)), 400);
    cr_expect_str_eq(field, "created_by");
    snprintf(body, sizeof(body),
             "{\"matchers\":{\"service\":\"%s\"},\"comment\":\"db upgrade\",\"ends_at_ms\":%lld}",
             svc, (long long)(now + 10 * 60000));
    cr_expect_eq(post_silence(VIC_TOKEN, body, field, sizeof(field)), 403);

    /* created by the CSM, listed with the maintenance window */
    char id[256];
    cr_assert_eq(post_silence(CSM_TOKEN, body, id, sizeof(id)), 201);
    int window = 0;
    cr_expect_eq(silences_listed(id, &window), 1);
    cr_expect(window, "the maintenance window is shown with its schedule and state");

    /* the detected worker restarted alone: it loads the table before consuming */
    e2e_stop(&det);
    e2e_spawn(&det, "detected", sets);
    tu_consumer_t *audit = e2e_audit_consumer(&api.e);
    const char *key = tu_unique("silenced");
    trigger(&api.e, key, svc, 1);
    e2e_trail_t t = {0};
    cr_assert(e2e_trail_wait(audit, &t, key, "silenced", E2E_WAIT_MS), "trigger silenced");
    const Incident__V1__AuditRecord *sil = e2e_trail_last(&t, "silenced");
    cr_expect_str_eq(sil->snapshot->silenced_by, id);
    cJSON *j = NULL;
    char path[512];
    snprintf(path, sizeof(path), "/v1/incidents/%s", sil->incident_id);
    cr_assert_eq(e2e_api_call(&api, "GET", path, VIC_TOKEN, NULL, &j), 200);
    cr_expect_str_eq(e2e_jstr(cJSON_GetObjectItemCaseSensitive(j, "incident"), "silenced_by"), id);
    cJSON_Delete(j);

    /* expired through the API: gone from the list, 404 a second time */
    snprintf(path, sizeof(path), "/v1/silences/%s", id);
    cr_expect_eq(e2e_api_call(&api, "DELETE", path, VIC_TOKEN, NULL, NULL), 403);
    cr_assert_eq(e2e_api_call(&api, "DELETE", path, TM_TOKEN, NULL, NULL), 200);
    cr_expect_eq(e2e_api_call(&api, "DELETE", path, TM_TOKEN, NULL, NULL), 404);
    cr_expect_eq(silences_listed(id, &window), 0);

    /* the next trigger of the service opens an incident, once the detected
     * worker has followed the tombstone (its next turn) */
    usleep(1000 * 1000);
    const char *key2 = tu_unique("after");
    trigger(&api.e, key2, svc, 1);
    e2e_trail_t n = {0};
    cr_assert(e2e_trail_wait(audit, &n, key2, "scoped", E2E_WAIT_MS), "an incident opens");
    cr_expect_not(e2e_trail_has(&n, "silenced"));

    /* a silence created while the worker runs is in force from its next turn */
    const char *svc2 = tu_unique("svc2");
    snprintf(body, sizeof(body),
             "{\"matchers\":{\"service\":\"%s\"},\"comment\":\"live\",\"ends_at_ms\":%lld}", svc2,
             (long long)(tu_wall_ms() + 10 * 60000));
    char id2[256];
    cr_assert_eq(post_silence(TM_TOKEN, body, id2, sizeof(id2)), 201);
    usleep(1000 * 1000);
    const char *key3 = tu_unique("live");
    trigger(&api.e, key3, svc2, 1);
    e2e_trail_t l = {0};
    cr_assert(e2e_trail_wait(audit, &l, key3, "silenced", E2E_WAIT_MS), "silenced at once");
    cr_expect_str_eq(e2e_trail_last(&l, "silenced")->snapshot->silenced_by, id2);
    e2e_trail_free(&l);
    e2e_trail_verify(&t);
    e2e_trail_verify(&n);
    e2e_trail_free(&t);
    e2e_trail_free(&n);
    tu_consumer_destroy(audit);
    stop_all();
}

/* "2026-11-30T20:15:07Z" of @p ms (whole seconds). */
static void iso(int64_t ms, char *out, size_t size)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* GET /v1/rotations: rotation "tm"'s on_call and on_call_by. */
static void on_call(char *who, size_t who_size, char *by, size_t by_size)
{
    cJSON *j = NULL;
    cr_assert_eq(e2e_api_call(&api, "GET", "/v1/rotations", VIC_TOKEN, NULL, &j), 200);
    const cJSON *r;
    who[0] = by[0] = '\0';
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(j, "rotations"))
    {
        if (strcmp(e2e_jstr(r, "name"), "tm") == 0) {
            snprintf(who, who_size, "%s", e2e_jstr(r, "on_call"));
            snprintf(by, by_size, "%s", e2e_jstr(r, "on_call_by"));
        }
    }
    cJSON_Delete(j);
}

Test(controls, rotation_hands_reescalation_over_and_overrides, .fini = stop_all)
{
    /* alice is on call for 30 s from a whole second, then bob; the ack
     * timer re-escalates 30 s after an assignment within alice's period:
     * always in bob's */
    int64_t start = tu_wall_ms() / 1000 * 1000;
    char when[40], start_set[96];
    iso(start, when, sizeof(when));
    snprintf(start_set, sizeof(start_set), "rotation.tm.start=%s", when);
    const char *sets[] = {
        PEOPLE,    "rotation.tm.members=alice,bob",        "rotation.tm.every=30s",
        start_set, "roster.technical_manager.default=@tm", "escalation.ack_timeout=30s",
        NULL};
    e2e_api_start(&api, "all", sets);
    tu_consumer_t *audit = e2e_audit_consumer(&api.e);
    const char *key = tu_unique("rot");
    trigger(&api.e, key, "db", 1);
    e2e_trail_t t = {0};
    cr_assert(e2e_trail_wait(audit, &t, key, "assigned", E2E_WAIT_MS), "assigned");
    const Incident__V1__AuditRecord *as = e2e_trail_last(&t, "assigned");
    cr_assert(tu_wall_ms() < start + 30000, "the test outran alice's period: start again");
    cr_expect_str_eq(as->snapshot->owner, "alice");
    cr_expect(strstr(as->detail, "rotation tm") != NULL, "audits the rotation: %s", as->detail);
    cr_assert(e2e_trail_wait(audit, &t, key, "escalated", E2E_WAIT_MS), "escalated");
    int esc = e2e_trail_count(&t, "escalated");
    int64_t deadline = tu_now_ms() + E2E_WAIT_MS;
    while (e2e_trail_count(&t, "escalated") == esc && tu_now_ms() < deadline)
        e2e_trail_wait(audit, &t, key, "escalated", 2000);
    const Incident__V1__AuditRecord *re = e2e_trail_last(&t, "escalated");
    cr_assert_gt(e2e_trail_count(&t, "escalated"), esc, "re-escalated by the ack timer");
    cr_expect_str_eq(re->snapshot->owner, "bob", "after the boundary: %s", re->detail);
    cr_expect(strstr(re->detail, "alice -> bob") && strstr(re->detail, "rotation tm"),
              "audits the hand-over: %s", re->detail);
    e2e_trail_verify(&t);

    /* an override: carol is on call now, for an hour */
    char who[64], by[64], body[512];
    int64_t now = tu_wall_ms();
    snprintf(body, sizeof(body),
             "{\"person\":\"carol\",\"from_ms\":%lld,\"until_ms\":%lld,\"comment\":\"swap\"}",
             (long long)now, (long long)(now + 3600000));
    cr_expect_eq(e2e_api_call(&api, "POST", "/v1/rotations/nope/overrides", TM_TOKEN, body, NULL),
                 404);
    cr_expect_eq(e2e_api_call(&api, "POST", "/v1/rotations/tm/overrides", VIC_TOKEN, body, NULL),
                 403);
    char bad[256];
    snprintf(bad, sizeof(bad), "{\"person\":\"mallory\",\"from_ms\":%lld,\"until_ms\":%lld}",
             (long long)now, (long long)(now + 3600000));
    cJSON *j = NULL;
    cr_expect_eq(e2e_api_call(&api, "POST", "/v1/rotations/tm/overrides", TM_TOKEN, bad, &j), 400);
    cr_expect_str_eq(e2e_jstr(j, "field"), "person");
    cJSON_Delete(j);
    cr_assert_eq(e2e_api_call(&api, "POST", "/v1/rotations/tm/overrides", CSM_TOKEN, body, &j),
                 201);
    char oid[256];
    snprintf(oid, sizeof(oid), "%s", e2e_jstr(j, "id"));
    cr_expect_str_eq(e2e_jstr(j, "created_by"), "carl");
    cJSON_Delete(j);
    on_call(who, sizeof(who), by, sizeof(by));
    cr_expect_str_eq(who, "carol");
    cr_expect_str_eq(by, "override");

    /* the classified worker follows the table: a new incident is carol's */
    usleep(1000 * 1000);
    const char *key2 = tu_unique("rot2");
    trigger(&api.e, key2, "db", 1);
    e2e_trail_t t2 = {0};
    cr_assert(e2e_trail_wait(audit, &t2, key2, "assigned", E2E_WAIT_MS), "assigned");
    cr_expect_str_eq(e2e_trail_last(&t2, "assigned")->snapshot->owner, "carol");

    /* removed: the schedule again */
    char path[400];
    snprintf(path, sizeof(path), "/v1/overrides/%s", oid);
    cr_assert_eq(e2e_api_call(&api, "DELETE", path, TM_TOKEN, NULL, NULL), 200);
    on_call(who, sizeof(who), by, sizeof(by));
    cr_expect_str_neq(who, "carol");
    cr_expect_str_eq(by, "scheduled");
    e2e_trail_free(&t);
    e2e_trail_free(&t2);
    tu_consumer_destroy(audit);
    stop_all();
}

/* ---- the caps: silences.max_active, overrides.max_active ---- */

/* POSTs @p body to @p path as the TM: the status, and the id (201) or the
 * message (else) in @p out. */
static int post_tm(const char *path, const char *body, char *out, size_t out_size)
{
    cJSON *j = NULL;
    int st = e2e_api_call(&api, "POST", path, TM_TOKEN, body, &j);
    snprintf(out, out_size, "%s", e2e_jstr(j, st == 201 ? "id" : "message"));
    cJSON_Delete(j);
    return st;
}

/* A silence body of service @p svc (of id @p id, unless NULL) ending
 * @p for_ms from now, in @p buf. */
static const char *silence_body(char *buf, size_t size, const char *id, const char *svc,
                                int64_t for_ms)
{
    char idf[300] = "";
    if (id)
        snprintf(idf, sizeof(idf), "\"id\":\"%s\",", id);
    snprintf(buf, size,
             "{%s\"matchers\":{\"service\":\"%s\"},\"comment\":\"cap\",\"ends_at_ms\":%lld}", idf,
             svc, (long long)(tu_wall_ms() + for_ms));
    return buf;
}

/* `incidentctl --config F silence add` of service @p svc and id @p id, F
 * setting silences.max_active = @p max: its exit status, its first line
 * of output in @p out. */
static int ctl_silence_add(const char *svc, const char *id, int max, char *out, size_t out_size)
{
    char conf[300];
    snprintf(conf, sizeof(conf), "/tmp/%sctl-cap.conf", api.e.prefix);
    FILE *f = fopen(conf, "w");
    cr_assert_not_null(f);
    fprintf(f, "silences.max_active = %d\n", max);
    fclose(f);
    int rc = e2e_ctl_line(&api.e, out, out_size,
                          (const char *[]){"--config", conf, "silence", "add", "--service", svc,
                                           "--ends", "10m", "--comment", "cap", "--actor", "tina",
                                           "--id", id, NULL});
    unlink(conf);
    return rc;
}

/* Produces a silence of service @p svc and id @p id straight to the topic,
 * as nobody who checks the cap would. */
static void forge_silence(const char *id, const char *svc)
{
    Incident__V1__SilenceMatchers m = INCIDENT__V1__SILENCE_MATCHERS__INIT;
    m.service = (char *)svc;
    Incident__V1__Silence s = INCIDENT__V1__SILENCE__INIT;
    s.id = (char *)id;
    s.matchers = &m;
    s.starts_at_ms = tu_wall_ms();
    s.ends_at_ms = s.starts_at_ms + 600000;
    s.comment = "forged";
    s.created_by = "mallory";
    uint8_t buf[512];
    size_t len = incident__v1__silence__pack(&s, buf);
    cr_assert_eq(tu_produce(e2e_topic(&api.e, "incidents.silences"), id, buf, len), 0);
}

/* Whether the file @p path holds @p text. */
static int file_has(const char *path, const char *text)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char *all = NULL;
    size_t cap = 0;
    int found = getdelim(&all, &cap, '\0', f) > 0 && strstr(all, text) != NULL;
    free(all);
    fclose(f);
    return found;
}

Test(controls, caps_refuse_past_max_active_and_expiring_makes_room, .fini = stop_all)
{
    char when[40], start_set[96];
    iso(tu_wall_ms() - 60000, when, sizeof(when));
    snprintf(start_set, sizeof(start_set), "rotation.tm.start=%s", when);
    const char *sets[] = {PEOPLE,
                          "silences.max_active=2",
                          "overrides.max_active=1",
                          "rotation.tm.members=alice,bob",
                          "rotation.tm.every=1d",
                          start_set,
                          NULL};
    e2e_api_start(&api, "all", sets);
    tu_consumer_t *audit = e2e_audit_consumer(&api.e);
    char sa[128], sb[128], sf[128], body[1024], a[256], b[256], out[512];
    const char *svc = tu_unique("cap");
    snprintf(sa, sizeof(sa), "%.100s-a", svc);
    snprintf(sb, sizeof(sb), "%.100s-b", svc);
    snprintf(sf, sizeof(sf), "%.100s-f", svc);

    /* two in force: the cap; a third is refused, naming the setting */
    cr_assert_eq(
        post_tm("/v1/silences", silence_body(body, sizeof(body), NULL, sa, 600000), a, sizeof(a)),
        201);
    cr_assert_eq(
        post_tm("/v1/silences", silence_body(body, sizeof(body), NULL, sb, 600000), b, sizeof(b)),
        201);
    cr_expect_eq(post_tm("/v1/silences", silence_body(body, sizeof(body), NULL, sf, 600000), out,
                         sizeof(out)),
                 409);
    cr_expect(strstr(out, "silences.max_active") && strstr(out, "2 silences in force"), "%s", out);
    /* a replacement is no new one */
    cr_expect_eq(
        post_tm("/v1/silences", silence_body(body, sizeof(body), a, sa, 900000), out, sizeof(out)),
        201, "%s", out);
    /* incidentctl refuses as well, in words */
    cr_expect_eq(ctl_silence_add(sf, tu_unique("ctl"), 2, out, sizeof(out)), 1);
    cr_expect(strstr(out, "silence refused") && strstr(out, "silences.max_active"), "%s", out);

    /* one forged straight onto the topic past the cap waits in every
     * table (logged): not listed, silences nothing; the first two hold */
    const char *forged = tu_unique("forged");
    forge_silence(forged, sf);
    usleep(1500 * 1000);
    int window;
    cr_expect_eq(silences_listed(forged, &window), 0, "not in force in the API's table");
    cr_expect_eq(silences_listed(a, &window), 1);
    cr_expect(file_has(api.e.log, "waits: 2 silences in force already"), "log %s", api.e.log);
    const char *kf = tu_unique("kf"), *ka = tu_unique("ka");
    e2e_trail_t tf = {0}, ta = {0}, tw = {0};
    trigger(&api.e, kf, sf, 1);
    cr_assert(e2e_trail_wait(audit, &tf, kf, "scoped", E2E_WAIT_MS), "not silenced: an incident");
    cr_expect_not(e2e_trail_has(&tf, "silenced"));
    trigger(&api.e, ka, sa, 1);
    cr_assert(e2e_trail_wait(audit, &ta, ka, "silenced", E2E_WAIT_MS), "silenced by a");
    cr_expect_str_eq(e2e_trail_last(&ta, "silenced")->snapshot->silenced_by, a);

    /* expiring one makes room: the waiting one comes into force, in the
     * API and in the detected worker; still two: refused */
    char path[400];
    snprintf(path, sizeof(path), "/v1/silences/%s", b);
    cr_assert_eq(e2e_api_call(&api, "DELETE", path, TM_TOKEN, NULL, NULL), 200);
    cr_expect_eq(silences_listed(forged, &window), 1, "in force once there is room");
    usleep(1000 * 1000);
    const char *kw = tu_unique("kw");
    trigger(&api.e, kw, sf, 1);
    cr_assert(e2e_trail_wait(audit, &tw, kw, "silenced", E2E_WAIT_MS), "silenced by the forged");
    cr_expect_str_eq(e2e_trail_last(&tw, "silenced")->snapshot->silenced_by, forged);
    cr_expect_eq(ctl_silence_add(sf, tu_unique("ctl"), 2, out, sizeof(out)), 1, "%s", out);

    /* expiring the surplus makes room: incidentctl's add goes through */
    snprintf(path, sizeof(path), "/v1/silences/%s", forged);
    cr_assert_eq(e2e_api_call(&api, "DELETE", path, TM_TOKEN, NULL, NULL), 200);
    const char *c = tu_unique("ctl");
    cr_expect_eq(ctl_silence_add(sf, c, 2, out, sizeof(out)), 0, "%s", out);
    /* an ended silence does not count: c ends in 2 s, then one more fits */
    cr_assert_eq(
        post_tm("/v1/silences", silence_body(body, sizeof(body), c, sf, 2000), out, sizeof(out)),
        201, "%s", out);
    cr_expect_eq(post_tm("/v1/silences", silence_body(body, sizeof(body), NULL, sb, 600000), out,
                         sizeof(out)),
                 409);
    usleep(2500 * 1000);
    cr_expect_eq(post_tm("/v1/silences", silence_body(body, sizeof(body), NULL, sb, 600000), out,
                         sizeof(out)),
                 201, "%s", out);

    /* overrides: one in force at most */
    int64_t now = tu_wall_ms();
    char ov[256], oid[256];
    snprintf(ov, sizeof(ov), "{\"person\":\"carol\",\"from_ms\":%lld,\"until_ms\":%lld}",
             (long long)now, (long long)(now + 3600000));
    cr_assert_eq(post_tm("/v1/rotations/tm/overrides", ov, oid, sizeof(oid)), 201);
    snprintf(ov, sizeof(ov), "{\"person\":\"bob\",\"from_ms\":%lld,\"until_ms\":%lld}",
             (long long)now, (long long)(now + 3600000));
    cr_expect_eq(post_tm("/v1/rotations/tm/overrides", ov, out, sizeof(out)), 409);
    cr_expect(strstr(out, "overrides.max_active"), "%s", out);
    snprintf(path, sizeof(path), "/v1/overrides/%s", oid);
    cr_assert_eq(e2e_api_call(&api, "DELETE", path, TM_TOKEN, NULL, NULL), 200);
    cr_expect_eq(post_tm("/v1/rotations/tm/overrides", ov, out, sizeof(out)), 201, "%s", out);

    e2e_trail_verify(&tf);
    e2e_trail_verify(&ta);
    e2e_trail_verify(&tw);
    e2e_trail_free(&tf);
    e2e_trail_free(&ta);
    e2e_trail_free(&tw);
    tu_consumer_destroy(audit);
    stop_all();
}
