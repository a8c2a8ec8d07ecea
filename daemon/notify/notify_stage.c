/*
 * notify_stage.c — the notify stage's sending side; see notify_stage.h.
 *
 * One turn (notify_stage_tick()): drive the attempts in flight, claim due
 * deliveries into the slots that are free and start their attempts, turn
 * the finished attempts into receipts (one Kafka transaction) when that is
 * due (notify_flush_due()); then tell the worker how soon to come back
 * (notify_wait_ms()).
 *
 * Pacing. Deliveries flow as fast as their endpoints take them: a claim
 * that got all it asked for is followed by another on the next turn (not
 * after NOTIFY_CLAIM_EVERY_MS), and while attempts are in flight the worker
 * waits for input at most NOTIFY_BUSY_WAIT_MS, so an attempt's end is seen
 * and its slot filled again within a few ms — the worker's idle wait
 * (100 ms) would otherwise pace every slot at one attempt per turn. Idle
 * (nothing in flight, the last claim short), the outbox is claimed every
 * NOTIFY_CLAIM_EVERY_MS as before: no busy loop.
 *
 * Receipts. A finished attempt frees its slot at once; its receipt waits
 * for those of the others in flight to share one transaction, until as many
 * have finished as there are slots or NOTIFY_FLUSH_MS has passed: a
 * transaction's commit (tens of ms) costs more than a dozen attempts to a
 * nearby endpoint, so a commit per round of attempts would pace the
 * sending. What a receipt says does not change, nor that it is produced
 * before the delivery's lease runs out (the lease outlives three attempts).
 * A process that dies loses at most the receipts of about twice
 * notify.concurrency attempts (in flight, and finished awaiting their
 * transaction): those deliveries are made again after their lease, with
 * the same key, as an attempt in flight always was. Receipts that could not
 * be produced are tried again NOTIFY_FLUSH_MS later.
 *
 * Fairness. One endpoint holds at most max_per_endpoint attempts (half the
 * slots by default): a delivery claimed for an endpoint at its limit goes
 * back to the outbox. Once an endpoint is known at its limit (`blocked`),
 * claims ask for no more than its room, so a long run of its deliveries at
 * the head of the outbox is claimed as fast as it takes them instead of
 * being claimed and given back; only the timed claim of a *stalled* blocked
 * endpoint (its oldest attempt older than NOTIFY_CLAIM_EVERY_MS) takes
 * every free slot, giving back what it cannot take, so deliveries to other
 * endpoints behind a slow endpoint's run are still reached every
 * NOTIFY_CLAIM_EVERY_MS as before. Claims, leases and receipts are those of
 * the store's scripts, unchanged: only when and how many are claimed moved.
 */
#include "notify_stage.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "arena.h"
#include "clock.h"
#include "deliver.h"
#include "directory.h"
#include "handlers.h"
#include "log.h"
#include "notify_silences.h"
#include "notify_text.h"
#include "store.h"

/* How often the outbox is claimed when nothing says more is due (the last
 * claim got fewer than it asked for), and past a stalled endpoint. */
#define NOTIFY_CLAIM_EVERY_MS 200

/* A delivery claimed while its endpoint is at its limit goes back to the
 * outbox, behind everything due now, due again after as long as the
 * endpoint's oldest attempt in flight has taken so far (a slot of a fast
 * endpoint frees in ms, one of a hanging endpoint not soon), within these
 * bounds. */
#define NOTIFY_DEFER_MIN_MS 50
#define NOTIFY_DEFER_MS 1000

/* The longest the worker waits for input while attempts are in flight. */
#define NOTIFY_BUSY_WAIT_MS 5

/* The longest a finished attempt's receipt waits for others while attempts
 * are in flight. */
#define NOTIFY_FLUSH_MS 100

/* One attempt of one delivery, from its claim to its receipt. */
typedef struct notify_job {
    Incidentd__V1__PlannedDelivery *pd; /* unpacked (malloc'ed by protobuf-c) */
    unsigned char *planned;             /* the outbox entry, for a dead letter */
    size_t planned_len;
    char *claim;
    uint32_t attempt;
    int channel;    /* directory_channel_t */
    char *endpoint; /* what the sender's per-endpoint limit counts; NULL = none */
    int64_t started_ms;
    int64_t done_ms; /* when it finished (monotonic) */
    int done;
    notify_result_t result;
} notify_job_t;

