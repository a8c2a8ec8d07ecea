/*
 * gen_corpus.c — writes the seed corpora of the protobuf fuzz targets:
 * corpus/fuzz_alert/ (incident.v1.Alert), corpus/fuzz_event/
 * (incident.v1.IncidentEvent) and corpus/fuzz_state/
 * (incidentd.v1.StoredIncident), a handful of valid messages each that
 * reach the main branches of the handlers. Not a fuzz target (the glob
 * takes fuzz_*.c only); built as gen_corpus in the fuzz build:
 *
 *   build-fuzz/fuzz/gen_corpus tests/fuzz/corpus
 *
 * The committed seeds are its output; rerun it after changing the proto.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "handlers.h"

static const char *root;

static void seed_write(const char *target, const char *name, const ProtobufCMessage *msg)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", root, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s/%s.pb", root, target, name);
    size_t len = protobuf_c_message_get_packed_size(msg);
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf)
        abort();
    protobuf_c_message_pack(msg, buf);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    free(buf);
    printf("%s (%zu bytes)\n", path, len);
}

/* ---- alerts ---------------------------------------------------------------------------- */

static char *sites_one[] = {"site-a"};
static char *sites_all[] = {"*"};
static char *sites_three[] = {"site-a", "site-b", "site-c"};
static char *clients_two[] = {"client-1", "client-2"};

static void alerts(void)
{
    Incident__V1__Alert__LabelsEntry team = INCIDENT__V1__ALERT__LABELS_ENTRY__INIT;
    team.key = "team";
    team.value = "dba";
    Incident__V1__Alert__LabelsEntry scope = INCIDENT__V1__ALERT__LABELS_ENTRY__INIT;
    scope.key = "scope";
    scope.value = "global";
    Incident__V1__Alert__LabelsEntry *labels[] = {&team, &scope};

    Incident__V1__Alert a = INCIDENT__V1__ALERT__INIT;
    a.alert_id = "am-7f3a9c";
    a.dedup_key = "db-primary-down";
    a.action = INCIDENT__V1__ACTION__ACTION_TRIGGER;
    a.severity = INCIDENT__V1__SEVERITY__SEVERITY_MAJOR;
    a.source = "alertmanager";
    a.service = "db";
    a.summary = "primary database unreachable";
    a.sites = sites_one;
    a.n_sites = 1;
    a.labels = labels;
    a.n_labels = 1;
    a.occurred_at_ms = 1700000000000LL;
    seed_write("fuzz_alert", "trigger_major", &a.base);

    a.alert_id = "am-minor-1";
    a.severity = INCIDENT__V1__SEVERITY__SEVERITY_MINOR;
    a.service = "search";
    a.sites = NULL;
    a.n_sites = 0;
    a.clients = clients_two;
    a.n_clients = 2;
    a.n_labels = 0;
    seed_write("fuzz_alert", "trigger_minor_clients", &a.base);

    a.alert_id = "am-warn-1";
    a.severity = INCIDENT__V1__SEVERITY__SEVERITY_WARNING;
    a.clients = NULL;
    a.n_clients = 0;
    seed_write("fuzz_alert", "trigger_warning_disturbance", &a.base);

    a.alert_id = "am-crit-1";
    a.severity = INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL;
    a.service = "payments";
    a.sites = sites_three;
    a.n_sites = 3;
    a.labels = labels;
    a.n_labels = 2;
    seed_write("fuzz_alert", "trigger_critical_global", &a.base);

    a.alert_id = "am-all-sites";
    a.sites = sites_all;
    a.n_sites = 1;
    a.n_labels = 0;
    seed_write("fuzz_alert", "trigger_all_sites", &a.base);

    Incident__V1__Alert ack = INCIDENT__V1__ALERT__INIT;
    ack.alert_id = "ack-1";
    ack.dedup_key = "db-primary-down";
    ack.action = INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE;
    ack.actor = "alice";
    seed_write("fuzz_alert", "acknowledge", &ack.base);

    ack.alert_id = "resolve-1";
    ack.action = INCIDENT__V1__ACTION__ACTION_RESOLVE;
    ack.actor = "";
    ack.summary = "fixed by failover";
    seed_write("fuzz_alert", "resolve", &ack.base);
}

