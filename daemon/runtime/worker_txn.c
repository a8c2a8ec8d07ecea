/*
 * worker_txn.c — the Kafka side of a stage worker's batch: the
 * transactional producer, producing records and dead letters, the commit
 * with the input offsets, records the broker refuses (dead-lettered after
 * WORKER_POISON_TRIES), firing due timers, and the batch's metrics.
 */
#include "worker_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kafka.h"
#include "log.h"

/* Errors that belong to a record itself (retrying the same record cannot
 * succeed), as opposed to the broker or the network being away. */
static int worker_record_error(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE || e == RD_KAFKA_RESP_ERR_INVALID_RECORD ||
           e == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE || e == RD_KAFKA_RESP_ERR_INVALID_MSG ||
           e == RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE;
}

/* Notes the first record of the batch that failed for what it is.
 * @locality: the thread that commits (served by the flush of
 * commit_transaction): the worker's, or its commit thread
 * (worker_commit.c), which alone uses the producer while it runs. */
static void worker_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    worker_t *w = opaque;
    if (m->err && worker_record_error(m->err) && !w->fail_item && m->_private) {
        w->fail_item = (size_t)(uintptr_t)m->_private;
        snprintf(w->fail_err, sizeof(w->fail_err), "%s", rd_kafka_err2str(m->err));
    }
}

/* Creates the transactional producer (implies idempotence) with the id in
 * w->txid. Returns 0, or -1 with a message. */
int worker_producer_new(worker_t *w, char *errstr, size_t errstr_size)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const kafka_prop_t tunables[] = {
        {"transaction.timeout.ms", "10000"},
        {"linger.ms", "2"},
        {"queue.buffering.max.kbytes", "32768"},
    };
    char maxb[24];
    snprintf(maxb, sizeof(maxb), "%u", w->cfg->message_max_bytes);
    const kafka_prop_t required[] = {
        {"transactional.id", w->txid},
        {"enable.idempotence", "true"},
        {"message.max.bytes", maxb}, /* limits.message_bytes: records are sized by it */
    };
    if (kafka_props_set(conf, tunables, sizeof(tunables) / sizeof(tunables[0]), "producer", errstr,
                        errstr_size) < 0 ||
        kafka_conf_apply(w->cfg, conf, errstr, errstr_size) < 0 ||
        kafka_props_set(conf, required, sizeof(required) / sizeof(required[0]), "producer", errstr,
                        errstr_size) < 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    rd_kafka_conf_set_dr_msg_cb(conf, worker_dr_cb);
    rd_kafka_conf_set_opaque(conf, w);
    w->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!w->producer) {
        snprintf(errstr, errstr_size, "kafka producer: %s", err);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    return 0;
}

/* Initialises transactions, retrying until the broker answers or the
 * worker is told to stop. Returns 0, or -1 (stopping, or a fatal error). */
int worker_producer_init(worker_t *w)
{
    for (;;) {
        rd_kafka_error_t *e = rd_kafka_init_transactions(w->producer, 30000);
        if (!e) {
            atomic_store(&w->stats.kafka_up, 1);
            return 0;
        }
        log_msg(LOG_WARN, w->stage->name, NULL, NULL, "init transactions: %s",
                rd_kafka_error_string(e));
        int fatal = rd_kafka_error_is_fatal(e);
        rd_kafka_error_destroy(e);
        if (fatal || *w->stop)
            return -1;
        sleep(1);
    }
}

void worker_producer_destroy(worker_t *w)
{
    for (size_t i = 0; i < w->n_topics; i++)
        rd_kafka_topic_destroy(w->topics[i]);
    w->n_topics = 0;
    if (w->producer)
        rd_kafka_destroy(w->producer);
    w->producer = NULL;
}

/* The producer's handle of output topic @p topic (without prefix), made
 * once: no name formatting and lookup per record. NULL when none can be
 * made (then the record goes by name). */
