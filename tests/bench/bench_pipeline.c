/*
 * bench_pipeline.c — incidentd-bench: drives the whole pipeline on the test
 * bed's real Kafka broker and Redis and prints what it sustains, against the
 * limit of the same broker and Redis (docs/performance.md).
 *
 * Phases (each bounded by the global --deadline):
 *   1. throughput: N incidents: a trigger each published as fast as the
 *      broker takes them, a merging trigger after a share of them, and each
 *      incident's resolve as soon as the bench sees it on
 *      incidents.escalated (so every incident goes through all five
 *      stages); incidents/s = N / (first publish .. last "closed" audit
 *      record), per stage events/s, Redis round trips, CPU per process;
 *   2. latency at fixed offered loads (--rates, alerts/s): triggers paced at
 *      rate/2, and for each incident seen on incidents.escalated its resolve
 *      at once (so resolves run at rate/2 too): trigger -> escalated,
 *      resolve -> incidents.resolved, trigger -> closed (all five stages);
 *   3. peak RSS (VmHWM) of every incidentd process;
 *   4. the newer stages, each on a set of processes of its own (a topic
 *      prefix under the bench's; bounded by --stall too, ending with what
 *      it measured when a process of its set dies): people's commands
 *      through the API (bench_commands.c) and the notify stage's webhook
 *      deliveries to a receiver on loopback (bench_deliveries.c);
 *   5. the limit: a bare librdkafka relay through five chained topics
 *      (consume, produce, commit; transactional like incidentd, and plain),
 *      and redis-benchmark pipelined against the same Redis.
 *
 * incidentd processes are spawned from the directory of this program (or
 * --bin) with a fresh topic prefix, one per stage by default. Everything
 * spawned is killed when the bench ends, however it ends.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>

#include "bench.h"
#include "incident/v1/incident.pb-c.h"

#define MAX_PROCS 128 /* the pipeline's and each later set's (bench_spawn_set()) */
#define MAX_RATES 8
#define MAX_SETS 16
#define N_STAGES 5
#define RELAY_HOPS 5

static const char *const stage_names[N_STAGES] = {"detected", "classified", "scoped", "escalated",
                                                  "resolved"};

/* ---- options ------------------------------------------------------------- */

typedef struct opts {
    const char *brokers;
    const char *redis;
    char bin[PATH_MAX];
    char workdir[PATH_MAX];
    long incidents;
    double merge_share;
    int rates[MAX_RATES];
    int n_rates;
    int rate_secs;
    int stages_per_process;
    int processes_per_stage;
    int partitions;
    int skip_relay;
    int skip_redis_benchmark;
    int keep;
    int deadline_s;
    int stall_s;
    const char *sets[MAX_SETS];
    int n_sets;
    const char *kprops[MAX_SETS]; /* "key=value" for the bench's own clients */
    int n_kprops;
    int skip_commands, skip_deliveries;
    bench_stages_opts_t stages; /* the newer stages' phases */
    int gather_max, gather_ms;  /* incidentd's batch.max / batch.ms, as configured */
} opts_t;

static opts_t g_opt;

/* ---- time, logging, the end --------------------------------------------- */

int64_t bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t bench_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t g_t0_us;
static int64_t g_deadline_us;

void bench_say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[bench %6.1fs] ", (double)(bench_now_us() - g_t0_us) / 1e6);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

typedef struct proc {
    pid_t pid;
    char stages[128];
    int port;
    char log[PATH_MAX + 32];
    long hwm_kb;
    double cpu_s0, cpu_s1;       /* CPU seconds at the start / end of phase 1 */
    double consumed0, consumed1; /* its incidentd_consumed_total, idem */
    double consumed_now;         /* at the last scrape() */
} proc_t;

/* Every incidentd process the bench started, in sets: the pipeline's
 * first (g_procs[0 .. g_pipeline_nprocs - 1], the report's), then one set
 * per later phase (bench_spawn_set()). The helpers below act on the set
 * running now, g_procs[g_set_first .. g_nprocs - 1]. */
static proc_t g_procs[MAX_PROCS];
static int g_nprocs;
static int g_set_first;
static int g_pipeline_nprocs;

/* The other children (bench_child_track()): the webhook receiver. */
static volatile pid_t g_others[4];

void bench_child_track(pid_t pid)
{
    for (size_t i = 0; i < sizeof(g_others) / sizeof(g_others[0]); i++)
        if (!g_others[i]) {
            g_others[i] = pid;
            return;
        }
    bench_die("too many children");
}

void bench_child_untrack(pid_t pid)
{
    for (size_t i = 0; i < sizeof(g_others) / sizeof(g_others[0]); i++)
        if (g_others[i] == pid)
            g_others[i] = 0;
}

/* Async-signal-safe: SIGKILL every child still running. */
static void kill_children_now(void)
{
    for (int i = 0; i < g_nprocs; i++)
        if (g_procs[i].pid > 0)
            kill(g_procs[i].pid, SIGKILL);
    for (size_t i = 0; i < sizeof(g_others) / sizeof(g_others[0]); i++)
        if (g_others[i] > 0)
            kill(g_others[i], SIGKILL);
}

static void on_fatal_signal(int sig)
{
    static const char msg[] = "\nincidentd-bench: interrupted or past the global deadline: "
                              "killing the incidentd processes and stopping\n";
    kill_children_now();
    if (write(2, msg, sizeof(msg) - 1) < 0) {
        /* nothing more to do */
    }
    _exit(sig == SIGALRM ? 3 : 128 + sig);
}

void bench_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "incidentd-bench: error: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    kill_children_now();
    exit(2);
}

int bench_past_deadline(void) { return bench_now_us() >= g_deadline_us; }

void bench_check_deadline(const char *where)
{
    if (bench_past_deadline())
        bench_die("global deadline of %d s reached during %s (raise --deadline, or lower "
                  "--incidents)",
                  g_opt.deadline_s, where);
}

void bench_sleep_us(int64_t us)
{
    if (us <= 0)
        return;
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* ---- the test bed --------------------------------------------------------- */

/* Value of KEY from the environment, else from the INCIDENTD_TESTBED_ENV file. */
static const char *testbed_value(const char *key)
{
    const char *v = getenv(key);
    if (v && *v)
        return v;
    const char *path = getenv("INCIDENTD_TESTBED_ENV");
    if (!path || !*path)
        return NULL;
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char line[1024];
    size_t kl = strlen(key);
    char *found = NULL;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, kl) == 0 && line[kl] == '=') {
            line[strcspn(line, "\r\n")] = '\0';
            found = strdup(line + kl + 1);
            break;
        }
    }
    fclose(f);
    return found;
}

/* "redis://host:port/db" -> host, port. */
static void redis_hostport(const char *url, char *host, size_t hs, int *port)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *at = strchr(p, '@');
    if (at)
        p = at + 1;
    const char *colon = strchr(p, ':');
    const char *slash = strchr(p, '/');
    size_t hl = colon ? (size_t)(colon - p) : slash ? (size_t)(slash - p) : strlen(p);
    snprintf(host, hs, "%.*s", (int)hl, p);
    *port = colon ? atoi(colon + 1) : 6379;
}

/* ---- Kafka helpers -------------------------------------------------------- */

static void conf_set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char err[256];
    if (rd_kafka_conf_set(c, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK)
        bench_die("kafka property %s=%s: %s", k, v, err);
}

static atomic_long g_delivery_errors;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err)
        atomic_fetch_add(&g_delivery_errors, 1);
}

/* --kafka KEY=VALUE: applied to the bench's consumers (consumer
 * properties) and producers (the others), relay included. */
static void conf_extra(rd_kafka_conf_t *c, int consumer)
{
    static const char *const cprops[] = {"fetch.",     "queued.",  "isolation.",      "session.",
                                         "heartbeat.", "max.poll", "enable.partition"};
    for (int i = 0; i < g_opt.n_kprops; i++) {
        const char *kv = g_opt.kprops[i], *eq = strchr(kv, '=');
        char key[128];
        if (!eq || (size_t)(eq - kv) >= sizeof(key))
            bench_die("--kafka %s: expected KEY=VALUE", kv);
        snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
        int is_consumer = 0;
        for (size_t k = 0; k < sizeof(cprops) / sizeof(cprops[0]); k++)
            is_consumer |= strncmp(key, cprops[k], strlen(cprops[k])) == 0;
        if (is_consumer == consumer)
            conf_set(c, key, eq + 1);
    }
}

rd_kafka_t *bench_producer_new(const char *txid, const char *linger_ms)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char err[512];
    conf_set(c, "bootstrap.servers", g_opt.brokers);
    conf_set(c, "enable.idempotence", "true");
    conf_set(c, "linger.ms", linger_ms);
    conf_set(c, "queue.buffering.max.kbytes", "65536");
    conf_set(c, "queue.buffering.max.messages", "1000000");
    rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
    if (txid) {
        conf_set(c, "transactional.id", txid);
        conf_set(c, "transaction.timeout.ms", "10000");
    }
    conf_extra(c, 0);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
    if (!p)
        bench_die("kafka producer: %s", err);
    return p;
}

rd_kafka_t *bench_consumer_new(const char *group, int read_committed)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char err[512];
    conf_set(c, "bootstrap.servers", g_opt.brokers);
    conf_set(c, "group.id", group);
    conf_set(c, "enable.auto.commit", "false");
    conf_set(c, "enable.auto.offset.store", "false");
    conf_set(c, "auto.offset.reset", "earliest");
    conf_set(c, "isolation.level", read_committed ? "read_committed" : "read_uncommitted");
    conf_set(c, "fetch.wait.max.ms", "5");
    conf_set(c, "enable.partition.eof", "false");
    conf_extra(c, 1);
    rd_kafka_t *k = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
    if (!k)
        bench_die("kafka consumer: %s", err);
    rd_kafka_poll_set_consumer(k);
    return k;
}

