/*
 * store.c — Redis state store with apply-once Lua scripts; see store.h.
 */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "log.h"
#include "redis_conn.h"

struct store {
    char ns[256];
    redis_conn_t *conn; /* where and how to connect (redis_conn.h) */
    redisContext *rc;
    int ready;
    char sha_read[41];
    char sha_apply[41];
    char sha_claim[41];
    char sha_dclaim[41];
    char err[256];
    uint64_t round_trips;
    uint64_t errors;
    char **forget; /* out: keys to delete with the next pipeline (store_forget_outputs()) */
    size_t n_forget, cap_forget;
    /* what each apply pipeline also does (store_set_replicas()) */
    int min_replicas;
    int64_t wait_timeout_ms;
    int acks; /* replicas that acknowledged the last WAIT (store_confirm()) */
};

/* Replay records waiting to be deleted, at most (past it, their TTL does). */
#define STORE_FORGET_MAX 65536

/* A number macro as the script's text. */
#define STORE_STR_(x) #x
#define STORE_STR(x) STORE_STR_(x)
/* The bounds of a timeline (store.h), as the apply script's first line. */
#define STORE_LUA_TIMELINE_BOUNDS                                                         \
    "local tl_max, tl_max_bytes = " STORE_STR(STORE_TIMELINE_MAX_RECORDS) ", " STORE_STR( \
        STORE_TIMELINE_MAX_BYTES) "\n"

/* read: ARGV = mode(dedup|id), key, cause_key, pos, ns */
static const char STORE_LUA_READ[] =
    "local ns = ARGV[5]\n"
    "local id = ARGV[2]\n"
    "if ARGV[1] == 'dedup' then id = redis.call('GET', ns .. 'open:' .. ARGV[2]) or '' end\n"
    "local cause, outb = 0, ''\n"
    "if ARGV[3] ~= '' then\n"
    "  local c = redis.call('GET', ARGV[3])\n"
    "  if c then\n"
    "    if c == ARGV[4] then cause = 1; outb = redis.call('GET', 'out:' .. ARGV[3]) or ''\n"
    "    else cause = 2 end\n"
    "  end\n"
    "end\n"
    "local st, ver = '', '0'\n"
    "if id ~= '' then\n"
    "  local r = redis.call('HMGET', ns .. 'inc:{' .. id .. '}', 'state', 'version')\n"
    "  if r[1] then st = r[1]; ver = r[2] or '0' end\n"
    "end\n"
    "return {id, st, ver, cause, outb}\n";

/* apply: ARGV = 1 id, 2 expected_version, 3 new_version ('' none), 4 state,
 * 5 cause_key, 6 pos, 7 outputs, 8 out_ttl_s, 9 cause_ttl_s ('0': the cause is
 * checked, not recorded: a check of a decision that applies nothing), 10 old_stage,
 * 11 new_stage, 12 index op (''|open|close), 13 dedup_key, 14 '=' and the
 * incident the decision assumed the dedup key maps to ('=' alone: none;
 * '' no check: the decision read the mapping), 15 the incident the dedup key may map to before an
 * open (a resolved one whose window is over: '' none), 16 its version as the decision saw it (the
 * open conflicts unless it is still there: the new incident depends on the old one's resolution
 * being applied), 17 closed ttl ms (0 = not closed), 18 the old incident's chain head as the
 * decision saw it, 19 ns (key namespace), 20 old kind, 21 new kind, 22 expected chain head (hash of
 * record `expected_version`), 23 new chain head, 24 claim key of a fired timer ('' none), 25 its
 * claim token, 26 its member in the timers set ('' for a delivery receipt), 27 the SHA-1 of the
 * stored state the decision was made on when it came from an event's header ('' unchecked: read
 * from Redis), 28 the SHA-1 of the new state (kept as the incident's 'sha': what 27 is checked
 * against; a state written without it, by the rebuild, is hashed here); then triples of effects in
 * order — op, member, value: "a<due ms>" arm / "c" cancel a
 * timer; "p<due ms>" plan a delivery (value: its PlannedDelivery; a replay plans nothing again),
 * "r<due ms>" reschedule it (value: the new PlannedDelivery), "d" drop it (delivered or failed for
 * good); "t" append to the incident's timeline (value: one packed AuditRecord of the transition,
 * in chain order; member '').
 *
 * The timeline (store.h: tl:{<id>}) is appended after every check, so a replay, a duplicate or a
 * conflict appends nothing. It is kept while complete: an incident that had records before
 * timelines were kept (no tlbytes, a version before the apply) gets none, and one past
 * STORE_TIMELINE_MAX_RECORDS or _BYTES loses its list; tlbytes -1 says so for good.
 *
 * A version or chain head conflict returns the incident's version and state
 * as they are (the cause was not applied: checked first), so that the
 * worker can decide again without a read. An alert decided without a read
 * (ARGV[14]: a key it has not seen is assumed to have no open incident)
 * conflicts when the key maps elsewhere, and the reply adds the incident
 * it maps to: {'CONFLICT', version, state, id} — the read and the apply in
 * one script when the assumption holds.
 *
 * Every apply checks the incident's version AND chain head, so that the
 * chained transitions of one incident in a pipeline stand or fall together:
 * once one conflicts (another stage moved the incident), every later one
 * expects a head that is not there and conflicts too, even when the other
 * stage moved the version by the same count. A fired timer must hold the
 * claim its worker took in Redis (claim script); anything else is refused.
 * A decision made on the state an event carried (not read here) holds only
 * if that state is byte for byte the stored one (its SHA-1): a forged or
 * stale header with the right version and head conflicts like a stale
 * version, and the worker decides again on the state returned. */
