/*
 * test_silence_table.c — the global table of silences (daemon/runtime/
 * silences.c) without a broker: what a record of incidents.silences does
 * to the table (a value adds or replaces, a tombstone removes, a tombstone
 * of an unknown silence and bad records are ignored), and the cap
 * (silences.max_active): past it a new silence in force is refused by
 * gtable_full(); one that still arrives waits, counted, and comes into
 * force in its turn when one in force is expired; as many as the cap
 * wait, more are dropped; ended silences do not count; a replacement, a
 * tombstone and an ended record are always taken. A load
 * (gtable_apply_topic()) takes the latest record of each key in the order
 * produced, whatever order the partitions were read in.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "silences.h"

#define CAP 3

static silences_t *tab;

static void setup(void) { tab = silences_new("127.0.0.1:1", "incidents.silences", NULL, CAP); }

static void teardown(void) { silences_destroy(tab); }

TestSuite(silence_table, .init = setup, .fini = teardown);

/* Packs a silence @p id of service @p service from @p starts to @p ends;
 * caller frees. */
static void *packed_at(const char *id, const char *service, const char *comment, int64_t starts,
                       int64_t ends, size_t *len)
{
    Incident__V1__SilenceMatchers m = INCIDENT__V1__SILENCE_MATCHERS__INIT;
    m.service = (char *)service;
    Incident__V1__Silence s = INCIDENT__V1__SILENCE__INIT;
    s.id = (char *)id;
    s.matchers = &m;
    s.starts_at_ms = starts;
    s.ends_at_ms = ends;
    s.comment = (char *)comment;
    s.created_by = "alice";
    *len = incident__v1__silence__get_packed_size(&s);
    void *buf = malloc(*len);
    incident__v1__silence__pack(&s, buf);
    return buf;
}

/* Packs a silence that ended long ago; caller frees. */
static void *packed(const char *id, const char *service, const char *comment, size_t *len)
{
    return packed_at(id, service, comment, 1000, 2000, len);
}

static int apply(const char *key, const void *v, size_t len)
{
    return silences_apply(tab, key, strlen(key), v, len);
}

Test(silence_table, value_adds_replaces_tombstone_removes)
{
    size_t len, n;
    void *a = packed("s1", "db", "first", &len);
    cr_assert_eq(apply("s1", a, len), 1);
    free(a);
    a = packed("s2", "web", "other", &len);
    cr_assert_eq(apply("s2", a, len), 1);
    free(a);
    a = packed("s1", "db", "second", &len);
    cr_assert_eq(apply("s1", a, len), 1);
    free(a);
    const hd_silence_t *const *v = silences_all(tab, &n);
    cr_assert_eq(n, 2);
    const hd_silence_t *s1 = strcmp(v[0]->id, "s1") == 0 ? v[0] : v[1];
    cr_assert_str_eq(s1->comment, "second");
    cr_assert_eq(apply("s1", NULL, 0), 1);
    v = silences_all(tab, &n);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(v[0]->id, "s2");
}

Test(silence_table, tombstone_of_unknown_and_bad_records_are_ignored)
{
    size_t len, n;
    cr_assert_eq(apply("nope", NULL, 0), 0);
    cr_assert_eq(apply("x", "\xff\xff\xff", 3), 0); /* not a Silence */
    void *a = packed("s1", "db", "", &len);         /* no comment */
    cr_assert_eq(apply("s1", a, len), 0);
    free(a);
    a = packed("s1", "db", "ok", &len); /* id is not the key */
    cr_assert_eq(apply("s9", a, len), 0);
    free(a);
    silences_all(tab, &n);
    cr_assert_eq(n, 0);
}

/* Applies a silence @p id from @p starts to @p ends (ms from now). */
static int put(const char *id, int64_t starts, int64_t ends)
{
    size_t len;
    int64_t now = clock_now_ms();
    void *v = packed_at(id, "db", "c", now + starts, now + ends, &len);
    int rc = apply(id, v, len);
    free(v);
    return rc;
}

