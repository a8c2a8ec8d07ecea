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
 *      the transaction, commit.
 * Any failure aborts the transaction and rewinds to the batch's first
 * offsets; replays are safe because of step 5's cause check.
 */
#include "worker.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "arena.h"
#include "rebuild.h"
#include "handlers.h"
#include "log.h"
#include "ormis.h"
#include "pb_strings.h"
#include "store.h"

const double worker_lat_bounds_ms[WORKER_LAT_BUCKETS - 1] = {1,  2,   5,   10,  20,
                                                             50, 100, 250, 500, 1000};
const double worker_tt_bounds_s[WORKER_TT_BUCKETS - 1] = {60,   300,   900,   1800, 3600,
                                                          7200, 14400, 43200, 86400};

/* Input messages larger than this are rejected before decoding. The largest
 * alert the contract allows is about 400 KB. */
#define WORKER_MAX_INPUT (512 * 1024)
#define WORKER_MAX_ROUNDS 32
#define WORKER_TXN_TIMEOUT_MS 30000
#define WORKER_POISON_TRIES 3

typedef enum worker_input {
    IN_ALERT,
    IN_EVENT,
    IN_TIMER,
} worker_input_t;

/* The stage table: what each stage consumes and which handler decides. */
typedef struct worker_stage {
    const char *name;
    unsigned bit;
    const char *topics[3];
} worker_stage_t;

static const worker_stage_t worker_stage_table[] = {
    {.name = "detected", .bit = CONFIG_STAGE_DETECTED, .topics = {"incidents.detected"}},
    {.name = "classified", .bit = CONFIG_STAGE_CLASSIFIED, .topics = {"incidents.classified"}},
    {.name = "scoped", .bit = CONFIG_STAGE_SCOPED, .topics = {"incidents.scoped"}},
    {.name = "escalated",
     .bit = CONFIG_STAGE_ESCALATED,
     .topics = {"incidents.escalated", "incidents.timers"}},
    {.name = "resolved", .bit = CONFIG_STAGE_RESOLVED, .topics = {"incidents.resolved"}},
};

static const char *const worker_out_topic[] = {
    [HD_TOPIC_CLASSIFIED] = "incidents.classified",
    [HD_TOPIC_SCOPED] = "incidents.scoped",
    [HD_TOPIC_ESCALATED] = "incidents.escalated",
    [HD_TOPIC_RESOLVED] = "incidents.resolved",
};

/* One record to produce. */
typedef struct worker_out {
    const char *topic; /* without prefix */
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
} worker_out_t;

/* One input message of the batch and what became of it. */
typedef struct worker_item {
    rd_kafka_message_t *msg;
    worker_input_t kind;
    const char *pos;       /* "topic/partition/offset" */
    const char *dlq_error; /* non-NULL: dead-letter it */
    int dlq_bare;          /* dead-letter without the value (refused with it) */
    hd_alert_t *alert;
    hd_event_t *event;
    hd_timer_t *timer;
    const char *key; /* dedup key (detected) or incident id */
    const char *cause_key;
    const char *cause_id;
    int done; /* settled: outputs final */
    worker_out_t *outs;
    size_t n_outs;
    size_t n_audit;
    size_t n_escalations;
    int64_t tta_ms; /* time to acknowledge of an "acknowledged" record, or -1 */
    int64_t ttr_ms; /* time to resolve of a "resolved" record, or -1 */
    int has_apply;
    size_t apply_idx;
} worker_item_t;

/* In-batch view of one incident (key = dedup key or id). */
typedef struct worker_view {
    const char *key;
    int present;       /* state known (possibly "none") */
    hd_state_t *state; /* NULL = no (open) incident */
    uint64_t version;
} worker_view_t;

struct worker {
    const config_t *cfg;
    const worker_stage_t *stage;
    volatile sig_atomic_t *stop;
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    rd_kafka_consumer_group_metadata_t *cgmd;
    store_t *store;
    arena_t arena;
    char actor[64];
    worker_stats_t stats;
    int rebalanced;
    rd_kafka_message_t **batch;
    size_t n_batch;
    int64_t next_timer_poll_ms;
    int64_t next_lag_ms;
    int64_t next_redis_try_ms;
    int paused;
    int epoch_ok; /* Redis holds the whole state (store_epoch()) */
    int epoch_wait_logged;
    char txid[400];
    char **kafka_props; /* "key=value" pass-through, for the rebuild */
    /* A record the broker refuses for what it is (size, format) would abort
     * the batch for ever: the input that produced it is dead-lettered after
     * WORKER_POISON_TRIES failed commits (worker_poison_*). */
    size_t fail_item; /* 1 + index of the item whose record failed in this batch, or 0 */
    char fail_err[256];
    char poison_pos[320]; /* input position that failed, and how often in a row */
    int poison_tries;
    char poison_err[256];
};

static int64_t worker_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t worker_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

const char *worker_topic(const config_t *cfg, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s", cfg->topic_prefix ? cfg->topic_prefix : "", name);
    return buf;
}

const worker_stats_t *worker_stats(const worker_t *w) { return &w->stats; }
const char *worker_stage_name(const worker_t *w) { return w->stage->name; }

int worker_kafka_conf(const config_t *cfg, rd_kafka_conf_t *conf, char *errstr, size_t errstr_size)
{
    char err[256];
    if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->brokers, err, sizeof(err)) !=
        RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "brokers: %s", err);
        return -1;
    }
    for (size_t i = 0; i < cfg->n_kafka; i++) {
        if (rd_kafka_conf_set(conf, cfg->kafka[i].key, cfg->kafka[i].value, err, sizeof(err)) !=
            RD_KAFKA_CONF_OK) {
            /* The value may be a secret: name the property only. */
            snprintf(errstr, errstr_size, "kafka.%s: %s", cfg->kafka[i].key, err);
            return -1;
        }
    }
    return 0;
}

/* librdkafka's own logs go into ours. @locality: librdkafka threads. */
static void worker_kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    log_level_t l = level <= 3   ? LOG_ERROR
                    : level <= 4 ? LOG_WARN
                    : level <= 6 ? LOG_INFO
                                 : LOG_DEBUG;
    log_msg(l, NULL, NULL, NULL, "rdkafka %s %s: %s", rd_kafka_name(rk), fac, buf);
}

static void worker_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    worker_t *w = opaque;
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

