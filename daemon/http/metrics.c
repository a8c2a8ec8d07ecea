/*
 * metrics.c — Prometheus text exposition of the stage workers' counters;
 * see metrics.h.
 *
 * Every per-stage metric is one row of metrics_families[]: name, type, help
 * and where its value lives in worker_stats_t. The histogram, build, process
 * and Redis-derived metrics follow the table by hand.
 */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "clock.h"
#include "log.h"
#include "redis_conn.h"
#include "stage.h"

/* How long one reading of the open-incident gauges is served from cache. */
#define METRICS_REDIS_CACHE_MS 5000
/* Connect timeout and read/write timeout of the gauges' Redis connection:
 * one connect plus one pipelined round trip stays under ~1 s. */
#define METRICS_REDIS_TIMEOUT_MS 400
#define METRICS_N_STAGES 5
#define METRICS_N_LIVE 7

/* The live sets kept by the store (store.c): the stage table's first
 * METRICS_N_STAGES rows (<ns>stage:<STAGE>), then <ns>kind:<KIND>. */
static const char *const metrics_kind_keys[METRICS_N_LIVE - METRICS_N_STAGES] = {
    "kind:INCIDENT", "kind:DISTURBANCE"};

static const char *metrics_live_key(size_t i)
{
    return i < METRICS_N_STAGES ? stage_table[i].live : metrics_kind_keys[i - METRICS_N_STAGES];
}

struct metrics {
    const worker_stats_t **stats; /* borrowed entries */
    const char **names;           /* borrowed entries */
    size_t n;
    double start_time_s; /* process start, Unix seconds */

    pthread_mutex_t lock; /* guards everything below */
    redis_conn_t *conn;   /* NULL = no Redis gauges */
    char *ns;
    redisContext *rc;
    int64_t fetched_ms; /* monotonic ms of the last attempt; 0 = never */
    int have_open;      /* the last attempt succeeded */
    int failing;        /* the last attempt failed (log only the change) */
    long long open[METRICS_N_LIVE];
};

/* ---- one table of per-stage metrics --------------------------------------- */

/* METRICS_US: a counter of microseconds, shown in seconds. */
typedef enum metrics_kind { METRICS_U64, METRICS_INT, METRICS_US } metrics_kind_t;

typedef struct metrics_family {
    const char *name;
    const char *type; /* "counter" or "gauge" */
    const char *help;
    size_t off; /* offset of the atomic in worker_stats_t */
    metrics_kind_t kind;
} metrics_family_t;

#define METRICS_U(field) offsetof(worker_stats_t, field), METRICS_U64
#define METRICS_I(field) offsetof(worker_stats_t, field), METRICS_INT
#define METRICS_S(field) offsetof(worker_stats_t, field), METRICS_US

