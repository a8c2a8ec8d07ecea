/*
 * ingest_map_events.c — POST /v1/events: a PagerDuty Events API v2 body to
 * one Alert; see ingest_map.h for the mapping and the ids.
 */
#include "ingest_map_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "utf8.h"

static const struct {
    const char *name;
    Incident__V1__Severity sev;
} im_pd_severities[] = {
    {"critical", INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL},
    {"error", INCIDENT__V1__SEVERITY__SEVERITY_MAJOR},
    {"warning", INCIDENT__V1__SEVERITY__SEVERITY_WARNING},
    {"info", INCIDENT__V1__SEVERITY__SEVERITY_INFO},
};

/* The string members of "payload", in this order (im_pd_payload_t). */
static const char *const im_pd_fields[] = {"summary",   "source", "severity", "timestamp",
                                           "component", "group",  "class"};
#define IM_PD_REQUIRED 3 /* the first three: required for trigger */

typedef struct im_pd_payload {
    const cJSON *obj; /* NULL when absent or null */
    const char *v[7]; /* im_pd_fields, NULL when absent */
} im_pd_payload_t;

/* A label from a JSON value: strings as they are, anything else as JSON;
 * cut at the contract's limit. Skipped when full, unnamed or too long a name. */
static void im_pd_label(im_build_t *b, const char *key, const cJSON *v)
{
    if (!key || !*key || strlen(key) > HD_SHORT_MAX || b->alert->n_labels >= HD_LABELS_MAX ||
        ingest_map_label_get(b->alert, key))
        return;
    const char *text;
    char *printed = NULL;
    if (cJSON_IsString(v)) {
        text = v->valuestring;
    } else {
        printed = cJSON_PrintUnformatted(v);
        if (!printed)
            ingest_map_oom();
        text = printed;
    }
    ingest_map_label_add(b, arena_strdup(b->arena, key),
                         ingest_map_cut(b->arena, text, HD_SUMMARY_MAX));
    free(printed);
}

/* routing_key: required, UTF-8, at most INGEST_ROUTING_KEY_MAX bytes. */
static const char *im_pd_routing_key(const cJSON *root, char *err, size_t err_size)
{
    int bad = 0;
    const char *rk = ingest_map_str(root, "routing_key", &bad);
    if (bad || !rk || !*rk) {
        snprintf(err, err_size, "routing_key: %s", bad ? "expected a string" : "missing");
        return NULL;
    }
    size_t at = 0;
    const char *why = utf8_check(rk, strlen(rk), &at);
    if (why) {
        snprintf(err, err_size, "routing_key: %s at byte %zu (strings must be UTF-8 without NUL)",
                 why, at);
        return NULL;
    }
    if (strlen(rk) > INGEST_ROUTING_KEY_MAX) {
        snprintf(err, err_size, "routing_key: longer than %d characters", INGEST_ROUTING_KEY_MAX);
        return NULL;
    }
    return rk;
}

static const char *im_pd_action(const cJSON *root, hd_alert_t *a, char *err, size_t err_size)
{
    int bad = 0;
    const char *action = ingest_map_str(root, "event_action", &bad);
    if (bad || !action) {
        snprintf(err, err_size, "event_action: %s (trigger, acknowledge or resolve)",
                 bad ? "expected a string" : "missing");
        return NULL;
    }
    if (strcasecmp(action, "trigger") == 0)
        a->action = INCIDENT__V1__ACTION__ACTION_TRIGGER;
    else if (strcasecmp(action, "acknowledge") == 0)
        a->action = INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE;
    else if (strcasecmp(action, "resolve") == 0)
        a->action = INCIDENT__V1__ACTION__ACTION_RESOLVE;
    else {
        snprintf(err, err_size, "event_action: '%.64s' is not trigger, acknowledge or resolve",
                 action);
        return NULL;
    }
    return action;
}