int worker_create_topics(const config_t *cfg, int partitions, char *errstr, size_t errstr_size)
{
    static const char *const names[] = {
        "incidents.detected", "incidents.classified", "incidents.scoped", "incidents.escalated",
        "incidents.resolved", "ormis.audit",          "incidents.dlq",    "incidents.timers"};
    const size_t n = sizeof(names) / sizeof(names[0]);
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (worker_kafka_conf(cfg, conf, errstr, errstr_size) < 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_log_cb(conf, worker_kafka_log);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        snprintf(errstr, errstr_size, "kafka: %s", err);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_NewTopic_t *nt[8];
    char tbuf[8][300];
    for (size_t i = 0; i < n; i++) {
        worker_topic(cfg, names[i], tbuf[i], sizeof(tbuf[i]));
        nt[i] = rd_kafka_NewTopic_new(tbuf[i], partitions, -1, err, sizeof(err));
        if (strcmp(names[i], "ormis.audit") == 0)
            rd_kafka_NewTopic_set_config(nt[i], "retention.ms", "-1");
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opt, 30000, err, sizeof(err));
    rd_kafka_AdminOptions_set_request_timeout(opt, 30000, err, sizeof(err));
    rd_kafka_CreateTopics(rk, nt, n, opt, q);
    int rc = 0;
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
    if (!ev) {
        snprintf(errstr, errstr_size, "kafka: no answer creating topics (brokers %s)",
                 cfg->brokers);
        rc = -1;
    } else if (rd_kafka_event_error(ev)) {
        snprintf(errstr, errstr_size, "kafka: creating topics: %s",
                 rd_kafka_event_error_string(ev));
        rc = -1;
    } else {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t cnt;
        const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
        for (size_t i = 0; i < cnt; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                snprintf(errstr, errstr_size, "kafka: creating topic %s: %s",
                         rd_kafka_topic_result_name(tr[i]),
                         rd_kafka_topic_result_error_string(tr[i]));
                rc = -1;
            }
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_NewTopic_destroy_array(nt, n);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

typedef struct worker_prop {
    const char *k, *v;
} worker_prop_t;

static int worker_props_set(rd_kafka_conf_t *conf, const worker_prop_t *p, size_t n,
                            const char *what, char *errstr, size_t errstr_size)
{
    char err[512];
    for (size_t i = 0; i < n; i++)
        if (rd_kafka_conf_set(conf, p[i].k, p[i].v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
            snprintf(errstr, errstr_size, "kafka %s %s: %s", what, p[i].k, err);
            return -1;
        }
    return 0;
}

/* Kafka properties are set in three layers: incidentd's tunable defaults,
 * then the operator's kafka.* pass-through (which may override them), then
 * what exactly-once needs (which nobody may override). */

/* Errors that belong to a record itself (retrying the same record cannot
 * succeed), as opposed to the broker or the network being away. */
static int worker_record_error(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE || e == RD_KAFKA_RESP_ERR_INVALID_RECORD ||
           e == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE || e == RD_KAFKA_RESP_ERR_INVALID_MSG ||
           e == RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE;
}

/* Notes the first record of the batch that failed for what it is.
 * @locality: the worker thread (served by the flush of commit_transaction). */
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
static int worker_producer_new(worker_t *w, char *errstr, size_t errstr_size)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const worker_prop_t tunables[] = {
        {"transaction.timeout.ms", "10000"},
        {"linger.ms", "2"},
        {"queue.buffering.max.kbytes", "32768"},
    };
    char maxb[24];
    snprintf(maxb, sizeof(maxb), "%u", w->cfg->message_max_bytes);
    const worker_prop_t required[] = {
        {"transactional.id", w->txid},
        {"enable.idempotence", "true"},
        {"message.max.bytes", maxb}, /* limits.message_bytes: records are sized by it */
    };
    if (worker_props_set(conf, tunables, sizeof(tunables) / sizeof(tunables[0]), "producer", errstr,
                         errstr_size) < 0 ||
        worker_kafka_conf(w->cfg, conf, errstr, errstr_size) < 0 ||
        worker_props_set(conf, required, sizeof(required) / sizeof(required[0]), "producer", errstr,
                         errstr_size) < 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_log_cb(conf, worker_kafka_log);
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
static int worker_producer_init(worker_t *w)
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

worker_t *worker_new(const config_t *cfg, unsigned stage_bit, volatile sig_atomic_t *stop,
                     char *errstr, size_t errstr_size)
{
    char err[512];
    rd_kafka_conf_t *conf = NULL;
    worker_t *w = calloc(1, sizeof(*w));
    if (!w) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    w->cfg = cfg;
    w->stop = stop;
    arena_init(&w->arena, 256 * 1024);
    for (size_t i = 0; i < sizeof(worker_stage_table) / sizeof(worker_stage_table[0]); i++)
        if (worker_stage_table[i].bit == stage_bit)
            w->stage = &worker_stage_table[i];
    if (!w->stage) {
        snprintf(errstr, errstr_size, "no worker for stage bit %u", stage_bit);
        goto fail;
    }
    snprintf(w->actor, sizeof(w->actor), "incidentd/%s", w->stage->name);
    w->batch = calloc((size_t)cfg->batch_max, sizeof(*w->batch));
    if (!w->batch) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }

    w->store = store_new(cfg->redis, cfg->redis_user, cfg->redis_password, cfg->topic_prefix,
                         errstr, errstr_size);
    if (!w->store)
        goto fail;
    atomic_store(&w->stats.redis_up, store_ready(w->store));
    if (!store_ready(w->store))
        log_msg(LOG_WARN, w->stage->name, NULL, NULL, "%s (will retry)", store_error(w->store));

    char group[256], txid[400], host[128] = "localhost";
    gethostname(host, sizeof(host) - 1);
    /* Pipelines that share a cluster under different topic prefixes get
     * their own groups and transactional ids: "incidentd.prod.detected". */
    snprintf(group, sizeof(group), "%s.%s%s", cfg->group_prefix, cfg->topic_prefix, w->stage->name);

    /* Consumer: manual commits through the producer's transaction. */
    conf = rd_kafka_conf_new();
    /* The prefetch queue is bounded (backpressure, RSS): see docs/performance.md. */
    const worker_prop_t ctunables[] = {
        {"auto.offset.reset", "earliest"}, {"partition.assignment.strategy", "range,roundrobin"},
        {"session.timeout.ms", "10000"},   {"heartbeat.interval.ms", "1000"},
        {"queued.min.messages", "1000"},   {"queued.max.messages.kbytes", "4096"},
        {"fetch.wait.max.ms", "10"},
    };
    const worker_prop_t crequired[] = {
        {"group.id", group},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"isolation.level", "read_committed"},
    };
    if (worker_props_set(conf, ctunables, sizeof(ctunables) / sizeof(ctunables[0]), "consumer",
                         errstr, errstr_size) < 0 ||
        worker_kafka_conf(cfg, conf, errstr, errstr_size) < 0 ||
        worker_props_set(conf, crequired, sizeof(crequired) / sizeof(crequired[0]), "consumer",
                         errstr, errstr_size) < 0)
        goto fail;
    if (cfg->instance_id && *cfg->instance_id) {
        char gid[300];
        snprintf(gid, sizeof(gid), "%s.%s%s", cfg->instance_id, cfg->topic_prefix, w->stage->name);
        if (rd_kafka_conf_set(conf, "group.instance.id", gid, err, sizeof(err)) !=
            RD_KAFKA_CONF_OK) {
            snprintf(errstr, errstr_size, "kafka group.instance.id: %s", err);
            goto fail;
        }
    }
    rd_kafka_conf_set_log_cb(conf, worker_kafka_log);
    rd_kafka_conf_set_rebalance_cb(conf, worker_rebalance_cb);
    rd_kafka_conf_set_opaque(conf, w);
    w->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!w->consumer) {
        snprintf(errstr, errstr_size, "kafka consumer: %s", err);
        goto fail;
    }
    conf = NULL;
    rd_kafka_poll_set_consumer(w->consumer);

    /* Producer: transactional (implies idempotence). A stable transactional
     * id fences a crashed predecessor at once; without an instance id the
     * host and pid make it unique. */
    if (cfg->instance_id && *cfg->instance_id)
        snprintf(txid, sizeof(txid), "%s.%s.%s", group, cfg->instance_id, w->stage->name);
    else
        snprintf(txid, sizeof(txid), "%s.%s.%d", group, host, (int)getpid());
    snprintf(w->txid, sizeof(w->txid), "%s", txid);
    w->kafka_props = calloc(cfg->n_kafka + 1, sizeof(*w->kafka_props));
    if (!w->kafka_props) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < cfg->n_kafka; i++) {
        size_t len = strlen(cfg->kafka[i].key) + strlen(cfg->kafka[i].value) + 2;
        w->kafka_props[i] = malloc(len);
        if (!w->kafka_props[i]) {
            snprintf(errstr, errstr_size, "out of memory");
            goto fail;
        }
        snprintf(w->kafka_props[i], len, "%s=%s", cfg->kafka[i].key, cfg->kafka[i].value);
    }
    if (worker_producer_new(w, errstr, errstr_size) < 0)
        goto fail;
    return w;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    worker_destroy(w);
    return NULL;
}

void worker_destroy(worker_t *w)
{
    if (!w)
        return;
    if (w->consumer)
        rd_kafka_destroy(w->consumer);
    if (w->producer)
        rd_kafka_destroy(w->producer);
    if (w->cgmd)
        rd_kafka_consumer_group_metadata_destroy(w->cgmd);
    store_destroy(w->store);
    for (size_t i = 0; i < w->n_batch; i++)
        rd_kafka_message_destroy(w->batch[i]);
    free(w->batch);
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
                    "redis holds no incidentd state; waiting for another process to rebuild it");
        w->epoch_wait_logged = 1;
        return -1;
    }
    log_msg(
        LOG_WARN, w->stage->name, NULL, NULL,
        "redis holds no incidentd state (new, or restarted empty): rebuilding it from ormis.audit");
    rebuild_opts_t opts = {
        .redis_user = w->cfg->redis_user,
        .redis_password = w->cfg->redis_password,
        .kafka_props = (const char *const *)w->kafka_props,
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

/* ---- batch helpers --------------------------------------------------------- */

static void worker_free_batch(worker_t *w)
{
    for (size_t i = 0; i < w->n_batch; i++)
        rd_kafka_message_destroy(w->batch[i]);
    w->n_batch = 0;
}

/* Rewinds every partition of the batch to its first offset in the batch (the
 * committed position), so the batch is consumed again. */
static void worker_rewind(worker_t *w)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)w->n_batch);
    for (size_t i = 0; i < w->n_batch; i++) {
        rd_kafka_message_t *m = w->batch[i];
        const char *t = rd_kafka_topic_name(m->rkt);
        if (!rd_kafka_topic_partition_list_find(l, t, m->partition))
            rd_kafka_topic_partition_list_add(l, t, m->partition)->offset = m->offset;
    }
    if (l->cnt > 0) {
        rd_kafka_error_t *e = rd_kafka_seek_partitions(w->consumer, l, 5000);
        if (e) {
            log_msg(LOG_WARN, w->stage->name, NULL, NULL, "rewind: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
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

static void worker_add_out(worker_t *w, worker_item_t *it, size_t *cap, const char *topic,
                           const void *key, size_t key_len, const void *val, size_t val_len)
{
    if (it->n_outs == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        worker_out_t *n = arena_alloc(&w->arena, ncap * sizeof(*n));
        if (it->n_outs)
            memcpy(n, it->outs, it->n_outs * sizeof(*n));
        it->outs = n;
        *cap = ncap;
    }
    it->outs[it->n_outs++] = (worker_out_t){topic, key, key_len, val, val_len};
}

/* Records of a replay, from the stored blob. */
static int worker_outs_from_blob(worker_t *w, worker_item_t *it, const unsigned char *blob,
                                 size_t len)
{
    it->n_outs = 0;
    if (!blob || len == 0)
        return 0;
    Incidentd__V1__StoredOutputs *so =
        incidentd__v1__stored_outputs__unpack(arena_pb(&w->arena), len, blob);
    if (!so)
        return -1;
    size_t cap = 0;
    for (size_t i = 0; i < so->n_records; i++) {
        Incidentd__V1__OutRecord *r = so->records[i];
        worker_add_out(w, it, &cap, r->topic, r->key.data, r->key.len, r->value.data, r->value.len);
    }
    return 0;
}

static void *worker_pack_state(worker_t *w, const hd_state_t *st, size_t *len)
{
    *len = incidentd__v1__stored_incident__get_packed_size(st);
    void *buf = arena_alloc(&w->arena, *len ? *len : 1);
    incidentd__v1__stored_incident__pack(st, buf);
    return buf;
}

static hd_state_t *worker_unpack_state(worker_t *w, const unsigned char *buf, size_t len)
{
    if (!buf || !len)
        return NULL;
    hd_state_t *st = incidentd__v1__stored_incident__unpack(arena_pb(&w->arena), len, buf);
    if (!st || !st->incident)
        return NULL;
    return st;
}

static worker_view_t *worker_view(worker_view_t *views, size_t *n, const char *key)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(views[i].key, key) == 0)
            return &views[i];
    worker_view_t *v = &views[(*n)++];
    memset(v, 0, sizeof(*v));
    v->key = key;
    return v;
}

/* Publishes the store's round trips and errors to the metrics. */
static void worker_note_redis(worker_t *w)
{
    atomic_store(&w->stats.redis_round_trips, store_round_trips(w->store));
    atomic_store(&w->stats.redis_errors, store_errors(w->store));
}

/* A new incident's id: derived from the alert and its input position, so a
 * replay of the same position names the same incident. */
static const char *worker_new_id(worker_t *w, const worker_item_t *it)
{
    char buf[512];
    int n = snprintf(buf, sizeof(buf), "%s|%s", it->alert->alert_id, it->pos);
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)buf, (size_t)(n < (int)sizeof(buf) ? n : (int)sizeof(buf) - 1),
           md);
    return arena_printf(&w->arena, "INC-%02x%02x%02x%02x%02x%02x%02x%02x", md[0], md[1], md[2],
                        md[3], md[4], md[5], md[6], md[7]);
}

