/*
 * config_value.c — one configuration value of each type: parse, check, store.
 *
 * config_value_apply() takes the text of one setting, from whichever source,
 * and stores it in its config_t field after the checks of its row's type:
 * numbers and durations within bounds, enums and severities by name, stage
 * lists, the Redis URL (redis_url.c's parser), librdkafka properties (judged
 * by librdkafka itself), roster and guideline entries. The duration parser
 * and formatter here are the daemon's only ones (config.h).
 */
#include "config_internal.h"
#include "directory.h"
#include "redis_url.h"
#include "stage.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <librdkafka/rdkafka.h>

/* Replaces the owned string in *slot by a copy of @p s. */
static void cfg_str_set(char **slot, const char *s)
{
    char *d = config_xstrdup(s);
    free(*slot);
    *slot = d;
}

/* ---- small parsers ---------------------------------------------------------- */

/* "all, detected, …, ingest": the names --stages takes, from the stage table. */
static const char *cfg_stages_valid(void)
{
    static char buf[256];
    if (!buf[0]) {
        size_t n = (size_t)snprintf(buf, sizeof(buf), "all");
        for (size_t i = 0; i < stage_count() && n < sizeof(buf); i++)
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, ", %s", stage_table[i].name);
    }
    return buf;
}

const char *config_stage_name(unsigned stage_bit)
{
    const stage_t *s = stage_by_bit(stage_bit);
    return s ? s->name : "unknown";
}

/* Parses a stage list; @p named gets the bits named one by one (not
 * through "all"). */
int config_stages_parse(const char *s, unsigned *mask, unsigned *named, char *err, size_t err_size)
{
    unsigned m = 0;
    unsigned one_by_one = 0;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *b = p, *e = comma ? comma : p + strlen(p);
        cfg_trim(&b, &e);
        size_t n = (size_t)(e - b);
        if (n > 0) {
            unsigned bit = 0;
            if (n == 3 && strncasecmp(b, "all", 3) == 0)
                bit = CONFIG_STAGE_ALL;
            const stage_t *row = bit ? NULL : stage_by_name(b, n);
            if (row)
                bit = row->bit;
            if (!bit) {
                snprintf(err, err_size, "unknown stage '%.*s' (valid: %s)", (int)(n > 64 ? 64 : n),
                         b, cfg_stages_valid());
                return -1;
            }
            if (bit != CONFIG_STAGE_ALL)
                one_by_one |= bit;
            m |= bit;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    if (!m) {
        snprintf(err, err_size, "no stage given (valid: %s)", cfg_stages_valid());
        return -1;
    }
    *mask = m;
    if (named)
        *named = one_by_one;
    return 0;
}

int config_parse_duration_ms(const char *s, int64_t *out)
{
    if (!s || !*s)
        return -1;
    const char *p = s;
    int64_t total = 0;
    int parts = 0;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return -1;
        int64_t v = 0;
        while (isdigit((unsigned char)*p)) {
            int d = *p++ - '0';
            if (v > (INT64_MAX - d) / 10)
                return -1;
            v = v * 10 + d;
        }
        int64_t mul;
        if (*p == '\0') {
            if (parts) /* "1h30": the unit of 30 is a guess, refuse */
                return -1;
            mul = 1;
        } else if (p[0] == 'm' && p[1] == 's') {
            mul = 1;
            p += 2;
        } else if (*p == 's') {
            mul = CFG_MS_S;
            p++;
        } else if (*p == 'm') {
            mul = CFG_MS_M;
            p++;
        } else if (*p == 'h') {
            mul = CFG_MS_H;
            p++;
        } else if (*p == 'd') {
            mul = CFG_MS_D;
            p++;
        } else {
            return -1;
        }
        if (v > INT64_MAX / mul)
            return -1;
        v *= mul;
        if (total > INT64_MAX - v)
            return -1;
        total += v;
        parts++;
    }
    *out = total;
    return 0;
}

