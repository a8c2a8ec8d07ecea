/*
 * test_hd_silence.c — silences and maintenance windows (handlers/silence.c)
 * and what the detected stage does with a silenced TRIGGER
 * (handlers/detected.c): validation naming the field, matching at the
 * boundaries of a silence, recurring windows at theirs, the silenced
 * disturbance, merges while silenced and the first trigger after the end.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "hd_fixture.h"
#include "rotation.h"
#include "silence.h"

#define MIN_MS 60000LL
#define HOUR_MS (60 * MIN_MS)

static void setup(void) { hdf_setup("incidentd/detected", "alert-9"); }

TestSuite(hd_silence, .init = setup, .fini = hdf_teardown);

/* ---- builders ------------------------------------------------------------------ */

static hd_matchers_t *matchers_new(const char *service, const char *site, const char *prefix)
{
    hd_matchers_t *m = arena_alloc(&hdf_arena, sizeof(*m));
    hd_matchers_t init = INCIDENT__V1__SILENCE_MATCHERS__INIT;
    *m = init;
    if (service)
        m->service = (char *)service;
    if (site)
        m->site = (char *)site;
    if (prefix)
        m->dedup_key_prefix = (char *)prefix;
    return m;
}

static void matchers_label(hd_matchers_t *m, const char *k, const char *v)
{
    Incident__V1__SilenceMatchers__LabelsEntry **l =
        arena_alloc(&hdf_arena, (m->n_labels + 1) * sizeof(*l));
    if (m->n_labels)
        memcpy(l, m->labels, m->n_labels * sizeof(*l));
    Incident__V1__SilenceMatchers__LabelsEntry *e = arena_alloc(&hdf_arena, sizeof(*e));
    Incident__V1__SilenceMatchers__LabelsEntry init =
        INCIDENT__V1__SILENCE_MATCHERS__LABELS_ENTRY__INIT;
    *e = init;
    e->key = (char *)k;
    e->value = (char *)v;
    l[m->n_labels++] = e;
    m->labels = l;
}

/* A silence "sil-1" of service "db" from HDF_NOW - 1 h to HDF_NOW + 1 h. */
static hd_silence_t *silence_new(void)
{
    hd_silence_t *s = arena_alloc(&hdf_arena, sizeof(*s));
    hd_silence_t init = INCIDENT__V1__SILENCE__INIT;
    *s = init;
    s->id = "sil-1";
    s->matchers = matchers_new("db", NULL, NULL);
    s->starts_at_ms = HDF_NOW - HOUR_MS;
    s->ends_at_ms = HDF_NOW + HOUR_MS;
    s->comment = "db upgrade";
    s->created_by = "alice";
    return s;
}

static hd_alert_t *trigger(Incident__V1__Severity sev)
{
    hd_alert_t *a = arena_alloc(&hdf_arena, sizeof(*a));
    hd_alert_t init = INCIDENT__V1__ALERT__INIT;
    *a = init;
    a->alert_id = "alert-9";
    a->dedup_key = "db-down";
    a->action = INCIDENT__V1__ACTION__ACTION_TRIGGER;
    a->severity = sev;
    a->service = "db";
    a->summary = "database down";
    a->sites = hdf_list(&a->n_sites, "par1", NULL);
    return a;
}

static const hd_silence_t *silences[4];

static void ctx_silences(const hd_silence_t *s)
{
    silences[0] = s;
    hdf_ctx.silences = silences;
    hdf_ctx.n_silences = 1;
}

static hd_transition_t run(const hd_state_t *cur, const hd_alert_t *alert)
{
    hd_transition_t out;
    memset(&out, 0x5a, sizeof(out));
    hd_detected_apply(&hdf_ctx, cur, alert, "INC-NEW", &out);
    return out;
}

static void check_invalid(const hd_silence_t *s, const char *field, const char *reason)
{
    char err[256] = "";
    const char *f = NULL;
    cr_assert_eq(hd_silence_validate(s, hdf_rules.silence_max_ms, &f, err, sizeof(err)), -1);
    cr_assert_str_eq(f, field);
    cr_assert(strncmp(err, field, strlen(field)) == 0, "%s", err);
    cr_assert(hdf_contains(err, reason), "%s", err);
}