/* Creates the topics (ignoring those that exist) with g_opt.partitions each. */
static void create_topics(rd_kafka_t *rk, const char *const *names, int n)
{
    rd_kafka_NewTopic_t **nt = calloc((size_t)n, sizeof(*nt));
    char err[256];
    for (int i = 0; i < n; i++) {
        nt[i] = rd_kafka_NewTopic_new(names[i], g_opt.partitions, 1, err, sizeof(err));
        if (!nt[i])
            bench_die("topic %s: %s", names[i], err);
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, nt, (size_t)n, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    if (!ev)
        bench_die("create topics: no answer from the broker in 30 s");
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    if (!res)
        bench_die("create topics: %s", rd_kafka_event_error_string(ev));
    size_t cnt;
    const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
    for (size_t i = 0; i < cnt; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            bench_die("create topic %s: %s", rd_kafka_topic_result_name(tr[i]),
                      rd_kafka_topic_result_error_string(tr[i]));
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    for (int i = 0; i < n; i++)
        rd_kafka_NewTopic_destroy(nt[i]);
    free(nt);
}

/* Assigns every partition of @p topics to consumer @p c, at the current end
 * (from_end) or at the beginning. */
void bench_assign_all(rd_kafka_t *c, const char *const *topics, int n, int from_end)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n * g_opt.partitions);
    for (int t = 0; t < n; t++)
        for (int p = 0; p < g_opt.partitions; p++) {
            int64_t lo = 0, hi = 0;
            if (from_end) {
                rd_kafka_resp_err_t e =
                    rd_kafka_query_watermark_offsets(c, topics[t], p, &lo, &hi, 10000);
                if (e)
                    bench_die("watermarks of %s [%d]: %s", topics[t], p, rd_kafka_err2str(e));
            }
            rd_kafka_topic_partition_list_add(l, topics[t], p)->offset =
                from_end ? hi : RD_KAFKA_OFFSET_BEGINNING;
        }
    rd_kafka_resp_err_t e = rd_kafka_assign(c, l);
    if (e)
        bench_die("assign: %s", rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(l);
}

/* Fetches @p topic's metadata into a new producer's cache, so that its
 * first records do not wait for a metadata refresh (about a second). */
void bench_warm_producer(rd_kafka_t *p, const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(p, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (rkt && rd_kafka_metadata(p, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
}

void bench_produce(rd_kafka_t *p, const char *topic, const char *key, const void *val, size_t len)
{
    for (;;) {
        rd_kafka_resp_err_t e =
            rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY((void *)key, strlen(key)),
                              RD_KAFKA_V_VALUE((void *)val, len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (!e)
            return;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            bench_die("produce to %s: %s", topic, rd_kafka_err2str(e));
        rd_kafka_poll(p, 5);
        bench_check_deadline("publishing");
    }
}

void bench_flush(rd_kafka_t *p, const char *what)
{
    while (rd_kafka_outq_len(p) > 0) {
        rd_kafka_flush(p, 1000);
        bench_check_deadline(what);
    }
    if (atomic_load(&g_delivery_errors))
        bench_die("%s: %ld records were not delivered", what, atomic_load(&g_delivery_errors));
}

/* ---- a minimal protobuf field scanner (no allocation) --------------------- */

static int pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (int s = 0; s < 64 && *p < end; s += 7) {
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

/* Finds the first length-delimited field @p num of a message. */
int bench_pb_bytes(const uint8_t *p, size_t len, unsigned num, const uint8_t **out, size_t *olen)
{
    const uint8_t *end = p + len;
    while (p < end) {
        uint64_t tag, v;
        if (pb_varint(&p, end, &tag) < 0)
            return -1;
        switch (tag & 7) {
        case 0:
            if (pb_varint(&p, end, &v) < 0)
                return -1;
            break;
        case 1:
            p += 8;
            break;
        case 5:
            p += 4;
            break;
        case 2:
            if (pb_varint(&p, end, &v) < 0 || v > (uint64_t)(end - p))
                return -1;
            if ((tag >> 3) == num) {
                *out = p;
                *olen = (size_t)v;
                return 0;
            }
            p += v;
            break;
        default:
            return -1;
        }
    }
    return -1;
}

int bench_pb_eq(const uint8_t *s, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

/* ---- incidentd processes -------------------------------------------------- */

int bench_free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(s, (struct sockaddr *)&a, &al) < 0)
        bench_die("no free port: %s", strerror(errno));
    close(s);
    return ntohs(a.sin_port);
}

/* GET http://127.0.0.1:port/path into a malloc'ed body; NULL on failure. */
static char *http_get(int port, const char *path, int *status)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return NULL;
    struct timeval tv = {.tv_sec = 3};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(s);
        return NULL;
    }
    char req[256];
    int rl = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (write(s, req, (size_t)rl) != rl) {
        close(s);
        return NULL;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 4096 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        ssize_t r = read(s, buf + len, cap - len - 1);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(s);
    buf[len] = '\0';
    *status = 0;
    if (sscanf(buf, "HTTP/%*s %d", status) != 1) {
        free(buf);
        return NULL;
    }
    char *body = strstr(buf, "\r\n\r\n");
    if (!body) {
        free(buf);
        return NULL;
    }
    memmove(buf, body + 4, strlen(body + 4) + 1);
    return buf;
}

static pid_t spawn(char *const argv[], const char *log)
{
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        /* The benchmark measures the process up to its close: no
         * confirmation window, no review (settings of the follow-up). */
        putenv("INCIDENTD_FOLLOWUP_WINDOW_GLOBAL=0s");
        putenv("INCIDENTD_FOLLOWUP_WINDOW_LOCAL=0s");
        putenv("INCIDENTD_REVIEW_REQUIRED=none");
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* The relay gathers its batches as incidentd does: batch.max and batch.ms
 * as incidentd --print-config reports them with the bench's --set
 * settings (its defaults unless they change them). */
static void gather_settings(void)
{
    char inc[PATH_MAX + 16], out[PATH_MAX + 32];
    snprintf(inc, sizeof(inc), "%s/incidentd", g_opt.bin);
    snprintf(out, sizeof(out), "%s/print-config.txt", g_opt.workdir);
    char **argv = calloc((size_t)(3 + 2 * g_opt.n_sets), sizeof(*argv));
    if (!argv)
        bench_die("out of memory");
    int a = 0;
    argv[a++] = inc;
    argv[a++] = "--print-config";
    for (int i = 0; i < g_opt.n_sets; i++) {
        argv[a++] = "--set";
        argv[a++] = (char *)g_opt.sets[i];
    }
    unlink(out);
    pid_t pid = spawn(argv, out);
    free(argv);
    int st = 0;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        bench_die("%s --print-config failed (see %s)", inc, out);
    FILE *f = fopen(out, "r");
    if (!f)
        bench_die("%s: %s", out, strerror(errno));
    char line[512];
    g_opt.gather_max = g_opt.gather_ms = -1;
    while (fgets(line, sizeof(line), f)) {
        sscanf(line, "batch.max = %d", &g_opt.gather_max);
        sscanf(line, "batch.ms = %d", &g_opt.gather_ms);
    }
    fclose(f);
    if (g_opt.gather_max < 1 || g_opt.gather_ms < 0)
        bench_die("no batch.max / batch.ms in %s", out);
}

/* Starts one incidentd of stages @p stages (a comma list) into the next
 * slot of g_procs, with the bench's settings, then @p sets (NULL-ended,
 * may be NULL): "--set" each. */
static void spawn_one(const char *prefix, const char *stages, const char *const *sets)
{
    if (g_nprocs == MAX_PROCS)
        bench_die("more than %d incidentd processes", MAX_PROCS);
    proc_t *pr = &g_procs[g_nprocs];
    snprintf(pr->stages, sizeof(pr->stages), "%s", stages);
    pr->port = bench_free_port();
    snprintf(pr->log, sizeof(pr->log), "%s/incidentd-%d.log", g_opt.workdir, g_nprocs);
    char http[64], parts[64], inc[PATH_MAX + 16];
    snprintf(http, sizeof(http), "127.0.0.1:%d", pr->port);
    snprintf(parts, sizeof(parts), "topics.partitions=%d", g_opt.partitions);
    snprintf(inc, sizeof(inc), "%s/incidentd", g_opt.bin);
    int n_sets = 0;
    while (sets && sets[n_sets])
        n_sets++;
    char **argv = calloc((size_t)(32 + 2 * (g_opt.n_sets + n_sets)), sizeof(*argv));
    if (!argv)
        bench_die("out of memory");
    int a = 0;
    argv[a++] = inc;
    argv[a++] = "--brokers";
    argv[a++] = (char *)g_opt.brokers;
    argv[a++] = "--redis";
    argv[a++] = (char *)g_opt.redis;
    argv[a++] = "--topic-prefix";
    argv[a++] = (char *)prefix;
    argv[a++] = "--stages";
    argv[a++] = pr->stages;
    argv[a++] = "--http";
    argv[a++] = http;
    argv[a++] = "--set";
    argv[a++] = parts;
    argv[a++] = "--log-level";
    argv[a++] = "warn";
    for (int i = 0; i < g_opt.n_sets; i++) {
        argv[a++] = "--set";
        argv[a++] = (char *)g_opt.sets[i];
    }
    for (int i = 0; i < n_sets; i++) {
        argv[a++] = "--set";
        argv[a++] = (char *)sets[i];
    }
    argv[a] = NULL;
    pr->pid = spawn(argv, pr->log);
    free(argv);
    g_nprocs++;
    bench_say("incidentd pid %d: stages %s, http %s, log %s", (int)pr->pid, pr->stages, http,
              pr->log);
}

/* The five event stages as --stages-per-process and --processes-per-stage
 * lay them out, each process with @p sets too. */
static void spawn_incidentd(const char *prefix, const char *const *sets)
{
    int per = g_opt.stages_per_process;
    for (int rep = 0; rep < g_opt.processes_per_stage; rep++)
        for (int s = 0; s < N_STAGES; s += per) {
            char stages[128];
            size_t off = 0;
            stages[0] = '\0';
            for (int k = s; k < s + per && k < N_STAGES; k++)
                off += (size_t)snprintf(stages + off, sizeof(stages) - off, "%s%s", off ? "," : "",
                                        stage_names[k]);
            spawn_one(prefix, stages, sets);
        }
}

/* Waits until every process of the running set answers /readyz. */
static void wait_ready(void)
{
    int64_t until = bench_now_us() + 120 * 1000000LL;
    for (int i = g_set_first; i < g_nprocs; i++) {
        for (;;) {
            int st = 0, status = 0;
            if (waitpid(g_procs[i].pid, &st, WNOHANG) == g_procs[i].pid) {
                g_procs[i].pid = 0;
                bench_die("incidentd (stages %s) exited at start-up; see %s", g_procs[i].stages,
                          g_procs[i].log);
            }
            char *b = http_get(g_procs[i].port, "/readyz", &status);
            free(b);
            if (status == 200)
                break;
            if (bench_now_us() > until)
                bench_die("incidentd (stages %s) not ready after 120 s; see %s", g_procs[i].stages,
                          g_procs[i].log);
            bench_check_deadline("start-up");
            bench_sleep_us(200000);
        }
    }
}

/* Creates the stage topics under @p prefix with the bench's partition
 * count (incidentd would make those missing with its own). */
static void create_stage_topics(const char *prefix)
{
    static const char *const base[] = {
        "incidents.detected", "incidents.classified", "incidents.scoped", "incidents.escalated",
        "incidents.resolved", "ormis.audit",          "incidents.dlq",    "incidents.timers",
        "incidents.commands", "incidents.receipts"};
    enum { N_BASE = sizeof(base) / sizeof(base[0]) };
    char names[N_BASE][256];
    const char *np[N_BASE];
    for (int i = 0; i < N_BASE; i++) {
        snprintf(names[i], sizeof(names[i]), "%s%s", prefix, base[i]);
        np[i] = names[i];
    }
    rd_kafka_t *adm = bench_producer_new(NULL, "5");
    create_topics(adm, np, N_BASE);
    rd_kafka_destroy(adm);
}

pid_t bench_spawn_set(const char *prefix, const char *extra_stages, const char *const *sets)
{
    create_stage_topics(prefix);
    g_set_first = g_nprocs;
    spawn_incidentd(prefix, sets);
    pid_t extra = 0;
    if (extra_stages) {
        spawn_one(prefix, extra_stages, sets);
        extra = g_procs[g_nprocs - 1].pid;
    }
    wait_ready();
    bench_say("%d incidentd processes ready (prefix %s)", g_nprocs - g_set_first, prefix);
    return extra;
}

const char *bench_set_dead(char *why, size_t why_size)
{
    for (int i = g_set_first; i < g_nprocs; i++) {
        int st;
        if (g_procs[i].pid > 0 && waitpid(g_procs[i].pid, &st, WNOHANG) == g_procs[i].pid) {
            g_procs[i].pid = 0;
            snprintf(why, why_size, "incidentd (stages %s) died (%s %d); see %s", g_procs[i].stages,
                     WIFSIGNALED(st) ? "signal" : "exit",
                     WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), g_procs[i].log);
            return why;
        }
    }
    return NULL;
}

/* bench_die() when a process of the running set has died. */
static void check_children_alive(void)
{
    char why[PATH_MAX + 160];
    if (bench_set_dead(why, sizeof(why)))
        bench_die("%s", why);
}

void bench_set_stop(void)
{
    for (int i = g_set_first; i < g_nprocs; i++)
        if (g_procs[i].pid > 0) {
            kill(g_procs[i].pid, SIGTERM);
            kill(g_procs[i].pid, SIGCONT); /* a stopped one too */
        }
    for (int i = g_set_first; i < g_nprocs; i++) {
        if (g_procs[i].pid <= 0)
            continue;
        int st;
        int64_t until = bench_now_us() + 30 * 1000000LL;
        while (waitpid(g_procs[i].pid, &st, WNOHANG) == 0) {
            if (bench_now_us() > until) {
                kill(g_procs[i].pid, SIGKILL);
                waitpid(g_procs[i].pid, &st, 0);
                bench_say("incidentd pid %d did not stop in 30 s: killed", (int)g_procs[i].pid);
                break;
            }
            bench_sleep_us(50000);
        }
        g_procs[i].pid = 0;
    }
}

static long proc_status_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
            v = atol(line + fl + 1);
            break;
        }
    fclose(f);
    return v;
}

double bench_proc_cpu_s(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    unsigned long ut = 0, st = 0;
    /* after ")": state(3) ... utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Whole-machine CPU: busy and total jiffies. */
static void machine_cpu(unsigned long long *busy, unsigned long long *total)
{
    FILE *f = fopen("/proc/stat", "r");
    unsigned long long v[8] = {0};
    if (f) {
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]) != 8)
            memset(v, 0, sizeof(v));
        fclose(f);
    }
    *total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
    *busy = *total - v[3] - v[4];
}

/* pid of a test-bed part (deploy/testbed.sh: <dir>/kafka/kafka.pid,
 * <dir>/redis/redis.pid next to <dir>/env), or 0. */
static pid_t testbed_pid(const char *part)
{
    const char *env = getenv("INCIDENTD_TESTBED_ENV");
    if (!env || !*env)
        return 0;
    char path[PATH_MAX];
    const char *slash = strrchr(env, '/');
    int dl = slash ? (int)(slash - env) : 1;
    snprintf(path, sizeof(path), "%.*s/%s/%s.pid", dl, slash ? env : ".", part, part);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int pid = 0;
    if (fscanf(f, "%d", &pid) != 1)
        pid = 0;
    fclose(f);
    return (pid_t)pid;
}

