/*
 * hd_common.c — the transition helpers every stage handler uses (declared in
 * hd_internal.h): audit records with their seq and snapshot, the recorded
 * actions, outputs, stakeholders, the planned deliveries of a notice and the
 * texts of record details.
 */
#include "hd_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rotation.h"

int hd_is_open(const hd_incident_t *inc)
{
    return inc->status == INCIDENT__V1__STATUS__STATUS_OPEN ||
           inc->status == INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED;
}

/* ---- audit actions -------------------------------------------------------------- */

/* The wire string of every hd_action_t, in enum order. */
static const char *const action_names[HD_ACTION_COUNT] = {
    [HD_ACTION_DETECTED] = "detected",
    [HD_ACTION_CLASSIFIED] = "classified",
    [HD_ACTION_RECLASSIFIED] = "reclassified",
    [HD_ACTION_MERGED] = "merged",
    [HD_ACTION_SCOPED] = "scoped",
    [HD_ACTION_ASSIGNED] = "assigned",
    [HD_ACTION_ESCALATED] = "escalated",
    [HD_ACTION_HANDLED] = "handled",
    [HD_ACTION_CLIENT_NOTIFIED] = "client_notified",
    [HD_ACTION_ACKNOWLEDGED] = "acknowledged",
    [HD_ACTION_RESOLVED] = "resolved",
    [HD_ACTION_FOLLOWED_UP] = "followed_up",
    [HD_ACTION_CLOSED] = "closed",
    [HD_ACTION_REOPENED] = "reopened",
    [HD_ACTION_CONFIRMED] = "confirmed",
    [HD_ACTION_COMPLETION_BLOCKED] = "completion_blocked",
    [HD_ACTION_NOTE] = "note",
    [HD_ACTION_MEETING_PLANNED] = "meeting_planned",
    [HD_ACTION_TASK_ADDED] = "task_added",
    [HD_ACTION_TASK_DONE] = "task_done",
    [HD_ACTION_TASK_CANCELLED] = "task_cancelled",
    [HD_ACTION_MEETING_HELD] = "meeting_held",
    [HD_ACTION_CLIENT_UPDATE] = "client_update",
    [HD_ACTION_CLIENT_UPDATE_DUE] = "client_update_due",
    [HD_ACTION_SIGNED_OFF] = "signed_off",
    [HD_ACTION_REVIEW_SUBMITTED] = "review_submitted",
    [HD_ACTION_HANDED_OVER] = "handed_over",
    [HD_ACTION_NOTIFICATION_PLANNED] = "notification_planned",
    [HD_ACTION_NOTIFIED] = "notified",
    [HD_ACTION_DELIVERY_FAILED] = "delivery_failed",
    [HD_ACTION_SILENCED] = "silenced",
};

const char *hd_action_name(hd_action_t action)
{
    if ((unsigned)action >= HD_ACTION_COUNT || !action_names[action])
        return "unknown";
    return action_names[action];
}

int hd_action_parse(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < HD_ACTION_COUNT; i++)
        if (action_names[i] && strcmp(action_names[i], name) == 0)
            return i;
    return -1;
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

void hd_record_add(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out, hd_action_t action,
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
    rec->action = (char *)hd_action_name(action);
    rec->actor = arena_strdup(ctx->arena, actor && *actor ? actor : ctx->actor);
    rec->at_ms = ctx->now_ms;
    rec->detail = arena_strdup(ctx->arena, detail);
    rec->snapshot = snapshot_of(ctx->arena, inc);
    rec->cause_id = arena_strdup(ctx->arena, ctx->cause_id);
    action_note(ctx->arena, st, rec->action);
    out->records[out->n_records++] = rec;
    out->state = st;
    out->verdict = HD_APPLY;
}

/* ---- timers ------------------------------------------------------------------- */

const char *hd_timer_kind_name(hd_timer_kind_t kind)
{
    static const char *const names[HD_TIMER_KINDS] = {"ack", "confirm", "client_update", "review",
                                                      "silence_end"};
    return (unsigned)kind < HD_TIMER_KINDS ? names[kind] : "unknown";
}