struct notify_stage {
    const config_t *cfg;
    worker_t *w;
    notify_sender_t *sender;
    notify_silences_t *silences; /* reminders before the end, tombstones */
    arena_t arena;
    notify_job_t **jobs; /* in flight or finished, awaiting their receipts */
    size_t n_jobs;
    size_t max_jobs;       /* attempts in flight at once (notify.concurrency) */
    size_t cap_jobs;       /* jobs: 2 per slot (finished ones bound the claims) */
    int max_per_endpoint;  /* the sender's: attempts in flight to one endpoint */
    int64_t next_claim_ms; /* the next timed claim (monotonic) */
    int again;             /* the last claim got all it asked for: more may be due */
    int64_t next_flush_ms; /* after a failed flush: not before (monotonic) */
    char *blocked;         /* an endpoint the last claims found at its limit, or NULL */
};

static void notify_job_free(notify_job_t *j)
{
    if (!j)
        return;
    incidentd__v1__planned_delivery__free_unpacked(j->pd, NULL);
    free(j->planned);
    free(j->claim);
    free(j->endpoint);
    free(j);
}

/* deliver.h's callback: the attempt ended. */
static void notify_job_done(const notify_result_t *result, void *opaque)
{
    notify_job_t *j = opaque;
    j->result = *result;
    j->done = 1;
    j->done_ms = clock_mono_ms();
}

/* Ends @p j at once (no attempt made) with a permanent failure: @p what,
 * then @p arg. */
static void notify_job_fail(notify_job_t *j, const char *what, const char *arg)
{
    memset(&j->result, 0, sizeof(j->result));
    j->result.outcome = NOTIFY_FAILED;
    j->result.retry_after_ms = -1;
    snprintf(j->result.error, sizeof(j->result.error), "%s%s", what, arg);
    j->done = 1;
    j->done_ms = clock_mono_ms();
}

/* ---- the receipts of finished attempts --------------------------------------- */

/* The receipt of a finished attempt: a retry past notify.max_attempts
 * fails; a retry is due after its backoff (or the receiver's Retry-After). */
static void notify_receipt_of(const notify_stage_t *ns, const notify_job_t *j,
                              Incidentd__V1__DeliveryReceipt *rc)
{
    const Incidentd__V1__PlannedDelivery *pd = j->pd;
    incidentd__v1__delivery_receipt__init(rc);
    rc->incident_id = pd->incident_id;
    rc->delivery_id = pd->delivery_id;
    rc->recipient = pd->recipient;
    rc->client = pd->client;
    rc->channel = pd->channel;
    rc->notice = pd->notice;
    rc->attempt = j->attempt;
    rc->claim = j->claim;
    rc->error = (char *)j->result.error;
    notify_outcome_t o = j->result.outcome;
    if (o == NOTIFY_RETRY && (int)j->attempt >= ns->cfg->notify_max_attempts)
        o = NOTIFY_FAILED;
    if (o == NOTIFY_DELIVERED) {
        rc->status = INCIDENTD__V1__RECEIPT_STATUS__RECEIPT_DELIVERED;
    } else if (o == NOTIFY_RETRY) {
        uint32_t rnd = 0;
        RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
        rc->status = INCIDENTD__V1__RECEIPT_STATUS__RECEIPT_RETRY;
        rc->next_attempt_at_ms =
            clock_now_ms() + notify_retry_delay_ms(&j->result, (int)j->attempt,
                                                   ns->cfg->notify_retry_initial_ms,
                                                   ns->cfg->notify_retry_max_ms, rnd);
    } else {
        rc->status = INCIDENTD__V1__RECEIPT_STATUS__RECEIPT_FAILED;
    }
}

