/*
 * rebuild.c — Redis state rebuilt from the ORMIS audit topic; see
 * rebuild.h.
 */
#include "rebuild.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "clock.h"
#include "handlers.h"
#include "kafka.h"
#include "ormis.h"
#include "silence.h"
#include "store.h"
#include "store_admin.h"
#include "strmap.h"

#define RB_TRIGGERS_MAX 64 /* as many trigger times as the detected stage keeps */

/* One audit record as read (system allocator). */
typedef struct rb_record {
    uint64_t seq;
    size_t len;
    unsigned char *data;
} rb_record_t;

/* What the read keeps of one incident: its latest record and the few
 * things the state needs from the earlier ones. */
typedef struct rb_inc {
    Incident__V1__AuditRecord *last; /* highest seq; system allocator */
    char **actions;                  /* distinct actions, in order */
    size_t n_actions;
    int64_t triggers[RB_TRIGGERS_MAX];
    size_t n_triggers;
    char *guideline; /* from the local handling record, or NULL */
    /* a silenced disturbance's reminder at its silence's end (silence.h):
     * when, and to whom; 0 / NULL when none or given already */
    int64_t silence_end;
    char *silence_by;
    uint64_t n_records;
    char head[ORMIS_HASH_HEX]; /* hash of the previous record */
    int broken;
    /* its timeline (store.h: tl:{<id>}): the records as read, while it may
     * be kept (not closed, within the bounds); tl_cut once it may not */
    rb_record_t *tl;
    size_t n_tl, cap_tl, tl_bytes;
    int tl_cut;
} rb_inc_t;

typedef struct rb_read {
    strmap_t incidents; /* id -> rb_inc_t */
    rebuild_stats_t *stats;
    const rebuild_opts_t *opts;
} rb_read_t;

/* Per incident, atomically: ARGV 1 id, 2 version, 3 state, 4 stage ('' =
 * none), 5 dedup_key, 6 open ('1'/'0'), 7 the number of timeline records
 * last in ARGV ('' = no timeline kept: tlbytes -1), 8 their bytes, 9 closed
 * retention ms ('0' = live), 10 max level, 11 key namespace, 12 kind ('' =
 * unspecified), 13 chain head (hash of record `version`), then pairs of
 * timers: member, due ms; then the timeline records (packed AuditRecords in
 * seq order: its whole chain, one RPUSH). Returns {result, timers armed}. */
