/*
 * cmd_list.c — incidentctl list: the live incidents in Redis (the stage
 * sets), filtered by stage, severity, owner and kind, oldest first, as a
 * table or JSON. Owned by the ctl room.
 *
 * @locality incidentctl's main thread
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arena.h"
#include "ctl.h"
#include "ctl_opts.h"
#include "ctl_out.h"
#include "pbjson.h"

/* The filters (list's options). */
typedef struct ctl_list_opts {
    int stage, severity, sev_at_least, kind; /* -1 / 0: any */
    const char *owner;
} ctl_list_opts_t;

/* The incidents found. */
typedef struct ctl_list_rows {
    hd_incident_t **v;
    size_t n, cap;
} ctl_list_rows_t;

enum { CTL_LIST_COLS = 11 };

static const Incident__V1__Stage ctl_live_stages[] = {
    INCIDENT__V1__STAGE__STAGE_DETECTED, INCIDENT__V1__STAGE__STAGE_CLASSIFIED,
    INCIDENT__V1__STAGE__STAGE_SCOPED,   INCIDENT__V1__STAGE__STAGE_ESCALATED,
    INCIDENT__V1__STAGE__STAGE_RESOLVED,
};

/* ---- options ----------------------------------------------------------------------- */

static int ctl_list_opt_stage(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    ctl_list_opts_t *o = base;
    return ctl_opt_enum(c, opt, &incident__v1__stage__descriptor, arg, arg,
                        "detected, classified, scoped, escalated or resolved", &o->stage);
}

static int ctl_list_opt_severity(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    ctl_list_opts_t *o = base;
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", arg);
    size_t len = strlen(buf);
    if (len && buf[len - 1] == '+') {
        o->sev_at_least = 1;
        buf[len - 1] = '\0';
    }
    return ctl_opt_enum(c, opt, &incident__v1__severity__descriptor, buf, arg,
                        "info, warning, minor, major or critical (with '+': at least)",
                        &o->severity);
}

static int ctl_list_opt_kind(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    ctl_list_opts_t *o = base;
    return ctl_opt_enum(c, opt, &incident__v1__kind__descriptor, arg, arg,
                        "incident or disturbance", &o->kind);
}

static const ctl_opt_t ctl_list_opts[] = {
    {.name = "stage",
     .arg = "S",
     .help = "detected|classified|scoped|escalated|resolved",
     .set = ctl_list_opt_stage},
    {.name = "severity",
     .arg = "S",
     .help = "exactly S; 'major+' = major or worse",
     .set = ctl_list_opt_severity},
    {.name = "owner",
     .arg = "O",
     .help = "named owner, or TM / CSM / a role name",
     .set = ctl_opt_string,
     .off = offsetof(ctl_list_opts_t, owner)},
    {.name = "kind", .arg = "K", .help = "incident|disturbance", .set = ctl_list_opt_kind},
    {0},
};

/* ---- reading ----------------------------------------------------------------------- */

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

static int ctl_list_wanted(const ctl_list_opts_t *o, const hd_incident_t *inc)
{
    if (o->severity > 0 &&
        (o->sev_at_least ? (int)inc->severity < o->severity : (int)inc->severity != o->severity))
        return 0;
    if (o->kind > 0 && (int)inc->kind != o->kind)
        return 0;
    return !o->owner || ctl_owner_match(inc, o->owner);
}

static void ctl_list_push(ctl_list_rows_t *rows, arena_t *arena, hd_incident_t *inc)
{
    rows->v = ctl_arena_grow(arena, rows->v, rows->n, &rows->cap, sizeof(*rows->v), 64);
    rows->v[rows->n++] = inc;
}

/* What ctl_list_stage() gathers into. */
typedef struct ctl_list_ctx {
    const ctl_t *c;
    const ctl_list_opts_t *o;
    arena_t *arena;
    ctl_list_rows_t *rows;
} ctl_list_ctx_t;

static void ctl_list_row(void *opaque, const char *id, hd_state_t *state, uint64_t version,
                         const char *err)
{
    (void)id;
    (void)version;
    ctl_list_ctx_t *x = opaque;
    if (err)
        ctl_err(x->c, "%s", err);
    else if (ctl_list_wanted(x->o, state->incident))
        ctl_list_push(x->rows, x->arena, state->incident);
}

/* Adds the wanted incidents of one stage set. Returns 0, or -1 (reported). */
static int ctl_list_stage(const ctl_t *c, const ctl_list_opts_t *o, store_t *st,
                          Incident__V1__Stage stage, arena_t *arena, ctl_list_rows_t *rows)
{
    ctl_list_ctx_t x = {c, o, arena, rows};
    char err[512];
    if (store_admin_stage(st, hd_stage_name(stage), arena, ctl_list_row, &x, err, sizeof(err)) <
        0) {
        ctl_err(c, "%s", err);
        return -1;
    }
    return 0;
}

/* ---- printing ---------------------------------------------------------------------- */

