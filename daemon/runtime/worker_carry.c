/*
 * worker_carry.c — a conflict decided again in the next batch's round trip,
 * not in a second one of its own.
 *
 * A stage decides a batch from the states its inputs carry (an event's
 * header, an alert's assumed key) and applies it in one Redis round trip.
 * When an incident's apply conflicts — another stage moved it since the
 * event was produced, e.g. a merge racing the classification — the state
 * the conflict returned serves its next decision, but applying that would
 * cost the batch a second round trip. Instead the batch ends before it: per
 * partition, the messages from the first one to decide again on are carried
 * into the next batch, which decides them with the state their conflict
 * returned (a hint) and applies them with its own messages in its one round
 * trip. The batch commits what precedes them, outputs and offsets, so the
 * committed offsets stay a prefix of each partition and each partition's
 * outputs keep their order.
 *
 * The carried messages are consumed again from scratch by the next batch
 * (decoded, decided): those the batch had applied already (after the
 * conflicting one in their partition) meet their cause recorded at their
 * position and replay their stored records — the path of a crash between
 * an apply and its commit, whose replay records stay until the batch that
 * carries them commits. So nothing of the carry needs the old batch's
 * memory: the messages (librdkafka's) and the hints (malloc'd, packed).
 *
 * Why nothing is lost or doubled: the consumer's position is past the
 * carried messages, so whatever drops them rewinds or reassigns first —
 * worker_rewind() covers them, and a rebalance, a new consumer, a failed
 * commit (worker_free_batch()) or a Redis outage (worker_turn_paused())
 * drops them where the partitions are read again from the committed
 * offsets. A message is carried WORKER_CARRY_MAX times at most: a batch
 * whose conflicts would carry one further decides them again at once
 * (another round trip), so none is carried for ever.
 * A clean stop decides and commits what it carries before it leaves the
 * group (worker_run(); no carry while stopping), so a planned stop leaves
 * no applied message uncommitted, whose replay records would expire.
 * Not with batch.overlap_commit (a batch would be carried past a commit
 * still running).
 *
 * @locality: the worker's thread.
 */
#include "worker_internal.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Non-zero when @p m is of the partition of @p p. */
static int worker_same_partition(const rd_kafka_message_t *m, const rd_kafka_message_t *p)
{
    return m->partition == p->partition &&
           strcmp(rd_kafka_topic_name(m->rkt), rd_kafka_topic_name(p->rkt)) == 0;
}

size_t worker_carry_mark(worker_t *w, worker_item_t *items, size_t n, const size_t *pending,
                         size_t n_pending)
{
    /* first[j]: the earliest pending message of one partition */
    const rd_kafka_message_t **first = arena_alloc(&w->arena, n_pending * sizeof(*first));
    size_t n_first = 0;
    for (size_t k = 0; k < n_pending; k++) {
        const rd_kafka_message_t *m = items[pending[k]].msg;
        size_t j = 0;
        while (j < n_first && !worker_same_partition(m, first[j]))
            j++;
        if (j == n_first)
            first[n_first++] = m;
        else if (m->offset < first[j]->offset)
            first[j] = m;
    }
    size_t marked = 0;
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = items[i].msg;
        items[i].carry = 0;
        for (size_t j = 0; j < n_first && !items[i].carry; j++)
            items[i].carry = worker_same_partition(m, first[j]) && m->offset >= first[j]->offset;
        marked += (size_t)items[i].carry;
    }
    int worn = 0; /* a message carried as often as it may be would be carried again */
    for (size_t i = 0; i < n && !worn; i++)
        worn = items[i].carry && items[i].carries >= WORKER_CARRY_MAX;
    if (marked == n || worn) { /* nothing committed, or no progress: decide again now */
        for (size_t i = 0; i < n; i++)
            items[i].carry = 0;
        marked = 0;
    }
    w->carry_marked = marked;
    return marked;
}

/* A hint for a carried item that is to be decided again: the state its
 * conflict returned. Returns 0, or -1 when memory ran out (no hint: the
 * item reads, one round trip more). */
