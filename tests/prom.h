/*
 * prom.h — the tests' parser of the Prometheus text exposition format 0.0.4
 * (what incidentd's /metrics serves), used by tests/unit/test_httpd.c and
 * tests/integration/test_http.c: every line is checked (HELP and TYPE before
 * the samples of each family, well-formed names, labels and values, no
 * duplicate series), and the samples are kept for lookups.
 *
 * Tests only (Criterion assertions inside); any thread, no shared state.
 */
#ifndef INCIDENTD_TESTS_PROM_H
#define INCIDENTD_TESTS_PROM_H

#include <stddef.h>

#define TU_PROM_MAX_SAMPLES 1024
#define TU_PROM_MAX_FAMILIES 64

typedef struct tu_prom_sample {
    char name[128];
    char labels[256]; /* as written, without braces: stage="x",le="1" */
    double value;
} tu_prom_sample_t;

typedef struct tu_prom {
    tu_prom_sample_t s[TU_PROM_MAX_SAMPLES];
    size_t n;
    char types[TU_PROM_MAX_FAMILIES][128]; /* family names with a TYPE line */
    char type_of[TU_PROM_MAX_FAMILIES][16];
    size_t n_types;
} tu_prom_t;

/** Parses the whole exposition @p text into @p e, asserting that every line
 *  is well-formed. */
void tu_prom_parse(tu_prom_t *e, const char *text);

/** The value of the series @p name{@p labels} (labels exactly as written);
 *  asserts that it exists. */
double tu_prom_get(const tu_prom_t *e, const char *name, const char *labels);

/** Non-zero when a sample of @p name exists. */
int tu_prom_has(const tu_prom_t *e, const char *name);

/** The TYPE of @p family ("counter", "gauge", "histogram"), "" when none. */
const char *tu_prom_type(const tu_prom_t *e, const char *family);

/** The sum of the series of @p name whose labels contain @p label (NULL =
 *  all); -1 when there is none. */
double tu_prom_sum(const tu_prom_t *e, const char *name, const char *label);

/** GET /metrics of 127.0.0.1:@p port: NULL when it did not answer 200, else
 *  the parsed exposition (the Content-Type asserted to be text/plain
 *  version 0.0.4, the body free of NUL), malloc'ed: caller frees with
 *  free(). */
tu_prom_t *tu_prom_scrape(int port);

#endif
