/*
 * worker_batch.c — one batch of a stage worker, up to the Redis step:
 * decode and validate each message, decide it with the stage's handler
 * (stage.h) chaining one incident's state through the batch, turn the
 * transitions into records and apply them once in Redis (store.h); an
 * incident whose apply conflicts is read and decided again.
 */
#include "worker_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "kafka.h"
#include "log.h"
#include "ormis.h"
#include "pb_strings.h"

static void worker_add_out(worker_t *w, worker_item_t *it, size_t *cap, const char *topic,
                           const void *key, size_t key_len, const void *val, size_t val_len)
{
    if (it->n_outs == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        worker_out_t *n = arena_alloc(&w->arena, ncap * sizeof(*n));
        if (it->n_outs)
            memcpy(n, it->outs, it->n_outs * sizeof(*n));
        it->outs = n;
        *cap = ncap;
    }
    it->outs[it->n_outs++] = (worker_out_t){topic, key, key_len, val, val_len, NULL, 0};
}

/* Records of a replay, from the stored blob. */
static int worker_outs_from_blob(worker_t *w, worker_item_t *it, const unsigned char *blob,
                                 size_t len)
{
    it->n_outs = 0;
    if (!blob || len == 0)
        return 0;
    Incidentd__V1__StoredOutputs *so =
        incidentd__v1__stored_outputs__unpack(arena_pb(&w->arena), len, blob);
    if (!so)
        return -1;
    size_t cap = 0;
    for (size_t i = 0; i < so->n_records; i++) {
        Incidentd__V1__OutRecord *r = so->records[i];
        worker_add_out(w, it, &cap, r->topic, r->key.data, r->key.len, r->value.data, r->value.len);
        if (r->state.len > 0) {
            it->outs[it->n_outs - 1].state = r->state.data;
            it->outs[it->n_outs - 1].state_len = r->state.len;
        }
    }
    return 0;
}

void *worker_pack_state(worker_t *w, const hd_state_t *st, size_t *len)
{
    *len = incidentd__v1__stored_incident__get_packed_size(st);
    void *buf = arena_alloc(&w->arena, *len ? *len : 1);
    incidentd__v1__stored_incident__pack(st, buf);
    return buf;
}

/* SHA-1 (hex) of @p st packed, in the arena: what the apply compares with
 * the stored state's when the decision was made on an event's header state. */
static const char *worker_state_digest(worker_t *w, const hd_state_t *st)
{
    size_t len;
    const unsigned char *buf = worker_pack_state(w, st, &len);
    char *hex = arena_alloc(&w->arena, STORE_DIGEST_HEX);
    store_state_digest(buf, len, hex);
    return hex;
}

hd_state_t *worker_unpack_state(worker_t *w, const unsigned char *buf, size_t len)
{
    if (!buf || !len)
        return NULL;
    hd_state_t *st = incidentd__v1__stored_incident__unpack(arena_pb(&w->arena), len, buf);
    if (!st || !st->incident)
        return NULL;
    return st;
}

/* FNV-1a of a key: the views' index, the seen keys' bit. */
static uint64_t worker_key_hash(const char *key)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

/* A round's views, at most @p max, with an index by key (open addressing,
 * at most half full): a batch of 500 incidents looks each up in O(1), not
 * in a scan of the others. */
typedef struct worker_views {
    worker_view_t *v;
    size_t n;
    uint32_t *slot; /* 1 + index into v, 0 = empty */
    size_t mask;
} worker_views_t;

static void worker_views_init(worker_views_t *vs, arena_t *arena, size_t max)
{
    size_t cap = 16;
    while (cap < 2 * max)
        cap *= 2;
    vs->v = arena_alloc(arena, (max ? max : 1) * sizeof(*vs->v));
    vs->n = 0;
    vs->slot = arena_alloc(arena, cap * sizeof(*vs->slot));
    vs->mask = cap - 1;
}

/* The view of @p key, made (zeroed) when it is new. */
static worker_view_t *worker_view(worker_views_t *vs, const char *key)
{
    size_t i = (size_t)worker_key_hash(key) & vs->mask;
    for (; vs->slot[i]; i = (i + 1) & vs->mask)
        if (strcmp(vs->v[vs->slot[i] - 1].key, key) == 0)
            return &vs->v[vs->slot[i] - 1];
    worker_view_t *v = &vs->v[vs->n++];
    vs->slot[i] = (uint32_t)vs->n;
    memset(v, 0, sizeof(*v));
    v->key = key;
    return v;
}

/* Publishes the store's round trips and errors to the metrics. */
static void worker_note_redis(worker_t *w)
{
    atomic_store(&w->stats.redis_round_trips, store_round_trips(w->store));
    atomic_store(&w->stats.redis_errors, store_errors(w->store));
}

/* A new incident's id: derived from the alert and its input position, so a
 * replay of the same position names the same incident. */
