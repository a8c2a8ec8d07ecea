/*
 * ingest_map_alert.c — POST /v1/alerts: the protobuf JSON mapping of an
 * Alert (pbjson.h), or an array of them, to Alerts; see ingest_map.h.
 */
#include "ingest_map_internal.h"

#include <stdio.h>
#include <string.h>

#include "pbjson.h"

/* One Alert object; @p where is "" for a single one, "[i]" in an array. */
static int im_alert_one(const cJSON *j, const char *where, arena_t *arena, hd_alert_t **out,
                        char *err, size_t err_size)
{
    char why[300];
    ProtobufCMessage *m =
        pbjson_to_message(&incident__v1__alert__descriptor, j, arena, why, sizeof(why));
    if (!m) {
        snprintf(err, err_size, "%s%s%s", where, *where ? ": " : "", why);
        return -1;
    }
    hd_alert_t *a = (hd_alert_t *)m;
    if (ingest_map_check(a, where, err, err_size) != 0)
        return -1;
    *out = a;
    return 0;
}

static int im_alert_item(const cJSON *j, size_t idx, arena_t *arena, void *ctx, hd_alert_t **out,
                         char *err, size_t err_size)
{
    char where[32];
    snprintf(where, sizeof(where), "[%zu]", idx);
    return im_alert_one(j, where, arena, out, err, err_size);
}

int ingest_map_alert_json(const char *body, size_t len, arena_t *arena, ingest_batch_t *out,
                          char *err, size_t err_size)
{
    memset(out, 0, sizeof(*out));
    cJSON *root = json_body_parse(body, len, err, err_size);
    if (!root)
        return -1;
    int rc = -1;
    if (cJSON_IsArray(root)) {
        rc = ingest_map_each(root, "", arena, im_alert_item, NULL, out, err, err_size);
    } else if (!cJSON_IsObject(root)) {
        snprintf(err, err_size,
                 "expected a JSON object (an incident.v1.Alert) or an array of them");
    } else {
        out->alerts = arena_alloc(arena, sizeof(*out->alerts));
        rc = im_alert_one(root, "", arena, &out->alerts[0], err, err_size);
        out->n = rc == 0 ? 1 : 0;
        if (rc != 0)
            out->alerts = NULL;
    }
    cJSON_Delete(root);
    return rc;
}
