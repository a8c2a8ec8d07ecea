/*
 * store.h — live incident state in Redis, applied once.
 *
 * Key layout (every key starts with the namespace, which the daemon sets to
 * the topic prefix so that pipelines sharing a Redis stay apart; hash tags
 * keep one incident's keys in one cluster slot):
 *   inc:{<id>}                hash: state (StoredIncident bytes), version, head
 *                             (chain head: hash of the record `version`), tlbytes
 *                             (bytes the timeline holds; -1: none kept, see tl:)
 *   tl:{<id>}                 list: the incident's timeline, every audit record
 *                             (packed incident.v1.AuditRecord) in chain order,
 *                             appended by the apply that produced it; complete
 *                             (seq 1..version) while inc's tlbytes >= 0. Past
 *                             STORE_TIMELINE_MAX_RECORDS records or
 *                             STORE_TIMELINE_MAX_BYTES bytes it is dropped and
 *                             tlbytes set to -1 (so is an incident opened before
 *                             timelines were kept): ormis.audit is its record then.
 *                             Expires with inc:{<id>}
 *   cause:{<id>}:<stage>:<c>  the input position that applied cause c (TTL)
 *   alert:<alert_id>          the input position that applied an alert (TTL)
 *   out:<cause key>           the records that transition produced, until its
 *                             transaction commits (store_forget_outputs(); TTL)
 *   open:<dedup_key>          id of the open incident of that key
 *   stage:<STAGE>             set of live incident ids in that stage
 *   kind:<KIND>               set of live incident ids of that kind
 *   timers                    sorted set of timers by due ms: "<level>|<id>" (ack),
 *                             "<kind>:<level>|<id>" (confirm, client_update, review)
 *   tclaim:{<id>}:<m>         claim token of a due timer being fired (m: member before '|')
 *   meta:epoch                set once the state is complete (see store_epoch())
 *   silence:<id>:<ends_at>:reminded|tombstone
 *                             the notify stage's lease on a silence's reminder
 *                             before its end / its tombstone, then "done"
 *                             (store_lease(), notify_silences.h)
 *   meta:applied              the applied-writes mark: +1 per apply pipeline
 *   meta:rebuild-lock         held by the process rebuilding the state
 *
 * Two Lua scripts, loaded once per connection and called with EVALSHA in one
 * pipeline per batch: `read` (state + whether the cause was applied) and
 * `apply` (version-checked, cause-checked atomic transition).
 *
 * @locality: a store_t belongs to one thread.
 */
#ifndef INCIDENTD_STORE_H
#define INCIDENTD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "handlers.h"
#include "redis_conn.h"

typedef struct store store_t;

/** Connects as @p o says (redis_conn.h: the URL, or the primary the
 *  Sentinels name; borrowed during the call). @p ns prefixes every key
 *  (NULL = none; the daemon uses the topic prefix). Returns NULL with a
 *  message in errstr on a bad URL or Sentinel list; a refused connection is
 *  not an error here (store_ready() tells, store_reconnect() retries).
 *  Caller frees with store_destroy(). */
store_t *store_new(const redis_conn_opts_t *o, const char *ns, char *errstr, size_t errstr_size);
/** The key namespace. */
const char *store_ns(const store_t *st);
void store_destroy(store_t *st);
/** Non-zero when connected with scripts loaded. */
int store_ready(const store_t *st);
/** (Re)connects, authenticates, loads scripts. Returns 0 or -1. */
int store_reconnect(store_t *st);
/** Last error text (never NULL). */
const char *store_error(const store_t *st);
/** Round trips made so far (one pipeline = one round trip). */
uint64_t store_round_trips(const store_t *st);
uint64_t store_errors(const store_t *st);

typedef enum store_cause {
    STORE_CAUSE_NEW = 0,    /* not applied yet */
    STORE_CAUSE_REPLAY = 1, /* applied by this very input position: replay stored records */
    STORE_CAUSE_DUP = 2,    /* applied by another message: a duplicate */
} store_cause_t;