static const metrics_family_t metrics_families[] = {
    {"incidentd_consumed_total", "counter", "Input messages consumed.", METRICS_U(consumed)},
    {"incidentd_produced_total", "counter",
     "Records produced (events, audit records and dead letters).", METRICS_U(produced)},
    {"incidentd_transitions_total", "counter", "State transitions applied.",
     METRICS_U(transitions)},
    {"incidentd_audit_records_total", "counter", "ORMIS audit records produced.",
     METRICS_U(audit_records)},
    {"incidentd_dead_lettered_total", "counter", "Input messages sent to incidents.dlq.",
     METRICS_U(dead_lettered)},
    {"incidentd_duplicates_total", "counter", "Input messages recognised as duplicates.",
     METRICS_U(duplicates)},
    {"incidentd_replays_total", "counter", "Input messages replayed from stored records.",
     METRICS_U(replays)},
    {"incidentd_conflicts_total", "counter", "Version conflicts retried.", METRICS_U(conflicts)},
    {"incidentd_carried_total", "counter",
     "Input messages carried into the next batch, from a partition's first conflict on (decided "
     "again in that batch's Redis round trip).",
     METRICS_U(carried)},
    {"incidentd_failed_batches_total", "counter", "Batches aborted and retried.",
     METRICS_U(failed)},
    {"incidentd_batches_total", "counter", "Kafka transactions committed.", METRICS_U(batches)},
    {"incidentd_commit_seconds_total", "counter",
     "Time the committed batches' transactions took to commit (offsets sent, commit).",
     METRICS_S(commit_us)},
    {"incidentd_commit_wait_seconds_total", "counter",
     "Time the worker waited for a batch's commit running on its own thread "
     "(batch.overlap_commit) before the next batch's transaction could begin.",
     METRICS_S(commit_wait_us)},
    {"incidentd_in_flight", "gauge", "Messages in the batch being processed.",
     METRICS_U(in_flight)},
    {"incidentd_redis_round_trips_total", "counter", "Redis round trips (a pipeline is one).",
     METRICS_U(redis_round_trips)},
    {"incidentd_redis_batch_round_trips_total", "counter",
     "Redis round trips made by the committed batches (timers and checks excluded).",
     METRICS_U(redis_batch_round_trips)},
    {"incidentd_redis_errors_total", "counter", "Redis errors.", METRICS_U(redis_errors)},
    {"incidentd_redis_wait_shortfalls_total", "counter",
     "Batches retried because fewer than redis.min_replicas replicas acknowledged their apply "
     "(WAIT).",
     METRICS_U(redis_wait_shortfalls)},
    {"incidentd_escalations_total", "counter", "Escalated audit records written.",
     METRICS_U(escalations)},
    {"incidentd_timers_fired_total", "counter", "Acknowledgement timers turned into commands.",
     METRICS_U(timers_fired)},
    {"incidentd_delivery_claims_total", "counter",
     "Claims of due deliveries from the outbox (the notify stage; one Redis round trip each).",
     METRICS_U(delivery_claims)},
    {"incidentd_deliveries_deferred_total", "counter",
     "Claimed deliveries given back to the outbox because their endpoint was at its limit of "
     "attempts in flight (the notify stage).",
     METRICS_U(deliveries_deferred)},
    {"incidentd_partitions_assigned", "gauge", "Input partitions assigned to this worker.",
     METRICS_I(assigned)},
    {"incidentd_redis_up", "gauge", "1 when the worker's Redis connection is usable.",
     METRICS_I(redis_up)},
    {"incidentd_kafka_up", "gauge", "1 when the worker's Kafka transactions are initialised.",
     METRICS_I(kafka_up)},
    {"incidentd_consumer_lag", "gauge",
     "Messages behind the high watermarks of the assigned partitions.", METRICS_U(lag)},
};

static uint64_t metrics_value(const worker_stats_t *st, const metrics_family_t *f)
{
    const char *base = (const char *)st + f->off;
    if (f->kind == METRICS_INT) {
        int v = atomic_load((const atomic_int *)(const void *)base);
        return v > 0 ? (uint64_t)v : 0;
    }
    return (uint64_t)atomic_load((const atomic_uint_fast64_t *)(const void *)base);
}

/* ---- a growing text buffer ------------------------------------------------ */

typedef struct metrics_buf {
    char *p;
    size_t len;
    size_t cap;
} metrics_buf_t;

static void metrics_oom(void)
{
    fputs("incidentd: out of memory\n", stderr);
    abort();
}

static void metrics_printf(metrics_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void metrics_printf(metrics_buf_t *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (k < 0)
            return;
        if ((size_t)k < b->cap - b->len) {
            b->len += (size_t)k;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)k + 1;
        char *p = realloc(b->p, cap);
        if (!p)
            metrics_oom();
        b->p = p;
        b->cap = cap;
    }
}

/* A label value, escaped as the exposition format wants (\\ \" \n). */
static void metrics_label(metrics_buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            metrics_printf(b, "\\\\");
        else if (*s == '"')
            metrics_printf(b, "\\\"");
        else if (*s == '\n')
            metrics_printf(b, "\\n");
        else
            metrics_printf(b, "%c", *s);
    }
}

