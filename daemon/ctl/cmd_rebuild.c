/*
 * cmd_rebuild.c — incidentctl rebuild: rebuilds the live Redis state from
 * the ORMIS audit topic with rebuild() (the function the daemon can call
 * too), after asking on a terminal unless --yes or --dry-run. Owned by the
 * ctl room.
 *
 * @locality incidentctl's main thread
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_opts.h"
#include "ctl_out.h"
#include "rebuild.h"

/* rebuild's options. */
typedef struct ctl_rebuild {
    rebuild_opts_t o;
    int yes;
} ctl_rebuild_t;

/* ---- options ----------------------------------------------------------------------- */

/* A positive duration into @p out; @p expected for the message. */
static int ctl_rebuild_duration(ctl_t *c, const ctl_opt_t *opt, const char *expected,
                                const char *arg, int64_t *out)
{
    if (ctl_parse_duration(arg, out) < 0 || *out <= 0)
        return ctl_opt_bad(c, opt, expected, arg);
    return CTL_OPT_OK;
}

static int ctl_rebuild_opt_ack(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    ctl_rebuild_t *rb = base;
    return ctl_rebuild_duration(c, opt, "a duration such as 30m", arg, &rb->o.ack_timeout_ms);
}

static int ctl_rebuild_opt_retention(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    ctl_rebuild_t *rb = base;
    return ctl_rebuild_duration(c, opt, "a duration such as 7d", arg, &rb->o.retention_ms);
}

static int ctl_rebuild_opt_level(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    ctl_rebuild_t *rb = base;
    long long v = 0;
    int rc = ctl_opt_uint(c, opt, arg, 1, 100, "1..100", &v);
    if (rc == CTL_OPT_OK)
        rb->o.max_level = (uint32_t)v;
    return rc;
}

static const ctl_opt_t ctl_rebuild_opts[] = {
    {.name = "yes",
     .help = "do it without asking",
     .set = ctl_opt_flag,
     .off = offsetof(ctl_rebuild_t, yes)},
    {.name = "dry-run",
     .help = "read and compare only, write nothing",
     .set = ctl_opt_flag,
     .off = offsetof(ctl_rebuild_t, o.dry_run)},
    {.name = "ack-timeout",
     .arg = "D",
     .help = "re-armed ack timers fire at the last record + D\n(default 30m)",
     .set = ctl_rebuild_opt_ack},
    {.name = "max-level",
     .arg = "N",
     .help = "highest escalation level (default 3)",
     .set = ctl_rebuild_opt_level},
    {.name = "retention",
     .arg = "D",
     .help = "closed incidents still in Redis expire after D (7d)",
     .set = ctl_rebuild_opt_retention},
    {.name = "skip-broken",
     .help = "leave incidents whose chain is broken alone",
     .set = ctl_opt_flag,
     .off = offsetof(ctl_rebuild_t, o.skip_broken)},
    {0},
};

/* ---- running ----------------------------------------------------------------------- */

/* Without --yes or --dry-run: asks on a terminal. Returns CTL_GO or an exit code. */
static int ctl_rebuild_confirm(const ctl_t *c, const ctl_rebuild_t *rb, const char *topic)
{
    char where[512];
    store_admin_redact(c->redis, where, sizeof(where));
    if (rb->yes || rb->o.dry_run)
        return CTL_GO;
    if (!isatty(STDIN_FILENO)) {
        ctl_err(c, "this writes the live state in %s: pass --yes (or --dry-run)", where);
        return CTL_EXIT_USAGE;
    }
    fprintf(stderr, "Rebuild the live state in %s from %s on %s? [y/N] ", where, topic, c->brokers);
    char answer[16] = "";
    if (!fgets(answer, sizeof(answer), stdin) || (answer[0] != 'y' && answer[0] != 'Y')) {
        ctl_err(c, "not confirmed: nothing written");
        return CTL_EXIT_USAGE;
    }
    return CTL_GO;
}

/* The run's settings fill what the flags left open. */
static void ctl_rebuild_settings(const ctl_t *c, rebuild_opts_t *o, ctl_progress_t *progress)
{
    if (!o->ack_timeout_ms)
        o->ack_timeout_ms = c->ack_timeout_ms;
    if (!o->max_level)
        o->max_level = c->max_level;
    if (!o->retention_ms)
        o->retention_ms = c->retention_ms;
    o->rules = &c->rules;
    o->redis_user = c->redis_user;
    o->redis_password = c->redis_password;
    o->redis_sentinels = c->redis_sentinels;
    o->redis_master_name = c->redis_master_name;
    o->redis_sentinel_password = c->redis_sentinel_password;
    o->redis_tls_ca = c->redis_tls_ca;
    o->redis_tls_cert = c->redis_tls_cert;
    o->redis_tls_key = c->redis_tls_key;
    o->kafka_props = c->props;
    o->idle_timeout_ms = c->timeout_ms;
    o->progress = ctl_progress_draw;
    o->opaque = progress;
    o->stop = &ctl_stop;
}

