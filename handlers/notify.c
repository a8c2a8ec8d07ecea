/*
 * notify.c — the pure side of delivery: the directory (who can be reached
 * on which channel), the names of channels and notices, and the receipts of
 * the notify stage. A stage that decides a notification plans its
 * deliveries in its own transition (hd_notify_plan(), hd_common.c); the
 * runtime keeps them in an outbox, the notify worker sends them and hands
 * each outcome back as a DeliveryReceipt, applied here like any other input:
 * `notified`, nothing (a retry), or `delivery_failed` and one level up. The
 * final updates planned at `followed_up` are pending in the state until
 * their receipt; the completion gate waits for them.
 *
 * Pure (no I/O). @locality any thread (everything from ctx->arena)
 */
#include "hd_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

/* Limits of a receipt's strings. */
#define RECEIPT_DELIVERY_ID_MAX 512
#define RECEIPT_ERROR_MAX 8192
#define RECEIPT_ERROR_SHOWN 1024 /* bytes of the error an audit record keeps */

/* ---- names ------------------------------------------------------------------------ */

static const char *const notice_names[HD_NOTICE_COUNT] = {
    [HD_NOTICE_ESCALATION] = "escalation",
    [HD_NOTICE_REESCALATION] = "reescalation",
    [HD_NOTICE_CLIENT_UPDATE] = "client_update",
    [HD_NOTICE_CLIENT_UPDATE_DUE] = "client_update_due",
    [HD_NOTICE_FINAL_UPDATE] = "final_update",
    [HD_NOTICE_COMPLETION_REMINDER] = "completion_reminder",
    [HD_NOTICE_SILENCE_REMINDER] = "silence_reminder",
};

const char *hd_notice_name(hd_notice_t notice)
{
    return (unsigned)notice < HD_NOTICE_COUNT ? notice_names[notice] : "unknown";
}

int hd_notice_parse(const char *name)
{
    for (int i = 0; name && i < HD_NOTICE_COUNT; i++)
        if (strcmp(notice_names[i], name) == 0)
            return i;
    return -1;
}

const char *hd_channel_name(unsigned channel)
{
    switch (channel) {
    case HD_CHANNEL_EMAIL:
        return "email";
    case HD_CHANNEL_WEBHOOK:
        return "webhook";
    case HD_CHANNEL_SLACK:
        return "slack";
    default:
        return "unknown";
    }
}

unsigned hd_channel_parse(const char *name)
{
    for (unsigned bit = HD_CHANNEL_EMAIL; name && bit <= HD_CHANNEL_SLACK; bit <<= 1)
        if (strcmp(hd_channel_name(bit), name) == 0)
            return bit;
    return 0;
}

const hd_contact_t *hd_contact_of(const hd_rules_t *r, const char *name, int client)
{
    if (!r || !name)
        return NULL;
    for (size_t i = 0; i < r->n_contacts; i++) {
        const hd_contact_t *c = &r->contacts[i];
        if (c->name && !c->client == !client && strcmp(c->name, name) == 0)
            return c;
    }
    return NULL;
}

/* ---- validation ------------------------------------------------------------------- */

static int fail(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t err_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
    return -1;
}

int hd_receipt_validate(const hd_receipt_t *rc, char *err, size_t err_size)
{
    if (!rc)
        return fail(err, err_size, "receipt: missing");
    if (utf8_field_check("incident_id", rc->incident_id, 1, HD_SHORT_MAX, err, err_size) < 0 ||
        utf8_field_check("delivery_id", rc->delivery_id, 1, RECEIPT_DELIVERY_ID_MAX, err,
                         err_size) < 0 ||
        utf8_field_check("recipient", rc->recipient, 1, HD_SHORT_MAX, err, err_size) < 0 ||
        utf8_field_check("channel", rc->channel, 1, HD_SHORT_MAX, err, err_size) < 0 ||
        utf8_field_check("notice", rc->notice, 1, HD_SHORT_MAX, err, err_size) < 0 ||
        utf8_field_check("error", rc->error, 0, RECEIPT_ERROR_MAX, err, err_size) < 0 ||
        utf8_field_check("claim", rc->claim, 0, HD_SHORT_MAX, err, err_size) < 0)
        return -1;
    size_t id_len = strlen(rc->incident_id);
    if (strncmp(rc->delivery_id, rc->incident_id, id_len) != 0 || rc->delivery_id[id_len] != ':')
        return fail(err, err_size, "delivery_id: %s is not a delivery of incident %s",
                    rc->delivery_id, rc->incident_id);
    if (!hd_channel_parse(rc->channel))
        return fail(err, err_size, "channel: unknown '%s' (email, webhook, slack)", rc->channel);
    if (hd_notice_parse(rc->notice) < 0)
        return fail(err, err_size, "notice: unknown '%s'", rc->notice);
    if (rc->attempt < 1)
        return fail(err, err_size, "attempt: missing (1, 2, ...)");
    if (rc->status != INCIDENTD__V1__RECEIPT_STATUS__RECEIPT_DELIVERED &&
        rc->status != INCIDENTD__V1__RECEIPT_STATUS__RECEIPT_RETRY &&
        rc->status != INCIDENTD__V1__RECEIPT_STATUS__RECEIPT_FAILED)
        return fail(err, err_size, "status: unknown value %d", (int)rc->status);
    return 0;
}

