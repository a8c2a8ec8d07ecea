/*
 * hd_common.c — the transition helpers every stage handler uses (declared in
 * hd_internal.h): audit records with their seq and snapshot, the recorded
 * actions, outputs, stakeholders and the texts of record details.
 */
#include "hd_internal.h"

#include <string.h>

int hd_is_open(const hd_incident_t *inc)
{
    return inc->status == INCIDENT__V1__STATUS__STATUS_OPEN ||
           inc->status == INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED;
}

/* ---- audit records ------------------------------------------------------------ */

/* A copy of @p inc that later changes to the state cannot reach. */
static hd_incident_t *snapshot_of(arena_t *arena, hd_incident_t *inc)
{
    hd_state_t tmp = INCIDENTD__V1__STORED_INCIDENT__INIT;
    tmp.incident = inc;
    return hd_state_copy(arena, &tmp)->incident;
}

/* Adds @p action to the distinct actions of the state (a new array). */
static void action_note(arena_t *arena, hd_state_t *st, const char *action)
{
    if (hd_strv_has(st->recorded_actions, st->n_recorded_actions, action))
        return;
    char **v = arena_alloc(arena, (st->n_recorded_actions + 1) * sizeof(*v));
    if (st->n_recorded_actions)
        memcpy(v, st->recorded_actions, st->n_recorded_actions * sizeof(*v));
    v[st->n_recorded_actions] = arena_strdup(arena, action);
    st->recorded_actions = v;
    st->n_recorded_actions++;
}

void hd_record_add(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out, const char *action,
                   const char *actor, const char *detail)
{
    if (out->n_records >= HD_MAX_RECORDS)
        return; /* no handler writes more than a few; keep the array safe */
    hd_incident_t *inc = st->incident;
    hd_record_t *rec = arena_alloc(ctx->arena, sizeof(*rec));
    hd_record_t init = INCIDENT__V1__AUDIT_RECORD__INIT;
    *rec = init;
    inc->version++;
    rec->incident_id = hd_nz(inc->id);
    rec->seq = inc->version;
    rec->stage = inc->stage;
    rec->action = arena_strdup(ctx->arena, action);
    rec->actor = arena_strdup(ctx->arena, actor && *actor ? actor : ctx->actor);
    rec->at_ms = ctx->now_ms;
    rec->detail = arena_strdup(ctx->arena, detail);
    rec->snapshot = snapshot_of(ctx->arena, inc);
    rec->cause_id = arena_strdup(ctx->arena, ctx->cause_id);
    action_note(ctx->arena, st, action);
    out->records[out->n_records++] = rec;
    out->state = st;
    out->verdict = HD_APPLY;
}

/* ---- outputs ------------------------------------------------------------------ */

void hd_output_add(hd_transition_t *out, hd_topic_t topic)
{
    if (out->n_outputs < HD_MAX_OUTPUTS)
        out->outputs[out->n_outputs++].topic = topic;
}

void hd_outputs_finish(hd_transition_t *out)
{
    for (size_t i = 0; i < out->n_outputs; i++)
        out->outputs[i].snapshot = out->state ? out->state->incident : NULL;
}

/* ---- string sets and stakeholders ---------------------------------------------- */

uint64_t hd_hash64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    return h;
}

void hd_hset_init(hd_hset_t *s, arena_t *arena, size_t max)
{
    size_t cap = 16;
    while (cap < 2 * max)
        cap *= 2;
    s->cap = cap;
    s->n = 0;
    s->slot = arena_alloc(arena, cap * sizeof(*s->slot));
    s->used = arena_alloc(arena, cap);
}

/* The slot of @p h, or the free slot where it would go. */
static size_t hset_find(const hd_hset_t *s, uint64_t h)
{
    size_t mask = s->cap - 1;
    size_t i = (size_t)(h ^ (h >> 29)) & mask;
    while (s->used[i] && s->slot[i] != h)
        i = (i + 1) & mask;
    return i;
}

int hd_hset_add(hd_hset_t *s, uint64_t h)
{
    size_t i = hset_find(s, h);
    if (s->used[i])
        return 0;
    s->used[i] = 1;
    s->slot[i] = h;
    s->n++;
    return 1;
}

int hd_hset_has(const hd_hset_t *s, uint64_t h) { return s->used[hset_find(s, h)]; }

int hd_strv_has(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] && strcmp(v[i], s) == 0)
            return 1;
    return 0;
}

void hd_stakeholders_add(arena_t *arena, hd_incident_t *inc, const char *const *names, size_t n)
{
    if (n == 0 || !names)
        return;
    char **v = arena_alloc(arena, (inc->n_stakeholders + n) * sizeof(*v));
    size_t count = 0;
    for (size_t i = 0; i < inc->n_stakeholders; i++)
        v[count++] = inc->stakeholders[i];
    for (size_t i = 0; i < n; i++) {
        if (!names[i] || !*names[i])
            continue;
        if (!hd_strv_has(v, count, names[i]))
            v[count++] = arena_strdup(arena, names[i]);
    }
    inc->stakeholders = v;
    inc->n_stakeholders = count;
}

void hd_stakeholders_add_level(arena_t *arena, const hd_rules_t *r, hd_incident_t *inc,
                               uint32_t level)
{
    if (level < sizeof(r->level_stakeholders) / sizeof(r->level_stakeholders[0]))
        hd_stakeholders_add(arena, inc, r->level_stakeholders[level],
                            r->n_level_stakeholders[level]);
}

/* ---- texts of record details --------------------------------------------------- */

const char *hd_duration_text(arena_t *arena, int64_t ms)
{
    if (ms != 0 && ms % 60000 == 0)
        return arena_printf(arena, "%lld min", (long long)(ms / 60000));
    if (ms != 0 && ms % 1000 == 0)
        return arena_printf(arena, "%lld s", (long long)(ms / 1000));
    return arena_printf(arena, "%lld ms", (long long)ms);
}

const char *hd_names_text(arena_t *arena, char *const *v, size_t n)
{
    if (n == 0)
        return "none";
    const size_t shown_max = 16;
    const char *text = "";
    for (size_t i = 0; i < n && i < shown_max; i++)
        text = arena_printf(arena, "%s%s%s", text, i ? ", " : "", v[i]);
    if (n > shown_max)
        text = arena_printf(arena, "%s and %zu more", text, n - shown_max);
    return text;
}
