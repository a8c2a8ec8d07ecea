/*
 * cmd_show.c — incidentctl show ID: one incident's live state (Redis, when
 * still there, else its last audit snapshot), its ORMIS timeline and
 * whether its hash chain verifies. The timeline comes from Redis while the
 * incident lives and Redis keeps it whole (as the API's incident page), else
 * from ormis.audit; --audit reads the topic always. Owned by the ctl room.
 *
 * @locality incidentctl's main thread
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "ctl_audit.h"
#include "ctl_opts.h"
#include "ctl_out.h"
#include "ctl_text.h"
#include "pbjson.h"

/* What show found about one incident. */
typedef struct ctl_show {
    const char *id;
    int audit; /* --audit: the timeline from ormis.audit, whatever Redis holds */
    int live;  /* 1: in Redis */
    hd_state_t *state;
    uint64_t version;
    store_admin_timeline_t tl;
    ctl_chain_t redis_chain; /* its timeline in Redis, when whole */
    int from_redis;          /* ch is redis_chain */
    ctl_audit_t au;
    const ctl_chain_t *ch; /* its audit records, or NULL */
    ormis_verify_result_t vr;
    int chain_ok;
    const hd_incident_t *inc; /* Redis's, else the last snapshot, or NULL */
} ctl_show_t;

/* Reads Redis (state and timeline) into @p sh and, when Redis has no whole
 * timeline of the incident or --audit asks, the audit topic. Returns CTL_GO
 * or an exit code. */
static int ctl_show_load(ctl_t *c, ctl_show_t *sh, arena_t *arena)
{
    store_t *st = ctl_store_open(c, NULL);
    if (!st)
        return CTL_EXIT_USAGE;
    char err[512];
    sh->live = store_admin_timeline(st, sh->id, arena, &sh->state, &sh->version, &sh->tl, err,
                                    sizeof(err));
    store_destroy(st);
    if (sh->live < 0) {
        ctl_err(c, "%s", err);
        return CTL_EXIT_USAGE;
    }
    sh->from_redis = !sh->audit && sh->live == 1 &&
                     audit_chain_of_timeline(&sh->redis_chain, arena, sh->id, &sh->tl, sh->state,
                                             sh->version, &sh->vr);
    if (sh->from_redis) {
        sh->ch = &sh->redis_chain;
        sh->chain_ok = 1;
    } else {
        int rc = ctl_audit_read(c, &sh->au, 1);
        if (rc != CTL_EXIT_OK)
            return rc;
        sh->ch = strmap_get(&sh->au.set.chains, sh->id);
        if (sh->live == 0 && !sh->ch) {
            ctl_err(c, "incident %s not found (not in Redis, no audit records)", sh->id);
            return CTL_EXIT_FAIL;
        }
        memset(&sh->vr, 0, sizeof(sh->vr));
        sh->chain_ok = sh->ch ? audit_chain_verify(sh->ch, &sh->vr) == 0 : 0;
        if (!sh->ch)
            snprintf(sh->vr.reason, sizeof(sh->vr.reason), "no audit records");
    }
    const ctl_chain_t *ch = sh->ch;
    sh->inc = sh->live == 1                                  ? sh->state->incident
              : ch && ch->n && ch->recs[ch->n - 1]->snapshot ? ch->recs[ch->n - 1]->snapshot
                                                             : NULL;
    return CTL_GO;
}

static void ctl_show_json(const ctl_show_t *sh)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", sh->id);
    cJSON_AddBoolToObject(o, "live", sh->live == 1);
    cJSON_AddStringToObject(o, "source", sh->live == 1 ? "redis" : sh->inc ? "audit" : "none");
    if (sh->live == 1)
        cJSON_AddNumberToObject(o, "redis_version", (double)sh->version);
    cJSON_AddItemToObject(o, "incident",
                          sh->inc ? pbjson_from_message(&sh->inc->base) : cJSON_CreateNull());
    cJSON *tl = cJSON_AddArrayToObject(o, "timeline");
    for (size_t i = 0; sh->ch && i < sh->ch->n; i++)
        cJSON_AddItemToArray(tl, pbjson_from_message(&sh->ch->recs[i]->base));
    cJSON_AddStringToObject(o, "timeline_source", sh->from_redis ? "redis" : "audit");
    cJSON_AddItemToObject(o, "chain", audit_chain_json(&sh->vr, sh->chain_ok));
    ctl_json_print(o);
}