static rd_kafka_topic_t *worker_rkt(worker_t *w, const char *topic)
{
    for (size_t i = 0; i < w->n_topics; i++)
        if (w->topic_names[i] == topic || strcmp(w->topic_names[i], topic) == 0)
            return w->topics[i];
    if (w->n_topics == WORKER_TOPICS)
        return NULL;
    const char *bare = NULL;
    for (size_t i = 0; stage_topic_names[i] && !bare; i++)
        if (strcmp(stage_topic_names[i], topic) == 0)
            bare = stage_topic_names[i]; /* static: outlives the arena's copy */
    if (!bare)
        return NULL;
    char full[300];
    kafka_topic_name(w->cfg, bare, full, sizeof(full));
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(w->producer, full, NULL);
    if (!rkt)
        return NULL;
    w->topic_names[w->n_topics] = bare;
    w->topics[w->n_topics++] = rkt;
    return rkt;
}

/* One producev() of a record: by topic handle @p rkt with the one header
 * of o->state (copied), or by name @p full with the headers @p hdrs (taken
 * on success; NULL none). */
static rd_kafka_resp_err_t worker_producev(worker_t *w, rd_kafka_topic_t *rkt, const char *full,
                                           const worker_out_t *o, rd_kafka_headers_t *hdrs,
                                           size_t tag)
{
    void *key = (void *)o->key, *val = (void *)o->value, *opaque = (void *)(uintptr_t)tag;
    if (!rkt && hdrs)
        return rd_kafka_producev(
            w->producer, RD_KAFKA_V_TOPIC(full), RD_KAFKA_V_KEY(key, o->key_len),
            RD_KAFKA_V_VALUE(val, o->value_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    if (!rkt)
        return rd_kafka_producev(
            w->producer, RD_KAFKA_V_TOPIC(full), RD_KAFKA_V_KEY(key, o->key_len),
            RD_KAFKA_V_VALUE(val, o->value_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (o->state)
        return rd_kafka_producev(
            w->producer, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_KEY(key, o->key_len),
            RD_KAFKA_V_VALUE(val, o->value_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE(opaque),
            RD_KAFKA_V_HEADER(WORKER_STATE_HEADER, o->state, (ssize_t)o->state_len),
            RD_KAFKA_V_END);
    return rd_kafka_producev(w->producer, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_KEY(key, o->key_len),
                             RD_KAFKA_V_VALUE(val, o->value_len),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(opaque),
                             RD_KAFKA_V_END);
}

/* Produces one record in the open transaction; @p tag is 1 + the index of
 * the batch item it belongs to (0: none), for worker_dr_cb(). Takes
 * ownership of @p hdrs, even on failure. */
static int worker_produce(worker_t *w, const worker_out_t *o, rd_kafka_headers_t *hdrs, size_t tag)
{
    char full[300] = "";
    rd_kafka_topic_t *rkt = hdrs ? NULL : worker_rkt(w, o->topic);
    if (!rkt) {
        kafka_topic_name(w->cfg, o->topic, full, sizeof(full));
        if (!hdrs) /* a topic without a handle: its headers go by name too */
            hdrs = o->state ? rd_kafka_headers_new(1) : NULL;
        if (hdrs && o->state)
            rd_kafka_header_add(hdrs, WORKER_STATE_HEADER, -1, o->state, (ssize_t)o->state_len);
    }
    for (int tries = 0;; tries++) {
        rd_kafka_resp_err_t e = worker_producev(w, rkt, full, o, hdrs, tag);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            atomic_fetch_add(&w->stats.produced, 1);
            return 0;
        }
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && tries < 100) {
            rd_kafka_poll(w->producer, 10);
            continue;
        }
        log_msg(LOG_ERROR, w->stage->name, NULL, NULL, "produce to %s: %s", o->topic,
                rd_kafka_err2str(e));
        if (worker_record_error(e) && tag && !w->fail_item) {
            w->fail_item = tag;
            snprintf(w->fail_err, sizeof(w->fail_err), "%s", rd_kafka_err2str(e));
        }
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        return -1;
    }
}

/* Dead-letters the item's original message with the contract's headers.
 * A message larger than a record may be (or one the broker refused even as
 * a dead letter: it->dlq_bare) goes without (all of) its value, with
 * x-truncated giving the original length: a dead letter never blocks. */
static int worker_produce_dlq(worker_t *w, worker_item_t *it, size_t tag)
{
    rd_kafka_message_t *m = it->msg;
    char part[16], off[24], orig[24];
    snprintf(part, sizeof(part), "%d", (int)m->partition);
    snprintf(off, sizeof(off), "%" PRId64, m->offset);
    size_t room = worker_record_max(w) - 2048 - strlen(it->dlq_error); /* headers */
    size_t len = it->dlq_bare ? 0 : m->len < room ? m->len : room;
    rd_kafka_headers_t *h = rd_kafka_headers_new(6);
    rd_kafka_header_add(h, "x-error", -1, it->dlq_error, -1);
    rd_kafka_header_add(h, "x-stage", -1, w->stage->name, -1);
    rd_kafka_header_add(h, "x-source-topic", -1, rd_kafka_topic_name(m->rkt), -1);
    rd_kafka_header_add(h, "x-source-partition", -1, part, -1);
    rd_kafka_header_add(h, "x-source-offset", -1, off, -1);
    if (len < m->len) {
        snprintf(orig, sizeof(orig), "%zu", m->len);
        rd_kafka_header_add(h, "x-truncated", -1, orig, -1);
    }
    log_msg(LOG_WARN, w->stage->name, NULL, it->cause_id, "dead-lettered %s: %s%s", it->pos,
            it->dlq_error, len < m->len ? " (value truncated)" : "");
    atomic_fetch_add(&w->stats.dead_lettered, 1);
    const worker_out_t o = {"incidents.dlq", m->key, m->key_len, m->payload, len, NULL, 0};
    return worker_produce(w, &o, h, tag);
}

static int worker_abort(worker_t *w)
{
    rd_kafka_error_t *e = rd_kafka_abort_transaction(w->producer, WORKER_TXN_TIMEOUT_MS);
    if (!e)
        return 0;
    log_msg(LOG_ERROR, w->stage->name, NULL, NULL, "transaction abort failed: %s",
            rd_kafka_error_string(e));
    int fatal = rd_kafka_error_is_fatal(e);
    rd_kafka_error_destroy(e);
    return fatal ? -2 : -1;
}

int worker_txn_commit(worker_t *w, const rd_kafka_topic_partition_list_t *offs,
                      const rd_kafka_consumer_group_metadata_t *cgmd)
{
    rd_kafka_error_t *e = NULL;
    if (offs && offs->cnt > 0)
        e = rd_kafka_send_offsets_to_transaction(w->producer, offs, cgmd, WORKER_TXN_TIMEOUT_MS);
    if (!e)
        e = rd_kafka_commit_transaction(w->producer, WORKER_TXN_TIMEOUT_MS);
    if (!e)
        return 0;
    log_msg(LOG_WARN, w->stage->name, NULL, NULL, "transaction commit failed: %s",
            rd_kafka_error_string(e));
    int fatal = rd_kafka_error_is_fatal(e);
    rd_kafka_error_destroy(e);
    int arc = worker_abort(w);
    return fatal || arc == -2 ? -2 : -1;
}

static void worker_observe_tt(atomic_uint_fast64_t *buckets, atomic_uint_fast64_t *sum_ms,
                              int64_t ms)
{
    if (ms < 0)
        return;
    int b = 0;
    while (b < WORKER_TT_BUCKETS - 1 && (double)ms / 1000.0 > worker_tt_bounds_s[b])
        b++;
    atomic_fetch_add(&buckets[b], 1);
    atomic_fetch_add(sum_ms, (uint64_t)ms);
}

/* Messages behind the high watermarks of the assigned partitions, from
 * librdkafka's cached watermarks (no broker round trip). */
void worker_update_lag(worker_t *w)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(w->consumer, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts)
        return;
    uint64_t lag = 0;
    if (parts->cnt > 0 && rd_kafka_position(w->consumer, parts) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < parts->cnt; i++) {
            int64_t lo = -1, hi = -1;
            if (rd_kafka_get_watermark_offsets(w->consumer, parts->elems[i].topic,
                                               parts->elems[i].partition, &lo,
                                               &hi) != RD_KAFKA_RESP_ERR_NO_ERROR ||
                hi < 0)
                continue;
            int64_t pos = parts->elems[i].offset >= 0 ? parts->elems[i].offset : lo;
            if (pos >= 0 && hi > pos)
                lag += (uint64_t)(hi - pos);
        }
    }
    rd_kafka_topic_partition_list_destroy(parts);
    atomic_store(&w->stats.lag, lag);
}

static void worker_observe_latency(worker_t *w, int64_t us, size_t n)
{
    if (n == 0)
        return;
    double per_ms = (double)us / 1000.0 / (double)n;
    int b = 0;
    while (b < WORKER_LAT_BUCKETS - 1 && per_ms > worker_lat_bounds_ms[b])
        b++;
    atomic_fetch_add(&w->stats.lat_bucket[b], n);
    atomic_fetch_add(&w->stats.lat_sum_us, (uint64_t)us);
    atomic_fetch_add(&w->stats.lat_count, n);
}

/* After a failed commit: when a record of one input was refused for what
 * it is, counts the failures of that input position in a row. */
void worker_poison_note(worker_t *w, const worker_item_t *items)
{
    if (!w->fail_item)
        return;
    const worker_item_t *it = &items[w->fail_item - 1];
    if (strcmp(w->poison_pos, it->pos) == 0) {
        w->poison_tries++;
    } else {
        snprintf(w->poison_pos, sizeof(w->poison_pos), "%s", it->pos);
        w->poison_tries = 1;
    }
    snprintf(w->poison_err, sizeof(w->poison_err), "%s", w->fail_err);
    log_msg(LOG_WARN, w->stage->name, NULL, it->cause_id,
            "a record of %s was refused (%s): try %d of %d before it is dead-lettered", it->pos,
            w->fail_err, w->poison_tries, WORKER_POISON_TRIES);
}

/* An input whose records failed WORKER_POISON_TRIES commits in a row goes to
 * the dead-letter topic instead of blocking its partition. Its transition is
 * in Redis already: its chain misses those records (logged as an error). */
void worker_poison_apply(worker_t *w, worker_item_t *items, size_t n)
{
    if (w->poison_tries < WORKER_POISON_TRIES)
        return;
    for (size_t i = 0; i < n; i++) {
        worker_item_t *it = &items[i];
        if (strcmp(it->pos, w->poison_pos) != 0)
            continue;
        if (it->dlq_error) {
            it->dlq_bare = 1; /* refused even as a dead letter: headers only */
            continue;
        }
        it->dlq_error = arena_printf(&w->arena, "records refused by Kafka %d times in a row: %s",
                                     w->poison_tries, w->poison_err);
        if (it->n_outs > 0)
            log_msg(LOG_ERROR, w->stage->name, it->key, it->cause_id,
                    "%zu records of %s could not be produced; dead-lettering the input (the "
                    "incident's audit chain lacks them)",
                    it->n_outs, it->pos);
        it->n_outs = 0;
    }
}

int worker_confirm(worker_t *w)
{
    int need = w->cfg->redis_min_replicas;
    if (need <= 0)
        return 0; /* the mark rode in the apply pipelines */
    int got = store_confirm(w->store);
    if (got < 0)
        return -1;
    if (got >= need)
        return 0;
    /* The transition is in Redis but not yet on enough replicas: nothing is
     * produced or committed; the batch is consumed again and its applies
     * replay (worker_after_abort()). */
    atomic_fetch_add(&w->stats.redis_wait_shortfalls, 1);
    return -1;
}

/* Opens a transaction and produces the batch's records and dead letters.
 * Returns 0 (open: worker_txn_commit()), -1 (aborted: rewind and retry) or
 * -2 (fatal). */
int worker_produce_batch(worker_t *w, worker_item_t *items, size_t n)
{
    rd_kafka_error_t *e = rd_kafka_begin_transaction(w->producer);
    if (e) {
        log_msg(LOG_ERROR, w->stage->name, NULL, NULL, "begin transaction: %s",
                rd_kafka_error_string(e));
        int fatal = rd_kafka_error_is_fatal(e);
        rd_kafka_error_destroy(e);
        return fatal ? -2 : -1;
    }
    w->fail_item = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        worker_item_t *it = &items[i];
        if (it->dlq_error) {
            rc = worker_produce_dlq(w, it, i + 1);
            continue;
        }
        for (size_t k = 0; k < it->n_outs && rc == 0; k++)
            rc = worker_produce(w, &it->outs[k], NULL, i + 1);
    }
    if (rc == 0)
        return 0;
    atomic_fetch_add(&w->stats.failed, 1);
    worker_poison_note(w, items);
    return worker_abort(w) == -2 ? -2 : -1;
}

