/*
 * store_admin.c — incidentctl's Redis access; see store_admin.h.
 */
#include "store_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

store_t *store_admin_open(const redis_conn_opts_t *o, const char *ns, char *errstr,
                          size_t errstr_size)
{
    char err[256] = "";
    store_t *st = store_new(o, ns, err, sizeof(err));
    if (!st) {
        snprintf(errstr, errstr_size, "%s", err);
        return NULL;
    }
    if (!store_ready(st)) {
        snprintf(errstr, errstr_size, "%s", store_error(st));
        store_destroy(st);
        return NULL;
    }
    return st;
}

const char *store_admin_redact(const char *url, char *buf, size_t size)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *slash = strchr(p, '/');
    const char *at = strrchr(p, '@');
    if (!at || (slash && at > slash)) {
        snprintf(buf, size, "%s", url);
        return buf;
    }
    const char *colon = memchr(p, ':', (size_t)(at - p));
    if (colon) /* user:password@ */
        snprintf(buf, size, "%.*s:***%s", (int)(colon - url), url, at);
    else /* password@ */
        snprintf(buf, size, "%.*s***%s", (int)(p - url), url, at);
    return buf;
}

/* Decodes one "HMGET <key> state version [...]" reply of incident @p id.
 * Returns 1 (state set), 0 (no state) or -1 with a message. */
static int store_admin_decode(const redisReply *r, const char *id, arena_t *arena,
                              hd_state_t **state, uint64_t *version, char *errstr,
                              size_t errstr_size)
{
    *state = NULL;
    *version = 0;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(errstr, errstr_size, "redis: %s", r->str);
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return 0;
    hd_state_t *s = incidentd__v1__stored_incident__unpack(arena_pb(arena), r->element[0]->len,
                                                           (const uint8_t *)r->element[0]->str);
    if (!s || !s->incident) {
        snprintf(errstr, errstr_size, "inc:{%s}: state does not decode as StoredIncident", id);
        return -1;
    }
    *state = s;
    *version = r->element[1]->type == REDIS_REPLY_STRING ? strtoull(r->element[1]->str, NULL, 10)
                                                         : s->incident->version;
    return 1;
}

int store_admin_state(store_t *st, const char *id, arena_t *arena, hd_state_t **state,
                      uint64_t *version, char *errstr, size_t errstr_size)
{
    void *r = NULL;
    *state = NULL;
    *version = 0;
    if (store_states_read(st, &id, 1, &r) < 0) {
        snprintf(errstr, errstr_size, "%s", store_error(st));
        return -1;
    }
    int rc = store_admin_decode(r, id, arena, state, version, errstr, errstr_size);
    freeReplyObject(r);
    return rc;
}

/* The LRANGE reply @p r of a timeline into @p tl (arena), with the
 * tlbytes of @p state_reply (HMGET's third field). */
static void store_admin_take_timeline(const redisReply *state_reply, const redisReply *r,
                                      arena_t *arena, store_admin_timeline_t *tl)
{
    const redisReply *b = state_reply->type == REDIS_REPLY_ARRAY && state_reply->elements == 3
                              ? state_reply->element[2]
                              : NULL;
    tl->bytes = b && b->type == REDIS_REPLY_STRING ? strtoll(b->str, NULL, 10) : -1;
    if (tl->bytes < 0 || r->type != REDIS_REPLY_ARRAY || r->elements == 0)
        return;
    tl->records = arena_alloc(arena, r->elements * sizeof(*tl->records));
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        int s = e->type == REDIS_REPLY_STRING;
        tl->records[tl->n_records].data = s ? arena_strndup(arena, e->str, e->len) : "";
        tl->records[tl->n_records++].len = s ? e->len : 0;
    }
}

int store_admin_timeline(store_t *st, const char *id, arena_t *arena, hd_state_t **state,
                         uint64_t *version, store_admin_timeline_t *tl, char *errstr,
                         size_t errstr_size)
{
    void *r[2] = {NULL, NULL};
    *state = NULL;
    *version = 0;
    memset(tl, 0, sizeof(*tl));
    tl->bytes = -1;
    if (store_timeline_read(st, id, r) < 0) {
        snprintf(errstr, errstr_size, "%s", store_error(st));
        return -1;
    }
    int rc = store_admin_decode(r[0], id, arena, state, version, errstr, errstr_size);
    if (rc == 1)
        store_admin_take_timeline(r[0], r[1], arena, tl);
    freeReplyObject(r[0]);
    freeReplyObject(r[1]);
    return rc;
}

/* States read per round trip by store_admin_stage(). */
#define STORE_ADMIN_CHUNK 512

int store_admin_stage(store_t *st, const char *stage, arena_t *arena, store_admin_row_fn fn,
                      void *opaque, char *errstr, size_t errstr_size)
{
    redisReply *set = store_command(st, "SMEMBERS %sstage:%s", store_ns(st), stage);
    if (!set || set->type != REDIS_REPLY_ARRAY) {
        snprintf(errstr, errstr_size, "redis: %s",
                 set && set->type == REDIS_REPLY_ERROR ? set->str : store_error(st));
        if (set)
            freeReplyObject(set);
        return -1;
    }
    int rc = 0;
    void *replies[STORE_ADMIN_CHUNK];
    const char *ids[STORE_ADMIN_CHUNK];
    for (size_t at = 0; rc == 0 && at < set->elements; at += STORE_ADMIN_CHUNK) {
        size_t n = set->elements - at < STORE_ADMIN_CHUNK ? set->elements - at : STORE_ADMIN_CHUNK;
        for (size_t i = 0; i < n; i++)
            ids[i] = set->element[at + i]->str ? set->element[at + i]->str : "";
        if (store_states_read(st, ids, n, replies) < 0) {
            snprintf(errstr, errstr_size, "%s", store_error(st));
            rc = -1;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            hd_state_t *state;
            uint64_t version;
            char err[512] = "";
            /* 0: it left the set meanwhile (no state) */
            int got =
                store_admin_decode(replies[i], ids[i], arena, &state, &version, err, sizeof(err));
            if (got != 0)
                fn(opaque, ids[i], got > 0 ? state : NULL, version, got < 0 ? err : NULL);
            freeReplyObject(replies[i]);
        }
    }
    freeReplyObject(set);
    return rc;
}
