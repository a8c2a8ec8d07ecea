/*
 * test_ormis.c — the ORMIS audit chain (daemon/common/ormis.c): a good chain
 * verifies; every kind of tampering (altered content or hash, a gap, a
 * repeat, records out of order, a wrong prev_hash of seq 1, a record of
 * another incident) is found at the right record with a reason that says
 * what is wrong.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "ormis.h"

#define N 5

typedef struct chain {
    Incident__V1__AuditRecord recs[N];
    Incident__V1__AuditRecord *ptrs[N];
    Incident__V1__Incident snap[N];
    char bufs[2 * N * ORMIS_HASH_HEX];
} chain_t;

static const char *const actions[N] = {"detected", "classified", "scoped", "assigned", "escalated"};

/* A chained trail of N records of incident INC-1. */
static void chain_make(chain_t *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < N; i++) {
        Incident__V1__AuditRecord r = INCIDENT__V1__AUDIT_RECORD__INIT;
        Incident__V1__Incident s = INCIDENT__V1__INCIDENT__INIT;
        s.id = "INC-1";
        s.dedup_key = "checkout";
        s.summary = "checkout errors";
        s.version = i + 1;
        c->snap[i] = s;
        r.incident_id = "INC-1";
        r.seq = i + 1;
        r.action = (char *)actions[i];
        r.actor = "incidentd/test";
        r.detail = "step";
        r.at_ms = 1700000000000 + (int64_t)i;
        r.cause_id = "alert-1";
        r.snapshot = &c->snap[i];
        c->recs[i] = r;
        c->ptrs[i] = &c->recs[i];
    }
    const char *last = ormis_chain(c->ptrs, N, "", c->bufs);
    cr_assert_str_eq(last, c->recs[N - 1].hash);
}

/* Verifies @p recs; expects failure at @p first_bad with every @p want in the reason. */
static void expect_bad(Incident__V1__AuditRecord *const *recs, size_t n, uint64_t first_bad,
                       const char *want1, const char *want2)
{
    ormis_verify_result_t res;
    cr_assert_eq(ormis_verify((const Incident__V1__AuditRecord *const *)recs, n, &res), -1,
                 "tampered chain verified");
    cr_expect_eq(res.first_bad, first_bad, "first_bad %llu, want %llu (%s)",
                 (unsigned long long)res.first_bad, (unsigned long long)first_bad, res.reason);
    cr_expect(strstr(res.reason, want1), "'%s' not in: %s", want1, res.reason);
    if (want2)
        cr_expect(strstr(res.reason, want2), "'%s' not in: %s", want2, res.reason);
}

Test(ormis, good_chain_verifies)
{
    chain_t c;
    chain_make(&c);
    cr_assert_str_eq(c.recs[0].prev_hash, "");
    for (size_t i = 1; i < N; i++)
        cr_assert_str_eq(c.recs[i].prev_hash, c.recs[i - 1].hash);
    ormis_verify_result_t res;
    cr_assert_eq(ormis_verify((const Incident__V1__AuditRecord *const *)c.ptrs, N, &res), 0, "%s",
                 res.reason);
    cr_assert_eq(res.records, N);
    cr_assert_eq(res.first_bad, 0);
}

Test(ormis, hash_covers_every_field_but_hash)
{
    chain_t c;
    chain_make(&c);
    char h0[ORMIS_HASH_HEX], h[ORMIS_HASH_HEX];
    ormis_hash(&c.recs[2], h0);
    cr_assert_str_eq(h0, c.recs[2].hash);
    c.recs[2].hash = "anything";
    ormis_hash(&c.recs[2], h);
    cr_assert_str_eq(h, h0, "the hash field is not part of the hash");
    c.recs[2].at_ms++;
    ormis_hash(&c.recs[2], h);
    cr_assert_str_neq(h, h0, "at_ms not covered");
    c.recs[2].at_ms--;
    c.snap[2].summary = "checkout errorz";
    ormis_hash(&c.recs[2], h);
    cr_assert_str_neq(h, h0, "snapshot not covered");
    c.snap[2].summary = "checkout errors";
    c.recs[2].prev_hash = "00";
    ormis_hash(&c.recs[2], h);
    cr_assert_str_neq(h, h0, "prev_hash not covered");
}

Test(ormis, altered_content_is_found)
{
    chain_t c;
    chain_make(&c);
    c.recs[2].detail = "step (edited)";
    expect_bad(c.ptrs, N, 3, "seq 3", "altered");
}

