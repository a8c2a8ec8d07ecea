/*
 * worker.c — the stage worker loop; see worker.h.
 *
 * One batch = one Kafka transaction:
 *   1. gather up to batch.max messages within batch.ms;
 *   2. decode and validate (bad input -> incidents.dlq);
 *   3. read the incidents and the causes' status from Redis (one pipeline);
 *   4. decide each message with the stage's handler, chaining the state of
 *      one incident through the batch in memory;
 *   5. apply all transitions in Redis (one pipeline, apply-once script);
 *      conflicting ones (another stage moved the incident) go back to 3;
 *   6. produce events, audit records and dead letters, send the offsets to
 *      the transaction, commit — with batch.overlap_commit on a thread of
 *      its own while the worker goes on with steps 1-5 of the next batch,
 *      whose transaction begins once that commit has returned
 *      (worker_commit.c says why exactly-once holds).
 * Any failure aborts the transaction and rewinds to the batch's first
 * offsets (and to those of the batch applied meanwhile); replays are safe
 * because of step 5's cause check.
 */
#include "worker_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kafka.h"
#include "log.h"
#include "rebuild.h"

const double worker_lat_bounds_ms[WORKER_LAT_BUCKETS - 1] = {1,  2,   5,   10,  20,
                                                             50, 100, 250, 500, 1000};
const double worker_tt_bounds_s[WORKER_TT_BUCKETS - 1] = {60,   300,   900,   1800, 3600,
                                                          7200, 14400, 43200, 86400};

const worker_stats_t *worker_stats(const worker_t *w) { return &w->stats; }
const char *worker_stage_name(const worker_t *w) { return w->stage->name; }

static void worker_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    worker_t *w = opaque;
    /* A commit running on its thread ends first: whoever is assigned the
     * partitions next (this worker too: an eager rebalance revokes them
     * all) reads their committed offsets, which must be final — after the
     * batch if it committed, before it if not; the batch gathered since is
     * dropped either way (below). */
    worker_commit_join(w, 0);
    w->rebalanced = 1;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        log_msg(LOG_INFO, w->stage->name, NULL, NULL, "assigned %d partitions", parts->cnt);
        rd_kafka_assign(rk, parts);
        atomic_store(&w->stats.assigned, parts->cnt);
        w->paused = 0;
    } else {
        log_msg(LOG_INFO, w->stage->name, NULL, NULL, "revoked %d partitions", parts->cnt);
        rd_kafka_assign(rk, NULL);
        atomic_store(&w->stats.assigned, 0);
    }
}

/* The consumer: manual commits through the producer's transaction, in the
 * group @p group. Returns 0, or -1 with a message. */
static int worker_consumer_new(worker_t *w, const char *group, char *errstr, size_t errstr_size)
{
    const config_t *cfg = w->cfg;
    char err[512], gid[300] = "";
    if (cfg->instance_id && *cfg->instance_id)
        snprintf(gid, sizeof(gid), "%s.%s%s", cfg->instance_id, cfg->topic_prefix, w->stage->name);
    /* The prefetch queue is bounded (backpressure, RSS): see docs/performance.md. */
    const kafka_prop_t tunables[] = {
        {"auto.offset.reset", "earliest"}, {"partition.assignment.strategy", "range,roundrobin"},
        {"session.timeout.ms", "10000"},   {"heartbeat.interval.ms", "1000"},
        {"queued.min.messages", "1000"},   {"queued.max.messages.kbytes", "4096"},
        {"fetch.wait.max.ms", "10"},
    };
    const kafka_prop_t required[] = {
        {"group.id", group},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"isolation.level", "read_committed"},
        {"group.instance.id", gid[0] ? gid : NULL},
    };
    size_t n_required = sizeof(required) / sizeof(required[0]) - (gid[0] ? 0 : 1);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (kafka_props_set(conf, tunables, sizeof(tunables) / sizeof(tunables[0]), "consumer", errstr,
                        errstr_size) < 0 ||
        kafka_conf_apply(cfg, conf, errstr, errstr_size) < 0 ||
        kafka_props_set(conf, required, n_required, "consumer", errstr, errstr_size) < 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    rd_kafka_conf_set_rebalance_cb(conf, worker_rebalance_cb);
    rd_kafka_conf_set_opaque(conf, w);
    w->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!w->consumer) {
        snprintf(errstr, errstr_size, "kafka consumer: %s", err);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_poll_set_consumer(w->consumer);
    return 0;
}