static void sample_rss(void)
{
    for (int i = 0; i < g_nprocs; i++)
        if (g_procs[i].pid > 0) {
            long h = proc_status_kb(g_procs[i].pid, "VmHWM");
            if (h > g_procs[i].hwm_kb)
                g_procs[i].hwm_kb = h;
        }
}

/* ---- metrics -------------------------------------------------------------- */

typedef struct stage_metrics {
    double consumed, transitions, batches, round_trips, batch_round_trips, produced, conflicts,
        failed, dlq, carried;
    double proc_sum_s, proc_count;  /* incidentd_processing_seconds: per message, batch time */
    double commit_s, commit_wait_s; /* in the transactions' commits; waited for them (overlap) */
} stage_metrics_t;

/* Sums incidentd_<name>{stage="<s>"} over every process. */
static void scrape(stage_metrics_t out[N_STAGES])
{
    memset(out, 0, sizeof(stage_metrics_t) * N_STAGES);
    static const struct {
        const char *name;
        size_t off;
    } fam[] = {
        {"incidentd_consumed_total", offsetof(stage_metrics_t, consumed)},
        {"incidentd_transitions_total", offsetof(stage_metrics_t, transitions)},
        {"incidentd_batches_total", offsetof(stage_metrics_t, batches)},
        {"incidentd_redis_round_trips_total", offsetof(stage_metrics_t, round_trips)},
        {"incidentd_redis_batch_round_trips_total", offsetof(stage_metrics_t, batch_round_trips)},
        {"incidentd_produced_total", offsetof(stage_metrics_t, produced)},
        {"incidentd_conflicts_total", offsetof(stage_metrics_t, conflicts)},
        {"incidentd_failed_batches_total", offsetof(stage_metrics_t, failed)},
        {"incidentd_dead_lettered_total", offsetof(stage_metrics_t, dlq)},
        {"incidentd_processing_seconds_sum", offsetof(stage_metrics_t, proc_sum_s)},
        {"incidentd_processing_seconds_count", offsetof(stage_metrics_t, proc_count)},
        {"incidentd_carried_total", offsetof(stage_metrics_t, carried)},
        {"incidentd_commit_seconds_total", offsetof(stage_metrics_t, commit_s)},
        {"incidentd_commit_wait_seconds_total", offsetof(stage_metrics_t, commit_wait_s)},
    };
    for (int i = g_set_first; i < g_nprocs; i++) {
        int status = 0;
        char *body = http_get(g_procs[i].port, "/metrics", &status);
        if (!body)
            continue;
        double before[N_STAGES];
        for (int s = 0; s < N_STAGES; s++)
            before[s] = out[s].consumed;
        for (char *line = strtok(body, "\n"); line; line = strtok(NULL, "\n")) {
            for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
                size_t nl = strlen(fam[f].name);
                if (strncmp(line, fam[f].name, nl) != 0 || strncmp(line + nl, "{stage=\"", 8) != 0)
                    continue;
                const char *st = line + nl + 8;
                const char *q = strchr(st, '"');
                const char *sp = strrchr(line, ' ');
                if (!q || !sp)
                    continue;
                for (int s = 0; s < N_STAGES; s++)
                    if (bench_pb_eq((const uint8_t *)st, (size_t)(q - st), stage_names[s]))
                        *(double *)((char *)&out[s] + fam[f].off) += atof(sp + 1);
            }
        }
        free(body);
        g_procs[i].consumed_now = 0;
        for (int s = 0; s < N_STAGES; s++)
            g_procs[i].consumed_now += out[s].consumed - before[s];
    }
}

double bench_metric_sum(const char *family, const char *stage, const char *label)
{
    char head[256];
    int hl = snprintf(head, sizeof(head), "%s{stage=\"%s\"", family, stage);
    if (hl < 0 || (size_t)hl >= sizeof(head))
        return 0;
    double sum = 0;
    for (int i = g_set_first; i < g_nprocs; i++) {
        int status = 0;
        char *body = g_procs[i].pid > 0 ? http_get(g_procs[i].port, "/metrics", &status) : NULL;
        if (!body)
            continue;
        for (char *line = strtok(body, "\n"); line; line = strtok(NULL, "\n")) {
            const char *sp = strrchr(line, ' ');
            if (strncmp(line, head, (size_t)hl) == 0 && (line[hl] == ',' || line[hl] == '}') &&
                sp && (!label || strstr(line, label)))
                sum += atof(sp + 1);
        }
        free(body);
    }
    return sum;
}

/* ---- alerts ---------------------------------------------------------------- */

size_t bench_pack_alert(unsigned char *buf, size_t cap, const char *aid, const char *key,
                        Incident__V1__Action act, long i, int64_t at_ms)
{
    static char *sites_a[] = {"paris"}, *sites_b[] = {"paris", "lyon"};
    static char *clients[] = {"acme", "globex"};
    Incident__V1__Alert a = INCIDENT__V1__ALERT__INIT;
    a.alert_id = (char *)aid;
    a.dedup_key = (char *)key;
    a.action = act;
    a.source = "incidentd-bench";
    a.service = "bench";
    a.occurred_at_ms = at_ms;
    if (act == INCIDENT__V1__ACTION__ACTION_TRIGGER) {
        /* Every one an INCIDENT (so it goes through all five stages), a
         * quarter of them global. */
        a.severity = i % 2 ? INCIDENT__V1__SEVERITY__SEVERITY_MAJOR
                           : INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL;
        a.summary = "incidentd-bench: synthetic alert";
        a.n_sites = i % 4 == 0 ? 2 : 1;
        a.sites = i % 4 == 0 ? sites_b : sites_a;
        a.n_clients = 1 + (size_t)(i % 2);
        a.clients = clients;
    } else {
        a.actor = "incidentd-bench";
    }
    size_t len = incident__v1__alert__get_packed_size(&a);
    if (len > cap)
        bench_die("alert too large (%zu bytes)", len);
    return incident__v1__alert__pack(&a, buf);
}

/* ---- results -------------------------------------------------------------- */

typedef struct tp_result {
    int ok;
    long incidents, alerts, closed;
    double publish_s, total_s;
    double incidents_per_s, alerts_per_s;
    double stage_events_per_s[N_STAGES];
    double stage_records_per_s[N_STAGES]; /* audit records by actor */
    stage_metrics_t m[N_STAGES];
    double cpu_util;                  /* machine busy share during the phase, 0..1 */
    double cpu_busy_s;                /* machine busy CPU seconds during the phase */
    double broker_cpu_s, redis_cpu_s; /* -1: unknown (not the bench's test bed) */
    double redis_info_cpu_s;          /* redis-server CPU by INFO cpu, -1 unknown */
    double scripts, script_usec;      /* EVALSHA calls and their time (INFO commandstats) */
    bench_pct_t lat_close;            /* trigger -> closed under full load */
} tp_result_t;

/* ---- phase 2: latency at a fixed offered load ---------------------------- */

typedef struct lat_run {
    const char *prefix;
    char keypfx[192];
    size_t keypfx_len;
    char det[256];
    long n;                                 /* incidents planned */
    int64_t *trig_us;                       /* trigger sent */
    int64_t *res_us;                        /* resolve sent (0 = not yet) */
    int64_t *lat_esc, *lat_res, *lat_close; /* us, -1 = not seen */
    atomic_long n_esc, n_res, n_close;
    atomic_long per_actor[N_STAGES]; /* audit records by "incidentd/<stage>" */
    _Atomic int64_t last_close_ts;   /* Kafka timestamp (Unix ms) of the last close */
    atomic_int stop;
    rd_kafka_t *prod;
    rd_kafka_t *con;
} lat_run_t;

static long lat_index(lat_run_t *L, const uint8_t *key, size_t kl)
{
    if (kl <= L->keypfx_len || memcmp(key, L->keypfx, L->keypfx_len) != 0)
        return -1;
    long i = 0;
    for (size_t j = L->keypfx_len; j < kl; j++) {
        if (!isdigit(key[j]))
            return -1;
        i = i * 10 + (key[j] - '0');
    }
    return i < L->n ? i : -1;
}

