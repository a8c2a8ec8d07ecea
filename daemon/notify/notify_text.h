/*
 * notify_text.h — what a notification says: a short subject and a body
 * telling the recipient what to do, with a link to the incident in the
 * console (<console_url>/#/incidents/<id>), and the JSON document a generic
 * webhook receives. Pure: no I/O, any thread.
 *
 * The webhook document is
 *   {"event_id": <delivery id>, "kind": "<kind name>", "recipient": <name>,
 *    "subject": ..., "text": ...,
 *    "incident": <the Incident, protobuf JSON (pbjson.h)> or null}
 * Out of memory aborts with a message.
 */
#ifndef INCIDENTD_NOTIFY_TEXT_H
#define INCIDENTD_NOTIFY_TEXT_H

#include <stdint.h>

#include "incident/v1/incident.pb-c.h"

/* The kinds of notification, one text each. */
typedef enum notify_kind {
    NOTIFY_KIND_ESCALATION = 0,         /* an incident reached a level: owner and stakeholders */
    NOTIFY_KIND_REESCALATION,           /* not acknowledged in time: one level up */
    NOTIFY_KIND_CLIENT_UPDATE,          /* to a client: the update text */
    NOTIFY_KIND_CLIENT_UPDATE_REMINDER, /* to the owner: a client update is due */
    NOTIFY_KIND_FINAL_UPDATE,           /* to a client: resolved and confirmed */
    NOTIFY_KIND_COMPLETION_REMINDER,    /* to the owner: review, sign-offs, tasks missing */
    NOTIFY_KIND_SILENCE_REMINDER,       /* to a silence's creator: it ends soon / still firing */
    NOTIFY_KIND_COUNT                   /* not a kind: the number of them */
} notify_kind_t;

/** "escalation", "reescalation", "client_update", "client_update_reminder",
 *  "final_update", "completion_reminder", "silence_reminder"; "unknown"
 *  otherwise. Static, never NULL. */
const char *notify_kind_name(notify_kind_t kind);

/** The kind named @p name, or -1. */
int notify_kind_parse(const char *name);

/* What a text is made of; everything borrowed, NULL = not given. */
typedef struct notify_text_in {
    notify_kind_t kind;
    const Incident__V1__Incident *incident; /* every kind but SILENCE_REMINDER needs it */
    const char *recipient;                  /* the person's or client's name */
    const char *console_url;                /* notify.console_url; "" or NULL = no link */
    uint32_t level;                         /* ESCALATION, REESCALATION: the level reached */
    const char *why;                        /* ESCALATION, REESCALATION: why (the audit reason) */
    const char *update;                     /* CLIENT_UPDATE: the update text */
    int64_t due_at_ms;      /* CLIENT_UPDATE_REMINDER: when due; SILENCE_REMINDER: ends */
    const char *missing;    /* COMPLETION_REMINDER: what is missing */
    const char *silence_id; /* SILENCE_REMINDER */
    const char *silence_comment;
    int still_firing; /* SILENCE_REMINDER: a silenced alert still fires */
} notify_text_in_t;

typedef struct notify_text {
    char *subject; /* one line, no controls */
    char *body;    /* lines separated by '\n' */
} notify_text_t;

/**
 * Renders the subject and body of @p in into @p out. Returns 0 (caller
 * frees with notify_text_free()), or -1 when a field the kind needs is
 * missing (@p out zeroed).
 */
int notify_text_render(const notify_text_in_t *in, notify_text_t *out);

/** Frees what notify_text_render() gave and zeroes @p t. Accepts NULL. */
void notify_text_free(notify_text_t *t);

/**
 * The webhook document (see above) of delivery @p event_id to
 * @p recipient, unformatted JSON. @p incident may be NULL (null in the
 * document). Returns a string the caller frees with free().
 */
char *notify_webhook_body(const char *event_id, notify_kind_t kind, const char *recipient,
                          const notify_text_t *text, const Incident__V1__Incident *incident);

#endif
