/*
 * utf8.h — the one UTF-8 check of incidentd's inputs: every string of an
 * alert, an event or a webhook body passes it (validate.c, ingest_map.c).
 *
 * Strict RFC 3629: no overlong forms, no UTF-16 surrogates, nothing beyond
 * U+10FFFF, no truncated sequence — and no NUL, which a C string cannot
 * carry. The decoders keep a NUL they meet inside a string as the two bytes
 * UTF8_NUL_KEPT (C0 80, the overlong form of U+0000 that "modified UTF-8"
 * uses), so the NUL is still seen here instead of silently cutting the
 * string; utf8_check() reports it as a NUL.
 *
 * Pure (no I/O). @locality any thread
 */
#ifndef INCIDENTD_UTF8_H
#define INCIDENTD_UTF8_H

#include <stddef.h>

/* How a decoder keeps a NUL byte inside a C string. */
#define UTF8_NUL_KEPT "\xC0\x80"

/**
 * Checks the @p n bytes at @p s. Returns NULL when they are valid UTF-8
 * without NUL; otherwise a static reason ("NUL byte (U+0000)", "overlong
 * encoding", ...) and the offset of the bad sequence in *at (may be NULL).
 */
const char *utf8_check(const char *s, size_t n, size_t *at);

/** Non-zero when the @p n bytes at @p s pass utf8_check(). */
int utf8_valid(const char *s, size_t n);

/**
 * Checks the field @p name of text @p s (NULL = ""): @p min..@p max bytes of
 * UTF-8 without NUL. Returns 0, or -1 with "<name>: <reason>" in @p err
 * (required, too long with the limit, or the bad sequence and its offset).
 */
int utf8_field_check(const char *name, const char *s, size_t min, size_t max, char *err,
                     size_t err_size);

#endif