/* The kafka.* pass-through as "key=value" strings, for the rebuild. */
static int worker_props_copy(worker_t *w)
{
    const config_t *cfg = w->cfg;
    w->kafka_props = calloc(cfg->n_kafka + 1, sizeof(*w->kafka_props));
    if (!w->kafka_props)
        return -1;
    for (size_t i = 0; i < cfg->n_kafka; i++) {
        size_t len = strlen(cfg->kafka[i].key) + strlen(cfg->kafka[i].value) + 2;
        w->kafka_props[i] = malloc(len);
        if (!w->kafka_props[i])
            return -1;
        snprintf(w->kafka_props[i], len, "%s=%s", cfg->kafka[i].key, cfg->kafka[i].value);
    }
    return 0;
}

worker_t *worker_new(const config_t *cfg, unsigned stage_bit, volatile sig_atomic_t *stop,
                     char *errstr, size_t errstr_size)
{
    worker_t *w = calloc(1, sizeof(*w));
    if (!w) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    w->cfg = cfg;
    w->stop = stop;
    arena_init(&w->arena, 256 * 1024);
    w->stage = stage_by_bit(stage_bit);
    if (!w->stage || !w->stage->decide) {
        snprintf(errstr, errstr_size, "no worker for stage bit %u", stage_bit);
        goto fail;
    }
    snprintf(w->actor, sizeof(w->actor), "incidentd/%s", w->stage->name);
    w->batch = calloc((size_t)cfg->batch_max, sizeof(*w->batch));
    w->commit.batch = calloc((size_t)cfg->batch_max, sizeof(*w->commit.batch));
    w->carry = calloc((size_t)cfg->batch_max, sizeof(*w->carry));
    w->carry_times = calloc((size_t)cfg->batch_max, sizeof(*w->carry_times));
    w->hints = calloc((size_t)cfg->batch_max, sizeof(*w->hints));
    arena_init(&w->commit.arena, 256 * 1024);
    w->overlap = cfg->overlap_commit && strcmp(cfg->overlap_commit, "on") == 0;
    if (!w->batch || !w->commit.batch || !w->carry || !w->carry_times || !w->hints ||
        worker_props_copy(w) < 0) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    redis_conn_opts_t ro;
    redis_conn_opts_of_config(cfg, &ro);
    w->store = store_new(&ro, cfg->topic_prefix, errstr, errstr_size);
    if (!w->store)
        goto fail;
    store_set_replicas(w->store, cfg->redis_min_replicas, cfg->redis_wait_timeout_ms);
    atomic_store(&w->stats.redis_up, store_ready(w->store));
    if (!store_ready(w->store))
        log_msg(LOG_WARN, w->stage->name, NULL, NULL, "%s (will retry)", store_error(w->store));

    /* Pipelines that share a cluster under different topic prefixes get
     * their own groups and transactional ids: "incidentd.prod.detected". */
    char *group = w->group, host[128] = "localhost";
    gethostname(host, sizeof(host) - 1);
    snprintf(w->group, sizeof(w->group), "%s.%s%s", cfg->group_prefix, cfg->topic_prefix,
             w->stage->name);
    if (worker_consumer_new(w, group, errstr, errstr_size) < 0)
        goto fail;
    /* A stable transactional id fences a crashed predecessor at once;
     * without an instance id the host and pid make it unique. */
    if (cfg->instance_id && *cfg->instance_id)
        snprintf(w->txid, sizeof(w->txid), "%s.%s.%s", group, cfg->instance_id, w->stage->name);
    else
        snprintf(w->txid, sizeof(w->txid), "%s.%s.%d", group, host, (int)getpid());
    if (worker_producer_new(w, errstr, errstr_size) < 0)
        goto fail;
    if (w->stage->reads_silences) {
        char topic[300];
        w->silences = silences_new(
            cfg->brokers, kafka_topic_name(cfg, "incidents.silences", topic, sizeof(topic)),
            (const char *const *)w->kafka_props, cfg->silences_max_active);
    }
    /* Who is on call depends on the overrides wherever a stage assigns or
     * escalates: every deciding stage, when rotations are configured. */
    w->rules = cfg->rules;
    if (w->stage->decide && cfg->rules.n_rotations > 0) {
        char topic[300];
        w->overrides = overrides_new(
            cfg->brokers, kafka_topic_name(cfg, "incidents.overrides", topic, sizeof(topic)),
            (const char *const *)w->kafka_props, cfg->overrides_max_active);
    }
    return w;
fail:
    worker_destroy(w);
    return NULL;
}

