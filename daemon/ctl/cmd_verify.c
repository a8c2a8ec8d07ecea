/*
 * cmd_verify.c — incidentctl verify [ID]: reads the ORMIS audit topic and
 * verifies the hash chain of every incident (or of one). Exit 1 when any
 * chain is broken. Owned by the ctl room.
 *
 * @locality incidentctl's main thread
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "ctl_audit.h"
#include "ctl_opts.h"
#include "ctl_out.h"
#include "ctl_text.h"

/* The totals over every chain. */
typedef struct ctl_verify_sum {
    uint64_t records, broken;
} ctl_verify_sum_t;

/* One text line per chain: "ok      ID  N records[: reason]". */
static void ctl_verify_line(const ctl_t *c, const ctl_chain_t *ch, int wid, int ok,
                            const ormis_verify_result_t *vr)
{
    ctl_cell(c, stdout, ok ? "ok" : "BROKEN", ok ? CTL_C_GREEN : CTL_C_BRED, 7);
    printf(" %-*s  %zu record%s", wid, ctl_text_safe(ch->id), ch->n, ch->n == 1 ? "" : "s");
    if (!ok)
        printf(": %s", ctl_text_safe(vr->reason));
    fputc('\n', stdout);
}

/* Verifies every chain of @p au, printing a line (or adding an object to
 * @p arr) for each. */
static ctl_verify_sum_t ctl_verify_chains(const ctl_t *c, const ctl_audit_t *au, cJSON *arr)
{
    ctl_verify_sum_t sum = {0, 0};
    int wid = 0;
    for (size_t i = 0; i < au->set.chains.n; i++) {
        int l = (int)strlen(au->set.chains.keys[i]); /* the raw id, as always */
        wid = l > wid ? l : wid;
    }
    for (size_t i = 0; i < au->set.chains.n; i++) {
        const ctl_chain_t *ch = au->set.chains.values[i];
        ormis_verify_result_t vr;
        int ok = audit_chain_verify(ch, &vr) == 0;
        sum.records += ch->n + (ch->bad[0] ? 1 : 0);
        sum.broken += !ok;
        if (!arr) {
            ctl_verify_line(c, ch, wid, ok, &vr);
            continue;
        }
        cJSON *o = audit_chain_json(&vr, ok);
        cJSON_AddStringToObject(o, "id", ch->id);
        cJSON_ReplaceItemInObject(o, "records", cJSON_CreateNumber((double)ch->n));
        cJSON_AddItemToArray(arr, o);
    }
    return sum;
}

static void ctl_verify_summary(const ctl_audit_t *au, cJSON *arr, ctl_verify_sum_t sum)
{
    size_t n = au->set.chains.n;
    if (!arr) {
        printf("%zu incident%s, %" PRIu64 " record%s, %" PRIu64 " broken\n", n, n == 1 ? "" : "s",
               sum.records, sum.records == 1 ? "" : "s", sum.broken);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "incidents", arr);
    cJSON_AddNumberToObject(o, "incident_count", (double)n);
    cJSON_AddNumberToObject(o, "record_count", (double)sum.records);
    cJSON_AddNumberToObject(o, "broken_count", (double)sum.broken);
    ctl_json_print(o);
}

/* Reads and verifies into @p au. Returns an exit code. */
static int ctl_verify_run(ctl_t *c, ctl_audit_t *au, const char *only)
{
    int rc = ctl_audit_read(c, au, 0);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (only && !strmap_get(&au->set.chains, only)) {
        ctl_err(c, "no audit records for incident %s", only);
        return CTL_EXIT_FAIL;
    }
    cJSON *arr = c->json ? cJSON_CreateArray() : NULL;
    ctl_verify_sum_t sum = ctl_verify_chains(c, au, arr);
    ctl_verify_summary(au, arr, sum);
    return sum.broken ? CTL_EXIT_FAIL : CTL_EXIT_OK;
}

static int ctl_verify_exec(ctl_t *c, int argc, char **argv)
{
    int rc = ctl_cmd_options(c, &ctl_cmd_verify_entry, NULL, &argc, &argv);
    if (rc != CTL_GO)
        return rc;
    const char *only = argc > 0 ? argv[0] : NULL;
    arena_t arena;
    arena_init(&arena, 0);
    ctl_audit_t au;
    ctl_audit_init(&au, c, &arena, only);
    rc = ctl_verify_run(c, &au, only);
    ctl_audit_destroy(&au);
    arena_destroy(&arena);
    return rc;
}

const struct ctl_cmd_entry ctl_cmd_verify_entry = {
    .name = "verify",
    .usage = "[ID]",
    .summary = "verify the ORMIS hash chains (all incidents, or one)",
    .opts = ctl_no_opts,
    .args_max = 1,
    .notes = "Reads ormis.audit up to its current end, groups the records per incident\n"
             "in topic order and verifies each chain (seq 1..n, prev_hash, hash).\n"
             "Exit 0 when every chain verifies, 1 when any is broken (or ID has none).\n",
    .exec = ctl_verify_exec,
};