/* Decodes and validates one message into @p it. */
static void worker_decode(worker_t *w, worker_item_t *it)
{
    rd_kafka_message_t *m = it->msg;
    const char *topic = rd_kafka_topic_name(m->rkt);
    it->pos = arena_printf(&w->arena, "%s/%d/%" PRId64, topic, (int)m->partition, m->offset);
    if (m->len > WORKER_MAX_INPUT) {
        it->dlq_error = arena_printf(&w->arena, "message of %zu bytes exceeds the limit of %d",
                                     m->len, WORKER_MAX_INPUT);
        return;
    }
    char err[256];
    size_t plen = strlen(w->cfg->topic_prefix);
    const char *bare = strncmp(topic, w->cfg->topic_prefix, plen) == 0 ? topic + plen : topic;
    if (w->stage->bit == CONFIG_STAGE_DETECTED) {
        it->kind = IN_ALERT;
        it->alert = (hd_alert_t *)pb_strings_unpack(&incident__v1__alert__descriptor,
                                                    arena_pb(&w->arena), m->len, m->payload);
        if (!it->alert) {
            it->dlq_error = "cannot decode incident.v1.Alert";
            return;
        }
        if (hd_alert_validate(it->alert, err, sizeof(err)) < 0) {
            it->dlq_error = arena_strdup(&w->arena, err);
            return;
        }
        it->key = it->alert->dedup_key;
        it->cause_id = it->alert->alert_id;
        it->cause_key =
            arena_printf(&w->arena, "%salert:%s", w->cfg->topic_prefix, it->alert->alert_id);
    } else if (strcmp(bare, "incidents.timers") == 0) {
        it->kind = IN_TIMER;
        it->timer = (hd_timer_t *)pb_strings_unpack(&incidentd__v1__timer_fired__descriptor,
                                                    arena_pb(&w->arena), m->len, m->payload);
        if (!it->timer || !it->timer->incident_id[0]) {
            it->dlq_error = "cannot decode incidentd.v1.TimerFired";
            return;
        }
        if (!it->timer->claim[0]) {
            it->dlq_error = "timer command without a claim (not fired by incidentd)";
            return;
        }
        it->key = it->timer->incident_id;
        /* The claim token names one firing of one armed timer: a command
         * fired twice is a duplicate, a re-armed timer a new cause. */
        it->cause_id = arena_printf(&w->arena, "timer:%s:%u:%s", it->timer->incident_id,
                                    it->timer->level, it->timer->claim);
        it->cause_key = arena_printf(&w->arena, "%scause:{%s}:timer:%u:%s", w->cfg->topic_prefix,
                                     it->timer->incident_id, it->timer->level, it->timer->claim);
    } else {
        it->kind = IN_EVENT;
        it->event = (hd_event_t *)pb_strings_unpack(&incident__v1__incident_event__descriptor,
                                                    arena_pb(&w->arena), m->len, m->payload);
        if (!it->event) {
            it->dlq_error = "cannot decode incident.v1.IncidentEvent";
            return;
        }
        if (hd_event_validate(it->event, err, sizeof(err)) < 0) {
            it->dlq_error = arena_strdup(&w->arena, err);
            return;
        }
        it->key = it->event->incident->id;
        it->cause_id = it->event->event_id;
        it->cause_key = arena_printf(&w->arena, "%scause:{%s}:%s:%s", w->cfg->topic_prefix, it->key,
                                     w->stage->name, it->event->event_id);
    }
}

