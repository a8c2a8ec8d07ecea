/*
 * api.c — the API stage: the server, dispatch through the route table
 * (api_routes.c), authentication, the rate limit, the answers and the pool
 * of Redis connections; see api.h and docs/api.md.
 *
 * A request walks: route (404, 405) -> bearer token of a person (401) ->
 * the person's rate limit (429) -> the route's role (403) -> body gathered
 * up to API_MAX_BODY (413) -> handler. Tokens are kept only as SHA-256
 * digests and compared in constant time against every person's; neither
 * they nor the Authorization header are ever logged.
 */
#include "api_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "clock.h"
#include "kafka.h"
#include "log.h"
#include "store_admin.h"

#define API_CONNECTION_TIMEOUT_S 60 /* idle: a stream sends a comment every 15 s */
#define API_STOP_WAIT_MS 15000

static void api_oom(void)
{
    fputs("incidentd: out of memory\n", stderr);
    abort();
}

/* ---- answers ------------------------------------------------------------------------ */

static enum MHD_Result api_queue(api_req_t *r, unsigned code, struct MHD_Response *resp,
                                 const char *content_type)
{
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (r->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", r->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    enum MHD_Result ret = MHD_queue_response(r->conn, code, resp);
    MHD_destroy_response(resp);
    r->answered = 1;
    return ret;
}

enum MHD_Result api_json(api_req_t *r, unsigned code, cJSON *json)
{
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    if (!text)
        api_oom();
    size_t len = strlen(text);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    return api_queue(r, code, resp, "application/json");
}

enum MHD_Result api_error(api_req_t *r, unsigned code, const char *error, const char *field,
                          const char *message)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", error);
    cJSON_AddStringToObject(o, "message", message);
    if (field && *field)
        cJSON_AddStringToObject(o, "field", field);
    log_level_t level = code >= 500 ? LOG_WARN : code == 429 ? LOG_DEBUG : LOG_INFO;
    log_msg(level, "api", NULL, NULL, "%s %s from %s (%s): %u %s",
            r->route ? r->route->method : "-", r->route ? r->route->path : "-", r->client,
            r->person ? r->person->name : "-", code, message);
    return api_json(r, code, o);
}

enum MHD_Result api_static(api_req_t *r, const char *content_type, const void *data, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_PERSISTENT);
    if (resp && strncmp(content_type, "text/html", 9) == 0)
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'self'; style-src 'self'; script-src 'self'; "
                                "connect-src 'self'; img-src 'self' data:; "
                                "frame-ancestors 'none'");
    return api_queue(r, MHD_HTTP_OK, resp, content_type);
}

const char *api_arg(const api_req_t *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

enum MHD_Result api_health(api_req_t *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "ok");
    return api_json(r, MHD_HTTP_OK, o);
}

enum MHD_Result api_me(api_req_t *r)
{
    directory_role_t role = r->person->role;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", r->person->name);
    cJSON_AddStringToObject(o, "role", directory_role_name(role));
    cJSON_AddBoolToObject(o, "may_command", role != DIRECTORY_ROLE_VIEWER);
    cJSON_AddBoolToObject(o, "may_control",
                          role == DIRECTORY_ROLE_TECHNICAL_MANAGER ||
                              role == DIRECTORY_ROLE_CUSTOMER_SERVICE_MANAGER);
    cJSON_AddBoolToObject(o, "open", r->api->open);
    return api_json(r, MHD_HTTP_OK, o);
}

/* ---- the Redis pool ------------------------------------------------------------------- */

store_t *api_store_take(api_t *api, char *why, size_t why_size)
{
    pthread_mutex_lock(&api->pool_mu);
    int slot = -1;
    for (;;) {
        for (int i = 0; i < API_STORE_POOL && slot < 0; i++)
            if (api->pool_free[i])
                slot = i;
        if (slot >= 0)
            break;
        pthread_cond_wait(&api->pool_cv, &api->pool_mu);
    }
    api->pool_free[slot] = 0;
    pthread_mutex_unlock(&api->pool_mu);
    store_t *st = api->pool[slot];
    if (!store_ready(st) && store_reconnect(st) != 0) {
        snprintf(why, why_size, "redis: %s", store_error(st));
        api_store_give(api, st);
        return NULL;
    }
    return st;
}