static const char RB_LUA[] =
    "local id = ARGV[1]\n"
    "local ns = ARGV[11]\n"
    "local ik = ns .. 'inc:{' .. id .. '}'\n"
    "local exists = redis.call('EXISTS', ik) == 1\n"
    "if exists then\n"
    "  local cur = tonumber(redis.call('HGET', ik, 'version') or '0') or 0\n"
    "  local ver = tonumber(ARGV[2])\n"
    "  if cur == ver then return {'SAME', 0} end\n"
    "  if cur > ver then return {'NEWER', 0} end\n"
    "elseif ARGV[9] ~= '0' then return {'CLOSED', 0} end\n"
    "redis.call('HSET', ik, 'state', ARGV[3], 'version', ARGV[2], 'head', ARGV[13])\n"
    "redis.call('HDEL', ik, 'sha')\n" /* the apply hashes the state itself then */
    "local nt = tonumber(ARGV[7]) or -1\n"
    "local last = #ARGV - math.max(nt, 0)\n"
    "local tk = ns .. 'tl:{' .. id .. '}'\n"
    "redis.call('DEL', tk)\n"
    "if nt > 0 then redis.call('RPUSH', tk, unpack(ARGV, last + 1, #ARGV)) end\n"
    "redis.call('HSET', ik, 'tlbytes', nt > 0 and ARGV[8] or '-1')\n"
    "for _, s in ipairs({'DETECTED','CLASSIFIED','SCOPED','ESCALATED','RESOLVED','CLOSED'}) do\n"
    "  if s ~= ARGV[4] then redis.call('SREM', ns .. 'stage:' .. s, id) end\n"
    "end\n"
    "for _, k in ipairs({'INCIDENT','DISTURBANCE'}) do\n"
    "  if k ~= ARGV[12] or ARGV[9] ~= '0' then redis.call('SREM', ns .. 'kind:' .. k, id) end\n"
    "end\n"
    "local ok = ns .. 'open:' .. ARGV[5]\n"
    "local owner = redis.call('GET', ok)\n"
    "if ARGV[6] == '1' then\n"
    "  if not owner or owner == id or redis.call('EXISTS', ns .. 'inc:{' .. owner .. '}') == 0 "
    "then\n"
    "    redis.call('SET', ok, id)\n"
    "  end\n"
    "elseif owner == id then redis.call('DEL', ok) end\n"
    "local keep = {}\n"
    "for i = 14, last, 2 do keep[ARGV[i]] = true end\n"
    "for l = 0, tonumber(ARGV[10]) do\n"
    "  local m = l .. '|' .. id\n"
    "  if not keep[m] then redis.call('ZREM', ns .. 'timers', m) end\n"
    "end\n"
    "if ARGV[9] ~= '0' then\n"
    "  redis.call('PEXPIRE', ik, ARGV[9]); redis.call('PEXPIRE', tk, ARGV[9])\n"
    "  return {'EXPIRED', 0}\n"
    "end\n"
    "if ARGV[4] ~= '' then redis.call('SADD', ns .. 'stage:' .. ARGV[4], id) end\n"
    "if ARGV[12] ~= '' then redis.call('SADD', ns .. 'kind:' .. ARGV[12], id) end\n"
    "local armed = 0\n"
    "for i = 14, last, 2 do\n"
    "  armed = armed + redis.call('ZADD', ns .. 'timers', 'NX', ARGV[i + 1], ARGV[i])\n"
    "end\n"
    "return {'WRITTEN', armed}\n";

static void *rb_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fprintf(stderr, "incidentd: out of memory\n");
        abort();
    }
    return p;
}

static char *rb_xstrndup(const char *s, size_t n)
{
    char *d = rb_xcalloc(n + 1, 1);
    memcpy(d, s, n);
    return d;
}

/* Drops what @p ri kept of its timeline: none is kept from now on. */
static void rb_tl_drop(rb_inc_t *ri)
{
    for (size_t i = 0; i < ri->n_tl; i++)
        free(ri->tl[i].data);
    free(ri->tl);
    ri->tl = NULL;
    ri->n_tl = ri->cap_tl = ri->tl_bytes = 0;
    ri->tl_cut = 1;
}

/* Keeps a copy of record @p rec (@p len bytes at @p data, as read) for
 * @p ri's timeline. A closed incident is not brought back with one (the
 * read frees what it kept as soon as it sees the close), nor is one past
 * the bounds of store.h: the read holds at most that much per incident. */
static void rb_tl_note(rb_inc_t *ri, const Incident__V1__AuditRecord *rec, const void *data,
                       size_t len)
{
    if (ri->tl_cut)
        return;
    const hd_incident_t *snap = rec->snapshot;
    if ((snap && (snap->stage == INCIDENT__V1__STAGE__STAGE_CLOSED ||
                  snap->status == INCIDENT__V1__STATUS__STATUS_CLOSED)) ||
        ri->n_tl + 1 > STORE_TIMELINE_MAX_RECORDS ||
        ri->tl_bytes + len > STORE_TIMELINE_MAX_BYTES) {
        rb_tl_drop(ri);
        return;
    }
    if (ri->n_tl == ri->cap_tl) {
        size_t cap = ri->cap_tl ? 2 * ri->cap_tl : 16;
        rb_record_t *v = realloc(ri->tl, cap * sizeof(*v));
        if (!v) {
            fprintf(stderr, "incidentd: out of memory\n");
            abort();
        }
        ri->tl = v;
        ri->cap_tl = cap;
    }
    rb_record_t *r = &ri->tl[ri->n_tl++];
    r->seq = rec->seq;
    r->len = len;
    r->data = rb_xcalloc(len, 1);
    memcpy(r->data, data, len);
    ri->tl_bytes += len;
}

