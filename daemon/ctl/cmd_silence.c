/*
 * cmd_silence.c — incidentctl silence add|list|expire: the silences of the
 * compacted topic incidents.silences (key: silence id). `add` produces an
 * incident.v1.Silence checked as the contract says (hd_silence_validate():
 * bounded by silences.max_duration, a comment, a creator, a matcher),
 * refused while silences.max_active silences are in force (the topic read
 * first, as the API's table: gtable.h, the cap);
 * `expire` produces the tombstone; `list` reads the topic whole and shows
 * each silence's latest record. Owned by the ctl room.
 *
 * @locality incidentctl's main thread (kafka_read_all() calls back on it)
 */
#include <inttypes.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_opts.h"
#include "ctl_out.h"
#include "ctl_text.h"
#include "pbjson.h"
#include "silence.h"
#include "silences.h"

typedef struct ctl_silence {
    const char *service, *site, *prefix, *comment, *actor, *id;
    const char *labels[HD_LABELS_MAX];
    size_t n_labels;
    int64_t starts_at_ms, ends_at_ms;
} ctl_silence_t;

#define SIL_OFF(f) offsetof(ctl_silence_t, f)

static int ctl_sil_opt_label(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    ctl_silence_t *s = base;
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return ctl_opt_bad(c, opt, "KEY=VALUE", arg);
    if (s->n_labels == HD_LABELS_MAX)
        return ctl_opt_bad(c, opt, "at most 64 labels", arg);
    s->labels[s->n_labels++] = arg;
    return CTL_OPT_OK;
}

/* A duration from now (2h) or an RFC 3339 time. */
static int ctl_sil_time(const char *arg, int64_t *out)
{
    int64_t v;
    if (ctl_parse_duration(arg, &v) == 0 && v <= INT64_MAX - ctl_now_ms())
        *out = ctl_now_ms() + v;
    else if (ctl_parse_time(arg, &v) == 0 && v > 0)
        *out = v;
    else
        return -1;
    return 0;
}

static int ctl_sil_opt_ends(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    ctl_silence_t *s = base;
    if (ctl_sil_time(arg, &s->ends_at_ms) < 0)
        return ctl_opt_bad(c, opt, "a duration from now (2h) or an RFC 3339 time", arg);
    return CTL_OPT_OK;
}

static int ctl_sil_opt_starts(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    ctl_silence_t *s = base;
    if (ctl_sil_time(arg, &s->starts_at_ms) < 0)
        return ctl_opt_bad(c, opt, "a duration from now (10m) or an RFC 3339 time", arg);
    return CTL_OPT_OK;
}

static const ctl_opt_t ctl_silence_opts[] = {
    {.name = "service",
     .arg = "S",
     .help = "add: silence alerts of service S",
     .set = ctl_opt_string,
     .off = SIL_OFF(service)},
    {.name = "site",
     .arg = "SITE",
     .help = "add: ... naming site SITE",
     .set = ctl_opt_string,
     .off = SIL_OFF(site)},
    {.name = "key-prefix",
     .arg = "P",
     .help = "add: ... whose dedup key starts with P",
     .set = ctl_opt_string,
     .off = SIL_OFF(prefix)},
    {.name = "label",
     .arg = "K=V",
     .help = "add: ... with label K=V (repeatable)",
     .set = ctl_sil_opt_label},
    {.name = "starts",
     .arg = "WHEN",
     .help = "add: from (a duration from now or an RFC 3339\ntime; default: now)",
     .set = ctl_sil_opt_starts},
    {.name = "ends",
     .arg = "WHEN",
     .help = "add: until (2h, or an RFC 3339 time; required)",
     .set = ctl_sil_opt_ends},
    {.name = "comment",
     .arg = "TEXT",
     .help = "add: why (required)",
     .set = ctl_opt_string,
     .off = SIL_OFF(comment)},
    {.name = "actor",
     .arg = "NAME",
     .help = "add: who creates it (default: $INCIDENTD_ACTOR,\nelse the login name)",
     .set = ctl_opt_string,
     .off = SIL_OFF(actor)},
    {.name = "id",
     .arg = "ID",
     .help = "add: the silence's id (default: a new one)",
     .set = ctl_opt_string,
     .off = SIL_OFF(id)},
    {0},
};

/* --actor, else $INCIDENTD_ACTOR, else the login name; NULL when none. */
static const char *ctl_sil_actor(const ctl_silence_t *s, arena_t *arena)
{
    if (s->actor)
        return s->actor[0] ? s->actor : NULL;
    const char *env = getenv("INCIDENTD_ACTOR");
    if (env && env[0])
        return env;
    const struct passwd *pw = getpwuid(geteuid());
    return pw && pw->pw_name && pw->pw_name[0] ? arena_strdup(arena, pw->pw_name) : NULL;
}