/* Counts a finished attempt into the worker's metrics. */
static void notify_count(notify_stage_t *ns, const notify_job_t *j,
                         const Incidentd__V1__DeliveryReceipt *rc)
{
    worker_stats_t *st = worker_stats_rw(ns->w);
    int c = j->channel >= 0 && j->channel < 3 ? j->channel : 1;
    int o = rc->status == INCIDENTD__V1__RECEIPT_STATUS__RECEIPT_DELIVERED ? 0
            : rc->status == INCIDENTD__V1__RECEIPT_STATUS__RECEIPT_RETRY   ? 1
                                                                           : 2;
    atomic_fetch_add(&st->deliveries[c][o], 1);
    int64_t ms = clock_mono_ms() - j->started_ms;
    atomic_fetch_add(&st->delivery_ms_sum[c], (uint64_t)(ms > 0 ? ms : 0));
}

/* Non-zero when the finished attempts' receipts are due at @p now (there
 * are some, @p n_done): nothing else in flight to wait for, as many as
 * there are slots, or the oldest has waited NOTIFY_FLUSH_MS. */
static int notify_flush_due(const notify_stage_t *ns, size_t n_done, int64_t now)
{
    if (n_done == 0 || now < ns->next_flush_ms)
        return 0;
    if (n_done == ns->n_jobs || n_done >= ns->max_jobs)
        return 1;
    for (size_t i = 0; i < ns->n_jobs; i++)
        if (ns->jobs[i]->done && now - ns->jobs[i]->done_ms >= NOTIFY_FLUSH_MS)
            return 1;
    return 0;
}

/* Produces the receipts of the finished attempts (and a dead letter of each
 * delivery that failed for good) in one transaction when they are due; on
 * success they are forgotten, else kept for the next turn. */
static void notify_flush(notify_stage_t *ns, int64_t now)
{
    size_t n_done = 0;
    for (size_t i = 0; i < ns->n_jobs; i++)
        n_done += ns->jobs[i]->done;
    if (!notify_flush_due(ns, n_done, now))
        return;
    arena_reset(&ns->arena);
    worker_record_t *recs = arena_alloc(&ns->arena, 2 * n_done * sizeof(*recs));
    Incidentd__V1__DeliveryReceipt *rcs = arena_alloc(&ns->arena, n_done * sizeof(*rcs));
    size_t n = 0, k = 0;
    for (size_t i = 0; i < ns->n_jobs; i++) {
        notify_job_t *j = ns->jobs[i];
        if (!j->done)
            continue;
        Incidentd__V1__DeliveryReceipt *rc = &rcs[k++];
        notify_receipt_of(ns, j, rc);
        size_t len = incidentd__v1__delivery_receipt__get_packed_size(rc);
        void *buf = arena_alloc(&ns->arena, len ? len : 1);
        incidentd__v1__delivery_receipt__pack(rc, buf);
        recs[n++] = (worker_record_t){"incidents.receipts", j->pd->incident_id, buf, len, NULL};
        if (rc->status == INCIDENTD__V1__RECEIPT_STATUS__RECEIPT_FAILED)
            recs[n++] = (worker_record_t){
                "incidents.dlq", j->pd->incident_id, j->planned, j->planned_len,
                arena_printf(&ns->arena, "delivery %s to %s by %s failed after %u attempts: %s",
                             j->pd->delivery_id, j->pd->recipient, j->pd->channel, j->attempt,
                             j->result.error)};
    }
    if (worker_emit(ns->w, recs, n) < 0) {
        ns->next_flush_ms = clock_mono_ms() + NOTIFY_FLUSH_MS;
        return; /* kept: the leases outlive a few turns */
    }
    k = 0;
    size_t kept = 0;
    for (size_t i = 0; i < ns->n_jobs; i++) {
        notify_job_t *j = ns->jobs[i];
        if (j->done) {
            notify_count(ns, j, &rcs[k++]);
            notify_job_free(j);
        } else {
            ns->jobs[kept++] = j;
        }
    }
    ns->n_jobs = kept;
}

/* ---- claiming and sending ------------------------------------------------------ */

/* The address of @p pd's recipient on its channel, from the directory
 * (NULL when the directory no longer has it). */
static const char *notify_address(const config_t *cfg, const Incidentd__V1__PlannedDelivery *pd,
                                  int *channel)
{
    const directory_entry_t *e =
        pd->client ? directory_client(cfg, pd->recipient) : directory_person(cfg, pd->recipient);
    *channel = directory_channel_parse(pd->channel);
    directory_address_t a[DIRECTORY_CHANNEL_COUNT];
    size_t n = directory_channels(e, a);
    for (size_t i = 0; i < n; i++)
        if ((int)a[i].channel == *channel)
            return a[i].address;
    return NULL;
}