static const char *worker_new_id(worker_t *w, const worker_item_t *it)
{
    static const char hex[] = "0123456789abcdef";
    /* SHA-256 of the first 511 bytes of "<alert id>|<position>". */
    char buf[512];
    size_t n = 0;
    const char *parts[3] = {it->alert->alert_id, "|", it->pos};
    for (int k = 0; k < 3; k++) {
        size_t l = strlen(parts[k]);
        if (l > sizeof(buf) - 1 - n)
            l = sizeof(buf) - 1 - n;
        memcpy(buf + n, parts[k], l);
        n += l;
    }
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)buf, n, md);
    char *id = arena_alloc(&w->arena, 4 + 16 + 1);
    memcpy(id, "INC-", 4);
    for (int i = 0; i < 8; i++) {
        id[4 + 2 * i] = hex[md[i] >> 4];
        id[5 + 2 * i] = hex[md[i] & 15];
    }
    id[20] = '\0';
    return id;
}

/* Runs the stage's handler for one item against @p cur. */
static void worker_decide(worker_t *w, worker_item_t *it, const hd_state_t *cur, int64_t now_ms,
                          hd_transition_t *tr)
{
    hd_ctx_t ctx = {
        .rules = &w->rules,
        .arena = &w->arena,
        .now_ms = now_ms,
        .actor = w->actor,
        .cause_id = it->cause_id,
    };
    if (w->silences)
        ctx.silences = silences_all(w->silences, &ctx.n_silences);
    stage_input_t in = {
        .kind = it->kind,
        .alert = it->alert,
        .event = it->event,
        .timer = it->timer,
        .command = it->command,
        .receipt = it->receipt,
        .new_id = it->kind == STAGE_IN_ALERT ? worker_new_id(w, it) : NULL,
    };
    w->stage->decide(&ctx, cur, &in, tr);
}

/* The WORKER_STATE_HEADER of the transition's events: the new stored
 * state without its incident (the events carry it), or NULL. */
static const void *worker_state_header(worker_t *w, const hd_transition_t *tr, size_t *len)
{
    *len = 0;
    if (!tr->state || tr->n_outputs == 0 || !tr->state->last_hash || !tr->state->last_hash[0])
        return NULL;
    hd_state_t rest = *tr->state;
    rest.incident = NULL;
    *len = incidentd__v1__stored_incident__get_packed_size(&rest);
    void *buf = arena_alloc(&w->arena, *len ? *len : 1);
    incidentd__v1__stored_incident__pack(&rest, buf);
    return buf;
}

/* The transition's events, one per output, into it->outs. */
static void worker_outs_events(worker_t *w, worker_item_t *it, const hd_transition_t *tr,
                               const char *id, int64_t now_ms, size_t *cap)
{
    const char *cause_alert = it->kind == STAGE_IN_ALERT   ? it->alert->alert_id
                              : it->kind == STAGE_IN_EVENT ? it->event->cause_alert_id
                                                           : "";
    size_t state_len = 0;
    const void *state = worker_state_header(w, tr, &state_len);
    for (size_t i = 0; i < tr->n_outputs; i++) {
        hd_event_t *ev = arena_alloc(&w->arena, sizeof(*ev));
        incident__v1__incident_event__init(ev);
        ev->incident = (hd_incident_t *)tr->outputs[i].snapshot;
        ev->event_id = arena_printf(&w->arena, "%s:%" PRIu64, id, ev->incident->version);
        ev->cause_alert_id = (char *)cause_alert;
        ev->at_ms = now_ms;
        size_t len = incident__v1__incident_event__get_packed_size(ev);
        void *buf = arena_alloc(&w->arena, len ? len : 1);
        incident__v1__incident_event__pack(ev, buf);
        worker_add_out(w, it, cap, stage_output_topic(tr->outputs[i].topic), id, strlen(id), buf,
                       len);
        /* Without the header when it would make the record too large: the
         * next stage reads Redis instead. */
        if (state && ev->incident == tr->state->incident &&
            len + state_len + strlen(id) + 64 <= worker_record_max(w)) {
            it->outs[it->n_outs - 1].state = state;
            it->outs[it->n_outs - 1].state_len = state_len;
        }
    }
}

/* The transition's audit records into it->outs, and what the metrics count
 * of them (escalations, time to acknowledge and to resolve). */
static void worker_outs_records(worker_t *w, worker_item_t *it, const hd_transition_t *tr,
                                const char *id, size_t *cap)
{
    for (size_t i = 0; i < tr->n_records; i++) {
        size_t len = incident__v1__audit_record__get_packed_size(tr->records[i]);
        void *buf = arena_alloc(&w->arena, len ? len : 1);
        incident__v1__audit_record__pack(tr->records[i], buf);
        worker_add_out(w, it, cap, "ormis.audit", id, strlen(id), buf, len);
        const hd_record_t *rec = tr->records[i];
        if (strcmp(rec->action, "escalated") == 0)
            it->n_escalations++;
        else if (strcmp(rec->action, "acknowledged") == 0 && rec->snapshot)
            it->tta_ms = rec->snapshot->acknowledged_at_ms - rec->snapshot->detected_at_ms;
        else if (strcmp(rec->action, "resolved") == 0 && rec->snapshot)
            it->ttr_ms = rec->snapshot->resolved_at_ms - rec->snapshot->detected_at_ms;
    }
}