/* Runs the stage's handler for one item against @p cur. */
static void worker_decide(worker_t *w, worker_item_t *it, const hd_state_t *cur, int64_t now_ms,
                          hd_transition_t *tr)
{
    hd_ctx_t ctx = {
        .rules = &w->cfg->rules,
        .arena = &w->arena,
        .now_ms = now_ms,
        .actor = w->actor,
        .cause_id = it->cause_id,
    };
    switch (w->stage->bit) {
    case CONFIG_STAGE_DETECTED:
        hd_detected_apply(&ctx, cur, it->alert, worker_new_id(w, it), tr);
        break;
    case CONFIG_STAGE_CLASSIFIED:
        hd_classified_apply(&ctx, cur, it->event, tr);
        break;
    case CONFIG_STAGE_SCOPED:
        hd_scoped_apply(&ctx, cur, it->event, tr);
        break;
    case CONFIG_STAGE_ESCALATED:
        if (it->kind == IN_TIMER)
            hd_timer_apply(&ctx, cur, it->timer, tr);
        else
            hd_escalated_apply(&ctx, cur, it->event, tr);
        break;
    case CONFIG_STAGE_RESOLVED:
        hd_resolved_apply(&ctx, cur, it->event, tr);
        break;
    default:
        memset(tr, 0, sizeof(*tr));
    }
}

/* Turns an applied transition into records (events + audit) and the
 * Redis apply command. Returns the new state. */
