/*
 * ctl_text.c — terminal-safe text; see ctl_text.h.
 */
#include "ctl_text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/* Length of the UTF-8 sequence at p (1..4) and its code point, or 0 when
 * the bytes there are not one valid sequence. */
static size_t ctl_text_seq(const unsigned char *p, size_t avail, uint32_t *cp)
{
    size_t k = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3 : 4;
    if (k > avail || utf8_check((const char *)p, k, NULL))
        return 0;
    uint32_t v = k == 1 ? *p : (uint32_t)(*p & (0x7F >> k));
    for (size_t i = 1; i < k; i++)
        v = (v << 6) | (p[i] & 0x3Fu);
    *cp = v;
    return k;
}

static int ctl_text_hidden(uint32_t cp)
{
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) ||
           (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

size_t ctl_text_escape(const char *s, char *out, size_t size)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p), j = 0, len = 0;
    int full = out == NULL || size == 0;
    for (size_t i = 0; i < n;) {
        char esc[16];
        uint32_t cp = 0;
        size_t k = ctl_text_seq(p + i, n - i, &cp);
        const char *piece = esc;
        size_t pl;
        if (k == 0) {
            pl = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", p[i]);
            k = 1;
        } else if (ctl_text_hidden(cp)) {
            pl = (size_t)snprintf(esc, sizeof(esc), cp < 0x80 ? "\\x%02x" : "\\u%04x", cp);
        } else {
            piece = (const char *)p + i;
            pl = k;
        }
        if (!full && j + pl < size) {
            memcpy(out + j, piece, pl);
            j += pl;
        } else {
            full = 1; /* the rest only counts */
        }
        len += pl;
        i += k;
    }
    if (out && size > 0)
        out[j] = '\0';
    return len;
}

const char *ctl_text_safe(const char *s)
{
    static char *slots[CTL_TEXT_SLOTS];
    static unsigned next;
    if (!s)
        return "";
    size_t n = strlen(s);
    size_t len = ctl_text_escape(s, NULL, 0);
    if (len == n) {
        /* Same length: nothing was escaped (an escape is always longer). */
        return s;
    }
    char **slot = &slots[next++ % CTL_TEXT_SLOTS];
    free(*slot);
    *slot = malloc(len + 1);
    if (!*slot) {
        fputs("incidentctl: out of memory\n", stderr);
        abort();
    }
    ctl_text_escape(s, *slot, len + 1);
    return *slot;
}
