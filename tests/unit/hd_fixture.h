/*
 * hd_fixture.h — the fixture shared by the handler unit tests
 * (tests/unit/test_hd_*.c): one arena, the default rules and a context per
 * test, builders of stored incidents and stage events, and the checks every
 * transition must pass. Lives in the incidentd_testutil library
 * (hd_fixture.c); not a test itself.
 *
 * Use: `static void setup(void) { hdf_setup(ACTOR, "INC-1:5"); }` and
 * `TestSuite(name, .init = setup, .fini = hdf_teardown);`.
 *
 * Memory: everything a builder returns is allocated from hdf_arena and lives
 * until hdf_teardown(); string arguments are borrowed unless said otherwise.
 */
#ifndef INCIDENTD_HD_FIXTURE_H
#define INCIDENTD_HD_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "handlers.h"

/* The decision time of every test context (2023-11-14T22:13:20Z). */
#define HDF_NOW 1700000000000LL

/* The per-test state, set up by hdf_setup(): hdf_ctx uses hdf_rules (the
 * defaults, for the test to change) and hdf_arena, at HDF_NOW. */
extern arena_t hdf_arena;
extern hd_rules_t hdf_rules;
extern hd_ctx_t hdf_ctx;

/** Initialises hdf_arena, hdf_rules (defaults) and hdf_ctx with @p actor and
 *  @p cause_id (borrowed: string literals), the values hdf_check_records()
 *  expects in every record; NULL for both in tests that build no
 *  transitions. */
void hdf_setup(const char *actor, const char *cause_id);

/** Frees hdf_arena. */
void hdf_teardown(void);

/** A NULL-terminated list of at most 64 strings as a new array (strings
 *  copied), allocated from hdf_arena; *n gets its length. */
char **hdf_list(size_t *n, const char *first, ...);

/** An open MAJOR INCIDENT "INC-1" (dedup_key "db-down") of service "db" at
 *  @p stage and @p scope, version 5, one site, no clients, detected at
 *  HDF_NOW - 1 s, with the actions "detected" and "classified" recorded.
 *  Allocated from hdf_arena. */
hd_state_t *hdf_state_new(Incident__V1__Stage stage, Incident__V1__Scope scope);

/** The stage event announcing @p st (a copy of its incident, event_id
 *  "<id>:<version>") at @p at_ms, as the runtime would send it. Allocated
 *  from hdf_arena. */
hd_event_t *hdf_event_of(const hd_state_t *st, int64_t at_ms);

/** Appends the label @p key = @p value (borrowed) to @p st (a new array from
 *  hdf_arena). */
void hdf_state_label(hd_state_t *st, const char *key, const char *value);

/** Non-zero when @p action is among st->recorded_actions. */
int hdf_has_action(const hd_state_t *st, const char *action);

/* Adds the label key=value to @p a (fixture arena; strings borrowed). */
void hdf_alert_label(hd_alert_t *a, const char *key, const char *value);

/** Non-zero when @p needle occurs in @p haystack. */
int hdf_contains(const char *haystack, const char *needle);

/**
 * Asserts the invariants of an applied transition with records: seqs from
 * @p first_seq without gaps, every record at HDF_NOW with the setup's
 * cause_id and @p actor, empty hashes, a detail, its own snapshot at its
 * seq and stage, its action noted; the state's version is the last seq and
 * every output carries the final snapshot.
 */
void hdf_check_records_by(const hd_transition_t *out, uint64_t first_seq, const char *actor);

/** hdf_check_records_by() with the actor given to hdf_setup(). */
void hdf_check_records(const hd_transition_t *out, uint64_t first_seq);

/** Asserts that @p out changes nothing: HD_NOOP, no state, records, outputs,
 *  timer or index effect, deliveries, not closed. */
void hdf_check_noop(const hd_transition_t *out);

/** The timer effect (@p op, @p kind) of @p out; fails the test when none. */
const hd_timer_effect_t *hdf_timer(const hd_transition_t *out, hd_timer_op_t op,
                                   hd_timer_kind_t kind);

/** Non-zero when @p out has a timer effect (@p op, @p kind). */
int hdf_has_timer(const hd_transition_t *out, hd_timer_op_t op, hd_timer_kind_t kind);

/** The index of the first @p action record of @p out; fails the test when none. */
size_t hdf_action_index(const hd_transition_t *out, const char *action);

/** Non-zero when @p out has an output on @p topic. */
int hdf_has_output(const hd_transition_t *out, hd_topic_t topic);

/** A RESOLVED MAJOR incident (hdf_state_new() at stage RESOLVED) of @p scope,
 *  version 9, level 1 when GLOBAL else 0, client_comms NONE, resolved at
 *  @p resolved_at_ms with its confirmation window stored from hdf_rules, and
 *  the actions of a full life up to "resolved" recorded. */
hd_state_t *hdf_state_resolved(Incident__V1__Scope scope, int64_t resolved_at_ms);

#endif
