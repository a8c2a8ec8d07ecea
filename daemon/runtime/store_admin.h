/*
 * store_admin.h — incidentctl's access to the live state in Redis (through
 * store.h's connection: same URL syntax, same AUTH/SELECT).
 */
#ifndef INCIDENTD_STORE_ADMIN_H
#define INCIDENTD_STORE_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "handlers.h"
#include "store.h"

/**
 * Connects as @p o says (redis_conn.h: the URL, or the primary the
 * Sentinels name; a non-empty user / password override the URL's); @p ns
 * is the key namespace (the daemon uses its topic prefix). Returns NULL
 * with a message in errstr (never containing the password) on a bad URL or
 * when Redis cannot be reached. Caller frees with store_destroy().
 */
store_t *store_admin_open(const redis_conn_opts_t *o, const char *ns, char *errstr,
                          size_t errstr_size);

/** @p url with any credentials masked ("redis://user:***@host:6379/0"),
 *  into @p buf. Returns @p buf. */
const char *store_admin_redact(const char *url, char *buf, size_t size);

/**
 * Reads the state of incident @p id (<ns>inc:{id}): decodes it into @p arena.
 * Returns 1 and sets *state / *version, 0 when Redis has no state for it, or
 * -1 with a message (Redis failure or undecodable state).
 */
int store_admin_state(store_t *st, const char *id, arena_t *arena, hd_state_t **state,
                      uint64_t *version, char *errstr, size_t errstr_size);

/* An incident's timeline as Redis keeps it (store.h: tl:{<id>}). */
typedef struct store_admin_timeline {
    store_bytes_t *records; /* packed AuditRecords in chain order (arena) */
    size_t n_records;
    /* its tlbytes: the bytes it holds; -1 none kept (dropped past the
     * bounds, or an incident older than timelines), also when absent */
    int64_t bytes;
} store_admin_timeline_t;

/**
 * store_admin_state() and the incident's timeline, @p tl, in one round trip
 * (store_timeline_read()). The records are copied into @p arena. Returns as
 * store_admin_state() does; @p tl is empty (bytes -1) unless it returns 1.
 */
int store_admin_timeline(store_t *st, const char *id, arena_t *arena, hd_state_t **state,
                         uint64_t *version, store_admin_timeline_t *tl, char *errstr,
                         size_t errstr_size);

/* One incident of a stage set (store_admin_stage()): its state, or NULL
 * with @p err when it does not decode. */
typedef void (*store_admin_row_fn)(void *opaque, const char *id, hd_state_t *state,
                                   uint64_t version, const char *err);

/**
 * Reads the incidents of the live stage set <ns>stage:<stage> with their
 * states, a round trip per 512 of them, and calls @p fn for each that has a
 * state (or whose state does not decode); one that left the set meanwhile
 * is skipped. Returns 0, or -1 with a message on a Redis failure.
 */
int store_admin_stage(store_t *st, const char *stage, arena_t *arena, store_admin_row_fn fn,
                      void *opaque, char *errstr, size_t errstr_size);

#endif
