/*
 * fuzz_config.c — libFuzzer target of the configuration file parser
 * (daemon/common/config.c): any bytes are written to an in-memory file and loaded
 * with config_load() as `incidentd --config <file>` would; the result is
 * printed (config_print) and destroyed (config_destroy). A load either
 * succeeds or fails with a message, never crashes and never leaks (the
 * leak check of ASan runs after every input). Seeds: corpus/fuzz_config/,
 * plus deploy/incidentd.conf (added by deploy/dev.sh fuzz).
 *
 * Every INCIDENTD_* variable is removed from the environment first: the
 * environment is a source of config_load() and would make a finding
 * depend on the shell that ran the fuzzer.
 */
#define _GNU_SOURCE /* memfd_create */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern char **environ;

static int conf_fd = -1;   /* the in-memory config file */
static char conf_path[64]; /* its name in /proc/self/fd */
static FILE *sink;         /* /dev/null, for config_print */

/* Removes every INCIDENTD_* variable (unsetenv changes environ: restart). */
static void env_clear(void)
{
    for (int again = 1; again;) {
        again = 0;
        for (char **ep = environ; ep && *ep; ep++) {
            if (strncmp(*ep, "INCIDENTD_", 10) != 0)
                continue;
            const char *eq = strchr(*ep, '=');
            size_t n = eq ? (size_t)(eq - *ep) : strlen(*ep);
            char name[256];
            if (n >= sizeof(name))
                abort();
            memcpy(name, *ep, n);
            name[n] = '\0';
            unsetenv(name);
            again = 1;
            break;
        }
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    env_clear();
    conf_fd = memfd_create("incidentd-fuzz.conf", MFD_CLOEXEC);
    if (conf_fd < 0) {
        perror("fuzz_config: memfd_create");
        abort();
    }
    snprintf(conf_path, sizeof(conf_path), "/proc/self/fd/%d", conf_fd);
    sink = fopen("/dev/null", "w");
    if (!sink) {
        perror("fuzz_config: /dev/null");
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ftruncate(conf_fd, 0) != 0)
        abort();
    for (size_t off = 0; off < size;) {
        ssize_t n = pwrite(conf_fd, data + off, size - off, (off_t)off);
        if (n <= 0)
            abort();
        off += (size_t)n;
    }

    char *argv[] = {"incidentd", "--config", conf_path, NULL};
    config_t cfg;
    char err[1024];
    int rc = config_load(&cfg, 3, argv, err, sizeof(err));
    if (rc == 0) {
        config_print(&cfg, sink);
    } else if (rc != -1 || !err[0]) {
        fprintf(stderr, "fuzz_config: config_load returned %d (%s)\n", rc, err);
        abort(); /* only --help and the like may return 1; an error has a message */
    }
    config_destroy(&cfg);
    return 0;
}