/* The item's records as one blob, stored for an exact replay of its input
 * position; NULL when there are none. */
static const void *worker_outs_blob(worker_t *w, const worker_item_t *it, size_t *blob_len)
{
    *blob_len = 0;
    if (it->n_outs == 0)
        return NULL;
    Incidentd__V1__StoredOutputs so = INCIDENTD__V1__STORED_OUTPUTS__INIT;
    so.n_records = it->n_outs;
    so.records = arena_alloc(&w->arena, it->n_outs * sizeof(*so.records));
    for (size_t i = 0; i < it->n_outs; i++) {
        Incidentd__V1__OutRecord *r = arena_alloc(&w->arena, sizeof(*r));
        incidentd__v1__out_record__init(r);
        r->topic = (char *)it->outs[i].topic;
        r->key.data = (uint8_t *)it->outs[i].key;
        r->key.len = it->outs[i].key_len;
        r->value.data = (uint8_t *)it->outs[i].value;
        r->value.len = it->outs[i].value_len;
        r->state.data = (uint8_t *)it->outs[i].state;
        r->state.len = it->outs[i].state ? it->outs[i].state_len : 0;
        so.records[i] = r;
    }
    *blob_len = incidentd__v1__stored_outputs__get_packed_size(&so);
    void *b = arena_alloc(&w->arena, *blob_len);
    incidentd__v1__stored_outputs__pack(&so, b);
    return b;
}

/* Timers and receipts are applied even when they change nothing: the
 * apply checks and consumes their claim (a forged one is refused). */
static int worker_consumes_claim(const worker_item_t *it)
{
    return it->kind == STAGE_IN_TIMER || it->kind == STAGE_IN_RECEIPT;
}

/* The packed outbox entry of a delivery (arena). */
static const void *worker_planned_pack(worker_t *w, const char *incident_id, const char *id,
                                       const char *recipient, int client, const char *channel,
                                       const char *notice, uint32_t attempts, int64_t next_ms,
                                       const char *last_error, size_t *len)
{
    Incidentd__V1__PlannedDelivery pd = INCIDENTD__V1__PLANNED_DELIVERY__INIT;
    pd.incident_id = (char *)incident_id;
    pd.delivery_id = (char *)id;
    pd.recipient = (char *)recipient;
    pd.client = client;
    pd.channel = (char *)channel;
    pd.notice = (char *)notice;
    pd.attempts = attempts;
    pd.next_attempt_at_ms = next_ms;
    pd.last_error = (char *)(last_error ? last_error : "");
    *len = incidentd__v1__planned_delivery__get_packed_size(&pd);
    void *buf = arena_alloc(&w->arena, *len ? *len : 1);
    incidentd__v1__planned_delivery__pack(&pd, buf);
    return buf;
}

/* The outbox operations of a transition: its planned deliveries enter the
 * outbox (due now), and a receipt drops its delivery (delivered, failed)
 * or reschedules it (retry). */
static void worker_outbox_of(worker_t *w, const worker_item_t *it, const hd_transition_t *tr,
                             int64_t now_ms, store_apply_t *ap)
{
    size_t n = tr->n_deliveries + (it->kind == STAGE_IN_RECEIPT);
    if (n == 0)
        return;
    store_outbox_op_t *ops = arena_alloc(&w->arena, n * sizeof(*ops));
    size_t k = 0;
    for (size_t i = 0; i < tr->n_deliveries; i++) {
        const hd_delivery_t *d = &tr->deliveries[i];
        ops[k].op = 'p';
        ops[k].delivery_id = d->id;
        ops[k].due_ms = now_ms;
        ops[k].value = worker_planned_pack(w, ap->id, d->id, d->recipient, d->client,
                                           hd_channel_name(d->channel), hd_notice_name(d->notice),
                                           0, now_ms, "", &ops[k].value_len);
        k++;
    }
    if (it->kind == STAGE_IN_RECEIPT) {
        const hd_receipt_t *rc = it->receipt;
        char key[512];
        ap->claim_key =
            arena_strdup(&w->arena, store_delivery_claim_key(w->store, rc->incident_id,
                                                             rc->delivery_id, key, sizeof(key)));
        ap->timer_claim = rc->claim;
        ops[k].delivery_id = rc->delivery_id;
        ops[k].op = 'd';
        if (rc->status == INCIDENTD__V1__RECEIPT_STATUS__RECEIPT_RETRY) {
            ops[k].op = 'r';
            ops[k].due_ms = rc->next_attempt_at_ms;
            ops[k].value = worker_planned_pack(
                w, rc->incident_id, rc->delivery_id, rc->recipient, rc->client, rc->channel,
                rc->notice, rc->attempt, rc->next_attempt_at_ms, rc->error, &ops[k].value_len);
        }
        k++;
    }
    ap->outbox = ops;
    ap->n_outbox = k;
}