void api_store_give(api_t *api, store_t *st)
{
    pthread_mutex_lock(&api->pool_mu);
    for (int i = 0; i < API_STORE_POOL; i++)
        if (api->pool[i] == st)
            api->pool_free[i] = 1;
    pthread_cond_signal(&api->pool_cv);
    pthread_mutex_unlock(&api->pool_mu);
}

/* ---- dispatch ------------------------------------------------------------------------ */

/* Non-zero when @p url matches @p pattern; the {id} segment (if any) is
 * decoded into @p id. */
static int api_path_match(const char *pattern, const char *url, char *id, size_t id_size)
{
    const char *brace = strchr(pattern, '{');
    if (!brace)
        return strcmp(pattern, url) == 0;
    size_t pre = (size_t)(brace - pattern);
    if (strncmp(pattern, url, pre) != 0)
        return 0;
    const char *after = strchr(brace, '}') + 1; /* "/commands" or "" */
    const char *seg = url + pre;
    size_t seg_len = strcspn(seg, "/");
    if (seg_len == 0 || seg_len >= id_size || strcmp(seg + seg_len, after) != 0)
        return 0;
    memcpy(id, seg, seg_len);
    id[seg_len] = '\0';
    /* libmicrohttpd hands the path percent-decoded already */
    return 1;
}

/* The route of @p url and @p method; *path_known set when the path exists
 * under another method. */
static const api_route_t *api_route_find(const char *method, const char *url, char *id,
                                         size_t id_size, int *path_known)
{
    *path_known = 0;
    int head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    for (size_t i = 0; i < api_n_routes; i++) {
        const api_route_t *rt = &api_routes[i];
        if (!api_path_match(rt->path, url, id, id_size))
            continue;
        if (strcmp(rt->method, method) == 0 || (head && strcmp(rt->method, "GET") == 0))
            return rt;
        *path_known = 1;
    }
    return NULL;
}

/* The person whose token the request carries, or NULL. Every person's
 * digest is compared (constant time, no early exit). */
static const api_person_t *api_authenticate(const api_t *api, struct MHD_Connection *conn)
{
    static const api_person_t local = {.name = "local", .role = DIRECTORY_ROLE_TECHNICAL_MANAGER};
    if (api->open)
        return &local;
    size_t n;
    const char *t = http_bearer(conn, &n);
    if (!t)
        return NULL;
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)t, n, md);
    const api_person_t *found = NULL;
    for (size_t i = 0; i < api->n_people; i++)
        if (CRYPTO_memcmp(md, api->people[i].token_md, sizeof(md)) == 0)
            found = &api->people[i];
    return found;
}

