/*
 * notify_text.c — the texts of the notifications and the webhook document
 * (see notify_text.h). One function per kind writes the body; the subject
 * and the common lines (what the incident is, the link) are shared.
 */
#include "notify_text.h"
#include "pbjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

static const char *const notify_kind_names[NOTIFY_KIND_COUNT] = {
    [NOTIFY_KIND_ESCALATION] = "escalation",
    [NOTIFY_KIND_REESCALATION] = "reescalation",
    [NOTIFY_KIND_CLIENT_UPDATE] = "client_update",
    [NOTIFY_KIND_CLIENT_UPDATE_REMINDER] = "client_update_reminder",
    [NOTIFY_KIND_FINAL_UPDATE] = "final_update",
    [NOTIFY_KIND_COMPLETION_REMINDER] = "completion_reminder",
    [NOTIFY_KIND_SILENCE_REMINDER] = "silence_reminder",
};

const char *notify_kind_name(notify_kind_t kind)
{
    if ((int)kind < 0 || kind >= NOTIFY_KIND_COUNT)
        return "unknown";
    return notify_kind_names[kind];
}

int notify_kind_parse(const char *name)
{
    for (int k = 0; name && k < NOTIFY_KIND_COUNT; k++)
        if (strcmp(name, notify_kind_names[k]) == 0)
            return k;
    return -1;
}

static void notify_text_oom(void)
{
    fputs("incidentd: out of memory\n", stderr);
    abort();
}

/* ---- pieces ----------------------------------------------------------------------- */

/* An enum value's name without its prefix: SEVERITY_CRITICAL -> CRITICAL. */
static const char *notify_enum(const ProtobufCEnumDescriptor *d, int v)
{
    const char *n = pbjson_enum_name(d, v);
    const char *us = n ? strchr(n, '_') : NULL;
    return us ? us + 1 : "UNSPECIFIED";
}

static const char *notify_or(const char *s, const char *dflt) { return s && *s ? s : dflt; }

/* "2026-11-26 15:00 UTC" */
static void notify_time(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%d %H:%M UTC", &tm);
}

/* "<console_url>/#/incidents/<id>" as a line, when there is a console. */
static void notify_link(FILE *f, const char *console_url, const char *what, const char *path,
                        const char *id)
{
    if (!console_url || !*console_url)
        return;
    size_t n = strlen(console_url);
    while (n > 0 && console_url[n - 1] == '/')
        n--;
    fprintf(f, "\n%s: %.*s/#/%s%s\n", what, (int)n, console_url, path, id);
}

/* The incident in one paragraph: summary, what it is, where. */
static void notify_about(FILE *f, const Incident__V1__Incident *inc)
{
    fprintf(f, "%s\n\nIncident %s: %s %s, service %s, %zu site(s), %u client(s)", inc->summary,
            inc->id, notify_enum(&incident__v1__severity__descriptor, inc->severity),
            notify_enum(&incident__v1__scope__descriptor, inc->scope),
            notify_or(inc->service, "(none)"), inc->n_sites,
            inc->clients_total > inc->n_clients ? inc->clients_total : (unsigned)inc->n_clients);
    fprintf(f, "; owner %s (%s).\n", notify_or(inc->owner, "not named"),
            notify_enum(&incident__v1__role__descriptor, inc->owner_role));
}

static int notify_is_owner(const notify_text_in_t *in)
{
    return in->recipient && *in->incident->owner && strcmp(in->recipient, in->incident->owner) == 0;
}

/* ---- the kinds ------------------------------------------------------------------------- */

