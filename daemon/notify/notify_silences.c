/*
 * notify_silences.c — the notify stage's reminders before a silence ends
 * and the tombstones of ended silences; see notify_silences.h.
 */
#include "notify_silences.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "acked_producer.h"
#include "clock.h"
#include "directory.h"
#include "kafka.h"
#include "log.h"
#include "notify_text.h"
#include "silences.h"
#include "store.h"

#define SIL_SCAN_EVERY_MS 500
/* A reminder's lease outlives its attempts (each bounded by notify.timeout);
 * a tombstone's, the wait for the broker. */
#define SIL_REMIND_LEASE_MS(cfg) (3 * (cfg)->notify_timeout_ms + 30000)
#define SIL_TOMB_LEASE_MS 30000
#define SIL_PRODUCE_WAIT_MS 10000
/* How long a settled lease stays after the end: longer than it takes the
 * tombstone to come back to every notify worker. */
#define SIL_DONE_KEEP_MS (24LL * 3600 * 1000)
#define SIL_JOBS_MAX 32

/* One reminder being sent: its attempts (one per channel) in flight. */
typedef struct sil_job {
    char *lease; /* the lease's key name; NULL = free slot */
    int64_t ends_at_ms;
    int pending;
    int delivered;
} sil_job_t;

struct notify_silences {
    const config_t *cfg;
    worker_t *w;
    notify_sender_t *sender;
    acked_producer_t *producer;
    char topic[300];
    char owner[40]; /* this worker's lease token */
    sil_job_t jobs[SIL_JOBS_MAX];
    int64_t next_scan_ms;
};

/* The lease of @p what ("reminded", "tombstone") of silence @p s. */
static void sil_lease_name(char *buf, size_t size, const hd_silence_t *s, const char *what)
{
    snprintf(buf, size, "silence:%s:%lld:%s", s->id, (long long)s->ends_at_ms, what);
}

/* The Idempotency-Key of a reminder: printable, without the id's bytes
 * (an id may hold spaces or any UTF-8). */
static void sil_delivery_id(char *buf, size_t size, const hd_silence_t *s, const char *channel)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)s->id; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    snprintf(buf, size, "silence-%016llx-%lld-ends-soon-%s", (unsigned long long)h,
             (long long)s->ends_at_ms, channel);
}

/* deliver.h's callback: one attempt of a reminder ended. */
static void sil_attempt_done(const notify_result_t *result, void *opaque)
{
    sil_job_t *j = opaque;
    j->pending--;
    j->delivered += result->outcome == NOTIFY_DELIVERED;
}

static void sil_job_clear(sil_job_t *j)
{
    free(j->lease);
    memset(j, 0, sizeof(*j));
}

/* Settles the reminders whose attempts all ended: one delivered is done;
 * none delivered leaves the lease to run out, then it is tried again. */
static void sil_jobs_finish(notify_silences_t *ns)
{
    for (size_t i = 0; i < SIL_JOBS_MAX; i++) {
        sil_job_t *j = &ns->jobs[i];
        if (!j->lease || j->pending > 0)
            continue;
        if (j->delivered) {
            int64_t keep = j->ends_at_ms - clock_now_ms() + SIL_DONE_KEEP_MS;
            store_lease_settle(worker_store(ns->w), j->lease, ns->owner, "done", keep);
        } else {
            log_msg(LOG_WARN, "notify", NULL, j->lease,
                    "silence reminder not delivered: tried again after the lease");
        }
        sil_job_clear(j);
    }
}

/* Starts one attempt of the reminder of @p text on each of @p a's @p n
 * channels; returns how many were started. */
static int sil_send(notify_silences_t *ns, sil_job_t *j, const hd_silence_t *s,
                    const notify_text_t *text, const directory_address_t *a, size_t n)
{
    int started = 0;
    for (size_t i = 0; i < n; i++) {
        char id[128];
        sil_delivery_id(id, sizeof(id), s, directory_channel_name(a[i].channel));
        char *body =
            a[i].channel == DIRECTORY_CHANNEL_WEBHOOK
                ? notify_webhook_body(id, NOTIFY_KIND_SILENCE_REMINDER, s->created_by, text, NULL)
                : NULL;
        notify_msg_t msg = {
            .delivery_id = id,
            .channel = a[i].channel,
            .address = a[i].address,
            .subject = text->subject,
            .body = body ? body : text->body,
        };
        j->pending++; /* before: the callback never runs inside notify_send() */
        if (notify_send(ns->sender, &msg, sil_attempt_done, j) == 0)
            started++;
        else
            j->pending--;
        free(body);
    }
    return started;
}