static void rb_inc_free(rb_inc_t *ri)
{
    if (!ri)
        return;
    rb_tl_drop(ri);
    if (ri->last)
        incident__v1__audit_record__free_unpacked(ri->last, NULL);
    for (size_t i = 0; i < ri->n_actions; i++)
        free(ri->actions[i]);
    free(ri->actions);
    free(ri->guideline);
    free(ri->silence_by);
    free(ri);
}

/* The guideline named in a local handling record's detail ("... under
 * guideline '<text>'; ..."), or NULL. "none" means no guideline. */
static char *rb_guideline_of(const char *detail)
{
    static const char mark[] = "guideline '";
    const char *p = detail ? strstr(detail, mark) : NULL;
    if (!p)
        return NULL;
    p += sizeof(mark) - 1;
    const char *end = strstr(p, "';");
    if (!end)
        end = strrchr(p, '\'');
    if (!end)
        return NULL;
    if ((size_t)(end - p) == 4 && strncmp(p, "none", 4) == 0)
        return rb_xstrndup("", 0);
    return rb_xstrndup(p, (size_t)(end - p));
}

/* The reminder a `silenced` record asks for, and the `note` that gave it. */
static void rb_silence_note(rb_inc_t *ri, const Incident__V1__AuditRecord *rec)
{
    int64_t ends;
    const char *by;
    size_t by_len;
    if (strcmp(rec->action, "silenced") == 0 &&
        hd_silence_reminder_of(rec->detail, &ends, &by, &by_len)) {
        free(ri->silence_by);
        ri->silence_by = rb_xstrndup(by, by_len);
        ri->silence_end = ends;
    } else if (strcmp(rec->action, "note") == 0 && rec->detail &&
               strncmp(rec->detail, HD_SILENCE_REMINDED, strlen(HD_SILENCE_REMINDED)) == 0) {
        ri->silence_end = 0;
    }
}

static void rb_note(rb_inc_t *ri, Incident__V1__AuditRecord *rec)
{
    /* The chain, checked as it streams by (the checks of ormis_verify()). */
    if (!ri->broken) {
        char h[ORMIS_HASH_HEX];
        ormis_hash(rec, h);
        if (rec->seq != ri->n_records + 1 || strcmp(rec->prev_hash, ri->head) != 0 ||
            strcmp(rec->hash, h) != 0)
            ri->broken = 1;
        snprintf(ri->head, sizeof(ri->head), "%s", rec->hash);
    }
    ri->n_records++;

    int seen = 0;
    for (size_t i = 0; i < ri->n_actions; i++)
        if (strcmp(ri->actions[i], rec->action) == 0)
            seen = 1;
    if (!seen && rec->action[0]) {
        char **v = realloc(ri->actions, (ri->n_actions + 1) * sizeof(*v));
        if (!v) {
            fprintf(stderr, "incidentd: out of memory\n");
            abort();
        }
        ri->actions = v;
        ri->actions[ri->n_actions++] = rb_xstrndup(rec->action, strlen(rec->action));
    }
    if (strcmp(rec->action, "detected") == 0 || strcmp(rec->action, "merged") == 0) {
        if (ri->n_triggers == RB_TRIGGERS_MAX) {
            memmove(ri->triggers, ri->triggers + 1,
                    (RB_TRIGGERS_MAX - 1) * sizeof(ri->triggers[0]));
            ri->n_triggers--;
        }
        ri->triggers[ri->n_triggers++] = rec->at_ms;
    }
    if (strcmp(rec->action, "handled") == 0 || strcmp(rec->action, "escalated") == 0) {
        char *g = rb_guideline_of(rec->detail);
        if (g) {
            free(ri->guideline);
            ri->guideline = g;
        }
    }
    rb_silence_note(ri, rec);
    if (!ri->last || rec->seq >= ri->last->seq) {
        if (ri->last)
            incident__v1__audit_record__free_unpacked(ri->last, NULL);
        ri->last = rec;
    } else {
        incident__v1__audit_record__free_unpacked(rec, NULL);
    }
}

