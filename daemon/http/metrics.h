/*
 * metrics.h — this process in the Prometheus text exposition format 0.0.4:
 * the counters, gauges and latency histogram of every stage worker (label
 * stage="..."), build and process metrics, and the open incidents per stage
 * read from Redis (SCARD <topic_prefix>stage:<STAGE>, cached for 5 s, on a
 * connection of its own with short timeouts so that a scrape never waits on
 * Redis for much more than ~1 s; left out while Redis cannot be read).
 *
 * Served by httpd.c on GET /metrics; /readyz asks metrics_redis_ping().
 */
#ifndef INCIDENTD_METRICS_H
#define INCIDENTD_METRICS_H

#include <stddef.h>

#include "config.h"
#include "worker.h"

/* Content-Type of the exposition. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef struct metrics metrics_t;

/** Creates the renderer. Borrows @p stats and @p names (n entries, the stage
 *  workers of this process; they must outlive it) and copies what it needs
 *  of @p cfg (the Redis address, credentials and topic prefix). Connects to
 *  Redis lazily, on the first render. Caller frees with metrics_destroy(). */
metrics_t *metrics_new(const config_t *cfg, const worker_stats_t *const *stats,
                       const char *const *names, size_t n);

/** Frees; accepts NULL. Closes the Redis connection. */
void metrics_destroy(metrics_t *m);

/** Renders the exposition. Returns a NUL-terminated malloc'ed text of
 *  *@p len bytes; caller frees it with free(). Thread-safe (the Redis part
 *  is serialised); may block up to about a second on Redis. The process
 *  must ignore SIGPIPE (main.c does): hiredis writes with write(2). */
char *metrics_render(metrics_t *m, size_t *len);

/** Readiness: one PING on the same Redis connection (connected when needed,
 *  the same short timeouts: a hung Redis costs at most about a second).
 *  Returns 0 on PONG, else -1 with the reason in @p why (never a secret).
 *  Thread-safe; not cached (the caller caches). */
int metrics_redis_ping(metrics_t *m, char *why, size_t why_size);

#endif
