/*
 * http_server.h — the one HTTP server set-up of incidentd, used by the
 * operations endpoint (httpd.c, --http) and the webhook ingest stage
 * (ingest.c, --ingest-http): the listening socket (bind errors with a
 * reason, port 0 answered with the real port), libmicrohttpd started on it,
 * and the limits that keep slow or hostile clients from locking the server:
 *
 *   - http.max_connections: connections held at once (more are closed on
 *     accept);
 *   - http.per_ip_connections: connections one client address may hold;
 *   - http.request_timeout: a TOTAL deadline for receiving a request
 *     (headers and body), counted from the connection's start or the end of
 *     its previous request, that bytes trickled in do not extend (MHD's own
 *     idle timeout restarts on every byte). A reaper thread shuts down the
 *     socket (shutdown(2), never close(2): libmicrohttpd sees the end of the
 *     stream and closes and frees the connection itself) of a connection
 *     whose request is not in past its deadline. Time spent in the
 *     application's handler (e.g. waiting for Kafka) and sending the answer
 *     does not count.
 *
 * @locality: the access handler and the completed callback run on
 * libmicrohttpd's threads (its polling thread, or one thread per connection);
 * the reaper on a thread of its own.
 */
#ifndef INCIDENTD_HTTP_SERVER_H
#define INCIDENTD_HTTP_SERVER_H

#include <microhttpd.h>

#include "config.h"

typedef struct http_server http_server_t;

/* What the application serves. */
typedef struct http_server_app {
    const char *name;                 /* in logs and errors: "http", "ingest" */
    const char *setting;              /* the listen setting's name, for errors: "http" */
    int thread_per_connection;        /* 1: a thread per connection; 0: one polling thread */
    unsigned idle_timeout_s;          /* libmicrohttpd's idle timeout (restarts on activity) */
    MHD_AccessHandlerCallback access; /* required */
    MHD_RequestCompletedCallback completed; /* may be NULL */
    void *cls;                              /* passed to both */
} http_server_app_t;

/** Listens on @p listen ("host:port"; "" host = every IPv4 address; port 0
 *  = any free port, see http_server_port()) and serves @p app with the
 *  limits of @p cfg (http.max_connections, http.per_ip_connections,
 *  http.request_timeout). Borrows @p cfg, @p listen and @p app for the
 *  call only (app->cls must outlive the server). Returns NULL with a
 *  message in errstr. Stop with http_server_stop(). */
http_server_t *http_server_start(const config_t *cfg, const char *listen,
                                 const http_server_app_t *app, char *errstr, size_t errstr_size);
/** Stops accepting connections (closes the listening socket); the
 *  connections in hand go on. Accepts NULL. */
void http_server_quiesce(http_server_t *s);
/** Stops (closing every connection) and frees; accepts NULL. */
void http_server_stop(http_server_t *s);
/** The TCP port actually bound, or -1 for NULL. */
int http_server_port(const http_server_t *s);

#endif
