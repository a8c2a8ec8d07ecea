/*
 * ctl_out.c — incidentctl's output helpers; see ctl_out.h. Owned by the
 * ctl room.
 *
 * @locality incidentctl's main thread
 */
#include "ctl_out.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl_text.h"

static void ctl_verr(const ctl_t *c, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void ctl_verr(const ctl_t *c, const char *fmt, va_list ap)
{
    fprintf(stderr, "incidentctl%s%s: ", c && c->cmd ? " " : "", c && c->cmd ? c->cmd : "");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void ctl_err(const ctl_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ctl_verr(c, fmt, ap);
    va_end(ap);
}

void ctl_warn_partial(const ctl_t *c, const char *topic, const char *why)
{
    ctl_err(c, "warning: %s read only up to the last committed record (%s)", topic, why);
}

int ctl_usage_error(const ctl_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ctl_verr(c, fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try 'incidentctl %s --help'.\n", c->cmd);
    return CTL_EXIT_USAGE;
}

void ctl_decide_color(ctl_t *c)
{
    const char *nc = getenv("NO_COLOR");
    c->color = !c->no_color && !c->json && !(nc && *nc) && isatty(STDOUT_FILENO);
}

const char *ctl_color_severity(Incident__V1__Severity s)
{
    switch (s) {
    case INCIDENT__V1__SEVERITY__SEVERITY_CRITICAL:
        return CTL_C_BRED;
    case INCIDENT__V1__SEVERITY__SEVERITY_MAJOR:
        return CTL_C_RED;
    case INCIDENT__V1__SEVERITY__SEVERITY_MINOR:
    case INCIDENT__V1__SEVERITY__SEVERITY_WARNING:
        return CTL_C_YELLOW;
    default:
        return CTL_C_DIM;
    }
}

const char *ctl_color_status(Incident__V1__Status s)
{
    switch (s) {
    case INCIDENT__V1__STATUS__STATUS_OPEN:
        return CTL_C_YELLOW;
    case INCIDENT__V1__STATUS__STATUS_ACKNOWLEDGED:
        return CTL_C_CYAN;
    case INCIDENT__V1__STATUS__STATUS_RESOLVED:
        return CTL_C_GREEN;
    default:
        return CTL_C_DIM;
    }
}

void ctl_cell(const ctl_t *c, FILE *out, const char *text, const char *color, int width)
{
    text = ctl_text_safe(text); /* never a sender's control bytes to the terminal */
    int len = (int)strlen(text);
    if (c->color && color)
        fprintf(out, "%s%s%s", color, text, CTL_C_OFF);
    else
        fputs(text, out);
    for (int i = len; i < width; i++)
        fputc(' ', out);
}

int ctl_width(int width, const char *text)
{
    int len = (int)strlen(ctl_text_safe(text));
    return len > width ? len : width;
}

void ctl_json_print(cJSON *j)
{
    char *s = j ? cJSON_Print(j) : NULL;
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    cJSON_Delete(j);
}

void ctl_json_print_line(cJSON *j)
{
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    if (s)
        printf("%s\n", s);
    free(s);
    cJSON_Delete(j);
}

const char *ctl_time(int64_t ms, char *buf, size_t size)
{
    if (ms <= 0) {
        snprintf(buf, size, "-");
        return buf;
    }
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char tmp[128]; /* as wide as the compiler thinks the fields can get */
    snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    size_t len = strlen(tmp) < size ? strlen(tmp) : size - 1;
    memcpy(buf, tmp, len);
    buf[len] = '\0';
    return buf;
}

const char *ctl_age(int64_t ms, char *buf, size_t size)
{
    if (ms < 0)
        ms = 0;
    int64_t s = ms / 1000;
    if (s < 60)
        snprintf(buf, size, "%" PRId64 "s", s);
    else if (s < 3600)
        snprintf(buf, size, "%" PRId64 "m", s / 60);
    else if (s < 86400)
        snprintf(buf, size, "%" PRId64 "h%02" PRId64 "m", s / 3600, (s % 3600) / 60);
    else
        snprintf(buf, size, "%" PRId64 "d%02" PRId64 "h", s / 86400, (s % 86400) / 3600);
    return buf;
}

/* ---- progress bar ------------------------------------------------------------------ */

static int64_t ctl_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ctl_progress_t ctl_progress_init(const ctl_t *c, const char *what)
{
    ctl_progress_t p = {.on = !c->json && isatty(STDERR_FILENO), .what = what};
    return p;
}

void ctl_progress_draw(uint64_t done, uint64_t total, void *opaque)
{
    ctl_progress_t *p = opaque;
    if (!p->on)
        return;
    int64_t now = ctl_mono_ms();
    if (p->drawn && now - p->last_ms < 100 && done < total)
        return;
    p->last_ms = now;
    p->drawn = 1;
    const int width = 30;
    int fill = total ? (int)((double)done / (double)total * width) : width;
    if (fill > width)
        fill = width;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\r%s [%s] %" PRIu64 "/%" PRIu64 " records", p->what, bar, done, total);
    fflush(stderr);
}

void ctl_progress_end(ctl_progress_t *p)
{
    if (p->on && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
}
