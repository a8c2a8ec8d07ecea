/*
 * notify_stage.h — the notify stage's sending side: the worker of the
 * `notify` stage consumes delivery receipts (incidents.receipts) like any
 * stage input; on each of its turns (worker_set_tick()) this module claims
 * the outbox's due deliveries in Redis, sends them (deliver.h: webhook,
 * Slack, email; bounded concurrency, per-request timeout), and produces one
 * receipt per finished attempt — delivered, retry (with its backoff) or
 * failed (after notify.max_attempts, or at once for a permanent error, with
 * a dead letter of the delivery). Applying a receipt records `notified` or
 * `delivery_failed` in the incident's chain (handlers: hd_receipt_apply()).
 * The same turns remind silences' creators before their end and write the
 * tombstones of ended silences (notify_silences.h).
 *
 * What a receiver can rely on: at-least-once delivery, one Idempotency-Key
 * (the delivery id) for every attempt of one delivery. A sender that dies
 * between an attempt and its receipt leaves the delivery leased; after the
 * lease another attempt is made with the same key.
 *
 * @locality: everything runs on the notify worker's thread.
 */
#ifndef INCIDENTD_NOTIFY_STAGE_H
#define INCIDENTD_NOTIFY_STAGE_H

#include <stddef.h>

#include "config.h"
#include "worker.h"

typedef struct notify_stage notify_stage_t;

/** Creates the sending side for worker @p w (borrowed, with @p cfg; both
 *  must outlive it) and sets itself as @p w's turn hook. Returns NULL with a
 *  message in errstr. Caller frees with notify_stage_destroy() after the
 *  worker has stopped. */
notify_stage_t *notify_stage_new(const config_t *cfg, worker_t *w, char *errstr,
                                 size_t errstr_size);

/** Abandons attempts in flight (their deliveries come back after the lease)
 *  and frees @p ns. Accepts NULL. */
void notify_stage_destroy(notify_stage_t *ns);

#endif
