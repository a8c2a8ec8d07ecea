/*
 * test_notify_deliver.c — deliveries to real local servers: a webhook
 * receiver (tests/notify_receiver.py, python3 http.server) and an SMTP
 * server (aiosmtpd, Debian's python3-aiosmtpd), both started by the test on
 * free ports of 127.0.0.1 and stopped after it. Every wait is bounded.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "deliver.h"

#define SECRET "test-webhook-secret"

/* ---- helpers: processes, ports, time ---------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The python with aiosmtpd: INCIDENTD_TEST_PYTHON, else Debian's. */
static const char *python(void)
{
    const char *p = getenv("INCIDENTD_TEST_PYTHON");
    return p && *p ? p : "/usr/bin/python3";
}

/* tests/<name> next to this file's tests/unit/. */
static void tests_path(const char *name, char *buf, size_t size)
{
    static const char self[] = __FILE__;
    const char *suffix = "unit/test_notify_deliver.c";
    size_t fl = strlen(self), sl = strlen(suffix);
    cr_assert(fl > sl && strcmp(self + fl - sl, suffix) == 0, "source path unknown");
    snprintf(buf, size, "%.*s%s", (int)(fl - sl), self, name);
}

/* A port nothing listens on right now. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    cr_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    cr_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static int port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)port)};
    int ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

typedef struct server {
    pid_t pid;
    int port;
    char log[128]; /* receiver: its request log; smtp: its Maildir */
} server_t;

static void server_stop(server_t *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        int64_t end = now_ms() + 5000;
        while (waitpid(s->pid, NULL, WNOHANG) == 0 && now_ms() < end)
            usleep(20000);
        if (waitpid(s->pid, NULL, WNOHANG) == 0) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
        }
        s->pid = 0;
    }
}

