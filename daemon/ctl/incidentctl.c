/*
 * incidentctl.c — the operators' command-line tool for incidentd.
 *
 *   incidentctl [global options] COMMAND [options] [args]
 *
 * Commands (one table below, one ctl_cmd_<name>() each): publish alerts,
 * list the live incidents (Redis), show one incident with its ORMIS
 * timeline, verify the audit chains, rebuild Redis from the audit topic,
 * tail the stage topics and list dead letters. Kafka reads are bounded and
 * never join a consumer group (kafka.h); the rebuild is a library
 * function the daemon can call too (rebuild.h).
 *
 * Exit codes: 0 ok, 1 a check failed or something was not found, 2 usage,
 * configuration or connection error. Secrets (the Redis password, Kafka
 * property values) are never printed.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>

#include "arena.h"
#include "config.h"
#include "pbjson.h"
#include "kafka.h"
#include "strmap.h"
#include "rebuild.h"
#include "store_admin.h"
#include "ctl_text.h"
#include "handlers.h"
#include "ormis.h"
#include "utf8.h"

#define CTL_EXIT_OK 0
#define CTL_EXIT_FAIL 1  /* check failed, not found */
#define CTL_EXIT_USAGE 2 /* usage, configuration or connection error */

#define CTL_PROPS_MAX 64
#define CTL_SET_BROKERS 1u
#define CTL_SET_REDIS 2u
#define CTL_SET_PREFIX 4u
#define PBJSON_MAX (64u << 20) /* largest --json-file accepted */

/* Settings shared by every command (the global options). */
typedef struct ctl {
    const char *brokers;
    const char *redis;                    /* URL; may hold credentials: never print as is */
    const char *redis_user;               /* from the config file, or NULL */
    const char *redis_password;           /* INCIDENTD_REDIS_PASSWORD / config, or NULL */
    const char *prefix;                   /* topic prefix, "" */
    const char *props[CTL_PROPS_MAX + 1]; /* -X key=value, NULL-terminated */
    size_t n_props;
    int timeout_ms; /* how long to wait for Kafka without progress */
    /* rebuild defaults: the config file's, else the contract's */
    int64_t ack_timeout_ms;
    uint32_t max_level;
    int64_t retention_ms;
    const char *config_path; /* --config / INCIDENTD_CONFIG, or NULL */
    unsigned flagged;        /* CTL_SET_* given as flags (they beat the file) */
    int json;
    int no_color;
    int color;       /* decided once the options are known */
    const char *cmd; /* the command being run, for messages */
} ctl_t;

typedef struct ctl_cmd {
    const char *name;
    const char *args;    /* usage after the name */
    const char *summary; /* one line for the command list */
    const char *help;    /* the options, for COMMAND --help */
    int (*exec)(ctl_t *c, int argc, char **argv);
} ctl_cmd_t;

static volatile sig_atomic_t ctl_stop;

static void ctl_on_signal(int sig)
{
    (void)sig;
    ctl_stop = 1;
}

/* ---- small helpers ------------------------------------------------------------ */

static void ctl_err(const ctl_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ctl_err(const ctl_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "incidentctl%s%s: ", c && c->cmd ? " " : "", c && c->cmd ? c->cmd : "");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int64_t ctl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t ctl_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "2026-11-26T15:00:00.123Z", or "-" for 0. */
static const char *ctl_time(int64_t ms, char *buf, size_t size)
{
    if (ms <= 0) {
        snprintf(buf, size, "-");
        return buf;
    }
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char tmp[128]; /* as wide as the compiler thinks the fields can get */
    snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    size_t len = strlen(tmp) < size ? strlen(tmp) : size - 1;
    memcpy(buf, tmp, len);
    buf[len] = '\0';
    return buf;
}

/* "45s", "12m", "3h05m", "2d04h". */
static const char *ctl_age(int64_t ms, char *buf, size_t size)
{
    if (ms < 0)
        ms = 0;
    int64_t s = ms / 1000;
    if (s < 60)
        snprintf(buf, size, "%" PRId64 "s", s);
    else if (s < 3600)
        snprintf(buf, size, "%" PRId64 "m", s / 60);
    else if (s < 86400)
        snprintf(buf, size, "%" PRId64 "h%02" PRId64 "m", s / 3600, (s % 3600) / 60);
    else
        snprintf(buf, size, "%" PRId64 "d%02" PRId64 "h", s / 86400, (s % 86400) / 3600);
    return buf;
}

/* Parses "500ms", "10s", "30m", "1h", "7d", combinations ("1h30m") or a
 * plain number of milliseconds. Returns 0 or -1. */
static int ctl_parse_duration(const char *s, int64_t *out)
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
        int64_t mul;
        if (strncmp(end, "ms", 2) == 0) {
            mul = 1;
            end += 2;
        } else if (*end == 's') {
            mul = 1000;
            end++;
        } else if (*end == 'm') {
            mul = 60000;
            end++;
        } else if (*end == 'h') {
            mul = 3600000;
            end++;
        } else if (*end == 'd') {
            mul = 86400000;
            end++;
        } else if (*end == '\0' && p == s) {
            mul = 1;
        } else {
            return -1;
        }
        if (v > INT64_MAX / mul || total > INT64_MAX - v * mul)
            return -1;
        total += v * mul;
        p = end;
    }
    *out = total;
    return 0;
}

