/*
 * api_tables.c — the operators' controls of the API: silences (GET and POST
 * /v1/silences, DELETE /v1/silences/{id}) shown with the maintenance
 * windows of the configuration, and the on-call rotations (GET
 * /v1/rotations: who is on call, the next hand-over, the overrides; POST
 * /v1/rotations/{id}/overrides; DELETE /v1/overrides/{id}).
 *
 * Silences and overrides are global tables (gtable.h) the API holds as the
 * workers do: loaded at the first request that needs them, followed before
 * each answer, under one lock. A new one is checked as the workers check
 * it (400 naming the field), produced to its compacted topic keyed by its
 * id and answered 201 once Kafka has it; the API's own table takes it at
 * once, so a GET right after shows it. A POST with the id of an existing
 * entry replaces it. A new one while the table's cap of entries are in
 * force (silences.max_active, overrides.max_active) is refused 409 naming
 * the setting (gtable.h: the cap; two API processes racing may still put
 * one more on the topic, which then waits in every table). Expiring
 * writes the tombstone (404 for an id the table does not hold, in force
 * or waiting past the cap). created_by is the token's person, always.
 *
 * Owned by the API room. @locality connection threads; the tables under
 * api->tables_mu.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_internal.h"
#include "clock.h"
#include "json_body.h"
#include "kafka.h"
#include "pbjson.h"
#include "rotation.h"
#include "silence.h"

#define API_TABLES_TRIES 10 /* loads tried, 300 ms apart, before a 503 */

/* ---- the tables ------------------------------------------------------------------------ */

void api_tables_init(api_t *api)
{
    const config_t *cfg = api->cfg;
    char topic[300];
    pthread_mutex_init(&api->tables_mu, NULL);
    api->silences = silences_new(cfg->brokers,
                                 kafka_topic_name(cfg, "incidents.silences", topic, sizeof(topic)),
                                 (const char *const *)api->props, cfg->silences_max_active);
    api->overrides = overrides_new(
        cfg->brokers, kafka_topic_name(cfg, "incidents.overrides", topic, sizeof(topic)),
        (const char *const *)api->props, cfg->overrides_max_active);
}

void api_tables_destroy(api_t *api)
{
    if (!api->silences)
        return;
    gtable_destroy(api->silences);
    gtable_destroy(api->overrides);
    pthread_mutex_destroy(&api->tables_mu);
}

/* Locks the tables, loading them on first use and following them after.
 * Returns 0 (locked), or -1 with the reason (not locked). */
static int api_tables_lock(api_t *api, char *err, size_t err_size)
{
    pthread_mutex_lock(&api->tables_mu);
    if (api->tables_loaded) {
        gtable_follow(api->silences);
        gtable_follow(api->overrides);
        return 0;
    }
    /* Topics just made may not have their leaders yet: a few tries. */
    int loaded = 0;
    for (int attempt = 0; !loaded && attempt < API_TABLES_TRIES; attempt++) {
        if (attempt)
            usleep(300 * 1000);
        loaded = gtable_load(api->silences, NULL, err, err_size) == 0 &&
                 gtable_load(api->overrides, NULL, err, err_size) == 0;
    }
    if (!loaded) {
        pthread_mutex_unlock(&api->tables_mu);
        return -1;
    }
    api->tables_loaded = 1;
    return 0;
}

static enum MHD_Result api_tables_unavailable(api_req_t *r, const char *err)
{
    char msg[600];
    snprintf(msg, sizeof(msg), "the global tables cannot be read: %s", err);
    return api_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "service unavailable", NULL, msg);
}

/* ---- bodies ---------------------------------------------------------------------------- */

/* The message @p desc of the request body, its created_by imposed (a body
 * naming another creator is refused). NULL with the field and reason. */
