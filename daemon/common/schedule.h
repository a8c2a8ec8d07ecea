/*
 * schedule.h — the recurring parts of the configuration: maintenance
 * windows (maintenance.<name>.matchers|every|at|for|tz) and on-call
 * rotations (rotation.<name>.members|every|start). config_value.c hands
 * each key here as it is read; config.c calls schedule_finish() once every
 * source is read, which checks each window and rotation as a whole and
 * points the rules at them (hd_rules_t.maintenance, .rotations).
 *
 * Maintenance window fields: matchers (a JSON object as a silence's:
 * {"service": …, "site": …, "dedup_key_prefix": …, "labels": {"k": "v"}},
 * at least one given), every (daily | weekly), at ("HH:MM"; weekly:
 * "<mon|tue|…|sun> HH:MM"), for (a duration, at most the period), tz (an
 * explicit UTC offset: UTC, +01:00, -05:30; zone names are refused, see
 * handlers/rotation.h for the DST rule). Every field is required.
 * Rotation fields: members (comma list, in order), every (a duration),
 * start (an instant with its offset, "2026-01-05T09:00+01:00").
 *
 * Memory: the schedule owns its texts and what the rules borrow (an arena).
 * Pure (no I/O). @locality the thread that loads the configuration.
 */
#ifndef INCIDENTD_SCHEDULE_H
#define INCIDENTD_SCHEDULE_H

#include <stddef.h>
#include <stdio.h>

#include "arena.h"
#include "handlers.h"

/* One maintenance.<name>.* or rotation.<name>.* as written. */
typedef struct schedule_entry {
    char *name;
    char *fields[5]; /* by the kind's field list (schedule.c); NULL = not given */
} schedule_entry_t;

typedef struct schedule {
    schedule_entry_t *windows; /* maintenance.<name>, in the order first named */
    size_t n_windows;
    schedule_entry_t *rotations; /* rotation.<name> */
    size_t n_rotations;
    /* schedule_finish(): what the rules borrow */
    arena_t *arena;
    hd_maintenance_t *maintenance;
    hd_rotation_t *rotation_rules;
} schedule_t;

typedef enum schedule_kind {
    SCHEDULE_MAINTENANCE = 0,
    SCHEDULE_ROTATION,
} schedule_kind_t;

/**
 * Sets one field: @p rest is "<name>.<field>" of the key after its
 * "maintenance." / "rotation." prefix; an empty @p value removes the field.
 * Returns 0, or -1 with the problem (unknown field, bad name) in @p err.
 */
int schedule_set(schedule_t *s, schedule_kind_t kind, const char *rest, const char *value,
                 char *err, size_t err_size);

/**
 * Checks every window and rotation and points @p rules at them
 * (maintenance, rotations). Returns 0, or -1 with "<key>: <problem>" in
 * @p err. A roster owner "@<rotation>" must name a rotation.
 */
int schedule_finish(schedule_t *s, hd_rules_t *rules, char *err, size_t err_size);

/** Prints every field of @p kind given as "key = value" lines (--print-config). */
void schedule_print(const schedule_t *s, schedule_kind_t kind, FILE *out);

/** Frees everything @p s owns and zeroes it (NULL and zeroed accepted). */
void schedule_free(schedule_t *s);

/** Parses a silence's matchers from JSON text into @p arena. Returns the
 *  matchers, or NULL with the problem naming the field in @p err. */
hd_matchers_t *schedule_matchers_parse(const char *json, arena_t *arena, char *err,
                                       size_t err_size);

#endif
