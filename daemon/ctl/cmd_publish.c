/*
 * cmd_publish.c — incidentctl publish: builds alerts from flags or from a
 * JSON file (the protobuf JSON mapping), checks them against the contract
 * (hd_alert_validate()) and produces them to incidents.detected, keyed by
 * dedup_key (idempotent, acks=all), waiting for every delivery report.
 * Owned by the ctl room.
 *
 * @locality incidentctl's main thread (delivery reports come from
 * rd_kafka_poll()/flush() on it)
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "arena.h"
#include "ctl.h"
#include "ctl_opts.h"
#include "ctl_out.h"
#include "kafka.h"
#include "pbjson.h"

#define CTL_JSON_FILE_MAX (64u << 20) /* largest --json-file accepted */

/* publish's options: the alert they build and how to send it. */
typedef struct ctl_publish {
    arena_t arena;
    hd_alert_t *alert;
    const char *incident;  /* --incident */
    const char *json_file; /* --json-file */
    int alert_flags;       /* alert options given (not with --json-file) */
    int64_t timeout_ms;
} ctl_publish_t;

/* ---- options ----------------------------------------------------------------------- */

/* A string field of the alert, at opt->off in hd_alert_t. */
static int ctl_publish_opt_field(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    (void)c;
    ctl_publish_t *p = base;
    char *copy = arena_strdup(&p->arena, arg);
    memcpy((char *)p->alert + opt->off, &copy, sizeof(copy));
    p->alert_flags++;
    return CTL_OPT_OK;
}

static int ctl_publish_opt_incident(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    (void)c;
    (void)opt;
    ctl_publish_t *p = base;
    p->incident = arg;
    p->alert_flags++;
    return CTL_OPT_OK;
}

static int ctl_publish_opt_severity(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    ctl_publish_t *p = base;
    p->alert_flags++;
    int sv = 0;
    int rc = ctl_opt_enum(c, opt, &incident__v1__severity__descriptor, arg, arg,
                          "info, warning, minor, major or critical", &sv);
    if (rc == CTL_OPT_OK)
        p->alert->severity = (Incident__V1__Severity)sv;
    return rc;
}

static char **ctl_strv_push(arena_t *arena, char **v, size_t *n, const char *s)
{
    char **nv = arena_alloc(arena, (*n + 1) * sizeof(*nv));
    if (*n)
        memcpy(nv, v, *n * sizeof(*nv));
    nv[(*n)++] = arena_strdup(arena, s);
    return nv;
}

static int ctl_publish_opt_site(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    (void)c;
    (void)opt;
    ctl_publish_t *p = base;
    p->alert_flags++;
    p->alert->sites = ctl_strv_push(&p->arena, p->alert->sites, &p->alert->n_sites, arg);
    return CTL_OPT_OK;
}

static int ctl_publish_opt_client(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    (void)c;
    (void)opt;
    ctl_publish_t *p = base;
    p->alert_flags++;
    p->alert->clients = ctl_strv_push(&p->arena, p->alert->clients, &p->alert->n_clients, arg);
    return CTL_OPT_OK;
}

/* --label key=value: the last value of a key wins. */
static int ctl_publish_opt_label(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    (void)opt;
    ctl_publish_t *p = base;
    hd_alert_t *a = p->alert;
    p->alert_flags++;
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
        ctl_usage_error(c, "--label: expected key=value, got '%s'", arg);
        return CTL_OPT_BAD;
    }
    char *key = arena_strndup(&p->arena, arg, (size_t)(eq - arg));
    size_t i;
    for (i = 0; i < a->n_labels; i++)
        if (strcmp(a->labels[i]->key, key) == 0)
            break;
    if (i == a->n_labels) {
        Incident__V1__Alert__LabelsEntry **nl =
            arena_alloc(&p->arena, (a->n_labels + 1) * sizeof(*nl));
        if (a->n_labels)
            memcpy(nl, a->labels, a->n_labels * sizeof(*nl));
        nl[i] = arena_alloc(&p->arena, sizeof(**nl));
        incident__v1__alert__labels_entry__init(nl[i]);
        nl[i]->key = key;
        a->labels = nl;
        a->n_labels++;
    }
    a->labels[i]->value = arena_strdup(&p->arena, eq + 1);
    return CTL_OPT_OK;
}