void config_format_duration_ms(int64_t ms, char *buf, size_t size)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {{CFG_MS_D, "d"}, {CFG_MS_H, "h"}, {CFG_MS_M, "m"}, {CFG_MS_S, "s"}};
    if (ms == 0) {
        snprintf(buf, size, "0");
        return;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (ms % units[i].ms == 0) {
            snprintf(buf, size, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
            return;
        }
    snprintf(buf, size, "%lldms", (long long)ms);
}

static int cfg_parse_int64(const char *s, int64_t *out)
{
    if (!*s || cfg_is_space(*s))
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int config_parse_hostport(const char *s, char *host, size_t host_size, int *port)
{
    const char *h = s, *he, *colon;
    if (*s == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':')
            return -1;
        h = s + 1;
        he = rb;
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        he = colon;
        if (memchr(s, ':', (size_t)(colon - s))) /* bare IPv6 needs brackets */
            return -1;
    }
    for (const char *p = h; p < he; p++)
        if (cfg_is_space(*p) || *p == '/' || *p == '[' || *p == ']')
            return -1;
    const char *ps = colon + 1;
    if (!*ps || strlen(ps) > 5)
        return -1;
    int v = 0;
    for (const char *p = ps; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (v > 65535)
        return -1;
    size_t n = (size_t)(he - h);
    if (n + 1 > host_size)
        return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    *port = v;
    return 0;
}

int config_check_hostport(const char *v, char *err, size_t err_size)
{
    char host[256];
    int port;
    if (!*v || config_parse_hostport(v, host, sizeof(host), &port) == 0)
        return 0;
    snprintf(err, err_size, "'%s' is not host:port (e.g. 0.0.0.0:9100, [::1]:9100, :9100)", v);
    return -1;
}

int config_check_sentinels(const char *v, char *err, size_t err_size)
{
    redis_hostport_t hp[REDIS_SENTINELS_MAX];
    char why[200];
    if (redis_url_hostports(v, hp, REDIS_SENTINELS_MAX, why, sizeof(why)) >= 0)
        return 0;
    snprintf(err, err_size,
             "'%.200s' is not a comma list of host:port (e.g. 10.0.0.1:26379, "
             "[::1]:26379): %s",
             v, why);
    return -1;
}

/* topics.replication: an integer in -1..32767 already; 0 replicas is not a
 * replication factor (the broker would refuse every topic). */
int config_check_replication(const char *v, char *err, size_t err_size)
{
    int64_t n;
    if (cfg_parse_int64(v, &n) == 0 && n == 0) {
        snprintf(err, err_size,
                 "0 is not a replication factor (-1 = the broker's default, or 1..)");
        return -1;
    }
    return 0;
}

int config_check_topic_prefix(const char *v, char *err, size_t err_size)
{
    if (strlen(v) > 200) {
        snprintf(err, err_size, "longer than 200 characters");
        return -1;
    }
    for (const char *p = v; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-') {
            snprintf(err, err_size,
                     "'%s' has characters not allowed in Kafka topic names "
                     "(allowed: A-Z a-z 0-9 . _ -)",
                     v);
            return -1;
        }
    return 0;
}

static const struct {
    Incident__V1__Severity sev;
    const char *name;
} cfg_severities[] = {
    {INCIDENT__V1__SEVERITY__SEVERITY_INFO, "INFO"},
    {INCIDENT__V1__SEVERITY__SEVERITY_WARNING, "WARNING"},
    {INCIDENT__V1__SEVERITY__SEVERITY_MINOR, "MINOR"},
    {INCIDENT__V1__SEVERITY__SEVERITY_MAJOR, "MAJOR"},
    {INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL, "CRITICAL"},
};

int config_severity_parse(const char *s, Incident__V1__Severity *out)
{
    if (strncasecmp(s, "SEVERITY_", 9) == 0)
        s += 9;
    for (size_t i = 0; i < sizeof(cfg_severities) / sizeof(cfg_severities[0]); i++)
        if (strcasecmp(s, cfg_severities[i].name) == 0) {
            *out = cfg_severities[i].sev;
            return 0;
        }
    return -1;
}

const char *config_severity_name(Incident__V1__Severity sev)
{
    for (size_t i = 0; i < sizeof(cfg_severities) / sizeof(cfg_severities[0]); i++)
        if (cfg_severities[i].sev == sev)
            return cfg_severities[i].name;
    return "UNSPECIFIED";
}

static const struct {
    Incident__V1__Role role;
    const char *name;
} cfg_roles[] = {
    {INCIDENT__V1__ROLE__ROLE_TECHNICAL_MANAGER, "technical_manager"},
    {INCIDENT__V1__ROLE__ROLE_CUSTOMER_SERVICE_MANAGER, "customer_service_manager"},
};

const char *config_role_name(Incident__V1__Role role)
{
    for (size_t i = 0; i < sizeof(cfg_roles) / sizeof(cfg_roles[0]); i++)
        if (cfg_roles[i].role == role)
            return cfg_roles[i].name;
    return "unspecified";
}

/* Splits a comma list into @p out (items trimmed, empty ones dropped). */
static void cfg_list_parse(const char *s, config_list_t *out)
{
    config_list_t l = {0};
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *b = p, *e = comma ? comma : p + strlen(p);
        cfg_trim(&b, &e);
        if (e > b) {
            l.items = config_xrealloc(l.items, (l.n + 1) * sizeof(*l.items));
            l.items[l.n++] = config_xstrndup(b, (size_t)(e - b));
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    config_list_free(out);
    *out = l;
}

/* ---- redis URL ---------------------------------------------------------------- */

/* @p url with any user:password@ replaced by ***@, for messages. */
static void cfg_url_mask(const char *url, char *buf, size_t size)
{
    const char *scheme = strstr(url, "://");
    const char *at = strrchr(url, '@');
    if (scheme && at && at > scheme)
        snprintf(buf, size, "%.*s***%s", (int)(scheme + 3 - url), url, at);
    else
        snprintf(buf, size, "%s", url);
}

/* Sets redis (canonical, without credentials), redis_host/port/db and, when
 * the URL has them, the credentials. The parser is redis_url.c's, the one
 * store.c connects with. */
static int cfg_redis_set(config_t *cfg, const char *url, char *err, size_t err_size)
{
    char shown[512], why[160];
    redis_url_t u;
    cfg_url_mask(url, shown, sizeof(shown));
    if (redis_url_parse(url, &u, why, sizeof(why)) != 0) {
        snprintf(err, err_size, "'%.200s' is not a redis URL (%s): %s", shown, REDIS_URL_FORM, why);
        return -1;
    }
    char canon[400];
    redis_url_format(&u, canon, sizeof(canon));
    cfg_str_set(&cfg->redis, canon);
    cfg_str_set(&cfg->redis_host, u.host);
    cfg->redis_port = u.port;
    cfg->redis_db = u.db;
    if (u.user[0])
        cfg_str_set(&cfg->redis_user, u.user);
    if (u.has_password)
        cfg_str_set(&cfg->redis_password, u.password);
    memset(&u, 0, sizeof(u));
    return 0;
}

/* ---- kafka, roster, guidelines ---------------------------------------------------- */

/* Non-zero when a librdkafka property's value must not be shown. */
int config_kafka_is_secret(const char *prop)
{
    static const char *const words[] = {"password",   "secret",  "jaas",    "token",
                                        "credential", "private", "ssl.key", "oauthbearer.config"};
    static const char *const sasl_public[] = {"sasl.mechanism", "sasl.mechanisms", "sasl.username",
                                              "sasl.kerberos.service.name",
                                              "sasl.kerberos.principal"};
    char low[256];
    size_t n = 0;
    for (; prop[n] && n + 1 < sizeof(low); n++)
        low[n] = (char)tolower((unsigned char)prop[n]);
    low[n] = '\0';
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strstr(low, words[i]))
            return 1;
    if (strncmp(low, "sasl.", 5) == 0) {
        for (size_t i = 0; i < sizeof(sasl_public) / sizeof(sasl_public[0]); i++)
            if (strcmp(low, sasl_public[i]) == 0)
                return 0;
        return 1;
    }
    return 0;
}

static int cfg_kafka_set(config_t *cfg, const char *prop, const char *value, char *err,
                         size_t err_size)
{
    static const struct {
        const char *prop, *use;
    } owned[] = {
        {"bootstrap.servers", "brokers"},
        {"metadata.broker.list", "brokers"},
        {"group.id", "group_prefix"},
        {"group.instance.id", "instance_id"},
        {"transactional.id", "(set by incidentd)"},
    };
    if (!*prop) {
        snprintf(err, err_size, "expected kafka.<property>");
        return -1;
    }
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
        if (strcmp(prop, owned[i].prop) == 0) {
            snprintf(err, err_size, "'%s' is managed by incidentd: use %s", prop, owned[i].use);
            return -1;
        }
    /* Let librdkafka judge name and value now, so a typo fails at start-up
     * with the line that holds it. */
    char kerr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_res_t res = rd_kafka_conf_set(conf, prop, value, kerr, sizeof(kerr));
    rd_kafka_conf_destroy(conf);
    if (res != RD_KAFKA_CONF_OK) {
        if (res == RD_KAFKA_CONF_UNKNOWN)
            snprintf(err, err_size, "unknown librdkafka property '%s'", prop);
        else if (config_kafka_is_secret(prop) && *value && strstr(kerr, value))
            snprintf(err, err_size, "invalid value (not shown: secret)");
        else
            snprintf(err, err_size, "%s", kerr);
        return -1;
    }
    for (size_t i = 0; i < cfg->n_kafka; i++)
        if (strcmp(cfg->kafka[i].key, prop) == 0) {
            cfg_str_set(&cfg->kafka[i].value, value);
            return 0;
        }
    cfg->kafka = config_xrealloc(cfg->kafka, (cfg->n_kafka + 1) * sizeof(*cfg->kafka));
    cfg->kafka[cfg->n_kafka].key = config_xstrdup(prop);
    cfg->kafka[cfg->n_kafka].value = config_xstrdup(value);
    cfg->n_kafka++;
    return 0;
}

/* "default" (any case) and "*" mean any service: stored as "*". */
static const char *cfg_service_norm(const char *s)
{
    return strcasecmp(s, "default") == 0 ? "*" : s;
}

static int cfg_roster_set(config_t *cfg, const char *rest, const char *value, char *err,
                          size_t err_size)
{
    const char *dot = strchr(rest, '.');
    if (!dot || dot == rest || !dot[1]) {
        snprintf(err, err_size, "expected roster.<role>.<service>");
        return -1;
    }
    size_t rn = (size_t)(dot - rest);
    if (rn > 5 && strncasecmp(rest, "role_", 5) == 0) {
        rest += 5;
        rn -= 5;
    }
    Incident__V1__Role role = INCIDENT__V1__ROLE__ROLE_UNSPECIFIED;
    for (size_t i = 0; i < sizeof(cfg_roles) / sizeof(cfg_roles[0]); i++)
        if (strlen(cfg_roles[i].name) == rn && strncasecmp(rest, cfg_roles[i].name, rn) == 0)
            role = cfg_roles[i].role;
    if (role == INCIDENT__V1__ROLE__ROLE_UNSPECIFIED) {
        snprintf(err, err_size,
                 "unknown role '%.*s' (valid: technical_manager, customer_service_manager)",
                 (int)(rn > 64 ? 64 : rn), rest);
        return -1;
    }
    const char *service = cfg_service_norm(dot + 1);
    for (size_t i = 0; i < cfg->n_roster; i++) {
        hd_roster_entry_t *r = &cfg->roster[i];
        if (r->role != role || strcmp(r->service, service) != 0)
            continue;
        if (!*value) { /* remove */
            free((char *)r->service);
            free((char *)r->owner);
            memmove(r, r + 1, (cfg->n_roster - i - 1) * sizeof(*r));
            cfg->n_roster--;
        } else {
            char *o = config_xstrdup(value);
            free((char *)r->owner);
            r->owner = o;
        }
        return 0;
    }
    if (!*value)
        return 0;
    cfg->roster = config_xrealloc(cfg->roster, (cfg->n_roster + 1) * sizeof(*cfg->roster));
    cfg->roster[cfg->n_roster].role = role;
    cfg->roster[cfg->n_roster].service = config_xstrdup(service);
    cfg->roster[cfg->n_roster].owner = config_xstrdup(value);
    cfg->n_roster++;
    return 0;
}

static int cfg_guideline_set(config_t *cfg, const char *rest, const char *value, char *err,
                             size_t err_size)
{
    if (!*rest) {
        snprintf(err, err_size, "expected guideline.<service>");
        return -1;
    }
    const char *service = cfg_service_norm(rest);
    for (size_t i = 0; i < cfg->n_guidelines; i++) {
        hd_guideline_t *g = &cfg->guidelines[i];
        if (strcmp(g->service, service) != 0)
            continue;
        if (!*value) {
            free((char *)g->service);
            free((char *)g->text);
            memmove(g, g + 1, (cfg->n_guidelines - i - 1) * sizeof(*g));
            cfg->n_guidelines--;
        } else {
            char *t = config_xstrdup(value);
            free((char *)g->text);
            g->text = t;
        }
        return 0;
    }
    if (!*value)
        return 0;
    cfg->guidelines =
        config_xrealloc(cfg->guidelines, (cfg->n_guidelines + 1) * sizeof(*cfg->guidelines));
    cfg->guidelines[cfg->n_guidelines].service = config_xstrdup(service);
    cfg->guidelines[cfg->n_guidelines].text = config_xstrdup(value);
    cfg->n_guidelines++;
    return 0;
}

/* ---- notify addresses and the directory ------------------------------------------ */

int config_check_email(const char *v, char *err, size_t err_size)
{
    return directory_check_email(v, err, err_size);
}

int config_check_http_url(const char *v, char *err, size_t err_size)
{
    return *v ? directory_check_http_url(v, err, err_size) : 0;
}

int config_check_smtp_url(const char *v, char *err, size_t err_size)
{
    size_t skip;
    if (!*v)
        return 0;
    if (strncasecmp(v, "smtps://", 8) == 0)
        skip = 8;
    else if (strncasecmp(v, "smtp://", 7) == 0)
        skip = 7;
    else {
        snprintf(err, err_size, "not an smtp:// or smtps:// URL");
        return -1;
    }
    const char *host = v + skip;
    size_t auth = strcspn(host, "/?#");
    if (memchr(host, '@', auth)) {
        snprintf(err, err_size,
                 "credentials in the URL are not allowed: use notify.smtp_user and "
                 "notify.smtp_password");
        return -1;
    }
    if (auth == 0 || *host == ':') {
        snprintf(err, err_size, "URL without a host");
        return -1;
    }
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p <= 0x20 || *p == 0x7f) {
            snprintf(err, err_size, "URL with spaces or control characters");
            return -1;
        }
    return 0;
}

void config_directory_free(directory_entry_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].email);
        free(v[i].webhook);
        free(v[i].slack);
        if (v[i].token) /* a secret: leave nothing behind */
            memset(v[i].token, 0, strlen(v[i].token));
        free(v[i].token);
    }
    free(v);
}

