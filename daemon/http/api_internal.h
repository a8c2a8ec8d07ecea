/*
 * api_internal.h — what the files of the API share (api.c: server, dispatch,
 * authentication; api_routes.c: the route table; api_read.c: incidents;
 * api_command.c: commands; api_stream.c: Server-Sent Events; api_openapi.c:
 * the OpenAPI document; api_console.c: the embedded console). Not for use
 * outside daemon/http/api*.c.
 *
 * @locality connection threads of libmicrohttpd, see api.h.
 */
#ifndef INCIDENTD_API_INTERNAL_H
#define INCIDENTD_API_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <openssl/sha.h>

#include "acked_producer.h"
#include "api.h"
#include "directory.h"
#include "http_server.h"
#include "http_util.h"
#include "overrides.h"
#include "silences.h"
#include "store.h"

#define API_STORE_POOL 8         /* Redis connections shared by the requests */
#define API_WAIT_MS 10000        /* a command waits this long for Kafka's ack */
#define API_MAX_BODY (64 * 1024) /* largest request body */
#define API_LIST_DEFAULT 50
#define API_LIST_MAX 500
#define API_AUDIT_IDLE_MS 5000 /* an audit read without progress gives up */

/* Who may call a route. */
typedef enum api_auth {
    API_AUTH_NONE = 0, /* anyone: the console's files, the OpenAPI document, health */
    API_AUTH_READ,     /* any person with a token */
    API_AUTH_COMMAND,  /* a person whose role may give commands (not a viewer);
                          the incident's own check follows (api_command.c) */
    API_AUTH_CONTROL,  /* silences, on-call overrides: a technical or customer
                          service manager (api_tables.c) */
} api_auth_t;

/* A person of the directory who may use the API. */
typedef struct api_person {
    const char *name; /* borrowed from the config */
    directory_role_t role;
    unsigned char token_md[SHA256_DIGEST_LENGTH];
} api_person_t;

/* A query parameter of a route, for validation messages and OpenAPI. */
typedef struct api_param {
    const char *name;
    const char *in;   /* "query", "path" or "header" */
    const char *type; /* JSON Schema type: "string", "integer" */
    const char *help;
} api_param_t;

#define API_MAX_PARAMS 10

struct api_req;
typedef enum MHD_Result (*api_handler_fn)(struct api_req *r);

/* One route: the single table behind dispatch, authentication and OpenAPI. */
typedef struct api_route {
    const char *method; /* "GET", "POST" */
    const char *path;   /* "/v1/incidents/{id}": one {id} segment at most */
    api_auth_t auth;
    api_handler_fn handler;
    const char *op_id; /* OpenAPI operationId */
    const char *summary;
    const char *content;  /* media type of the 2xx answer */
    const char *ok;       /* the 2xx status ("200", "202") */
    const char *schema;   /* components/schemas name of the answer, or NULL */
    const char *body;     /* components/schemas name of the request body, or NULL */
    const char *conflict; /* when it answers 409: what refuses it, or NULL */
    api_param_t params[API_MAX_PARAMS];
} api_route_t;

extern const api_route_t api_routes[];
extern const size_t api_n_routes;

struct api {
    const config_t *cfg;
    http_server_t *server;
    acked_producer_t *producer;
    http_limit_t limiter;
    api_person_t *people;
    size_t n_people;
    int open; /* no tokens configured (loopback only): every request is "local" */
    char commands_topic[300];
    char audit_topic[300];
    char **props; /* "key=value" librdkafka properties of cfg, NULL-terminated */
    /* Redis connections, taken by one request at a time */
    pthread_mutex_t pool_mu;
    pthread_cond_t pool_cv;
    store_t *pool[API_STORE_POOL];
    int pool_free[API_STORE_POOL];
    /* the global tables (api_tables.c), loaded at first use */
    pthread_mutex_t tables_mu;
    gtable_t *silences;
    gtable_t *overrides;
    int tables_loaded;
    atomic_int stopping;
    atomic_int in_flight;
    atomic_int streams;
};

