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
    it->outs[it->n_outs++] = (worker_out_t){topic, key, key_len, val, val_len};
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
    }
    return 0;
}

static void *worker_pack_state(worker_t *w, const hd_state_t *st, size_t *len)
{
    *len = incidentd__v1__stored_incident__get_packed_size(st);
    void *buf = arena_alloc(&w->arena, *len ? *len : 1);
    incidentd__v1__stored_incident__pack(st, buf);
    return buf;
}

static hd_state_t *worker_unpack_state(worker_t *w, const unsigned char *buf, size_t len)
{
    if (!buf || !len)
        return NULL;
    hd_state_t *st = incidentd__v1__stored_incident__unpack(arena_pb(&w->arena), len, buf);
    if (!st || !st->incident)
        return NULL;
    return st;
}

static worker_view_t *worker_view(worker_view_t *views, size_t *n, const char *key)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(views[i].key, key) == 0)
            return &views[i];
    worker_view_t *v = &views[(*n)++];
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
    char buf[512];
    int n = snprintf(buf, sizeof(buf), "%s|%s", it->alert->alert_id, it->pos);
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)buf, (size_t)(n < (int)sizeof(buf) ? n : (int)sizeof(buf) - 1),
           md);
    return arena_printf(&w->arena, "INC-%02x%02x%02x%02x%02x%02x%02x%02x", md[0], md[1], md[2],
                        md[3], md[4], md[5], md[6], md[7]);
}

/* Decodes an alert (incidents.detected); its cause is the alert id. */
static void worker_decode_alert(worker_t *w, worker_item_t *it, char *err, size_t err_size)
{
    rd_kafka_message_t *m = it->msg;
    it->alert = (hd_alert_t *)pb_strings_unpack(&incident__v1__alert__descriptor,
                                                arena_pb(&w->arena), m->len, m->payload);
    if (!it->alert) {
        it->dlq_error = "cannot decode incident.v1.Alert";
        return;
    }
    if (hd_alert_validate(it->alert, err, err_size) < 0) {
        it->dlq_error = arena_strdup(&w->arena, err);
        return;
    }
    it->key = it->alert->dedup_key;
    it->cause_id = it->alert->alert_id;
    it->cause_key =
        arena_printf(&w->arena, "%salert:%s", w->cfg->topic_prefix, it->alert->alert_id);
}

/* Decodes a fired timer (incidents.timers). The claim token names one
 * firing of one armed timer: a command fired twice is a duplicate, a
 * re-armed timer a new cause; a command without a claim is not ours. */
static void worker_decode_timer(worker_t *w, worker_item_t *it)
{
    rd_kafka_message_t *m = it->msg;
    it->timer = (hd_timer_t *)pb_strings_unpack(&incidentd__v1__timer_fired__descriptor,
                                                arena_pb(&w->arena), m->len, m->payload);
    if (!it->timer || !it->timer->incident_id[0]) {
        it->dlq_error = "cannot decode incidentd.v1.TimerFired";
        return;
    }
    if (!it->timer->claim[0]) {
        it->dlq_error = "timer command without a claim (not fired by incidentd)";
        return;
    }
    it->key = it->timer->incident_id;
    const char *kind = hd_timer_kind_name((hd_timer_kind_t)it->timer->kind);
    it->cause_id = arena_printf(&w->arena, "timer:%s:%s:%u:%s", it->timer->incident_id, kind,
                                it->timer->level, it->timer->claim);
    it->cause_key = arena_printf(&w->arena, "%scause:{%s}:timer:%s:%u:%s", w->cfg->topic_prefix,
                                 it->timer->incident_id, kind, it->timer->level, it->timer->claim);
}