/* The entry @p name of @p *v, added (all fields "") when missing. */
static directory_entry_t *cfg_directory_entry(directory_entry_t **v, size_t *n,
                                              directory_kind_t kind, const char *name,
                                              size_t name_len)
{
    for (size_t i = 0; i < *n; i++)
        if (strlen((*v)[i].name) == name_len && memcmp((*v)[i].name, name, name_len) == 0)
            return &(*v)[i];
    *v = config_xrealloc(*v, (*n + 1) * sizeof(**v));
    directory_entry_t *e = &(*v)[(*n)++];
    *e = (directory_entry_t){.kind = kind,
                             .name = config_xstrndup(name, name_len),
                             .email = config_xstrdup(""),
                             .webhook = config_xstrdup(""),
                             .slack = config_xstrdup(""),
                             .token = config_xstrdup(""),
                             .role = DIRECTORY_ROLE_VIEWER};
    return e;
}

static int cfg_token_check(const char *v, char *err, size_t err_size)
{
    if (*v && strlen(v) < 16) {
        snprintf(err, err_size, "a token needs at least 16 characters");
        return -1;
    }
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p <= 0x20 || *p == 0x7f) {
            snprintf(err, err_size, "a token may not hold spaces or control characters");
            return -1;
        }
    return 0;
}

