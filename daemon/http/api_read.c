/*
 * api_read.c — GET /v1/incidents (the live incidents of Redis's stage
 * sets, filtered, newest first, paged by cursor) and GET /v1/incidents/{id}
 * (Redis's state, else the last audit snapshot; the ORMIS timeline in
 * chain order and its verification: from the incident's timeline in Redis,
 * read with its state in one round trip, while Redis keeps it whole; else
 * from ormis.audit through audit_read.h as incidentctl show does).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_internal.h"
#include "audit_read.h"
#include "kafka.h"
#include "pbjson.h"
#include "store_admin.h"

static const Incident__V1__Stage api_live_stages[] = {
    INCIDENT__V1__STAGE__STAGE_DETECTED, INCIDENT__V1__STAGE__STAGE_CLASSIFIED,
    INCIDENT__V1__STAGE__STAGE_SCOPED,   INCIDENT__V1__STAGE__STAGE_ESCALATED,
    INCIDENT__V1__STAGE__STAGE_RESOLVED,
};

/* The filters of a list. */
typedef struct api_filter {
    int stage, scope, status, severity, sev_at_least; /* 0: any */
    const char *owner;
    size_t limit;
    int64_t cur_ms; /* cursor: after (detected_at_ms, id) in newest-first order */
    const char *cur_id;
} api_filter_t;

typedef struct api_rows {
    Incident__V1__Incident **v;
    size_t n, cap;
} api_rows_t;

/* An enum query argument; -1 with a 400 queued when it is not one. */
static int api_enum_arg(api_req_t *r, const char *name, const ProtobufCEnumDescriptor *d, int *out,
                        int *at_least, enum MHD_Result *ret)
{
    const char *v = api_arg(r, name);
    *out = 0;
    if (!v || !*v)
        return 0;
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", v);
    size_t n = strlen(buf);
    if (at_least && n && buf[n - 1] == '+') {
        *at_least = 1;
        buf[n - 1] = '\0';
    }
    if (pbjson_enum_value(d, buf, out) == 0 && *out > 0)
        return 0;
    char msg[256];
    snprintf(msg, sizeof(msg), "%s: not a %s value (e.g. %s)", name, d->short_name,
             d->n_values > 1 ? d->values[1].name : "?");
    *ret = api_error(r, MHD_HTTP_BAD_REQUEST, "bad request", name, msg);
    return -1;
}

/* The list's query. Returns 0, or -1 with a 400 queued in *ret. */
static int api_filter_parse(api_req_t *r, api_filter_t *f, enum MHD_Result *ret)
{
    memset(f, 0, sizeof(*f));
    f->limit = API_LIST_DEFAULT;
    if (api_enum_arg(r, "stage", &incident__v1__stage__descriptor, &f->stage, NULL, ret) ||
        api_enum_arg(r, "scope", &incident__v1__scope__descriptor, &f->scope, NULL, ret) ||
        api_enum_arg(r, "status", &incident__v1__status__descriptor, &f->status, NULL, ret) ||
        api_enum_arg(r, "severity", &incident__v1__severity__descriptor, &f->severity,
                     &f->sev_at_least, ret))
        return -1;
    f->owner = api_arg(r, "owner");
    if (f->owner && !*f->owner)
        f->owner = NULL;
    const char *lim = api_arg(r, "limit");
    if (lim) {
        char *end;
        long v = strtol(lim, &end, 10);
        if (end == lim || *end || v < 1 || v > API_LIST_MAX) {
            *ret = api_error(r, MHD_HTTP_BAD_REQUEST, "bad request", "limit",
                             "limit: a number from 1 to 500");
            return -1;
        }
        f->limit = (size_t)v;
    }
    const char *cur = api_arg(r, "cursor");
    if (cur && *cur) {
        char *end;
        long long ms = strtoll(cur, &end, 10);
        if (end == cur || *end != '_' || !end[1]) {
            *ret = api_error(r, MHD_HTTP_BAD_REQUEST, "bad request", "cursor",
                             "cursor: not a next_cursor of this API");
            return -1;
        }
        f->cur_ms = ms;
        f->cur_id = end + 1;
    }
    return 0;
}

static int api_owner_match(const Incident__V1__Incident *inc, const char *want)
{
    if (inc->owner && strcasecmp(inc->owner, want) == 0)
        return 1;
    int role;
    return pbjson_enum_value(&incident__v1__role__descriptor, want, &role) == 0 &&
           (int)inc->owner_role == role;
}

/* Newest first: detected_at_ms descending, then id descending. */
static int api_cmp_newest(int64_t ams, const char *aid, int64_t bms, const char *bid)
{
    if (ams != bms)
        return ams > bms ? -1 : 1;
    return -strcmp(aid, bid);
}

