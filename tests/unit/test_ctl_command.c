/*
 * test_ctl_command.c — the commands of people in incidentctl
 * (daemon/ctl/cmd_command.c): a command line becomes one incident.v1.Command
 * (ctl_command_build(), no Kafka): kind, positional arguments, the options
 * that apply to the kind, the actor's default, the command id, the
 * contract's limits; and the RFC 3339 times of --due (ctl_parse_time()).
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "ctl.h"
#include "ctl_opts.h"

#define ARGV(...) ((char *[]){__VA_ARGS__, NULL})
#define DAY_MS (24 * 3600 * 1000LL)

static arena_t arena;

static void setup(void)
{
    cr_redirect_stderr();
    cr_redirect_stdout();
    arena_init(&arena, 0);
    unsetenv("INCIDENTD_ACTOR");
}

static void teardown(void) { arena_destroy(&arena); }

static ctl_t ctl_new(const char *name)
{
    ctl_t c;
    memset(&c, 0, sizeof(c));
    c.prefix = "";
    c.timeout_ms = 30000;
    c.cmd = name;
    return c;
}

static int argc_of(char **argv)
{
    int n = 0;
    while (argv[n])
        n++;
    return n;
}

/* ctl_command_build() on @p argv; *out NULL unless CTL_GO. */
static int build(char **argv, hd_command_t **out)
{
    ctl_t c = ctl_new(argv[0]);
    *out = NULL;
    return ctl_command_build(&c, argc_of(argv), argv, &arena, out);
}

/* Builds @p argv, asserting success. */
static hd_command_t *build_ok(char **argv)
{
    hd_command_t *cmd;
    int rc = build(argv, &cmd);
    cr_assert_eq(rc, CTL_GO, "%s: exit %d", argv[0], rc);
    cr_assert_not_null(cmd);
    return cmd;
}

static int str_eq(const char *a, const char *b)
{
    return (a ? a : "")[0] == (b ? b : "")[0] && strcmp(a ? a : "", b ? b : "") == 0;
}

TestSuite(ctl_command, .init = setup, .fini = teardown);