/* Starts the attempt of @p j to @p address about the incident of @p st
 * (may be NULL). */
static void notify_job_send(notify_stage_t *ns, notify_job_t *j, const char *address,
                            const hd_state_t *st)
{
    const Incidentd__V1__PlannedDelivery *pd = j->pd;
    const hd_incident_t *inc = st ? st->incident : NULL;
    /* The notices (hd_notice_name()) are the kinds' names but one. */
    int kind = notify_kind_parse(pd->notice);
    if (kind < 0 && strcmp(pd->notice, "client_update_due") == 0)
        kind = NOTIFY_KIND_CLIENT_UPDATE_REMINDER;
    notify_text_in_t in = {
        .kind = kind < 0 ? NOTIFY_KIND_ESCALATION : (notify_kind_t)kind,
        .incident = inc,
        .recipient = pd->recipient,
        .console_url = ns->cfg->notify_console_url,
        .level = inc ? inc->escalation_level : 0,
        .update = inc && *inc->summary ? inc->summary : "an update of the incident",
        .due_at_ms = inc ? inc->next_client_update_due_ms : 0,
        .missing = "the review, the preventive tasks or the sign-offs",
    };
    if (in.kind == NOTIFY_KIND_SILENCE_REMINDER) { /* planned at the silence's end */
        in.silence_id = inc ? inc->silenced_by : NULL;
        in.due_at_ms = st ? st->silence_ends_at_ms : 0;
        in.still_firing = 1;
    }
    notify_text_t text;
    if (notify_text_render(&in, &text) < 0) {
        notify_job_fail(j, "no text for the notice ", pd->notice);
        return;
    }
    char *body = j->channel == DIRECTORY_CHANNEL_WEBHOOK
                     ? notify_webhook_body(pd->delivery_id, in.kind, pd->recipient, &text, inc)
                     : NULL;
    notify_msg_t msg = {
        .delivery_id = pd->delivery_id,
        .channel = (directory_channel_t)j->channel,
        .address = address,
        .subject = text.subject,
        .body = body ? body : text.body,
    };
    j->started_ms = clock_mono_ms();
    if (notify_send(ns->sender, &msg, notify_job_done, j) < 0)
        notify_job_fail(j, "cannot start the attempt: ", "sender full or message invalid");
    free(body);
    notify_text_free(&text);
}

/* The attempts in flight to @p endpoint, and in @p oldest_ms when the
 * oldest of them started (monotonic; @p now_ms when none). At
 * max_per_endpoint one more would wait in the sender and hold a slot that
 * another endpoint's delivery could use. */
static int notify_endpoint_use(const notify_stage_t *ns, const char *endpoint, int64_t now_ms,
                               int64_t *oldest_ms)
{
    int n = 0;
    *oldest_ms = now_ms;
    for (size_t i = 0; i < ns->n_jobs; i++) {
        const notify_job_t *j = ns->jobs[i];
        if (j->done || !j->endpoint || strcmp(j->endpoint, endpoint) != 0)
            continue;
        n++;
        if (j->started_ms < *oldest_ms)
            *oldest_ms = j->started_ms;
    }
    return n;
}

/* Gives claimed delivery @p delivery_id back to the outbox: its endpoint
 * @p endpoint, whose oldest attempt started at @p oldest_ms, is at its
 * limit; that endpoint is the one claims now size themselves to. */
static void notify_defer(notify_stage_t *ns, const char *delivery_id, const char *endpoint,
                         int64_t oldest_ms)
{
    int64_t wait = clock_mono_ms() - oldest_ms;
    wait = wait < NOTIFY_DEFER_MIN_MS ? NOTIFY_DEFER_MIN_MS
           : wait > NOTIFY_DEFER_MS   ? NOTIFY_DEFER_MS
                                      : wait;
    store_delivery_defer(worker_store(ns->w), delivery_id, clock_now_ms() + wait);
    atomic_fetch_add(&worker_stats_rw(ns->w)->deliveries_deferred, 1);
    if (!ns->blocked || strcmp(ns->blocked, endpoint) != 0) {
        free(ns->blocked);
        ns->blocked = strdup(endpoint); /* NULL (out of memory): claims as if none */
    }
}

