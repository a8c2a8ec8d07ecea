/*
 * redis_tls.h — TLS to Redis (rediss://) for hiredis 0.14.
 *
 * Debian 12's hiredis (0.14.1) has no TLS (no hiredis_ssl), and its
 * synchronous context reads and writes its socket itself. So a TLS
 * connection is made here with OpenSSL (the server's certificate verified
 * against redis.tls_ca or the system's store, its name or IP address
 * checked; a client certificate when configured) and hiredis talks plain
 * RESP over one end of a socketpair; a detached relay thread moves the
 * bytes between the other end and the TLS connection, and ends (closing
 * both) when either side closes. Timeouts stay hiredis's, on its end.
 *
 * Used only by redis_conn.c, the one place that opens Redis connections.
 * Ownership: a redis_tls_t copies its settings; free it with
 * redis_tls_destroy() (connections it opened live on independently).
 *
 * @locality: a redis_tls_t belongs to its redis_conn_t's thread; each
 * relay thread owns its connection.
 */
#ifndef INCIDENTD_REDIS_TLS_H
#define INCIDENTD_REDIS_TLS_H

#include <stddef.h>

#include <hiredis/hiredis.h>

typedef struct redis_tls redis_tls_t;

/** A TLS client set-up: @p ca a CA file ("" = the system's store), @p cert
 *  and @p key a client certificate and key ("" = none). Returns NULL with
 *  the reason (e.g. an unreadable file) in @p errstr. */
redis_tls_t *redis_tls_new(const char *ca, const char *cert, const char *key, char *errstr,
                           size_t errstr_size);

void redis_tls_destroy(redis_tls_t *t);

/** Connects to @p host:@p port over TLS within @p timeout_ms and returns a
 *  hiredis context speaking through it (caller frees with redisFree(),
 *  which also ends the relay), or NULL with the reason in @p errstr. */
redisContext *redis_tls_connect(redis_tls_t *t, const char *host, int port, int timeout_ms,
                                char *errstr, size_t errstr_size);

#endif