/* ---- validation ------------------------------------------------------------------ */

Test(hd_silence, valid_silence_passes)
{
    char err[256] = "";
    cr_assert_eq(
        hd_silence_validate(silence_new(), hdf_rules.silence_max_ms, NULL, err, sizeof(err)), 0,
        "%s", err);
    cr_assert_eq(hdf_rules.silence_max_ms, 7 * 24 * HOUR_MS);
}

Test(hd_silence, refuses_without_end)
{
    hd_silence_t *s = silence_new();
    s->ends_at_ms = 0;
    check_invalid(s, "ends_at_ms", "required");
    s->ends_at_ms = s->starts_at_ms; /* an empty interval is no silence */
    check_invalid(s, "ends_at_ms", "after starts_at_ms");
}

Test(hd_silence, max_duration_is_inclusive)
{
    hd_silence_t *s = silence_new();
    char err[256];
    s->ends_at_ms = s->starts_at_ms + hdf_rules.silence_max_ms;
    cr_assert_eq(hd_silence_validate(s, hdf_rules.silence_max_ms, NULL, err, sizeof(err)), 0, "%s",
                 err);
    s->ends_at_ms++;
    check_invalid(s, "ends_at_ms", "over the maximum");
}

Test(hd_silence, refuses_without_comment_creator_or_matcher)
{
    hd_silence_t *s = silence_new();
    s->comment = "";
    check_invalid(s, "comment", "required");
    s = silence_new();
    s->created_by = "";
    check_invalid(s, "created_by", "required");
    s = silence_new();
    s->matchers = matchers_new(NULL, NULL, NULL);
    check_invalid(s, "matchers", "at least one");
    s->matchers = NULL;
    check_invalid(s, "matchers", "at least one");
    s = silence_new();
    s->id = "";
    check_invalid(s, "id", "required");
    s = silence_new();
    s->comment = "bad \xC0\x80 byte";
    check_invalid(s, "comment", "NUL");
}

/* ---- matching ----------------------------------------------------------------------- */

Test(hd_silence, in_force_from_start_inclusive_to_end_exclusive)
{
    hd_silence_t *s = silence_new();
    hd_alert_t *a = trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    cr_assert_not(hd_silence_matches(s, a, s->starts_at_ms - 1));
    cr_assert(hd_silence_matches(s, a, s->starts_at_ms));
    cr_assert(hd_silence_matches(s, a, s->ends_at_ms - 1));
    cr_assert_not(hd_silence_matches(s, a, s->ends_at_ms));
}

Test(hd_silence, every_matcher_given_must_match)
{
    hd_alert_t *a = trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    hdf_alert_label(a, "team", "dba");
    cr_assert(hd_matchers_match(matchers_new("db", "par1", "db-"), a));
    cr_assert_not(hd_matchers_match(matchers_new("web", "par1", "db-"), a));
    cr_assert_not(hd_matchers_match(matchers_new("db", "lon1", NULL), a));
    cr_assert_not(hd_matchers_match(matchers_new("db", NULL, "db-up"), a));
    cr_assert(hd_matchers_match(matchers_new(NULL, NULL, "db-down"), a)); /* whole key */
    hd_matchers_t *m = matchers_new(NULL, NULL, NULL);
    matchers_label(m, "team", "dba");
    cr_assert(hd_matchers_match(m, a));
    matchers_label(m, "env", "prod");
    cr_assert_not(hd_matchers_match(m, a)); /* every label */
    /* no matcher matches nothing */
    cr_assert_not(hd_matchers_match(matchers_new(NULL, NULL, NULL), a));
    /* an alert of every site is wider than one silenced site */
    a->sites = hdf_list(&a->n_sites, "*", NULL);
    cr_assert_not(hd_matchers_match(matchers_new(NULL, "par1", NULL), a));
}

/* ---- maintenance windows ------------------------------------------------------------ */

