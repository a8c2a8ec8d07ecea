/*
 * fuzz_ingest_events.c — libFuzzer target of ingest_map_events()
 * (daemon/common/ingest_map.c) under the checks of fuzz_ingest.h. Seeds:
 * corpus/fuzz_ingest_events/.
 */
#include "fuzz_ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_ingest_run(ingest_map_events, data, size);
}
