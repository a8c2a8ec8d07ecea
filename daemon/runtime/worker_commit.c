/*
 * worker_commit.c — the commit of a stage worker's batch, overlapped with
 * the next batch (batch.overlap_commit).
 *
 * A batch is: gather, decode, the Redis step (read, decide, apply once:
 * worker_batch.c), produce, commit (worker_txn.c). The commit — the offsets
 * sent to the transaction, then commit_transaction(), tens of ms on a busy
 * broker — needs nothing but the producer. With the overlap, batch N's
 * commit runs on a thread of its own while the worker thread gathers batch
 * N+1, decodes it and runs its Redis step; N+1's transaction begins only
 * once N's commit has returned (a transactional producer has one
 * transaction at a time). librdkafka 2.0.2 has no non-blocking commit: a
 * commit_transaction() with a short timeout is resumable, but its
 * documentation warns that any timeout other than -1 risks desynchronising
 * its state; hence the thread, one per commit (created and joined, no
 * queue), which alone uses the producer while it runs.
 *
 * Why exactly-once still holds (docs/architecture.md, "Overlapped commits"):
 *
 *  1. Transactions commit one at a time, in batch order: N+1's transaction
 *     begins after N's commit returned; every other user of the producer
 *     (fired timers, worker_emit(), a new producer) joins N first.
 *  2. N+1's applies reach Redis before N is committed. Redis is always
 *     ahead of Kafka (every apply precedes its own commit), and each apply
 *     stores its records for a replay of its input position (out:*).
 *  3. When N's commit fails, N+1 has produced nothing: it is dropped, and
 *     the consumer is rewound to the first offsets of N and N+1 (per
 *     partition the lower). Both are consumed again; their causes are
 *     applied by these very positions, so they replay the stored records
 *     (same bytes, ids, seq), per partition in their order; the aborted copy
 *     of N is invisible to read_committed readers.
 *  4. A batch's replay records are forgotten (store_forget_outputs()) only
 *     once its own commit has returned success, at the join: never N+1's
 *     before N+1 is committed, never N's while N may be replayed.
 *  5. The consumer is never moved while a commit runs: a rewind, a resume
 *     from the committed offsets, a new consumer, a revoked assignment and
 *     leaving the group all join the commit first, so the committed offsets
 *     they read are final (after N if it committed, before N if not).
 *  6. A crash anywhere leaves the committed offsets before or after N and
 *     Redis with the applies of N and N+1 (some of them): whoever consumes
 *     the partitions next replays them, as after a crash between an apply
 *     and its commit without the overlap — two batches instead of one.
 *
 * @locality: the worker's thread, except worker_commit_run() on the commit
 * thread (worker_commit_t's rc and done_us, the producer, and the delivery
 * reports' fail_item/fail_err) until worker_commit_join() has joined it.
 */
#include "worker_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* The offsets after the gathered batch, per partition. */
static rd_kafka_topic_partition_list_t *worker_batch_offsets(const worker_t *w)
{
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new((int)w->n_batch);
    for (size_t i = 0; i < w->n_batch; i++) {
        const rd_kafka_message_t *m = w->batch[i];
        const char *t = rd_kafka_topic_name(m->rkt);
        rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(offs, t, m->partition);
        if (!p)
            p = rd_kafka_topic_partition_list_add(offs, t, m->partition);
        if (m->offset + 1 > p->offset)
            p->offset = m->offset + 1;
    }
    return offs;
}

/* The commit proper. @locality: the commit thread when c->threaded, else
 * the worker's. */
static void worker_commit_run(worker_t *w)
{
    worker_commit_t *c = &w->commit;
    c->rc = worker_txn_commit(w, c->offsets, c->cgmd);
    c->done_us = clock_mono_us();
}

static void *worker_commit_main(void *opaque)
{
    worker_commit_run(opaque);
    return NULL;
}

/* Starts the commit of the gathered batch, whose records the open
 * transaction holds: the batch's messages, its items and their arena move
 * to w->commit (the worker's batch and arena are free for the next batch);
 * on the commit thread with the overlap, else at once. */