static void ctl_show_strv(const char *label, char **v, size_t n)
{
    printf("  %-14s", label);
    if (n == 0)
        fputs("-", stdout);
    for (size_t i = 0; i < n; i++)
        printf("%s%s", i ? ", " : "", ctl_text_safe(v[i]));
    fputc('\n', stdout);
}

/* "  label         text", "-" for an empty text. */
static void ctl_show_field(const char *label, const char *text)
{
    printf("  %-14s%s\n", label, text && text[0] ? ctl_text_safe(text) : "-");
}

static void ctl_show_times(const hd_incident_t *inc)
{
    char t[40];
    printf("  %-14s%s\n", "detected", ctl_time(inc->detected_at_ms, t, sizeof(t)));
    printf("  %-14s%s\n", "acknowledged", ctl_time(inc->acknowledged_at_ms, t, sizeof(t)));
    printf("  %-14s%s\n", "resolved", ctl_time(inc->resolved_at_ms, t, sizeof(t)));
    printf("  %-14s%s\n", "closed", ctl_time(inc->closed_at_ms, t, sizeof(t)));
}

static void ctl_show_incident(const ctl_t *c, const hd_incident_t *inc)
{
    printf("  %-14s", "stage");
    ctl_cell(c, stdout, hd_stage_name(inc->stage), CTL_C_BOLD, 0);
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
    ctl_show_field("service", inc->service);
    ctl_show_field("summary", inc->summary);
    ctl_show_strv("sites", inc->sites, inc->n_sites);
    ctl_show_strv("clients", inc->clients, inc->n_clients);
    ctl_show_strv("stakeholders", inc->stakeholders, inc->n_stakeholders);
    const char *comms =
        pbjson_enum_name(&incident__v1__client_comms__descriptor, (int)inc->client_comms);
    printf("  %-14s%s\n", "client comms", comms ? comms : "-");
    printf("  %-14s%s\n", "meeting", inc->resolution_meeting ? "yes" : "no");
    printf("  %-14s%u\n", "alerts", inc->alert_count);
    printf("  %-14s%" PRIu64 "\n", "version", inc->version);
    ctl_show_times(inc);
}

/* The audit records as a table; from the first bad one on in red. */
static void ctl_show_timeline(const ctl_t *c, const ctl_show_t *sh)
{
    size_t nrec = sh->ch ? sh->ch->n : 0;
    if (sh->from_redis)
        printf("\nTimeline (Redis, %zu record%s; --audit: from %sormis.audit)\n", nrec,
               nrec == 1 ? "" : "s", c->prefix);
    else
        printf("\nTimeline (%sormis.audit, %zu record%s)\n", c->prefix, nrec, nrec == 1 ? "" : "s");
    if (!nrec)
        return;
    int wa = 6, ws = 5, wr = 5;
    for (size_t i = 0; i < nrec; i++) {
        const Incident__V1__AuditRecord *r = sh->ch->recs[i];
        wa = ctl_width(wa, r->action);
        ws = ctl_width(ws, hd_stage_name(r->stage));
        wr = ctl_width(wr, r->actor);
    }
    printf("  %-4s  %-24s  %-*s  %-*s  %-*s  %s\n", "SEQ", "TIME", ws, "STAGE", wa, "ACTION", wr,
           "ACTOR", "DETAIL");
    for (size_t i = 0; i < nrec; i++) {
        const Incident__V1__AuditRecord *r = sh->ch->recs[i];
        char t[40];
        const char *color = sh->vr.first_bad && i + 1 >= sh->vr.first_bad ? CTL_C_RED : NULL;
        printf("  %-4" PRIu64 "  %-24s  %-*s  ", r->seq, ctl_time(r->at_ms, t, sizeof(t)), ws,
               hd_stage_name(r->stage));
        ctl_cell(c, stdout, r->action, color, wa);
        printf("  %-*s  %s\n", wr, ctl_text_safe(r->actor), ctl_text_safe(r->detail));
    }
}

