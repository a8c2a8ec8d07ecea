/*
 * config.c — loading the configuration: defaults, file, environment, flags.
 *
 * The settings are the rows of config_table.c; this file reads the four
 * sources in order (defaults < file < environment < flags), looks each key
 * up in the table, hands its text to config_value_apply() (config_value.c)
 * and names the source in every error ("path:line", "env X", "flag --x").
 * At the end it validates what only the whole can tell (stages against
 * ingest_http) and points cfg->rules at the config's storage. See config.h.
 *
 * Out of memory aborts with a message (as the arena does).
 */
#include "config_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

/* ---- memory ------------------------------------------------------------- */

static void config_oom(void)
{
    fputs("incidentd: out of memory\n", stderr);
    abort();
}

void *config_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        config_oom();
    return q;
}

char *config_xstrndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        config_oom();
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *config_xstrdup(const char *s) { return config_xstrndup(s, strlen(s)); }

void config_list_free(config_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

/* ---- the table ------------------------------------------------------------ */

/* INCIDENTD_ + the key upper-cased, '.' -> '_'. */
void config_env_name(const cfg_entry_t *e, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "INCIDENTD_");
    for (const char *p = e->name; *p && n + 1 < size; p++)
        buf[n++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    buf[n < size ? n : size - 1] = '\0';
}

/* ---- setting one key ------------------------------------------------------------ */

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
    for (size_t i = 0; i < config_table_len; i++) {
        const cfg_entry_t *e = &config_table[i];
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
        for (size_t i = 0; i < config_table_len; i++) {
            if (cfg_is_pattern(&config_table[i]) || (config_table[i].flags & CFG_F_NOFILE))
                continue;
            size_t d = cfg_distance(key, config_table[i].name);
            if (d < bestd) {
                bestd = d;
                best = config_table[i].name;
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
    if (config_value_apply(cfg, e, key, value, problem, sizeof(problem)) != 0) {
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
        return config_xstrndup(b, (size_t)(e - b));
    char *out = malloc((size_t)(e - b) + 1);
    if (!out)
        config_oom();
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
        char *key = config_xstrndup(kb, (size_t)(ke - kb));
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

/*
 * INCIDENTD_ names that are not settings: the scripts and tests use them
 * (README, "Environment"). Any other INCIDENTD_ name that is not a setting is
 * rejected like an unknown key, so a misspelt INCIDENTD_REDIS_PASWORD is an
 * error, not silently the default.
 */
static const char *const cfg_env_tools[] = {
    "INCIDENTD_BIN",           "INCIDENTD_CACHE",          "INCIDENTD_CRASH_INCIDENTS",
    "INCIDENTD_CRASH_SEED",    "INCIDENTD_FUZZ_SECONDS",   "INCIDENTD_KEEP_TESTBED",
    "INCIDENTD_REDIS_PERSIST", "INCIDENTD_SKIP_DEPS",      "INCIDENTD_SOURCE_DIR",
    "INCIDENTD_TESTBED_ENV",   "INCIDENTD_STRESS_SECONDS", "INCIDENTD_STRESS_ROUNDS",
    "INCIDENTD_STRESS_ALERTS", "INCIDENTD_STRESS_SEED",    "INCIDENTD_NOTIFY_STORM",
    "INCIDENTD_ACTOR",         "INCIDENTD_HA_SECONDS", /* tests/integration/test_ha_kafka.c */
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
    for (size_t i = 0; i < config_table_len; i++) {
        if (cfg_is_pattern(&config_table[i]))
            continue;
        config_env_name(&config_table[i], name, sizeof(name));
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
        for (size_t i = 0; i < config_table_len; i++) {
            char cand[128];
            if (cfg_is_pattern(&config_table[i]))
                continue;
            config_env_name(&config_table[i], cand, sizeof(cand));
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
    for (size_t i = 0; i < config_table_len; i++) {
        const cfg_entry_t *e = &config_table[i];
        if (cfg_is_pattern(e))
            continue;
        config_env_name(e, name, sizeof(name));
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

/* Flags that are not a table row's. */
const cfg_flag_t config_flags[] = {
    {"kafka", CFG_ARG_KAFKA, 1, "PROP=VALUE", "kafka.PROP, a librdkafka property; repeatable"},
    {"set", CFG_ARG_SET, 1, "KEY=VALUE", "any configuration key below; repeatable"},
    {"print-config", CFG_ARG_PRINT_CONFIG, 0, NULL,
     "print the effective configuration (secrets masked), exit"},
    {"print-sample-config", CFG_ARG_PRINT_SAMPLE, 0, NULL,
     "print a commented sample configuration file, exit"},
    {"help", CFG_ARG_HELP, 0, NULL, "print this help, exit"},
    {"version", CFG_ARG_VERSION, 0, NULL, "print the version, exit"},
};

const size_t config_flags_len = sizeof(config_flags) / sizeof(config_flags[0]);

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
        for (size_t k = 0; !found && k < config_table_len; k++)
            if (config_table[k].flag && strlen(config_table[k].flag) == nl &&
                strncmp(config_table[k].flag, name, nl) == 0) {
                arg.kind = CFG_ARG_KEY;
                arg.e = &config_table[k];
                has_value = found = 1;
            }
        for (size_t k = 0; !found && k < config_flags_len; k++)
            if (strlen(config_flags[k].name) == nl &&
                strncmp(config_flags[k].name, name, nl) == 0) {
                arg.kind = config_flags[k].kind;
                has_value = config_flags[k].has_value;
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
                config_oom();
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

/* The directory as the rules see it: who has which channels. */
static void cfg_contacts_sync(config_t *cfg)
{
    free(cfg->contacts);
    size_t n = cfg->n_people + cfg->n_clients;
    cfg->contacts = n ? calloc(n, sizeof(*cfg->contacts)) : NULL;
    if (n && !cfg->contacts)
        config_oom();
    for (size_t i = 0; i < n; i++) {
        const directory_entry_t *e =
            i < cfg->n_people ? &cfg->people[i] : &cfg->clients[i - cfg->n_people];
        hd_contact_t *c = &cfg->contacts[i];
        c->name = e->name;
        c->client = e->kind == DIRECTORY_CLIENT;
        c->channels = (*e->email ? HD_CHANNEL_EMAIL : 0) | (*e->webhook ? HD_CHANNEL_WEBHOOK : 0) |
                      (e->slack && *e->slack ? HD_CHANNEL_SLACK : 0);
    }
    cfg->rules.contacts = cfg->contacts;
    cfg->rules.n_contacts = n;
}

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
    r->completion_signoff = (const char **)cfg->completion_signoff.items;
    r->n_completion_signoff = cfg->completion_signoff.n;
    cfg_contacts_sync(cfg);
}

/* review.required into the rules: "global", a severity (that one and
 * higher), "none". Returns 0, or -1 naming the word it does not know. */
static int cfg_review_required(config_t *cfg, char *errstr, size_t errstr_size)
{
    hd_rules_t *r = &cfg->rules;
    r->review_required_global = 0;
    r->review_min_severity = INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED;
    for (size_t i = 0; i < cfg->review_required.n; i++) {
        const char *w = cfg->review_required.items[i];
        Incident__V1__Severity sev;
        if (strcasecmp(w, "global") == 0)
            r->review_required_global = 1;
        else if (strcasecmp(w, "none") == 0)
            continue;
        else if (config_severity_parse(w, &sev) == 0)
            r->review_min_severity = sev;
        else {
            snprintf(errstr, errstr_size, "review.required: '%s' is not global, none or a severity",
                     w);
            return -1;
        }
    }
    return 0;
}

/* What only the whole of the notify settings and the directory can tell. */
static int cfg_notify_check(const config_t *cfg, char *errstr, size_t errstr_size)
{
    if (cfg->notify_retry_initial_ms > cfg->notify_retry_max_ms) {
        snprintf(errstr, errstr_size, "notify.retry.initial: longer than notify.retry.max");
        return -1;
    }
    for (size_t i = 0; i < cfg->n_people; i++) {
        const directory_entry_t *p = &cfg->people[i];
        for (size_t j = 0; *p->token && j < i; j++)
            if (strcmp(cfg->people[j].token, p->token) == 0) {
                snprintf(errstr, errstr_size,
                         "people.%s.token: the same token as people.%s.token (each person needs "
                         "a token of their own)",
                         p->name, cfg->people[j].name);
                return -1;
            }
    }
    if (*cfg->notify_smtp_url)
        return 0;
    for (size_t k = 0; k < 2; k++) {
        const directory_entry_t *v = k ? cfg->clients : cfg->people;
        size_t n = k ? cfg->n_clients : cfg->n_people;
        for (size_t i = 0; i < n; i++)
            if (*v[i].email) {
                snprintf(errstr, errstr_size,
                         "%s.%s.email: needs notify.smtp_url (it is \"\": no email channel)",
                         k ? "clients" : "people", v[i].name);
                return -1;
            }
    }
    return 0;
}

static int cfg_finish(config_t *cfg, char *errstr, size_t errstr_size)
{
    unsigned named = 0;
    char problem[256];
    if (cfg_review_required(cfg, errstr, errstr_size) < 0)
        return -1;
    if (cfg_notify_check(cfg, errstr, errstr_size) < 0)
        return -1;
    if (config_stages_parse(cfg->stages, &cfg->stage_mask, &named, problem, sizeof(problem)) != 0) {
        snprintf(errstr, errstr_size, "stages: %s", problem);
        return -1;
    }
    /* "all" means the HTTP stages only where they have an address; named
     * explicitly without one is a mistake worth stopping for. */
    const struct {
        unsigned bit;
        const char *addr, *what;
    } http_stages[] = {
        {CONFIG_STAGE_INGEST, cfg->ingest_http,
         "'ingest' needs ingest_http (--ingest-http HOST:PORT)"},
        {STAGE_BIT_API, cfg->api, "'api' needs api (--api HOST:PORT)"},
    };
    for (size_t i = 0; i < sizeof(http_stages) / sizeof(http_stages[0]); i++) {
        if (*http_stages[i].addr)
            continue;
        if (named & http_stages[i].bit) {
            snprintf(errstr, errstr_size, "stages: %s", http_stages[i].what);
            return -1;
        }
        cfg->stage_mask &= ~http_stages[i].bit;
    }
    cfg_rules_sync(cfg);
    return schedule_finish(&cfg->schedule, &cfg->rules, errstr, errstr_size);
}

int config_load(config_t *cfg, int argc, char **argv, char *errstr, size_t errstr_size)
{
    cfg_arg_t *args = NULL;
    int rc = -1;
    memset(cfg, 0, sizeof(*cfg));
    /* The rules' defaults first: the table's rows set what is configurable,
     * a rule without a row keeps the contract's default. */
    hd_rules_default(&cfg->rules);
    if (errstr_size)
        errstr[0] = '\0';

    args = calloc(argc > 0 ? (size_t)argc : 1, sizeof(*args));
    if (!args)
        config_oom();
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

    for (size_t i = 0; i < config_table_len; i++) {
        const cfg_entry_t *e = &config_table[i];
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
    for (size_t i = 0; i < config_table_len; i++) {
        const cfg_entry_t *e = &config_table[i];
        switch (e->type) {
        case CFG_STR:
        case CFG_ENUM:
        case CFG_STAGES:
        case CFG_REDIS_URL:
            free(*(char **)cfg_field(cfg, e));
            break;
        case CFG_LIST:
            config_list_free(cfg_field(cfg, e));
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
    free(cfg->contacts);
    config_directory_free(cfg->people, cfg->n_people);
    config_directory_free(cfg->clients, cfg->n_clients);
    schedule_free(&cfg->schedule);
    memset(cfg, 0, sizeof(*cfg));
}
