/*
 * config.c — the settings table and its four sources; see config.h.
 *
 * cfg_table[] below is the only place a setting is described. Loading walks
 * it for the defaults and the environment; the file and the flags look keys
 * up in it; --help, --print-sample-config and config_print() are printed
 * from it. Adding a setting is adding a row (and, for a rule, the field it
 * fills).
 *
 * Out of memory aborts with a message (as the arena does).
 */
#include "config.h"
#include "redis_url.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <librdkafka/rdkafka.h>

extern char **environ;

/* ---- memory ------------------------------------------------------------- */

static void cfg_oom(void)
{
    fputs("incidentd: out of memory\n", stderr);
    abort();
}

static void *cfg_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        cfg_oom();
    return q;
}

static char *cfg_xstrndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        cfg_oom();
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static char *cfg_xstrdup(const char *s) { return cfg_xstrndup(s, strlen(s)); }

/* Replaces the owned string in *slot by a copy of @p s. */
static void cfg_str_set(char **slot, const char *s)
{
    char *d = cfg_xstrdup(s);
    free(*slot);
    *slot = d;
}

static void cfg_list_free(config_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

/* ---- the table ------------------------------------------------------------ */

typedef enum cfg_type {
    CFG_STR,       /* char * */
    CFG_INT,       /* int, min..max */
    CFG_U32,       /* uint32_t, min..max */
    CFG_DURATION,  /* int64_t ms, min..max */
    CFG_SEVERITY,  /* Incident__V1__Severity, INFO..CRITICAL */
    CFG_LIST,      /* config_list_t, comma list */
    CFG_ENUM,      /* char *, one of choices */
    CFG_STAGES,    /* char * + stage_mask */
    CFG_REDIS_URL, /* char * (canonical) + redis_host/port/db/user/password */
    CFG_ROSTER,    /* pattern roster.<role>.<service> */
    CFG_GUIDELINE, /* pattern guideline.<service> */
    CFG_KAFKA,     /* pattern kafka.<property> */
} cfg_type_t;

#define CFG_F_SECRET (1u << 0)   /* masked on output, never echoed in errors */
#define CFG_F_NOFILE (1u << 1)   /* flag and environment only */
#define CFG_F_NONEMPTY (1u << 2) /* "" is rejected */

typedef int (*cfg_check_fn)(const char *v, char *err, size_t err_size);

typedef struct cfg_entry {
    const char *name; /* file key; a pattern's is "<prefix>.<...>" */
    cfg_type_t type;
    size_t off;          /* field in config_t (not for patterns) */
    const char *def;     /* default, as text, parsed like any value */
    int64_t min, max;    /* numbers and durations */
    const char *choices; /* CFG_ENUM: "a|b|c" */
    const char *flag;    /* long option setting it ("brokers"), or NULL */
    const char *meta;    /* the option's value in --help */
    unsigned flags;      /* CFG_F_* */
    cfg_check_fn check;  /* extra validation of CFG_STR */
    const char *section; /* starts a section in --help and the sample */
    const char *help;    /* lines separated by '\n' */
    const char *example; /* patterns: sample "key = value" lines */
} cfg_entry_t;

#define OFF(field) offsetof(config_t, field)
#define MS_S 1000LL
#define MS_M (60 * MS_S)
#define MS_H (60 * MS_M)
#define MS_D (24 * MS_H)

static int cfg_check_topic_prefix(const char *v, char *err, size_t err_size);
static int cfg_check_hostport(const char *v, char *err, size_t err_size);

static const cfg_entry_t cfg_table[] = {
    /* ---- runtime ---- */
    {.name = "brokers",
     .type = CFG_STR,
     .off = OFF(brokers),
     .def = "127.0.0.1:9092",
     .flag = "brokers",
     .meta = "HOST:PORT[,...]",
     .flags = CFG_F_NONEMPTY,
     .section = "Runtime",
     .help = "Kafka bootstrap servers, a comma list of host:port."},
    {.name = "stages",
     .type = CFG_STAGES,
     .off = OFF(stages),
     .def = "all",
     .flag = "stages",
     .meta = "LIST",
     .help = "Stages this process runs: \"all\", or a comma list of detected, classified,\n"
             "scoped, escalated, resolved, ingest. \"all\" is the five Kafka stages, plus\n"
             "ingest when ingest_http is set. Processes running the same stage share its\n"
             "work through one consumer group."},
    {.name = "topic_prefix",
     .type = CFG_STR,
     .off = OFF(topic_prefix),
     .def = "",
     .flag = "topic-prefix",
     .meta = "PREFIX",
     .check = cfg_check_topic_prefix,
     .help = "Prepended to every topic name (\"prod.\" gives prod.incidents.detected)."},
    {.name = "group_prefix",
     .type = CFG_STR,
     .off = OFF(group_prefix),
     .def = "incidentd",
     .flags = CFG_F_NONEMPTY,
     .help = "Consumer group prefix: a stage's group is <group_prefix>.<topic_prefix><stage>."},
    {.name = "instance_id",
     .type = CFG_STR,
     .off = OFF(instance_id),
     .def = "",
     .help = "Static group membership: group.instance.id prefix of this process,\n"
             "unique per process (e.g. the pod name). \"\" = dynamic membership."},
    {.name = "batch.max",
     .type = CFG_INT,
     .off = OFF(batch_max),
     .def = "500",
     .min = 1,
     .max = 100000,
     .help = "Most messages handled in one batch (one Kafka transaction)."},
    {.name = "batch.ms",
     .type = CFG_INT,
     .off = OFF(batch_ms),
     .def = "20",
     .min = 0,
     .max = 10000,
     .help = "Most milliseconds spent gathering one batch."},
    {.name = "topics.partitions",
     .type = CFG_INT,
     .off = OFF(topic_partitions),
     .def = "12",
     .min = 1,
     .max = 10000,
     .help = "Partitions of the topics incidentd creates when they are missing\n"
             "(the most processes one stage can use). Existing topics are not changed."},
    {.name = "timer.poll",
     .type = CFG_DURATION,
     .off = OFF(timer_poll_ms),
     .def = "1s",
     .min = 10,
     .max = MS_M,
     .help = "How often the escalated stage looks for due acknowledgement timers."},
    {.name = "retention",
     .type = CFG_DURATION,
     .off = OFF(retention_ms),
     .def = "7d",
     .min = MS_M,
     .max = 3650 * MS_D,
     .help = "How long a closed incident stays in Redis."},
    {.name = "http",
     .type = CFG_STR,
     .off = OFF(http),
     .def = "",
     .flag = "http",
     .meta = "HOST:PORT",
     .check = cfg_check_hostport,
     .help = "Address of /metrics, /healthz and /readyz (e.g. 0.0.0.0:9100). \"\" = off."},
    {.name = "ingest_http",
     .type = CFG_STR,
     .off = OFF(ingest_http),
     .def = "",
     .flag = "ingest-http",
     .meta = "HOST:PORT",
     .check = cfg_check_hostport,
     .help = "Address of the webhook ingest stage (\"ingest\" in stages). \"\" = off."},
    {.name = "config",
     .type = CFG_STR,
     .off = OFF(config_path),
     .def = "",
     .flag = "config",
     .meta = "PATH",
     .flags = CFG_F_NOFILE,
     .help = "The configuration file to read (flag and environment only)."},

    /* ---- HTTP servers ---- */
    {.name = "http.max_connections",
     .type = CFG_INT,
     .off = OFF(http_max_connections),
     .def = "512",
     .min = 8,
     .max = 16384,
     .section = "HTTP servers (--http and --ingest-http, each)",
     .help = "Connections one server holds at once; more are closed on accept."},
    {.name = "http.per_ip_connections",
     .type = CFG_INT,
     .off = OFF(http_per_ip_connections),
     .def = "32",
     .min = 1,
     .max = 16384,
     .help = "Connections one client address may hold at once; more are closed on accept."},
    {.name = "http.request_timeout",
     .type = CFG_DURATION,
     .off = OFF(http_request_timeout_ms),
     .def = "10s",
     .min = 500,
     .max = 10 * MS_M,
     .help = "Time a client has to send a whole request (headers and body), counted from\n"
             "the connection or the previous answer, whatever it sends meanwhile; then the\n"
             "connection is closed. Time spent answering does not count."},

    /* ---- ingest ---- */
    {.name = "ingest.token",
     .type = CFG_STR,
     .off = OFF(ingest_token),
     .def = "",
     .flags = CFG_F_SECRET,
     .section = "Ingest (webhooks)",
     .help = "Bearer token every ingest route requires (\"Authorization: Bearer <token>\");\n"
             "\"\" = no authentication. A secret: prefer the environment."},
    {.name = "ingest.token.alertmanager",
     .type = CFG_STR,
     .off = OFF(ingest_token_alertmanager),
     .def = "",
     .flags = CFG_F_SECRET,
     .help = "Bearer token of POST /v1/alertmanager only (\"\" = ingest.token)."},
    {.name = "ingest.token.events",
     .type = CFG_STR,
     .off = OFF(ingest_token_events),
     .def = "",
     .flags = CFG_F_SECRET,
     .help = "Bearer token of POST /v1/events only (\"\" = ingest.token)."},
    {.name = "ingest.token.alerts",
     .type = CFG_STR,
     .off = OFF(ingest_token_alerts),
     .def = "",
     .flags = CFG_F_SECRET,
     .help = "Bearer token of POST /v1/alerts only (\"\" = ingest.token)."},
    {.name = "ingest.max_body",
     .type = CFG_INT,
     .off = OFF(ingest_max_body),
     .def = "524288",
     .min = 1024,
     .max = 64 * 1024 * 1024,
     .help = "Largest request body in bytes (larger ones get 413); 512 KiB as PagerDuty."},
    {.name = "ingest.rate",
     .type = CFG_INT,
     .off = OFF(ingest_rate),
     .def = "50",
     .min = 0,
     .max = 1000000,
     .help = "Requests per second one source may send (client address, and routing_key\n"
             "on /v1/events); more get 429 with Retry-After. 0 = unlimited."},
    {.name = "ingest.burst",
     .type = CFG_INT,
     .off = OFF(ingest_burst),
     .def = "100",
     .min = 1,
     .max = 1000000,
     .help = "Requests one source may send at once before ingest.rate applies."},

    /* ---- redis ---- */
    {.name = "redis",
     .type = CFG_REDIS_URL,
     .off = OFF(redis),
     .def = "redis://127.0.0.1:6379/0",
     .flag = "redis",
     .meta = "URL",
     .section = "Redis",
     .help = "Redis holding the live state: redis://[user[:password]@]host[:port][/db].\n"
             "Credentials in the URL are taken as redis.user and redis.password."},
    {.name = "redis.user",
     .type = CFG_STR,
     .off = OFF(redis_user),
     .def = "",
     .help = "Redis ACL user (\"\" = the default user)."},
    {.name = "redis.password",
     .type = CFG_STR,
     .off = OFF(redis_password),
     .def = "",
     .flags = CFG_F_SECRET,
     .help = "Redis password (\"\" = no AUTH). A secret: prefer the environment."},

    /* ---- kafka ---- */
    {.name = "kafka.<property>",
     .type = CFG_KAFKA,
     .section = "Kafka client",
     .help = "A librdkafka property passed through (see librdkafka CONFIGURATION.md),\n"
             "e.g. security.protocol, sasl.mechanisms, sasl.username. In the\n"
             "environment '.' is written '_' and '_' is written '__':\n"
             "INCIDENTD_KAFKA_SASL_PASSWORD sets kafka.sasl.password.\n"
             "bootstrap.servers, group.id, group.instance.id and transactional.id are\n"
             "set from brokers, group_prefix and instance_id. Values of properties\n"
             "naming a password, secret, token or key are masked on output.",
     .example = "kafka.linger.ms = 5\n"
                "kafka.security.protocol = sasl_ssl\n"
                "kafka.sasl.mechanisms = PLAIN"},

    /* ---- logging ---- */
    {.name = "log.level",
     .type = CFG_ENUM,
     .off = OFF(log_level),
     .def = "info",
     .choices = "debug|info|warn|error",
     .flag = "log-level",
     .meta = "LEVEL",
     .section = "Logging",
     .help = "Lowest level logged: debug, info, warn or error."},
    {.name = "log.format",
     .type = CFG_ENUM,
     .off = OFF(log_format),
     .def = "json",
     .choices = "json|logfmt",
     .flag = "log-format",
     .meta = "FORMAT",
     .help = "Log line format on stderr: json or logfmt."},

    /* ---- classification ---- */
    {.name = "classify.incident_min_severity",
     .type = CFG_SEVERITY,
     .off = OFF(rules.incident_min_severity),
     .def = "MAJOR",
     .section = "Classification",
     .help = "An alert of this severity or higher is an incident by itself.\n"
             "Severities: INFO, WARNING, MINOR, MAJOR, CRITICAL (SEVERITY_ prefix allowed)."},
    {.name = "classify.client_min_severity",
     .type = CFG_SEVERITY,
     .off = OFF(rules.client_min_severity),
     .def = "MINOR",
     .help = "An alert of this severity or higher is an incident when it affects\n"
             "at least client_min_count clients."},
    {.name = "classify.client_min_count",
     .type = CFG_U32,
     .off = OFF(rules.client_min_count),
     .def = "1",
     .min = 1,
     .max = HD_CLIENTS_MAX,
     .help = "Clients needed for the client rule above."},
    {.name = "classify.critical_services",
     .type = CFG_LIST,
     .off = OFF(critical_services),
     .def = "",
     .help = "Services whose alerts are always incidents (comma list)."},
    {.name = "classify.reclassify_triggers",
     .type = CFG_U32,
     .off = OFF(rules.reclassify_triggers),
     .def = "3",
     .min = 2,
     .max = 1000,
     .help = "A disturbance becomes an incident when its dedup key triggers this\n"
             "many times within reclassify_window."},
    {.name = "classify.reclassify_window",
     .type = CFG_DURATION,
     .off = OFF(rules.reclassify_window_ms),
     .def = "10m",
     .min = MS_S,
     .max = MS_D,
     .help = "The window of reclassify_triggers."},

    /* ---- scope ---- */
    {.name = "scope.global_min_sites",
     .type = CFG_U32,
     .off = OFF(rules.global_min_sites),
     .def = "2",
     .min = 1,
     .max = HD_SITES_MAX,
     .section = "Scope",
     .help = "An incident is GLOBAL when it affects at least this many distinct sites\n"
             "(also: a site \"*\", global_min_clients clients, or label scope=global)."},
    {.name = "scope.global_min_clients",
     .type = CFG_U32,
     .off = OFF(rules.global_min_clients),
     .def = "10",
     .min = 1,
     .max = HD_CLIENTS_MAX,
     .help = "An incident is GLOBAL when it affects at least this many distinct clients."},

    /* ---- ownership ---- */
    {.name = "roster.<role>.<service>",
     .type = CFG_ROSTER,
     .section = "Ownership",
     .help = "Owner of the incidents of a role for a service. role: technical_manager\n"
             "(GLOBAL incidents) or customer_service_manager (LOCAL ones), any case.\n"
             "service \"default\" matches every service; an exact service wins over it.\n"
             "An empty value removes the entry. No roster by default.",
     .example = "roster.technical_manager.default = tm-oncall\n"
                "roster.customer_service_manager.default = csm-oncall\n"
                "roster.customer_service_manager.payments = payments-csm"},

    /* ---- handling ---- */
    {.name = "handling.global_stakeholders",
     .type = CFG_LIST,
     .off = OFF(global_stakeholders),
     .def = "",
     .section = "Handling",
     .help = "Informed when an incident is GLOBAL (comma list)."},
    {.name = "handling.tm_stakeholder",
     .type = CFG_STR,
     .off = OFF(tm_stakeholder),
     .def = "technical-manager",
     .flags = CFG_F_NONEMPTY,
     .help = "Informed when a LOCAL CRITICAL incident goes to escalation level 1."},
    {.name = "handling.level1_stakeholders",
     .type = CFG_LIST,
     .off = OFF(level_stakeholders[1]),
     .def = "",
     .help = "Also informed when an incident reaches escalation level 1 (comma list)."},
    {.name = "handling.level2_stakeholders",
     .type = CFG_LIST,
     .off = OFF(level_stakeholders[2]),
     .def = "",
     .help = "Also informed when an incident reaches escalation level 2 (comma list)."},
    {.name = "handling.level3_stakeholders",
     .type = CFG_LIST,
     .off = OFF(level_stakeholders[3]),
     .def = "",
     .help = "Also informed when an incident reaches escalation level 3 (comma list)."},
    {.name = "guideline.<service>",
     .type = CFG_GUIDELINE,
     .help = "Handling guideline of the LOCAL incidents of a service;\n"
             "guideline.default is for services without their own.\n"
             "An empty value removes the entry.",
     .example = "guideline.default = \"Follow the local incident runbook.\"\n"
                "guideline.payments = \"Page payments on-call; freeze deploys.\""},

    /* ---- escalation ---- */
    {.name = "escalation.ack_timeout",
     .type = CFG_DURATION,
     .off = OFF(rules.ack_timeout_ms),
     .def = "30m",
     .min = MS_S,
     .max = 7 * MS_D,
     .section = "Escalation",
     .help = "An incident not acknowledged within this time escalates one level."},
    {.name = "escalation.max_level",
     .type = CFG_U32,
     .off = OFF(rules.max_escalation_level),
     .def = "3",
     .min = 1,
     .max = 10,
     .help = "Highest escalation level."},

    /* ---- limits ---- */
    {.name = "limits.clients",
     .type = CFG_U32,
     .off = OFF(rules.max_clients),
     .def = "1000",
     .min = 10,
     .max = 10000,
     .section = "Limits",
     .help = "Client names an incident keeps (clients_total counts on past it)."},
    {.name = "limits.sites",
     .type = CFG_U32,
     .off = OFF(rules.max_sites),
     .def = "100",
     .min = 2,
     .max = 1000,
     .help = "Sites an incident keeps."},
    {.name = "limits.message_bytes",
     .type = CFG_U32,
     .off = OFF(message_max_bytes),
     .def = "1000000",
     .min = 65536,
     .max = 100000000,
     .help = "Largest record incidentd produces (the producer's message.max.bytes;\n"
             "keep it at or below the broker's message.max.bytes). A transition whose\n"
             "audit record or event would be larger is dead-lettered, never applied."},
};

#define CFG_N (sizeof(cfg_table) / sizeof(cfg_table[0]))

static int cfg_is_pattern(const cfg_entry_t *e)
{
    return e->type == CFG_ROSTER || e->type == CFG_GUIDELINE || e->type == CFG_KAFKA;
}

/* Length of a pattern's fixed prefix, dot included ("kafka." -> 6). */
static size_t cfg_pattern_prefix_len(const cfg_entry_t *e)
{
    return (size_t)(strchr(e->name, '<') - e->name);
}

static void *cfg_field(config_t *cfg, const cfg_entry_t *e) { return (char *)cfg + e->off; }

static const void *cfg_cfield(const config_t *cfg, const cfg_entry_t *e)
{
    return (const char *)cfg + e->off;
}

/* INCIDENTD_ + the key upper-cased, '.' -> '_'. */
static void cfg_env_name(const cfg_entry_t *e, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "INCIDENTD_");
    for (const char *p = e->name; *p && n + 1 < size; p++)
        buf[n++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    buf[n < size ? n : size - 1] = '\0';
}

/* ---- small parsers ---------------------------------------------------------- */

static const struct {
    unsigned bit;
    const char *name;
} cfg_stages[] = {
    {CONFIG_STAGE_DETECTED, "detected"}, {CONFIG_STAGE_CLASSIFIED, "classified"},
    {CONFIG_STAGE_SCOPED, "scoped"},     {CONFIG_STAGE_ESCALATED, "escalated"},
    {CONFIG_STAGE_RESOLVED, "resolved"}, {CONFIG_STAGE_INGEST, "ingest"},
};

#define CFG_STAGES_VALID "all, detected, classified, scoped, escalated, resolved, ingest"

const char *config_stage_name(unsigned stage_bit)
{
    for (size_t i = 0; i < sizeof(cfg_stages) / sizeof(cfg_stages[0]); i++)
        if (cfg_stages[i].bit == stage_bit)
            return cfg_stages[i].name;
    return "unknown";
}

static int cfg_is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Trims [*b, *e) in place. */
static void cfg_trim(const char **b, const char **e)
{
    while (*b < *e && cfg_is_space(**b))
        (*b)++;
    while (*e > *b && cfg_is_space((*e)[-1]))
        (*e)--;
}

/* Parses a stage list; @p explicit_ingest is set when "ingest" is named. */
static int cfg_stages_parse(const char *s, unsigned *mask, int *explicit_ingest, char *err,
                            size_t err_size)
{
    unsigned m = 0;
    int ingest = 0;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *b = p, *e = comma ? comma : p + strlen(p);
        cfg_trim(&b, &e);
        size_t n = (size_t)(e - b);
        if (n > 0) {
            unsigned bit = 0;
            if (n == 3 && strncasecmp(b, "all", 3) == 0)
                bit = CONFIG_STAGE_ALL;
            for (size_t i = 0; !bit && i < sizeof(cfg_stages) / sizeof(cfg_stages[0]); i++)
                if (strlen(cfg_stages[i].name) == n && strncasecmp(b, cfg_stages[i].name, n) == 0)
                    bit = cfg_stages[i].bit;
            if (!bit) {
                snprintf(err, err_size, "unknown stage '%.*s' (valid: %s)", (int)(n > 64 ? 64 : n),
                         b, CFG_STAGES_VALID);
                return -1;
            }
            if (bit == CONFIG_STAGE_INGEST)
                ingest = 1;
            m |= bit;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    if (!m) {
        snprintf(err, err_size, "no stage given (valid: %s)", CFG_STAGES_VALID);
        return -1;
    }
    *mask = m;
    if (explicit_ingest)
        *explicit_ingest = ingest;
    return 0;
}

int config_parse_duration_ms(const char *s, int64_t *out)
{
    if (!s || !*s)
        return -1;
    const char *p = s;
    int64_t total = 0;
    int parts = 0;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return -1;
        int64_t v = 0;
        while (isdigit((unsigned char)*p)) {
            int d = *p++ - '0';
            if (v > (INT64_MAX - d) / 10)
                return -1;
            v = v * 10 + d;
        }
        int64_t mul;
        if (*p == '\0') {
            if (parts) /* "1h30": the unit of 30 is a guess, refuse */
                return -1;
            mul = 1;
        } else if (p[0] == 'm' && p[1] == 's') {
            mul = 1;
            p += 2;
        } else if (*p == 's') {
            mul = MS_S;
            p++;
        } else if (*p == 'm') {
            mul = MS_M;
            p++;
        } else if (*p == 'h') {
            mul = MS_H;
            p++;
        } else if (*p == 'd') {
            mul = MS_D;
            p++;
        } else {
            return -1;
        }
        if (v > INT64_MAX / mul)
            return -1;
        v *= mul;
        if (total > INT64_MAX - v)
            return -1;
        total += v;
        parts++;
    }
    *out = total;
    return 0;
}

/* The shortest exact spelling of @p ms ("7d", "30m", "1500ms"). */
static void cfg_duration_format(int64_t ms, char *buf, size_t size)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {{MS_D, "d"}, {MS_H, "h"}, {MS_M, "m"}, {MS_S, "s"}};
    if (ms == 0) {
        snprintf(buf, size, "0");
        return;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (ms % units[i].ms == 0) {
            snprintf(buf, size, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
            return;
        }
    snprintf(buf, size, "%lldms", (long long)ms);
}

static int cfg_parse_int64(const char *s, int64_t *out)
{
    if (!*s || cfg_is_space(*s))
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int config_parse_hostport(const char *s, char *host, size_t host_size, int *port)
{
    const char *h = s, *he, *colon;
    if (*s == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':')
            return -1;
        h = s + 1;
        he = rb;
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        he = colon;
        if (memchr(s, ':', (size_t)(colon - s))) /* bare IPv6 needs brackets */
            return -1;
    }
    for (const char *p = h; p < he; p++)
        if (cfg_is_space(*p) || *p == '/' || *p == '[' || *p == ']')
            return -1;
    const char *ps = colon + 1;
    if (!*ps || strlen(ps) > 5)
        return -1;
    int v = 0;
    for (const char *p = ps; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (v > 65535)
        return -1;
    size_t n = (size_t)(he - h);
    if (n + 1 > host_size)
        return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    *port = v;
    return 0;
}

static int cfg_check_hostport(const char *v, char *err, size_t err_size)
{
    char host[256];
    int port;
    if (!*v || config_parse_hostport(v, host, sizeof(host), &port) == 0)
        return 0;
    snprintf(err, err_size, "'%s' is not host:port (e.g. 0.0.0.0:9100, [::1]:9100, :9100)", v);
    return -1;
}

static int cfg_check_topic_prefix(const char *v, char *err, size_t err_size)
{
    if (strlen(v) > 200) {
        snprintf(err, err_size, "longer than 200 characters");
        return -1;
    }
    for (const char *p = v; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-') {
            snprintf(err, err_size,
                     "'%s' has characters not allowed in Kafka topic names "
                     "(allowed: A-Z a-z 0-9 . _ -)",
                     v);
            return -1;
        }
    return 0;
}

static const struct {
    Incident__V1__Severity sev;
    const char *name;
} cfg_severities[] = {
    {INCIDENT__V1__SEVERITY__SEVERITY_INFO, "INFO"},
    {INCIDENT__V1__SEVERITY__SEVERITY_WARNING, "WARNING"},
    {INCIDENT__V1__SEVERITY__SEVERITY_MINOR, "MINOR"},
    {INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, "MAJOR"},
    {INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL, "CRITICAL"},
};

static int cfg_severity_parse(const char *s, Incident__V1__Severity *out)
{
    if (strncasecmp(s, "SEVERITY_", 9) == 0)
        s += 9;
    for (size_t i = 0; i < sizeof(cfg_severities) / sizeof(cfg_severities[0]); i++)
        if (strcasecmp(s, cfg_severities[i].name) == 0) {
            *out = cfg_severities[i].sev;
            return 0;
        }
    return -1;
}

static const char *cfg_severity_name(Incident__V1__Severity sev)
{
    for (size_t i = 0; i < sizeof(cfg_severities) / sizeof(cfg_severities[0]); i++)
        if (cfg_severities[i].sev == sev)
            return cfg_severities[i].name;
    return "UNSPECIFIED";
}

static const struct {
    Incident__V1__Role role;
    const char *name;
} cfg_roles[] = {
    {INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER, "technical_manager"},
    {INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER, "customer_service_manager"},
};

static const char *cfg_role_name(Incident__V1__Role role)
{
    for (size_t i = 0; i < sizeof(cfg_roles) / sizeof(cfg_roles[0]); i++)
        if (cfg_roles[i].role == role)
            return cfg_roles[i].name;
    return "unspecified";
}

/* Splits a comma list into @p out (items trimmed, empty ones dropped). */
static void cfg_list_parse(const char *s, config_list_t *out)
{
    config_list_t l = {0};
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *b = p, *e = comma ? comma : p + strlen(p);
        cfg_trim(&b, &e);
        if (e > b) {
            l.items = cfg_xrealloc(l.items, (l.n + 1) * sizeof(*l.items));
            l.items[l.n++] = cfg_xstrndup(b, (size_t)(e - b));
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    cfg_list_free(out);
    *out = l;
}

/* ---- redis URL ---------------------------------------------------------------- */

/* @p url with any user:password@ replaced by ***@, for messages. */
static void cfg_url_mask(const char *url, char *buf, size_t size)
{
    const char *scheme = strstr(url, "://");
    const char *at = strrchr(url, '@');
    if (scheme && at && at > scheme)
        snprintf(buf, size, "%.*s***%s", (int)(scheme + 3 - url), url, at);
    else
        snprintf(buf, size, "%s", url);
}

/* Sets redis (canonical, without credentials), redis_host/port/db and, when
 * the URL has them, the credentials. The parser is redis_url.c's, the one
 * store.c connects with. */
static int cfg_redis_set(config_t *cfg, const char *url, char *err, size_t err_size)
{
    char shown[512], why[160];
    redis_url_t u;
    cfg_url_mask(url, shown, sizeof(shown));
    if (redis_url_parse(url, &u, why, sizeof(why)) != 0) {
        snprintf(err, err_size, "'%.200s' is not a redis URL (%s): %s", shown, REDIS_URL_FORM, why);
        return -1;
    }
    char canon[400];
    redis_url_format(&u, canon, sizeof(canon));
    cfg_str_set(&cfg->redis, canon);
    cfg_str_set(&cfg->redis_host, u.host);
    cfg->redis_port = u.port;
    cfg->redis_db = u.db;
    if (u.user[0])
        cfg_str_set(&cfg->redis_user, u.user);
    if (u.has_password)
        cfg_str_set(&cfg->redis_password, u.password);
    memset(&u, 0, sizeof(u));
    return 0;
}

/* ---- kafka, roster, guidelines ---------------------------------------------------- */

/* Non-zero when a librdkafka property's value must not be shown. */
static int cfg_kafka_is_secret(const char *prop)
{
    static const char *const words[] = {"password",   "secret",  "jaas",    "token",
                                        "credential", "private", "ssl.key", "oauthbearer.config"};
    static const char *const sasl_public[] = {"sasl.mechanism", "sasl.mechanisms", "sasl.username",
                                              "sasl.kerberos.service.name",
                                              "sasl.kerberos.principal"};
    char low[256];
    size_t n = 0;
    for (; prop[n] && n + 1 < sizeof(low); n++)
        low[n] = (char)tolower((unsigned char)prop[n]);
    low[n] = '\0';
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strstr(low, words[i]))
            return 1;
    if (strncmp(low, "sasl.", 5) == 0) {
        for (size_t i = 0; i < sizeof(sasl_public) / sizeof(sasl_public[0]); i++)
            if (strcmp(low, sasl_public[i]) == 0)
                return 0;
        return 1;
    }
    return 0;
}

static int cfg_kafka_set(config_t *cfg, const char *prop, const char *value, char *err,
                         size_t err_size)
{
    static const struct {
        const char *prop, *use;
    } owned[] = {
        {"bootstrap.servers", "brokers"},
        {"metadata.broker.list", "brokers"},
        {"group.id", "group_prefix"},
        {"group.instance.id", "instance_id"},
        {"transactional.id", "(set by incidentd)"},
    };
    if (!*prop) {
        snprintf(err, err_size, "expected kafka.<property>");
        return -1;
    }
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
        if (strcmp(prop, owned[i].prop) == 0) {
            snprintf(err, err_size, "'%s' is managed by incidentd: use %s", prop, owned[i].use);
            return -1;
        }
    /* Let librdkafka judge name and value now, so a typo fails at start-up
     * with the line that holds it. */
    char kerr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_res_t res = rd_kafka_conf_set(conf, prop, value, kerr, sizeof(kerr));
    rd_kafka_conf_destroy(conf);
    if (res != RD_KAFKA_CONF_OK) {
        if (res == RD_KAFKA_CONF_UNKNOWN)
            snprintf(err, err_size, "unknown librdkafka property '%s'", prop);
        else if (cfg_kafka_is_secret(prop) && *value && strstr(kerr, value))
            snprintf(err, err_size, "invalid value (not shown: secret)");
        else
            snprintf(err, err_size, "%s", kerr);
        return -1;
    }
    for (size_t i = 0; i < cfg->n_kafka; i++)
        if (strcmp(cfg->kafka[i].key, prop) == 0) {
            cfg_str_set(&cfg->kafka[i].value, value);
            return 0;
        }
    cfg->kafka = cfg_xrealloc(cfg->kafka, (cfg->n_kafka + 1) * sizeof(*cfg->kafka));
    cfg->kafka[cfg->n_kafka].key = cfg_xstrdup(prop);
    cfg->kafka[cfg->n_kafka].value = cfg_xstrdup(value);
    cfg->n_kafka++;
    return 0;
}

/* "default" (any case) and "*" mean any service: stored as "*". */
static const char *cfg_service_norm(const char *s)
{
    return strcasecmp(s, "default") == 0 ? "*" : s;
}

static int cfg_roster_set(config_t *cfg, const char *rest, const char *value, char *err,
                          size_t err_size)
{
    const char *dot = strchr(rest, '.');
    if (!dot || dot == rest || !dot[1]) {
        snprintf(err, err_size, "expected roster.<role>.<service>");
        return -1;
    }
    size_t rn = (size_t)(dot - rest);
    if (rn > 5 && strncasecmp(rest, "role_", 5) == 0) {
        rest += 5;
        rn -= 5;
    }
    Incident__V1__Role role = INCIDENT__V1__ROLE__ROLE_UNSPECIFIED;
    for (size_t i = 0; i < sizeof(cfg_roles) / sizeof(cfg_roles[0]); i++)
        if (strlen(cfg_roles[i].name) == rn && strncasecmp(rest, cfg_roles[i].name, rn) == 0)
            role = cfg_roles[i].role;
    if (role == INCIDENT__V1__ROLE__ROLE_UNSPECIFIED) {
        snprintf(err, err_size,
                 "unknown role '%.*s' (valid: technical_manager, customer_service_manager)",
                 (int)(rn > 64 ? 64 : rn), rest);
        return -1;
    }
    const char *service = cfg_service_norm(dot + 1);
    for (size_t i = 0; i < cfg->n_roster; i++) {
        hd_roster_entry_t *r = &cfg->roster[i];
        if (r->role != role || strcmp(r->service, service) != 0)
            continue;
        if (!*value) { /* remove */
            free((char *)r->service);
            free((char *)r->owner);
            memmove(r, r + 1, (cfg->n_roster - i - 1) * sizeof(*r));
            cfg->n_roster--;
        } else {
            char *o = cfg_xstrdup(value);
            free((char *)r->owner);
            r->owner = o;
        }
        return 0;
    }
    if (!*value)
        return 0;
    cfg->roster = cfg_xrealloc(cfg->roster, (cfg->n_roster + 1) * sizeof(*cfg->roster));
    cfg->roster[cfg->n_roster].role = role;
    cfg->roster[cfg->n_roster].service = cfg_xstrdup(service);
    cfg->roster[cfg->n_roster].owner = cfg_xstrdup(value);
    cfg->n_roster++;
    return 0;
}

static int cfg_guideline_set(config_t *cfg, const char *rest, const char *value, char *err,
                             size_t err_size)
{
    if (!*rest) {
        snprintf(err, err_size, "expected guideline.<service>");
        return -1;
    }
    const char *service = cfg_service_norm(rest);
    for (size_t i = 0; i < cfg->n_guidelines; i++) {
        hd_guideline_t *g = &cfg->guidelines[i];
        if (strcmp(g->service, service) != 0)
            continue;
        if (!*value) {
            free((char *)g->service);
            free((char *)g->text);
            memmove(g, g + 1, (cfg->n_guidelines - i - 1) * sizeof(*g));
            cfg->n_guidelines--;
        } else {
            char *t = cfg_xstrdup(value);
            free((char *)g->text);
            g->text = t;
        }
        return 0;
    }
    if (!*value)
        return 0;
    cfg->guidelines =
        cfg_xrealloc(cfg->guidelines, (cfg->n_guidelines + 1) * sizeof(*cfg->guidelines));
    cfg->guidelines[cfg->n_guidelines].service = cfg_xstrdup(service);
    cfg->guidelines[cfg->n_guidelines].text = cfg_xstrdup(value);
    cfg->n_guidelines++;
    return 0;
}

/* ---- setting one key ------------------------------------------------------------ */

/* Sets entry @p e from text; on error writes the problem (no location) in err. */
static int cfg_apply(config_t *cfg, const cfg_entry_t *e, const char *key, const char *v, char *err,
                     size_t err_size)
{
    void *field = cfg_is_pattern(e) ? NULL : cfg_field(cfg, e);
    int64_t n;
    char lo[32], hi[32];

    if ((e->flags & CFG_F_NONEMPTY) && !*v) {
        snprintf(err, err_size, "must not be empty");
        return -1;
    }
    switch (e->type) {
    case CFG_STR:
        if (e->check && e->check(v, err, err_size) != 0)
            return -1;
        cfg_str_set(field, v);
        return 0;
    case CFG_INT:
    case CFG_U32:
        if (cfg_parse_int64(v, &n) != 0) {
            snprintf(err, err_size, "'%s' is not an integer", v);
            return -1;
        }
        if (n < e->min || n > e->max) {
            snprintf(err, err_size, "%lld is out of range (%lld..%lld)", (long long)n,
                     (long long)e->min, (long long)e->max);
            return -1;
        }
        if (e->type == CFG_INT)
            *(int *)field = (int)n;
        else
            *(uint32_t *)field = (uint32_t)n;
        return 0;
    case CFG_DURATION:
        if (config_parse_duration_ms(v, &n) != 0) {
            snprintf(err, err_size, "'%s' is not a duration (e.g. 30m, 10s, 500ms)", v);
            return -1;
        }
        if (n < e->min || n > e->max) {
            cfg_duration_format(e->min, lo, sizeof(lo));
            cfg_duration_format(e->max, hi, sizeof(hi));
            snprintf(err, err_size, "'%s' is out of range (%s..%s)", v, lo, hi);
            return -1;
        }
        *(int64_t *)field = n;
        return 0;
    case CFG_SEVERITY: {
        Incident__V1__Severity sev;
        if (cfg_severity_parse(v, &sev) != 0) {
            snprintf(err, err_size,
                     "'%s' is not a severity (INFO, WARNING, MINOR, MAJOR, CRITICAL)", v);
            return -1;
        }
        *(Incident__V1__Severity *)field = sev;
        return 0;
    }
    case CFG_LIST:
        cfg_list_parse(v, field);
        return 0;
    case CFG_ENUM: {
        const char *c = e->choices;
        while (*c) {
            const char *bar = strchr(c, '|');
            size_t cn = bar ? (size_t)(bar - c) : strlen(c);
            if (strlen(v) == cn && strncasecmp(v, c, cn) == 0) {
                char *s = cfg_xstrndup(c, cn); /* the canonical spelling */
                free(*(char **)field);
                *(char **)field = s;
                return 0;
            }
            c += cn + (bar ? 1 : 0);
        }
        char list[128];
        size_t ln = 0;
        for (c = e->choices; *c && ln + 3 < sizeof(list); c++) {
            if (*c == '|') {
                list[ln++] = ',';
                list[ln++] = ' ';
            } else {
                list[ln++] = *c;
            }
        }
        list[ln] = '\0';
        snprintf(err, err_size, "'%s' is not one of %s", v, list);
        return -1;
    }
    case CFG_STAGES: {
        unsigned mask;
        if (cfg_stages_parse(v, &mask, NULL, err, err_size) != 0)
            return -1;
        cfg_str_set(field, v);
        cfg->stage_mask = mask;
        return 0;
    }
    case CFG_REDIS_URL:
        return cfg_redis_set(cfg, v, err, err_size);
    case CFG_ROSTER:
        return cfg_roster_set(cfg, key + cfg_pattern_prefix_len(e), v, err, err_size);
    case CFG_GUIDELINE:
        return cfg_guideline_set(cfg, key + cfg_pattern_prefix_len(e), v, err, err_size);
    case CFG_KAFKA:
        return cfg_kafka_set(cfg, key + cfg_pattern_prefix_len(e), v, err, err_size);
    }
    snprintf(err, err_size, "unsupported type");
    return -1;
}

/* Levenshtein distance, for "did you mean". */
static size_t cfg_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return (size_t)-1;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best =
                diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static const cfg_entry_t *cfg_lookup(const char *key)
{
    for (size_t i = 0; i < CFG_N; i++) {
        const cfg_entry_t *e = &cfg_table[i];
        if (cfg_is_pattern(e)) {
            size_t pl = cfg_pattern_prefix_len(e);
            if (strncmp(key, e->name, pl) == 0)
                return e;
        } else if (strcmp(key, e->name) == 0) {
            return e;
        }
    }
    return NULL;
}

enum cfg_source { CFG_SRC_DEFAULT, CFG_SRC_FILE, CFG_SRC_ENV, CFG_SRC_FLAG, CFG_SRC_SET };

/*
 * Sets @p key from one source. @p where names the source for messages
 * ("path:12", "env INCIDENTD_X", "flag --x"). Errors read
 * "<where>: <key>: <problem>".
 */
static int cfg_set(config_t *cfg, enum cfg_source src, const char *key, const char *value,
                   const char *where, char *errstr, size_t errstr_size)
{
    const cfg_entry_t *e = cfg_lookup(key);
    if (!e) {
        const char *best = NULL;
        size_t bestd = (size_t)-1;
        for (size_t i = 0; i < CFG_N; i++) {
            if (cfg_is_pattern(&cfg_table[i]) || (cfg_table[i].flags & CFG_F_NOFILE))
                continue;
            size_t d = cfg_distance(key, cfg_table[i].name);
            if (d < bestd) {
                bestd = d;
                best = cfg_table[i].name;
            }
        }
        if (best && bestd <= 3)
            snprintf(errstr, errstr_size, "%s: unknown key '%s' (did you mean '%s'?)", where, key,
                     best);
        else
            snprintf(errstr, errstr_size, "%s: unknown key '%s' (see incidentd --help)", where,
                     key);
        return -1;
    }
    if ((e->flags & CFG_F_NOFILE) && (src == CFG_SRC_FILE || src == CFG_SRC_SET)) {
        snprintf(errstr, errstr_size, "%s: %s: can only be given by --%s or the environment", where,
                 key, e->flag);
        return -1;
    }
    char problem[512];
    if (cfg_apply(cfg, e, key, value, problem, sizeof(problem)) != 0) {
        /* kafka secrets are masked by cfg_kafka_set itself */
        snprintf(errstr, errstr_size, "%s: %s: %s", where, key,
                 (e->flags & CFG_F_SECRET) ? "invalid value (not shown: secret)" : problem);
        return -1;
    }
    return 0;
}

/* ---- the file ------------------------------------------------------------------ */

/* Unquotes [b, e) into a new string; NULL with a reason on error. */
static char *cfg_unquote(const char *b, const char *e, char *err, size_t err_size)
{
    if (b == e || *b != '"')
        return cfg_xstrndup(b, (size_t)(e - b));
    char *out = malloc((size_t)(e - b) + 1);
    if (!out)
        cfg_oom();
    size_t n = 0;
    const char *p = b + 1;
    for (; p < e && *p != '"'; p++) {
        if (*p != '\\') {
            out[n++] = *p;
            continue;
        }
        if (++p >= e)
            break;
        switch (*p) {
        case '"':
            out[n++] = '"';
            break;
        case '\\':
            out[n++] = '\\';
            break;
        case 'n':
            out[n++] = '\n';
            break;
        case 't':
            out[n++] = '\t';
            break;
        default:
            snprintf(err, err_size, "unknown escape '\\%c' (use \\\" \\\\ \\n \\t)", *p);
            free(out);
            return NULL;
        }
    }
    if (p >= e) {
        snprintf(err, err_size, "unterminated quoted value");
        free(out);
        return NULL;
    }
    if (p + 1 != e) {
        snprintf(err, err_size, "text after the closing quote");
        free(out);
        return NULL;
    }
    out[n] = '\0';
    return out;
}

static int cfg_load_file(config_t *cfg, const char *path, char *errstr, size_t errstr_size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(errstr, errstr_size, "config file %s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, rc = 0;
    errno = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        const char *b = line, *e = line + len;
        if (lineno == 1 && len >= 3 && memcmp(b, "\xEF\xBB\xBF", 3) == 0)
            b += 3; /* UTF-8 BOM */
        if (memchr(b, '\0', (size_t)(e - b))) {
            snprintf(errstr, errstr_size, "%s:%d: NUL byte in line", path, lineno);
            rc = -1;
            break;
        }
        cfg_trim(&b, &e);
        if (b == e || *b == '#')
            continue;
        char where[512];
        snprintf(where, sizeof(where), "%s:%d", path, lineno);
        const char *eq = memchr(b, '=', (size_t)(e - b));
        if (!eq) {
            snprintf(errstr, errstr_size, "%s: expected 'key = value'", where);
            rc = -1;
            break;
        }
        const char *kb = b, *ke = eq, *vb = eq + 1, *ve = e;
        cfg_trim(&kb, &ke);
        cfg_trim(&vb, &ve);
        if (kb == ke) {
            snprintf(errstr, errstr_size, "%s: missing key before '='", where);
            rc = -1;
            break;
        }
        char *key = cfg_xstrndup(kb, (size_t)(ke - kb));
        for (const char *p = key; *p; p++)
            if (cfg_is_space(*p)) {
                snprintf(errstr, errstr_size, "%s: '%s' is not a key (no spaces allowed)", where,
                         key);
                rc = -1;
                break;
            }
        char problem[256];
        char *value = rc == 0 ? cfg_unquote(vb, ve, problem, sizeof(problem)) : NULL;
        if (rc == 0 && !value) {
            snprintf(errstr, errstr_size, "%s: %s: %s", where, key, problem);
            rc = -1;
        }
        if (rc == 0)
            rc = cfg_set(cfg, CFG_SRC_FILE, key, value, where, errstr, errstr_size);
        free(key);
        free(value);
        if (rc != 0)
            break;
    }
    if (rc == 0 && ferror(f)) {
        snprintf(errstr, errstr_size, "config file %s: %s", path,
                 errno ? strerror(errno) : "read error");
        rc = -1;
    }
    free(line);
    fclose(f);
    return rc;
}

/* ---- environment ------------------------------------------------------------------- */

#define CFG_ENV_KAFKA "INCIDENTD_KAFKA_"

/*
 * INCIDENTD_ names that are not settings: the scripts and tests use them
 * (README, "Environment"). Any other INCIDENTD_ name that is not a setting is
 * rejected like an unknown key, so a misspelt INCIDENTD_REDIS_PASWORD is an
 * error, not silently the default.
 */
static const char *const cfg_env_tools[] = {
    "INCIDENTD_BIN",           "INCIDENTD_CACHE",        "INCIDENTD_CRASH_INCIDENTS",
    "INCIDENTD_CRASH_SEED",    "INCIDENTD_FUZZ_SECONDS", "INCIDENTD_KEEP_TESTBED",
    "INCIDENTD_REDIS_PERSIST", "INCIDENTD_SKIP_DEPS",    "INCIDENTD_SOURCE_DIR",
    "INCIDENTD_TESTBED_ENV",
};
#define CFG_ENV_TEST "INCIDENTD_TEST_" /* any name: the tests' own */

/* Non-zero when the environment name [s, s+n) is a setting's or a tool's. */
static int cfg_env_known(const char *s, size_t n)
{
    char name[128];
    if (strncmp(s, CFG_ENV_KAFKA, strlen(CFG_ENV_KAFKA)) == 0 ||
        strncmp(s, CFG_ENV_TEST, strlen(CFG_ENV_TEST)) == 0)
        return 1;
    for (size_t i = 0; i < sizeof(cfg_env_tools) / sizeof(cfg_env_tools[0]); i++)
        if (strlen(cfg_env_tools[i]) == n && memcmp(cfg_env_tools[i], s, n) == 0)
            return 1;
    for (size_t i = 0; i < CFG_N; i++) {
        if (cfg_is_pattern(&cfg_table[i]))
            continue;
        cfg_env_name(&cfg_table[i], name, sizeof(name));
        if (strlen(name) == n && memcmp(name, s, n) == 0)
            return 1;
    }
    return 0;
}

/* Rejects the first INCIDENTD_ variable that is neither a setting nor a
 * tool's, naming it and the closest setting. */
static int cfg_env_check(char *errstr, size_t errstr_size)
{
    char name[128], best[128] = "";
    for (char **ep = environ; ep && *ep; ep++) {
        const char *eq = strchr(*ep, '=');
        size_t n = eq ? (size_t)(eq - *ep) : strlen(*ep);
        if (strncmp(*ep, "INCIDENTD_", 10) != 0 || cfg_env_known(*ep, n))
            continue;
        snprintf(name, sizeof(name), "%.*s", (int)(n < 100 ? n : 100), *ep);
        size_t bestd = (size_t)-1;
        for (size_t i = 0; i < CFG_N; i++) {
            char cand[128];
            if (cfg_is_pattern(&cfg_table[i]))
                continue;
            cfg_env_name(&cfg_table[i], cand, sizeof(cand));
            size_t d = cfg_distance(name, cand);
            if (d < bestd) {
                bestd = d;
                snprintf(best, sizeof(best), "%s", cand);
            }
        }
        if (bestd <= 3)
            snprintf(errstr, errstr_size,
                     "env %s: unknown variable (did you mean %s?); an INCIDENTD_ variable must be "
                     "a setting (see incidentd --help)",
                     name, best);
        else
            snprintf(errstr, errstr_size,
                     "env %s: unknown variable; an INCIDENTD_ variable must be a setting (see "
                     "incidentd --help) or one of the scripts' names listed in README "
                     "\"Environment\"",
                     name);
        return -1;
    }
    return 0;
}

static int cfg_load_env(config_t *cfg, char *errstr, size_t errstr_size)
{
    char name[128], where[160];
    if (cfg_env_check(errstr, errstr_size) != 0)
        return -1;
    for (size_t i = 0; i < CFG_N; i++) {
        const cfg_entry_t *e = &cfg_table[i];
        if (cfg_is_pattern(e))
            continue;
        cfg_env_name(e, name, sizeof(name));
        const char *v = getenv(name);
        if (!v)
            continue;
        snprintf(where, sizeof(where), "env %s", name);
        if (cfg_set(cfg, CFG_SRC_ENV, e->name, v, where, errstr, errstr_size) != 0)
            return -1;
    }
    /* INCIDENTD_KAFKA_SASL_PASSWORD -> kafka.sasl.password ("__" -> "_") */
    size_t pl = strlen(CFG_ENV_KAFKA);
    for (char **ep = environ; ep && *ep; ep++) {
        const char *s = *ep;
        const char *eq = strchr(s, '=');
        if (!eq || strncmp(s, CFG_ENV_KAFKA, pl) != 0)
            continue;
        char key[256];
        size_t n = (size_t)snprintf(key, sizeof(key), "kafka.");
        for (const char *p = s + pl; p < eq && n + 1 < sizeof(key); p++) {
            if (p[0] == '_' && p + 1 < eq && p[1] == '_') {
                key[n++] = '_';
                p++;
            } else {
                key[n++] = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
            }
        }
        key[n] = '\0';
        snprintf(where, sizeof(where), "env %.*s", (int)(eq - s > 120 ? 120 : eq - s), s);
        if (cfg_set(cfg, CFG_SRC_ENV, key, eq + 1, where, errstr, errstr_size) != 0)
            return -1;
    }
    return 0;
}

/* ---- flags ---------------------------------------------------------------------- */

enum cfg_arg_kind {
    CFG_ARG_KEY,
    CFG_ARG_KAFKA,
    CFG_ARG_SET,
    CFG_ARG_PRINT_CONFIG,
    CFG_ARG_PRINT_SAMPLE,
    CFG_ARG_HELP,
    CFG_ARG_VERSION,
};

/* Flags that are not a table row's. */
static const struct cfg_flag {
    const char *name;
    enum cfg_arg_kind kind;
    int has_value;
    const char *meta;
    const char *help;
} cfg_flags[] = {
    {"kafka", CFG_ARG_KAFKA, 1, "PROP=VALUE", "kafka.PROP, a librdkafka property; repeatable"},
    {"set", CFG_ARG_SET, 1, "KEY=VALUE", "any configuration key below; repeatable"},
    {"print-config", CFG_ARG_PRINT_CONFIG, 0, NULL,
     "print the effective configuration (secrets masked), exit"},
    {"print-sample-config", CFG_ARG_PRINT_SAMPLE, 0, NULL,
     "print a commented sample configuration file, exit"},
    {"help", CFG_ARG_HELP, 0, NULL, "print this help, exit"},
    {"version", CFG_ARG_VERSION, 0, NULL, "print the version, exit"},
};

typedef struct cfg_arg {
    enum cfg_arg_kind kind;
    const cfg_entry_t *e; /* CFG_ARG_KEY */
    const char *flag;     /* as written, for messages */
    const char *value;    /* borrowed from argv */
} cfg_arg_t;

/* Reads argv into @p args (syntax only). Returns the count or -1. */
static int cfg_args_parse(int argc, char **argv, cfg_arg_t *args, char *errstr, size_t errstr_size)
{
    int n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0) {
            args[n++] = (cfg_arg_t){.kind = CFG_ARG_HELP, .flag = a};
            continue;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            snprintf(errstr, errstr_size, "unexpected argument '%s' (see --help)", a);
            return -1;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        cfg_arg_t arg = {.flag = a};
        int has_value = 0, found = 0;
        for (size_t k = 0; !found && k < CFG_N; k++)
            if (cfg_table[k].flag && strlen(cfg_table[k].flag) == nl &&
                strncmp(cfg_table[k].flag, name, nl) == 0) {
                arg.kind = CFG_ARG_KEY;
                arg.e = &cfg_table[k];
                has_value = found = 1;
            }
        for (size_t k = 0; !found && k < sizeof(cfg_flags) / sizeof(cfg_flags[0]); k++)
            if (strlen(cfg_flags[k].name) == nl && strncmp(cfg_flags[k].name, name, nl) == 0) {
                arg.kind = cfg_flags[k].kind;
                has_value = cfg_flags[k].has_value;
                found = 1;
            }
        if (!found) {
            snprintf(errstr, errstr_size, "unknown option '--%.*s' (see --help)", (int)nl, name);
            return -1;
        }
        if (has_value) {
            if (eq) {
                arg.value = eq + 1;
            } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
                arg.value = argv[++i];
            } else {
                snprintf(errstr, errstr_size, "option '--%.*s' needs a value", (int)nl, name);
                return -1;
            }
        } else if (eq) {
            snprintf(errstr, errstr_size, "option '--%.*s' takes no value", (int)nl, name);
            return -1;
        }
        args[n++] = arg;
    }
    return n;
}

static int cfg_args_apply(config_t *cfg, const cfg_arg_t *args, int n, char *errstr,
                          size_t errstr_size)
{
    char where[160];
    for (int i = 0; i < n; i++) {
        const cfg_arg_t *a = &args[i];
        const char *eq;
        int rc = 0;
        switch (a->kind) {
        case CFG_ARG_KEY:
            snprintf(where, sizeof(where), "flag --%s", a->e->flag);
            rc = cfg_set(cfg, CFG_SRC_FLAG, a->e->name, a->value, where, errstr, errstr_size);
            break;
        case CFG_ARG_KAFKA:
        case CFG_ARG_SET: {
            const char *opt = a->kind == CFG_ARG_KAFKA ? "kafka" : "set";
            snprintf(where, sizeof(where), "flag --%s", opt);
            eq = strchr(a->value, '=');
            if (!eq || eq == a->value) {
                snprintf(errstr, errstr_size, "%s: expected %s, got '%s'", where,
                         a->kind == CFG_ARG_KAFKA ? "PROP=VALUE" : "KEY=VALUE",
                         eq ? "=..." : a->value);
                return -1;
            }
            size_t kl = (size_t)(eq - a->value);
            char *key = malloc(kl + 7);
            if (!key)
                cfg_oom();
            snprintf(key, kl + 7, "%s%.*s", a->kind == CFG_ARG_KAFKA ? "kafka." : "", (int)kl,
                     a->value);
            rc = cfg_set(cfg, a->kind == CFG_ARG_KAFKA ? CFG_SRC_FLAG : CFG_SRC_SET, key, eq + 1,
                         where, errstr, errstr_size);
            free(key);
            break;
        }
        case CFG_ARG_PRINT_CONFIG:
            cfg->print_config = 1;
            break;
        default:
            break;
        }
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* ---- load / destroy ------------------------------------------------------------------- */

/* Points cfg->rules at the config's storage. */
static void cfg_rules_sync(config_t *cfg)
{
    hd_rules_t *r = &cfg->rules;
    r->critical_services = (const char **)cfg->critical_services.items;
    r->n_critical_services = cfg->critical_services.n;
    r->global_stakeholders = (const char **)cfg->global_stakeholders.items;
    r->n_global_stakeholders = cfg->global_stakeholders.n;
    for (int i = 0; i < 4; i++) {
        r->level_stakeholders[i] = (const char **)cfg->level_stakeholders[i].items;
        r->n_level_stakeholders[i] = cfg->level_stakeholders[i].n;
    }
    r->tm_stakeholder = cfg->tm_stakeholder;
    r->roster = cfg->roster;
    r->n_roster = cfg->n_roster;
    r->guidelines = cfg->guidelines;
    r->n_guidelines = cfg->n_guidelines;
}

static int cfg_finish(config_t *cfg, char *errstr, size_t errstr_size)
{
    int ingest = 0;
    char problem[256];
    if (cfg_stages_parse(cfg->stages, &cfg->stage_mask, &ingest, problem, sizeof(problem)) != 0) {
        snprintf(errstr, errstr_size, "stages: %s", problem);
        return -1;
    }
    if (!*cfg->ingest_http) {
        /* "all" means the ingest stage only where it has an address; named
         * explicitly without one is a mistake worth stopping for. */
        if (ingest) {
            snprintf(errstr, errstr_size,
                     "stages: 'ingest' needs ingest_http (--ingest-http HOST:PORT)");
            return -1;
        }
        cfg->stage_mask &= ~CONFIG_STAGE_INGEST;
    }
    cfg_rules_sync(cfg);
    return 0;
}

int config_load(config_t *cfg, int argc, char **argv, char *errstr, size_t errstr_size)
{
    cfg_arg_t *args = NULL;
    int rc = -1;
    memset(cfg, 0, sizeof(*cfg));
    if (errstr_size)
        errstr[0] = '\0';

    args = calloc(argc > 0 ? (size_t)argc : 1, sizeof(*args));
    if (!args)
        cfg_oom();
    int nargs = cfg_args_parse(argc, argv, args, errstr, errstr_size);
    if (nargs < 0)
        goto out;
    for (int i = 0; i < nargs; i++) {
        if (args[i].kind == CFG_ARG_HELP) {
            config_print_help(stdout);
            rc = 1;
            goto out;
        }
    }
    for (int i = 0; i < nargs; i++) {
        if (args[i].kind == CFG_ARG_VERSION) {
            fprintf(stdout, "incidentd %s\n", INCIDENTD_VERSION);
            rc = 1;
            goto out;
        }
        if (args[i].kind == CFG_ARG_PRINT_SAMPLE) {
            config_print_sample(stdout);
            rc = 1;
            goto out;
        }
    }

    for (size_t i = 0; i < CFG_N; i++) {
        const cfg_entry_t *e = &cfg_table[i];
        if (cfg_is_pattern(e))
            continue;
        char where[96];
        snprintf(where, sizeof(where), "default of %s", e->name);
        if (cfg_set(cfg, CFG_SRC_DEFAULT, e->name, e->def, where, errstr, errstr_size) != 0)
            goto out;
    }

    /* The file comes first among the sources, but its path may be a flag. */
    const char *path = getenv("INCIDENTD_CONFIG");
    for (int i = 0; i < nargs; i++)
        if (args[i].kind == CFG_ARG_KEY && args[i].e->off == offsetof(config_t, config_path))
            path = args[i].value;
    if (path && *path && cfg_load_file(cfg, path, errstr, errstr_size) != 0)
        goto out;
    if (cfg_load_env(cfg, errstr, errstr_size) != 0)
        goto out;
    if (cfg_args_apply(cfg, args, nargs, errstr, errstr_size) != 0)
        goto out;
    if (cfg_finish(cfg, errstr, errstr_size) != 0)
        goto out;
    rc = 0;
out:
    free(args);
    return rc;
}

void config_destroy(config_t *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < CFG_N; i++) {
        const cfg_entry_t *e = &cfg_table[i];
        switch (e->type) {
        case CFG_STR:
        case CFG_ENUM:
        case CFG_STAGES:
        case CFG_REDIS_URL:
            free(*(char **)cfg_field(cfg, e));
            break;
        case CFG_LIST:
            cfg_list_free(cfg_field(cfg, e));
            break;
        default:
            break;
        }
    }
    free(cfg->redis_host);
    for (size_t i = 0; i < cfg->n_kafka; i++) {
        free(cfg->kafka[i].key);
        free(cfg->kafka[i].value);
    }
    free(cfg->kafka);
    for (size_t i = 0; i < cfg->n_roster; i++) {
        free((char *)cfg->roster[i].service);
        free((char *)cfg->roster[i].owner);
    }
    free(cfg->roster);
    for (size_t i = 0; i < cfg->n_guidelines; i++) {
        free((char *)cfg->guidelines[i].service);
        free((char *)cfg->guidelines[i].text);
    }
    free(cfg->guidelines);
    memset(cfg, 0, sizeof(*cfg));
}

/* ---- output ----------------------------------------------------------------------- */

/* Prints @p v as a value: bare when it reads back the same, else quoted. */
static void cfg_put_value(FILE *out, const char *v)
{
    size_t n = strlen(v);
    int quote = n == 0 || cfg_is_space(v[0]) || cfg_is_space(v[n - 1]) || v[0] == '"';
    for (const char *p = v; !quote && *p; p++)
        if ((unsigned char)*p < 0x20)
            quote = 1;
    if (!quote) {
        fputs(v, out);
        return;
    }
    fputc('"', out);
    for (const char *p = v; *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        default:
            fputc(*p, out);
            break;
        }
    }
    fputc('"', out);
}

static void cfg_put_kv(FILE *out, const char *prefix, const char *key, const char *v, int secret)
{
    fprintf(out, "%s%s = ", prefix, key);
    if (secret && *v)
        fputs("***", out);
    else
        cfg_put_value(out, v);
    fputc('\n', out);
}

/* The value of a plain entry as text (caller frees). */
static char *cfg_value_text(const config_t *cfg, const cfg_entry_t *e)
{
    char buf[64];
    const void *field = cfg_cfield(cfg, e);
    switch (e->type) {
    case CFG_STR:
    case CFG_ENUM:
    case CFG_STAGES:
    case CFG_REDIS_URL: {
        const char *s = *(char *const *)field;
        return cfg_xstrdup(s ? s : "");
    }
    case CFG_INT:
        snprintf(buf, sizeof(buf), "%d", *(const int *)field);
        return cfg_xstrdup(buf);
    case CFG_U32:
        snprintf(buf, sizeof(buf), "%u", (unsigned)*(const uint32_t *)field);
        return cfg_xstrdup(buf);
    case CFG_DURATION:
        cfg_duration_format(*(const int64_t *)field, buf, sizeof(buf));
        return cfg_xstrdup(buf);
    case CFG_SEVERITY:
        return cfg_xstrdup(cfg_severity_name(*(const Incident__V1__Severity *)field));
    case CFG_LIST: {
        const config_list_t *l = field;
        size_t len = 1;
        for (size_t i = 0; i < l->n; i++)
            len += strlen(l->items[i]) + 2;
        char *s = malloc(len);
        if (!s)
            cfg_oom();
        size_t n = 0;
        for (size_t i = 0; i < l->n; i++)
            n += (size_t)snprintf(s + n, len - n, "%s%s", i ? ", " : "", l->items[i]);
        s[n] = '\0';
        return s;
    }
    default:
        return cfg_xstrdup("");
    }
}

void config_print(const config_t *cfg, FILE *out)
{
    fprintf(out, "# incidentd %s effective configuration (secrets masked)\n", INCIDENTD_VERSION);
    for (size_t i = 0; i < CFG_N; i++) {
        const cfg_entry_t *e = &cfg_table[i];
        if (e->section)
            fprintf(out, "\n# ---- %s\n", e->section);
        switch (e->type) {
        case CFG_KAFKA:
            for (size_t k = 0; k < cfg->n_kafka; k++)
                cfg_put_kv(out, "kafka.", cfg->kafka[k].key, cfg->kafka[k].value,
                           cfg_kafka_is_secret(cfg->kafka[k].key));
            break;
        case CFG_ROSTER:
            for (size_t k = 0; k < cfg->n_roster; k++) {
                const hd_roster_entry_t *r = &cfg->roster[k];
                const char *svc = strcmp(r->service, "*") == 0 ? "default" : r->service;
                fprintf(out, "roster.%s.%s = ", cfg_role_name(r->role), svc);
                cfg_put_value(out, r->owner);
                fputc('\n', out);
            }
            break;
        case CFG_GUIDELINE:
            for (size_t k = 0; k < cfg->n_guidelines; k++) {
                const hd_guideline_t *g = &cfg->guidelines[k];
                cfg_put_kv(out, "guideline.", strcmp(g->service, "*") == 0 ? "default" : g->service,
                           g->text, 0);
            }
            break;
        default: {
            char *v = cfg_value_text(cfg, e);
            if (e->flags & CFG_F_NOFILE) {
                fprintf(out, "# %s: ", e->name); /* not a file key */
                cfg_put_value(out, v);
                fputc('\n', out);
            } else {
                cfg_put_kv(out, "", e->name, v, (e->flags & CFG_F_SECRET) != 0);
            }
            free(v);
            break;
        }
        }
    }
}

/* Prints @p text line by line, each prefixed by @p prefix. */
static void cfg_put_lines(FILE *out, const char *prefix, const char *text)
{
    while (*text) {
        const char *nl = strchr(text, '\n');
        size_t n = nl ? (size_t)(nl - text) : strlen(text);
        fprintf(out, "%s%.*s\n", prefix, (int)n, text);
        text += n + (nl ? 1 : 0);
    }
}

/* "env INCIDENTD_X, flag --x, range 1..10" for one entry. */
static void cfg_sources_text(const cfg_entry_t *e, char *buf, size_t size)
{
    char env[128], lo[32], hi[32];
    size_t n = 0;
    buf[0] = '\0';
    switch (e->type) {
    case CFG_KAFKA:
        snprintf(buf, size, "env " CFG_ENV_KAFKA "<PROPERTY>, flag --kafka PROP=VALUE");
        return;
    case CFG_ROSTER:
    case CFG_GUIDELINE:
        snprintf(buf, size, "flag --set KEY=VALUE");
        return;
    default:
        break;
    }
    cfg_env_name(e, env, sizeof(env));
    n += (size_t)snprintf(buf + n, size - n, "env %s", env);
    if (e->flag && n < size)
        n += (size_t)snprintf(buf + n, size - n, ", flag --%s", e->flag);
    if (n < size && (e->type == CFG_INT || e->type == CFG_U32))
        n += (size_t)snprintf(buf + n, size - n, ", range %lld..%lld", (long long)e->min,
                              (long long)e->max);
    if (n < size && e->type == CFG_DURATION) {
        cfg_duration_format(e->min, lo, sizeof(lo));
        cfg_duration_format(e->max, hi, sizeof(hi));
        n += (size_t)snprintf(buf + n, size - n, ", range %s..%s", lo, hi);
    }
    if (n < size && (e->flags & CFG_F_SECRET))
        snprintf(buf + n, size - n, ", secret");
}

void config_print_sample(FILE *out)
{
    fputs("# incidentd.conf — sample configuration.\n"
          "#\n"
          "# Generated by `incidentd --print-sample-config` from the settings table in\n"
          "# daemon/config.c; do not edit by hand, regenerate.\n"
          "#\n"
          "# One \"key = value\" per line; '#' starts a comment line. A value may be\n"
          "# double-quoted (escapes \\\" \\\\ \\n \\t), which keeps surrounding spaces.\n"
          "# Durations: 500ms, 10s, 30m, 1h, 7d, or combined (1h30m); a plain number\n"
          "# is milliseconds. Lists are comma separated.\n"
          "#\n"
          "# Sources, later ones win: defaults < this file (--config, INCIDENTD_CONFIG)\n"
          "# < environment < flags. Each setting below is shown with its default,\n"
          "# commented out; keep secrets in the environment, not here.\n",
          out);
    char src[256];
    for (size_t i = 0; i < CFG_N; i++) {
        const cfg_entry_t *e = &cfg_table[i];
        if (e->section)
            fprintf(out, "\n# ==== %s ====\n", e->section);
        if (e->flags & CFG_F_NOFILE)
            continue;
        fputc('\n', out);
        cfg_put_lines(out, "# ", e->help);
        cfg_sources_text(e, src, sizeof(src));
        fprintf(out, "# (%s)\n", src);
        if (cfg_is_pattern(e)) {
            cfg_put_lines(out, "#", e->example);
        } else {
            fprintf(out, "#%s = ", e->name);
            cfg_put_value(out, e->def);
            fputc('\n', out);
        }
    }
}

void config_print_help(FILE *out)
{
    char opt[64], src[256];
    fputs("Usage: incidentd [options]\n"
          "\n"
          "Runs stages of the incident process: Kafka in, state in Redis, Kafka out.\n"
          "Settings come from defaults < config file < environment < flags.\n"
          "\n"
          "Options (each sets the configuration key named on the right):\n",
          out);
    for (size_t i = 0; i < CFG_N; i++) {
        const cfg_entry_t *e = &cfg_table[i];
        if (!e->flag)
            continue;
        snprintf(opt, sizeof(opt), "--%s %s", e->flag, e->meta);
        fprintf(out, "  %-30s %s\n", opt, e->name);
    }
    fputs("\nOther options:\n", out);
    for (size_t i = 0; i < sizeof(cfg_flags) / sizeof(cfg_flags[0]); i++) {
        const struct cfg_flag *f = &cfg_flags[i];
        if (f->kind == CFG_ARG_HELP)
            snprintf(opt, sizeof(opt), "-h, --help");
        else
            snprintf(opt, sizeof(opt), "--%s%s%s", f->name, f->meta ? " " : "",
                     f->meta ? f->meta : "");
        fprintf(out, "  %-30s %s\n", opt, f->help);
    }
    fputs("  (--opt=VALUE works as well as --opt VALUE)\n"
          "\n"
          "Configuration keys (key = default):\n",
          out);
    for (size_t i = 0; i < CFG_N; i++) {
        const cfg_entry_t *e = &cfg_table[i];
        if (e->section)
            fprintf(out, "\n  %s\n", e->section);
        if (cfg_is_pattern(e)) {
            fprintf(out, "  %s\n", e->name);
        } else {
            fprintf(out, "  %s = ", e->name);
            cfg_put_value(out, e->def);
            fputc('\n', out);
        }
        cfg_put_lines(out, "      ", e->help);
        cfg_sources_text(e, src, sizeof(src));
        fprintf(out, "      (%s)\n", src);
    }
}
