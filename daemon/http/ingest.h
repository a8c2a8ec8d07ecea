/*
 * ingest.h — the webhook ingest stage (--stages ingest, --ingest-http):
 * Alertmanager and PagerDuty-style webhooks and JSON alerts become
 * incident.v1.Alert records on incidents.detected.
 *
 * Routes (HTTP/1.1, libmicrohttpd, one thread per connection):
 *
 *   POST /v1/alertmanager  Alertmanager webhook, payload version 4
 *   POST /v1/events        PagerDuty Events API v2 body; 202 answers
 *                          {"status":"success","message":"Event processed","dedup_key":...}
 *   POST /v1/alerts        an Alert in the protobuf JSON mapping (or an array)
 *   GET  /healthz          200 "ok"
 *
 * The body mapping is in ingest_map.h. A request is answered 202 only once
 * Kafka has acknowledged every alert of it (idempotent producer, acks=all),
 * 503 when that does not happen within INGEST_WAIT_MS (the sender retries;
 * the alert ids of a retried body are the same, so nothing is doubled).
 * Other answers: 400 invalid body ({"status":"invalid event","message":...}),
 * 401 missing or wrong bearer token (ingest.token, ingest.token.<route>;
 * checked before the rate limit, so a wrong token spends no sender's
 * budget), 404 unknown path, 405 wrong method, 413 body over
 * ingest.max_body (from Content-Length before anything is read), 415 a
 * Content-Type other than application/json or application/<x>+json (any
 * parameters, any case; a request without one is taken as JSON), 429 over
 * ingest.rate/ingest.burst per client address (and per routing_key on
 * /v1/events) with Retry-After.
 *
 * Connections are limited by http_server.h (http.max_connections,
 * http.per_ip_connections, http.request_timeout).
 *
 * @locality: requests are served on libmicrohttpd's connection threads;
 * delivery reports on the stage's own Kafka poll thread.
 */
#ifndef INCIDENTD_INGEST_H
#define INCIDENTD_INGEST_H

#include <stddef.h>

#include "config.h"

/* How long a request waits for Kafka's acknowledgement before a 503. */
#define INGEST_WAIT_MS 10000

typedef struct ingest ingest_t;

/** Starts the ingest HTTP server on cfg->ingest_http (port 0 = any free
 *  port, see ingest_port()) with its own Kafka producer. Borrows @p cfg
 *  for the duration of the call only. Returns NULL with a message in
 *  errstr. Stop with ingest_stop(). */
ingest_t *ingest_start(const config_t *cfg, char *errstr, size_t errstr_size);
/** Stops accepting connections, answers the requests in flight (waiting
 *  for their Kafka acknowledgements), flushes the producer and frees
 *  everything; accepts NULL. */
void ingest_stop(ingest_t *in);
/** The TCP port actually bound, or -1 for NULL. */
int ingest_port(const ingest_t *in);

#endif
