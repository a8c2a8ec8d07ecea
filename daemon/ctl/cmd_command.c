/*
 * cmd_command.c — the commands of people: incidentctl ack, resolve, reopen,
 * note, task add|done|cancel, meeting, client-update, signoff, review and
 * handover. Each builds one incident.v1.Command, checks it against the
 * contract (hd_command_validate(), the commands stage's own check) and
 * produces it to incidents.commands keyed by the incident id, waiting for
 * the broker's ack; the command id is printed once delivered.
 *
 * One table (CTL_KINDS_OWN / CTL_KINDS_TASK below) gives, per CommandKind,
 * the command's name, its positional arguments, the options that apply
 * (and those required) and its help; from it come the kind rows, the
 * command entries of incidentctl's command table and their --help. Owned
 * by the ctl room.
 *
 * @locality incidentctl's main thread (delivery reports come from
 * rd_kafka_flush() on it)
 */
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "ctl.h"
#include "ctl_opts.h"
#include "ctl_out.h"
#include "pbjson.h"

/* Where a positional argument goes (0 ends the list). */
enum { CTL_ARG_END, CTL_ARG_INC, CTL_ARG_TEXT, CTL_ARG_TASK, CTL_ARG_PERSON };

/* The options of a kind (ctl_opt.only of its rows). */
#define CTL_K_TEXT 0x01u
#define CTL_K_ASSIGNEE 0x02u
#define CTL_K_DUE 0x04u
#define CTL_K_PREVENTIVE 0x08u
#define CTL_K_ID 0x10u
#define CTL_K_ATTENDEES 0x20u
#define CTL_K_ROOT_CAUSE 0x40u

#define CTL_ARGS(...) \
    {                 \
        __VA_ARGS__   \
    }
#define CTL_KIND(k) INCIDENT__V1__COMMAND_KIND__COMMAND_##k

/*
 * The table: X(group, name, KIND, positional arguments, options that
 * apply, options required, usage, summary). A row of a group ("task") is
 * "incidentctl task NAME ..."; the others are commands of their own.
 */
#define CTL_KINDS_OWN(X)                                                                        \
    X(NULL, "ack", ACKNOWLEDGE, CTL_ARGS(CTL_ARG_INC), 0, 0, "INC-ID",                          \
      "acknowledge an incident: you have taken it (stops re-escalation)")                       \
    X(NULL, "resolve", RESOLVE, CTL_ARGS(CTL_ARG_INC), CTL_K_TEXT, 0, "INC-ID [--text TEXT]",   \
      "resolve an incident: it is fixed (starts the confirmation window)")                      \
    X(NULL, "reopen", REOPEN, CTL_ARGS(CTL_ARG_INC), CTL_K_TEXT, CTL_K_TEXT,                    \
      "INC-ID --text REASON", "reopen a resolved incident inside its confirmation window")      \
    X(NULL, "note", NOTE, CTL_ARGS(CTL_ARG_INC, CTL_ARG_TEXT), 0, 0, "INC-ID TEXT",             \
      "add a note to an incident's record")                                                     \
    X(NULL, "meeting", MEETING, CTL_ARGS(CTL_ARG_INC), CTL_K_ATTENDEES | CTL_K_TEXT,            \
      CTL_K_ATTENDEES, "INC-ID --attendees A,B [--text DECISIONS]",                             \
      "record a resolution meeting: who attended, what was decided")                            \
    X(NULL, "client-update", CLIENT_UPDATE, CTL_ARGS(CTL_ARG_INC, CTL_ARG_TEXT), 0, 0,          \
      "INC-ID TEXT", "record an update given to the clients (resets the update plan)")          \
    X(NULL, "signoff", SIGN_OFF, CTL_ARGS(CTL_ARG_INC), 0, 0, "INC-ID",                         \
      "sign off: you (a stakeholder) are satisfied with the outcome")                           \
    X(NULL, "review", REVIEW, CTL_ARGS(CTL_ARG_INC), CTL_K_ROOT_CAUSE | CTL_K_TEXT,             \
      CTL_K_ROOT_CAUSE, "INC-ID --root-cause TEXT [--text SUMMARY]",                            \
      "submit the post-incident review: root cause, what happened, what to improve")            \
    X(NULL, "handover", HANDOVER, CTL_ARGS(CTL_ARG_INC, CTL_ARG_PERSON), 0, 0, "INC-ID PERSON", \
      "hand the incident over: PERSON becomes its owner")