static size_t count(void)
{
    size_t n;
    silences_all(tab, &n);
    return n;
}

Test(silence_table, cap_refuses_past_max_active_and_expiring_makes_room)
{
    char err[256] = "";
    cr_assert_eq(put("s1", -60000, 3600000), 1);
    cr_assert_eq(put("s2", 0, 3600000), 1);
    cr_assert_eq(put("s3", 600000, 3600000), 1, "pending: counts");
    cr_assert_eq(gtable_full(tab, "s1", err, sizeof(err)), 0, "a replacement fits");
    cr_assert_eq(gtable_full(tab, "s4", err, sizeof(err)), 1, "a fourth does not");
    cr_expect(strstr(err, "silences.max_active") && strstr(err, "3 silences in force"), "%s", err);
    /* ones that still arrive wait, counted */
    cr_assert_eq(put("s4", 0, 3600000), 0);
    cr_assert_eq(put("s5", 0, 3600000), 0);
    cr_assert_eq(count(), 3);
    cr_assert_null(gtable_get(tab, "s4"));
    cr_assert(gtable_waits(tab, "s4") && gtable_waits(tab, "s5"));
    cr_assert_eq(gtable_refused(tab), 2);
    /* a replacement of one in force is taken */
    cr_assert_eq(put("s2", 0, 7200000), 1);
    const hd_silence_t *s2 = (const hd_silence_t *)gtable_get(tab, "s2");
    cr_assert_eq(s2->ends_at_ms - s2->starts_at_ms, 7200000);
    /* a tombstone makes room: the first waiting one comes into force */
    uint64_t gen = gtable_generation(tab);
    cr_assert_eq(apply("s1", NULL, 0), 1);
    cr_assert_gt(gtable_generation(tab), gen);
    cr_assert_not_null(gtable_get(tab, "s4"));
    cr_assert_not(gtable_waits(tab, "s4"));
    cr_assert(gtable_waits(tab, "s5"));
    cr_assert_eq(count(), 3);
    /* the tombstone of a waiting one: gone, the entries unchanged */
    gen = gtable_generation(tab);
    cr_assert_eq(apply("s5", NULL, 0), 0);
    cr_assert_not(gtable_waits(tab, "s5"));
    cr_assert_eq(gtable_generation(tab), gen);
    cr_assert_eq(apply("s2", NULL, 0), 1);
    cr_assert_eq(count(), 2, "nothing waits any more");
    cr_assert_eq(gtable_full(tab, "s6", err, sizeof(err)), 0);
    cr_assert_eq(gtable_refused(tab), 2);
}

Test(silence_table, cap_counts_only_silences_in_force)
{
    char err[256];
    cr_assert_eq(put("s1", 0, 3600000), 1);
    cr_assert_eq(put("s2", 0, 3600000), 1);
    /* ended ones are always taken (the notify stage tombstones them) and
     * never count */
    cr_assert_eq(put("e1", -7200000, -3600000), 1);
    cr_assert_eq(put("e2", -7200000, -3600000), 1);
    cr_assert_eq(count(), 4);
    cr_assert_eq(gtable_full(tab, "s3", err, sizeof(err)), 0, "2 in force of 3");
    cr_assert_eq(put("s3", 0, 3600000), 1);
    cr_assert_eq(gtable_full(tab, "s4", err, sizeof(err)), 1);
    cr_assert_eq(put("e3", -7200000, -3600000), 1, "an ended record: taken even when full");
    /* an ended one back in force is one more in force: it waits */
    cr_assert_eq(put("e1", 0, 3600000), 1, "its ended entry is gone");
    cr_assert_null(gtable_get(tab, "e1"));
    cr_assert(gtable_waits(tab, "e1"));
    /* a replacement that ends one in force makes room */
    cr_assert_eq(put("s3", -7200000, -3600000), 1);
    cr_assert_not_null(gtable_get(tab, "e1"));
    cr_assert_eq(gtable_refused(tab), 1);
}

