/*
 * kafka.c — Kafka helpers of incidentctl; see kafka.h.
 */
#include "kafka.h"

#include "clock.h"
#include "log.h"
#include "stage.h"

#define KAFKA_MAX_TOPICS 16

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* librdkafka's own log lines are noise for a CLI (every refused connection
 * is logged); errors reach the operator through our messages instead.
 * INCIDENTCTL_DEBUG=1 shows them. @locality: librdkafka threads. */
static void kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    const char *dbg = getenv("INCIDENTCTL_DEBUG");
    if (dbg && *dbg && strcmp(dbg, "0") != 0)
        fprintf(stderr, "incidentctl: rdkafka %d %s: %s\n", level, fac, buf);
}

rd_kafka_conf_t *kafka_conf_new(const char *brokers, const char *const *props, char *errstr,
                                size_t errstr_size)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err)) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "client.id", "incidentctl", err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "kafka brokers: %s", err);
        goto fail;
    }
    for (size_t i = 0; props && props[i]; i++) {
        const char *eq = strchr(props[i], '=');
        char key[256];
        if (!eq || eq == props[i] || (size_t)(eq - props[i]) >= sizeof(key)) {
            snprintf(errstr, errstr_size, "kafka property '%.*s': expected key=value",
                     (int)(eq ? eq - props[i] : (ptrdiff_t)strcspn(props[i], "=")), props[i]);
            goto fail;
        }
        memcpy(key, props[i], (size_t)(eq - props[i]));
        key[eq - props[i]] = '\0';
        if (rd_kafka_conf_set(conf, key, eq + 1, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
            /* The value may be a secret: name the property only. */
            snprintf(errstr, errstr_size, "kafka property %s: %s", key, err);
            goto fail;
        }
    }
    rd_kafka_conf_set_log_cb(conf, kafka_log);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

int kafka_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms, int32_t **parts,
                     int *n_parts, char *errstr, size_t errstr_size)
{
    *parts = NULL;
    *n_parts = 0;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!rkt) {
        snprintf(errstr, errstr_size, "kafka topic %s: %s", topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        return KAFKA_ERR;
    }
    int64_t deadline = clock_mono_ms() + timeout_ms;
    int rc = KAFKA_ERR;
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        int64_t left = deadline - clock_mono_ms();
        rd_kafka_resp_err_t err =
            rd_kafka_metadata(rk, 0, rkt, &md, (int)(left > 100 ? left : 100));
        if (err) {
            snprintf(errstr, errstr_size, "cannot reach Kafka: %s", rd_kafka_err2str(err));
            break;
        }
        const struct rd_kafka_metadata_topic *t = md->topic_cnt == 1 ? &md->topics[0] : NULL;
        if (t && t->err == RD_KAFKA_RESP_ERR_NO_ERROR && t->partition_cnt > 0) {
            int32_t *v = malloc((size_t)t->partition_cnt * sizeof(*v));
            if (!v) {
                snprintf(errstr, errstr_size, "out of memory");
                rd_kafka_metadata_destroy(md);
                break;
            }
            for (int i = 0; i < t->partition_cnt; i++)
                v[i] = t->partitions[i].id;
            *parts = v;
            *n_parts = t->partition_cnt;
            rd_kafka_metadata_destroy(md);
            rc = KAFKA_OK;
            break;
        }
        rd_kafka_resp_err_t terr = t ? t->err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
        rd_kafka_metadata_destroy(md);
        if (terr == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
            snprintf(errstr, errstr_size, "topic %s does not exist (check --topic-prefix)", topic);
            rc = KAFKA_NOTOPIC;
            break;
        }
        /* A topic just created may have no leader yet: ask again. */
        if (clock_mono_ms() >= deadline) {
            snprintf(errstr, errstr_size, "topic %s: %s", topic,
                     terr ? rd_kafka_err2str(terr) : "no partitions");
            break;
        }
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    rd_kafka_topic_destroy(rkt);
    return rc;
}

