/*
 * ctl_config.h — where incidentctl's settings come from before its flags:
 * the environment (INCIDENTD_BROKERS, ...), the contract's defaults and,
 * with --config / INCIDENTD_CONFIG, the daemon's own config file. Owned by
 * the ctl room.
 *
 * @locality incidentctl's main thread
 */
#ifndef INCIDENTD_CTL_CONFIG_H
#define INCIDENTD_CTL_CONFIG_H

#include "config.h"
#include "ctl.h"

/* The daemon's config file as loaded for one run. */
typedef struct ctl_config {
    config_t cfg;
    char **props; /* its kafka.* as malloc'ed "key=value", NULL-terminated */
} ctl_config_t;

/** The settings before any flag: the environment's, else the contract's. */
void ctl_defaults(ctl_t *c);

/**
 * With a config file (c->config_path), the daemon's settings become the
 * defaults: brokers, redis (and its user/password), topic_prefix, the
 * kafka.* properties (before the -X ones) and the rebuild's ack timeout,
 * maximum level and retention; flags still win. Loaded with config_load(),
 * so the environment applies as for the daemon. @p cc must outlive @p c's
 * use; free it with ctl_config_destroy() (also after a failure). Returns 0
 * or -1 (reported).
 */
int ctl_config_apply(ctl_t *c, ctl_config_t *cc);

/** Frees what ctl_config_apply() loaded. */
void ctl_config_destroy(ctl_config_t *cc);

#endif
