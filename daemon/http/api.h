/*
 * api.h — the `api` stage (--api HOST:PORT, "api" in --stages): the HTTP API
 * of people and the web console. Stateless: it reads the live state from
 * Redis and the record from ormis.audit, and writes only through Kafka
 * (commands on incidents.commands), so any number of processes may serve
 * it. docs/api.md describes the routes; one table (api_routes.c) drives
 * dispatch, authentication and the OpenAPI document.
 *
 * @locality requests are served on libmicrohttpd's connection threads (one
 * per connection); Kafka delivery reports on the API producer's thread.
 */
#ifndef INCIDENTD_API_H
#define INCIDENTD_API_H

#include <stddef.h>

#include "config.h"

typedef struct api api_t;

/** Starts the API on cfg->api (port 0 = any free port, see api_port()).
 *  Refuses a non-loopback address when no person has a token. Borrows
 *  @p cfg, which must outlive the API (the directory is read from it).
 *  Returns NULL with a message in errstr. Stop with api_stop(). */
api_t *api_start(const config_t *cfg, char *errstr, size_t errstr_size);

/** Ends the event streams, answers the requests in flight, stops and frees;
 *  accepts NULL. */
void api_stop(api_t *api);

/** The TCP port actually bound, or -1 for NULL. */
int api_port(const api_t *api);

#endif