static void notify_body_escalation(FILE *f, const notify_text_in_t *in)
{
    const Incident__V1__Incident *inc = in->incident;
    notify_about(f, inc);
    if (in->kind == NOTIFY_KIND_REESCALATION)
        fprintf(f, "\nIt was not acknowledged in time and is now at escalation level %u: %s.\n",
                in->level, notify_or(in->why, "acknowledgement timeout"));
    else
        fprintf(f, "\nIt has reached escalation level %u: %s.\n", in->level,
                notify_or(in->why, "escalated"));
    if (notify_is_owner(in))
        fputs("\nYou own this incident: acknowledge it now and lead its handling; it escalates\n"
              "further while nobody acknowledges it.\n",
              f);
    else
        fputs("\nYou are informed as a stakeholder at this level: follow the incident and\n"
              "stand by to support the owner. No acknowledgement is needed from you.\n",
              f);
}

static void notify_body_client(FILE *f, const notify_text_in_t *in)
{
    const Incident__V1__Incident *inc = in->incident;
    if (in->kind == NOTIFY_KIND_CLIENT_UPDATE)
        fprintf(f,
                "%s\n\nThis is an update on an incident affecting %s (reference %s).\n"
                "You do not need to do anything; we will keep you informed.\n",
                in->update, notify_or(inc->service, "our service"), inc->id);
    else
        fprintf(f,
                "The incident affecting %s (reference %s) has been resolved and the service\n"
                "has been stable since. Summary: %s\nNo action is needed on your side.\n",
                notify_or(inc->service, "our service"), inc->id, inc->summary);
}

static void notify_body_reminder(FILE *f, const notify_text_in_t *in)
{
    const Incident__V1__Incident *inc = in->incident;
    char due[40];
    notify_about(f, inc);
    if (in->kind == NOTIFY_KIND_CLIENT_UPDATE_REMINDER) {
        notify_time(in->due_at_ms, due, sizeof(due));
        fprintf(f,
                "\nA client update is due at %s. Inform the affected clients and record\n"
                "the update (the client update command); two missed updates in a row\n"
                "escalate the incident.\n",
                due);
    } else {
        fprintf(f,
                "\nThe incident is resolved but cannot be closed yet: %s.\n"
                "Complete it: submit the post-incident review, collect the sign-offs and\n"
                "add a preventive task, as the missing items say.\n",
                notify_or(in->missing, "the completion is pending"));
    }
}

static void notify_body_silence(FILE *f, const notify_text_in_t *in)
{
    char ends[40];
    notify_time(in->due_at_ms, ends, sizeof(ends));
    if (in->silence_comment && *in->silence_comment)
        fprintf(f, "Your silence %s (\"%s\") ends at %s.\n", in->silence_id, in->silence_comment,
                ends);
    else /* the still-firing reminder: the incident keeps no comment */
        fprintf(f, "Your silence %s ends at %s.\n", in->silence_id, ends);
    if (in->still_firing)
        fputs("An alert it silences is still firing: check it now. Once the silence ends\n"
              "the alert is processed normally and may open an incident. Extend the silence\n"
              "only if the work it covers is still going on.\n",
              f);
    else
        fputs("Extend it if the work it covers is not finished; otherwise let it end.\n", f);
}

/* ---- subject, render ------------------------------------------------------------------ */

static void notify_subject(FILE *f, const notify_text_in_t *in)
{
    const Incident__V1__Incident *inc = in->incident;
    const char *sev = inc ? notify_enum(&incident__v1__severity__descriptor, inc->severity) : "";
    switch (in->kind) {
    case NOTIFY_KIND_ESCALATION:
        fprintf(f, "[%s] %s incident on %s: escalation level %u", inc->id, sev,
                notify_or(inc->service, "?"), in->level);
        break;
    case NOTIFY_KIND_REESCALATION:
        fprintf(f, "[%s] not acknowledged: now escalation level %u", inc->id, in->level);
        break;
    case NOTIFY_KIND_CLIENT_UPDATE:
        fprintf(f, "Update on the incident affecting %s [%s]", notify_or(inc->service, "us"),
                inc->id);
        break;
    case NOTIFY_KIND_CLIENT_UPDATE_REMINDER:
        fprintf(f, "[%s] client update due", inc->id);
        break;
    case NOTIFY_KIND_FINAL_UPDATE:
        fprintf(f, "Resolved: the incident affecting %s [%s]", notify_or(inc->service, "us"),
                inc->id);
        break;
    case NOTIFY_KIND_COMPLETION_REMINDER:
        fprintf(f, "[%s] completion pending: %s", inc->id,
                notify_or(in->missing, "review, sign-offs or tasks"));
        break;
    default:
        fprintf(f, "Silence %s %s", in->silence_id,
                in->still_firing ? "has ended and an alert is still firing" : "ends soon");
        break;
    }
}

