/*
 * json_body.h — the one parser of JSON request bodies: exactly one JSON
 * value and nothing but white space after it, with every NUL inside a
 * string (the escape \u0000 or a raw byte) kept visible as UTF8_NUL_KEPT
 * (C0 80), so the checks that follow (utf8_check()) refuse it naming the
 * field instead of reading a string cut short by cJSON.
 *
 * Owned by the common room. Pure (no I/O). @locality any thread
 */
#ifndef INCIDENTD_JSON_BODY_H
#define INCIDENTD_JSON_BODY_H

#include <stddef.h>

#include <cjson/cJSON.h>

/** Parses @p len bytes of @p body. Returns the value (caller frees with
 *  cJSON_Delete()), or NULL with the reason ("invalid JSON near byte 12",
 *  "empty body ...") in @p err. */
cJSON *json_body_parse(const char *body, size_t len, char *err, size_t err_size);

#endif