static int ctl_parse_uint(const char *s, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = s && *s ? strtoll(s, &end, 10) : -1;
    if (!s || !*s || *end || errno || v < 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

static const char *ctl_topic(const ctl_t *c, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s", c->prefix, name);
    return buf;
}

/* ---- colours ----------------------------------------------------------------- */

#define C_RED "\033[31m"
#define C_BRED "\033[1;31m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"
#define C_CYAN "\033[36m"
#define C_BOLD "\033[1m"
#define C_DIM "\033[2m"
#define C_OFF "\033[0m"

static const char *ctl_color_severity(Incident__V1__Severity s)
{
    switch (s) {
    case INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL:
        return C_BRED;
    case INCIDENT__V1__SEVERITY__SEVERITY_MAJOR:
        return C_RED;
    case INCIDENT__V1__SEVERITY__SEVERITY_MINOR:
    case INCIDENT__V1__SEVERITY__SEVERITY_WARNING:
        return C_YELLOW;
    default:
        return C_DIM;
    }
}

static const char *ctl_color_status(Incident__V1__Status s)
{
    switch (s) {
    case INCIDENT__V1__STATUS__STATUS_OPEN:
        return C_YELLOW;
    case INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED:
        return C_CYAN;
    case INCIDENT__V1__STATUS__STATUS_RESOLVED:
        return C_GREEN;
    default:
        return C_DIM;
    }
}

/* Prints @p text in @p color (when colours are on), padded to @p width
 * (0 = no padding). Padding counts the visible text only. */
static void ctl_cell(const ctl_t *c, FILE *out, const char *text, const char *color, int width)
{
    text = ctl_text_safe(text); /* never a sender's control bytes to the terminal */
    int len = (int)strlen(text);
    if (c->color && color)
        fprintf(out, "%s%s%s", color, text, C_OFF);
    else
        fputs(text, out);
    for (int i = len; i < width; i++)
        fputc(' ', out);
}

/* Prints a JSON value on stdout and frees it. */
static void pbjson_print(cJSON *j)
{
    char *s = j ? cJSON_Print(j) : NULL;
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    cJSON_Delete(j);
}

/* ---- progress bar (stderr, when it is a terminal) ----------------------------- */

typedef struct ctl_progress {
    int on;
    const char *what;
    int64_t last_ms;
    int drawn;
} ctl_progress_t;

static void ctl_progress_draw(uint64_t done, uint64_t total, void *opaque)
{
    ctl_progress_t *p = opaque;
    if (!p->on)
        return;
    int64_t now = ctl_mono_ms();
    if (p->drawn && now - p->last_ms < 100 && done < total)
        return;
    p->last_ms = now;
    p->drawn = 1;
    const int width = 30;
    int fill = total ? (int)((double)done / (double)total * width) : width;
    if (fill > width)
        fill = width;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\r%s [%s] %" PRIu64 "/%" PRIu64 " records", p->what, bar, done, total);
    fflush(stderr);
}

static void ctl_progress_end(ctl_progress_t *p)
{
    if (p->on && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
}

/* ---- options ---------------------------------------------------------------------- */

enum {
    OPT_BROKERS = 1000,
    OPT_REDIS,
    OPT_PREFIX,
    OPT_JSON,
    OPT_NO_COLOR,
    OPT_KAFKA_TIMEOUT,
    OPT_HELP,
    OPT_VERSION,
    OPT_CONFIG,
    /* command options */
    OPT_DEDUP_KEY,
    OPT_INCIDENT,
    OPT_ALERT_ID,
    OPT_SEVERITY,
    OPT_SERVICE,
    OPT_SUMMARY,
    OPT_SOURCE,
    OPT_SITE,
    OPT_CLIENT,
    OPT_LABEL,
    OPT_ACTOR,
    OPT_JSON_FILE,
    OPT_OCCURRED,
    OPT_TIMEOUT,
    OPT_STAGE,
    OPT_OWNER,
    OPT_KIND,
    OPT_YES,
    OPT_DRY_RUN,
    OPT_ACK_TIMEOUT,
    OPT_MAX_LEVEL,
    OPT_RETENTION,
    OPT_SKIP_BROKEN,
    OPT_FROM_BEGINNING,
    OPT_TOPIC,
    OPT_AUDIT,
    OPT_MAX,
};

/* The options every command accepts too (after its name). */
static const struct option ctl_common_opts[] = {
    {"brokers", required_argument, NULL, OPT_BROKERS},
    {"redis", required_argument, NULL, OPT_REDIS},
    {"topic-prefix", required_argument, NULL, OPT_PREFIX},
    {"json", no_argument, NULL, OPT_JSON},
    {"no-color", no_argument, NULL, OPT_NO_COLOR},
    {"kafka-timeout-ms", required_argument, NULL, OPT_KAFKA_TIMEOUT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Commands take options anywhere (GNU permutation); main stops at the
 * command name ("+"). */
#define CTL_SHORT "hX:"
#define CTL_OPT_BAD (-2)

static const char ctl_global_help[] =
    "Global options (also accepted after the command):\n"
    "  --brokers LIST          Kafka bootstrap servers (env INCIDENTD_BROKERS,\n"
    "                          default 127.0.0.1:9092)\n"
    "  --redis URL             redis://[user:password@]host:port[/db] (env\n"
    "                          INCIDENTD_REDIS, default redis://127.0.0.1:6379/0);\n"
    "                          password also from INCIDENTD_REDIS_PASSWORD\n"
    "  --topic-prefix P        prefix of every topic name and Redis key, as the\n"
    "                          daemon's (env INCIDENTD_TOPIC_PREFIX)\n"
    "  -X key=value            librdkafka property (repeatable), e.g. security settings\n"
    "  --config FILE           the daemon's config file (env INCIDENTD_CONFIG): its\n"
    "                          brokers, redis, topic_prefix, kafka.*, ack timeout,\n"
    "                          max level and retention are the defaults (before the\n"
    "                          command only)\n"
    "  --kafka-timeout-ms N    give up on Kafka after N ms without progress (30000)\n"
    "  --json                  machine-readable output\n"
    "  --no-color              no colours (also: NO_COLOR set, or stdout not a terminal)\n"
    "  -h, --help              this help; COMMAND --help for a command's\n"
    "  --version               print the version\n";

static int ctl_common_opt(ctl_t *c, int opt, const char *arg)
{
    long long v;
    switch (opt) {
    case OPT_BROKERS:
        c->flagged |= CTL_SET_BROKERS;
        c->brokers = arg;
        return 1;
    case OPT_REDIS:
        c->flagged |= CTL_SET_REDIS;
        c->redis = arg;
        c->redis_user = NULL; /* the URL's own credentials, or none */
        return 1;
    case OPT_PREFIX:
        c->flagged |= CTL_SET_PREFIX;
        c->prefix = arg;
        return 1;
    case OPT_JSON:
        c->json = 1;
        return 1;
    case OPT_NO_COLOR:
        c->no_color = 1;
        return 1;
    case OPT_KAFKA_TIMEOUT:
        if (ctl_parse_uint(arg, 3600000, &v) < 0 || v < 100) {
            ctl_err(c, "--kafka-timeout-ms: expected 100..3600000, got '%s'", arg);
            return -1;
        }
        c->timeout_ms = (int)v;
        return 1;
    case 'X':
        if (!strchr(arg, '=')) {
            ctl_err(c, "-X: expected key=value");
            return -1;
        }
        if (c->n_props == CTL_PROPS_MAX) {
            ctl_err(c, "-X: at most %d properties", CTL_PROPS_MAX);
            return -1;
        }
        c->props[c->n_props++] = arg;
        c->props[c->n_props] = NULL;
        return 1;
    }
    return 0;
}

/* The next option of a command: the common ones are handled here. Returns
 * one of @p opts (or 'h', or '?' / ':' for an unknown one), -1 at the end,
 * or CTL_OPT_BAD after a bad value of a common option (reported). */
static int ctl_getopt(ctl_t *c, int argc, char **argv, const char *shortopts,
                      const struct option *opts)
{
    static struct option all[64];
    size_t n = 0;
    for (size_t i = 0; opts && opts[i].name && n < 48; i++)
        all[n++] = opts[i];
    for (size_t i = 0; ctl_common_opts[i].name; i++)
        all[n++] = ctl_common_opts[i];
    memset(&all[n], 0, sizeof(all[n]));
    for (;;) {
        int opt = getopt_long(argc, argv, shortopts, all, NULL);
        if (opt == -1)
            return -1;
        int common = ctl_common_opt(c, opt, optarg);
        if (common < 0)
            return CTL_OPT_BAD;
        if (!common)
            return opt;
    }
}

static const ctl_cmd_t *ctl_find_cmd(const char *name);
static void ctl_cmd_help(const ctl_cmd_t *cmd, FILE *out);

/* Reports a bad option of the command being parsed. */
static int ctl_bad_option(const ctl_t *c, char **argv, int opt)
{
    if (opt == '?' || opt == ':')
        ctl_err(c, "unknown option or missing value: '%s'", argv[optind - 1]);
    fprintf(stderr, "Try 'incidentctl %s --help'.\n", c->cmd ? c->cmd : "");
    return CTL_EXIT_USAGE;
}

static int ctl_usage_error(const ctl_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int ctl_usage_error(const ctl_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "incidentctl %s: ", c->cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fprintf(stderr, "Try 'incidentctl %s --help'.\n", c->cmd);
    return CTL_EXIT_USAGE;
}

/* Colours: only on a terminal, without NO_COLOR, --no-color or --json. */
static void ctl_decide_color(ctl_t *c)
{
    const char *nc = getenv("NO_COLOR");
    c->color = !c->no_color && !c->json && !(nc && *nc) && isatty(STDOUT_FILENO);
}

/* ---- publish ------------------------------------------------------------------ */

typedef struct ctl_delivery {
    rd_kafka_resp_err_t err;
    int done;
    int32_t partition;
    int64_t offset;
} ctl_delivery_t;

/* @locality: called from rd_kafka_poll()/flush() on this thread. */
static void ctl_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    ctl_delivery_t *d = m->_private;
    if (!d)
        return;
    d->err = m->err;
    d->partition = m->partition;
    d->offset = m->offset;
    d->done = 1;
}

/* "ctl-<ms hex>-<random hex>": unique without coordination. */
static char *ctl_new_alert_id(arena_t *arena)
{
    unsigned char rnd[8] = {0};
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, rnd, sizeof(rnd)) : -1;
    if (fd >= 0)
        close(fd);
    if (got != (ssize_t)sizeof(rnd)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^ (uint64_t)rand();
        memcpy(rnd, &x, sizeof(rnd));
    }
    return arena_printf(arena, "ctl-%" PRIx64 "-%02x%02x%02x%02x%02x%02x%02x%02x",
                        (uint64_t)ctl_now_ms(), rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5],
                        rnd[6], rnd[7]);
}

static char **ctl_strv_push(arena_t *arena, char **v, size_t *n, const char *s)
{
    char **nv = arena_alloc(arena, (*n + 1) * sizeof(*nv));
    if (*n)
        memcpy(nv, v, *n * sizeof(*nv));
    nv[(*n)++] = arena_strdup(arena, s);
    return nv;
}

/* Reads all of @p path ("-" = stdin) into a malloc'ed NUL-terminated buffer. */
static char *ctl_read_file(const char *path, char *err, size_t err_size)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            if (cap >= PBJSON_MAX) {
                snprintf(err, err_size, "%s: larger than %u bytes", path, PBJSON_MAX);
                free(buf);
                buf = NULL;
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                snprintf(err, err_size, "%s: %s", path, strerror(errno));
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    if (buf)
        buf[n] = '\0';
    else if (!err[0])
        snprintf(err, err_size, "out of memory");
    if (f != stdin)
        fclose(f);
    return buf;
}

static Incident__V1__Action ctl_action_of(const char *s)
{
    if (strcasecmp(s, "trigger") == 0)
        return INCIDENT__V1__ACTION__ACTION_TRIGGER;
    if (strcasecmp(s, "ack") == 0 || strcasecmp(s, "acknowledge") == 0)
        return INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE;
    if (strcasecmp(s, "resolve") == 0)
        return INCIDENT__V1__ACTION__ACTION_RESOLVE;
    return INCIDENT__V1__ACTION__ACTION_UNSPECIFIED;
}

/* Looks up the dedup_key of incident @p id in Redis. Returns an exit code. */
static int ctl_dedup_of_incident(ctl_t *c, const char *id, arena_t *arena, char **out)
{
    char err[512];
    store_t *st =
        store_admin_open(c->redis, c->redis_user, c->redis_password, c->prefix, err, sizeof(err));
    if (!st) {
        ctl_err(c, "--incident: %s", err);
        return CTL_EXIT_USAGE;
    }
    hd_state_t *state;
    uint64_t version;
    int rc = store_admin_state(st, id, arena, &state, &version, err, sizeof(err));
    store_destroy(st);
    if (rc < 0) {
        ctl_err(c, "--incident %s: %s", id, err);
        return CTL_EXIT_USAGE;
    }
    if (rc == 0 || !state->incident->dedup_key || !state->incident->dedup_key[0]) {
        ctl_err(c,
                "incident %s not found in Redis (closed incidents expire; give "
                "--dedup-key instead)",
                id);
        return CTL_EXIT_FAIL;
    }
    *out = state->incident->dedup_key;
    return CTL_EXIT_OK;
}

/* Produces @p alerts to incidents.detected (idempotent, acks=all) and waits
 * for every delivery report. Returns an exit code. */
static int ctl_produce_alerts(ctl_t *c, hd_alert_t **alerts, size_t n, int64_t timeout_ms)
{
    char err[512], topic[512], tmo[32];
    ctl_topic(c, "incidents.detected", topic, sizeof(topic));
    rd_kafka_conf_t *conf = kafka_conf_new(c->brokers, c->props, err, sizeof(err));
    if (!conf) {
        ctl_err(c, "%s", err);
        return CTL_EXIT_USAGE;
    }
    snprintf(tmo, sizeof(tmo), "%" PRId64, timeout_ms);
    const struct {
        const char *k, *v;
    } pprops[] = {
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", "5"},
        {"message.timeout.ms", tmo},
    };
    for (size_t i = 0; i < sizeof(pprops) / sizeof(pprops[0]); i++)
        if (rd_kafka_conf_set(conf, pprops[i].k, pprops[i].v, err, sizeof(err)) !=
            RD_KAFKA_CONF_OK) {
            ctl_err(c, "kafka %s: %s", pprops[i].k, err);
            rd_kafka_conf_destroy(conf);
            return CTL_EXIT_USAGE;
        }
    rd_kafka_conf_set_dr_msg_cb(conf, ctl_dr_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        ctl_err(c, "kafka: %s", err);
        rd_kafka_conf_destroy(conf);
        return CTL_EXIT_USAGE;
    }
    ctl_delivery_t *dl = calloc(n ? n : 1, sizeof(*dl));
    int rc = CTL_EXIT_OK;
    size_t queued = 0;
    for (size_t i = 0; dl && i < n; i++) {
        size_t len = incident__v1__alert__get_packed_size(alerts[i]);
        uint8_t *buf = malloc(len ? len : 1);
        if (!buf)
            break;
        incident__v1__alert__pack(alerts[i], buf);
        rd_kafka_resp_err_t e;
        for (;;) {
            e = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic),
                RD_KAFKA_V_KEY(alerts[i]->dedup_key, strlen(alerts[i]->dedup_key)),
                RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_OPAQUE(&dl[i]), RD_KAFKA_V_END);
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                break;
            rd_kafka_poll(rk, 100);
        }
        free(buf);
        if (e) {
            ctl_err(c, "alert %s: %s", alerts[i]->alert_id, rd_kafka_err2str(e));
            rc = CTL_EXIT_USAGE;
            break;
        }
        queued++;
    }
    if (!dl) {
        ctl_err(c, "out of memory");
        rc = CTL_EXIT_USAGE;
    }
    rd_kafka_flush(rk, (int)timeout_ms + 5000);
    cJSON *out = c->json ? cJSON_CreateArray() : NULL;
    for (size_t i = 0; i < queued; i++) {
        if (!dl[i].done || dl[i].err) {
            ctl_err(c, "alert %s not delivered to %s: %s", alerts[i]->alert_id, topic,
                    dl[i].done ? rd_kafka_err2str(dl[i].err)
                               : "no delivery report in time (is Kafka reachable?)");
            rc = CTL_EXIT_USAGE;
            continue;
        }
        if (out) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "alert_id", alerts[i]->alert_id);
            cJSON_AddStringToObject(o, "dedup_key", alerts[i]->dedup_key);
            cJSON_AddStringToObject(
                o, "action",
                pbjson_enum_name(&incident__v1__action__descriptor, (int)alerts[i]->action));
            cJSON_AddStringToObject(o, "topic", topic);
            cJSON_AddNumberToObject(o, "partition", dl[i].partition);
            cJSON_AddNumberToObject(o, "offset", (double)dl[i].offset);
            cJSON_AddItemToArray(out, o);
        } else {
            printf("%s\n", alerts[i]->alert_id);
        }
    }
    if (out)
        pbjson_print(out);
    free(dl);
    rd_kafka_destroy(rk);
    return rc;
}