/* Checks @p v for the directory field @p field; 0, or -1 with @p err. */
static int cfg_directory_check(const char *field, const char *v, char *err, size_t err_size)
{
    if (!*v)
        return 0;
    if (strcmp(field, "email") == 0)
        return directory_check_email(v, err, err_size);
    if (strcmp(field, "webhook") == 0 || strcmp(field, "slack") == 0)
        return directory_check_http_url(v, err, err_size);
    if (strcmp(field, "token") == 0)
        return cfg_token_check(v, err, err_size);
    if (directory_role_parse(v) < 0) {
        snprintf(err, err_size,
                 "unknown role '%.64s' (valid: technical_manager, customer_service_manager, "
                 "stakeholder, viewer)",
                 v);
        return -1;
    }
    return 0;
}

/*
 * people.<name>.<field> and clients.<client>.<field>: @p rest is
 * "<name>.<field>" (the name may hold dots: the field is after the last).
 */
static int cfg_directory_set(config_t *cfg, directory_kind_t kind, const char *rest,
                             const char *value, char *err, size_t err_size)
{
    static const char *const person_fields[] = {"email", "webhook", "slack", "token", "role"};
    const char *pattern = kind == DIRECTORY_PERSON ? "people.<name>" : "clients.<client>";
    size_t n_fields = kind == DIRECTORY_PERSON ? 5 : 2;
    const char *dot = strrchr(rest, '.');
    if (!dot || dot == rest || !dot[1]) {
        snprintf(err, err_size, "expected %s.<field>", pattern);
        return -1;
    }
    for (const char *p = rest; p < dot; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._-@+", *p)) {
            snprintf(err, err_size, "the name '%.*s' may only hold A-Z a-z 0-9 . _ - @ +",
                     (int)(dot - rest > 64 ? 64 : dot - rest), rest);
            return -1;
        }
    const char *field = dot + 1;
    size_t f = 0;
    while (f < n_fields && strcmp(field, person_fields[f]) != 0)
        f++;
    if (f == n_fields) {
        snprintf(err, err_size, "unknown field '%.32s' of %s (valid: %s)", field, pattern,
                 kind == DIRECTORY_PERSON ? "email, webhook, slack, token, role"
                                          : "email, webhook");
        return -1;
    }
    if (cfg_directory_check(field, value, err, err_size) != 0)
        return -1;
    directory_entry_t *e =
        kind == DIRECTORY_PERSON
            ? cfg_directory_entry(&cfg->people, &cfg->n_people, kind, rest, (size_t)(dot - rest))
            : cfg_directory_entry(&cfg->clients, &cfg->n_clients, kind, rest, (size_t)(dot - rest));
    char **slots[] = {&e->email, &e->webhook, &e->slack, &e->token};
    if (f < 4) {
        if (*slots[f] && f == 3)
            memset(*slots[f], 0, strlen(*slots[f]));
        cfg_str_set(slots[f], value);
    } else {
        e->role = *value ? (directory_role_t)directory_role_parse(value) : DIRECTORY_ROLE_VIEWER;
    }
    return 0;
}

