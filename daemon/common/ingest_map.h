/*
 * ingest_map.h — webhook bodies to incident.v1.Alert records, as pure
 * functions (no sockets, no Kafka, no clock, no randomness): the Prometheus
 * Alertmanager webhook (payload version 4), the PagerDuty Events API v2 body
 * and the protobuf JSON mapping of an Alert (pbjson.h).
 *
 * Every alert a mapper returns has passed hd_alert_validate() and holds
 * valid UTF-8 only; when one alert of a body cannot, the whole body is
 * refused (-1) with the reason, for a 400 answer.
 *
 * Ids are derived from the body so that a sender's retry of the same body
 * maps to the same alert ids (the detected stage applies an alert id once):
 *
 *   Alertmanager  alert_id  = "am:" + hex sha256(fingerprint|status|startsAt|endsAt)
 *                 dedup_key = "am:" + fingerprint, or "am:" + hex sha256 of
 *                             the sorted label set when there is no fingerprint
 *   Events v2     alert_id  = "pd:" + hex sha256(routing_key|body)
 *                 dedup_key = as given, else 32 hex digits of
 *                             sha256("dedup"|routing_key|body)
 *
 * Memory: everything returned is allocated from the caller's arena; the
 * body is borrowed and need not be NUL-terminated.
 */
#ifndef INCIDENTD_INGEST_MAP_H
#define INCIDENTD_INGEST_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "handlers.h"

/* Longest routing_key accepted on /v1/events. */
#define INGEST_ROUTING_KEY_MAX 255

/* The alerts of one request body. */
typedef struct ingest_batch {
    hd_alert_t **alerts; /* n alerts, each valid (hd_alert_validate) */
    size_t n;
    const char *dedup_key;   /* /v1/events: the key to answer with (given or generated) */
    const char *routing_key; /* /v1/events: the integration's routing key */
} ingest_batch_t;

/**
 * Maps an Alertmanager webhook notification (version "4"): one Alert per
 * entry of "alerts". status firing/resolved -> TRIGGER/RESOLVE; the
 * severity label (critical, major, error, minor, warning, info, none, ...,
 * any case; unknown or absent -> WARNING); sites/clients from the labels or
 * annotations site, sites, client, clients (comma lists); summary from the
 * summary annotation, else description, else the alertname label (cut at
 * 1024 bytes); service from the label service, else job; source
 * "alertmanager/<receiver>"; occurred_at_ms from startsAt (firing) or
 * endsAt (resolved); every label kept (more than 64, or one too long, is
 * refused). Returns 0 and fills @p out (n may be 0), or -1 with a reason
 * in @p err.
 */
int ingest_map_alertmanager(const char *body, size_t len, arena_t *arena, ingest_batch_t *out,
                            char *err, size_t err_size);

/**
 * Maps a PagerDuty Events API v2 body: routing_key (required),
 * event_action trigger/acknowledge/resolve, dedup_key (<= 255 bytes,
 * generated when absent, see above), payload.summary (<= 1024 bytes),
 * payload.severity critical/error/warning/info (-> CRITICAL, MAJOR,
 * WARNING, INFO), payload.source, payload.component (-> service),
 * payload.group / payload.class (-> labels group / class),
 * payload.timestamp (ISO 8601, -> occurred_at_ms), payload.custom_details
 * (-> labels: strings as they are, other values JSON-encoded, values cut at
 * 1024 bytes, keys over 255 bytes skipped, at most 64 labels in all; its
 * keys site, sites, client, clients also give sites and clients), client
 * (-> actor). trigger needs payload summary, source and severity;
 * acknowledge and resolve need dedup_key. Returns 0 and fills @p out with
 * exactly one alert, or -1 with a reason in @p err.
 */
int ingest_map_events(const char *body, size_t len, arena_t *arena, ingest_batch_t *out, char *err,
                      size_t err_size);

/**
 * Maps the protobuf JSON mapping of an Alert (pbjson.h: field names in
 * snake_case or lowerCamelCase, enums by name), or a JSON array of them
 * (at most INGEST_ALERTS_MAX). Returns 0 and fills @p out, or -1 with a
 * reason in @p err.
 */
int ingest_map_alert_json(const char *body, size_t len, arena_t *arena, ingest_batch_t *out,
                          char *err, size_t err_size);

#define INGEST_ALERTS_MAX 1000

/**
 * Parses an RFC 3339 / ISO 8601 timestamp: "2024-05-01T12:00:00Z",
 * fractions of a second, offsets "+02:00" or "+0200", 'T' or ' '. Sets
 * @p ms to Unix milliseconds and returns 0, or returns -1. Go's zero time
 * ("0001-01-01T00:00:00Z", Alertmanager's "not set") gives 0.
 */
int ingest_map_time_ms(const char *s, int64_t *ms);

#endif
