#include "core/log.h"

#include "core/util.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

_Atomic int tg_log_level = TG_LOG_INFO;
int tg_log_format = TG_LOG_TEXT;

void tg_log(int level, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    char msg[1024], line[2200];
    struct timespec ts;
    struct tm tm;
    va_list ap;

    if (level < tg_log_level)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int n = snprintf(line, sizeof(line),
                     tg_log_format == TG_LOG_JSON
                         ? "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\","
                           "\"msg\":\""
                         : "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, names[level & 3]);
    if (tg_log_format == TG_LOG_JSON) {
        n = (int)tg_json_escape(line, sizeof(line) - 3, (size_t)n, msg);
        memcpy(line + n, "\"}", 3);
    } else {
        snprintf(line + n, sizeof(line) - (size_t)n, "%s", msg);
    }
    fprintf(stderr, "%s\n", line); /* one write per line: atomic for lines < PIPE_BUF */
}

/* ---- the access log's writer ---- */

#define RING (4u << 20)

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    char *buf;        /* RING bytes; [head, head + used) wrapping */
    size_t head, used;
    int fd, on, stop;
    atomic_ullong dropped;
} A = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

int tg_log_access_on(void) { return A.on; }
unsigned long long tg_log_access_dropped(void) { return atomic_load(&A.dropped); }

void tg_log_access(const char *line, size_t n)
{
    if (!A.on)
        return;
    pthread_mutex_lock(&A.lock);
    if (n > RING - A.used) {
        pthread_mutex_unlock(&A.lock);
        atomic_fetch_add(&A.dropped, 1);
        return;
    }
    size_t tail = (A.head + A.used) % RING, first = n < RING - tail ? n : RING - tail;
    memcpy(A.buf + tail, line, first);
    memcpy(A.buf, line + first, n - first);
    A.used += n;
    pthread_cond_signal(&A.cond);
    pthread_mutex_unlock(&A.lock);
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* standard error is gone: nothing to do about it */
        p += w, n -= (size_t)w;
    }
}

static void *writer(void *unused)
{
    char chunk[PIPE_BUF];
    (void)unused;
    pthread_mutex_lock(&A.lock);
    for (;;) {
        while (!A.used && !A.stop)
            pthread_cond_wait(&A.cond, &A.lock);
        if (!A.used && A.stop)
            break;
        /* whole lines, at most PIPE_BUF bytes (a longer line goes alone, cut into pieces) */
        size_t take = 0, last_nl = 0;
        while (take < A.used && take < sizeof(chunk)) {
            chunk[take] = A.buf[(A.head + take) % RING];
            if (chunk[take++] == '\n')
                last_nl = take;
        }
        if (last_nl)
            take = last_nl;
        A.head = (A.head + take) % RING;
        A.used -= take;
        pthread_mutex_unlock(&A.lock);
        write_all(A.fd, chunk, take);
        pthread_mutex_lock(&A.lock);
    }
    pthread_mutex_unlock(&A.lock);
    return NULL;
}

int tg_log_access_start(int fd)
{
    if (A.on)
        return 0;
    if (!(A.buf = malloc(RING)))
        return -1;
    A.fd = fd;
    A.head = A.used = 0;
    A.stop = 0;
    if (pthread_create(&A.thread, NULL, writer, NULL) != 0) {
        free(A.buf);
        A.buf = NULL;
        return -1;
    }
    A.on = 1;
    return 0;
}

void tg_log_access_stop(void)
{
    if (!A.on)
        return;
    pthread_mutex_lock(&A.lock);
    A.stop = 1;
    pthread_cond_signal(&A.cond);
    pthread_mutex_unlock(&A.lock);
    pthread_join(A.thread, NULL);
    A.on = 0;
    free(A.buf);
    A.buf = NULL;
}