/* Fills the Redis apply of a transition of incident @p id. */
static void worker_apply_of(worker_t *w, const worker_item_t *it, const hd_state_t *cur,
                            uint64_t cur_version, const hd_transition_t *tr, const char *id,
                            int64_t now_ms, store_apply_t *ap)
{
    ap->id = id;
    /* A new incident of a key whose old one is still mapped (its
     * confirmation window is over): it starts its own chain. */
    int same = !cur || strcmp(cur->incident->id, id) == 0;
    ap->expected_version = same ? cur_version : 0;
    ap->expected_head = same && cur && cur->last_hash ? cur->last_hash : "";
    ap->index_prev = cur && !same ? cur->incident->id : "";
    /* ... and depends on the old one's state as decided (its resolution
     * applied): a conflict there conflicts the open too. */
    ap->prev_version = cur && !same ? cur_version : 0;
    ap->prev_head = cur && !same && cur->last_hash ? cur->last_hash : "";
    if (tr->state) {
        ap->new_version = tr->state->incident->version;
        ap->new_head = tr->state->last_hash ? tr->state->last_hash : "";
        ap->state = worker_pack_state(w, tr->state, &ap->state_len);
        ap->new_stage = hd_stage_name(tr->state->incident->stage);
    }
    if (cur)
        ap->old_stage = hd_stage_name(cur->incident->stage);
    if (!tr->state)
        ap->new_stage = ap->old_stage;
    if (cur && cur->incident->kind != INCIDENT__V1__KIND__KIND_UNSPECIFIED)
        ap->old_kind = hd_kind_name(cur->incident->kind);
    if (tr->state && tr->state->incident->kind != INCIDENT__V1__KIND__KIND_UNSPECIFIED)
        ap->new_kind = hd_kind_name(tr->state->incident->kind);
    if (!tr->state)
        ap->new_kind = ap->old_kind;
    /* Effects-only transitions (timer arm) are idempotent and not recorded;
     * a fired timer or a receipt is, whatever it decided, and consumes its
     * claim. */
    ap->cause_key = tr->state || worker_consumes_claim(it) ? it->cause_key : NULL;
    worker_outbox_of(w, it, tr, now_ms, ap);
    if (it->kind == STAGE_IN_TIMER) {
        char member[320];
        store_timer_member((hd_timer_kind_t)it->timer->kind, it->timer->level,
                           it->timer->incident_id, member, sizeof(member));
        ap->timer_member = arena_strdup(&w->arena, member);
        ap->timer_claim = it->timer->claim;
    }
    ap->pos = it->pos;
    ap->outputs = worker_outs_blob(w, it, &ap->outputs_len);
    ap->index_op = (int)tr->index_op;
    ap->dedup_key = tr->state ? tr->state->incident->dedup_key
                    : cur     ? cur->incident->dedup_key
                              : "";
    if (tr->n_timers > 0) {
        /* The transition is the caller's: the apply outlives it. */
        hd_timer_effect_t *t = arena_alloc(&w->arena, tr->n_timers * sizeof(*t));
        memcpy(t, tr->timers, tr->n_timers * sizeof(*t));
        ap->timers = t;
        ap->n_timers = tr->n_timers;
    }
    ap->max_level = w->cfg->rules.max_escalation_level;
    ap->closed = tr->closed;
    ap->retention_ms = w->cfg->retention_ms;
}

/* The transition's audit records, it->outs[@p first ..] (worker_outs_records()),
 * go to the incident's timeline in Redis with the apply (store.h: tl:{<id>}):
 * the same bytes as on ormis.audit, in chain order. */
static void worker_timeline_of(worker_t *w, const worker_item_t *it, size_t first,
                               store_apply_t *ap)
{
    if (it->n_outs <= first)
        return;
    store_bytes_t *recs = arena_alloc(&w->arena, (it->n_outs - first) * sizeof(*recs));
    for (size_t i = first; i < it->n_outs; i++)
        recs[i - first] = (store_bytes_t){it->outs[i].value, it->outs[i].value_len};
    ap->records = recs;
    ap->n_records = it->n_outs - first;
}

/* Turns a decided transition into records (events + audit, chained after
 * the incident's head) and the Redis apply command. Returns the new state. */
static hd_state_t *worker_materialise(worker_t *w, worker_item_t *it, const hd_state_t *cur,
                                      uint64_t cur_version, hd_transition_t *tr, int64_t now_ms,
                                      store_apply_t *ap)
{
    memset(ap, 0, sizeof(*ap));
    const char *id = tr->state ? tr->state->incident->id : cur ? cur->incident->id : it->key;
    size_t cap = 0;
    it->n_outs = 0;
    it->n_audit = tr->n_records;
    it->n_escalations = 0;
    it->tta_ms = it->ttr_ms = -1;
    /* ORMIS: chain the records after the incident's chain head (none for a
     * new incident of a key whose old one is still mapped). */
    if (tr->n_records > 0) {
        int same = !cur || strcmp(cur->incident->id, id) == 0;
        const char *prev = same && cur && cur->last_hash ? cur->last_hash : "";
        char *bufs = arena_alloc(&w->arena, 2 * tr->n_records * ORMIS_HASH_HEX);
        const char *head = ormis_chain(tr->records, tr->n_records, prev, bufs);
        if (tr->state)
            tr->state->last_hash = (char *)head;
    }
    worker_outs_events(w, it, tr, id, now_ms, &cap);
    size_t first_record = it->n_outs;
    worker_outs_records(w, it, tr, id, &cap);
    worker_apply_of(w, it, cur, cur_version, tr, id, now_ms, ap);
    worker_timeline_of(w, it, first_record, ap);
    return tr->state;
}