static void ctl_show_chain(const ctl_t *c, const ctl_show_t *sh)
{
    const ctl_chain_t *ch = sh->ch;
    printf("\nChain: ");
    if (!ch)
        printf("no audit records\n");
    else if (sh->chain_ok)
        ctl_cell(c, stdout, "verified", CTL_C_GREEN, 0);
    else
        ctl_cell(c, stdout, "BROKEN", CTL_C_BRED, 0);
    if (ch && sh->chain_ok)
        printf(" (%" PRIu64 " records, head %.12s)\n", sh->vr.records,
               ctl_text_safe(ch->recs[ch->n - 1]->hash));
    else if (ch)
        printf(": %s\n", ctl_text_safe(sh->vr.reason));
}

static void ctl_show_text(const ctl_t *c, const ctl_show_t *sh)
{
    printf("Incident ");
    ctl_cell(c, stdout, sh->id, CTL_C_BOLD, 0);
    if (sh->live == 1)
        printf("  (live in Redis, version %" PRIu64 ")\n", sh->version);
    else
        printf("  (not in Redis: %s)\n", sh->inc ? "last audit snapshot" : "no snapshot");
    if (sh->inc)
        ctl_show_incident(c, sh->inc);
    ctl_show_timeline(c, sh);
    ctl_show_chain(c, sh);
}

static const ctl_opt_t ctl_show_opts[] = {
    {.name = "audit",
     .help = "the timeline from ormis.audit even while Redis keeps it\n"
             "(what the topic holds, verified)",
     .set = ctl_opt_flag,
     .off = offsetof(ctl_show_t, audit)},
    {0},
};

static int ctl_show_exec(ctl_t *c, int argc, char **argv)
{
    ctl_show_t sh = {0};
    int rc = ctl_cmd_options(c, &ctl_cmd_show_entry, &sh, &argc, &argv);
    if (rc != CTL_GO)
        return rc;
    if (argc < 1)
        return ctl_usage_error(c, "which incident? show ID");
    arena_t arena;
    arena_init(&arena, 0);
    sh.id = argv[0];
    ctl_audit_init(&sh.au, c, &arena, sh.id);
    rc = ctl_show_load(c, &sh, &arena);
    if (rc == CTL_GO && c->json)
        ctl_show_json(&sh);
    else if (rc == CTL_GO)
        ctl_show_text(c, &sh);
    ctl_audit_destroy(&sh.au);
    arena_destroy(&arena);
    return rc == CTL_GO ? CTL_EXIT_OK : rc;
}

const struct ctl_cmd_entry ctl_cmd_show_entry = {
    .name = "show",
    .usage = "ID",
    .summary = "one incident: live state and ORMIS timeline",
    .opts = ctl_show_opts,
    .args_max = 1,
    .notes = "Reads the state from Redis (when still live) with the timeline Redis keeps\n"
             "of a live incident; when Redis has no whole timeline of it (closed and\n"
             "expired, older than timelines, past their bounds), or with --audit, the\n"
             "incident's records from ormis.audit (the whole topic up to its current\n"
             "end, committed records only). Prints the timeline, where it came from,\n"
             "and whether its hash chain verifies (`incidentctl verify` checks the\n"
             "topic's chains). Exit 1 when the incident is neither in Redis nor in the\n"
             "audit topic.\n",
    .exec = ctl_show_exec,
};
