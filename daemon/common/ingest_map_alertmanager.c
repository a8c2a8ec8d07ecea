/*
 * ingest_map_alertmanager.c — POST /v1/alertmanager: an Alertmanager
 * webhook notification (payload version 4) to one Alert per entry of
 * "alerts"; see ingest_map.h for the mapping and the ids.
 */
#include "ingest_map_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    Incident__V1__Severity sev;
} im_severities[] = {
    {"critical", INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL},
    {"crit", INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL},
    {"fatal", INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL},
    {"emergency", INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL},
    {"emerg", INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL},
    {"page", INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL},
    {"disaster", INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL},
    {"p1", INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL},
    {"sev1", INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL},
    {"major", INCIDENT__V1__SEVERITY__SEVERITY_MAJOR},
    {"high", INCIDENT__V1__SEVERITY__SEVERITY_MAJOR},
    {"error", INCIDENT__V1__SEVERITY__SEVERITY_MAJOR},
    {"err", INCIDENT__V1__SEVERITY__SEVERITY_MAJOR},
    {"p2", INCIDENT__V1__SEVERITY__SEVERITY_MAJOR},
    {"sev2", INCIDENT__V1__SEVERITY__SEVERITY_MAJOR},
    {"minor", INCIDENT__V1__SEVERITY__SEVERITY_MINOR},
    {"medium", INCIDENT__V1__SEVERITY__SEVERITY_MINOR},
    {"average", INCIDENT__V1__SEVERITY__SEVERITY_MINOR},
    {"p3", INCIDENT__V1__SEVERITY__SEVERITY_MINOR},
    {"sev3", INCIDENT__V1__SEVERITY__SEVERITY_MINOR},
    {"warning", INCIDENT__V1__SEVERITY__SEVERITY_WARNING},
    {"warn", INCIDENT__V1__SEVERITY__SEVERITY_WARNING},
    {"low", INCIDENT__V1__SEVERITY__SEVERITY_WARNING},
    {"p4", INCIDENT__V1__SEVERITY__SEVERITY_WARNING},
    {"sev4", INCIDENT__V1__SEVERITY__SEVERITY_WARNING},
    {"info", INCIDENT__V1__SEVERITY__SEVERITY_INFO},
    {"informational", INCIDENT__V1__SEVERITY__SEVERITY_INFO},
    {"information", INCIDENT__V1__SEVERITY__SEVERITY_INFO},
    {"notice", INCIDENT__V1__SEVERITY__SEVERITY_INFO},
    {"debug", INCIDENT__V1__SEVERITY__SEVERITY_INFO},
    {"ok", INCIDENT__V1__SEVERITY__SEVERITY_INFO},
    {"none", INCIDENT__V1__SEVERITY__SEVERITY_INFO},
    {"p5", INCIDENT__V1__SEVERITY__SEVERITY_INFO},
    {"sev5", INCIDENT__V1__SEVERITY__SEVERITY_INFO},
};

/* Alertmanager's severity label: anything unknown (or absent) is WARNING,
 * so that a firing alert always has a severity. */
static Incident__V1__Severity im_am_severity(const char *v)
{
    if (!v)
        return INCIDENT__V1__SEVERITY__SEVERITY_WARNING;
    for (size_t i = 0; i < sizeof(im_severities) / sizeof(im_severities[0]); i++)
        if (strcasecmp(v, im_severities[i].name) == 0)
            return im_severities[i].sev;
    return INCIDENT__V1__SEVERITY__SEVERITY_WARNING;
}

/* ---- one alert ------------------------------------------------------------------------ */

/* The members of one entry of "alerts", borrowed from the JSON. */
typedef struct im_am_in {
    char where[48]; /* "alerts[3]" */
    const char *status, *fingerprint, *starts, *ends;
    const cJSON *labels, *annotations; /* NULL when absent or null */
} im_am_in_t;

/* Checks that @p obj, when present, is an object of string values. */
static int im_am_kv_check(const cJSON *obj, const char *where, const char *name, char *err,
                          size_t err_size)
{
    if (!obj || cJSON_IsNull(obj))
        return 0;
    if (!cJSON_IsObject(obj)) {
        snprintf(err, err_size, "%s.%s: expected an object of name: value", where, name);
        return -1;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, obj)
    {
        if (!cJSON_IsString(item)) {
            snprintf(err, err_size, "%s.%s.%.200s: expected a string", where, name, item->string);
            return -1;
        }
    }
    return 0;
}

/* Reads and checks the members of entry @p j (status defaults to the
 * group's). */