static pid_t spawn(char *const argv[], int out_fd)
{
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        /* a test that fails half-way leaves no server behind */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(out_fd >= 0 ? out_fd : devnull, 1);
        dup2(devnull, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* Starts tests/notify_receiver.py; its port is the first line it prints. */
static void receiver_start(server_t *s)
{
    char script[1024];
    tests_path("notify_receiver.py", script, sizeof(script));
    snprintf(s->log, sizeof(s->log), "/tmp/test_notify_recv_XXXXXX");
    int lfd = mkstemp(s->log);
    cr_assert(lfd >= 0);
    close(lfd);
    int pfd[2];
    cr_assert(pipe(pfd) == 0);
    char *argv[] = {(char *)python(), script, s->log, NULL};
    s->pid = spawn(argv, pfd[1]);
    close(pfd[1]);
    char line[64] = "";
    size_t n = 0;
    struct pollfd p = {.fd = pfd[0], .events = POLLIN};
    int64_t end = now_ms() + 10000;
    while (!strchr(line, '\n') && n + 1 < sizeof(line) && now_ms() < end) {
        if (poll(&p, 1, 200) <= 0)
            continue;
        ssize_t r = read(pfd[0], line + n, sizeof(line) - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        line[n] = '\0';
    }
    close(pfd[0]);
    cr_assert_eq(sscanf(line, "PORT %d", &s->port), 1, "receiver did not start: '%s'", line);
}

static void receiver_stop(server_t *s)
{
    server_stop(s);
    unlink(s->log);
}

/* Starts aiosmtpd with its Maildir handler on a free port. */
static void smtp_start(server_t *s)
{
    char dir[64] = "/tmp/test_notify_smtp_XXXXXX", listen[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(s->log, sizeof(s->log), "%s/box", dir);
    s->port = free_port();
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", s->port);
    char *argv[] = {
        (char *)python(), "-m", "aiosmtpd", "-n", "-l", listen, "-c", "aiosmtpd.handlers.Mailbox",
        s->log,           NULL};
    s->pid = spawn(argv, -1);
    int64_t end = now_ms() + 10000;
    while (!port_open(s->port) && now_ms() < end) {
        cr_assert_eq(waitpid(s->pid, NULL, WNOHANG), 0,
                     "aiosmtpd exited: is python3-aiosmtpd installed for %s "
                     "(deploy/dev.sh deps)?",
                     python());
        usleep(50000);
    }
    cr_assert(port_open(s->port), "aiosmtpd did not listen on %d", s->port);
}

/* The mails in the Maildir, concatenated (caller frees), or NULL when
 * fewer than @p want are there. */
static char *smtp_mails(const server_t *s, int want)
{
    char dir[256], path[512];
    snprintf(dir, sizeof(dir), "%s/new", s->log);
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    struct dirent *e;
    char *all = NULL;
    size_t all_len = 0;
    FILE *out = open_memstream(&all, &all_len);
    int n = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        int c;
        while ((c = fgetc(f)) != EOF)
            fputc(c, out);
        fclose(f);
        n++;
    }
    closedir(d);
    fclose(out);
    if (n < want) {
        free(all);
        return NULL;
    }
    return all;
}

/* The requests the receiver logged, as a JSON array (caller deletes). */
static cJSON *receiver_requests(const server_t *s)
{
    cJSON *arr = cJSON_CreateArray();
    FILE *f = fopen(s->log, "r");
    cr_assert_not_null(f);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        cJSON *j = cJSON_Parse(line);
        cr_assert_not_null(j, "bad log line %s", line);
        cJSON_AddItemToArray(arr, j);
    }
    free(line);
    fclose(f);
    return arr;
}

static const char *header(const cJSON *req, const char *name)
{
    const cJSON *h = cJSON_GetObjectItem(req, "headers"), *v;
    cJSON_ArrayForEach(v, h) if (strcasecmp(v->string, name) == 0) return v->valuestring;
    return NULL;
}

/* ---- the sender under test ---------------------------------------------------------------- */

typedef struct outcome {
    int done;
    notify_result_t result;
    int64_t at_ms; /* when the callback ran */
} outcome_t;

static void on_done(const notify_result_t *r, void *opaque)
{
    outcome_t *o = opaque;
    o->done++;
    o->result = *r;
    o->at_ms = now_ms();
}

static notify_sender_t *sender(int max, int64_t timeout_ms, const char *smtp_url)
{
    char err[256];
    notify_sender_conf_t c = {.max_concurrent = max,
                              .timeout_ms = timeout_ms,
                              .webhook_secret = SECRET,
                              .smtp_url = smtp_url,
                              .smtp_from = "incidentd@ops.example"};
    notify_sender_t *s = notify_sender_new(&c, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    return s;
}

/* Runs @p s until @p o is done (bounded by @p limit_ms). */
static void run_until_done(notify_sender_t *s, outcome_t *o, int64_t limit_ms)
{
    int64_t end = now_ms() + limit_ms;
    while (!o->done && now_ms() < end)
        notify_sender_run(s, 100);
    cr_assert_eq(o->done, 1, "no result within %lld ms", (long long)limit_ms);
}

static outcome_t send_one(notify_sender_t *s, directory_channel_t ch, const char *address,
                          const char *id, const char *body)
{
    outcome_t o = {0};
    notify_msg_t m = {.delivery_id = id, .channel = ch, .address = address, .body = body};
    cr_assert_eq(notify_send(s, &m, on_done, &o), 0);
    run_until_done(s, &o, 15000);
    return o;
}

static server_t recv_srv, fast_srv;

static void recv_setup(void) { receiver_start(&recv_srv); }

static void recv_teardown(void)
{
    receiver_stop(&recv_srv);
    if (fast_srv.pid)
        receiver_stop(&fast_srv);
}

TestSuite(notify_deliver, .init = recv_setup, .fini = recv_teardown, .timeout = 60);

Test(notify_deliver, webhook_is_signed_and_carries_the_idempotency_key)
{
    char url[128];
    const char *body = "{\"event_id\":\"dlv-1\",\"kind\":\"escalation\"}";
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/ok/hook", recv_srv.port);
    notify_sender_t *s = sender(4, 5000, "");
    outcome_t o = send_one(s, DIRECTORY_CHANNEL_WEBHOOK, url, "dlv-1", body);
    cr_assert_eq(o.result.outcome, NOTIFY_DELIVERED, "%s", o.result.error);
    cr_assert_eq(o.result.code, 200);
    cr_assert_str_eq(o.result.error, "");
    cr_assert_eq(notify_sender_pending(s), 0);

    cJSON *reqs = receiver_requests(&recv_srv);
    cr_assert_eq(cJSON_GetArraySize(reqs), 1);
    cJSON *r = cJSON_GetArrayItem(reqs, 0);
    cr_assert_str_eq(cJSON_GetObjectItem(r, "path")->valuestring, "/ok/hook");
    cr_assert_str_eq(cJSON_GetObjectItem(r, "body")->valuestring, body);
    cr_assert_str_eq(header(r, "Content-Type"), "application/json");
    cr_assert_str_eq(header(r, "Idempotency-Key"), "dlv-1");
    char sig[NOTIFY_SIGNATURE_SIZE];
    notify_signature(SECRET, body, strlen(body), sig);
    cr_assert_not_null(header(r, "X-Incidentd-Signature"));
    cr_assert_str_eq(header(r, "X-Incidentd-Signature"), sig);
    cJSON_Delete(reqs);
    notify_sender_destroy(s);
}

Test(notify_deliver, slack_gets_a_text_object)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/ok/slack", recv_srv.port);
    notify_sender_t *s = sender(4, 5000, "");
    outcome_t o = send_one(s, DIRECTORY_CHANNEL_SLACK, url, "dlv-s", "Incident \"INC-1\"\nack it");
    cr_assert_eq(o.result.outcome, NOTIFY_DELIVERED, "%s", o.result.error);
    cJSON *reqs = receiver_requests(&recv_srv);
    cJSON *r = cJSON_GetArrayItem(reqs, 0);
    cJSON *b = cJSON_Parse(cJSON_GetObjectItem(r, "body")->valuestring);
    cr_assert_not_null(b);
    cr_assert_str_eq(cJSON_GetObjectItem(b, "text")->valuestring, "Incident \"INC-1\"\nack it");
    cr_assert_null(header(r, "X-Incidentd-Signature"), "Slack posts are not signed");
    cJSON_Delete(b);
    cJSON_Delete(reqs);
    notify_sender_destroy(s);
}

Test(notify_deliver, a_500_is_retried_and_the_retry_delivers_with_the_same_key)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/flaky/a", recv_srv.port);
    notify_sender_t *s = sender(4, 5000, "");
    outcome_t o = send_one(s, DIRECTORY_CHANNEL_WEBHOOK, url, "dlv-f", "{}");
    cr_assert_eq(o.result.outcome, NOTIFY_RETRY);
    cr_assert_eq(o.result.code, 500);
    cr_assert_str_eq(o.result.error, "HTTP 500");
    o = send_one(s, DIRECTORY_CHANNEL_WEBHOOK, url, "dlv-f", "{}");
    cr_assert_eq(o.result.outcome, NOTIFY_DELIVERED, "%s", o.result.error);
    cJSON *reqs = receiver_requests(&recv_srv);
    cr_assert_eq(cJSON_GetArraySize(reqs), 2);
    cr_assert_str_eq(header(cJSON_GetArrayItem(reqs, 0), "Idempotency-Key"), "dlv-f");
    cr_assert_str_eq(header(cJSON_GetArrayItem(reqs, 1), "Idempotency-Key"), "dlv-f");
    cJSON_Delete(reqs);
    notify_sender_destroy(s);
}

Test(notify_deliver, a_429_gives_its_retry_after_and_a_410_fails_at_once)
{
    char url[128];
    notify_sender_t *s = sender(4, 5000, "");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/busy", recv_srv.port);
    outcome_t o = send_one(s, DIRECTORY_CHANNEL_WEBHOOK, url, "dlv-b", "{}");
    cr_assert_eq(o.result.outcome, NOTIFY_RETRY);
    cr_assert_eq(o.result.code, 429);
    cr_assert_eq(o.result.retry_after_ms, 7000);
    cr_assert_geq(notify_retry_delay_ms(&o.result, 1, 2000, 300000, 0), 7000);

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/busydate", recv_srv.port);
    o = send_one(s, DIRECTORY_CHANNEL_WEBHOOK, url, "dlv-bd", "{}");
    cr_assert_eq(o.result.outcome, NOTIFY_RETRY);
    cr_assert(o.result.retry_after_ms > 20000 && o.result.retry_after_ms <= 31000, "%lld",
              (long long)o.result.retry_after_ms);

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/gone", recv_srv.port);
    o = send_one(s, DIRECTORY_CHANNEL_WEBHOOK, url, "dlv-g", "{}");
    cr_assert_eq(o.result.outcome, NOTIFY_FAILED);
    cr_assert_eq(o.result.code, 410);
    notify_sender_destroy(s);
}

Test(notify_deliver, slow_and_dead_endpoints_are_retried)
{
    char url[128];
    notify_sender_t *s = sender(4, 400, "");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/sleep/5000", recv_srv.port);
    int64_t t0 = now_ms();
    outcome_t o = send_one(s, DIRECTORY_CHANNEL_WEBHOOK, url, "dlv-slow", "{}");
    cr_assert_eq(o.result.outcome, NOTIFY_RETRY);
    cr_assert(strstr(o.result.error, "timed out"), "%s", o.result.error);
    cr_assert_lt(o.at_ms - t0, 4500, "the attempt's timeout did not apply");

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/ok", free_port());
    o = send_one(s, DIRECTORY_CHANNEL_WEBHOOK, url, "dlv-dead", "{}");
    cr_assert_eq(o.result.outcome, NOTIFY_RETRY);
    cr_assert_eq(o.result.code, 0);
    cr_assert(strstr(o.result.error, "could not connect"), "%s", o.result.error);
    notify_sender_destroy(s);
}

Test(notify_deliver, bad_messages_fail_through_the_callback)
{
    notify_sender_t *s = sender(4, 1000, "");
    outcome_t o = send_one(s, DIRECTORY_CHANNEL_WEBHOOK, "ftp://x/y", "dlv-x", "{}");
    cr_assert_eq(o.result.outcome, NOTIFY_FAILED);
    o = send_one(s, DIRECTORY_CHANNEL_WEBHOOK, "http://127.0.0.1:1/x", "bad id\r\nX: y", "{}");
    cr_assert_eq(o.result.outcome, NOTIFY_FAILED);
    cr_assert(strstr(o.result.error, "delivery id"), "%s", o.result.error);
    o = send_one(s, DIRECTORY_CHANNEL_EMAIL, "bob@example.com", "dlv-m", "text");
    cr_assert_eq(o.result.outcome, NOTIFY_FAILED, "no mail server configured");
    cr_assert_eq(notify_send(s, NULL, on_done, &o), -1);
    cr_assert_eq(notify_sender_pending(s), 0);
    notify_sender_destroy(s);
}

/*
 * Ten attempts hang on a slow endpoint (longer than the whole test needs)
 * while one goes to a fast one: the fast one completes at once, before any
 * slow one. With 4 slots, the per-endpoint limit (2) is what keeps a slot
 * free for it.
 */
Test(notify_deliver, a_slow_endpoint_does_not_hold_up_a_fast_one)
{
    server_t *fast = &fast_srv;
    receiver_start(fast);
    char slow_url[128], fast_url[128];
    snprintf(slow_url, sizeof(slow_url), "http://127.0.0.1:%d/sleep/4000", recv_srv.port);
    snprintf(fast_url, sizeof(fast_url), "http://127.0.0.1:%d/ok/fast", fast->port);
    notify_sender_t *s = sender(4, 10000, "");
    outcome_t slow[10] = {{0}}, quick = {0};
    char id[32];
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "dlv-slow-%d", i);
        notify_msg_t m = {.delivery_id = id,
                          .channel = DIRECTORY_CHANNEL_WEBHOOK,
                          .address = slow_url,
                          .body = "{}"};
        cr_assert_eq(notify_send(s, &m, on_done, &slow[i]), 0);
    }
    notify_sender_run(s, 50); /* the slow ones are in flight */
    notify_msg_t m = {.delivery_id = "dlv-fast",
                      .channel = DIRECTORY_CHANNEL_WEBHOOK,
                      .address = fast_url,
                      .body = "{}"};
    cr_assert_eq(notify_send(s, &m, on_done, &quick), 0);
    run_until_done(s, &quick, 15000);
    cr_assert_eq(quick.result.outcome, NOTIFY_DELIVERED, "%s", quick.result.error);
    int slow_done = 0;
    for (int i = 0; i < 10; i++)
        slow_done += slow[i].done;
    cr_assert_eq(slow_done, 0, "the fast delivery waited for slow ones");
    cr_assert_eq(notify_sender_pending(s), 10);
    notify_sender_destroy(s); /* abandons the slow ones */
}