static ProtobufCMessage *api_body_message(api_req_t *r, const ProtobufCMessageDescriptor *desc,
                                          arena_t *a, char *field, size_t field_size, char *err,
                                          size_t err_size)
{
    field[0] = '\0';
    cJSON *json = json_body_parse(r->body ? r->body : "", r->len, err, err_size);
    ProtobufCMessage *m = NULL;
    const cJSON *by = json ? cJSON_GetObjectItemCaseSensitive(json, "created_by") : NULL;
    if (!json) {
        ;
    } else if (!cJSON_IsObject(json)) {
        snprintf(err, err_size, "the body is not a JSON object");
    } else if (by && !cJSON_IsNull(by) &&
               !(cJSON_IsString(by) && strcmp(by->valuestring, r->person->name) == 0)) {
        snprintf(field, field_size, "created_by");
        snprintf(err, err_size, "created_by: the creator is the token's person (%s); leave it out",
                 r->person->name);
    } else if (!(m = pbjson_to_message(desc, json, a, err, err_size))) {
        snprintf(field, field_size, "%.*s", (int)strcspn(err, ": [."), err);
    }
    cJSON_Delete(json);
    return m;
}

/* What one kind of entry needs of its body (api_entry_of()). */
typedef struct api_entry_kind {
    const ProtobufCMessageDescriptor *desc; /* with string fields id and created_by */
    const char *id_prefix;                  /* of the id made when the body gives none */
    /* completes and checks @p m (id and created_by set): 0, or -1 with the
     * field (static) and the reason */
    int (*complete)(api_req_t *r, ProtobufCMessage *m, arena_t *a, const char **field, char *err,
                    size_t err_size);
} api_entry_kind_t;

/* The string field @p name of @p m (a proto3 string of its descriptor). */
static char **api_string_field(ProtobufCMessage *m, const char *name)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    return (char **)(void *)((char *)m + f->offset);
}

/* The entry of the body: created_by is the token's person, the id a new
 * one when none is given, then the kind completes and checks it. NULL
 * after answering 400 naming the field. */
static ProtobufCMessage *api_entry_of(api_req_t *r, const api_entry_kind_t *kind, arena_t *a,
                                      enum MHD_Result *ret)
{
    char field[64], err[512];
    ProtobufCMessage *m =
        api_body_message(r, kind->desc, a, field, sizeof(field), err, sizeof(err));
    const char *f = field;
    if (m) {
        *api_string_field(m, "created_by") = arena_strdup(a, r->person->name);
        char **id = api_string_field(m, "id");
        if (!*id || !**id)
            *id = api_new_id(a, kind->id_prefix);
        if (kind->complete(r, m, a, &f, err, sizeof(err)) < 0)
            m = NULL;
    }
    if (!m)
        *ret = api_error(r, MHD_HTTP_BAD_REQUEST, "bad request", f, err);
    return m;
}

/* Produces @p m (NULL: the tombstone of @p id) to the global table
 * @p bare and, once Kafka has it, applies it to the API's own @p t. */
static int api_table_put(api_req_t *r, gtable_t *t, const char *bare, const char *id,
                         const ProtobufCMessage *m, char *why, size_t why_size)
{
    char topic[300];
    kafka_topic_name(r->api->cfg, bare, topic, sizeof(topic));
    size_t len = m ? protobuf_c_message_get_packed_size(m) : 0;
    uint8_t *buf = len ? malloc(len) : NULL, *copy = len ? malloc(len) : NULL;
    if (len && (!buf || !copy)) {
        fputs("incidentd: out of memory\n", stderr);
        abort();
    }
    if (len) {
        protobuf_c_message_pack(m, buf);
        memcpy(copy, buf, len);
    }
    acked_record_t rec = {.key = id, .key_len = strlen(id), .value = buf, .len = len};
    int rc = acked_producer_send(r->api->producer, topic, &rec, 1, why, why_size);
    if (rc == 0 && api_tables_lock(r->api, why, why_size) == 0) {
        gtable_apply(t, id, strlen(id), copy, len);
        pthread_mutex_unlock(&r->api->tables_mu);
    }
    free(copy);
    return rc;
}