static int ctl_publish_opt_occurred(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    (void)opt;
    ctl_publish_t *p = base;
    p->alert_flags++;
    long long v;
    if (ctl_parse_uint(arg, INT64_MAX, &v) < 0) {
        ctl_usage_error(c, "--occurred-at-ms: expected Unix milliseconds");
        return CTL_OPT_BAD;
    }
    p->alert->occurred_at_ms = v;
    return CTL_OPT_OK;
}

static int ctl_publish_opt_timeout(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    (void)opt;
    ctl_publish_t *p = base;
    long long v;
    if (ctl_parse_uint(arg, 3600000, &v) < 0 || v < 100) {
        ctl_usage_error(c, "--timeout-ms: expected 100..3600000");
        return CTL_OPT_BAD;
    }
    p->timeout_ms = v;
    return CTL_OPT_OK;
}

#define CTL_ALERT_FIELD(f) .set = ctl_publish_opt_field, .off = offsetof(hd_alert_t, f)

static const ctl_opt_t ctl_publish_opts[] = {
    {.name = "dedup-key",
     .arg = "KEY",
     .help = "the alert's dedup key (required, or --incident)",
     CTL_ALERT_FIELD(dedup_key)},
    {.name = "incident",
     .arg = "ID",
     .help = "use the dedup key of this live incident (Redis)",
     .set = ctl_publish_opt_incident},
    {.name = "alert-id",
     .arg = "ID",
     .help = "default: a generated unique id",
     CTL_ALERT_FIELD(alert_id)},
    {.name = "severity",
     .arg = "S",
     .help = "info|warning|minor|major|critical (trigger)",
     .set = ctl_publish_opt_severity},
    {.name = "service", .arg = "NAME", .help = "affected service", CTL_ALERT_FIELD(service)},
    {.name = "summary", .arg = "TEXT", .help = "one line for humans", CTL_ALERT_FIELD(summary)},
    {.name = "source",
     .arg = "NAME",
     .help = "who saw it (default incidentctl)",
     CTL_ALERT_FIELD(source)},
    {.name = "site",
     .arg = "SITE",
     .help = "affected site, repeatable ('*' = all sites)",
     .set = ctl_publish_opt_site},
    {.name = "client",
     .arg = "CLIENT",
     .help = "affected client, repeatable",
     .set = ctl_publish_opt_client},
    {.name = "label",
     .arg = "KEY=VALUE",
     .help = "free label, repeatable (scope=global forces GLOBAL)",
     .set = ctl_publish_opt_label},
    {.name = "actor",
     .arg = "NAME",
     .help = "who acknowledges/resolves (default $USER)",
     CTL_ALERT_FIELD(actor)},
    {.name = "occurred-at-ms",
     .arg = "MS",
     .help = "when it was seen (default now)",
     .set = ctl_publish_opt_occurred},
    {.name = "json-file",
     .arg = "FILE|-",
     .help = "alert(s) in the protobuf JSON mapping: one object\n"
             "or an array; camelCase or proto field names, enums\n"
             "by name (\"ACTION_TRIGGER\", \"SEVERITY_MAJOR\"); the\n"
             "command's action fills a missing \"action\"",
     .set = ctl_opt_string,
     .off = offsetof(ctl_publish_t, json_file)},
    {.name = "timeout-ms",
     .arg = "N",
     .help = "wait at most N ms for delivery (default 30000)",
     .set = ctl_publish_opt_timeout},
    {0},
};

/* ---- the alerts -------------------------------------------------------------------- */

/* Grows @p *buf (of @p *cap bytes) for one more read; NULL with @p err
 * set (or not, for out of memory) when it cannot. */
static char *ctl_read_grow(char *buf, size_t *cap, const char *path, char *err, size_t err_size)
{
    if (*cap >= CTL_JSON_FILE_MAX) {
        snprintf(err, err_size, "%s: larger than %u bytes", path, CTL_JSON_FILE_MAX);
        free(buf);
        return NULL;
    }
    char *nb = realloc(buf, *cap * 2);
    if (!nb) {
        free(buf);
        return NULL;
    }
    *cap *= 2;
    return nb;
}

/* Reads all of @p path ("-" = stdin) into a malloc'ed NUL-terminated
 * buffer (caller frees), or NULL with @p err set. */