static int rb_on_msg(const rd_kafka_message_t *m, void *opaque)
{
    rb_read_t *rd = opaque;
    rd->stats->records++;
    Incident__V1__AuditRecord *rec =
        m->payload ? incident__v1__audit_record__unpack(NULL, m->len, m->payload) : NULL;
    if (!rec || !rec->incident_id[0]) {
        if (rec)
            incident__v1__audit_record__free_unpacked(rec, NULL);
        rd->stats->undecodable++;
        return 0;
    }
    rb_inc_t *ri = strmap_get(&rd->incidents, rec->incident_id);
    if (!ri) {
        ri = rb_xcalloc(1, sizeof(*ri));
        strmap_put(&rd->incidents, rec->incident_id, ri);
    }
    rb_tl_note(ri, rec, m->payload, m->len);
    rb_note(ri, rec);
    return 0;
}

static void rb_progress(uint64_t done, uint64_t total, void *opaque)
{
    rb_read_t *rd = opaque;
    if (rd->opts->progress)
        rd->opts->progress(done, total, rd->opts->opaque);
}

/* The stored state of an incident rebuilt from its last record, packed
 * (arena); NULL when the record has no snapshot. */
static uint8_t *rb_state_pack(const char *id, const rb_inc_t *ri, arena_t *arena, size_t *len,
                              hd_incident_t **out)
{
    const Incident__V1__AuditRecord *last = ri->last;
    if (!last->snapshot)
        return NULL;
    hd_incident_t *inc = arena_alloc(arena, sizeof(*inc));
    *inc = *last->snapshot;
    inc->version = last->seq;
    if (!inc->id || !inc->id[0])
        inc->id = (char *)id;
    hd_state_t state = INCIDENTD__V1__STORED_INCIDENT__INIT;
    state.incident = inc;
    state.last_hash = last->hash;
    state.recorded_actions = ri->actions;
    state.n_recorded_actions = ri->n_actions;
    state.trigger_times_ms = (int64_t *)ri->triggers;
    state.n_trigger_times_ms = ri->n_triggers;
    if (ri->guideline)
        state.guideline = ri->guideline;
    if (ri->silence_end > 0 && ri->silence_by) {
        state.silence_ends_at_ms = ri->silence_end;
        state.silence_created_by = ri->silence_by;
    }
    *len = incidentd__v1__stored_incident__get_packed_size(&state);
    uint8_t *buf = arena_alloc(arena, *len + 1);
    incidentd__v1__stored_incident__pack(&state, buf);
    *out = inc;
    return buf;
}

/* --dry-run: counts what the rebuild would do to @p id. */
static int rb_dry_run(store_t *st, const char *id, const Incident__V1__AuditRecord *last,
                      int closed, int timer, rebuild_stats_t *stats, arena_t *arena, char *errstr,
                      size_t errstr_size)
{
    hd_state_t *cur;
    uint64_t cur_version;
    int rc = store_admin_state(st, id, arena, &cur, &cur_version, errstr, errstr_size);
    if (rc < 0)
        return -1;
    if (rc == 1 && cur_version == last->seq)
        stats->up_to_date++;
    else if (rc == 1 && cur_version > last->seq)
        stats->newer++;
    else if (!closed)
        stats->written++;
    else if (rc == 1)
        stats->expired++;
    else
        stats->closed++;
    if (rc != 1 || cur_version < last->seq)
        stats->timers += timer;
    return 0;
}

/* Counts the rebuild script's answer {result, timer armed} for @p id. */
static int rb_count(const redisReply *r, const char *id, rebuild_stats_t *stats, char *errstr,
                    size_t errstr_size)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING) {
        snprintf(errstr, errstr_size, "redis: rebuilding %s: %s", id,
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        return -1;
    }
    const char *res = r->element[0]->str;
    if (strcmp(res, "WRITTEN") == 0)
        stats->written++;
    else if (strcmp(res, "SAME") == 0)
        stats->up_to_date++;
    else if (strcmp(res, "NEWER") == 0)
        stats->newer++;
    else if (strcmp(res, "EXPIRED") == 0)
        stats->expired++;
    else
        stats->closed++;
    if (r->element[1]->type == REDIS_REPLY_INTEGER && r->element[1]->integer > 0)
        stats->timers++;
    return 0;
}