static const char STORE_LUA_APPLY[] = STORE_LUA_TIMELINE_BOUNDS
    "local ns = ARGV[19]\n"
    "local id = ARGV[1]\n"
    "local ik = ns .. 'inc:{' .. id .. '}'\n"
    "if ARGV[5] ~= '' then\n"
    "  local c = redis.call('GET', ARGV[5])\n"
    "  if c then\n"
    "    if c == ARGV[6] then return {'REPLAY', redis.call('GET', 'out:' .. ARGV[5]) or ''} end\n"
    "    return {'DUP', ''}\n"
    "  end\n"
    "end\n"
    "if ARGV[24] ~= '' and redis.call('GET', ARGV[24]) ~= ARGV[25] then\n"
    "  return {'REJECT', 'timer ' .. ARGV[26] .. ' is not armed and claimed in redis (forged or "
    "stale)'}\n"
    "end\n"
    "if ARGV[14] ~= '' then\n"
    "  local o = redis.call('GET', ns .. 'open:' .. ARGV[13]) or ''\n"
    "  if o ~= string.sub(ARGV[14], 2) then\n"
    "    local r = {false, false}\n"
    "    if o ~= '' then r = redis.call('HMGET', ns .. 'inc:{' .. o .. '}', 'version', 'state') "
    "end\n"
    "    return {'CONFLICT', r[1] or '0', r[2] or '', o}\n"
    "  end\n"
    "end\n"
    "local hv = redis.call('HMGET', ik, 'version', 'head', 'sha', 'tlbytes')\n"
    "local function digest()\n"
    "  if hv[3] and hv[3] ~= '' then return hv[3] end\n"
    "  return redis.sha1hex(redis.call('HGET', ik, 'state') or '') end\n"
    "if (hv[1] or '0') ~= ARGV[2] or (hv[2] and hv[2] ~= ARGV[22]) or\n"
    "   (ARGV[27] ~= '' and digest() ~= ARGV[27]) then\n"
    "  return {'CONFLICT', hv[1] or '0', redis.call('HGET', ik, 'state') or ''} end\n"
    "local fields = {}\n"
    "if ARGV[3] ~= '' then\n"
    "  if ARGV[12] == 'open' then\n"
    "    local o = redis.call('GET', ns .. 'open:' .. ARGV[13])\n"
    "    if o and o ~= id and o ~= ARGV[15] then return {'CONFLICT', 'open'} end\n"
    "    if ARGV[15] ~= '' then\n"
    "      local pv = redis.call('HMGET', ns .. 'inc:{' .. ARGV[15] .. '}', 'version', 'head')\n"
    "      if (pv[1] or '0') ~= ARGV[16] or (pv[2] and pv[2] ~= ARGV[18]) then\n"
    "        return {'CONFLICT', 'prev'} end\n"
    "    end\n"
    "  end\n"
    "  fields = {'state', ARGV[4], 'version', ARGV[3], 'head', ARGV[23], 'sha', ARGV[28]}\n"
    "end\n"
    "if ARGV[24] ~= '' then\n"
    "  redis.call('DEL', ARGV[24])\n"
    "  if ARGV[26] ~= '' then redis.call('ZREM', ns .. 'timers', ARGV[26]) end\n"
    "end\n"
    "if ARGV[10] ~= ARGV[11] then\n"
    "  if ARGV[10] ~= '' then redis.call('SREM', ns .. 'stage:' .. ARGV[10], id) end\n"
    "  if ARGV[11] ~= '' and ARGV[17] == '0' then redis.call('SADD', ns .. 'stage:' .. ARGV[11], "
    "id) end\n"
    "end\n"
    "if ARGV[20] ~= ARGV[21] or ARGV[17] ~= '0' then\n"
    "  if ARGV[20] ~= '' then redis.call('SREM', ns .. 'kind:' .. ARGV[20], id) end\n"
    "  if ARGV[21] ~= '' and ARGV[17] == '0' then redis.call('SADD', ns .. 'kind:' .. ARGV[21], "
    "id) end\n"
    "end\n"
    "if ARGV[12] == 'open' then redis.call('SET', ns .. 'open:' .. ARGV[13], id)\n"
    "elseif ARGV[12] == 'close' then\n"
    "  if redis.call('GET', ns .. 'open:' .. ARGV[13]) == id then redis.call('DEL', ns .. 'open:' "
    ".. ARGV[13]) end\n"
    "end\n"
    "local dk = ns .. 'dlv:{' .. id .. '}'\n"
    "local tl, tlb = {}, 0\n"
    "for i = 29, #ARGV, 3 do\n"
    "  local op, due, m = string.sub(ARGV[i], 1, 1), string.sub(ARGV[i], 2), ARGV[i + 1]\n"
    "  if op == 't' then tl[#tl + 1] = ARGV[i + 2]; tlb = tlb + #ARGV[i + 2]\n"
    "  elseif op == 'a' then redis.call('ZADD', ns .. 'timers', 'NX', due, m)\n"
    "  elseif op == 'c' then redis.call('ZREM', ns .. 'timers', m)\n"
    "  elseif op == 'p' then\n"
    "    if redis.call('HSETNX', dk, m, ARGV[i + 2]) == 1 then\n"
    "      redis.call('ZADD', ns .. 'outbox', 'NX', due, m) end\n"
    "  elseif op == 'r' then\n"
    "    redis.call('HSET', dk, m, ARGV[i + 2]); redis.call('ZADD', ns .. 'outbox', due, m)\n"
    "  elseif op == 'd' then\n"
    "    redis.call('HDEL', dk, m); redis.call('ZREM', ns .. 'outbox', m) end\n"
    "end\n"
    "local tk = ns .. 'tl:{' .. id .. '}'\n"
    "if #tl > 0 then\n"
    "  local held = hv[4]\n"
    "  if not held and ARGV[2] == '0' then redis.call('DEL', tk); held = 0 end\n"
    "  held = tonumber(held) or -1\n"
    "  if held >= 0 and held + tlb > tl_max_bytes then redis.call('DEL', tk); held = -1\n"
    "  elseif held >= 0 then\n"
    "    if redis.call('RPUSH', tk, unpack(tl)) > tl_max then redis.call('DEL', tk); held = -1\n"
    "    else held = held + tlb end\n"
    "  end\n"
    "  fields[#fields + 1] = 'tlbytes'; fields[#fields + 1] = held\n"
    "end\n"
    "if #fields > 0 then redis.call('HSET', ik, unpack(fields)) end\n"
    "if ARGV[17] ~= '0' then\n"
    "  redis.call('PEXPIRE', ik, ARGV[17]); redis.call('PEXPIRE', tk, ARGV[17])\n"
    "  if ARGV[11] ~= '' then redis.call('SREM', ns .. 'stage:' .. ARGV[11], id) end\n"
    "end\n"
    "if ARGV[5] ~= '' and ARGV[9] ~= '0' then\n"
    "  redis.call('SET', ARGV[5], ARGV[6], 'EX', ARGV[9])\n"
    "  if ARGV[7] ~= '' then redis.call('SET', 'out:' .. ARGV[5], ARGV[7], 'EX', ARGV[8]) end\n"
    "end\n"
    "return {'OK', ''}\n";

