/*
 * worker_internal.h — what the worker's files share: the batch item, the
 * worker itself, and the steps one file calls in another. Private to
 * worker.c (the loop), worker_batch.c (decode, decide, apply once) and
 * worker_txn.c (produce, commit, dead letters, timers, metrics),
 * worker_commit.c (a batch's commit, overlapped with the next batch) and
 * worker_carry.c (a conflict decided again in the next batch).
 *
 * @locality: each worker runs on its own thread; all of this belongs to it,
 * except what its commit thread uses while a commit runs there (the
 * producer, worker_commit_t's fields marked so, fail_item/fail_err): see
 * worker_commit.c.
 */
#ifndef INCIDENTD_WORKER_INTERNAL_H
#define INCIDENTD_WORKER_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "arena.h"
#include "clock.h"
#include "config.h"
#include "handlers.h"
#include "overrides.h"
#include "silences.h"
#include "stage.h"
#include "store.h"
#include "worker.h"

/* Input messages larger than this are rejected before decoding. The largest
 * alert the contract allows is about 400 KB. */
#define WORKER_MAX_INPUT (512 * 1024)
#define WORKER_MAX_ROUNDS 32
#define WORKER_TXN_TIMEOUT_MS 30000
#define WORKER_POISON_TRIES 3
/* Most times one message is carried into the next batch (worker_carry.c). */
#define WORKER_CARRY_MAX 3
/* Output topics whose handle a worker keeps (worker_rkt()). */
#define WORKER_TOPICS 8

/* The Kafka header of a stage event that carries the rest of the stored
 * state (incidentd.v1.StoredIncident without its `incident`, which is the
 * event's snapshot) at the snapshot's version: the next stage decides from
 * it without reading Redis; the apply still checks version and chain head. */
#define WORKER_STATE_HEADER "x-incidentd-state"

/* One record to produce. */
typedef struct worker_out {
    const char *topic; /* without prefix */
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    const void *state; /* WORKER_STATE_HEADER value, or NULL */
    size_t state_len;
} worker_out_t;

/* One input message of the batch and what became of it. */
typedef struct worker_item {
    rd_kafka_message_t *msg;
    stage_input_kind_t kind;
    const char *pos;       /* "topic/partition/offset" */
    const char *dlq_error; /* non-NULL: dead-letter it */
    int dlq_bare;          /* dead-letter without the value (refused with it) */
    hd_alert_t *alert;
    hd_event_t *event;
    hd_timer_t *timer;
    hd_command_t *command;
    hd_receipt_t *receipt;
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
    /* An event's stored state from its WORKER_STATE_HEADER (incident = the
     * event's snapshot), or NULL: decided from it without a read in the
     * first round of the batch. */
    hd_state_t *spec;
    int spec_header; /* spec is the event's header state (first round) */
    /* An alert decided without a read: its key is assumed to map to
     * spec_open ("" none; spec is that incident's state), and its apply
     * checks that (store_apply_t.assume_open). NULL: not an assumption. */
    const char *spec_open;
    hd_state_t *refreshed;      /* the state its apply's conflict found (next round's spec) */
    const char *refreshed_open; /* ... and for an alert, the incident its key maps to */
    int forget_out;             /* its records are stored for replay: forget them once committed */
    int verify;                 /* its apply only checks the state it was decided on */
    int carry;                  /* carried into the next batch (worker_carry_mark()) */
    int carries;                /* times carried into a batch before this one */
} worker_item_t;

/* What a conflict returned for an incident (or an alert's key), for the
 * next decision of a message carried into the next batch (worker_carry.c);
 * malloc'd. */
typedef struct worker_hint {
    char *key;            /* the item's key: incident id, or an alert's dedup key */
    char *open;           /* an alert's: the incident its key maps to ("" none), or NULL */
    unsigned char *state; /* packed hd_state_t, or NULL */
    size_t state_len;
} worker_hint_t;

/* In-batch view of one incident (key = dedup key or id). */
typedef struct worker_view {
    const char *key;
    int present;       /* state known (possibly "none") */
    int spec;          /* the state is an event's header state, not read */
    int header;        /* ... as the event carried it (not the state a conflict
                          returned): its applies check its digest */
    hd_state_t *best;  /* the newest state the round's events bring (worker_best_states()) */
    int best_header;   /* ... as an event's header carried it (its applies check its digest) */
    hd_state_t *state; /* NULL = no (open) incident */
    uint64_t version;
    const char *open; /* an alerts' view decided without a read: the incident
                         the key is assumed to map to ("" none), or NULL */
} worker_view_t;

