/*
 * test_overlap.c — overlapped commits (batch.overlap_commit) lose and
 * duplicate nothing when a batch's commit fails after the next batch was
 * applied in Redis.
 *
 * A stream of alerts (the storm flow of e2e_flow.c: trigger, merge,
 * acknowledge, resolve per incident) goes through one incidentd with all
 * stages and a static instance id, so each stage's transactional id is
 * known. Meanwhile the test fences a stage's transactional producer again
 * and again at random moments: a producer of its own with the same
 * transactional.id calls init_transactions(), as a restarted instance
 * would. The broker aborts incidentd's open transaction and its commit
 * fails (fatal: the producer is replaced). Under a steady stream the
 * commit that fails is usually batch N's, running on the commit thread
 * while batch N+1 was gathered and applied in Redis: incidentd logs "the
 * previous batch's commit failed: consuming it again together with the
 * next batch", rewinds both, and their applies replay from the stored
 * records. The test asserts that this case happened, then that every
 * incident came out whole: no record or event lost or repeated, every
 * chain verifying, every final state right, and a clean exit.
 *
 * The same with a commit that aborts (the producer stays): a record the
 * broker refuses for its size fails the commit of its batch three times in
 * a row, each time with the next batch applied meanwhile, before its input
 * is dead-lettered; everything else comes out whole.
 *
 * INCIDENTD_OVERLAP_INCIDENTS (default 1000, 4 alerts each) and
 * INCIDENTD_OVERLAP_SEED scale and replay a run.
 */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "e2e.h"

#define PUBLISH_MS 20000
#define OVERLAP_LINE "consuming it again together with the next batch"

static const char *const stages[] = {"detected", "classified", "scoped", "escalated", "resolved"};

/* Fences the transactional producer of @p stage of the incidentd with
 * instance id "w0" on @p prefix: init_transactions() with its id. Returns
 * 0 when the broker took the new epoch. */
static int fence(const char *prefix, const char *stage)
{
    char txid[400], err[512];
    /* worker.c: "<group_prefix>.<topic prefix><stage>.<instance_id>.<stage>" */
    snprintf(txid, sizeof(txid), "incidentd.%s%s.w0.%s", prefix, stage, stage);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", tu_brokers(), err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "transactional.id", txid, err, sizeof(err))) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_error_t *e = rd_kafka_init_transactions(rk, 30000);
    int rc = e ? -1 : 0;
    if (e)
        rd_kafka_error_destroy(e);
    rd_kafka_destroy(rk);
    return rc;
}

/* Lines of @p path holding @p what. */
static int log_count(const char *path, const char *what)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof(line), f))
        n += strstr(line, what) != NULL;
    fclose(f);
    return n;
}

/* incidentd with all stages on @p prefix, instance id w0, commits
 * overlapped, and the setting @p extra (KEY=VALUE, or NULL). */
static pid_t spawn(const char *prefix, const char *log, const char *extra)
{
    const char *sets[] = {"instance_id=w0", "batch.ms=10", "batch.overlap_commit=on",
                          "log.level=info", extra,         NULL};
    return e2e_spawn_on(prefix, log, "all", 6, sets, NULL);
}

/* Fences a random stage when due; counts the fences. */
static void fence_when_due(const char *prefix, int64_t *next, int *fences)
{
    if (tu_now_ms() < *next)
        return;
    if (fence(prefix, stages[rand() % 5]) == 0)
        (*fences)++;
    *next = tu_now_ms() + 200 + rand() % 600;
}

Test(overlap, failed_commit_with_next_batch_applied_loses_and_duplicates_nothing, .timeout = 1200)
{
    int n_inc = tu_env_int("INCIDENTD_OVERLAP_INCIDENTS", 1000);
    unsigned seed = tu_seed("INCIDENTD_OVERLAP_SEED");
    char prefix[128], log[256];
    snprintf(prefix, sizeof(prefix), "%s.", tu_unique("overlap"));
    snprintf(log, sizeof(log), "/tmp/%sincidentd.log", prefix);
    pid_t pid = spawn(prefix, log, NULL);

    /* Round by round (all triggers, all merges, ...) at a steady pace,
     * fencing a stage every 0.2-0.8 s meanwhile and 5 s after. */
    int64_t t_start = tu_now_ms(), next_fence = t_start + 3000;
    int total = n_inc * E2E_FLOW_ALERTS, sent = 0, fences = 0;
    for (int round = 0; round < E2E_FLOW_ALERTS; round++)
        for (int i = 0; i < n_inc; i++) {
            e2e_flow_alert(prefix, i, round);
            sent++;
            int64_t due = t_start + (int64_t)PUBLISH_MS * sent / total;
            while (tu_now_ms() < due) {
                fence_when_due(prefix, &next_fence, &fences);
                usleep(2000);
            }
        }
    cr_assert_eq(tu_flush(30000), 0, "all alerts delivered to Kafka");
    while (tu_now_ms() < t_start + PUBLISH_MS + 5000) {
        fence_when_due(prefix, &next_fence, &fences);
        usleep(10000);
    }
    int overlapped = log_count(log, OVERLAP_LINE);

    e2e_flow_result_t res;
    e2e_flow_check(prefix, n_inc, 600000, &res);
    cr_expect_eq(tu_stop(pid, SIGTERM, 60000), 0, "clean exit after the fences");
    int replaced = log_count(log, "starting a new producer");
    printf("overlap test (seed %u): alerts sent %d, fences %d, producers replaced %d, failed "
           "commits with the next batch applied %d, incidents checked %d, audit records %zu, "
           "output events %zu, lost %d, duplicated %zu, broken chains %d, wrong final state %d, "
           "extra incidents %d, replayed out of topic order %d\n",
           seed, sent, fences, replaced, overlapped, n_inc, res.records, res.events, res.lost,
           (size_t)res.dup_records + res.dup_events, res.broken, res.wrong_state,
           res.extra_incidents, res.reordered);
    fflush(stdout);

    cr_expect_geq(fences, 10);
    cr_expect_geq(overlapped, 1, "a commit failed after the next batch was applied (log %s)", log);
    e2e_flow_expect(&res);
    cr_expect_eq(res.dlq, 0, "no dead letter");
}

