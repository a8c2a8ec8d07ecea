/*
 * hd_internal.h — helpers shared by the stage handlers (detected.c,
 * classified.c, scoped.c, escalated.c, resolved.c, commands.c, followup.c),
 * private to handlers/.
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
 * (its wire string, hd_action_name()) joins st->recorded_actions. @p actor "" or NULL means
 * ctx->actor. Sets out->state to @p st and out->verdict to HD_APPLY.
 *
 * @p st is the handler's own copy (hd_state_copy()) and is modified; the
 * record, its strings and the new recorded_actions array are allocated from
 * ctx->arena; @p actor and @p detail are borrowed (copied).
 * Beyond HD_MAX_RECORDS the record is dropped and nothing changes.
 */
void hd_record_add(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out, hd_action_t action,
                   const char *actor, const char *detail);

/** Appends a timer effect to @p out (ignored beyond HD_MAX_TIMERS); an ACK
 *  effect is also mirrored in the deprecated out->timer_op/level/due_ms. */
void hd_timer_add(hd_transition_t *out, hd_timer_op_t op, hd_timer_kind_t kind, uint32_t level,
                  int64_t due_ms);

/** @p t + @p d, saturated to INT64_MAX/INT64_MIN instead of overflowing. */
int64_t hd_time_add(int64_t t, int64_t d);

/**
 * One escalation level up (the caller checks it is below the top): the TM
 * joins the stakeholders when leaving level 0, then the level's people; an
 * `escalated` record "<why>: level a -> b; informed: ...", the re-escalation
 * notice planned for the owner and the stakeholders (`notification_planned`)
 * and an output on HD_TOPIC_ESCALATED.
 */
void hd_escalate(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out, const char *why);

/* ---- planned deliveries (hd_common.c) --------------------------------------------- */

/* One recipient of a notice: a person (an owner "" is the unnamed owner) or a client. */
typedef struct hd_recipient {
    const char *name;
    int client;
} hd_recipient_t;

/* Who of an incident hd_recipients_of() lists (bits). */
#define HD_TO_OWNER 1u
#define HD_TO_STAKEHOLDERS 2u
#define HD_TO_CLIENTS 4u

/** The owner (even unnamed), the stakeholders and the named clients of
 *  @p inc that @p who asks for, in that order, each person once; *v gets an
 *  array from @p arena (names borrowed). Returns the count. */
size_t hd_recipients_of(arena_t *arena, const hd_incident_t *inc, unsigned who, hd_recipient_t **v);

/**
 * Plans @p notice for the @p n recipients @p to (nothing when @p n is 0):
 * one delivery per channel each recipient has in the directory
 * (hd_contact_of(); clients: email and webhook only), appended to
 * out->deliveries with the ids "<incident id>:<seq>:<k>", and ONE
 * `notification_planned` record (seq) whose detail lists every delivery
 * (id -> recipient/channel), every recipient without a channel ("no
 * channel", audited, not sent; an owner "" is "owner (unnamed)") and the
 * recipients past HD_NOTICE_RECIPIENTS_MAX ("not planned: over the limit").
 * @p about (may be NULL) is said after the notice's name. Returns the index
 * of the first delivery it appended in out->deliveries (== n_deliveries when
 * none). Nothing at all once out has HD_MAX_RECORDS records.
 */
size_t hd_notify_plan(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out, hd_notice_t notice,
                      const hd_recipient_t *to, size_t n, const char *about);

/** hd_notify_plan() of @p notice for who (HD_TO_* bits) of st's incident. */
size_t hd_notify_team(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out, hd_notice_t notice,
                      unsigned who, const char *about);

/* ---- follow-up (followup.c) -------------------------------------------------------- */

/**
 * Resolves @p st (the handler's copy; OPEN or ACKNOWLEDGED): status and stage
 * RESOLVED, the confirmation window starts (StoredIncident.followup_until_ms),
 * a `resolved` record by @p actor with @p detail, output on RESOLVED; the ACK
 * and CLIENT_UPDATE timers are cancelled and a CONFIRM timer armed at the
 * window's end (none for a window of 0: the resolved stage confirms at once).
 */
void hd_resolve(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out, const char *actor,
                const char *detail);

/** The end of the confirmation window of resolved @p st (a state from before
 *  the window was stored: resolved_at_ms + the window of the rules). */
int64_t hd_window_end(const hd_rules_t *r, const hd_state_t *st);

/** Non-zero when @p st was confirmed but waits at the completion gate. */
int hd_is_blocked(const hd_state_t *st);

/**
 * Reopens resolved @p st (the handler's copy): status OPEN, reopen_count +1,
 * a `reopened` record by @p actor with @p detail, the CONFIRM timer
 * cancelled; an incident goes back on ESCALATED at its level with the ACK
 * timer armed (on CLASSIFIED when it was never scoped) and its client update
 * plan re-armed under NOTIFY; a disturbance just opens again.
 */
void hd_reopen(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out, const char *actor,
               const char *detail);

/**
 * The quiet end of the window of resolved @p st (the handler's copy):
 * `confirmed`, the dedup key leaves the open index, `followed_up` with
 * `notification_planned` for the final updates, then the completion gate:
 * `closed`, or `completion_blocked` listing each missing piece and a
 * REVIEW timer.
 */
void hd_confirm(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out);

/** A command changed blocked @p st: closes it (`closed`) when the gate has
 *  nothing missing any more; else nothing. */
void hd_gate_recheck(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out);

/** The fired timers of followup.c (see hd_timer_apply()); @p cur may be
 *  NULL, @p out is cleared by the caller. */
void hd_timer_confirm(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_timer_t *timer,
                      hd_transition_t *out);
void hd_timer_client_update(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_timer_t *timer,
                            hd_transition_t *out);
void hd_timer_review(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_timer_t *timer,
                     hd_transition_t *out);

/** The SILENCE_END timer of a silenced disturbance (detected.c; see
 *  hd_timer_apply()); @p cur may be NULL, @p out is cleared by the caller. */
void hd_timer_silence_end(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_timer_t *timer,
                          hd_transition_t *out);

/** Arms the next CLIENT_UPDATE timer of @p st (seq +1) at now + interval and
 *  sets next_client_update_due_ms. No record: the caller's covers it. */
void hd_client_update_arm(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out);

/** Adds an output on @p topic to @p out (ignored when @p topic is there
 *  already or beyond HD_MAX_OUTPUTS); its snapshot is set by
 *  hd_outputs_finish(). */
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

/** "5 d", "10 min", "90 s" or "1500 ms": the largest whole unit of @p ms.
 *  Returns a string allocated from @p arena. */
const char *hd_duration_text(arena_t *arena, int64_t ms);

/** "a, b, c" (at most 16 names, then "and N more"), or "none" when @p n is 0.
 *  Returns a string allocated from @p arena (or the static "none"). */
const char *hd_names_text(arena_t *arena, char *const *v, size_t n);

#endif
