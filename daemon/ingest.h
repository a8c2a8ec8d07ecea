/*
 * ingest.h — the webhook ingest stage (--stages ingest, --ingest-http):
 * Alertmanager and PagerDuty-style webhooks and JSON alerts become
 * incident.v1.Alert records on incidents.detected.
 */
#ifndef INCIDENTD_INGEST_H
#define INCIDENTD_INGEST_H

#include <stddef.h>

#include "config.h"

typedef struct ingest ingest_t;

/** Starts the ingest HTTP server on cfg->ingest_http. Returns NULL with a
 *  message in errstr. Stop with ingest_stop(). */
ingest_t *ingest_start(const config_t *cfg, char *errstr, size_t errstr_size);
/** Stops (in-flight requests are answered first) and frees; accepts NULL. */
void ingest_stop(ingest_t *in);

#endif
