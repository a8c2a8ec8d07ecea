/*
 * ctl_config.c — incidentctl's settings from the environment and the
 * daemon's config file; see ctl_config.h. Owned by the ctl room.
 *
 * @locality incidentctl's main thread
 */
#include "ctl_config.h"

#include <stdlib.h>
#include <string.h>

#include "ctl_out.h"

static const char *ctl_env(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

void ctl_defaults(ctl_t *c)
{
    memset(c, 0, sizeof(*c));
    c->brokers = ctl_env("INCIDENTD_BROKERS", "127.0.0.1:9092");
    c->redis = ctl_env("INCIDENTD_REDIS", "redis://127.0.0.1:6379/0");
    c->redis_password = ctl_env("INCIDENTD_REDIS_PASSWORD", NULL);
    c->prefix = ctl_env("INCIDENTD_TOPIC_PREFIX", "");
    c->timeout_ms = 30000;
    c->ack_timeout_ms = 30 * 60 * 1000;
    c->max_level = 3;
    c->retention_ms = 7LL * 24 * 3600 * 1000;
    c->silences_max_active = 1000; /* silences.max_active's default */
    hd_rules_default(&c->rules);
    c->config_path = ctl_env("INCIDENTD_CONFIG", NULL);
}

/* The file's kafka.* first, the -X flags after them (later wins). */
static int ctl_config_props(ctl_t *c, ctl_config_t *cc)
{
    const config_t *cfg = &cc->cfg;
    if (cfg->n_kafka + c->n_props > CTL_PROPS_MAX) {
        ctl_err(c, "at most %d kafka properties", CTL_PROPS_MAX);
        return -1;
    }
    char **v = calloc(cfg->n_kafka + 1, sizeof(*v));
    if (!v) {
        ctl_err(c, "out of memory");
        return -1;
    }
    cc->props = v;
    for (size_t i = 0; i < cfg->n_kafka; i++) {
        size_t kl = strlen(cfg->kafka[i].key), vl = strlen(cfg->kafka[i].value);
        v[i] = malloc(kl + vl + 2);
        if (!v[i]) {
            ctl_err(c, "out of memory");
            return -1;
        }
        memcpy(v[i], cfg->kafka[i].key, kl);
        v[i][kl] = '=';
        memcpy(v[i] + kl + 1, cfg->kafka[i].value, vl + 1);
    }
    memmove(c->props + cfg->n_kafka, c->props, (c->n_props + 1) * sizeof(c->props[0]));
    for (size_t i = 0; i < cfg->n_kafka; i++)
        c->props[i] = v[i];
    c->n_props += cfg->n_kafka;
    return 0;
}

int ctl_config_apply(ctl_t *c, ctl_config_t *cc)
{
    memset(cc, 0, sizeof(*cc));
    if (!c->config_path || !*c->config_path)
        return 0;
    config_t *cfg = &cc->cfg;
    char *argv[] = {(char *)"incidentctl", (char *)"--config", (char *)c->config_path, NULL};
    char err[512];
    int rc = config_load(cfg, 3, argv, err, sizeof(err));
    if (rc != 0) {
        ctl_err(c, "config %s: %s", c->config_path, rc < 0 ? err : "not loaded");
        return -1;
    }
    if (!(c->flagged & CTL_SET_BROKERS) && cfg->brokers && *cfg->brokers)
        c->brokers = cfg->brokers;
    if (!(c->flagged & CTL_SET_REDIS) && cfg->redis && *cfg->redis) {
        c->redis = cfg->redis;
        c->redis_user = cfg->redis_user;
        c->redis_password = cfg->redis_password;
        c->redis_sentinels = cfg->redis_sentinels;
        c->redis_master_name = cfg->redis_master_name;
        c->redis_sentinel_password = cfg->redis_sentinel_password;
        c->redis_tls_ca = cfg->redis_tls_ca;
        c->redis_tls_cert = cfg->redis_tls_cert;
        c->redis_tls_key = cfg->redis_tls_key;
    }
    if (!(c->flagged & CTL_SET_PREFIX) && cfg->topic_prefix)
        c->prefix = cfg->topic_prefix;
    if (cfg->rules.ack_timeout_ms > 0)
        c->ack_timeout_ms = cfg->rules.ack_timeout_ms;
    if (cfg->rules.max_escalation_level > 0)
        c->max_level = cfg->rules.max_escalation_level;
    if (cfg->retention_ms > 0)
        c->retention_ms = cfg->retention_ms;
    /* The follow-up windows and the review due, for the rebuild's timers
     * (the scalars only: the config's lists go with it). */
    c->rules.followup_window_global_ms = cfg->rules.followup_window_global_ms;
    c->rules.followup_window_local_ms = cfg->rules.followup_window_local_ms;
    c->rules.followup_window_disturbance_ms = cfg->rules.followup_window_disturbance_ms;
    c->rules.review_due_ms = cfg->rules.review_due_ms;
    c->rules.silence_max_ms = cfg->rules.silence_max_ms;
    if (cfg->silences_max_active > 0)
        c->silences_max_active = cfg->silences_max_active;
    return ctl_config_props(c, cc);
}

void ctl_config_destroy(ctl_config_t *cc)
{
    for (size_t i = 0; cc->props && cc->props[i]; i++)
        free(cc->props[i]);
    free(cc->props);
    cc->props = NULL;
    config_destroy(&cc->cfg);
}