static hd_state_t *worker_materialise(worker_t *w, worker_item_t *it, const hd_state_t *cur,
                                      uint64_t cur_version, hd_transition_t *tr, int64_t now_ms,
                                      store_apply_t *ap)
{
    memset(ap, 0, sizeof(*ap));
    const char *id = tr->state ? tr->state->incident->id : cur ? cur->incident->id : it->key;
    size_t cap = 0;
    it->n_outs = 0;
    it->n_audit = tr->n_records;
    it->n_escalations = 0;
    it->tta_ms = it->ttr_ms = -1;
    size_t idlen = strlen(id);

    /* ORMIS: chain the records after the incident's chain head. */
    if (tr->n_records > 0) {
        char *bufs = arena_alloc(&w->arena, 2 * tr->n_records * ORMIS_HASH_HEX);
        const char *head = ormis_chain(tr->records, tr->n_records, cur ? cur->last_hash : "", bufs);
        if (tr->state)
            tr->state->last_hash = (char *)head;
    }
    const char *cause_alert = it->kind == IN_ALERT   ? it->alert->alert_id
                              : it->kind == IN_EVENT ? it->event->cause_alert_id
                                                     : "";
    for (size_t i = 0; i < tr->n_outputs; i++) {
        hd_event_t *ev = arena_alloc(&w->arena, sizeof(*ev));
        incident__v1__incident_event__init(ev);
        ev->incident = (hd_incident_t *)tr->outputs[i].snapshot;
        ev->event_id = arena_printf(&w->arena, "%s:%" PRIu64, id, ev->incident->version);
        ev->cause_alert_id = (char *)cause_alert;
        ev->at_ms = now_ms;
        size_t len = incident__v1__incident_event__get_packed_size(ev);
        void *buf = arena_alloc(&w->arena, len ? len : 1);
        incident__v1__incident_event__pack(ev, buf);
        worker_add_out(w, it, &cap, worker_out_topic[tr->outputs[i].topic], id, idlen, buf, len);
    }
    for (size_t i = 0; i < tr->n_records; i++) {
        size_t len = incident__v1__audit_record__get_packed_size(tr->records[i]);
        void *buf = arena_alloc(&w->arena, len ? len : 1);
        incident__v1__audit_record__pack(tr->records[i], buf);
        worker_add_out(w, it, &cap, "ormis.audit", id, idlen, buf, len);
        const hd_record_t *rec = tr->records[i];
        if (strcmp(rec->action, "escalated") == 0)
            it->n_escalations++;
        else if (strcmp(rec->action, "acknowledged") == 0 && rec->snapshot)
            it->tta_ms = rec->snapshot->acknowledged_at_ms - rec->snapshot->detected_at_ms;
        else if (strcmp(rec->action, "resolved") == 0 && rec->snapshot)
            it->ttr_ms = rec->snapshot->resolved_at_ms - rec->snapshot->detected_at_ms;
    }

    /* The records, stored for an exact replay of this input position. */
    const void *blob = NULL;
    size_t blob_len = 0;
    if (it->n_outs > 0) {
        Incidentd__V1__StoredOutputs so = INCIDENTD__V1__STORED_OUTPUTS__INIT;
        so.n_records = it->n_outs;
        so.records = arena_alloc(&w->arena, it->n_outs * sizeof(*so.records));
        for (size_t i = 0; i < it->n_outs; i++) {
            Incidentd__V1__OutRecord *r = arena_alloc(&w->arena, sizeof(*r));
            incidentd__v1__out_record__init(r);
            r->topic = (char *)it->outs[i].topic;
            r->key.data = (uint8_t *)it->outs[i].key;
            r->key.len = it->outs[i].key_len;
            r->value.data = (uint8_t *)it->outs[i].value;
            r->value.len = it->outs[i].value_len;
            so.records[i] = r;
        }
        blob_len = incidentd__v1__stored_outputs__get_packed_size(&so);
        void *b = arena_alloc(&w->arena, blob_len);
        incidentd__v1__stored_outputs__pack(&so, b);
        blob = b;
    }

    ap->id = id;
    ap->expected_version = cur_version;
    ap->expected_head = cur && cur->last_hash ? cur->last_hash : "";
    if (tr->state) {
        ap->new_version = tr->state->incident->version;
        ap->new_head = tr->state->last_hash ? tr->state->last_hash : "";
        ap->state = worker_pack_state(w, tr->state, &ap->state_len);
        ap->new_stage = hd_stage_name(tr->state->incident->stage);
    }
    if (cur)
        ap->old_stage = hd_stage_name(cur->incident->stage);
    if (!tr->state)
        ap->new_stage = ap->old_stage;
    if (cur && cur->incident->kind != INCIDENT__V1__KIND__KIND_UNSPECIFIED)
        ap->old_kind = hd_kind_name(cur->incident->kind);
    if (tr->state && tr->state->incident->kind != INCIDENT__V1__KIND__KIND_UNSPECIFIED)
        ap->new_kind = hd_kind_name(tr->state->incident->kind);
    if (!tr->state)
        ap->new_kind = ap->old_kind;
    /* Effects-only transitions (timer arm) are idempotent and not recorded;
     * a fired timer is, whatever it decided, and consumes its claim. */
    ap->cause_key = tr->state || it->kind == IN_TIMER ? it->cause_key : NULL;
    if (it->kind == IN_TIMER) {
        ap->timer_member =
            arena_printf(&w->arena, "%u|%s", it->timer->level, it->timer->incident_id);
        ap->timer_claim = it->timer->claim;
    }
    ap->pos = it->pos;
    ap->outputs = blob;
    ap->outputs_len = blob_len;
    ap->index_op = (int)tr->index_op;
    ap->dedup_key = tr->state ? tr->state->incident->dedup_key
                    : cur     ? cur->incident->dedup_key
                              : "";
    ap->timer_op = (int)tr->timer_op;
    ap->timer_level = tr->timer_level;
    ap->timer_due_ms = tr->timer_due_ms;
    ap->max_level = w->cfg->rules.max_escalation_level;
    ap->closed = tr->closed;
    ap->retention_ms = w->cfg->retention_ms;
    return tr->state;
}

/* Reads the state of the pending items' incidents and their causes' status
 * (one pipeline). Returns the reads (arena), or NULL when Redis failed. */
static store_read_t *worker_settle_read(worker_t *w, worker_item_t *items, const size_t *pending,
                                        size_t n_pending)
{
    store_read_t *reads = arena_alloc(&w->arena, n_pending * sizeof(*reads));
    for (size_t k = 0; k < n_pending; k++) {
        worker_item_t *it = &items[pending[k]];
        if (it->kind == IN_ALERT)
            reads[k].dedup_key = it->key;
        else
            reads[k].id = it->key;
        reads[k].cause_key = it->cause_key;
        reads[k].pos = it->pos;
    }
    int rc = store_read_batch(w->store, reads, n_pending, &w->arena);
    worker_note_redis(w);
    return rc < 0 ? NULL : reads;
}

/* Largest record incidentd may produce: the limit less room for the
 * record's key, headers and framing. */
static size_t worker_record_max(const worker_t *w)
{
    return (size_t)w->cfg->message_max_bytes - 1024;
}

