/*
 * silences.h — the global table of silences: every incident.v1.Silence of
 * the compacted topic incidents.silences (key: silence id; a tombstone, an
 * empty value, removes it), held whole in memory by each detected-stage
 * worker, as Kafka Streams holds a global table.
 *
 * Loading and following: silences_load() reads the whole topic
 * (kafka_read_all(), up to the watermarks at its start) before the worker
 * subscribes to its stage; then a second consumer, assigned by hand (no
 * group, no commits), continues every partition right after the last
 * record read and silences_follow() applies what arrived, once per worker
 * turn, without waiting. A silence created while a worker runs is thus in
 * force from the worker's next turn after it reaches the broker; every
 * worker that starts has the whole table before it consumes an alert.
 *
 * Records are applied in offset order per key: a value replaces the
 * silence of its key, a tombstone removes it; a tombstone for an unknown
 * silence, a value that does not decode, fails hd_silence_validate() (no
 * maximum here: that is checked where a silence is created) or whose id is
 * not its key is ignored (logged).
 *
 * @locality the thread of the worker that owns it.
 */
#ifndef INCIDENTD_SILENCES_H
#define INCIDENTD_SILENCES_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "handlers.h"

typedef struct silences silences_t;

/** An empty table of @p topic (full name, copied) on @p brokers; borrows
 *  @p brokers and @p props (kafka.* as "key=value", NULL-terminated, may be
 *  NULL). Caller frees with silences_destroy(). Never NULL (out of memory
 *  aborts). */
silences_t *silences_new(const char *brokers, const char *topic, const char *const *props);
void silences_destroy(silences_t *s);

/** Reads the whole topic, then starts following it. Returns 0, or -1 with a
 *  message (no topic yet, broker away, a read that stalled): try again. */
int silences_load(silences_t *s, volatile sig_atomic_t *stop, char *errstr, size_t errstr_size);

/** Applies what the follower received since the last call (never blocks)
 *  and drops the silences that have ended. */
void silences_follow(silences_t *s);

/** Applies one record: @p value of @p len bytes, NULL/0 = tombstone.
 *  Returns 1 when the table changed, 0 when the record was ignored. */
int silences_apply(silences_t *s, const char *key, size_t key_len, const void *value, size_t len);

/** Every silence of the table (one ended since the last silences_follow()
 *  included: matching checks the time), borrowed until the next
 *  silences_follow() / silences_apply(). */
const hd_silence_t *const *silences_all(const silences_t *s, size_t *n);

#endif
