/* tollgate serve's options (see cli_int.h). One table drives the command line, the config
 * file, the checks of each value and what a SIGHUP may change while the server runs. */
#include "cli/cli_int.h"

#include "api/api.h"
#include "core/log.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tg_serve_str {
    tg_serve_str_t *next;
    char s[];
};

enum { T_STR, T_NUM, T_ENUM };

typedef struct {
    const char *name;
    int type;
    size_t off;  /* of the field in tg_serve_opts_t */
    long min, max;                 /* T_NUM */
    const char *const *choices;    /* T_ENUM, NULL-terminated */
    int live;    /* a SIGHUP applies it; otherwise it needs a restart */
    int secret;  /* its value is never logged */
} optdef_t;

static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const signups[] = {"open", "invite", "closed", NULL};
static const char *const payments[] = {"test", "stripe", NULL};
static const char *const formats[] = {"json", "text", NULL};
static const char *const onoff[] = {"on", "off", NULL};

#define S(f) T_STR, offsetof(tg_serve_opts_t, f), 0, 0, NULL
#define N(f, lo, hi) T_NUM, offsetof(tg_serve_opts_t, f), lo, hi, NULL
#define E(f, c) T_ENUM, offsetof(tg_serve_opts_t, f), 0, 0, c

static const optdef_t defs[] = {
    {"listen", S(listen), 0, 0},
    {"db", S(db), 0, 1}, /* may hold a PostgreSQL password */
    {"redis", S(redis), 0, 1},
    {"workers", N(workers, 1, 256), 0, 0},
    {"max-connections", N(max_connections, 1, 10000000), 0, 0},
    {"max-body-bytes", N(max_body, 1024, 1L << 30), 1, 0},
    {"max-header-bytes", N(max_header, 1024, 1L << 20), 1, 0},
    {"upstream-timeout-ms", N(upstream_timeout, 100, 86400000), 1, 0},
    {"idle-timeout-ms", N(idle_timeout, 100, 86400000), 1, 0},
    {"breaker-failures", N(breaker_failures, 1, 1000), 1, 0},
    {"breaker-cooldown-ms", N(breaker_cooldown, 100, 86400000), 1, 0},
    {"shutdown-timeout-ms", N(shutdown_timeout, 0, 86400000), 1, 0},
    {"log-level", E(log_level, levels), 1, 0},
    {"smtp-url", S(smtp_url), 1, 1}, /* may hold the SMTP password */
    {"smtp-from", S(smtp_from), 1, 0},
    {"alert-retry-ms", N(alert_retry_ms, 1, 3600000), 1, 0},
    {"payments", E(payments, payments), 0, 0},
    {"stripe-url", S(stripe_url), 0, 0},
    {"stripe-key", S(stripe_key), 0, 1},
    {"stripe-webhook-secret", S(stripe_webhook_secret), 0, 1},
    {"stripe-publishable-key", S(stripe_pk), 0, 0},
    {"signup", E(signup, signups), 1, 0},
    {"tls-cert", S(tls_cert), 1, 0},
    {"tls-key", S(tls_key), 1, 0},
    {"log-format", E(log_format, formats), 0, 0},
    {"access-log", E(access_log, onoff), 0, 0},
    {"master-key-file", S(master_key_file), 0, 0},
};
#define NDEFS (sizeof(defs) / sizeof(defs[0]))
#define OPT_CONFIG 1000
#define OPT_HELP 1001

static const char **str_at(tg_serve_opts_t *o, const optdef_t *d)
{
    return (const char **)(void *)((char *)o + d->off);
}

static long *num_at(tg_serve_opts_t *o, const optdef_t *d)
{
    return (long *)(void *)((char *)o + d->off);
}

static void fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static const char *keep(tg_serve_opts_t *o, const char *s)
{
    size_t n = strlen(s) + 1;
    tg_serve_str_t *k = malloc(sizeof(*k) + n);
    if (!k)
        return NULL;
    memcpy(k->s, s, n);
    k->next = o->strs;
    o->strs = k;
    return k->s;
}

void tg_cli__opts_dispose(tg_serve_opts_t *o)
{
    for (tg_serve_str_t *k = o->strs, *next; k; k = next) {
        next = k->next;
        free(k);
    }
    o->strs = NULL;
}

/* One option's value: checked, then stored (a string borrows `v`). `where` prefixes the
 * message ("FILE:LINE: " or ""). */
