/*
 * ormis.c — audit chain hashing and verification; see ormis.h.
 */
#include "ormis.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

static void ormis_hex(const unsigned char *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

void ormis_hash(const Incident__V1__AuditRecord *rec, char hex[ORMIS_HASH_HEX])
{
    /* Serialise a shallow copy with the hash field emptied. */
    Incident__V1__AuditRecord tmp = *rec;
    tmp.hash = (char *)"";
    size_t len = incident__v1__audit_record__get_packed_size(&tmp);
    unsigned char stackbuf[4096];
    unsigned char *buf = len <= sizeof(stackbuf) ? stackbuf : malloc(len);
    if (!buf) {
        fprintf(stderr, "incidentd: out of memory\n");
        abort();
    }
    incident__v1__audit_record__pack(&tmp, buf);
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(buf, len, md);
    if (buf != stackbuf)
        free(buf);
    ormis_hex(md, sizeof(md), hex);
}

const char *ormis_chain(Incident__V1__AuditRecord **recs, size_t n, const char *prev_hash,
                        char *bufs)
{
    const char *prev = prev_hash ? prev_hash : "";
    for (size_t i = 0; i < n; i++) {
        char *pbuf = bufs + (2 * i) * ORMIS_HASH_HEX;
        char *hbuf = bufs + (2 * i + 1) * ORMIS_HASH_HEX;
        snprintf(pbuf, ORMIS_HASH_HEX, "%s", prev);
        recs[i]->prev_hash = pbuf;
        ormis_hash(recs[i], hbuf);
        recs[i]->hash = hbuf;
        prev = hbuf;
    }
    return prev;
}

void ormis_sort(const Incident__V1__AuditRecord **recs, size_t n)
{
    /* Insertion sort: stable, and the input is nearly sorted. */
    for (size_t i = 1; i < n; i++) {
        const Incident__V1__AuditRecord *r = recs[i];
        size_t j = i;
        while (j > 0 && recs[j - 1]->seq > r->seq) {
            recs[j] = recs[j - 1];
            j--;
        }
        recs[j] = r;
    }
}

/* Why record @p i (0-based) of a trail in seq order does not carry seq i + 1:
 * a repeat, records out of order, or a gap. Writes into @p res->reason. */
static void ormis_seq_reason(const Incident__V1__AuditRecord *const *recs, size_t n, size_t i,
                             ormis_verify_result_t *res)
{
    uint64_t want = i + 1, seq = recs[i]->seq;
    if (i > 0 && seq == recs[i - 1]->seq) {
        snprintf(res->reason, sizeof(res->reason),
                 "record %zu: seq %" PRIu64 " repeated (expected seq %" PRIu64 ")", i + 1, seq,
                 want);
        return;
    }
    /* The expected record further on, or this one's seq already passed:
     * the records are all there, in the wrong order. */
    int later = 0;
    for (size_t j = i + 1; j < n && !later; j++)
        later = recs[j]->seq == want;
    if (seq < want || later) {
        snprintf(res->reason, sizeof(res->reason),
                 "record %zu: seq %" PRIu64 " where seq %" PRIu64
                 " belongs: records out of order (sort by seq first)",
                 i + 1, seq, want);
        return;
    }
    if (seq == want + 1)
        snprintf(res->reason, sizeof(res->reason),
                 "record %zu: seq %" PRIu64 " follows seq %" PRIu64 ": missing seq %" PRIu64, i + 1,
                 seq, want - 1, want);
    else
        snprintf(res->reason, sizeof(res->reason),
                 "record %zu: seq %" PRIu64 " follows seq %" PRIu64 ": missing seq %" PRIu64
                 "..%" PRIu64,
                 i + 1, seq, want - 1, want, seq - 1);
}

int ormis_verify(const Incident__V1__AuditRecord *const *recs, size_t n, ormis_verify_result_t *res)
{
    memset(res, 0, sizeof(*res));
    const char *prev = "";
    for (size_t i = 0; i < n; i++) {
        const Incident__V1__AuditRecord *r = recs[i];
        res->records = i + 1;
        if (i > 0 && strcmp(r->incident_id, recs[0]->incident_id) != 0) {
            snprintf(res->reason, sizeof(res->reason), "record %zu belongs to incident %s, not %s",
                     i + 1, r->incident_id, recs[0]->incident_id);
            goto bad;
        }
        if (r->seq != i + 1) {
            ormis_seq_reason(recs, n, i, res);
            goto bad;
        }
        if (i == 0 && r->prev_hash[0]) {
            snprintf(res->reason, sizeof(res->reason),
                     "seq 1: prev_hash must be empty (it is %.16s...: the trail does not start at "
                     "the incident's first record)",
                     r->prev_hash);
            goto bad;
        }
        if (strcmp(r->prev_hash, prev) != 0) {
            snprintf(res->reason, sizeof(res->reason),
                     "seq %" PRIu64 ": prev_hash does not match the hash of seq %" PRIu64
                     " (a record before it was altered or replaced)",
                     r->seq, r->seq - 1);
            goto bad;
        }
        char h[ORMIS_HASH_HEX];
        ormis_hash(r, h);
        if (strcmp(h, r->hash) != 0) {
            snprintf(res->reason, sizeof(res->reason),
                     "seq %" PRIu64 ": content does not match its hash (record or hash altered)",
                     r->seq);
            goto bad;
        }
        prev = r->hash;
    }
    return 0;
bad:
    res->first_bad = res->records;
    return -1;
}
