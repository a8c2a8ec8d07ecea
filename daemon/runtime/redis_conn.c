/*
 * redis_conn.c — the one place where incidentd opens a Redis connection;
 * see redis_conn.h.
 *
 * Owned by the runtime room; every Redis client of incidentd and
 * incidentctl comes here for its connection.
 *
 * @locality: a redis_conn_t belongs to one thread (or its owner's lock).
 */
#include "redis_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "clock.h"
#include "redis_tls.h"
#include "redis_url.h"

/* Backoff after a failed attempt with Sentinels (a failover in progress:
 * don't hammer them): 100 ms doubling up to 2 s. Without Sentinels the
 * callers' own cadence (a worker: once a second) is the backoff. */
#define REDIS_CONN_BACKOFF_MIN_MS 100
#define REDIS_CONN_BACKOFF_MAX_MS 2000

struct redis_conn {
    char host[256]; /* the URL's host (unused with Sentinels) */
    int port;
    int db;
    char user[128];
    char password[256];
    redis_hostport_t sentinels[REDIS_SENTINELS_MAX];
    int n_sentinels;
    int next_sentinel; /* asked first next time: the last one that answered */
    char master_name[256];
    char sentinel_password[256];
    char where[300];
    redis_tls_t *tls;    /* rediss://: the TLS set-up; NULL = plain TCP */
    int failures;        /* attempts failed in a row */
    int64_t next_try_ms; /* monotonic: no attempt before (backoff) */
};

void redis_conn_opts_of_config(const config_t *cfg, redis_conn_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->url = cfg->redis;
    o->user = cfg->redis_user;
    o->password = cfg->redis_password;
    o->sentinels = cfg->redis_sentinels;
    o->master_name = cfg->redis_master_name;
    o->sentinel_password = cfg->redis_sentinel_password;
    o->tls_ca = cfg->redis_tls_ca;
    o->tls_cert = cfg->redis_tls_cert;
    o->tls_key = cfg->redis_tls_key;
}

static const char *rc_str(const char *s) { return s ? s : ""; }