#define CTL_KINDS_TASK(X)                                                                     \
    X("task", "add", TASK_ADD, CTL_ARGS(CTL_ARG_INC, CTL_ARG_TEXT),                           \
      CTL_K_ASSIGNEE | CTL_K_DUE | CTL_K_PREVENTIVE | CTL_K_ID, 0,                            \
      "INC-ID TITLE [--assignee P] [--due 2d|RFC3339] [--preventive] [--id T]",               \
      "add a follow-up task (id: --id, else derived from the command id)")                    \
    X("task", "done", TASK_DONE, CTL_ARGS(CTL_ARG_INC, CTL_ARG_TASK), 0, 0, "INC-ID TASK-ID", \
      "mark a task done")                                                                     \
    X("task", "cancel", TASK_CANCEL, CTL_ARGS(CTL_ARG_INC, CTL_ARG_TASK), CTL_K_TEXT, 0,      \
      "INC-ID TASK-ID [--text REASON]", "drop a task")

#define CTL_MAX_ARGS 3

/* One CommandKind: what its command line means. */
typedef struct ctl_kind {
    const char *group; /* "task", or NULL */
    const char *name;
    Incident__V1__CommandKind kind;
    unsigned char args[CTL_MAX_ARGS]; /* CTL_ARG_*, all required */
    unsigned opts;                    /* CTL_K_* that apply */
    unsigned need;                    /* CTL_K_* required */
    const char *usage;
} ctl_kind_t;

#define CTL_KIND_ROW(g, n, k, a, o, r, u, s) \
    {.group = g, .name = n, .kind = CTL_KIND(k), .args = a, .opts = o, .need = r, .usage = u},

static const ctl_kind_t ctl_kinds[] = {CTL_KINDS_OWN(CTL_KIND_ROW) CTL_KINDS_TASK(CTL_KIND_ROW)};

#define CTL_N_KINDS (sizeof(ctl_kinds) / sizeof(ctl_kinds[0]))

/* ---- options ----------------------------------------------------------------------- */

/* What the options of one command line give. */
typedef struct ctl_cmdline {
    arena_t *arena;
    hd_command_t *cmd;
    const char *actor;      /* --actor, or NULL */
    const char *command_id; /* --command-id, or NULL */
    unsigned given;         /* CTL_K_* given */
} ctl_cmdline_t;

/* A string field of the Command at opt->off (argv, borrowed). */
static int ctl_cmd_opt_field(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    (void)c;
    ctl_cmdline_t *l = base;
    memcpy((char *)l->cmd + opt->off, &arg, sizeof(arg));
    l->given |= opt->only;
    return CTL_OPT_OK;
}

static int ctl_cmd_opt_preventive(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    (void)c;
    (void)arg;
    ctl_cmdline_t *l = base;
    l->cmd->preventive = 1;
    l->given |= opt->only;
    return CTL_OPT_OK;
}

/* --due 2d (from now) or an RFC 3339 time. */
static int ctl_cmd_opt_due(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    ctl_cmdline_t *l = base;
    int64_t v;
    l->given |= opt->only;
    if (ctl_parse_duration(arg, &v) == 0 && v <= INT64_MAX - ctl_now_ms())
        l->cmd->due_at_ms = ctl_now_ms() + v;
    else if (ctl_parse_time(arg, &v) == 0 && v > 0)
        l->cmd->due_at_ms = v;
    else
        return ctl_opt_bad(c, opt, "a duration from now (2d, 36h) or an RFC 3339 time", arg);
    return CTL_OPT_OK;
}

/* --attendees a,b,c (empty names skipped; repeatable). */
static int ctl_cmd_opt_attendees(ctl_t *c, const ctl_opt_t *opt, void *base, const char *arg)
{
    (void)c;
    ctl_cmdline_t *l = base;
    hd_command_t *cmd = l->cmd;
    l->given |= opt->only;
    size_t cap = cmd->n_attendees;
    for (const char *p = arg; *p;) {
        size_t len = strcspn(p, ",");
        if (len) {
            cmd->attendees = ctl_arena_grow(l->arena, cmd->attendees, cmd->n_attendees, &cap,
                                            sizeof(*cmd->attendees), 8);
            cmd->attendees[cmd->n_attendees++] = arena_strndup(l->arena, p, len);
        }
        p += len + (p[len] == ',');
    }
    return CTL_OPT_OK;
}

