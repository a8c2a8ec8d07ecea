/*
 * ctl_opts.h — incidentctl's options: one table per command plus the
 * global one, each row (struct ctl_opt in ctl.h) giving the long name, the
 * short letter, the value's name, the help text and where the value goes.
 * From the tables come both the getopt_long arrays (one option loop,
 * ctl_opts_parse()) and every --help text.
 *
 * Owned by the ctl room.
 *
 * @locality incidentctl's main thread (getopt_long's state is global)
 */
#ifndef INCIDENTD_CTL_OPTS_H
#define INCIDENTD_CTL_OPTS_H

#include <stdint.h>
#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

#include "ctl.h"

/* Setters for table rows (see ctl_opt_set_fn). */

/** Stores the value as a `const char *` at base + opt->off (it borrows argv). */
int ctl_opt_string(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg);

/** Stores 1 in the `int` at base + opt->off. */
int ctl_opt_flag(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg);

/**
 * Reports a bad value of command option @p opt: "--NAME: expected
 * @p expected, got 'ARG'" and where to find help. Returns CTL_OPT_BAD.
 */
int ctl_opt_bad(const ctl_t *c, const ctl_opt_t *opt, const char *expected, const char *arg);

/** A decimal @p min..@p max into @p out, else ctl_opt_bad(). Returns CTL_OPT_*. */
int ctl_opt_uint(const ctl_t *c, const ctl_opt_t *opt, const char *arg, long long min,
                 long long max, const char *expected, long long *out);

/**
 * The value named @p text of @p desc (not the 0 one) into @p out, else
 * ctl_opt_bad() quoting @p arg. Returns CTL_OPT_*.
 */
int ctl_opt_enum(const ctl_t *c, const ctl_opt_t *opt, const ProtobufCEnumDescriptor *desc,
                 const char *text, const char *arg, const char *expected, int *out);

/** The table of a command without options of its own. */
extern const ctl_opt_t ctl_no_opts[];

/** The global options: --brokers, --redis, ..., -X, --config, --version. */
extern const ctl_opt_t ctl_global_opts[];

/**
 * The one option loop. Parses argv from argv[1] with a fresh getopt scan:
 * the options of @p cmd_opts (stored into @p cmd_base) and the global ones
 * (stored into @p c). With @p cmd_opts NULL: the options before the
 * command, which stop at the first argument that is not one. An unknown
 * option is reported. Returns CTL_OPT_OK at the end of the options
 * (optind is then the first other argument), or the first setter's result
 * that is not CTL_OPT_OK.
 */
int ctl_opts_parse(ctl_t *c, const ctl_opt_t *cmd_opts, void *cmd_base, int argc, char **argv);

/**
 * The options of command @p cmd into @p st (its own state), the check of
 * cmd->args_max, then the colour decision. Returns CTL_GO with *argc /
 * *argv narrowed to the arguments that are not options, or the exit code
 * when done (help printed, or bad usage reported).
 */
int ctl_cmd_options(ctl_t *c, const struct ctl_cmd_entry *cmd, void *st, int *argc, char ***argv);

/** CTL_GO when @p argc <= @p max, else reports argv[max] and returns CTL_EXIT_USAGE. */
int ctl_args_at_most(const ctl_t *c, int argc, char **argv, int max);

/** "Global options ...:" and one help line per global option. */
void ctl_global_help(FILE *out);

/** COMMAND --help: usage, summary, its options, its notes, the global options. */
void ctl_cmd_help(const struct ctl_cmd_entry *cmd, FILE *out);

/**
 * Parses "500ms", "10s", "30m", "1h", "7d", combinations ("1h30m") or a
 * plain number of milliseconds. Returns 0 or -1.
 */
int ctl_parse_duration(const char *s, int64_t *out);

/**
 * Parses an RFC 3339 time, "2026-11-26T15:00:00Z", with optional
 * fractional seconds (to the millisecond) and a "Z" or "+hh:mm" / "-hh:mm"
 * offset ('t', 'z' and ' ' for 'T' accepted), into Unix milliseconds.
 * Returns 0 or -1.
 */
int ctl_parse_time(const char *s, int64_t *out);

/** Parses a decimal 0..@p max. Returns 0 or -1. */
int ctl_parse_uint(const char *s, long long max, long long *out);

#endif
