/*
 * schedule.c — maintenance windows and rotations from the configuration;
 * see schedule.h.
 */
#include "schedule.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "config_internal.h"
#include "pbjson.h"
#include "rotation.h"
#include "silence.h"

/* The fields of each kind, in schedule_entry_t.fields order. */
static const char *const schedule_fields[2][5] = {
    [SCHEDULE_MAINTENANCE] = {"matchers", "every", "at", "for", "tz"},
    [SCHEDULE_ROTATION] = {"members", "every", "start", NULL, NULL},
};
static const char *const schedule_prefix[2] = {"maintenance", "rotation"};

enum { W_MATCHERS, W_EVERY, W_AT, W_FOR, W_TZ };
enum { R_MEMBERS, R_EVERY, R_START };

static int schedule_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

int schedule_set(schedule_t *s, schedule_kind_t kind, const char *rest, const char *value,
                 char *err, size_t err_size)
{
    const char *dot = strrchr(rest, '.');
    if (!dot || !schedule_name_ok(rest, (size_t)(dot - rest))) {
        snprintf(err, err_size, "expected %s.<name>.<field> (name: A-Z a-z 0-9 - _)",
                 schedule_prefix[kind]);
        return -1;
    }
    int f = -1;
    for (int i = 0; i < 5 && schedule_fields[kind][i]; i++)
        if (strcmp(dot + 1, schedule_fields[kind][i]) == 0)
            f = i;
    if (f < 0) {
        snprintf(err, err_size, "unknown field '%s' (valid: %s)", dot + 1,
                 kind == SCHEDULE_ROTATION ? "members, every, start"
                                           : "matchers, every, at, for, tz");
        return -1;
    }
    schedule_entry_t **v = kind == SCHEDULE_ROTATION ? &s->rotations : &s->windows;
    size_t *n = kind == SCHEDULE_ROTATION ? &s->n_rotations : &s->n_windows;
    size_t len = (size_t)(dot - rest), i = 0;
    while (i < *n && (strlen((*v)[i].name) != len || strncmp((*v)[i].name, rest, len) != 0))
        i++;
    if (i == *n) {
        *v = config_xrealloc(*v, (*n + 1) * sizeof(**v));
        memset(&(*v)[i], 0, sizeof(**v));
        (*v)[i].name = config_xstrndup(rest, len);
        (*n)++;
    }
    free((*v)[i].fields[f]);
    (*v)[i].fields[f] = *value ? config_xstrdup(value) : NULL;
    return 0;
}

hd_matchers_t *schedule_matchers_parse(const char *json, arena_t *arena, char *err, size_t err_size)
{
    cJSON *j = cJSON_Parse(json);
    if (!j || !cJSON_IsObject(j)) {
        snprintf(err, err_size, "not a JSON object");
        cJSON_Delete(j);
        return NULL;
    }
    ProtobufCMessage *m =
        pbjson_to_message(&incident__v1__silence_matchers__descriptor, j, arena, err, err_size);
    cJSON_Delete(j);
    if (!m)
        return NULL;
    /* The same checks as a silence's (silence.c), through a silence that
     * is otherwise valid. */
    hd_silence_t s = INCIDENT__V1__SILENCE__INIT;
    s.id = "x";
    s.matchers = (hd_matchers_t *)m;
    s.starts_at_ms = 1;
    s.ends_at_ms = 2;
    s.comment = s.created_by = "x";
    if (hd_silence_validate(&s, 0, NULL, err, err_size) < 0)
        return NULL;
    return (hd_matchers_t *)m;
}

static const char *const schedule_days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

/* every + at of a window. */
static int window_when(const schedule_entry_t *e, hd_maintenance_t *w, char *err, size_t err_size)
{
    const char *every = e->fields[W_EVERY], *at = e->fields[W_AT];
    if (strcasecmp(every, "daily") != 0 && strcasecmp(every, "weekly") != 0) {
        snprintf(err, err_size, "maintenance.%s.every: '%s' is not daily or weekly", e->name,
                 every);
        return -1;
    }
    w->weekly = strcasecmp(every, "weekly") == 0;
    if (w->weekly) {
        w->weekday = -1;
        for (int d = 0; d < 7; d++)
            if (strncasecmp(at, schedule_days[d], 3) == 0 && at[3] == ' ')
                w->weekday = d;
        if (w->weekday < 0 || hd_clock_parse(at + 4, &w->at_min) < 0) {
            snprintf(err, err_size, "maintenance.%s.at: '%s' is not \"<mon..sun> HH:MM\"", e->name,
                     at);
            return -1;
        }
    } else if (hd_clock_parse(at, &w->at_min) < 0) {
        snprintf(err, err_size, "maintenance.%s.at: '%s' is not \"HH:MM\"", e->name, at);
        return -1;
    }
    return 0;
}