/* Answers a put that failed: Kafka did not take it. */
static enum MHD_Result api_put_failed(api_req_t *r, const char *why)
{
    return api_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "service unavailable", NULL, why);
}

/* Puts the new entry @p m of id @p id into @p t (topic @p bare) and answers
 * 201 with @p json (taken); 409 when the table is full (its cap, e.g.
 * silences.max_active: another id while that many are in force), 503
 * when the table cannot be read or Kafka does not take it. */
static enum MHD_Result api_table_add(api_req_t *r, gtable_t *t, const char *bare, const char *id,
                                     const ProtobufCMessage *m, cJSON *json)
{
    char why[512];
    if (api_tables_lock(r->api, why, sizeof(why)) < 0) {
        cJSON_Delete(json);
        return api_tables_unavailable(r, why);
    }
    int full = gtable_full(t, id, why, sizeof(why));
    pthread_mutex_unlock(&r->api->tables_mu);
    if (full) {
        cJSON_Delete(json);
        return api_error(r, MHD_HTTP_CONFLICT, "conflict", NULL, why);
    }
    if (api_table_put(r, t, bare, id, m, why, sizeof(why)) < 0) {
        cJSON_Delete(json);
        return api_put_failed(r, why);
    }
    return api_json(r, MHD_HTTP_CREATED, json);
}

/* ---- silences -------------------------------------------------------------------------- */

static cJSON *api_silence_json(const hd_silence_t *s, int64_t now)
{
    cJSON *o = pbjson_from_message(&s->base);
    cJSON_AddStringToObject(o, "state",
                            now < s->starts_at_ms ? "pending"
                            : now < s->ends_at_ms ? "active"
                                                  : "ended");
    return o;
}

static const char *const api_weekdays[7] = {"monday", "tuesday",  "wednesday", "thursday",
                                            "friday", "saturday", "sunday"};

static cJSON *api_window_json(const hd_maintenance_t *w, int64_t now)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", w->name);
    cJSON_AddItemToObject(o, "matchers", pbjson_from_message(&w->matchers->base));
    cJSON_AddStringToObject(o, "every", w->weekly ? "weekly" : "daily");
    if (w->weekly)
        cJSON_AddStringToObject(o, "weekday", api_weekdays[w->weekday % 7]);
    char at[16], tz[16];
    snprintf(at, sizeof(at), "%02d:%02d", (int)(w->at_min / 60), (int)(w->at_min % 60));
    int32_t off = w->tz_min < 0 ? -w->tz_min : w->tz_min;
    snprintf(tz, sizeof(tz), "%c%02d:%02d", w->tz_min < 0 ? '-' : '+', (int)(off / 60),
             (int)(off % 60));
    cJSON_AddStringToObject(o, "at", at);
    cJSON_AddStringToObject(o, "tz", tz);
    cJSON_AddNumberToObject(o, "for_ms", (double)w->for_ms);
    int64_t from = 0, until = 0;
    if (hd_maintenance_next(w, now, &from, &until) == 0) {
        cJSON_AddBoolToObject(o, "active", now >= from);
        cJSON_AddNumberToObject(o, now >= from ? "from_ms" : "next_from_ms", (double)from);
        cJSON_AddNumberToObject(o, now >= from ? "until_ms" : "next_until_ms", (double)until);
    }
    return o;
}

enum MHD_Result api_silences(api_req_t *r)
{
    char err[512];
    if (api_tables_lock(r->api, err, sizeof(err)) < 0)
        return api_tables_unavailable(r, err);
    int64_t now = clock_now_ms();
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "silences");
    size_t n;
    const hd_silence_t *const *v = silences_all(r->api->silences, &n);
    for (size_t i = 0; i < n; i++)
        if (v[i]->ends_at_ms > now)
            cJSON_AddItemToArray(arr, api_silence_json(v[i], now));
    pthread_mutex_unlock(&r->api->tables_mu);
    const hd_rules_t *rules = &r->api->cfg->rules;
    cJSON *win = cJSON_AddArrayToObject(o, "maintenance");
    for (size_t i = 0; i < rules->n_maintenance; i++)
        cJSON_AddItemToArray(win, api_window_json(&rules->maintenance[i], now));
    return api_json(r, MHD_HTTP_OK, o);
}