static int ctl_cmd_publish(ctl_t *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"dedup-key", required_argument, NULL, OPT_DEDUP_KEY},
        {"incident", required_argument, NULL, OPT_INCIDENT},
        {"alert-id", required_argument, NULL, OPT_ALERT_ID},
        {"severity", required_argument, NULL, OPT_SEVERITY},
        {"service", required_argument, NULL, OPT_SERVICE},
        {"summary", required_argument, NULL, OPT_SUMMARY},
        {"source", required_argument, NULL, OPT_SOURCE},
        {"site", required_argument, NULL, OPT_SITE},
        {"client", required_argument, NULL, OPT_CLIENT},
        {"label", required_argument, NULL, OPT_LABEL},
        {"actor", required_argument, NULL, OPT_ACTOR},
        {"occurred-at-ms", required_argument, NULL, OPT_OCCURRED},
        {"json-file", required_argument, NULL, OPT_JSON_FILE},
        {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
        {NULL, 0, NULL, 0},
    };
    arena_t arena;
    arena_init(&arena, 0);
    hd_alert_t *a = arena_alloc(&arena, sizeof(*a));
    incident__v1__alert__init(a);
    const char *incident = NULL, *json_file = NULL;
    int alert_flags = 0;
    int64_t timeout_ms = c->timeout_ms;
    int rc = CTL_EXIT_USAGE;
    int opt;
    long long v;
    while ((opt = ctl_getopt(c, argc, argv, CTL_SHORT, opts)) != -1) {
        if (opt == CTL_OPT_BAD)
            goto out;
        alert_flags += opt != OPT_JSON_FILE && opt != OPT_TIMEOUT && opt != 'h';
        switch (opt) {
        case 'h':
            ctl_cmd_help(ctl_find_cmd("publish"), stdout);
            rc = CTL_EXIT_OK;
            goto out;
        case OPT_DEDUP_KEY:
            a->dedup_key = arena_strdup(&arena, optarg);
            break;
        case OPT_INCIDENT:
            incident = optarg;
            break;
        case OPT_ALERT_ID:
            a->alert_id = arena_strdup(&arena, optarg);
            break;
        case OPT_SEVERITY: {
            int sv;
            if (pbjson_enum_value(&incident__v1__severity__descriptor, optarg, &sv) < 0 ||
                sv == 0) {
                rc = ctl_usage_error(c,
                                     "--severity: expected info, warning, minor, major "
                                     "or critical, got '%s'",
                                     optarg);
                goto out;
            }
            a->severity = (Incident__V1__Severity)sv;
            break;
        }
        case OPT_SERVICE:
            a->service = arena_strdup(&arena, optarg);
            break;
        case OPT_SUMMARY:
            a->summary = arena_strdup(&arena, optarg);
            break;
        case OPT_SOURCE:
            a->source = arena_strdup(&arena, optarg);
            break;
        case OPT_SITE:
            a->sites = ctl_strv_push(&arena, a->sites, &a->n_sites, optarg);
            break;
        case OPT_CLIENT:
            a->clients = ctl_strv_push(&arena, a->clients, &a->n_clients, optarg);
            break;
        case OPT_LABEL: {
            const char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                rc = ctl_usage_error(c, "--label: expected key=value, got '%s'", optarg);
                goto out;
            }
            char *key = arena_strndup(&arena, optarg, (size_t)(eq - optarg));
            size_t i;
            for (i = 0; i < a->n_labels; i++)
                if (strcmp(a->labels[i]->key, key) == 0)
                    break;
            if (i == a->n_labels) {
                Incident__V1__Alert__LabelsEntry **nl =
                    arena_alloc(&arena, (a->n_labels + 1) * sizeof(*nl));
                if (a->n_labels)
                    memcpy(nl, a->labels, a->n_labels * sizeof(*nl));
                nl[i] = arena_alloc(&arena, sizeof(**nl));
                incident__v1__alert__labels_entry__init(nl[i]);
                nl[i]->key = key;
                a->labels = nl;
                a->n_labels++;
            }
            a->labels[i]->value = arena_strdup(&arena, eq + 1); /* last wins */
            break;
        }
        case OPT_ACTOR:
            a->actor = arena_strdup(&arena, optarg);
            break;
        case OPT_OCCURRED:
            if (ctl_parse_uint(optarg, INT64_MAX, &v) < 0) {
                rc = ctl_usage_error(c, "--occurred-at-ms: expected Unix milliseconds");
                goto out;
            }
            a->occurred_at_ms = v;
            break;
        case OPT_JSON_FILE:
            json_file = optarg;
            break;
        case OPT_TIMEOUT:
            if (ctl_parse_uint(optarg, 3600000, &v) < 0 || v < 100) {
                rc = ctl_usage_error(c, "--timeout-ms: expected 100..3600000");
                goto out;
            }
            timeout_ms = v;
            break;
        default:
            rc = ctl_bad_option(c, argv, opt);
            goto out;
        }
    }
    Incident__V1__Action action = INCIDENT__V1__ACTION__ACTION_UNSPECIFIED;
    if (optind < argc) {
        action = ctl_action_of(argv[optind]);
        if (action == INCIDENT__V1__ACTION__ACTION_UNSPECIFIED) {
            rc = ctl_usage_error(c, "unknown action '%s': expected trigger, ack or resolve",
                                 argv[optind]);
            goto out;
        }
        optind++;
    }
    if (optind < argc) {
        rc = ctl_usage_error(c, "unexpected argument '%s'", argv[optind]);
        goto out;
    }

    hd_alert_t **alerts = NULL;
    size_t n = 0;
    char err[512] = "";
    if (json_file) {
        if (alert_flags) {
            rc = ctl_usage_error(c, "--json-file cannot be combined with alert flags "
                                    "(--dedup-key, --severity, ...)");
            goto out;
        }
        char *text = ctl_read_file(json_file, err, sizeof(err));
        if (!text) {
            ctl_err(c, "--json-file %s", err);
            goto out;
        }
        const char *end = NULL;
        cJSON *doc = cJSON_ParseWithOpts(text, &end, 1);
        if (!doc) {
            ctl_err(c, "%s: not valid JSON near byte %zu", json_file,
                    end ? (size_t)(end - text) : (size_t)0);
            free(text);
            goto out;
        }
        free(text);
        size_t count = cJSON_IsArray(doc) ? (size_t)cJSON_GetArraySize(doc) : 1;
        if (count == 0) {
            ctl_err(c, "%s: an empty array: no alerts to publish", json_file);
            cJSON_Delete(doc);
            goto out;
        }
        alerts = arena_alloc(&arena, count * sizeof(*alerts));
        const cJSON *item = cJSON_IsArray(doc) ? doc->child : doc;
        for (; item && n < count; item = cJSON_IsArray(doc) ? item->next : NULL) {
            hd_alert_t *x = (hd_alert_t *)pbjson_to_message(&incident__v1__alert__descriptor,
                                                              item, &arena, err, sizeof(err));
            if (!x) {
                ctl_err(c, "%s: alert %zu: %s", json_file, n + 1, err);
                cJSON_Delete(doc);
                goto out;
            }
            if (action && x->action && x->action != action) {
                ctl_err(c, "%s: alert %zu: action %s contradicts the command's %s", json_file,
                        n + 1,
                        pbjson_enum_name(&incident__v1__action__descriptor, (int)x->action),
                        pbjson_enum_name(&incident__v1__action__descriptor, (int)action));
                cJSON_Delete(doc);
                goto out;
            }
            if (!x->action)
                x->action = action;
            alerts[n++] = x;
        }
        cJSON_Delete(doc);
    } else {
        if (!action) {
            rc = ctl_usage_error(c, "which action? publish trigger|ack|resolve");
            goto out;
        }
        if (incident && a->dedup_key && a->dedup_key[0]) {
            rc = ctl_usage_error(c, "give --dedup-key or --incident, not both");
            goto out;
        }
        if (!incident && (!a->dedup_key || !a->dedup_key[0])) {
            rc = ctl_usage_error(c, "--dedup-key KEY (or --incident ID) is required");
            goto out;
        }
        if (incident) {
            rc = ctl_dedup_of_incident(c, incident, &arena, &a->dedup_key);
            if (rc != CTL_EXIT_OK)
                goto out;
            rc = CTL_EXIT_USAGE;
        }
        a->action = action;
        if (!a->source || !a->source[0])
            a->source = (char *)"incidentctl";
        if (action != INCIDENT__V1__ACTION__ACTION_TRIGGER && (!a->actor || !a->actor[0])) {
            const char *user = getenv("USER");
            a->actor = arena_strdup(&arena, user && *user ? user : "incidentctl");
        }
        alerts = arena_alloc(&arena, sizeof(*alerts));
        alerts[n++] = a;
    }
    for (size_t i = 0; i < n; i++) {
        if (!alerts[i]->alert_id || !alerts[i]->alert_id[0])
            alerts[i]->alert_id = ctl_new_alert_id(&arena);
        if (!alerts[i]->occurred_at_ms)
            alerts[i]->occurred_at_ms = ctl_now_ms();
        if (hd_alert_validate(alerts[i], err, sizeof(err)) < 0) {
            if (n > 1)
                ctl_err(c, "alert %zu (%s) is invalid: %s", i + 1, alerts[i]->alert_id, err);
            else
                ctl_err(c, "invalid alert: %s", err);
            goto out;
        }
    }
    rc = ctl_produce_alerts(c, alerts, n, timeout_ms);
out:
    arena_destroy(&arena);
    return rc;
}

/* ---- list --------------------------------------------------------------------- */

static const Incident__V1__Stage ctl_live_stages[] = {
    INCIDENT__V1__STAGE__STAGE_DETECTED, INCIDENT__V1__STAGE__STAGE_CLASSIFIED,
    INCIDENT__V1__STAGE__STAGE_SCOPED,   INCIDENT__V1__STAGE__STAGE_ESCALATED,
    INCIDENT__V1__STAGE__STAGE_RESOLVED,
};

static int ctl_cmp_incident(const void *x, const void *y)
{
    const hd_incident_t *a = *(const hd_incident_t *const *)x;
    const hd_incident_t *b = *(const hd_incident_t *const *)y;
    if (a->detected_at_ms != b->detected_at_ms)
        return a->detected_at_ms < b->detected_at_ms ? -1 : 1;
    return strcmp(a->id, b->id);
}

/* Owner column: the named owner, else the role in short. */
static const char *ctl_owner_text(const hd_incident_t *inc)
{
    if (inc->owner && inc->owner[0])
        return inc->owner;
    switch (inc->owner_role) {
    case INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER:
        return "TM";
    case INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER:
        return "CSM";
    default:
        return "-";
    }
}

static int ctl_owner_match(const hd_incident_t *inc, const char *want)
{
    if (inc->owner && strcasecmp(inc->owner, want) == 0)
        return 1;
    if (strcasecmp(ctl_owner_text(inc), want) == 0)
        return 1;
    int role;
    return pbjson_enum_value(&incident__v1__role__descriptor, want, &role) == 0 &&
           (int)inc->owner_role == role;
}