/* The Silence of the options, checked. Returns NULL after reporting. */
static hd_silence_t *ctl_sil_build(ctl_t *c, const ctl_silence_t *s, arena_t *a)
{
    hd_matchers_t *m = arena_alloc(a, sizeof(*m));
    hd_matchers_t minit = INCIDENT__V1__SILENCE_MATCHERS__INIT;
    *m = minit;
    m->service = (char *)(s->service ? s->service : "");
    m->site = (char *)(s->site ? s->site : "");
    m->dedup_key_prefix = (char *)(s->prefix ? s->prefix : "");
    m->labels = arena_alloc(a, (s->n_labels + 1) * sizeof(*m->labels));
    for (size_t i = 0; i < s->n_labels; i++) {
        Incident__V1__SilenceMatchers__LabelsEntry *e = arena_alloc(a, sizeof(*e));
        Incident__V1__SilenceMatchers__LabelsEntry einit =
            INCIDENT__V1__SILENCE_MATCHERS__LABELS_ENTRY__INIT;
        *e = einit;
        const char *eq = strchr(s->labels[i], '=');
        e->key = arena_strndup(a, s->labels[i], (size_t)(eq - s->labels[i]));
        e->value = arena_strdup(a, eq + 1);
        m->labels[m->n_labels++] = e;
    }
    hd_silence_t *sil = arena_alloc(a, sizeof(*sil));
    hd_silence_t init = INCIDENT__V1__SILENCE__INIT;
    *sil = init;
    sil->id = (char *)(s->id ? s->id : ctl_new_id(a));
    sil->matchers = m;
    sil->starts_at_ms = s->starts_at_ms ? s->starts_at_ms : ctl_now_ms();
    sil->ends_at_ms = s->ends_at_ms;
    sil->comment = (char *)(s->comment ? s->comment : "");
    const char *actor = ctl_sil_actor(s, a);
    sil->created_by = (char *)(actor ? actor : "");
    char err[256];
    const char *field = NULL;
    if (hd_silence_validate(sil, c->rules.silence_max_ms, &field, err, sizeof(err)) < 0) {
        ctl_usage_error(c, "silence refused: %s", err);
        return NULL;
    }
    return sil;
}

/* Produces one record (NULL value: a tombstone) keyed @p id. */
static int ctl_sil_send(ctl_t *c, const char *id, const void *val, size_t len)
{
    char topic[512];
    ctl_topic(c, "incidents.silences", topic, sizeof(topic));
    rd_kafka_t *rk = ctl_producer_new(c, c->timeout_ms);
    if (!rk)
        return CTL_EXIT_USAGE;
    ctl_delivery_t dl = {0};
    rd_kafka_resp_err_t e = ctl_produce(rk, topic, id, val, len, &dl);
    if (!e)
        rd_kafka_flush(rk, c->timeout_ms + 5000);
    rd_kafka_destroy(rk);
    if (e || !dl.done || dl.err) {
        ctl_err(c, "silence %s not delivered to %s: %s", id, topic,
                e         ? rd_kafka_err2str(e)
                : dl.done ? rd_kafka_err2str(dl.err)
                          : "no delivery report in time (is Kafka reachable?)");
        return CTL_EXIT_USAGE;
    }
    return CTL_EXIT_OK;
}

static int ctl_sil_on_msg(const rd_kafka_message_t *m, void *opaque)
{
    silences_apply(opaque, m->key, m->key_len, m->payload, m->len);
    return 0;
}

/* The whole topic into a table of at most @p max silences in force (0: all,
 * to show them). Returns it, or NULL after reporting. */
static silences_t *ctl_sil_read(ctl_t *c, size_t max)
{
    char topic[512], err[512];
    ctl_topic(c, "incidents.silences", topic, sizeof(topic));
    silences_t *tab = silences_new(c->brokers, topic, c->props, max);
    kafka_read_t r = ctl_read_init(c, topic, ctl_sil_on_msg, NULL, tab);
    int krc = kafka_read_all(&r, err, sizeof(err));
    if (krc == KAFKA_OK || krc == KAFKA_NOTOPIC)
        return tab;
    ctl_err(c, "%s", err);
    silences_destroy(tab);
    return NULL;
}

/* Refuses a silence past silences.max_active: read the table first, as the
 * API's own. Returns CTL_GO, or an exit code after reporting. */
static int ctl_sil_room(ctl_t *c, const hd_silence_t *sil)
{
    silences_t *tab = ctl_sil_read(c, c->silences_max_active);
    if (!tab)
        return CTL_EXIT_USAGE;
    char err[512];
    int full = gtable_full(tab, sil->id, err, sizeof(err));
    silences_destroy(tab);
    if (!full)
        return CTL_GO;
    ctl_err(c, "silence refused: %s", err);
    return CTL_EXIT_FAIL;
}

static int ctl_sil_add(ctl_t *c, const ctl_silence_t *s, arena_t *a)
{
    hd_silence_t *sil = ctl_sil_build(c, s, a);
    if (!sil)
        return CTL_EXIT_USAGE;
    int room = ctl_sil_room(c, sil);
    if (room != CTL_GO)
        return room;
    size_t len = incident__v1__silence__get_packed_size(sil);
    uint8_t *buf = arena_alloc(a, len + 1);
    incident__v1__silence__pack(sil, buf);
    int rc = ctl_sil_send(c, sil->id, buf, len);
    if (rc == CTL_EXIT_OK && c->json)
        ctl_json_print_line(pbjson_from_message(&sil->base));
    else if (rc == CTL_EXIT_OK)
        printf("%s\n", sil->id);
    return rc;
}