/* A silence of a body: starts now unless given, checked as the workers
 * check it, bounded by silences.max_duration, ending in the future. */
static int api_silence_complete(api_req_t *r, ProtobufCMessage *m, arena_t *a, const char **field,
                                char *err, size_t err_size)
{
    hd_silence_t *s = (hd_silence_t *)m;
    int64_t now = clock_now_ms();
    if (!s->starts_at_ms)
        s->starts_at_ms = now;
    if (hd_silence_validate(s, r->api->cfg->rules.silence_max_ms, field, err, err_size) < 0)
        return -1;
    if (s->ends_at_ms <= now) {
        *field = "ends_at_ms";
        snprintf(err, err_size, "ends_at_ms: already past");
        return -1;
    }
    return 0;
}

static const api_entry_kind_t api_silence_kind = {
    .desc = &incident__v1__silence__descriptor,
    .id_prefix = "sil",
    .complete = api_silence_complete,
};

enum MHD_Result api_silence_add(api_req_t *r)
{
    arena_t a;
    arena_init(&a, 0);
    enum MHD_Result ret;
    hd_silence_t *s = (hd_silence_t *)api_entry_of(r, &api_silence_kind, &a, &ret);
    if (s)
        ret = api_table_add(r, r->api->silences, "incidents.silences", s->id, &s->base,
                            api_silence_json(s, clock_now_ms()));
    arena_destroy(&a);
    return ret;
}

/* DELETE of the entry r->id of @p t: 404 when unknown, else its tombstone. */
static enum MHD_Result api_table_remove(api_req_t *r, gtable_t *t, const char *bare,
                                        const char *what)
{
    char err[512];
    if (api_tables_lock(r->api, err, sizeof(err)) < 0)
        return api_tables_unavailable(r, err);
    int known = gtable_get(t, r->id) != NULL || gtable_waits(t, r->id); /* the surplus too */
    pthread_mutex_unlock(&r->api->tables_mu);
    if (!known) {
        snprintf(err, sizeof(err), "no %s %s in force", what, r->id);
        return api_error(r, MHD_HTTP_NOT_FOUND, "not found", "id", err);
    }
    if (api_table_put(r, t, bare, r->id, NULL, err, sizeof(err)) < 0)
        return api_put_failed(r, err);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", r->id);
    cJSON_AddBoolToObject(o, "expired", 1);
    cJSON_AddStringToObject(o, "by", r->person->name);
    return api_json(r, MHD_HTTP_OK, o);
}

enum MHD_Result api_silence_expire(api_req_t *r)
{
    return api_table_remove(r, r->api->silences, "incidents.silences", "silence");
}

/* ---- rotations ------------------------------------------------------------------------- */

static const char *api_or_empty(const char *s) { return s ? s : ""; }

static cJSON *api_rotation_json(const hd_rotation_t *rot, const hd_rules_t *rules,
                                const hd_override_record_t *const *ov, size_t n_ov, int64_t now)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", rot->name);
    cJSON *m = cJSON_AddArrayToObject(o, "members");
    for (size_t i = 0; i < rot->n_members; i++)
        cJSON_AddItemToArray(m, cJSON_CreateString(rot->members[i]));
    cJSON_AddNumberToObject(o, "every_ms", (double)rot->every_ms);
    cJSON_AddNumberToObject(o, "start_ms", (double)rot->start_ms);
    const char *why = NULL;
    const char *who = hd_rotation_on_call(rot, rules->overrides, rules->n_overrides, now, &why);
    cJSON_AddStringToObject(o, "on_call", who ? who : "");
    cJSON_AddStringToObject(o, "on_call_by", why ? why : "scheduled");
    cJSON_AddStringToObject(o, "scheduled", api_or_empty(hd_rotation_scheduled(rot, now)));
    int64_t next = now < rot->start_ms
                       ? rot->start_ms
                       : rot->start_ms +
                             (hd_floor_div(now - rot->start_ms, rot->every_ms) + 1) * rot->every_ms;
    cJSON_AddNumberToObject(o, "next_handover_ms", (double)next);
    cJSON_AddStringToObject(o, "next", api_or_empty(hd_rotation_scheduled(rot, next)));
    cJSON *arr = cJSON_AddArrayToObject(o, "overrides");
    for (size_t i = 0; i < n_ov; i++)
        if (strcmp(ov[i]->rotation, rot->name) == 0 && ov[i]->until_ms > now)
            cJSON_AddItemToArray(arr, pbjson_from_message(&ov[i]->base));
    return o;
}

