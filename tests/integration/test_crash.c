/*
 * test_crash.c — never lose, never duplicate: thousands of alerts go through
 * two incidentd processes that are killed with SIGKILL at random moments and
 * restarted, on the real Kafka broker (transactions, read_committed) and the
 * real Redis of the test bed. Afterwards every incident must be in its
 * expected final state, every ORMIS chain must verify with seq 1..n, no
 * output topic may hold a transition twice, and the dead-letter topic must
 * hold exactly the bad messages sent. One of the two processes commits a
 * batch while it applies the next one (batch.overlap_commit=on), the other
 * one after the other, so kills also land between a batch's Redis step and
 * the previous batch's commit.
 *
 * INCIDENTD_CRASH_INCIDENTS (default 1250, 4 alerts each) and
 * INCIDENTD_CRASH_SEED scale and replay a run.
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"
#include "incident/v1/incident.pb-c.h"

#define BAD_MESSAGES 25
#define N_PROCS 2

typedef struct crash {
    char prefix[128];
    char log[256];
    pid_t pids[N_PROCS];
    int kills;
} crash_t;

static pid_t crash_spawn(crash_t *c, int i)
{
    char inst[64];
    snprintf(inst, sizeof(inst), "instance_id=w%d", i);
    /* one process commits on a thread of its own while it applies the next
     * batch (worker_commit.c), the other one after the other */
    const char *overlap = i == 0 ? "batch.overlap_commit=on" : "batch.overlap_commit=off";
    const char *sets[] = {inst, "batch.ms=10", overlap, "log.level=info", NULL};
    return e2e_spawn_on(c->prefix, c->log, "all", 6, sets, NULL);
}

static void crash_kill_one(crash_t *c)
{
    int i = rand() % N_PROCS;
    kill(c->pids[i], SIGKILL);
    tu_stop(c->pids[i], SIGKILL, 10000);
    c->kills++;
    c->pids[i] = crash_spawn(c, i);
}

Test(crash, sigkill_storm_loses_and_duplicates_nothing, .timeout = 1200)
{
    int n_inc = tu_env_int("INCIDENTD_CRASH_INCIDENTS", 1250);
    unsigned seed = tu_seed("INCIDENTD_CRASH_SEED");
    crash_t c = {0};
    snprintf(c.prefix, sizeof(c.prefix), "%s.", tu_unique("crash"));
    snprintf(c.log, sizeof(c.log), "/tmp/%sincidentd.log", c.prefix);
    for (int i = 0; i < N_PROCS; i++)
        c.pids[i] = crash_spawn(&c, i);

    /* Publish round by round (all triggers, all merges, ...) at a steady
     * pace, killing a random worker every 1.5-3.5 s meanwhile. */
    int64_t t_start = tu_now_ms();
    int64_t next_kill = tu_now_ms() + 1500 + rand() % 2000;
    const int64_t publish_ms = 20000;
    int total = n_inc * E2E_FLOW_ALERTS, sent = 0, bad_sent = 0;
    char detected[256];
    snprintf(detected, sizeof(detected), "%sincidents.detected", c.prefix);
    for (int round = 0; round < E2E_FLOW_ALERTS; round++) {
        for (int i = 0; i < n_inc; i++) {
            e2e_flow_alert(c.prefix, i, round);
            sent++;
            if (sent % (total / BAD_MESSAGES) == 0 && bad_sent < BAD_MESSAGES) {
                cr_assert_eq(tu_produce_async(detected, "bad", "\x0a\xff\xff\xff\xff", 5), 0);
                bad_sent++;
            }
            /* pace */
            int64_t due = t_start + publish_ms * sent / total;
            while (tu_now_ms() < due) {
                if (tu_now_ms() >= next_kill) {
                    crash_kill_one(&c);
                    next_kill = tu_now_ms() + 1500 + rand() % 2000;
                }
                usleep(2000);
            }
        }
    }
    cr_assert_eq(tu_flush(30000), 0, "all alerts delivered to Kafka");
    while (c.kills < 5 || tu_now_ms() < t_start + publish_ms + 5000) {
        if (tu_now_ms() >= next_kill) {
            crash_kill_one(&c);
            next_kill = tu_now_ms() + 1500 + rand() % 2000;
        }
        usleep(10000);
    }

    /* Let the survivors finish: read the audit log until every incident is
     * closed (bounded), then until it is idle; check every incident. */
    e2e_flow_result_t res;
    e2e_flow_check(c.prefix, n_inc, 600000, &res);

    for (int i = 0; i < N_PROCS; i++)
        cr_expect_eq(tu_stop(c.pids[i], SIGTERM, 60000), 0, "clean exit after the storm");

    printf("crash test (seed %u): alerts sent %d (+%d bad), kills %d, incidents checked %d, "
           "audit records %zu, output events %zu, dead letters %d, lost %d, duplicated %zu, "
           "broken chains %d, wrong final state %d, extra incidents %d, replayed out of topic "
           "order %d\n",
           seed, sent, bad_sent, c.kills, n_inc, res.records, res.events, res.dlq, res.lost,
           (size_t)res.dup_records + res.dup_events, res.broken, res.wrong_state,
           res.extra_incidents, res.reordered);
    fflush(stdout);

    cr_expect_geq(c.kills, 5);
    e2e_flow_expect(&res);
    cr_expect_eq(res.dlq, bad_sent, "dead letters are exactly the bad messages");
}
