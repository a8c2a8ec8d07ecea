/*
 * redis_conn.h — the one place where incidentd opens a Redis connection.
 *
 * Every Redis client of the process (the workers' stores, the API's pool,
 * incidentctl, the rebuild, the /metrics gauges and /readyz) connects
 * through redis_conn_open(): it connects to the URL's host, or — with
 * Sentinels configured — asks the Sentinels in turn for the primary of the
 * master name (SENTINEL get-master-addr-by-name), connects to it and checks
 * with ROLE that it is a master (a Sentinel that has not yet seen a
 * failover may name a demoted primary: never apply against a replica).
 * A rediss:// URL makes every connection (the Sentinels' too) TLS
 * (redis_tls.h). Then AUTH (ACL user or password) and SELECT. With Sentinels, failed
 * attempts back off (bounded), so callers may simply call again on their
 * own cadence.
 *
 * A lost connection or a READONLY/MASTERDOWN reply (redis_conn_failover())
 * means: drop the connection and open it again, which asks the Sentinels
 * again and so follows a failover.
 *
 * Ownership: a redis_conn_t copies what it is given (the opts are
 * borrowed only during redis_conn_new()); the caller frees it with
 * redis_conn_destroy(), and each redisContext it opens with redisFree().
 *
 * @locality: a redis_conn_t belongs to one thread (or is used under its
 * owner's lock).
 */
#ifndef INCIDENTD_REDIS_CONN_H
#define INCIDENTD_REDIS_CONN_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "config.h"

/* Where and how to connect (all borrowed; NULL is ""). */
typedef struct redis_conn_opts {
    const char *url;               /* redis://[user[:password]@]host[:port][/db] */
    const char *user;              /* overrides the URL's when non-empty */
    const char *password;          /* overrides the URL's when non-empty */
    const char *sentinels;         /* comma list host:port; "" = connect to the URL's host */
    const char *master_name;       /* the primary's name at the Sentinels */
    const char *sentinel_password; /* AUTH at the Sentinels; "" = none */
    const char *tls_ca;            /* rediss://: CA file; "" = the system's store */
    const char *tls_cert;          /* rediss://: client certificate; "" = none */
    const char *tls_key;           /* its key; "" = in tls_cert */
} redis_conn_opts_t;

typedef struct redis_conn redis_conn_t;

/** The options of the process's configuration (borrows @p cfg's strings). */
void redis_conn_opts_of_config(const config_t *cfg, redis_conn_opts_t *o);

/** Parses @p o (the URL with redis_url.c's parser, the Sentinels with
 *  redis_url_hostports()). Returns NULL with the reason in @p errstr (never
 *  a password). Caller frees with redis_conn_destroy(). */
redis_conn_t *redis_conn_new(const redis_conn_opts_t *o, char *errstr, size_t errstr_size);

/** Frees @p c (NULL is fine), wiping its secrets. */
void redis_conn_destroy(redis_conn_t *c);

/** Opens a connection: to the primary (Sentinels, ROLE) or the URL's host,
 *  authenticated, database selected, with @p timeout_ms for the connect and
 *  every command of the set-up (the caller sets its own timeout after).
 *  Returns the context, or NULL with the reason in @p errstr (also while a
 *  failed attempt's backoff lasts: at most 2 s). Caller frees with
 *  redisFree(). */
redisContext *redis_conn_open(redis_conn_t *c, int timeout_ms, char *errstr, size_t errstr_size);

/** "host:port" of the last connection opened, or of the URL's host. */
const char *redis_conn_where(const redis_conn_t *c);

/** Non-zero when Sentinels find the primary. */
int redis_conn_sentinel(const redis_conn_t *c);

/** Non-zero when @p reply (a redisReply, may be NULL) says the server is
 *  no longer a usable primary: READONLY (a replica, e.g. a demoted primary)
 *  or MASTERDOWN. The caller drops the connection and opens it again. */
int redis_conn_failover(const void *reply);

#endif
