/*
 * silences.c — the kind of the global table of silences; see silences.h.
 */
#include "silences.h"

#include "silence.h"

static const char *silences_id(const ProtobufCMessage *m) { return ((const hd_silence_t *)m)->id; }

static int silences_check(const ProtobufCMessage *m, char *err, size_t err_size)
{
    return hd_silence_validate((const hd_silence_t *)m, 0, NULL, err, err_size);
}

static int64_t silences_ends_at(const ProtobufCMessage *m)
{
    return ((const hd_silence_t *)m)->ends_at_ms;
}

const gtable_kind_t silences_kind = {
    .what = "silences",
    .max_setting = "silences.max_active",
    .desc = &incident__v1__silence__descriptor,
    .id = silences_id,
    .check = silences_check,
    .ends_at = silences_ends_at,
};