/* Non-zero when @p in has what its kind needs. */
static int notify_text_complete(const notify_text_in_t *in)
{
    if ((int)in->kind < 0 || in->kind >= NOTIFY_KIND_COUNT)
        return 0;
    if (in->kind == NOTIFY_KIND_SILENCE_REMINDER)
        return in->silence_id && *in->silence_id;
    if (!in->incident)
        return 0;
    return in->kind != NOTIFY_KIND_CLIENT_UPDATE || (in->update && *in->update);
}

static char *notify_print(void (*fn)(FILE *, const notify_text_in_t *), const notify_text_in_t *in)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        notify_text_oom();
    fn(f, in);
    if (fclose(f) != 0 || !buf)
        notify_text_oom();
    return buf;
}

static void notify_body(FILE *f, const notify_text_in_t *in)
{
    switch (in->kind) {
    case NOTIFY_KIND_ESCALATION:
    case NOTIFY_KIND_REESCALATION:
        notify_body_escalation(f, in);
        break;
    case NOTIFY_KIND_CLIENT_UPDATE:
    case NOTIFY_KIND_FINAL_UPDATE:
        notify_body_client(f, in); /* clients have no console: no link */
        return;
    case NOTIFY_KIND_CLIENT_UPDATE_REMINDER:
    case NOTIFY_KIND_COMPLETION_REMINDER:
        notify_body_reminder(f, in);
        break;
    default:
        notify_body_silence(f, in);
        if (!in->incident)
            notify_link(f, in->console_url, "Silences", "silences", "");
        break;
    }
    if (in->incident)
        notify_link(f, in->console_url, "Open the incident", "incidents/", in->incident->id);
}

int notify_text_render(const notify_text_in_t *in, notify_text_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!notify_text_complete(in))
        return -1;
    out->subject = notify_print(notify_subject, in);
    /* a summary or a service may hold line breaks: a subject is one line */
    for (char *p = out->subject; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    out->body = notify_print(notify_body, in);
    return 0;
}

void notify_text_free(notify_text_t *t)
{
    if (!t)
        return;
    free(t->subject);
    free(t->body);
    t->subject = t->body = NULL;
}

/* ---- the webhook document ------------------------------------------------------------- */

char *notify_webhook_body(const char *event_id, notify_kind_t kind, const char *recipient,
                          const notify_text_t *text, const Incident__V1__Incident *incident)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        notify_text_oom();
    cJSON *inc = incident ? pbjson_from_message(&incident->base) : cJSON_CreateNull();
    if (!inc || !cJSON_AddStringToObject(o, "event_id", event_id ? event_id : "") ||
        !cJSON_AddStringToObject(o, "kind", notify_kind_name(kind)) ||
        !cJSON_AddStringToObject(o, "recipient", recipient ? recipient : "") ||
        !cJSON_AddStringToObject(o, "subject", text && text->subject ? text->subject : "") ||
        !cJSON_AddStringToObject(o, "text", text && text->body ? text->body : ""))
        notify_text_oom();
    cJSON_AddItemToObject(o, "incident", inc);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s)
        notify_text_oom();
    char *d = strdup(s); /* cJSON's allocator need not be free() */
    cJSON_free(s);
    if (!d)
        notify_text_oom();
    return d;
}