static int set(tg_serve_opts_t *o, const optdef_t *d, const char *v, const char *where, char *err,
               size_t cap)
{
    if (d->type == T_NUM) {
        char *end;
        errno = 0;
        long x = strtol(v, &end, 10);
        if (errno || *end || end == v || x < d->min || x > d->max) {
            fail(err, cap, "%s--%s must be an integer from %ld to %ld", where, d->name, d->min,
                 d->max);
            return -1;
        }
        *num_at(o, d) = x;
        return 0;
    }
    if (d->type == T_ENUM) {
        size_t i;
        for (i = 0; d->choices[i] && strcmp(d->choices[i], v); i++)
            ;
        if (!d->choices[i]) {
            char list[128] = "";
            for (size_t j = 0; d->choices[j]; j++)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                         j == 0 ? "" : d->choices[j + 1] ? ", " : " or ", d->choices[j]);
            fail(err, cap, "%s--%s must be %s", where, d->name, list);
            return -1;
        }
    }
    *str_at(o, d) = v;
    return 0;
}

static const optdef_t *find(const char *name)
{
    for (size_t i = 0; i < NDEFS; i++)
        if (!strcmp(defs[i].name, name))
            return &defs[i];
    return NULL;
}

#define LINE_MAX_BYTES 4096

/* `name = value` lines; # starts a comment line. Strict: an unknown name, a name given twice, a
 * missing or bad value, a line without `=` or longer than LINE_MAX_BYTES (its newline aside)
 * are errors naming the line. */
static int read_file(const char *path, tg_serve_opts_t *o, int seen[NDEFS], char *err, size_t cap)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    int lineno = 0, rc = -1;
    if (!f) {
        fail(err, cap, "cannot read --config %s: %s", path, strerror(errno));
        return -1;
    }
    while ((len = getline(&line, &lcap, f)) >= 0) {
        char *p = line, *eq, *k, *v;
        lineno++;
        if (len - (line[len - 1] == '\n') > LINE_MAX_BYTES) {
            fail(err, cap, "%s:%d: line longer than %d bytes", path, lineno, LINE_MAX_BYTES);
            goto out;
        }
        if ((size_t)len != strlen(line)) {
            fail(err, cap, "%s:%d: NUL byte in the line", path, lineno);
            goto out;
        }
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == '\n' || *p == '\r' || *p == '\0')
            continue;
        if (!(eq = strchr(p, '='))) {
            fail(err, cap, "%s:%d: expected `option = value`", path, lineno);
            goto out;
        }
        *eq = '\0';
        k = p;
        v = eq + 1;
        for (char *e = eq - 1; e >= k && (*e == ' ' || *e == '\t'); e--)
            *e = '\0';
        while (*v == ' ' || *v == '\t')
            v++;
        v[strcspn(v, "\r\n")] = '\0';
        for (char *e = v + strlen(v) - 1; e >= v && (*e == ' ' || *e == '\t'); e--)
            *e = '\0';
        char where[4200];
        snprintf(where, sizeof(where), "%s:%d: ", path, lineno);
        if (!strcmp(k, "config")) {
            fail(err, cap, "%s--config cannot be nested", where);
            goto out;
        }
        const optdef_t *d = find(k);
        if (!d) {
            fail(err, cap, "%sunknown option `%s` (the names of tollgate serve --help, "
                           "without --)", where, k);
            goto out;
        }
        if (seen[d - defs]) {
            fail(err, cap, "%s`%s` is already set on line %d", where, k, seen[d - defs]);
            goto out;
        }
        seen[d - defs] = lineno;
        if (!*v) {
            fail(err, cap, "%s`%s` has no value", where, k);
            goto out;
        }
        const char *kept = keep(o, v);
        if (!kept) {
            fail(err, cap, "%sout of memory", where);
            goto out;
        }
        if (set(o, d, kept, where, err, cap) < 0)
            goto out;
    }
    if (ferror(f)) {
        fail(err, cap, "cannot read --config %s: %s", path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    free(line);
    fclose(f);
    return rc;
}

int tg_cli__opts_load(int argc, char **argv, tg_serve_opts_t *o, char *err, size_t cap)
{
    struct option lopts[NDEFS + 3];
    int ch, idx, seen[NDEFS] = {0};

    memset(o, 0, sizeof(*o));
    o->listen = "127.0.0.1:8080";
    o->db = "sqlite:./tollgate.db";
    o->log_level = "info";
    o->signup = "invite";
    o->access_log = "on";
    o->payments = "test";
    o->max_body = 32L << 20;
    o->max_header = 64L << 10;
    o->upstream_timeout = 600000;
    o->breaker_failures = 5;
    o->breaker_cooldown = 30000;
    o->idle_timeout = 60000;
    o->shutdown_timeout = 30000;
    o->alert_retry_ms = 1000;
    for (size_t i = 0; i < NDEFS; i++)
        lopts[i] = (struct option){defs[i].name, required_argument, NULL, (int)i};
    lopts[NDEFS] = (struct option){"config", required_argument, NULL, OPT_CONFIG};
    lopts[NDEFS + 1] = (struct option){"help", no_argument, NULL, OPT_HELP};
    lopts[NDEFS + 2] = (struct option){NULL, 0, NULL, 0};

    /* The file first (the command line overrides it): find --config. */
    optind = 0; /* glibc: 0 re-initialises getopt completely between parses */
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "", lopts, &idx)) != -1) {
        if (ch == OPT_HELP)
            return 1;
        if (ch == OPT_CONFIG) {
            if (o->config) {
                fail(err, cap, "--config is given twice");
                return -1;
            }
            o->config = optarg;
        }
    }
    if (o->config && read_file(o->config, o, seen, err, cap) < 0)
        return -1;
    optind = 0;
    while ((ch = getopt_long(argc, argv, "", lopts, &idx)) != -1) {
        if (ch == OPT_CONFIG)
            continue;
        if (ch < 0 || ch >= (int)NDEFS) {
            fail(err, cap, "unknown or incomplete option %s (see --help)", argv[optind - 1]);
            return -1;
        }
        if (set(o, &defs[ch], optarg, "", err, cap) < 0)
            return -1;
        if (seen[ch]) { /* said once per load, so that a file's edit is not silently ignored */
            tg_info("%s:%d: `%s` is overridden by --%s on the command line", o->config,
                    seen[ch], defs[ch].name, defs[ch].name);
            seen[ch] = 0;
        }
    }
    if (optind < argc) {
        fail(err, cap, "unexpected argument %s (see --help)", argv[optind]);
        return -1;
    }
    if (!o->tls_cert != !o->tls_key) {
        fail(err, cap, "--tls-cert and --tls-key go together");
        return -1;
    }
    return 0;
}

