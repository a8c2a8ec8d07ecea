/*
 * rotation.h — on-call rotations and the time arithmetic of the calendar
 * (rotation.c): who of a rotation is on call at an instant, overrides that
 * put someone else on call between two instants, and the parsers of the
 * instants and UTC offsets the configuration gives.
 *
 * The DST rule: every instant here is absolute (Unix ms, UTC). A rotation
 * hands over every `every` ms after `start`, counted in absolute time, so a
 * daily rotation started at 09:00 +01:00 hands over at 08:00 UTC all year:
 * at 10:00 local time under summer time. Time zones are explicit UTC
 * offsets ("+01:00"), never names, so nothing depends on the tz database of
 * the machine; a team that wants the local hour to follow DST configures an
 * override for the season or a rotation per season. Overrides are two
 * absolute instants, so one across midnight or a DST change is simply the
 * interval between them.
 *
 * Pure (no I/O, no clock). @locality any thread
 */
#ifndef INCIDENTD_ROTATION_H
#define INCIDENTD_ROTATION_H

#include <stddef.h>
#include <stdint.h>

#include "handlers.h"

#define HD_MS_MINUTE 60000LL
#define HD_MS_HOUR (60 * HD_MS_MINUTE)
#define HD_MS_DAY (24 * HD_MS_HOUR)
#define HD_MS_WEEK (7 * HD_MS_DAY)

/* One rotation (rotation.<name>.*). Strings and the array are borrowed. */
struct hd_rotation {
    const char *name;
    const char *const *members; /* in order; at least one */
    size_t n_members;
    int64_t every_ms; /* hand-over period, > 0 */
    int64_t start_ms; /* when members[0]'s first period starts */
};

/* One override: @p person is on call instead of @p covers (or of whoever
 * is, when covers is "" or NULL) from from_ms (inclusive) to until_ms
 * (exclusive). */
struct hd_override {
    const char *rotation; /* the rotation it applies to */
    const char *person;
    const char *covers;
    int64_t from_ms;
    int64_t until_ms;
};

#define HD_OVERRIDE_ID_MAX 128
#define HD_OVERRIDE_MAX_MS (90 * HD_MS_DAY) /* the longest override */

typedef Incidentd__V1__RotationOverride hd_override_record_t;

/**
 * Checks an override record (incidents.overrides): id 1..128 bytes,
 * rotation, person and created_by 1..255, covers <= 255, comment <= 1024,
 * every string UTF-8 without NUL, 0 < from_ms < until_ms <= from_ms + 90
 * days. Whether the rotation exists is the caller's to check (the rules).
 * Returns 0, or -1 with "<field>: <reason>" in @p err and the field's name
 * (static) in *@p field (may be NULL).
 */
int hd_override_validate(const hd_override_record_t *o, const char **field, char *err,
                         size_t err_size);

/** @p o as the rotation arithmetic takes it (strings borrowed). */
hd_override_t hd_override_of(const hd_override_record_t *o);

/** The rotation named @p name in @p r, or NULL. */
const hd_rotation_t *hd_rotation_find(const hd_rules_t *r, const char *name);

/**
 * The member of @p rot on call at @p t by the schedule alone: period k =
 * floor((t - start) / every) runs from start + k*every (inclusive) to
 * start + (k+1)*every (exclusive) and is members[k mod n]. Before start,
 * nobody has been handed over yet: members[0]. NULL when @p rot has no
 * members or no period.
 */
const char *hd_rotation_scheduled(const hd_rotation_t *rot, int64_t t);

/**
 * Who of rotation @p rot is on call at @p t: the scheduled member, unless
 * an override of @p overrides (the last that applies wins) covers @p t and
 * that member (or everyone). *@p why (may be NULL) gets "override by X for
 * Y" or "scheduled". NULL as hd_rotation_scheduled().
 */
const char *hd_rotation_on_call(const hd_rotation_t *rot, const hd_override_t *overrides,
                                size_t n_overrides, int64_t t, const char **why);

/**
 * The owner a roster entry names at @p t: "@<rotation>" is the member of
 * that rotation on call (hd_rotation_on_call() with the rules' overrides);
 * anything else is the name itself. *@p rotation (may be NULL) gets the
 * rotation's name or NULL. An unknown rotation gives "" (no owner).
 */
const char *hd_owner_resolve(const hd_rules_t *r, const char *entry, int64_t t,
                             const char **rotation);

/** The owner of @p inc's role and service by the roster at @p t, a
 *  rotation's member resolved (hd_owner_resolve(); *@p rotation likewise). */
const char *hd_owner_on_call(const hd_rules_t *r, const hd_incident_t *inc, int64_t t,
                             const char **rotation);

/** Parses a UTC offset: "UTC", "Z", "+01:00", "-05:30", "+0100". Sets
 *  *@p minutes (east of UTC, -14h..+14h). Returns 0, or -1. */
int hd_tz_parse(const char *s, int32_t *minutes);

/** Parses "HH:MM" (00:00..23:59) into minutes after midnight. 0 or -1. */
int hd_clock_parse(const char *s, int32_t *minutes);

/**
 * Parses an instant with an explicit offset: "2026-03-29T01:30+01:00",
 * seconds optional ("…T01:30:15Z"), 'T' or ' ' between date and time.
 * Sets *@p ms (Unix ms). Returns 0, or -1 (bad form or date, no offset).
 */
int hd_time_parse(const char *s, int64_t *ms);

/** Days since 1970-01-01 of the civil date y-m-d (proleptic Gregorian). */
int64_t hd_days_from_civil(int64_t y, unsigned m, unsigned d);

/** @p a floor-divided by @p b (b > 0): rounds toward minus infinity. */
int64_t hd_floor_div(int64_t a, int64_t b);

#endif