#define CTL_CMD_FIELD(f) .set = ctl_cmd_opt_field, .off = offsetof(hd_command_t, f)

/* Every option of the commands; a row applies to the kinds whose options
 * share a bit with its `only` (0: all of them). */
static const ctl_opt_t ctl_command_opts[] = {
    {.name = "text",
     .arg = "TEXT",
     .help = "resolve: how; reopen, task cancel: the reason;\n"
             "meeting: the decisions; review: what happened and\n"
             "what to improve (<= 8 KiB)",
     .only = CTL_K_TEXT,
     CTL_CMD_FIELD(text)},
    {.name = "assignee",
     .arg = "PERSON",
     .help = "who does the task",
     .only = CTL_K_ASSIGNEE,
     CTL_CMD_FIELD(assignee)},
    {.name = "due",
     .arg = "WHEN",
     .help = "when the task is due: from now (2d, 36h) or an\nRFC 3339 time",
     .only = CTL_K_DUE,
     .set = ctl_cmd_opt_due},
    {.name = "preventive",
     .help = "the task prevents a recurrence (a review needs one)",
     .only = CTL_K_PREVENTIVE,
     .set = ctl_cmd_opt_preventive},
    {.name = "id",
     .arg = "TASK-ID",
     .help = "the task's id (default: derived from the command id)",
     .only = CTL_K_ID,
     CTL_CMD_FIELD(task_id)},
    {.name = "attendees",
     .arg = "A,B",
     .help = "who attended (comma-separated, repeatable)",
     .only = CTL_K_ATTENDEES,
     .set = ctl_cmd_opt_attendees},
    {.name = "root-cause",
     .arg = "TEXT",
     .help = "the root cause (<= 1024 bytes)",
     .only = CTL_K_ROOT_CAUSE,
     CTL_CMD_FIELD(root_cause)},
    {.name = "actor",
     .arg = "NAME",
     .help = "who gives the command (default: $INCIDENTD_ACTOR,\nelse the login name)",
     .set = ctl_opt_string,
     .off = offsetof(ctl_cmdline_t, actor)},
    {.name = "command-id",
     .arg = "ID",
     .help = "the command's id (default: a fresh unique one);\n"
             "sending the same id again changes nothing",
     .set = ctl_opt_string,
     .off = offsetof(ctl_cmdline_t, command_id)},
    {0},
};

/* ---- the entries ------------------------------------------------------------------- */

static int ctl_command_exec(ctl_t *c, int argc, char **argv);

#define CTL_NOTES                                                                    \
    "The command is checked against the contract before sending (exit 2 when\n"      \
    "invalid), produced to incidents.commands keyed by the incident id (acks=all)\n" \
    "and its id printed once the broker has it; with --json: {\"command_id\",\n"     \
    "\"kind\", \"incident_id\"}. The commands stage applies it once (the same\n"     \
    "command id again changes nothing); one it refuses goes to incidents.dlq\n"      \
    "with the reason (incidentctl dlq).\n"

#define CTL_ENTRY(g, n, k, a, o, r, u, s) \
    {.name = n,                           \
     .usage = u,                          \
     .summary = s,                        \
     .opts = ctl_command_opts,            \
     .opt_bits = o,                       \
     .notes = CTL_NOTES,                  \
     .args_max = CTL_ARGS_OWN,            \
     .exec = ctl_command_exec},
#define CTL_TASK_USAGE(g, n, k, a, o, r, u, s) "\n       " g " " n " " u
#define CTL_TASK_NOTES(g, n, k, a, o, r, u, s) "  " n ": " s "\n"
#define CTL_TASK_OPTS(g, n, k, a, o, r, u, s) (o) |

const struct ctl_cmd_entry ctl_cmd_kind_entries[] = {
    CTL_KINDS_OWN(CTL_ENTRY){
        .name = "task",
        .usage = "add|done|cancel ..." CTL_KINDS_TASK(CTL_TASK_USAGE),
        .summary = "follow-up tasks of an incident: add, done, cancel",
        .opts = ctl_command_opts,
        .opt_bits = CTL_KINDS_TASK(CTL_TASK_OPTS) 0,
        .notes = "\nCommands:\n" CTL_KINDS_TASK(CTL_TASK_NOTES) "\n" CTL_NOTES,
        .args_max = CTL_ARGS_OWN,
        .exec = ctl_command_exec,
    },
};