/* Creates @p topic with @p partitions and the broker's max.message.bytes
 * @p max_bytes (a record batch larger than that is refused). */
static void topic_create_limited(const char *topic, int partitions, const char *max_bytes)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    cr_assert_eq(rd_kafka_conf_set(conf, "bootstrap.servers", tu_brokers(), err, sizeof(err)), 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    cr_assert_not_null(rk, "%s", err);
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, err, sizeof(err));
    cr_assert_not_null(nt, "%s", err);
    cr_assert_eq(rd_kafka_NewTopic_set_config(nt, "max.message.bytes", max_bytes), 0);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    cr_assert_not_null(ev, "no CreateTopics result");
    size_t cnt;
    const rd_kafka_topic_result_t **tr =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
    cr_assert(cnt == 1 && rd_kafka_topic_result_error(tr[0]) == 0, "create %s: %s", topic,
              cnt ? rd_kafka_err2str(rd_kafka_topic_result_error(tr[0])) : "no result");
    rd_kafka_event_destroy(ev);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    cr_assert_eq(tu_topic_wait(topic, 30000), 0, "%s has leaders", topic);
}

/* A MAJOR trigger on key <prefix>fat naming 300 clients of 150 bytes: its
 * incidents.classified event (~50 KB) is larger than that topic takes. */
static void publish_fat(const char *prefix)
{
    char key[192], aid[192], topic[256];
    snprintf(key, sizeof(key), "%sfat", prefix);
    snprintf(aid, sizeof(aid), "%sfat-1", prefix);
    snprintf(topic, sizeof(topic), "%sincidents.detected", prefix);
    Incident__V1__Alert a = e2e_alert(aid, key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                      INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    static char names[300][160];
    static char *v[300];
    for (int i = 0; i < 300; i++) {
        snprintf(names[i], sizeof(names[i]), "client-%03d-%0140d", i, 0);
        v[i] = names[i];
    }
    a.clients = v;
    a.n_clients = 300;
    size_t len = incident__v1__alert__get_packed_size(&a);
    unsigned char *buf = malloc(len);
    incident__v1__alert__pack(&a, buf);
    cr_assert_eq(tu_produce_async(topic, key, buf, len), 0);
    free(buf);
}

Test(overlap, refused_record_aborts_three_commits_then_is_dead_lettered_rest_whole, .timeout = 900)
{
    tu_seed("INCIDENTD_OVERLAP_SEED");
    const int n_inc = 500;
    e2e_t p;
    memset(&p, 0, sizeof(p));
    snprintf(p.prefix, sizeof(p.prefix), "%s.", tu_unique("refused"));
    snprintf(p.log, sizeof(p.log), "/tmp/%sincidentd.log", p.prefix);
    /* 32 KB per record batch on incidents.classified; incidentd's batches
     * of records stay under 16 KB, so only the fat record is refused. */
    topic_create_limited(e2e_topic(&p, "incidents.classified"), 6, "32768");
    pid_t pid = spawn(p.prefix, p.log, "kafka.batch.size=16384");

    int64_t t_start = tu_now_ms();
    int total = n_inc * E2E_FLOW_ALERTS, sent = 0;
    for (int round = 0; round < E2E_FLOW_ALERTS; round++)
        for (int i = 0; i < n_inc; i++) {
            e2e_flow_alert(p.prefix, i, round);
            if (++sent == total / 4)
                publish_fat(p.prefix);
            int64_t due = t_start + (int64_t)PUBLISH_MS * sent / total;
            while (tu_now_ms() < due)
                usleep(2000);
        }
    cr_assert_eq(tu_flush(30000), 0, "all alerts delivered to Kafka");

    e2e_flow_result_t res;
    e2e_flow_check(p.prefix, n_inc, 600000, &res);
    e2e_dead_t dead[4];
    int n_dead = e2e_dlq_read(&p, dead, 4, 10000);
    cr_expect_eq(tu_stop(pid, SIGTERM, 60000), 0, "clean exit");
    int overlapped = log_count(p.log, OVERLAP_LINE);
    int replaced = log_count(p.log, "starting a new producer");
    printf("overlap refused-record test: alerts sent %d (+1 fat), failed commits with the next "
           "batch applied %d, producers replaced %d, dead letters %d (%s), lost %d, "
           "duplicated %zu, broken chains %d, wrong final state %d\n",
           sent, overlapped, replaced, n_dead, n_dead ? dead[0].error : "-", res.lost,
           (size_t)res.dup_records + res.dup_events, res.broken, res.wrong_state);
    fflush(stdout);

    cr_expect_eq(n_dead, 1, "the fat alert alone is dead-lettered");
    cr_expect(n_dead < 1 || strstr(dead[0].error, "refused by Kafka 3 times") != NULL,
              "x-error: %s", n_dead ? dead[0].error : "");
    cr_expect_geq(overlapped, 1, "a refused commit failed with the next batch applied (log %s)",
                  p.log);
    cr_expect_eq(replaced, 0, "aborted, not fatal: the producer stays (log %s)", p.log);
    e2e_flow_expect(&res);
}