/* ---- incidents, events, states ------------------------------------------------------------ */

static char *stakeholders[] = {"cto", "status-page"};

/* An open MAJOR incident of service db at @p stage with @p scope. */
static Incident__V1__Incident incident(Incident__V1__Stage stage, Incident__V1__Scope scope)
{
    Incident__V1__Incident inc = INCIDENT__V1__INCIDENT__INIT;
    inc.id = "INC-0a1b2c3d4e5f6071";
    inc.dedup_key = "db-primary-down";
    inc.stage = stage;
    inc.status = INCIDENT__V1__STATUS__STATUS_OPEN;
    inc.kind = INCIDENT__V1__KIND__KIND_INCIDENT;
    inc.scope = scope;
    inc.severity = INCIDENT__V1__SEVERITY__SEVERITY_MAJOR;
    inc.service = "db";
    inc.summary = "primary database unreachable";
    inc.sites = sites_one;
    inc.n_sites = 1;
    inc.alert_count = 1;
    inc.version = 2;
    inc.detected_at_ms = 1700000000000LL;
    if (scope != INCIDENT__V1__SCOPE__SCOPE_UNSPECIFIED) {
        inc.owner_role = scope == INCIDENT__V1__SCOPE__SCOPE_GLOBAL
                             ? INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER
                             : INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER;
        inc.owner = "oncall";
        inc.version = 4;
    }
    return inc;
}

