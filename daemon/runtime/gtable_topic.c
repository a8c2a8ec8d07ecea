/*
 * gtable_topic.c — a whole topic applied to a global table in the order
 * its records were produced; see gtable_apply_topic() in gtable.h.
 *
 * Why an order of its own: a load reads the partitions of the topic
 * interleaved as the broker answers, so the order of the read says nothing
 * of which record came first. Past the cap (gtable.h) that order decides
 * which entries are in force: taken from the records themselves (their
 * Kafka timestamps), every worker that loads the same topic decides alike.
 *
 * Owned by the runtime room. @locality as gtable.h
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gtable.h"

/* By key, then partition and offset: the last of each key is its latest. */
static int gtable_rec_by_key(const void *a, const void *b)
{
    const gtable_record_t *x = a, *y = b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = n ? memcmp(x->key, y->key, n) : 0;
    if (c != 0)
        return c;
    if (x->key_len != y->key_len)
        return x->key_len < y->key_len ? -1 : 1;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* By timestamp, then partition and offset: the order of production
 * (qsort() of record pointers). */
static int gtable_rec_by_time(const void *a, const void *b)
{
    const gtable_record_t *x = *(const gtable_record_t *const *)a;
    const gtable_record_t *y = *(const gtable_record_t *const *)b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int gtable_same_key(const gtable_record_t *x, const gtable_record_t *y)
{
    return x->key_len == y->key_len && (x->key_len == 0 || memcmp(x->key, y->key, x->key_len) == 0);
}

size_t gtable_apply_topic(gtable_t *t, gtable_record_t *recs, size_t n)
{
    if (n == 0)
        return 0;
    qsort(recs, n, sizeof(*recs), gtable_rec_by_key);
    /* the latest value of each key; a tombstone leaves nothing */
    const gtable_record_t **latest = malloc(n * sizeof(*latest));
    if (!latest) {
        fputs("incidentd: out of memory\n", stderr);
        abort();
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && gtable_same_key(&recs[i], &recs[i + 1]))
            continue; /* a later record of the key follows */
        if (recs[i].value && recs[i].len > 0)
            latest[k++] = &recs[i];
    }
    qsort(latest, k, sizeof(*latest), gtable_rec_by_time);
    for (size_t i = 0; i < k; i++)
        gtable_apply(t, latest[i]->key, latest[i]->key_len, latest[i]->value, latest[i]->len);
    free(latest);
    return k;
}
