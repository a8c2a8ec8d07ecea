/*
 * ctl_opts.c — incidentctl's option tables turned into getopt_long arrays
 * and --help text, the one option loop, and the global options; see
 * ctl_opts.h. Owned by the ctl room.
 *
 * @locality incidentctl's main thread
 */
#include "ctl_opts.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "config.h"
#include "ctl_out.h"
#include "pbjson.h"

#define CTL_OPTS_MAX 64  /* rows of one parse: a command's and the global ones */
#define CTL_OPT_VAL 1000 /* getopt_long value of row i: CTL_OPT_VAL + i */

/* The help text column, as the help has always been laid out. */
#define CTL_HELP_COL_CMD 25
#define CTL_HELP_COL_GLOBAL 26

/* ---- setters ----------------------------------------------------------------------- */

int ctl_opt_string(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    (void)c;
    memcpy((char *)base + opt->off, &arg, sizeof(arg));
    return CTL_OPT_OK;
}

int ctl_opt_flag(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    (void)c;
    (void)arg;
    const int one = 1;
    memcpy((char *)base + opt->off, &one, sizeof(one));
    return CTL_OPT_OK;
}

int ctl_opt_bad(const ctl_t *c, const ctl_opt_t *opt, const char *expected, const char *arg)
{
    ctl_usage_error(c, "--%s: expected %s, got '%s'", opt->name, expected, arg);
    return CTL_OPT_BAD;
}

int ctl_opt_uint(const ctl_t *c, const ctl_opt_t *opt, const char *arg, long long min,
                 long long max, const char *expected, long long *out)
{
    if (ctl_parse_uint(arg, max, out) < 0 || *out < min)
        return ctl_opt_bad(c, opt, expected, arg);
    return CTL_OPT_OK;
}

int ctl_opt_enum(const ctl_t *c, const ctl_opt_t *opt, const ProtobufCEnumDescriptor *desc,
                 const char *text, const char *arg, const char *expected, int *out)
{
    if (pbjson_enum_value(desc, text, out) < 0 || *out == 0)
        return ctl_opt_bad(c, opt, expected, arg);
    return CTL_OPT_OK;
}

static int ctl_opt_help(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    (void)c;
    (void)opt;
    (void)base;
    (void)arg;
    return CTL_OPT_HELP;
}

static int ctl_opt_brokers(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    (void)opt;
    (void)base;
    c->flagged |= CTL_SET_BROKERS;
    c->brokers = arg;
    return CTL_OPT_OK;
}

static int ctl_opt_redis(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    (void)opt;
    (void)base;
    c->flagged |= CTL_SET_REDIS;
    c->redis = arg;
    c->redis_user = NULL; /* the URL's own credentials, or none */
    return CTL_OPT_OK;
}

static int ctl_opt_prefix(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    (void)opt;
    (void)base;
    c->flagged |= CTL_SET_PREFIX;
    c->prefix = arg;
    return CTL_OPT_OK;
}

static int ctl_opt_kafka_timeout(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    (void)opt;
    (void)base;
    long long v;
    if (ctl_parse_uint(arg, 3600000, &v) < 0 || v < 100) {
        ctl_err(c, "--kafka-timeout-ms: expected 100..3600000, got '%s'", arg);
        return CTL_OPT_BAD;
    }
    c->timeout_ms = (int)v;
    return CTL_OPT_OK;
}

static int ctl_opt_property(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    (void)opt;
    (void)base;
    if (!strchr(arg, '=')) {
        ctl_err(c, "-X: expected key=value");
        return CTL_OPT_BAD;
    }
    if (c->n_props == CTL_PROPS_MAX) {
        ctl_err(c, "-X: at most %d properties", CTL_PROPS_MAX);
        return CTL_OPT_BAD;
    }
    c->props[c->n_props++] = arg;
    c->props[c->n_props] = NULL;
    return CTL_OPT_OK;
}

static int ctl_opt_version(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    (void)c;
    (void)opt;
    (void)base;
    (void)arg;
    printf("incidentctl %s (librdkafka %s)\n", INCIDENTD_VERSION, rd_kafka_version_str());
    return CTL_OPT_DONE;
}

const ctl_opt_t ctl_no_opts[] = {{0}};