/* 2023-11-14 was a Tuesday; HDF_NOW is 22:13:20Z that day. */
Test(hd_silence, weekly_window_boundaries_in_its_offset)
{
    /* Tuesdays 23:00 for 2 h at +01:00 = 22:00Z..00:00Z */
    hd_maintenance_t w = {.name = "db",
                          .weekly = 1,
                          .weekday = 1,
                          .at_min = 23 * 60,
                          .for_ms = 2 * HOUR_MS,
                          .tz_min = 60};
    int64_t day = hd_days_from_civil(2023, 11, 14) * HD_MS_DAY;
    int64_t from = 0, until = 0;
    cr_assert_not(hd_maintenance_active(&w, day + 22 * HOUR_MS - 1, NULL, NULL));
    cr_assert(hd_maintenance_active(&w, day + 22 * HOUR_MS, &from, &until));
    cr_assert_eq(from, day + 22 * HOUR_MS);
    cr_assert_eq(until, day + 24 * HOUR_MS);
    cr_assert(hd_maintenance_active(&w, HDF_NOW, NULL, NULL));
    cr_assert(hd_maintenance_active(&w, day + 24 * HOUR_MS - 1, NULL, NULL));
    cr_assert_not(hd_maintenance_active(&w, day + 24 * HOUR_MS, NULL, NULL));
    /* a week later again, never on the other days */
    cr_assert(hd_maintenance_active(&w, day + 7 * HD_MS_DAY + 22 * HOUR_MS, NULL, NULL));
    cr_assert_not(hd_maintenance_active(&w, day + HD_MS_DAY + 22 * HOUR_MS, NULL, NULL));
}

Test(hd_silence, next_window_is_the_current_or_the_next_occurrence)
{
    /* Tuesdays 23:00 for 2 h at +01:00 = 22:00Z..00:00Z (as above) */
    hd_maintenance_t w = {.name = "db",
                          .weekly = 1,
                          .weekday = 1,
                          .at_min = 23 * 60,
                          .for_ms = 2 * HOUR_MS,
                          .tz_min = 60};
    int64_t day = hd_days_from_civil(2023, 11, 14) * HD_MS_DAY;
    int64_t from = 0, until = 0;
    /* before it: this week's */
    cr_assert_eq(hd_maintenance_next(&w, day + 22 * HOUR_MS - 1, &from, &until), 0);
    cr_assert_eq(from, day + 22 * HOUR_MS);
    cr_assert_eq(until, day + 24 * HOUR_MS);
    /* inside it: the same, until its last millisecond */
    cr_assert_eq(hd_maintenance_next(&w, day + 24 * HOUR_MS - 1, &from, &until), 0);
    cr_assert_eq(from, day + 22 * HOUR_MS);
    /* at its end: next week's */
    cr_assert_eq(hd_maintenance_next(&w, day + 24 * HOUR_MS, &from, &until), 0);
    cr_assert_eq(from, day + 7 * HD_MS_DAY + 22 * HOUR_MS);
    cr_assert_eq(until, day + 8 * HD_MS_DAY);
    /* a window without duration has no occurrence */
    w.for_ms = 0;
    cr_assert_eq(hd_maintenance_next(&w, day, &from, &until), -1);
}

Test(hd_silence, daily_window_across_midnight)
{
    /* daily 23:30 for 1 h at -05:00 = 04:30Z..05:30Z */
    hd_maintenance_t w = {
        .name = "nightly", .at_min = 23 * 60 + 30, .for_ms = HOUR_MS, .tz_min = -300};
    int64_t day = hd_days_from_civil(2023, 11, 15) * HD_MS_DAY;
    cr_assert_not(hd_maintenance_active(&w, day + 4 * HOUR_MS + 30 * MIN_MS - 1, NULL, NULL));
    cr_assert(hd_maintenance_active(&w, day + 4 * HOUR_MS + 30 * MIN_MS, NULL, NULL));
    cr_assert(hd_maintenance_active(&w, day + 5 * HOUR_MS + 29 * MIN_MS, NULL, NULL));
    cr_assert_not(hd_maintenance_active(&w, day + 5 * HOUR_MS + 30 * MIN_MS, NULL, NULL));
}

/* ---- the detected stage ------------------------------------------------------------- */