static void *lat_consumer(void *arg)
{
    lat_run_t *L = arg;
    unsigned char buf[1024];
    char aid[300], key[256];
    while (!atomic_load(&L->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(L->con, 100);
        if (!m)
            continue;
        int64_t t = bench_now_us();
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        const char *topic = rd_kafka_topic_name(m->rkt);
        size_t tl = strlen(topic);
        const uint8_t *inc, *dk, *s;
        size_t il, dl, sl;
        if (tl >= 5 && strcmp(topic + tl - 5, "audit") == 0) {
            if (bench_pb_bytes(m->payload, m->len, 5, &s, &sl) == 0 && sl > 10 &&
                memcmp(s, "incidentd/", 10) == 0)
                for (int k = 0; k < N_STAGES; k++)
                    if (bench_pb_eq(s + 10, sl - 10, stage_names[k]))
                        atomic_fetch_add(&L->per_actor[k], 1);
            /* closed audit record: snapshot (8) . dedup_key (2) */
            if (bench_pb_bytes(m->payload, m->len, 4, &s, &sl) == 0 &&
                bench_pb_eq(s, sl, "closed") &&
                bench_pb_bytes(m->payload, m->len, 8, &inc, &il) == 0 &&
                bench_pb_bytes(inc, il, 2, &dk, &dl) == 0) {
                long i = lat_index(L, dk, dl);
                if (i >= 0 && L->lat_close[i] < 0) {
                    L->lat_close[i] = t - L->trig_us[i];
                    rd_kafka_timestamp_type_t tt;
                    int64_t ts = rd_kafka_message_timestamp(m, &tt);
                    if (ts > atomic_load(&L->last_close_ts))
                        atomic_store(&L->last_close_ts, ts);
                    atomic_fetch_add(&L->n_close, 1);
                }
            }
        } else if (bench_pb_bytes(m->payload, m->len, 2, &inc, &il) == 0 &&
                   bench_pb_bytes(inc, il, 2, &dk, &dl) == 0) {
            long i = lat_index(L, dk, dl);
            if (i >= 0 && tl >= 9 && strcmp(topic + tl - 9, "escalated") == 0 &&
                L->lat_esc[i] < 0) {
                L->lat_esc[i] = t - L->trig_us[i];
                atomic_fetch_add(&L->n_esc, 1);
                /* Escalated: resolve it now. */
                snprintf(key, sizeof(key), "%.*s", (int)dl, (const char *)dk);
                snprintf(aid, sizeof(aid), "%sr", key);
                size_t len =
                    bench_pack_alert(buf, sizeof(buf), aid, key,
                                     INCIDENT__V1__ACTION__ACTION_RESOLVE, i, bench_wall_ms());
                L->res_us[i] = bench_now_us();
                bench_produce(L->prod, L->det, key, buf, len);
            } else if (i >= 0 && tl >= 8 && strcmp(topic + tl - 8, "resolved") == 0 &&
                       L->lat_res[i] < 0 && L->res_us[i] > 0) {
                L->lat_res[i] = t - L->res_us[i];
                atomic_fetch_add(&L->n_res, 1);
            }
        }
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

bench_pct_t bench_percentiles(const int64_t *v, long n)
{
    bench_pct_t p = {0};
    int64_t *s = malloc((size_t)(n > 0 ? n : 1) * sizeof(*s));
    for (long i = 0; i < n; i++)
        if (v[i] >= 0)
            s[p.n++] = v[i];
    if (p.n > 0) {
        qsort(s, (size_t)p.n, sizeof(*s), cmp_i64);
#define PCT(q)                                                                                  \
    ((double)s[(long)ceil((q) * (double)p.n) - 1 < 0 ? 0 : (long)ceil((q) * (double)p.n) - 1] / \
     1000.0)
        p.p50 = PCT(0.50);
        p.p99 = PCT(0.99);
        p.p999 = PCT(0.999);
#undef PCT
        p.max = (double)s[p.n - 1] / 1000.0;
    }
    free(s);
    return p;
}

typedef struct lat_result {
    int rate;
    long planned, sent;
    double achieved_rate;
    bench_pct_t esc, res, close;
} lat_result_t;

static void lat_free(lat_run_t *L)
{
    free(L->trig_us);
    free(L->res_us);
    free(L->lat_esc);
    free(L->lat_res);
    free(L->lat_close);
}

/* Drives @p n incidents: triggers paced at @p pair_rate per second (0 = as
 * fast as the broker takes them), after a share @p merge_share of them a
 * merging trigger of the same key, and the resolve of each incident as soon
 * as the bench sees it on incidents.escalated (the consumer thread). Waits
 * until every incident is closed, at most @p wait_s after the last trigger
 * (or until the phase stalls). Fills @p L (lat_free() it). */
static void run_load(const char *prefix, const char *tag, long n, double pair_rate,
                     double merge_share, int wait_s, lat_run_t *L, double *pub_s, long *sent_out,
                     long *merges_out)
{
    memset(L, 0, sizeof(*L));
    L->prefix = prefix;
    snprintf(L->keypfx, sizeof(L->keypfx), "%s%s-", prefix, tag);
    L->keypfx_len = strlen(L->keypfx);
    snprintf(L->det, sizeof(L->det), "%sincidents.detected", prefix);
    L->n = n;
    L->trig_us = calloc((size_t)n, sizeof(int64_t));
    L->res_us = calloc((size_t)n, sizeof(int64_t));
    L->lat_esc = malloc((size_t)n * sizeof(int64_t));
    L->lat_res = malloc((size_t)n * sizeof(int64_t));
    L->lat_close = malloc((size_t)n * sizeof(int64_t));
    for (long i = 0; i < n; i++)
        L->lat_esc[i] = L->lat_res[i] = L->lat_close[i] = -1;

    char group[300], esc[256], res[256], audit[256];
    snprintf(group, sizeof(group), "%sbench.%s", prefix, tag);
    snprintf(esc, sizeof(esc), "%sincidents.escalated", prefix);
    snprintf(res, sizeof(res), "%sincidents.resolved", prefix);
    snprintf(audit, sizeof(audit), "%sormis.audit", prefix);
    L->con = bench_consumer_new(group, 1);
    const char *topics[] = {esc, res, audit};
    bench_assign_all(L->con, topics, 3, 1);
    L->prod = bench_producer_new(NULL, pair_rate > 0 ? "0" : "5");
    bench_warm_producer(L->prod, L->det);

    pthread_t th;
    if (pthread_create(&th, NULL, lat_consumer, L) != 0)
        bench_die("pthread_create");
    /* Let the consumer fetch its start offsets before the first send. */
    bench_sleep_us(1000000);
    unsigned char buf[1024];
    char key[256], aid[300];
    int64_t start = bench_now_us();
    long sent = 0, merges = 0;
    stage_metrics_t m0[N_STAGES];
    scrape(m0);
    int64_t next_report = bench_now_us() + 5000000;
    for (long i = 0; i < n; i++) {
        if (pair_rate > 0) {
            int64_t due = start + (int64_t)((double)i * 1e6 / pair_rate);
            int64_t t = bench_now_us();
            if (due > t)
                bench_sleep_us(due - t);
        }
        snprintf(key, sizeof(key), "%s%ld", L->keypfx, i);
        snprintf(aid, sizeof(aid), "%st", key);
        size_t len = bench_pack_alert(buf, sizeof(buf), aid, key,
                                      INCIDENT__V1__ACTION__ACTION_TRIGGER, i, bench_wall_ms());
        L->trig_us[i] = bench_now_us();
        bench_produce(L->prod, L->det, key, buf, len);
        sent++;
        if ((long)((double)(i + 1) * merge_share) > (long)((double)i * merge_share)) {
            snprintf(aid, sizeof(aid), "%sm", key);
            len = bench_pack_alert(buf, sizeof(buf), aid, key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                   i + 1, bench_wall_ms());
            bench_produce(L->prod, L->det, key, buf, len);
            merges++;
        }
        if (pair_rate > 0 || (i & 1023) == 0)
            rd_kafka_poll(L->prod, 0);
        if (bench_past_deadline())
            break;
    }
    *pub_s = (double)(bench_now_us() - start) / 1e6;
    bench_say("%s: %ld triggers and %ld merging triggers published in %.2f s", tag, sent, merges,
              *pub_s);
    /* Until all are closed: at most wait_s after the last trigger, and give
     * up when nothing closes for --stall seconds. */
    int64_t until = bench_now_us() + (int64_t)wait_s * 1000000;
    long last_closed = -1;
    int64_t last_progress = bench_now_us();
    while (atomic_load(&L->n_close) < sent && bench_now_us() < until && !bench_past_deadline()) {
        rd_kafka_poll(L->prod, 100);
        long c = atomic_load(&L->n_close);
        if (c != last_closed) {
            last_closed = c;
            last_progress = bench_now_us();
        }
        if (bench_now_us() - last_progress > (int64_t)g_opt.stall_s * 1000000) {
            bench_say("%s: nothing closed for %d s: giving up", tag, g_opt.stall_s);
            break;
        }
        if (bench_now_us() >= next_report) {
            next_report = bench_now_us() + 5000000;
            stage_metrics_t mm[N_STAGES];
            scrape(mm);
            bench_say(
                "%s: escalated %ld, resolved %ld, closed %ld of %ld; consumed: detected %.0f, "
                "classified %.0f, scoped %.0f, escalated %.0f, resolved %.0f",
                tag, atomic_load(&L->n_esc), atomic_load(&L->n_res), c, sent,
                mm[0].consumed - m0[0].consumed, mm[1].consumed - m0[1].consumed,
                mm[2].consumed - m0[2].consumed, mm[3].consumed - m0[3].consumed,
                mm[4].consumed - m0[4].consumed);
            check_children_alive();
        }
        sample_rss();
    }
    if (bench_past_deadline())
        bench_say("%s: global deadline reached", tag);
    atomic_store(&L->stop, 1);
    pthread_join(th, NULL);
    rd_kafka_flush(L->prod, 5000);
    rd_kafka_destroy(L->prod);
    rd_kafka_consumer_close(L->con);
    rd_kafka_destroy(L->con);
    check_children_alive();
    *sent_out = sent;
    *merges_out = merges;
}

static void phase_latency(const char *prefix, int rate, lat_result_t *out)
{
    char tag[32];
    snprintf(tag, sizeof(tag), "L%d", rate);
    double pair_rate = rate / 2.0;
    long n = (long)(pair_rate * g_opt.rate_secs);
    if (n < 1)
        n = 1;
    bench_say(
        "phase 2 (latency): %d alerts/s offered for %d s (%ld triggers at %.0f/s, each resolved as "
        "soon as it is seen on incidents.escalated)",
        rate, g_opt.rate_secs, n, pair_rate);
    lat_run_t L;
    double pub_s;
    long sent, merges;
    run_load(prefix, tag, n, pair_rate, 0, 15, &L, &pub_s, &sent, &merges);
    out->rate = rate;
    out->planned = n;
    out->sent = sent;
    out->achieved_rate = 2.0 * (double)sent / pub_s;
    out->esc = bench_percentiles(L.lat_esc, sent);
    out->res = bench_percentiles(L.lat_res, sent);
    out->close = bench_percentiles(L.lat_close, sent);
    bench_say(
        "phase 2 @%d/s: trigger->escalated %ld seen, p50 %.1f p99 %.1f ms; resolve->resolved %ld, "
        "p50 %.1f p99 %.1f ms; trigger->closed %ld, p50 %.1f p99 %.1f ms",
        rate, out->esc.n, out->esc.p50, out->esc.p99, out->res.n, out->res.p50, out->res.p99,
        out->close.n, out->close.p50, out->close.p99);
    lat_free(&L);
}

/* ---- phase 1: throughput -------------------------------------------------- */

static redisContext *bench_redis(const char *what);
static double redis_cpu_s(redisContext *rc);
static void redis_evalsha(redisContext *rc, double *calls, double *usec);
static double redis_info_num(redisContext *rc, const char *section, const char *field);

static void phase_throughput(const char *prefix, tp_result_t *r)
{
    long n = g_opt.incidents;
    memset(r, 0, sizeof(*r));
    r->incidents = n;
    stage_metrics_t m0[N_STAGES], m1[N_STAGES];
    scrape(m0);
    for (int i = g_set_first; i < g_nprocs; i++) {
        g_procs[i].cpu_s0 = bench_proc_cpu_s(g_procs[i].pid);
        g_procs[i].consumed0 = g_procs[i].consumed_now;
    }
    unsigned long long b0, t0, b1, t1;
    machine_cpu(&b0, &t0);
    pid_t kpid = testbed_pid("kafka"), rpid = testbed_pid("redis");
    double k0 = kpid ? bench_proc_cpu_s(kpid) : 0, rc0 = rpid ? bench_proc_cpu_s(rpid) : 0;
    redisContext *rcx = bench_redis("Redis CPU per incident");
    double ri0 = redis_cpu_s(rcx), ev0, evu0, ev1, evu1;
    redis_evalsha(rcx, &ev0, &evu0);
    bench_say(
        "phase 1 (throughput): %ld incidents as fast as the broker takes them: a trigger each, "
        "a merging trigger after %.0f%% of them, and each one's resolve as soon as it is seen "
        "on incidents.escalated",
        n, g_opt.merge_share * 100);
    lat_run_t L;
    double pub_s;
    long sent, merges;
    int64_t first_pub_wall = bench_wall_ms() + 1000; /* run_load waits 1 s before publishing */
    int64_t t_start = bench_now_us() + 1000000;
    run_load(prefix, "T", n, 0, g_opt.merge_share, g_opt.deadline_s, &L, &pub_s, &sent, &merges);
    machine_cpu(&b1, &t1);
    r->broker_cpu_s = kpid ? bench_proc_cpu_s(kpid) - k0 : -1;
    r->redis_cpu_s = rpid ? bench_proc_cpu_s(rpid) - rc0 : -1;
    double ri1 = redis_cpu_s(rcx);
    r->redis_info_cpu_s = ri0 >= 0 && ri1 >= 0 ? ri1 - ri0 : -1;
    redis_evalsha(rcx, &ev1, &evu1);
    r->scripts = ev1 - ev0;
    r->script_usec = evu1 - evu0;
    if (rcx)
        redisFree(rcx);
    scrape(m1);
    for (int i = g_set_first; i < g_nprocs; i++) {
        g_procs[i].cpu_s1 = bench_proc_cpu_s(g_procs[i].pid);
        g_procs[i].consumed1 = g_procs[i].consumed_now;
    }
    sample_rss();
    r->closed = atomic_load(&L.n_close);
    r->alerts = 2 * sent + merges;
    r->publish_s = pub_s;
    r->ok = r->closed == n;
    int64_t last = atomic_load(&L.last_close_ts);
    r->total_s = last > first_pub_wall ? (double)(last - first_pub_wall) / 1000.0
                                       : (double)(bench_now_us() - t_start) / 1e6;
    r->incidents_per_s = (double)r->closed / r->total_s;
    r->alerts_per_s = (double)r->alerts * ((double)r->closed / (double)n) / r->total_s;
    r->cpu_util = t1 > t0 ? (double)(b1 - b0) / (double)(t1 - t0) : 0;
    r->cpu_busy_s = (double)(b1 - b0) / (double)sysconf(_SC_CLK_TCK);
    for (int s = 0; s < N_STAGES; s++) {
        r->m[s].consumed = m1[s].consumed - m0[s].consumed;
        r->m[s].transitions = m1[s].transitions - m0[s].transitions;
        r->m[s].batches = m1[s].batches - m0[s].batches;
        r->m[s].round_trips = m1[s].round_trips - m0[s].round_trips;
        r->m[s].batch_round_trips = m1[s].batch_round_trips - m0[s].batch_round_trips;
        r->m[s].produced = m1[s].produced - m0[s].produced;
        r->m[s].conflicts = m1[s].conflicts - m0[s].conflicts;
        r->m[s].failed = m1[s].failed - m0[s].failed;
        r->m[s].dlq = m1[s].dlq - m0[s].dlq;
        r->m[s].proc_sum_s = m1[s].proc_sum_s - m0[s].proc_sum_s;
        r->m[s].proc_count = m1[s].proc_count - m0[s].proc_count;
        r->m[s].carried = m1[s].carried - m0[s].carried;
        r->m[s].commit_s = m1[s].commit_s - m0[s].commit_s;
        r->m[s].commit_wait_s = m1[s].commit_wait_s - m0[s].commit_wait_s;
        r->stage_events_per_s[s] = r->m[s].consumed / r->total_s;
        r->stage_records_per_s[s] = (double)atomic_load(&L.per_actor[s]) / r->total_s;
    }
    r->lat_close = bench_percentiles(L.lat_close, sent);
    bench_say("phase 1: %ld/%ld incidents closed in %.2f s: %.0f incidents/s", r->closed, n,
              r->total_s, r->incidents_per_s);
    lat_free(&L);
}

/* ---- open incidents: what Redis stores per incident ------------------------ */

/* Opens @p n incidents (triggers only, never resolved) and waits until the
 * escalated stage has consumed them all; returns Redis's used_memory
 * growth per open incident in bytes, or -1. The bench's clean-up deletes
 * them with its other keys. */
static double phase_open_incidents(const char *prefix, long n)
{
    redisContext *rc = bench_redis("bytes per open incident");
    if (!rc)
        return -1;
    stage_metrics_t m0[N_STAGES], m1[N_STAGES];
    scrape(m0);
    double mem0 = redis_info_num(rc, "memory", "used_memory");
    bench_say("open incidents: %ld triggers, never resolved, for Redis's bytes per open incident",
              n);
    rd_kafka_t *p = bench_producer_new(NULL, "5");
    char det[256], key[256];
    snprintf(det, sizeof(det), "%sincidents.detected", prefix);
    unsigned char buf[1024];
    for (long i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "%sO-%ld", prefix, i);
        size_t len = bench_pack_alert(buf, sizeof(buf), key, key,
                                      INCIDENT__V1__ACTION__ACTION_TRIGGER, i, bench_wall_ms());
        bench_produce(p, det, key, buf, len);
    }
    bench_flush(p, "open incidents");
    rd_kafka_destroy(p);
    int64_t t0 = bench_now_us();
    do {
        bench_sleep_us(200000);
        scrape(m1);
        bench_check_deadline("open incidents");
    } while (m1[3].consumed - m0[3].consumed < (double)n &&
             bench_now_us() - t0 < (int64_t)g_opt.stall_s * 1000000);
    bench_sleep_us(500000); /* the escalated stage's last apply and commit */
    double mem1 = redis_info_num(rc, "memory", "used_memory");
    redisFree(rc);
    double per = mem0 >= 0 && mem1 >= 0 ? (mem1 - mem0) / (double)n : -1;
    bench_say(
        "open incidents: %.0f of %ld escalated; Redis used_memory +%.0f bytes per open incident",
        m1[3].consumed - m0[3].consumed, n, per);
    return per;
}

/* ---- phase 4: the bare relay ---------------------------------------------- */

typedef struct hop {
    int idx;
    int txn;
    char in[256], out[256], group[300], txid[300];
    atomic_int *stop;
    atomic_int ready;
    long relayed;
    int failed;
    _Atomic int64_t first_us, last_us; /* first and last batch relayed */
    int64_t commit_us;                 /* time in send_offsets + commit */
    long commits;
} hop_t;

static void *hop_run(void *arg)
{
    hop_t *h = arg;
    rd_kafka_t *c = bench_consumer_new(h->group, 1);
    const char *topics[] = {h->in};
    bench_assign_all(c, topics, 1, 0);
    rd_kafka_t *p = bench_producer_new(h->txn ? h->txid : NULL, h->txn ? "2" : "5");
    rd_kafka_consumer_group_metadata_t *gm = rd_kafka_consumer_group_metadata(c);
    if (h->txn) {
        rd_kafka_error_t *e = rd_kafka_init_transactions(p, 30000);
        if (e) {
            bench_say("relay hop %d: init transactions: %s", h->idx, rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            h->failed = 1;
        }
    }
    atomic_store(&h->ready, 1);
    const size_t batch_max = (size_t)g_opt.gather_max;
    rd_kafka_message_t **batch = calloc(batch_max, sizeof(*batch));
    if (!batch)
        bench_die("out of memory");
    while (!atomic_load(h->stop) && !h->failed) {
        /* Gather like incidentd as configured (gather_settings()). */
        size_t nb = 0;
        int64_t deadline = 0;
        while (nb < batch_max) {
            int timeout = 100;
            if (nb > 0) {
                int64_t left = (deadline - bench_now_us()) / 1000;
                if (left <= 0)
                    break;
                timeout = (int)left;
            }
            rd_kafka_message_t *m = rd_kafka_consumer_poll(c, timeout);
            if (!m) {
                if (nb == 0)
                    break;
                continue;
            }
            if (m->err) {
                rd_kafka_message_destroy(m);
                continue;
            }
            if (nb == 0)
                deadline = bench_now_us() + (int64_t)g_opt.gather_ms * 1000;
            batch[nb++] = m;
        }
        if (nb == 0)
            continue;
        rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new((int)nb);
        if (h->txn) {
            rd_kafka_error_t *e = rd_kafka_begin_transaction(p);
            if (e) {
                bench_say("relay hop %d: begin: %s", h->idx, rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
                h->failed = 1;
            }
        }
        for (size_t i = 0; i < nb && !h->failed; i++) {
            rd_kafka_message_t *m = batch[i];
            for (;;) {
                rd_kafka_resp_err_t e = rd_kafka_producev(
                    p, RD_KAFKA_V_TOPIC(h->out), RD_KAFKA_V_KEY(m->key, m->key_len),
                    RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_END);
                if (!e)
                    break;
                if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                    bench_say("relay hop %d: produce: %s", h->idx, rd_kafka_err2str(e));
                    h->failed = 1;
                    break;
                }
                rd_kafka_poll(p, 5);
            }
            const char *t = rd_kafka_topic_name(m->rkt);
            rd_kafka_topic_partition_t *tp =
                rd_kafka_topic_partition_list_find(offs, t, m->partition);
            if (!tp)
                tp = rd_kafka_topic_partition_list_add(offs, t, m->partition);
            if (m->offset + 1 > tp->offset)
                tp->offset = m->offset + 1;
        }
        if (!h->failed && h->txn) {
            int64_t c0 = bench_now_us();
            rd_kafka_error_t *e = rd_kafka_send_offsets_to_transaction(p, offs, gm, 30000);
            if (!e)
                e = rd_kafka_commit_transaction(p, 30000);
            h->commit_us += bench_now_us() - c0;
            h->commits++;
            if (e) {
                bench_say("relay hop %d: commit: %s", h->idx, rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
                h->failed = 1;
            }
        } else if (!h->failed) {
            rd_kafka_poll(p, 0);
            rd_kafka_commit(c, offs, 1);
        }
        rd_kafka_topic_partition_list_destroy(offs);
        for (size_t i = 0; i < nb; i++)
            rd_kafka_message_destroy(batch[i]);
        h->relayed += (long)nb;
        int64_t t_now = bench_now_us();
        atomic_store(&h->last_us, t_now);
        if (!atomic_load(&h->first_us))
            atomic_store(&h->first_us, t_now);
    }
    free(batch);
    rd_kafka_flush(p, 5000);
    rd_kafka_consumer_group_metadata_destroy(gm);
    rd_kafka_destroy(p);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return NULL;
}

typedef struct relay_result {
    long commits;
    int64_t commit_us;
    int ok, txn;
    long msgs, arrived;
    double secs, msgs_per_s;
    double cpu_busy_s;     /* machine busy CPU seconds from the publish to the last arrival */
    int lat_rate;          /* messages/s offered in the latency run (0: none) */
    bench_pct_t lat_3hops; /* publish -> seen after three hops (the path trigger -> escalated) */
} relay_result_t;

/* The relay's latency over its first three hops at @p rate messages/s for
 * g_opt.rate_secs seconds, measured like incidentd's trigger -> escalated:
 * from the publish to a read_committed consumer seeing the message on the
 * third hop's output topic. */
static void relay_latency(rd_kafka_t *p, const char *prefix, const char *first, const char *third,
                          int rate, relay_result_t *r)
{
    long n = (long)rate * g_opt.rate_secs;
    int64_t *sent = calloc((size_t)n, sizeof(*sent)), *lat = malloc((size_t)n * sizeof(*lat));
    if (!sent || !lat)
        bench_die("out of memory");
    for (long i = 0; i < n; i++)
        lat[i] = -1;
    char group[300], key[256], kp[200];
    snprintf(group, sizeof(group), "%s.lat", third);
    snprintf(kp, sizeof(kp), "%sL", prefix);
    size_t kpl = strlen(kp);
    rd_kafka_t *c = bench_consumer_new(group, 1);
    const char *topics[] = {third};
    bench_assign_all(c, topics, 1, 1);
    bench_say("relay latency: %d msgs/s for %d s, publish -> after 3 hops", rate, g_opt.rate_secs);
    unsigned char buf[1024];
    int64_t t0 = bench_now_us(), last_seen = bench_now_us();
    long next = 0, seen = 0;
    while (seen < n && bench_now_us() - last_seen < 15000000) {
        int64_t t = bench_now_us();
        for (; next < n && t0 + next * 1000000 / rate <= t; next++) {
            snprintf(key, sizeof(key), "%s%ld", kp, next);
            size_t len =
                bench_pack_alert(buf, sizeof(buf), key, key, INCIDENT__V1__ACTION__ACTION_TRIGGER,
                                 next, bench_wall_ms());
            sent[next] = bench_now_us();
            bench_produce(p, first, key, buf, len);
            last_seen = bench_now_us();
        }
        rd_kafka_poll(p, 0);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 1);
        if (!m)
            continue;
        int64_t seen_us = bench_now_us();
        const char *k = m->key;
        if (!m->err && m->key_len > kpl && memcmp(k, kp, kpl) == 0) {
            long i = strtol(k + kpl, NULL, 10);
            if (i >= 0 && i < n && sent[i] > 0 && lat[i] < 0) {
                lat[i] = seen_us - sent[i];
                seen++;
                last_seen = seen_us;
            }
        }
        rd_kafka_message_destroy(m);
        bench_check_deadline("relay latency");
    }
    r->lat_rate = rate;
    r->lat_3hops = bench_percentiles(lat, n);
    bench_say("relay latency at %d/s: %ld/%ld seen, p50 %.1f p99 %.1f ms", rate, r->lat_3hops.n, n,
              r->lat_3hops.p50, r->lat_3hops.p99);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    free(sent);
    free(lat);
}

static void phase_relay(const char *prefix, int txn, long msgs, relay_result_t *r)
{
    memset(r, 0, sizeof(*r));
    r->txn = txn;
    r->msgs = msgs;
    char names[RELAY_HOPS + 1][256];
    const char *np[RELAY_HOPS + 1];
    for (int i = 0; i <= RELAY_HOPS; i++) {
        snprintf(names[i], sizeof(names[i]), "%srelay%s.t%d", prefix, txn ? "tx" : "plain", i);
        np[i] = names[i];
    }
    rd_kafka_t *p = bench_producer_new(NULL, "5");
    create_topics(p, np, RELAY_HOPS + 1);
    atomic_int stop = 0;
    hop_t hops[RELAY_HOPS];
    pthread_t th[RELAY_HOPS];
    for (int i = 0; i < RELAY_HOPS; i++) {
        hop_t *h = &hops[i];
        memset(h, 0, sizeof(*h));
        h->idx = i;
        h->txn = txn;
        h->stop = &stop;
        snprintf(h->in, sizeof(h->in), "%.200s", names[i]);
        snprintf(h->out, sizeof(h->out), "%.200s", names[i + 1]);
        snprintf(h->group, sizeof(h->group), "%.200s.g", names[i]);
        snprintf(h->txid, sizeof(h->txid), "%.200s.tx", names[i]);
        if (pthread_create(&th[i], NULL, hop_run, h) != 0)
            bench_die("pthread_create");
    }
    for (int i = 0; i < RELAY_HOPS; i++)
        while (!atomic_load(&hops[i].ready)) {
            bench_sleep_us(50000);
            bench_check_deadline("relay start-up");
        }
    char group[300];
    snprintf(group, sizeof(group), "%s.sink", names[RELAY_HOPS]);
    rd_kafka_t *sink = bench_consumer_new(group, 1);
    const char *st[] = {names[RELAY_HOPS]};
    bench_assign_all(sink, st, 1, 0);

    bench_say("phase 4 (limit): bare %s relay, %ld messages through %d hops (%s per batch of <= "
              "%d within %d ms)",
              txn ? "transactional" : "plain", msgs, RELAY_HOPS,
              txn ? "consume, produce, send offsets, commit the transaction"
                  : "consume, produce (idempotent), commit offsets async",
              g_opt.gather_max, g_opt.gather_ms);
    unsigned char buf[1024];
    char key[256], aid[300];
    /* Warm-up: every producer learns its topic's metadata and every
     * consumer has fetched once (the first record of a new topic costs
     * about a second of metadata refresh per hop). */
    enum { WARM = 100 };
    for (long i = 0; i < WARM; i++) {
        snprintf(key, sizeof(key), "%swarm%ld", prefix, i);
        size_t len = bench_pack_alert(buf, sizeof(buf), key, key,
                                      INCIDENT__V1__ACTION__ACTION_TRIGGER, i, bench_wall_ms());
        bench_produce(p, names[0], key, buf, len);
    }
    bench_flush(p, "relay warm-up");
    for (long got = 0; got < WARM;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(sink, 200);
        if (m && !m->err)
            got++;
        if (m)
            rd_kafka_message_destroy(m);
        bench_check_deadline("relay warm-up");
    }
    for (int i = 0; i < RELAY_HOPS; i++)
        atomic_store(&hops[i].first_us, 0);
    unsigned long long cb0, ct0, cb1, ct1;
    machine_cpu(&cb0, &ct0);
    int64_t first_pub = bench_wall_ms(), t_start = bench_now_us();
    for (long i = 0; i < msgs; i++) {
        snprintf(key, sizeof(key), "%sk%ld", prefix, i);
        snprintf(aid, sizeof(aid), "%sa%ld", prefix, i);
        size_t len = bench_pack_alert(buf, sizeof(buf), aid, key,
                                      INCIDENT__V1__ACTION__ACTION_TRIGGER, i, bench_wall_ms());
        bench_produce(p, names[0], key, buf, len);
        if ((i & 1023) == 0)
            rd_kafka_poll(p, 0);
    }
    bench_flush(p, "relay publishing");
    int64_t last_ts = 0, last_progress = bench_now_us();
    while (r->arrived < msgs) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(sink, 200);
        if (m && !m->err) {
            r->arrived++;
            last_progress = bench_now_us();
            rd_kafka_timestamp_type_t tt;
            int64_t ts = rd_kafka_message_timestamp(m, &tt);
            if (ts > last_ts)
                last_ts = ts;
        }
        if (m)
            rd_kafka_message_destroy(m);
        int failed = 0;
        for (int i = 0; i < RELAY_HOPS; i++)
            failed |= hops[i].failed;
        if (failed || bench_now_us() - last_progress > (int64_t)g_opt.stall_s * 1000000 ||
            bench_past_deadline()) {
            bench_say("relay: stopped with %ld/%ld arrived (%s)", r->arrived, msgs,
                      failed                  ? "a hop failed"
                      : bench_past_deadline() ? "deadline"
                                              : "stalled");
            break;
        }
    }
    machine_cpu(&cb1, &ct1);
    r->cpu_busy_s = (double)(cb1 - cb0) / (double)sysconf(_SC_CLK_TCK);
    if (txn && r->arrived == msgs && !bench_past_deadline())
        for (int i = 0; i < g_opt.n_rates; i++)
            if (g_opt.rates[i] == 1000)
                relay_latency(p, prefix, names[0], names[3], 1000, r);
    atomic_store(&stop, 1);
    for (int i = 0; i < RELAY_HOPS; i++) {
        pthread_join(th[i], NULL);
        bench_say("relay hop %d: %ld messages, first batch at +%.2f s, last at +%.2f s%s", i,
                  hops[i].relayed, (double)(atomic_load(&hops[i].first_us) - t_start) / 1e6,
                  (double)(atomic_load(&hops[i].last_us) - t_start) / 1e6,
                  txn ? "" : " (no transactions)");
        r->commits += hops[i].commits;
        r->commit_us += hops[i].commit_us;
    }
    rd_kafka_consumer_close(sink);
    rd_kafka_destroy(sink);
    rd_kafka_destroy(p);
    r->ok = r->arrived == msgs;
    r->secs = (double)(last_ts - first_pub) / 1000.0;
    if (r->secs <= 0)
        r->secs = (double)(bench_now_us() - t_start) / 1e6;
    r->msgs_per_s = (double)r->arrived / r->secs;
    bench_say("relay (%s): %ld/%ld messages through %d hops in %.2f s: %.0f msgs/s",
              txn ? "transactional" : "plain", r->arrived, msgs, RELAY_HOPS, r->secs,
              r->msgs_per_s);
}

/* ---- redis-benchmark ------------------------------------------------------ */

typedef struct redis_bench {
    int ok;
    double set_rps, get_rps;
} redis_bench_t;

static void phase_redis_benchmark(redis_bench_t *r)
{
    memset(r, 0, sizeof(*r));
    char host[256];
    int port;
    redis_hostport(g_opt.redis, host, sizeof(host), &port);
    for (const char *c = host; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '.' && *c != '-' && *c != ':')
            bench_die("unexpected redis host '%s'", host);
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "timeout 120 redis-benchmark -h %s -p %d -P 16 -q -n 200000 -t set,get 2>&1", host,
             port);
    bench_say("phase 4 (limit): %s", cmd);
    FILE *f = popen(cmd, "r");
    if (!f) {
        bench_say("redis-benchmark: cannot run: %s", strerror(errno));
        return;
    }
    char out[16384];
    size_t n = fread(out, 1, sizeof(out) - 1, f);
    out[n] = '\0';
    int st = pclose(f);
    for (char *line = strtok(out, "\r\n"); line; line = strtok(NULL, "\r\n")) {
        double v;
        if (sscanf(line, "SET: %lf requests per second", &v) == 1)
            r->set_rps = v;
        else if (sscanf(line, "GET: %lf requests per second", &v) == 1)
            r->get_rps = v;
    }
    r->ok = r->set_rps > 0 && r->get_rps > 0;
    if (!r->ok)
        bench_say("redis-benchmark failed (status %d); is redis-tools installed?", st);
    else
        bench_say("redis-benchmark: SET %.0f/s, GET %.0f/s (pipeline 16)", r->set_rps, r->get_rps);
}

/* ---- clean-up -------------------------------------------------------------- */

/* Deletes the bench's topics (the incidentd ones and the relay's). */
static void delete_topics(const char *prefix)
{
    rd_kafka_t *rk = bench_producer_new(NULL, "5");
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(rk, 1, NULL, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        bench_say("clean-up: no metadata; topics %s* left on the broker", prefix);
        rd_kafka_destroy(rk);
        return;
    }
    size_t pl = strlen(prefix), n = 0;
    rd_kafka_DeleteTopic_t **dt = calloc((size_t)md->topic_cnt + 1, sizeof(*dt));
    for (int i = 0; i < md->topic_cnt; i++)
        if (strncmp(md->topics[i].topic, prefix, pl) == 0)
            dt[n++] = rd_kafka_DeleteTopic_new(md->topics[i].topic);
    rd_kafka_metadata_destroy(md);
    if (n > 0) {
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_DeleteTopics(rk, dt, n, NULL, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
        if (!ev || rd_kafka_event_error(ev))
            bench_say("clean-up: deleting the topics failed: %s",
                      ev ? rd_kafka_event_error_string(ev) : "no answer in 30 s");
        else
            bench_say("clean-up: %zu topics %s* deleted", n, prefix);
        if (ev)
            rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(q);
    }
    rd_kafka_DeleteTopic_destroy_array(dt, n);
    free(dt);
    rd_kafka_destroy(rk);
}

/* Unlinks the bench's Redis keys (incidentd's namespace is the topic
 * prefix): a long-lived Redis would otherwise keep ~9 KB per incident. */
/* A connection to the test bed's Redis (database of the URL), or NULL with
 * a note (@p what: what is given up). */
static redisContext *bench_redis(const char *what)
{
    char host[256];
    int port;
    redis_hostport(g_opt.redis, host, sizeof(host), &port);
    if (strchr(g_opt.redis, '@')) {
        bench_say("%s: Redis needs credentials: skipped", what);
        return NULL;
    }
    const char *p = strstr(g_opt.redis, "://");
    p = p ? p + 3 : g_opt.redis;
    const char *slash = strchr(p, '/');
    int db = slash ? atoi(slash + 1) : 0;
    struct timeval tv = {5, 0};
    redisContext *rc = redisConnectWithTimeout(host, port, tv);
    if (!rc || rc->err) {
        bench_say("%s: cannot connect to Redis: skipped", what);
        if (rc)
            redisFree(rc);
        return NULL;
    }
    if (db) {
        redisReply *r = redisCommand(rc, "SELECT %d", db);
        if (r)
            freeReplyObject(r);
    }
    return rc;
}

/* A number of INFO @p section ("field:value" lines), or -1. */
static double redis_info_num(redisContext *rc, const char *section, const char *field)
{
    double v = -1;
    redisReply *r = rc ? redisCommand(rc, "INFO %s", section) : NULL;
    if (r && r->type == REDIS_REPLY_STRING) {
        size_t fl = strlen(field);
        for (const char *l = r->str; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
            if (strncmp(l, field, fl) == 0 && l[fl] == ':')
                v = atof(l + fl + 1);
    }
    if (r)
        freeReplyObject(r);
    return v;
}

/* EVALSHA calls and their microseconds so far (INFO commandstats); 0 when
 * unknown. */
static void redis_evalsha(redisContext *rc, double *calls, double *usec)
{
    *calls = *usec = 0;
    redisReply *r = rc ? redisCommand(rc, "INFO commandstats") : NULL;
    const char *l = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, "cmdstat_evalsha:") : NULL;
    if (l) {
        const char *c = strstr(l, "calls="), *u = strstr(l, "usec=");
        *calls = c ? atof(c + 6) : 0;
        *usec = u ? atof(u + 5) : 0;
    }
    if (r)
        freeReplyObject(r);
}

/* redis-server's CPU seconds (user + system) by INFO cpu, or -1. */
static double redis_cpu_s(redisContext *rc)
{
    double u = redis_info_num(rc, "cpu", "used_cpu_user"),
           sy = redis_info_num(rc, "cpu", "used_cpu_sys");
    return u < 0 || sy < 0 ? -1 : u + sy;
}

static void delete_redis_keys(const char *prefix, int with_rb)
{
    redisContext *rc = bench_redis("clean-up (bench keys left)");
    if (!rc)
        return;
    /* incidentd's keys start with the namespace, the replay blobs with
     * "out:" and the namespace; redis-benchmark writes key:__rand_int__. */
    char patterns[3][160], cursor[32];
    snprintf(patterns[0], sizeof(patterns[0]), "%s*", prefix);
    snprintf(patterns[1], sizeof(patterns[1]), "out:%s*", prefix);
    snprintf(patterns[2], sizeof(patterns[2]), "key:__rand_int__");
    int n_patterns = with_rb ? 3 : 2;
    long deleted = 0;
    int64_t t0 = bench_now_us();
    for (int pi = 0; pi < n_patterns; pi++) {
        const char *pattern = patterns[pi];
        snprintf(cursor, sizeof(cursor), "0");
        do {
            redisReply *r = redisCommand(rc, "SCAN %s MATCH %s COUNT 10000", cursor, pattern);
            if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
                if (r)
                    freeReplyObject(r);
                bench_say("clean-up: SCAN failed");
                break;
            }
            snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
            redisReply *keys = r->element[1];
            if (keys->elements > 0) {
                const char **argv = malloc((keys->elements + 1) * sizeof(*argv));
                size_t *lens = malloc((keys->elements + 1) * sizeof(*lens));
                argv[0] = "UNLINK";
                lens[0] = 6;
                for (size_t i = 0; i < keys->elements; i++) {
                    argv[i + 1] = keys->element[i]->str;
                    lens[i + 1] = keys->element[i]->len;
                }
                redisReply *u = redisCommandArgv(rc, (int)keys->elements + 1, argv, lens);
                if (u && u->type == REDIS_REPLY_INTEGER)
                    deleted += (long)u->integer;
                if (u)
                    freeReplyObject(u);
                free(argv);
                free(lens);
            }
            freeReplyObject(r);
        } while (strcmp(cursor, "0") != 0 && bench_now_us() - t0 < 120 * 1000000LL);
    }
    redisFree(rc);
    bench_say("clean-up: %ld Redis keys %s* unlinked in %.1f s", deleted, prefix,
              (double)(bench_now_us() - t0) / 1e6);
}

/* ---- main ------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f, "usage: incidentd-bench [options]\n"
               "  --brokers HOST:PORT        Kafka (default: INCIDENTD_TEST_BROKERS, or the\n"
               "                             INCIDENTD_TESTBED_ENV file)\n"
               "  --redis URL                Redis (default: INCIDENTD_TEST_REDIS, idem)\n"
               "  --incidents N              incidents of the throughput phase (100000)\n"
               "  --merge-share F            merging triggers per incident (0.2)\n"
               "  --rates R1,R2,...          offered loads of the latency phase, alerts/s\n"
               "                             (1000,10000; 0 = skip the latency phase)\n"
               "  --rate-seconds S           seconds per offered load (10)\n"
               "  --stages-per-process K     stages per incidentd process (1: five processes;\n"
               "                             5: one process with all stages)\n"
               "  --processes-per-stage K    incidentd processes of each stage group (1; at most\n"
               "                             the partitions: they share a consumer group)\n"
               "  --partitions P             partitions of every topic (6)\n"
               "  --set KEY=VALUE            passed on to every incidentd (repeatable)\n"
               "  --kafka KEY=VALUE          librdkafka property of the bench's own clients and\n"
               "                             of the relay (repeatable; consumer properties go to\n"
               "                             consumers, the others to producers)\n"
               "  --bin DIR                  where incidentd is (default: this program's dir)\n"
               "  --workdir DIR              logs (default /tmp/incidentd-bench.<pid>)\n"
               "  --commands N               commands posted through the API in the commands\n"
               "                             phase (20000): POST /v1/incidents/{id}/commands,\n"
               "                             202 = accepted, applied = its audit record\n"
               "  --command-incidents N      incidents the commands go round (1000)\n"
               "  --connections K            concurrent connections to the API (8, at most 32)\n"
               "  --delivery-incidents N     incidents of the deliveries phase (300): each plans\n"
               "                             webhooks to a receiver of the bench on 127.0.0.1\n"
               "  --skip-commands            no commands phase (API + commands stage)\n"
               "  --skip-deliveries          no deliveries phase (notify stage + receiver)\n"
               "  --skip-relay               no bare-relay limit\n"
               "  --skip-redis-benchmark     no redis-benchmark limit\n"
               "  --keep                     keep the bench's topics and Redis keys afterwards\n"
               "  --deadline S               stop everything after S seconds (1800)\n"
               "  --stall S                  give a phase up after S s without progress (60)\n");
}

static void parse_args(int argc, char **argv)
{
    g_opt.incidents = 100000;
    g_opt.merge_share = 0.2;
    g_opt.rates[0] = 1000;
    g_opt.rates[1] = 10000;
    g_opt.n_rates = 2;
    g_opt.rate_secs = 10;
    g_opt.stages_per_process = 1;
    g_opt.processes_per_stage = 1;
    g_opt.partitions = 6;
    g_opt.deadline_s = 1800;
    g_opt.stall_s = 60;
    g_opt.stages.commands = 20000;
    g_opt.stages.command_incidents = 1000;
    g_opt.stages.connections = 8;
    g_opt.stages.delivery_incidents = 300;
    enum {
        O_BROKERS = 256,
        O_REDIS,
        O_INC,
        O_MERGE,
        O_RATES,
        O_RSECS,
        O_SPP,
        O_PPS,
        O_PARTS,
        O_SET,
        O_BIN,
        O_KAFKA,
        O_WORKDIR,
        O_COMMANDS,
        O_CMD_INC,
        O_CONNS,
        O_DLV_INC,
        O_SKIP_CMD,
        O_SKIP_DLV,
        O_SKIP_RELAY,
        O_SKIP_RB,
        O_KEEP,
        O_DEADLINE,
        O_STALL,
        O_HELP
    };
    static const struct option lo[] = {
        {"brokers", required_argument, NULL, O_BROKERS},
        {"redis", required_argument, NULL, O_REDIS},
        {"incidents", required_argument, NULL, O_INC},
        {"merge-share", required_argument, NULL, O_MERGE},
        {"rates", required_argument, NULL, O_RATES},
        {"rate-seconds", required_argument, NULL, O_RSECS},
        {"stages-per-process", required_argument, NULL, O_SPP},
        {"processes-per-stage", required_argument, NULL, O_PPS},
        {"partitions", required_argument, NULL, O_PARTS},
        {"set", required_argument, NULL, O_SET},
        {"bin", required_argument, NULL, O_BIN},
        {"kafka", required_argument, NULL, O_KAFKA},
        {"workdir", required_argument, NULL, O_WORKDIR},
        {"commands", required_argument, NULL, O_COMMANDS},
        {"command-incidents", required_argument, NULL, O_CMD_INC},
        {"connections", required_argument, NULL, O_CONNS},
        {"delivery-incidents", required_argument, NULL, O_DLV_INC},
        {"skip-commands", no_argument, NULL, O_SKIP_CMD},
        {"skip-deliveries", no_argument, NULL, O_SKIP_DLV},
        {"skip-relay", no_argument, NULL, O_SKIP_RELAY},
        {"skip-redis-benchmark", no_argument, NULL, O_SKIP_RB},
        {"keep", no_argument, NULL, O_KEEP},
        {"deadline", required_argument, NULL, O_DEADLINE},
        {"stall", required_argument, NULL, O_STALL},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case O_BROKERS:
            g_opt.brokers = optarg;
            break;
        case O_REDIS:
            g_opt.redis = optarg;
            break;
        case O_INC:
            g_opt.incidents = atol(optarg);
            break;
        case O_MERGE:
            g_opt.merge_share = atof(optarg);
            break;
        case O_RATES: {
            g_opt.n_rates = 0;
            char *copy = strdup(optarg), *save = NULL;
            for (char *t = strtok_r(copy, ",", &save); t && g_opt.n_rates < MAX_RATES;
                 t = strtok_r(NULL, ",", &save))
                if (atoi(t) > 0)
                    g_opt.rates[g_opt.n_rates++] = atoi(t);
            free(copy);
            break;
        }
        case O_RSECS:
            g_opt.rate_secs = atoi(optarg);
            break;
        case O_SPP:
            g_opt.stages_per_process = atoi(optarg);
            break;
        case O_PPS:
            g_opt.processes_per_stage = atoi(optarg);
            break;
        case O_PARTS:
            g_opt.partitions = atoi(optarg);
            break;
        case O_SET:
            if (g_opt.n_sets == MAX_SETS)
                bench_die("too many --set");
            g_opt.sets[g_opt.n_sets++] = optarg;
            break;
        case O_KAFKA:
            if (g_opt.n_kprops == MAX_SETS)
                bench_die("too many --kafka");
            g_opt.kprops[g_opt.n_kprops++] = optarg;
            break;
        case O_BIN:
            snprintf(g_opt.bin, sizeof(g_opt.bin), "%s", optarg);
            break;
        case O_WORKDIR:
            snprintf(g_opt.workdir, sizeof(g_opt.workdir), "%s", optarg);
            break;
        case O_COMMANDS:
            g_opt.stages.commands = atol(optarg);
            break;
        case O_CMD_INC:
            g_opt.stages.command_incidents = atol(optarg);
            break;
        case O_CONNS:
            g_opt.stages.connections = atoi(optarg);
            break;
        case O_DLV_INC:
            g_opt.stages.delivery_incidents = atol(optarg);
            break;
        case O_SKIP_CMD:
            g_opt.skip_commands = 1;
            break;
        case O_SKIP_DLV:
            g_opt.skip_deliveries = 1;
            break;
        case O_SKIP_RELAY:
            g_opt.skip_relay = 1;
            break;
        case O_SKIP_RB:
            g_opt.skip_redis_benchmark = 1;
            break;
        case O_KEEP:
            g_opt.keep = 1;
            break;
        case O_DEADLINE:
            g_opt.deadline_s = atoi(optarg);
            break;
        case O_STALL:
            g_opt.stall_s = atoi(optarg);
            break;
        case 'h':
        case O_HELP:
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind < argc) {
        usage(stderr);
        exit(2);
    }
    if (g_opt.incidents < 1 || g_opt.merge_share < 0 || g_opt.merge_share > 1 ||
        g_opt.rate_secs < 1 || g_opt.stages_per_process < 1 || g_opt.stages_per_process > 5 ||
        g_opt.processes_per_stage < 1 || g_opt.processes_per_stage > 8 || g_opt.partitions < 1 ||
        g_opt.deadline_s < 10 || g_opt.stall_s < 5 || g_opt.stages.commands < 1 ||
        g_opt.stages.command_incidents < 1 || g_opt.stages.connections < 1 ||
        g_opt.stages.connections > 32 || g_opt.stages.delivery_incidents < 1)
        bench_die("bad option value (see --help)");
    if (!g_opt.brokers)
        g_opt.brokers = testbed_value("INCIDENTD_TEST_BROKERS");
    if (!g_opt.redis)
        g_opt.redis = testbed_value("INCIDENTD_TEST_REDIS");
    if (!g_opt.brokers || !g_opt.redis)
        bench_die(
            "no Kafka/Redis: give --brokers and --redis, or INCIDENTD_TEST_BROKERS / "
            "INCIDENTD_TEST_REDIS, or INCIDENTD_TESTBED_ENV=<dir>/env of deploy/testbed.sh up");
    if (!g_opt.bin[0]) {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n <= 0)
            bench_die("cannot find my own directory: give --bin");
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        snprintf(g_opt.bin, sizeof(g_opt.bin), "%s", self);
    }
    if (!g_opt.workdir[0])
        snprintf(g_opt.workdir, sizeof(g_opt.workdir), "/tmp/incidentd-bench.%d", (int)getpid());
    g_opt.stages.stall_s = g_opt.stall_s;
    g_opt.stages.workdir = g_opt.workdir;
}

static const char *verdict(int ok) { return ok ? "PASS" : "GAP"; }

/* Redis round trips per committed batch of the four event stages
 * (classified ... resolved): their batches' own, timers and checks aside. */
static double event_stage_rt_per_batch(const tp_result_t *tp)
{
    double rt = 0, batches = 0;
    for (int s = 1; s < N_STAGES; s++) {
        rt += tp->m[s].batch_round_trips;
        batches += tp->m[s].batches;
    }
    /* An incidentd without incidentd_redis_batch_round_trips_total (--bin
     * of an older build): unknown. */
    return batches > 0 && rt > 0 ? rt / batches : -1;
}

/* The issue's targets, each a ratio (or a figure) of this very run. */
static void bench_targets(const tp_result_t *tp, const lat_result_t *lat, int n_lat,
                          const relay_result_t *tx, const relay_result_t *plain, long max_hwm,
                          double bytes_per_open)
{
    if (tx->msgs_per_s > 0) {
        double ratio = tp->incidents_per_s / tx->msgs_per_s;
        printf("%-62s %9.2f  %s\n", "incidents/s / transactional 5-hop relay msgs/s (>=0.6)", ratio,
               verdict(tp->ok && ratio >= 0.6));
    }
    if (plain->msgs_per_s > 0)
        printf("%-62s %9.2f  (info)\n", "incidents/s / plain relay msgs/s",
               tp->incidents_per_s / plain->msgs_per_s);
    if (tx->msgs_per_s > 0 && tx->arrived > 0 && tx->cpu_busy_s > 0 && tp->closed > 0 &&
        tp->cpu_busy_s > 0) {
        /* The most incidentd could do were it to use every core at the CPU
         * per incident it used (the whole machine's busy time: broker,
         * Redis and the bench included), over the relay's rate. */
        double inc_us = 1e6 * tp->cpu_busy_s / (double)tp->closed;
        double msg_us = 1e6 * tx->cpu_busy_s / (double)tx->arrived;
        double most = (double)sysconf(_SC_NPROCESSORS_ONLN) * 1e6 / inc_us;
        printf("%-62s %9.2f  (info: %.0f incidents/s at %.0f us of machine CPU each; the relay "
               "%.0f us per message)\n",
               "  the same at 100% of every core, at this CPU per incident", most / tx->msgs_per_s,
               most, inc_us, msg_us);
    }
    for (int i = 0; i < n_lat; i++)
        if (lat[i].rate == 1000 && tx->lat_rate > 0 && tx->lat_3hops.p99 > 0) {
            double ratio = lat[i].esc.p99 / tx->lat_3hops.p99;
            printf("%-62s %9.2f  %s\n",
                   "p99 trigger->escalated at 1000/s / relay's 3-hop p99 (<=1.5)", ratio,
                   verdict(lat[i].esc.n > 0 && ratio <= 1.5));
            printf("    (incidentd p99 %.1f ms, p50 %.1f ms; relay p99 %.1f ms, p50 %.1f ms, at "
                   "%d msgs/s)\n",
                   lat[i].esc.p99, lat[i].esc.p50, tx->lat_3hops.p99, tx->lat_3hops.p50,
                   tx->lat_rate);
        }
    double ev_rt = event_stage_rt_per_batch(tp);
    if (ev_rt >= 0) {
        printf("%-62s %9.2f  %s\n", "Redis round trips per batch, event stages (<=1)", ev_rt,
               verdict(ev_rt <= 1.0));
        printf("%-62s %9.2f  (info)\n", "Redis round trips per batch, detected stage",
               tp->m[0].batches > 0 ? tp->m[0].batch_round_trips / tp->m[0].batches : -1);
    } else {
        printf("%-62s %9s  (this incidentd does not count them; all round trips per batch, "
               "timers included: see the table above)\n",
               "Redis round trips per batch, event stages (<=1)", "n/a");
    }
    printf("%-62s %9.1f  %s\n", "peak RSS of the largest process, MiB (<=64)",
           (double)max_hwm / 1024.0, verdict(max_hwm > 0 && max_hwm <= 64 * 1024));
    if (tp->redis_info_cpu_s >= 0 && tp->closed > 0)
        printf("%-62s %9.1f  (info)\n", "Redis CPU per incident, us (INFO cpu)",
               1e6 * tp->redis_info_cpu_s / (double)tp->closed);
    if (tp->scripts > 0 && tp->closed > 0)
        printf("%-62s %9.1f  (info: %.1f us each, %.0f scripts/s)\n",
               "Redis scripts (EVALSHA) per incident", tp->scripts / (double)tp->closed,
               tp->script_usec / tp->scripts, tp->scripts / tp->total_s);
    if (bytes_per_open >= 0)
        printf("%-62s %9.0f  (info)\n", "Redis bytes per open incident (INFO used_memory)",
               bytes_per_open);
    printf("%-62s %9.0f  (info)\n", "incidents/s through all five stages", tp->incidents_per_s);
    printf("\n-- events/s per process (throughput phase) --\n");
    for (int i = 0; i < g_pipeline_nprocs; i++)
        printf("%-40s %10.0f events/s\n", g_procs[i].stages,
               (g_procs[i].consumed1 - g_procs[i].consumed0) / tp->total_s);
}

int main(int argc, char **argv)
{
    g_t0_us = bench_now_us();
    parse_args(argc, argv);
    g_deadline_us = g_t0_us + (int64_t)g_opt.deadline_s * 1000000;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_fatal_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Hard stop a minute after the deadline, whatever is blocking. */
    alarm((unsigned)g_opt.deadline_s + 60);
    atexit(kill_children_now);
    /* The webhook receiver's script (tests/receiver.c) is in the sources. */
    setenv("INCIDENTD_SOURCE_DIR", INCIDENTD_BENCH_SOURCE_DIR, 0);
    if (mkdir(g_opt.workdir, 0755) < 0 && errno != EEXIST)
        bench_die("mkdir %s: %s", g_opt.workdir, strerror(errno));
    char inc[PATH_MAX + 16];
    snprintf(inc, sizeof(inc), "%s/incidentd", g_opt.bin);
    if (access(inc, X_OK) != 0)
        bench_die("%s is not an executable (build first, or give --bin)", inc);
    gather_settings();

    char prefix[128];
    snprintf(prefix, sizeof(prefix), "bench%d-%" PRId64 ".", (int)getpid(),
             bench_wall_ms() % 100000000);
    char host[256];
    gethostname(host, sizeof(host) - 1);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    double load[3] = {0};
    if (getloadavg(load, 3) < 0)
        load[0] = -1;
    bench_say("incidentd-bench: brokers %s, redis %s, prefix %s, %ld cores, load %.2f; logs in %s",
              g_opt.brokers, g_opt.redis, prefix, cores, load[0], g_opt.workdir);

    bench_spawn_set(prefix, NULL, NULL);
    g_pipeline_nprocs = g_nprocs;

    {
        /* Warm-up: 100 incidents through all five stages, so that every
         * producer knows its topics and every consumer has fetched. */
        lat_run_t W;
        double pub_s;
        long sent, merges;
        bench_say("warm-up: 100 incidents through the pipeline");
        run_load(prefix, "W", 100, 0, 0.2, 120, &W, &pub_s, &sent, &merges);
        bench_say("warm-up: %ld/%ld closed", atomic_load(&W.n_close), sent);
        lat_free(&W);
    }
    tp_result_t tp;
    phase_throughput(prefix, &tp);

    lat_result_t lat[MAX_RATES];
    int n_lat = 0;
    for (int i = 0; i < g_opt.n_rates && !bench_past_deadline(); i++)
        phase_latency(prefix, g_opt.rates[i], &lat[n_lat++]);

    double bytes_per_open = bench_past_deadline() ? -1 : phase_open_incidents(prefix, 2000);
    sample_rss();
    for (int i = 0; i < g_pipeline_nprocs; i++) {
        long rss = proc_status_kb(g_procs[i].pid, "VmRSS");
        bench_say("incidentd pid %d (%s): VmHWM %ld KiB, VmRSS now %ld KiB", (int)g_procs[i].pid,
                  g_procs[i].stages, g_procs[i].hwm_kb, rss);
    }
    bench_set_stop();

    /* The newer stages, each on a set of its own. */
    bench_cmd_result_t cmds = {0};
    if (!g_opt.skip_commands && !bench_past_deadline())
        bench_commands_phase(prefix, &g_opt.stages, &cmds);
    bench_dlv_result_t dlv = {0};
    if (!g_opt.skip_deliveries && !bench_past_deadline())
        bench_deliveries_phase(prefix, &g_opt.stages, &dlv);

    relay_result_t relay_tx = {0}, relay_plain = {0};
    if (!g_opt.skip_relay && !bench_past_deadline())
        phase_relay(prefix, 1, g_opt.incidents, &relay_tx);
    if (!g_opt.skip_relay && !bench_past_deadline())
        phase_relay(prefix, 0, g_opt.incidents, &relay_plain);
    redis_bench_t rb = {0};
    if (!g_opt.skip_redis_benchmark && !bench_past_deadline())
        phase_redis_benchmark(&rb);

    /* ---- the report ---- */
    double total_events = 0, total_rt = 0, total_batches = 0;
    for (int s = 0; s < N_STAGES; s++) {
        total_events += tp.m[s].consumed;
        total_rt += tp.m[s].round_trips;
        total_batches += tp.m[s].batches;
    }
    long max_hwm = 0;
    for (int i = 0; i < g_pipeline_nprocs; i++)
        if (g_procs[i].hwm_kb > max_hwm)
            max_hwm = g_procs[i].hwm_kb;
    if (getloadavg(load, 3) < 0)
        load[0] = -1;

    printf("\n==== incidentd-bench results ====\n");
    printf("machine: %s, %ld cores, load average at the end %.2f (other work on the machine "
           "makes every figure noisy)\n",
           host, cores, load[0]);
    printf("pipeline: %d incidentd process(es) (%d stage(s) each, %d per stage group), %d "
           "partitions per topic, prefix %s\n",
           g_pipeline_nprocs, g_opt.stages_per_process, g_opt.processes_per_stage, g_opt.partitions,
           prefix);
    printf("\n-- throughput: %ld incidents (%ld alerts: triggers, %.0f%% merging triggers, "
           "resolves) --\n",
           tp.incidents, tp.alerts, g_opt.merge_share * 100);
    printf("closed %ld/%ld in %.2f s (publishing took %.2f s): %.0f incidents/s through all five "
           "stages, %.0f alerts/s; machine CPU busy %.0f%%\n",
           tp.closed, tp.incidents, tp.total_s, tp.publish_s, tp.incidents_per_s, tp.alerts_per_s,
           tp.cpu_util * 100);
    printf("%-11s %10s %12s %12s %9s %10s %11s %9s %9s %9s\n", "stage", "consumed", "events/s",
           "audit rec/s", "batches", "ev/batch", "redis RT", "RT/event", "batch RT", "conflicts");
    for (int s = 0; s < N_STAGES; s++) {
        const stage_metrics_t *m = &tp.m[s];
        printf("%-11s %10.0f %12.0f %12.0f %9.0f %10.1f %11.0f %9.3f %9.2f %9.0f\n", stage_names[s],
               m->consumed, tp.stage_events_per_s[s], tp.stage_records_per_s[s], m->batches,
               m->batches > 0 ? m->consumed / m->batches : 0, m->round_trips,
               m->consumed > 0 ? m->round_trips / m->consumed : 0,
               m->batches > 0 ? m->batch_round_trips / m->batches : 0, m->conflicts);
    }
    printf("%-11s %10.0f %12.0f %12s %9.0f %10.1f %11.0f %9.3f %9.2f\n", "all", total_events,
           total_events / tp.total_s, "", total_batches,
           total_batches > 0 ? total_events / total_batches : 0, total_rt,
           total_events > 0 ? total_rt / total_events : 0,
           total_batches > 0 ? total_rt / total_batches : 0);
    printf("%-11s %14s %18s %12s %16s %8s\n", "stage", "batch cycle ms", "processing ms/batch",
           "busy share", "commit ms/batch", "carried");
    for (int s = 0; s < N_STAGES; s++) {
        const stage_metrics_t *m = &tp.m[s];
        /* incidentd_processing_seconds_sum adds each batch's time from
         * decode to commit (Redis steps + produce + transaction commit)
         * once; the cycle also holds the gathering (poll, batch.ms). */
        double proc_ms = m->batches > 0 ? 1000 * m->proc_sum_s / m->batches : 0;
        double cycle_ms = m->batches > 0 ? 1000 * tp.total_s / m->batches : 0;
        /* the commit's own time (overlapped: on its thread; the worker
         * waited for commit_wait of it) */
        double commit_ms = m->batches > 0 ? 1000 * m->commit_s / m->batches : 0;
        printf("%-11s %14.1f %18.1f %11.0f%% %16.1f %8.0f\n", stage_names[s], cycle_ms, proc_ms,
               100 * m->proc_sum_s / tp.total_s, commit_ms, m->carried);
    }
    printf("trigger -> closed under this load: p50 %.0f ms, p99 %.0f ms, max %.0f ms\n",
           tp.lat_close.p50, tp.lat_close.p99, tp.lat_close.max);
    printf("CPU seconds per process during the throughput phase:");
    for (int i = 0; i < g_pipeline_nprocs; i++)
        printf(" %s %.1f s (%.0f%% of a core);", g_procs[i].stages,
               g_procs[i].cpu_s1 - g_procs[i].cpu_s0,
               100 * (g_procs[i].cpu_s1 - g_procs[i].cpu_s0) / tp.total_s);
    printf("\n");
    if (tp.broker_cpu_s >= 0 && tp.redis_cpu_s >= 0)
        printf(
            "CPU seconds of the test bed during the throughput phase: Kafka broker %.1f s (%.0f%% "
            "of a core), redis-server %.1f s (%.0f%% of a core)\n",
            tp.broker_cpu_s, 100 * tp.broker_cpu_s / tp.total_s, tp.redis_cpu_s,
            100 * tp.redis_cpu_s / tp.total_s);

    printf(
        "\n-- latency at fixed offered loads (ms; each trigger's resolve is sent when it is seen "
        "on incidents.escalated) --\n");
    printf("%-8s %-9s %-38s %8s %8s %8s %8s %8s\n", "offered", "achieved", "path", "n", "p50",
           "p99", "p99.9", "max");
    for (int i = 0; i < n_lat; i++) {
        const struct {
            const char *name;
            bench_pct_t *p;
        } rows[] = {
            {"trigger -> incidents.escalated (3 st.)", &lat[i].esc},
            {"resolve -> incidents.resolved", &lat[i].res},
            {"trigger -> closed (all 5 stages)", &lat[i].close},
        };
        for (size_t k = 0; k < 3; k++)
            printf("%-8d %-9.0f %-38s %8ld %8.1f %8.1f %8.1f %8.1f\n", lat[i].rate,
                   lat[i].achieved_rate, rows[k].name, rows[k].p->n, rows[k].p->p50, rows[k].p->p99,
                   rows[k].p->p999, rows[k].p->max);
        if (lat[i].close.n < lat[i].sent)
            printf("         (%ld of %ld incidents not closed within 15 s of the last send)\n",
                   lat[i].sent - lat[i].close.n, lat[i].sent);
    }

    printf("\n-- peak RSS (VmHWM) per incidentd process --\n");
    for (int i = 0; i < g_pipeline_nprocs; i++)
        printf("%-40s %8.1f MiB\n", g_procs[i].stages, (double)g_procs[i].hwm_kb / 1024.0);

    bench_commands_print(&cmds);
    bench_deliveries_print(&dlv);

    printf("\n-- the limit on this machine --\n");
    if (relay_tx.msgs)
        printf("bare relay, transactional (like incidentd), %d hops: %.0f msgs/s end to end "
               "(%ld/%ld in %.2f s; batches of up to %d within %d ms, incidentd's batch.max "
               "and batch.ms)\n",
               RELAY_HOPS, relay_tx.msgs_per_s, relay_tx.arrived, relay_tx.msgs, relay_tx.secs,
               g_opt.gather_max, g_opt.gather_ms);
    if (relay_tx.commits)
        printf("  its transactions: %ld commits, %.1f ms each on average (send offsets + commit, "
               "acks=all delivery included)\n",
               relay_tx.commits, (double)relay_tx.commit_us / 1000.0 / (double)relay_tx.commits);
    if (relay_plain.msgs)
        printf("bare relay, plain (idempotent, async offset commit), %d hops: %.0f msgs/s end to "
               "end (%ld/%ld in %.2f s)\n",
               RELAY_HOPS, relay_plain.msgs_per_s, relay_plain.arrived, relay_plain.msgs,
               relay_plain.secs);
    if (rb.ok)
        printf("redis-benchmark -P 16: SET %.0f/s, GET %.0f/s; incidentd used %.0f round trips/s "
               "(%.3f per event)\n",
               rb.set_rps, rb.get_rps, total_rt / tp.total_s,
               total_events > 0 ? total_rt / total_events : 0);

    printf("\n-- targets: ratios measured in this run --\n");
    bench_targets(&tp, lat, n_lat, &relay_tx, &relay_plain, max_hwm, bytes_per_open);
    printf("\nlogs: %s\n", g_opt.workdir);
    fflush(stdout);
    if (!g_opt.keep) {
        delete_topics(prefix);
        delete_redis_keys(prefix, rb.ok);
    }
    return tp.ok && !cmds.ended[0] && !dlv.ended[0] ? 0 : 1;
}