static const char **ctl_list_cells(const hd_incident_t *inc, arena_t *arena, int64_t now)
{
    const char **row = arena_alloc(arena, CTL_LIST_COLS * sizeof(*row));
    char age[32];
    row[0] = inc->id;
    row[1] = hd_stage_name(inc->stage);
    row[2] = hd_status_name(inc->status);
    row[3] = inc->kind ? hd_kind_name(inc->kind) : "-";
    row[4] = inc->scope ? hd_scope_name(inc->scope) : "-";
    row[5] = hd_severity_name(inc->severity);
    row[6] = arena_printf(arena, "%u", inc->escalation_level);
    row[7] = ctl_owner_text(inc);
    row[8] = arena_printf(arena, "%u", inc->alert_count);
    row[9] = arena_strdup(
        arena, inc->detected_at_ms ? ctl_age(now - inc->detected_at_ms, age, sizeof(age)) : "-");
    row[10] = inc->summary ? inc->summary : "";
    return row;
}

/* One table line; @p row NULL for the heading. */
static void ctl_list_line(const ctl_t *c, const char *const *cells, const hd_incident_t *row,
                          const int *width)
{
    for (int k = 0; k < CTL_LIST_COLS; k++) {
        const char *color = row ? NULL : CTL_C_BOLD;
        if (row && k == 2)
            color = ctl_color_status(row->status);
        else if (row && k == 5)
            color = ctl_color_severity(row->severity);
        ctl_cell(c, stdout, cells[k], color, k < CTL_LIST_COLS - 1 ? width[k] : 0);
        if (k < CTL_LIST_COLS - 1)
            fputs("  ", stdout);
    }
    fputc('\n', stdout);
}

static void ctl_list_table(const ctl_t *c, const ctl_list_rows_t *rows, arena_t *arena)
{
    static const char *const head[CTL_LIST_COLS] = {"ID",     "STAGE", "STATUS", "KIND",
                                                    "SCOPE",  "SEV",   "LEVEL",  "OWNER",
                                                    "ALERTS", "AGE",   "SUMMARY"};
    const char ***cells = arena_alloc(arena, (rows->n + 1) * sizeof(*cells));
    int width[CTL_LIST_COLS];
    for (int k = 0; k < CTL_LIST_COLS; k++)
        width[k] = (int)strlen(head[k]);
    int64_t now = ctl_now_ms();
    for (size_t i = 0; i < rows->n; i++) {
        cells[i] = ctl_list_cells(rows->v[i], arena, now);
        for (int k = 0; k < CTL_LIST_COLS - 1; k++)
            width[k] = ctl_width(width[k], cells[i][k]);
    }
    ctl_list_line(c, head, NULL, width);
    for (size_t i = 0; i < rows->n; i++)
        ctl_list_line(c, cells[i], rows->v[i], width);
}

static void ctl_list_json(const ctl_list_rows_t *rows)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < rows->n; i++)
        cJSON_AddItemToArray(arr, pbjson_from_message(&rows->v[i]->base));
    ctl_json_print(arr);
}

/* Reads the wanted incidents and prints them. Returns an exit code. */
static int ctl_list_run(const ctl_t *c, const ctl_list_opts_t *o, store_t *st, arena_t *arena)
{
    ctl_list_rows_t rows = {NULL, 0, 0};
    for (size_t s = 0; s < sizeof(ctl_live_stages) / sizeof(ctl_live_stages[0]); s++) {
        if (o->stage > 0 && (int)ctl_live_stages[s] != o->stage)
            continue;
        if (ctl_list_stage(c, o, st, ctl_live_stages[s], arena, &rows) < 0)
            return CTL_EXIT_USAGE;
    }
    if (rows.n > 1)
        qsort(rows.v, rows.n, sizeof(*rows.v), ctl_cmp_incident);
    if (c->json)
        ctl_list_json(&rows);
    else
        ctl_list_table(c, &rows, arena);
    return CTL_EXIT_OK;
}

static int ctl_list_exec(ctl_t *c, int argc, char **argv)
{
    ctl_list_opts_t o = {.stage = -1, .severity = -1, .kind = -1};
    int rc = ctl_cmd_options(c, &ctl_cmd_list_entry, &o, &argc, &argv);
    if (rc != CTL_GO)
        return rc;
    store_t *st = ctl_store_open(c, NULL);
    if (!st)
        return CTL_EXIT_USAGE;
    arena_t arena;
    arena_init(&arena, 0);
    rc = ctl_list_run(c, &o, st, &arena);
    arena_destroy(&arena);
    store_destroy(st);
    return rc;
}

const struct ctl_cmd_entry ctl_cmd_list_entry = {
    .name = "list",
    .usage = "[--stage S] [--severity S[+]] [--owner O] [--kind K]",
    .summary = "list the live incidents (Redis)",
    .opts = ctl_list_opts,
    .notes = "Columns: ID STAGE STATUS KIND SCOPE SEV LEVEL OWNER ALERTS AGE SUMMARY,\n"
             "oldest first; --json prints an array of incident.v1.Incident.\n",
    .exec = ctl_list_exec,
};
