/*
 * worker_decode.c — the first step of a stage worker's batch: each input
 * message decoded and validated into its batch item (alert, fired timer,
 * stage event, person's command, delivery receipt) with its cause key; bad
 * input gets a dead-letter reason. A stage event also brings the stored
 * state its producer attached (WORKER_STATE_HEADER), so that the batch can
 * decide it without reading Redis.
 *
 * @locality: the worker's thread; everything goes into the batch's arena.
 */
#include "worker_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pb_strings.h"

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

/* The stored state an event's producer attached (WORKER_STATE_HEADER),
 * completed with the event's snapshot, or NULL (none, or unreadable: the
 * batch reads Redis instead). Its version is the snapshot's; the apply
 * checks it and the chain head against Redis, so a state that moved on
 * meanwhile conflicts and is read. */
static hd_state_t *worker_decode_state(worker_t *w, const worker_item_t *it)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *val = NULL;
    size_t len = 0;
    if (rd_kafka_message_headers(it->msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(hdrs, WORKER_STATE_HEADER, &val, &len) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        !val || len == 0)
        return NULL;
    hd_state_t *st = incidentd__v1__stored_incident__unpack(arena_pb(&w->arena), len, val);
    if (!st || st->incident || !st->last_hash || !st->last_hash[0])
        return NULL;
    st->incident = it->event->incident;
    return st;
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
    it->spec = worker_decode_state(w, it);
    it->spec_header = it->spec != NULL;
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

void worker_decode(worker_t *w, worker_item_t *it)
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