/* Takes one claimed delivery: a job, its attempt started (or failed at
 * once when the recipient has no address on the channel any more); a
 * delivery to an endpoint at its limit goes back to the outbox (returns 1,
 * else 0). */
static int notify_take(notify_stage_t *ns, const store_delivery_t *d)
{
    notify_job_t *j = calloc(1, sizeof(*j));
    if (!j)
        return 0; /* the lease brings it back */
    j->pd = incidentd__v1__planned_delivery__unpack(NULL, d->planned_len, d->planned);
    j->planned = malloc(d->planned_len ? d->planned_len : 1);
    j->claim = strdup(d->claim);
    if (!j->pd || !j->planned || !j->claim) {
        log_msg(LOG_ERROR, "notify", NULL, d->delivery_id, "outbox entry unreadable: dropped");
        notify_job_free(j);
        return 0;
    }
    memcpy(j->planned, d->planned, d->planned_len);
    j->planned_len = d->planned_len;
    j->attempt = j->pd->attempts + 1;
    const char *address = notify_address(ns->cfg, j->pd, &j->channel);
    if (address)
        j->endpoint = j->channel == DIRECTORY_CHANNEL_EMAIL ? strdup(ns->cfg->notify_smtp_url)
                                                            : notify_endpoint_of(address);
    int64_t oldest = 0;
    if (j->endpoint &&
        notify_endpoint_use(ns, j->endpoint, clock_mono_ms(), &oldest) >= ns->max_per_endpoint) {
        notify_defer(ns, d->delivery_id, j->endpoint, oldest);
        notify_job_free(j);
        return 1;
    }
    ns->jobs[ns->n_jobs++] = j;
    if (!address) {
        notify_job_fail(j, "no address on this channel in the directory for ", j->pd->recipient);
        return 0;
    }
    hd_state_t *st = d->state_len ? incidentd__v1__stored_incident__unpack(arena_pb(&ns->arena),
                                                                           d->state_len, d->state)
                                  : NULL;
    notify_job_send(ns, j, address, st);
    return 0;
}

/* Slots free for new attempts: fewer attempts in flight than
 * notify.concurrency, and room for their jobs beside the finished ones. */
static int notify_free_slots(const notify_stage_t *ns)
{
    size_t in_flight = 0;
    for (size_t i = 0; i < ns->n_jobs; i++)
        in_flight += !ns->jobs[i]->done;
    size_t slots = ns->max_jobs - in_flight, room = ns->cap_jobs - ns->n_jobs;
    return (int)(slots < room ? slots : room);
}

/* How many due deliveries to claim at @p now (0: none yet): see the top of
 * this file. Every free slot at the timed claim or when the last claim got
 * all it asked for; while an endpoint is known at its limit, only its room
 * (none while it has none), except at the timed claim past it once it
 * stalls. */
static int notify_claim_size(const notify_stage_t *ns, int64_t now)
{
    int free_slots = notify_free_slots(ns);
    int timed = now >= ns->next_claim_ms;
    if (free_slots <= 0 || (!timed && !ns->again))
        return 0;
    if (!ns->blocked)
        return free_slots;
    int64_t oldest;
    int room = ns->max_per_endpoint - notify_endpoint_use(ns, ns->blocked, now, &oldest);
    if (room <= 0)
        return timed && now - oldest >= NOTIFY_CLAIM_EVERY_MS ? free_slots : 0;
    return room < free_slots ? room : free_slots;
}

/* Claims due deliveries into the free slots (notify_claim_size()) and
 * takes them. */