/* Reads the state of the pending items' incidents and their causes' status
 * (one pipeline), except for the items that bring their state
 * (it->spec): those are decided from it, and the apply finds out whether
 * their cause was applied or their state moved on. Returns the reads
 * (arena), or NULL when Redis failed. */
static store_read_t *worker_settle_read(worker_t *w, worker_item_t *items, const size_t *pending,
                                        size_t n_pending)
{
    store_read_t *reads = arena_alloc(&w->arena, n_pending * sizeof(*reads));
    store_read_t *sub = arena_alloc(&w->arena, n_pending * sizeof(*sub));
    size_t *at = arena_alloc(&w->arena, n_pending * sizeof(*at));
    size_t n_sub = 0;
    for (size_t k = 0; k < n_pending; k++) {
        worker_item_t *it = &items[pending[k]];
        if (it->spec || it->spec_open) {
            reads[k].found_id = it->spec_open ? it->spec_open : it->key;
            reads[k].version = it->spec ? it->spec->incident->version : 0;
            reads[k].cause = STORE_CAUSE_NEW;
            continue;
        }
        store_read_t *r = &sub[n_sub];
        at[n_sub++] = k;
        if (it->kind == STAGE_IN_ALERT)
            r->dedup_key = it->key;
        else
            r->id = it->key;
        r->cause_key = it->cause_key;
        r->pos = it->pos;
    }
    if (n_sub == 0)
        return reads;
    int rc = store_read_batch(w->store, sub, n_sub, &w->arena);
    worker_note_redis(w);
    if (rc < 0)
        return NULL;
    for (size_t j = 0; j < n_sub; j++)
        reads[at[j]] = sub[j];
    return reads;
}

/* Largest record incidentd may produce: the limit less room for the
 * record's key, headers and framing. */
size_t worker_record_max(const worker_t *w) { return (size_t)w->cfg->message_max_bytes - 1024; }

/* An alert decided on an assumed mapping of its key (v->open): the apply
 * checks that the key still maps there (store_apply_t.assume_open). */
static void worker_assume_of(const worker_item_t *it, const worker_view_t *v, store_apply_t *ap)
{
    if (it->kind != STAGE_IN_ALERT || !v->open)
        return;
    ap->assume_open = v->open;
    ap->dedup_key = it->key;
}

/* A decision on an event's state (v->spec) that applies nothing is only
 * as good as that state: @p ap becomes a check that the incident is still
 * at the version and chain head it was decided on (it writes nothing); a
 * conflict reads and decides the item again. */
static void worker_verify_of(worker_t *w, worker_item_t *it, const worker_view_t *v,
                             store_apply_t *ap)
{
    memset(ap, 0, sizeof(*ap));
    ap->id = v->state ? v->state->incident->id : it->key;
    ap->expected_version = v->version;
    ap->expected_head = v->state && v->state->last_hash ? v->state->last_hash : "";
    ap->expected_digest = v->header && v->state ? worker_state_digest(w, v->state) : "";
    ap->pos = it->pos;
    /* Was the input applied already (a replay after a crash: the state has
     * moved past what it was decided on, or, for an alert, its key's
     * mapping may look the same again)? Checked, not recorded. */
    ap->cause_key = it->cause_key;
    ap->cause_check_only = 1;
    ap->max_level = w->cfg->rules.max_escalation_level;
    ap->retention_ms = w->cfg->retention_ms;
    worker_assume_of(it, v, ap);
    it->n_outs = 0;
    it->verify = 1;
}

/* Decides one pending item against its incident's in-batch view and, when
 * something is to be applied (or, on an event's state, checked:
 * worker_verify_of()), fills @p ap. Returns 1 when @p ap is to be applied,
 * 0 when the item is settled without an apply. */