static void worker_commit_start(worker_t *w, worker_item_t *items, int64_t t0_us, uint64_t rt0)
{
    worker_commit_t *c = &w->commit;
    c->offsets = worker_batch_offsets(w);
    c->cgmd = rd_kafka_consumer_group_metadata(w->consumer);
    rd_kafka_message_t **spare = c->batch;
    c->batch = w->batch;
    c->n_batch = w->n_batch;
    w->batch = spare;
    w->n_batch = 0;
    arena_swap(&c->arena, &w->arena);
    c->items = items;
    c->t0_us = t0_us;
    c->round_trips = store_round_trips(w->store) - rt0;
    c->rc = -1;
    c->start_us = c->done_us = clock_mono_us();
    c->active = 1;
    c->threaded = 0;
    if (w->overlap) {
        int e = pthread_create(&c->thread, NULL, worker_commit_main, w);
        c->threaded = e == 0;
        if (e)
            log_msg(LOG_WARN, w->stage->name, NULL, NULL,
                    "commit thread: %s; committing on the worker's thread", strerror(e));
    }
    if (!c->threaded)
        worker_commit_run(w);
}

/* The commit succeeded: the batch is counted, and the records stored for a
 * replay of its positions are forgotten — only now, as until this commit
 * returned a rewind could consume these positions again and replay them. */
static void worker_commit_ok(worker_t *w)
{
    worker_commit_t *c = &w->commit;
    for (size_t i = 0; i < c->n_batch; i++)
        if (c->items[i].forget_out)
            store_forget_outputs(w->store, c->items[i].cause_key);
    atomic_fetch_add(&w->stats.redis_batch_round_trips, c->round_trips);
    /* A batch's processing time is the worker thread's: to its commit's
     * end, or, overlapped, to the hand-over of its commit (whose time is
     * incidentd_commit_seconds_total; the wait for it, in the next batch,
     * incidentd_commit_wait_seconds_total). */
    worker_count_batch(w, c->items, c->n_batch, c->t0_us, c->threaded ? c->start_us : c->done_us);
    atomic_fetch_add(&w->stats.commit_us, (uint64_t)(c->done_us - c->start_us));
    w->poison_pos[0] = '\0';
    w->poison_tries = 0;
}

/* The commit failed (aborted, or the producer is unusable): the batch and
 * the one gathered since (its Redis step may have run: what it applied
 * replays) are consumed again from their first offsets. */
static void worker_commit_failed(worker_t *w, int rewind)
{
    worker_commit_t *c = &w->commit;
    atomic_fetch_add(&w->stats.failed, 1);
    worker_poison_note(w, c->items);
    if (w->n_batch > 0)
        log_msg(LOG_WARN, w->stage->name, NULL, NULL,
                "the previous batch's commit failed: consuming it again together with the next "
                "batch of %zu messages (their Redis steps replay)",
                w->n_batch);
    if (rewind)
        worker_rewind(w);
    worker_free_batch(w);
    if (c->rc == -2)
        w->producer_fatal = 1;
}

int worker_commit_join(worker_t *w, int rewind)
{
    worker_commit_t *c = &w->commit;
    if (!c->active)
        return 0;
    if (c->threaded) {
        int64_t t = clock_mono_us();
        pthread_join(c->thread, NULL);
        atomic_fetch_add(&w->stats.commit_wait_us, (uint64_t)(clock_mono_us() - t));
    }
    c->active = 0;
    rd_kafka_topic_partition_list_destroy(c->offsets);
    c->offsets = NULL;
    if (c->cgmd)
        rd_kafka_consumer_group_metadata_destroy(c->cgmd);
    c->cgmd = NULL;
    int rc = c->rc;
    if (rc == 0)
        worker_commit_ok(w);
    else
        worker_commit_failed(w, rewind); /* rewinds before the messages go */
    for (size_t i = 0; i < c->n_batch; i++)
        rd_kafka_message_destroy(c->batch[i]);
    c->n_batch = 0;
    c->items = NULL;
    return rc;
}

int worker_finish_batch(worker_t *w, worker_item_t *items, size_t n, int64_t t0_us, uint64_t rt0)
{
    /* The previous batch's commit ran while this batch was gathered and
     * applied in Redis. Its outcome first: this batch's transaction begins
     * only once it has ended, and if it failed this batch goes back with it
     * (dropped and rewound by the join, nothing produced). */
    int rc = worker_commit_join(w, 1);
    if (rc < 0)
        return rc;
    worker_poison_apply(w, items, n);
    rc = worker_produce_batch(w, items, n);
    if (rc < 0)
        return rc;
    worker_commit_start(w, items, t0_us, rt0);
    return w->commit.threaded ? 0 : worker_commit_join(w, 1);
}

void worker_commit_destroy(worker_t *w)
{
    worker_commit_join(w, 0);
    free(w->commit.batch);
    w->commit.batch = NULL;
    arena_destroy(&w->commit.arena);
}