static int im_am_read(const cJSON *j, size_t idx, const char *group_status, im_am_in_t *in,
                      char *err, size_t err_size)
{
    snprintf(in->where, sizeof(in->where), "alerts[%zu]", idx);
    if (!cJSON_IsObject(j)) {
        snprintf(err, err_size, "%s: expected an object", in->where);
        return -1;
    }
    int bad = 0;
    in->status = ingest_map_str(j, "status", &bad);
    in->fingerprint = ingest_map_str(j, "fingerprint", &bad);
    in->starts = ingest_map_str(j, "startsAt", &bad);
    in->ends = ingest_map_str(j, "endsAt", &bad);
    if (bad) {
        snprintf(err, err_size, "%s: status, fingerprint, startsAt and endsAt must be strings",
                 in->where);
        return -1;
    }
    if (!in->status)
        in->status = group_status;
    in->labels = cJSON_GetObjectItemCaseSensitive(j, "labels");
    in->annotations = cJSON_GetObjectItemCaseSensitive(j, "annotations");
    if (im_am_kv_check(in->labels, in->where, "labels", err, err_size) != 0 ||
        im_am_kv_check(in->annotations, in->where, "annotations", err, err_size) != 0)
        return -1;
    if (in->labels && cJSON_IsNull(in->labels))
        in->labels = NULL;
    if (in->annotations && cJSON_IsNull(in->annotations))
        in->annotations = NULL;
    return 0;
}

static int im_am_action(const im_am_in_t *in, hd_alert_t *a, char *err, size_t err_size)
{
    const char *status = in->status;
    if (status && strcasecmp(status, "firing") == 0) {
        a->action = INCIDENT__V1__ACTION__ACTION_TRIGGER;
    } else if (status && strcasecmp(status, "resolved") == 0) {
        a->action = INCIDENT__V1__ACTION__ACTION_RESOLVE;
        a->actor = "alertmanager";
    } else {
        snprintf(err, err_size, "%s.status: %s%.64s%s, expected firing or resolved", in->where,
                 status ? "'" : "", status ? status : "missing", status ? "'" : "");
        return -1;
    }
    return 0;
}

/* Hex SHA-256 of a label set, sorted by name: the identity of an alert
 * without a fingerprint. */
static void im_am_labels_hash(const cJSON *labels, char hex[65])
{
    size_t n = labels ? (size_t)cJSON_GetArraySize(labels) : 0;
    const cJSON **v = calloc(n ? n : 1, sizeof(*v));
    const char **parts = calloc(2 * n + 1, sizeof(*parts));
    if (!v || !parts)
        ingest_map_oom();
    size_t k = 0;
    const cJSON *item;
    if (labels)
        cJSON_ArrayForEach(item, labels) v[k++] = item;
    /* insertion sort: label sets are small */
    for (size_t i = 1; i < k; i++) {
        const cJSON *x = v[i];
        size_t j = i;
        while (j > 0 && strcmp(v[j - 1]->string, x->string) > 0) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
    for (size_t i = 0; i < k; i++) {
        parts[2 * i] = v[i]->string;
        parts[2 * i + 1] = v[i]->valuestring;
    }
    ingest_map_sha256_hex(hex, 2 * k, parts, NULL);
    free(parts);
    free(v);
}

/* dedup_key from the fingerprint (else the label set), alert_id from the
 * identity and the times, so a retried notification maps to the same id. */
static int im_am_ids(const im_am_in_t *in, arena_t *arena, hd_alert_t *a, char *err,
                     size_t err_size)
{
    char hex[65];
    const char *identity;
    if (in->fingerprint && *in->fingerprint) {
        identity = in->fingerprint;
    } else {
        if (!in->labels || cJSON_GetArraySize(in->labels) == 0) {
            snprintf(err, err_size, "%s: neither a fingerprint nor labels to identify it",
                     in->where);
            return -1;
        }
        im_am_labels_hash(in->labels, hex);
        identity = arena_strdup(arena, hex);
    }
    a->dedup_key = arena_printf(arena, "am:%s", identity);
    const char *id_parts[] = {identity, in->status, in->starts ? in->starts : "",
                              in->ends ? in->ends : ""};
    ingest_map_sha256_hex(hex, 4, id_parts, NULL);
    a->alert_id = arena_printf(arena, "am:%s", hex);
    return 0;
}

/* occurred_at_ms: endsAt for a resolved alert that has one, else startsAt. */
static int im_am_times(const im_am_in_t *in, hd_alert_t *a, char *err, size_t err_size)
{
    int64_t t_start = 0, t_end = 0;
    if (in->starts && *in->starts && ingest_map_time_ms(in->starts, &t_start) != 0) {
        snprintf(err, err_size, "%s.startsAt: '%.64s' is not an RFC 3339 time", in->where,
                 in->starts);
        return -1;
    }
    if (in->ends && *in->ends && ingest_map_time_ms(in->ends, &t_end) != 0) {
        snprintf(err, err_size, "%s.endsAt: '%.64s' is not an RFC 3339 time", in->where, in->ends);
        return -1;
    }
    a->occurred_at_ms =
        a->action == INCIDENT__V1__ACTION__ACTION_RESOLVE && t_end != 0 ? t_end : t_start;
    return 0;
}

/* The first non-empty string of @p names in @p obj, or NULL. */
static const char *im_am_first(const cJSON *obj, const char *const *names, size_t n)
{
    int bad = 0;
    for (size_t i = 0; obj && i < n; i++) {
        const char *v = ingest_map_str(obj, names[i], &bad);
        if (v && *v)
            return v;
    }
    return NULL;
}

/* Severity, summary, service, source, sites and clients. */
static void im_am_describe(const im_am_in_t *in, const char *receiver, im_build_t *b)
{
    static const char *const sev[] = {"severity"}, *const text[] = {"summary", "description"},
                             *const name[] = {"alertname"}, *const svc[] = {"service", "job"},
                             *const where[] = {"site", "sites", "client", "clients"};
    hd_alert_t *a = b->alert;
    arena_t *arena = b->arena;
    a->severity = im_am_severity(im_am_first(in->labels, sev, 1));
    const char *summary = im_am_first(in->annotations, text, 2);
    if (!summary)
        summary = im_am_first(in->labels, name, 1);
    if (summary)
        a->summary = ingest_map_cut(arena, summary, HD_SUMMARY_MAX);
    const char *service = im_am_first(in->labels, svc, 2);
    if (service)
        a->service = arena_strdup(arena, service);
    a->source =
        receiver && *receiver
            ? ingest_map_cut(arena, arena_printf(arena, "alertmanager/%s", receiver), HD_SHORT_MAX)
            : "alertmanager";
    const cJSON *srcs[] = {in->labels, in->annotations};
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; srcs[k] && i < 4; i++)
            ingest_map_where_add(b, where[i], cJSON_GetObjectItemCaseSensitive(srcs[k], where[i]));
}