static void events_and_states(void)
{
    static const struct {
        const char *name;
        Incident__V1__Stage stage;
        Incident__V1__Scope scope;
        Incident__V1__Severity severity;
        Incident__V1__Status status;
        Incident__V1__Kind kind;
        uint32_t level;
        int wide; /* three sites, two clients */
    } cases[] = {
        {"classified_incident", INCIDENT__V1__STAGE__STAGE_CLASSIFIED,
         INCIDENT__V1__SCOPE__SCOPE_UNSPECIFIED, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR,
         INCIDENT__V1__STATUS__STATUS_OPEN, INCIDENT__V1__KIND__KIND_INCIDENT, 0, 0},
        {"classified_wide", INCIDENT__V1__STAGE__STAGE_CLASSIFIED, INCIDENT__V1__SCOPE__SCOPE_LOCAL,
         INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, INCIDENT__V1__STATUS__STATUS_OPEN,
         INCIDENT__V1__KIND__KIND_INCIDENT, 0, 1},
        {"classified_disturbance", INCIDENT__V1__STAGE__STAGE_CLASSIFIED,
         INCIDENT__V1__SCOPE__SCOPE_UNSPECIFIED, INCIDENT__V1__SEVERITY__SEVERITY_WARNING,
         INCIDENT__V1__STATUS__STATUS_OPEN, INCIDENT__V1__KIND__KIND_DISTURBANCE, 0, 0},
        {"scoped_global", INCIDENT__V1__STAGE__STAGE_SCOPED, INCIDENT__V1__SCOPE__SCOPE_GLOBAL,
         INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, INCIDENT__V1__STATUS__STATUS_OPEN,
         INCIDENT__V1__KIND__KIND_INCIDENT, 0, 1},
        {"scoped_local_critical", INCIDENT__V1__STAGE__STAGE_SCOPED,
         INCIDENT__V1__SCOPE__SCOPE_LOCAL, INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL,
         INCIDENT__V1__STATUS__STATUS_OPEN, INCIDENT__V1__KIND__KIND_INCIDENT, 0, 0},
        {"escalated_level0", INCIDENT__V1__STAGE__STAGE_ESCALATED, INCIDENT__V1__SCOPE__SCOPE_LOCAL,
         INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, INCIDENT__V1__STATUS__STATUS_OPEN,
         INCIDENT__V1__KIND__KIND_INCIDENT, 0, 0},
        {"escalated_level2", INCIDENT__V1__STAGE__STAGE_ESCALATED,
         INCIDENT__V1__SCOPE__SCOPE_GLOBAL, INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL,
         INCIDENT__V1__STATUS__STATUS_OPEN, INCIDENT__V1__KIND__KIND_INCIDENT, 2, 1},
        {"escalated_acknowledged", INCIDENT__V1__STAGE__STAGE_ESCALATED,
         INCIDENT__V1__SCOPE__SCOPE_GLOBAL, INCIDENT__V1__SEVERITY__SEVERITY_MAJOR,
         INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED, INCIDENT__V1__KIND__KIND_INCIDENT, 1, 0},
        {"resolved_global", INCIDENT__V1__STAGE__STAGE_RESOLVED, INCIDENT__V1__SCOPE__SCOPE_GLOBAL,
         INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, INCIDENT__V1__STATUS__STATUS_RESOLVED,
         INCIDENT__V1__KIND__KIND_INCIDENT, 1, 1},
        {"resolved_disturbance", INCIDENT__V1__STAGE__STAGE_RESOLVED,
         INCIDENT__V1__SCOPE__SCOPE_UNSPECIFIED, INCIDENT__V1__SEVERITY__SEVERITY_INFO,
         INCIDENT__V1__STATUS__STATUS_RESOLVED, INCIDENT__V1__KIND__KIND_DISTURBANCE, 0, 0},
    };
    static char *actions_open[] = {"detected", "classified", "scoped", "assigned"};
    static char *actions_done[] = {"detected",  "classified",      "scoped",  "assigned",
                                   "escalated", "client_notified", "resolved"};
    static int64_t triggers[] = {1700000000000LL, 1700000030000LL};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Incident__V1__Incident inc = incident(cases[i].stage, cases[i].scope);
        inc.severity = cases[i].severity;
        inc.status = cases[i].status;
        inc.kind = cases[i].kind;
        inc.escalation_level = cases[i].level;
        if (cases[i].wide) {
            inc.sites = sites_three;
            inc.n_sites = 3;
            inc.clients = clients_two;
            inc.n_clients = 2;
        }
        if (cases[i].level > 0) {
            inc.stakeholders = stakeholders;
            inc.n_stakeholders = 2;
            inc.client_comms = INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY;
        }
        if (cases[i].status == INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED)
            inc.acknowledged_at_ms = 1700000060000LL;
        if (cases[i].status == INCIDENT__V1__STATUS__STATUS_RESOLVED)
            inc.resolved_at_ms = 1700000090000LL;

        char event_id[64];
        snprintf(event_id, sizeof(event_id), "%s:%llu", inc.id, (unsigned long long)inc.version);
        Incident__V1__IncidentEvent ev = INCIDENT__V1__INCIDENT_EVENT__INIT;
        ev.event_id = event_id;
        ev.incident = &inc;
        ev.cause_alert_id = "am-7f3a9c";
        ev.at_ms = 1700000000000LL + 1000 * (int64_t)i;
        seed_write("fuzz_event", cases[i].name, &ev.base);

        Incidentd__V1__StoredIncident__LabelsEntry team =
            INCIDENTD__V1__STORED_INCIDENT__LABELS_ENTRY__INIT;
        team.key = "team";
        team.value = "dba";
        Incidentd__V1__StoredIncident__LabelsEntry *labels[] = {&team};
        Incidentd__V1__StoredIncident st = INCIDENTD__V1__STORED_INCIDENT__INIT;
        st.incident = &inc;
        st.trigger_times_ms = triggers;
        st.n_trigger_times_ms = 2;
        st.labels = labels;
        st.n_labels = 1;
        st.last_hash = "5d41402abc4b2a76b9719d911017c592ae3a1c0e3b1e4f5a6b7c8d9e0f1a2b3c";
        int done = cases[i].status == INCIDENT__V1__STATUS__STATUS_RESOLVED;
        st.recorded_actions = done ? actions_done : actions_open;
        st.n_recorded_actions = done ? 7 : 4;
        if (cases[i].scope == INCIDENT__V1__SCOPE__SCOPE_LOCAL)
            st.guideline = "Follow the local incident runbook.";
        seed_write("fuzz_state", cases[i].name, &st.base);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR (tests/fuzz/corpus)\n", argv[0]);
        return 2;
    }
    root = argv[1];
    alerts();
    events_and_states();
    return 0;
}
