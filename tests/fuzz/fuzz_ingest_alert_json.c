/*
 * fuzz_ingest_alert_json.c — libFuzzer target of ingest_map_alert_json()
 * (daemon/common/ingest_map.c): any body is mapped or refused with a reason, never a crash, and
 * every alert it yields passes hd_alert_validate(). Seeds: corpus/fuzz_ingest_alert_json/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "handlers.h"
#include "ingest_map.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
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
    if (ingest_map_alert_json(body, size, &arena, &batch, err, sizeof(err)) == 0) {
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