/* ---- receipts --------------------------------------------------------------------- */

/* @p s cut to at most @p max bytes on a UTF-8 boundary ("..." added). */
static const char *text_cut(arena_t *arena, const char *s, size_t max)
{
    size_t len = strlen(s);
    if (len <= max)
        return s;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--; /* s[max] continues a sequence: cut before its lead byte */
    return arena_printf(arena, "%.*s...", (int)max, s);
}

/* Removes @p id from the pending final updates of @p st (a new array).
 * Returns 1 when it was pending. */
static int pending_settle(arena_t *arena, hd_state_t *st, const char *id)
{
    size_t n = st->n_pending_final_updates;
    if (!hd_strv_has(st->pending_final_updates, n, id))
        return 0;
    char **v = arena_alloc(arena, n * sizeof(*v));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (st->pending_final_updates[i] && strcmp(st->pending_final_updates[i], id) != 0)
            v[k++] = st->pending_final_updates[i];
    st->pending_final_updates = k ? v : NULL;
    st->n_pending_final_updates = k;
    return 1;
}

/* How the receipt's recipient is named in a detail. */
static const char *receipt_recipient(arena_t *arena, const hd_receipt_t *rc)
{
    return rc->client ? arena_printf(arena, "client %s", rc->recipient) : rc->recipient;
}

/* FAILED: `delivery_failed`, then one level up when the incident may go. */
static void receipt_failed(const hd_ctx_t *ctx, hd_state_t *st, const hd_receipt_t *rc,
                           hd_transition_t *out)
{
    arena_t *a = ctx->arena;
    const hd_rules_t *r = ctx->rules;
    hd_incident_t *inc = st->incident;
    int closed = inc->status == INCIDENT__V1__STATUS__STATUS_CLOSED;
    int incident = inc->kind == INCIDENT__V1__KIND__KIND_INCIDENT;
    int up = incident && !closed && inc->escalation_level < r->max_escalation_level;
    const char *then = up ? "escalated one level"
                          : (closed ? "incident closed: not escalated"
                                    : (incident ? "at the top level: not escalated"
                                                : "a disturbance: not escalated"));
    hd_record_add(
        ctx, st, out, HD_ACTION_DELIVERY_FAILED, HD_NOTIFY_ACTOR,
        arena_printf(
            a, "%s %s to %s by %s failed after %u attempt%s: %s; %s", rc->notice, rc->delivery_id,
            receipt_recipient(a, rc), rc->channel, rc->attempt, rc->attempt == 1 ? "" : "s",
            *rc->error ? text_cut(a, rc->error, RECEIPT_ERROR_SHOWN) : "no error given", then));
    if (up)
        hd_escalate(
            ctx, st, out,
            arena_printf(a, "delivery %s to %s failed", rc->delivery_id, receipt_recipient(a, rc)));
}

void hd_receipt_apply(const hd_ctx_t *ctx, const hd_state_t *cur, const hd_receipt_t *rc,
                      hd_transition_t *out)
{
    memset(out, 0, sizeof(*out));
    if (hd_receipt_validate(rc, out->error, sizeof(out->error)) < 0) {
        out->verdict = HD_REJECT;
        return;
    }
    if (!cur || !cur->incident || strcmp(hd_nz(cur->incident->id), rc->incident_id) != 0) {
        out->verdict = HD_REJECT;
        snprintf(out->error, sizeof(out->error), "unknown incident %s (delivery %s)",
                 rc->incident_id, rc->delivery_id);
        return;
    }
    if (rc->status == INCIDENTD__V1__RECEIPT_STATUS__RECEIPT_RETRY)
        return; /* rescheduled by the runtime; audited once it settles */
    arena_t *a = ctx->arena;
    hd_state_t *st = hd_state_copy(a, cur);
    int settled = pending_settle(a, st, rc->delivery_id);
    if (rc->status == INCIDENTD__V1__RECEIPT_STATUS__RECEIPT_DELIVERED)
        hd_record_add(ctx, st, out, HD_ACTION_NOTIFIED, HD_NOTIFY_ACTOR,
                      arena_printf(a, "%s %s delivered to %s by %s (attempt %u)", rc->notice,
                                   rc->delivery_id, receipt_recipient(a, rc), rc->channel,
                                   rc->attempt));
    else
        receipt_failed(ctx, st, rc, out);
    if (settled && st->n_pending_final_updates == 0)
        hd_gate_recheck(ctx, st, out);
    hd_outputs_finish(out);
}
