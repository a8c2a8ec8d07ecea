/*
 * http_produce.h — a Kafka producer for the HTTP stages that answer only
 * once the broker has their records (idempotent, acks=all): the ingest
 * stage's alerts (ingest.c) and the API's commands (api_command.c).
 *
 * A send produces its records and waits for every delivery report, up to a
 * deadline; the reports are served by the producer's own poll thread. Each
 * send has a wait object shared with its records' reports and freed by the
 * last of them, so a report arriving after the sender gave up is harmless.
 *
 * @locality http_producer_send() on any thread (one per request); the
 * delivery reports on the producer's poll thread.
 */
#ifndef INCIDENTD_HTTP_PRODUCE_H
#define INCIDENTD_HTTP_PRODUCE_H

#include <stddef.h>

#include "config.h"

typedef struct http_producer http_producer_t;

/* One record to produce. */
typedef struct http_record {
    const char *key; /* borrowed for the call */
    size_t key_len;
    void *value; /* malloc'ed; http_producer_send() takes ownership, even on failure */
    size_t len;
} http_record_t;

/** A producer with cfg's Kafka settings, named @p client_id, whose sends
 *  wait at most @p wait_ms. Borrows @p cfg for the call only. Returns NULL
 *  with a message in errstr. Free with http_producer_destroy(). */
http_producer_t *http_producer_new(const config_t *cfg, const char *client_id, int wait_ms,
                                   char *errstr, size_t errstr_size);

/** Produces @p n records to @p topic (full name) and waits for their
 *  delivery reports. Returns 0 when Kafka has them all, else -1 with the
 *  reason in @p why. Takes ownership of every record's value. */
int http_producer_send(http_producer_t *p, const char *topic, http_record_t *recs, size_t n,
                       char *why, size_t why_size);

/** Flushes (up to the wait), stops the poll thread and frees; accepts NULL. */
void http_producer_destroy(http_producer_t *p);

#endif