#define RB_MAX_TIMERS 5

/* A timer to arm again: its member and due time. */
typedef struct rb_timer {
    char member[320];
    char due[24];
} rb_timer_t;

static void rb_timer_set(rb_timer_t *t, hd_timer_kind_t kind, uint32_t level, const char *id,
                         int64_t due_ms)
{
    store_timer_member(kind, level, id, t->member, sizeof(t->member));
    snprintf(t->due, sizeof(t->due), "%" PRId64, due_ms);
}

/* Whether the dedup key maps to the incident: open, or resolved and not
 * confirmed yet (a trigger inside the window reopens it). */
static int rb_open(const hd_incident_t *inc)
{
    return inc->status == INCIDENT__V1__STATUS__STATUS_OPEN ||
           inc->status == INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED ||
           (inc->status == INCIDENT__V1__STATUS__STATUS_RESOLVED && inc->confirmed_at_ms == 0);
}

/* The timers a live incident had, from its last record: the ack timer of an
 * unacknowledged escalated incident, the end of a confirmation window, the
 * next client update under NOTIFY, the reminder of a blocked completion,
 * the end of a silenced disturbance's silence (its reminder not given yet).
 * The rebuilt state's sequence numbers are 0, and so are these levels. */
static int rb_timers(const char *id, const hd_incident_t *inc, const rb_inc_t *ri,
                     const rebuild_opts_t *o, rb_timer_t *t)
{
    const Incident__V1__AuditRecord *last = ri->last;
    int n = 0;
    int open = inc->status == INCIDENT__V1__STATUS__STATUS_OPEN;
    if (open && inc->stage == INCIDENT__V1__STAGE__STAGE_ESCALATED &&
        inc->escalation_level < o->max_level)
        rb_timer_set(&t[n++], HD_TIMER_ACK, inc->escalation_level, id,
                     last->at_ms + o->ack_timeout_ms);
    if (inc->status == INCIDENT__V1__STATUS__STATUS_RESOLVED && !inc->confirmed_at_ms && o->rules)
        rb_timer_set(&t[n++], HD_TIMER_CONFIRM, inc->reopen_count, id,
                     inc->resolved_at_ms + hd_followup_window(o->rules, inc));
    if ((open || inc->status == INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED) &&
        inc->client_comms == INCIDENT__V1__CLIENT_COMMS__CLIENT_COMMS_NOTIFY &&
        inc->next_client_update_due_ms > 0)
        rb_timer_set(&t[n++], HD_TIMER_CLIENT_UPDATE, 0, id, inc->next_client_update_due_ms);
    if (inc->status == INCIDENT__V1__STATUS__STATUS_RESOLVED && inc->confirmed_at_ms && o->rules)
        rb_timer_set(&t[n++], HD_TIMER_REVIEW, 0, id, last->at_ms + o->rules->review_due_ms);
    if ((open || inc->status == INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED) && ri->silence_end > 0 &&
        ri->silence_by)
        rb_timer_set(&t[n++], HD_TIMER_SILENCE_END, 0, id, ri->silence_end);
    return n;
}

static int rb_record_cmp(const void *a, const void *b)
{
    uint64_t x = ((const rb_record_t *)a)->seq, y = ((const rb_record_t *)b)->seq;
    return x < y ? -1 : x > y;
}

/* The timeline of @p ri as the rebuild script's arguments (its ARGV 7 and
 * 8, its records last) after the @p argc of @p argv; returns the new
 * count. Kept only when it is the whole chain, seq 1..@p version. */