typedef struct store_read {
    /* in */
    const char *dedup_key; /* look up the open incident of this key, or */
    const char *id;        /* read this incident */
    const char *cause_key; /* full cause key (namespace included), or NULL */
    const char *pos;       /* input position "topic/partition/offset" */
    /* out (arena) */
    const char *found_id; /* incident id found ("" none) */
    const unsigned char *state;
    size_t state_len; /* NULL when absent */
    uint64_t version;
    store_cause_t cause;
    const unsigned char *outputs;
    size_t outputs_len; /* REPLAY: stored records */
} store_read_t;

/** Reads a batch in one round trip. Returns 0, or -1 on a Redis failure. */
int store_read_batch(store_t *st, store_read_t *r, size_t n, arena_t *arena);

typedef enum store_result {
    STORE_OK = 0,
    STORE_REPLAY,   /* cause applied by this position: outputs hold the stored records */
    STORE_DUP,      /* cause applied by another message: produce nothing */
    STORE_CONFLICT, /* version or chain head moved (another stage changed it): re-read and retry */
    STORE_REJECT,   /* refused (a fired timer without its claim): reason in `reason` */
} store_result_t;

/* An operation on the outbox of deliveries (Redis: <ns>outbox, a sorted
 * set of delivery ids by due time; <ns>dlv:{<id>}, the incident's planned
 * deliveries). */
typedef struct store_outbox_op {
    char op;                 /* 'p' plan, 'r' reschedule, 'd' drop */
    const char *delivery_id; /* "<incident id>:<seq>:<n>" */
    int64_t due_ms;          /* 'p', 'r': when it is due */
    const void *value;       /* 'p', 'r': the packed incidentd.v1.PlannedDelivery */
    size_t value_len;
} store_outbox_op_t;

/* The most records and bytes of records an incident's timeline (tl:{<id>})
 * holds: one more and it is dropped for good (tlbytes -1), the API reads
 * that incident's timeline from ormis.audit. 1000 records is some 20 times
 * what an incident's life writes; a merge storm passes it. Plain numbers:
 * the apply and rebuild scripts spell them. */
#define STORE_TIMELINE_MAX_RECORDS 1000
#define STORE_TIMELINE_MAX_BYTES 4194304

/* Outbox operations one apply may carry (a transition plans at most this
 * many deliveries: hd's HD_NOTICE_RECIPIENTS_MAX recipients, one channel). */
#define STORE_OUTBOX_MAX 1100

/* Bytes given to the store (borrowed). */
typedef struct store_bytes {
    const void *data;
    size_t len;
} store_bytes_t;

typedef struct store_apply {
    /* in */
    const char *id;
    uint64_t expected_version;
    const char *expected_head; /* chain head (last_hash) at expected_version ("" none) */
    /* SHA-1 (hex) of the stored state the decision was made on, when that
     * state came from an event's header, not from Redis ("" unchecked) */
    const char *expected_digest;
    uint64_t new_version; /* 0 = no state change (effects only) */
    const char *new_head; /* chain head after the transition */
    const unsigned char *state;
    size_t state_len;
    const char *cause_key; /* NULL = don't record */
    int cause_check_only;  /* check cause_key (REPLAY, DUP) but don't record it */
    const char *pos;
    const unsigned char *outputs;
    size_t outputs_len;
    const char *old_stage, *new_stage; /* stage index move (NULL = none) */
    const char *old_kind, *new_kind;   /* kind index move (NULL = none) */
    int index_op;                      /* 0 none, 1 open, 2 close (hd_index_op_t) */
    const char *dedup_key;
    /* An alert decided without reading its key's mapping: the incident it
     * assumed open:<dedup_key> names ("" none); NULL = no check. When the
     * key maps elsewhere the apply conflicts with now_open set. */
    const char *assume_open;
    const char *index_prev; /* open: the incident the key may still map to ("" none) */
    uint64_t prev_version;  /* its version and chain head as the decision saw them */
    const char *prev_head;
    const hd_timer_effect_t *timers; /* timer effects, in order (borrowed) */
    size_t n_timers;
    uint32_t max_level; /* an ACK cancel drops the ack timers of levels 0..max_level */
    int closed;
    int64_t retention_ms;
    const store_outbox_op_t *outbox; /* outbox operations, in order (borrowed) */
    size_t n_outbox;
    /* The transition's audit records, packed, in chain order: appended to the
     * incident's timeline (tl:{<id>}) with the transition (borrowed) */
    const store_bytes_t *records;
    size_t n_records;
    const char *claim_key;    /* the claim a fired timer or a receipt consumes, or NULL */
    const char *timer_member; /* a fired timer to consume (store_timer_member()), or NULL */
    const char *timer_claim;  /* its claim token */
    /* out */
    store_result_t result;
    const unsigned char *replay;
    size_t replay_len;  /* STORE_REPLAY (arena) */
    const char *reason; /* STORE_REJECT (arena) */
    /* STORE_CONFLICT on the version or chain head: the incident's state and
     * version in Redis at that moment (arena; NULL when absent) */
    const unsigned char *now_state;
    size_t now_state_len;
    uint64_t now_version;
    /* ... and on an assume_open conflict, the incident the key maps to ("" none;
     * now_state/now_version are its) */
    const char *now_open;
} store_apply_t;

