/*
 * test_silence_reminders.c — the reminders of a silence's creator and the
 * tombstones of ended silences, on the real test bed (Kafka + Redis) with
 * the real incidentd (all stages, the notify stage included), incidentctl
 * and a local webhook receiver (tests/notify_receiver.py) as the creator's
 * channel (people.alice.webhook).
 *
 * Two silences by alice, each ending 16 s after its creation, with
 * silences.remind_before = 4s: silence A silences an alert that still fires
 * at its end, silence B one that is resolved before. Checked from the
 * outside: alice gets one reminder before the end of each (the notify
 * stage's, about no incident), one still-firing reminder after the end of
 * A (a delivery planned by the SILENCE_END timer, audited `note` +
 * `notification_planned` + `notified`) and none about B's disturbance;
 * incidents.silences gets the tombstone of both. And a Redis that lost a
 * silenced disturbance gets its SILENCE_END timer back from the rebuild.
 * Every wait is bounded.
 *
 * @locality the Criterion test thread (one test at a time, --jobs 1)
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

#include "e2e.h"
#include "incident/v1/incident.pb-c.h"
#include "incidentd/v1/internal.pb-c.h"
#include "receiver.h"
#include "store.h"
#include "testutil.h"

#define SILENCE_S 16

/* The wall clock (Unix ms): the receiver's, the silences' and the audit's. */
static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
#define REMIND_BEFORE_MS 4000

static e2e_t procs;
static srv_t recv_srv;

static void fini(void)
{
    if (procs.n_pids)
        e2e_stop(&procs);
    srv_stop(&recv_srv);
}

TestSuite(silence_reminders, .fini = fini, .timeout = 240);

/* A silence of @p service by alice ending SILENCE_S from now; its id into
 * @p id, its end is between *@p from and *@p until. */
static void silence_add(const char *service, char *id, size_t size, int64_t *from, int64_t *until)
{
    char dur[16];
    *from = wall_ms() + SILENCE_S * 1000;
    snprintf(dur, sizeof(dur), "%ds", SILENCE_S);
    cr_assert_eq(
        e2e_ctl_line(&procs, id, size,
                     (const char *[]){"silence", "add", "--service", service, "--ends", dur,
                                      "--comment", "reminder test", "--actor", "alice", NULL}),
        0);
    cr_assert(id[0], "silence add prints the id");
    *until = wall_ms() + SILENCE_S * 1000;
}

/* What alice received so far that is about @p what: the before-end
 * reminder of silence @p what ("ends soon", no incident), or a delivery
 * about incident @p what. Counts them; the first's arrival in *@p t. */
static int received(const char *what, int about_incident, double *t)
{
    reqs_t r = receiver_requests(&recv_srv);
    int n = 0;
    for (size_t i = 0; i < r.n; i++) {
        cJSON *doc = cJSON_Parse(r.v[i].body);
        cr_assert_not_null(doc, "not JSON: %s", r.v[i].body);
        const cJSON *kind = cJSON_GetObjectItem(doc, "kind");
        const cJSON *inc = cJSON_GetObjectItem(doc, "incident");
        const cJSON *text = cJSON_GetObjectItem(doc, "text");
        const cJSON *inc_id = inc ? cJSON_GetObjectItem(inc, "id") : NULL;
        int hit = about_incident ? cJSON_IsString(inc_id) && strcmp(inc_id->valuestring, what) == 0
                                 : cJSON_IsNull(inc) && cJSON_IsString(text) &&
                                       strstr(text->valuestring, what) != NULL;
        if (hit) {
            cr_expect_str_eq(kind->valuestring, "silence_reminder");
            if (n++ == 0 && t)
                *t = r.v[i].t;
        }
        cJSON_Delete(doc);
    }
    reqs_free(&r);
    return n;
}

/* Waits up to @p ms for received(what, about_incident) to reach 1. */
static int received_wait(const char *what, int about_incident, double *t, int ms)
{
    int64_t end = tu_now_ms() + ms;
    int n;
    while ((n = received(what, about_incident, t)) == 0 && tu_now_ms() < end)
        usleep(100 * 1000);
    return n;
}

/* A TRIGGER of service @p svc that the silence made a silenced
 * disturbance: a new silence is in force at the detected worker once its
 * follower has read it, so a trigger opening an incident instead is
 * resolved and a new key (into @p key) tried. Its records go to @p t. */
static void trigger_silenced(const char *svc, char *key, size_t size, e2e_trail_t *t)
{
    int64_t end = tu_now_ms() + E2E_WAIT_MS;
    while (tu_now_ms() < end) {
        snprintf(key, size, "%s", tu_unique("silenced"));
        tu_consumer_t *c = e2e_audit_consumer(&procs);
        e2e_publish_service(&procs, key, svc, INCIDENT__V1__ACTION__ACTION_TRIGGER);
        int silenced = 0;
        while (!silenced && !e2e_trail_has(t, "classified") && tu_now_ms() < end)
            silenced = e2e_trail_wait(c, t, key, "silenced", 1000);
        tu_consumer_destroy(c);
        if (silenced)
            return;
        e2e_publish_service(&procs, key, svc, INCIDENT__V1__ACTION__ACTION_RESOLVE);
        e2e_trail_free(t);
        usleep(500 * 1000);
    }
    cr_assert_fail("no trigger of %s was silenced", svc);
}

