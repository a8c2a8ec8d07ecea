/*
 * incidentctl.c — the operators' command-line tool for incidentd: the
 * command table and main().
 *
 *   incidentctl [global options] COMMAND [options] [args]
 *
 * Commands (one cmd_<name>.c each, listed in ctl_cmds below): publish
 * alerts, list the live incidents (Redis), show one incident with its
 * ORMIS timeline, verify the audit chains, rebuild Redis from the audit
 * topic, tail the stage topics and list dead letters. The commands of
 * people (ack, resolve, task add, ...: one per CommandKind, to
 * incidents.commands) come from the one table of cmd_command.c. Kafka reads are
 * bounded and never join a consumer group (kafka.h); the rebuild is a
 * library function the daemon can call too (rebuild.h). Options and their
 * --help come from one table per command (ctl_opts.c).
 *
 * Exit codes: 0 ok, 1 a check failed or something was not found, 2 usage,
 * configuration or connection error. Secrets (the Redis password, Kafka
 * property values) are never printed.
 *
 * Owned by the ctl room (daemon/ctl/).
 *
 * @locality one thread
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "ctl_config.h"
#include "ctl_opts.h"
#include "ctl_out.h"

/* The one command table. */
static const struct ctl_cmd_entry *const ctl_cmds[] = {
    &ctl_cmd_publish_entry, &ctl_cmd_list_entry, &ctl_cmd_show_entry, &ctl_cmd_verify_entry,
    &ctl_cmd_rebuild_entry, &ctl_cmd_tail_entry, &ctl_cmd_dlq_entry,  &ctl_cmd_silence_entry,
};

#define CTL_N_CMDS (sizeof(ctl_cmds) / sizeof(ctl_cmds[0]))

static const struct ctl_cmd_entry *ctl_find_cmd(const char *name)
{
    for (size_t i = 0; i < CTL_N_CMDS; i++)
        if (strcmp(ctl_cmds[i]->name, name) == 0)
            return ctl_cmds[i];
    for (size_t i = 0; i < ctl_cmd_kind_n; i++)
        if (strcmp(ctl_cmd_kind_entries[i].name, name) == 0)
            return &ctl_cmd_kind_entries[i];
    return NULL;
}

static void ctl_help(FILE *out)
{
    fprintf(out, "Usage: incidentctl [global options] COMMAND [options] [args]\n\n"
                 "The operators' tool for incidentd.\n\nCommands:\n");
    for (size_t i = 0; i < CTL_N_CMDS; i++)
        fprintf(out, "  %-13s %s\n", ctl_cmds[i]->name, ctl_cmds[i]->summary);
    fprintf(out, "  %-13s %s\n", "help", "help CMD: the options of a command");
    fputs("\nCommands of people (to incidents.commands; --actor NAME):\n", out);
    for (size_t i = 0; i < ctl_cmd_kind_n; i++)
        fprintf(out, "  %-13s %s\n", ctl_cmd_kind_entries[i].name, ctl_cmd_kind_entries[i].summary);
    fputc('\n', out);
    ctl_global_help(out);
    fputs("\nExit codes: 0 ok, 1 check failed or not found, 2 usage or connection error.\n", out);
}

/* "help [CMD]". Returns an exit code. */
static int ctl_help_cmd(const ctl_t *c, int argc, char **argv)
{
    if (argc < 2) {
        ctl_help(stdout);
        return CTL_EXIT_OK;
    }
    const struct ctl_cmd_entry *cmd = ctl_find_cmd(argv[1]);
    if (!cmd) {
        ctl_err(c, "unknown command '%s'", argv[1]);
        return CTL_EXIT_USAGE;
    }
    ctl_cmd_help(cmd, stdout);
    return CTL_EXIT_OK;
}

/* The global options before the command. Returns CTL_GO (optind at the
 * command) or an exit code. */
static int ctl_main_options(ctl_t *c, int argc, char **argv)
{
    int rc = ctl_opts_parse(c, NULL, NULL, argc, argv);
    if (rc == CTL_OPT_HELP)
        ctl_help(stdout);
    if (rc == CTL_OPT_HELP || rc == CTL_OPT_DONE)
        return CTL_EXIT_OK;
    if (rc != CTL_OPT_OK)
        return CTL_EXIT_USAGE;
    if (optind >= argc) {
        ctl_help(stderr);
        return CTL_EXIT_USAGE;
    }
    return CTL_GO;
}

/* Runs @p cmd on its arguments (from its name on) with the config file
 * applied. Returns an exit code. */
static int ctl_run(ctl_t *c, const struct ctl_cmd_entry *cmd, int argc, char **argv)
{
    c->cmd = cmd->name;
    ctl_config_t cc;
    if (ctl_config_apply(c, &cc) < 0) {
        ctl_config_destroy(&cc);
        return CTL_EXIT_USAGE;
    }
    ctl_signals_install();
    int rc = cmd->exec(c, argc, argv);
    ctl_config_destroy(&cc);
    return rc;
}

int main(int argc, char **argv)
{
    ctl_t c;
    ctl_defaults(&c);
    int rc = ctl_main_options(&c, argc, argv);
    if (rc != CTL_GO)
        return rc;
    const char *name = argv[optind];
    if (strcmp(name, "help") == 0)
        return ctl_help_cmd(&c, argc - optind, argv + optind);
    const struct ctl_cmd_entry *cmd = ctl_find_cmd(name);
    if (!cmd) {
        ctl_err(&c, "unknown command '%s'", name);
        fputs("Try 'incidentctl --help'.\n", stderr);
        return CTL_EXIT_USAGE;
    }
    return ctl_run(&c, cmd, argc - optind, argv + optind);
}
