/*
 * fuzz_ingest_alert_json.c — libFuzzer target of ingest_map_alert_json()
 * (daemon/common/ingest_map.c) under the checks of fuzz_ingest.h. Seeds:
 * corpus/fuzz_ingest_alert_json/.
 */
#include "fuzz_ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_ingest_run(ingest_map_alert_json, data, size);
}
