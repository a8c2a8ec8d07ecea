/*
 * gtable.h — a global table: every record of a compacted topic (key: the
 * record's id; a tombstone, an empty value, removes it), decoded and held
 * whole in memory by each worker that needs it, as Kafka Streams holds a
 * global table. The silences (silences.h) and the on-call overrides
 * (overrides.h) are global tables; a kind (gtable_kind_t) says how to read
 * and check one record.
 *
 * Loading and following: gtable_load() reads the whole topic
 * (kafka_read_all(), up to the watermarks at its start; applied once read,
 * gtable_apply_topic()) before the worker
 * subscribes to its stage; then a second consumer, assigned by hand (no
 * group, no commits), continues every partition right after the last
 * record read and gtable_follow() applies what arrived, without waiting. A
 * record produced while a worker runs is thus in force from the worker's
 * next turn after it reaches the broker; every worker that starts has the
 * whole table before it consumes.
 *
 * Records are applied in offset order per key: a value replaces the entry
 * of its key, a tombstone removes it; a tombstone for an unknown entry, a
 * value that does not decode, fails the kind's check or whose id is not its
 * key is ignored (logged). Entries past their end are dropped from memory
 * by gtable_follow() (the topic keeps them until their tombstone, which
 * the notify stage writes for the silences: notify_silences.h).
 *
 * The cap: a table holds at most @p max entries in force (not ended:
 * pending ones count), the setting the kind names (silences.max_active,
 * overrides.max_active). Whoever creates entries (the API, incidentctl)
 * refuses one more first (gtable_full()). A record in force that still
 * arrives past the cap (forged, produced directly, two creators racing)
 * waits: it is no entry (never matched, listed or viewed) until one in
 * force ends or is expired; then the waiting records come into force in
 * the order they arrived. At most @p max records wait: one more is dropped
 * (forgotten until the next load). Both are counted (gtable_refused())
 * and logged, one line every 10 s at most. A replacement of an entry in
 * force, a tombstone and a record that has already ended are always
 * taken; a new value of a waiting record arrives anew. Which records are
 * in force past the cap follows an order: at a load, the order the latest
 * records of the keys were produced (their timestamps:
 * gtable_apply_topic()), then the order they arrive. Workers thus agree,
 * unless records past the cap were produced so close together that
 * followers saw them in another order, or more than @p max waited.
 *
 * Every change of the entries (a record taken, a tombstone, an entry
 * ended and dropped, a load) bumps the table's generation
 * (gtable_generation()), so that a view derived from the entries is built
 * again only when they changed (overrides_view_update()).
 *
 * Owned by the runtime room. @locality one thread at a time: the worker
 * that owns the table, or callers holding their own lock (the API).
 */
#ifndef INCIDENTD_GTABLE_H
#define INCIDENTD_GTABLE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

typedef struct gtable gtable_t;

/* What one kind of table holds. */
typedef struct gtable_kind {
    const char *what;        /* "silences": log lines */
    const char *max_setting; /* "silences.max_active": the cap's setting, named in refusals */
    const ProtobufCMessageDescriptor *desc;
    /* the record's id: its key must be the same bytes */
    const char *(*id)(const ProtobufCMessage *m);
    /* 0, or -1 with the reason in err: the record is ignored */
    int (*check)(const ProtobufCMessage *m, char *err, size_t err_size);
    /* the instant from which the entry no longer matters (dropped from
     * memory by gtable_follow()); 0: never */
    int64_t (*ends_at)(const ProtobufCMessage *m);
} gtable_kind_t;

/** An empty table of @p kind (borrowed, static) on @p topic (full name,
 *  copied) of @p brokers, holding at most @p max entries in force (0: no
 *  cap, for tools that show the whole topic); borrows @p brokers and
 *  @p props (kafka.* as "key=value", NULL-terminated, may be NULL). Free
 *  with gtable_destroy(). Never NULL (out of memory aborts). */
gtable_t *gtable_new(const gtable_kind_t *kind, const char *brokers, const char *topic,
                     const char *const *props, size_t max);
void gtable_destroy(gtable_t *t);

/** Reads the whole topic, then starts following it. Returns 0, or -1 with a
 *  message (no topic yet, broker away, a read that stalled): try again. */
int gtable_load(gtable_t *t, volatile sig_atomic_t *stop, char *errstr, size_t errstr_size);

/** Applies what the follower received since the last call (never blocks)
 *  and drops the entries that have ended (unless gtable_keep_ended()). */
void gtable_follow(gtable_t *t);

/** Keeps ended entries in memory until their tombstone arrives: for the
 *  worker that writes the tombstones (the notify stage, silences). */
void gtable_keep_ended(gtable_t *t);

/** Applies one record: @p value of @p len bytes, NULL/0 = tombstone.
 *  Returns 1 when the entries changed, 0 when they did not (a bad record
 *  or a tombstone of an unknown entry, ignored; a record that waits past
 *  the cap, or the tombstone of one). */
int gtable_apply(gtable_t *t, const char *key, size_t key_len, const void *value, size_t len);

/** Every entry, borrowed until the next gtable_follow() / gtable_apply().
 *  One ended since the last gtable_follow() is included: callers check the
 *  time. */
const ProtobufCMessage *const *gtable_all(const gtable_t *t, size_t *n);

/** The entry of id @p id, or NULL; borrowed as gtable_all(). */
const ProtobufCMessage *gtable_get(const gtable_t *t, const char *id);

/** A number that grows at every change of the entries (never at an
 *  ignored record); equal numbers mean the same entries, the same
 *  pointers. 0 for a new table. */
uint64_t gtable_generation(const gtable_t *t);

/** Whether the table is full for an entry of id @p id in force now: 1 when
 *  the cap's number of other entries are in force (the refusal, naming
 *  the setting, in @p err), else 0. */
int gtable_full(const gtable_t *t, const char *id, char *err, size_t err_size);

/** Records that arrived past the cap so far (they waited or were dropped). */
uint64_t gtable_refused(const gtable_t *t);

/** Whether the record of id @p id waits past the cap (it is no entry). */
int gtable_waits(const gtable_t *t, const char *id);

/* One record of the topic as gtable_load() gathers it (bytes borrowed). */
typedef struct gtable_record {
    const char *key;
    size_t key_len;
    const void *value; /* NULL (len 0): a tombstone */
    size_t len;
    int64_t ts; /* its Kafka timestamp, ms */
    int32_t partition;
    int64_t offset;
} gtable_record_t;

/**
 * Applies the records of a whole topic to @p t (gtable_load() does, on an
 * empty table): only the latest record of each key counts (the last by
 * partition and offset, as compaction keeps it; a tombstone leaves
 * nothing), and those values are applied in the order they were produced
 * (timestamp, then partition and offset), whatever order the partitions
 * were read in. Past the cap every worker loading the same topic thus
 * holds the same entries in force and lets the same ones wait. Sorts
 * @p recs (borrowed) in place. Returns how many values were applied.
 * (gtable_topic.c)
 */
size_t gtable_apply_topic(gtable_t *t, gtable_record_t *recs, size_t n);

#endif