static int rb_tl_args(const rb_inc_t *ri, uint64_t version, const char **argv, size_t *lens,
                      int argc, arena_t *arena)
{
    qsort(ri->tl, ri->n_tl, sizeof(*ri->tl), rb_record_cmp);
    int whole = !ri->tl_cut && ri->n_tl > 0 && ri->n_tl == version;
    for (size_t i = 0; whole && i < ri->n_tl; i++)
        whole = ri->tl[i].seq == i + 1;
    if (!whole)
        return argc;
    argv[9] = arena_printf(arena, "%zu", ri->n_tl);
    argv[10] = arena_printf(arena, "%zu", ri->tl_bytes);
    lens[9] = strlen(argv[9]);
    lens[10] = strlen(argv[10]);
    for (size_t i = 0; i < ri->n_tl; i++) {
        argv[argc] = (const char *)ri->tl[i].data;
        lens[argc++] = ri->tl[i].len;
    }
    return argc;
}

/* Writes (or, in a dry run, compares) one incident. Returns 0 or -1. */
static int rb_apply(store_t *st, const char *sha, const char *id, const rb_inc_t *ri,
                    const rebuild_opts_t *o, rebuild_stats_t *stats, arena_t *arena, char *errstr,
                    size_t errstr_size)
{
    const Incident__V1__AuditRecord *last = ri->last;
    size_t len;
    hd_incident_t *inc;
    uint8_t *buf = rb_state_pack(id, ri, arena, &len, &inc);
    if (!buf) {
        stats->skipped++;
        return 0;
    }
    int closed = inc->stage == INCIDENT__V1__STAGE__STAGE_CLOSED ||
                 inc->status == INCIDENT__V1__STATUS__STATUS_CLOSED;
    char version[24], retention[24] = "0", maxl[16];
    snprintf(version, sizeof(version), "%" PRIu64, last->seq);
    snprintf(maxl, sizeof(maxl), "%u", o->max_level);
    rb_timer_t timers[RB_MAX_TIMERS];
    int n_timers = closed ? 0 : rb_timers(id, inc, ri, o, timers);
    if (closed)
        snprintf(retention, sizeof(retention), "%" PRId64, o->retention_ms);
    if (o->dry_run)
        return rb_dry_run(st, id, last, closed, n_timers, stats, arena, errstr, errstr_size);
    const char *stage = closed ? "" : hd_stage_name(inc->stage);
    const char *kind =
        inc->kind == INCIDENT__V1__KIND__KIND_UNSPECIFIED ? "" : hd_kind_name(inc->kind);
    size_t max = 16 + 2 * RB_MAX_TIMERS + ri->n_tl;
    const char **argv = arena_alloc(arena, max * sizeof(*argv));
    size_t *lens = arena_alloc(arena, max * sizeof(*lens));
    const char *head[16] = {"EVALSHA",
                            sha,
                            "0",
                            id,
                            version,
                            (const char *)buf,
                            stage,
                            inc->dedup_key ? inc->dedup_key : "",
                            rb_open(inc) ? "1" : "0",
                            "",
                            "",
                            retention,
                            maxl,
                            store_ns(st),
                            kind,
                            last->hash ? last->hash : ""};
    memcpy(argv, head, sizeof(head));
    int argc = 16;
    for (int i = 0; i < n_timers; i++) {
        argv[argc++] = timers[i].member;
        argv[argc++] = timers[i].due;
    }
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    lens[5] = len;
    argc = rb_tl_args(ri, last->seq, argv, lens, argc, arena);
    redisReply *r = store_command_argv(st, argc, argv, lens);
    if (!r) {
        snprintf(errstr, errstr_size, "%s", store_error(st));
        return -1;
    }
    int rc = rb_count(r, id, stats, errstr, errstr_size);
    freeReplyObject(r);
    return rc;
}

/* The options with their defaults filled in. */
static rebuild_opts_t rb_opts(const rebuild_opts_t *opts)
{
    rebuild_opts_t o = {0};
    if (opts)
        o = *opts;
    if (o.ack_timeout_ms <= 0)
        o.ack_timeout_ms = 30 * 60 * 1000;
    if (o.max_level == 0)
        o.max_level = 3;
    if (o.retention_ms <= 0)
        o.retention_ms = 7LL * 24 * 3600 * 1000;
    return o;
}