static char *ctl_read_file(const char *path, char *err, size_t err_size)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap && !(buf = ctl_read_grow(buf, &cap, path, err, err_size)))
            break;
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0 && ferror(f)) {
            snprintf(err, err_size, "%s: %s", path, strerror(errno));
            free(buf);
            buf = NULL;
        }
        if (got == 0)
            break;
    }
    if (buf)
        buf[n] = '\0';
    else if (!err[0])
        snprintf(err, err_size, "out of memory");
    if (f != stdin)
        fclose(f);
    return buf;
}

static Incident__V1__Action ctl_action_of(const char *s)
{
    if (strcasecmp(s, "trigger") == 0)
        return INCIDENT__V1__ACTION__ACTION_TRIGGER;
    if (strcasecmp(s, "ack") == 0 || strcasecmp(s, "acknowledge") == 0)
        return INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE;
    if (strcasecmp(s, "resolve") == 0)
        return INCIDENT__V1__ACTION__ACTION_RESOLVE;
    return INCIDENT__V1__ACTION__ACTION_UNSPECIFIED;
}

/* The action argument, if any. Returns CTL_GO or an exit code. */
static int ctl_publish_action(const ctl_t *c, int argc, char **argv, Incident__V1__Action *action)
{
    *action = INCIDENT__V1__ACTION__ACTION_UNSPECIFIED;
    if (argc > 0) {
        *action = ctl_action_of(argv[0]);
        if (*action == INCIDENT__V1__ACTION__ACTION_UNSPECIFIED)
            return ctl_usage_error(c, "unknown action '%s': expected trigger, ack or resolve",
                                   argv[0]);
    }
    return ctl_args_at_most(c, argc, argv, 1);
}

/* Looks up the dedup_key of incident @p id in Redis. Returns an exit code. */
static int ctl_dedup_of_incident(const ctl_t *c, const char *id, arena_t *arena, char **out)
{
    store_t *st = ctl_store_open(c, "--incident");
    if (!st)
        return CTL_EXIT_USAGE;
    char err[512];
    hd_state_t *state;
    uint64_t version;
    int rc = store_admin_state(st, id, arena, &state, &version, err, sizeof(err));
    store_destroy(st);
    if (rc < 0) {
        ctl_err(c, "--incident %s: %s", id, err);
        return CTL_EXIT_USAGE;
    }
    if (rc == 0 || !state->incident->dedup_key || !state->incident->dedup_key[0]) {
        ctl_err(c,
                "incident %s not found in Redis (closed incidents expire; give "
                "--dedup-key instead)",
                id);
        return CTL_EXIT_FAIL;
    }
    *out = state->incident->dedup_key;
    return CTL_EXIT_OK;
}

/* The one alert the flags build. Returns CTL_GO or an exit code. */
static int ctl_publish_from_flags(const ctl_t *c, ctl_publish_t *p, Incident__V1__Action action,
                                  hd_alert_t ***alerts, size_t *n)
{
    hd_alert_t *a = p->alert;
    int has_key = a->dedup_key && a->dedup_key[0];
    if (!action)
        return ctl_usage_error(c, "which action? publish trigger|ack|resolve");
    if (p->incident && has_key)
        return ctl_usage_error(c, "give --dedup-key or --incident, not both");
    if (!p->incident && !has_key)
        return ctl_usage_error(c, "--dedup-key KEY (or --incident ID) is required");
    if (p->incident) {
        int rc = ctl_dedup_of_incident(c, p->incident, &p->arena, &a->dedup_key);
        if (rc != CTL_EXIT_OK)
            return rc;
    }
    a->action = action;
    if (!a->source || !a->source[0])
        a->source = (char *)"incidentctl";
    if (action != INCIDENT__V1__ACTION__ACTION_TRIGGER && (!a->actor || !a->actor[0])) {
        const char *user = getenv("USER");
        a->actor = arena_strdup(&p->arena, user && *user ? user : "incidentctl");
    }
    *alerts = arena_alloc(&p->arena, sizeof(**alerts));
    (*alerts)[(*n)++] = a;
    return CTL_GO;
}

/* @p json_file parsed, or NULL (reported). */
static cJSON *ctl_publish_parse_file(const ctl_t *c, const char *json_file)
{
    char err[512] = "";
    char *text = ctl_read_file(json_file, err, sizeof(err));
    if (!text) {
        ctl_err(c, "--json-file %s", err);
        return NULL;
    }
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithOpts(text, &end, 1);
    if (!doc)
        ctl_err(c, "%s: not valid JSON near byte %zu", json_file,
                end ? (size_t)(end - text) : (size_t)0);
    free(text);
    return doc;
}