/* Reads incidents.silences until both ids had a tombstone (or @p ms). */
static int tombstones_wait(const char *a, const char *b, int ms)
{
    const char *topics[] = {e2e_topic(&procs, "incidents.silences"), NULL};
    tu_consumer_t *c = tu_consumer_new(topics);
    int seen_a = 0, seen_b = 0;
    int64_t end = tu_now_ms() + ms;
    while (!(seen_a && seen_b) && tu_now_ms() < end) {
        tu_msg_t *m = tu_consumer_next(c, 500);
        if (!m)
            continue;
        seen_a |= m->len == 0 && strcmp(m->key, a) == 0;
        seen_b |= m->len == 0 && strcmp(m->key, b) == 0;
        tu_msg_free(m);
    }
    tu_consumer_destroy(c);
    return seen_a + seen_b;
}

Test(silence_reminders, before_the_end_still_firing_and_tombstones)
{
    cr_assert_eq(receiver_spawn(&recv_srv, 0, NULL), 0, "the receiver did not start (see %s)",
                 recv_srv.out);
    char hook[128], remind[64];
    snprintf(hook, sizeof(hook), "people.alice.webhook=http://127.0.0.1:%d/ok/alice",
             recv_srv.port);
    snprintf(remind, sizeof(remind), "silences.remind_before=%dms", REMIND_BEFORE_MS);
    e2e_start(&procs, (const char *[]){hook, remind, NULL});

    /* the pipeline runs: a first alert goes all the way */
    tu_consumer_t *warm_audit = e2e_audit_consumer(&procs);
    char warm[128];
    snprintf(warm, sizeof(warm), "%s", tu_unique("warm"));
    e2e_publish_service(&procs, warm, "warm-up", INCIDENT__V1__ACTION__ACTION_TRIGGER);
    e2e_trail_t w = {0};
    cr_assert(e2e_trail_wait(warm_audit, &w, warm, "scoped", E2E_WAIT_MS), "pipeline up");

    /* copies: tu_unique() reuses its buffers */
    char svc_a[128], svc_b[128], key_a[128], key_b[128];
    snprintf(svc_a, sizeof(svc_a), "%s", tu_unique("svc-a"));
    snprintf(svc_b, sizeof(svc_b), "%s", tu_unique("svc-b"));
    char id_a[256], id_b[256];
    int64_t from_a, ends_a, from_b, ends_b; /* each silence ends in [from, ends] */
    silence_add(svc_a, id_a, sizeof(id_a), &from_a, &ends_a);
    silence_add(svc_b, id_b, sizeof(id_b), &from_b, &ends_b);
    e2e_trail_t ta = {0}, tb = {0};
    trigger_silenced(svc_a, key_a, sizeof(key_a), &ta);
    trigger_silenced(svc_b, key_b, sizeof(key_b), &tb);
    tu_consumer_t *audit_a = e2e_audit_consumer(&procs), *audit_b = e2e_audit_consumer(&procs);
    e2e_trail_free(&ta); /* read again from the start by audit_a, audit_b */
    e2e_trail_free(&tb);
    /* B's alert stops firing before the end; a repeat of A arms nothing more */
    e2e_publish_service(&procs, key_b, svc_b, INCIDENT__V1__ACTION__ACTION_RESOLVE);
    e2e_publish_service(&procs, key_a, svc_a, INCIDENT__V1__ACTION__ACTION_TRIGGER);
    cr_assert(e2e_trail_wait(audit_b, &tb, key_b, "resolved", E2E_WAIT_MS), "B resolved");
    cr_assert(e2e_trail_wait(audit_a, &ta, key_a, "merged", E2E_WAIT_MS), "A merged");
    cr_assert(wall_ms() < from_a - REMIND_BEFORE_MS, "the test outran the reminder window");
    const char *inc_a = ta.recs[0]->incident_id, *inc_b = tb.recs[0]->incident_id;

    /* before the end: one reminder of each silence, in its window */
    double t_a = 0, t_b = 0;
    cr_assert_eq(received_wait(id_a, 0, &t_a, 3 * SILENCE_S * 1000), 1, "A's reminder");
    cr_assert_eq(received_wait(id_b, 0, &t_b, SILENCE_S * 1000), 1, "B's reminder");
    int64_t ms_a = (int64_t)(t_a * 1000), ms_b = (int64_t)(t_b * 1000);
    cr_expect(ms_a >= from_a - REMIND_BEFORE_MS - 200 && ms_a < ends_a,
              "A's reminder at %lld, the silence ends in [%lld, %lld]", (long long)ms_a,
              (long long)from_a, (long long)ends_a);
    cr_expect(ms_b >= from_b - REMIND_BEFORE_MS - 200 && ms_b < ends_b,
              "B's reminder at %lld, the silence ends in [%lld, %lld]", (long long)ms_b,
              (long long)from_b, (long long)ends_b);

    /* after the end: A's alert still fires, alice is reminded of it */
    cr_assert(e2e_trail_wait(audit_a, &ta, key_a, "notified", E2E_WAIT_MS),
              "A's reminder notified");
    const Incident__V1__AuditRecord *note = e2e_trail_last(&ta, "note");
    cr_assert_not_null(note, "the reminder is audited");
    cr_expect(strstr(note->detail, id_a) && strstr(note->detail, "alice is reminded"), "%s",
              note->detail);
    cr_expect(note->at_ms >= from_a, "reminded at %lld, before the end (%lld)",
              (long long)note->at_ms, (long long)from_a);
    char actions[1024] = "";
    for (size_t i = 0; i < ta.n; i++)
        snprintf(actions + strlen(actions), sizeof(actions) - strlen(actions), " %s",
                 ta.recs[i]->action);
    cr_expect_eq(e2e_trail_count(&ta, "notification_planned"), 1, "A's trail:%s", actions);
    double t_fire = 0;
    cr_assert_eq(received_wait(inc_a, 1, &t_fire, E2E_WAIT_MS), 1, "the still-firing reminder");
    cr_expect_not(e2e_trail_has(&ta, "escalated"), "still a silenced disturbance");

    /* the ended silences leave the compacted topic */
    cr_assert_eq(tombstones_wait(id_a, id_b, E2E_WAIT_MS), 2, "both tombstones");

    /* once each, and nothing about the disturbance resolved before the end */
    sleep(2);
    cr_expect_eq(received(id_a, 0, NULL), 1, "A reminded before its end once");
    cr_expect_eq(received(id_b, 0, NULL), 1, "B reminded before its end once");
    cr_expect_eq(received(inc_a, 1, NULL), 1, "A's still-firing reminder once");
    cr_expect_eq(received(inc_b, 1, NULL), 0, "no still-firing reminder for B");
    cr_expect_not(e2e_trail_has(&tb, "note"));
    cr_expect_not(e2e_trail_has(&tb, "notification_planned"));
    e2e_trail_verify(&ta);

    e2e_trail_free(&w);
    e2e_trail_free(&ta);
    e2e_trail_free(&tb);
    tu_consumer_destroy(warm_audit);
    tu_consumer_destroy(audit_a);
    tu_consumer_destroy(audit_b);
}

