/*
 * pbjson.h — protobuf messages to and from JSON (cJSON), for incidentctl.
 *
 * A small reflection over protobuf-c descriptors implementing the proto3
 * JSON mapping as far as incidentd's messages need it:
 *
 *   - input: field names in lowerCamelCase or as written in the .proto
 *     file; enums by full name ("ACTION_TRIGGER"), by their name without the
 *     enum's prefix, case-insensitive ("trigger"), or by number; 64-bit
 *     integers as numbers or decimal strings; maps as JSON objects; null
 *     means "default". Unknown fields are an error.
 *   - output: the .proto field names (snake_case), every field (defaults
 *     included), enums by full name, 64-bit integers as JSON numbers, maps
 *     as objects, bytes as base64. The output is valid input again.
 *
 * Secrets: none of incidentd's messages carry any.
 */
#ifndef INCIDENTD_PBJSON_H
#define INCIDENTD_PBJSON_H

#include <stddef.h>

#include <cjson/cJSON.h>
#include <protobuf-c/protobuf-c.h>

#include "arena.h"

/** The JSON form of @p msg. Returns NULL only when out of memory. The caller
 *  frees with cJSON_Delete(). */
cJSON *pbjson_from_message(const ProtobufCMessage *msg);

/**
 * Builds a message of type @p desc from the JSON object @p json. Everything
 * is allocated from @p arena (never free the message on its own). Returns
 * NULL with a reason naming the field in @p err when @p json does not fit
 * the message.
 */
ProtobufCMessage *pbjson_to_message(const ProtobufCMessageDescriptor *desc, const cJSON *json,
                                    arena_t *arena, char *err, size_t err_size);

/**
 * Looks up the value of @p name in @p desc: the full name, the name without
 * the enum's common prefix (case-insensitive), or a decimal number. Returns
 * 0 and sets @p out, or -1.
 */
int pbjson_enum_value(const ProtobufCEnumDescriptor *desc, const char *name, int *out);

/** The full name of @p value in @p desc ("STAGE_ESCALATED"), or NULL. */
const char *pbjson_enum_name(const ProtobufCEnumDescriptor *desc, int value);

#endif
