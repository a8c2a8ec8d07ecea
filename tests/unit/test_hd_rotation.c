/*
 * test_hd_rotation.c — on-call rotations (handlers/rotation.c): who is on
 * call at the start, at the edges of a period, before the start; overrides
 * across midnight and across a DST change (absolute instants, rotation.h);
 * the parsers of instants and offsets; a roster entry "@<rotation>"
 * resolved at assignment (classified.c) and at every re-escalation
 * (hd_escalate()), audited with the rotation's name.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "hd_fixture.h"
#include "rotation.h"
#include "utf8.h"

#define H HD_MS_HOUR

static void setup(void) { hdf_setup("incidentd/escalated", "INC-1:5"); }

TestSuite(hd_rotation, .init = setup, .fini = hdf_teardown);

static const char *const members[] = {"alice", "bob", "carol"};

/* Daily hand-over at 09:00 +01:00 (08:00Z) from Monday 2026-03-23. */
static hd_rotation_t rotation(void)
{
    int64_t start;
    cr_assert_eq(hd_time_parse("2026-03-23T09:00+01:00", &start), 0);
    return (hd_rotation_t){.name = "dba",
                           .members = members,
                           .n_members = 3,
                           .every_ms = HD_MS_DAY,
                           .start_ms = start};
}

Test(hd_rotation, time_parse_and_offsets)
{
    int64_t t;
    cr_assert_eq(hd_time_parse("1970-01-01T00:00Z", &t), 0);
    cr_assert_eq(t, 0);
    cr_assert_eq(hd_time_parse("2023-11-14T22:13:20Z", &t), 0);
    cr_assert_eq(t, HDF_NOW);
    cr_assert_eq(hd_time_parse("2023-11-14 23:13:20+01:00", &t), 0);
    cr_assert_eq(t, HDF_NOW);
    cr_assert_eq(hd_time_parse("2024-02-29T00:00-0530", &t), 0);
    cr_assert_eq(hd_time_parse("2023-02-29T00:00Z", &t), -1); /* not a leap year */
    cr_assert_eq(hd_time_parse("2023-11-14T22:13", &t), -1);  /* no offset: refused */
    cr_assert_eq(hd_time_parse("2023-11-14T24:00Z", &t), -1);
    int32_t m;
    cr_assert_eq(hd_tz_parse("+05:30", &m), 0);
    cr_assert_eq(m, 330);
    cr_assert_eq(hd_tz_parse("-0800", &m), 0);
    cr_assert_eq(m, -480);
    cr_assert_eq(hd_tz_parse("UTC", &m), 0);
    cr_assert_eq(m, 0);
    cr_assert_eq(hd_tz_parse("Europe/Paris", &m), -1); /* names are refused: explicit offsets */
    cr_assert_eq(hd_tz_parse("+15:00", &m), -1);
    cr_assert_eq(hd_clock_parse("23:59", &m), 0);
    cr_assert_eq(m, 1439);
    cr_assert_eq(hd_clock_parse("24:00", &m), -1);
    cr_assert_eq(hd_floor_div(-1, 7), -1);
    cr_assert_eq(hd_floor_div(-7, 7), -1);
    cr_assert_eq(hd_floor_div(6, 7), 0);
}

Test(hd_rotation, period_edges)
{
    hd_rotation_t r = rotation();
    cr_assert_str_eq(hd_rotation_scheduled(&r, r.start_ms - 1), "alice"); /* not started */
    cr_assert_str_eq(hd_rotation_scheduled(&r, r.start_ms), "alice");
    cr_assert_str_eq(hd_rotation_scheduled(&r, r.start_ms + HD_MS_DAY - 1), "alice");
    cr_assert_str_eq(hd_rotation_scheduled(&r, r.start_ms + HD_MS_DAY), "bob");
    cr_assert_str_eq(hd_rotation_scheduled(&r, r.start_ms + 3 * HD_MS_DAY - 1), "carol");
    cr_assert_str_eq(hd_rotation_scheduled(&r, r.start_ms + 3 * HD_MS_DAY), "alice"); /* wraps */
    hd_rotation_t none = r;
    none.n_members = 0;
    cr_assert_null(hd_rotation_scheduled(&none, r.start_ms));
}

Test(hd_rotation, hand_over_across_dst_stays_at_the_same_utc_instant)
{
    /* Europe changes to summer time on 2026-03-29 at 01:00Z; the rotation
     * counts absolute time, so it still hands over at 08:00Z (10:00 CEST). */
    hd_rotation_t r = rotation();
    int64_t t;
    cr_assert_eq(hd_time_parse("2026-03-29T07:59:59Z", &t), 0);
    const char *before = hd_rotation_scheduled(&r, t);
    cr_assert_eq(hd_time_parse("2026-03-29T08:00Z", &t), 0);
    const char *after = hd_rotation_scheduled(&r, t);
    cr_assert_str_eq(before, "carol"); /* 6 days after the start */
    cr_assert_str_eq(after, "alice");
    cr_assert_eq(hd_time_parse("2026-03-29T10:00+02:00", &t), 0);
    cr_assert_str_eq(hd_rotation_scheduled(&r, t), "alice");
}