/* Loads the rebuild script into @p sha. Returns 0 or -1. */
static int rb_script_load(store_t *st, char sha[41], char *errstr, size_t errstr_size)
{
    if (!store_ready(st) && store_reconnect(st) < 0) {
        snprintf(errstr, errstr_size, "redis: %s", store_error(st));
        return -1;
    }
    if (store_script_load(st, RB_LUA, sha) == 0)
        return 0;
    snprintf(errstr, errstr_size, "redis: %s", store_error(st));
    return -1;
}

/* Writes every incident read (or counts, on a dry run), then the epoch
 * marker: the state is whole again and waiting workers may go on. */
static int rb_write_all(store_t *st, const rb_read_t *rd, const rebuild_opts_t *o,
                        rebuild_stats_t *stats, char *errstr, size_t errstr_size)
{
    char sha[41] = "";
    if (!o->dry_run && rb_script_load(st, sha, errstr, errstr_size) < 0)
        return -1;
    arena_t arena;
    arena_init(&arena, 0);
    int rc = 0;
    for (size_t i = 0; i < rd->incidents.n && rc == 0; i++) {
        const rb_inc_t *ri = rd->incidents.values[i];
        if (ri->broken) {
            stats->broken++;
            if (o->skip_broken) {
                stats->skipped++;
                continue;
            }
        }
        arena_reset(&arena);
        rc = rb_apply(st, sha, rd->incidents.keys[i], ri, o, stats, &arena, errstr, errstr_size);
    }
    arena_destroy(&arena);
    if (rc == 0 && !o->dry_run && !stats->incomplete) {
        if (store_epoch_set(st, clock_now_ms()) < 0) {
            snprintf(errstr, errstr_size, "redis: setting the epoch: %s", store_error(st));
            rc = -1;
        }
    }
    return rc;
}

int rebuild(const char *brokers, const char *redis_url, const char *prefix,
            const rebuild_opts_t *opts, rebuild_stats_t *stats, char *errstr, size_t errstr_size)
{
    rebuild_opts_t o = rb_opts(opts);
    rebuild_stats_t local;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof(*stats));
    /* Redis first: a wrong URL should not cost a whole read of the topic. */
    redis_conn_opts_t ro = {
        .url = redis_url,
        .user = o.redis_user,
        .password = o.redis_password,
        .sentinels = o.redis_sentinels,
        .master_name = o.redis_master_name,
        .sentinel_password = o.redis_sentinel_password,
        .tls_ca = o.redis_tls_ca,
        .tls_cert = o.redis_tls_cert,
        .tls_key = o.redis_tls_key,
    };
    store_t *st = store_admin_open(&ro, prefix, errstr, errstr_size);
    if (!st)
        return -1;
    char topic[512];
    snprintf(topic, sizeof(topic), "%sormis.audit", prefix ? prefix : "");
    rb_read_t rd = {.stats = stats, .opts = &o};
    strmap_init(&rd.incidents);
    kafka_read_t kr = {
        .brokers = brokers,
        .props = o.kafka_props,
        .topic = topic,
        .idle_timeout_ms = o.idle_timeout_ms,
        .on_msg = rb_on_msg,
        .on_progress = rb_progress,
        .opaque = &rd,
        .stop = o.stop,
    };
    int rc = -1;
    if (kafka_read_all(&kr, errstr, errstr_size) == KAFKA_OK) {
        stats->incomplete = kr.incomplete;
        stats->incidents = rd.incidents.n;
        if (o.stop && *o.stop)
            snprintf(errstr, errstr_size, "interrupted: nothing written");
        else
            rc = rb_write_all(st, &rd, &o, stats, errstr, errstr_size);
    }
    for (size_t i = 0; i < rd.incidents.n; i++)
        rb_inc_free(rd.incidents.values[i]);
    strmap_destroy(&rd.incidents);
    store_destroy(st);
    return rc;
}