Test(silence_table, no_cap_takes_them_all)
{
    silences_destroy(tab);
    tab = silences_new("127.0.0.1:1", "incidents.silences", NULL, 0); /* incidentctl's list */
    char err[256];
    char id[16];
    for (int i = 0; i < 50; i++) {
        snprintf(id, sizeof(id), "s%d", i);
        cr_assert_eq(put(id, 0, 3600000), 1);
    }
    cr_assert_eq(count(), 50);
    cr_assert_eq(gtable_full(tab, "s99", err, sizeof(err)), 0);
}

Test(silence_table, a_flood_past_the_cap_keeps_the_first)
{
    char id[16];
    for (int i = 0; i < 10000; i++) {
        snprintf(id, sizeof(id), "f%d", i);
        put(id, 0, 3600000);
    }
    cr_assert_eq(count(), CAP);
    cr_assert_not_null(gtable_get(tab, "f0"));
    cr_assert_not_null(gtable_get(tab, "f2"));
    cr_assert(gtable_waits(tab, "f3") && gtable_waits(tab, "f5"), "as many wait as the cap");
    cr_assert_not(gtable_waits(tab, "f6"), "more are dropped");
    cr_assert_eq(gtable_refused(tab), 10000 - CAP);
    cr_assert_eq(apply("f1", NULL, 0), 1);
    cr_assert_not_null(gtable_get(tab, "f3"), "the first waiting one, in its turn");
    cr_assert_null(gtable_get(tab, "f4"));
}

/* The records of a topic in the order @p order (indexes into the fixed
 * set below), as a load might read them. */
static size_t load_in_order(const int *order, size_t n_order)
{
    int64_t now = clock_now_ms();
    size_t len[5];
    void *val[5];
    const char *ids[5] = {"s1", "s2", "s3", "s4", "s5"};
    for (int i = 0; i < 5; i++)
        val[i] = packed_at(ids[i], "db", "c", now, now + 3600000, &len[i]);
    /* s2 expired later (its tombstone), s4 written again last */
    gtable_record_t all[7] = {
        {"s1", 2, val[0], len[0], 1, 0, 0},  {"s2", 2, val[1], len[1], 2, 1, 0},
        {"s3", 2, val[2], len[2], 3, 2, 0},  {"s4", 2, val[3], len[3], 4, 0, 1},
        {"s5", 2, val[4], len[4], 5, 1, 1},  {"s2", 2, NULL, 0, 6, 1, 2},
        {"s4", 2, val[3], len[3], 10, 0, 2},
    };
    gtable_record_t recs[7];
    for (size_t i = 0; i < n_order; i++)
        recs[i] = all[order[i]];
    size_t applied = gtable_apply_topic(tab, recs, n_order);
    for (int i = 0; i < 5; i++)
        free(val[i]);
    return applied;
}

Test(silence_table, a_load_applies_the_latest_records_in_the_order_produced)
{
    static const int orders[3][7] = {
        {0, 1, 2, 3, 4, 5, 6}, {6, 5, 4, 3, 2, 1, 0}, {4, 6, 0, 5, 2, 3, 1}};
    for (int k = 0; k < 3; k++) {
        silences_destroy(tab);
        tab = silences_new("127.0.0.1:1", "incidents.silences", NULL, CAP);
        cr_assert_eq(load_in_order(orders[k], 7), 4, "s1, s3, s4 (its latest), s5");
        /* produced s1, s3, s5, then s4 again: the first three are in force */
        cr_expect_not_null(gtable_get(tab, "s1"), "order %d", k);
        cr_expect_not_null(gtable_get(tab, "s3"), "order %d", k);
        cr_expect_not_null(gtable_get(tab, "s5"), "order %d", k);
        cr_expect(gtable_waits(tab, "s4"), "order %d", k);
        cr_expect_null(gtable_get(tab, "s2"), "expired");
        cr_expect_not(gtable_waits(tab, "s2"));
    }
}
