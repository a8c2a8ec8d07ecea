/*
 * notify_silences.h — the notify stage's work on the silences (the notify
 * worker holds the global table of incidents.silences, silences.h), done on
 * its turns:
 *  - the reminder before a silence ends: silences.remind_before its
 *    ends_at_ms, its creator (people.<created_by>.*, every channel the
 *    directory has) is reminded once, even when it silenced nothing;
 *  - the tombstone after it ended: its key with an empty value on
 *    incidents.silences, so that the compacted topic forgets it.
 * The reminder when a silenced alert still fires at the end is a delivery
 * like the others (planned by the SILENCE_END timer, handlers/detected.c).
 *
 * Exactly one worker of all the notify stages does each: it takes a Redis
 * lease (store_lease(): <ns>silence:<id>:<ends_at>:reminded / :tombstone),
 * does the work and settles the lease; a worker that dies in between lets
 * the lease run out and another one does it again (a reminder may thus come
 * twice, with the same Idempotency-Key). Without a notify stage running, no
 * reminder is sent before the end and no tombstone is written.
 *
 * @locality: the notify worker's thread.
 */
#ifndef INCIDENTD_NOTIFY_SILENCES_H
#define INCIDENTD_NOTIFY_SILENCES_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "deliver.h"
#include "worker.h"

typedef struct notify_silences notify_silences_t;

/** The silences' work of notify worker @p w (borrowed, with @p cfg and
 *  @p sender, the notify stage's: all must outlive it). Keeps the ended
 *  silences of @p w's table until their tombstone. Returns NULL with a
 *  message in errstr. Caller frees with notify_silences_destroy() after
 *  @p sender is destroyed. */
notify_silences_t *notify_silences_new(const config_t *cfg, worker_t *w, notify_sender_t *sender,
                                       char *errstr, size_t errstr_size);

/** One turn (@p now_ms monotonic): settles the reminders whose attempts
 *  ended, then, at most every half second, starts the reminders due and
 *  writes the tombstones due. */
void notify_silences_tick(notify_silences_t *ns, int64_t now_ms);

/** Frees @p ns (leases held run out). Accepts NULL. */
void notify_silences_destroy(notify_silences_t *ns);

#endif
