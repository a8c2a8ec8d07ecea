/*
 * ctl_audit.c — the audit topic read into chains (audit_read.c) with
 * incidentctl's progress bar and errors; see ctl_audit.h. Owned by the ctl room.
 *
 * @locality incidentctl's main thread (kafka_read_all() calls back on it)
 */
#include "ctl_audit.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int ctl_audit_on_msg(const rd_kafka_message_t *m, void *opaque)
{
    ctl_audit_t *au = opaque;
    return audit_chains_on_msg(m, &au->set);
}

static void ctl_audit_progress(uint64_t done, uint64_t total, void *opaque)
{
    ctl_audit_t *au = opaque;
    ctl_progress_draw(done, total, &au->progress);
}

void ctl_audit_init(ctl_audit_t *au, const ctl_t *c, arena_t *arena, const char *only)
{
    memset(au, 0, sizeof(*au));
    audit_chains_init(&au->set, arena, only);
    au->progress = ctl_progress_init(c, "reading ormis.audit");
}

void ctl_audit_destroy(ctl_audit_t *au) { audit_chains_destroy(&au->set); }

int ctl_audit_read(ctl_t *c, ctl_audit_t *au, int missing_ok)
{
    char topic[512], err[512];
    ctl_topic(c, "ormis.audit", topic, sizeof(topic));
    kafka_read_t r = ctl_read_init(c, topic, ctl_audit_on_msg, ctl_audit_progress, au);
    int krc = kafka_read_all(&r, err, sizeof(err));
    ctl_progress_end(&au->progress);
    if (krc == KAFKA_NOTOPIC && missing_ok)
        return CTL_EXIT_OK;
    if (krc != KAFKA_OK) {
        ctl_err(c, "%s", err);
        return CTL_EXIT_USAGE;
    }
    if (r.incomplete)
        ctl_warn_partial(c, topic, "a transaction still open, or interrupted");
    return CTL_EXIT_OK;
}
