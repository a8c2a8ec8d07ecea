/*
 * directory.c — looking people and clients up in the configuration, and
 * the checks their addresses pass when the configuration is loaded.
 *
 * Pure: reads config_t, which config_value.c fills (people.<name>.*,
 * clients.<client>.*). See directory.h.
 */
#include "directory.h"
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const directory_channel_names[DIRECTORY_CHANNEL_COUNT] = {
    [DIRECTORY_CHANNEL_EMAIL] = "email",
    [DIRECTORY_CHANNEL_WEBHOOK] = "webhook",
    [DIRECTORY_CHANNEL_SLACK] = "slack",
};

static const char *const directory_role_names[] = {
    [DIRECTORY_ROLE_VIEWER] = "viewer",
    [DIRECTORY_ROLE_STAKEHOLDER] = "stakeholder",
    [DIRECTORY_ROLE_CUSTOMER_SERVICE_MANAGER] = "customer_service_manager",
    [DIRECTORY_ROLE_TECHNICAL_MANAGER] = "technical_manager",
};

#define DIRECTORY_N_ROLES (sizeof(directory_role_names) / sizeof(directory_role_names[0]))

static const directory_entry_t *directory_find(const directory_entry_t *v, size_t n,
                                               const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return &v[i];
    return NULL;
}

const directory_entry_t *directory_person(const config_t *cfg, const char *name)
{
    return directory_find(cfg->people, cfg->n_people, name);
}

const directory_entry_t *directory_client(const config_t *cfg, const char *name)
{
    return directory_find(cfg->clients, cfg->n_clients, name);
}

size_t directory_channels(const directory_entry_t *e,
                          directory_address_t out[DIRECTORY_CHANNEL_COUNT])
{
    size_t n = 0;
    if (!e)
        return 0;
    const char *addr[DIRECTORY_CHANNEL_COUNT] = {
        [DIRECTORY_CHANNEL_EMAIL] = e->email,
        [DIRECTORY_CHANNEL_WEBHOOK] = e->webhook,
        [DIRECTORY_CHANNEL_SLACK] = e->slack,
    };
    for (int c = 0; c < DIRECTORY_CHANNEL_COUNT; c++)
        if (addr[c] && *addr[c])
            out[n++] = (directory_address_t){.channel = (directory_channel_t)c, .address = addr[c]};
    return n;
}

const char *directory_channel_name(directory_channel_t channel)
{
    if ((int)channel < 0 || channel >= DIRECTORY_CHANNEL_COUNT)
        return "unknown";
    return directory_channel_names[channel];
}

int directory_channel_parse(const char *name)
{
    for (int c = 0; name && c < DIRECTORY_CHANNEL_COUNT; c++)
        if (strcmp(name, directory_channel_names[c]) == 0)
            return c;
    return -1;
}

const char *directory_role_name(directory_role_t role)
{
    if ((size_t)role >= DIRECTORY_N_ROLES)
        return "unknown";
    return directory_role_names[role];
}

int directory_role_parse(const char *name)
{
    for (size_t r = 0; name && r < DIRECTORY_N_ROLES; r++)
        if (strcasecmp(name, directory_role_names[r]) == 0)
            return (int)r;
    return -1;
}

int directory_check_email(const char *s, char *err, size_t err_size)
{
    const char *at = strchr(s, '@');
    if (!at) {
        snprintf(err, err_size, "not an email address (no '@')");
        return -1;
    }
    if (at == s || !at[1] || strchr(at + 1, '@')) {
        snprintf(err, err_size, "not an email address (expected local@domain)");
        return -1;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || strchr("\"<>,;()[]\\", *p)) {
            snprintf(err, err_size,
                     "not an email address (spaces, controls and \"<>,;()[]\\ are not allowed)");
            return -1;
        }
    if (strlen(s) > 254) {
        snprintf(err, err_size, "email address longer than 254 characters");
        return -1;
    }
    return 0;
}

int directory_check_http_url(const char *s, char *err, size_t err_size)
{
    size_t skip;
    if (strncasecmp(s, "https://", 8) == 0)
        skip = 8;
    else if (strncasecmp(s, "http://", 7) == 0)
        skip = 7;
    else {
        snprintf(err, err_size, "not an http:// or https:// URL");
        return -1;
    }
    const char *host = s + skip;
    if (!*host || *host == '/' || *host == ':' || *host == '?' || *host == '#') {
        snprintf(err, err_size, "URL without a host");
        return -1;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7f) {
            snprintf(err, err_size, "URL with spaces or control characters");
            return -1;
        }
    if (strlen(s) > 2048) {
        snprintf(err, err_size, "URL longer than 2048 characters");
        return -1;
    }
    return 0;
}