/* claim: ARGV = now, lease_until, max, ns, token base, claim ttl s. Leases
 * due timers and returns member, original score, claim token triples. A
 * timer's claim (<ns>tclaim:{<id>}:<level>) is taken once and kept across
 * lease renewals, so a timer fired twice carries one token (the second
 * command is a duplicate); the apply script consumes it. */
static const char STORE_LUA_CLAIM[] =
    "local tk = ARGV[4] .. 'timers'\n"
    "local due = redis.call('ZRANGEBYSCORE', tk, '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, "
    "tonumber(ARGV[3]))\n"
    "local out = {}\n"
    "for i = 1, #due, 2 do\n"
    "  redis.call('ZADD', tk, 'XX', ARGV[2], due[i])\n"
    "  local l, id = string.match(due[i], '^([^|]+)|(.*)$')\n"
    "  local tok = ''\n"
    "  if l then\n"
    "    local ck = ARGV[4] .. 'tclaim:{' .. id .. '}:' .. l\n"
    "    tok = redis.call('GET', ck)\n"
    "    if not tok then tok = ARGV[5] .. '-' .. i; redis.call('SET', ck, tok, 'EX', ARGV[6]) end\n"
    "  end\n"
    "  out[#out + 1] = due[i]; out[#out + 1] = due[i + 1]; out[#out + 1] = tok\n"
    "end\n"
    "return out\n";

#define STORE_APPLY_ARGC 31
#define STORE_ARG_MAX 320

/* claim deliveries: ARGV = now, lease_until, max, ns, token base, claim ttl
 * s. Leases due deliveries of the outbox and returns member, claim token,
 * planned delivery, incident state quadruples; a member whose delivery is
 * gone is dropped. The claim is kept across lease renewals (one token per
 * delivery until its receipt consumes it). */
static const char STORE_LUA_DCLAIM[] =
    "local ok = ARGV[4] .. 'outbox'\n"
    "local due = redis.call('ZRANGEBYSCORE', ok, '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))\n"
    "local out = {}\n"
    "for i = 1, #due do\n"
    "  local m = due[i]\n"
    "  local id = string.match(m, '^([^:]+):')\n"
    "  local p = id and redis.call('HGET', ARGV[4] .. 'dlv:{' .. id .. '}', m)\n"
    "  if not p then redis.call('ZREM', ok, m)\n"
    "  else\n"
    "    redis.call('ZADD', ok, 'XX', ARGV[2], m)\n"
    "    local ck = ARGV[4] .. 'dclaim:{' .. id .. '}:' .. m\n"
    "    local tok = redis.call('GET', ck)\n"
    "    if not tok then tok = ARGV[5] .. '-' .. i; redis.call('SET', ck, tok, 'EX', ARGV[6]) end\n"
    "    local st = redis.call('HGET', ARGV[4] .. 'inc:{' .. id .. '}', 'state') or ''\n"
    "    out[#out + 1] = m; out[#out + 1] = tok; out[#out + 1] = p; out[#out + 1] = st\n"
    "  end\n"
    "end\n"
    "return out\n";

/* How long the records of a transition stay for replay, and how long an
 * applied cause is remembered (duplicates are recognised for that long). */
#define STORE_OUT_TTL_S 3600
#define STORE_CAUSE_TTL_S (7 * 24 * 3600)

static void store_seterr(store_t *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void store_seterr(store_t *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err, sizeof(st->err), fmt, ap);
    va_end(ap);
}

store_t *store_new(const redis_conn_opts_t *o, const char *ns, char *errstr, size_t errstr_size)
{
    store_t *st = calloc(1, sizeof(*st));
    if (!st) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    st->conn = redis_conn_new(o, errstr, errstr_size);
    if (!st->conn)
        goto fail;
    snprintf(st->ns, sizeof(st->ns), "%s", ns ? ns : "");
    st->acks = INT_MAX;
    store_reconnect(st);
    return st;
fail:
    store_destroy(st);
    return NULL;
}

static size_t store_forget_append(store_t *st);
static int store_collect(store_t *st, redisReply **replies, size_t n);

void store_destroy(store_t *st)
{
    if (!st)
        return;
    /* The replay records of the last committed batches go now, not in an
     * hour: a consumer group rewound later on (by an operator) must find
     * them gone, or it would produce them a second time. */
    if (st->ready && store_forget_append(st)) {
        redisReply *r = NULL;
        if (store_collect(st, &r, 1) == 0)
            freeReplyObject(r);
    }
    if (st->rc)
        redisFree(st->rc);
    for (size_t i = 0; i < st->n_forget; i++)
        free(st->forget[i]);
    free(st->forget);
    redis_conn_destroy(st->conn);
    free(st);
}

int store_ready(const store_t *st) { return st->ready; }
const char *store_error(const store_t *st) { return st->err; }
const char *store_ns(const store_t *st) { return st->ns; }
uint64_t store_round_trips(const store_t *st) { return st->round_trips; }
uint64_t store_errors(const store_t *st) { return st->errors; }

static void store_drop(store_t *st)
{
    if (st->rc)
        redisFree(st->rc);
    st->rc = NULL;
    st->ready = 0;
    st->errors++;
}

/* After one command: a lost connection, or a server that is no longer the
 * primary (the reply stays the caller's), drops the connection. */
