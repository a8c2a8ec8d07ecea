/*
 * config_internal.h — what the four config files share; not for other rooms.
 *
 * The configuration module is one module in four files:
 *   config_table.c  the settings table, the only place a setting is described
 *   config.c        loading: defaults, file, environment, flags, validation
 *   config_value.c  one value of each type: parse, check, store
 *   config_print.c  --help, the sample config, --print-config
 * This header declares the row type and the helpers they share. Everything
 * here runs on the thread that loads or prints (start-up).
 *
 * Out of memory aborts with a message (as the arena does).
 */
#ifndef INCIDENTD_CONFIG_INTERNAL_H
#define INCIDENTD_CONFIG_INTERNAL_H

#include "config.h"

#include <string.h>

#define CFG_MS_S 1000LL
#define CFG_MS_M (60 * CFG_MS_S)
#define CFG_MS_H (60 * CFG_MS_M)
#define CFG_MS_D (24 * CFG_MS_H)

/* ---- the row ------------------------------------------------------------- */

typedef enum cfg_type {
    CFG_STR,         /* char * */
    CFG_INT,         /* int, min..max */
    CFG_U32,         /* uint32_t, min..max */
    CFG_DURATION,    /* int64_t ms, min..max */
    CFG_SEVERITY,    /* Incident__V1__Severity, INFO..CRITICAL */
    CFG_LIST,        /* config_list_t, comma list */
    CFG_ENUM,        /* char *, one of choices */
    CFG_STAGES,      /* char * + stage_mask */
    CFG_REDIS_URL,   /* char * (canonical) + redis_host/port/db/user/password */
    CFG_ROSTER,      /* pattern roster.<role>.<service> */
    CFG_GUIDELINE,   /* pattern guideline.<service> */
    CFG_KAFKA,       /* pattern kafka.<property> */
    CFG_PEOPLE,      /* pattern people.<name>.<field> (directory.h) */
    CFG_CLIENTS,     /* pattern clients.<client>.<field> (directory.h) */
    CFG_MAINTENANCE, /* pattern maintenance.<name>.<field> (schedule.h) */
    CFG_ROTATION,    /* pattern rotation.<name>.<field> (schedule.h) */
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
    cfg_check_fn check;  /* extra validation of CFG_STR; of CFG_INT after its range */
    const char *section; /* starts a section in --help and the sample */
    const char *help;    /* lines separated by '\n' */
    const char *example; /* patterns: sample "key = value" lines */
} cfg_entry_t;

/* The settings table (config_table.c), in --help and sample order. */
extern const cfg_entry_t config_table[];
extern const size_t config_table_len;

static inline int cfg_is_pattern(const cfg_entry_t *e)
{
    return e->type == CFG_ROSTER || e->type == CFG_GUIDELINE || e->type == CFG_KAFKA ||
           e->type == CFG_PEOPLE || e->type == CFG_CLIENTS || e->type == CFG_MAINTENANCE ||
           e->type == CFG_ROTATION;
}

/* Length of a pattern's fixed prefix, dot included ("kafka." -> 6). */
static inline size_t cfg_pattern_prefix_len(const cfg_entry_t *e)
{
    return (size_t)(strchr(e->name, '<') - e->name);
}

static inline int cfg_is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Trims white space off [*b, *e) in place. */
static inline void cfg_trim(const char **b, const char **e)
{
    while (*b < *e && cfg_is_space(**b))
        (*b)++;
    while (*e > *b && cfg_is_space((*e)[-1]))
        (*e)--;
}

/* The config_t field of a plain (not pattern) row. */
static inline void *cfg_field(config_t *cfg, const cfg_entry_t *e) { return (char *)cfg + e->off; }

static inline const void *cfg_cfield(const config_t *cfg, const cfg_entry_t *e)
{
    return (const char *)cfg + e->off;
}

/* ---- the options that are not a row's (config.c) -------------------------- */

enum cfg_arg_kind {
    CFG_ARG_KEY,
    CFG_ARG_KAFKA,
    CFG_ARG_SET,
    CFG_ARG_PRINT_CONFIG,
    CFG_ARG_PRINT_SAMPLE,
    CFG_ARG_HELP,
    CFG_ARG_VERSION,
};

typedef struct cfg_flag {
    const char *name;
    enum cfg_arg_kind kind;
    int has_value;
    const char *meta;
    const char *help;
} cfg_flag_t;

extern const cfg_flag_t config_flags[];
extern const size_t config_flags_len;

/* INCIDENTD_KAFKA_<PROPERTY> sets kafka.<property>. */
#define CFG_ENV_KAFKA "INCIDENTD_KAFKA_"

/** INCIDENTD_ + the row's key upper-cased, '.' -> '_', into @p buf. */
void config_env_name(const cfg_entry_t *e, char *buf, size_t size);

/* ---- memory (config.c): out of memory aborts ------------------------------ */

void *config_xrealloc(void *p, size_t n);
char *config_xstrndup(const char *s, size_t n);
/** A copy of @p s; caller frees with free(). */
char *config_xstrdup(const char *s);
void config_list_free(config_list_t *l);

/* ---- values (config_value.c) ---------------------------------------------- */

/**
 * Sets row @p e (for a pattern, the key @p key) from the text @p v. Returns
 * 0, or -1 with the problem, without location or key, in @p err.
 */
int config_value_apply(config_t *cfg, const cfg_entry_t *e, const char *key, const char *v,
                       char *err, size_t err_size);

/** Parses a stage list; @p explicit_ingest (may be NULL) is set when
 *  "ingest" is named. Returns 0 or -1 with the problem in @p err. */
int config_stages_parse(const char *s, unsigned *mask, unsigned *named, char *err, size_t err_size);

/** Row checks named by config_table.c. */
int config_check_topic_prefix(const char *v, char *err, size_t err_size);
int config_check_hostport(const char *v, char *err, size_t err_size);
int config_check_sentinels(const char *v, char *err, size_t err_size);
int config_check_replication(const char *v, char *err, size_t err_size);
int config_check_smtp_url(const char *v, char *err, size_t err_size);
int config_check_email(const char *v, char *err, size_t err_size);
int config_check_http_url(const char *v, char *err, size_t err_size);

/** Frees the strings of the directory entries @p v[0..n) and @p v. */
void config_directory_free(directory_entry_t *v, size_t n);

/** Names for output; never NULL. */
const char *config_severity_name(Incident__V1__Severity sev);
const char *config_role_name(Incident__V1__Role role);

/** Non-zero when a librdkafka property's value must not be shown. */
int config_kafka_is_secret(const char *prop);

/** A severity name (INFO … CRITICAL, SEVERITY_ prefix allowed, any case).
 *  Returns 0, or -1 when unknown. */
int config_severity_parse(const char *s, Incident__V1__Severity *out);

#endif