static void rc_where_set(redis_conn_t *c, const char *host, int port)
{
    snprintf(c->where, sizeof(c->where), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

redis_conn_t *redis_conn_new(const redis_conn_opts_t *o, char *errstr, size_t errstr_size)
{
    redis_conn_t *c = calloc(1, sizeof(*c));
    redis_url_t u;
    char why[200];
    if (!c) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (redis_url_parse(rc_str(o->url), &u, why, sizeof(why)) < 0) {
        snprintf(errstr, errstr_size, "redis URL: %s", why);
        goto fail;
    }
    snprintf(c->host, sizeof(c->host), "%s", u.host);
    c->port = u.port;
    c->db = u.db;
    if (u.tls && !(c->tls = redis_tls_new(rc_str(o->tls_ca), rc_str(o->tls_cert),
                                          rc_str(o->tls_key), why, sizeof(why)))) {
        snprintf(errstr, errstr_size, "%s", why);
        goto fail;
    }
    snprintf(c->user, sizeof(c->user), "%s", *rc_str(o->user) ? o->user : u.user);
    snprintf(c->password, sizeof(c->password), "%s",
             *rc_str(o->password) ? o->password : u.password);
    memset(&u, 0, sizeof(u));
    c->n_sentinels = redis_url_hostports(rc_str(o->sentinels), c->sentinels, REDIS_SENTINELS_MAX,
                                         why, sizeof(why));
    if (c->n_sentinels < 0) {
        snprintf(errstr, errstr_size, "redis.sentinels: %s", why);
        goto fail;
    }
    if (c->n_sentinels > 0 && !*rc_str(o->master_name)) {
        snprintf(errstr, errstr_size, "redis.sentinels needs redis.master_name");
        goto fail;
    }
    snprintf(c->master_name, sizeof(c->master_name), "%s", rc_str(o->master_name));
    snprintf(c->sentinel_password, sizeof(c->sentinel_password), "%s",
             rc_str(o->sentinel_password));
    rc_where_set(c, c->host, c->port);
    return c;
fail:
    redis_conn_destroy(c);
    return NULL;
}

void redis_conn_destroy(redis_conn_t *c)
{
    if (!c)
        return;
    redis_tls_destroy(c->tls);
    /* Don't leave the secrets in freed memory. */
    memset(c, 0, sizeof(*c));
    free(c);
}

const char *redis_conn_where(const redis_conn_t *c) { return c->where; }
int redis_conn_sentinel(const redis_conn_t *c) { return c->n_sentinels > 0; }

int redis_conn_failover(const void *reply)
{
    const redisReply *r = reply;
    return r && r->type == REDIS_REPLY_ERROR && r->str &&
           (strncmp(r->str, "READONLY", 8) == 0 || strncmp(r->str, "MASTERDOWN", 10) == 0);
}

/* A TCP (or, for rediss://, TLS) connection with @p timeout_ms for connect
 * and commands. */
static redisContext *rc_tcp(const redis_conn_t *c, const char *host, int port, int timeout_ms,
                            char *errstr, size_t errstr_size)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *ctx = NULL;
    if (c->tls) {
        ctx = redis_tls_connect(c->tls, host, port, timeout_ms, errstr, errstr_size);
        if (ctx)
            redisSetTimeout(ctx, tv);
        return ctx;
    }
    ctx = redisConnectWithTimeout(host, port, tv);
    if (!ctx || ctx->err) {
        snprintf(errstr, errstr_size, "cannot connect to %s %s%s%s:%d: %s",
                 ctx ? "redis" : "redis (out of memory)", strchr(host, ':') ? "[" : "", host,
                 strchr(host, ':') ? "]" : "", port, ctx ? ctx->errstr : "");
        if (ctx)
            redisFree(ctx);
        return NULL;
    }
    redisSetTimeout(ctx, tv);
    return ctx;
}

/* Runs AUTH (with @p user when non-empty) on @p ctx. Returns 0, or -1 with
 * the server's reason (never the password). */
static int rc_auth(redisContext *ctx, const char *user, const char *password, const char *what,
                   char *errstr, size_t errstr_size)
{
    if (!*password)
        return 0;
    redisReply *r = *user ? redisCommand(ctx, "AUTH %s %s", user, password)
                          : redisCommand(ctx, "AUTH %s", password);
    int rc = r && r->type != REDIS_REPLY_ERROR ? 0 : -1;
    if (rc < 0)
        snprintf(errstr, errstr_size, "%s AUTH failed%s%s: %s", what, *user ? " for user " : "",
                 user,
                 r && r->str      ? r->str
                 : ctx->errstr[0] ? ctx->errstr
                                  : "no reply");
    if (r)
        freeReplyObject(r);
    return rc;
}

/* Asks Sentinel @p s for the primary of the master name into @p host /
 * @p port. Returns 0, or -1 with the reason. */
static int rc_ask_sentinel(redis_conn_t *c, const redis_hostport_t *s, int timeout_ms, char *host,
                           size_t host_size, int *port, char *errstr, size_t errstr_size)
{
    char why[300];
    redisContext *ctx = rc_tcp(c, s->host, s->port, timeout_ms, why, sizeof(why));
    if (!ctx) {
        snprintf(errstr, errstr_size, "sentinel: %s", why);
        return -1;
    }
    int rc = -1;
    redisReply *r = NULL;
    if (rc_auth(ctx, "", c->sentinel_password, "sentinel", errstr, errstr_size) < 0)
        goto out;
    r = redisCommand(ctx, "SENTINEL get-master-addr-by-name %s", c->master_name);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        snprintf(errstr, errstr_size, "sentinel %s:%d: %s", s->host, s->port,
                 r && r->str      ? r->str
                 : ctx->errstr[0] ? ctx->errstr
                                  : "no reply");
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
               r->element[0]->type != REDIS_REPLY_STRING ||
               r->element[1]->type != REDIS_REPLY_STRING) {
        snprintf(errstr, errstr_size, "sentinel %s:%d does not know master '%s'", s->host, s->port,
                 c->master_name);
    } else {
        snprintf(host, host_size, "%s", r->element[0]->str);
        *port = atoi(r->element[1]->str);
        rc = *port > 0 && *port < 65536 ? 0 : -1;
        if (rc < 0)
            snprintf(errstr, errstr_size, "sentinel %s:%d: bad port", s->host, s->port);
    }
out:
    if (r)
        freeReplyObject(r);
    redisFree(ctx);
    return rc;
}