/* ---- one value of each type ------------------------------------------------------ */

static int cfg_number_set(const cfg_entry_t *e, void *field, const char *v, char *err,
                          size_t err_size)
{
    int64_t n;
    if (cfg_parse_int64(v, &n) != 0) {
        snprintf(err, err_size, "'%s' is not an integer", v);
        return -1;
    }
    if (n < e->min || n > e->max) {
        snprintf(err, err_size, "%lld is out of range (%lld..%lld)", (long long)n,
                 (long long)e->min, (long long)e->max);
        return -1;
    }
    if (e->type == CFG_INT)
        *(int *)field = (int)n;
    else
        *(uint32_t *)field = (uint32_t)n;
    return 0;
}

static int cfg_duration_set(const cfg_entry_t *e, int64_t *field, const char *v, char *err,
                            size_t err_size)
{
    int64_t n;
    char lo[32], hi[32];
    if (config_parse_duration_ms(v, &n) != 0) {
        snprintf(err, err_size, "'%s' is not a duration (e.g. 30m, 10s, 500ms)", v);
        return -1;
    }
    if (n < e->min || n > e->max) {
        config_format_duration_ms(e->min, lo, sizeof(lo));
        config_format_duration_ms(e->max, hi, sizeof(hi));
        snprintf(err, err_size, "'%s' is out of range (%s..%s)", v, lo, hi);
        return -1;
    }
    *field = n;
    return 0;
}