static void metrics_head(metrics_buf_t *b, const char *name, const char *type, const char *help)
{
    metrics_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* "name{stage="x"" — the caller closes the label set. */
static void metrics_stage_open(metrics_buf_t *b, const char *name, const char *stage)
{
    metrics_printf(b, "%s{stage=\"", name);
    metrics_label(b, stage);
    metrics_printf(b, "\"");
}

/* ---- process -------------------------------------------------------------- */

/* Start of this process in Unix seconds: boot time (/proc/stat btime) plus
 * the process's start in clock ticks after boot (/proc/self/stat field 22).
 * Falls back to "now" where /proc cannot tell. */
static double metrics_start_time(void)
{
    double now = (double)time(NULL);
    long hz = sysconf(_SC_CLK_TCK);
    char line[1024];
    unsigned long long btime = 0, start_ticks = 0;
    int have_btime = 0;

    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return now;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "btime %llu", &btime) == 1) {
            have_btime = 1;
            break;
        }
    fclose(f);

    f = fopen("/proc/self/stat", "r");
    if (!f)
        return now;
    size_t len = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[len] = '\0';
    /* The command name (field 2) may hold spaces and parentheses: count
     * fields from the last ')'. Field 3 follows it; starttime is field 22. */
    const char *p = strrchr(line, ')');
    if (!p || !have_btime || hz <= 0)
        return now;
    p++;
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p + 1, ' ');
    }
    if (!p || sscanf(p, " %llu", &start_ticks) != 1)
        return now;
    return (double)btime + (double)start_ticks / (double)hz;
}

static uint64_t metrics_rss_bytes(void)
{
    unsigned long long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    int k = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    if (k != 2 || page <= 0)
        return 0;
    return (uint64_t)resident * (uint64_t)page;
}

static double metrics_cpu_seconds(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- Redis: open incidents per stage ------------------------------------- */

static char *metrics_strdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        metrics_oom();
    return d;
}

static void metrics_redis_drop(metrics_t *m)
{
    if (m->rc)
        redisFree(m->rc);
    m->rc = NULL;
}

static void metrics_redis_failed(metrics_t *m, const char *what)
{
    if (!m->failing)
        log_warn("metrics: cannot read the open-incident gauges from redis %s: %s "
                 "(timeout %dms; retrying every %ds)",
                 redis_conn_where(m->conn), what, METRICS_REDIS_TIMEOUT_MS,
                 METRICS_REDIS_CACHE_MS / 1000);
    m->failing = 1;
    m->have_open = 0;
    metrics_redis_drop(m);
}

/* One attempt: connect if needed (redis_conn_open(): AUTH, SELECT, the
 * primary through Sentinel), then the seven SCARDs (stages, kinds) — or,
 * with @p ping, one PING — in one pipelined round trip. Returns 0 with
 * @p counts set (not with @p ping), or -1 with the reason in @p why (the
 * connection dropped; *closed set when Redis had closed or reset it, as
 * opposed to a timeout). Called with m->lock held. */
static int metrics_redis_try(metrics_t *m, int ping, long long counts[METRICS_N_LIVE], char *why,
                             size_t why_size, int *closed)
{
    *closed = 0;
    if (!m->rc) {
        m->rc = redis_conn_open(m->conn, METRICS_REDIS_TIMEOUT_MS, why, why_size);
        if (!m->rc)
            return -1;
    }
    size_t n_cmds = ping ? 1 : METRICS_N_LIVE;
    if (ping)
        redisAppendCommand(m->rc, "PING");
    else
        for (size_t i = 0; i < METRICS_N_LIVE; i++)
            redisAppendCommand(m->rc, "SCARD %s%s", m->ns, metrics_live_key(i));

    int bad = 0;
    for (size_t i = 0; i < n_cmds; i++) {
        void *reply = NULL;
        if (redisGetReply(m->rc, &reply) != REDIS_OK || !reply) {
            int e = errno;
            snprintf(why, why_size, "%s", m->rc->errstr[0] ? m->rc->errstr : "no reply");
            *closed = m->rc->err == REDIS_ERR_EOF || (m->rc->err == REDIS_ERR_IO && e != EAGAIN &&
                                                      e != EWOULDBLOCK && e != ETIMEDOUT);
            metrics_redis_drop(m);
            return -1;
        }
        redisReply *r = reply;
        if (r->type == REDIS_REPLY_ERROR) {
            /* Redis's reason only: never the password. */
            if (!bad)
                snprintf(why, why_size, "%s", r->str ? r->str : "error");
            bad = 1;
        } else if (ping) {
            if ((r->type != REDIS_REPLY_STATUS || !r->str || strcmp(r->str, "PONG") != 0) && !bad) {
                snprintf(why, why_size, "unexpected reply to PING");
                bad = 1;
            }
        } else {
            if (r->type == REDIS_REPLY_INTEGER)
                counts[i] = r->integer;
            else if (!bad) {
                snprintf(why, why_size, "unexpected reply to SCARD");
                bad = 1;
            }
        }
        freeReplyObject(r);
    }
    if (bad) {
        metrics_redis_drop(m);
        return -1;
    }
    return 0;
}