/* Every label kept; a name given twice: the first one counts. */
static int im_am_labels(const im_am_in_t *in, im_build_t *b, char *err, size_t err_size)
{
    if (!in->labels)
        return 0;
    size_t nl = (size_t)cJSON_GetArraySize(in->labels);
    if (nl > HD_LABELS_MAX) {
        snprintf(err, err_size, "%s.labels: %zu labels, limit %d", in->where, nl, HD_LABELS_MAX);
        return -1;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, in->labels)
    {
        if (ingest_map_label_get(b->alert, item->string))
            continue;
        ingest_map_label_add(b, arena_strdup(b->arena, item->string),
                             arena_strdup(b->arena, item->valuestring));
    }
    return 0;
}

/* The group's status and receiver, for every entry. */
typedef struct im_am_group {
    const char *status, *receiver;
} im_am_group_t;

static int im_am_alert(const cJSON *j, size_t idx, arena_t *arena, void *ctx, hd_alert_t **out,
                       char *err, size_t err_size)
{
    const im_am_group_t *g = ctx;
    im_am_in_t in;
    if (im_am_read(j, idx, g->status, &in, err, err_size) != 0)
        return -1;
    im_build_t b;
    ingest_map_build_init(&b, arena);
    if (im_am_action(&in, b.alert, err, err_size) != 0 ||
        im_am_ids(&in, arena, b.alert, err, err_size) != 0 ||
        im_am_times(&in, b.alert, err, err_size) != 0)
        return -1;
    im_am_describe(&in, g->receiver, &b);
    if (im_am_labels(&in, &b, err, err_size) != 0 ||
        ingest_map_check(b.alert, in.where, err, err_size) != 0)
        return -1;
    *out = b.alert;
    return 0;
}

/* ---- the notification ----------------------------------------------------------------- */

int ingest_map_alertmanager(const char *body, size_t len, arena_t *arena, ingest_batch_t *out,
                            char *err, size_t err_size)
{
    memset(out, 0, sizeof(*out));
    cJSON *root = json_body_parse(body, len, err, err_size);
    if (!root)
        return -1;
    int rc = -1, bad = 0;
    if (!cJSON_IsObject(root)) {
        snprintf(err, err_size, "expected a JSON object (an Alertmanager webhook notification)");
        goto out;
    }
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (version && !(cJSON_IsString(version) && strcmp(version->valuestring, "4") == 0)) {
        snprintf(err, err_size,
                 "version: expected \"4\" (the Alertmanager webhook payload version)");
        goto out;
    }
    im_am_group_t g = {.status = ingest_map_str(root, "status", &bad),
                       .receiver = ingest_map_str(root, "receiver", &bad)};
    if (bad) {
        snprintf(err, err_size, "status and receiver must be strings");
        goto out;
    }
    const cJSON *alerts = cJSON_GetObjectItemCaseSensitive(root, "alerts");
    if (!cJSON_IsArray(alerts)) {
        snprintf(err, err_size, "alerts: %s", alerts ? "expected an array" : "missing");
        goto out;
    }
    rc = ingest_map_each(alerts, "alerts: ", arena, im_am_alert, &g, out, err, err_size);
out:
    cJSON_Delete(root);
    return rc;
}