Test(hd_rotation, override_across_midnight_and_dst)
{
    hd_rotation_t r = rotation();
    hd_override_t o[2] = {{.rotation = "dba", .person = "dave", .covers = "carol"},
                          {.rotation = "other", .person = "eve"}};
    /* 2026-03-28 22:00 +01:00 to 2026-03-29 03:00 +02:00: 4 hours, over
     * midnight and the DST change */
    cr_assert_eq(hd_time_parse("2026-03-28T22:00+01:00", &o[0].from_ms), 0);
    cr_assert_eq(hd_time_parse("2026-03-29T03:00+02:00", &o[0].until_ms), 0);
    cr_assert_eq(o[0].until_ms - o[0].from_ms, 4 * H);
    o[1].from_ms = o[0].from_ms;
    o[1].until_ms = o[0].until_ms;
    const char *why;
    cr_assert_str_eq(hd_rotation_on_call(&r, o, 2, o[0].from_ms - 1, &why), "carol");
    cr_assert_str_eq(why, "scheduled");
    cr_assert_str_eq(hd_rotation_on_call(&r, o, 2, o[0].from_ms, &why), "dave");
    cr_assert_str_eq(why, "override");
    int64_t midnight;
    cr_assert_eq(hd_time_parse("2026-03-29T00:00+01:00", &midnight), 0);
    cr_assert_str_eq(hd_rotation_on_call(&r, o, 2, midnight, NULL), "dave");
    cr_assert_str_eq(hd_rotation_on_call(&r, o, 2, o[0].until_ms - 1, NULL), "dave");
    cr_assert_str_eq(hd_rotation_on_call(&r, o, 2, o[0].until_ms, NULL), "carol");
    /* an override for someone else does not apply to carol's shift */
    o[0].covers = "bob";
    cr_assert_str_eq(hd_rotation_on_call(&r, o, 2, midnight, NULL), "carol");
    /* one that covers everyone does; the last that applies wins */
    o[0].covers = "";
    o[1].rotation = "dba";
    cr_assert_str_eq(hd_rotation_on_call(&r, o, 2, midnight, NULL), "eve");
}

Test(hd_rotation, roster_entry_names_rotation)
{
    hd_rotation_t r = rotation();
    hdf_rules.rotations = &r;
    hdf_rules.n_rotations = 1;
    const char *rot;
    cr_assert_str_eq(hd_owner_resolve(&hdf_rules, "@dba", r.start_ms + HD_MS_DAY, &rot), "bob");
    cr_assert_str_eq(rot, "dba");
    cr_assert_str_eq(hd_owner_resolve(&hdf_rules, "frank", r.start_ms, &rot), "frank");
    cr_assert_null(rot);
    cr_assert_str_eq(hd_owner_resolve(&hdf_rules, "@nope", r.start_ms, &rot), "");
}

static hd_state_t *escalated_at(uint32_t level, const char *owner)
{
    hd_state_t *st =
        hdf_state_new(INCIDENT__V1__STAGE__STAGE_ESCALATED, INCIDENT__V1__SCOPE__SCOPE_GLOBAL);
    st->incident->escalation_level = level;
    st->incident->owner_role = INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER;
    st->incident->owner = (char *)owner;
    return st;
}

static hd_transition_t fire(const hd_state_t *cur, uint32_t level)
{
    hd_timer_t *t = arena_alloc(&hdf_arena, sizeof(*t));
    hd_timer_t init = INCIDENTD__V1__TIMER_FIRED__INIT;
    *t = init;
    t->incident_id = "INC-1";
    t->level = level;
    t->due_ms = hdf_ctx.now_ms;
    hd_transition_t out;
    memset(&out, 0x5a, sizeof(out));
    hd_timer_apply(&hdf_ctx, cur, t, &out);
    return out;
}