static int api_cmp_rows(const void *x, const void *y)
{
    const Incident__V1__Incident *a = *(Incident__V1__Incident *const *)x;
    const Incident__V1__Incident *b = *(Incident__V1__Incident *const *)y;
    return api_cmp_newest(a->detected_at_ms, a->id, b->detected_at_ms, b->id);
}

static int api_wanted(const api_filter_t *f, const Incident__V1__Incident *inc)
{
    if (f->scope && (int)inc->scope != f->scope)
        return 0;
    if (f->status && (int)inc->status != f->status)
        return 0;
    if (f->severity &&
        (f->sev_at_least ? (int)inc->severity < f->severity : (int)inc->severity != f->severity))
        return 0;
    if (f->owner && !api_owner_match(inc, f->owner))
        return 0;
    return !f->cur_id || api_cmp_newest(inc->detected_at_ms, inc->id, f->cur_ms, f->cur_id) > 0;
}

static void api_rows_push(api_rows_t *rows, Incident__V1__Incident *inc)
{
    if (rows->n == rows->cap) {
        rows->cap = rows->cap ? rows->cap * 2 : 64;
        rows->v = realloc(rows->v, rows->cap * sizeof(*rows->v));
        if (!rows->v)
            abort();
    }
    rows->v[rows->n++] = inc;
}

/* What api_list_stage() gathers into. */
typedef struct api_list_ctx {
    const api_filter_t *f;
    api_rows_t *rows;
} api_list_ctx_t;

static void api_list_row(void *opaque, const char *id, hd_state_t *state, uint64_t version,
                         const char *err)
{
    (void)id;
    (void)version;
    (void)err; /* undecodable: skipped */
    api_list_ctx_t *x = opaque;
    if (state && api_wanted(x->f, state->incident))
        api_rows_push(x->rows, state->incident);
}

/* The wanted incidents of one stage set. Returns 0, or -1 with @p why. */
static int api_list_stage(store_t *st, const api_filter_t *f, Incident__V1__Stage stage,
                          arena_t *arena, api_rows_t *rows, char *why, size_t why_size)
{
    api_list_ctx_t x = {f, rows};
    return store_admin_stage(st, hd_stage_name(stage), arena, api_list_row, &x, why, why_size);
}

static enum MHD_Result api_list_answer(api_req_t *r, const api_filter_t *f, api_rows_t *rows)
{
    qsort(rows->v, rows->n, sizeof(*rows->v), api_cmp_rows);
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "incidents");
    size_t n = rows->n < f->limit ? rows->n : f->limit;
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, pbjson_from_message(&rows->v[i]->base));
    if (rows->n > n) {
        char cur[300];
        snprintf(cur, sizeof(cur), "%" PRId64 "_%s", rows->v[n - 1]->detected_at_ms,
                 rows->v[n - 1]->id);
        cJSON_AddStringToObject(o, "next_cursor", cur);
    } else {
        cJSON_AddNullToObject(o, "next_cursor");
    }
    return api_json(r, MHD_HTTP_OK, o);
}

enum MHD_Result api_list(api_req_t *r)
{
    api_filter_t f;
    enum MHD_Result ret;
    if (api_filter_parse(r, &f, &ret) < 0)
        return ret;
    char why[512];
    store_t *st = api_store_take(r->api, why, sizeof(why));
    if (!st)
        return api_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", NULL, why);
    arena_t arena;
    arena_init(&arena, 0);
    api_rows_t rows = {0};
    int rc = 0;
    for (size_t i = 0; i < sizeof(api_live_stages) / sizeof(api_live_stages[0]) && rc == 0; i++)
        if (!f.stage || f.stage == (int)api_live_stages[i])
            rc = api_list_stage(st, &f, api_live_stages[i], &arena, &rows, why, sizeof(why));
    api_store_give(r->api, st);
    ret = rc == 0 ? api_list_answer(r, &f, &rows)
                  : api_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", NULL, why);
    free(rows.v);
    arena_destroy(&arena);
    return ret;
}

/* ---- one incident ------------------------------------------------------------------------- */

/* The timeline: each record without its snapshot (the state is given once). */
static cJSON *api_timeline(const audit_chain_t *ch)
{
    cJSON *tl = cJSON_CreateArray();
    for (size_t i = 0; ch && i < ch->n; i++) {
        cJSON *rec = pbjson_from_message(&ch->recs[i]->base);
        cJSON_DeleteItemFromObject(rec, "snapshot");
        cJSON_AddItemToArray(tl, rec);
    }
    return tl;
}

