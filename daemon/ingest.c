/*
 * ingest.c — webhook ingest stage; see ingest.h.
 *
 * Not implemented yet: starting it fails with a clear message.
 */
#include "ingest.h"

#include <stdio.h>

ingest_t *ingest_start(const config_t *cfg, char *errstr, size_t errstr_size)
{
    (void)cfg;
    snprintf(errstr, errstr_size, "the ingest stage is not available in this build yet");
    return NULL;
}

void ingest_stop(ingest_t *in) { (void)in; }