/* Decodes a stage event; its cause is the event id, per stage. */
static void worker_decode_event(worker_t *w, worker_item_t *it, char *err, size_t err_size)
{
    rd_kafka_message_t *m = it->msg;
    it->event = (hd_event_t *)pb_strings_unpack(&incident__v1__incident_event__descriptor,
                                                arena_pb(&w->arena), m->len, m->payload);
    if (!it->event) {
        it->dlq_error = "cannot decode incident.v1.IncidentEvent";
        return;
    }
    if (hd_event_validate(it->event, err, err_size) < 0) {
        it->dlq_error = arena_strdup(&w->arena, err);
        return;
    }
    it->key = it->event->incident->id;
    it->cause_id = it->event->event_id;
    it->cause_key = arena_printf(&w->arena, "%scause:{%s}:%s:%s", w->cfg->topic_prefix, it->key,
                                 w->stage->name, it->event->event_id);
}

/* Decodes a person's command (incidents.commands); its cause is the
 * command id, per incident. */
static void worker_decode_command(worker_t *w, worker_item_t *it, char *err, size_t err_size)
{
    rd_kafka_message_t *m = it->msg;
    it->command = (hd_command_t *)pb_strings_unpack(&incident__v1__command__descriptor,
                                                    arena_pb(&w->arena), m->len, m->payload);
    if (!it->command) {
        it->dlq_error = "cannot decode incident.v1.Command";
        return;
    }
    if (hd_command_validate(it->command, err, err_size) < 0) {
        it->dlq_error = arena_strdup(&w->arena, err);
        return;
    }
    it->key = it->command->incident_id;
    it->cause_id = it->command->command_id;
    it->cause_key = arena_printf(&w->arena, "%scause:{%s}:commands:%s", w->cfg->topic_prefix,
                                 it->key, it->command->command_id);
}

/* Decodes a delivery receipt (incidents.receipts): its cause is the
 * delivery and the attempt; it consumes the delivery's claim. */
static void worker_decode_receipt(worker_t *w, worker_item_t *it, char *err, size_t err_size)
{
    rd_kafka_message_t *m = it->msg;
    it->receipt = (hd_receipt_t *)pb_strings_unpack(&incidentd__v1__delivery_receipt__descriptor,
                                                    arena_pb(&w->arena), m->len, m->payload);
    if (!it->receipt) {
        it->dlq_error = "cannot decode incidentd.v1.DeliveryReceipt";
        return;
    }
    if (hd_receipt_validate(it->receipt, err, err_size) < 0) {
        it->dlq_error = arena_strdup(&w->arena, err);
        return;
    }
    if (!it->receipt->claim[0]) {
        it->dlq_error = "delivery receipt without a claim (not sent by incidentd)";
        return;
    }
    it->key = it->receipt->incident_id;
    it->cause_id = arena_printf(&w->arena, "%s#%u", it->receipt->delivery_id, it->receipt->attempt);
    it->cause_key = arena_printf(&w->arena, "%scause:{%s}:notify:%s", w->cfg->topic_prefix, it->key,
                                 it->cause_id);
}

/* Decodes and validates one message into @p it (bad input: it->dlq_error). */
static void worker_decode(worker_t *w, worker_item_t *it)
{
    rd_kafka_message_t *m = it->msg;
    const char *topic = rd_kafka_topic_name(m->rkt);
    it->pos = arena_printf(&w->arena, "%s/%d/%" PRId64, topic, (int)m->partition, m->offset);
    if (m->len > WORKER_MAX_INPUT) {
        it->dlq_error = arena_printf(&w->arena, "message of %zu bytes exceeds the limit of %d",
                                     m->len, WORKER_MAX_INPUT);
        return;
    }
    char err[256];
    size_t plen = strlen(w->cfg->topic_prefix);
    const char *bare = strncmp(topic, w->cfg->topic_prefix, plen) == 0 ? topic + plen : topic;
    it->kind = stage_input_of(w->stage, bare);
    if (it->kind == STAGE_IN_ALERT)
        worker_decode_alert(w, it, err, sizeof(err));
    else if (it->kind == STAGE_IN_TIMER)
        worker_decode_timer(w, it);
    else if (it->kind == STAGE_IN_COMMAND)
        worker_decode_command(w, it, err, sizeof(err));
    else if (it->kind == STAGE_IN_RECEIPT)
        worker_decode_receipt(w, it, err, sizeof(err));
    else
        worker_decode_event(w, it, err, sizeof(err));
}