static int cfg_severity_set(Incident__V1__Severity *field, const char *v, char *err,
                            size_t err_size)
{
    if (config_severity_parse(v, field) != 0) {
        snprintf(err, err_size, "'%s' is not a severity (INFO, WARNING, MINOR, MAJOR, CRITICAL)",
                 v);
        return -1;
    }
    return 0;
}

/* Stores the canonical spelling of the choice @p v names (any case). */
static int cfg_enum_set(const cfg_entry_t *e, char **field, const char *v, char *err,
                        size_t err_size)
{
    const char *c = e->choices;
    while (*c) {
        const char *bar = strchr(c, '|');
        size_t cn = bar ? (size_t)(bar - c) : strlen(c);
        if (strlen(v) == cn && strncasecmp(v, c, cn) == 0) {
            char *s = config_xstrndup(c, cn);
            free(*field);
            *field = s;
            return 0;
        }
        c += cn + (bar ? 1 : 0);
    }
    char list[128]; /* "a|b|c" -> "a, b, c" */
    size_t ln = 0;
    for (c = e->choices; *c && ln + 3 < sizeof(list); c++) {
        if (*c == '|') {
            list[ln++] = ',';
            list[ln++] = ' ';
        } else {
            list[ln++] = *c;
        }
    }
    list[ln] = '\0';
    snprintf(err, err_size, "'%s' is not one of %s", v, list);
    return -1;
}