/* The primary's address from the first Sentinel that answers, starting
 * with the one that answered last. Returns 0, or -1 with every reason. */
static int rc_primary(redis_conn_t *c, int timeout_ms, char *host, size_t host_size, int *port,
                      char *errstr, size_t errstr_size)
{
    size_t used = 0;
    errstr[0] = '\0';
    for (int k = 0; k < c->n_sentinels; k++) {
        int i = (c->next_sentinel + k) % c->n_sentinels;
        char why[400];
        if (rc_ask_sentinel(c, &c->sentinels[i], timeout_ms, host, host_size, port, why,
                            sizeof(why)) == 0) {
            c->next_sentinel = i;
            return 0;
        }
        if (used < errstr_size) {
            int w = snprintf(errstr + used, errstr_size - used, "%s%s", used ? "; " : "", why);
            used += w > 0 ? (size_t)w : 0;
        }
    }
    return -1;
}

/* ROLE: 0 when @p ctx is a master, else -1 with the role it has. */
static int rc_check_master(redisContext *ctx, const char *where, char *errstr, size_t errstr_size)
{
    redisReply *r = redisCommand(ctx, "ROLE");
    int rc = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
                     r->element[0]->type == REDIS_REPLY_STRING &&
                     strcmp(r->element[0]->str, "master") == 0
                 ? 0
                 : -1;
    if (rc < 0)
        snprintf(errstr, errstr_size,
                 "redis %s named by Sentinel is not a master (ROLE: %s): asking again", where,
                 !r                             ? ctx->errstr
                 : r->type == REDIS_REPLY_ERROR ? r->str
                 : r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
                         r->element[0]->type == REDIS_REPLY_STRING
                     ? r->element[0]->str
                     : "bad reply");
    if (r)
        freeReplyObject(r);
    return rc;
}

/* AUTH, the role check (Sentinels only) and SELECT on a new connection. */
static int rc_setup(redis_conn_t *c, redisContext *ctx, char *errstr, size_t errstr_size)
{
    if (rc_auth(ctx, c->user, c->password, "redis", errstr, errstr_size) < 0)
        return -1;
    if (c->n_sentinels > 0 && rc_check_master(ctx, c->where, errstr, errstr_size) < 0)
        return -1;
    if (!c->db)
        return 0;
    redisReply *r = redisCommand(ctx, "SELECT %d", c->db);
    int rc = r && r->type != REDIS_REPLY_ERROR ? 0 : -1;
    if (rc < 0)
        snprintf(errstr, errstr_size, "redis SELECT %d failed: %s", c->db,
                 r && r->str      ? r->str
                 : ctx->errstr[0] ? ctx->errstr
                                  : "no reply");
    if (r)
        freeReplyObject(r);
    return rc;
}

redisContext *redis_conn_open(redis_conn_t *c, int timeout_ms, char *errstr, size_t errstr_size)
{
    int64_t now = clock_mono_ms();
    if (c->n_sentinels > 0 && now < c->next_try_ms) {
        snprintf(errstr, errstr_size, "redis %s: next attempt in %lld ms (backing off)", c->where,
                 (long long)(c->next_try_ms - now));
        return NULL;
    }
    char host[256];
    int port = c->port;
    snprintf(host, sizeof(host), "%s", c->host);
    redisContext *ctx = NULL;
    if (c->n_sentinels > 0 &&
        rc_primary(c, timeout_ms, host, sizeof(host), &port, errstr, errstr_size) < 0)
        goto fail;
    rc_where_set(c, host, port);
    ctx = rc_tcp(c, host, port, timeout_ms, errstr, errstr_size);
    if (!ctx || rc_setup(c, ctx, errstr, errstr_size) < 0)
        goto fail;
    c->failures = 0;
    c->next_try_ms = 0;
    return ctx;
fail:
    if (ctx)
        redisFree(ctx);
    int shift = c->failures < 5 ? c->failures : 5;
    int64_t delay = (int64_t)REDIS_CONN_BACKOFF_MIN_MS << shift;
    c->next_try_ms =
        clock_mono_ms() + (delay < REDIS_CONN_BACKOFF_MAX_MS ? delay : REDIS_CONN_BACKOFF_MAX_MS);
    c->failures++;
    return NULL;
}
