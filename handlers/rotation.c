/*
 * rotation.c — on-call rotations, overrides and the calendar arithmetic
 * they and the maintenance windows need; see rotation.h for the DST rule.
 */
#include "rotation.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

int64_t hd_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

/* Howard Hinnant's days_from_civil. */
int64_t hd_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = hd_floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

const hd_rotation_t *hd_rotation_find(const hd_rules_t *r, const char *name)
{
    for (size_t i = 0; name && i < r->n_rotations; i++)
        if (r->rotations[i].name && strcmp(r->rotations[i].name, name) == 0)
            return &r->rotations[i];
    return NULL;
}

const char *hd_rotation_scheduled(const hd_rotation_t *rot, int64_t t)
{
    if (!rot || rot->n_members == 0 || !rot->members || rot->every_ms <= 0)
        return NULL;
    if (t < rot->start_ms)
        return rot->members[0];
    /* t - start cannot overflow here: both are instants of this era. */
    int64_t k = (t - rot->start_ms) / rot->every_ms;
    return rot->members[(size_t)(k % (int64_t)rot->n_members)];
}

const char *hd_rotation_on_call(const hd_rotation_t *rot, const hd_override_t *overrides,
                                size_t n_overrides, int64_t t, const char **why)
{
    const char *who = hd_rotation_scheduled(rot, t);
    if (why)
        *why = "scheduled";
    if (!who)
        return NULL;
    const char *scheduled = who;
    for (size_t i = 0; i < n_overrides; i++) {
        const hd_override_t *o = &overrides[i];
        if (!o->rotation || strcmp(o->rotation, rot->name) != 0 || !o->person || !*o->person)
            continue;
        if (t < o->from_ms || t >= o->until_ms)
            continue;
        if (o->covers && *o->covers && strcmp(o->covers, scheduled) != 0)
            continue;
        who = o->person; /* the last that applies wins */
        if (why)
            *why = "override";
    }
    return who;
}

int hd_override_validate(const hd_override_record_t *o, const char **field, char *err,
                         size_t err_size)
{
    const char *f = "override";
    if (!field)
        field = &f;
    *field = "override";
    if (!o) {
        snprintf(err, err_size, "override: missing");
        return -1;
    }
    static const struct {
        const char *name;
        size_t off, min, max;
    } texts[] = {
        {"id", offsetof(hd_override_record_t, id), 1, HD_OVERRIDE_ID_MAX},
        {"rotation", offsetof(hd_override_record_t, rotation), 1, HD_SHORT_MAX},
        {"person", offsetof(hd_override_record_t, person), 1, HD_SHORT_MAX},
        {"covers", offsetof(hd_override_record_t, covers), 0, HD_SHORT_MAX},
        {"created_by", offsetof(hd_override_record_t, created_by), 1, HD_SHORT_MAX},
        {"comment", offsetof(hd_override_record_t, comment), 0, HD_SUMMARY_MAX},
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        *field = texts[i].name;
        const char *v = *(char *const *)((const char *)o + texts[i].off);
        if (utf8_field_check(texts[i].name, v, texts[i].min, texts[i].max, err, err_size) < 0)
            return -1;
    }
    *field = "from_ms";
    if (o->from_ms <= 0) {
        snprintf(err, err_size, "from_ms: required (Unix ms)");
        return -1;
    }
    *field = "until_ms";
    if (o->until_ms <= o->from_ms) {
        snprintf(err, err_size, "until_ms: required, after from_ms");
        return -1;
    }
    if (o->until_ms - o->from_ms > HD_OVERRIDE_MAX_MS) {
        snprintf(err, err_size, "until_ms: at most 90 days after from_ms");
        return -1;
    }
    return 0;
}

hd_override_t hd_override_of(const hd_override_record_t *o)
{
    hd_override_t v = {.rotation = o->rotation,
                       .person = o->person,
                       .covers = o->covers,
                       .from_ms = o->from_ms,
                       .until_ms = o->until_ms};
    return v;
}

const char *hd_owner_resolve(const hd_rules_t *r, const char *entry, int64_t t,
                             const char **rotation)
{
    if (rotation)
        *rotation = NULL;
    if (!entry || entry[0] != '@')
        return entry ? entry : "";
    const hd_rotation_t *rot = hd_rotation_find(r, entry + 1);
    if (!rot)
        return "";
    if (rotation)
        *rotation = rot->name;
    const char *who = hd_rotation_on_call(rot, r->overrides, r->n_overrides, t, NULL);
    return who ? who : "";
}

const char *hd_owner_on_call(const hd_rules_t *r, const hd_incident_t *inc, int64_t t,
                             const char **rotation)
{
    return hd_owner_resolve(r, hd_owner_of(r, inc->owner_role, inc->service), t, rotation);
}

/* Reads exactly @p n digits at *p into *v; advances *p. 0 or -1. */
static int digits(const char **p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        *v = *v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return 0;
}

/* Parses an offset at @p s to the end of the string. */
static int tz_at(const char *s, int32_t *minutes)
{
    if (strcmp(s, "Z") == 0 || strcmp(s, "UTC") == 0 || strcmp(s, "z") == 0) {
        *minutes = 0;
        return 0;
    }
    if (*s != '+' && *s != '-')
        return -1;
    int sign = *s == '-' ? -1 : 1;
    const char *p = s + 1;
    int h, m;
    if (digits(&p, 2, &h) < 0)
        return -1;
    if (*p == ':')
        p++;
    if (digits(&p, 2, &m) < 0 || *p || h > 14 || m > 59 || h * 60 + m > 14 * 60)
        return -1;
    *minutes = sign * (h * 60 + m);
    return 0;
}

int hd_tz_parse(const char *s, int32_t *minutes) { return s ? tz_at(s, minutes) : -1; }

int hd_clock_parse(const char *s, int32_t *minutes)
{
    int h, m;
    if (!s || digits(&s, 2, &h) < 0 || *s++ != ':' || digits(&s, 2, &m) < 0 || *s || h > 23 ||
        m > 59)
        return -1;
    *minutes = h * 60 + m;
    return 0;
}

static int days_in_month(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : d[m - 1];
}

int hd_time_parse(const char *s, int64_t *ms)
{
    int y, mo, d, h, mi, sec = 0;
    if (!s || digits(&s, 4, &y) < 0 || *s++ != '-' || digits(&s, 2, &mo) < 0 || *s++ != '-' ||
        digits(&s, 2, &d) < 0 || (*s != 'T' && *s != ' '))
        return -1;
    s++;
    if (digits(&s, 2, &h) < 0 || *s++ != ':' || digits(&s, 2, &mi) < 0)
        return -1;
    if (*s == ':' && (s++, digits(&s, 2, &sec) < 0))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
        return -1;
    int32_t off;
    if (tz_at(s, &off) < 0)
        return -1;
    int64_t days = hd_days_from_civil(y, (unsigned)mo, (unsigned)d);
    *ms = ((days * 24 + h) * 60 + mi - off) * HD_MS_MINUTE + sec * 1000LL;
    return 0;
}
