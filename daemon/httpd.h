/*
 * httpd.h — the operations endpoint (--http host:port): /metrics in the
 * Prometheus text format, /healthz (alive) and /readyz (Kafka and Redis
 * connected, partitions assigned).
 *
 * @locality: served on libmicrohttpd's own thread; it only reads the
 * workers' atomic counters.
 */
#ifndef INCIDENTD_HTTPD_H
#define INCIDENTD_HTTPD_H

#include <stddef.h>

#include "config.h"
#include "worker.h"

typedef struct httpd httpd_t;

/** Starts serving on cfg->http. Borrows @p stats / @p names (n entries, the
 *  stage workers of this process; they outlive the server). Returns NULL
 *  with a message in errstr. Stop with httpd_stop(). */
httpd_t *httpd_start(const config_t *cfg, const worker_stats_t *const *stats,
                     const char *const *names, size_t n, char *errstr, size_t errstr_size);
/** Stops and frees; accepts NULL. */
void httpd_stop(httpd_t *h);

#endif