/* The counts of --json, in their order. */
static const struct {
    const char *key;
    size_t off;
} ctl_rebuild_counts[] = {
    {"records", offsetof(rebuild_stats_t, records)},
    {"undecodable", offsetof(rebuild_stats_t, undecodable)},
    {"incidents", offsetof(rebuild_stats_t, incidents)},
    {"written", offsetof(rebuild_stats_t, written)},
    {"up_to_date", offsetof(rebuild_stats_t, up_to_date)},
    {"newer_in_redis", offsetof(rebuild_stats_t, newer)},
    {"closed", offsetof(rebuild_stats_t, closed)},
    {"expired", offsetof(rebuild_stats_t, expired)},
    {"timers", offsetof(rebuild_stats_t, timers)},
    {"broken", offsetof(rebuild_stats_t, broken)},
    {"skipped", offsetof(rebuild_stats_t, skipped)},
};

static void ctl_rebuild_json(const rebuild_opts_t *o, const rebuild_stats_t *s)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddBoolToObject(j, "dry_run", o->dry_run);
    for (size_t i = 0; i < sizeof(ctl_rebuild_counts) / sizeof(ctl_rebuild_counts[0]); i++) {
        const uint64_t *n = (const uint64_t *)((const char *)s + ctl_rebuild_counts[i].off);
        cJSON_AddNumberToObject(j, ctl_rebuild_counts[i].key, (double)*n);
    }
    cJSON_AddBoolToObject(j, "incomplete", s->incomplete);
    ctl_json_print(j);
}

static void ctl_rebuild_text(const ctl_t *c, const rebuild_opts_t *o, const rebuild_stats_t *s,
                             const char *topic)
{
    printf("%s%" PRIu64 " records of %" PRIu64 " incidents read from %s\n",
           o->dry_run ? "dry run: " : "", s->records, s->incidents, topic);
    printf("%" PRIu64 " %s, %" PRIu64 " up to date, %" PRIu64 " newer in Redis (left alone), "
           "%" PRIu64 " closed (not restored), %" PRIu64 " closed and set to expire, %" PRIu64
           " ack timer%s %s\n",
           s->written, o->dry_run ? "to write" : "written", s->up_to_date, s->newer, s->closed,
           s->expired, s->timers, s->timers == 1 ? "" : "s", o->dry_run ? "to arm" : "armed");
    if (s->undecodable)
        printf("%" PRIu64 " undecodable record%s skipped\n", s->undecodable,
               s->undecodable == 1 ? "" : "s");
    if (s->broken) {
        ctl_cell(c, stdout, "warning:", CTL_C_YELLOW, 0);
        printf(" %" PRIu64 " incident%s with a broken chain (%s; run 'incidentctl verify')\n",
               s->broken, s->broken == 1 ? "" : "s",
               o->skip_broken ? "left alone" : "rebuilt anyway");
    }
}

static int ctl_rebuild_exec(ctl_t *c, int argc, char **argv)
{
    ctl_rebuild_t rb = {.yes = 0};
    int rc = ctl_cmd_options(c, &ctl_cmd_rebuild_entry, &rb, &argc, &argv);
    char topic[512];
    ctl_topic(c, "ormis.audit", topic, sizeof(topic));
    if (rc == CTL_GO)
        rc = ctl_rebuild_confirm(c, &rb, topic);
    if (rc != CTL_GO)
        return rc;
    ctl_progress_t progress = ctl_progress_init(c, "reading ormis.audit");
    ctl_rebuild_settings(c, &rb.o, &progress);
    rebuild_stats_t s;
    char err[512];
    int rrc = rebuild(c->brokers, c->redis, c->prefix, &rb.o, &s, err, sizeof(err));
    ctl_progress_end(&progress);
    if (rrc < 0) {
        ctl_err(c, "%s", err);
        return CTL_EXIT_USAGE;
    }
    if (s.incomplete)
        ctl_warn_partial(c, topic, "a transaction still open?");
    if (c->json)
        ctl_rebuild_json(&rb.o, &s);
    else
        ctl_rebuild_text(c, &rb.o, &s, topic);
    return CTL_EXIT_OK;
}

const struct ctl_cmd_entry ctl_cmd_rebuild_entry = {
    .name = "rebuild",
    .usage = "[--yes] [--dry-run] [options]",
    .summary = "rebuild the live Redis state from ormis.audit",
    .opts = ctl_rebuild_opts,
    .notes = "Writes an incident only when Redis has no state for it or an older\n"
             "version (never backwards); closed incidents are not brought back.\n",
    .exec = ctl_rebuild_exec,
};