/* A consumer that reads by assignment only (no group, no commits). */
static rd_kafka_t *kafka_reader_new(const char *brokers, const char *const *props,
                                    int partition_eof, char *errstr, size_t errstr_size)
{
    char err[512], group[96];
    snprintf(group, sizeof(group), "incidentctl.%ld.%lld", (long)getpid(),
             (long long)clock_mono_us());
    rd_kafka_conf_t *conf = kafka_conf_new(brokers, props, errstr, errstr_size);
    if (!conf)
        return NULL;
    const struct {
        const char *k, *v;
    } cprops[] = {
        {"isolation.level", "read_committed"},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},
        {"enable.partition.eof", partition_eof ? "true" : "false"},
        {"fetch.wait.max.ms", "100"},
        /* librdkafka's consumer API wants a group even for assign(); this
         * one is never joined (no subscribe) and never committed to. */
        {"group.id", group},
    };
    for (size_t i = 0; i < sizeof(cprops) / sizeof(cprops[0]); i++)
        if (rd_kafka_conf_set(conf, cprops[i].k, cprops[i].v, err, sizeof(err)) !=
            RD_KAFKA_CONF_OK) {
            snprintf(errstr, errstr_size, "kafka %s: %s", cprops[i].k, err);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) {
        snprintf(errstr, errstr_size, "kafka: %s", err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

static void kafka_reader_destroy(rd_kafka_t *rk)
{
    if (!rk)
        return;
    rd_kafka_assign(rk, NULL);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

rd_kafka_t *kafka_reader_open(const char *brokers, const char *const *props, char *errstr,
                              size_t errstr_size)
{
    return kafka_reader_new(brokers, props, 0, errstr, errstr_size);
}

void kafka_reader_close(rd_kafka_t *rk) { kafka_reader_destroy(rk); }

/* The partitions of one whole-topic read and how far each must go. */
typedef struct kafka_span {
    int32_t *parts;
    int64_t *high; /* the high watermark when the read started */
    char *done;
    int n;
    int pending;
} kafka_span_t;

static void kafka_span_free(kafka_span_t *sp)
{
    free(sp->parts);
    free(sp->high);
    free(sp->done);
}

/* The watermarks of every partition: what to read (added to @p assign)
 * and how much (r->total). Returns KAFKA_OK, KAFKA_NOTOPIC or KAFKA_ERR. */
static int kafka_read_plan(kafka_read_t *r, rd_kafka_t *rk, int idle_ms, kafka_span_t *sp,
                           rd_kafka_topic_partition_list_t **assign, char *errstr,
                           size_t errstr_size)
{
    int rc = kafka_partitions(rk, r->topic, idle_ms, &sp->parts, &sp->n, errstr, errstr_size);
    if (rc != KAFKA_OK)
        return rc;
    r->partitions = sp->n;
    sp->high = calloc((size_t)sp->n, sizeof(*sp->high));
    sp->done = calloc((size_t)sp->n, 1);
    *assign = rd_kafka_topic_partition_list_new(sp->n);
    if (!sp->high || !sp->done || !*assign) {
        snprintf(errstr, errstr_size, "out of memory");
        return KAFKA_ERR;
    }
    for (int i = 0; i < sp->n; i++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t err =
            rd_kafka_query_watermark_offsets(rk, r->topic, sp->parts[i], &lo, &hi, idle_ms);
        if (err) {
            snprintf(errstr, errstr_size, "kafka: watermarks of %s [%" PRId32 "]: %s", r->topic,
                     sp->parts[i], rd_kafka_err2str(err));
            return KAFKA_ERR;
        }
        sp->high[i] = hi;
        if (hi <= lo) {
            sp->done[i] = 1;
            continue;
        }
        r->total += (uint64_t)(hi - lo);
        rd_kafka_topic_partition_list_add(*assign, r->topic, sp->parts[i])->offset =
            RD_KAFKA_OFFSET_BEGINNING;
        sp->pending++;
    }
    return KAFKA_OK;
}

/* What one polled message means for the read. */
typedef enum kafka_step {
    KAFKA_STEP_NEXT,
    KAFKA_STEP_READ,
    KAFKA_STEP_STOP,
    KAFKA_STEP_FAIL
} kafka_step_t;

/* Takes one polled message: partition ends, errors (@p last_err), records
 * of the span handed to r->on_msg. */
static kafka_step_t kafka_read_take(kafka_read_t *r, kafka_span_t *sp, rd_kafka_message_t *m,
                                    char *last_err, size_t last_err_size)
{
    int pi = -1;
    for (int i = 0; i < sp->n && pi < 0; i++)
        if (sp->parts[i] == m->partition)
            pi = i;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (pi >= 0 && !sp->done[pi] && m->offset >= sp->high[pi]) {
            sp->done[pi] = 1;
            sp->pending--;
        }
        return KAFKA_STEP_NEXT;
    }
    if (m->err) {
        snprintf(last_err, last_err_size, "%s", rd_kafka_message_errstr(m));
        int fatal = m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                    m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
                    m->err == RD_KAFKA_RESP_ERR__FATAL;
        return fatal ? KAFKA_STEP_FAIL : KAFKA_STEP_NEXT;
    }
    if (pi < 0 || sp->done[pi] || m->offset >= sp->high[pi])
        return KAFKA_STEP_READ; /* appended after we started: progress, not ours */
    if (m->offset >= sp->high[pi] - 1) {
        sp->done[pi] = 1;
        sp->pending--;
    }
    r->read++;
    int stop = r->on_msg(m, r->opaque);
    if (r->on_progress)
        r->on_progress(r->read, r->total, r->opaque);
    return stop ? KAFKA_STEP_STOP : KAFKA_STEP_READ;
}

/* Polls until every partition reached its watermark, r->stop, the reader
 * stopped or nothing came for @p idle_ms. Returns KAFKA_OK or KAFKA_ERR. */
static int kafka_read_loop(kafka_read_t *r, rd_kafka_t *rk, kafka_span_t *sp, int idle_ms,
                           char *errstr, size_t errstr_size)
{
    int64_t last_progress = clock_mono_ms();
    char last_err[256] = "";
    while (sp->pending > 0) {
        if (r->stop && *r->stop) {
            r->incomplete = 1;
            return KAFKA_OK;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            if (clock_mono_ms() - last_progress <= idle_ms)
                continue;
            /* Committed data ends before the watermark: records of a
             * transaction still open (or an unreachable broker). */
            r->incomplete = 1;
            if (!last_err[0])
                return KAFKA_OK;
            snprintf(errstr, errstr_size, "kafka: reading %s stalled: %s", r->topic, last_err);
            return KAFKA_ERR;
        }
        kafka_step_t step = kafka_read_take(r, sp, m, last_err, sizeof(last_err));
        rd_kafka_message_destroy(m);
        if (step == KAFKA_STEP_FAIL) {
            snprintf(errstr, errstr_size, "kafka: reading %s: %s", r->topic, last_err);
            return KAFKA_ERR;
        }
        if (step == KAFKA_STEP_READ || step == KAFKA_STEP_STOP)
            last_progress = clock_mono_ms();
        if (step == KAFKA_STEP_STOP) {
            r->incomplete = sp->pending > 0;
            return KAFKA_OK;
        }
    }
    return KAFKA_OK;
}

int kafka_read_all(kafka_read_t *r, char *errstr, size_t errstr_size)
{
    r->total = r->read = 0;
    r->partitions = 0;
    r->incomplete = 0;
    int idle_ms = r->idle_timeout_ms > 0 ? r->idle_timeout_ms : 30000;
    kafka_span_t sp = {0};
    rd_kafka_topic_partition_list_t *assign = NULL;
    rd_kafka_t *rk = kafka_reader_new(r->brokers, r->props, 1, errstr, errstr_size);
    if (!rk)
        return KAFKA_ERR;
    int rc = kafka_read_plan(r, rk, idle_ms, &sp, &assign, errstr, errstr_size);
    if (rc == KAFKA_OK && r->on_progress)
        r->on_progress(0, r->total, r->opaque);
    if (rc == KAFKA_OK && sp.pending > 0) {
        rd_kafka_resp_err_t aerr = rd_kafka_assign(rk, assign);
        if (aerr) {
            snprintf(errstr, errstr_size, "kafka: assign: %s", rd_kafka_err2str(aerr));
            rc = KAFKA_ERR;
        } else {
            rc = kafka_read_loop(r, rk, &sp, idle_ms, errstr, errstr_size);
        }
    }
    if (assign)
        rd_kafka_topic_partition_list_destroy(assign);
    kafka_span_free(&sp);
    kafka_reader_destroy(rk);
    return rc;
}

int kafka_follow(const kafka_follow_t *f, char *errstr, size_t errstr_size)
{
    rd_kafka_t *rk = kafka_reader_new(f->brokers, f->props, 0, errstr, errstr_size);
    if (!rk)
        return KAFKA_ERR;
    int rc = KAFKA_ERR;
    rd_kafka_topic_partition_list_t *assign = rd_kafka_topic_partition_list_new(16);
    for (size_t t = 0; t < f->n_topics; t++) {
        int32_t *parts;
        int n;
        rc = kafka_partitions(rk, f->topics[t],
                              f->metadata_timeout_ms > 0 ? f->metadata_timeout_ms : 10000, &parts,
                              &n, errstr, errstr_size);
        if (rc != KAFKA_OK)
            goto out;
        for (int i = 0; i < n; i++)
            rd_kafka_topic_partition_list_add(assign, f->topics[t], parts[i])->offset =
                f->from_beginning ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
        free(parts);
    }
    rc = KAFKA_ERR;
    rd_kafka_resp_err_t aerr = rd_kafka_assign(rk, assign);
    if (aerr) {
        snprintf(errstr, errstr_size, "kafka: assign: %s", rd_kafka_err2str(aerr));
        goto out;
    }
    int64_t deadline = f->timeout_ms > 0 ? clock_mono_ms() + f->timeout_ms : INT64_MAX;
    while (!(f->stop && *f->stop) && clock_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (m->err) {
            int fatal = m->err == RD_KAFKA_RESP_ERR__FATAL ||
                        m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED;
            if (fatal)
                snprintf(errstr, errstr_size, "kafka: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            if (fatal)
                goto out;
            continue;
        }
        int stop = f->on_msg(m, f->opaque);
        rd_kafka_message_destroy(m);
        if (stop)
            break;
    }
    rc = KAFKA_OK;
out:
    rd_kafka_topic_partition_list_destroy(assign);
    kafka_reader_destroy(rk);
    return rc;
}

const char *kafka_header(const rd_kafka_message_t *msg, const char *name, char *buf, size_t size)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *val = NULL;
    size_t len = 0;
    buf[0] = '\0';
    if (rd_kafka_message_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(hdrs, name, &val, &len) == RD_KAFKA_RESP_ERR_NO_ERROR && val)
        snprintf(buf, size, "%.*s", (int)(len < size ? len : size - 1), (const char *)val);
    return buf;
}

/* ---- the daemon's clients: configuration, topic names, topics ------------- */

int kafka_conf_apply(const config_t *cfg, rd_kafka_conf_t *conf, char *errstr, size_t errstr_size)
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

const char *kafka_topic_name(const config_t *cfg, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s", cfg->topic_prefix ? cfg->topic_prefix : "", name);
    return buf;
}

/* librdkafka's own logs go into ours. @locality: librdkafka threads. */
void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    log_level_t l = level <= 3   ? LOG_ERROR
                    : level <= 4 ? LOG_WARN
                    : level <= 6 ? LOG_INFO
                                 : LOG_DEBUG;
    log_msg(l, NULL, NULL, NULL, "rdkafka %s %s: %s", rd_kafka_name(rk), fac, buf);
}

int kafka_props_set(rd_kafka_conf_t *conf, const kafka_prop_t *p, size_t n, const char *what,
                    char *errstr, size_t errstr_size)
{
    char err[512];
    for (size_t i = 0; i < n; i++)
        if (rd_kafka_conf_set(conf, p[i].k, p[i].v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
            snprintf(errstr, errstr_size, "kafka %s %s: %s", what, p[i].k, err);
            return -1;
        }
    return 0;
}

int kafka_topics_create(const config_t *cfg, int partitions, char *errstr, size_t errstr_size)
{
    const char *const *names = stage_topic_names;
    size_t n = 0;
    while (names[n] && n < KAFKA_MAX_TOPICS)
        n++;
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (kafka_conf_apply(cfg, conf, errstr, errstr_size) < 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        snprintf(errstr, errstr_size, "kafka: %s", err);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_NewTopic_t *nt[KAFKA_MAX_TOPICS];
    char tbuf[KAFKA_MAX_TOPICS][300];
    for (size_t i = 0; i < n; i++) {
        kafka_topic_name(cfg, names[i], tbuf[i], sizeof(tbuf[i]));
        /* topics.replication; -1 leaves it to default.replication.factor */
        nt[i] =
            rd_kafka_NewTopic_new(tbuf[i], partitions, cfg->topic_replication, err, sizeof(err));
        if (!nt[i]) {
            snprintf(errstr, errstr_size, "kafka: topic %s: %s", tbuf[i], err);
            rd_kafka_NewTopic_destroy_array(nt, i);
            rd_kafka_destroy(rk);
            return -1;
        }
        if (strcmp(names[i], "ormis.audit") == 0)
            rd_kafka_NewTopic_set_config(nt[i], "retention.ms", "-1");
        /* a global table: the latest record per key, tombstones dropped */
        if (stage_topic_compacted(names[i]))
            rd_kafka_NewTopic_set_config(nt[i], "cleanup.policy", "compact");
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