/* Refreshes the gauges. A kept connection that Redis has closed meanwhile
 * (its idle timeout, a restart) is replaced at once, not a period later. */
static void metrics_redis_fetch(metrics_t *m)
{
    long long counts[METRICS_N_LIVE] = {0};
    char why[160];
    int closed, reused = m->rc != NULL;
    int rc = metrics_redis_try(m, 0, counts, why, sizeof(why), &closed);
    if (rc < 0 && reused && closed)
        rc = metrics_redis_try(m, 0, counts, why, sizeof(why), &closed);
    if (rc < 0) {
        metrics_redis_failed(m, why);
        return;
    }
    memcpy(m->open, counts, sizeof(counts));
    m->have_open = 1;
    if (m->failing)
        log_info("metrics: reading the open-incident gauges from redis again");
    m->failing = 0;
}

/* Copies the cached gauges into @p counts; refreshes them when older than the
 * cache period. Returns 1 when they are known. */
static int metrics_open_incidents(metrics_t *m, long long counts[METRICS_N_LIVE])
{
    if (!m->conn)
        return 0;
    pthread_mutex_lock(&m->lock);
    int64_t now = clock_mono_ms();
    if (m->fetched_ms == 0 || now - m->fetched_ms >= METRICS_REDIS_CACHE_MS) {
        metrics_redis_fetch(m);
        /* Failures are cached too: an unreachable Redis costs one timeout
         * per period, not one per scrape. */
        m->fetched_ms = clock_mono_ms();
        if (m->fetched_ms == 0)
            m->fetched_ms = 1;
    }
    int have = m->have_open;
    memcpy(counts, m->open, sizeof(m->open));
    pthread_mutex_unlock(&m->lock);
    return have;
}