/* A Redis that lost a silenced disturbance: the rebuild from ormis.audit
 * arms its SILENCE_END timer again, at the silence's end, for its creator. */
Test(silence_reminders, rebuild_arms_the_end_timer_again)
{
    e2e_start(&procs, NULL);
    char svc[128], key[128], id[256], member[300];
    snprintf(svc, sizeof(svc), "%s", tu_unique("svc-rb"));
    int64_t from, until;
    silence_add(svc, id, sizeof(id), &from, &until);
    e2e_trail_t t = {0};
    trigger_silenced(svc, key, sizeof(key), &t);
    const char *inc = e2e_trail_last(&t, "silenced")->incident_id;
    snprintf(member, sizeof(member), "silence_end:0|%s", inc);

    char err[256];
    redis_conn_opts_t ro = {.url = tu_redis()};
    store_t *st = store_new(&ro, procs.prefix, err, sizeof(err));
    cr_assert_not_null(st, "%s", err);
    redisReply *r = store_command(st, "ZSCORE %stimers %s", procs.prefix, member);
    cr_assert(r && r->type == REDIS_REPLY_STRING, "the timer is armed");
    int64_t due = strtoll(r->str, NULL, 10);
    cr_expect(due >= from && due <= until, "due at %lld, the end in [%lld, %lld]", (long long)due,
              (long long)from, (long long)until);
    freeReplyObject(r);
    /* lost: the incident and its timer */
    r = store_command(st, "DEL %sinc:{%s}", procs.prefix, inc);
    freeReplyObject(r);
    r = store_command(st, "ZREM %stimers %s", procs.prefix, member);
    cr_assert_eq(r->integer, 1);
    freeReplyObject(r);

    cr_assert_eq(e2e_ctl_line(&procs, NULL, 0, (const char *[]){"rebuild", "--yes", NULL}), 0);
    r = store_command(st, "ZSCORE %stimers %s", procs.prefix, member);
    cr_assert(r && r->type == REDIS_REPLY_STRING, "the rebuild armed the timer again");
    cr_expect_eq(strtoll(r->str, NULL, 10), due);
    freeReplyObject(r);
    r = store_command(st, "HGET %sinc:{%s} state", procs.prefix, inc);
    cr_assert(r && r->type == REDIS_REPLY_STRING, "the rebuild wrote the incident");
    Incidentd__V1__StoredIncident *s =
        incidentd__v1__stored_incident__unpack(NULL, r->len, (const uint8_t *)r->str);
    cr_assert_not_null(s);
    cr_expect_eq(s->silence_ends_at_ms, due);
    cr_expect_str_eq(s->silence_created_by, "alice");
    incidentd__v1__stored_incident__free_unpacked(s, NULL);
    freeReplyObject(r);
    store_destroy(st);
    e2e_trail_free(&t);
}