const size_t ctl_cmd_kind_n = sizeof(ctl_cmd_kind_entries) / sizeof(ctl_cmd_kind_entries[0]);

/* ---- building the command ------------------------------------------------------------ */

/* The kind row of "NAME" or "GROUP SUB" (*argc / *argv moved past them),
 * or NULL after reporting. */
static const ctl_kind_t *ctl_kind_find(const ctl_t *c, const char *name, int *argc, char ***argv)
{
    int grouped = 0;
    for (size_t i = 0; i < CTL_N_KINDS; i++)
        grouped |= ctl_kinds[i].group && strcmp(ctl_kinds[i].group, name) == 0;
    const char *sub = grouped && *argc > 0 ? (*argv)[0] : NULL;
    for (size_t i = 0; i < CTL_N_KINDS; i++) {
        const ctl_kind_t *k = &ctl_kinds[i];
        if (grouped ? k->group && strcmp(k->group, name) == 0 && sub && strcmp(k->name, sub) == 0
                    : !k->group && strcmp(k->name, name) == 0) {
            *argc -= grouped;
            *argv += grouped;
            return k;
        }
    }
    if (!grouped)
        ctl_usage_error(c, "unknown command '%s'", name);
    else if (sub)
        ctl_usage_error(c, "unknown %s command '%s'", name, sub);
    else
        ctl_usage_error(c, "which %s command?", name);
    return NULL;
}

/* The long name of the option of bit @p bit. */
static const char *ctl_kind_opt_name(unsigned bit)
{
    for (const ctl_opt_t *o = ctl_command_opts; o->name; o++)
        if (o->only == bit)
            return o->name;
    return "?";
}

/* Checks the options given against @p k. Returns CTL_GO or an exit code. */
static int ctl_kind_check_opts(const ctl_t *c, const ctl_kind_t *k, unsigned given)
{
    for (unsigned bit = 1; bit <= CTL_K_ROOT_CAUSE; bit <<= 1) {
        if ((given & bit) && !(k->opts & bit))
            return ctl_usage_error(c, "--%s does not apply to '%s%s%s'", ctl_kind_opt_name(bit),
                                   k->group ? k->group : "", k->group ? " " : "", k->name);
        if ((k->need & bit) && !(given & bit))
            return ctl_usage_error(c, "--%s is required", ctl_kind_opt_name(bit));
    }
    return CTL_GO;
}

/* The names of the positional arguments of @p k, for messages. */
static const char *ctl_arg_name(unsigned char role)
{
    static const char *const names[] = {"", "INC-ID", "TEXT", "TASK-ID", "PERSON"};
    return names[role];
}

/* The positional arguments into the Command. Returns CTL_GO or an exit code. */
static int ctl_kind_args(const ctl_t *c, const ctl_kind_t *k, hd_command_t *cmd, int argc,
                         char **argv)
{
    int i = 0;
    for (; i < CTL_MAX_ARGS && k->args[i]; i++) {
        if (i >= argc)
            return ctl_usage_error(c, "missing %s (usage: %s%s%s %s)", ctl_arg_name(k->args[i]),
                                   k->group ? k->group : "", k->group ? " " : "", k->name,
                                   k->usage);
        char *a = argv[i];
        switch (k->args[i]) {
        case CTL_ARG_INC:
            cmd->incident_id = a;
            break;
        case CTL_ARG_TEXT:
            cmd->text = a;
            break;
        case CTL_ARG_TASK:
            cmd->task_id = a;
            break;
        default:
            cmd->assignee = a;
            break;
        }
    }
    return ctl_args_at_most(c, argc, argv, i);
}

/* --actor, else $INCIDENTD_ACTOR, else the login name; NULL when none. */
static const char *ctl_actor_of(const ctl_cmdline_t *l, arena_t *arena)
{
    if (l->actor)
        return l->actor[0] ? l->actor : NULL;
    const char *env = getenv("INCIDENTD_ACTOR");
    if (env && env[0])
        return env;
    char name[256];
    if (getlogin_r(name, sizeof(name)) == 0 && name[0])
        return arena_strdup(arena, name);
    const struct passwd *pw = getpwuid(geteuid());
    return pw && pw->pw_name && pw->pw_name[0] ? arena_strdup(arena, pw->pw_name) : NULL;
}

/* The defaults (actor, command id, time) and the contract's check.
 * Returns CTL_GO or an exit code. */
