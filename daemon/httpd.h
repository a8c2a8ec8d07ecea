/*
 * httpd.h — the operations endpoint (--http host:port): /metrics in the
 * Prometheus text format (metrics.h), /healthz (alive) and /readyz (every
 * stage worker has Kafka and Redis up and partitions assigned; a line per
 * stage saying what is missing otherwise). GET (and HEAD) only: other
 * methods get 405, other paths 404.
 *
 * @locality: served on libmicrohttpd's own thread; it only reads the
 * workers' atomic counters (and Redis on a connection of its own, for the
 * open-incident gauges).
 */
#ifndef INCIDENTD_HTTPD_H
#define INCIDENTD_HTTPD_H

#include <stddef.h>

#include "config.h"
#include "worker.h"

typedef struct httpd httpd_t;

/** Starts serving on cfg->http ("host:port"; port 0 = any free port, see
 *  httpd_port()). Borrows @p stats / @p names (n entries, the stage workers
 *  of this process; they outlive the server) and @p cfg for the duration of
 *  the call only. Returns NULL with a message in errstr. Stop with
 *  httpd_stop(). */
httpd_t *httpd_start(const config_t *cfg, const worker_stats_t *const *stats,
                     const char *const *names, size_t n, char *errstr, size_t errstr_size);
/** Stops and frees; accepts NULL. */
void httpd_stop(httpd_t *h);
/** The TCP port actually bound (useful with port 0), or -1 for NULL. */
int httpd_port(const httpd_t *h);

#endif
