/*
 * silence.c — silences and maintenance windows: the contract's checks of a
 * silence, matching an alert at an instant, recurring windows; see
 * silence.h.
 */
#include "silence.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "rotation.h"
#include "utf8.h"

static size_t slen(const char *s) { return s ? strlen(s) : 0; }

static int matchers_given(const hd_matchers_t *m)
{
    return m && (slen(m->service) || slen(m->site) || slen(m->dedup_key_prefix) || m->n_labels);
}

static int check_matchers(const hd_matchers_t *m, const char **field, char *err, size_t err_size)
{
    *field = "matchers";
    if (!matchers_given(m)) {
        snprintf(err, err_size,
                 "matchers: at least one of service, site, dedup_key_prefix, labels is required");
        return -1;
    }
    if (m->n_labels > HD_LABELS_MAX) {
        snprintf(err, err_size, "matchers: %zu labels, limit %d", m->n_labels, HD_LABELS_MAX);
        return -1;
    }
    if (utf8_field_check("matchers.service", m->service, 0, HD_SHORT_MAX, err, err_size) < 0 ||
        utf8_field_check("matchers.site", m->site, 0, HD_SHORT_MAX, err, err_size) < 0 ||
        utf8_field_check("matchers.dedup_key_prefix", m->dedup_key_prefix, 0, HD_DEDUP_KEY_MAX, err,
                         err_size) < 0)
        return -1;
    for (size_t i = 0; i < m->n_labels; i++) {
        const Incident__V1__SilenceMatchers__LabelsEntry *e = m->labels[i];
        if (!e || utf8_field_check("matchers.labels", e->key, 1, HD_SHORT_MAX, err, err_size) < 0 ||
            utf8_field_check("matchers.labels", e->value, 0, HD_SUMMARY_MAX, err, err_size) < 0) {
            if (!e)
                snprintf(err, err_size, "matchers.labels: empty entry");
            return -1;
        }
    }
    return 0;
}

int hd_silence_validate(const hd_silence_t *s, int64_t max_ms, const char **field, char *err,
                        size_t err_size)
{
    const char *f = "silence";
    if (!field)
        field = &f;
    *field = "silence";
    if (!s) {
        snprintf(err, err_size, "silence: missing");
        return -1;
    }
    *field = "id";
    if (utf8_field_check("id", s->id, 1, HD_SILENCE_ID_MAX, err, err_size) < 0)
        return -1;
    if (check_matchers(s->matchers, field, err, err_size) < 0)
        return -1;
    *field = "starts_at_ms";
    if (s->starts_at_ms <= 0) {
        snprintf(err, err_size, "starts_at_ms: required");
        return -1;
    }
    *field = "ends_at_ms";
    if (s->ends_at_ms <= 0) {
        snprintf(err, err_size, "ends_at_ms: required (a silence is bounded)");
        return -1;
    }
    if (s->ends_at_ms <= s->starts_at_ms) {
        snprintf(err, err_size, "ends_at_ms: must be after starts_at_ms");
        return -1;
    }
    if (max_ms > 0 && s->ends_at_ms - s->starts_at_ms > max_ms) {
        snprintf(err, err_size, "ends_at_ms: %lld ms after starts_at_ms, over the maximum %lld ms",
                 (long long)(s->ends_at_ms - s->starts_at_ms), (long long)max_ms);
        return -1;
    }
    *field = "comment";
    if (utf8_field_check("comment", s->comment, 1, HD_SILENCE_COMMENT_MAX, err, err_size) < 0)
        return -1;
    *field = "created_by";
    if (utf8_field_check("created_by", s->created_by, 1, HD_SHORT_MAX, err, err_size) < 0)
        return -1;
    *field = NULL;
    return 0;
}

static int label_has(const hd_alert_t *a, const char *k, const char *v)
{
    for (size_t i = 0; i < a->n_labels; i++)
        if (a->labels[i] && a->labels[i]->key && strcmp(a->labels[i]->key, k) == 0)
            return strcmp(a->labels[i]->value ? a->labels[i]->value : "", v ? v : "") == 0;
    return 0;
}

