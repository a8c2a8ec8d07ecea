/*
 * fuzz_hd.h — helpers shared by the fuzz targets of the handlers
 * (fuzz_alert.c, fuzz_event.c, fuzz_state.c) and by their regression test
 * (tests/unit/test_hd_fuzz_regressions.c): the rules they run under, the
 * contract every transition keeps, and the packing the runtime does with a
 * transition's state and records.
 *
 * Everything here is static (inline): each includer gets its own copy, and the
 * file is not a fuzz target (the glob in tests/fuzz/CMakeLists.txt takes
 * fuzz_*.c only).
 */
#ifndef INCIDENTD_FUZZ_HD_H
#define INCIDENTD_FUZZ_HD_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"

/* The handlers of the stages after detection share one signature. */
typedef void (*fuzz_stage_apply_fn)(const hd_ctx_t *ctx, const hd_state_t *cur,
                                    const hd_event_t *ev, hd_transition_t *out);

/* The decision time of every fuzzed transition (2023-11-14T22:13:20Z). */
#define FUZZ_NOW_MS 1700000000000LL

/* A failed check is a finding: report it and abort, which libFuzzer turns
 * into a crash artifact. */
#define FUZZ_CHECK(cond, ...)                                                              \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz check failed: %s (%s:%d): ", #cond, __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* Rules with every optional part filled, so each branch of the handlers
 * (roster, guidelines, stakeholders, critical services) can be reached. */
static const char *fuzz_critical_services[] = {"payments", "*"};
static const char *fuzz_global_stakeholders[] = {"cto", "status-page", ""};
static const char *fuzz_level1[] = {"duty-manager"};
static const char *fuzz_level2[] = {"head-of-ops", "cto"};
static const char *fuzz_level3[] = {"ceo"};
static const hd_roster_entry_t fuzz_roster[] = {
    {INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER, "*", "tm-oncall"},
    {INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER, "payments", "payments-csm"},
    {INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER, "", "csm-oncall"},
};
static const hd_guideline_t fuzz_guidelines[] = {
    {"*", "Follow the local incident runbook."},
    {"db", "Page the DBA; no failover without approval."},
};

static inline void fuzz_rules_init(hd_rules_t *r)
{
    hd_rules_default(r);
    r->critical_services = fuzz_critical_services;
    r->n_critical_services = sizeof(fuzz_critical_services) / sizeof(fuzz_critical_services[0]);
    r->global_stakeholders = fuzz_global_stakeholders;
    r->n_global_stakeholders =
        sizeof(fuzz_global_stakeholders) / sizeof(fuzz_global_stakeholders[0]);
    r->level_stakeholders[1] = fuzz_level1;
    r->n_level_stakeholders[1] = 1;
    r->level_stakeholders[2] = fuzz_level2;
    r->n_level_stakeholders[2] = 2;
    r->level_stakeholders[3] = fuzz_level3;
    r->n_level_stakeholders[3] = 1;
    r->roster = fuzz_roster;
    r->n_roster = sizeof(fuzz_roster) / sizeof(fuzz_roster[0]);
    r->guidelines = fuzz_guidelines;
    r->n_guidelines = sizeof(fuzz_guidelines) / sizeof(fuzz_guidelines[0]);
}

static inline void fuzz_ctx_init(hd_ctx_t *ctx, const hd_rules_t *r, arena_t *arena,
                                 const char *actor, const char *cause_id)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->rules = r;
    ctx->arena = arena;
    ctx->now_ms = FUZZ_NOW_MS;
    ctx->actor = actor;
    ctx->cause_id = cause_id;
}

/* Packs @p msg as the runtime does before writing it to Redis or Kafka and
 * decodes the bytes again: whatever a handler builds must survive that. */
static inline void fuzz_pack_roundtrip(const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(len ? len : 1);
    FUZZ_CHECK(buf != NULL, "out of memory");
    size_t written = protobuf_c_message_pack(msg, buf);
    FUZZ_CHECK(written == len, "packed %zu bytes, announced %zu", written, len);
    ProtobufCMessage *back = protobuf_c_message_unpack(msg->descriptor, NULL, len, buf);
    FUZZ_CHECK(back != NULL, "%s does not decode after packing", msg->descriptor->name);
    protobuf_c_message_free_unpacked(back, NULL);
    free(buf);
}

/*
 * Checks the contract of hd_transition_t (handlers.h) on @p tr, made from a
 * state whose version was @p base_version, and packs what the runtime
 * would write. Returns the new state or NULL.
 */
static inline const hd_state_t *fuzz_transition_check(const hd_transition_t *tr,
                                                      uint64_t base_version)
{
    FUZZ_CHECK(tr->verdict == HD_NOOP || tr->verdict == HD_APPLY || tr->verdict == HD_REJECT,
               "verdict %d", (int)tr->verdict);
    FUZZ_CHECK(tr->n_records <= HD_MAX_RECORDS, "%zu records", tr->n_records);
    FUZZ_CHECK(tr->n_outputs <= HD_MAX_OUTPUTS, "%zu outputs", tr->n_outputs);
    if (tr->verdict == HD_REJECT) {
        FUZZ_CHECK(tr->error[0] != '\0', "a rejection without a reason");
        FUZZ_CHECK(memchr(tr->error, '\0', sizeof(tr->error)) != NULL, "error not terminated");
        return NULL;
    }
    if (tr->verdict == HD_NOOP) {
        FUZZ_CHECK(tr->n_records == 0 && tr->state == NULL, "NOOP with %zu records", tr->n_records);
        return NULL;
    }
    if (tr->n_records > 0)
        FUZZ_CHECK(tr->state != NULL, "records without a state");
    if (tr->state) {
        FUZZ_CHECK(tr->state->incident != NULL, "a state without its incident");
        if (tr->n_records > 0)
            FUZZ_CHECK(tr->state->incident->version == base_version + tr->n_records,
                       "version %llu after %zu records from %llu",
                       (unsigned long long)tr->state->incident->version, tr->n_records,
                       (unsigned long long)base_version);
        fuzz_pack_roundtrip(&tr->state->base);
    }
    for (size_t i = 0; i < tr->n_records; i++) {
        const hd_record_t *rec = tr->records[i];
        FUZZ_CHECK(rec != NULL, "record %zu missing", i);
        FUZZ_CHECK(rec->seq == base_version + i + 1, "record %zu has seq %llu from %llu", i,
                   (unsigned long long)rec->seq, (unsigned long long)base_version);
        FUZZ_CHECK(rec->snapshot != NULL && rec->snapshot->version == rec->seq,
                   "record %zu: snapshot version differs from seq", i);
        fuzz_pack_roundtrip(&rec->base);
    }
    for (size_t i = 0; i < tr->n_outputs; i++) {
        FUZZ_CHECK(tr->outputs[i].snapshot != NULL, "output %zu without a snapshot", i);
        Incident__V1__IncidentEvent ev = INCIDENT__V1__INCIDENT_EVENT__INIT;
        ev.event_id = "fuzz:1";
        ev.incident = (hd_incident_t *)tr->outputs[i].snapshot;
        ev.at_ms = FUZZ_NOW_MS;
        fuzz_pack_roundtrip(&ev.base);
    }
    return tr->state;
}

#endif
