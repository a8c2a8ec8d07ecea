/*
 * api_command.c — POST /v1/incidents/{id}/commands: a person's command.
 *
 * The body is the Command in the protobuf JSON mapping (pbjson.h): `kind`
 * by its enum name (COMMAND_ACKNOWLEDGE; "acknowledge" works too) plus the
 * fields the kind uses. The incident id is the path's and the actor is the
 * token's person, always: a body naming another actor or another incident
 * is refused. The command is checked as the commands stage checks it
 * (hd_command_validate() and the fields each kind needs: 400 naming the
 * field), the incident must be live in Redis (404), the person's role must
 * allow the kind on it (403), then it is produced to incidents.commands
 * keyed by the incident id and answered 202 once Kafka has it.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api_internal.h"
#include "clock.h"
#include "json_body.h"
#include "log.h"
#include "pbjson.h"
#include "store_admin.h"

#define API_KIND(k) INCIDENT__V1__COMMAND_KIND__COMMAND_##k

/* What a kind needs beyond hd_command_validate(). */
static const struct {
    int kind;
    const char *field;
} api_kind_needs[] = {
    {API_KIND(REOPEN), "text"},         {API_KIND(NOTE), "text"},
    {API_KIND(TASK_ADD), "text"},       {API_KIND(TASK_DONE), "task_id"},
    {API_KIND(TASK_CANCEL), "task_id"}, {API_KIND(MEETING), "attendees"},
    {API_KIND(CLIENT_UPDATE), "text"},  {API_KIND(REVIEW), "root_cause"},
    {API_KIND(HANDOVER), "assignee"},
};

/* Non-zero when the field @p name of @p c is given. */
static int api_cmd_has(const Incident__V1__Command *c, const char *name)
{
    if (strcmp(name, "attendees") == 0)
        return c->n_attendees > 0;
    const char *v = strcmp(name, "text") == 0         ? c->text
                    : strcmp(name, "task_id") == 0    ? c->task_id
                    : strcmp(name, "assignee") == 0   ? c->assignee
                    : strcmp(name, "root_cause") == 0 ? c->root_cause
                                                      : NULL;
    return v && *v;
}

char *api_new_id(arena_t *arena, const char *prefix)
{
    unsigned char rnd[8] = {0};
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, rnd, sizeof(rnd)) : -1;
    if (fd >= 0)
        close(fd);
    if (got != (ssize_t)sizeof(rnd)) {
        uint64_t x = (uint64_t)clock_mono_us() ^ ((uint64_t)getpid() << 32);
        memcpy(rnd, &x, sizeof(rnd));
    }
    return arena_printf(arena, "%s-%" PRIx64 "-%02x%02x%02x%02x%02x%02x%02x%02x", prefix,
                        (uint64_t)clock_now_ms(), rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5],
                        rnd[6], rnd[7]);
}

/* "field: reason" -> field. */
static void api_field_of(const char *err, char *field, size_t field_size)
{
    size_t n = strcspn(err, ": [.");
    snprintf(field, field_size, "%.*s", (int)(n < field_size ? n : field_size - 1), err);
}

/* A string member of the body that, when given, must equal @p want. */
static int api_body_same(const cJSON *json, const char *name, const char *want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(json, name);
    return !v || cJSON_IsNull(v) || (cJSON_IsString(v) && strcmp(v->valuestring, want) == 0);
}

Incident__V1__Command *api_command_parse(const char *body, size_t len, const char *id,
                                         const char *actor, arena_t *arena, char *field,
                                         size_t field_size, char *err, size_t err_size)
{
    field[0] = '\0';
    cJSON *json = json_body_parse(body ? body : "", len, err, err_size);
    Incident__V1__Command *c = NULL;
    if (!json)
        goto out;
    if (!cJSON_IsObject(json)) {
        snprintf(err, err_size, "the body is not a JSON object");
        goto out;
    }
    if (!api_body_same(json, "actor", actor) && !api_body_same(json, "actor", "")) {
        snprintf(field, field_size, "actor");
        snprintf(err, err_size, "actor: the actor is the token's person (%s); leave it out", actor);
        goto out;
    }
    if (!api_body_same(json, "incident_id", id)) {
        snprintf(field, field_size, "incident_id");
        snprintf(err, err_size, "incident_id: not the incident of the path (%s)", id);
        goto out;
    }
    c = (Incident__V1__Command *)pbjson_to_message(&incident__v1__command__descriptor, json, arena,
                                                   err, err_size);
    if (!c) {
        api_field_of(err, field, field_size);
        goto out;
    }
    c->incident_id = arena_strdup(arena, id);
    c->actor = arena_strdup(arena, actor);
    if (c->command_id && strncmp(c->command_id, API_OWN_ID, strlen(API_OWN_ID)) == 0) {
        snprintf(field, field_size, "command_id");
        snprintf(err, err_size, "command_id: ids beginning with '%s' are the API's own",
                 API_OWN_ID);
        c = NULL;
        goto out;
    }
    if (!c->command_id || !*c->command_id)
        c->command_id = api_new_id(arena, "api");
    c->at_ms = clock_now_ms();
    if (hd_command_validate(c, err, err_size) < 0) {
        api_field_of(err, field, field_size);
        c = NULL;
        goto out;
    }
    for (size_t i = 0; i < sizeof(api_kind_needs) / sizeof(api_kind_needs[0]); i++)
        if ((int)c->kind == api_kind_needs[i].kind && !api_cmd_has(c, api_kind_needs[i].field)) {
            snprintf(field, field_size, "%s", api_kind_needs[i].field);
            snprintf(err, err_size, "%s: required for %s", api_kind_needs[i].field,
                     pbjson_enum_name(&incident__v1__command_kind__descriptor, (int)c->kind));
            c = NULL;
            goto out;
        }
out:
    cJSON_Delete(json);
    return c;
}

