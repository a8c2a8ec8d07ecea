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

int store_admin_state(store_t *st, const char *id, arena_t *arena, hd_state_t **state,
                      uint64_t *version, char *errstr, size_t errstr_size)
{
    *state = NULL;
    *version = 0;
    char key[600];
    snprintf(key, sizeof(key), "%sinc:{%s}", store_ns(st), id);
    redisReply *r = store_command(st, "HMGET %s state version", key);
    if (!r) {
        snprintf(errstr, errstr_size, "%s", store_error(st));
        return -1;
    }
    int rc = 0;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(errstr, errstr_size, "redis: %s", r->str);
        rc = -1;
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
               r->element[0]->type == REDIS_REPLY_STRING) {
        hd_state_t *s = incidentd__v1__stored_incident__unpack(arena_pb(arena), r->element[0]->len,
                                                               (const uint8_t *)r->element[0]->str);
        if (!s || !s->incident) {
            snprintf(errstr, errstr_size, "%s: state does not decode as StoredIncident", key);
            rc = -1;
        } else {
            *state = s;
            if (r->element[1]->type == REDIS_REPLY_STRING)
                *version = strtoull(r->element[1]->str, NULL, 10);
            else
                *version = s->incident->version;
            rc = 1;
        }
    }
    freeReplyObject(r);
    return rc;
}
