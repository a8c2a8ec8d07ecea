/*
 * worker.h — one stage worker: consume a batch, decide with the stage's
 * handler, apply once in Redis, produce events + audit records + offsets in
 * one Kafka transaction.
 *
 * Exactly-once: Kafka transactions make "records produced + input offsets"
 * atomic; the Redis step is apply-once (store.h): a cause already applied by
 * the same input position replays the stored records (the aborted copy is
 * invisible to read_committed readers), by another message is a duplicate.
 *
 * @locality: each worker runs on its own thread (worker_run()).
 */
#ifndef INCIDENTD_WORKER_H
#define INCIDENTD_WORKER_H

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "config.h"

/* Counters of one stage worker, read by the metrics endpoint. */
typedef struct worker_stats {
    atomic_uint_fast64_t consumed;       /* input messages */
    atomic_uint_fast64_t produced;       /* records produced (events + audit + dlq) */
    atomic_uint_fast64_t transitions;    /* transitions applied */
    atomic_uint_fast64_t audit_records;  /* audit records produced */
    atomic_uint_fast64_t dead_lettered;  /* inputs sent to the dead-letter topic */
    atomic_uint_fast64_t duplicates;     /* inputs recognised as duplicates */
    atomic_uint_fast64_t replays;        /* inputs replayed from stored records */
    atomic_uint_fast64_t conflicts;      /* version conflicts retried */
    atomic_uint_fast64_t carried;        /* messages carried into the next batch (conflicts) */
    atomic_uint_fast64_t failed;         /* batches aborted and retried */
    atomic_uint_fast64_t batches;        /* transactions committed */
    atomic_uint_fast64_t commit_us;      /* time in the batches' commits (offsets + commit) */
    atomic_uint_fast64_t commit_wait_us; /* time the worker waited for a commit on its thread */
    atomic_uint_fast64_t in_flight;      /* messages in the batch being processed */
    atomic_uint_fast64_t redis_round_trips;
    atomic_uint_fast64_t redis_batch_round_trips; /* those made by committed batches */
    atomic_uint_fast64_t redis_errors;
    atomic_uint_fast64_t redis_wait_shortfalls; /* batches retried: WAIT short of min_replicas */
    atomic_uint_fast64_t escalations;           /* "escalated" records written */
    atomic_uint_fast64_t timers_fired;          /* ack timers turned into commands */
    atomic_int assigned;                        /* partitions assigned */
    atomic_int redis_up;                        /* Redis reachable */
    atomic_int kafka_up;                        /* transactions initialised */
    /* processing latency histogram (per message, ms): le 1,2,5,10,20,50,100,250,500,1000,+Inf */
    atomic_uint_fast64_t lat_bucket[11];
    atomic_uint_fast64_t lat_sum_us;
    atomic_uint_fast64_t lat_count;
    atomic_uint_fast64_t lag; /* messages behind the high watermarks (assigned partitions) */
    /* time to acknowledge / to resolve (from detection), observed when the
     * acknowledged / resolved record is committed; buckets in seconds:
     * le 60,300,900,1800,3600,7200,14400,43200,86400,+Inf */
    atomic_uint_fast64_t mtta_bucket[10];
    atomic_uint_fast64_t mtta_sum_ms;
    atomic_uint_fast64_t mttr_bucket[10];
    atomic_uint_fast64_t mttr_sum_ms;
    /* notify stage: attempts per channel (email, webhook, slack) and
     * outcome (delivered, retry, failed), in flight, latency of attempts */
    atomic_uint_fast64_t deliveries[3][3];
    atomic_uint_fast64_t deliveries_in_flight;
    atomic_uint_fast64_t delivery_ms_sum[3];
    atomic_uint_fast64_t delivery_claims;     /* claims of the outbox (Redis round trips) */
    atomic_uint_fast64_t deliveries_deferred; /* claimed, given back: endpoint at its limit */
} worker_stats_t;

#define WORKER_LAT_BUCKETS 11
extern const double worker_lat_bounds_ms[WORKER_LAT_BUCKETS - 1];
#define WORKER_TT_BUCKETS 10
extern const double worker_tt_bounds_s[WORKER_TT_BUCKETS - 1];

typedef struct worker worker_t;

/** Creates the worker of one stage (@p stage_bit, a CONFIG_STAGE_* bit other
 *  than INGEST). Borrows @p cfg and @p stop (set non-zero to stop). Returns
 *  NULL with a message in errstr. Caller frees with worker_destroy(). */
worker_t *worker_new(const config_t *cfg, unsigned stage_bit, volatile sig_atomic_t *stop,
                     char *errstr, size_t errstr_size);
void worker_destroy(worker_t *w);
/** Runs until *stop: returns 0 after a clean shutdown (batch finished,
 *  committed, group left), -1 on a fatal error. */
int worker_run(worker_t *w);
const worker_stats_t *worker_stats(const worker_t *w);
const char *worker_stage_name(const worker_t *w);

/* ---- hooks of the rooms above the runtime (the notify stage) ---------------- */

/** Called on the worker's thread once per turn, before the next batch is
 *  gathered (@p now_ms monotonic): work that is not a consumed message, e.g.
 *  sending the outbox's due deliveries. Returns how long the worker may
 *  wait for input before its next turn when none comes, in ms: 0 = come
 *  back at once, a negative value = the worker's own wait (100 ms); a
 *  longer wait than the worker's own is not taken. */
typedef int (*worker_tick_fn)(worker_t *w, void *opaque, int64_t now_ms);

/** Sets the turn hook (borrows @p opaque). Call before worker_run(). */
void worker_set_tick(worker_t *w, worker_tick_fn fn, void *opaque);

/** The worker's Redis store, configuration and counters (for its hook, on
 *  its thread). */
struct store;
struct store *worker_store(worker_t *w);
/** The global table of silences (stage reads_silences), or NULL. */
struct gtable;
struct gtable *worker_silences(worker_t *w);
const config_t *worker_config(const worker_t *w);
worker_stats_t *worker_stats_rw(worker_t *w);

/* One record worker_emit() produces; a dead letter when dlq_error is set
 * (the contract's headers, x-source-topic = the outbox). */
typedef struct worker_record {
    const char *topic; /* without the prefix */
    const char *key;
    const void *value;
    size_t len;
    const char *dlq_error;
} worker_record_t;

/** Produces @p n records in one transaction of the worker's producer.
 *  Returns 0 when committed, -1 when aborted (nothing visible: try again). */
int worker_emit(worker_t *w, const worker_record_t *recs, size_t n);

#endif