static int ctl_cmd_list(ctl_t *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"stage", required_argument, NULL, OPT_STAGE},
        {"severity", required_argument, NULL, OPT_SEVERITY},
        {"owner", required_argument, NULL, OPT_OWNER},
        {"kind", required_argument, NULL, OPT_KIND},
        {NULL, 0, NULL, 0},
    };
    int stage = -1, severity = -1, sev_at_least = 0, kind = -1;
    const char *owner = NULL;
    int opt;
    while ((opt = ctl_getopt(c, argc, argv, CTL_SHORT, opts)) != -1) {
        if (opt == CTL_OPT_BAD)
            return CTL_EXIT_USAGE;
        switch (opt) {
        case 'h':
            ctl_cmd_help(ctl_find_cmd("list"), stdout);
            return CTL_EXIT_OK;
        case OPT_STAGE:
            if (pbjson_enum_value(&incident__v1__stage__descriptor, optarg, &stage) < 0 ||
                stage == 0)
                return ctl_usage_error(c,
                                       "--stage: expected detected, classified, scoped, "
                                       "escalated or resolved, got '%s'",
                                       optarg);
            break;
        case OPT_SEVERITY: {
            char buf[64];
            snprintf(buf, sizeof(buf), "%s", optarg);
            size_t len = strlen(buf);
            if (len && buf[len - 1] == '+') {
                sev_at_least = 1;
                buf[len - 1] = '\0';
            }
            if (pbjson_enum_value(&incident__v1__severity__descriptor, buf, &severity) < 0 ||
                severity == 0)
                return ctl_usage_error(c,
                                       "--severity: expected info, warning, minor, major "
                                       "or critical (with '+': at least), got '%s'",
                                       optarg);
            break;
        }
        case OPT_OWNER:
            owner = optarg;
            break;
        case OPT_KIND:
            if (pbjson_enum_value(&incident__v1__kind__descriptor, optarg, &kind) < 0 ||
                kind == 0)
                return ctl_usage_error(c, "--kind: expected incident or disturbance, got '%s'",
                                       optarg);
            break;
        default:
            return ctl_bad_option(c, argv, opt);
        }
    }
    if (optind < argc)
        return ctl_usage_error(c, "unexpected argument '%s'", argv[optind]);
    ctl_decide_color(c);

    char err[512];
    store_t *st =
        store_admin_open(c->redis, c->redis_user, c->redis_password, c->prefix, err, sizeof(err));
    if (!st) {
        ctl_err(c, "%s", err);
        return CTL_EXIT_USAGE;
    }
    arena_t arena;
    arena_init(&arena, 0);
    int rc = CTL_EXIT_OK;
    hd_incident_t **rows = NULL;
    size_t n = 0, cap = 0;
    for (size_t s = 0; s < sizeof(ctl_live_stages) / sizeof(ctl_live_stages[0]); s++) {
        if (stage > 0 && (int)ctl_live_stages[s] != stage)
            continue;
        redisReply *r = store_command(st, "SMEMBERS %sstage:%s", store_ns(st),
                                      hd_stage_name(ctl_live_stages[s]));
        if (!r || r->type != REDIS_REPLY_ARRAY) {
            ctl_err(c, "redis: %s", r && r->type == REDIS_REPLY_ERROR ? r->str : store_error(st));
            if (r)
                freeReplyObject(r);
            rc = CTL_EXIT_USAGE;
            goto out;
        }
        for (size_t i = 0; i < r->elements; i++) {
            hd_state_t *state;
            uint64_t version;
            const char *id = r->element[i]->str ? r->element[i]->str : "";
            int got = store_admin_state(st, id, &arena, &state, &version, err, sizeof(err));
            if (got < 0) {
                ctl_err(c, "%s", err);
                continue;
            }
            if (got == 0)
                continue; /* left the set's stage meanwhile */
            hd_incident_t *inc = state->incident;
            if (severity > 0 &&
                (sev_at_least ? (int)inc->severity < severity : (int)inc->severity != severity))
                continue;
            if (kind > 0 && (int)inc->kind != kind)
                continue;
            if (owner && !ctl_owner_match(inc, owner))
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                hd_incident_t **nr = arena_alloc(&arena, cap * sizeof(*nr));
                if (n)
                    memcpy(nr, rows, n * sizeof(*nr));
                rows = nr;
            }
            rows[n++] = inc;
        }
        freeReplyObject(r);
    }
    if (n > 1)
        qsort(rows, n, sizeof(*rows), ctl_cmp_incident);

    if (c->json) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(arr, pbjson_from_message(&rows[i]->base));
        pbjson_print(arr);
        goto out;
    }
    enum { COLS = 11 };
    static const char *const head[COLS] = {"ID",    "STAGE", "STATUS", "KIND", "SCOPE",  "SEV",
                                           "LEVEL", "OWNER", "ALERTS", "AGE",  "SUMMARY"};
    const char ***cells = arena_alloc(&arena, (n + 1) * sizeof(*cells));
    int width[COLS];
    for (int k = 0; k < COLS; k++)
        width[k] = (int)strlen(head[k]);
    int64_t now = ctl_now_ms();
    for (size_t i = 0; i < n; i++) {
        const hd_incident_t *inc = rows[i];
        const char **row = arena_alloc(&arena, COLS * sizeof(*row));
        char age[32];
        row[0] = inc->id;
        row[1] = hd_stage_name(inc->stage);
        row[2] = hd_status_name(inc->status);
        row[3] = inc->kind ? hd_kind_name(inc->kind) : "-";
        row[4] = inc->scope ? hd_scope_name(inc->scope) : "-";
        row[5] = hd_severity_name(inc->severity);
        row[6] = arena_printf(&arena, "%u", inc->escalation_level);
        row[7] = ctl_owner_text(inc);
        row[8] = arena_printf(&arena, "%u", inc->alert_count);
        row[9] = arena_strdup(&arena, inc->detected_at_ms
                                          ? ctl_age(now - inc->detected_at_ms, age, sizeof(age))
                                          : "-");
        row[10] = inc->summary ? inc->summary : "";
        for (int k = 0; k < COLS - 1; k++)
            if ((int)strlen(ctl_text_safe(row[k])) > width[k])
                width[k] = (int)strlen(ctl_text_safe(row[k]));
        cells[i] = row;
    }
    for (int k = 0; k < COLS; k++) {
        ctl_cell(c, stdout, head[k], C_BOLD, k < COLS - 1 ? width[k] : 0);
        if (k < COLS - 1)
            fputs("  ", stdout);
    }
    fputc('\n', stdout);
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < COLS; k++) {
            const char *color = NULL;
            if (k == 2)
                color = ctl_color_status(rows[i]->status);
            else if (k == 5)
                color = ctl_color_severity(rows[i]->severity);
            ctl_cell(c, stdout, cells[i][k], color, k < COLS - 1 ? width[k] : 0);
            if (k < COLS - 1)
                fputs("  ", stdout);
        }
        fputc('\n', stdout);
    }
out:
    arena_destroy(&arena);
    store_destroy(st);
    return rc;
}

/* ---- reading the audit topic ---------------------------------------------------- */

/* The audit records of one incident, in topic order. */
typedef struct ctl_chain {
    const char *id;
    Incident__V1__AuditRecord **recs;
    size_t n, cap;
    char bad[256]; /* an undecodable record cut the chain here */
} ctl_chain_t;

typedef struct ctl_audit {
    arena_t *arena;
    ctl_progress_t *progress; /* may be NULL */
    strmap_t chains;         /* id -> ctl_chain_t */
    const char *only;         /* keep just this incident (NULL = all) */
    uint64_t records;         /* records read (all incidents) */
} ctl_audit_t;

static int ctl_audit_on_msg(const rd_kafka_message_t *m, void *opaque)
{
    ctl_audit_t *au = opaque;
    au->records++;
    char key[512];
    int has_key = m->key && m->key_len > 0 && m->key_len < sizeof(key);
    if (has_key) {
        memcpy(key, m->key, m->key_len);
        key[m->key_len] = '\0';
        if (au->only && strcmp(key, au->only) != 0)
            return 0; /* not decoded: the common case of show */
    }
    Incident__V1__AuditRecord *rec =
        m->payload ? incident__v1__audit_record__unpack(arena_pb(au->arena), m->len, m->payload)
                   : NULL;
    if (!has_key)
        snprintf(key, sizeof(key), "%s",
                 rec && rec->incident_id[0] ? rec->incident_id : "(no key)");
    if (au->only && strcmp(key, au->only) != 0)
        return 0;
    ctl_chain_t *ch = strmap_get(&au->chains, key);
    if (!ch) {
        ch = arena_alloc(au->arena, sizeof(*ch));
        ch->id = arena_strdup(au->arena, key);
        strmap_put(&au->chains, key, ch);
    }
    if (!rec) {
        if (!ch->bad[0])
            snprintf(ch->bad, sizeof(ch->bad),
                     "record %zu (partition %" PRId32 " offset %" PRId64 ") does not decode",
                     ch->n + 1, m->partition, m->offset);
        return 0;
    }
    if (ch->bad[0])
        return 0; /* the chain is already cut */
    if (ch->n == ch->cap) {
        ch->cap = ch->cap ? ch->cap * 2 : 16;
        Incident__V1__AuditRecord **nv = arena_alloc(au->arena, ch->cap * sizeof(*nv));
        if (ch->n)
            memcpy(nv, ch->recs, ch->n * sizeof(*nv));
        ch->recs = nv;
    }
    ch->recs[ch->n++] = rec;
    return 0;
}

static void ctl_audit_progress(uint64_t done, uint64_t total, void *opaque)
{
    ctl_audit_t *au = opaque;
    ctl_progress_draw(done, total, au->progress);
}

/* Reads the whole audit topic into @p au (bounded). Returns an exit code;
 * with @p missing_ok a topic that does not exist reads as empty. */
static int ctl_audit_read(ctl_t *c, ctl_audit_t *au, int missing_ok)
{
    char topic[512], err[512];
    ctl_topic(c, "ormis.audit", topic, sizeof(topic));
    kafka_read_t r = {
        .brokers = c->brokers,
        .props = c->props,
        .topic = topic,
        .idle_timeout_ms = c->timeout_ms,
        .on_msg = ctl_audit_on_msg,
        .on_progress = au->progress ? ctl_audit_progress : NULL,
        .opaque = au,
        .stop = &ctl_stop,
    };
    int krc = kafka_read_all(&r, err, sizeof(err));
    if (au->progress)
        ctl_progress_end(au->progress);
    if (krc == KAFKA_NOTOPIC && missing_ok)
        return CTL_EXIT_OK;
    if (krc != KAFKA_OK) {
        ctl_err(c, "%s", err);
        return CTL_EXIT_USAGE;
    }
    if (r.incomplete)
        ctl_err(c,
                "warning: %s read only up to the last committed record "
                "(a transaction still open, or interrupted)",
                topic);
    return CTL_EXIT_OK;
}

static cJSON *ctl_chain_json(const ormis_verify_result_t *vr, int ok)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", ok);
    cJSON_AddNumberToObject(o, "records", (double)vr->records);
    cJSON_AddNumberToObject(o, "first_bad", (double)vr->first_bad);
    cJSON_AddStringToObject(o, "reason", vr->reason);
    return o;
}

