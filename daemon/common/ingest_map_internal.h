/*
 * ingest_map_internal.h — what the ingest mappers share; not for other rooms.
 *
 * The mappers of ingest_map.h are one module in four files:
 *   ingest_map.c               body parsing, alert building, checks, times
 *   ingest_map_alertmanager.c  POST /v1/alertmanager
 *   ingest_map_events.c        POST /v1/events (PagerDuty Events API v2)
 *   ingest_map_alert.c         POST /v1/alerts (the JSON mapping of an Alert)
 * Every field is copied into an alert through the builder below, so that
 * the limits, de-duplication and UTF-8 handling are written once.
 *
 * @locality any thread (pure; everything comes from the caller's arena)
 */
#ifndef INCIDENTD_INGEST_MAP_INTERNAL_H
#define INCIDENTD_INGEST_MAP_INTERNAL_H

#include "ingest_map.h"

#include <cjson/cJSON.h>

#include "json_body.h"

/* ---- the body ------------------------------------------------------------ */

/** The string member @p name of @p obj (borrowed): NULL when absent or
 *  null; a member of another type sets *bad and gives NULL. */
const char *ingest_map_str(const cJSON *obj, const char *name, int *bad);

/** An arena copy of @p s of at most @p max bytes, cut before a UTF-8
 *  sequence that would not fit whole. */
char *ingest_map_cut(arena_t *arena, const char *s, size_t max);

/** Lower-case hex SHA-256 over @p n parts, each followed by '\n', into
 *  @p hex; @p lens may be NULL (strlen of each part). */
void ingest_map_sha256_hex(char hex[65], size_t n, const char *const *parts, const size_t *lens);

/** Out of memory outside the arena: a message, then abort(). */
void ingest_map_oom(void) __attribute__((noreturn));

/* ---- building an alert ---------------------------------------------------- */

/* An alert under construction: growable lists in the arena. */
typedef struct im_build {
    arena_t *arena;
    hd_alert_t *alert;
    size_t cap_labels, cap_sites, cap_clients;
} im_build_t;

/** Starts @p b on a new, empty alert allocated from @p arena. */
void ingest_map_build_init(im_build_t *b, arena_t *arena);

/** The value of label @p key, or NULL. */
const char *ingest_map_label_get(const hd_alert_t *a, const char *key);

/** Adds a label; both strings must live in the arena already. */
void ingest_map_label_add(im_build_t *b, char *key, char *value);

/**
 * When @p key is site, sites, client or clients, adds @p v — a comma list
 * or an array of strings; other members are skipped — to the alert's sites
 * or clients (trimmed, empty and repeated entries dropped) and returns 1;
 * else returns 0 and adds nothing.
 */
int ingest_map_where_add(im_build_t *b, const char *key, const cJSON *v);

/** Checks a finished alert (hd_alert_validate(): the contract's limits,
 *  UTF-8 without NUL); the reason is prefixed by @p where when not "". */
int ingest_map_check(const hd_alert_t *a, const char *where, char *err, size_t err_size);

/* ---- batches ------------------------------------------------------------- */

/** Maps one element of a batch (index @p idx) into *out. */
typedef int (*ingest_map_item_fn)(const cJSON *item, size_t idx, arena_t *arena, void *ctx,
                                  hd_alert_t **out, char *err, size_t err_size);

/**
 * Maps every element of the JSON array @p items (at most INGEST_ALERTS_MAX;
 * more is refused, @p where prefixing the reason) with @p fn into
 * out->alerts / out->n. On error out->alerts is NULL and out->n 0.
 */
int ingest_map_each(const cJSON *items, const char *where, arena_t *arena, ingest_map_item_fn fn,
                    void *ctx, ingest_batch_t *out, char *err, size_t err_size);

#endif