void hd_timer_add(hd_transition_t *out, hd_timer_op_t op, hd_timer_kind_t kind, uint32_t level,
                  int64_t due_ms)
{
    if (out->n_timers >= HD_MAX_TIMERS)
        return;
    hd_timer_effect_t *t = &out->timers[out->n_timers++];
    t->op = op;
    t->kind = kind;
    t->level = level;
    t->due_ms = op == HD_TIMER_ARM ? due_ms : 0;
    if (kind == HD_TIMER_ACK) {
        out->timer_op = op;
        out->timer_level = t->level;
        out->timer_due_ms = t->due_ms;
    }
}

const hd_timer_effect_t *hd_timer_find(const hd_transition_t *out, hd_timer_kind_t kind)
{
    for (size_t i = 0; i < out->n_timers && i < HD_MAX_TIMERS; i++)
        if (out->timers[i].kind == kind)
            return &out->timers[i];
    return NULL;
}

int64_t hd_time_add(int64_t t, int64_t d)
{
    if (d > 0 && t > INT64_MAX - d)
        return INT64_MAX;
    if (d < 0 && t < INT64_MIN - d)
        return INT64_MIN;
    return t + d;
}

/* ---- escalation ----------------------------------------------------------------- */

void hd_escalate(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out, const char *why)
{
    arena_t *a = ctx->arena;
    const hd_rules_t *r = ctx->rules;
    hd_incident_t *inc = st->incident;
    uint32_t level = inc->escalation_level;
    inc->escalation_level = level + 1;
    if (level == 0) {
        const char *tm[] = {r->tm_stakeholder};
        hd_stakeholders_add(a, inc, tm, 1);
    }
    hd_stakeholders_add_level(a, r, inc, inc->escalation_level);
    /* A rotation's owner is whoever is on call now (rotation.h). */
    const char *rotation = NULL, *on_call = hd_owner_on_call(r, inc, ctx->now_ms, &rotation);
    const char *owner_text = "";
    if (rotation) {
        owner_text =
            arena_printf(a, "; owner %s%s%s (on call in rotation %s)",
                         strcmp(hd_nz(inc->owner), on_call) ? hd_nz(inc->owner) : "",
                         strcmp(hd_nz(inc->owner), on_call) ? " -> " : "", on_call, rotation);
        inc->owner = arena_strdup(a, on_call);
    }
    hd_record_add(
        ctx, st, out, HD_ACTION_ESCALATED, NULL,
        arena_printf(a, "%s: level %u -> %u; informed: %s%s", why, level, inc->escalation_level,
                     hd_names_text(a, inc->stakeholders, inc->n_stakeholders), owner_text));
    hd_notify_team(ctx, st, out, HD_NOTICE_REESCALATION, HD_TO_OWNER | HD_TO_STAKEHOLDERS,
                   arena_printf(a, "level %u", inc->escalation_level));
    hd_output_add(out, HD_TOPIC_ESCALATED);
}

/* ---- outputs ------------------------------------------------------------------ */