/* The first call of a request: everything refused without the body. */
static enum MHD_Result api_begin(api_req_t *r, const char *url, const char *method)
{
    api_t *api = r->api;
    int path_known;
    r->route = api_route_find(method, url, r->id, sizeof(r->id), &path_known);
    if (!r->route && path_known)
        return api_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed", NULL,
                         "this path does not take that method (see /v1/openapi.json)");
    if (!r->route)
        return api_error(r, MHD_HTTP_NOT_FOUND, "not found", NULL,
                         "no such route (see /v1/openapi.json)");
    if (r->route->auth == API_AUTH_NONE)
        return MHD_YES;
    r->person = api_authenticate(api, r->conn);
    if (!r->person)
        return api_error(r, MHD_HTTP_UNAUTHORIZED, "unauthorized", NULL,
                         "missing or unknown bearer token (Authorization: Bearer <token>)");
    char key[300];
    snprintf(key, sizeof(key), "person:%s", r->person->name);
    int wait = http_limit_take(&api->limiter, key);
    if (wait) {
        char msg[96];
        snprintf(msg, sizeof(msg), "too many requests: try again in %d s", wait);
        r->retry_after = wait;
        return api_error(r, MHD_HTTP_TOO_MANY_REQUESTS, "too many requests", NULL, msg);
    }
    if (r->route->auth == API_AUTH_COMMAND && r->person->role == DIRECTORY_ROLE_VIEWER)
        return api_error(r, MHD_HTTP_FORBIDDEN, "forbidden", NULL,
                         "a viewer may read but not give commands");
    if (r->route->auth == API_AUTH_CONTROL && r->person->role != DIRECTORY_ROLE_TECHNICAL_MANAGER &&
        r->person->role != DIRECTORY_ROLE_CUSTOMER_SERVICE_MANAGER)
        return api_error(r, MHD_HTTP_FORBIDDEN, "forbidden", NULL,
                         "only a technical or customer service manager may change silences "
                         "and on-call overrides");
    if (r->route->body && !http_json_type(r->conn))
        return api_error(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported media type", NULL,
                         "Content-Type must be application/json");
    return MHD_YES;
}

/* Gathers body bytes; past API_MAX_BODY they are read and dropped. */
static void api_gather(api_req_t *r, const char *data, size_t n)
{
    if (r->too_big || r->len + n > API_MAX_BODY) {
        r->too_big = 1;
        return;
    }
    http_body_append(&r->body, &r->len, &r->cap, data, n);
}

/* @locality: the connection's thread. */
static enum MHD_Result api_handle(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    api_t *api = cls;
    api_req_t *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r)
            api_oom();
        r->api = api;
        r->conn = conn;
        *con_cls = r;
        atomic_fetch_add(&api->in_flight, 1);
        http_client_addr(conn, r->client, sizeof(r->client));
        return api_begin(r, url, method);
    }
    if (*upload_data_size) {
        if (!r->answered)
            api_gather(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->answered)
        return MHD_YES;
    if (r->too_big)
        return api_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "payload too large", NULL,
                         "the body is larger than 64 KiB");
    return r->route->handler(r);
}

/* @locality: the connection's thread. */
static void api_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                          enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    api_t *api = cls;
    api_req_t *r = *con_cls;
    if (!r)
        return;
    free(r->body);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&api->in_flight, 1);
}

/* ---- start / stop ---------------------------------------------------------------------- */

/* Non-zero when the host part of "host:port" is a loopback address. */
static int api_loopback(const char *listen)
{
    const char *colon = strrchr(listen, ':');
    size_t n = colon ? (size_t)(colon - listen) : strlen(listen);
    char host[256];
    snprintf(host, sizeof(host), "%.*s", (int)(n < 255 ? n : 255), listen);
    return strncmp(host, "127.", 4) == 0 || strcasecmp(host, "localhost") == 0 ||
           strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0;
}

/* The people with a token, and the open mode when there are none. */
static int api_people(api_t *api, const config_t *cfg, char *errstr, size_t errstr_size)
{
    api->people = calloc(cfg->n_people ? cfg->n_people : 1, sizeof(*api->people));
    if (!api->people)
        api_oom();
    for (size_t i = 0; i < cfg->n_people; i++) {
        const directory_entry_t *e = &cfg->people[i];
        if (!*e->token)
            continue;
        api_person_t *p = &api->people[api->n_people++];
        p->name = e->name;
        p->role = e->role;
        SHA256((const unsigned char *)e->token, strlen(e->token), p->token_md);
    }
    if (api->n_people)
        return 0;
    if (!api_loopback(cfg->api)) {
        snprintf(errstr, errstr_size,
                 "api: no person has a token (people.<name>.token), so the API would be open "
                 "to anyone: refusing %s (use a loopback address, or give people tokens)",
                 cfg->api);
        return -1;
    }
    api->open = 1;
    log_msg(LOG_WARN, "api", NULL, NULL,
            "api: no person has a token: open on loopback, every request acts as \"local\" "
            "(technical manager)");
    return 0;
}

