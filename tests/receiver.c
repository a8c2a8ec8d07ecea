/*
 * receiver.c — the webhook receiver of the notify tests and of the bench;
 * see receiver.h.
 */
#include "receiver.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "testutil.h"

/* The python with aiosmtpd: INCIDENTD_TEST_PYTHON, else Debian's. */
const char *srv_python(void)
{
    const char *p = getenv("INCIDENTD_TEST_PYTHON");
    return p && *p ? p : "/usr/bin/python3";
}

void srv_stop(srv_t *s)
{
    if (s->pid > 0)
        tu_stop(s->pid, SIGTERM, 5000);
    s->pid = 0;
}

/* Waits up to 10 s for "PORT <n>" in the output of @p s. */
int srv_port_line(const srv_t *s)
{
    int64_t end = tu_now_ms() + 10000;
    while (tu_now_ms() < end) {
        FILE *f = fopen(s->out, "r");
        char line[128];
        int port = 0;
        while (f && fgets(line, sizeof(line), f))
            if (sscanf(line, "PORT %d", &port) == 1) {
                fclose(f);
                return port;
            }
        if (f)
            fclose(f);
        usleep(50000);
    }
    return 0;
}

int receiver_spawn(srv_t *s, int port, const char *dir)
{
    char script[512], portarg[16];
    const char *src = getenv("INCIDENTD_SOURCE_DIR");
    snprintf(script, sizeof(script), "%s/tests/notify_receiver.py", src ? src : ".");
    snprintf(portarg, sizeof(portarg), "%d", port);
    const char *name = tu_unique("recv");
    snprintf(s->log, sizeof(s->log), "%s/%s.log", dir ? dir : "/tmp", name);
    snprintf(s->out, sizeof(s->out), "%s/%s.out", dir ? dir : "/tmp", name);
    s->pid = 0;
    s->port = 0;
    FILE *f = fopen(s->log, "w");
    if (!f) {
        fprintf(stderr, "receiver: %s: %s\n", s->log, strerror(errno));
        return -1;
    }
    fclose(f);
    const char *argv[] = {srv_python(), script, s->log, portarg, NULL};
    s->pid = tu_spawn(argv, NULL, s->out);
    s->port = srv_port_line(s);
    return s->port > 0 && (port == 0 || s->port == port) ? 0 : -1;
}

void reqs_free(reqs_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i].body);
    free(r->v);
    memset(r, 0, sizeof(*r));
}

static void copy_header(const cJSON *h, const char *name, char *out, size_t size)
{
    const cJSON *v;
    out[0] = '\0';
    cJSON_ArrayForEach(v, h) if (strcasecmp(v->string, name) == 0 && cJSON_IsString(v))
        snprintf(out, size, "%s", v->valuestring);
}

/* The requests @p s logged so far. */
reqs_t receiver_requests(const srv_t *s)
{
    reqs_t r = {0};
    size_t cap = 0;
    FILE *f = fopen(s->log, "r");
    if (!f) {
        fprintf(stderr, "receiver: %s: %s\n", s->log, strerror(errno));
        return r;
    }
    char *line = NULL;
    size_t lcap = 0;
    while (getline(&line, &lcap, f) > 0) {
        cJSON *j = cJSON_Parse(line);
        if (!j)
            continue; /* a line being written */
        if (r.n == cap) {
            cap = cap ? 2 * cap : 64;
            r.v = realloc(r.v, cap * sizeof(*r.v));
            if (!r.v)
                abort(); /* out of memory */
        }
        req_t *q = &r.v[r.n++];
        memset(q, 0, sizeof(*q));
        snprintf(q->path, sizeof(q->path), "%s", cJSON_GetObjectItem(j, "path")->valuestring);
        copy_header(cJSON_GetObjectItem(j, "headers"), "Idempotency-Key", q->key, sizeof(q->key));
        copy_header(cJSON_GetObjectItem(j, "headers"), "X-Incidentd-Signature", q->sig,
                    sizeof(q->sig));
        q->body = strdup(cJSON_GetObjectItem(j, "body")->valuestring);
        q->t = cJSON_GetObjectItem(j, "t")->valuedouble;
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);
    return r;
}

/* How many requests of @p r carry Idempotency-Key @p key; the first in *first. */
int reqs_with_key(const reqs_t *r, const char *key, const req_t **first)
{
    int n = 0;
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->v[i].key, key) == 0 && n++ == 0 && first)
            *first = &r->v[i];
    return n;
}

/* Waits up to @p ms for @p s to have logged @p n requests whose path starts with @p path. */
int receiver_wait(const srv_t *s, const char *path, int n, int ms)
{
    int64_t end = tu_now_ms() + ms;
    for (;;) {
        reqs_t r = receiver_requests(s);
        int k = 0;
        for (size_t i = 0; i < r.n; i++)
            k += strncmp(r.v[i].path, path, strlen(path)) == 0;
        reqs_free(&r);
        if (k >= n || tu_now_ms() > end)
            return k;
        usleep(100000);
    }
}