/* The alerts of @p doc (one object or an array). Returns CTL_GO or an exit code. */
static int ctl_publish_of_doc(const ctl_t *c, ctl_publish_t *p, const cJSON *doc,
                              Incident__V1__Action action, hd_alert_t ***alerts, size_t *n)
{
    const ProtobufCEnumDescriptor *actions = &incident__v1__action__descriptor;
    size_t count = cJSON_IsArray(doc) ? (size_t)cJSON_GetArraySize(doc) : 1;
    if (count == 0) {
        ctl_err(c, "%s: an empty array: no alerts to publish", p->json_file);
        return CTL_EXIT_USAGE;
    }
    *alerts = arena_alloc(&p->arena, count * sizeof(**alerts));
    const cJSON *item = cJSON_IsArray(doc) ? doc->child : doc;
    for (; item && *n < count; item = cJSON_IsArray(doc) ? item->next : NULL) {
        char err[512];
        hd_alert_t *x = (hd_alert_t *)pbjson_to_message(&incident__v1__alert__descriptor, item,
                                                        &p->arena, err, sizeof(err));
        if (!x) {
            ctl_err(c, "%s: alert %zu: %s", p->json_file, *n + 1, err);
            return CTL_EXIT_USAGE;
        }
        if (action && x->action && x->action != action) {
            ctl_err(c, "%s: alert %zu: action %s contradicts the command's %s", p->json_file,
                    *n + 1, pbjson_enum_name(actions, (int)x->action),
                    pbjson_enum_name(actions, (int)action));
            return CTL_EXIT_USAGE;
        }
        if (!x->action)
            x->action = action;
        (*alerts)[(*n)++] = x;
    }
    return CTL_GO;
}

/* The alerts of --json-file. Returns CTL_GO or an exit code. */
static int ctl_publish_from_file(const ctl_t *c, ctl_publish_t *p, Incident__V1__Action action,
                                 hd_alert_t ***alerts, size_t *n)
{
    if (p->alert_flags)
        return ctl_usage_error(c, "--json-file cannot be combined with alert flags "
                                  "(--dedup-key, --severity, ...)");
    cJSON *doc = ctl_publish_parse_file(c, p->json_file);
    if (!doc)
        return CTL_EXIT_USAGE;
    int rc = ctl_publish_of_doc(c, p, doc, action, alerts, n);
    cJSON_Delete(doc);
    return rc;
}

/* Fills the ids and times left open and checks every alert against the
 * contract. Returns CTL_GO or an exit code. */
static int ctl_publish_check(const ctl_t *c, ctl_publish_t *p, hd_alert_t **alerts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char err[512];
        if (!alerts[i]->alert_id || !alerts[i]->alert_id[0])
            alerts[i]->alert_id = ctl_new_id(&p->arena);
        if (!alerts[i]->occurred_at_ms)
            alerts[i]->occurred_at_ms = ctl_now_ms();
        if (hd_alert_validate(alerts[i], err, sizeof(err)) < 0) {
            if (n > 1)
                ctl_err(c, "alert %zu (%s) is invalid: %s", i + 1, alerts[i]->alert_id, err);
            else
                ctl_err(c, "invalid alert: %s", err);
            return CTL_EXIT_USAGE;
        }
    }
    return CTL_GO;
}

/* ---- producing --------------------------------------------------------------------- */

/* Queues one alert (waiting while the queue is full). Returns 0, -1 after
 * reporting an error, or 1 when out of memory (stop queueing). */
static int ctl_produce_one(const ctl_t *c, rd_kafka_t *rk, const char *topic, const hd_alert_t *a,
                           ctl_delivery_t *dl)
{
    size_t len = incident__v1__alert__get_packed_size(a);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return 1;
    incident__v1__alert__pack(a, buf);
    rd_kafka_resp_err_t e = ctl_produce(rk, topic, a->dedup_key, buf, len, dl);
    free(buf);
    if (e) {
        ctl_err(c, "alert %s: %s", a->alert_id, rd_kafka_err2str(e));
        return -1;
    }
    return 0;
}

static cJSON *ctl_delivery_json(const hd_alert_t *a, const char *topic, const ctl_delivery_t *d)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "alert_id", a->alert_id);
    cJSON_AddStringToObject(o, "dedup_key", a->dedup_key);
    cJSON_AddStringToObject(o, "action",
                            pbjson_enum_name(&incident__v1__action__descriptor, (int)a->action));
    cJSON_AddStringToObject(o, "topic", topic);
    cJSON_AddNumberToObject(o, "partition", d->partition);
    cJSON_AddNumberToObject(o, "offset", (double)d->offset);
    return o;
}