/* The commit of a batch (worker_commit.c). With batch.overlap_commit it
 * runs on a thread of its own while the worker gathers, decides and
 * applies the next batch; the batch (its messages, its items in their
 * arena) is kept until the commit is joined. */
typedef struct worker_commit {
    int active;   /* started, not joined yet */
    int threaded; /* running on `thread` (else it ran on the worker's) */
    pthread_t thread;
    rd_kafka_topic_partition_list_t *offsets; /* the offsets after the batch */
    rd_kafka_consumer_group_metadata_t *cgmd; /* the group of those offsets */
    /* written by the commit (its thread while active, read once joined) */
    int rc;          /* 0 committed, -1 aborted (rewind), -2 fatal (a new producer) */
    int64_t done_us; /* the commit ended */
    /* the batch, kept until joined */
    int64_t t0_us;              /* its decode began */
    int64_t start_us;           /* its commit began (the hand-over) */
    uint64_t round_trips;       /* its Redis round trips */
    rd_kafka_message_t **batch; /* its messages (batch.max room) */
    size_t n_batch;
    worker_item_t *items; /* n_batch of them, in `arena` */
    arena_t arena;
} worker_commit_t;

struct worker {
    const config_t *cfg;
    const stage_t *stage;
    volatile sig_atomic_t *stop;
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    /* Handles of the output topics (bare name, handle), made on first use. */
    const char *topic_names[WORKER_TOPICS];
    rd_kafka_topic_t *topics[WORKER_TOPICS];
    size_t n_topics;
    store_t *store;
    arena_t arena;
    char actor[64];
    worker_stats_t stats;
    int rebalanced;
    silences_t *silences; /* the global table (stage->reads_silences), or NULL */
    gtable_t *overrides;  /* on-call overrides (a deciding stage, rotations configured) */
    hd_rules_t rules;     /* cfg's rules with the overrides of this turn */
    /* rules.overrides: built again only when the table changed */
    overrides_view_t override_view;
    worker_tick_fn tick; /* worker_set_tick() */
    void *tick_opaque;
    int tick_wait_ms; /* what the tick returned: the longest idle wait, < 0 = ours */
    rd_kafka_message_t **batch;
    size_t n_batch;
    worker_commit_t commit; /* the last batch's commit */
    /* Messages carried into the next batch after a conflict, and what their
     * conflicts returned (worker_carry.c); batch_max of each. */
    rd_kafka_message_t **carry;
    unsigned char *carry_times; /* how often each was carried, 1..WORKER_CARRY_MAX */
    size_t n_carry;
    worker_hint_t *hints;
    size_t n_hints;
    size_t carry_marked; /* items the last worker_carry_mark() marked */
    int overlap;         /* batch.overlap_commit */
    int producer_fatal;  /* a joined commit left the producer unusable: replace it */
    int64_t next_timer_poll_ms;
    int64_t next_lag_ms;
    int64_t next_redis_try_ms;
    int paused;
    int consumer_fatal; /* the consumer had a fatal error (e.g. a fenced static member) */
    char group[256];    /* the consumer group, for a new consumer */
    int epoch_ok;       /* Redis holds the whole state (store_epoch()) */
    /* Dedup keys this worker has decided alerts of (a bit per hash, a hint
     * only: worker_seen_key()); an alert of a key not in it is decided
     * without a read, assuming no open incident. */
    uint64_t *seen_keys;
    size_t n_seen_keys;
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

/** Marks the items to carry into the next batch after the first round left
 *  @p pending to decide again: per partition, from the first of them on
 *  (worker_carry.c). Returns the number marked; 0 when that would be every
 *  item or one carried WORKER_CARRY_MAX times already: the batch decides
 *  them again at once. */
size_t worker_carry_mark(worker_t *w, worker_item_t *items, size_t n, const size_t *pending,
                         size_t n_pending);
/** Moves the marked items' messages out of the batch into w->carry, with a
 *  hint of what each conflict returned; the batch (w->batch and @p items,
 *  *@p n) keeps the others, in order. */
void worker_carry_out(worker_t *w, worker_item_t *items, size_t *n);
/** Puts the carried messages in front of the gathered batch; returns their
 *  number (the batch's first items). */
size_t worker_carry_in(worker_t *w);
/** Gives the first @p carried items, decoded, the states their conflicts
 *  returned and their carry counts, and frees the hints. */
void worker_carry_hint(worker_t *w, worker_item_t *items, size_t carried);
/** Frees the carried messages and hints (the caller rewinds first, or the
 *  partitions are read again from the committed offsets). */
void worker_carry_drop(worker_t *w);
/** An incident's stored state packed into the arena (worker_batch.c). */
void *worker_pack_state(worker_t *w, const hd_state_t *st, size_t *len);
/** Unpacks a stored state into the arena; NULL when absent or unreadable. */
hd_state_t *worker_unpack_state(worker_t *w, const unsigned char *buf, size_t len);

/** Decodes and validates one message into @p it (worker_decode.c; bad
 *  input: it->dlq_error). */
void worker_decode(worker_t *w, worker_item_t *it);
/** Processes the gathered batch as one transaction (worker_batch.c): 0
 *  committed, -1 aborted (rewind and retry), -2 fatal Kafka error. */
int worker_process(worker_t *w);
/** Largest record the worker may produce (limits.message_bytes less room). */
size_t worker_record_max(const worker_t *w);
/** After the batch's Redis step (worker_process()): waits for the previous
 *  batch's commit, then produces this batch's records and commits them with
 *  the offsets, on the commit thread with batch.overlap_commit
 *  (worker_commit.c). Returns 0 (committed, or its commit started), -1
 *  (aborted: rewind and retry) or -2 (fatal: a new producer). */
int worker_finish_batch(worker_t *w, worker_item_t *items, size_t n, int64_t t0_us, uint64_t rt0);
/** Waits for the commit started last, if any, and takes its outcome: once
 *  committed, its replay records are forgotten and it is counted; failed,
 *  it and the batch gathered since are dropped and, with @p rewind, the
 *  consumer is rewound to the first offsets of both. Returns 0 (none, or
 *  committed), -1 (aborted) or -2 (fatal; w->producer_fatal set). */
int worker_commit_join(worker_t *w, int rewind);
/** Frees what the commit keeps (joins it first, without a rewind). */
void worker_commit_destroy(worker_t *w);
/** Opens a transaction and produces the items' records and dead letters
 *  (worker_txn.c). Returns 0 (the transaction open: worker_txn_commit()),
 *  -1 (aborted) or -2 (fatal). */
int worker_produce_batch(worker_t *w, worker_item_t *items, size_t n);
/** Sends @p offs (of group @p cgmd; none when empty) to the open
 *  transaction and commits it; on failure aborts it. Returns 0, -1
 *  (aborted) or -2 (fatal). @locality: the worker's thread or its commit
 *  thread, whichever owns the producer. */
int worker_txn_commit(worker_t *w, const rd_kafka_topic_partition_list_t *offs,
                      const rd_kafka_consumer_group_metadata_t *cgmd);
/** After a failed commit: counts the failures in a row of an input whose
 *  record the broker refused (worker_poison_apply()). */
void worker_poison_note(worker_t *w, const worker_item_t *items);
/** Rewinds the consumer to the first offsets of the batch and of a failed
 *  commit's batch still kept (worker.c). */
void worker_rewind(worker_t *w);
/** Destroys the gathered batch's messages. */
void worker_free_batch(worker_t *w);
/** After the apply, before the commit (worker_txn.c): with
 *  redis.min_replicas, the mark and WAIT (store_confirm()). Returns 0, or
 *  -1 on a Redis failure or too few replicas (counted): retry the batch. */
int worker_confirm(worker_t *w);
/** Dead-letters an input whose records the broker refused too often. */
void worker_poison_apply(worker_t *w, worker_item_t *items, size_t n);
/** Counts a committed batch into the metrics: its processing time is from
 *  @p t0 to @p t_end (monotonic µs). */
void worker_count_batch(worker_t *w, const worker_item_t *items, size_t n, int64_t t0,
                        int64_t t_end);
/** Claims due timers and fires them on incidents.timers. */
void worker_fire_timers(worker_t *w);
/** Updates the lag gauge from the cached watermarks. */
void worker_update_lag(worker_t *w);
/** Creates the transactional producer (id w->txid). 0 or -1 with a message. */
int worker_producer_new(worker_t *w, char *errstr, size_t errstr_size);
/** Initialises transactions, retrying until the broker answers or stop. */
int worker_producer_init(worker_t *w);
/** Destroys the producer and its topic handles. */
void worker_producer_destroy(worker_t *w);

#endif