/* ---- email ------------------------------------------------------------------------------------
 */

static server_t smtp_srv;

/* Removes the files of @p dir, then @p dir. */
static void rm_dir(const char *dir)
{
    char path[512];
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static void mail_teardown(void)
{
    char sub[256];
    server_stop(&smtp_srv);
    if (!smtp_srv.log[0])
        return;
    for (const char *const *n = (const char *const[]){"new", "cur", "tmp", NULL}; *n; n++) {
        snprintf(sub, sizeof(sub), "%s/%s", smtp_srv.log, *n);
        rm_dir(sub);
    }
    rm_dir(smtp_srv.log);
    *strrchr(smtp_srv.log, '/') = '\0'; /* the temporary directory above box/ */
    rm_dir(smtp_srv.log);
}

TestSuite(notify_mail, .fini = mail_teardown, .timeout = 60);

Test(notify_mail, a_mail_reaches_a_real_smtp_server)
{
    server_t smtp = {0};
    smtp_start(&smtp_srv);
    smtp = smtp_srv;
    char url[64];
    snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", smtp.port);
    notify_sender_t *s = sender(4, 10000, url);
    outcome_t o = {0}, o2 = {0};
    notify_msg_t m = {.delivery_id = "dlv-mail-1",
                      .channel = DIRECTORY_CHANNEL_EMAIL,
                      .address = "bob@example.com",
                      .subject = "[INC-1] down\r\nBcc: eve@evil.example",
                      .body = "Line one\n.a line with a leading dot\nlast line"};
    cr_assert_eq(notify_send(s, &m, on_done, &o), 0);
    m.delivery_id = "dlv-mail-2";
    m.subject = "[INC-1] Störung";
    cr_assert_eq(notify_send(s, &m, on_done, &o2), 0);
    run_until_done(s, &o, 15000);
    run_until_done(s, &o2, 15000);
    cr_assert_eq(o.result.outcome, NOTIFY_DELIVERED, "%s", o.result.error);
    cr_assert_eq(o.result.code, 250);
    cr_assert_eq(o2.result.outcome, NOTIFY_DELIVERED, "%s", o2.result.error);

    char *mail = NULL;
    int64_t end = now_ms() + 5000;
    while (!(mail = smtp_mails(&smtp, 2)) && now_ms() < end)
        usleep(50000);
    cr_assert_not_null(mail, "no mails in %s", smtp.log);
    cr_assert(strstr(mail, "X-MailFrom: incidentd@ops.example"), "%s", mail);
    cr_assert(strstr(mail, "X-RcptTo: bob@example.com"), "%s", mail);
    cr_assert(strstr(mail, "From: incidentd@ops.example"), "%s", mail);
    cr_assert(strstr(mail, "To: bob@example.com"), "%s", mail);
    cr_assert(strstr(mail, "Message-ID: <dlv-mail-1@ops.example>"), "%s", mail);
    cr_assert(strstr(mail, "Date: "), "%s", mail);
    cr_assert(strstr(mail, "Message-ID: <dlv-mail-2@ops.example>"), "%s", mail);
    cr_assert(strstr(mail, "Subject: [INC-1] down  Bcc: eve@evil.example\n"), "%s", mail);
    cr_assert(strstr(mail, "Subject: =?UTF-8?B?W0lOQy0xXSBTdMO2cnVuZw==?="), "%s", mail);
    cr_assert_null(strstr(mail, "\nBcc:"), "header injected:\n%s", mail);
    cr_assert(strstr(mail, "\n.a line with a leading dot\n"), "%s", mail);
    cr_assert(strstr(mail, "\nlast line"), "%s", mail);
    free(mail);
    notify_sender_destroy(s);
}

Test(notify_mail, no_mail_server_is_a_retry)
{
    char url[64];
    snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", free_port());
    notify_sender_t *s = sender(4, 2000, url);
    outcome_t o = send_one(s, DIRECTORY_CHANNEL_EMAIL, "bob@example.com", "dlv-m2", "x");
    cr_assert_eq(o.result.outcome, NOTIFY_RETRY);
    cr_assert(strstr(o.result.error, "could not connect"), "%s", o.result.error);
    notify_sender_destroy(s);
}