/* Decides one pending item against its incident's in-batch view and, when
 * something is to be applied, fills @p ap. Returns 1 when @p ap is to be
 * applied, 0 when the item is settled without an apply. */
static int worker_settle_decide(worker_t *w, worker_item_t *it, const store_read_t *r,
                                worker_view_t *v, int64_t now_ms, store_apply_t *ap)
{
    if (r->cause == STORE_CAUSE_REPLAY) {
        if (worker_outs_from_blob(w, it, r->outputs, r->outputs_len) < 0)
            log_msg(LOG_ERROR, w->stage->name, NULL, it->cause_id, "stored records unreadable");
        atomic_fetch_add(&w->stats.replays, 1);
        it->done = 1;
        return 0;
    }
    if (r->cause == STORE_CAUSE_DUP) {
        atomic_fetch_add(&w->stats.duplicates, 1);
        it->n_outs = 0;
        it->done = 1;
        return 0;
    }
    if (!v->present) {
        v->present = 1;
        v->state = worker_unpack_state(w, r->state, r->state_len);
        v->version = r->version;
        if (r->state && !v->state)
            log_msg(LOG_ERROR, w->stage->name, r->found_id, it->cause_id,
                    "stored state unreadable; treating as absent");
    }
    hd_transition_t tr;
    worker_decide(w, it, v->state, now_ms, &tr);
    /* A fired timer is applied even when it changes nothing: the apply
     * checks and consumes its claim (a forged one is refused there). */
    if (tr.verdict == HD_REJECT || (tr.verdict == HD_NOOP && it->kind != IN_TIMER)) {
        it->dlq_error = tr.verdict == HD_REJECT ? arena_strdup(&w->arena, tr.error) : NULL;
        it->n_outs = 0;
        it->done = 1;
        return 0;
    }
    hd_state_t *ns = worker_materialise(w, it, v->state, v->version, &tr, now_ms, ap);
    for (size_t k = 0; k < it->n_outs; k++)
        if (it->outs[k].value_len + it->outs[k].key_len > worker_record_max(w)) {
            it->dlq_error =
                arena_printf(&w->arena,
                             "transition not applied: a %s record of %zu bytes exceeds "
                             "limits.message_bytes (%u)",
                             it->outs[k].topic, it->outs[k].value_len, w->cfg->message_max_bytes);
            it->n_outs = 0;
            it->done = 1;
            return 0;
        }
    if (ns) {
        /* A resolve closes the dedup key: later alerts of the key in this
         * batch see no open incident. */
        if (it->kind == IN_ALERT && tr.index_op == HD_INDEX_CLOSE) {
            v->state = NULL;
            v->version = 0;
        } else {
            v->state = ns;
            v->version = ns->incident->version;
        }
    }
    return 1;
}

/* Takes the result of one apply. Returns 1 when the item must be decided
 * again (conflict), else 0. */
static int worker_settle_result(worker_t *w, worker_item_t *it, const store_apply_t *ap)
{
    switch (ap->result) {
    case STORE_OK:
        atomic_fetch_add(&w->stats.transitions, 1);
        break;
    case STORE_REPLAY:
        worker_outs_from_blob(w, it, ap->replay, ap->replay_len);
        atomic_fetch_add(&w->stats.replays, 1);
        break;
    case STORE_DUP:
        it->n_outs = 0;
        atomic_fetch_add(&w->stats.duplicates, 1);
        break;
    case STORE_REJECT:
        it->n_outs = 0;
        it->dlq_error = ap->reason;
        break;
    case STORE_CONFLICT:
        it->n_outs = 0;
        atomic_fetch_add(&w->stats.conflicts, 1);
        return 1;
    }
    it->done = 1;
    return 0;
}

/* One pending item in a round: its view and what became of it. */
typedef struct worker_slot {
    size_t item;
    size_t view;
    int applied; /* an apply was sent (its index: apply) */
    size_t apply;
    int decided; /* settled by a decision on the view (no apply) */
} worker_slot_t;

/* Decides the round's items against their incidents' views; fills the
 * applies. Returns the number of applies. */
static size_t worker_settle_round(worker_t *w, worker_item_t *items, worker_slot_t *slots, size_t n,
                                  const store_read_t *reads, worker_view_t *views,
                                  store_apply_t *applies)
{
    size_t n_views = 0, n_applies = 0;
    int64_t now_ms = worker_now_ms();
    for (size_t k = 0; k < n; k++) {
        worker_item_t *it = &items[slots[k].item];
        worker_view_t *v = worker_view(views, &n_views, it->key);
        slots[k].view = (size_t)(v - views);
        slots[k].applied = worker_settle_decide(w, it, &reads[k], v, now_ms, &applies[n_applies]);
        slots[k].decided = !slots[k].applied && reads[k].cause == STORE_CAUSE_NEW;
        if (slots[k].applied)
            slots[k].apply = n_applies++;
    }
    return n_applies;
}

/* Takes the round's apply results; the items to decide again go to
 * @p pending. One incident's transitions stand or fall together from its
 * first conflict on: the applies after it conflict too (chain head check),
 * and what was decided on the view without an apply is decided again.
 * Returns the number pending. */
static size_t worker_settle_collect(worker_t *w, worker_item_t *items, const worker_slot_t *slots,
                                    size_t n, const store_apply_t *applies, size_t n_views,
                                    size_t *pending)
{
    unsigned char *fallen = arena_alloc(&w->arena, n_views ? n_views : 1);
    size_t n_pending = 0;
    for (size_t k = 0; k < n; k++) {
        worker_item_t *it = &items[slots[k].item];
        int again = 0;
        if (slots[k].applied)
            again = worker_settle_result(w, it, &applies[slots[k].apply]);
        else if (slots[k].decided && fallen[slots[k].view]) {
            it->done = 0;
            it->dlq_error = NULL;
            it->n_outs = 0;
            again = 1;
        }
        if (again) {
            fallen[slots[k].view] = 1;
            pending[n_pending++] = slots[k].item;
        }
    }
    return n_pending;
}

/* Settles every item of the batch against Redis: read, decide (chaining one
 * incident's transitions in memory), apply; the items of an incident whose
 * apply conflicted are read and decided again, in their original order.
 * Returns 0, or -1 when Redis failed (the batch must be retried). */