static void store_check_reply(store_t *st, const redisReply *r)
{
    if (r && !redis_conn_failover(r))
        return;
    if (r)
        store_seterr(st, "redis %s: %s", redis_conn_where(st->conn), r->str);
    else
        store_seterr(st, "redis: %s", st->rc->errstr);
    store_drop(st);
}

int store_script_load(store_t *st, const char *src, char sha[41])
{
    redisReply *r = redisCommand(st->rc, "SCRIPT LOAD %s", src);
    if (!r || r->type != REDIS_REPLY_STRING || r->len != 40) {
        store_seterr(st, "SCRIPT LOAD failed: %s", r && r->str ? r->str : st->rc->errstr);
        if (r)
            freeReplyObject(r);
        return -1;
    }
    memcpy(sha, r->str, 40);
    sha[40] = '\0';
    freeReplyObject(r);
    return 0;
}

int store_reconnect(store_t *st)
{
    if (st->rc)
        redisFree(st->rc);
    st->ready = 0;
    st->rc = redis_conn_open(st->conn, 2000, st->err, sizeof(st->err));
    if (!st->rc) {
        st->errors++;
        return -1;
    }
    redisSetTimeout(st->rc, (struct timeval){10, 0});
    if (store_script_load(st, STORE_LUA_READ, st->sha_read) < 0 ||
        store_script_load(st, STORE_LUA_APPLY, st->sha_apply) < 0 ||
        store_script_load(st, STORE_LUA_CLAIM, st->sha_claim) < 0 ||
        store_script_load(st, STORE_LUA_DCLAIM, st->sha_dclaim) < 0)
        goto fail;
    st->ready = 1;
    st->err[0] = '\0';
    return 0;
fail:
    redisFree(st->rc);
    st->rc = NULL;
    return -1;
}

/* Collects @p n pipelined replies into @p replies. On a connection failure
 * the connection is dropped and -1 returned (replies freed). */
static int store_collect(store_t *st, redisReply **replies, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        void *rep = NULL;
        if (rc == 0 && redisGetReply(st->rc, &rep) != REDIS_OK) {
            store_seterr(st, "redis: %s", st->rc->errstr);
            rc = -1;
        }
        replies[i] = rep;
    }
    st->round_trips++;
    /* A replica (a demoted primary) or a primary cut off from its replicas
     * refuses writes: drop the connection, the next one asks Sentinel. */
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (redis_conn_failover(replies[i])) {
            store_seterr(st, "redis %s: %s", redis_conn_where(st->conn), replies[i]->str);
            rc = -1;
        }
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            if (replies[i])
                freeReplyObject(replies[i]);
        store_drop(st);
    }
    return rc;
}

static int store_noscript(redisReply **replies, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (replies[i] && replies[i]->type == REDIS_REPLY_ERROR &&
            strncmp(replies[i]->str, "NOSCRIPT", 8) == 0)
            return 1;
    return 0;
}

static void store_free_replies(redisReply **replies, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (replies[i])
            freeReplyObject(replies[i]);
}

static const unsigned char *store_dup_bytes(arena_t *arena, const char *s, size_t len)
{
    return (const unsigned char *)arena_strndup(arena, s, len);
}

/* Appends the read script's call for @p r (ARGV as STORE_LUA_READ). */
static void store_read_append(store_t *st, const void *items, size_t i)
{
    const store_read_t *r = (const store_read_t *)items + i;
    const char *argv[8] = {"EVALSHA",
                           st->sha_read,
                           "0",
                           r->dedup_key ? "dedup" : "id",
                           r->dedup_key ? r->dedup_key : r->id,
                           r->cause_key ? r->cause_key : "",
                           r->pos ? r->pos : "",
                           st->ns};
    redisAppendCommandArgv(st->rc, 8, argv, NULL);
}

/* Takes one reply of the read script. Returns 0, or -1 on a bad reply. */
static int store_read_take(store_t *st, const redisReply *rep, void *items, size_t i,
                           arena_t *arena)
{
    store_read_t *r = (store_read_t *)items + i;
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 5) {
        store_seterr(st, "redis read script: %s",
                     rep && rep->type == REDIS_REPLY_ERROR ? rep->str : "bad reply");
        return -1;
    }
    r->found_id = arena_strndup(arena, rep->element[0]->str, rep->element[0]->len);
    r->state = NULL;
    r->state_len = 0;
    if (rep->element[1]->len > 0) {
        r->state = store_dup_bytes(arena, rep->element[1]->str, rep->element[1]->len);
        r->state_len = rep->element[1]->len;
    }
    r->version = strtoull(rep->element[2]->str ? rep->element[2]->str : "0", NULL, 10);
    r->cause = (store_cause_t)rep->element[3]->integer;
    r->outputs = store_dup_bytes(arena, rep->element[4]->str, rep->element[4]->len);
    r->outputs_len = rep->element[4]->len;
    return 0;
}

void store_forget_outputs(store_t *st, const char *cause_key)
{
    if (st->n_forget == STORE_FORGET_MAX)
        return;
    if (st->n_forget == st->cap_forget) {
        size_t cap = st->cap_forget ? 2 * st->cap_forget : 512;
        char **f = realloc(st->forget, cap * sizeof(*f));
        if (!f)
            return;
        st->forget = f;
        st->cap_forget = cap;
    }
    size_t len = strlen(cause_key);
    char *k = malloc(len + 5);
    if (!k)
        return;
    memcpy(k, "out:", 4);
    memcpy(k + 4, cause_key, len + 1);
    st->forget[st->n_forget++] = k;
}

/* Appends the UNLINK of the forgotten replay records to the pipeline.
 * Returns the number of commands appended (0 or 1). */
static size_t store_forget_append(store_t *st)
{
    if (st->n_forget == 0)
        return 0;
    const char **argv = malloc((st->n_forget + 1) * sizeof(*argv));
    if (!argv)
        return 0;
    argv[0] = "UNLINK";
    for (size_t i = 0; i < st->n_forget; i++)
        argv[i + 1] = st->forget[i];
    redisAppendCommandArgv(st->rc, (int)st->n_forget + 1, argv, NULL);
    free(argv);
    for (size_t i = 0; i < st->n_forget; i++)
        free(st->forget[i]);
    st->n_forget = 0;
    return 1;
}