void hd_output_add(hd_transition_t *out, hd_topic_t topic)
{
    for (size_t i = 0; i < out->n_outputs; i++)
        if (out->outputs[i].topic == topic)
            return; /* one event per topic: it carries the final snapshot anyway */
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

/* ---- planned deliveries ------------------------------------------------------- */

/* Bytes of a notification_planned detail spent on each of its lists
 * (deliveries, recipients without a channel); the rest is counted. */
#define PLAN_LIST_MAX 65536

/* A list text in one buffer, grown in the arena as entries come (a whole
 * PLAN_LIST_MAX per list made every batch of 500 decisions touch tens of
 * MiB); entries past PLAN_LIST_MAX are counted, not written. */
typedef struct plan_list {
    arena_t *arena;
    char *buf;
    size_t len;
    size_t cap; /* bytes of buf, terminator included */
    size_t shown;
    size_t hidden;
} plan_list_t;

static void plan_list_init(plan_list_t *l, arena_t *arena)
{
    memset(l, 0, sizeof(*l));
    l->arena = arena;
    l->cap = 256;
    l->buf = arena_alloc(arena, l->cap);
}

static void plan_list_add(plan_list_t *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void plan_list_add(plan_list_t *l, const char *fmt, ...)
{
    char entry[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(entry, sizeof(entry), fmt, ap);
    va_end(ap);
    size_t sep = l->shown ? 2 : 0;
    if (n < 0 || (size_t)n >= sizeof(entry) || l->len + sep + (size_t)n > PLAN_LIST_MAX) {
        l->hidden++;
        return;
    }
    size_t need = l->len + sep + (size_t)n + 1;
    if (need > l->cap) {
        size_t cap = l->cap;
        while (cap < need)
            cap *= 2;
        if (cap > PLAN_LIST_MAX + 1)
            cap = PLAN_LIST_MAX + 1;
        char *nb = arena_alloc(l->arena, cap);
        memcpy(nb, l->buf, l->len + 1);
        l->buf = nb;
        l->cap = cap;
    }
    memcpy(l->buf + l->len, ", ", sep);
    memcpy(l->buf + l->len + sep, entry, (size_t)n + 1);
    l->len += sep + (size_t)n;
    l->shown++;
}

/* The list, with "and N more" when entries were counted only. */
static const char *plan_list_text(arena_t *arena, const plan_list_t *l)
{
    if (!l->hidden)
        return l->buf;
    return arena_printf(arena, "%s%sand %zu more", l->buf, l->shown ? " " : "", l->hidden);
}

/* How a recipient is named in a detail. */
static const char *recipient_text(arena_t *arena, const hd_recipient_t *to)
{
    if (to->client)
        return arena_printf(arena, "client %s", hd_nz(to->name));
    return to->name && *to->name ? to->name : "owner (unnamed)";
}

/* The channels @p to can be reached on (clients: email and webhook). */
static unsigned recipient_channels(const hd_rules_t *r, const hd_recipient_t *to)
{
    if (!to->name || !*to->name)
        return 0;
    const hd_contact_t *c = hd_contact_of(r, to->name, to->client);
    if (!c)
        return 0;
    return c->channels & (to->client ? HD_CHANNEL_EMAIL | HD_CHANNEL_WEBHOOK : HD_CHANNELS_ALL);
}

size_t hd_recipients_of(arena_t *arena, const hd_incident_t *inc, unsigned who, hd_recipient_t **v)
{
    size_t cap = 1 + inc->n_stakeholders + inc->n_clients;
    hd_recipient_t *to = arena_alloc(arena, cap * sizeof(*to));
    size_t n = 0;
    const char *owner = hd_nz(inc->owner);
    if (who & HD_TO_OWNER)
        to[n++] = (hd_recipient_t){owner, 0};
    for (size_t i = 0; (who & HD_TO_STAKEHOLDERS) && i < inc->n_stakeholders; i++) {
        const char *s = inc->stakeholders[i];
        if (s && *s && !((who & HD_TO_OWNER) && strcmp(s, owner) == 0))
            to[n++] = (hd_recipient_t){s, 0};
    }
    for (size_t i = 0; (who & HD_TO_CLIENTS) && i < inc->n_clients; i++)
        if (inc->clients[i] && *inc->clients[i])
            to[n++] = (hd_recipient_t){inc->clients[i], 1};
    *v = to;
    return n;
}

/* Appends the deliveries of recipient @p to (seq: of the plan's record) to
 * @p v from index *k; the recipient goes to @p sent or @p unsent. */
static void plan_recipient(const hd_ctx_t *ctx, const hd_incident_t *inc, uint64_t seq,
                           hd_notice_t notice, const hd_recipient_t *to, hd_delivery_t *v,
                           size_t first, size_t *k, plan_list_t *sent, plan_list_t *unsent)
{
    arena_t *a = ctx->arena;
    static const unsigned channels[] = {HD_CHANNEL_EMAIL, HD_CHANNEL_WEBHOOK, HD_CHANNEL_SLACK};
    unsigned have = recipient_channels(ctx->rules, to);
    const char *who = recipient_text(a, to);
    if (!have) {
        plan_list_add(unsent, "%s: no channel", who);
        return;
    }
    for (size_t c = 0; c < sizeof(channels) / sizeof(channels[0]); c++) {
        if (!(have & channels[c]))
            continue;
        hd_delivery_t *d = &v[first + (*k)++];
        d->id = arena_printf(a, "%s:%llu:%zu", hd_nz(inc->id), (unsigned long long)seq, *k);
        d->recipient = arena_strdup(a, to->name);
        d->client = to->client;
        d->channel = channels[c];
        d->notice = notice;
        plan_list_add(sent, "%s -> %s/%s", d->id, who, hd_channel_name(d->channel));
    }
}

size_t hd_notify_plan(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out, hd_notice_t notice,
                      const hd_recipient_t *to, size_t n, const char *about)
{
    size_t first = out->n_deliveries;
    if (n == 0 || out->n_records >= HD_MAX_RECORDS)
        return first;
    arena_t *a = ctx->arena;
    const hd_incident_t *inc = st->incident;
    uint64_t seq = inc->version + 1; /* the seq of the record below */
    size_t n_plan = n < HD_NOTICE_RECIPIENTS_MAX ? n : HD_NOTICE_RECIPIENTS_MAX;
    hd_delivery_t *v = arena_alloc(a, (first + 3 * n_plan) * sizeof(*v));
    if (first)
        memcpy(v, out->deliveries, first * sizeof(*v));
    plan_list_t sent, unsent, over;
    plan_list_init(&sent, a);
    plan_list_init(&unsent, a);
    plan_list_init(&over, a);
    size_t k = 0;
    for (size_t i = 0; i < n_plan; i++)
        plan_recipient(ctx, inc, seq, notice, &to[i], v, first, &k, &sent, &unsent);
    for (size_t i = n_plan; i < n && over.shown < 16; i++)
        plan_list_add(&over, "%s", recipient_text(a, &to[i]));
    over.hidden = n - n_plan - over.shown;
    out->deliveries = v;
    out->n_deliveries = first + k;

    const char *text = arena_printf(a, "%s%s%s%s: ", hd_notice_name(notice), about ? " (" : "",
                                    about ? about : "", about ? ")" : "");
    text = k ? arena_printf(a, "%s%zu deliver%s planned: %s", text, k, k == 1 ? "y" : "ies",
                            plan_list_text(a, &sent))
             : arena_printf(a, "%sno delivery planned", text);
    if (unsent.shown || unsent.hidden)
        text = arena_printf(a, "%s; audited, not sent: %s", text, plan_list_text(a, &unsent));
    if (n > n_plan)
        text = arena_printf(a, "%s; not planned: over the limit %d: %zu recipients (%s)", text,
                            HD_NOTICE_RECIPIENTS_MAX, n - n_plan, plan_list_text(a, &over));
    hd_record_add(ctx, st, out, HD_ACTION_NOTIFICATION_PLANNED, NULL, text);
    return first;
}

size_t hd_notify_team(const hd_ctx_t *ctx, hd_state_t *st, hd_transition_t *out, hd_notice_t notice,
                      unsigned who, const char *about)
{
    hd_recipient_t *to;
    size_t n = hd_recipients_of(ctx->arena, st->incident, who, &to);
    return hd_notify_plan(ctx, st, out, notice, to, n, about);
}

/* ---- texts of record details --------------------------------------------------- */

const char *hd_duration_text(arena_t *arena, int64_t ms)
{
    if (ms != 0 && ms % 86400000 == 0)
        return arena_printf(arena, "%lld d", (long long)(ms / 86400000));
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