/* Every kind: its command line, and where the arguments go. */
Test(ctl_command, each_kind_maps_its_arguments)
{
    const struct {
        char **argv;
        Incident__V1__CommandKind kind;
        const char *text, *task_id, *assignee;
    } cases[] = {
        {.argv = ARGV("ack", "INC-1", "--actor", "tina"),
         .kind = INCIDENT__V1__COMMAND_KIND__COMMAND_ACKNOWLEDGE},
        {.argv = ARGV("resolve", "INC-1", "--actor", "tina"),
         .kind = INCIDENT__V1__COMMAND_KIND__COMMAND_RESOLVE},
        {.argv = ARGV("resolve", "INC-1", "--text", "rolled back", "--actor", "tina"),
         .kind = INCIDENT__V1__COMMAND_KIND__COMMAND_RESOLVE,
         "rolled back"},
        {.argv = ARGV("reopen", "INC-1", "--text", "still failing", "--actor", "tina"),
         .kind = INCIDENT__V1__COMMAND_KIND__COMMAND_REOPEN,
         "still failing"},
        {.argv = ARGV("note", "INC-1", "called the ISP", "--actor", "tina"),
         .kind = INCIDENT__V1__COMMAND_KIND__COMMAND_NOTE,
         "called the ISP"},
        {.argv = ARGV("task", "add", "INC-1", "restore DNS", "--actor", "tina"),
         .kind = INCIDENT__V1__COMMAND_KIND__COMMAND_TASK_ADD,
         "restore DNS"},
        {.argv = ARGV("task", "done", "INC-1", "T1", "--actor", "tina"),
         .kind = INCIDENT__V1__COMMAND_KIND__COMMAND_TASK_DONE,
         NULL,
         "T1"},
        {.argv = ARGV("task", "cancel", "INC-1", "T1", "--text", "not needed", "--actor", "tina"),
         .kind = INCIDENT__V1__COMMAND_KIND__COMMAND_TASK_CANCEL,
         "not needed",
         "T1"},
        {.argv = ARGV("client-update", "INC-1", "we are on it", "--actor", "tina"),
         .kind = INCIDENT__V1__COMMAND_KIND__COMMAND_CLIENT_UPDATE,
         "we are on it"},
        {.argv = ARGV("signoff", "INC-1", "--actor", "tina"),
         .kind = INCIDENT__V1__COMMAND_KIND__COMMAND_SIGN_OFF},
        {.argv = ARGV("handover", "INC-1", "bob", "--actor", "tina"),
         .kind = INCIDENT__V1__COMMAND_KIND__COMMAND_HANDOVER,
         NULL,
         NULL,
         "bob"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hd_command_t *cmd = build_ok(cases[i].argv);
        cr_expect_eq(cmd->kind, cases[i].kind, "case %zu: kind %d", i, cmd->kind);
        cr_expect_str_eq(cmd->incident_id, "INC-1", "case %zu", i);
        cr_expect_str_eq(cmd->actor, "tina", "case %zu", i);
        cr_expect(str_eq(cmd->text, cases[i].text), "case %zu: text '%s'", i, cmd->text);
        cr_expect(str_eq(cmd->task_id, cases[i].task_id), "case %zu: task_id '%s'", i,
                  cmd->task_id);
        cr_expect(str_eq(cmd->assignee, cases[i].assignee), "case %zu: assignee '%s'", i,
                  cmd->assignee);
        cr_expect(cmd->command_id && cmd->command_id[0], "case %zu: no command id", i);
        cr_expect_eq(hd_command_validate(cmd, NULL, 0), 0, "case %zu", i);
    }
}

Test(ctl_command, task_add_takes_its_options)
{
    hd_command_t *cmd =
        build_ok(ARGV("task", "--preventive", "add", "INC-7", "restore DNS", "--assignee", "tina",
                      "--due", "2026-11-26T15:00:00.250+01:00", "--id", "T1", "--actor", "alice",
                      "--command-id", "cmd-42"));
    cr_expect_eq(cmd->kind, INCIDENT__V1__COMMAND_KIND__COMMAND_TASK_ADD);
    cr_expect_str_eq(cmd->incident_id, "INC-7");
    cr_expect_str_eq(cmd->text, "restore DNS");
    cr_expect_str_eq(cmd->assignee, "tina");
    cr_expect_eq(cmd->due_at_ms, 1795701600250LL); /* 2026-11-26T14:00:00.250Z */
    cr_expect_eq(cmd->preventive, 1);
    cr_expect_str_eq(cmd->task_id, "T1");
    cr_expect_str_eq(cmd->actor, "alice");
    cr_expect_str_eq(cmd->command_id, "cmd-42");
}

Test(ctl_command, due_as_a_duration_counts_from_now)
{
    int64_t before = ctl_now_ms();
    hd_command_t *cmd =
        build_ok(ARGV("task", "add", "INC-1", "write runbook", "--due", "2d", "--actor", "a"));
    int64_t after = ctl_now_ms();
    cr_expect(cmd->due_at_ms >= before + 2 * DAY_MS && cmd->due_at_ms <= after + 2 * DAY_MS,
              "due %lld not 2 days after %lld", (long long)cmd->due_at_ms, (long long)before);
    cr_expect(cmd->at_ms >= before && cmd->at_ms <= after);
}

Test(ctl_command, meeting_and_review)
{
    hd_command_t *cmd = build_ok(ARGV("meeting", "INC-1", "--attendees", "alice,bob", "--attendees",
                                      "carol", "--text", "roll back", "--actor", "a"));
    cr_expect_eq(cmd->kind, INCIDENT__V1__COMMAND_KIND__COMMAND_MEETING);
    cr_assert_eq(cmd->n_attendees, 3);
    cr_expect_str_eq(cmd->attendees[0], "alice");
    cr_expect_str_eq(cmd->attendees[1], "bob");
    cr_expect_str_eq(cmd->attendees[2], "carol");
    cr_expect_str_eq(cmd->text, "roll back");
    cmd = build_ok(ARGV("review", "INC-1", "--root-cause", "expired cert", "--text", "monitor it",
                        "--actor", "a"));
    cr_expect_eq(cmd->kind, INCIDENT__V1__COMMAND_KIND__COMMAND_REVIEW);
    cr_expect_str_eq(cmd->root_cause, "expired cert");
    cr_expect_str_eq(cmd->text, "monitor it");
}

Test(ctl_command, actor_from_the_flag_the_environment_or_the_login)
{
    setenv("INCIDENTD_ACTOR", "envperson", 1);
    hd_command_t *cmd = build_ok(ARGV("ack", "INC-1"));
    cr_expect_str_eq(cmd->actor, "envperson");
    cmd = build_ok(ARGV("ack", "INC-1", "--actor", "flagperson"));
    cr_expect_str_eq(cmd->actor, "flagperson");
    /* An empty one names nobody: refused, not sent with a made-up actor. */
    cr_expect_eq(build(ARGV("ack", "INC-1", "--actor", ""), &cmd), CTL_EXIT_USAGE);
    cr_expect_null(cmd);
    unsetenv("INCIDENTD_ACTOR");
    cmd = build_ok(ARGV("ack", "INC-1"));
    cr_expect(cmd->actor && cmd->actor[0], "the login name is the default");
}

Test(ctl_command, command_ids_are_fresh_unless_given)
{
    hd_command_t *a = build_ok(ARGV("ack", "INC-1", "--actor", "x"));
    hd_command_t *b = build_ok(ARGV("ack", "INC-1", "--actor", "x"));
    cr_expect_str_neq(a->command_id, b->command_id);
}

Test(ctl_command, usage_errors)
{
    char **cases[] = {
        ARGV("ack", "--actor", "a"),                                      /* no incident */
        ARGV("ack", "INC-1", "extra", "--actor", "a"),                    /* one too many */
        ARGV("note", "INC-1", "--actor", "a"),                            /* no text */
        ARGV("ack", "INC-1", "--due", "2d", "--actor", "a"),              /* not for ack */
        ARGV("task", "add", "INC-1", "t", "--text", "x", "--actor", "a"), /* not for add */
        ARGV("task", "done", "INC-1", "T1", "--due", "1h", "--actor", "a"),
        ARGV("task", "INC-1", "--actor", "a"),                  /* unknown sub */
        ARGV("task", "--actor", "a"),                           /* no sub */
        ARGV("reopen", "INC-1", "--actor", "a"),                /* --text required */
        ARGV("meeting", "INC-1", "--actor", "a"),               /* --attendees required */
        ARGV("review", "INC-1", "--text", "x", "--actor", "a"), /* --root-cause required */
        ARGV("task", "add", "INC-1", "t", "--due", "soon", "--actor", "a"),
        ARGV("handover", "INC-1", "--actor", "a"),   /* no person */
        ARGV("frobnicate", "INC-1", "--actor", "a"), /* unknown kind */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hd_command_t *cmd;
        cr_expect_eq(build(cases[i], &cmd), CTL_EXIT_USAGE, "case %zu (%s) accepted", i,
                     cases[i][0]);
        cr_expect_null(cmd, "case %zu", i);
    }
}

/* The contract's limits are checked before anything is sent. */
Test(ctl_command, text_over_8_kib_is_refused)
{
    char *text = malloc(8193 + 1);
    memset(text, 'x', 8192);
    text[8192] = '\0';
    hd_command_t *cmd = build_ok(ARGV("note", "INC-1", text, "--actor", "a"));
    cr_expect_eq(strlen(cmd->text), 8192);
    text[8192] = 'x';
    text[8193] = '\0';
    cr_expect_eq(build(ARGV("note", "INC-1", text, "--actor", "a"), &cmd), CTL_EXIT_USAGE);
    cr_expect_null(cmd);
    free(text);
}

Test(ctl_command, help_exits_0_and_lists_only_the_options_of_the_kind)
{
    hd_command_t *cmd;
    cr_expect_eq(build(ARGV("ack", "--help"), &cmd), CTL_EXIT_OK);
    cr_expect_null(cmd);
    const struct ctl_cmd_entry *ack = NULL, *task = NULL;
    for (size_t i = 0; i < ctl_cmd_kind_n; i++) {
        if (strcmp(ctl_cmd_kind_entries[i].name, "ack") == 0)
            ack = &ctl_cmd_kind_entries[i];
        if (strcmp(ctl_cmd_kind_entries[i].name, "task") == 0)
            task = &ctl_cmd_kind_entries[i];
    }
    cr_assert(ack && task);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ctl_cmd_help(ack, f);
    fclose(f);
    cr_expect(strstr(buf, "--actor") && strstr(buf, "--command-id"), "%s", buf);
    cr_expect(!strstr(buf, "--due") && !strstr(buf, "--root-cause"), "%s", buf);
    free(buf);
    f = open_memstream(&buf, &len);
    ctl_cmd_help(task, f);
    fclose(f);
    cr_expect(strstr(buf, "--due") && strstr(buf, "task done INC-ID TASK-ID"), "%s", buf);
    cr_expect(!strstr(buf, "--root-cause"), "%s", buf);
    free(buf);
}

Test(ctl_command, rfc3339_times)
{
    int64_t v;
    cr_expect_eq(ctl_parse_time("1970-01-01T00:00:00Z", &v), 0);
    cr_expect_eq(v, 0);
    cr_expect_eq(ctl_parse_time("2026-11-26T15:00:00Z", &v), 0);
    cr_expect_eq(v, 1795705200000LL);
    cr_expect_eq(ctl_parse_time("2026-11-26t15:00:00.5z", &v), 0);
    cr_expect_eq(v, 1795705200500LL);
    cr_expect_eq(ctl_parse_time("2026-11-26T10:00:00-05:00", &v), 0);
    cr_expect_eq(v, 1795705200000LL);
    const char *bad[] = {"",
                         "2026-11-26",
                         "2026-11-26T15:00:00",
                         "2026-11-31T00:00:00Z",
                         "2026-13-01T00:00:00Z",
                         "2026-11-26T15:00:00Zx",
                         "2026-11-26T15:00:00.Z",
                         "2026-11-26T15:00:00+5:00",
                         "26-11-26T15:00:00Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(ctl_parse_time(bad[i], &v), -1, "'%s' accepted", bad[i]);
}