static void show(const tg_serve_opts_t *o, const optdef_t *d, char *out, size_t cap)
{
    if (d->type == T_NUM) {
        snprintf(out, cap, "%ld", *num_at((tg_serve_opts_t *)o, d));
        return;
    }
    const char *s = *str_at((tg_serve_opts_t *)o, d);
    snprintf(out, cap, "%s", s ? s : "(none)");
}

static int same(const tg_serve_opts_t *a, const tg_serve_opts_t *b, const optdef_t *d)
{
    if (d->type == T_NUM)
        return *num_at((tg_serve_opts_t *)a, d) == *num_at((tg_serve_opts_t *)b, d);
    const char *x = *str_at((tg_serve_opts_t *)a, d), *y = *str_at((tg_serve_opts_t *)b, d);
    return x == y || (x && y && !strcmp(x, y));
}

int tg_cli__opts_diff(const tg_serve_opts_t *cur, tg_serve_opts_t *next)
{
    int live = 0;
    /* TLS can be turned on or off only by a restart; its files may change live */
    int tls_flip = !cur->tls_cert != !next->tls_cert;
    for (size_t i = 0; i < NDEFS; i++) {
        const optdef_t *d = &defs[i];
        char was[512], now[512];
        if (same(cur, next, d))
            continue;
        show(cur, d, was, sizeof(was));
        show(next, d, now, sizeof(now));
        int can = d->live && !(tls_flip && (!strcmp(d->name, "tls-cert") ||
                                            !strcmp(d->name, "tls-key")));
        if (can) {
            live++;
            if (d->secret)
                tg_info("reload: %s changed (value not shown)", d->name);
            else
                tg_info("reload: %s: %s -> %s", d->name, was, now);
            continue;
        }
        if (d->secret)
            tg_warn("reload: %s changed, but only a restart applies it; keeping the running "
                    "value", d->name);
        else
            tg_warn("reload: %s: %s -> %s needs a restart; keeping %s until then", d->name,
                    was, now, was);
        if (d->type == T_NUM) {
            *num_at(next, d) = *num_at((tg_serve_opts_t *)cur, d);
        } else {
            const char *v = *str_at((tg_serve_opts_t *)cur, d);
            *str_at(next, d) = v ? keep(next, v) : NULL;
            if (v && !*str_at(next, d))
                *str_at(next, d) = v; /* out of memory: borrow (the running one stays) */
        }
    }
    return live;
}

int tg_cli__opts_log_level(const tg_serve_opts_t *o)
{
    for (int i = 0; levels[i]; i++)
        if (!strcmp(levels[i], o->log_level))
            return TG_LOG_DEBUG + i;
    return TG_LOG_INFO;
}

int tg_cli__opts_signup(const tg_serve_opts_t *o)
{
    return !strcmp(o->signup, "open")     ? TG_SIGNUP_OPEN
           : !strcmp(o->signup, "closed") ? TG_SIGNUP_CLOSED
                                          : TG_SIGNUP_INVITE;
}
