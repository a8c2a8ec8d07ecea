/*
 * testutil.c — see testutil.h.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TU_MAX 32

static char tu_keys[TU_MAX][64];
static char tu_vals[TU_MAX][512];
static int tu_n = -1;

static void tu_load(void)
{
    if (tu_n >= 0)
        return;
    tu_n = 0;
    const char *path = getenv("INCIDENTD_TESTBED_ENV");
    if (!path)
        return;
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[600];
    while (tu_n < TU_MAX && fgets(line, sizeof(line), f)) {
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        char *v = eq + 1;
        v[strcspn(v, "\r\n")] = '\0';
        size_t kl = strlen(line), vl = strlen(v);
        if (kl >= sizeof(tu_keys[0]) || vl >= sizeof(tu_vals[0]))
            continue;
        memcpy(tu_keys[tu_n], line, kl + 1);
        memcpy(tu_vals[tu_n], v, vl + 1);
        tu_n++;
    }
    fclose(f);
}

const char *tu_testbed(const char *key)
{
    const char *v = getenv(key);
    if (v && *v)
        return v;
    tu_load();
    for (int i = 0; i < tu_n; i++)
        if (strcmp(tu_keys[i], key) == 0)
            return tu_vals[i];
    return NULL;
}

static const char *tu_require(const char *key)
{
    const char *v = tu_testbed(key);
    if (!v) {
        fprintf(stderr, "test bed setting %s missing: run through ctest "
                        "(fixture testbed) or set it in the environment\n", key);
        abort();
    }
    return v;
}

const char *tu_brokers(void) { return tu_require("INCIDENTD_TEST_BROKERS"); }
const char *tu_redis(void) { return tu_require("INCIDENTD_TEST_REDIS"); }

const char *tu_unique(const char *prefix)
{
    static char buf[8][128];
    static int slot;
    static unsigned counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char *b = buf[slot++ % 8];
    snprintf(b, sizeof(buf[0]), "%s-%d-%lld-%u", prefix, (int)getpid(),
             (long long)ts.tv_nsec, counter++);
    return b;
}
