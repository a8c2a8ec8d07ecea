/*
 * directory.h — the people and clients incidentd reaches, from the
 * configuration (people.<name>.*, clients.<client>.*), and how to reach them.
 *
 * A person has an email address, a generic webhook, a Slack-compatible
 * incoming webhook, an API bearer token (a secret) and a role; a client has
 * an email address and a webhook. Every field is optional ("" = none). The
 * entries live in config_t (config_load() fills them, config_destroy() frees
 * them); this module only reads them: pure, no I/O, any thread.
 */
#ifndef INCIDENTD_DIRECTORY_H
#define INCIDENTD_DIRECTORY_H

#include <stddef.h>

struct config;

/* What a person may do through the API (CONTRACT "People and delivery"). */
typedef enum directory_role {
    DIRECTORY_ROLE_VIEWER = 0, /* the default: may read */
    DIRECTORY_ROLE_STAKEHOLDER,
    DIRECTORY_ROLE_CUSTOMER_SERVICE_MANAGER,
    DIRECTORY_ROLE_TECHNICAL_MANAGER,
} directory_role_t;

/* A way to reach a recipient, in the fixed order directory_channels() uses. */
typedef enum directory_channel {
    DIRECTORY_CHANNEL_EMAIL = 0,
    DIRECTORY_CHANNEL_WEBHOOK,
    DIRECTORY_CHANNEL_SLACK,
    DIRECTORY_CHANNEL_COUNT /* not a channel: the number of them */
} directory_channel_t;

typedef enum directory_kind {
    DIRECTORY_PERSON = 0,
    DIRECTORY_CLIENT,
} directory_kind_t;

/* One person or client. Owned by the config; strings are never NULL. */
typedef struct directory_entry {
    directory_kind_t kind;
    char *name;            /* as in the key: people.<name>.*, clients.<name>.* */
    char *email;           /* "" = none; has one '@', no spaces or controls */
    char *webhook;         /* http(s) URL; "" = none */
    char *slack;           /* http(s) URL of an incoming webhook; people only */
    char *token;           /* API bearer token; secret, people only; "" = none */
    directory_role_t role; /* people only */
} directory_entry_t;

/* One channel of a recipient: borrowed from its entry. */
typedef struct directory_address {
    directory_channel_t channel;
    const char *address; /* email address or URL */
} directory_address_t;

/** The person @p name (exact match), or NULL. Borrows from @p cfg. */
const directory_entry_t *directory_person(const struct config *cfg, const char *name);

/** The client @p name (exact match), or NULL. Borrows from @p cfg. */
const directory_entry_t *directory_client(const struct config *cfg, const char *name);

/**
 * The channels @p e can be reached on, in the fixed order email, webhook,
 * slack, into @p out (room for DIRECTORY_CHANNEL_COUNT). Returns how many
 * (0 when @p e is NULL or has none). The addresses borrow from @p e.
 */
size_t directory_channels(const directory_entry_t *e,
                          directory_address_t out[DIRECTORY_CHANNEL_COUNT]);

/** "email", "webhook", "slack"; "unknown" otherwise. Static, never NULL. */
const char *directory_channel_name(directory_channel_t channel);

/** The channel named @p name, or -1. */
int directory_channel_parse(const char *name);

/** "viewer", "stakeholder", "customer_service_manager", "technical_manager";
 *  "unknown" otherwise. Static, never NULL. */
const char *directory_role_name(directory_role_t role);

/** The role named @p name (any case), or -1. */
int directory_role_parse(const char *name);

/**
 * Checks an email address as the directory accepts it: one '@' with text on
 * both sides, no spaces, controls, quotes, '<', '>', ',' or ';' (it goes into
 * SMTP commands and mail headers). Returns 0, or -1 with the problem in
 * @p err (which does not repeat the address).
 */
int directory_check_email(const char *s, char *err, size_t err_size);

/**
 * Checks an http:// or https:// URL with a host and no spaces or controls.
 * Returns 0, or -1 with the problem in @p err (which does not repeat the URL:
 * webhook URLs often carry credentials).
 */
int directory_check_http_url(const char *s, char *err, size_t err_size);

#endif
