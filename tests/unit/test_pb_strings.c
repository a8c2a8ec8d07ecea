/*
 * test_pb_strings.c — a NUL inside a protobuf string (handlers/pb_strings.c):
 * protobuf-c alone cuts "x\0-1" to "x"; pb_strings_unpack() keeps the NUL
 * as C0 80, so hd_alert_validate() / hd_event_validate() reject the input
 * naming the field, and the worker dead-letters it.
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "handlers.h"
#include "pb_strings.h"
#include "utf8.h"

static arena_t arena;
static void setup(void) { arena_init(&arena, 0); }
static void teardown(void) { arena_destroy(&arena); }
TestSuite(pb_strings, .init = setup, .fini = teardown);

/* Packs @p msg and turns every '#' of the encoding into a NUL. */
static uint8_t *pack_nul(const ProtobufCMessage *msg, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(*len);
    cr_assert_not_null(buf);
    protobuf_c_message_pack(msg, buf);
    int n = 0;
    for (size_t i = 0; i < *len; i++)
        if (buf[i] == '#') {
            buf[i] = 0;
            n++;
        }
    cr_assert(n > 0, "no '#' to turn into a NUL");
    return buf;
}

static Incident__V1__Alert alert_base(void)
{
    Incident__V1__Alert a = INCIDENT__V1__ALERT__INIT;
    a.alert_id = "a-1";
    a.dedup_key = "k";
    a.action = INCIDENT__V1__ACTION__ACTION_TRIGGER;
    a.severity = INCIDENT__V1__SEVERITY__SEVERITY_MAJOR;
    a.service = "checkout";
    a.summary = "errors";
    return a;
}

/* Decodes @p a (with its '#' as NUL) like the worker does and expects
 * hd_alert_validate() to refuse it with @p want in the reason. */
static void expect_refused(const Incident__V1__Alert *a, const char *want)
{
    size_t len;
    uint8_t *buf = pack_nul(&a->base, &len);
    Incident__V1__Alert *got = (Incident__V1__Alert *)pb_strings_unpack(
        &incident__v1__alert__descriptor, arena_pb(&arena), len, buf);
    free(buf);
    cr_assert_not_null(got, "decoding failed");
    char err[256] = "";
    cr_assert_eq(hd_alert_validate(got, err, sizeof(err)), -1, "NUL not seen (%s)", want);
    cr_assert(strstr(err, want), "'%s' not in: %s", want, err);
}