void worker_destroy(worker_t *w)
{
    if (!w)
        return;
    worker_commit_destroy(w); /* before the producer, the consumer and the store */
    if (w->consumer)
        rd_kafka_destroy(w->consumer);
    worker_producer_destroy(w);
    store_destroy(w->store);
    silences_destroy(w->silences);
    gtable_destroy(w->overrides);
    overrides_view_free(&w->override_view);
    free(w->seen_keys);
    for (size_t i = 0; i < w->n_batch; i++)
        rd_kafka_message_destroy(w->batch[i]);
    free(w->batch);
    if (w->carry)
        worker_carry_drop(w);
    free(w->carry);
    free(w->carry_times);
    free(w->hints);
    if (w->kafka_props) {
        for (size_t i = 0; w->kafka_props[i]; i++)
            free(w->kafka_props[i]);
        free(w->kafka_props);
    }
    arena_destroy(&w->arena);
    free(w);
}

/* Makes sure Redis holds the whole live state before anything is applied:
 * a Redis that restarted empty is rebuilt from ormis.audit by one process
 * (under a lock) while the others wait. Returns 0 when the state is whole,
 * -1 to wait and try again. */
static int worker_check_epoch(worker_t *w)
{
    int e = store_epoch(w->store);
    if (e == 1)
        return 0;
    if (e < 0)
        return -1;
    int l = store_lock(w->store, "meta:rebuild-lock", w->txid, 600);
    if (l != 1) {
        if (!w->epoch_wait_logged)
            log_msg(LOG_WARN, w->stage->name, NULL, NULL,
                    "redis holds no whole incidentd state; waiting for another process to rebuild "
                    "it");
        w->epoch_wait_logged = 1;
        return -1;
    }
    log_msg(
        LOG_WARN, w->stage->name, NULL, NULL,
        "redis holds no whole incidentd state (new, restarted empty, or it lost applied writes): "
        "rebuilding it from ormis.audit");
    rebuild_opts_t opts = {
        .redis_user = w->cfg->redis_user,
        .redis_password = w->cfg->redis_password,
        .redis_sentinels = w->cfg->redis_sentinels,
        .redis_master_name = w->cfg->redis_master_name,
        .redis_sentinel_password = w->cfg->redis_sentinel_password,
        .redis_tls_ca = w->cfg->redis_tls_ca,
        .redis_tls_cert = w->cfg->redis_tls_cert,
        .redis_tls_key = w->cfg->redis_tls_key,
        .kafka_props = (const char *const *)w->kafka_props,
        .rules = &w->cfg->rules,
        .ack_timeout_ms = w->cfg->rules.ack_timeout_ms,
        .max_level = w->cfg->rules.max_escalation_level,
        .retention_ms = w->cfg->retention_ms,
        .stop = w->stop,
    };
    rebuild_stats_t stats;
    memset(&stats, 0, sizeof(stats));
    char err[512];
    int rc = rebuild(w->cfg->brokers, w->cfg->redis, w->cfg->topic_prefix, &opts, &stats, err,
                     sizeof(err));
    store_unlock(w->store, "meta:rebuild-lock", w->txid);
    if (rc < 0) {
        log_msg(LOG_ERROR, w->stage->name, NULL, NULL, "rebuild failed: %s", err);
        return -1;
    }
    log_msg(LOG_INFO, w->stage->name, NULL, NULL,
            "rebuilt from %" PRIu64 " audit records: %" PRIu64 " incidents written, %" PRIu64
            " closed, %" PRIu64 " timers%s",
            stats.records, stats.written, stats.closed, stats.timers,
            stats.incomplete ? " (incomplete: will retry)" : "");
    return store_epoch(w->store) == 1 ? 0 : -1;
}