Test(hd_silence, matched_trigger_opens_silenced_disturbance)
{
    ctx_silences(silence_new());
    hd_transition_t out = run(NULL, trigger(INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL));
    hdf_check_records(&out, 1);
    cr_assert_eq(out.n_records, 2);
    cr_assert_str_eq(out.records[0]->action, "detected");
    cr_assert_str_eq(out.records[1]->action, "silenced");
    cr_assert(hdf_contains(out.records[1]->detail, "silenced by sil-1 (alice: \"db upgrade\")"),
              "%s", out.records[1]->detail);
    cr_assert(hdf_contains(out.records[1]->detail, "otherwise INCIDENT"), "%s",
              out.records[1]->detail);
    const hd_incident_t *inc = out.state->incident;
    cr_assert_eq(inc->kind, INCIDENT__V1__KIND__KIND_DISTURBANCE);
    cr_assert_str_eq(inc->silenced_by, "sil-1");
    cr_assert_eq(out.index_op, HD_INDEX_OPEN); /* its RESOLVE finds it */
    cr_assert_eq(out.n_outputs, 0);            /* never classified, scoped, escalated */
}

Test(hd_silence, judged_at_arrival_not_by_the_senders_clock)
{
    hd_silence_t *s = silence_new();
    ctx_silences(s);
    hd_alert_t *a = trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    a->occurred_at_ms = s->starts_at_ms - HOUR_MS; /* the sender's clock says before */
    hd_transition_t out = run(NULL, a);
    cr_assert_str_eq(out.records[1]->action, "silenced");
    /* arrival at the end: processed normally, whatever the sender says */
    hdf_ctx.now_ms = s->ends_at_ms;
    a->occurred_at_ms = s->ends_at_ms - MIN_MS;
    out = run(NULL, a);
    cr_assert_str_eq(out.records[1]->action, "classified");
    cr_assert_eq(out.state->incident->kind, INCIDENT__V1__KIND__KIND_INCIDENT);
    cr_assert(hdf_has_output(&out, HD_TOPIC_CLASSIFIED));
}

Test(hd_silence, maintenance_window_silences)
{
    hd_matchers_t *m = matchers_new(NULL, "par1", NULL);
    hd_maintenance_t w = {
        .name = "par1-nightly", .matchers = m, .at_min = 22 * 60, .for_ms = HOUR_MS, .tz_min = 0};
    hdf_rules.maintenance = &w;
    hdf_rules.n_maintenance = 1;
    hd_transition_t out = run(NULL, trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR));
    cr_assert_str_eq(out.records[1]->action, "silenced");
    cr_assert_str_eq(out.state->incident->silenced_by, "maintenance:par1-nightly");
    cr_assert(hdf_contains(out.records[1]->detail, "for another 2800 s"), "%s",
              out.records[1]->detail);
}

Test(hd_silence, merge_while_silenced_never_reclassifies)
{
    ctx_silences(silence_new());
    hd_transition_t first = run(NULL, trigger(INCIDENT__V1__SEVERITY__SEVERITY_MINOR));
    hd_state_t *st = first.state;
    for (int i = 0; i < 3; i++) { /* three triggers within the window */
        hdf_ctx.now_ms += MIN_MS;
        hd_transition_t out = run(st, trigger(INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL));
        cr_assert_eq(out.n_records, 1);
        cr_assert_str_eq(out.records[0]->action, "merged");
        cr_assert(hdf_contains(out.records[0]->detail, "silenced by sil-1"));
        cr_assert_eq(out.n_outputs, 0);
        st = out.state;
    }
    cr_assert_eq(st->incident->kind, INCIDENT__V1__KIND__KIND_DISTURBANCE);
    /* the silence over: the next trigger is processed normally */
    hdf_ctx.now_ms = silences[0]->ends_at_ms;
    hd_transition_t out = run(st, trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR));
    cr_assert_str_eq(out.records[1]->action, "reclassified");
    cr_assert(hdf_has_output(&out, HD_TOPIC_CLASSIFIED));
}

Test(hd_silence, resolve_resolves_silenced_disturbance)
{
    ctx_silences(silence_new());
    hd_transition_t first = run(NULL, trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR));
    hd_alert_t *r = trigger(INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED);
    r->action = INCIDENT__V1__ACTION__ACTION_RESOLVE;
    hd_transition_t out = run(first.state, r);
    cr_assert_eq(out.verdict, HD_APPLY);
    cr_assert_str_eq(out.records[0]->action, "resolved");
    cr_assert(hdf_has_output(&out, HD_TOPIC_RESOLVED));
    cr_assert_not(hdf_has_output(&out, HD_TOPIC_ESCALATED));
}