/** Applies a batch in one round trip (in order). Returns 0 (see each
 *  result), or -1 on a Redis failure (then nothing is known: retry). */
int store_apply_batch(store_t *st, store_apply_t *a, size_t n, arena_t *arena);

/** SHA-1 (hex) of a packed state: what the apply stores as the incident's
 *  'sha' and compares with store_apply_t.expected_digest. */
#define STORE_DIGEST_HEX 41
void store_state_digest(const void *state, size_t len, char hex[STORE_DIGEST_HEX]);

/** The records stored for the replay of @p cause_key are no longer needed
 *  (their transaction committed): they are deleted with the next pipeline,
 *  in its round trip (copied; when the connection is lost first, their TTL
 *  removes them). */
void store_forget_outputs(store_t *st, const char *cause_key);

/** The member of a timer in the timers set: "<level>|<id>" for an ack
 *  timer (the layout of the first version), "<kind>:<level>|<id>" for the
 *  others ("confirm:0|INC-…"). Written into @p buf; returns @p buf. */
const char *store_timer_member(hd_timer_kind_t kind, uint32_t level, const char *id, char *buf,
                               size_t size);

typedef struct store_timer {
    char member[300]; /* store_timer_member() */
    hd_timer_kind_t kind;
    char id[256];
    char claim[64]; /* claim token: the fired command must carry it */
    uint32_t level;
    int64_t due_ms;
} store_timer_t;

/** Reads the stored state and version of @p n incidents in one round trip
 *  (HMGET <ns>inc:{<id>} state version, each): @p replies[i] gets the
 *  reply (a redisReply *; the caller frees each with freeReplyObject()).
 *  Returns 0, or -1 on a Redis failure (no replies kept). */
int store_states_read(store_t *st, const char *const *ids, size_t n, void **replies);

/** Reads incident @p id's state and timeline in one round trip: into
 *  @p replies[0] the reply of HMGET <ns>inc:{<id>} state version tlbytes,
 *  into @p replies[1] that of LRANGE <ns>tl:{<id>} 0 -1 (redisReply *
 *  each; the caller frees both with freeReplyObject()). Returns 0, or -1
 *  on a Redis failure (no replies kept). */
int store_timeline_read(store_t *st, const char *id, void **replies);

/** Claims up to @p max due timers: leases them for @p lease_ms (a claimer
 *  that dies lets them come back, with the same claim token) and takes
 *  their claims. The timer leaves Redis when the apply of its fired command
 *  consumes the claim (store_apply_t.timer_member). Returns the count, or -1. */
int store_timers_claim(store_t *st, int64_t now_ms, int64_t lease_ms, store_timer_t *out, int max);

/* A claimed delivery of the outbox (arena). */
typedef struct store_delivery {
    const char *delivery_id;
    const char *claim;            /* the claim token its receipt must carry */
    const unsigned char *planned; /* packed incidentd.v1.PlannedDelivery */
    size_t planned_len;
    const unsigned char *state; /* packed StoredIncident ("" when gone) */
    size_t state_len;
} store_delivery_t;

/** Claims up to @p max due deliveries of the outbox: leases them for
 *  @p lease_ms (a sender that dies lets them come back with the same claim
 *  token) and returns each with its incident's state. The delivery leaves
 *  the outbox when the apply of its receipt drops it ('d') or reschedules
 *  it ('r'). Returns the count, or -1. */