/* Verifies one chain (an undecodable record breaks it). Returns 0 if ok. */
static int ctl_chain_verify(const ctl_chain_t *ch, ormis_verify_result_t *vr)
{
    /* The audit order is the chain's (seq), not the topic's: see ormis_sort(). */
    ormis_sort((const Incident__V1__AuditRecord **)ch->recs, ch->n);
    int rc = ormis_verify((const Incident__V1__AuditRecord *const *)ch->recs, ch->n, vr);
    if (rc == 0 && ch->bad[0]) {
        vr->first_bad = ch->n + 1;
        vr->records = ch->n + 1;
        snprintf(vr->reason, sizeof(vr->reason), "%s", ch->bad);
        rc = -1;
    }
    if (rc == 0 && ch->n == 0) {
        snprintf(vr->reason, sizeof(vr->reason), "no records");
        rc = -1;
    }
    return rc;
}

/* ---- show --------------------------------------------------------------------- */

static void ctl_show_strv(const char *label, char **v, size_t n)
{
    printf("  %-14s", label);
    if (n == 0)
        fputs("-", stdout);
    for (size_t i = 0; i < n; i++)
        printf("%s%s", i ? ", " : "", ctl_text_safe(v[i]));
    fputc('\n', stdout);
}

static void ctl_show_incident(const ctl_t *c, const hd_incident_t *inc)
{
    char t1[40];
    printf("  %-14s", "stage");
    ctl_cell(c, stdout, hd_stage_name(inc->stage), C_BOLD, 0);
    printf("\n  %-14s", "status");
    ctl_cell(c, stdout, hd_status_name(inc->status), ctl_color_status(inc->status), 0);
    printf("\n  %-14s%s\n", "kind", hd_kind_name(inc->kind));
    printf("  %-14s%s\n", "scope", hd_scope_name(inc->scope));
    printf("  %-14s", "severity");
    ctl_cell(c, stdout, hd_severity_name(inc->severity), ctl_color_severity(inc->severity), 0);
    printf("\n  %-14s%s (%s)\n", "owner",
           inc->owner && inc->owner[0] ? ctl_text_safe(inc->owner) : "-",
           hd_role_name(inc->owner_role));
    printf("  %-14s%u\n", "level", inc->escalation_level);
    printf("  %-14s%s\n", "dedup key", ctl_text_safe(inc->dedup_key));
    printf("  %-14s%s\n", "service",
           inc->service && inc->service[0] ? ctl_text_safe(inc->service) : "-");
    printf("  %-14s%s\n", "summary",
           inc->summary && inc->summary[0] ? ctl_text_safe(inc->summary) : "-");
    ctl_show_strv("sites", inc->sites, inc->n_sites);
    ctl_show_strv("clients", inc->clients, inc->n_clients);
    ctl_show_strv("stakeholders", inc->stakeholders, inc->n_stakeholders);
    const char *comms =
        pbjson_enum_name(&incident__v1__client_comms__descriptor, (int)inc->client_comms);
    printf("  %-14s%s\n", "client comms", comms ? comms : "-");
    printf("  %-14s%s\n", "meeting", inc->resolution_meeting ? "yes" : "no");
    printf("  %-14s%u\n", "alerts", inc->alert_count);
    printf("  %-14s%" PRIu64 "\n", "version", inc->version);
    printf("  %-14s%s\n", "detected", ctl_time(inc->detected_at_ms, t1, sizeof(t1)));
    printf("  %-14s%s\n", "acknowledged", ctl_time(inc->acknowledged_at_ms, t1, sizeof(t1)));
    printf("  %-14s%s\n", "resolved", ctl_time(inc->resolved_at_ms, t1, sizeof(t1)));
    printf("  %-14s%s\n", "closed", ctl_time(inc->closed_at_ms, t1, sizeof(t1)));
}

/* Options of a command that has none but the global ones and --help.
 * Returns -1 to go on with the arguments at optind, or the exit code. */
static int ctl_no_options(ctl_t *c, int argc, char **argv, const char *cmd)
{
    static const struct option opts[] = {
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = ctl_getopt(c, argc, argv, CTL_SHORT, opts)) != -1) {
        if (opt == CTL_OPT_BAD)
            return CTL_EXIT_USAGE;
        if (opt == 'h') {
            ctl_cmd_help(ctl_find_cmd(cmd), stdout);
            return CTL_EXIT_OK;
        }
        return ctl_bad_option(c, argv, opt);
    }
    return -1;
}

static int ctl_cmd_show(ctl_t *c, int argc, char **argv)
{
    int done = ctl_no_options(c, argc, argv, "show");
    if (done >= 0)
        return done;
    if (optind >= argc)
        return ctl_usage_error(c, "which incident? show ID");
    if (optind + 1 < argc)
        return ctl_usage_error(c, "unexpected argument '%s'", argv[optind + 1]);
    const char *id = argv[optind];
    ctl_decide_color(c);

    char err[512];
    store_t *st =
        store_admin_open(c->redis, c->redis_user, c->redis_password, c->prefix, err, sizeof(err));
    if (!st) {
        ctl_err(c, "%s", err);
        return CTL_EXIT_USAGE;
    }
    arena_t arena;
    arena_init(&arena, 0);
    hd_state_t *state = NULL;
    uint64_t version = 0;
    int live = store_admin_state(st, id, &arena, &state, &version, err, sizeof(err));
    store_destroy(st);
    int rc = CTL_EXIT_OK;
    ctl_audit_t au = {.arena = &arena, .only = id};
    strmap_init(&au.chains);
    if (live < 0) {
        ctl_err(c, "%s", err);
        rc = CTL_EXIT_USAGE;
        goto out;
    }
    ctl_progress_t progress = {.on = !c->json && isatty(STDERR_FILENO),
                               .what = "reading ormis.audit"};
    au.progress = &progress;
    rc = ctl_audit_read(c, &au, 1);
    if (rc != CTL_EXIT_OK)
        goto out;
    ctl_chain_t *ch = strmap_get(&au.chains, id);
    if (live == 0 && !ch) {
        ctl_err(c, "incident %s not found (not in Redis, no audit records)", id);
        rc = CTL_EXIT_FAIL;
        goto out;
    }
    ormis_verify_result_t vr;
    memset(&vr, 0, sizeof(vr));
    int chain_ok = ch ? ctl_chain_verify(ch, &vr) == 0 : 0;
    if (!ch)
        snprintf(vr.reason, sizeof(vr.reason), "no audit records");
    const hd_incident_t *inc = live == 1 ? state->incident
                               : ch && ch->n && ch->recs[ch->n - 1]->snapshot
                                   ? ch->recs[ch->n - 1]->snapshot
                                   : NULL;
    if (c->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", id);
        cJSON_AddBoolToObject(o, "live", live == 1);
        cJSON_AddStringToObject(o, "source", live == 1 ? "redis" : inc ? "audit" : "none");
        if (live == 1)
            cJSON_AddNumberToObject(o, "redis_version", (double)version);
        cJSON_AddItemToObject(o, "incident",
                              inc ? pbjson_from_message(&inc->base) : cJSON_CreateNull());
        cJSON *tl = cJSON_AddArrayToObject(o, "timeline");
        for (size_t i = 0; ch && i < ch->n; i++)
            cJSON_AddItemToArray(tl, pbjson_from_message(&ch->recs[i]->base));
        cJSON_AddItemToObject(o, "chain", ctl_chain_json(&vr, chain_ok));
        pbjson_print(o);
        goto out;
    }
    printf("Incident ");
    ctl_cell(c, stdout, id, C_BOLD, 0);
    if (live == 1)
        printf("  (live in Redis, version %" PRIu64 ")\n", version);
    else
        printf("  (not in Redis: %s)\n", inc ? "last audit snapshot" : "no snapshot");
    if (inc)
        ctl_show_incident(c, inc);
    size_t nrec = ch ? ch->n : 0;
    printf("\nTimeline (%sormis.audit, %zu record%s)\n", c->prefix, nrec, nrec == 1 ? "" : "s");
    if (nrec) {
        int wa = 6, ws = 5, wr = 5;
        for (size_t i = 0; i < nrec; i++) {
            const Incident__V1__AuditRecord *r = ch->recs[i];
            int l = (int)strlen(ctl_text_safe(r->action));
            wa = l > wa ? l : wa;
            l = (int)strlen(hd_stage_name(r->stage));
            ws = l > ws ? l : ws;
            l = (int)strlen(ctl_text_safe(r->actor));
            wr = l > wr ? l : wr;
        }
        printf("  %-4s  %-24s  %-*s  %-*s  %-*s  %s\n", "SEQ", "TIME", ws, "STAGE", wa, "ACTION",
               wr, "ACTOR", "DETAIL");
        for (size_t i = 0; i < nrec; i++) {
            const Incident__V1__AuditRecord *r = ch->recs[i];
            char t[40];
            const char *color = vr.first_bad && i + 1 >= vr.first_bad ? C_RED : NULL;
            printf("  %-4" PRIu64 "  %-24s  %-*s  ", r->seq, ctl_time(r->at_ms, t, sizeof(t)), ws,
                   hd_stage_name(r->stage));
            ctl_cell(c, stdout, r->action, color, wa);
            printf("  %-*s  %s\n", wr, ctl_text_safe(r->actor), ctl_text_safe(r->detail));
        }
    }
    printf("\nChain: ");
    if (!ch)
        printf("no audit records\n");
    else if (chain_ok)
        ctl_cell(c, stdout, "verified", C_GREEN, 0);
    else
        ctl_cell(c, stdout, "BROKEN", C_BRED, 0);
    if (ch && chain_ok)
        printf(" (%" PRIu64 " records, head %.12s)\n", vr.records,
               ctl_text_safe(ch->recs[ch->n - 1]->hash));
    else if (ch)
        printf(": %s\n", ctl_text_safe(vr.reason));
out:
    strmap_destroy(&au.chains);
    arena_destroy(&arena);
    return rc;
}

/* ---- verify ------------------------------------------------------------------- */

static int ctl_cmd_verify(ctl_t *c, int argc, char **argv)
{
    int done = ctl_no_options(c, argc, argv, "verify");
    if (done >= 0)
        return done;
    if (optind + 1 < argc)
        return ctl_usage_error(c, "unexpected argument '%s'", argv[optind + 1]);
    const char *only = optind < argc ? argv[optind] : NULL;
    ctl_decide_color(c);

    arena_t arena;
    arena_init(&arena, 0);
    ctl_audit_t au = {.arena = &arena, .only = only};
    strmap_init(&au.chains);
    ctl_progress_t progress = {.on = !c->json && isatty(STDERR_FILENO),
                               .what = "reading ormis.audit"};
    au.progress = &progress;
    int rc = ctl_audit_read(c, &au, 0);
    if (rc != CTL_EXIT_OK)
        goto out;
    if (only && !strmap_get(&au.chains, only)) {
        ctl_err(c, "no audit records for incident %s", only);
        rc = CTL_EXIT_FAIL;
        goto out;
    }
    uint64_t records = 0, broken = 0;
    cJSON *arr = c->json ? cJSON_CreateArray() : NULL;
    int wid = 0;
    for (size_t i = 0; i < au.chains.n; i++) {
        int l = (int)strlen(au.chains.keys[i]);
        wid = l > wid ? l : wid;
    }
    for (size_t i = 0; i < au.chains.n; i++) {
        const ctl_chain_t *ch = au.chains.values[i];
        ormis_verify_result_t vr;
        int ok = ctl_chain_verify(ch, &vr) == 0;
        records += ch->n + (ch->bad[0] ? 1 : 0);
        broken += !ok;
        if (arr) {
            cJSON *o = ctl_chain_json(&vr, ok);
            cJSON_AddStringToObject(o, "id", ch->id);
            cJSON_ReplaceItemInObject(o, "records", cJSON_CreateNumber((double)ch->n));
            cJSON_AddItemToArray(arr, o);
            continue;
        }
        ctl_cell(c, stdout, ok ? "ok" : "BROKEN", ok ? C_GREEN : C_BRED, 7);
        printf(" %-*s  %zu record%s", wid, ctl_text_safe(ch->id), ch->n, ch->n == 1 ? "" : "s");
        if (!ok)
            printf(": %s", ctl_text_safe(vr.reason));
        fputc('\n', stdout);
    }
    if (arr) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "incidents", arr);
        cJSON_AddNumberToObject(o, "incident_count", (double)au.chains.n);
        cJSON_AddNumberToObject(o, "record_count", (double)records);
        cJSON_AddNumberToObject(o, "broken_count", (double)broken);
        pbjson_print(o);
    } else {
        printf("%zu incident%s, %" PRIu64 " record%s, %" PRIu64 " broken\n", au.chains.n,
               au.chains.n == 1 ? "" : "s", records, records == 1 ? "" : "s", broken);
    }
    rc = broken ? CTL_EXIT_FAIL : CTL_EXIT_OK;
