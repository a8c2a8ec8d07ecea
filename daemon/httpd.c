/*
 * httpd.c — operations endpoint; see httpd.h.
 *
 * Not implemented yet: starting it fails with a clear message.
 */
#include "httpd.h"

#include <stdio.h>

httpd_t *httpd_start(const config_t *cfg, const worker_stats_t *const *stats,
                     const char *const *names, size_t n, char *errstr, size_t errstr_size)
{
    (void)cfg; (void)stats; (void)names; (void)n;
    snprintf(errstr, errstr_size, "the HTTP endpoint is not available in this build yet");
    return NULL;
}

void httpd_stop(httpd_t *h) { (void)h; }