/* dedup_key as given (else derived from routing key and body, for trigger
 * only); alert_id from routing key and body. */
static int im_pd_ids(const cJSON *root, const char *routing_key, const char *action,
                     const char *body, size_t len, arena_t *arena, hd_alert_t *a, char *err,
                     size_t err_size)
{
    int bad = 0;
    const char *dedup = ingest_map_str(root, "dedup_key", &bad);
    if (bad) {
        snprintf(err, err_size, "dedup_key: expected a string");
        return -1;
    }
    if (dedup && strlen(dedup) > HD_DEDUP_KEY_MAX) {
        snprintf(err, err_size, "dedup_key: %zu characters, limit %d", strlen(dedup),
                 HD_DEDUP_KEY_MAX);
        return -1;
    }
    char hex[65];
    const char *parts[] = {"dedup", routing_key, body};
    size_t lens[] = {5, strlen(routing_key), len};
    if (!dedup || !*dedup) {
        if (a->action != INCIDENT__V1__ACTION__ACTION_TRIGGER) {
            snprintf(err, err_size, "dedup_key: required for %s", action);
            return -1;
        }
        ingest_map_sha256_hex(hex, 3, parts, lens);
        hex[32] = '\0';
        dedup = hex;
    }
    a->dedup_key = arena_strdup(arena, dedup);
    ingest_map_sha256_hex(hex, 2, parts + 1, lens + 1);
    a->alert_id = arena_printf(arena, "pd:%s", hex);
    return 0;
}

/* "payload": an object (required for trigger) whose known members are
 * strings, the required ones present for trigger. */
static int im_pd_payload_read(const cJSON *root, int trigger, im_pd_payload_t *p, char *err,
                              size_t err_size)
{
    memset(p, 0, sizeof(*p));
    p->obj = cJSON_GetObjectItemCaseSensitive(root, "payload");
    if (p->obj && cJSON_IsNull(p->obj))
        p->obj = NULL;
    if (p->obj && !cJSON_IsObject(p->obj)) {
        snprintf(err, err_size, "payload: expected an object");
        return -1;
    }
    if (!p->obj) {
        if (!trigger)
            return 0;
        snprintf(err, err_size, "payload: required for trigger (summary, source, severity)");
        return -1;
    }
    for (size_t i = 0; i < sizeof(im_pd_fields) / sizeof(im_pd_fields[0]); i++) {
        int bad = 0;
        p->v[i] = ingest_map_str(p->obj, im_pd_fields[i], &bad);
        if (bad) {
            snprintf(err, err_size, "payload.%s: expected a string", im_pd_fields[i]);
            return -1;
        }
    }
    for (size_t i = 0; trigger && i < IM_PD_REQUIRED; i++)
        if (!p->v[i] || !*p->v[i]) {
            snprintf(err, err_size, "payload.%s: required for trigger", im_pd_fields[i]);
            return -1;
        }
    return 0;
}

/* Summary, source, severity and timestamp, within the contract's limits. */
static int im_pd_payload_fields(const im_pd_payload_t *p, arena_t *arena, hd_alert_t *a, char *err,
                                size_t err_size)
{
    const char *summary = p->v[0], *source = p->v[1], *severity = p->v[2], *timestamp = p->v[3];
    if (summary && strlen(summary) > HD_SUMMARY_MAX) {
        snprintf(err, err_size, "payload.summary: %zu characters, limit %d", strlen(summary),
                 HD_SUMMARY_MAX);
        return -1;
    }
    if (source && strlen(source) > HD_SHORT_MAX) {
        snprintf(err, err_size, "payload.source: %zu characters, limit %d", strlen(source),
                 HD_SHORT_MAX);
        return -1;
    }
    if (severity) {
        size_t i = 0, n = sizeof(im_pd_severities) / sizeof(im_pd_severities[0]);
        while (i < n && strcasecmp(severity, im_pd_severities[i].name) != 0)
            i++;
        if (i == n) {
            snprintf(err, err_size,
                     "payload.severity: '%.64s' is not critical, error, warning or info", severity);
            return -1;
        }
        a->severity = im_pd_severities[i].sev;
    }
    if (timestamp && ingest_map_time_ms(timestamp, &a->occurred_at_ms) != 0) {
        snprintf(err, err_size, "payload.timestamp: '%.64s' is not an ISO 8601 time", timestamp);
        return -1;
    }
    if (summary)
        a->summary = arena_strdup(arena, summary);
    if (source)
        a->source = arena_strdup(arena, source);
    return 0;
}

