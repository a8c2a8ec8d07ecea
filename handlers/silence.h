/*
 * silence.h — silences and maintenance windows (silence.c): checking a
 * silence against the contract, matching an alert at an instant, and the
 * recurring windows of the configuration. The detected stage asks
 * hd_silence_match() whether a TRIGGER is silenced (detected.c).
 *
 * The instant is the one the detected stage judges the alert at
 * (hd_ctx_t.now_ms: its arrival at the stage), never the sender's
 * occurred_at_ms. Matching is pure (no I/O, no clock).
 * @locality any thread
 */
#ifndef INCIDENTD_SILENCE_H
#define INCIDENTD_SILENCE_H

#include <stddef.h>
#include <stdint.h>

#include "handlers.h"

#define HD_SILENCE_ID_MAX 128
#define HD_SILENCE_COMMENT_MAX 1024

/* A maintenance window (maintenance.<name>.*): a silence of @p for_ms that
 * starts every day (or every week on @p weekday) at @p at_min minutes after
 * midnight in the fixed UTC offset @p tz_min (see rotation.h: offsets, never
 * zone names). Strings and matchers are borrowed. */
struct hd_maintenance {
    const char *name;
    const hd_matchers_t *matchers;
    int weekly;     /* 0: daily, 1: weekly */
    int weekday;    /* weekly: 0 = Monday .. 6 = Sunday */
    int32_t at_min; /* 0 .. 1439 */
    int64_t for_ms; /* 1 ms .. the period */
    int32_t tz_min; /* local = UTC + tz_min minutes */
};

/**
 * Checks a silence: id 1..128 bytes, matchers with at least one field
 * (labels: keys 1..255, values <= 1024 bytes), starts_at_ms > 0, ends_at_ms
 * required and after starts_at_ms by at most @p max_ms, comment 1..1024
 * bytes, created_by 1..255, every string UTF-8 without NUL. Returns 0, or
 * -1 with "<field>: <reason>" in @p err and the field's name (static) in
 * *@p field (may be NULL).
 */
int hd_silence_validate(const hd_silence_t *s, int64_t max_ms, const char **field, char *err,
                        size_t err_size);

/** Non-zero when @p m has a field and every field given matches @p alert. */
int hd_matchers_match(const hd_matchers_t *m, const hd_alert_t *alert);

/** Non-zero when @p s is in force at @p t (starts_at <= t < ends_at) and
 *  matches @p alert. */
int hd_silence_matches(const hd_silence_t *s, const hd_alert_t *alert, int64_t t);

/**
 * The occurrence of window @p w in force at @p t, else the next one: its
 * start and end in *@p from / *@p until. Returns 0, or -1 for a window
 * without duration.
 */
int hd_maintenance_next(const hd_maintenance_t *w, int64_t t, int64_t *from, int64_t *until);

/**
 * The occurrence of window @p w around @p t: when @p t is inside one, 1
 * with its start and end in *@p from / *@p until; else 0.
 */
int hd_maintenance_active(const hd_maintenance_t *w, int64_t t, int64_t *from, int64_t *until);

/* What silences an alert (hd_silence_match()). */
typedef struct hd_silenced {
    const char *id; /* the silence's id, or "maintenance:<name>" (ctx->arena) */
    const char *by; /* created_by, or "configuration" */
    const char *comment;
    int64_t ends_at_ms;
    int maintenance; /* a maintenance window: nobody to remind at its end */
} hd_silenced_t;

/**
 * Whether @p alert is silenced at ctx->now_ms: first the silences of
 * ctx->silences (the one ending last wins, then the lowest id), then the
 * maintenance windows of ctx->rules (in order). Returns 1 and fills @p out,
 * or 0.
 */
int hd_silence_match(const hd_ctx_t *ctx, const hd_alert_t *alert, hd_silenced_t *out);

/*
 * The reminder at a silence's end, in the audit (so that a rebuild from
 * ormis.audit arms the SILENCE_END timer again, rebuild.c): the `silenced`
 * record of a disturbance whose creator is to be reminded ends with
 * "; reminder to <created_by> at <ends_at_ms>", and the `note` of the
 * reminder given starts with HD_SILENCE_REMINDED.
 */
#define HD_SILENCE_REMIND_MARK "; reminder to "
#define HD_SILENCE_REMINDED "silence reminder: "

/**
 * Reads the reminder a `silenced` record's @p detail asks for: 1 with the
 * silence's end in *@p ends_at_ms and the creator as @p by_len bytes at
 * *@p by (borrowed from @p detail); 0 when it asks for none.
 */
int hd_silence_reminder_of(const char *detail, int64_t *ends_at_ms, const char **by,
                           size_t *by_len);

#endif