/* The highest applied-writes mark this process saw (store_epoch()). One
 * per process: every connection of it writes to the same Redis. */
static atomic_llong store_applied_seen;

void store_set_replicas(store_t *st, int min_replicas, int64_t timeout_ms)
{
    st->min_replicas = min_replicas;
    st->wait_timeout_ms = timeout_ms;
    st->acks = INT_MAX;
}

/* Appends the applied-writes mark (INCR) and, with min_replicas, the WAIT
 * to an apply pipeline. Returns the commands appended. */
static size_t store_confirm_append(store_t *st)
{
    redisAppendCommand(st->rc, "INCR %smeta:applied", st->ns);
    if (st->min_replicas <= 0)
        return 1;
    redisAppendCommand(st->rc, "WAIT %d %lld", st->min_replicas, (long long)st->wait_timeout_ms);
    return 2;
}

/* Takes the replies of store_confirm_append(): the mark raises what this
 * process saw; the replicas that acknowledged lower st->acks. 0 or -1. */
static int store_confirm_take(store_t *st, redisReply **r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (r[i]->type != REDIS_REPLY_INTEGER) {
            store_seterr(st, "redis INCR/WAIT: %s",
                         r[i]->type == REDIS_REPLY_ERROR ? r[i]->str : "bad reply");
            return -1;
        }
    long long mark = r[0]->integer, seen = atomic_load(&store_applied_seen);
    while (mark > seen && !atomic_compare_exchange_weak(&store_applied_seen, &seen, mark))
        ;
    int acks = n == 2 ? (int)r[1]->integer : 0;
    if (n == 2 && acks < st->min_replicas)
        store_seterr(st, "redis WAIT: %d of %d replicas acknowledged within %lld ms", acks,
                     st->min_replicas, (long long)st->wait_timeout_ms);
    if (acks < st->acks)
        st->acks = acks;
    return 0;
}

/* One pipeline of @p n script calls: append each, collect the replies (a
 * script the server lost is loaded again and the pipeline run once more),
 * take each. Returns 0, or -1 on a Redis failure or a bad reply. No silent
 * reconnect on a lost connection: the worker reconnects and checks the
 * epoch (a restarted, empty Redis must be rebuilt first). */
static int store_pipeline(store_t *st, void *items, size_t n,
                          void (*append)(store_t *, const void *, size_t),
                          int (*take)(store_t *, const redisReply *, void *, size_t, arena_t *),
                          int confirm, arena_t *arena)
{
    if (!st->ready)
        return -1;
    if (n == 0)
        return 0;
    redisReply **all = arena_alloc(arena, (n + 3) * sizeof(*all));
    for (int attempt = 0; attempt < 2; attempt++) {
        size_t extra = store_forget_append(st);
        redisReply **replies = all + extra;
        for (size_t i = 0; i < n; i++)
            append(st, items, i);
        size_t tail = confirm ? store_confirm_append(st) : 0;
        if (store_collect(st, all, n + extra + tail) < 0)
            return -1;
        if (extra)
            freeReplyObject(all[0]);
        int rc = tail ? store_confirm_take(st, replies + n, tail) : 0;
        store_free_replies(replies + n, tail);
        if (store_noscript(replies, n)) {
            store_free_replies(replies, n);
            if (store_reconnect(st) < 0)
                return -1;
            continue;
        }
        for (size_t i = 0; i < n; i++)
            if (take(st, replies[i], items, i, arena) < 0)
                rc = -1;
        store_free_replies(replies, n);
        if (rc < 0)
            st->errors++;
        return rc;
    }
    return -1;
}

int store_read_batch(store_t *st, store_read_t *r, size_t n, arena_t *arena)
{
    return store_pipeline(st, r, n, store_read_append, store_read_take, 0, arena);
}

const char *store_timer_member(hd_timer_kind_t kind, uint32_t level, const char *id, char *buf,
                               size_t size)
{
    if (kind == HD_TIMER_ACK)
        snprintf(buf, size, "%u|%s", level, id);
    else
        snprintf(buf, size, "%s:%u|%s", hd_timer_kind_name(kind), level, id);
    return buf;
}

/* The timer effects of @p x as apply-script arguments (pairs: op, member)
 * into @p argv / @p lens from @p n; returns the new count. An ack cancel
 * drops the ack timers of every level (the level armed may have moved). */
static int store_apply_timers(const store_apply_t *x, const char **argv, size_t *lens, int n,
                              int max, char (*pool)[STORE_ARG_MAX])
{
    int used = 0;
    for (size_t i = 0; i < x->n_timers; i++) {
        const hd_timer_effect_t *t = &x->timers[i];
        uint32_t lo = t->level, hi = t->level;
        if (t->op == HD_TIMER_CANCEL && t->kind == HD_TIMER_ACK) {
            lo = 0;
            hi = x->max_level;
        }
        for (uint32_t l = lo; l <= hi && n + 3 <= max; l++) {
            snprintf(pool[used], STORE_ARG_MAX, "a%" PRId64, t->due_ms);
            argv[n] = t->op == HD_TIMER_ARM ? pool[used++] : "c";
            argv[n + 1] = store_timer_member(t->kind, l, x->id, pool[used++], STORE_ARG_MAX);
            argv[n + 2] = "";
            lens[n] = strlen(argv[n]);
            lens[n + 1] = strlen(argv[n + 1]);
            lens[n + 2] = 0;
            n += 3;
        }
    }
    for (size_t i = 0; i < x->n_outbox && n + 3 <= max; i++) {
        const store_outbox_op_t *o = &x->outbox[i];
        snprintf(pool[used], STORE_ARG_MAX, "%c%" PRId64, o->op, o->due_ms);
        argv[n] = pool[used++];
        argv[n + 1] = o->delivery_id;
        argv[n + 2] = o->value ? (const char *)o->value : "";
        lens[n] = strlen(argv[n]);
        lens[n + 1] = strlen(argv[n + 1]);
        lens[n + 2] = o->value ? o->value_len : 0;
        n += 3;
    }
    return n;
}