/* component -> service, group / class -> labels, custom_details -> labels
 * (and sites / clients). */
static void im_pd_payload_labels(const im_pd_payload_t *p, im_build_t *b)
{
    if (p->v[4])
        b->alert->service = arena_strdup(b->arena, p->v[4]);
    for (size_t i = 5; i < 7; i++)
        if (p->v[i] && *p->v[i])
            im_pd_label(b, im_pd_fields[i],
                        cJSON_GetObjectItemCaseSensitive(p->obj, im_pd_fields[i]));
    const cJSON *details = cJSON_GetObjectItemCaseSensitive(p->obj, "custom_details");
    if (details && cJSON_IsObject(details)) {
        const cJSON *item;
        cJSON_ArrayForEach(item, details)
        {
            ingest_map_where_add(b, item->string, item);
            im_pd_label(b, item->string, item);
        }
    } else if (details && !cJSON_IsNull(details)) {
        im_pd_label(b, "custom_details", details);
    }
}

/* Everything but the batch: fills @p b's alert; the routing key in *rk. */
static int im_pd_event(const cJSON *root, const char *body, size_t len, im_build_t *b,
                       const char **rk, char *err, size_t err_size)
{
    hd_alert_t *a = b->alert;
    int bad = 0;
    if (!cJSON_IsObject(root)) {
        snprintf(err, err_size, "expected a JSON object (an Events API v2 event)");
        return -1;
    }
    const char *action;
    if (!(*rk = im_pd_routing_key(root, err, err_size)) ||
        !(action = im_pd_action(root, a, err, err_size)) ||
        im_pd_ids(root, *rk, action, body, len, b->arena, a, err, err_size) != 0)
        return -1;
    int trigger = a->action == INCIDENT__V1__ACTION__ACTION_TRIGGER;
    const char *client = ingest_map_str(root, "client", &bad);
    if (bad) {
        snprintf(err, err_size, "client: expected a string");
        return -1;
    }
    if (client && !trigger)
        a->actor = ingest_map_cut(b->arena, client, HD_SHORT_MAX);
    im_pd_payload_t p;
    if (im_pd_payload_read(root, trigger, &p, err, err_size) != 0)
        return -1;
    if (p.obj) {
        if (im_pd_payload_fields(&p, b->arena, a, err, err_size) != 0)
            return -1;
        im_pd_payload_labels(&p, b);
    }
    return ingest_map_check(a, "", err, err_size);
}

int ingest_map_events(const char *body, size_t len, arena_t *arena, ingest_batch_t *out, char *err,
                      size_t err_size)
{
    memset(out, 0, sizeof(*out));
    cJSON *root = json_body_parse(body, len, err, err_size);
    if (!root)
        return -1;
    im_build_t b;
    ingest_map_build_init(&b, arena);
    const char *routing_key = NULL;
    int rc = im_pd_event(root, body, len, &b, &routing_key, err, err_size);
    if (rc == 0) {
        out->alerts = arena_alloc(arena, sizeof(*out->alerts));
        out->alerts[0] = b.alert;
        out->n = 1;
        out->dedup_key = b.alert->dedup_key;
        out->routing_key = arena_strdup(arena, routing_key);
    }
    cJSON_Delete(root);
    return rc;
}