out:
    strmap_destroy(&au.chains);
    arena_destroy(&arena);
    return rc;
}

/* ---- rebuild ------------------------------------------------------------------ */

static int ctl_cmd_rebuild(ctl_t *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"yes", no_argument, NULL, OPT_YES},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"ack-timeout", required_argument, NULL, OPT_ACK_TIMEOUT},
        {"max-level", required_argument, NULL, OPT_MAX_LEVEL},
        {"retention", required_argument, NULL, OPT_RETENTION},
        {"skip-broken", no_argument, NULL, OPT_SKIP_BROKEN},
        {NULL, 0, NULL, 0},
    };
    rebuild_opts_t o = {0};
    int yes = 0;
    int opt;
    long long v;
    while ((opt = ctl_getopt(c, argc, argv, CTL_SHORT, opts)) != -1) {
        if (opt == CTL_OPT_BAD)
            return CTL_EXIT_USAGE;
        switch (opt) {
        case 'h':
            ctl_cmd_help(ctl_find_cmd("rebuild"), stdout);
            return CTL_EXIT_OK;
        case OPT_YES:
            yes = 1;
            break;
        case OPT_DRY_RUN:
            o.dry_run = 1;
            break;
        case OPT_ACK_TIMEOUT:
            if (ctl_parse_duration(optarg, &o.ack_timeout_ms) < 0 || o.ack_timeout_ms <= 0)
                return ctl_usage_error(c,
                                       "--ack-timeout: expected a duration such as 30m, "
                                       "got '%s'",
                                       optarg);
            break;
        case OPT_RETENTION:
            if (ctl_parse_duration(optarg, &o.retention_ms) < 0 || o.retention_ms <= 0)
                return ctl_usage_error(c,
                                       "--retention: expected a duration such as 7d, "
                                       "got '%s'",
                                       optarg);
            break;
        case OPT_MAX_LEVEL:
            if (ctl_parse_uint(optarg, 100, &v) < 0 || v < 1)
                return ctl_usage_error(c, "--max-level: expected 1..100, got '%s'", optarg);
            o.max_level = (uint32_t)v;
            break;
        case OPT_SKIP_BROKEN:
            o.skip_broken = 1;
            break;
        default:
            return ctl_bad_option(c, argv, opt);
        }
    }
    if (optind < argc)
        return ctl_usage_error(c, "unexpected argument '%s'", argv[optind]);
    ctl_decide_color(c);
    char where[512], topic[512];
    store_admin_redact(c->redis, where, sizeof(where));
    ctl_topic(c, "ormis.audit", topic, sizeof(topic));
    if (!yes && !o.dry_run) {
        if (!isatty(STDIN_FILENO)) {
            ctl_err(c, "this writes the live state in %s: pass --yes (or --dry-run)", where);
            return CTL_EXIT_USAGE;
        }
        fprintf(stderr, "Rebuild the live state in %s from %s on %s? [y/N] ", where, topic,
                c->brokers);
        char answer[16] = "";
        if (!fgets(answer, sizeof(answer), stdin) || (answer[0] != 'y' && answer[0] != 'Y')) {
            ctl_err(c, "not confirmed: nothing written");
            return CTL_EXIT_USAGE;
        }
    }
    ctl_progress_t progress = {.on = !c->json && isatty(STDERR_FILENO),
                               .what = "reading ormis.audit"};
    if (!o.ack_timeout_ms)
        o.ack_timeout_ms = c->ack_timeout_ms;
    if (!o.max_level)
        o.max_level = c->max_level;
    if (!o.retention_ms)
        o.retention_ms = c->retention_ms;
    o.redis_user = c->redis_user;
    o.redis_password = c->redis_password;
    o.kafka_props = c->props;
    o.idle_timeout_ms = c->timeout_ms;
    o.progress = ctl_progress_draw;
    o.opaque = &progress;
    o.stop = &ctl_stop;
    rebuild_stats_t s;
    char err[512];
    int rrc = rebuild(c->brokers, c->redis, c->prefix, &o, &s, err, sizeof(err));
    ctl_progress_end(&progress);
    if (rrc < 0) {
        ctl_err(c, "%s", err);
        return CTL_EXIT_USAGE;
    }
    if (s.incomplete)
        ctl_err(c,
                "warning: %s read only up to the last committed record "
                "(a transaction still open?)",
                topic);
    if (c->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "dry_run", o.dry_run);
        cJSON_AddNumberToObject(j, "records", (double)s.records);
        cJSON_AddNumberToObject(j, "undecodable", (double)s.undecodable);
        cJSON_AddNumberToObject(j, "incidents", (double)s.incidents);
        cJSON_AddNumberToObject(j, "written", (double)s.written);
        cJSON_AddNumberToObject(j, "up_to_date", (double)s.up_to_date);
        cJSON_AddNumberToObject(j, "newer_in_redis", (double)s.newer);
        cJSON_AddNumberToObject(j, "closed", (double)s.closed);
        cJSON_AddNumberToObject(j, "expired", (double)s.expired);
        cJSON_AddNumberToObject(j, "timers", (double)s.timers);
        cJSON_AddNumberToObject(j, "broken", (double)s.broken);
        cJSON_AddNumberToObject(j, "skipped", (double)s.skipped);
        cJSON_AddBoolToObject(j, "incomplete", s.incomplete);
        pbjson_print(j);
        return CTL_EXIT_OK;
    }
    printf("%s%" PRIu64 " records of %" PRIu64 " incidents read from %s\n",
           o.dry_run ? "dry run: " : "", s.records, s.incidents, topic);
    printf("%" PRIu64 " %s, %" PRIu64 " up to date, %" PRIu64 " newer in Redis (left alone), "
           "%" PRIu64 " closed (not restored), %" PRIu64 " closed and set to expire, %" PRIu64
           " ack timer%s %s\n",
           s.written, o.dry_run ? "to write" : "written", s.up_to_date, s.newer, s.closed,
           s.expired, s.timers, s.timers == 1 ? "" : "s", o.dry_run ? "to arm" : "armed");
    if (s.undecodable)
        printf("%" PRIu64 " undecodable record%s skipped\n", s.undecodable,
               s.undecodable == 1 ? "" : "s");
    if (s.broken) {
        ctl_cell(c, stdout, "warning:", C_YELLOW, 0);
        printf(" %" PRIu64 " incident%s with a broken chain (%s; run 'incidentctl verify')\n",
               s.broken, s.broken == 1 ? "" : "s", o.skip_broken ? "left alone" : "rebuilt anyway");
    }
    return CTL_EXIT_OK;
}

/* ---- tail --------------------------------------------------------------------- */

typedef struct ctl_tail {
    ctl_t *c;
    long long max; /* 0 = no limit */
    long long printed;
} ctl_tail_t;

static int ctl_tail_on_msg(const rd_kafka_message_t *m, void *opaque)
{
    ctl_tail_t *tl = opaque;
    ctl_t *c = tl->c;
    const char *full = rd_kafka_topic_name(m->rkt);
    size_t plen = strlen(c->prefix);
    const char *name = strncmp(full, c->prefix, plen) == 0 ? full + plen : full;
    int audit = strcmp(name, "ormis.audit") == 0;
    arena_t arena;
    arena_init(&arena, 4096);
    ProtobufCMessage *msg = m->payload
                                ? audit ? (ProtobufCMessage *)incident__v1__audit_record__unpack(
                                              arena_pb(&arena), m->len, m->payload)
                                        : (ProtobufCMessage *)incident__v1__incident_event__unpack(
                                              arena_pb(&arena), m->len, m->payload)
                                : NULL;
    if (c->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "topic", name);
        cJSON_AddNumberToObject(o, "partition", m->partition);
        cJSON_AddNumberToObject(o, "offset", (double)m->offset);
        cJSON_AddStringToObject(o, "key", "");
        if (m->key)
            cJSON_ReplaceItemInObject(
                o, "key", cJSON_CreateString(arena_strndup(&arena, m->key, m->key_len)));
        cJSON_AddItemToObject(o, audit ? "record" : "event",
                              msg ? pbjson_from_message(msg) : cJSON_CreateNull());
        char *s = cJSON_PrintUnformatted(o);
        if (s)
            printf("%s\n", s);
        free(s);
        cJSON_Delete(o);
    } else {
        char t[40];
        const char *id = "?", *summary = "";
        const hd_incident_t *inc = NULL;
        int64_t at = 0;
        if (msg && audit) {
            const Incident__V1__AuditRecord *r = (const Incident__V1__AuditRecord *)msg;
            id = r->incident_id;
            inc = r->snapshot;
            at = r->at_ms;
            summary = arena_printf(&arena, "%s: %s", r->action, r->detail);
        } else if (msg) {
            const hd_event_t *ev = (const hd_event_t *)msg;
            inc = ev->incident;
            id = inc && inc->id ? inc->id : "?";
            at = ev->at_ms;
            summary = inc && inc->summary ? inc->summary : "";
        } else {
            summary = arena_printf(&arena, "(undecodable record, %zu bytes)", m->len);
        }
        if (!at) {
            rd_kafka_timestamp_type_t tt;
            at = rd_kafka_message_timestamp(m, &tt);
        }
        printf("%s  ", ctl_time(at, t, sizeof(t)));
        ctl_cell(c, stdout, name, C_DIM, 20);
        printf("  %s  ", ctl_text_safe(id));
        ctl_cell(c, stdout, inc ? hd_stage_name(inc->stage) : "-", NULL, 10);
        fputs("  ", stdout);
        ctl_cell(c, stdout, inc ? hd_status_name(inc->status) : "-",
                 inc ? ctl_color_status(inc->status) : NULL, 12);
        printf("  %s\n", ctl_text_safe(summary));
    }
    fflush(stdout);
    arena_destroy(&arena);
    tl->printed++;
    return tl->max > 0 && tl->printed >= tl->max;
}

