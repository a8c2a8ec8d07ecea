/*
 * test_silence_table.c — the global table of silences (daemon/runtime/
 * silences.c) without a broker: what a record of incidents.silences does
 * to the table (a value adds or replaces, a tombstone removes, a tombstone
 * of an unknown silence and bad records are ignored).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "silences.h"

static silences_t *tab;

static void setup(void) { tab = silences_new("127.0.0.1:1", "incidents.silences", NULL); }

static void teardown(void) { silences_destroy(tab); }

TestSuite(silence_table, .init = setup, .fini = teardown);

/* Packs a silence @p id of service @p service; caller frees. */
static void *packed(const char *id, const char *service, const char *comment, size_t *len)
{
    Incident__V1__SilenceMatchers m = INCIDENT__V1__SILENCE_MATCHERS__INIT;
    m.service = (char *)service;
    Incident__V1__Silence s = INCIDENT__V1__SILENCE__INIT;
    s.id = (char *)id;
    s.matchers = &m;
    s.starts_at_ms = 1000;
    s.ends_at_ms = 2000;
    s.comment = (char *)comment;
    s.created_by = "alice";
    *len = incident__v1__silence__get_packed_size(&s);
    void *buf = malloc(*len);
    incident__v1__silence__pack(&s, buf);
    return buf;
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
