/*
 * test_silences.c — silences on the real test bed (Kafka + Redis) with the
 * real incidentd and incidentctl: a silence created with `incidentctl
 * silence add` is held by the detected worker across a restart of the
 * process (the compacted topic incidents.silences, read whole before the
 * worker consumes); a matching TRIGGER is documented as a silenced
 * DISTURBANCE (never scoped nor escalated) and its RESOLVE resolves it; a
 * trigger that does not match opens an incident; the silence ends on time
 * and the next trigger of the silenced key opens an incident.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"
#include "incident/v1/incident.pb-c.h"
#include "testutil.h"

#define ctl e2e_ctl_line

static void restart(e2e_t *p)
{
    e2e_stop(p);
    e2e_spawn(p, "all", NULL);
}

/* The processes of the test, stopped even when an assertion ends it early. */
static e2e_t procs;

static void stop_all(void)
{
    if (procs.n_pids)
        e2e_stop(&procs);
}

Test(silences, silence_suppresses_across_restart_and_expires_on_time, .fini = stop_all)
{
    e2e_start(&procs, NULL); /* creates the topics, incidents.silences compacted */
    const char *svc = tu_unique("svc");
    const char *key = tu_unique("silenced");

    /* refused: no end, no comment */
    cr_assert_eq(ctl(&procs, NULL, 0,
                     (const char *[]){"silence", "add", "--service", svc, "--comment", "x", NULL}),
                 2);
    cr_assert_eq(ctl(&procs, NULL, 0,
                     (const char *[]){"silence", "add", "--service", svc, "--ends", "1h", NULL}),
                 2);

    char id[256];
    int64_t created = tu_now_ms();
    cr_assert_eq(ctl(&procs, id, sizeof(id),
                     (const char *[]){"silence", "add", "--service", svc, "--ends", "45s",
                                      "--comment", "db upgrade", "--actor", "alice", NULL}),
                 0);
    cr_assert(id[0], "silence add prints the id");
    int64_t ends = created + 45000;
    char listed[512];
    cr_assert_eq(ctl(&procs, listed, sizeof(listed), (const char *[]){"silence", "list", NULL}), 0);

    /* a restart: the new detected worker loads the table before consuming */
    restart(&procs);
    tu_consumer_t *audit = e2e_audit_consumer(&procs);
    e2e_publish_service(&procs, key, svc, INCIDENT__V1__ACTION__ACTION_TRIGGER);
    e2e_trail_t t = {0};
    cr_assert(e2e_trail_wait(audit, &t, key, "silenced", E2E_WAIT_MS), "trigger silenced");
    const Incident__V1__AuditRecord *sil = e2e_trail_last(&t, "silenced");
    cr_expect(strstr(sil->detail, id) != NULL, "names the silence: %s", sil->detail);
    cr_expect_str_eq(sil->snapshot->silenced_by, id);
    cr_expect_eq(sil->snapshot->kind, INCIDENT__V1__KIND__KIND_DISTURBANCE);

    /* an alert of another service is not silenced */
    const char *other = tu_unique("other");
    e2e_publish_service(&procs, other, "not-silenced", INCIDENT__V1__ACTION__ACTION_TRIGGER);
    e2e_trail_t o = {0};
    cr_assert(e2e_trail_wait(audit, &o, other, "scoped", E2E_WAIT_MS), "other scoped");
    cr_expect_not(e2e_trail_has(&o, "silenced"));

    /* again across a restart: a second trigger merges, still silenced */
    restart(&procs);
    e2e_publish_service(&procs, key, svc, INCIDENT__V1__ACTION__ACTION_TRIGGER);
    cr_assert(e2e_trail_wait(audit, &t, key, "merged", E2E_WAIT_MS), "second trigger merged");
    cr_expect(strstr(e2e_trail_last(&t, "merged")->detail, id) != NULL);
    /* its RESOLVE resolves it (and the resolved stage closes a disturbance) */
    e2e_publish_service(&procs, key, svc, INCIDENT__V1__ACTION__ACTION_RESOLVE);
    cr_assert(e2e_trail_wait(audit, &t, key, "closed", E2E_WAIT_MS), "silenced disturbance closed");
    cr_expect_not(e2e_trail_has(&t, "scoped"));
    cr_expect_not(e2e_trail_has(&t, "escalated"));
    cr_expect_not(e2e_trail_has(&t, "reclassified"));
    cr_assert(tu_now_ms() < ends, "the test outran the silence: make it longer");

    /* on time: once the silence has ended the next trigger opens an incident */
    while (tu_now_ms() <= ends + 100)
        usleep(100 * 1000);
    e2e_publish_service(&procs, key, svc, INCIDENT__V1__ACTION__ACTION_TRIGGER);
    e2e_trail_t n = {0};
    const Incident__V1__AuditRecord *recs[64];
    cr_assert(e2e_trail_wait(audit, &n, key, "scoped", E2E_WAIT_MS), "a new incident scoped");
    const Incident__V1__AuditRecord *esc = e2e_trail_last(&n, "scoped");
    size_t k = e2e_trail_of(&n, esc->incident_id, recs);
    cr_expect_neq(strcmp(esc->incident_id, sil->incident_id), 0, "a new incident");
    cr_expect_eq(esc->snapshot->kind, INCIDENT__V1__KIND__KIND_INCIDENT);
    cr_expect_str_eq(esc->snapshot->silenced_by, "");
    for (size_t i = 0; i < k; i++)
        cr_expect_str_neq(recs[i]->action, "silenced");
    e2e_trail_verify(&t);
    e2e_trail_verify(&n);

    /* expire: the tombstone; the list no longer shows it */
    cr_assert_eq(ctl(&procs, NULL, 0, (const char *[]){"silence", "expire", id, NULL}), 0);
    cr_assert_eq(ctl(&procs, listed, sizeof(listed), (const char *[]){"silence", "list", NULL}), 0);
    cr_expect_str_eq(listed, "no silences");

    e2e_trail_free(&t);
    e2e_trail_free(&o);
    e2e_trail_free(&n);
    tu_consumer_destroy(audit);
    e2e_stop(&procs);
}