/* Prints the delivered alerts (ids, or JSON) and reports the others.
 * Returns @p rc, or CTL_EXIT_USAGE when one was not delivered. */
static int ctl_produce_report(const ctl_t *c, hd_alert_t **alerts, const ctl_delivery_t *dl,
                              size_t queued, const char *topic, int rc)
{
    cJSON *out = c->json ? cJSON_CreateArray() : NULL;
    for (size_t i = 0; i < queued; i++) {
        if (!dl[i].done || dl[i].err) {
            ctl_err(c, "alert %s not delivered to %s: %s", alerts[i]->alert_id, topic,
                    dl[i].done ? rd_kafka_err2str(dl[i].err)
                               : "no delivery report in time (is Kafka reachable?)");
            rc = CTL_EXIT_USAGE;
        } else if (out) {
            cJSON_AddItemToArray(out, ctl_delivery_json(alerts[i], topic, &dl[i]));
        } else {
            printf("%s\n", alerts[i]->alert_id);
        }
    }
    if (out)
        ctl_json_print(out);
    return rc;
}

/* Produces @p alerts to incidents.detected and waits for every delivery
 * report. Returns an exit code. */
static int ctl_produce_alerts(const ctl_t *c, hd_alert_t **alerts, size_t n, int64_t timeout_ms)
{
    char topic[512];
    ctl_topic(c, "incidents.detected", topic, sizeof(topic));
    rd_kafka_t *rk = ctl_producer_new(c, timeout_ms);
    if (!rk)
        return CTL_EXIT_USAGE;
    ctl_delivery_t *dl = calloc(n ? n : 1, sizeof(*dl));
    int rc = CTL_EXIT_OK;
    size_t queued = 0;
    for (size_t i = 0; dl && i < n; i++) {
        int q = ctl_produce_one(c, rk, topic, alerts[i], &dl[i]);
        if (q < 0)
            rc = CTL_EXIT_USAGE;
        if (q != 0)
            break;
        queued++;
    }
    if (!dl) {
        ctl_err(c, "out of memory");
        rc = CTL_EXIT_USAGE;
    }
    rd_kafka_flush(rk, (int)timeout_ms + 5000);
    rc = ctl_produce_report(c, alerts, dl, queued, topic, rc);
    free(dl);
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- the command ------------------------------------------------------------------- */

static int ctl_publish_exec(ctl_t *c, int argc, char **argv)
{
    ctl_publish_t p = {.timeout_ms = c->timeout_ms};
    arena_init(&p.arena, 0);
    p.alert = arena_alloc(&p.arena, sizeof(*p.alert));
    incident__v1__alert__init(p.alert);
    Incident__V1__Action action = INCIDENT__V1__ACTION__ACTION_UNSPECIFIED;
    hd_alert_t **alerts = NULL;
    size_t n = 0;
    int rc = ctl_cmd_options(c, &ctl_cmd_publish_entry, &p, &argc, &argv);
    if (rc == CTL_GO)
        rc = ctl_publish_action(c, argc, argv, &action);
    if (rc == CTL_GO && p.json_file)
        rc = ctl_publish_from_file(c, &p, action, &alerts, &n);
    else if (rc == CTL_GO)
        rc = ctl_publish_from_flags(c, &p, action, &alerts, &n);
    if (rc == CTL_GO)
        rc = ctl_publish_check(c, &p, alerts, n);
    if (rc == CTL_GO)
        rc = ctl_produce_alerts(c, alerts, n, p.timeout_ms);
    arena_destroy(&p.arena);
    return rc;
}

const struct ctl_cmd_entry ctl_cmd_publish_entry = {
    .name = "publish",
    .usage = "trigger|ack|resolve [options]   |   publish --json-file FILE|-",
    .summary = "publish an alert to incidents.detected",
    .opts = ctl_publish_opts,
    .args_max = CTL_ARGS_OWN, /* the action is checked first */
    .notes = "Alerts are checked against the contract before sending (exit 2 when\n"
             "invalid), produced keyed by dedup_key (idempotent, acks=all); the alert\n"
             "ids are printed once delivered.\n",
    .exec = ctl_publish_exec,
};
