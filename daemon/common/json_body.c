/*
 * json_body.c — the one parser of JSON request bodies (ingest webhooks, the
 * API's commands, silences and overrides); see json_body.h.
 */
#include "json_body.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

static void json_body_oom(void)
{
    fputs("incidentd: out of memory\n", stderr);
    abort();
}

/* One JSON value in [body, body+len) and nothing but white space after it. */
static cJSON *json_body_value(const char *body, size_t len, char *err, size_t err_size)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root) {
        size_t at = end && end >= body && end <= body + len ? (size_t)(end - body) : 0;
        snprintf(err, err_size, "invalid JSON near byte %zu", at);
        return NULL;
    }
    size_t at = (size_t)(end - body);
    while (at < len && (body[at] == ' ' || body[at] == '\t' || body[at] == '\r' ||
                        body[at] == '\n' || body[at] == '\0'))
        at++;
    if (at < len) {
        cJSON_Delete(root);
        snprintf(err, err_size, "invalid JSON: text after the value at byte %zu", at);
        return NULL;
    }
    return root;
}

/*
 * cJSON turns the escape \u0000 (and takes a raw NUL byte) inside a string
 * into a NUL that ends its C string: "x\u0000-1" would be read as "x". When
 * the body may hold one, this returns a copy with every NUL inside a string
 * written as UTF8_NUL_KEPT (C0 80), which hd_alert_validate() rejects naming
 * the field; otherwise NULL (parse the body as it is). Caller frees.
 */
static char *json_body_keep_nul(const char *body, size_t len, size_t *out_len)
{
    int maybe = memchr(body, '\0', len) != NULL;
    for (const char *p = body; !maybe && (p = memchr(p, '\\', len - (size_t)(p - body))); p++)
        maybe = (size_t)(body + len - p) >= 6 && memcmp(p + 1, "u0000", 5) == 0;
    if (!maybe)
        return NULL;
    char *d = malloc(2 * len + 1);
    if (!d) {
        json_body_oom();
    }
    size_t j = 0;
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = body[i];
        if (in_str && c == '\\' && i + 5 < len && memcmp(body + i + 1, "u0000", 5) == 0) {
            memcpy(d + j, UTF8_NUL_KEPT, 2);
            j += 2;
            i += 5;
        } else if (in_str && c == '\\' && i + 1 < len) {
            d[j++] = c; /* any other escape, \\ and \" included, as it is */
            d[j++] = body[++i];
        } else if (in_str && c == '\0') {
            memcpy(d + j, UTF8_NUL_KEPT, 2);
            j += 2;
        } else {
            if (c == '"')
                in_str = !in_str;
            d[j++] = c;
        }
    }
    d[j] = '\0';
    *out_len = j;
    return d;
}

/* Parses a whole body: one JSON value and nothing but white space after it. */
cJSON *json_body_parse(const char *body, size_t len, char *err, size_t err_size)
{
    if (len == 0) {
        snprintf(err, err_size, "empty body (expected a JSON object)");
        return NULL;
    }
    char *kept = json_body_keep_nul(body, len, &len);
    cJSON *root = json_body_value(kept ? kept : body, len, err, err_size);
    free(kept);
    return root;
}