int store_deliveries_claim(store_t *st, int64_t now_ms, int64_t lease_ms, store_delivery_t *out,
                           int max, arena_t *arena);

/** Gives claimed delivery @p delivery_id back to the outbox, due at
 *  @p due_ms (its claim token stays; a delivery gone meanwhile stays gone):
 *  for a sender that may not start it now. Returns 0 or -1. */
int store_delivery_defer(store_t *st, const char *delivery_id, int64_t due_ms);

/** The Redis key of a delivery's claim (store_apply_t.claim_key of its
 *  receipt), into @p buf. */
const char *store_delivery_claim_key(const store_t *st, const char *incident_id,
                                     const char *delivery_id, char *buf, size_t size);

/**
 * The epoch marker (<ns>meta:epoch) says this Redis holds incidentd's live
 * state. A Redis that restarted empty has none: the state must be rebuilt
 * from ormis.audit before any transition is applied. A Redis whose
 * applied-writes mark is below the highest this process saw (store_set_replicas())
 * lost acknowledged writes: its epoch marker is removed (so every process
 * waits for the rebuild) and its mark raised, atomically.
 * store_epoch() returns 1 (present), 0 (missing or removed) or -1 (Redis
 * failure).
 */
int store_epoch(store_t *st);

/**
 * The applied-writes mark (INCR <ns>meta:applied) and WAIT. The process
 * remembers the highest mark it saw; store_epoch() finds a Redis whose
 * mark is below it (it lost writes this process had applied: a failover to
 * a replica that missed them, a restart from an old snapshot) and treats it
 * as one without state, to be rebuilt. With @p min_replicas 0 (the
 * default) the mark rides in every apply pipeline (no round trip of its
 * own); with @p min_replicas > 0, store_confirm() marks and waits up to
 * @p timeout_ms until that many replicas hold every write of this
 * connection, once per batch before its Kafka commit (also after a batch
 * that only replayed: its writes may be an earlier attempt's, never
 * confirmed).
 */
void store_set_replicas(store_t *st, int min_replicas, int64_t timeout_ms);

/** INCR and WAIT in one round trip (store_set_replicas()). Returns the
 *  replicas that acknowledged (fewer than min_replicas is a shortfall,
 *  store_error() says so), or -1 on a Redis failure. */
int store_confirm(store_t *st);

/** Sets the epoch marker (if missing). Returns 0 or -1. */
int store_epoch_set(store_t *st, int64_t now_ms);
/** A short lease lock (<ns><name>, SET NX EX): 1 taken, 0 held by another, -1 error. */
int store_lock(store_t *st, const char *name, const char *owner, int ttl_s);
/** Releases the lock if @p owner still holds it. */
void store_unlock(store_t *st, const char *name, const char *owner);
/** A claim of one piece of work (<ns><name>, SET NX PX @p ttl_ms) for
 *  @p owner: 1 taken, 0 held by another or settled, -1 error. Once the
 *  lease runs out another may take it (a claimer that died). */
int store_lease(store_t *st, const char *name, const char *owner, int64_t ttl_ms);
/** The work of a lease @p owner holds is done: the key becomes @p value for
 *  @p ttl_ms, so that nobody takes it again before. 1 settled, 0 the lease
 *  is no longer @p owner's (it ran out), -1 error. store_unlock() gives a
 *  lease up instead. */
int store_lease_settle(store_t *st, const char *name, const char *owner, const char *value,
                       int64_t ttl_ms);

/** Loads the Lua script @p src (SCRIPT LOAD) and writes its SHA-1 into
 *  @p sha. Returns 0, or -1 (store_error() says why). */
int store_script_load(store_t *st, const char *src, char sha[41]);

/** Runs one command given as @p argc arguments of @p lens bytes (binary
 *  safe); returns the reply or NULL. The caller frees with freeReplyObject(). */
void *store_command_argv(store_t *st, int argc, const char **argv, const size_t *lens);

/** Runs one command (tests, incidentctl); returns the reply or NULL. The
 *  caller frees with freeReplyObject(). */
void *store_command(store_t *st, const char *fmt, ...);

#endif