/* In --help order; CTL_OPT_BEFORE_CMD rows are not accepted after the command. */
const ctl_opt_t ctl_global_opts[] = {
    {.name = "brokers",
     .arg = "LIST",
     .help = "Kafka bootstrap servers (env INCIDENTD_BROKERS,\ndefault 127.0.0.1:9092)",
     .set = ctl_opt_brokers},
    {.name = "redis",
     .arg = "URL",
     .help = "redis://[user:password@]host:port[/db] (env\n"
             "INCIDENTD_REDIS, default redis://127.0.0.1:6379/0);\n"
             "password also from INCIDENTD_REDIS_PASSWORD",
     .set = ctl_opt_redis},
    {.name = "topic-prefix",
     .arg = "P",
     .help = "prefix of every topic name and Redis key, as the\n"
             "daemon's (env INCIDENTD_TOPIC_PREFIX)",
     .set = ctl_opt_prefix},
    {.letter = 'X',
     .arg = "key=value",
     .help = "librdkafka property (repeatable), e.g. security settings",
     .set = ctl_opt_property},
    {.name = "config",
     .arg = "FILE",
     .help = "the daemon's config file (env INCIDENTD_CONFIG): its\n"
             "brokers, redis, topic_prefix, kafka.*, ack timeout,\n"
             "max level and retention are the defaults (before the\n"
             "command only)",
     .set = ctl_opt_string,
     .off = offsetof(ctl_t, config_path),
     .flags = CTL_OPT_BEFORE_CMD},
    {.name = "kafka-timeout-ms",
     .arg = "N",
     .help = "give up on Kafka after N ms without progress (30000)",
     .set = ctl_opt_kafka_timeout},
    {.name = "json",
     .help = "machine-readable output",
     .set = ctl_opt_flag,
     .off = offsetof(ctl_t, json)},
    {.name = "no-color",
     .help = "no colours (also: NO_COLOR set, or stdout not a terminal)",
     .set = ctl_opt_flag,
     .off = offsetof(ctl_t, no_color)},
    {.name = "help",
     .letter = 'h',
     .help = "this help; COMMAND --help for a command's",
     .set = ctl_opt_help},
    {.name = "version",
     .help = "print the version",
     .set = ctl_opt_version,
     .flags = CTL_OPT_BEFORE_CMD},
    {0},
};

/* ---- the option loop --------------------------------------------------------------- */

/* One option of a parse: its row and where its setter stores. */
typedef struct ctl_opt_use {
    const ctl_opt_t *opt;
    void *base;
} ctl_opt_use_t;

typedef struct ctl_opt_set {
    ctl_opt_use_t use[CTL_OPTS_MAX];
    struct option longs[CTL_OPTS_MAX + 1];
    char shorts[2 * CTL_OPTS_MAX + 2];
    size_t n, n_longs, n_shorts;
} ctl_opt_set_t;

/* Non-zero when row @p o applies to a command of @p bits (ctl_opt.only). */
static int ctl_opt_applies(const ctl_opt_t *o, unsigned bits)
{
    return !o->only || (o->only & bits);
}

/* Adds the rows of @p opts that apply to @p bits (but those flagged
 * @p skip) to @p s: their getopt_long entries and short letters. */
static void ctl_opt_set_add(ctl_opt_set_t *s, const ctl_opt_t *opts, unsigned bits, void *base,
                            unsigned skip)
{
    for (const ctl_opt_t *o = opts; o->name || o->letter; o++) {
        if ((o->flags & skip) || !ctl_opt_applies(o, bits) || s->n == CTL_OPTS_MAX)
            continue;
        int has_arg = o->arg ? required_argument : no_argument;
        if (o->name)
            s->longs[s->n_longs++] =
                (struct option){o->name, has_arg, NULL, CTL_OPT_VAL + (int)s->n};
        if (o->letter) {
            s->shorts[s->n_shorts++] = o->letter;
            if (o->arg)
                s->shorts[s->n_shorts++] = ':';
        }
        s->use[s->n++] = (ctl_opt_use_t){o, base};
    }
    memset(&s->longs[s->n_longs], 0, sizeof(s->longs[0]));
    s->shorts[s->n_shorts] = '\0';
}

