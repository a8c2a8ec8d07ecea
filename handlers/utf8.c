/*
 * utf8.c — strict UTF-8 check; see utf8.h.
 */
#include "utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Checks the sequence at p (lead byte c, k continuation bytes, at most
 * e - p bytes available); returns NULL or the reason. */
static const char *utf8_seq(const unsigned char *p, const unsigned char *e, unsigned c, size_t k)
{
    static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
    if ((size_t)(e - p) <= k)
        return "truncated sequence";
    uint32_t cp = c;
    for (size_t i = 1; i <= k; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return "truncated sequence";
        cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    if (cp == 0)
        return "NUL byte (U+0000)"; /* C0 80: a NUL kept by a decoder */
    if (cp < min[k])
        return "overlong encoding";
    if (cp >= 0xD800 && cp <= 0xDFFF)
        return "UTF-16 surrogate";
    if (cp > 0x10FFFF)
        return "code point beyond U+10FFFF";
    return NULL;
}

const char *utf8_check(const char *s, size_t n, size_t *at)
{
    const unsigned char *p = (const unsigned char *)s, *e = p + n;
    while (p < e) {
        unsigned c = *p;
        size_t k;
        const char *why = NULL;
        if (c == 0) {
            why = "NUL byte (U+0000)";
            k = 0;
        } else if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1;
            why = utf8_seq(p, e, c & 0x1F, k);
        } else if ((c & 0xF0) == 0xE0) {
            k = 2;
            why = utf8_seq(p, e, c & 0x0F, k);
        } else if ((c & 0xF8) == 0xF0) {
            k = 3;
            why = utf8_seq(p, e, c & 0x07, k);
        } else {
            why = (c & 0xC0) == 0x80 ? "continuation byte without a lead byte" : "invalid byte";
            k = 0;
        }
        if (why) {
            if (at)
                *at = (size_t)(p - (const unsigned char *)s);
            return why;
        }
        p += k + 1;
    }
    return NULL;
}

int utf8_valid(const char *s, size_t n) { return utf8_check(s, n, NULL) == NULL; }

int utf8_field_check(const char *name, const char *s, size_t min, size_t max, char *err,
                     size_t err_size)
{
    size_t len = s ? strlen(s) : 0;
    if (len < min) {
        if (min == 1)
            snprintf(err, err_size, "%s: required", name);
        else
            snprintf(err, err_size, "%s: missing (%zu..%zu bytes)", name, min, max);
        return -1;
    }
    if (len > max) {
        snprintf(err, err_size, "%s: %zu bytes, limit %zu", name, len, max);
        return -1;
    }
    size_t at = 0;
    const char *why = len ? utf8_check(s, len, &at) : NULL;
    if (why) {
        snprintf(err, err_size, "%s: %s at byte %zu", name, why, at);
        return -1;
    }
    return 0;
}