static int worker_settle(worker_t *w, worker_item_t *items, size_t n)
{
    size_t *pending = arena_alloc(&w->arena, n * sizeof(*pending));
    size_t n_pending = 0;
    for (size_t i = 0; i < n; i++)
        if (!items[i].done)
            pending[n_pending++] = i;

    for (int round = 0; n_pending > 0; round++) {
        if (round >= WORKER_MAX_ROUNDS) {
            log_msg(LOG_WARN, w->stage->name, NULL, NULL,
                    "%zu messages still conflicting after %d rounds; retrying the batch", n_pending,
                    round);
            return -1;
        }
        store_read_t *reads = worker_settle_read(w, items, pending, n_pending);
        if (!reads)
            return -1;
        worker_slot_t *slots = arena_alloc(&w->arena, n_pending * sizeof(*slots));
        for (size_t k = 0; k < n_pending; k++)
            slots[k].item = pending[k];
        worker_view_t *views = arena_alloc(&w->arena, n_pending * sizeof(*views));
        store_apply_t *applies = arena_alloc(&w->arena, n_pending * sizeof(*applies));
        size_t n_applies = worker_settle_round(w, items, slots, n_pending, reads, views, applies);
        int rc = store_apply_batch(w->store, applies, n_applies, &w->arena);
        worker_note_redis(w);
        if (rc < 0)
            return -1;
        /* slots are in the items' order: so are the items pending again. */
        n_pending = worker_settle_collect(w, items, slots, n_pending, applies, n_pending, pending);
    }
    return 0;
}

/* Produces one record in the open transaction; @p tag is 1 + the index of
 * the batch item it belongs to (0: none), for worker_dr_cb(). Takes
 * ownership of @p hdrs, even on failure. */
