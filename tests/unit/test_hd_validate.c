/*
 * test_hd_validate.c — the contract's limits on alerts and stage events
 * (handlers/validate.c), each checked at its exact boundary.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "handlers.h"

static arena_t arena;

static void setup(void) { arena_init(&arena, 0); }
static void teardown(void) { arena_destroy(&arena); }

TestSuite(hd_validate, .init = setup, .fini = teardown);

/* A string of @p n copies of 'x'. */
static char *str_of(size_t n)
{
    char *s = arena_alloc(&arena, n + 1);
    memset(s, 'x', n);
    return s;
}

/* n distinct short names "<prefix>0", "<prefix>1", ... */
static char **names(const char *prefix, size_t n)
{
    char **v = arena_alloc(&arena, (n ? n : 1) * sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = arena_printf(&arena, "%s%zu", prefix, i);
    return v;
}

static hd_alert_t *alert_new(Incident__V1__Action action, Incident__V1__Severity sev)
{
    hd_alert_t *a = arena_alloc(&arena, sizeof(*a));
    hd_alert_t init = INCIDENT__V1__ALERT__INIT;
    *a = init;
    a->alert_id = "alert-1";
    a->dedup_key = "db-down";
    a->action = action;
    a->severity = sev;
    return a;
}

static hd_alert_t *trigger(void)
{
    return alert_new(INCIDENT__V1__ACTION__ACTION_TRIGGER, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR);
}

static void labels_set(hd_alert_t *a, size_t n, const char *key, const char *value)
{
    a->labels = arena_alloc(&arena, (n ? n : 1) * sizeof(*a->labels));
    a->n_labels = n;
    for (size_t i = 0; i < n; i++) {
        Incident__V1__Alert__LabelsEntry *e = arena_alloc(&arena, sizeof(*e));
        Incident__V1__Alert__LabelsEntry init = INCIDENT__V1__ALERT__LABELS_ENTRY__INIT;
        *e = init;
        e->key = key ? (char *)key : arena_printf(&arena, "k%zu", i);
        e->value = (char *)value;
        a->labels[i] = e;
    }
}

static int valid(const hd_alert_t *a, char *err, size_t err_size)
{
    err[0] = '\0';
    return hd_alert_validate(a, err, err_size);
}

#define ACCEPTS(a)                                                             \
    do {                                                                       \
        char err_[256];                                                        \
        cr_assert_eq(valid((a), err_, sizeof(err_)), 0, "rejected: %s", err_); \
    } while (0)

#define REJECTS(a, expect)                                                                  \
    do {                                                                                    \
        char err_[256];                                                                     \
        cr_assert_eq(valid((a), err_, sizeof(err_)), -1, "accepted");                       \
        cr_assert(strstr(err_, (expect)) != NULL, "error '%s' lacks '%s'", err_, (expect)); \
    } while (0)

Test(hd_validate, minimal_trigger_is_valid) { ACCEPTS(trigger()); }

Test(hd_validate, null_alert_rejected)
{
    char err[64];
    cr_assert_eq(hd_alert_validate(NULL, err, sizeof(err)), -1);
    cr_assert(strlen(err) > 0);
}

Test(hd_validate, null_err_buffer_still_gives_verdict)
{
    hd_alert_t *a = trigger();
    a->alert_id = "";
    cr_assert_eq(hd_alert_validate(a, NULL, 0), -1);
    cr_assert_eq(hd_alert_validate(trigger(), NULL, 0), 0);
}

Test(hd_validate, alert_id_bounds)
{
    hd_alert_t *a = trigger();
    a->alert_id = "";
    REJECTS(a, "alert_id");
    a->alert_id = str_of(1);
    ACCEPTS(a);
    a->alert_id = str_of(128);
    ACCEPTS(a);
    a->alert_id = str_of(129);
    REJECTS(a, "alert_id: 129 bytes, limit 128");
}

Test(hd_validate, dedup_key_bounds)
{
    hd_alert_t *a = trigger();
    a->dedup_key = "";
    REJECTS(a, "dedup_key");
    a->dedup_key = str_of(1);
    ACCEPTS(a);
    a->dedup_key = str_of(255);
    ACCEPTS(a);
    a->dedup_key = str_of(256);
    REJECTS(a, "dedup_key: 256 bytes, limit 255");
    a->dedup_key = str_of(300);
    REJECTS(a, "dedup_key: 300 bytes, limit 255");
}

Test(hd_validate, action_must_be_known)
{
    hd_alert_t *a = trigger();
    a->action = INCIDENT__V1__ACTION__ACTION_UNSPECIFIED;
    REJECTS(a, "action");
    a->action = (Incident__V1__Action)4;
    REJECTS(a, "action: unknown value 4");
    a->action = (Incident__V1__Action)-1;
    REJECTS(a, "action: unknown value -1");
    a->action = INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE;
    ACCEPTS(a);
    a->action = INCIDENT__V1__ACTION__ACTION_RESOLVE;
    ACCEPTS(a);
}

Test(hd_validate, severity_required_for_trigger_only)
{
    hd_alert_t *a = alert_new(INCIDENT__V1__ACTION__ACTION_TRIGGER,
                              INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED);
    REJECTS(a, "severity: required for TRIGGER");
    a->action = INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE;
    ACCEPTS(a);
    a->action = INCIDENT__V1__ACTION__ACTION_RESOLVE;
    ACCEPTS(a);
}

Test(hd_validate, severity_range)
{
    hd_alert_t *a = trigger();
    a->severity = INCIDENT__V1__SEVERITY__SEVERITY_INFO;
    ACCEPTS(a);
    a->severity = INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL;
    ACCEPTS(a);
    a->severity = (Incident__V1__Severity)6;
    REJECTS(a, "severity: unknown value 6");
    a->severity = (Incident__V1__Severity)-1;
    REJECTS(a, "severity: unknown value -1");
    /* out of range is rejected for acknowledge too */
    a->action = INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE;
    a->severity = (Incident__V1__Severity)9;
    REJECTS(a, "severity");
}

Test(hd_validate, short_strings_bounds)
{
    hd_alert_t *a = trigger();
    a->source = str_of(255);
    a->service = str_of(255);
    a->actor = str_of(255);
    ACCEPTS(a);
    a->source = str_of(256);
    REJECTS(a, "source: 256 bytes, limit 255");
    a->source = "";
    a->service = str_of(256);
    REJECTS(a, "service: 256 bytes, limit 255");
    a->service = "";
    a->actor = str_of(256);
    REJECTS(a, "actor: 256 bytes, limit 255");
}

Test(hd_validate, summary_bounds)
{
    hd_alert_t *a = trigger();
    a->summary = str_of(1024);
    ACCEPTS(a);
    a->summary = str_of(1025);
    REJECTS(a, "summary: 1025 bytes, limit 1024");
}

Test(hd_validate, sites_count_bounds)
{
    hd_alert_t *a = trigger();
    a->sites = names("site-", 64);
    a->n_sites = 64;
    ACCEPTS(a);
    a->sites = names("site-", 65);
    a->n_sites = 65;
    REJECTS(a, "sites: 65 entries, limit 64");
}

Test(hd_validate, site_entry_bounds)
{
    hd_alert_t *a = trigger();
    a->sites = names("site-", 3);
    a->n_sites = 3;
    a->sites[1] = "";
    REJECTS(a, "sites[1]");
    a->sites[1] = str_of(1);
    ACCEPTS(a);
    a->sites[1] = str_of(255);
    ACCEPTS(a);
    a->sites[1] = str_of(256);
    REJECTS(a, "sites[1]: 256 bytes, limit 255");
}

Test(hd_validate, clients_count_bounds)
{
    hd_alert_t *a = trigger();
    a->clients = names("client-", 1024);
    a->n_clients = 1024;
    ACCEPTS(a);
    a->clients = names("client-", 1025);
    a->n_clients = 1025;
    REJECTS(a, "clients: 1025 entries, limit 1024");
}

Test(hd_validate, client_entry_bounds)
{
    hd_alert_t *a = trigger();
    a->clients = names("client-", 2);
    a->n_clients = 2;
    a->clients[0] = "";
    REJECTS(a, "clients[0]");
    a->clients[0] = str_of(255);
    ACCEPTS(a);
    a->clients[0] = str_of(256);
    REJECTS(a, "clients[0]: 256 bytes, limit 255");
}

Test(hd_validate, labels_count_bounds)
{
    hd_alert_t *a = trigger();
    labels_set(a, 64, NULL, "v");
    ACCEPTS(a);
    labels_set(a, 65, NULL, "v");
    REJECTS(a, "labels: 65 entries, limit 64");
}

Test(hd_validate, label_key_bounds)
{
    hd_alert_t *a = trigger();
    labels_set(a, 1, "", "v");
    REJECTS(a, "labels[0].key");
    labels_set(a, 1, str_of(255), "v");
    ACCEPTS(a);
    labels_set(a, 1, str_of(256), "v");
    REJECTS(a, "labels[0].key: 256 bytes, limit 255");
}

Test(hd_validate, label_value_bounds)
{
    hd_alert_t *a = trigger();
    labels_set(a, 1, "k", "");
    ACCEPTS(a);
    labels_set(a, 1, "k", str_of(1024));
    ACCEPTS(a);
    labels_set(a, 1, "k", str_of(1025));
    REJECTS(a, "labels[0].value: 1025 bytes, limit 1024");
}

Test(hd_validate, error_is_truncated_safely)
{
    hd_alert_t *a = trigger();
    a->dedup_key = str_of(300);
    char err[8];
    memset(err, 'z', sizeof(err));
    cr_assert_eq(hd_alert_validate(a, err, sizeof(err)), -1);
    cr_assert_eq(err[sizeof(err) - 1], '\0');
}

/* ---- events --------------------------------------------------------------- */

static hd_event_t *event_new(const char *event_id, const char *incident_id)
{
    hd_event_t *ev = arena_alloc(&arena, sizeof(*ev));
    hd_event_t init = INCIDENT__V1__INCIDENT_EVENT__INIT;
    *ev = init;
    ev->event_id = (char *)event_id;
    if (incident_id) {
        hd_incident_t *inc = arena_alloc(&arena, sizeof(*inc));
        hd_incident_t iinit = INCIDENT__V1__INCIDENT__INIT;
        *inc = iinit;
        inc->id = (char *)incident_id;
        ev->incident = inc;
    }
    return ev;
}

Test(hd_validate, event_valid)
{
    char err[128];
    cr_assert_eq(hd_event_validate(event_new("INC-1:2", "INC-1"), err, sizeof(err)), 0);
}

Test(hd_validate, event_missing_parts_rejected)
{
    char err[128];
    cr_assert_eq(hd_event_validate(NULL, err, sizeof(err)), -1);
    cr_assert(strstr(err, "event") != NULL);
    cr_assert_eq(hd_event_validate(event_new("INC-1:2", NULL), err, sizeof(err)), -1);
    cr_assert(strstr(err, "incident") != NULL);
    cr_assert_eq(hd_event_validate(event_new("INC-1:2", ""), err, sizeof(err)), -1);
    cr_assert(strstr(err, "incident.id") != NULL);
    cr_assert_eq(hd_event_validate(event_new("", "INC-1"), err, sizeof(err)), -1);
    cr_assert(strstr(err, "event_id") != NULL);
}

/* ---- UTF-8 and NUL in every string -------------------------------------------------------- */

Test(hd_validate, invalid_utf8_in_every_alert_string_is_rejected_naming_it)
{
    static const char bad[] = "ok\xc0\xaf"; /* overlong '/' */
    hd_alert_t *a;
    a = trigger();
    a->alert_id = (char *)bad;
    REJECTS(a, "alert_id: not valid UTF-8 (overlong encoding at byte 2)");
    a = trigger();
    a->dedup_key = "\xed\xa0\x80";
    REJECTS(a, "dedup_key: not valid UTF-8 (UTF-16 surrogate");
    a = trigger();
    a->source = "\xf4\x90\x80\x80";
    REJECTS(a, "source: not valid UTF-8 (code point beyond U+10FFFF");
    a = trigger();
    a->service = "caf\xc3";
    REJECTS(a, "service: not valid UTF-8 (truncated sequence at byte 3)");
    a = trigger();
    a->summary = "\xff";
    REJECTS(a, "summary: not valid UTF-8 (invalid byte");
    a = trigger();
    a->actor = "\x80x";
    REJECTS(a, "actor: not valid UTF-8");
    a = trigger();
    a->sites = names("s", 3);
    a->n_sites = 3;
    a->sites[2] = (char *)bad;
    REJECTS(a, "sites[2]: not valid UTF-8");
    a = trigger();
    a->clients = names("c", 2);
    a->n_clients = 2;
    a->clients[0] = (char *)bad;
    REJECTS(a, "clients[0]: not valid UTF-8");
    a = trigger();
    labels_set(a, 2, NULL, "v");
    a->labels[1]->key = (char *)bad;
    REJECTS(a, "labels[1].key: not valid UTF-8");
    a = trigger();
    labels_set(a, 2, NULL, "v");
    a->labels[0]->value = (char *)bad;
    REJECTS(a, "labels[0].value: not valid UTF-8");
}

Test(hd_validate, kept_nul_is_rejected_as_a_nul)
{
    hd_alert_t *a = trigger();
    a->alert_id = "x\xc0\x80-1";
    REJECTS(a, "alert_id: contains a NUL byte (U+0000) at byte 1");
    a = trigger();
    labels_set(a, 1, "k\xc0\x80", "v");
    REJECTS(a, "labels[0].key: contains a NUL byte");
}

Test(hd_validate, valid_utf8_is_accepted)
{
    hd_alert_t *a = trigger();
    a->summary = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf";
    ACCEPTS(a);
}

Test(hd_validate, event_strings_must_be_utf8_without_nul)
{
    char err[256];
    hd_event_t *ev = event_new("INC-1:2", "INC-\xc0\x80");
    cr_assert_eq(hd_event_validate(ev, err, sizeof(err)), -1);
    cr_assert(strstr(err, "incident.id: contains a NUL byte"), "%s", err);
    ev = event_new("INC-1:\xff", "INC-1");
    cr_assert_eq(hd_event_validate(ev, err, sizeof(err)), -1);
    cr_assert(strstr(err, "event_id: not valid UTF-8"), "%s", err);
    ev = event_new("INC-1:2", "INC-1");
    ev->incident->summary = "\xed\xbf\xbf";
    cr_assert_eq(hd_event_validate(ev, err, sizeof(err)), -1);
    cr_assert(strstr(err, "incident.summary: not valid UTF-8"), "%s", err);
    ev = event_new("INC-1:2", "INC-1");
    ev->cause_alert_id = "a\xc0\x80";
    cr_assert_eq(hd_event_validate(ev, err, sizeof(err)), -1);
    cr_assert(strstr(err, "cause_alert_id: contains a NUL byte"), "%s", err);
}