/* Counts what a committed batch did into the metrics. */
void worker_count_batch(worker_t *w, const worker_item_t *items, size_t n, int64_t t0,
                        int64_t t_end)
{
    for (size_t i = 0; i < n; i++) {
        atomic_fetch_add(&w->stats.audit_records, items[i].dlq_error ? 0 : items[i].n_audit);
        atomic_fetch_add(&w->stats.escalations, items[i].n_escalations);
        if (!items[i].dlq_error && items[i].n_outs > 0) {
            worker_observe_tt(w->stats.mtta_bucket, &w->stats.mtta_sum_ms, items[i].tta_ms);
            worker_observe_tt(w->stats.mttr_bucket, &w->stats.mttr_sum_ms, items[i].ttr_ms);
        }
    }
    atomic_fetch_add(&w->stats.consumed, n);
    atomic_fetch_add(&w->stats.batches, 1);
    worker_observe_latency(w, t_end - t0, n);
}

/* Escalated stage: turns due ack timers into commands on incidents.timers,
 * in a transaction of their own: after the last batch's commit. */
void worker_fire_timers(worker_t *w)
{
    if (worker_commit_join(w, 1) == -2)
        return; /* worker_turn() replaces the producer */
    store_timer_t timers[64];
    int n = store_timers_claim(w->store, clock_now_ms(), 30000, timers, 64);
    if (n <= 0)
        return;
    rd_kafka_error_t *e = rd_kafka_begin_transaction(w->producer);
    if (e) {
        rd_kafka_error_destroy(e);
        return;
    }
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        hd_timer_t t = INCIDENTD__V1__TIMER_FIRED__INIT;
        t.incident_id = timers[i].id;
        t.level = timers[i].level;
        t.kind = (Incidentd__V1__TimerKind)timers[i].kind;
        t.due_ms = timers[i].due_ms;
        t.claim = timers[i].claim;
        unsigned char buf[512];
        size_t len = incidentd__v1__timer_fired__get_packed_size(&t);
        if (len > sizeof(buf))
            continue;
        incidentd__v1__timer_fired__pack(&t, buf);
        const worker_out_t o = {
            "incidents.timers", timers[i].id, strlen(timers[i].id), buf, len, NULL, 0};
        rc = worker_produce(w, &o, NULL, 0);
    }
    if (rc == 0) {
        e = rd_kafka_commit_transaction(w->producer, WORKER_TXN_TIMEOUT_MS);
        if (!e) {
            /* The timers stay (leased) until the commands' applies consume
             * their claims. */
            atomic_fetch_add(&w->stats.timers_fired, (uint64_t)n);
            log_msg(LOG_INFO, w->stage->name, NULL, NULL, "fired %d ack timers", n);
            return;
        }
        log_msg(LOG_WARN, w->stage->name, NULL, NULL, "timer commit: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    /* The leases expire and the timers come back. */
    worker_abort(w);
}

int worker_emit(worker_t *w, const worker_record_t *recs, size_t n)
{
    if (n == 0)
        return 0;
    /* one transaction at a time: after the last batch's commit */
    if (worker_commit_join(w, 1) == -2)
        return -1; /* worker_turn() replaces the producer */
    rd_kafka_error_t *e = rd_kafka_begin_transaction(w->producer);
    if (e) {
        rd_kafka_error_destroy(e);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rd_kafka_headers_t *h = NULL;
        if (recs[i].dlq_error) {
            h = rd_kafka_headers_new(5);
            rd_kafka_header_add(h, "x-error", -1, recs[i].dlq_error, -1);
            rd_kafka_header_add(h, "x-stage", -1, w->stage->name, -1);
            rd_kafka_header_add(h, "x-source-topic", -1, "outbox", -1);
            rd_kafka_header_add(h, "x-source-partition", -1, "-1", -1);
            rd_kafka_header_add(h, "x-source-offset", -1, "-1", -1);
            atomic_fetch_add(&w->stats.dead_lettered, 1);
        }
        const worker_out_t o = {
            recs[i].topic, recs[i].key, strlen(recs[i].key), recs[i].value, recs[i].len, NULL, 0};
        rc = worker_produce(w, &o, h, 0);
    }
    if (rc == 0) {
        e = rd_kafka_commit_transaction(w->producer, WORKER_TXN_TIMEOUT_MS);
        if (!e)
            return 0;
        log_msg(LOG_WARN, w->stage->name, NULL, NULL, "emit commit: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    worker_abort(w);
    return -1;
}