static int window_finish(schedule_t *s, const schedule_entry_t *e, hd_maintenance_t *w, char *err,
                         size_t err_size)
{
    for (int f = 0; f < 5; f++)
        if (!e->fields[f]) {
            snprintf(err, err_size, "maintenance.%s.%s: required%s", e->name,
                     schedule_fields[SCHEDULE_MAINTENANCE][f],
                     f == W_TZ ? " (an explicit UTC offset: UTC, +01:00, -05:30)" : "");
            return -1;
        }
    char why[256];
    w->name = e->name;
    w->matchers = schedule_matchers_parse(e->fields[W_MATCHERS], s->arena, why, sizeof(why));
    if (!w->matchers) {
        snprintf(err, err_size, "maintenance.%s.matchers: %s", e->name, why);
        return -1;
    }
    if (window_when(e, w, err, err_size) < 0)
        return -1;
    int64_t period = w->weekly ? HD_MS_WEEK : HD_MS_DAY;
    if (config_parse_duration_ms(e->fields[W_FOR], &w->for_ms) < 0 || w->for_ms <= 0 ||
        w->for_ms > period) {
        snprintf(err, err_size, "maintenance.%s.for: '%s' is not a duration of 1ms..%s", e->name,
                 e->fields[W_FOR], w->weekly ? "7d" : "1d");
        return -1;
    }
    if (hd_tz_parse(e->fields[W_TZ], &w->tz_min) < 0) {
        snprintf(err, err_size,
                 "maintenance.%s.tz: '%s' is not a UTC offset (UTC, +01:00, -05:30; zone names "
                 "are not accepted)",
                 e->name, e->fields[W_TZ]);
        return -1;
    }
    return 0;
}

static int rotation_finish(schedule_t *s, const schedule_entry_t *e, hd_rotation_t *r, char *err,
                           size_t err_size)
{
    for (int f = 0; f < 3; f++)
        if (!e->fields[f]) {
            snprintf(err, err_size, "rotation.%s.%s: required", e->name,
                     schedule_fields[SCHEDULE_ROTATION][f]);
            return -1;
        }
    r->name = e->name;
    /* members: a comma list of names, blanks trimmed */
    const char *p = e->fields[R_MEMBERS];
    const char **v = arena_alloc(s->arena, (strlen(p) / 2 + 1) * sizeof(*v));
    size_t n = 0;
    while (*p) {
        const char *b = p, *c = strchr(p, ',');
        const char *end = c ? c : p + strlen(p);
        cfg_trim(&b, &end);
        if (end > b)
            v[n++] = arena_strndup(s->arena, b, (size_t)(end - b));
        p = c ? c + 1 : p + strlen(p);
    }
    if (n == 0) {
        snprintf(err, err_size, "rotation.%s.members: at least one member is required", e->name);
        return -1;
    }
    r->members = v;
    r->n_members = n;
    if (config_parse_duration_ms(e->fields[R_EVERY], &r->every_ms) < 0 || r->every_ms <= 0) {
        snprintf(err, err_size, "rotation.%s.every: '%s' is not a duration above 0 (e.g. 1w = 7d)",
                 e->name, e->fields[R_EVERY]);
        return -1;
    }
    if (hd_time_parse(e->fields[R_START], &r->start_ms) < 0) {
        snprintf(err, err_size,
                 "rotation.%s.start: '%s' is not an instant with its offset "
                 "(2026-01-05T09:00+01:00)",
                 e->name, e->fields[R_START]);
        return -1;
    }
    return 0;
}

int schedule_finish(schedule_t *s, hd_rules_t *rules, char *err, size_t err_size)
{
    if (!s->arena) {
        s->arena = config_xrealloc(NULL, sizeof(*s->arena));
        arena_init(s->arena, 16 * 1024);
    }
    s->maintenance = arena_alloc(s->arena, (s->n_windows + 1) * sizeof(*s->maintenance));
    s->rotation_rules = arena_alloc(s->arena, (s->n_rotations + 1) * sizeof(*s->rotation_rules));
    for (size_t i = 0; i < s->n_windows; i++)
        if (window_finish(s, &s->windows[i], &s->maintenance[i], err, err_size) < 0)
            return -1;
    for (size_t i = 0; i < s->n_rotations; i++)
        if (rotation_finish(s, &s->rotations[i], &s->rotation_rules[i], err, err_size) < 0)
            return -1;
    rules->maintenance = s->maintenance;
    rules->n_maintenance = s->n_windows;
    rules->rotations = s->rotation_rules;
    rules->n_rotations = s->n_rotations;
    for (size_t i = 0; i < rules->n_roster; i++) {
        const char *o = rules->roster[i].owner;
        if (o && o[0] == '@' && !hd_rotation_find(rules, o + 1)) {
            snprintf(err, err_size, "roster.%s.%s: '%s' names no rotation (rotation.%s.*)",
                     config_role_name(rules->roster[i].role), rules->roster[i].service, o, o + 1);
            return -1;
        }
    }
    return 0;
}

void schedule_print(const schedule_t *s, schedule_kind_t kind, FILE *out)
{
    const schedule_entry_t *v = kind == SCHEDULE_ROTATION ? s->rotations : s->windows;
    size_t n = kind == SCHEDULE_ROTATION ? s->n_rotations : s->n_windows;
    for (size_t i = 0; i < n; i++)
        for (int f = 0; f < 5 && schedule_fields[kind][f]; f++)
            if (v[i].fields[f])
                fprintf(out, "%s.%s.%s = %s\n", schedule_prefix[kind], v[i].name,
                        schedule_fields[kind][f], v[i].fields[f]);
}

static void schedule_entries_free(schedule_entry_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        for (int f = 0; f < 5; f++)
            free(v[i].fields[f]);
    }
    free(v);
}

void schedule_free(schedule_t *s)
{
    if (!s)
        return;
    schedule_entries_free(s->windows, s->n_windows);
    schedule_entries_free(s->rotations, s->n_rotations);
    if (s->arena) {
        arena_destroy(s->arena);
        free(s->arena);
    }
    memset(s, 0, sizeof(*s));
}