/* The reminder of @p s, ending within silences.remind_before, once. */
static void sil_remind(notify_silences_t *ns, const hd_silence_t *s)
{
    char lease[600];
    sil_lease_name(lease, sizeof(lease), s, "reminded");
    sil_job_t *j = NULL;
    for (size_t i = 0; i < SIL_JOBS_MAX; i++) {
        if (ns->jobs[i].lease && strcmp(ns->jobs[i].lease, lease) == 0)
            return; /* being sent from here */
        if (!ns->jobs[i].lease && !j)
            j = &ns->jobs[i];
    }
    store_t *st = worker_store(ns->w);
    if (!j || store_lease(st, lease, ns->owner, SIL_REMIND_LEASE_MS(ns->cfg)) != 1)
        return; /* full (next turn), sent or being sent elsewhere, or Redis away */
    int64_t keep = s->ends_at_ms - clock_now_ms() + SIL_DONE_KEEP_MS;
    directory_address_t a[DIRECTORY_CHANNEL_COUNT];
    size_t n = directory_channels(directory_person(ns->cfg, s->created_by), a);
    notify_text_in_t in = {.kind = NOTIFY_KIND_SILENCE_REMINDER,
                           .recipient = s->created_by,
                           .console_url = ns->cfg->notify_console_url,
                           .due_at_ms = s->ends_at_ms,
                           .silence_id = s->id,
                           .silence_comment = s->comment};
    notify_text_t text;
    if (n == 0 || notify_text_render(&in, &text) < 0) {
        log_msg(LOG_WARN, "notify", NULL, s->id,
                "silence reminder: %s has no channel in the directory: not sent", s->created_by);
        store_lease_settle(st, lease, ns->owner, "no channel", keep);
        return;
    }
    j->lease = strdup(lease);
    j->ends_at_ms = s->ends_at_ms;
    if (!j->lease || sil_send(ns, j, s, &text, a, n) == 0) {
        sil_job_clear(j); /* the lease runs out: tried again then */
        log_msg(LOG_WARN, "notify", NULL, s->id, "silence reminder: no attempt could start");
    }
    notify_text_free(&text);
}

/* The tombstone of ended silence @p s, written once. */
static void sil_tombstone(notify_silences_t *ns, const hd_silence_t *s)
{
    char lease[600], why[256];
    sil_lease_name(lease, sizeof(lease), s, "tombstone");
    store_t *st = worker_store(ns->w);
    if (store_lease(st, lease, ns->owner, SIL_TOMB_LEASE_MS) != 1)
        return; /* written or being written elsewhere, or Redis away */
    acked_record_t rec = {.key = s->id, .key_len = strlen(s->id), .value = NULL, .len = 0};
    if (acked_producer_send(ns->producer, ns->topic, &rec, 1, why, sizeof(why)) < 0) {
        /* Tried again once the lease runs out: a broker that refuses does
         * not hold up the deliveries at every scan. */
        log_msg(LOG_WARN, "notify", NULL, s->id, "silence tombstone: %s", why);
        return;
    }
    store_lease_settle(st, lease, ns->owner, "done", SIL_DONE_KEEP_MS);
    log_msg(LOG_INFO, "notify", NULL, s->id, "silence ended: tombstone written");
}

void notify_silences_tick(notify_silences_t *ns, int64_t now_ms)
{
    sil_jobs_finish(ns);
    struct gtable *t = worker_silences(ns->w);
    if (!t || now_ms < ns->next_scan_ms || !store_ready(worker_store(ns->w)))
        return;
    ns->next_scan_ms = now_ms + SIL_SCAN_EVERY_MS;
    int64_t now = clock_now_ms(), before = ns->cfg->silence_remind_before_ms;
    size_t n;
    const hd_silence_t *const *v = silences_all(t, &n);
    for (size_t i = 0; i < n; i++) {
        if (v[i]->ends_at_ms <= now)
            sil_tombstone(ns, v[i]);
        else if (before > 0 && now >= v[i]->ends_at_ms - before)
            sil_remind(ns, v[i]);
    }
}

notify_silences_t *notify_silences_new(const config_t *cfg, worker_t *w, notify_sender_t *sender,
                                       char *errstr, size_t errstr_size)
{
    notify_silences_t *ns = calloc(1, sizeof(*ns));
    unsigned char rnd[8];
    if (!ns || RAND_bytes(rnd, sizeof(rnd)) != 1) {
        snprintf(errstr, errstr_size, "silences: out of memory or no random bytes");
        free(ns);
        return NULL;
    }
    ns->cfg = cfg;
    ns->w = w;
    ns->sender = sender;
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(ns->owner + 2 * i, 3, "%02x", rnd[i]);
    kafka_topic_name(cfg, "incidents.silences", ns->topic, sizeof(ns->topic));
    ns->producer = acked_producer_new(cfg, "incidentd-notify-silences", SIL_PRODUCE_WAIT_MS, errstr,
                                      errstr_size);
    if (!ns->producer) {
        free(ns);
        return NULL;
    }
    if (worker_silences(w))
        gtable_keep_ended(worker_silences(w)); /* until its tombstone comes back */
    return ns;
}

void notify_silences_destroy(notify_silences_t *ns)
{
    if (!ns)
        return;
    acked_producer_destroy(ns->producer);
    for (size_t i = 0; i < SIL_JOBS_MAX; i++)
        sil_job_clear(&ns->jobs[i]);
    free(ns);
}
