/*
 * test_utf8.c — the one UTF-8 check (handlers/utf8.c): RFC 3629 strict, and
 * a NUL (raw or kept as C0 80 by a decoder) is refused as such.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "utf8.h"

static void bad(const char *s, size_t n, const char *why, size_t at)
{
    size_t got = 99;
    const char *r = utf8_check(s, n, &got);
    cr_assert_not_null(r, "accepted %zu bytes", n);
    cr_assert(strstr(r, why), "'%s' not in '%s'", why, r);
    cr_assert_eq(got, at, "offset %zu, want %zu (%s)", got, at, r);
    cr_assert_not(utf8_valid(s, n));
}

Test(utf8, valid_text)
{
    cr_assert(utf8_valid("", 0));
    cr_assert(utf8_valid("plain ascii ~", 13));
    cr_assert(utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));
    cr_assert(utf8_valid("\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf", 10), "edges of 2 and 3 bytes");
    cr_assert(utf8_valid("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", 8), "U+10000 and U+10FFFF");
    cr_assert(utf8_valid("\xed\x9f\xbf\xee\x80\x80", 6), "around the surrogates");
}

Test(utf8, nul_raw_or_kept)
{
    bad("a\0b", 3, "NUL", 1);
    bad("ab" UTF8_NUL_KEPT, 4, "NUL", 2);
    bad("\xe0\x80\x80", 3, "NUL", 0);
}

Test(utf8, overlong)
{
    bad("\xc0\xaf", 2, "overlong", 0);
    bad("x\xc1\xbf", 3, "overlong", 1);
    bad("\xe0\x9f\xbf", 3, "overlong", 0);
    bad("\xf0\x8f\xbf\xbf", 4, "overlong", 0);
}

Test(utf8, surrogates_and_beyond)
{
    bad("\xed\xa0\x80", 3, "surrogate", 0);
    bad("ab\xed\xbf\xbf", 5, "surrogate", 2);
    bad("\xf4\x90\x80\x80", 4, "beyond U+10FFFF", 0);
    bad("\xf7\xbf\xbf\xbf", 4, "beyond U+10FFFF", 0);
}

Test(utf8, broken_sequences)
{
    bad("\xc3", 1, "truncated", 0);
    bad("\xe2\x82", 2, "truncated", 0);
    bad("\xe2\x28\xa1", 3, "truncated", 0);
    bad("\x80", 1, "continuation", 0);
    bad("ok\xbf", 3, "continuation", 2);
    bad("\xf8\x88\x80\x80\x80", 5, "invalid byte", 0);
    bad("\xff", 1, "invalid byte", 0);
}
