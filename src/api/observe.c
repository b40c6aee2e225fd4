/* What the operator sees of each request: the Prometheus counters and histograms, and the
 * access log line (SPEC.md §8). Both are written once, when a call ends (tg_observe_end,
 * from tg_call_free), from what the call already knows.
 *
 * Cheap on the hot path: each worker owns its counters and is their only writer; a scrape sums
 * every worker's. A counter is an _Atomic uint64_t written with a relaxed load and store (no
 * lock prefix: one writer) and read with a relaxed load, so a scrape reads each value whole.
 * Labelled series live in fixed tables that never move: a slot's label is written first and
 * published by a release store of its `used` flag, so a reader that sees the flag sees the
 * label. Tables never grow; a series that does not fit is counted under "other".
 *
 * Both run after the answer was handed to the HTTP server: c->req is no longer there.
 *
 * Labels are bounded by what the operator configured: route patterns (never raw paths, which
 * may hold a token), models of the model table, provider ids, status codes, error codes. No
 * organisation, project or key id is ever a label. */
#include "api/api_int.h"

#include "billing/usage.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "providers/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- names: models and providers, interned once for the process ---- */

#define NAMES_MAX 512 /* per kind; beyond, the series is "other" */
#define NAME_LEN 96

typedef struct {
    _Atomic int n;
    char s[NAMES_MAX][NAME_LEN];
    pthread_mutex_t lock; /* adding only */
} names_t;

static names_t models = {.lock = PTHREAD_MUTEX_INITIALIZER};
static names_t providers = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The index of name in t, added if new; NAMES_MAX when the table is full ("other"). A name is
 * written before n is published, and never changes. */
