/*
 * config_print.c — the configuration as text: --help, the commented sample
 * config (--print-sample-config, committed as deploy/incidentd.conf) and the
 * effective configuration (--print-config) with secrets masked as "***".
 *
 * All three are printed from the rows of config_table.c, so a setting added
 * there shows up here without a line changed. Every value printed reads back
 * the same through config_load() (quoted and escaped where it must be).
 */
#include "config_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- values ----------------------------------------------------------------------- */

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
        return config_xstrdup(s ? s : "");
    }
    case CFG_INT:
        snprintf(buf, sizeof(buf), "%d", *(const int *)field);
        return config_xstrdup(buf);
    case CFG_U32:
        snprintf(buf, sizeof(buf), "%u", (unsigned)*(const uint32_t *)field);
        return config_xstrdup(buf);
    case CFG_DURATION:
        config_format_duration_ms(*(const int64_t *)field, buf, sizeof(buf));
        return config_xstrdup(buf);
    case CFG_SEVERITY:
        return config_xstrdup(config_severity_name(*(const Incident__V1__Severity *)field));
    case CFG_LIST: {
        const config_list_t *l = field;
        size_t len = 1;
        for (size_t i = 0; i < l->n; i++)
            len += strlen(l->items[i]) + 2;
        char *s = config_xrealloc(NULL, len);
        size_t n = 0;
        for (size_t i = 0; i < l->n; i++)
            n += (size_t)snprintf(s + n, len - n, "%s%s", i ? ", " : "", l->items[i]);
        s[n] = '\0';
        return s;
    }
    default:
        return config_xstrdup("");
    }
}

/* The directory entries @p v[0..n) as "<prefix>.<name>.<field> = value" lines:
 * every field given, the token and the Slack URL masked. */
static void cfg_put_directory(FILE *out, const char *prefix, const directory_entry_t *v, size_t n)
{
    char key[512];
    for (size_t i = 0; i < n; i++) {
        const directory_entry_t *e = &v[i];
        const struct {
            const char *field, *value;
            int secret;
        } fields[] = {
            {"email", e->email, 0},
            {"webhook", e->webhook, 0},
            {"slack", e->slack, 1},
            {"token", e->token, 1},
        };
        for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
            if (!*fields[f].value)
                continue;
            snprintf(key, sizeof(key), "%s.%s", e->name, fields[f].field);
            cfg_put_kv(out, prefix, key, fields[f].value, fields[f].secret);
        }
        if (e->kind == DIRECTORY_PERSON)
            fprintf(out, "%s%s.role = %s\n", prefix, e->name, directory_role_name(e->role));
    }
}

void config_print(const config_t *cfg, FILE *out)
{
    fprintf(out, "# incidentd %s effective configuration (secrets masked)\n", INCIDENTD_VERSION);
    for (size_t i = 0; i < config_table_len; i++) {
        const cfg_entry_t *e = &config_table[i];
        if (e->section)
            fprintf(out, "\n# ---- %s\n", e->section);
        switch (e->type) {
        case CFG_KAFKA:
            for (size_t k = 0; k < cfg->n_kafka; k++)
                cfg_put_kv(out, "kafka.", cfg->kafka[k].key, cfg->kafka[k].value,
                           config_kafka_is_secret(cfg->kafka[k].key));
            break;
        case CFG_ROSTER:
            for (size_t k = 0; k < cfg->n_roster; k++) {
                const hd_roster_entry_t *r = &cfg->roster[k];
                const char *svc = strcmp(r->service, "*") == 0 ? "default" : r->service;
                fprintf(out, "roster.%s.%s = ", config_role_name(r->role), svc);
                cfg_put_value(out, r->owner);
                fputc('\n', out);
            }
            break;
        case CFG_PEOPLE:
            cfg_put_directory(out, "people.", cfg->people, cfg->n_people);
            break;
        case CFG_CLIENTS:
            cfg_put_directory(out, "clients.", cfg->clients, cfg->n_clients);
            break;
        case CFG_MAINTENANCE:
            schedule_print(&cfg->schedule, SCHEDULE_MAINTENANCE, out);
            break;
        case CFG_ROTATION:
            schedule_print(&cfg->schedule, SCHEDULE_ROTATION, out);
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
    case CFG_PEOPLE:
    case CFG_CLIENTS:
    case CFG_MAINTENANCE:
    case CFG_ROTATION:
        snprintf(buf, size, "flag --set KEY=VALUE");
        return;
    default:
        break;
    }
    config_env_name(e, env, sizeof(env));
    n += (size_t)snprintf(buf + n, size - n, "env %s", env);
    if (e->flag && n < size)
        n += (size_t)snprintf(buf + n, size - n, ", flag --%s", e->flag);
    if (n < size && (e->type == CFG_INT || e->type == CFG_U32))
        n += (size_t)snprintf(buf + n, size - n, ", range %lld..%lld", (long long)e->min,
                              (long long)e->max);
    if (n < size && e->type == CFG_DURATION) {
        config_format_duration_ms(e->min, lo, sizeof(lo));
        config_format_duration_ms(e->max, hi, sizeof(hi));
        n += (size_t)snprintf(buf + n, size - n, ", range %s..%s", lo, hi);
    }
    if (n < size && (e->flags & CFG_F_SECRET))
        snprintf(buf + n, size - n, ", secret");
}

void config_print_sample(FILE *out)
{
    /* The text below is deploy/incidentd.conf byte for byte (test_config
     * checks it): "daemon/config.c" stays until that file is regenerated. */
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
    for (size_t i = 0; i < config_table_len; i++) {
        const cfg_entry_t *e = &config_table[i];
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
    for (size_t i = 0; i < config_table_len; i++) {
        const cfg_entry_t *e = &config_table[i];
        if (!e->flag)
            continue;
        snprintf(opt, sizeof(opt), "--%s %s", e->flag, e->meta);
        fprintf(out, "  %-30s %s\n", opt, e->name);
    }
    fputs("\nOther options:\n", out);
    for (size_t i = 0; i < config_flags_len; i++) {
        const cfg_flag_t *f = &config_flags[i];
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
    for (size_t i = 0; i < config_table_len; i++) {
        const cfg_entry_t *e = &config_table[i];
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