int hd_matchers_match(const hd_matchers_t *m, const hd_alert_t *alert)
{
    if (!matchers_given(m) || !alert)
        return 0;
    if (slen(m->service) && strcmp(m->service, alert->service ? alert->service : "") != 0)
        return 0;
    if (slen(m->dedup_key_prefix) && strncmp(alert->dedup_key ? alert->dedup_key : "",
                                             m->dedup_key_prefix, strlen(m->dedup_key_prefix)) != 0)
        return 0;
    if (slen(m->site)) {
        /* An alert of every site ("*") is wider than one silenced site. */
        size_t i = 0;
        while (i < alert->n_sites && (!alert->sites[i] || strcmp(alert->sites[i], m->site) != 0))
            i++;
        if (i == alert->n_sites)
            return 0;
    }
    for (size_t i = 0; i < m->n_labels; i++)
        if (!m->labels[i] || !label_has(alert, m->labels[i]->key, m->labels[i]->value))
            return 0;
    return 1;
}

int hd_silence_matches(const hd_silence_t *s, const hd_alert_t *alert, int64_t t)
{
    return s && t >= s->starts_at_ms && t < s->ends_at_ms && hd_matchers_match(s->matchers, alert);
}

int hd_maintenance_next(const hd_maintenance_t *w, int64_t t, int64_t *from, int64_t *until)
{
    int64_t period = w->weekly ? HD_MS_WEEK : HD_MS_DAY;
    if (w->for_ms <= 0)
        return -1;
    /* Occurrences in local time are anchor + k * period; 1970-01-01 was a
     * Thursday (weekday 3 counted from Monday). */
    int64_t anchor = (int64_t)w->at_min * HD_MS_MINUTE;
    if (w->weekly)
        anchor += (int64_t)(((w->weekday - 3) % 7 + 7) % 7) * HD_MS_DAY;
    int64_t local = t + (int64_t)w->tz_min * HD_MS_MINUTE;
    int64_t k = hd_floor_div(local - anchor, period);
    int64_t start = anchor + k * period - (int64_t)w->tz_min * HD_MS_MINUTE;
    int64_t len = w->for_ms < period ? w->for_ms : period;
    if (t >= start + len)
        start += period; /* this one is over: the next */
    *from = start;
    *until = start + len;
    return 0;
}

int hd_maintenance_active(const hd_maintenance_t *w, int64_t t, int64_t *from, int64_t *until)
{
    int64_t start, end;
    if (hd_maintenance_next(w, t, &start, &end) < 0 || t < start)
        return 0;
    if (from)
        *from = start;
    if (until)
        *until = end;
    return 1;
}

int hd_silence_match(const hd_ctx_t *ctx, const hd_alert_t *alert, hd_silenced_t *out)
{
    const hd_silence_t *best = NULL;
    for (size_t i = 0; i < ctx->n_silences; i++) {
        const hd_silence_t *s = ctx->silences[i];
        if (!hd_silence_matches(s, alert, ctx->now_ms))
            continue;
        if (!best || s->ends_at_ms > best->ends_at_ms ||
            (s->ends_at_ms == best->ends_at_ms && strcmp(s->id, best->id) < 0))
            best = s;
    }
    if (best) {
        out->id = best->id;
        out->by = best->created_by;
        out->comment = best->comment;
        out->ends_at_ms = best->ends_at_ms;
        out->maintenance = 0;
        return 1;
    }
    const hd_rules_t *r = ctx->rules;
    for (size_t i = 0; i < r->n_maintenance; i++) {
        const hd_maintenance_t *w = &r->maintenance[i];
        int64_t until;
        if (!hd_matchers_match(w->matchers, alert) ||
            !hd_maintenance_active(w, ctx->now_ms, NULL, &until))
            continue;
        out->id = arena_printf(ctx->arena, "maintenance:%s", w->name);
        out->by = "configuration";
        out->comment = arena_printf(ctx->arena, "maintenance window %s", w->name);
        out->ends_at_ms = until;
        out->maintenance = 1;
        return 1;
    }
    return 0;
}

int hd_silence_reminder_of(const char *detail, int64_t *ends_at_ms, const char **by, size_t *by_len)
{
    const char *mark = NULL;
    for (const char *p = detail; p && (p = strstr(p, HD_SILENCE_REMIND_MARK)) != NULL; p++)
        mark = p; /* the last one: a comment may hold the words too */
    if (!mark)
        return 0;
    const char *from = mark + strlen(HD_SILENCE_REMIND_MARK);
    const char *at = NULL;
    for (const char *p = from; (p = strstr(p, " at ")) != NULL; p++)
        at = p; /* the last one: a name may hold the words too */
    if (!at || at == from)
        return 0;
    char *end;
    long long t = strtoll(at + 4, &end, 10);
    if (end == at + 4 || *end != '\0' || t <= 0)
        return 0;
    *ends_at_ms = (int64_t)t;
    *by = from;
    *by_len = (size_t)(at - from);
    return 1;
}
