/*
 * fuzz_ingest.h — the body of the ingest mapping fuzz targets
 * (fuzz_ingest_alertmanager.c, fuzz_ingest_events.c,
 * fuzz_ingest_alert_json.c): any body is mapped or refused with a reason,
 * never a crash, and every alert it yields passes hd_alert_validate() and
 * packs.
 *
 * Static (inline) like fuzz_hd.h: each target gets its own copy, and the file
 * is not a fuzz target (the glob in tests/fuzz/CMakeLists.txt takes fuzz_*.c
 * only).
 */
#ifndef INCIDENTD_FUZZ_INGEST_H
#define INCIDENTD_FUZZ_INGEST_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "handlers.h"
#include "ingest_map.h"

/* The signature the three mappings share (ingest_map.h). */
typedef int (*fuzz_ingest_map_fn)(const char *body, size_t len, arena_t *arena, ingest_batch_t *out,
                                  char *err, size_t err_size);

/* Runs @p map on one input; aborts (a libFuzzer finding) when a mapped alert
 * is invalid or a refusal has no reason. */
static inline int fuzz_ingest_run(fuzz_ingest_map_fn map, const uint8_t *data, size_t size)
{
    /* An exact-size copy: reading past the body is caught by ASan. */
    char *body = malloc(size ? size : 1);
    if (!body)
        return 0;
    if (size)
        memcpy(body, data, size);
    arena_t arena;
    arena_init(&arena, 0);
    ingest_batch_t batch;
    char err[512];
    err[0] = '\0';
    if (map(body, size, &arena, &batch, err, sizeof(err)) == 0) {
        for (size_t i = 0; i < batch.n; i++) {
            char why[256];
            if (hd_alert_validate(batch.alerts[i], why, sizeof(why)) != 0)
                abort(); /* a mapped alert must be valid */
            /* and it must pack */
            size_t len = incident__v1__alert__get_packed_size(batch.alerts[i]);
            uint8_t *buf = malloc(len ? len : 1);
            if (buf)
                incident__v1__alert__pack(batch.alerts[i], buf);
            free(buf);
        }
    } else if (!err[0]) {
        abort(); /* a refusal always has a reason */
    }
    arena_destroy(&arena);
    free(body);
    return 0;
}

#endif