/* The option getopt_long returned as @p val, or NULL for an unknown one. */
static const ctl_opt_use_t *ctl_opt_set_find(const ctl_opt_set_t *s, int val)
{
    if (val >= CTL_OPT_VAL && val < CTL_OPT_VAL + (int)s->n)
        return &s->use[val - CTL_OPT_VAL];
    for (size_t i = 0; val != '?' && val != ':' && i < s->n; i++)
        if (s->use[i].opt->letter == val)
            return &s->use[i];
    return NULL;
}

/* ctl_opts_parse() with only the rows of @p cmd_opts that apply to @p bits. */
static int ctl_opts_parse_bits(ctl_t *c, const ctl_opt_t *cmd_opts, unsigned bits, void *cmd_base,
                               int argc, char **argv)
{
    ctl_opt_set_t s;
    memset(&s, 0, sizeof(s));
    /* Before the command, stop at its name ("+"); a command takes its
     * options anywhere (GNU permutation). */
    if (!cmd_opts)
        s.shorts[s.n_shorts++] = '+';
    else
        ctl_opt_set_add(&s, cmd_opts, bits, cmd_base, 0);
    ctl_opt_set_add(&s, ctl_global_opts, ~0u, c, cmd_opts ? CTL_OPT_BEFORE_CMD : 0);
    optind = 0; /* glibc: start a fresh scan */
    int val;
    while ((val = getopt_long(argc, argv, s.shorts, s.longs, NULL)) != -1) {
        const ctl_opt_use_t *u = ctl_opt_set_find(&s, val);
        if (!u) {
            ctl_err(c, "unknown option or missing value: '%s'", argv[optind - 1]);
            fprintf(stderr, "Try 'incidentctl%s%s --help'.\n", c->cmd ? " " : "",
                    c->cmd ? c->cmd : "");
            return CTL_OPT_BAD;
        }
        int rc = u->opt->set(c, u->opt, u->base, optarg);
        if (rc != CTL_OPT_OK)
            return rc;
    }
    return CTL_OPT_OK;
}

int ctl_opts_parse(ctl_t *c, const ctl_opt_t *cmd_opts, void *cmd_base, int argc, char **argv)
{
    return ctl_opts_parse_bits(c, cmd_opts, ~0u, cmd_base, argc, argv);
}

int ctl_cmd_options(ctl_t *c, const struct ctl_cmd_entry *cmd, void *st, int *argc, char ***argv)
{
    int rc = ctl_opts_parse_bits(c, cmd->opts, cmd->opt_bits, st, *argc, *argv);
    if (rc == CTL_OPT_HELP)
        ctl_cmd_help(cmd, stdout);
    if (rc == CTL_OPT_HELP || rc == CTL_OPT_DONE)
        return CTL_EXIT_OK;
    if (rc != CTL_OPT_OK)
        return CTL_EXIT_USAGE;
    *argc -= optind;
    *argv += optind;
    if (cmd->args_max != CTL_ARGS_OWN && *argc > cmd->args_max)
        return ctl_args_at_most(c, *argc, *argv, cmd->args_max);
    ctl_decide_color(c);
    return CTL_GO;
}

int ctl_args_at_most(const ctl_t *c, int argc, char **argv, int max)
{
    if (argc > max)
        return ctl_usage_error(c, "unexpected argument '%s'", argv[max]);
    return CTL_GO;
}

/* ---- help -------------------------------------------------------------------------- */

/* "  -X, --name ARG   help", the help's lines after the first under it. */
static void ctl_opts_help(FILE *out, const ctl_opt_t *opts, unsigned bits, int column)
{
    for (const ctl_opt_t *o = opts; o->name || o->letter; o++) {
        if (!o->help || !ctl_opt_applies(o, bits))
            continue;
        int n = fprintf(out, "  ");
        if (o->letter)
            n += fprintf(out, "-%c%s", o->letter, o->name ? ", " : "");
        if (o->name)
            n += fprintf(out, "--%s", o->name);
        if (o->arg)
            n += fprintf(out, " %s", o->arg);
        fprintf(out, "%*s", n < column ? column - n : 1, "");
        for (const char *p = o->help; *p; p++) {
            fputc(*p, out);
            if (*p == '\n')
                fprintf(out, "%*s", column, "");
        }
        fputc('\n', out);
    }
}