static int worker_settle_decide(worker_t *w, worker_item_t *it, const store_read_t *r,
                                worker_view_t *v, int64_t now_ms, store_apply_t *ap)
{
    if (r->cause == STORE_CAUSE_REPLAY) {
        if (worker_outs_from_blob(w, it, r->outputs, r->outputs_len) < 0)
            log_msg(LOG_ERROR, w->stage->name, NULL, it->cause_id, "stored records unreadable");
        atomic_fetch_add(&w->stats.replays, 1);
        it->forget_out = r->outputs_len > 0;
        it->done = 1;
        return 0;
    }
    if (r->cause == STORE_CAUSE_DUP) {
        atomic_fetch_add(&w->stats.duplicates, 1);
        it->n_outs = 0;
        it->done = 1;
        return 0;
    }
    if (!v->present && (it->spec || it->spec_open)) {
        v->present = v->spec = 1;
        v->header = v->best ? v->best_header : it->spec_header;
        v->state = v->best ? v->best : it->spec;
        v->version = v->state ? v->state->incident->version : 0;
        v->open = it->spec_open;
    } else if (!v->present) {
        v->present = 1;
        v->state = worker_unpack_state(w, r->state, r->state_len);
        v->version = r->version;
        if (r->state && !v->state)
            log_msg(LOG_ERROR, w->stage->name, r->found_id, it->cause_id,
                    "stored state unreadable; treating as absent");
    }
    hd_transition_t tr;
    worker_decide(w, it, v->state, now_ms, &tr);
    /* A fired timer is applied even when it changes nothing: the apply
     * checks and consumes its claim (a forged one is refused there). */
    int applies = tr.verdict != HD_REJECT && (tr.verdict != HD_NOOP || worker_consumes_claim(it));
    if (!applies) {
        it->dlq_error = tr.verdict == HD_REJECT ? arena_strdup(&w->arena, tr.error) : NULL;
        it->n_outs = 0;
        if (v->spec) {
            worker_verify_of(w, it, v, ap);
            return 1;
        }
        it->done = 1;
        return 0;
    }
    const hd_state_t *decided_on = v->state;
    hd_state_t *ns = worker_materialise(w, it, v->state, v->version, &tr, now_ms, ap);
    if (v->header && decided_on && ap->expected_version > 0)
        ap->expected_digest = worker_state_digest(w, decided_on);
    worker_assume_of(it, v, ap);
    for (size_t k = 0; k < it->n_outs; k++)
        if (it->outs[k].value_len + it->outs[k].key_len > worker_record_max(w)) {
            it->dlq_error =
                arena_printf(&w->arena,
                             "transition not applied: a %s record of %zu bytes exceeds "
                             "limits.message_bytes (%u)",
                             it->outs[k].topic, it->outs[k].value_len, w->cfg->message_max_bytes);
            it->n_outs = 0;
            if (v->spec) {
                worker_verify_of(w, it, v, ap);
                return 1;
            }
            it->done = 1;
            return 0;
        }
    if (ns) {
        /* A resolve closes the dedup key: later alerts of the key in this
         * batch see no open incident. */
        if (it->kind == STAGE_IN_ALERT && tr.index_op == HD_INDEX_CLOSE) {
            v->state = NULL;
            v->version = 0;
        } else {
            v->state = ns;
            v->version = ns->incident->version;
        }
        if (v->open)
            v->open = v->state ? v->state->incident->id : "";
    }
    return 1;
}

/* After a conflict on the version or chain head: the state the apply found
 * (its cause was not applied then) serves the item's next decision instead
 * of a read; the next apply checks it again. An alert's view is its key's
 * mapping: only a conflict on an assumed mapping (ap->now_open) tells it,
 * and the next apply checks that mapping again. */
static void worker_note_conflict(worker_t *w, worker_item_t *it, const store_apply_t *ap)
{
    it->refreshed = NULL;
    it->refreshed_open = NULL;
    const char *id = it->kind == STAGE_IN_ALERT ? ap->now_open : it->key;
    if (!id)
        return;
    if (id[0] == '\0') {
        it->refreshed_open = ""; /* the key maps to no incident */
        return;
    }
    hd_state_t *st =
        ap->now_state ? worker_unpack_state(w, ap->now_state, ap->now_state_len) : NULL;
    if (st && st->incident->version == ap->now_version && st->last_hash && st->last_hash[0] &&
        strcmp(st->incident->id, id) == 0) {
        it->refreshed = st;
        if (it->kind == STAGE_IN_ALERT)
            it->refreshed_open = ap->now_open;
    }
}

/* Takes the result of one apply. Returns 1 when the item must be decided
 * again (conflict), else 0. */
static int worker_settle_result(worker_t *w, worker_item_t *it, const store_apply_t *ap)
{
    if (it->verify) {
        /* A check of the state a non-applying decision saw (worker_verify_of()):
         * it holds, or the decision is void (conflict, replay, duplicate). */
        it->verify = 0;
        if (ap->result == STORE_OK) {
            it->done = 1;
            return 0;
        }
        it->dlq_error = NULL;
    }
    switch (ap->result) {
    case STORE_OK:
        atomic_fetch_add(&w->stats.transitions, 1);
        it->forget_out = ap->outputs_len > 0;
        break;
    case STORE_REPLAY:
        worker_outs_from_blob(w, it, ap->replay, ap->replay_len);
        it->forget_out = ap->replay_len > 0;
        atomic_fetch_add(&w->stats.replays, 1);
        break;
    case STORE_DUP:
        it->n_outs = 0;
        atomic_fetch_add(&w->stats.duplicates, 1);
        break;
    case STORE_REJECT:
        it->n_outs = 0;
        it->dlq_error = ap->reason;
        break;
    case STORE_CONFLICT:
        it->n_outs = 0;
        atomic_fetch_add(&w->stats.conflicts, 1);
        worker_note_conflict(w, it, ap);
        return 1;
    }
    it->done = 1;
    return 0;
}

/* One pending item in a round: its view and what became of it. */
typedef struct worker_slot {
    size_t item;
    size_t view;
    int applied; /* an apply was sent (its index: apply) */
    size_t apply;
    int decided; /* settled by a decision on the view (no apply) */
} worker_slot_t;