Test(hd_rotation, assignment_and_reescalation_resolve_the_person_on_call)
{
    hd_rotation_t r = {.name = "tm",
                       .members = members,
                       .n_members = 3,
                       .every_ms = H,
                       .start_ms = HDF_NOW - 30 * 60000};
    hdf_rules.rotations = &r;
    hdf_rules.n_rotations = 1;
    hd_roster_entry_t roster[] = {{INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER, "*", "@tm"}};
    hdf_rules.roster = roster;
    hdf_rules.n_roster = 1;

    /* assignment: alice is on call now */
    hd_state_t *cls = hdf_state_new(INCIDENT__V1__STAGE__STAGE_CLASSIFIED,
                                    INCIDENT__V1__SCOPE__SCOPE_UNSPECIFIED);
    cls->incident->sites = hdf_list(&cls->incident->n_sites, "*", NULL);
    hd_transition_t out;
    hdf_ctx.actor = "incidentd/classified";
    hd_classified_apply(&hdf_ctx, cls, hdf_event_of(cls, HDF_NOW), &out);
    size_t k = hdf_action_index(&out, "assigned");
    cr_assert_str_eq(out.state->incident->owner, "alice");
    cr_assert(hdf_contains(out.records[k]->detail, "alice (on call in rotation tm)"), "%s",
              out.records[k]->detail);

    /* the same incident re-escalated before the period boundary: alice */
    hdf_ctx.actor = "incidentd/escalated";
    hdf_ctx.now_ms = r.start_ms + H - 1;
    out = fire(escalated_at(1, "alice"), 1);
    cr_assert_str_eq(out.state->incident->owner, "alice");
    cr_assert(hdf_contains(out.records[0]->detail, "; owner alice (on call in rotation tm)"), "%s",
              out.records[0]->detail);
    /* ... and after it: handed to bob, audited with the rotation */
    hdf_ctx.now_ms = r.start_ms + H;
    out = fire(escalated_at(1, "alice"), 1);
    cr_assert_str_eq(out.records[0]->action, "escalated");
    cr_assert_str_eq(out.state->incident->owner, "bob");
    cr_assert(hdf_contains(out.records[0]->detail, "; owner alice -> bob (on call in rotation tm)"),
              "%s", out.records[0]->detail);
    /* the re-escalation notice goes to the new owner */
    cr_assert(hdf_contains(out.records[1]->detail, "bob"), "%s", out.records[1]->detail);
}

/* ---- override records (incidents.overrides) ---------------------------------------- */

static hd_override_record_t record(void)
{
    hd_override_record_t o = INCIDENTD__V1__ROTATION_OVERRIDE__INIT;
    o.id = "ovr-1";
    o.rotation = "dba";
    o.person = "dave";
    o.created_by = "tina";
    o.from_ms = 1000;
    o.until_ms = 1000 + H;
    return o;
}

static void refused(hd_override_record_t o, const char *field, const char *why)
{
    char err[256];
    const char *f = NULL;
    cr_assert_eq(hd_override_validate(&o, &f, err, sizeof(err)), -1, "%s accepted", field);
    cr_expect_str_eq(f, field);
    cr_expect(strstr(err, why) != NULL, "%s: got '%s'", why, err);
}

Test(hd_rotation, override_records_checked_at_their_bounds)
{
    char err[256];
    hd_override_record_t o = record();
    cr_assert_eq(hd_override_validate(&o, NULL, err, sizeof(err)), 0, "%s", err);
    o.until_ms = o.from_ms + HD_OVERRIDE_MAX_MS; /* exactly 90 days */
    cr_assert_eq(hd_override_validate(&o, NULL, err, sizeof(err)), 0, "%s", err);
    o.until_ms++;
    refused(o, "until_ms", "at most 90 days");
    o = record();
    o.until_ms = o.from_ms;
    refused(o, "until_ms", "after from_ms");
    o = record();
    o.from_ms = 0;
    refused(o, "from_ms", "required");
    o = record();
    o.person = "";
    refused(o, "person", "required");
    o = record();
    o.rotation = "";
    refused(o, "rotation", "required");
    o = record();
    o.created_by = "";
    refused(o, "created_by", "required");
    o = record();
    o.covers = "b" UTF8_NUL_KEPT "b"; /* a NUL kept visible by the decoder */
    refused(o, "covers", "NUL");
    o = record();
    o.comment = "\xff";
    refused(o, "comment", "comment");
}

Test(hd_rotation, override_record_as_the_arithmetic_takes_it)
{
    hd_rotation_t rot = rotation();
    hd_override_record_t rec = record();
    rec.from_ms = rot.start_ms + 2 * H;
    rec.until_ms = rot.start_ms + 4 * H;
    rec.covers = "alice";
    hd_override_t o = hd_override_of(&rec);
    const char *why = NULL;
    cr_expect_str_eq(hd_rotation_on_call(&rot, &o, 1, rot.start_ms + 2 * H, &why), "dave");
    cr_expect_str_eq(why, "override");
    cr_expect_str_eq(hd_rotation_on_call(&rot, &o, 1, rot.start_ms + 4 * H, &why), "alice");
    cr_expect_str_eq(why, "scheduled");
    /* it covers alice only: on bob's day it does nothing */
    cr_expect_str_eq(hd_rotation_on_call(&rot, &o, 1, rot.start_ms + HD_MS_DAY + 3 * H, NULL),
                     "bob");
}