static int worker_hint_add(worker_t *w, const worker_item_t *it)
{
    if (!it->refreshed && !it->refreshed_open)
        return 0;
    for (size_t h = 0; h < w->n_hints; h++)
        if (strcmp(w->hints[h].key, it->key) == 0)
            return 0; /* the incident's first item decides on it */
    worker_hint_t *h = &w->hints[w->n_hints];
    memset(h, 0, sizeof(*h));
    h->key = strdup(it->key);
    h->open = it->refreshed_open ? strdup(it->refreshed_open) : NULL;
    if (it->refreshed) {
        const void *buf = worker_pack_state(w, it->refreshed, &h->state_len);
        if ((h->state = malloc(h->state_len ? h->state_len : 1)))
            memcpy(h->state, buf, h->state_len);
    }
    if (!h->key || (it->refreshed_open && !h->open) || (it->refreshed && !h->state)) {
        free(h->key);
        free(h->open);
        free(h->state);
        return -1;
    }
    w->n_hints++;
    return 0;
}

void worker_carry_out(worker_t *w, worker_item_t *items, size_t *n)
{
    if (!w->carry_marked) /* the batch as it is: no copy of its items */
        return;
    w->carry_marked = 0;
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++) {
        if (!items[i].carry) {
            items[kept] = items[i];
            w->batch[kept++] = items[i].msg;
            continue;
        }
        if (!items[i].done && worker_hint_add(w, &items[i]) < 0)
            log_msg(LOG_WARN, w->stage->name, items[i].key, items[i].cause_id,
                    "out of memory: the carried message will read its incident");
        w->carry_times[w->n_carry] = (unsigned char)(items[i].carries + 1);
        w->carry[w->n_carry++] = items[i].msg;
    }
    if (w->n_carry == 0)
        return;
    log_msg(LOG_DEBUG, w->stage->name, NULL, NULL,
            "conflict: %zu messages carried into the next batch (%zu hints), %zu committed",
            w->n_carry, w->n_hints, kept);
    atomic_fetch_add(&w->stats.carried, w->n_carry);
    w->n_batch = kept;
    *n = kept;
}

size_t worker_carry_in(worker_t *w)
{
    w->carry_marked = 0; /* a batch that failed after its marks took them along */
    size_t c = w->n_carry;
    if (c == 0)
        return 0;
    memmove(w->batch + c, w->batch, w->n_batch * sizeof(*w->batch));
    memcpy(w->batch, w->carry, c * sizeof(*w->batch));
    w->n_batch += c;
    w->n_carry = 0;
    return c;
}

/* Frees the hints. */
static void worker_hints_free(worker_t *w)
{
    for (size_t h = 0; h < w->n_hints; h++) {
        free(w->hints[h].key);
        free(w->hints[h].open);
        free(w->hints[h].state);
    }
    w->n_hints = 0;
}

void worker_carry_hint(worker_t *w, worker_item_t *items, size_t carried)
{
    for (size_t i = 0; i < carried; i++)
        items[i].carries = w->carry_times[i];
    for (size_t h = 0; h < w->n_hints; h++) {
        const worker_hint_t *hint = &w->hints[h];
        for (size_t i = 0; i < carried; i++) {
            worker_item_t *it = &items[i];
            if (it->done || !it->key || strcmp(it->key, hint->key) != 0)
                continue;
            hd_state_t *st = worker_unpack_state(w, hint->state, hint->state_len);
            if (hint->state && !st)
                break; /* unreadable: the item reads */
            it->spec = st;
            it->spec_header = 0;
            it->spec_open = hint->open ? arena_strdup(&w->arena, hint->open) : NULL;
            break;
        }
    }
    worker_hints_free(w);
}

void worker_carry_drop(worker_t *w)
{
    for (size_t i = 0; i < w->n_carry; i++)
        rd_kafka_message_destroy(w->carry[i]);
    w->n_carry = 0;
    worker_hints_free(w);
}
