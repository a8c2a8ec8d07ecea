/*
 * receiver.h — the servers the notify tests deliver to, started on ports of
 * 127.0.0.1: the webhook receiver (tests/notify_receiver.py), the requests
 * it logged (path, Idempotency-Key, signature, body, when), and waiting for
 * them. Used by test_notify.c, test_silence_reminders.c and incidentd-bench
 * (its deliveries phase).
 *
 * No Criterion inside: a failure is returned (the tests assert on it). One
 * thread.
 */
#ifndef INCIDENTD_TEST_RECEIVER_H
#define INCIDENTD_TEST_RECEIVER_H

#include <stddef.h>
#include <sys/types.h>

typedef struct srv {
    pid_t pid;
    int port;
    char log[256]; /* receiver: its request log; smtp: its Maildir */
    char out[256]; /* the server's own output */
} srv_t;

/* The python of the servers (with aiosmtpd): INCIDENTD_TEST_PYTHON, else
 * Debian's. */
const char *srv_python(void);

/* Stops @p s (SIGTERM, then SIGKILL after 5 s); accepts one not started. */
void srv_stop(srv_t *s);

/* Waits up to 10 s for "PORT <n>" in the output of @p s; 0 when none came. */
int srv_port_line(const srv_t *s);

/* Starts tests/notify_receiver.py (under INCIDENTD_SOURCE_DIR) on @p port
 * (0: a free one) into @p s, its request log and output in @p dir (NULL:
 * /tmp). Returns 0 once it listens, -1 when it did not (s->out tells why).
 * The caller stops it with srv_stop() either way. */
int receiver_spawn(srv_t *s, int port, const char *dir);

typedef struct req {
    char path[256];
    char key[256]; /* Idempotency-Key */
    char sig[128]; /* X-Incidentd-Signature */
    char *body;
    double t; /* when it came (Unix s) */
} req_t;

typedef struct reqs {
    req_t *v;
    size_t n;
} reqs_t;

void reqs_free(reqs_t *r);

/* The requests @p s logged so far (free with reqs_free()); none, with a
 * line on stderr, when its log cannot be read. */
reqs_t receiver_requests(const srv_t *s);

/* How many requests of @p r carry Idempotency-Key @p key; the first in *first. */
int reqs_with_key(const reqs_t *r, const char *key, const req_t **first);

/* Waits up to @p ms for @p s to have logged @p n requests whose path starts
 * with @p path; returns how many it has. */
int receiver_wait(const srv_t *s, const char *path, int n, int ms);

#endif