static int ctl_cmd_tail(ctl_t *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"from-beginning", no_argument, NULL, OPT_FROM_BEGINNING},
        {"topic", required_argument, NULL, OPT_TOPIC},
        {"audit", no_argument, NULL, OPT_AUDIT},
        {"max", required_argument, NULL, OPT_MAX},
        {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
        {NULL, 0, NULL, 0},
    };
    static const char *const stage_topics[] = {"incidents.classified", "incidents.scoped",
                                               "incidents.escalated", "incidents.resolved"};
    const char *names[16];
    size_t n_names = 0;
    int from_beginning = 0, audit = 0;
    ctl_tail_t tl = {.c = c};
    long long timeout = 0;
    int opt;
    while ((opt = ctl_getopt(c, argc, argv, CTL_SHORT, opts)) != -1) {
        if (opt == CTL_OPT_BAD)
            return CTL_EXIT_USAGE;
        switch (opt) {
        case 'h':
            ctl_cmd_help(ctl_find_cmd("tail"), stdout);
            return CTL_EXIT_OK;
        case OPT_FROM_BEGINNING:
            from_beginning = 1;
            break;
        case OPT_TOPIC:
            if (n_names == 10)
                return ctl_usage_error(c, "--topic: at most 10");
            names[n_names++] = optarg;
            break;
        case OPT_AUDIT:
            audit = 1;
            break;
        case OPT_MAX:
            if (ctl_parse_uint(optarg, INT32_MAX, &tl.max) < 0 || tl.max < 1)
                return ctl_usage_error(c, "--max: expected a positive number, got '%s'", optarg);
            break;
        case OPT_TIMEOUT:
            if (ctl_parse_uint(optarg, INT32_MAX, &timeout) < 0 || timeout < 1)
                return ctl_usage_error(c, "--timeout-ms: expected a positive number, got '%s'",
                                       optarg);
            break;
        default:
            return ctl_bad_option(c, argv, opt);
        }
    }
    if (optind < argc)
        return ctl_usage_error(c, "unexpected argument '%s'", argv[optind]);
    if (n_names == 0)
        for (size_t i = 0; i < 4; i++)
            names[n_names++] = stage_topics[i];
    if (audit)
        names[n_names++] = "ormis.audit";
    ctl_decide_color(c);

    char bufs[16][512];
    const char *topics[16];
    for (size_t i = 0; i < n_names; i++) {
        /* "escalated" is short for incidents.escalated */
        const char *nm = names[i];
        if (!strchr(nm, '.'))
            snprintf(bufs[i], sizeof(bufs[i]), "%sincidents.%s", c->prefix, nm);
        else
            ctl_topic(c, nm, bufs[i], sizeof(bufs[i]));
        topics[i] = bufs[i];
    }
    kafka_follow_t f = {
        .brokers = c->brokers,
        .props = c->props,
        .topics = topics,
        .n_topics = n_names,
        .from_beginning = from_beginning,
        .timeout_ms = timeout,
        .metadata_timeout_ms = c->timeout_ms,
        .on_msg = ctl_tail_on_msg,
        .opaque = &tl,
        .stop = &ctl_stop,
    };
    char err[512];
    if (kafka_follow(&f, err, sizeof(err)) != KAFKA_OK) {
        ctl_err(c, "%s", err);
        return CTL_EXIT_USAGE;
    }
    return CTL_EXIT_OK;
}

/* ---- dlq ---------------------------------------------------------------------- */

typedef struct ctl_dead {
    int64_t ts;
    int32_t partition;
    int64_t offset;
    size_t size;
    char key[256], error[512], stage[64], src_topic[256], src_partition[16], src_offset[24];
} ctl_dead_t;

typedef struct ctl_dlq {
    ctl_dead_t *ring; /* the last max records */
    size_t max, n, next;
    uint64_t total;
    ctl_progress_t *progress;
} ctl_dlq_t;

static void ctl_dlq_progress(uint64_t done, uint64_t total, void *opaque)
{
    ctl_dlq_t *q = opaque;
    ctl_progress_draw(done, total, q->progress);
}

static int ctl_dlq_on_msg(const rd_kafka_message_t *m, void *opaque)
{
    ctl_dlq_t *q = opaque;
    ctl_dead_t *d = &q->ring[q->next];
    q->next = (q->next + 1) % q->max;
    if (q->n < q->max)
        q->n++;
    q->total++;
    rd_kafka_timestamp_type_t tt;
    d->ts = rd_kafka_message_timestamp(m, &tt);
    d->partition = m->partition;
    d->offset = m->offset;
    d->size = m->len;
    size_t kl = m->key_len < sizeof(d->key) ? m->key_len : sizeof(d->key) - 1;
    if (m->key)
        memcpy(d->key, m->key, kl);
    d->key[m->key ? kl : 0] = '\0';
    kafka_header(m, "x-error", d->error, sizeof(d->error));
    kafka_header(m, "x-stage", d->stage, sizeof(d->stage));
    kafka_header(m, "x-source-topic", d->src_topic, sizeof(d->src_topic));
    kafka_header(m, "x-source-partition", d->src_partition, sizeof(d->src_partition));
    kafka_header(m, "x-source-offset", d->src_offset, sizeof(d->src_offset));
    return 0;
}

static int ctl_cmd_dlq(ctl_t *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"max", required_argument, NULL, OPT_MAX},
        {NULL, 0, NULL, 0},
    };
    long long max = 100;
    int opt;
    while ((opt = ctl_getopt(c, argc, argv, CTL_SHORT, opts)) != -1) {
        if (opt == CTL_OPT_BAD)
            return CTL_EXIT_USAGE;
        switch (opt) {
        case 'h':
            ctl_cmd_help(ctl_find_cmd("dlq"), stdout);
            return CTL_EXIT_OK;
        case OPT_MAX:
            if (ctl_parse_uint(optarg, 100000, &max) < 0 || max < 1)
                return ctl_usage_error(c, "--max: expected 1..100000, got '%s'", optarg);
            break;
        default:
            return ctl_bad_option(c, argv, opt);
        }
    }
    if (optind < argc)
        return ctl_usage_error(c, "unexpected argument '%s'", argv[optind]);
    ctl_decide_color(c);
    ctl_progress_t progress = {.on = !c->json && isatty(STDERR_FILENO),
                               .what = "reading incidents.dlq"};
    ctl_dlq_t q = {.max = (size_t)max, .progress = &progress};
    q.ring = calloc(q.max, sizeof(*q.ring));
    if (!q.ring) {
        ctl_err(c, "out of memory");
        return CTL_EXIT_USAGE;
    }
    char topic[512], err[512];
    ctl_topic(c, "incidents.dlq", topic, sizeof(topic));
    kafka_read_t r = {
        .brokers = c->brokers,
        .props = c->props,
        .topic = topic,
        .idle_timeout_ms = c->timeout_ms,
        .on_msg = ctl_dlq_on_msg,
        .on_progress = progress.on ? ctl_dlq_progress : NULL,
        .opaque = &q,
        .stop = &ctl_stop,
    };
    int krc = kafka_read_all(&r, err, sizeof(err));
    ctl_progress_end(&progress);
    int rc = CTL_EXIT_OK;
    if (krc == KAFKA_NOTOPIC) {
        if (c->json)
            pbjson_print(cJSON_CreateArray());
        else
            printf("no dead letters (%s does not exist yet)\n", topic);
        goto out;
    }
    if (krc != KAFKA_OK) {
        ctl_err(c, "%s", err);
        rc = CTL_EXIT_USAGE;
        goto out;
    }
    size_t first = q.n < q.max ? 0 : q.next;
    cJSON *arr = c->json ? cJSON_CreateArray() : NULL;
    int wk = 3, ws = 5;
    for (size_t k = 0; k < q.n; k++) {
        const ctl_dead_t *d = &q.ring[(first + k) % q.max];
        int lk = (int)strlen(ctl_text_safe(d->key)), ls = (int)strlen(ctl_text_safe(d->stage));
        wk = lk > wk ? lk : wk;
        ws = ls > ws ? ls : ws;
    }
    if (!arr && q.n)
        printf("%-24s  %-*s  %-*s  %-32s  %s\n", "TIME", wk, "KEY", ws, "STAGE", "SOURCE", "ERROR");
    for (size_t k = 0; k < q.n; k++) {
        const ctl_dead_t *d = &q.ring[(first + k) % q.max];
        if (arr) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "timestamp_ms", (double)d->ts);
            cJSON_AddNumberToObject(o, "partition", d->partition);
            cJSON_AddNumberToObject(o, "offset", (double)d->offset);
            /* A dead letter's key is whatever the sender sent: JSON holds
             * UTF-8 only, so bytes that are not are shown escaped. */
            cJSON_AddStringToObject(
                o, "key", utf8_valid(d->key, strlen(d->key)) ? d->key : ctl_text_safe(d->key));
            cJSON_AddNumberToObject(o, "size", (double)d->size);
            cJSON_AddStringToObject(o, "x-error", d->error);
            cJSON_AddStringToObject(o, "x-stage", d->stage);
            cJSON_AddStringToObject(o, "x-source-topic", d->src_topic);
            cJSON_AddStringToObject(o, "x-source-partition", d->src_partition);
            cJSON_AddStringToObject(o, "x-source-offset", d->src_offset);
            cJSON_AddItemToArray(arr, o);
            continue;
        }
        char t[40], src[600];
        snprintf(src, sizeof(src), "%s[%s]@%s", d->src_topic[0] ? d->src_topic : "?",
                 d->src_partition[0] ? d->src_partition : "?",
                 d->src_offset[0] ? d->src_offset : "?");
        printf("%-24s  %-*s  %-*s  %-32s  ", ctl_time(d->ts, t, sizeof(t)), wk,
               ctl_text_safe(d->key), ws, ctl_text_safe(d->stage), ctl_text_safe(src));
        ctl_cell(c, stdout, d->error, C_RED, 0);
        fputc('\n', stdout);
    }
    if (arr)
        pbjson_print(arr);
    else if (q.total > q.n)
        printf("(%" PRIu64 " dead letters, the last %zu shown; --max N for more)\n", q.total, q.n);
    else if (q.n == 0)
        printf("no dead letters in %s\n", topic);
out:
    free(q.ring);
    return rc;
}

/* ---- the command table ---------------------------------------------------------- */