enum MHD_Result api_rotations(api_req_t *r)
{
    char err[512];
    if (api_tables_lock(r->api, err, sizeof(err)) < 0)
        return api_tables_unavailable(r, err);
    int64_t now = clock_now_ms();
    hd_rules_t rules = r->api->cfg->rules;
    hd_override_t *view = NULL;
    size_t cap = 0, n;
    rules.n_overrides = overrides_view(r->api->overrides, &view, &cap);
    rules.overrides = view;
    const hd_override_record_t *const *ov =
        (const hd_override_record_t *const *)gtable_all(r->api->overrides, &n);
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "rotations");
    for (size_t i = 0; i < rules.n_rotations; i++)
        cJSON_AddItemToArray(arr, api_rotation_json(&rules.rotations[i], &rules, ov, n, now));
    pthread_mutex_unlock(&r->api->tables_mu);
    free(view);
    return api_json(r, MHD_HTTP_OK, o);
}

/* An override of a body for rotation r->id: of that rotation, checked as
 * the workers check it, for a person of the directory. */
static int api_override_complete(api_req_t *r, ProtobufCMessage *m, arena_t *a, const char **field,
                                 char *err, size_t err_size)
{
    const config_t *cfg = r->api->cfg;
    hd_override_record_t *o = (hd_override_record_t *)m;
    if (o->rotation && *o->rotation && strcmp(o->rotation, r->id) != 0) {
        *field = "rotation";
        snprintf(err, err_size, "rotation: not the rotation of the path (%s)", r->id);
        return -1;
    }
    o->rotation = arena_strdup(a, r->id);
    if (hd_override_validate(o, field, err, err_size) < 0)
        return -1;
    if (cfg->n_people > 0 && !directory_person(cfg, o->person)) {
        *field = "person";
        snprintf(err, err_size, "person: %s is not in the directory (people.<name>.*)", o->person);
        return -1;
    }
    return 0;
}

static const api_entry_kind_t api_override_kind = {
    .desc = &incidentd__v1__rotation_override__descriptor,
    .id_prefix = "ovr",
    .complete = api_override_complete,
};

enum MHD_Result api_override_add(api_req_t *r)
{
    arena_t a;
    arena_init(&a, 0);
    enum MHD_Result ret;
    hd_override_record_t *o = NULL;
    if (!hd_rotation_find(&r->api->cfg->rules, r->id)) {
        char err[512];
        snprintf(err, sizeof(err), "no rotation %s (rotation.<name>.* of the configuration)",
                 r->id);
        ret = api_error(r, MHD_HTTP_NOT_FOUND, "not found", "rotation", err);
    } else {
        o = (hd_override_record_t *)api_entry_of(r, &api_override_kind, &a, &ret);
    }
    if (o)
        ret = api_table_add(r, r->api->overrides, "incidents.overrides", o->id, &o->base,
                            pbjson_from_message(&o->base));
    arena_destroy(&a);
    return ret;
}

enum MHD_Result api_override_remove(api_req_t *r)
{
    return api_table_remove(r, r->api->overrides, "incidents.overrides", "override");
}