/* Runs the stage's handler for one item against @p cur. */
static void worker_decide(worker_t *w, worker_item_t *it, const hd_state_t *cur, int64_t now_ms,
                          hd_transition_t *tr)
{
    hd_ctx_t ctx = {
        .rules = &w->cfg->rules,
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

/* The transition's events, one per output, into it->outs. */
static void worker_outs_events(worker_t *w, worker_item_t *it, const hd_transition_t *tr,
                               const char *id, int64_t now_ms, size_t *cap)
{
    const char *cause_alert = it->kind == STAGE_IN_ALERT   ? it->alert->alert_id
                              : it->kind == STAGE_IN_EVENT ? it->event->cause_alert_id
                                                           : "";
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
    worker_outs_records(w, it, tr, id, &cap);
    worker_apply_of(w, it, cur, cur_version, tr, id, now_ms, ap);
    return tr->state;
}

/* Reads the state of the pending items' incidents and their causes' status
 * (one pipeline). Returns the reads (arena), or NULL when Redis failed. */
static store_read_t *worker_settle_read(worker_t *w, worker_item_t *items, const size_t *pending,
                                        size_t n_pending)
{
    store_read_t *reads = arena_alloc(&w->arena, n_pending * sizeof(*reads));
    for (size_t k = 0; k < n_pending; k++) {
        worker_item_t *it = &items[pending[k]];
        if (it->kind == STAGE_IN_ALERT)
            reads[k].dedup_key = it->key;
        else
            reads[k].id = it->key;
        reads[k].cause_key = it->cause_key;
        reads[k].pos = it->pos;
    }
    int rc = store_read_batch(w->store, reads, n_pending, &w->arena);
    worker_note_redis(w);
    return rc < 0 ? NULL : reads;
}

/* Largest record incidentd may produce: the limit less room for the
 * record's key, headers and framing. */
size_t worker_record_max(const worker_t *w) { return (size_t)w->cfg->message_max_bytes - 1024; }

/* Decides one pending item against its incident's in-batch view and, when
 * something is to be applied, fills @p ap. Returns 1 when @p ap is to be
 * applied, 0 when the item is settled without an apply. */
static int worker_settle_decide(worker_t *w, worker_item_t *it, const store_read_t *r,
                                worker_view_t *v, int64_t now_ms, store_apply_t *ap)
{
    if (r->cause == STORE_CAUSE_REPLAY) {
        if (worker_outs_from_blob(w, it, r->outputs, r->outputs_len) < 0)
            log_msg(LOG_ERROR, w->stage->name, NULL, it->cause_id, "stored records unreadable");
        atomic_fetch_add(&w->stats.replays, 1);
        it->done = 1;
        return 0;
    }
    if (r->cause == STORE_CAUSE_DUP) {
        atomic_fetch_add(&w->stats.duplicates, 1);
        it->n_outs = 0;
        it->done = 1;
        return 0;
    }
    if (!v->present) {
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
    if (tr.verdict == HD_REJECT || (tr.verdict == HD_NOOP && !worker_consumes_claim(it))) {
        it->dlq_error = tr.verdict == HD_REJECT ? arena_strdup(&w->arena, tr.error) : NULL;
        it->n_outs = 0;
        it->done = 1;
        return 0;
    }
    hd_state_t *ns = worker_materialise(w, it, v->state, v->version, &tr, now_ms, ap);
    for (size_t k = 0; k < it->n_outs; k++)
        if (it->outs[k].value_len + it->outs[k].key_len > worker_record_max(w)) {
            it->dlq_error =
                arena_printf(&w->arena,
                             "transition not applied: a %s record of %zu bytes exceeds "
                             "limits.message_bytes (%u)",
                             it->outs[k].topic, it->outs[k].value_len, w->cfg->message_max_bytes);
            it->n_outs = 0;
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
    }
    return 1;
}

/* Takes the result of one apply. Returns 1 when the item must be decided
 * again (conflict), else 0. */
static int worker_settle_result(worker_t *w, worker_item_t *it, const store_apply_t *ap)
{
    switch (ap->result) {
    case STORE_OK:
        atomic_fetch_add(&w->stats.transitions, 1);
        break;
    case STORE_REPLAY:
        worker_outs_from_blob(w, it, ap->replay, ap->replay_len);
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

static size_t worker_settle_round(worker_t *w, worker_item_t *items, worker_slot_t *slots, size_t n,
                                  const store_read_t *reads, worker_view_t *views,
                                  store_apply_t *applies)
{
    size_t n_views = 0, n_applies = 0;
    int64_t now_ms = clock_now_ms();
    for (size_t k = 0; k < n; k++) {
        worker_item_t *it = &items[slots[k].item];
        worker_view_t *v = worker_view(views, &n_views, it->key);
        slots[k].view = (size_t)(v - views);
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

/* Settles every item of the batch against Redis: read, decide (chaining one
 * incident's transitions in memory), apply; the items of an incident whose
 * apply conflicted are read and decided again, in their original order.
 * Returns 0, or -1 when Redis failed (the batch must be retried). */
static int worker_settle(worker_t *w, worker_item_t *items, size_t n)
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
        store_read_t *reads = worker_settle_read(w, items, pending, n_pending);
        if (!reads)
            return -1;
        worker_slot_t *slots = arena_alloc(&w->arena, n_pending * sizeof(*slots));
        for (size_t k = 0; k < n_pending; k++)
            slots[k].item = pending[k];
        worker_view_t *views = arena_alloc(&w->arena, n_pending * sizeof(*views));
        store_apply_t *applies = arena_alloc(&w->arena, n_pending * sizeof(*applies));
        size_t n_applies = worker_settle_round(w, items, slots, n_pending, reads, views, applies);
        int rc = store_apply_batch(w->store, applies, n_applies, &w->arena);
        worker_note_redis(w);
        if (rc < 0)
            return -1;
        /* slots are in the items' order: so are the items pending again. */
        n_pending = worker_settle_collect(w, items, slots, n_pending, applies, n_pending, pending);
    }
    return 0;
}

/* Processes the gathered batch as one transaction. Returns 0 when committed,
 * -1 when aborted (rewound; retry), -2 on a fatal Kafka error. */
int worker_process(worker_t *w)
{
    int64_t t0 = clock_mono_us();
    arena_reset(&w->arena);
    size_t n = w->n_batch;
    log_msg(LOG_DEBUG, w->stage->name, NULL, NULL, "batch of %zu from %s [%d] at %" PRId64, n,
            rd_kafka_topic_name(w->batch[0]->rkt), (int)w->batch[0]->partition,
            w->batch[0]->offset);
    atomic_store(&w->stats.in_flight, n);
    worker_item_t *items = arena_alloc(&w->arena, n * sizeof(*items));
    for (size_t i = 0; i < n; i++) {
        items[i].msg = w->batch[i];
        items[i].tta_ms = items[i].ttr_ms = -1;
        worker_decode(w, &items[i]);
        if (items[i].dlq_error)
            items[i].done = 1;
    }
    if (worker_settle(w, items, n) < 0 || worker_confirm(w) < 0) {
        atomic_store(&w->stats.redis_up, store_ready(w->store));
        log_msg(LOG_WARN, w->stage->name, NULL, NULL, "redis step failed: %s",
                store_error(w->store));
        return -1;
    }
    worker_poison_apply(w, items, n);
    int rc = worker_produce_batch(w, items, n);
    if (rc == 0)
        worker_count_batch(w, items, n, t0);
    return rc;
}