static int intern(names_t *t, const char *name)
{
    int n = atomic_load_explicit(&t->n, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (strncmp(t->s[i], name, NAME_LEN) == 0)
            return i;
    pthread_mutex_lock(&t->lock);
    n = atomic_load_explicit(&t->n, memory_order_relaxed);
    int i = 0;
    while (i < n && strncmp(t->s[i], name, NAME_LEN) != 0)
        i++;
    if (i == n && n < NAMES_MAX) {
        snprintf(t->s[n], NAME_LEN, "%s", name);
        atomic_store_explicit(&t->n, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&t->lock);
    return i < NAMES_MAX ? i : NAMES_MAX;
}

static const char *name_of(names_t *t, int i) { return i < NAMES_MAX ? t->s[i] : "other"; }

/* ---- one worker's counters ---- */

typedef _Atomic uint64_t ctr_t;

static inline void bump(ctr_t *x, uint64_t by)
{
    atomic_store_explicit(x, atomic_load_explicit(x, memory_order_relaxed) + by,
                          memory_order_relaxed);
}

static inline uint64_t get(ctr_t *x) { return atomic_load_explicit(x, memory_order_relaxed); }

/* Seconds. The last bucket is +Inf. */
static const double bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
#define NB (sizeof(bounds) / sizeof(bounds[0]) + 1)

typedef struct {
    ctr_t n[NB];  /* per bucket (not cumulative: summed at scrape) */
    ctr_t sum_us; /* microseconds */
} hist_t;

static void observe(hist_t *h, uint64_t ns)
{
    double s = (double)ns / 1e9;
    size_t b = 0;
    while (b < NB - 1 && s > bounds[b])
        b++;
    bump(&h->n[b], 1);
    bump(&h->sum_us, ns / 1000);
}

#define REQ_SLOTS 4096 /* (route, model, status) series per worker */
#define ROUTES_MAX 128

typedef struct {
    _Atomic uint32_t used;
    uint16_t route, status;
    uint16_t model; /* NAMES_MAX + 1: none */
    ctr_t count;
} req_slot_t;

enum { TOK_INPUT, TOK_CACHED, TOK_OUTPUT, TOK__N };

struct tg_observe {
    req_slot_t req[REQ_SLOTS];
    ctr_t req_other;
    hist_t duration[ROUTES_MAX];
    hist_t upstream[NAMES_MAX + 1];
    ctr_t tokens[NAMES_MAX + 1][TOK__N];
    ctr_t cost[NAMES_MAX + 1];
    ctr_t refusals[TG_E__COUNT];
    _Atomic int64_t open_streams;
    struct tg_observe *next;
};

static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tg_observe *all; /* every worker's, for the scrape; never freed before exit */

tg_observe_t *tg_observe_new(void)
{
    tg_observe_t *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    pthread_mutex_lock(&all_lock);
    o->next = all;
    all = o;
    pthread_mutex_unlock(&all_lock);
    return o;
}

static void count_request(tg_observe_t *o, int route, int model, int status)
{
    uint32_t h = ((uint32_t)route * 2654435761u) ^ ((uint32_t)model * 40503u) ^ (uint32_t)status;
    for (uint32_t k = 0; k < 64; k++) { /* open addressing, bounded probe */
        req_slot_t *s = &o->req[(h + k) & (REQ_SLOTS - 1)];
        if (!atomic_load_explicit(&s->used, memory_order_relaxed)) {
            s->route = (uint16_t)route, s->model = (uint16_t)model, s->status = (uint16_t)status;
            atomic_store_explicit(&s->used, 1, memory_order_release);
        } else if (s->route != route || s->model != model || s->status != status) {
            continue;
        }
        bump(&s->count, 1);
        return;
    }
    bump(&o->req_other, 1);
}

/* ---- the hooks on the request path (the worker's own thread) ---- */

void tg_observe_stream(tg_call_t *c, int open)
{
    tg_observe_t *o = c->w->obs;
    if (!o || c->stream_open == open)
        return;
    c->stream_open = open;
    atomic_store_explicit(&o->open_streams,
                          atomic_load_explicit(&o->open_streams, memory_order_relaxed) +
                              (open ? 1 : -1),
                          memory_order_relaxed);
}

void tg_observe_upstream(tg_call_t *c, const char *provider, uint64_t ns)
{
    c->up_ns += ns;
    if (c->w->obs)
        observe(&c->w->obs->upstream[intern(&providers, provider)], ns);
}

/* Appends s as a JSON string (s is something the server made, at most TG_NAME_MAX bytes:
 * ids, model names, route patterns). */
static void json_str(tg_strbuf_t *b, const char *s)
{
    char e[TG_NAME_MAX * 6 + 8];
    tg_strbuf_lit(b, "\"");
    tg_strbuf_add(b, e, tg_json_escape(e, sizeof(e), 0, s));
    tg_strbuf_lit(b, "\"");
}

static void field_str(tg_strbuf_t *b, int json, const char *name, const char *v)
{
    if (!v || !*v)
        return;
    if (json) {
        tg_strbuf_printf(b, ",\"%s\":", name);
        json_str(b, v);
    } else {
        tg_strbuf_printf(b, " %s=%s", name, v);
    }
}

static void field_int(tg_strbuf_t *b, int json, const char *name, long long v)
{
    tg_strbuf_printf(b, json ? ",\"%s\":%lld" : " %s=%lld", name, v);
}

/* The access log line: what happened and to whom, never a secret, a prompt or an answer. */
static void access_line(tg_call_t *c, uint64_t ns)
{
    int json = tg_log_format == TG_LOG_JSON;
    const tg_err_info_t *e = c->err ? tg_err_info(c->err) : NULL;
    const tg_usage_row_t *r = &c->rec;
    struct timespec ts;
    struct tm tm;
    char t[96];
    tg_strbuf_t b = {0};

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(t, sizeof(t), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    if (json)
        tg_strbuf_printf(&b, "{\"time\":\"%s\",\"type\":\"access\",\"request_id\":\"%s\"", t,
                         c->request_id);
    else
        tg_strbuf_printf(&b, "%s access %s", t, c->request_id);
    field_str(&b, json, "method", c->verb);
    field_str(&b, json, "route", tg_route_name(c->route_id));
    field_int(&b, json, "status", c->status);
    if (e)
        field_str(&b, json, "error", e->code ? e->code : e->type);
    if (json)
        tg_strbuf_printf(&b, ",\"latency_ms\":%.3f", (double)ns / 1e6);
    else
        tg_strbuf_printf(&b, " latency_ms=%.3f", (double)ns / 1e6);
    field_str(&b, json, "organization", c->org_id);
    if (c->key) {
        field_str(&b, json, "project", c->key->row.project_id);
        field_str(&b, json, "key", c->key->row.id);
    } else if (c->via_session) {
        field_str(&b, json, "user", c->user.id);
    }
    if (c->model) {
        field_str(&b, json, "model", c->model->id);
        field_str(&b, json, "provider", r->provider_id);
        if (json)
            tg_strbuf_printf(&b, ",\"upstream_ms\":%.3f", (double)c->up_ns / 1e6);
        else
            tg_strbuf_printf(&b, " upstream_ms=%.3f", (double)c->up_ns / 1e6);
        if (json)
            tg_strbuf_printf(&b, ",\"stream\":%s", c->stream ? "true" : "false");
        else
            tg_strbuf_printf(&b, " stream=%d", c->stream);
        if (c->aborted)
            field_int(&b, json, "aborted", 1);
        field_int(&b, json, "input_tokens", r->input_tokens);
        field_int(&b, json, "cached_input_tokens", r->cached_input_tokens);
        field_int(&b, json, "output_tokens", r->output_tokens);
        field_int(&b, json, "cost_nanousd", r->cost_nanousd);
    }
    if (json)
        tg_strbuf_lit(&b, "}");
    tg_strbuf_lit(&b, "\n");
    if (!b.oom)
        tg_log_access(b.p, b.len);
    tg_strbuf_free(&b);
}

void tg_observe_end(tg_call_t *c)
{
    tg_observe_t *o = c->w->obs;
    uint64_t ns = tg_mono_ns() - c->t0;
    tg_observe_stream(c, 0);
    if (o) {
        int route = c->route_id >= 0 && c->route_id < ROUTES_MAX ? c->route_id : ROUTES_MAX - 1;
        int model = c->model ? intern(&models, c->model->id) : NAMES_MAX + 1;
        count_request(o, route, model, c->status);
        observe(&o->duration[route], ns);
        if (c->err > TG_OK && c->err < TG_E__COUNT)
            bump(&o->refusals[c->err], 1);
        if (c->model && model <= NAMES_MAX) {
            bump(&o->tokens[model][TOK_INPUT], (uint64_t)c->rec.input_tokens);
            bump(&o->tokens[model][TOK_CACHED], (uint64_t)c->rec.cached_input_tokens);
            bump(&o->tokens[model][TOK_OUTPUT], (uint64_t)c->rec.output_tokens);
            bump(&o->cost[model], (uint64_t)c->rec.cost_nanousd);
        }
    }
    if (tg_log_access_on())
        access_line(c, ns);
}

/* ---- the scrape ---- */

/* labels: `name="value"` pairs, already formatted */
void tg_observe_hist(tg_strbuf_t *b, const char *family, const char *labels,
                     const double *le, size_t nb, const uint64_t *n, double sum)
{
    const char *sep = *labels ? "," : "";
    char braced[320] = "";
    uint64_t cum = 0;
    if (*labels)
        snprintf(braced, sizeof(braced), "{%s}", labels);
    for (size_t k = 0; k <= nb; k++) {
        cum += n[k];
        if (k < nb)
            tg_strbuf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", family, labels, sep, le[k],
                             (unsigned long long)cum);
        else
            tg_strbuf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", family, labels, sep,
                             (unsigned long long)cum);
    }
    tg_strbuf_printf(b, "%s_sum%s %.6f\n%s_count%s %llu\n", family, braced, sum, family, braced,
                     (unsigned long long)cum);
}

/* One histogram summed over the workers (pick chooses it in a worker's counters): the
 * observations it holds. */
static uint64_t sum_hist(struct tg_observe *list, hist_t *(*pick)(struct tg_observe *, int),
                         int i, uint64_t *n, uint64_t *sum)
{
    uint64_t total = 0;
    for (struct tg_observe *o = list; o; o = o->next) {
        hist_t *h = pick(o, i);
        for (size_t k = 0; k < NB; k++)
            n[k] += get(&h->n[k]);
        *sum += get(&h->sum_us);
    }
    for (size_t k = 0; k < NB; k++)
        total += n[k];
    return total;
}

static hist_t *duration_of(struct tg_observe *o, int route) { return &o->duration[route]; }
static hist_t *upstream_of(struct tg_observe *o, int provider) { return &o->upstream[provider]; }

/* (route, model, status) → total, summed over the workers: a small table of its own. */
typedef struct {
    uint16_t route, model, status;
    uint64_t count;
} series_t;

static int series_cmp(const void *a, const void *b)
{
    const series_t *x = a, *y = b;
    if (x->route != y->route)
        return x->route - y->route;
    if (x->model != y->model)
        return x->model - y->model;
    return x->status - y->status;
}

void tg_observe_scrape(tg_strbuf_t *b)
{
    struct tg_observe *list;
    pthread_mutex_lock(&all_lock);
    list = all;
    pthread_mutex_unlock(&all_lock);

    /* requests */
    size_t cap = 0, n = 0;
    series_t *s = NULL;
    uint64_t other = 0;
    for (struct tg_observe *o = list; o; o = o->next) {
        other += get(&o->req_other);
        for (size_t i = 0; i < REQ_SLOTS; i++) {
            req_slot_t *r = &o->req[i];
            if (!atomic_load_explicit(&r->used, memory_order_acquire))
                continue;
            size_t k = 0;
            while (k < n && !(s[k].route == r->route && s[k].model == r->model &&
                              s[k].status == r->status))
                k++;
            if (k == n) {
                if (n == cap) {
                    series_t *g = realloc(s, (cap = cap ? cap * 2 : 256) * sizeof(*s));
                    if (!g) {
                        b->oom = 1;
                        free(s);
                        return;
                    }
                    s = g;
                }
                s[n++] = (series_t){r->route, r->model, r->status, 0};
            }
            s[k].count += get(&r->count);
        }
    }
    qsort(s, n, sizeof(*s), series_cmp);
    tg_strbuf_lit(b, "# HELP tollgate_requests_total Requests answered, by route (pattern and "
                     "method), model (inference) and HTTP status\n# TYPE tollgate_requests_total counter\n");
    for (size_t k = 0; k < n; k++)
        tg_strbuf_printf(b, "tollgate_requests_total{endpoint=\"%s\",method=\"%s\",model=\"%s\","
                            "status=\"%u\"} %llu\n",
                         tg_route_name(s[k].route), tg_route_method(s[k].route),
                         s[k].model > NAMES_MAX ? "" : name_of(&models, s[k].model),
                         s[k].status, (unsigned long long)s[k].count);
    if (other)
        tg_strbuf_printf(b, "tollgate_requests_total{endpoint=\"other\",method=\"\",model=\"\","
                            "status=\"\"} %llu\n", (unsigned long long)other);
    free(s);

    /* request duration, per route */
    tg_strbuf_lit(b, "# HELP tollgate_request_duration_seconds Whole request, from its head to "
                     "its last byte (streams included)\n"
                     "# TYPE tollgate_request_duration_seconds histogram\n");
    for (int r = 0; r < ROUTES_MAX; r++) {
        uint64_t cnt[NB] = {0}, sum = 0, total = sum_hist(list, duration_of, r, cnt, &sum);
        char labels[256];
        snprintf(labels, sizeof(labels), "endpoint=\"%s\",method=\"%s\"", tg_route_name(r),
                 tg_route_method(r));
        if (total)
            tg_observe_hist(b, "tollgate_request_duration_seconds", labels, bounds, NB - 1, cnt,
                            (double)sum / 1e6);
    }

    /* upstream duration, per provider */
    int np = atomic_load_explicit(&providers.n, memory_order_acquire);
    tg_strbuf_lit(b, "# HELP tollgate_upstream_duration_seconds One attempt at a provider, from "
                     "sending to the answer's end\n"
                     "# TYPE tollgate_upstream_duration_seconds histogram\n");
    for (int p = 0; p <= NAMES_MAX; p++) {
        if (p >= np && p != NAMES_MAX)
            continue;
        uint64_t cnt[NB] = {0}, sum = 0, total = sum_hist(list, upstream_of, p, cnt, &sum);
        char labels[160];
        snprintf(labels, sizeof(labels), "provider=\"%s\"", name_of(&providers, p));
        if (total)
            tg_observe_hist(b, "tollgate_upstream_duration_seconds", labels, bounds, NB - 1, cnt,
                            (double)sum / 1e6);
    }

    /* tokens and cost, per model */
    static const char *kinds[TOK__N] = {"input", "cached_input", "output"};
    int nm = atomic_load_explicit(&models.n, memory_order_acquire);
    tg_strbuf_lit(b, "# HELP tollgate_tokens_total Tokens charged, by model and kind\n"
                     "# TYPE tollgate_tokens_total counter\n");
    for (int m = 0; m <= NAMES_MAX; m++) {
        if (m >= nm && m != NAMES_MAX)
            continue;
        for (int k = 0; k < TOK__N; k++) {
            uint64_t v = 0;
            for (struct tg_observe *o = list; o; o = o->next)
                v += get(&o->tokens[m][k]);
            if (v || m < nm)
                tg_strbuf_printf(b, "tollgate_tokens_total{model=\"%s\",kind=\"%s\"} %llu\n",
                                 name_of(&models, m), kinds[k], (unsigned long long)v);
        }
    }
    tg_strbuf_lit(b, "# HELP tollgate_cost_nanodollars_total What requests were charged, in "
                     "nano-dollars (10^-9 USD), by model\n"
                     "# TYPE tollgate_cost_nanodollars_total counter\n");
    for (int m = 0; m <= NAMES_MAX; m++) {
        if (m >= nm && m != NAMES_MAX)
            continue;
        uint64_t v = 0;
        for (struct tg_observe *o = list; o; o = o->next)
            v += get(&o->cost[m]);
        if (v || m < nm)
            tg_strbuf_printf(b, "tollgate_cost_nanodollars_total{model=\"%s\"} %llu\n",
                             name_of(&models, m), (unsigned long long)v);
    }

    /* refusals, per error code */
    tg_strbuf_lit(b, "# HELP tollgate_refusals_total Requests answered with an error, by its "
                     "code (or type when the code is null)\n"
                     "# TYPE tollgate_refusals_total counter\n");
    for (int e = TG_OK + 1; e < TG_E__COUNT; e++) { /* several rows may share a code */
        const tg_err_info_t *i = tg_err_info((tg_err_t)e);
        const char *label = i->code ? i->code : i->type;
        int first = 1;
        uint64_t v = 0;
        for (int e2 = TG_OK + 1; e2 < TG_E__COUNT && first; e2++) {
            const tg_err_info_t *j = tg_err_info((tg_err_t)e2);
            if (j->status != i->status || strcmp(j->code ? j->code : j->type, label) != 0)
                continue;
            if (e2 < e)
                first = 0;
            else
                for (struct tg_observe *o = list; o; o = o->next)
                    v += get(&o->refusals[e2]);
        }
        if (first && v)
            tg_strbuf_printf(b, "tollgate_refusals_total{code=\"%s\",status=\"%d\"} %llu\n",
                             label, i->status, (unsigned long long)v);
    }

    int64_t streams = 0;
    for (struct tg_observe *o = list; o; o = o->next)
        streams += atomic_load_explicit(&o->open_streams, memory_order_relaxed);
    tg_strbuf_printf(b, "# HELP tollgate_open_streams Streamed answers being relayed now\n"
                        "# TYPE tollgate_open_streams gauge\ntollgate_open_streams %lld\n",
                     (long long)streams);
}
