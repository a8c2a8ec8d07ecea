/*
 * store_lease.c — short leases in Redis (<ns><name>, SET NX PX): the
 * rebuild lock of the workers and the notify stage's claims on a silence's
 * reminder and tombstone; see store.h. Built on store_command() only.
 */
#include <hiredis/hiredis.h>

#include "store.h"

int store_lease(store_t *st, const char *name, const char *owner, int64_t ttl_ms)
{
    redisReply *r = store_command(st, "SET %s%s %s NX PX %lld", store_ns(st), name, owner,
                                  (long long)(ttl_ms > 0 ? ttl_ms : 1));
    if (!r)
        return -1;
    int rc = r->type == REDIS_REPLY_STATUS ? 1 : r->type == REDIS_REPLY_NIL ? 0 : -1;
    freeReplyObject(r);
    return rc;
}

int store_lease_settle(store_t *st, const char *name, const char *owner, const char *value,
                       int64_t ttl_ms)
{
    redisReply *r =
        store_command(st, "EVAL %s 1 %s%s %s %s %lld",
                      "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end "
                      "redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1",
                      store_ns(st), name, owner, value, (long long)(ttl_ms > 0 ? ttl_ms : 1));
    if (!r)
        return -1;
    int rc = r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;
    freeReplyObject(r);
    return rc;
}

int store_lock(store_t *st, const char *name, const char *owner, int ttl_s)
{
    return store_lease(st, name, owner, (int64_t)ttl_s * 1000);
}

void store_unlock(store_t *st, const char *name, const char *owner)
{
    redisReply *r = store_command(st, "EVAL %s 1 %s%s %s",
                                  "if redis.call('GET', KEYS[1]) == ARGV[1] then return "
                                  "redis.call('DEL', KEYS[1]) end return 0",
                                  store_ns(st), name, owner);
    if (r)
        freeReplyObject(r);
}