/* The timeline records of @p x as apply-script triples ("t", "", the
 * record) into @p argv / @p lens from @p n; returns the new count. */
static int store_apply_records(const store_apply_t *x, const char **argv, size_t *lens, int n,
                               int max)
{
    for (size_t i = 0; i < x->n_records && n + 3 <= max; i++) {
        argv[n] = "t";
        argv[n + 1] = "";
        argv[n + 2] = x->records[i].len ? (const char *)x->records[i].data : "";
        lens[n] = 1;
        lens[n + 1] = 0;
        lens[n + 2] = x->records[i].len;
        n += 3;
    }
    return n;
}

void store_state_digest(const void *state, size_t len, char hex[STORE_DIGEST_HEX])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1(state, len, md);
    for (int k = 0; k < SHA_DIGEST_LENGTH; k++) {
        hex[2 * k] = digits[md[k] >> 4];
        hex[2 * k + 1] = digits[md[k] & 15];
    }
    hex[2 * SHA_DIGEST_LENGTH] = '\0';
}

/* The apply script's arguments that are formatted (numbers, keys, the new
 * state's digest), for store_apply_append(). */
typedef struct store_apply_text {
    char ev[24], nv[24], outttl[24], causettl[24], closed[24], prevv[24];
    char claim_key[400], assume[300];
    char new_sha[STORE_DIGEST_HEX];
} store_apply_text_t;

static void store_apply_text(const store_t *st, const store_apply_t *x, store_apply_text_t *t)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->ev, sizeof(t->ev), "%" PRIu64, x->expected_version);
    snprintf(t->prevv, sizeof(t->prevv), "%" PRIu64, x->prev_version);
    if (x->new_version)
        snprintf(t->nv, sizeof(t->nv), "%" PRIu64, x->new_version);
    snprintf(t->outttl, sizeof(t->outttl), "%d", STORE_OUT_TTL_S);
    int64_t cause_ttl = x->retention_ms / 1000;
    if (cause_ttl < STORE_CAUSE_TTL_S)
        cause_ttl = STORE_CAUSE_TTL_S;
    snprintf(t->causettl, sizeof(t->causettl), "%" PRId64, x->cause_check_only ? 0 : cause_ttl);
    snprintf(t->closed, sizeof(t->closed), "%" PRId64,
             x->closed ? (x->retention_ms > 0 ? x->retention_ms : 1) : 0);
    if (x->assume_open)
        snprintf(t->assume, sizeof(t->assume), "=%s", x->assume_open);
    if (x->claim_key) {
        snprintf(t->claim_key, sizeof(t->claim_key), "%s", x->claim_key);
    } else if (x->timer_member) {
        const char *bar = strchr(x->timer_member, '|');
        snprintf(t->claim_key, sizeof(t->claim_key), "%stclaim:{%s}:%.*s", st->ns,
                 bar ? bar + 1 : "", (int)(bar ? bar - x->timer_member : 0), x->timer_member);
    }
    if (x->state)
        store_state_digest(x->state, x->state_len, t->new_sha);
}

/* Appends the apply script's call for @p x to the pipeline (ARGV as
 * STORE_LUA_APPLY documents). */
static void store_apply_append(store_t *st, const void *items, size_t i)
{
    const store_apply_t *x = (const store_apply_t *)items + i;
    store_apply_text_t t;
    store_apply_text(st, x, &t);
    /* The effects' triples: one per outbox operation and timeline record,
     * one per timer effect (an ack cancel: one per level). */
    size_t max = STORE_APPLY_ARGC + 3 * (x->n_outbox + x->n_records);
    for (size_t k = 0; k < x->n_timers; k++)
        max += 3 * (x->timers[k].op == HD_TIMER_CANCEL && x->timers[k].kind == HD_TIMER_ACK
                        ? x->max_level + 1
                        : 1);
    const char **argv = calloc(max, sizeof(*argv));
    size_t *lens = calloc(max, sizeof(*lens));
    char(*pool)[STORE_ARG_MAX] = calloc(max, STORE_ARG_MAX);
    if (!argv || !lens || !pool) {
        fprintf(stderr, "incidentd: out of memory\n");
        abort();
    }
    const char *head[STORE_APPLY_ARGC] = {"EVALSHA",
                                          st->sha_apply,
                                          "0",
                                          x->id,
                                          t.ev,
                                          t.nv,
                                          x->state ? (const char *)x->state : "",
                                          x->cause_key ? x->cause_key : "",
                                          x->pos ? x->pos : "",
                                          x->outputs ? (const char *)x->outputs : "",
                                          t.outttl,
                                          t.causettl,
                                          x->old_stage ? x->old_stage : "",
                                          x->new_stage ? x->new_stage : "",
                                          x->index_op == 1   ? "open"
                                          : x->index_op == 2 ? "close"
                                                             : "",
                                          x->dedup_key ? x->dedup_key : "",
                                          t.assume,
                                          x->index_prev ? x->index_prev : "",
                                          t.prevv,
                                          t.closed,
                                          x->prev_head ? x->prev_head : "",
                                          st->ns,
                                          x->old_kind ? x->old_kind : "",
                                          x->new_kind ? x->new_kind : "",
                                          x->expected_head ? x->expected_head : "",
                                          x->new_head ? x->new_head : "",
                                          t.claim_key,
                                          x->timer_claim ? x->timer_claim : "",
                                          x->timer_member ? x->timer_member : "",
                                          x->expected_digest ? x->expected_digest : "",
                                          t.new_sha};
    for (int k = 0; k < STORE_APPLY_ARGC; k++) {
        argv[k] = head[k];
        lens[k] = strlen(argv[k]);
    }
    lens[6] = x->state ? x->state_len : 0;
    lens[9] = x->outputs ? x->outputs_len : 0;
    int argc = store_apply_timers(x, argv, lens, STORE_APPLY_ARGC, (int)max, pool);
    argc = store_apply_records(x, argv, lens, argc, (int)max);
    redisAppendCommandArgv(st->rc, argc, argv, lens);
    free(argv);
    free(lens);
    free(pool);
}