/* One request. */
typedef struct api_req {
    api_t *api;
    struct MHD_Connection *conn;
    const api_route_t *route;
    const api_person_t *person; /* NULL for API_AUTH_NONE routes */
    char id[256];               /* the {id} segment, decoded */
    int answered;
    char *body;
    size_t len, cap;
    int too_big;
    int retry_after; /* seconds, for a 429 */
    char client[64];
} api_req_t;

/* ---- answers (api.c) ---- */

/** Queues @p json (takes ownership) with status @p code. */
enum MHD_Result api_json(api_req_t *r, unsigned code, cJSON *json);
/** Queues {"error": @p error, "message": @p message[, "field": @p field]}. */
enum MHD_Result api_error(api_req_t *r, unsigned code, const char *error, const char *field,
                          const char *message);
/** Queues @p len bytes of static @p data as @p content_type. */
enum MHD_Result api_static(api_req_t *r, const char *content_type, const void *data, size_t len);
/** A query argument, or NULL. */
const char *api_arg(const api_req_t *r, const char *name);

/** A fresh id "<prefix>-<ms hex>-<64 random bits hex>" in @p arena. */
char *api_new_id(arena_t *arena, const char *prefix);

/** Takes a Redis connection of the pool (waits for one); NULL when none can
 *  be had (then @p why says why). Give it back with api_store_give(). */
store_t *api_store_take(api_t *api, char *why, size_t why_size);
void api_store_give(api_t *api, store_t *st);

/* ---- handlers ---- */
enum MHD_Result api_list(api_req_t *r);    /* api_read.c */
enum MHD_Result api_show(api_req_t *r);    /* api_read.c */
enum MHD_Result api_command(api_req_t *r); /* api_command.c */
enum MHD_Result api_stream(api_req_t *r);  /* api_stream.c */
enum MHD_Result api_openapi(api_req_t *r); /* api_openapi.c */
enum MHD_Result api_console(api_req_t *r); /* api_console.c */
enum MHD_Result api_health(api_req_t *r);  /* api.c */
enum MHD_Result api_me(api_req_t *r);      /* api.c */
/* api_tables.c: silences and on-call overrides */
enum MHD_Result api_silences(api_req_t *r);
enum MHD_Result api_silence_add(api_req_t *r);
enum MHD_Result api_silence_expire(api_req_t *r);
enum MHD_Result api_rotations(api_req_t *r);
enum MHD_Result api_override_add(api_req_t *r);
enum MHD_Result api_override_remove(api_req_t *r);

/** The global tables' set-up (api_start()) and end (api_stop()). */
void api_tables_init(api_t *api);
void api_tables_destroy(api_t *api);

/** The OpenAPI 3.1 document of the route table; caller frees with cJSON_Delete(). */
cJSON *api_openapi_doc(void);

/** Non-zero when @p p may give a command of @p kind on @p inc (roles of
 *  docs/api.md). Pure. */
int api_may_command(const api_person_t *p, const Incident__V1__Incident *inc, int kind);

/* The command ids the API makes begin so; a body may not use it. */
#define API_OWN_ID "api-"

/** The Command of a request body: @p json (an object) with the incident
 *  @p id and the actor @p actor imposed; a fresh command id (API_OWN_ID…)
 *  unless the body gives one. Returns NULL with the offending field in @p field and the
 *  reason in @p err. Allocated in @p arena. Pure (but for the id). */
Incident__V1__Command *api_command_parse(const char *body, size_t len, const char *id,
                                         const char *actor, arena_t *arena, char *field,
                                         size_t field_size, char *err, size_t err_size);

/* ---- the console's files (generated from daemon/http/console/ at build time) ---- */
typedef struct api_asset {
    const char *path; /* "/console.js" ("/" for index.html) */
    const char *content_type;
    const unsigned char *data;
    size_t len;
} api_asset_t;

extern const api_asset_t api_assets[];
extern const size_t api_n_assets;

#endif
