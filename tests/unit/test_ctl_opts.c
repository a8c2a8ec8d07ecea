/*
 * test_ctl_opts.c — incidentctl's option tables (daemon/ctl/ctl_opts.c):
 * one table row gives the getopt_long option, where its value is stored
 * and its --help line; the global options come on top of a command's.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_opts.h"

typedef struct opts_state {
    const char *name;
    int flag;
    long long n;
} opts_state_t;

static int set_n(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    opts_state_t *st = base;
    return ctl_opt_uint(c, opt, arg, 1, 9, "1..9", &st->n);
}

static const ctl_opt_t test_opts[] = {
    {.name = "name",
     .arg = "NAME",
     .help = "the name\nsecond line",
     .set = ctl_opt_string,
     .off = offsetof(opts_state_t, name)},
    {.name = "flag", .help = "a flag", .set = ctl_opt_flag, .off = offsetof(opts_state_t, flag)},
    {.name = "n", .arg = "N", .help = "a number", .set = set_n},
    {0},
};

static int test_exec(ctl_t *c, int argc, char **argv)
{
    (void)c;
    (void)argc;
    (void)argv;
    return 0;
}

static const struct ctl_cmd_entry test_cmd = {
    .name = "test",
    .usage = "[--name NAME] [ARG]",
    .summary = "a test command",
    .opts = test_opts,
    .notes = "Notes.\n",
    .args_max = 1,
    .exec = test_exec,
};

static ctl_t ctl_new(void)
{
    ctl_t c;
    memset(&c, 0, sizeof(c));
    c.prefix = "";
    c.timeout_ms = 30000;
    c.cmd = "test";
    return c;
}

#define ARGV(...) ((char *[]){__VA_ARGS__, NULL})

static int argc_of(char **argv)
{
    int n = 0;
    while (argv[n])
        n++;
    return n;
}

static void redirect_all(void)
{
    cr_redirect_stderr();
    cr_redirect_stdout();
}

Test(ctl_opts, command_and_global_options_are_stored_where_their_rows_say, .init = redirect_all)
{
    ctl_t c = ctl_new();
    opts_state_t st = {0};
    char **argv = ARGV("test", "--name", "x", "arg", "--flag", "--brokers", "b:1", "-X", "a=b",
                       "--n", "3", "--json");
    int argc = argc_of(argv);
    cr_assert_eq(ctl_cmd_options(&c, &test_cmd, &st, &argc, &argv), CTL_GO);
    cr_expect_str_eq(st.name, "x");
    cr_expect_eq(st.flag, 1);
    cr_expect_eq(st.n, 3);
    cr_expect_str_eq(c.brokers, "b:1");
    cr_expect(c.flagged & CTL_SET_BROKERS);
    cr_expect_eq(c.n_props, 1);
    cr_expect_str_eq(c.props[0], "a=b");
    cr_expect_eq(c.json, 1);
    cr_assert_eq(argc, 1, "the arguments left: %d", argc);
    cr_expect_str_eq(argv[0], "arg");
}

Test(ctl_opts, bad_values_unknown_options_and_extra_arguments_are_usage_errors,
     .init = redirect_all)
{
    ctl_t c = ctl_new();
    opts_state_t st = {0};
    char **argv = ARGV("test", "--n", "10");
    int argc = argc_of(argv);
    cr_expect_eq(ctl_cmd_options(&c, &test_cmd, &st, &argc, &argv), CTL_EXIT_USAGE);
    argv = ARGV("test", "--bogus");
    argc = argc_of(argv);
    cr_expect_eq(ctl_cmd_options(&c, &test_cmd, &st, &argc, &argv), CTL_EXIT_USAGE);
    /* --config and --version are accepted before the command only */
    argv = ARGV("test", "--config", "f");
    argc = argc_of(argv);
    cr_expect_eq(ctl_cmd_options(&c, &test_cmd, &st, &argc, &argv), CTL_EXIT_USAGE);
    argv = ARGV("test", "a", "b");
    argc = argc_of(argv);
    cr_expect_eq(ctl_cmd_options(&c, &test_cmd, &st, &argc, &argv), CTL_EXIT_USAGE);
    cr_expect_null(c.config_path);
}

Test(ctl_opts, global_options_before_the_command_stop_at_its_name, .init = redirect_all)
{
    ctl_t c = ctl_new();
    c.cmd = NULL;
    char **argv = ARGV("incidentctl", "--config", "f.conf", "list", "--json");
    cr_assert_eq(ctl_opts_parse(&c, NULL, NULL, argc_of(argv), argv), CTL_OPT_OK);
    cr_expect_str_eq(c.config_path, "f.conf");
    cr_expect_eq(optind, 3);
    cr_expect_eq(c.json, 0, "--json after the command is the command's");
    argv = ARGV("incidentctl", "-h", "list");
    cr_expect_eq(ctl_opts_parse(&c, NULL, NULL, argc_of(argv), argv), CTL_OPT_HELP);
}

static char *help_of(const struct ctl_cmd_entry *cmd)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_not_null(f);
    ctl_cmd_help(cmd, f);
    fclose(f);
    return text;
}

Test(ctl_opts, help_lines_come_from_the_same_rows)
{
    char *text = help_of(&test_cmd);
    cr_expect(strstr(text, "Usage: incidentctl [global options] test [--name NAME] [ARG]\n\n"
                           "a test command.\n\nOptions:\n") == text,
              "%s", text);
    cr_expect(strstr(text, "\n  --name NAME            the name\n"
                           "                         second line\n"
                           "  --flag                 a flag\n"
                           "  --n N                  a number\n"
                           "Notes.\n\nGlobal options (also accepted after the command):\n") != NULL,
              "%s", text);
    cr_expect(strstr(text, "\n  -X key=value            librdkafka property") != NULL, "%s", text);
    cr_expect(strstr(text, "\n  -h, --help              this help;") != NULL, "%s", text);
    free(text);
}

Test(ctl_opts, durations)
{
    int64_t ms = 0;
    cr_expect_eq(ctl_parse_duration("1h30m", &ms), 0);
    cr_expect_eq(ms, 5400000);
    cr_expect_eq(ctl_parse_duration("500ms", &ms), 0);
    cr_expect_eq(ms, 500);
    cr_expect_eq(ctl_parse_duration("250", &ms), 0);
    cr_expect_eq(ms, 250);
    cr_expect_eq(ctl_parse_duration("7d", &ms), 0);
    cr_expect_eq(ms, 7LL * 86400000);
    cr_expect_eq(ctl_parse_duration("1h30", &ms), -1, "a bare number only alone");
    cr_expect_eq(ctl_parse_duration("5x", &ms), -1);
    cr_expect_eq(ctl_parse_duration("", &ms), -1);
}
