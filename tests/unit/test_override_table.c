/*
 * test_override_table.c — the global table of on-call overrides
 * (daemon/runtime/overrides.c over gtable.c) without a broker: a record
 * adds or replaces, a tombstone removes, a bad record or one whose id is
 * not its key is ignored, and the view for the rules is ordered so that
 * of two overrides that apply, the one that began later wins; the view a
 * worker keeps is built again after a change of the table, never
 * otherwise (the table's generation); past overrides.max_active a new
 * override in force is refused, and one that still arrives waits (the
 * view unchanged) until one in force is removed.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "overrides.h"

static gtable_t *tab;

static void setup(void) { tab = overrides_new("127.0.0.1:1", "incidents.overrides", NULL, 1000); }

static void teardown(void) { gtable_destroy(tab); }

TestSuite(override_table, .init = setup, .fini = teardown);

static int put(const char *key, const char *id, const char *person, int64_t from, int64_t until)
{
    hd_override_record_t o = INCIDENTD__V1__ROTATION_OVERRIDE__INIT;
    o.id = (char *)id;
    o.rotation = "tm";
    o.person = (char *)person;
    o.created_by = "tina";
    o.from_ms = from;
    o.until_ms = until;
    size_t len = incidentd__v1__rotation_override__get_packed_size(&o);
    void *buf = malloc(len);
    incidentd__v1__rotation_override__pack(&o, buf);
    int rc = gtable_apply(tab, key, strlen(key), buf, len);
    free(buf);
    return rc;
}

Test(override_table, records_tombstones_and_bad_records)
{
    size_t n;
    cr_assert_eq(put("o1", "o1", "carol", 1000, 5000), 1);
    cr_assert_eq(put("o1", "o1", "dave", 1000, 5000), 1, "same key: replaced");
    gtable_all(tab, &n);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(((const hd_override_record_t *)gtable_get(tab, "o1"))->person, "dave");
    cr_assert_eq(put("o2", "other", "erin", 1000, 5000), 0, "id is not its key: ignored");
    cr_assert_eq(put("o3", "o3", "", 1000, 5000), 0, "no person: ignored");
    cr_assert_eq(put("o4", "o4", "erin", 5000, 1000), 0, "ends before it starts: ignored");
    cr_assert_eq(gtable_apply(tab, "o9", 2, "\xff\xff", 2), 0, "does not decode: ignored");
    cr_assert_eq(gtable_apply(tab, "nope", 4, NULL, 0), 0, "tombstone of an unknown one");
    cr_assert_eq(gtable_apply(tab, "o1", 2, NULL, 0), 1, "tombstone");
    gtable_all(tab, &n);
    cr_assert_eq(n, 0);
    cr_assert_null(gtable_get(tab, "o1"));
}

Test(override_table, view_orders_by_start)
{
    cr_assert_eq(put("late", "late", "zoe", 3000, 9000), 1);
    cr_assert_eq(put("early", "early", "amy", 1000, 9000), 1);
    hd_override_t *v = NULL;
    size_t cap = 0;
    size_t n = overrides_view(tab, &v, &cap);
    cr_assert_eq(n, 2);
    cr_expect_str_eq(v[0].person, "amy");
    cr_expect_str_eq(v[1].person, "zoe");
    /* both apply at 4000: the later one wins */
    hd_rotation_t rot = {.name = "tm",
                         .members = (const char *const[]){"bob"},
                         .n_members = 1,
                         .every_ms = HD_MS_DAY,
                         .start_ms = 0};
    cr_expect_str_eq(hd_rotation_on_call(&rot, v, n, 4000, NULL), "zoe");
    cr_expect_str_eq(hd_rotation_on_call(&rot, v, n, 2000, NULL), "amy");
    free(v);
}

Test(override_table, kept_view_is_rebuilt_only_after_a_change)
{
    overrides_view_t view = {0};
    cr_assert_eq(overrides_view_update(tab, &view), 1, "the first update builds it");
    cr_assert_eq(view.n, 0);
    cr_assert_eq(overrides_view_update(tab, &view), 0, "unchanged: not built again");
    cr_assert_eq(put("o1", "o1", "carol", 1000, 9000), 1);
    cr_assert_eq(overrides_view_update(tab, &view), 1, "a new override: built again");
    cr_assert_eq(view.n, 1);
    cr_expect_str_eq(view.v[0].person, "carol");
    cr_assert_eq(overrides_view_update(tab, &view), 0);
    /* ignored records change nothing */
    cr_assert_eq(put("o2", "other", "erin", 1000, 5000), 0);
    cr_assert_eq(gtable_apply(tab, "nope", 4, NULL, 0), 0);
    cr_assert_eq(overrides_view_update(tab, &view), 0, "ignored records: not built again");
    /* a replacement and a tombstone do */
    cr_assert_eq(put("o1", "o1", "dave", 1000, 9000), 1);
    cr_assert_eq(overrides_view_update(tab, &view), 1);
    cr_expect_str_eq(view.v[0].person, "dave", "the view borrows the new record");
    cr_assert_eq(gtable_apply(tab, "o1", 2, NULL, 0), 1);
    cr_assert_eq(overrides_view_update(tab, &view), 1);
    cr_assert_eq(view.n, 0);
    cr_assert_eq(overrides_view_update(tab, &view), 0);
    overrides_view_free(&view);
    cr_assert_null(view.v);
}

Test(override_table, cap_refuses_past_max_active)
{
    gtable_destroy(tab);
    tab = overrides_new("127.0.0.1:1", "incidents.overrides", NULL, 1);
    int64_t now = clock_now_ms();
    char err[256] = "";
    overrides_view_t view = {0};
    cr_assert_eq(put("old", "old", "amy", now - 7200000, now - 3600000), 1, "ended: taken");
    cr_assert_eq(put("o1", "o1", "carol", now, now + 3600000), 1);
    cr_assert_eq(overrides_view_update(tab, &view), 1);
    cr_assert_eq(gtable_full(tab, "o2", err, sizeof(err)), 1);
    cr_expect(strstr(err, "overrides.max_active") && strstr(err, "1 overrides in force"), "%s",
              err);
    cr_assert_eq(gtable_full(tab, "o1", err, sizeof(err)), 0, "a replacement fits");
    cr_assert_eq(put("o2", "o2", "dave", now, now + 3600000), 0, "past the cap: waits");
    cr_assert(gtable_waits(tab, "o2"));
    cr_assert_eq(gtable_refused(tab), 1);
    cr_assert_eq(overrides_view_update(tab, &view), 0, "nothing changed");
    cr_assert_eq(gtable_apply(tab, "o1", 2, NULL, 0), 1);
    cr_assert_eq(overrides_view_update(tab, &view), 1);
    cr_assert_not_null(gtable_get(tab, "o2"), "the waiting one came into force");
    cr_assert_eq(view.n, 2, "old (ended, until the next follow) and o2");
    cr_expect_str_eq(view.v[1].person, "dave");
    cr_assert_eq(put("o3", "o3", "erin", now, now + 3600000), 0);
    cr_assert_eq(gtable_apply(tab, "o3", 2, NULL, 0), 0, "a waiting one expired");
    cr_assert_eq(overrides_view_update(tab, &view), 0);
    overrides_view_free(&view);
}