static int cfg_stages_set(config_t *cfg, char **field, const char *v, char *err, size_t err_size)
{
    unsigned mask;
    if (config_stages_parse(v, &mask, NULL, err, err_size) != 0)
        return -1;
    cfg_str_set(field, v);
    cfg->stage_mask = mask;
    return 0;
}

int config_value_apply(config_t *cfg, const cfg_entry_t *e, const char *key, const char *v,
                       char *err, size_t err_size)
{
    void *field = cfg_is_pattern(e) ? NULL : cfg_field(cfg, e);
    const char *rest = cfg_is_pattern(e) ? key + cfg_pattern_prefix_len(e) : NULL;

    if ((e->flags & CFG_F_NONEMPTY) && !*v) {
        snprintf(err, err_size, "must not be empty");
        return -1;
    }
    switch (e->type) {
    case CFG_STR:
        if (e->check && e->check(v, err, err_size) != 0)
            return -1;
        cfg_str_set(field, v);
        return 0;
    case CFG_INT:
    case CFG_U32:
        if (cfg_number_set(e, field, v, err, err_size) != 0)
            return -1;
        return e->check ? e->check(v, err, err_size) : 0;
    case CFG_DURATION:
        return cfg_duration_set(e, field, v, err, err_size);
    case CFG_SEVERITY:
        return cfg_severity_set(field, v, err, err_size);
    case CFG_LIST:
        cfg_list_parse(v, field);
        return 0;
    case CFG_ENUM:
        return cfg_enum_set(e, field, v, err, err_size);
    case CFG_STAGES:
        return cfg_stages_set(cfg, field, v, err, err_size);
    case CFG_REDIS_URL:
        return cfg_redis_set(cfg, v, err, err_size);
    case CFG_ROSTER:
        return cfg_roster_set(cfg, rest, v, err, err_size);
    case CFG_GUIDELINE:
        return cfg_guideline_set(cfg, rest, v, err, err_size);
    case CFG_KAFKA:
        return cfg_kafka_set(cfg, rest, v, err, err_size);
    case CFG_PEOPLE:
        return cfg_directory_set(cfg, DIRECTORY_PERSON, rest, v, err, err_size);
    case CFG_CLIENTS:
        return cfg_directory_set(cfg, DIRECTORY_CLIENT, rest, v, err, err_size);
    case CFG_MAINTENANCE:
        return schedule_set(&cfg->schedule, SCHEDULE_MAINTENANCE, rest, v, err, err_size);
    case CFG_ROTATION:
        return schedule_set(&cfg->schedule, SCHEDULE_ROTATION, rest, v, err, err_size);
    }
    snprintf(err, err_size, "unsupported type");
    return -1;
}