int metrics_redis_ping(metrics_t *m, char *why, size_t why_size)
{
    if (!m->conn) {
        snprintf(why, why_size, "no redis address");
        return -1;
    }
    pthread_mutex_lock(&m->lock);
    long long unused[METRICS_N_LIVE];
    int closed, reused = m->rc != NULL;
    int rc = metrics_redis_try(m, 1, unused, why, why_size, &closed);
    if (rc < 0 && reused && closed)
        rc = metrics_redis_try(m, 1, unused, why, why_size, &closed);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* ---- the exposition ------------------------------------------------------- */

metrics_t *metrics_new(const config_t *cfg, const worker_stats_t *const *stats,
                       const char *const *names, size_t n)
{
    metrics_t *m = calloc(1, sizeof(*m));
    if (!m)
        metrics_oom();
    if (n) {
        m->stats = calloc(n, sizeof(*m->stats));
        m->names = calloc(n, sizeof(*m->names));
        if (!m->stats || !m->names)
            metrics_oom();
        for (size_t i = 0; i < n; i++) {
            m->stats[i] = stats[i];
            m->names[i] = names[i];
        }
    }
    m->n = n;
    m->start_time_s = metrics_start_time();
    pthread_mutex_init(&m->lock, NULL);
    if (cfg->redis_host && cfg->redis_host[0]) {
        redis_conn_opts_t ro;
        char err[256];
        redis_conn_opts_of_config(cfg, &ro);
        m->conn = redis_conn_new(&ro, err, sizeof(err));
        if (!m->conn)
            log_warn("metrics: no redis gauges: %s", err);
        m->ns = metrics_strdup(cfg->topic_prefix);
    }
    return m;
}

void metrics_destroy(metrics_t *m)
{
    if (!m)
        return;
    metrics_redis_drop(m);
    pthread_mutex_destroy(&m->lock);
    free(m->stats);
    free(m->names);
    redis_conn_destroy(m->conn);
    free(m->ns);
    free(m);
}

static void metrics_histogram(metrics_buf_t *b, const metrics_t *m)
{
    static const char *const name = "incidentd_processing_seconds";
    metrics_head(b, name, "histogram",
                 "Processing time per input message (a batch's time divided by its messages: "
                 "from its decode to its commit's end, or, with batch.overlap_commit, to the "
                 "hand-over of its commit to the commit thread).");
    for (size_t i = 0; i < m->n; i++) {
        const worker_stats_t *st = m->stats[i];
        /* The worker keeps per-bucket counts; the format wants them
         * cumulative. _count is the sum read here, so +Inf == _count even
         * while the worker is writing. */
        uint64_t cum = 0;
        for (int k = 0; k < WORKER_LAT_BUCKETS; k++) {
            cum += (uint64_t)atomic_load(&st->lat_bucket[k]);
            metrics_stage_open(b, "incidentd_processing_seconds_bucket", m->names[i]);
            if (k < WORKER_LAT_BUCKETS - 1)
                metrics_printf(b, ",le=\"%g\"} %" PRIu64 "\n", worker_lat_bounds_ms[k] / 1000.0,
                               cum);
            else
                metrics_printf(b, ",le=\"+Inf\"} %" PRIu64 "\n", cum);
        }
        uint64_t sum_us = (uint64_t)atomic_load(&st->lat_sum_us);
        metrics_stage_open(b, "incidentd_processing_seconds_sum", m->names[i]);
        metrics_printf(b, "} %" PRIu64 ".%06" PRIu64 "\n", sum_us / 1000000, sum_us % 1000000);
        metrics_stage_open(b, "incidentd_processing_seconds_count", m->names[i]);
        metrics_printf(b, "} %" PRIu64 "\n", cum);
    }
}

/* A time-to-X histogram (seconds) of the detected stage's workers: time to
 * acknowledge (MTTA) or to resolve (MTTR). */
static void metrics_tt_histogram(metrics_buf_t *b, const metrics_t *m, const char *name,
                                 const char *help, size_t off_buckets, size_t off_sum)
{
    metrics_head(b, name, "histogram", help);
    char series[128];
    for (size_t i = 0; i < m->n; i++) {
        const char *base = (const char *)m->stats[i];
        const atomic_uint_fast64_t *buckets =
            (const atomic_uint_fast64_t *)(const void *)(base + off_buckets);
        const atomic_uint_fast64_t *sum =
            (const atomic_uint_fast64_t *)(const void *)(base + off_sum);
        uint64_t cum = 0;
        snprintf(series, sizeof(series), "%s_bucket", name);
        for (int k = 0; k < WORKER_TT_BUCKETS; k++) {
            cum += (uint64_t)atomic_load(&buckets[k]);
            metrics_stage_open(b, series, m->names[i]);
            if (k < WORKER_TT_BUCKETS - 1)
                metrics_printf(b, ",le=\"%g\"} %" PRIu64 "\n", worker_tt_bounds_s[k], cum);
            else
                metrics_printf(b, ",le=\"+Inf\"} %" PRIu64 "\n", cum);
        }
        uint64_t ms = (uint64_t)atomic_load(sum);
        snprintf(series, sizeof(series), "%s_sum", name);
        metrics_stage_open(b, series, m->names[i]);
        metrics_printf(b, "} %" PRIu64 ".%03" PRIu64 "\n", ms / 1000, ms % 1000);
        snprintf(series, sizeof(series), "%s_count", name);
        metrics_stage_open(b, series, m->names[i]);
        metrics_printf(b, "} %" PRIu64 "\n", cum);
    }
}

/* The notify stage's deliveries per channel and outcome, in flight, and the
 * time the attempts took per channel. */
static void metrics_deliveries(metrics_buf_t *b, const metrics_t *m)
{
    static const char *const channels[3] = {"email", "webhook", "slack"};
    static const char *const outcomes[3] = {"delivered", "retry", "failed"};
    metrics_head(b, "incidentd_deliveries_total", "counter",
                 "Delivery attempts of the notify stage by channel and outcome.");
    for (size_t i = 0; i < m->n; i++)
        for (int c = 0; c < 3; c++)
            for (int o = 0; o < 3; o++) {
                metrics_stage_open(b, "incidentd_deliveries_total", m->names[i]);
                metrics_printf(b, ",channel=\"%s\",outcome=\"%s\"} %" PRIu64 "\n", channels[c],
                               outcomes[o], (uint64_t)atomic_load(&m->stats[i]->deliveries[c][o]));
            }
    metrics_head(b, "incidentd_deliveries_in_flight", "gauge", "Delivery attempts in flight.");
    for (size_t i = 0; i < m->n; i++) {
        metrics_stage_open(b, "incidentd_deliveries_in_flight", m->names[i]);
        metrics_printf(b, "} %" PRIu64 "\n",
                       (uint64_t)atomic_load(&m->stats[i]->deliveries_in_flight));
    }
    metrics_head(b, "incidentd_delivery_seconds_total", "counter",
                 "Time spent in delivery attempts, by channel (divide by the attempts of "
                 "incidentd_deliveries_total for the mean latency).");
    for (size_t i = 0; i < m->n; i++)
        for (int c = 0; c < 3; c++) {
            metrics_stage_open(b, "incidentd_delivery_seconds_total", m->names[i]);
            metrics_printf(b, ",channel=\"%s\"} %.3f\n", channels[c],
                           (double)atomic_load(&m->stats[i]->delivery_ms_sum[c]) / 1000.0);
        }
}

char *metrics_render(metrics_t *m, size_t *len)
{
    metrics_buf_t b = {NULL, 0, 0};
    b.cap = 4096 + m->n * 4096;
    b.p = malloc(b.cap);
    if (!b.p)
        metrics_oom();
    b.p[0] = '\0';

    for (size_t f = 0; f < sizeof(metrics_families) / sizeof(metrics_families[0]); f++) {
        const metrics_family_t *fam = &metrics_families[f];
        metrics_head(&b, fam->name, fam->type, fam->help);
        for (size_t i = 0; i < m->n; i++) {
            metrics_stage_open(&b, fam->name, m->names[i]);
            uint64_t v = metrics_value(m->stats[i], fam);
            if (fam->kind == METRICS_US)
                metrics_printf(&b, "} %" PRIu64 ".%06" PRIu64 "\n", v / 1000000, v % 1000000);
            else
                metrics_printf(&b, "} %" PRIu64 "\n", v);
        }
    }
    metrics_histogram(&b, m);
    metrics_tt_histogram(
        &b, m, "incidentd_time_to_acknowledge_seconds",
        "Time from detection to acknowledgement (MTTA), per acknowledged incident.",
        offsetof(worker_stats_t, mtta_bucket), offsetof(worker_stats_t, mtta_sum_ms));
    metrics_tt_histogram(&b, m, "incidentd_time_to_resolve_seconds",
                         "Time from detection to resolution (MTTR), per resolved incident.",
                         offsetof(worker_stats_t, mttr_bucket),
                         offsetof(worker_stats_t, mttr_sum_ms));
    metrics_deliveries(&b, m);

    long long counts[METRICS_N_LIVE];
    if (metrics_open_incidents(m, counts)) {
        metrics_head(&b, "incidentd_open_incidents", "gauge",
                     "Live incidents per stage, from Redis (cached for 5s; the same in every "
                     "process: aggregate with max).");
        for (size_t i = 0; i < METRICS_N_STAGES; i++) {
            metrics_stage_open(&b, "incidentd_open_incidents", stage_table[i].name);
            metrics_printf(&b, "} %lld\n", counts[i]);
        }
        metrics_head(&b, "incidentd_open_incidents_by_kind", "gauge",
                     "Live incidents per kind (incident, disturbance), from Redis (cached for "
                     "5s; aggregate with max).");
        metrics_printf(&b, "incidentd_open_incidents_by_kind{kind=\"incident\"} %lld\n",
                       counts[METRICS_N_STAGES]);
        metrics_printf(&b, "incidentd_open_incidents_by_kind{kind=\"disturbance\"} %lld\n",
                       counts[METRICS_N_STAGES + 1]);
    }

    metrics_head(&b, "incidentd_build_info", "gauge", "Build information; always 1.");
    metrics_printf(&b, "incidentd_build_info{version=\"");
    metrics_label(&b, INCIDENTD_VERSION);
    metrics_printf(&b, "\"} 1\n");
    metrics_head(&b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    metrics_printf(&b, "process_resident_memory_bytes %" PRIu64 "\n", metrics_rss_bytes());
    metrics_head(&b, "process_start_time_seconds", "gauge",
                 "Start time of the process since the Unix epoch in seconds.");
    metrics_printf(&b, "process_start_time_seconds %.2f\n", m->start_time_s);
    metrics_head(&b, "process_cpu_seconds_total", "counter",
                 "Total user and system CPU time spent in seconds.");
    metrics_printf(&b, "process_cpu_seconds_total %.6f\n", metrics_cpu_seconds());

    *len = b.len;
    return b.p;
}