/* Takes one reply of the apply script into @p x. Returns 0, or -1 on an
 * unexpected reply (error text kept). */
static int store_apply_take(store_t *st, const redisReply *rep, void *items, size_t i,
                            arena_t *arena)
{
    store_apply_t *x = (store_apply_t *)items + i;
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 2 || rep->elements > 4 ||
        rep->element[0]->type != REDIS_REPLY_STRING) {
        store_seterr(st, "redis apply script: %s",
                     rep && rep->type == REDIS_REPLY_ERROR ? rep->str : "bad reply");
        return -1;
    }
    const char *res = rep->element[0]->str;
    const redisReply *o = rep->element[1];
    x->replay = NULL;
    x->replay_len = 0;
    if (strcmp(res, "OK") == 0) {
        x->result = STORE_OK;
    } else if (strcmp(res, "DUP") == 0) {
        x->result = STORE_DUP;
    } else if (strcmp(res, "CONFLICT") == 0) {
        x->result = STORE_CONFLICT;
        x->now_state = NULL;
        x->now_state_len = 0;
        x->now_open = NULL;
        if (rep->elements == 4 && rep->element[3]->type == REDIS_REPLY_STRING)
            x->now_open = arena_strndup(arena, rep->element[3]->str, rep->element[3]->len);
        if (rep->elements >= 3 && rep->element[2]->type == REDIS_REPLY_STRING &&
            rep->element[2]->len > 0 && o->type == REDIS_REPLY_STRING) {
            x->now_version = strtoull(o->str, NULL, 10);
            x->now_state = store_dup_bytes(arena, rep->element[2]->str, rep->element[2]->len);
            x->now_state_len = rep->element[2]->len;
        }
    } else if (strcmp(res, "REJECT") == 0) {
        x->result = STORE_REJECT;
        x->reason = o->type == REDIS_REPLY_STRING ? arena_strndup(arena, o->str, o->len)
                                                  : "refused by the apply script";
    } else {
        x->result = STORE_REPLAY;
        if (o->type == REDIS_REPLY_STRING) {
            x->replay = store_dup_bytes(arena, o->str, o->len);
            x->replay_len = o->len;
        }
    }
    return 0;
}

int store_confirm(store_t *st)
{
    if (!st->ready)
        return -1;
    st->acks = INT_MAX;
    redisReply *r[2] = {NULL, NULL};
    size_t n = store_confirm_append(st);
    if (store_collect(st, r, n) < 0)
        return -1;
    int rc = store_confirm_take(st, r, n);
    store_free_replies(r, n);
    return rc < 0 ? -1 : st->acks;
}

int store_apply_batch(store_t *st, store_apply_t *a, size_t n, arena_t *arena)
{
    /* Without replicas to wait for, the mark rides in the apply pipeline;
     * with them, store_confirm() marks and WAITs after the batch's last
     * apply, also when the batch only replayed (its writes may be an
     * earlier, unconfirmed attempt's). */
    return store_pipeline(st, a, n, store_apply_append, store_apply_take, st->min_replicas <= 0,
                          arena);
}

/* The kind and level of a timer member (store_timer_member()). */
static int store_timer_parse(const char *m, store_timer_t *t)
{
    const char *colon = strchr(m, ':'), *bar = strchr(m, '|');
    t->kind = HD_TIMER_ACK;
    if (colon && colon < bar) {
        int k = 0;
        while (k < HD_TIMER_KINDS &&
               (strncmp(m, hd_timer_kind_name((hd_timer_kind_t)k), (size_t)(colon - m)) != 0 ||
                strlen(hd_timer_kind_name((hd_timer_kind_t)k)) != (size_t)(colon - m)))
            k++;
        if (k == HD_TIMER_KINDS)
            return -1;
        t->kind = (hd_timer_kind_t)k;
        m = colon + 1;
    }
    t->level = (uint32_t)strtoul(m, NULL, 10);
    return 0;
}

/* A random hex base for claim tokens. Returns 0, or -1 (error set). */
static int store_token_base(store_t *st, char base[17])
{
    unsigned char rnd[8];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        store_seterr(st, "claim: no random bytes for the claim token");
        return -1;
    }
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(base + 2 * i, 3, "%02x", rnd[i]);
    return 0;
}

/* Runs a claim script (@p sha: timers or deliveries): leases what is due
 * at @p now_ms for @p lease_ms, at most @p max. Returns the array reply
 * (caller frees), or NULL with the error set. */