Test(hd_silence, unmatched_trigger_and_open_incident_are_not_silenced)
{
    hd_silence_t *s = silence_new();
    s->matchers = matchers_new("web", NULL, NULL);
    ctx_silences(s);
    hd_transition_t out = run(NULL, trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR));
    cr_assert_str_eq(out.records[1]->action, "classified");
    cr_assert_str_eq(out.state->incident->silenced_by, "");
    /* an incident open before the silence stays an incident */
    s->matchers = matchers_new("db", NULL, NULL);
    hd_transition_t merged = run(out.state, trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR));
    cr_assert_str_eq(merged.records[0]->action, "merged");
    cr_assert_eq(merged.state->incident->kind, INCIDENT__V1__KIND__KIND_INCIDENT);
}

/* ---- the reminder at the end of a silence -------------------------------------------- */

static const hd_contact_t alice_contact[] = {{"alice", 0, HD_CHANNEL_WEBHOOK}};

/* The SILENCE_END timer of @p st fired at @p now. */
static hd_transition_t fire_silence_end(const hd_state_t *st, int64_t now)
{
    hd_timer_t timer = INCIDENTD__V1__TIMER_FIRED__INIT;
    timer.incident_id = "INC-NEW";
    timer.kind = INCIDENTD__V1__TIMER_KIND__TIMER_KIND_SILENCE_END;
    timer.due_ms = now;
    hdf_ctx.now_ms = now;
    hdf_ctx.actor = "incidentd/escalated";
    hd_transition_t out;
    memset(&out, 0x5a, sizeof(out));
    hd_timer_apply(&hdf_ctx, st, &timer, &out);
    return out;
}

Test(hd_silence, silenced_trigger_arms_the_end_timer)
{
    hd_silence_t *s = silence_new();
    ctx_silences(s);
    cr_assert_eq((int)HD_TIMER_SILENCE_END, INCIDENTD__V1__TIMER_KIND__TIMER_KIND_SILENCE_END);
    cr_assert_str_eq(hd_timer_kind_name(HD_TIMER_SILENCE_END), "silence_end");
    hd_transition_t out = run(NULL, trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR));
    const hd_timer_effect_t *t = hdf_timer(&out, HD_TIMER_ARM, HD_TIMER_SILENCE_END);
    cr_assert_eq(t->due_ms, s->ends_at_ms);
    cr_assert_eq(t->level, 0);
    cr_assert_eq(out.state->silence_ends_at_ms, s->ends_at_ms);
    cr_assert_str_eq(out.state->silence_created_by, "alice");
    /* the audit says it, so that a rebuild arms it again */
    int64_t ends = 0;
    const char *by = NULL;
    size_t by_len = 0;
    cr_assert(hd_silence_reminder_of(out.records[1]->detail, &ends, &by, &by_len), "%s",
              out.records[1]->detail);
    cr_assert_eq(ends, s->ends_at_ms);
    cr_assert_eq(by_len, 5);
    cr_assert(strncmp(by, "alice", 5) == 0);
}

Test(hd_silence, retrigger_while_silenced_arms_no_second_timer)
{
    ctx_silences(silence_new());
    hd_transition_t first = run(NULL, trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR));
    hdf_ctx.now_ms += MIN_MS;
    hd_transition_t out = run(first.state, trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR));
    cr_assert_str_eq(out.records[0]->action, "merged");
    cr_assert_eq(out.n_timers, 0);
    cr_assert_eq(out.state->silence_ends_at_ms, silences[0]->ends_at_ms); /* kept */
}

