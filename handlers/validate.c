/*
 * validate.c — the contract's limits on the inputs of the stages. An alert,
 * event or command that fails here is bad input: the runtime sends it to the
 * dead-letter topic with the reason as its x-error header, so every reason
 * names the field and the limit it broke.
 *
 * Every string of an input, nested ones included, must be UTF-8 without NUL
 * (utf8.h): a NUL would cut an id or key in C and merge distinct alerts; the
 * protobuf decoding keeps one as UTF8_NUL_KEPT so that it is seen here (see
 * pb_strings.c).
 */
#include "handlers.h"

#include <stdio.h>
#include <string.h>

#include "utf8.h"

/* How deep nested messages are followed (Alert -> labels entry,
 * IncidentEvent -> Incident). */
#define VALIDATE_DEPTH_MAX 8

/* Length of a protobuf string field; NULL (never in decoded input) counts as "". */
static size_t field_len(const char *s) { return s ? strlen(s) : 0; }

/* Checks min <= len(s) <= max; on failure writes "<name>: ..." into err. */
static int check_len(const char *name, const char *s, size_t min, size_t max, char *err,
                     size_t err_size)
{
    size_t len = field_len(s);
    if (len < min) {
        if (len == 0)
            snprintf(err, err_size, "%s: missing (%zu..%zu bytes)", name, min, max);
        else
            snprintf(err, err_size, "%s: %zu bytes, minimum %zu", name, len, min);
        return -1;
    }
    if (len > max) {
        snprintf(err, err_size, "%s: %zu bytes, limit %zu", name, len, max);
        return -1;
    }
    return 0;
}

/* Checks a repeated string field: count <= max_n, each entry 1..HD_SHORT_MAX. */
static int check_list(const char *name, char *const *v, size_t n, size_t max_n, char *err,
                      size_t err_size)
{
    if (n > max_n) {
        snprintf(err, err_size, "%s: %zu entries, limit %zu", name, n, max_n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char item[32];
        snprintf(item, sizeof(item), "%s[%zu]", name, i);
        if (check_len(item, v ? v[i] : NULL, 1, HD_SHORT_MAX, err, err_size) < 0)
            return -1;
    }
    return 0;
}

/* Where check_strings() is: a field (and its index, when repeated) of the
 * message at `up` (NULL: the top). Formatted only for an error. */
typedef struct field_at {
    const struct field_at *up;
    const char *name;
    size_t i;
    int repeated;
} field_at_t;

/* "<path>.<name>" or "<path>.<name>[i]" (no leading '.' at the top) into
 * @p buf; returns the length it would have. */
static size_t field_path(const field_at_t *at, char *buf, size_t size)
{
    size_t n = at->up ? field_path(at->up, buf, size) : 0;
    int k = snprintf(buf + (n < size ? n : size), n < size ? size - n : 0, "%s%s", n ? "." : "",
                     at->name);
    n += k > 0 ? (size_t)k : 0;
    if (at->repeated) {
        k = snprintf(buf + (n < size ? n : size), n < size ? size - n : 0, "[%zu]", at->i);
        n += k > 0 ? (size_t)k : 0;
    }
    return n;
}

/*
 * Checks every string field of @p m and of its nested messages with
 * utf8_check(); the reason names the field by its path ("labels[3].value",
 * "incident.sites[0]"). @p up: where @p m is (NULL at the top).
 */
static int check_strings(const ProtobufCMessage *m, const field_at_t *up, int depth, char *err,
                         size_t err_size)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const char *at = (const char *)m + f->offset;
        int repeated = f->label == PROTOBUF_C_LABEL_REPEATED;
        size_t n = repeated ? *(const size_t *)((const char *)m + f->quantifier_offset) : 1;
        const void *const *items =
            repeated ? *(const void *const *const *)at : (const void *const *)at;
        for (size_t j = 0; items && j < n; j++) {
            if (!items[j])
                continue;
            field_at_t here = {up, f->name, j, repeated};
            if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
                if (depth < VALIDATE_DEPTH_MAX &&
                    check_strings(items[j], &here, depth + 1, err, err_size) < 0)
                    return -1;
                continue;
            }
            size_t off = 0;
            const char *why = utf8_check(items[j], strlen(items[j]), &off);
            if (!why)
                continue;
            char name[128];
            field_path(&here, name, sizeof(name));
            if (strncmp(why, "NUL", 3) == 0)
                snprintf(err, err_size, "%s: contains a NUL byte (U+0000) at byte %zu", name, off);
            else
                snprintf(err, err_size, "%s: not valid UTF-8 (%s at byte %zu)", name, why, off);
            return -1;
        }
    }
    return 0;
}