int api_may_command(const api_person_t *p, const Incident__V1__Incident *inc, int kind)
{
    if (p->role == DIRECTORY_ROLE_VIEWER)
        return 0;
    if (p->role == DIRECTORY_ROLE_TECHNICAL_MANAGER &&
        inc->scope == INCIDENT__V1__SCOPE__SCOPE_GLOBAL)
        return 1;
    /* The owner: named, or (no name given by the roster) whoever holds its role. */
    int owner = inc->owner && *inc->owner
                    ? strcmp(inc->owner, p->name) == 0
                    : (inc->owner_role == INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER &&
                       p->role == DIRECTORY_ROLE_TECHNICAL_MANAGER) ||
                          (inc->owner_role == INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER &&
                           p->role == DIRECTORY_ROLE_CUSTOMER_SERVICE_MANAGER);
    if (owner)
        return 1;
    return kind == API_KIND(SIGN_OFF) || kind == API_KIND(NOTE);
}

/* Produces @p c and waits for Kafka. Returns 0, or -1 with @p why. */
static int api_command_send(api_t *api, const Incident__V1__Command *c, char *why, size_t why_size)
{
    size_t len = incident__v1__command__get_packed_size(c);
    acked_record_t rec = {.key = c->incident_id, .key_len = strlen(c->incident_id), .len = len};
    rec.value = malloc(len ? len : 1);
    if (!rec.value)
        abort();
    incident__v1__command__pack(c, rec.value);
    return acked_producer_send(api->producer, api->commands_topic, &rec, 1, why, why_size);
}

/* The incident's live state: 1, 0 (unknown), -1 (Redis failed: @p why). */
static int api_incident_of(api_t *api, const char *id, arena_t *arena, hd_state_t **state,
                           char *why, size_t why_size)
{
    store_t *st = api_store_take(api, why, why_size);
    if (!st)
        return -1;
    uint64_t version;
    int got = store_admin_state(st, id, arena, state, &version, why, why_size);
    api_store_give(api, st);
    return got;
}

/* What the commands stage would decide on @p state now: 0 when it would
 * apply @p c, -1 with its reason when the state refuses it (pure: the
 * stage's own handler on a copy; the stage decides again on the state it
 * then finds). */
static int api_command_dry_run(api_req_t *r, const hd_state_t *state,
                               const Incident__V1__Command *c, arena_t *arena, char *why,
                               size_t why_size)
{
    hd_ctx_t ctx = {.rules = &r->api->cfg->rules,
                    .arena = arena,
                    .now_ms = clock_now_ms(),
                    .actor = c->actor,
                    .cause_id = c->command_id};
    hd_transition_t tr;
    hd_command_apply(&ctx, state, c, &tr);
    if (tr.verdict != HD_REJECT)
        return 0;
    snprintf(why, why_size, "%s", tr.error);
    return -1;
}

enum MHD_Result api_command(api_req_t *r)
{
    arena_t arena;
    arena_init(&arena, 0);
    char field[64], err[512];
    enum MHD_Result ret;
    Incident__V1__Command *c = api_command_parse(r->body, r->len, r->id, r->person->name, &arena,
                                                 field, sizeof(field), err, sizeof(err));
    if (!c) {
        ret = api_error(r, MHD_HTTP_BAD_REQUEST, "bad request", field, err);
        goto out;
    }
    hd_state_t *state = NULL;
    int got = api_incident_of(r->api, r->id, &arena, &state, err, sizeof(err));
    if (got < 0) {
        ret = api_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", NULL, err);
        goto out;
    }
    if (got == 0) {
        ret = api_error(r, MHD_HTTP_NOT_FOUND, "not found", "id", "no such live incident");
        goto out;
    }
    const char *kind = pbjson_enum_name(&incident__v1__command_kind__descriptor, (int)c->kind);
    if (!api_may_command(r->person, state->incident, (int)c->kind)) {
        snprintf(err, sizeof(err), "%s (%s) may not give %s on this incident", r->person->name,
                 directory_role_name(r->person->role), kind);
        ret = api_error(r, MHD_HTTP_FORBIDDEN, "forbidden", "kind", err);
        goto out;
    }
    /* A command the state refuses is answered 409 with the reason; a retry
     * that names its command_id is left to the stage, which drops a
     * command it has already applied. */
    int retry = strncmp(c->command_id, API_OWN_ID, strlen(API_OWN_ID)) != 0;
    if (!retry && api_command_dry_run(r, state, c, &arena, err, sizeof(err)) < 0) {
        ret = api_error(r, MHD_HTTP_CONFLICT, "conflict", NULL, err);
        goto out;
    }
    if (api_command_send(r->api, c, err, sizeof(err)) < 0) {
        r->retry_after = 5;
        ret = api_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", NULL, err);
        goto out;
    }
    log_msg(LOG_INFO, "api", r->id, NULL, "command %s %s by %s accepted", c->command_id, kind,
            r->person->name);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "command_id", c->command_id);
    cJSON_AddStringToObject(o, "incident_id", c->incident_id);
    cJSON_AddStringToObject(o, "kind", kind);
    cJSON_AddStringToObject(o, "actor", c->actor);
    ret = api_json(r, MHD_HTTP_ACCEPTED, o);
out:
    arena_destroy(&arena);
    return ret;
}
