/*
 * test_hostile.c — incidentd against hostile input on the test bed's real
 * Kafka and Redis: fat incidents (unbounded unions of clients), records
 * larger than the broker takes, forged commands on the internal timer
 * topic, forged state headers, fresh workers replaying, a merge racing the
 * classification. The answer is always a bounded incident or a dead letter
 * with its reason; unrelated incidents keep moving.
 */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "e2e.h"
#include "http_client.h"
#include "incidentd/v1/internal.pb-c.h"
#include "prom.h"

#define N_FAT 8
#define N_CLIENTS 1000

/* An alert naming N_CLIENTS distinct clients of ~200 bytes ("<tag>-<i>-xxx…"). */
static Incident__V1__Alert fat_alert(const char *id, const char *key, int tag, char ***names)
{
    Incident__V1__Alert a = e2e_alert(id, key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                      INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    char **v = calloc(N_CLIENTS, sizeof(*v));
    char pad[201];
    memset(pad, 'x', 200);
    pad[200] = '\0';
    for (int i = 0; i < N_CLIENTS; i++) {
        v[i] = malloc(256);
        snprintf(v[i], 256, "%d-%d-%.*s", tag, i, 190, pad);
    }
    a.clients = v;
    a.n_clients = N_CLIENTS;
    *names = v;
    return a;
}

static void names_free(char **v)
{
    for (int i = 0; i < N_CLIENTS; i++)
        free(v[i]);
    free(v);
}

/* Dead letters of @p p read within @p ms, up to @p max; their x-error in errs. */
static int dlq_read(const e2e_t *p, int max, int ms, char errs[][512], char stages[][64])
{
    const char *topics[] = {e2e_topic(p, "incidents.dlq"), NULL};
    tu_consumer_t *c = tu_consumer_new(topics);
    int n = 0;
    int64_t deadline = tu_now_ms() + ms;
    while (n < max && tu_now_ms() < deadline) {
        tu_msg_t *m = tu_consumer_next(c, 500);
        if (!m)
            continue;
        snprintf(errs[n], 512, "%s", m->x_error);
        snprintf(stages[n], 64, "%s", m->x_stage);
        n++;
        tu_msg_free(m);
    }
    tu_consumer_destroy(c);
    return n;
}

/* Publishes a good MAJOR alert of all sites on a fresh key and asserts it is
 * escalated: no stage is wedged. */
static void assert_moves_on(const e2e_t *p, tu_consumer_t *audit)
{
    const char *key = tu_unique("unrelated");
    Incident__V1__Alert g = e2e_alert(tu_unique("g"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                      INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    char *sites[] = {"*"};
    g.sites = sites;
    g.n_sites = 1;
    e2e_publish(p, &g);
    e2e_trail_t t = {0};
    cr_assert(e2e_trail_wait(audit, &t, key, "escalated", E2E_WAIT_MS),
              "an unrelated incident is escalated behind the hostile input (log %s)", p->log);
    e2e_trail_free(&t);
}

Test(hostile, fat_incident_stays_bounded_and_the_stage_moves_on, .timeout = 300)
{
    e2e_t p;
    e2e_start(&p, NULL);
    tu_consumer_t *audit = e2e_audit_consumer(&p);
    char key[128]; /* tu_unique() rotates a few buffers: keep our own */
    snprintf(key, sizeof(key), "%s", tu_unique("fat"));
    for (int k = 0; k < N_FAT; k++) {
        char **names;
        Incident__V1__Alert a = fat_alert(tu_unique("fat"), key, k, &names);
        e2e_publish(&p, &a);
        names_free(names);
    }
    e2e_trail_t t = {0};
    int merged = 0;
    int64_t deadline = tu_now_ms() + 2 * E2E_WAIT_MS;
    while (merged < N_FAT - 1 && tu_now_ms() < deadline) {
        size_t before = t.n;
        e2e_trail_wait(audit, &t, key, "merged", 2000);
        for (size_t i = before; i < t.n; i++)
            merged += strcmp(t.recs[i]->action, "merged") == 0;
    }
    cr_assert_eq(merged, N_FAT - 1, "every fat alert merged (%d of %d); log %s", merged, N_FAT - 1,
                 p.log);
    const Incident__V1__AuditRecord *last = e2e_trail_last(&t, "merged");
    cr_expect_eq(last->snapshot->alert_count, N_FAT);
    cr_expect_eq(last->snapshot->n_clients, 1000, "client names kept: %zu",
                 last->snapshot->n_clients);
    cr_expect_eq(last->snapshot->clients_total, N_FAT * N_CLIENTS, "clients_total %u",
                 last->snapshot->clients_total);
    e2e_trail_verify(&t);
    e2e_trail_free(&t);
    assert_moves_on(&p, audit);
    tu_consumer_destroy(audit);
    e2e_stop(&p);
}

Test(hostile, record_over_the_message_limit_is_dead_lettered_not_applied, .timeout = 300)
{
    static const char *const sets[] = {"limits.message_bytes=65536", NULL};
    e2e_t p;
    e2e_start(&p, sets);
    tu_consumer_t *audit = e2e_audit_consumer(&p);
    char **names;
    Incident__V1__Alert a = fat_alert(tu_unique("big"), tu_unique("big"), 0, &names);
    e2e_publish(&p, &a);
    names_free(names);
    char errs[4][512], stages[4][64];
    int n = dlq_read(&p, 1, E2E_WAIT_MS, errs, stages);
    cr_assert_eq(n, 1, "the oversized transition is dead-lettered");
    cr_expect(strstr(errs[0], "limits.message_bytes") != NULL, "x-error: %s", errs[0]);
    cr_expect_str_eq(stages[0], "detected");
    assert_moves_on(&p, audit);
    tu_consumer_destroy(audit);
    e2e_stop(&p);
}

/* Publishes a TimerFired for @p id at @p level with @p claim ("" none). */
static void forge_timer(const e2e_t *p, const char *id, uint32_t level, const char *claim)
{
    Incidentd__V1__TimerFired t = INCIDENTD__V1__TIMER_FIRED__INIT;
    t.incident_id = (char *)id;
    t.level = level;
    t.due_ms = 1;
    t.claim = (char *)claim;
    unsigned char buf[512];
    size_t len = incidentd__v1__timer_fired__pack(&t, buf);
    cr_assert_eq(tu_produce(e2e_topic(p, "incidents.timers"), id, buf, len), 0);
}

Test(hostile, forged_timer_commands_are_dead_lettered, .timeout = 300)
{
    e2e_t p;
    e2e_start(&p, NULL); /* ack timeout 30 min: no real timer fires */
    tu_consumer_t *audit = e2e_audit_consumer(&p);
    const char *key = tu_unique("forged");
    char *sites[] = {"*"};
    Incident__V1__Alert a = e2e_alert(tu_unique("a"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                      INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    a.sites = sites;
    a.n_sites = 1;
    e2e_publish(&p, &a);
    e2e_trail_t t = {0};
    cr_assert(e2e_trail_wait(audit, &t, key, "escalated", E2E_WAIT_MS));
    const char *id = e2e_trail_last(&t, "escalated")->incident_id;
    uint32_t level = e2e_trail_last(&t, "escalated")->snapshot->escalation_level;
    cr_assert_eq(level, 1);
    forge_timer(&p, id, level, "");                   /* no claim */
    forge_timer(&p, id, level, "0123456789abcdef-1"); /* a claim nobody took */
    char errs[4][512], stages[4][64];
    int n = dlq_read(&p, 2, E2E_WAIT_MS, errs, stages);
    cr_assert_eq(n, 2, "both forged timers dead-lettered (got %d)", n);
    for (int i = 0; i < n; i++) {
        cr_expect_str_eq(stages[i], "escalated");
        cr_expect(strstr(errs[i], "claim") != NULL || strstr(errs[i], "claimed") != NULL,
                  "x-error names the missing claim: %s", errs[i]);
    }
    /* Nothing escalated: the incident stays at level 1. */
    size_t before = t.n;
    e2e_trail_wait(audit, &t, key, "escalated", 3000);
    for (size_t i = before; i < t.n; i++)
        cr_expect(strcmp(t.recs[i]->action, "escalated") != 0, "a forged timer escalated: %s",
                  t.recs[i]->detail);
    e2e_trail_free(&t);
    assert_moves_on(&p, audit);
    tu_consumer_destroy(audit);
    e2e_stop(&p);
}

/* A forged stage event for a live incident, carrying its true version and
 * chain head (anyone who reads ormis.audit knows them) and a state header
 * of the forger's making: the stage decides on it only if it is the stored
 * state byte for byte (the apply compares its SHA-1), so the forgery
 * neither escalates the incident again nor hands it to the forger. */
static char *two_sites[] = {"paris", "lyon"};

/* Publishes a CRITICAL trigger of two sites on @p key (a global incident)
 * and waits for its escalation into @p t; returns the alert. */
static Incident__V1__Alert global_escalated(const e2e_t *p, tu_consumer_t *audit, const char *key,
                                            e2e_trail_t *t)
{
    Incident__V1__Alert a = e2e_alert(tu_unique("a"), key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                      INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL);
    a.sites = two_sites;
    a.n_sites = 2;
    e2e_publish(p, &a);
    cr_assert(e2e_trail_wait(audit, t, key, "escalated", E2E_WAIT_MS), "log %s", p->log);
    return a;
}

Test(hostile, forged_state_header_is_never_applied, .timeout = 300)
{
    e2e_t p;
    e2e_start(&p, NULL);
    tu_consumer_t *audit = e2e_audit_consumer(&p);
    const char *key = tu_unique("forged-state");
    e2e_trail_t t = {0};
    global_escalated(&p, audit, key, &t);
    e2e_trail_wait(audit, &t, key, "(none: every record for 3 s)", 3000);
    const Incident__V1__AuditRecord *last = t.recs[t.n - 1];
    const char *id = last->incident_id;

    /* the incident as it is, sent back to the scoped stage as if scoped
     * again, owned by mallory, with a header whose chain head is right */
    Incident__V1__Incident forged = *last->snapshot;
    forged.stage = INCIDENT__V1__STAGE__STAGE_SCOPED;
    forged.owner = "mallory";
    Incident__V1__IncidentEvent ev = INCIDENT__V1__INCIDENT_EVENT__INIT;
    ev.incident = &forged;
    ev.event_id = (char *)tu_unique("forged-ev");
    ev.at_ms = tu_wall_ms();
    Incidentd__V1__StoredIncident rest = INCIDENTD__V1__STORED_INCIDENT__INIT;
    rest.last_hash = last->hash;
    size_t elen = incident__v1__incident_event__get_packed_size(&ev);
    size_t hlen = incidentd__v1__stored_incident__get_packed_size(&rest);
    unsigned char *ebuf = malloc(elen), *hbuf = malloc(hlen ? hlen : 1);
    incident__v1__incident_event__pack(&ev, ebuf);
    incidentd__v1__stored_incident__pack(&rest, hbuf);
    cr_assert_eq(tu_produce_header(e2e_topic(&p, "incidents.scoped"), id, ebuf, elen,
                                   "x-incidentd-state", hbuf, hlen),
                 0);
    free(ebuf);
    free(hbuf);

    /* what the stages record of the incident meanwhile */
    size_t before = t.n;
    e2e_trail_wait(audit, &t, key, "escalated", 8000);
    for (size_t i = before; i < t.n; i++) {
        cr_expect(strcmp(t.recs[i]->action, "escalated") != 0 &&
                      strcmp(t.recs[i]->action, "assigned") != 0,
                  "the forged event was decided on its own state: %s %s", t.recs[i]->action,
                  t.recs[i]->detail);
        cr_expect_str_neq(t.recs[i]->snapshot->owner, "mallory");
    }
    e2e_trail_verify(&t);
    e2e_trail_free(&t);
    /* a real event after it, through every stage: the stages read past the forgery */
    assert_moves_on(&p, audit);
    tu_consumer_destroy(audit);
    e2e_stop(&p);
}

/* Stops p's processes and starts one fresh process of all stages: its
 * detected worker has seen no key (decides a key it has not seen without a
 * read, on the assumption that the key has no incident). */
static void restart_fresh(e2e_t *p)
{
    e2e_stop(p);
    e2e_spawn(p, "all", NULL);
}

/* Every record of the key's trail names the incident @p id. */
static void expect_one_incident(const e2e_trail_t *t, const char *id)
{
    for (size_t i = 0; i < t->n; i++)
        cr_expect_str_eq(t->recs[i]->incident_id, id, "record %zu (%s) of another incident", i,
                         t->recs[i]->action);
}

Test(hostile, a_fresh_detected_worker_finds_the_keys_incident_and_replays_nothing, .timeout = 400)
{
    e2e_t p;
    e2e_start(&p, NULL);
    tu_consumer_t *audit = e2e_audit_consumer(&p);
    const char *key = tu_unique("fresh-worker");
    e2e_trail_t t = {0};
    Incident__V1__Alert a = global_escalated(&p, audit, key, &t);
    const char *id = t.recs[0]->incident_id;

    /* a worker that has not seen the key merges the next trigger into its
     * open incident (the assumption "no incident" conflicts in Redis) ... */
    restart_fresh(&p);
    Incident__V1__Alert m = a;
    m.alert_id = (char *)tu_unique("m");
    e2e_publish(&p, &m);
    cr_assert(e2e_trail_wait(audit, &t, key, "merged", E2E_WAIT_MS), "log %s", p.log);
    /* ... and another resolves it */
    restart_fresh(&p);
    Incident__V1__Alert r = e2e_alert(tu_unique("r"), key, INCIDENT__V1__ACTION__ACTION_RESOLVE,
                                      INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL);
    e2e_publish(&p, &r);
    cr_assert(e2e_trail_wait(audit, &t, key, "resolved", E2E_WAIT_MS), "log %s", p.log);
    e2e_trail_wait(audit, &t, key, "(none: every record for 3 s)", 3000);
    size_t before = t.n;
    expect_one_incident(&t, id);

    /* The detected stage reads the resolve again on a fresh worker, as after
     * a crash before its commit (a replay: applied by the position it comes
     * from). Decided on "no incident" (the key is closed now), it is
     * recognised as applied, not dead-lettered; then the whole input again:
     * the triggers open nothing. */
    char group[256];
    snprintf(group, sizeof(group), "incidentd.%sdetected", p.prefix);
    for (int last = 1; last >= -1; last -= 2) {
        e2e_stop(&p);
        cr_assert_eq(tu_group_rewind(group, e2e_topic(&p, "incidents.detected"), last), 0);
        e2e_spawn(&p, "all", NULL);
        cr_assert_eq(tu_group_caught_up(group, e2e_topic(&p, "incidents.detected"), E2E_WAIT_MS), 0,
                     "the detected stage read its input again (log %s)", p.log);
    }
    e2e_trail_wait(audit, &t, key, "(none: every record for 3 s)", 3000);
    cr_expect_eq(t.n, before, "the replay recorded nothing new (log %s)", p.log);
    e2e_dead_t dead[4];
    cr_expect_eq(e2e_dlq_read(&p, dead, 4, 3000), 0, "no dead letter: %s", dead[0].error);
    cr_expect_eq(e2e_count_events(&p, "incidents.resolved", key, 2000), 1, "one resolved event");
    e2e_trail_verify(&t);
    e2e_trail_free(&t);
    tu_consumer_destroy(audit);
    e2e_stop(&p);
}

/* The stage's counter @p name on the process's /metrics at @p port. */
static double stage_metric(int port, const char *name, const char *stage)
{
    char lab[64];
    snprintf(lab, sizeof(lab), "stage=\"%s\"", stage);
    tu_prom_t *e = tu_prom_scrape(port);
    cr_assert_not_null(e, "/metrics of port %d", port);
    double v = tu_prom_sum(e, name, lab);
    free(e);
    return v;
}

/* Every topic of one partition: the order of the stages' inputs is known. */
static const char *const one_partition[] = {"topics.partitions=1", NULL};

/* A fresh prefix with one process of @p stages on one_partition. */
static void start_one_partition(e2e_t *p, const char *stages)
{
    e2e_prepare(p);
    e2e_spawn(p, stages, one_partition);
}

Test(hostile, a_merge_racing_the_classification_costs_no_second_round_trip, .timeout = 300)
{
    e2e_t p;
    start_one_partition(&p, "detected");
    tu_consumer_t *audit = e2e_audit_consumer(&p);
    char kb[128], ka[128]; /* tu_unique()'s buffers are reused */
    snprintf(kb, sizeof(kb), "%s", tu_unique("race-b"));
    snprintf(ka, sizeof(ka), "%s", tu_unique("race-a"));
    e2e_trail_t tb = {0}, ta = {0};
    e2e_publish_service(&p, kb, "checkout", INCIDENT__V1__ACTION__ACTION_TRIGGER);
    e2e_publish_service(&p, ka, "checkout", INCIDENT__V1__ACTION__ACTION_TRIGGER);
    cr_assert(e2e_trail_wait(audit, &ta, ka, "detected", E2E_WAIT_MS), "log %s", p.log);
    /* A's second trigger merges into it after its first event was produced:
     * the classified stage's input is B's event, A's, A's merge (one
     * partition), and Redis holds A at the merge's version. */
    e2e_publish_service(&p, ka, "checkout", INCIDENT__V1__ACTION__ACTION_TRIGGER);
    cr_assert(e2e_trail_wait(audit, &ta, ka, "merged", E2E_WAIT_MS), "log %s", p.log);

    /* The classified stage (scope, owner) in batches of two: B's event and
     * A's first, whose apply conflicts (the merge moved A); A's is carried
     * into the next batch with the state the conflict returned, and decided
     * there with A's merge event, in that batch's one round trip. */
    int port = tu_free_port();
    char http[64];
    snprintf(http, sizeof(http), "http=127.0.0.1:%d", port);
    const char *pairs[] = {"topics.partitions=1", "batch.max=2", "batch.ms=2000", http, NULL};
    e2e_spawn(&p, "classified", pairs);
    /* (one consumer of the one partition: B's records come first) */
    cr_assert(e2e_trail_wait(audit, &tb, kb, "assigned", E2E_WAIT_MS), "log %s", p.log);
    cr_assert(e2e_trail_wait(audit, &ta, ka, "assigned", E2E_WAIT_MS), "log %s", p.log);
    e2e_trail_wait(audit, &ta, ka, "(none: every record for 3 s)", 3000);

    cr_expect_geq(stage_metric(port, "incidentd_conflicts_total", "classified"), 1,
                  "A's first event conflicted (log %s)", p.log);
    cr_expect_geq(stage_metric(port, "incidentd_carried_total", "classified"), 1,
                  "and was carried into the next batch");
    double batches = stage_metric(port, "incidentd_batches_total", "classified");
    cr_expect_geq(batches, 2);
    cr_expect_eq(stage_metric(port, "incidentd_redis_batch_round_trips_total", "classified"),
                 batches, "one Redis round trip per batch, the conflict's included");
    /* decided once, on the state the merge left: one scope each, the chain
     * whole, nothing dead-lettered */
    cr_expect_eq(e2e_trail_count(&ta, "scoped"), 1, "A scoped once");
    cr_expect_eq(e2e_trail_count(&tb, "scoped"), 1, "B scoped once");
    const Incident__V1__AuditRecord *c = e2e_trail_last(&ta, "scoped");
    cr_assert_not_null(c);
    cr_expect_eq(c->snapshot->alert_count, 2, "scoped on the merged state");
    e2e_trail_verify(&ta);
    /* B's whole trail (its first records went by while A's were awaited) */
    tu_consumer_t *again = e2e_audit_consumer(&p);
    e2e_trail_free(&tb);
    cr_assert(e2e_trail_wait(again, &tb, kb, "assigned", E2E_WAIT_MS));
    tu_consumer_destroy(again);
    e2e_trail_verify(&tb);
    e2e_dead_t dead[2];
    cr_expect_eq(e2e_dlq_read(&p, dead, 2, 2000), 0, "no dead letter: %s", dead[0].error);
    e2e_trail_free(&ta);
    e2e_trail_free(&tb);
    tu_consumer_destroy(audit);
    e2e_stop(&p);
}

/* The trail of dedup key @p key up to a record of action @p until, read by
 * a consumer of its own from the beginning of ormis.audit. */
static void key_trail(const e2e_t *p, const char *key, const char *until, e2e_trail_t *t)
{
    tu_consumer_t *c = e2e_audit_consumer(p);
    e2e_trail_free(t);
    cr_assert(e2e_trail_wait(c, t, key, until, E2E_WAIT_MS), "%s: no %s record (log %s)", key,
              until, p->log);
    tu_consumer_destroy(c);
}

/* Three incidents B, A, C (one partition) whose events wait for the
 * classified stage, A's made stale by a note (which moves A without an event
 * for that stage). */
static void stale_triple(e2e_t *p, char keys[3][128])
{
    for (int k = 0; k < 3; k++) {
        snprintf(keys[k], sizeof(keys[k]), "%s", tu_unique("carry"));
        e2e_publish_service(p, keys[k], "checkout", INCIDENT__V1__ACTION__ACTION_TRIGGER);
    }
    e2e_trail_t t = {0};
    key_trail(p, keys[2], "classified", &t);
    key_trail(p, keys[1], "classified", &t);
    Incident__V1__Command note = e2e_cmd(tu_unique("note"), t.recs[0]->incident_id,
                                         INCIDENT__V1__COMMAND_KIND__COMMAND_NOTE, "carl");
    note.text = "looking into it";
    e2e_command(p, &note);
    key_trail(p, keys[1], "note", &t);
    e2e_trail_free(&t);
}

/* Each of the three was scoped and assigned once, its chain whole. */
static void expect_once(const e2e_t *p, char keys[3][128])
{
    e2e_trail_t t = {0};
    for (int k = 0; k < 3; k++)
        key_trail(p, keys[k], "assigned", &t);
    sleep(3); /* anything doubled would be on the topic by now */
    for (int k = 0; k < 3; k++) {
        tu_consumer_t *all = e2e_audit_consumer(p);
        e2e_trail_free(&t);
        e2e_trail_wait(all, &t, keys[k], "(none: the whole topic)", 3000);
        tu_consumer_destroy(all);
        cr_expect_eq(e2e_trail_count(&t, "scoped"), 1, "%s scoped once", keys[k]);
        cr_expect_eq(e2e_trail_count(&t, "assigned"), 1, "%s assigned once", keys[k]);
        e2e_trail_verify(&t);
    }
    e2e_trail_free(&t);
}

/* The classified stage in batches of up to four within 3 s, its /metrics on
 * @p port: B, A, C make one batch, A's apply conflicts, and A and C (which
 * it applied) are carried while the worker waits for more. Returns its pid
 * once it holds them. */
static pid_t classified_carrying(e2e_t *p, int port)
{
    char http[64];
    snprintf(http, sizeof(http), "http=127.0.0.1:%d", port);
    const char *fours[] = {"topics.partitions=1", "batch.max=4", "batch.ms=3000", http, NULL};
    pid_t c = e2e_spawn(p, "classified", fours);
    e2e_wait_healthz(port, p->log);
    double carried = 0;
    for (int i = 0; i < 1500 && carried < 2; i++) {
        carried = stage_metric(port, "incidentd_carried_total", "classified");
        if (carried < 2)
            usleep(20 * 1000);
    }
    cr_assert_geq(carried, 2, "A and C carried (log %s)", p->log);
    return c;
}

Test(hostile, carried_messages_are_neither_lost_nor_doubled_when_stopped_or_killed, .timeout = 300)
{
    e2e_t p;
    start_one_partition(&p, "detected,commands");
    char keys[3][128]; /* B, A, C */

    /* The worker goes on: C replays its stored records, A is decided on
     * what its conflict returned. */
    stale_triple(&p, keys);
    pid_t c = classified_carrying(&p, tu_free_port());
    expect_once(&p, keys);
    cr_expect_eq(e2e_kill(&p, c, SIGTERM, 30000), 0);

    /* Stopped (SIGTERM) while it holds them: it decides and commits them
     * before it leaves (no other worker runs meanwhile). */
    stale_triple(&p, keys);
    c = classified_carrying(&p, tu_free_port());
    cr_expect_eq(e2e_kill(&p, c, SIGTERM, 30000), 0);
    expect_once(&p, keys);

    /* Killed while it holds them: a new worker reads them again from the
     * committed offsets (after B). */
    stale_triple(&p, keys);
    c = classified_carrying(&p, tu_free_port());
    e2e_kill(&p, c, SIGKILL, 10000);
    e2e_spawn(&p, "classified", one_partition);
    expect_once(&p, keys);

    e2e_dead_t dead[2];
    cr_expect_eq(e2e_dlq_read(&p, dead, 2, 2000), 0, "no dead letter: %s", dead[0].error);
    e2e_stop(&p);
}

/* One ACL command on the test bed's Redis; asserts it is not refused. */
static void acl(redisContext *rc, const char *fmt, const char *user)
{
    redisReply *r = redisCommand(rc, fmt, user);
    cr_assert(r && r->type != REDIS_REPLY_ERROR, "%s: %s", fmt, r ? r->str : rc->errstr);
    freeReplyObject(r);
}

/* The classified stage as ACL user @p user of the test bed's Redis. */
static pid_t classified_carrying_as(e2e_t *p, int port, const char *user)
{
    const char *base = tu_redis(), *hostpart = strstr(base, "://");
    char saved[512], url[640];
    snprintf(saved, sizeof(saved), "%s", base);
    snprintf(url, sizeof(url), "redis://%s:pw-%s@%s", user, user, hostpart ? hostpart + 3 : base);
    setenv("INCIDENTD_TEST_REDIS", url, 1);
    pid_t c = classified_carrying(p, port);
    setenv("INCIDENTD_TEST_REDIS", saved, 1);
    return c;
}

Test(hostile, carried_messages_survive_a_redis_outage_of_their_worker, .timeout = 300)
{
    e2e_t p;
    start_one_partition(&p, "detected,commands");
    char keys[3][128], user[64];
    stale_triple(&p, keys);
    snprintf(user, sizeof(user), "%s", tu_unique("carry-user"));
    redisContext *rc = e2e_redis_connect();
    char setuser[160];
    snprintf(setuser, sizeof(setuser), "ACL SETUSER %%s on >pw-%s ~* &* +@all", user);
    acl(rc, setuser, user);

    /* Its Redis goes away while the worker holds A and C: the batch they
     * start fails, is rewound, the worker pauses ... */
    int port = tu_free_port();
    classified_carrying_as(&p, port, user);
    acl(rc, "ACL SETUSER %s off", user);
    acl(rc, "CLIENT KILL USER %s", user);
    double up = 1;
    for (int i = 0; i < 300 && up > 0; i++) {
        up = stage_metric(port, "incidentd_redis_up", "classified");
        if (up > 0)
            usleep(50 * 1000);
    }
    cr_expect_eq(up, 0, "the worker saw Redis go (log %s)", p.log);
    /* ... and carries on from the committed offsets once it is back. */
    acl(rc, "ACL SETUSER %s on", user);
    expect_once(&p, keys);
    acl(rc, "ACL DELUSER %s", user);
    redisFree(rc);
    e2e_stop(&p);
}