/* Decides the round's items against their incidents' views; fills the
 * applies. Returns the number of applies. */
/* Non-zero when an earlier item of the round, of the same incident view,
 * has the cause of slot @p k: a message delivered twice into one batch. */
static int worker_seen_in_round(const worker_item_t *items, const worker_slot_t *slots, size_t k)
{
    const worker_item_t *it = &items[slots[k].item];
    if (!it->cause_key)
        return 0;
    for (size_t j = 0; j < k; j++)
        if (slots[j].view == slots[k].view && items[slots[j].item].cause_key &&
            strcmp(items[slots[j].item].cause_key, it->cause_key) == 0)
            return 1;
    return 0;
}

/* The newest state the round's events bring of each incident (a batch may
 * hold several events of one incident: Redis is at least at the newest),
 * into the views' `best`. */
static void worker_best_states(worker_item_t *items, const worker_slot_t *slots, size_t n,
                               worker_views_t *views)
{
    for (size_t k = 0; k < n; k++) {
        const worker_item_t *it = &items[slots[k].item];
        if (!it->spec || it->kind == STAGE_IN_ALERT)
            continue;
        worker_view_t *v = worker_view(views, it->key);
        if (!v->best || v->best->incident->version < it->spec->incident->version) {
            v->best = it->spec;
            v->best_header = it->spec_header;
        }
    }
}

static size_t worker_settle_round(worker_t *w, worker_item_t *items, worker_slot_t *slots, size_t n,
                                  const store_read_t *reads, worker_views_t *views,
                                  store_apply_t *applies)
{
    worker_best_states(items, slots, n, views);
    size_t n_applies = 0;
    int64_t now_ms = clock_now_ms();
    for (size_t k = 0; k < n; k++) {
        worker_item_t *it = &items[slots[k].item];
        worker_view_t *v = worker_view(views, it->key);
        slots[k].view = (size_t)(v - views->v);
        if (worker_seen_in_round(items, slots, k)) {
            /* Decided once already: the second copy is a duplicate, never a
             * decision on the view the first one changed. */
            atomic_fetch_add(&w->stats.duplicates, 1);
            it->n_outs = 0;
            it->done = 1;
            slots[k].applied = slots[k].decided = 0;
            continue;
        }
        slots[k].applied = worker_settle_decide(w, it, &reads[k], v, now_ms, &applies[n_applies]);
        slots[k].decided = !slots[k].applied && reads[k].cause == STORE_CAUSE_NEW;
        if (slots[k].applied)
            slots[k].apply = n_applies++;
    }
    return n_applies;
}

/* Takes the round's apply results; the items to decide again go to
 * @p pending. One incident's transitions stand or fall together from its
 * first conflict on: the applies after it conflict too (chain head check),
 * and what was decided on the view without an apply is decided again.
 * Returns the number pending. */
static size_t worker_settle_collect(worker_t *w, worker_item_t *items, const worker_slot_t *slots,
                                    size_t n, const store_apply_t *applies, size_t n_views,
                                    size_t *pending)
{
    unsigned char *fallen = arena_alloc(&w->arena, n_views ? n_views : 1);
    size_t n_pending = 0;
    for (size_t k = 0; k < n; k++) {
        worker_item_t *it = &items[slots[k].item];
        int again = 0;
        if (slots[k].applied)
            again = worker_settle_result(w, it, &applies[slots[k].apply]);
        else if (slots[k].decided && fallen[slots[k].view]) {
            it->done = 0;
            it->dlq_error = NULL;
            it->n_outs = 0;
            again = 1;
        }
        if (again) {
            fallen[slots[k].view] = 1;
            pending[n_pending++] = slots[k].item;
        }
    }
    return n_pending;
}

/* The bit of a dedup key in w->seen_keys. */
#define WORKER_SEEN_BITS ((size_t)1 << 20)

static size_t worker_seen_bit(const char *key)
{
    return (size_t)(worker_key_hash(key) & (WORKER_SEEN_BITS - 1));
}

/* The detected stage reads and applies an alert in one script when its key
 * is new to this worker: it is decided on "no open incident", and its apply
 * checks that assumption (a key that maps to an incident conflicts and
 * brings that incident's state: decided again on it, still without a
 * read). A key decided before (w->seen_keys) is read first, as a key that
 * has an incident mostly does. The set is a hint, never trusted: a wrong
 * guess costs a round trip, not a wrong decision. It forgets everything
 * once half full. */