static void notify_claim(notify_stage_t *ns, int64_t now)
{
    int want = notify_claim_size(ns, now);
    if (want <= 0)
        return;
    int all_free = want == notify_free_slots(ns);
    ns->next_claim_ms = now + NOTIFY_CLAIM_EVERY_MS;
    store_delivery_t *ds = arena_alloc(&ns->arena, (size_t)want * sizeof(*ds));
    /* The lease outlives an attempt and the turns its receipt may take. */
    int64_t lease = 3 * ns->cfg->notify_timeout_ms + 30000;
    int n =
        store_deliveries_claim(worker_store(ns->w), clock_now_ms(), lease, ds, want, &ns->arena);
    atomic_fetch_add(&worker_stats_rw(ns->w)->delivery_claims, 1);
    int deferred = 0;
    for (int i = 0; i < n; i++)
        deferred += notify_take(ns, &ds[i]);
    ns->again = n == want;
    /* Nothing was given back: no endpoint is known at its limit any more
     * when every free slot was asked for, or when the outbox had no more
     * due (else the one known stays so, its room sizing the next claims). */
    if (!deferred && (all_free || n < want)) {
        free(ns->blocked);
        ns->blocked = NULL;
    }
}

/* How long the worker may wait for input before the next turn: not at all
 * when a claim could take more now; NOTIFY_BUSY_WAIT_MS while attempts are
 * in flight (their ends are seen on the next turn); else until the timed
 * claim, or the worker's own wait when that is due but cannot claim (no
 * free slot: receipts not produced yet). */
static int notify_wait_ms(const notify_stage_t *ns, int64_t now)
{
    if (notify_claim_size(ns, now) > 0)
        return 0;
    if (notify_sender_pending(ns->sender) > 0)
        return NOTIFY_BUSY_WAIT_MS;
    int64_t left = ns->next_claim_ms - now;
    return left > 0 ? (int)left : -1;
}

/* The worker's turn hook. */
static int notify_stage_tick(worker_t *w, void *opaque, int64_t now_ms)
{
    (void)w;
    notify_stage_t *ns = opaque;
    notify_sender_run(ns->sender, 0);
    arena_reset(&ns->arena);
    notify_claim(ns, now_ms);
    notify_silences_tick(ns->silences, now_ms);
    notify_sender_run(ns->sender, 0);
    /* after the new attempts are on their way: they run while it commits */
    notify_flush(ns, clock_mono_ms());
    size_t in_flight = 0;
    for (size_t i = 0; i < ns->n_jobs; i++)
        in_flight += !ns->jobs[i]->done;
    atomic_store(&worker_stats_rw(ns->w)->deliveries_in_flight, in_flight);
    return notify_wait_ms(ns, clock_mono_ms());
}

notify_stage_t *notify_stage_new(const config_t *cfg, worker_t *w, char *errstr, size_t errstr_size)
{
    notify_stage_t *ns = calloc(1, sizeof(*ns));
    if (!ns) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    ns->cfg = cfg;
    ns->w = w;
    ns->max_jobs = cfg->notify_concurrency > 0 ? (size_t)cfg->notify_concurrency : 16;
    ns->cap_jobs = 2 * ns->max_jobs;
    ns->jobs = calloc(ns->cap_jobs, sizeof(*ns->jobs));
    arena_init(&ns->arena, 64 * 1024);
    notify_sender_conf_t conf;
    notify_sender_conf_from_config(cfg, &conf);
    ns->max_per_endpoint =
        conf.max_per_endpoint ? conf.max_per_endpoint : (conf.max_concurrent + 1) / 2;
    ns->sender = ns->jobs ? notify_sender_new(&conf, errstr, errstr_size) : NULL;
    if (!ns->sender) {
        if (!ns->jobs)
            snprintf(errstr, errstr_size, "out of memory");
        notify_stage_destroy(ns);
        return NULL;
    }
    ns->silences = notify_silences_new(cfg, w, ns->sender, errstr, errstr_size);
    if (!ns->silences) {
        notify_stage_destroy(ns);
        return NULL;
    }
    worker_set_tick(w, notify_stage_tick, ns);
    return ns;
}

void notify_stage_destroy(notify_stage_t *ns)
{
    if (!ns)
        return;
    notify_sender_destroy(ns->sender);
    notify_silences_destroy(ns->silences); /* after the sender: no callback reaches it */
    for (size_t i = 0; i < ns->n_jobs; i++)
        notify_job_free(ns->jobs[i]);
    free(ns->jobs);
    free(ns->blocked);
    arena_destroy(&ns->arena);
    free(ns);
}