static int worker_produce(worker_t *w, const char *topic, const void *key, size_t key_len,
                          const void *val, size_t val_len, rd_kafka_headers_t *hdrs, size_t tag)
{
    char full[300];
    worker_topic(w->cfg, topic, full, sizeof(full));
    for (int tries = 0;; tries++) {
        rd_kafka_resp_err_t e;
        if (hdrs)
            e = rd_kafka_producev(
                w->producer, RD_KAFKA_V_TOPIC(full), RD_KAFKA_V_KEY((void *)key, key_len),
                RD_KAFKA_V_VALUE((void *)val, val_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_OPAQUE((void *)(uintptr_t)tag), RD_KAFKA_V_HEADERS(hdrs),
                RD_KAFKA_V_END);
        else
            e = rd_kafka_producev(
                w->producer, RD_KAFKA_V_TOPIC(full), RD_KAFKA_V_KEY((void *)key, key_len),
                RD_KAFKA_V_VALUE((void *)val, val_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_OPAQUE((void *)(uintptr_t)tag), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            atomic_fetch_add(&w->stats.produced, 1);
            return 0;
        }
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && tries < 100) {
            rd_kafka_poll(w->producer, 10);
            continue;
        }
        log_msg(LOG_ERROR, w->stage->name, NULL, NULL, "produce to %s: %s", full,
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
    return worker_produce(w, "incidents.dlq", m->key, m->key_len, m->payload, len, h, tag);
}

/* Commits the offsets after the batch, and the produced records, as one
 * transaction. Returns 0, or -1 (aborted; caller rewinds). */
static int worker_commit(worker_t *w)
{
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new((int)w->n_batch);
    for (size_t i = 0; i < w->n_batch; i++) {
        rd_kafka_message_t *m = w->batch[i];
        const char *t = rd_kafka_topic_name(m->rkt);
        rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(offs, t, m->partition);
        if (!p)
            p = rd_kafka_topic_partition_list_add(offs, t, m->partition);
        if (m->offset + 1 > p->offset)
            p->offset = m->offset + 1;
    }
    rd_kafka_error_t *e = NULL;
    if (offs->cnt > 0) {
        if (w->cgmd)
            rd_kafka_consumer_group_metadata_destroy(w->cgmd);
        w->cgmd = rd_kafka_consumer_group_metadata(w->consumer);
        e = rd_kafka_send_offsets_to_transaction(w->producer, offs, w->cgmd, WORKER_TXN_TIMEOUT_MS);
    }
    rd_kafka_topic_partition_list_destroy(offs);
    if (!e)
        e = rd_kafka_commit_transaction(w->producer, WORKER_TXN_TIMEOUT_MS);
    if (!e)
        return 0;
    log_msg(LOG_WARN, w->stage->name, NULL, NULL, "transaction commit failed: %s",
            rd_kafka_error_string(e));
    int fatal = rd_kafka_error_is_fatal(e);
    rd_kafka_error_destroy(e);
    return fatal ? -2 : -1;
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
static void worker_update_lag(worker_t *w)
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
static void worker_poison_note(worker_t *w, const worker_item_t *items)
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
static void worker_poison_apply(worker_t *w, worker_item_t *items, size_t n)
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

/* Produces the batch's records and dead letters and commits them with the
 * offsets. Returns 0, -1 (aborted: rewind and retry) or -2 (fatal). */
static int worker_produce_batch(worker_t *w, worker_item_t *items, size_t n)
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
            rc = worker_produce(w, it->outs[k].topic, it->outs[k].key, it->outs[k].key_len,
                                it->outs[k].value, it->outs[k].value_len, NULL, i + 1);
    }
    rc = rc == 0 ? worker_commit(w) : -1;
    if (rc == 0) {
        w->poison_pos[0] = '\0';
        w->poison_tries = 0;
        return 0;
    }
    atomic_fetch_add(&w->stats.failed, 1);
    worker_poison_note(w, items);
    int arc = worker_abort(w);
    return arc == -2 || rc == -2 ? -2 : -1;
}

/* Counts what a committed batch did into the metrics. */
static void worker_count_batch(worker_t *w, const worker_item_t *items, size_t n, int64_t t0)
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
    atomic_store(&w->stats.in_flight, 0);
    worker_observe_latency(w, worker_mono_us() - t0, n);
}

/* Processes the gathered batch as one transaction. Returns 0 when committed,
 * -1 when aborted (rewound; retry), -2 on a fatal Kafka error. */
static int worker_process(worker_t *w)
{
    int64_t t0 = worker_mono_us();
    arena_reset(&w->arena);
    size_t n = w->n_batch;
    log_msg(LOG_DEBUG, w->stage->name, NULL, NULL, "batch of %zu from %s [%d] at %" PRId64, n,
            rd_kafka_topic_name(w->batch[0]->rkt), (int)w->batch[0]->partition,
            w->batch[0]->offset);
    atomic_store(&w->stats.in_flight, n);
    worker_item_t *items = arena_alloc(&w->arena, n * sizeof(*items));
    for (size_t i = 0; i < n; i++) {
        items[i].msg = w->batch[i];
        items[i].tta_ms = items[i].ttr_ms = -1;
        worker_decode(w, &items[i]);
        if (items[i].dlq_error)
            items[i].done = 1;
    }
    if (worker_settle(w, items, n) < 0) {
        atomic_store(&w->stats.redis_up, store_ready(w->store));
        log_msg(LOG_WARN, w->stage->name, NULL, NULL, "redis step failed: %s",
                store_error(w->store));
        return -1;
    }
    worker_poison_apply(w, items, n);
    int rc = worker_produce_batch(w, items, n);
    if (rc == 0)
        worker_count_batch(w, items, n, t0);
    return rc;
}

/* Escalated stage: turns due ack timers into commands on incidents.timers. */
static void worker_fire_timers(worker_t *w)
{
    store_timer_t timers[64];
    int n = store_timers_claim(w->store, worker_now_ms(), 30000, timers, 64);
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
        t.due_ms = timers[i].due_ms;
        t.claim = timers[i].claim;
        unsigned char buf[512];
        size_t len = incidentd__v1__timer_fired__get_packed_size(&t);
        if (len > sizeof(buf))
            continue;
        incidentd__v1__timer_fired__pack(&t, buf);
        rc = worker_produce(w, "incidents.timers", timers[i].id, strlen(timers[i].id), buf, len,
                            NULL, 0);
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

/* Gathers up to batch.max messages within batch.ms. */
static void worker_gather(worker_t *w)
{
    int64_t deadline = 0;
    while (w->n_batch < (size_t)w->cfg->batch_max && !*w->stop) {
        int timeout = 100;
        if (w->n_batch > 0) {
            int64_t left = deadline - worker_mono_us() / 1000;
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
            if (w->n_batch == 0)
                return;
            continue;
        }
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                log_msg(LOG_WARN, w->stage->name, NULL, NULL, "consumer: %s",
                        rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        if (w->n_batch == 0)
            deadline = worker_mono_us() / 1000 + w->cfg->batch_ms;
        w->batch[w->n_batch++] = m;
    }
}

int worker_run(worker_t *w)
{
    /* Before joining the group: Redis must hold the whole state. */
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
    if (*w->stop)
        return 0;
    char topics[3][300];
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(3);
    for (int i = 0; i < 3 && w->stage->topics[i]; i++)
        rd_kafka_topic_partition_list_add(
            sub, worker_topic(w->cfg, w->stage->topics[i], topics[i], sizeof(topics[i])),
            RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(w->consumer, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (err) {
        log_msg(LOG_ERROR, w->stage->name, NULL, NULL, "subscribe: %s", rd_kafka_err2str(err));
        return -1;
    }

    /* Transactions: retry until the broker answers or we are told to stop. */
    if (worker_producer_init(w) < 0) {
        rd_kafka_consumer_close(w->consumer);
        return *w->stop ? 0 : -1;
    }
    log_msg(LOG_INFO, w->stage->name, NULL, NULL, "stage worker running");

    int rc = 0;
    while (!*w->stop) {
        int64_t now = worker_mono_us() / 1000;
        if (!store_ready(w->store))
            w->epoch_ok = 0;
        if (!w->epoch_ok) {
            /* Backpressure: keep polling (group membership) while paused. */
            if (!w->paused)
                worker_pause(w, 1);
            if (now >= w->next_redis_try_ms) {
                w->next_redis_try_ms = now + 1000;
                if (store_ready(w->store) || store_reconnect(w->store) == 0) {
                    atomic_store(&w->stats.redis_up, 1);
                    if (worker_check_epoch(w) == 0) {
                        log_msg(LOG_INFO, w->stage->name, NULL, NULL,
                                "redis state ready; consuming");
                        w->epoch_ok = 1;
                        w->epoch_wait_logged = 0;
                        worker_resume_committed(w);
                        continue; /* the next poll is the batch's */
                    }
                } else {
                    atomic_store(&w->stats.redis_up, 0);
                }
            }
            rd_kafka_message_t *m = rd_kafka_consumer_poll(w->consumer, 200);
            if (w->rebalanced) {
                w->rebalanced = 0;
                worker_pause(w, 1);
            }
            if (m) {
                /* Paused partitions return nothing new; anything that slips
                 * in is fetched again after the rewind on resume. */
                if (!m->err)
                    log_msg(LOG_DEBUG, w->stage->name, NULL, NULL,
                            "dropped while paused: %s [%d] at %" PRId64,
                            rd_kafka_topic_name(m->rkt), (int)m->partition, m->offset);
                rd_kafka_message_destroy(m);
            }
            continue;
        }
        if (now >= w->next_lag_ms) {
            w->next_lag_ms = now + 1000;
            worker_update_lag(w);
        }
        if (w->stage->bit == CONFIG_STAGE_ESCALATED && now >= w->next_timer_poll_ms) {
            w->next_timer_poll_ms = now + w->cfg->timer_poll_ms;
            worker_fire_timers(w);
        }
        worker_gather(w);
        if (w->n_batch == 0)
            continue;
        int prc = worker_process(w);
        if (prc == -2) {
            /* A fatal producer error (e.g. a transaction that could not be
             * ended while the broker was away): the producer is unusable.
             * Start a new one with the same transactional id — which
             * fences the old one — and consume the batch again. */
            log_msg(LOG_ERROR, w->stage->name, NULL, NULL,
                    "fatal Kafka producer error: starting a new producer");
            atomic_store(&w->stats.kafka_up, 0);
            atomic_fetch_add(&w->stats.failed, 1);
            worker_rewind(w);
            worker_free_batch(w);
            rd_kafka_destroy(w->producer);
            w->producer = NULL;
            char perr[512];
            if (worker_producer_new(w, perr, sizeof(perr)) < 0) {
                log_msg(LOG_ERROR, w->stage->name, NULL, NULL, "%s; stopping", perr);
                rc = -1;
                break;
            }
            if (worker_producer_init(w) < 0) {
                rc = *w->stop ? 0 : -1;
                break;
            }
            continue;
        }
        if (prc < 0) {
            worker_rewind(w);
            if (!store_ready(w->store)) {
                w->epoch_ok = 0;
                log_msg(LOG_WARN, w->stage->name, NULL, NULL,
                        "redis unavailable: pausing consumption");
                worker_pause(w, 1);
                w->next_redis_try_ms = now + 1000;
            } else {
                usleep(100 * 1000);
            }
        }
        worker_free_batch(w);
        atomic_store(&w->stats.in_flight, 0);
    }
    log_msg(LOG_INFO, w->stage->name, NULL, NULL, "stopping: leaving the consumer group");
    rd_kafka_consumer_close(w->consumer);
    return rc;
}
