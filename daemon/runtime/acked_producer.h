/*
 * acked_producer.h — a plain (not transactional) Kafka producer whose sends
 * return only once the broker has their records (idempotent, acks=all): the
 * HTTP stages' (the ingest stage's alerts, ingest.c; the API's commands,
 * api_command.c) and the notify stage's silence tombstones
 * (notify_silences.c). Owned by the runtime room.
 *
 * A send produces its records and waits for every delivery report, up to a
 * deadline; the reports are served by the producer's own poll thread. Each
 * send has a wait object shared with its records' reports and freed by the
 * last of them, so a report arriving after the sender gave up is harmless.
 *
 * @locality acked_producer_send() on any thread (one per request or worker); the
 * delivery reports on the producer's poll thread.
 */
#ifndef INCIDENTD_ACKED_PRODUCER_H
#define INCIDENTD_ACKED_PRODUCER_H

#include <stddef.h>

#include "config.h"

typedef struct acked_producer acked_producer_t;

/* One record to produce. */
typedef struct acked_record {
    const char *key; /* borrowed for the call */
    size_t key_len;
    void *value; /* malloc'ed; acked_producer_send() takes ownership, even on failure */
    size_t len;
} acked_record_t;

/** A producer with cfg's Kafka settings, named @p client_id, whose sends
 *  wait at most @p wait_ms. Borrows @p cfg for the call only. Returns NULL
 *  with a message in errstr. Free with acked_producer_destroy(). */
acked_producer_t *acked_producer_new(const config_t *cfg, const char *client_id, int wait_ms,
                                     char *errstr, size_t errstr_size);

/** Produces @p n records to @p topic (full name) and waits for their
 *  delivery reports. Returns 0 when Kafka has them all, else -1 with the
 *  reason in @p why. Takes ownership of every record's value. */
int acked_producer_send(acked_producer_t *p, const char *topic, acked_record_t *recs, size_t n,
                        char *why, size_t why_size);

/** Flushes (up to the wait), stops the poll thread and frees; accepts NULL. */
void acked_producer_destroy(acked_producer_t *p);

#endif