/* The incident's audit records. Returns 0, or -1 with @p why. */
static int api_audit_read(api_t *api, audit_chains_t *ac, char *why, size_t why_size)
{
    kafka_read_t kr = {
        .brokers = api->cfg->brokers,
        .props = (const char *const *)api->props,
        .topic = api->audit_topic,
        .idle_timeout_ms = API_AUDIT_IDLE_MS,
        .on_msg = audit_chains_on_msg,
        .opaque = ac,
        .stop = NULL,
    };
    int rc = kafka_read_all(&kr, why, why_size);
    return rc == KAFKA_OK || rc == KAFKA_NOTOPIC ? 0 : -1;
}

/* What one incident's page is made of. */
typedef struct api_page {
    int live; /* 1: Redis has its state */
    hd_state_t *state;
    uint64_t version;
    store_admin_timeline_t tl;
    audit_chain_t redis_chain; /* its timeline, from Redis */
    audit_chains_t ac;         /* from ormis.audit, when Redis has no whole timeline */
    const audit_chain_t *ch;   /* the chain shown (NULL: no records) */
    ormis_verify_result_t vr;
    int ok;
} api_page_t;

/* The timeline Redis keeps of a live incident serves the page when it is
 * whole (audit_chain_of_timeline()). Returns 1 when it serves (pg->ch,
 * pg->vr, pg->ok set), 0 when ormis.audit must. */
static int api_page_redis(api_page_t *pg, const char *id, arena_t *arena)
{
    if (pg->live != 1 || !audit_chain_of_timeline(&pg->redis_chain, arena, id, &pg->tl, pg->state,
                                                  pg->version, &pg->vr))
        return 0;
    pg->ch = &pg->redis_chain;
    pg->ok = 1;
    return 1;
}

/* The incident's chain from ormis.audit (O(topic)). Returns 0, or -1 with
 * @p why. */
static int api_page_audit(api_t *api, api_page_t *pg, const char *id, char *why, size_t why_size)
{
    if (api_audit_read(api, &pg->ac, why, why_size) < 0)
        return -1;
    pg->ch = audit_chains_get(&pg->ac, id);
    memset(&pg->vr, 0, sizeof(pg->vr));
    pg->ok = pg->ch ? audit_chain_verify(pg->ch, &pg->vr) == 0 : 0;
    if (!pg->ch)
        snprintf(pg->vr.reason, sizeof(pg->vr.reason), "no audit records");
    return 0;
}

/* The page's answer (200). */
static enum MHD_Result api_page_answer(api_req_t *r, const api_page_t *pg, int from_redis)
{
    const audit_chain_t *ch = pg->ch;
    const Incident__V1__Incident *inc = pg->live == 1 ? pg->state->incident
                                        : ch->n && ch->recs[ch->n - 1]->snapshot
                                            ? ch->recs[ch->n - 1]->snapshot
                                            : NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", r->id);
    cJSON_AddBoolToObject(o, "live", pg->live == 1);
    cJSON_AddStringToObject(o, "source", pg->live == 1 ? "redis" : inc ? "audit" : "none");
    cJSON_AddItemToObject(o, "incident",
                          inc ? pbjson_from_message(&inc->base) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "timeline", api_timeline(ch));
    cJSON_AddStringToObject(o, "timeline_source", from_redis ? "redis" : "audit");
    cJSON_AddItemToObject(o, "chain", audit_chain_json(&pg->vr, pg->ok));
    return api_json(r, MHD_HTTP_OK, o);
}

enum MHD_Result api_show(api_req_t *r)
{
    char why[512];
    store_t *st = api_store_take(r->api, why, sizeof(why));
    if (!st)
        return api_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", NULL, why);
    arena_t arena;
    arena_init(&arena, 0);
    api_page_t pg;
    memset(&pg, 0, sizeof(pg));
    /* State and timeline in one round trip; ormis.audit is read only when
     * Redis has no whole timeline of the incident. */
    pg.live =
        store_admin_timeline(st, r->id, &arena, &pg.state, &pg.version, &pg.tl, why, sizeof(why));
    api_store_give(r->api, st);
    audit_chains_init(&pg.ac, &arena, r->id);
    enum MHD_Result ret;
    int from_redis = pg.live == 1 && api_page_redis(&pg, r->id, &arena);
    if (pg.live < 0 || (!from_redis && api_page_audit(r->api, &pg, r->id, why, sizeof(why)) < 0))
        ret = api_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", NULL, why);
    else if (pg.live == 0 && !pg.ch)
        ret = api_error(r, MHD_HTTP_NOT_FOUND, "not found", "id", "no such incident");
    else
        ret = api_page_answer(r, &pg, from_redis);
    audit_chains_destroy(&pg.ac);
    arena_destroy(&arena);
    return ret;
}