static void api_props(api_t *api, const config_t *cfg)
{
    api->props = calloc(cfg->n_kafka + 1, sizeof(*api->props));
    if (!api->props)
        api_oom();
    for (size_t i = 0; i < cfg->n_kafka; i++) {
        size_t n = strlen(cfg->kafka[i].key) + strlen(cfg->kafka[i].value) + 2;
        api->props[i] = malloc(n);
        if (!api->props[i])
            api_oom();
        snprintf(api->props[i], n, "%s=%s", cfg->kafka[i].key, cfg->kafka[i].value);
    }
}

static int api_pool_new(api_t *api, const config_t *cfg, char *errstr, size_t errstr_size)
{
    for (int i = 0; i < API_STORE_POOL; i++) {
        redis_conn_opts_t ro;
        redis_conn_opts_of_config(cfg, &ro);
        api->pool[i] = store_new(&ro, cfg->topic_prefix, errstr, errstr_size);
        if (!api->pool[i])
            return -1;
        api->pool_free[i] = 1;
    }
    return 0;
}

api_t *api_start(const config_t *cfg, char *errstr, size_t errstr_size)
{
    api_t *api = calloc(1, sizeof(*api));
    if (!api)
        api_oom();
    api->cfg = cfg;
    pthread_mutex_init(&api->pool_mu, NULL);
    pthread_cond_init(&api->pool_cv, NULL);
    http_limit_init(&api->limiter, cfg->api_rate, cfg->api_burst);
    kafka_topic_name(cfg, "incidents.commands", api->commands_topic, sizeof(api->commands_topic));
    kafka_topic_name(cfg, "ormis.audit", api->audit_topic, sizeof(api->audit_topic));
    api_props(api, cfg);
    api_tables_init(api);
    if (api_people(api, cfg, errstr, errstr_size) < 0 ||
        api_pool_new(api, cfg, errstr, errstr_size) < 0)
        goto fail;
    api->producer = acked_producer_new(cfg, "incidentd-api", API_WAIT_MS, errstr, errstr_size);
    if (!api->producer)
        goto fail;
    const http_server_app_t app = {
        .name = "api",
        .setting = "api",
        .thread_per_connection = 1, /* a command waiting for Kafka, a stream: one thread each */
        .idle_timeout_s = API_CONNECTION_TIMEOUT_S,
        .access = api_handle,
        .completed = api_completed,
        .cls = api,
    };
    api->server = http_server_start(cfg, cfg->api, &app, errstr, errstr_size);
    if (!api->server)
        goto fail;
    log_msg(LOG_INFO, "api", NULL, NULL,
            "api: listening on port %d (%zu people with tokens, rate %d/s burst %d per person, "
            "commands to %s)",
            api_port(api), api->n_people, cfg->api_rate, cfg->api_burst, api->commands_topic);
    return api;
fail:
    api_stop(api);
    return NULL;
}

void api_stop(api_t *api)
{
    if (!api)
        return;
    atomic_store(&api->stopping, 1); /* the streams end at their next poll */
    if (api->server) {
        http_server_quiesce(api->server);
        int64_t deadline = clock_mono_us() + (int64_t)API_STOP_WAIT_MS * 1000;
        while (atomic_load(&api->in_flight) > 0 && clock_mono_us() < deadline)
            usleep(20 * 1000);
        http_server_stop(api->server);
    }
    acked_producer_destroy(api->producer);
    api_tables_destroy(api);
    for (int i = 0; i < API_STORE_POOL; i++)
        if (api->pool[i])
            store_destroy(api->pool[i]);
    pthread_mutex_destroy(&api->pool_mu);
    pthread_cond_destroy(&api->pool_cv);
    for (size_t i = 0; api->props && api->props[i]; i++)
        free(api->props[i]);
    free(api->props);
    free(api->people);
    http_limit_destroy(&api->limiter);
    free(api);
}

int api_port(const api_t *api) { return api ? http_server_port(api->server) : -1; }