static redisReply *store_claim_run(store_t *st, const char *sha, const char *what, int64_t now_ms,
                                   int64_t lease_ms, int max)
{
    char base[17];
    if (!st->ready || store_token_base(st, base) < 0)
        return NULL;
    redisReply *r = redisCommand(st->rc, "EVALSHA %s 0 %" PRId64 " %" PRId64 " %d %s %s %d", sha,
                                 now_ms, now_ms + lease_ms, max, st->ns, base, STORE_CAUSE_TTL_S);
    st->round_trips++;
    if (!r) {
        store_seterr(st, "redis: %s", st->rc->errstr);
        store_drop(st);
        return NULL;
    }
    if (redis_conn_failover(r)) {
        store_check_reply(st, r);
        freeReplyObject(r);
        return NULL;
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        store_seterr(st, "%s claim: %s", what, r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
        int noscript = r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0;
        freeReplyObject(r);
        if (noscript)
            store_reconnect(st);
        st->errors++;
        return NULL;
    }
    return r;
}

int store_deliveries_claim(store_t *st, int64_t now_ms, int64_t lease_ms, store_delivery_t *out,
                           int max, arena_t *arena)
{
    redisReply *r = store_claim_run(st, st->sha_dclaim, "delivery", now_ms, lease_ms, max);
    if (!r)
        return -1;
    int n = 0;
    for (size_t i = 0; i + 3 < r->elements && n < max; i += 4) {
        store_delivery_t *d = &out[n++];
        d->delivery_id = arena_strndup(arena, r->element[i]->str, r->element[i]->len);
        d->claim = arena_strndup(arena, r->element[i + 1]->str, r->element[i + 1]->len);
        d->planned = store_dup_bytes(arena, r->element[i + 2]->str, r->element[i + 2]->len);
        d->planned_len = r->element[i + 2]->len;
        d->state = store_dup_bytes(arena, r->element[i + 3]->str, r->element[i + 3]->len);
        d->state_len = r->element[i + 3]->len;
    }
    freeReplyObject(r);
    return n;
}

int store_delivery_defer(store_t *st, const char *delivery_id, int64_t due_ms)
{
    redisReply *r =
        store_command(st, "ZADD %soutbox XX %lld %s", st->ns, (long long)due_ms, delivery_id);
    if (!r)
        return -1;
    int rc = r->type == REDIS_REPLY_ERROR ? -1 : 0;
    freeReplyObject(r);
    return rc;
}

const char *store_delivery_claim_key(const store_t *st, const char *incident_id,
                                     const char *delivery_id, char *buf, size_t size)
{
    snprintf(buf, size, "%sdclaim:{%s}:%s", st->ns, incident_id, delivery_id);
    return buf;
}

int store_timers_claim(store_t *st, int64_t now_ms, int64_t lease_ms, store_timer_t *out, int max)
{
    redisReply *r = store_claim_run(st, st->sha_claim, "timer", now_ms, lease_ms, max);
    if (!r)
        return -1;
    int n = 0;
    for (size_t i = 0; i + 2 < r->elements && n < max; i += 3) {
        const char *m = r->element[i]->str;
        const char *bar = strchr(m, '|');
        if (!bar || strlen(m) >= sizeof(out[n].member) || !r->element[i + 2]->str ||
            r->element[i + 2]->len >= sizeof(out[n].claim))
            continue;
        snprintf(out[n].member, sizeof(out[n].member), "%s", m);
        if (store_timer_parse(m, &out[n]) < 0)
            continue;
        snprintf(out[n].id, sizeof(out[n].id), "%s", bar + 1);
        out[n].due_ms = strtoll(r->element[i + 1]->str, NULL, 10);
        snprintf(out[n].claim, sizeof(out[n].claim), "%s", r->element[i + 2]->str);
        n++;
    }
    freeReplyObject(r);
    return n;
}

int store_states_read(store_t *st, const char *const *ids, size_t n, void **replies)
{
    if (!st->ready && store_reconnect(st) < 0)
        return -1;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        redisAppendCommand(st->rc, "HMGET %sinc:{%s} state version", st->ns, ids[i]);
    return store_collect(st, (redisReply **)replies, n);
}

int store_timeline_read(store_t *st, const char *id, void **replies)
{
    if (!st->ready && store_reconnect(st) < 0)
        return -1;
    redisAppendCommand(st->rc, "HMGET %sinc:{%s} state version tlbytes", st->ns, id);
    redisAppendCommand(st->rc, "LRANGE %stl:{%s} 0 -1", st->ns, id);
    return store_collect(st, (redisReply **)replies, 2);
}

void *store_command_argv(store_t *st, int argc, const char **argv, const size_t *lens)
{
    if (!st->ready && store_reconnect(st) < 0)
        return NULL;
    void *r = redisCommandArgv(st->rc, argc, argv, lens);
    st->round_trips++;
    store_check_reply(st, r);
    return r;
}

void *store_command(store_t *st, const char *fmt, ...)
{
    if (!st->ready && store_reconnect(st) < 0)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    void *r = redisvCommand(st->rc, fmt, ap);
    va_end(ap);
    st->round_trips++;
    store_check_reply(st, r);
    return r;
}

/* epoch: KEYS = epoch marker, applied mark; ARGV = the mark this process
 * saw. A mark below it: the writes in between are lost; the marker goes
 * (rebuild) and the mark comes up to it (the rebuilt state holds them).
 * Returns {2 (marker was there: lost writes) | 1 (whole) | 0 (no marker:
 * new or emptied), the mark found}. */
static const char STORE_LUA_EPOCH[] =
    "local a = tonumber(redis.call('GET', KEYS[2]) or '0') or 0\n"
    "local e = redis.call('EXISTS', KEYS[1])\n"
    "if a < tonumber(ARGV[1]) then\n"
    "  redis.call('DEL', KEYS[1]); redis.call('SET', KEYS[2], ARGV[1])\n"
    "  if e == 1 then return {2, a} end\n"
    "end\n"
    "return {e, a}\n";

int store_epoch(store_t *st)
{
    if (!st->ready)
        return -1;
    long long seen = atomic_load(&store_applied_seen);
    redisReply *r = store_command(st, "EVAL %s 2 %smeta:epoch %smeta:applied %lld", STORE_LUA_EPOCH,
                                  st->ns, st->ns, seen);
    if (!r)
        return -1;
    int rc = -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_INTEGER && r->element[1]->type == REDIS_REPLY_INTEGER) {
        rc = (int)r->element[0]->integer;
        if (rc == 2) {
            log_warn("redis %s lost applied writes (applied mark %lld, this process saw %lld): a "
                     "failover to a replica that missed them, or a restart from an old snapshot; "
                     "its state is to be rebuilt from ormis.audit",
                     redis_conn_where(st->conn), r->element[1]->integer, seen);
            rc = 0;
        }
    } else {
        store_seterr(st, "redis epoch check: %s",
                     r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
    }
    freeReplyObject(r);
    return rc;
}

int store_epoch_set(store_t *st, int64_t now_ms)
{
    redisReply *r = store_command(st, "SET %smeta:epoch %lld NX", st->ns, (long long)now_ms);
    if (!r)
        return -1;
    int rc = r->type == REDIS_REPLY_ERROR ? -1 : 0;
    freeReplyObject(r);
    return rc;
}
