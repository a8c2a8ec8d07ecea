/*
 * hd_internal.h — helpers shared by the stage handlers (detected.c,
 * classified.c, scoped.c, escalated.c, resolved.c), private to handlers/.
 *
 * How a transition is built: the audit record of each state change (seq,
 * snapshot, recorded actions), the outputs and their final snapshot, the
 * stakeholder list and the texts that go into record details. Not part of
 * the public interface (handlers.h): the runtime and the tests never include
 * this file.
 *
 * Memory: as in handlers.h, everything returned is allocated from the arena
 * passed in (ctx->arena); inputs are borrowed and never written into, arrays
 * are replaced by new ones.
 */
#ifndef INCIDENTD_HD_INTERNAL_H
#define INCIDENTD_HD_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "handlers.h"

/** @p s, or the shared empty string when NULL (never NULL; borrows @p s). */
static inline char *hd_nz(const char *s) { return (char *)(s ? s : protobuf_c_empty_string); }

/** Non-zero when @p inc is OPEN or ACKNOWLEDGED (it still takes changes). */
int hd_is_open(const hd_incident_t *inc);

/**
 * Appends one audit record for the change just made to @p st: the incident's
 * version moves to the record's seq, the record carries a snapshot of the
 * incident as it is now (a copy later changes cannot reach) and @p action
 * joins st->recorded_actions. @p actor "" or NULL means ctx->actor. Sets
 * out->state to @p st and out->verdict to HD_APPLY.
 *
 * @p st is the handler's own copy (hd_state_copy()) and is modified; the
 * record, its strings and the new recorded_actions array are allocated from
 * ctx->arena; @p action, @p actor and @p detail are borrowed (copied).
 * Beyond HD_MAX_RECORDS the record is dropped and nothing changes.
 */
void hd_record_add(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out, const char *action,
                   const char *actor, const char *detail);

/** Adds an output on @p topic to @p out (ignored beyond HD_MAX_OUTPUTS);
 *  its snapshot is set by hd_outputs_finish(). */
void hd_output_add(hd_transition_t *out, hd_topic_t topic);

/** Gives every output of @p out the final snapshot of out->state (NULL when
 *  there is no new state). Call once the transition is complete. */
void hd_outputs_finish(hd_transition_t *out);

/** 64-bit FNV-1a hash of the NUL-terminated @p s. */
uint64_t hd_hash64(const char *s);

/**
 * A set of 64-bit hashes (open addressing, linear probing) in the arena:
 * membership in O(1) where a scan of the arrays would make merges quadratic.
 * Holds at most the @p max given to hd_hset_init(); 0 is a valid member.
 */
typedef struct hd_hset {
    uint64_t *slot;
    unsigned char *used;
    size_t cap; /* power of two, at least twice max */
    size_t n;
} hd_hset_t;

/** Sizes @p s for up to @p max members (memory from @p arena). */
void hd_hset_init(hd_hset_t *s, arena_t *arena, size_t max);
/** Adds @p h: 1 added, 0 already there. The caller keeps n below max. */
int hd_hset_add(hd_hset_t *s, uint64_t h);
/** Non-zero when @p h is in @p s. */
int hd_hset_has(const hd_hset_t *s, uint64_t h);

/** Non-zero when one of the @p n non-NULL entries of @p v equals @p s. */
int hd_strv_has(char *const *v, size_t n, const char *s);

/**
 * Adds the non-empty names of @p names (@p n of them, borrowed) that
 * inc->stakeholders does not hold yet, in order. The new array and the added
 * names are allocated from @p arena; the old array is left as it was.
 */
void hd_stakeholders_add(arena_t *arena, hd_incident_t *inc, const char *const *names, size_t n);

/** hd_stakeholders_add() of the people to inform on reaching @p level (1..3,
 *  r->level_stakeholders); any other level adds nobody. */
void hd_stakeholders_add_level(arena_t *arena, const hd_rules_t *r, hd_incident_t *inc,
                               uint32_t level);

/** "10 min", "90 s" or "1500 ms": the largest whole unit of @p ms.
 *  Returns a string allocated from @p arena. */
const char *hd_duration_text(arena_t *arena, int64_t ms);

/** "a, b, c" (at most 16 names, then "and N more"), or "none" when @p n is 0.
 *  Returns a string allocated from @p arena (or the static "none"). */
const char *hd_names_text(arena_t *arena, char *const *v, size_t n);

#endif