static void worker_assume_new_keys(worker_t *w, worker_item_t *items, const size_t *pending,
                                   size_t n_pending)
{
    if (!w->seen_keys && !(w->seen_keys = calloc(WORKER_SEEN_BITS / 64, sizeof(uint64_t))))
        return;
    /* Tested for every item before any is marked: the items of one new key
     * all take the same path (one read of it would cost the round trip). */
    size_t *bit = arena_alloc(&w->arena, n_pending * sizeof(*bit));
    for (size_t k = 0; k < n_pending; k++) {
        worker_item_t *it = &items[pending[k]];
        bit[k] = it->kind == STAGE_IN_ALERT ? worker_seen_bit(it->key) : SIZE_MAX;
        if (bit[k] != SIZE_MAX && !(w->seen_keys[bit[k] / 64] & (1ULL << (bit[k] % 64))))
            it->spec_open = "";
    }
    for (size_t k = 0; k < n_pending; k++)
        if (bit[k] != SIZE_MAX && !(w->seen_keys[bit[k] / 64] & (1ULL << (bit[k] % 64)))) {
            w->seen_keys[bit[k] / 64] |= 1ULL << (bit[k] % 64);
            w->n_seen_keys++;
        }
    if (w->n_seen_keys > WORKER_SEEN_BITS / 2) {
        memset(w->seen_keys, 0, WORKER_SEEN_BITS / 8);
        w->n_seen_keys = 0;
    }
}

/* Settles every item of the batch against Redis: read, decide (chaining one
 * incident's transitions in memory), apply; the items of an incident whose
 * apply conflicted are read and decided again, in their original order —
 * or, with @p may_carry, marked to be carried into the next batch with
 * what follows them in their partitions (worker_carry.c). Returns 0, or -1
 * when Redis failed (the batch must be retried). */
static int worker_settle(worker_t *w, worker_item_t *items, size_t n, int may_carry)
{
    size_t *pending = arena_alloc(&w->arena, n * sizeof(*pending));
    size_t n_pending = 0;
    for (size_t i = 0; i < n; i++)
        if (!items[i].done)
            pending[n_pending++] = i;

    for (int round = 0; n_pending > 0; round++) {
        if (round >= WORKER_MAX_ROUNDS) {
            log_msg(LOG_WARN, w->stage->name, NULL, NULL,
                    "%zu messages still conflicting after %d rounds; retrying the batch", n_pending,
                    round);
            return -1;
        }
        /* An event's own state serves its first decision only: an item
         * decided again takes the state its conflict found, or reads. */
        for (size_t k = 0; round > 0 && k < n_pending; k++) {
            worker_item_t *it = &items[pending[k]];
            it->spec = it->refreshed;
            it->spec_open = it->refreshed_open;
            it->spec_header = 0;
            it->refreshed = NULL;
            it->refreshed_open = NULL;
        }
        if (round == 0)
            worker_assume_new_keys(w, items, pending, n_pending);
        store_read_t *reads = worker_settle_read(w, items, pending, n_pending);
        if (!reads)
            return -1;
        worker_slot_t *slots = arena_alloc(&w->arena, n_pending * sizeof(*slots));
        for (size_t k = 0; k < n_pending; k++)
            slots[k].item = pending[k];
        worker_views_t views;
        worker_views_init(&views, &w->arena, n_pending);
        store_apply_t *applies = arena_alloc(&w->arena, n_pending * sizeof(*applies));
        size_t n_applies = worker_settle_round(w, items, slots, n_pending, reads, &views, applies);
        int rc = store_apply_batch(w->store, applies, n_applies, &w->arena);
        worker_note_redis(w);
        if (rc < 0)
            return -1;
        /* slots are in the items' order: so are the items pending again. */
        n_pending = worker_settle_collect(w, items, slots, n_pending, applies, n_pending, pending);
        if (round == 0 && n_pending > 0 && may_carry &&
            worker_carry_mark(w, items, n, pending, n_pending) > 0)
            return 0;
    }
    return 0;
}

/* Processes the gathered batch as one transaction. Returns 0 when committed
 * (or its commit started: worker_finish_batch()), -1 when aborted (rewound;
 * retry), -2 on a fatal Kafka error. */
int worker_process(worker_t *w)
{
    int64_t t0 = clock_mono_us();
    arena_reset(&w->arena);
    size_t carried = worker_carry_in(w); /* the batch's first messages */
    size_t n = w->n_batch;
    log_msg(LOG_DEBUG, w->stage->name, NULL, NULL, "batch of %zu from %s [%d] at %" PRId64, n,
            rd_kafka_topic_name(w->batch[0]->rkt), (int)w->batch[0]->partition,
            w->batch[0]->offset);
    atomic_store(&w->stats.in_flight, n);
    uint64_t rt0 = store_round_trips(w->store);
    worker_item_t *items = arena_alloc(&w->arena, n * sizeof(*items));
    for (size_t i = 0; i < n; i++) {
        items[i].msg = w->batch[i];
        items[i].tta_ms = items[i].ttr_ms = -1;
        worker_decode(w, &items[i]);
        if (items[i].dlq_error)
            items[i].done = 1;
    }
    worker_carry_hint(w, items, carried);
    int may_carry = !w->overlap && !*w->stop;
    if (worker_settle(w, items, n, may_carry) < 0 || worker_confirm(w) < 0) {
        atomic_store(&w->stats.redis_up, store_ready(w->store));
        log_msg(LOG_WARN, w->stage->name, NULL, NULL, "redis step failed: %s",
                store_error(w->store));
        return -1;
    }
    if (may_carry)
        worker_carry_out(w, items, &n);
    return worker_finish_batch(w, items, n, t0, rt0);
}