void ctl_global_help(FILE *out)
{
    fputs("Global options (also accepted after the command):\n", out);
    ctl_opts_help(out, ctl_global_opts, ~0u, CTL_HELP_COL_GLOBAL);
}

void ctl_cmd_help(const struct ctl_cmd_entry *cmd, FILE *out)
{
    fprintf(out, "Usage: incidentctl [global options] %s %s\n\n%s.\n\n", cmd->name, cmd->usage,
            cmd->summary);
    fputs("Options:\n", out);
    ctl_opts_help(out, cmd->opts, cmd->opt_bits, CTL_HELP_COL_CMD);
    if (cmd->notes)
        fputs(cmd->notes, out);
    fputc('\n', out);
    ctl_global_help(out);
}

/* ---- values ------------------------------------------------------------------------ */

/* The milliseconds of the unit at @p *end ("ms", "s", "m", "h", "d"; none
 * only for a plain number, @p alone), past which *end is moved; 0 if none. */
static int64_t ctl_duration_unit(char **end, int alone)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        size_t len = strlen(units[i].unit);
        if (strncmp(*end, units[i].unit, len) == 0) {
            *end += len;
            return units[i].ms;
        }
    }
    return **end == '\0' && alone ? 1 : 0;
}

int ctl_parse_duration(const char *s, int64_t *out)
{
    if (!s || !*s)
        return -1;
    int64_t total = 0;
    const char *p = s;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return -1;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (errno)
            return -1;
        int64_t mul = ctl_duration_unit(&end, p == s);
        if (!mul || v > INT64_MAX / mul || total > INT64_MAX - v * mul)
            return -1;
        total += v * mul;
        p = end;
    }
    *out = total;
    return 0;
}

/* The @p n digits at *@p p as a number (moving *p past them), or -1. */
static int ctl_digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (!isdigit((unsigned char)**p))
            return -1;
        v = v * 10 + (**p - '0');
    }
    return v;
}

/* The offset of @p p ("Z", "+hh:mm", "-hh:mm") in milliseconds into @p out,
 * or -1 when it is not one (or text follows). */
static int ctl_time_offset(const char *p, int64_t *out)
{
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        *out = 0;
        return 0;
    }
    if (*p != '+' && *p != '-')
        return -1;
    int sign = *p++ == '-' ? -1 : 1;
    int hh = ctl_digits(&p, 2);
    if (hh < 0 || hh > 23 || *p++ != ':')
        return -1;
    int mm = ctl_digits(&p, 2);
    if (mm < 0 || mm > 59 || *p)
        return -1;
    *out = sign * ((int64_t)hh * 3600000 + (int64_t)mm * 60000);
    return 0;
}

int ctl_parse_time(const char *s, int64_t *out)
{
    if (!s)
        return -1;
    const char *p = s;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int f[6];
    static const char seps[] = {'-', '-', 'T', ':', ':', '\0'};
    static const int widths[] = {4, 2, 2, 2, 2, 2};
    for (int i = 0; i < 6; i++) {
        f[i] = ctl_digits(&p, widths[i]);
        if (f[i] < 0)
            return -1;
        if (i == 2 && (*p == 'T' || *p == 't' || *p == ' '))
            p++;
        else if (i < 5 && *p++ != seps[i])
            return -1;
    }
    if (f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 || f[3] > 23 || f[4] > 59 || f[5] > 60)
        return -1;
    int64_t ms = 0;
    if (*p == '.') {
        int scale = 100, digits = 0;
        for (p++; isdigit((unsigned char)*p); p++, digits++) {
            ms += (*p - '0') * scale;
            scale /= 10;
        }
        if (!digits)
            return -1;
    }
    int64_t offset;
    if (ctl_time_offset(p, &offset) < 0)
        return -1;
    tm.tm_year = f[0] - 1900;
    tm.tm_mon = f[1] - 1;
    tm.tm_mday = f[2];
    tm.tm_hour = f[3];
    tm.tm_min = f[4];
    tm.tm_sec = f[5];
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_mday != f[2])
        return -1; /* 31 November and the like */
    *out = (int64_t)t * 1000 + ms - offset;
    return 0;
}

int ctl_parse_uint(const char *s, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = s && *s ? strtoll(s, &end, 10) : -1;
    if (!s || !*s || *end || errno || v < 0 || v > max)
        return -1;
    *out = v;
    return 0;
}