void worker_free_batch(worker_t *w)
{
    for (size_t i = 0; i < w->n_batch; i++)
        rd_kafka_message_destroy(w->batch[i]);
    w->n_batch = 0;
    worker_carry_drop(w);
}

static void worker_resume_committed(worker_t *w);

/* Adds each partition of @p msgs at its lowest offset among them to @p l
 * (or lowers the offset @p l has). */
static void worker_rewind_add(rd_kafka_topic_partition_list_t *l, rd_kafka_message_t **msgs,
                              size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = msgs[i];
        const char *t = rd_kafka_topic_name(m->rkt);
        rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(l, t, m->partition);
        if (!p)
            rd_kafka_topic_partition_list_add(l, t, m->partition)->offset = m->offset;
        else if (m->offset < p->offset)
            p->offset = m->offset;
    }
}

/* Rewinds every partition of the batch — and of a failed commit's batch
 * being joined (worker_commit.c), which precedes it — to its first offset
 * there (the committed position), so they are consumed again. A seek that
 * did not finish (a broker away: the position is then unknown, and reading
 * on from it would skip the batch and commit past it) falls back to
 * assigning the partitions again at their committed offsets. Never while a
 * commit runs: its callers join it first. */
void worker_rewind(worker_t *w)
{
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new((int)(w->n_batch + w->commit.n_batch + w->n_carry) + 1);
    worker_rewind_add(l, w->commit.batch, w->commit.n_batch);
    worker_rewind_add(l, w->batch, w->n_batch);
    worker_rewind_add(l, w->carry, w->n_carry);
    if (l->cnt > 0) {
        rd_kafka_error_t *e = rd_kafka_seek_partitions(w->consumer, l, 5000);
        int failed = e != NULL;
        for (int i = 0; i < l->cnt; i++)
            failed |= l->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR;
        if (failed) {
            log_msg(LOG_WARN, w->stage->name, NULL, NULL,
                    "rewind: %s: consuming again from the committed offsets",
                    e ? rd_kafka_error_string(e) : "a partition's seek failed");
            worker_resume_committed(w);
        }
        if (e)
            rd_kafka_error_destroy(e);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* Resumes consumption from the committed offsets: the current assignment is
 * assigned again with those offsets, which also clears the pause (whatever
 * was fetched while paused is fetched again). */
static void worker_resume_committed(worker_t *w)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(w->consumer, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts)
        return;
    if (parts->cnt > 0) {
        if (rd_kafka_committed(w->consumer, parts, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
            for (int i = 0; i < parts->cnt; i++)
                parts->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
        for (int i = 0; i < parts->cnt; i++)
            parts->elems[i].err = RD_KAFKA_RESP_ERR_NO_ERROR;
        /* The pause is a flag of the partition that outlives assign(), and
         * assigning the same partitions keeps their fetch positions: clear
         * the pause, drop the assignment, assign at the committed offsets. */
        rd_kafka_resume_partitions(w->consumer, parts);
        rd_kafka_assign(w->consumer, NULL);
        rd_kafka_assign(w->consumer, parts);
        for (int i = 0; i < parts->cnt; i++)
            log_msg(LOG_DEBUG, w->stage->name, NULL, NULL, "resuming %s [%d] at offset %" PRId64,
                    parts->elems[i].topic, (int)parts->elems[i].partition, parts->elems[i].offset);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    w->paused = 0;
}

static void worker_pause(worker_t *w, int pause)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(w->consumer, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts)
        return;
    if (pause)
        rd_kafka_pause_partitions(w->consumer, parts);
    else
        rd_kafka_resume_partitions(w->consumer, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    w->paused = pause;
}

/* Gathers up to batch.max messages within batch.ms, carried ones included
 * (the batch has begun when there are: it waits no longer). */
static void worker_gather(worker_t *w)
{
    int64_t deadline = w->n_carry ? clock_mono_ms() + w->cfg->batch_ms : 0;
    while (w->n_batch + w->n_carry < (size_t)w->cfg->batch_max && !*w->stop) {
        /* an idle wait no longer than the tick asks (it has work of its own) */
        int timeout = w->tick_wait_ms >= 0 && w->tick_wait_ms < 100 ? w->tick_wait_ms : 100;
        if (w->n_batch + w->n_carry > 0) {
            int64_t left = deadline - clock_mono_ms();
            if (left <= 0)
                break;
            timeout = (int)left;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->consumer, timeout);
        if (w->rebalanced) {
            /* Eager rebalance: everything gathered before it will be
             * fetched again from the committed offsets by its new owner. */
            w->rebalanced = 0;
            worker_free_batch(w);
        }
        if (!m) {
            if (w->n_batch + w->n_carry == 0)
                return;
            continue;
        }
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                log_msg(LOG_WARN, w->stage->name, NULL, NULL, "consumer: %s",
                        rd_kafka_message_errstr(m));
            /* A fatal error leaves the consumer unusable: no batch from it. */
            if (m->err == RD_KAFKA_RESP_ERR__FATAL)
                w->consumer_fatal = 1;
            rd_kafka_message_destroy(m);
            if (w->consumer_fatal) {
                worker_free_batch(w);
                return;
            }
            continue;
        }
        if (w->n_batch + w->n_carry == 0)
            deadline = clock_mono_ms() + w->cfg->batch_ms;
        w->batch[w->n_batch++] = m;
    }
}

/* Before joining the group: Redis must hold the whole state. Returns 0, or
 * -1 when told to stop first. */
static int worker_wait_state(worker_t *w)
{
    while (!*w->stop && !w->epoch_ok) {
        if ((store_ready(w->store) || store_reconnect(w->store) == 0) &&
            worker_check_epoch(w) == 0) {
            w->epoch_ok = 1;
            w->epoch_wait_logged = 0;
            atomic_store(&w->stats.redis_up, 1);
            break;
        }
        atomic_store(&w->stats.redis_up, store_ready(w->store));
        for (int i = 0; i < 10 && !*w->stop; i++)
            usleep(100 * 1000);
    }
    return *w->stop ? -1 : 0;
}

/* Before consuming: the whole global table @p t (gtable.h), tried again
 * every second until loaded. Returns 0, or -1 when told to stop. */
static int worker_load_table(worker_t *w, gtable_t *t, const char *what)
{
    char err[512];
    int logged = 0;
    while (t && !*w->stop) {
        if (gtable_load(t, w->stop, err, sizeof(err)) == 0)
            return 0;
        if (!logged)
            log_msg(LOG_WARN, w->stage->name, NULL, NULL,
                    "%s not loaded, not consuming yet: %s (will retry)", what, err);
        logged = 1;
        for (int i = 0; i < 10 && !*w->stop; i++)
            usleep(100 * 1000);
    }
    return *w->stop ? -1 : 0;
}

/* Subscribes to the stage's input topics. Returns 0 or -1. */
static int worker_subscribe(worker_t *w)
{
    char topics[STAGE_MAX_INPUTS][300];
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(STAGE_MAX_INPUTS);
    for (int i = 0; i < STAGE_MAX_INPUTS && w->stage->inputs[i]; i++)
        rd_kafka_topic_partition_list_add(
            sub, kafka_topic_name(w->cfg, w->stage->inputs[i], topics[i], sizeof(topics[i])),
            RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(w->consumer, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (err) {
        log_msg(LOG_ERROR, w->stage->name, NULL, NULL, "subscribe: %s", rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

/* One turn while Redis is away or not whole: partitions paused, polling
 * (group membership kept), Redis tried once a second; on its return the
 * partitions resume from the committed offsets. */
static void worker_turn_paused(worker_t *w, int64_t now)
{
    /* the last commit's outcome before the partitions pause or resume from
     * their committed offsets; messages carried into the next batch go (they
     * come again from those offsets, and Redis may have lost their applies) */
    worker_commit_join(w, 1);
    if (w->n_carry)
        worker_carry_drop(w);
    if (!w->paused)
        worker_pause(w, 1);
    if (now >= w->next_redis_try_ms) {
        w->next_redis_try_ms = now + 1000;
        if (store_ready(w->store) || store_reconnect(w->store) == 0) {
            atomic_store(&w->stats.redis_up, 1);
            if (worker_check_epoch(w) == 0) {
                log_msg(LOG_INFO, w->stage->name, NULL, NULL, "redis state ready; consuming");
                w->epoch_ok = 1;
                w->epoch_wait_logged = 0;
                worker_resume_committed(w);
                return; /* the next poll is the batch's */
            }
        } else {
            atomic_store(&w->stats.redis_up, 0);
        }
        atomic_store(&w->stats.redis_errors, store_errors(w->store));
    }
    rd_kafka_message_t *m = rd_kafka_consumer_poll(w->consumer, 200);
    if (w->rebalanced) {
        w->rebalanced = 0;
        worker_pause(w, 1);
    }
    if (m) {
        /* replaced by worker_turn() once Redis is back */
        if (m->err == RD_KAFKA_RESP_ERR__FATAL)
            w->consumer_fatal = 1;
        /* Paused partitions return nothing new; anything that slips in is
         * fetched again after the rewind on resume. */
        if (!m->err)
            log_msg(LOG_DEBUG, w->stage->name, NULL, NULL,
                    "dropped while paused: %s [%d] at %" PRId64, rd_kafka_topic_name(m->rkt),
                    (int)m->partition, m->offset);
        rd_kafka_message_destroy(m);
    }
}

/* A fatal producer error (e.g. a transaction that could not be ended while
 * the broker was away): the producer is unusable. Start a new one with the
 * same transactional id — which fences the old one — and consume the batch
 * again. Returns 0, or -1 (stop; *rc says how). */
static int worker_producer_replace(worker_t *w, int *rc)
{
    worker_commit_join(w, 1); /* its thread may be using the producer */
    w->producer_fatal = 0;
    log_msg(LOG_ERROR, w->stage->name, NULL, NULL,
            "fatal Kafka producer error: starting a new producer");
    atomic_store(&w->stats.kafka_up, 0);
    atomic_fetch_add(&w->stats.failed, 1);
    worker_rewind(w);
    worker_free_batch(w);
    worker_producer_destroy(w);
    char perr[512];
    if (worker_producer_new(w, perr, sizeof(perr)) < 0) {
        log_msg(LOG_ERROR, w->stage->name, NULL, NULL, "%s; stopping", perr);
        *rc = -1;
        return -1;
    }
    if (worker_producer_init(w) < 0) {
        *rc = *w->stop ? 0 : -1;
        return -1;
    }
    return 0;
}

/* A fatal consumer error (librdkafka 2.0.2 fences a static member after a
 * group coordinator moved to another broker, "FENCED_INSTANCE_ID"): that
 * consumer never delivers again. Start a new one in the same group (same
 * group.instance.id) from the committed offsets; nothing of its batches was
 * committed. Returns 0, or -1 (stop; *rc says how). */
static int worker_consumer_replace(worker_t *w, int *rc)
{
    char reason[512] = "", err[512];
    rd_kafka_fatal_error(w->consumer, reason, sizeof(reason));
    log_msg(LOG_ERROR, w->stage->name, NULL, NULL,
            "fatal Kafka consumer error (%s): starting a new consumer", reason);
    /* the last commit ends first; failed, it is consumed again from the
     * committed offsets by the new consumer (no rewind of this one) */
    worker_commit_join(w, 0);
    atomic_fetch_add(&w->stats.failed, 1);
    atomic_store(&w->stats.assigned, 0);
    worker_free_batch(w);
    /* it cannot leave the group any more: no close */
    rd_kafka_destroy_flags(w->consumer, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    w->consumer = NULL;
    w->consumer_fatal = 0;
    w->paused = 0;
    if (worker_consumer_new(w, w->group, err, sizeof(err)) < 0) {
        log_msg(LOG_ERROR, w->stage->name, NULL, NULL, "%s; stopping", err);
        *rc = -1;
        return -1;
    }
    if (worker_subscribe(w) < 0) {
        *rc = -1;
        return -1;
    }
    return 0;
}

/* After an aborted batch: rewind it; pause when Redis is the cause. */
static void worker_after_abort(worker_t *w, int64_t now)
{
    worker_commit_join(w, 1); /* failed, it rewinds to its batch and drops this one */
    worker_rewind(w);
    if (!store_ready(w->store)) {
        w->epoch_ok = 0;
        log_msg(LOG_WARN, w->stage->name, NULL, NULL, "redis unavailable: pausing consumption");
        worker_pause(w, 1);
        w->next_redis_try_ms = now + 1000;
    } else {
        usleep(100 * 1000);
    }
}

/* One turn of a consuming worker: gauges, due timers, one batch. Returns 0,
 * or -1 to stop (*rc says how). */
static int worker_turn(worker_t *w, int64_t now, int *rc)
{
    if (now >= w->next_lag_ms) {
        w->next_lag_ms = now + 1000;
        worker_update_lag(w);
    }
    if (w->stage->fires_timers && now >= w->next_timer_poll_ms) {
        w->next_timer_poll_ms = now + w->cfg->timer_poll_ms;
        worker_fire_timers(w);
    }
    w->tick_wait_ms = w->tick ? w->tick(w, w->tick_opaque, now) : -1;
    if (w->silences)
        silences_follow(w->silences);
    if (w->overrides) {
        gtable_follow(w->overrides);
        overrides_view_update(w->overrides, &w->override_view);
        w->rules.n_overrides = w->override_view.n;
        w->rules.overrides = w->override_view.v;
    }
    if (w->producer_fatal) /* a commit joined by the timers or the tick */
        return worker_producer_replace(w, rc);
    worker_gather(w);
    if (w->consumer_fatal)
        return worker_consumer_replace(w, rc);
    if (w->producer_fatal) /* a commit joined by the rebalance */
        return worker_producer_replace(w, rc);
    if (w->n_batch + w->n_carry == 0) {
        /* idle: the last commit's outcome (counted, replay records forgotten) */
        worker_commit_join(w, 1);
        return 0;
    }
    int prc = worker_process(w);
    if (prc == -2 || w->producer_fatal)
        return worker_producer_replace(w, rc);
    if (prc < 0) {
        worker_after_abort(w, now);
        worker_free_batch(w);
    }
    /* else the batch went to its commit; what it carried waits for the next */
    atomic_store(&w->stats.in_flight, 0);
    return 0;
}

int worker_run(worker_t *w)
{
    if (worker_wait_state(w) < 0 || worker_load_table(w, w->silences, "silences") < 0 ||
        worker_load_table(w, w->overrides, "on-call overrides") < 0)
        return 0;
    if (worker_subscribe(w) < 0)
        return -1;
    /* Transactions: retry until the broker answers or we are told to stop. */
    if (worker_producer_init(w) < 0) {
        rd_kafka_consumer_close(w->consumer);
        return *w->stop ? 0 : -1;
    }
    log_msg(LOG_INFO, w->stage->name, NULL, NULL, "stage worker running%s",
            w->overlap ? " (commits overlapped with the next batch)" : "");
    int rc = 0;
    while (!*w->stop) {
        int64_t now = clock_mono_ms();
        if (!store_ready(w->store))
            w->epoch_ok = 0;
        if (!w->epoch_ok)
            worker_turn_paused(w, now);
        else if (worker_turn(w, now, &rc) < 0)
            break;
    }
    /* A clean stop leaves nothing applied and uncommitted: messages carried
     * into the next batch are that batch, decided at once (no carry while
     * stopping); if it fails, the next owner reads them again. */
    if (*w->stop && rc == 0 && w->n_carry > 0 && w->consumer && w->epoch_ok && !w->producer_fatal &&
        worker_process(w) != 0)
        worker_free_batch(w);
    /* the last commit ends (committed or aborted) before the group is left */
    worker_commit_join(w, 0);
    log_msg(LOG_INFO, w->stage->name, NULL, NULL, "stopping: leaving the consumer group");
    rd_kafka_consumer_close(w->consumer);
    return rc;
}

void worker_set_tick(worker_t *w, worker_tick_fn fn, void *opaque)
{
    w->tick = fn;
    w->tick_opaque = opaque;
}

store_t *worker_store(worker_t *w) { return w->store; }

gtable_t *worker_silences(worker_t *w) { return w->silences; }

const config_t *worker_config(const worker_t *w) { return w->cfg; }

worker_stats_t *worker_stats_rw(worker_t *w) { return &w->stats; }