Test(hd_silence, maintenance_window_arms_no_reminder)
{
    hd_maintenance_t w = {.name = "par1-nightly",
                          .matchers = matchers_new(NULL, "par1", NULL),
                          .at_min = 22 * 60,
                          .for_ms = HOUR_MS};
    hdf_rules.maintenance = &w;
    hdf_rules.n_maintenance = 1;
    hd_transition_t out = run(NULL, trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR));
    cr_assert_str_eq(out.records[1]->action, "silenced");
    cr_assert_eq(out.n_timers, 0);
    int64_t ends;
    const char *by;
    size_t by_len;
    cr_assert_not(hd_silence_reminder_of(out.records[1]->detail, &ends, &by, &by_len));
}

Test(hd_silence, still_firing_at_the_end_reminds_the_creator)
{
    hdf_rules.contacts = alice_contact;
    hdf_rules.n_contacts = 1;
    hd_silence_t *s = silence_new();
    ctx_silences(s);
    hd_transition_t first = run(NULL, trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR));
    hd_transition_t out = fire_silence_end(first.state, s->ends_at_ms);
    cr_assert_eq(out.verdict, HD_APPLY);
    cr_assert_eq(out.n_records, 2);
    cr_assert_eq(out.records[0]->seq, 3);
    cr_assert_str_eq(out.records[0]->actor, "incidentd/escalated");
    cr_assert_str_eq(out.records[0]->action, "note");
    cr_assert(hdf_contains(out.records[0]->detail, HD_SILENCE_REMINDED "silence sil-1 ended"), "%s",
              out.records[0]->detail);
    cr_assert(hdf_contains(out.records[0]->detail, "alice is reminded"), "%s",
              out.records[0]->detail);
    cr_assert_str_eq(out.records[1]->action, "notification_planned");
    cr_assert_eq(out.n_deliveries, 1);
    cr_assert_str_eq(out.deliveries[0].recipient, "alice");
    cr_assert_eq(out.deliveries[0].channel, HD_CHANNEL_WEBHOOK);
    cr_assert_eq(out.deliveries[0].notice, HD_NOTICE_SILENCE_REMINDER);
    cr_assert_eq(out.n_outputs, 0); /* still not escalated */
    cr_assert_str_eq(out.state->silence_created_by, "");
    /* a second firing (a redelivery, a rebuilt timer) reminds nobody again */
    hd_transition_t again = fire_silence_end(out.state, s->ends_at_ms + 1000);
    hdf_check_noop(&again);
}

Test(hd_silence, resolved_before_the_end_means_no_reminder)
{
    hdf_rules.contacts = alice_contact;
    hdf_rules.n_contacts = 1;
    hd_silence_t *s = silence_new();
    ctx_silences(s);
    hd_transition_t first = run(NULL, trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR));
    hd_alert_t *res = trigger(INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
    res->action = INCIDENT__V1__ACTION__ACTION_RESOLVE;
    hdf_ctx.now_ms += MIN_MS;
    hd_transition_t resolved = run(first.state, res);
    cr_assert_str_eq(resolved.records[0]->action, "resolved");
    hd_transition_t out = fire_silence_end(resolved.state, s->ends_at_ms);
    hdf_check_noop(&out);
    cr_assert_eq(out.n_deliveries, 0);
    /* and an incident whose state is gone (closed, expired) neither */
    out = fire_silence_end(NULL, s->ends_at_ms);
    hdf_check_noop(&out);
}

Test(hd_silence, reminder_read_back_from_the_silenced_record)
{
    int64_t ends = 0;
    const char *by = NULL;
    size_t len = 0;
    /* the comment and the creator may hold the marks: the last ones count */
    const char *d = "silenced by s (bob at home: \"; reminder to x at 5\") for another 1 h: a "
                    "DISTURBANCE, not escalated (otherwise INCIDENT: MAJOR); reminder to bob "
                    "at home at 1700000000000";
    cr_assert(hd_silence_reminder_of(d, &ends, &by, &len));
    cr_assert_eq(ends, 1700000000000LL);
    cr_assert_eq(len, strlen("bob at home"));
    cr_assert(strncmp(by, "bob at home", len) == 0);
    cr_assert_not(
        hd_silence_reminder_of("silenced by maintenance:x (configuration: ...)", &ends, &by, &len));
    cr_assert_not(hd_silence_reminder_of("...; reminder to bob at soon", &ends, &by, &len));
    cr_assert_not(hd_silence_reminder_of(NULL, &ends, &by, &len));
}