Test(ormis, altered_snapshot_is_found)
{
    chain_t c;
    chain_make(&c);
    c.snap[3].summary = "nothing happened";
    expect_bad(c.ptrs, N, 4, "seq 4", "altered");
}

Test(ormis, altered_hash_is_found)
{
    chain_t c;
    chain_make(&c);
    char forged[ORMIS_HASH_HEX];
    snprintf(forged, sizeof(forged), "%s", c.recs[1].hash);
    forged[0] = forged[0] == 'a' ? 'b' : 'a';
    c.recs[1].hash = forged;
    expect_bad(c.ptrs, N, 2, "seq 2", "hash");
}

Test(ormis, rehashed_altered_record_breaks_the_next_link)
{
    chain_t c;
    chain_make(&c);
    /* The forger alters seq 2 and recomputes its hash: seq 3 still points
     * at the old one. */
    char rehash[ORMIS_HASH_HEX];
    c.recs[1].actor = "mallory";
    ormis_hash(&c.recs[1], rehash);
    c.recs[1].hash = rehash;
    expect_bad(c.ptrs, N, 3, "seq 3", "prev_hash");
}

Test(ormis, missing_record_is_a_gap)
{
    chain_t c;
    chain_make(&c);
    Incident__V1__AuditRecord *gap[] = {c.ptrs[0], c.ptrs[1], c.ptrs[3], c.ptrs[4]};
    expect_bad(gap, 4, 3, "missing", "seq 3");
}

Test(ormis, missing_first_record_is_a_gap)
{
    chain_t c;
    chain_make(&c);
    expect_bad(c.ptrs + 1, N - 1, 1, "missing", "seq 1");
}

Test(ormis, repeated_record_is_found)
{
    chain_t c;
    chain_make(&c);
    Incident__V1__AuditRecord *rep[] = {c.ptrs[0], c.ptrs[1], c.ptrs[1], c.ptrs[2]};
    expect_bad(rep, 4, 3, "repeated", "seq 2");
}

Test(ormis, reordered_records_are_found_and_sorting_restores_the_chain)
{
    chain_t c;
    chain_make(&c);
    Incident__V1__AuditRecord *ro[] = {c.ptrs[0], c.ptrs[2], c.ptrs[1], c.ptrs[3], c.ptrs[4]};
    expect_bad(ro, N, 2, "out of order", NULL);
    /* The chain, not the arrival order, is the audit order. */
    ormis_sort((const Incident__V1__AuditRecord **)ro, N);
    ormis_verify_result_t res;
    cr_assert_eq(ormis_verify((const Incident__V1__AuditRecord *const *)ro, N, &res), 0, "%s",
                 res.reason);
}

Test(ormis, swapped_seq_numbers_are_found)
{
    chain_t c;
    chain_make(&c);
    /* Renumbering two records so that their order looks right does not
     * survive the hashes. */
    c.recs[1].seq = 3;
    c.recs[2].seq = 2;
    Incident__V1__AuditRecord *sw[] = {c.ptrs[0], c.ptrs[2], c.ptrs[1], c.ptrs[3], c.ptrs[4]};
    expect_bad(sw, N, 2, "seq 2", NULL);
}

Test(ormis, first_record_must_have_an_empty_prev_hash)
{
    chain_t c;
    chain_make(&c);
    /* A trail cut from a longer one: seq 1 pointing somewhere, rehashed. */
    char rehash[ORMIS_HASH_HEX];
    c.recs[0].prev_hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    ormis_hash(&c.recs[0], rehash);
    c.recs[0].hash = rehash;
    expect_bad(c.ptrs, 1, 1, "seq 1", "prev_hash must be empty");
}

Test(ormis, record_of_another_incident_is_found)
{
    chain_t c;
    chain_make(&c);
    c.recs[3].incident_id = "INC-2";
    expect_bad(c.ptrs, N, 4, "INC-2", "INC-1");
}

Test(ormis, chain_continues_after_a_previous_hash)
{
    chain_t c;
    chain_make(&c);
    /* Chaining the last two again after the third's hash gives the same links. */
    char bufs[2 * 2 * ORMIS_HASH_HEX];
    char h4[ORMIS_HASH_HEX], h5[ORMIS_HASH_HEX];
    snprintf(h4, sizeof(h4), "%s", c.recs[3].hash);
    snprintf(h5, sizeof(h5), "%s", c.recs[4].hash);
    const char *last = ormis_chain(c.ptrs + 3, 2, c.recs[2].hash, bufs);
    cr_assert_str_eq(c.recs[3].hash, h4);
    cr_assert_str_eq(last, h5);
}
