#include "core/util.h"

#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

int64_t tg_now_override;

void tg__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}

int64_t tg_now(void)
{
    if (tg_now_override)
        return tg_now_override;
    return (int64_t)time(NULL);
}

uint64_t tg_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void tg_random_id(char *out, const char *prefix, size_t nchars)
{
    static const char alphabet[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    size_t plen = strlen(prefix);
    memcpy(out, prefix, plen);
    for (size_t i = 0; i < nchars; i++)
        out[plen + i] = alphabet[randombytes_uniform(62)];
    out[plen + nchars] = '\0';
}

void tg_request_id(char out[37])
{
    /* 48 bits of milliseconds, then 80 random bits: ids sort by time, so the usage table
     * (keyed by request id) grows at its end instead of at random pages. Randomness comes
     * from a per-thread pool refilled from the OS every 25 ids (ids are not secrets). */
    static __thread unsigned char pool[250];
    static __thread size_t used = sizeof(pool);
    unsigned char raw[16];
    struct timespec ts;
    uint64_t ms;

    clock_gettime(CLOCK_REALTIME, &ts);
    ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    for (int i = 0; i < 6; i++)
        raw[i] = (unsigned char)(ms >> (40 - 8 * i));
    if (used + 10 > sizeof(pool)) {
        randombytes_buf(pool, sizeof(pool));
        used = 0;
    }
    memcpy(raw + 6, pool + used, 10);
    used += 10;
    memcpy(out, "req_", 4);
    sodium_bin2hex(out + 4, 33, raw, sizeof(raw));
}

int tg_parse_nanos(const char *s, size_t len, int64_t *out)
{
    int64_t whole = 0, frac = 0;
    size_t i = 0, fdigits = 0;

    if (len == 0)
        return -1;
    for (; i < len && s[i] != '.'; i++) {
        if (s[i] < '0' || s[i] > '9' || whole > INT64_MAX / 1000000000)
            return -1;
        whole = whole * 10 + (s[i] - '0');
    }
    if (i == 0)
        return -1;
    if (i < len) { /* fractional part */
        i++;
        if (i == len)
            return -1;
        for (; i < len; i++, fdigits++) {
            if (s[i] < '0' || s[i] > '9' || fdigits == 9)
                return -1;
            frac = frac * 10 + (s[i] - '0');
        }
    }
    for (; fdigits < 9; fdigits++)
        frac *= 10;
    /* INT64_MAX is 9223372036.854775807 units of 10^9 */
    if (whole > INT64_MAX / 1000000000 ||
        (whole == INT64_MAX / 1000000000 && frac > INT64_MAX % 1000000000))
        return -1;
    *out = whole * 1000000000 + frac;
    return 0;
}

void tg_format_nanos(int64_t nanos, char out[32])
{
    const char *sign = "";
    uint64_t v = (uint64_t)nanos;
    if (nanos < 0) {
        sign = "-";
        v = (uint64_t)0 - v;
    }
    uint64_t whole = v / 1000000000u, frac = v % 1000000000u;
    if (frac == 0) {
        snprintf(out, 32, "%s%llu", sign, (unsigned long long)whole);
        return;
    }
    char fbuf[10];
    snprintf(fbuf, sizeof(fbuf), "%09llu", (unsigned long long)frac);
    for (int i = 8; i > 0 && fbuf[i] == '0'; i--)
        fbuf[i] = '\0';
    snprintf(out, 32, "%s%llu.%s", sign, (unsigned long long)whole, fbuf);
}

int tg_slice_eq_ci(const char *p, size_t len, const char *s)
{
    return strlen(s) == len && strncasecmp(p, s, len) == 0;
}

int tg_double_to_i64(double d, int64_t *out)
{
    if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0)) /* NaN fails both */
        return -1;
    int64_t x = (int64_t)d;
    if ((double)x != d)
        return -1;
    *out = x;
    return 0;
}

void tg_fsync_dir(const char *path)
{
    char copy[4200];
    snprintf(copy, sizeof(copy), "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

size_t tg_json_escape(char *out, size_t cap, size_t n, const char *s)
{
    for (; *s && n + 7 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            out[n++] = '\\';
            out[n++] = (char)ch;
        } else if (ch < 0x20) {
            n += (size_t)snprintf(out + n, cap - n, "\\u%04x", ch);
        } else {
            out[n++] = (char)ch;
        }
    }
    out[n] = '\0';
    return n;
}
