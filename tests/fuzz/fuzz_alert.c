/*
 * fuzz_alert.c — libFuzzer target of the detected stage's input: any bytes
 * are decoded as incident.v1.Alert (as the runtime decodes a message of
 * incidents.detected), checked by hd_alert_validate() and, when valid,
 * applied by hd_detected_apply() three ways: to no incident, to the open
 * incident a previous valid alert (a fixed TRIGGER with the same dedup_key)
 * opened, and to the incident the fuzzed alert itself opened (redelivery,
 * merge into itself). Every transition must keep the contract of
 * hd_transition_t and pack. Seeds: corpus/fuzz_alert/ (gen_corpus.c).
 *
 * The alert is decoded with malloc, not an arena as the runtime does, so
 * that ASan sees the exact size of every decoded string and array.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_hd.h"
#include "handlers.h"
#include "pb_strings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The alert that opened the incident the fuzzed one meets. */
static void alert_previous(hd_alert_t *prev, const hd_alert_t *alert)
{
    static char *sites[] = {"site-a"};
    static char *clients[] = {"client-1", "client-2"};
    hd_alert_t init = INCIDENT__V1__ALERT__INIT;
    *prev = init;
    prev->alert_id = "fuzz-previous";
    prev->dedup_key = alert->dedup_key;
    prev->action = INCIDENT__V1__ACTION__ACTION_TRIGGER;
    prev->severity = INCIDENT__V1__SEVERITY__SEVERITY_MINOR;
    prev->source = "fuzz";
    prev->service = "db";
    prev->summary = "replica lag";
    prev->sites = sites;
    prev->n_sites = 1;
    prev->clients = clients;
    prev->n_clients = 2;
}

/* Applies @p alert to @p cur, checks the transition and returns its state. */
static const hd_state_t *alert_apply(const hd_ctx_t *ctx, const hd_state_t *cur,
                                     const hd_alert_t *alert, const char *new_id)
{
    hd_transition_t tr;
    hd_detected_apply(ctx, cur, alert, new_id, &tr);
    uint64_t base = cur && cur->incident ? cur->incident->version : 0;
    /* An incident that is no longer open counts as none: the alert opens a
     * new one from version 0. */
    if (cur && cur->incident && cur->incident->status != INCIDENT__V1__STATUS__STATUS_OPEN &&
        cur->incident->status != INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED)
        base = 0;
    const hd_state_t *st = fuzz_transition_check(&tr, base);
    if (alert->action == INCIDENT__V1__ACTION__ACTION_TRIGGER && new_id)
        FUZZ_CHECK(tr.verdict == HD_APPLY, "a valid TRIGGER was not applied: %s", tr.error);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hd_alert_t *alert =
        (hd_alert_t *)pb_strings_unpack(&incident__v1__alert__descriptor, NULL, size, data);
    if (!alert)
        return 0;
    char why[256];
    why[0] = '\0';
    if (hd_alert_validate(alert, why, sizeof(why)) != 0) {
        FUZZ_CHECK(why[0] != '\0', "an invalid alert without a reason");
        incident__v1__alert__free_unpacked(alert, NULL);
        return 0;
    }

    hd_rules_t rules;
    fuzz_rules_init(&rules);
    arena_t arena;
    arena_init(&arena, 0);
    hd_ctx_t ctx;
    fuzz_ctx_init(&ctx, &rules, &arena, "incidentd/detected", alert->alert_id);

    /* 1. No open incident of the dedup_key. */
    const hd_state_t *own = alert_apply(&ctx, NULL, alert, "INC-fuzz-1");

    /* 2. The open incident a previous valid alert opened. */
    hd_alert_t prev;
    alert_previous(&prev, alert);
    const hd_state_t *opened = alert_apply(&ctx, NULL, &prev, "INC-fuzz-0");
    FUZZ_CHECK(opened != NULL, "the previous alert opened nothing");
    const hd_state_t *after = alert_apply(&ctx, opened, alert, "INC-fuzz-2");

    /* 3. The fuzzed alert again, on what it did: redelivery of a trigger
     * merges into its own incident, a second acknowledge changes nothing. */
    if (own)
        alert_apply(&ctx, own, alert, "INC-fuzz-3");
    if (after)
        alert_apply(&ctx, after, alert, "INC-fuzz-4");

    arena_destroy(&arena);
    incident__v1__alert__free_unpacked(alert, NULL);
    return 0;
}