static const ctl_cmd_t ctl_cmds[] = {
    {
        .name = "publish",
        .args = "trigger|ack|resolve [options]   |   publish --json-file FILE|-",
        .summary = "publish an alert to incidents.detected",
        .help = "  --dedup-key KEY        the alert's dedup key (required, or --incident)\n"
                "  --incident ID          use the dedup key of this live incident (Redis)\n"
                "  --alert-id ID          default: a generated unique id\n"
                "  --severity S           info|warning|minor|major|critical (trigger)\n"
                "  --service NAME         affected service\n"
                "  --summary TEXT         one line for humans\n"
                "  --source NAME          who saw it (default incidentctl)\n"
                "  --site SITE            affected site, repeatable ('*' = all sites)\n"
                "  --client CLIENT        affected client, repeatable\n"
                "  --label KEY=VALUE      free label, repeatable (scope=global forces GLOBAL)\n"
                "  --actor NAME           who acknowledges/resolves (default $USER)\n"
                "  --occurred-at-ms MS    when it was seen (default now)\n"
                "  --json-file FILE|-     alert(s) in the protobuf JSON mapping: one object\n"
                "                         or an array; camelCase or proto field names, enums\n"
                "                         by name (\"ACTION_TRIGGER\", \"SEVERITY_MAJOR\"); the\n"
                "                         command's action fills a missing \"action\"\n"
                "  --timeout-ms N         wait at most N ms for delivery (default 30000)\n"
                "Alerts are checked against the contract before sending (exit 2 when\n"
                "invalid), produced keyed by dedup_key (idempotent, acks=all); the alert\n"
                "ids are printed once delivered.\n",
        .exec = ctl_cmd_publish,
    },
    {
        .name = "list",
        .args = "[--stage S] [--severity S[+]] [--owner O] [--kind K]",
        .summary = "list the live incidents (Redis)",
        .help = "  --stage S              detected|classified|scoped|escalated|resolved\n"
                "  --severity S           exactly S; 'major+' = major or worse\n"
                "  --owner O              named owner, or TM / CSM / a role name\n"
                "  --kind K               incident|disturbance\n"
                "Columns: ID STAGE STATUS KIND SCOPE SEV LEVEL OWNER ALERTS AGE SUMMARY,\n"
                "oldest first; --json prints an array of incident.v1.Incident.\n",
        .exec = ctl_cmd_list,
    },
    {
        .name = "show",
        .args = "ID",
        .summary = "one incident: live state and ORMIS timeline",
        .help = "Reads the state from Redis (when still live) and the incident's records\n"
                "from ormis.audit (the whole topic up to its current end, committed\n"
                "records only), prints the timeline and whether its hash chain verifies.\n"
                "Exit 1 when the incident is neither in Redis nor in the audit topic.\n",
        .exec = ctl_cmd_show,
    },
    {
        .name = "verify",
        .args = "[ID]",
        .summary = "verify the ORMIS hash chains (all incidents, or one)",
        .help = "Reads ormis.audit up to its current end, groups the records per incident\n"
                "in topic order and verifies each chain (seq 1..n, prev_hash, hash).\n"
                "Exit 0 when every chain verifies, 1 when any is broken (or ID has none).\n",
        .exec = ctl_cmd_verify,
    },
    {
        .name = "rebuild",
        .args = "[--yes] [--dry-run] [options]",
        .summary = "rebuild the live Redis state from ormis.audit",
        .help = "  --yes                  do it without asking\n"
                "  --dry-run              read and compare only, write nothing\n"
                "  --ack-timeout D        re-armed ack timers fire at the last record + D\n"
                "                         (default 30m)\n"
                "  --max-level N          highest escalation level (default 3)\n"
                "  --retention D          closed incidents still in Redis expire after D (7d)\n"
                "  --skip-broken          leave incidents whose chain is broken alone\n"
                "Writes an incident only when Redis has no state for it or an older\n"
                "version (never backwards); closed incidents are not brought back.\n",
        .exec = ctl_cmd_rebuild,
    },
    {
        .name = "tail",
        .args = "[--from-beginning] [--topic T]... [--audit] [--max N] [--timeout-ms N]",
        .summary = "follow the stage topics, one line per transition",
        .help = "  --from-beginning       start at the beginning (default: new records only)\n"
                "  --topic T              a topic instead of the four stage topics\n"
                "                         (repeatable; 'escalated' = incidents.escalated)\n"
                "  --audit                follow ormis.audit too\n"
                "  --max N                stop after N lines\n"
                "  --timeout-ms N         stop after N ms\n"
                "Stops on Ctrl-C. With --json: one JSON object per line.\n",
        .exec = ctl_cmd_tail,
    },
    {
        .name = "dlq",
        .args = "[--max N]",
        .summary = "list the dead letters with their x-error / x-stage / x-source headers",
        .help = "  --max N                show the last N (default 100)\n",
        .exec = ctl_cmd_dlq,
    },
};

#define CTL_N_CMDS (sizeof(ctl_cmds) / sizeof(ctl_cmds[0]))

static const ctl_cmd_t *ctl_find_cmd(const char *name)
{
    for (size_t i = 0; i < CTL_N_CMDS; i++)
        if (strcmp(ctl_cmds[i].name, name) == 0)
            return &ctl_cmds[i];
    return NULL;
}

static void ctl_cmd_help(const ctl_cmd_t *cmd, FILE *out)
{
    fprintf(out, "Usage: incidentctl [global options] %s %s\n\n%s.\n\n", cmd->name, cmd->args,
            cmd->summary);
    fprintf(out, "Options:\n%s\n%s", cmd->help, ctl_global_help);
}

static void ctl_help(FILE *out)
{
    fprintf(out, "Usage: incidentctl [global options] COMMAND [options] [args]\n\n"
                 "The operators' tool for incidentd.\n\nCommands:\n");
    for (size_t i = 0; i < CTL_N_CMDS; i++)
        fprintf(out, "  %-9s %s\n", ctl_cmds[i].name, ctl_cmds[i].summary);
    fprintf(out, "  %-9s %s\n\n", "help", "help CMD: the options of a command");
    fputs(ctl_global_help, out);
    fputs("\nExit codes: 0 ok, 1 check failed or not found, 2 usage or connection error.\n", out);
}

static const char *ctl_env(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

/*
 * With a config file (--config / INCIDENTD_CONFIG), the daemon's settings
 * are the defaults: brokers, redis (and its user/password), topic_prefix,
 * the kafka.* properties and the rebuild's ack timeout, maximum level and
 * retention; incidentctl's flags still win. Loaded with config_load(), so
 * the environment applies as for the daemon. @p props receives the kafka
 * properties as malloc'ed "key=value" strings (caller frees). Returns 0 or
 * -1 (reported).
 */
static int ctl_config_apply(ctl_t *c, config_t *cfg, char ***props)
{
    *props = NULL;
    if (!c->config_path || !*c->config_path)
        return 0;
    char *argv[] = {(char *)"incidentctl", (char *)"--config", (char *)c->config_path, NULL};
    char err[512];
    int rc = config_load(cfg, 3, argv, err, sizeof(err));
    if (rc != 0) {
        ctl_err(c, "config %s: %s", c->config_path, rc < 0 ? err : "not loaded");
        return -1;
    }
    if (!(c->flagged & CTL_SET_BROKERS) && cfg->brokers && *cfg->brokers)
        c->brokers = cfg->brokers;
    if (!(c->flagged & CTL_SET_REDIS) && cfg->redis && *cfg->redis) {
        c->redis = cfg->redis;
        c->redis_user = cfg->redis_user;
        c->redis_password = cfg->redis_password;
    }
    if (!(c->flagged & CTL_SET_PREFIX) && cfg->topic_prefix)
        c->prefix = cfg->topic_prefix;
    if (cfg->rules.ack_timeout_ms > 0)
        c->ack_timeout_ms = cfg->rules.ack_timeout_ms;
    if (cfg->rules.max_escalation_level > 0)
        c->max_level = cfg->rules.max_escalation_level;
    if (cfg->retention_ms > 0)
        c->retention_ms = cfg->retention_ms;
    /* The file's kafka.* first, the -X flags after them (later wins). */
    if (cfg->n_kafka + c->n_props > CTL_PROPS_MAX) {
        ctl_err(c, "at most %d kafka properties", CTL_PROPS_MAX);
        return -1;
    }
    char **v = calloc(cfg->n_kafka + 1, sizeof(*v));
    if (!v) {
        ctl_err(c, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < cfg->n_kafka; i++) {
        size_t kl = strlen(cfg->kafka[i].key), vl = strlen(cfg->kafka[i].value);
        v[i] = malloc(kl + vl + 2);
        if (!v[i]) {
            ctl_err(c, "out of memory");
            *props = v;
            return -1;
        }
        memcpy(v[i], cfg->kafka[i].key, kl);
        v[i][kl] = '=';
        memcpy(v[i] + kl + 1, cfg->kafka[i].value, vl + 1);
    }
    *props = v;
    memmove(c->props + cfg->n_kafka, c->props, (c->n_props + 1) * sizeof(c->props[0]));
    for (size_t i = 0; i < cfg->n_kafka; i++)
        c->props[i] = v[i];
    c->n_props += cfg->n_kafka;
    return 0;
}

int main(int argc, char **argv)
{
    ctl_t c = {
        .brokers = ctl_env("INCIDENTD_BROKERS", "127.0.0.1:9092"),
        .redis = ctl_env("INCIDENTD_REDIS", "redis://127.0.0.1:6379/0"),
        .redis_password = ctl_env("INCIDENTD_REDIS_PASSWORD", NULL),
        .prefix = ctl_env("INCIDENTD_TOPIC_PREFIX", ""),
        .timeout_ms = 30000,
        .ack_timeout_ms = 30 * 60 * 1000,
        .max_level = 3,
        .retention_ms = 7LL * 24 * 3600 * 1000,
        .config_path = ctl_env("INCIDENTD_CONFIG", NULL),
    };
    static const struct option opts[] = {
        {"version", no_argument, NULL, OPT_VERSION},
        {"config", required_argument, NULL, OPT_CONFIG},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = ctl_getopt(&c, argc, argv, "+" CTL_SHORT, opts)) != -1) {
        if (opt == CTL_OPT_BAD)
            return CTL_EXIT_USAGE;
        if (opt == 'h') {
            ctl_help(stdout);
            return CTL_EXIT_OK;
        }
        if (opt == OPT_CONFIG) {
            c.config_path = optarg;
            continue;
        }
        if (opt == OPT_VERSION) {
            printf("incidentctl %s (librdkafka %s)\n", INCIDENTD_VERSION, rd_kafka_version_str());
            return CTL_EXIT_OK;
        }
        ctl_err(&c, "unknown option or missing value: '%s'", argv[optind - 1]);
        fputs("Try 'incidentctl --help'.\n", stderr);
        return CTL_EXIT_USAGE;
    }
    if (optind >= argc) {
        ctl_help(stderr);
        return CTL_EXIT_USAGE;
    }
    const char *name = argv[optind];
    if (strcmp(name, "help") == 0) {
        if (optind + 1 >= argc) {
            ctl_help(stdout);
            return CTL_EXIT_OK;
        }
        const ctl_cmd_t *cmd = ctl_find_cmd(argv[optind + 1]);
        if (!cmd) {
            ctl_err(&c, "unknown command '%s'", argv[optind + 1]);
            return CTL_EXIT_USAGE;
        }
        ctl_cmd_help(cmd, stdout);
        return CTL_EXIT_OK;
    }
    const ctl_cmd_t *cmd = ctl_find_cmd(name);
    if (!cmd) {
        ctl_err(&c, "unknown command '%s'", name);
        fputs("Try 'incidentctl --help'.\n", stderr);
        return CTL_EXIT_USAGE;
    }
    c.cmd = cmd->name;

    config_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    char **cfg_props = NULL;
    if (ctl_config_apply(&c, &cfg, &cfg_props) < 0) {
        config_destroy(&cfg);
        return CTL_EXIT_USAGE;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = ctl_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The command parses its own options, from its name on. */
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    optind = 0; /* glibc: start a fresh scan */
    int rc = cmd->exec(&c, sub_argc, sub_argv);
    for (size_t i = 0; cfg_props && cfg_props[i]; i++)
        free(cfg_props[i]);
    free(cfg_props);
    config_destroy(&cfg);
    return rc;
}