/* ---- list ---------------------------------------------------------------------------- */

/* "service=db site=par1 key^=db- env=prod" */
static const char *ctl_sil_matchers_text(const hd_matchers_t *m, arena_t *a)
{
    const char *t = "";
    if (*m->service)
        t = arena_printf(a, "%sservice=%s ", t, m->service);
    if (*m->site)
        t = arena_printf(a, "%ssite=%s ", t, m->site);
    if (*m->dedup_key_prefix)
        t = arena_printf(a, "%skey^=%s ", t, m->dedup_key_prefix);
    for (size_t i = 0; i < m->n_labels; i++)
        t = arena_printf(a, "%s%s=%s ", t, m->labels[i]->key, m->labels[i]->value);
    return t;
}

static void ctl_sil_print(const ctl_t *c, const hd_silence_t *const *v, size_t n, arena_t *a)
{
    int64_t now = ctl_now_ms();
    if (c->json) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(arr, pbjson_from_message(&v[i]->base));
        ctl_json_print(arr);
        return;
    }
    if (n == 0) {
        printf("no silences\n");
        return;
    }
    printf("%-28s  %-7s  %-24s  %-24s  %-12s  %-30s  %s\n", "ID", "STATE", "STARTS", "ENDS", "BY",
           "MATCHERS", "COMMENT");
    for (size_t i = 0; i < n; i++) {
        const hd_silence_t *s = v[i];
        char t1[40], t2[40];
        const char *state = now < s->starts_at_ms ? "pending"
                            : now < s->ends_at_ms ? "active"
                                                  : "ended";
        printf("%-28s  %-7s  %-24s  %-24s  %-12s  %-30s  %s\n", ctl_text_safe(s->id), state,
               ctl_time(s->starts_at_ms, t1, sizeof(t1)), ctl_time(s->ends_at_ms, t2, sizeof(t2)),
               ctl_text_safe(s->created_by), ctl_text_safe(ctl_sil_matchers_text(s->matchers, a)),
               ctl_text_safe(s->comment));
    }
}

static int ctl_sil_list(ctl_t *c, arena_t *a)
{
    silences_t *tab = ctl_sil_read(c, 0); /* all of them, a surplus too */
    if (!tab)
        return CTL_EXIT_USAGE;
    size_t n;
    const hd_silence_t *const *v = silences_all(tab, &n);
    ctl_sil_print(c, v, n, a);
    silences_destroy(tab);
    return CTL_EXIT_OK;
}

static int ctl_silence_exec(ctl_t *c, int argc, char **argv)
{
    ctl_silence_t s = {0};
    int rc = ctl_cmd_options(c, &ctl_cmd_silence_entry, &s, &argc, &argv);
    if (rc != CTL_GO)
        return rc;
    const char *sub = argc > 0 ? argv[0] : "";
    arena_t arena;
    arena_init(&arena, 0);
    if (strcmp(sub, "add") == 0 && (rc = ctl_args_at_most(c, argc, argv, 1)) == CTL_GO)
        rc = ctl_sil_add(c, &s, &arena);
    else if (strcmp(sub, "list") == 0 && (rc = ctl_args_at_most(c, argc, argv, 1)) == CTL_GO)
        rc = ctl_sil_list(c, &arena);
    else if (strcmp(sub, "expire") == 0 && argc == 2 && *argv[1])
        rc = ctl_sil_send(c, argv[1], NULL, 0); /* the tombstone */
    else if (rc == CTL_GO)
        rc = ctl_usage_error(c, "expected: silence add OPTIONS | silence list | silence expire ID");
    if (rc == CTL_EXIT_OK && strcmp(sub, "expire") == 0)
        printf("%s\n", argv[1]);
    arena_destroy(&arena);
    return rc;
}

const struct ctl_cmd_entry ctl_cmd_silence_entry = {
    .name = "silence",
    .usage = "add --ends WHEN --comment TEXT [--service S] [--site SITE] [--key-prefix P]\n"
             "       [--label K=V]... [--starts WHEN] [--actor NAME] [--id ID]\n"
             "       | list | expire ID",
    .summary = "silences: add one, list them, expire one (incidents.silences)",
    .opts = ctl_silence_opts,
    .notes = "A silence needs an end (at most silences.max_duration after its start),\n"
             "a comment, its creator and at least one matcher; every matcher given must\n"
             "match. A TRIGGER it matches is documented as a silenced disturbance:\n"
             "never escalated. `expire` writes the silence's tombstone. `add` reads the\n"
             "topic first and refuses a new silence (exit 1) while silences.max_active\n"
             "are in force (the --config file's setting, else 1000).",
    .args_max = CTL_ARGS_OWN,
    .exec = ctl_silence_exec,
};
