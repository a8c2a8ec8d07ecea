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

const char *ormis_chain(Incident__V1__AuditRecord **recs, size_t n,
                        const char *prev_hash, char *bufs)
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

int ormis_verify(const Incident__V1__AuditRecord *const *recs, size_t n,
                 ormis_verify_result_t *res)
{
    memset(res, 0, sizeof(*res));
    const char *prev = "";
    for (size_t i = 0; i < n; i++) {
        const Incident__V1__AuditRecord *r = recs[i];
        res->records = i + 1;
        if (i > 0 && strcmp(r->incident_id, recs[0]->incident_id) != 0) {
            snprintf(res->reason, sizeof(res->reason),
                     "record %zu belongs to incident %s, not %s", i + 1,
                     r->incident_id, recs[0]->incident_id);
            goto bad;
        }
        if (r->seq != i + 1) {
            snprintf(res->reason, sizeof(res->reason),
                     "record %zu has seq %" PRIu64 ", expected %zu (%s)", i + 1,
                     r->seq, i + 1,
                     r->seq <= i ? "repeated or reordered" : "missing records");
            goto bad;
        }
        if (strcmp(r->prev_hash, prev) != 0) {
            snprintf(res->reason, sizeof(res->reason),
                     "seq %" PRIu64 ": prev_hash does not match the hash of seq %" PRIu64,
                     r->seq, r->seq - 1);
            goto bad;
        }
        char h[ORMIS_HASH_HEX];
        ormis_hash(r, h);
        if (strcmp(h, r->hash) != 0) {
            snprintf(res->reason, sizeof(res->reason),
                     "seq %" PRIu64 ": content does not match its hash (altered)", r->seq);
            goto bad;
        }
        prev = r->hash;
    }
    return 0;
bad:
    res->first_bad = res->records;
    return -1;
}