Test(pb_strings, nul_in_alert_id_is_kept_not_cut)
{
    Incident__V1__Alert a = alert_base();
    a.alert_id = "x#-1";
    size_t len;
    uint8_t *buf = pack_nul(&a.base, &len);
    Incident__V1__Alert *got = (Incident__V1__Alert *)pb_strings_unpack(
        &incident__v1__alert__descriptor, arena_pb(&arena), len, buf);
    free(buf);
    cr_assert_not_null(got);
    cr_assert_str_eq(got->alert_id, "x" UTF8_NUL_KEPT "-1", "the id was cut at the NUL");
    cr_assert_str_eq(got->dedup_key, "k");
    char err[256];
    cr_assert_eq(hd_alert_validate(got, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "alert_id: contains a NUL byte (U+0000) at byte 1");
}

Test(pb_strings, nul_in_every_alert_string_is_refused_naming_it)
{
    Incident__V1__Alert a;
    char *sites[] = {"paris", "ber#lin"};
    char *clients[] = {"#acme"};
    Incident__V1__Alert__LabelsEntry l0 = INCIDENT__V1__ALERT__LABELS_ENTRY__INIT;
    Incident__V1__Alert__LabelsEntry l1 = INCIDENT__V1__ALERT__LABELS_ENTRY__INIT;
    Incident__V1__Alert__LabelsEntry *labels[] = {&l0, &l1};
    l0.key = "team";
    l0.value = "core";

    a = alert_base();
    a.dedup_key = "key#";
    expect_refused(&a, "dedup_key: contains a NUL byte");
    a = alert_base();
    a.source = "prom#";
    expect_refused(&a, "source: contains a NUL byte");
    a = alert_base();
    a.service = "check#out";
    expect_refused(&a, "service: contains a NUL byte");
    a = alert_base();
    a.summary = "errors#\x1b[2J";
    expect_refused(&a, "summary: contains a NUL byte");
    a = alert_base();
    a.action = INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE;
    a.actor = "bo#b";
    expect_refused(&a, "actor: contains a NUL byte");
    a = alert_base();
    a.sites = sites;
    a.n_sites = 2;
    expect_refused(&a, "sites[1]: contains a NUL byte");
    a = alert_base();
    a.clients = clients;
    a.n_clients = 1;
    expect_refused(&a, "clients[0]: contains a NUL byte");
    a = alert_base();
    a.labels = labels;
    a.n_labels = 2;
    l1.key = "sco#pe";
    l1.value = "global";
    expect_refused(&a, "labels[1].key: contains a NUL byte");
    l1.key = "scope";
    l1.value = "glo#bal";
    expect_refused(&a, "labels[1].value: contains a NUL byte");
}

Test(pb_strings, repeated_entries_keep_their_place)
{
    Incident__V1__Alert a = alert_base();
    char *sites[] = {"paris", "ber#lin", "rome"};
    a.sites = sites;
    a.n_sites = 3;
    size_t len;
    uint8_t *buf = pack_nul(&a.base, &len);
    Incident__V1__Alert *got = (Incident__V1__Alert *)pb_strings_unpack(
        &incident__v1__alert__descriptor, NULL, len, buf); /* malloc'ed */
    free(buf);
    cr_assert_not_null(got);
    cr_assert_eq(got->n_sites, 3);
    cr_assert_str_eq(got->sites[0], "paris");
    cr_assert_str_eq(got->sites[1], "ber" UTF8_NUL_KEPT "lin");
    cr_assert_str_eq(got->sites[2], "rome");
    incident__v1__alert__free_unpacked(got, NULL);
}

Test(pb_strings, nul_in_an_event_is_refused_naming_the_field)
{
    Incident__V1__Incident inc = INCIDENT__V1__INCIDENT__INIT;
    inc.id = "INC-1";
    inc.summary = "checkout#errors";
    Incident__V1__IncidentEvent ev = INCIDENT__V1__INCIDENT_EVENT__INIT;
    ev.event_id = "INC-1:2";
    ev.incident = &inc;
    size_t len;
    uint8_t *buf = pack_nul(&ev.base, &len);
    Incident__V1__IncidentEvent *got = (Incident__V1__IncidentEvent *)pb_strings_unpack(
        &incident__v1__incident_event__descriptor, arena_pb(&arena), len, buf);
    free(buf);
    cr_assert_not_null(got);
    char err[256] = "";
    cr_assert_eq(hd_event_validate(got, err, sizeof(err)), -1);
    cr_assert(strstr(err, "incident.summary: contains a NUL byte"), "%s", err);

    inc.summary = "ok";
    inc.id = "INC-#1";
    buf = pack_nul(&ev.base, &len);
    got = (Incident__V1__IncidentEvent *)pb_strings_unpack(
        &incident__v1__incident_event__descriptor, arena_pb(&arena), len, buf);
    free(buf);
    cr_assert_not_null(got);
    cr_assert_eq(hd_event_validate(got, err, sizeof(err)), -1);
    cr_assert(strstr(err, "incident.id: contains a NUL byte"), "%s", err);

    inc.id = "INC-1";
    ev.event_id = "INC-1#:2";
    buf = pack_nul(&ev.base, &len);
    got = (Incident__V1__IncidentEvent *)pb_strings_unpack(
        &incident__v1__incident_event__descriptor, arena_pb(&arena), len, buf);
    free(buf);
    cr_assert_not_null(got);
    cr_assert_eq(hd_event_validate(got, err, sizeof(err)), -1);
    cr_assert(strstr(err, "event_id: contains a NUL byte"), "%s", err);
}

Test(pb_strings, input_without_nul_is_left_alone)
{
    Incident__V1__Alert a = alert_base();
    a.occurred_at_ms = 256; /* 0x80 0x02: no 0 byte */
    size_t len = incident__v1__alert__get_packed_size(&a);
    uint8_t buf[256];
    incident__v1__alert__pack(&a, buf);
    Incident__V1__Alert *got = (Incident__V1__Alert *)pb_strings_unpack(
        &incident__v1__alert__descriptor, arena_pb(&arena), len, buf);
    cr_assert_not_null(got);
    cr_assert_eq(pb_strings_keep_nul(&incident__v1__alert__descriptor, arena_pb(&arena), len, buf,
                                     &got->base),
                 0);
    cr_assert_str_eq(got->alert_id, "a-1");
    cr_assert_eq(hd_alert_validate(got, NULL, 0), 0);
}

Test(pb_strings, zero_bytes_outside_strings_are_not_nuls)
{
    /* A fixed or varint 0 and an unknown field with zeros are no string. */
    Incident__V1__Alert a = alert_base();
    size_t len = incident__v1__alert__get_packed_size(&a);
    uint8_t buf[300];
    incident__v1__alert__pack(&a, buf);
    static const uint8_t extra[] = {0x58, 0x00,                       /* occurred_at_ms = 0 */
                                    0xfa, 0x01, 0x03, 'a', 0x00, 'b', /* unknown field 31 */
                                    0xf9, 0x01, 0,    0,   0,    0,   0, 0, 0, 0};
    memcpy(buf + len, extra, sizeof(extra));
    len += sizeof(extra);
    Incident__V1__Alert *got = (Incident__V1__Alert *)pb_strings_unpack(
        &incident__v1__alert__descriptor, arena_pb(&arena), len, buf);
    cr_assert_not_null(got);
    cr_assert_str_eq(got->alert_id, "a-1");
    char err[256] = "";
    cr_assert_eq(hd_alert_validate(got, err, sizeof(err)), 0, "%s", err);
}

Test(pb_strings, a_merged_submessage_with_a_nul_is_refused)
{
    /* IncidentEvent.incident given twice, the second with a NUL in a repeated
     * string: its place after protobuf-c's merge cannot be told, so the
     * message is refused as undecodable rather than cut. */
    static const uint8_t ev[] = {0x0a, 0x01, 'e',                    /* event_id */
                                 0x12, 0x03, 0x0a, 0x01, 'i',        /* incident { id } */
                                 0x12, 0x04, 0x62, 0x02, 'p', 0x00}; /* incident { sites } */
    cr_assert_null(pb_strings_unpack(&incident__v1__incident_event__descriptor, arena_pb(&arena),
                                     sizeof(ev), ev));
}
