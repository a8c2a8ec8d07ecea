/*
 * silences.h — the global table of silences (gtable.h): every
 * incident.v1.Silence of the compacted topic incidents.silences (key:
 * silence id), held whole by each detected-stage worker, by the notify
 * stage (reminders) and by the API. A record that fails
 * hd_silence_validate() (no maximum here: that is checked where a silence
 * is created) is ignored; one past silences.max_active silences in force
 * waits (gtable.h: the cap); a silence is dropped from memory at its end,
 * except by the notify stage, which keeps it until its tombstone comes back
 * (gtable_keep_ended(): it writes the tombstones, notify_silences.h).
 *
 * Owned by the runtime room. @locality as gtable.h
 */
#ifndef INCIDENTD_SILENCES_H
#define INCIDENTD_SILENCES_H

#include "gtable.h"
#include "handlers.h"

typedef gtable_t silences_t;

extern const gtable_kind_t silences_kind;

/** An empty table of silences, at most @p max in force (silences.max_active;
 *  0: no cap); see gtable_new(). */
static inline silences_t *silences_new(const char *brokers, const char *topic,
                                       const char *const *props, size_t max)
{
    return gtable_new(&silences_kind, brokers, topic, props, max);
}

/** Every silence of the table; see gtable_all(). */
static inline const hd_silence_t *const *silences_all(const silences_t *s, size_t *n)
{
    return (const hd_silence_t *const *)gtable_all(s, n);
}

#define silences_destroy gtable_destroy
#define silences_load gtable_load
#define silences_follow gtable_follow
#define silences_apply gtable_apply

#endif