static int ctl_command_finish(const ctl_t *c, const ctl_cmdline_t *l, arena_t *arena)
{
    hd_command_t *cmd = l->cmd;
    cmd->actor = (char *)ctl_actor_of(l, arena);
    if (!cmd->actor)
        return ctl_usage_error(c, "who gives the command? --actor NAME (or set INCIDENTD_ACTOR)");
    cmd->command_id = l->command_id ? (char *)l->command_id : ctl_new_id(arena);
    cmd->at_ms = ctl_now_ms();
    char err[512];
    if (hd_command_validate(cmd, err, sizeof(err)) < 0) {
        ctl_err(c, "invalid command: %s", err);
        return CTL_EXIT_USAGE;
    }
    return CTL_GO;
}

int ctl_command_build(ctl_t *c, int argc, char **argv, arena_t *arena, hd_command_t **out)
{
    const struct ctl_cmd_entry *entry = NULL;
    for (size_t i = 0; i < ctl_cmd_kind_n && !entry; i++)
        if (strcmp(ctl_cmd_kind_entries[i].name, argv[0]) == 0)
            entry = &ctl_cmd_kind_entries[i];
    hd_command_t *cmd = arena_alloc(arena, sizeof(*cmd));
    incident__v1__command__init(cmd);
    ctl_cmdline_t l = {.arena = arena, .cmd = cmd};
    const char *name = argv[0];
    if (!entry)
        return ctl_usage_error(c, "unknown command '%s'", name);
    int rc = ctl_cmd_options(c, entry, &l, &argc, &argv);
    if (rc != CTL_GO)
        return rc;
    const ctl_kind_t *k = ctl_kind_find(c, name, &argc, &argv);
    if (!k)
        return CTL_EXIT_USAGE;
    cmd->kind = k->kind;
    rc = ctl_kind_check_opts(c, k, l.given);
    if (rc == CTL_GO)
        rc = ctl_kind_args(c, k, cmd, argc, argv);
    if (rc == CTL_GO)
        rc = ctl_command_finish(c, &l, arena);
    if (rc == CTL_GO)
        *out = cmd;
    return rc;
}

/* ---- sending ----------------------------------------------------------------------- */

/* Produces @p cmd to incidents.commands and waits for the broker's ack.
 * Returns an exit code. */
static int ctl_command_send(const ctl_t *c, const hd_command_t *cmd)
{
    char topic[512];
    ctl_topic(c, "incidents.commands", topic, sizeof(topic));
    size_t len = incident__v1__command__get_packed_size(cmd);
    uint8_t *buf = malloc(len ? len : 1);
    rd_kafka_t *rk = buf ? ctl_producer_new(c, c->timeout_ms) : NULL;
    if (!rk) {
        if (!buf)
            ctl_err(c, "out of memory");
        free(buf);
        return CTL_EXIT_USAGE;
    }
    incident__v1__command__pack(cmd, buf);
    ctl_delivery_t dl = {0};
    rd_kafka_resp_err_t e = ctl_produce(rk, topic, cmd->incident_id, buf, len, &dl);
    free(buf);
    if (!e)
        rd_kafka_flush(rk, c->timeout_ms + 5000);
    rd_kafka_destroy(rk);
    if (e || !dl.done || dl.err) {
        ctl_err(c, "command %s not delivered to %s: %s", cmd->command_id, topic,
                e         ? rd_kafka_err2str(e)
                : dl.done ? rd_kafka_err2str(dl.err)
                          : "no delivery report in time (is Kafka reachable?)");
        return CTL_EXIT_USAGE;
    }
    return CTL_EXIT_OK;
}

static int ctl_command_exec(ctl_t *c, int argc, char **argv)
{
    arena_t arena;
    arena_init(&arena, 0);
    hd_command_t *cmd = NULL;
    int rc = ctl_command_build(c, argc, argv, &arena, &cmd);
    if (rc == CTL_GO)
        rc = ctl_command_send(c, cmd);
    if (rc == CTL_EXIT_OK && cmd && c->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "command_id", cmd->command_id);
        cJSON_AddStringToObject(
            o, "kind", pbjson_enum_name(&incident__v1__command_kind__descriptor, (int)cmd->kind));
        cJSON_AddStringToObject(o, "incident_id", cmd->incident_id);
        ctl_json_print_line(o);
    } else if (rc == CTL_EXIT_OK && cmd) {
        printf("%s\n", cmd->command_id);
    }
    arena_destroy(&arena);
    return rc;
}
