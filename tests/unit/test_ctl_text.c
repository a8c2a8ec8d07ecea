/*
 * test_ctl_text.c — incidentctl's terminal-safe text (daemon/ctl/ctl_text.c):
 * escape sequences in a summary are shown, never sent to the terminal.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "ctl_text.h"

static void expect_safe(const char *in, const char *want)
{
    const char *got = ctl_text_safe(in);
    cr_assert_str_eq(got, want, "input of %zu bytes", strlen(in));
    for (const unsigned char *p = (const unsigned char *)got; *p; p++)
        cr_assert(*p >= 0x20 && *p != 0x7f, "control byte 0x%02x left in '%s'", *p, got);
}

Test(ctl_text, plain_text_is_returned_as_it_is)
{
    const char *s = "checkout errors 5% caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5";
    cr_assert_eq(ctl_text_safe(s), s, "no copy for text that needs no escape");
    cr_assert_str_eq(ctl_text_safe(NULL), "");
}

Test(ctl_text, terminal_escape_sequences_are_escaped)
{
    expect_safe("\x1b[2J\x1b]0;pwned\x07ok", "\\x1b[2J\\x1b]0;pwned\\x07ok");
    expect_safe("line1\nline2\r\t", "line1\\x0aline2\\x0d\\x09");
    expect_safe("del\x7f", "del\\x7f");
}

Test(ctl_text, c1_controls_bidi_and_invalid_bytes_are_escaped)
{
    expect_safe("csi\xc2\x9b"
                "2J",
                "csi\\u009b2J");
    expect_safe("abc\xe2\x80\xae"
                "fed",
                "abc\\u202efed");
    expect_safe("raw\x9b"
                "x\xff",
                "raw\\x9bx\\xff");
    expect_safe("kept nul \xc0\x80", "kept nul \\xc0\\x80");
    expect_safe("cut \xe2\x82", "cut \\xe2\\x82");
}

Test(ctl_text, escape_cuts_at_a_whole_escape_and_counts_all)
{
    char buf[8];
    size_t n = ctl_text_escape("ab\x1b\x1b", buf, sizeof(buf));
    cr_assert_eq(n, 10);
    cr_assert_str_eq(buf, "ab\\x1b");
}

Test(ctl_text, rotating_slots_keep_recent_results)
{
    const char *a = ctl_text_safe("\x01");
    const char *b = ctl_text_safe("\x02");
    cr_assert_str_eq(a, "\\x01");
    cr_assert_str_eq(b, "\\x02");
}
