/*
 * ctl_text.h — strings of incidents, records and dead letters made safe for
 * a terminal, for incidentctl's text output.
 *
 * An alert's summary, a label or a dead letter's key comes from whoever sent
 * it: written raw, "\x1b]0;...\x07" or "\x1b[2J" would drive the operator's
 * terminal. Control bytes (C0, DEL), C1 controls (U+0080..U+009F), the
 * bidirectional overrides and isolates (U+202A..U+202E, U+2066..U+2069) and
 * bytes that are not UTF-8 are shown escaped as \xNN or \uNNNN; everything
 * else is unchanged. JSON output does not use this (cJSON escapes itself).
 *
 * @locality incidentctl's main thread (ctl_text_safe() uses static buffers)
 */
#ifndef INCIDENTD_CTL_TEXT_H
#define INCIDENTD_CTL_TEXT_H

#include <stddef.h>

/**
 * Writes @p s escaped into @p out (always NUL-terminated when @p size > 0,
 * cut at a whole escape). Returns the length of the whole escaped text.
 */
size_t ctl_text_escape(const char *s, char *out, size_t size);

/**
 * @p s itself when it needs no escape, else its escaped copy in one of
 * CTL_TEXT_SLOTS rotating buffers (valid until that many more calls). NULL
 * gives "".
 */
const char *ctl_text_safe(const char *s);

#define CTL_TEXT_SLOTS 16

#endif