int hd_alert_validate(const hd_alert_t *alert, char *err, size_t err_size)
{
    char scratch[8];
    if (!err) {
        /* The caller only wants the verdict. */
        err = scratch;
        err_size = sizeof(scratch);
    }
    if (!alert) {
        snprintf(err, err_size, "alert: missing");
        return -1;
    }
    if (check_len("alert_id", alert->alert_id, 1, HD_ALERT_ID_MAX, err, err_size) < 0 ||
        check_len("dedup_key", alert->dedup_key, 1, HD_DEDUP_KEY_MAX, err, err_size) < 0)
        return -1;

    switch (alert->action) {
    case INCIDENT__V1__ACTION__ACTION_TRIGGER:
    case INCIDENT__V1__ACTION__ACTION_ACKNOWLEDGE:
    case INCIDENT__V1__ACTION__ACTION_RESOLVE:
        break;
    case INCIDENT__V1__ACTION__ACTION_UNSPECIFIED:
        snprintf(err, err_size,
                 "action: ACTION_UNSPECIFIED, must be TRIGGER, ACKNOWLEDGE or RESOLVE");
        return -1;
    default:
        snprintf(err, err_size, "action: unknown value %d, must be TRIGGER, ACKNOWLEDGE or RESOLVE",
                 (int)alert->action);
        return -1;
    }

    if ((int)alert->severity < INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED ||
        (int)alert->severity > INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL) {
        snprintf(err, err_size, "severity: unknown value %d, range 0..5", (int)alert->severity);
        return -1;
    }
    if (alert->action == INCIDENT__V1__ACTION__ACTION_TRIGGER &&
        alert->severity == INCIDENT__V1__SEVERITY__SEVERITY_UNSPECIFIED) {
        snprintf(err, err_size, "severity: required for TRIGGER");
        return -1;
    }

    if (check_len("source", alert->source, 0, HD_SHORT_MAX, err, err_size) < 0 ||
        check_len("service", alert->service, 0, HD_SHORT_MAX, err, err_size) < 0 ||
        check_len("actor", alert->actor, 0, HD_SHORT_MAX, err, err_size) < 0 ||
        check_len("summary", alert->summary, 0, HD_SUMMARY_MAX, err, err_size) < 0)
        return -1;

    if (check_list("sites", alert->sites, alert->n_sites, HD_SITES_MAX, err, err_size) < 0 ||
        check_list("clients", alert->clients, alert->n_clients, HD_CLIENTS_MAX, err, err_size) < 0)
        return -1;

    if (alert->n_labels > HD_LABELS_MAX) {
        snprintf(err, err_size, "labels: %zu entries, limit %d", alert->n_labels, HD_LABELS_MAX);
        return -1;
    }
    for (size_t i = 0; i < alert->n_labels; i++) {
        const Incident__V1__Alert__LabelsEntry *e = alert->labels ? alert->labels[i] : NULL;
        char item[48];
        if (!e) {
            snprintf(err, err_size, "labels[%zu]: missing entry", i);
            return -1;
        }
        snprintf(item, sizeof(item), "labels[%zu].key", i);
        if (check_len(item, e->key, 1, HD_SHORT_MAX, err, err_size) < 0)
            return -1;
        snprintf(item, sizeof(item), "labels[%zu].value", i);
        if (check_len(item, e->value, 0, HD_SUMMARY_MAX, err, err_size) < 0)
            return -1;
    }
    return check_strings(&alert->base, NULL, 0, err, err_size);
}

int hd_event_validate(const hd_event_t *ev, char *err, size_t err_size)
{
    char scratch[8];
    if (!err) {
        err = scratch;
        err_size = sizeof(scratch);
    }
    if (!ev) {
        snprintf(err, err_size, "event: missing");
        return -1;
    }
    if (!ev->incident) {
        snprintf(err, err_size, "incident: missing snapshot");
        return -1;
    }
    if (field_len(ev->incident->id) == 0) {
        snprintf(err, err_size, "incident.id: missing");
        return -1;
    }
    if (field_len(ev->event_id) == 0) {
        snprintf(err, err_size, "event_id: missing");
        return -1;
    }
    return check_strings(&ev->base, NULL, 0, err, err_size);
}

int hd_command_validate(const hd_command_t *cmd, char *err, size_t err_size)
{
    char scratch[8];
    if (!err) {
        err = scratch;
        err_size = sizeof(scratch);
    }
    if (!cmd) {
        snprintf(err, err_size, "command: missing");
        return -1;
    }
    if (check_len("command_id", cmd->command_id, 1, HD_COMMAND_ID_MAX, err, err_size) < 0 ||
        check_len("incident_id", cmd->incident_id, 1, HD_SHORT_MAX, err, err_size) < 0)
        return -1;
    if (cmd->kind == INCIDENT__V1__COMMAND_KIND__COMMAND_UNSPECIFIED) {
        snprintf(err, err_size, "kind: COMMAND_UNSPECIFIED, must say what the command is");
        return -1;
    }
    if ((int)cmd->kind < 0 || (int)cmd->kind > INCIDENT__V1__COMMAND_KIND__COMMAND_HANDOVER) {
        snprintf(err, err_size, "kind: unknown value %d, range 1..%d", (int)cmd->kind,
                 INCIDENT__V1__COMMAND_KIND__COMMAND_HANDOVER);
        return -1;
    }
    if (check_len("actor", cmd->actor, 1, HD_SHORT_MAX, err, err_size) < 0 ||
        check_len("text", cmd->text, 0, HD_COMMAND_TEXT_MAX, err, err_size) < 0 ||
        check_len("task_id", cmd->task_id, 0, HD_COMMAND_ID_MAX, err, err_size) < 0 ||
        check_len("assignee", cmd->assignee, 0, HD_SHORT_MAX, err, err_size) < 0 ||
        check_len("root_cause", cmd->root_cause, 0, HD_ROOT_CAUSE_MAX, err, err_size) < 0 ||
        check_list("attendees", cmd->attendees, cmd->n_attendees, HD_ATTENDEES_MAX, err, err_size) <
            0)
        return -1;
    return check_strings(&cmd->base, NULL, 0, err, err_size);
}
