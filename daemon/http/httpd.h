/*
 * httpd.h — the operations endpoint (--http host:port): /metrics in the
 * Prometheus text format (metrics.h), /healthz (alive) and /readyz. GET
 * (and HEAD) only: other methods get 405, other paths 404. Served by
 * http_server.h (its connection limits and request deadline).
 *
 * /readyz is 200 "ready" when every stage this process runs can work: each
 * stage worker has Kafka and Redis up and partitions assigned, Redis
 * answers a PING and the brokers answer a metadata request; the ingest
 * stage needs the brokers. Else 503 with one line per stage saying what is
 * missing. Both probes have ~1 s timeouts and their answer is cached for a
 * second, so /readyz answers within about 2 s even when Redis or a broker
 * hangs. A process without stages is ready.
 *
 * @locality: served on libmicrohttpd's threads (one per connection); it
 * reads the workers' atomic counters, and Redis and the brokers on
 * connections of its own.
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
