/* GET /v1/organization/usage/{completions,embeddings} and GET /v1/organization/costs:
 * OpenAI's usage and costs pages, read from the per-minute aggregates (usage_agg) that the
 * usage writer commits with every usage record. The caller (tg_api_admin) has checked the
 * admin key and its api.management.read scope; c->org_id is the caller's organisation and
 * the only one whose rows are read.
 *
 * Buckets are aligned to UTC multiples of their width (minute, hour, midnight UTC): the first
 * bucket is the one that contains start_time and the last the one that contains
 * end_time - 1, and each bucket counts its whole period, so its start_time and end_time say
 * exactly what it counts. Every bucket of the page appears, with `results: []` when empty.
 * The page cursor is "page_" + base64url(next bucket start, bucket width). */
#include "api/api_int.h"

#include "core/util.h"
#include "pricing/pricing.h"

#include <event2/http.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { K_COMPLETIONS, K_EMBEDDINGS, K_COSTS };

/* group_by flags beyond the store's TG_USAGE_BY_* */
#define BY_USER 0x100u
#define BY_BATCH 0x200u
#define BY_TIER 0x400u
#define BY_LINE_ITEM 0x800u

#define MAX_LIST 1000            /* values per filter */
#define MAX_TIME INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

typedef struct {
    const char **v;
    size_t n, cap;
} list_t;

typedef struct {
    int kind;
    const char *start, *end, *width, *limit, *page, *batch; /* last occurrence wins */
    list_t group_by, project_ids, api_key_ids, models, user_ids;
    char **owned; /* decoded strings */
    size_t nowned, capowned;
    const char *bad; /* a parameter whose value is not usable text (e.g. %00) */
    const char *too_many;
} params_t;

static int own(params_t *p, char *s)
{
    if (p->nowned == p->capowned) {
        size_t nc = p->capowned ? p->capowned * 2 : 16;
        char **na = realloc(p->owned, nc * sizeof(*na));
        if (!na)
            return -1;
        p->owned = na;
        p->capowned = nc;
    }
    p->owned[p->nowned++] = s;
    return 0;
}

static void params_free(params_t *p)
{
    for (size_t i = 0; i < p->nowned; i++)
        free(p->owned[i]);
    free(p->owned);
    free(p->group_by.v);
    free(p->project_ids.v);
    free(p->api_key_ids.v);
    free(p->models.v);
    free(p->user_ids.v);
}

/* Appends the comma-separated items of v (modified in place) to a list. */
static int list_add(params_t *p, list_t *l, char *v, const char *name)
{
    char *save = NULL;
    for (char *it = strtok_r(v, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
        if (l->n == MAX_LIST) {
            p->too_many = name;
            return 0;
        }
        if (l->n == l->cap) {
            size_t nc = l->cap ? l->cap * 2 : 8;
            const char **na = realloc(l->v, nc * sizeof(*na));
            if (!na)
                return -1;
            l->v = na;
            l->cap = nc;
        }
        l->v[l->n++] = it;
    }
    return 0;
}

/* %-decodes (and '+' → space) a piece of the query; NULL when out of memory. *nul is set when
 * the text decodes to a NUL byte, which no parameter may contain. */
static char *decode(const char *s, size_t len, int *nul)
{
    char *raw = strndup(s, len);
    size_t n = 0;
    if (!raw)
        return NULL;
    char *d = evhttp_uridecode(raw, 1, &n);
    free(raw);
    if (d && strlen(d) != n)
        *nul = 1;
    return d;
}

/* Splits the raw query into key=value pairs. Repeated keys are kept: `name`, `name[]` and
 * `name[N]` are the same key. Returns 0, or -1 when out of memory. */
static int parse_query(const char *q, params_t *p)
{
    static const char *const names[] = {"start_time", "end_time",    "bucket_width", "limit",
                                        "page",       "batch",       "group_by",     "project_ids",
                                        "api_key_ids", "models",     "user_ids"};
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', len);
        size_t klen = eq ? (size_t)(eq - q) : len;
        int nul = 0;
        char *k = len ? decode(q, klen, &nul) : NULL;
        char *v = len ? (eq ? decode(eq + 1, len - klen - 1, &nul) : strdup("")) : NULL;
        q = amp ? amp + 1 : NULL;
        if (!len)
            continue;
        if (!k || !v || own(p, k) < 0) {
            free(k);
            free(v);
            return -1;
        }
        if (own(p, v) < 0) {
            free(v);
            return -1;
        }
        size_t kl = strlen(k);
        if (kl >= 2 && k[kl - 1] == ']') { /* name[] or name[N] */
            char *lb = strrchr(k, '[');
            if (lb && strspn(lb + 1, "0123456789") == (size_t)(k + kl - 1 - (lb + 1)))
                *lb = '\0';
        }
        size_t which = 0;
        while (which < sizeof(names) / sizeof(names[0]) && strcmp(k, names[which]))
            which++;
        if (which == sizeof(names) / sizeof(names[0]))
            continue; /* a parameter we do not know is ignored */
        if (nul) {
            p->bad = names[which];
            continue;
        }
        int rc = 0;
        switch (which) {
        case 0: p->start = v; break;
        case 1: p->end = v; break;
        case 2: p->width = v; break;
        case 3: p->limit = v; break;
        case 4: p->page = v; break;
        case 5: p->batch = v; break;
        case 6: rc = list_add(p, &p->group_by, v, names[which]); break;
        case 7: rc = list_add(p, &p->project_ids, v, names[which]); break;
        case 8: rc = list_add(p, &p->api_key_ids, v, names[which]); break;
        case 9: rc = list_add(p, &p->models, v, names[which]); break;
        default: rc = list_add(p, &p->user_ids, v, names[which]); break;
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* A non-negative decimal integer up to max; -1 otherwise. */
static int64_t parse_int(const char *s, int64_t max)
{
    int64_t v = 0;
    if (!s || !*s || strlen(s) > 18)
        return -1;
    for (const char *c = s; *c; c++) {
        if (*c < '0' || *c > '9')
            return -1;
        v = v * 10 + (*c - '0');
    }
    return v <= max ? v : -1;
}

/* ---- the page cursor: "page_" + base64url(8 bytes start, 4 bytes width) ---- */

static void cursor_encode(int64_t start, int64_t width, char out[32])
{
    unsigned char b[12];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)start >> (56 - 8 * i));
    for (int i = 0; i < 4; i++)
        b[8 + i] = (unsigned char)((uint64_t)width >> (24 - 8 * i));
    memcpy(out, "page_", 5);
    sodium_bin2base64(out + 5, 32 - 5, b, sizeof(b), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static int cursor_decode(const char *s, int64_t *start, int64_t *width)
{
    unsigned char b[12];
    size_t n = 0;
    if (strncmp(s, "page_", 5) != 0 ||
        sodium_base642bin(b, sizeof(b), s + 5, strlen(s + 5), NULL, &n, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        n != sizeof(b))
        return -1;
    uint64_t st = 0, w = 0;
    for (int i = 0; i < 8; i++)
        st = st << 8 | b[i];
    for (int i = 0; i < 4; i++)
        w = w << 8 | b[8 + i];
    if (st > (uint64_t)MAX_TIME)
        return -1;
    *start = (int64_t)st;
    *width = (int64_t)w;
    return 0;
}

/* ---- JSON ---- */

static void add_int(cJSON *o, const char *name, int64_t v) /* exact, whatever the size */
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    cJSON_AddRawToObject(o, name, buf);
}

static void add_opt_str(cJSON *o, const char *name, int grouped, const char *v)
{
    if (grouped)
        cJSON_AddStringToObject(o, name, v);
    else
        cJSON_AddNullToObject(o, name);
}

static cJSON *usage_result(int kind, unsigned g, const tg_usage_bucket_row_t *r)
{
    cJSON *o = cJSON_CreateObject();
    if (kind == K_EMBEDDINGS) {
        cJSON_AddStringToObject(o, "object", "organization.usage.embeddings.result");
        add_int(o, "input_tokens", r->input_tokens);
        add_int(o, "num_model_requests", r->requests);
    } else {
        cJSON_AddStringToObject(o, "object", "organization.usage.completions.result");
        add_int(o, "input_tokens", r->input_tokens);
        add_int(o, "output_tokens", r->output_tokens);
        add_int(o, "input_cached_tokens", r->cached_input_tokens);
        add_int(o, "input_audio_tokens", 0);
        add_int(o, "output_audio_tokens", 0);
        add_int(o, "num_model_requests", r->requests);
    }
    add_opt_str(o, "project_id", g & TG_USAGE_BY_PROJECT, r->project_id);
    cJSON_AddNullToObject(o, "user_id");
    add_opt_str(o, "api_key_id", g & TG_USAGE_BY_KEY, r->api_key_id);
    add_opt_str(o, "model", g & TG_USAGE_BY_MODEL, r->model);
    if (kind == K_COMPLETIONS) {
        if (g & BY_BATCH) /* Tollgate has no Batch API: every request is a non-batch one */
            cJSON_AddFalseToObject(o, "batch");
        else
            cJSON_AddNullToObject(o, "batch");
        cJSON_AddNullToObject(o, "service_tier");
    }
    return o;
}

static cJSON *cost_result(unsigned g, const tg_usage_bucket_row_t *r, const char *line_item,
                          int64_t nanos, int64_t quantity)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "organization.costs.result");
    cJSON *amount = cJSON_AddObjectToObject(o, "amount");
    cJSON_AddItemToObject(amount, "value", tg_json_nanos(nanos));
    cJSON_AddStringToObject(amount, "currency", "usd");
    add_opt_str(o, "line_item", line_item != NULL, line_item);
    add_opt_str(o, "project_id", g & TG_USAGE_BY_PROJECT, r->project_id);
    add_opt_str(o, "api_key_id", g & TG_USAGE_BY_KEY, r->api_key_id);
    if (line_item) {
        add_int(o, "quantity", quantity);
        cJSON_AddStringToObject(o, "quantity_unit", "tokens");
    } else {
        cJSON_AddNullToObject(o, "quantity");
        cJSON_AddNullToObject(o, "quantity_unit");
    }
    return o;
}

/* The input and output lines of one model's cost. The aggregates hold only the total (the
 * sum of each request's rounded cost), so the split is derived: input = the model's current
 * input prices × the input tokens (cached ones at the cached price), rounded up and capped at
 * the total; output = total − input. The two lines always add up to the exact total. */
static void add_line_items(cJSON *results, const tg_catalog_t *cat, unsigned g,
                           const tg_usage_bucket_row_t *r)
{
    char item[TG_NAME_MAX + 16];
    int64_t total = r->cost_nanousd, in = total;
    const tg_model_row_t *m = tg_catalog_model(cat, r->model, strlen(r->model));
    if (r->output_tokens > 0 && m) {
        in = r->input_tokens > 0 ? tg_price_cost(m, r->input_tokens, r->cached_input_tokens, 0)
                                 : 0;
        if (in > total)
            in = total;
        if (in < 0)
            in = 0;
    }
    snprintf(item, sizeof(item), "%s, input", r->model);
    cJSON_AddItemToArray(results, cost_result(g, r, item, in, r->input_tokens));
    if (r->output_tokens > 0 || total - in != 0) {
        snprintf(item, sizeof(item), "%s, output", r->model);
        cJSON_AddItemToArray(results, cost_result(g, r, item, total - in, r->output_tokens));
    }
}

/* ---- the handler ---- */

static int allowed_group(int kind, const char *v, unsigned *flag)
{
    static const struct {
        const char *name;
        unsigned flag;
        unsigned kinds; /* 1 << kind */
    } t[] = {
        {"project_id", TG_USAGE_BY_PROJECT, 7},
        {"api_key_id", TG_USAGE_BY_KEY, 7},
        {"model", TG_USAGE_BY_MODEL, 3},
        {"user_id", BY_USER, 3},
        {"batch", BY_BATCH, 1},
        {"service_tier", BY_TIER, 1},
        {"line_item", BY_LINE_ITEM, 4},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (!strcmp(v, t[i].name) && (t[i].kinds & (1u << kind))) {
            *flag = t[i].flag;
            return 1;
        }
    return 0;
}

static void serve(tg_call_t *c, int kind)
{
    static const char *const completions_eps[] = {"chat.completions", "completions"};
    static const char *const embeddings_eps[] = {"embeddings"};
    static const char *const group_names[] = {
        [K_COMPLETIONS] = "project_id, user_id, api_key_id, model, batch, service_tier",
        [K_EMBEDDINGS] = "project_id, user_id, api_key_id, model",
        [K_COSTS] = "project_id, line_item, api_key_id",
    };
    params_t p;
    memset(&p, 0, sizeof(p));
    p.kind = kind;
    tg_usage_bucket_row_t *rows = NULL;
    size_t nrows = 0;
    unsigned g = 0;

    if (strcmp(tg_http_method(c->req), "GET") != 0) {
        tg_call_bad_method(c);
        return;
    }
    if (parse_query(tg_http_query(c->req), &p) < 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        goto out;
    }
    if (p.bad) {
        tg_call_error(c, TG_E_INVALID_VALUE, p.bad, "Invalid '%s': contains a NUL character.",
                      p.bad);
        goto out;
    }
    if (p.too_many) {
        tg_call_error(c, TG_E_INVALID_VALUE, p.too_many,
                      "Invalid '%s': at most %d values are allowed.", p.too_many, MAX_LIST);
        goto out;
    }

    /* times */
    if (!p.start) {
        tg_call_error(c, TG_E_MISSING_PARAM, "start_time",
                      "Missing required parameter: 'start_time'.");
        goto out;
    }
    int64_t start = parse_int(p.start, MAX_TIME), end;
    if (start < 0) {
        tg_call_error(c, TG_E_INVALID_VALUE, "start_time",
                      "Invalid 'start_time': expected a Unix time in seconds (a non-negative "
                      "integer), got '%.64s'.",
                      p.start);
        goto out;
    }
    if (p.end) {
        end = parse_int(p.end, MAX_TIME);
        if (end < 0) {
            tg_call_error(c, TG_E_INVALID_VALUE, "end_time",
                          "Invalid 'end_time': expected a Unix time in seconds (a non-negative "
                          "integer), got '%.64s'.",
                          p.end);
            goto out;
        }
        if (end <= start) {
            tg_call_error(c, TG_E_INVALID_VALUE, "end_time",
                          "Invalid 'end_time': it must be greater than 'start_time'.");
            goto out;
        }
    } else { /* up to now: the bucket that contains now is the last one */
        int64_t now = tg_now();
        end = (now > start ? now : start) + 1;
    }

    /* bucket width and limit */
    int64_t width = 86400, limit_default = 7, limit_max = 31;
    const char *w = p.width ? p.width : "1d";
    if (kind == K_COSTS) {
        limit_max = 180;
        if (strcmp(w, "1d") != 0) {
            tg_call_error(c, TG_E_INVALID_VALUE, "bucket_width",
                          "Invalid 'bucket_width': expected '1d', got '%.32s'.", w);
            goto out;
        }
    } else if (!strcmp(w, "1m")) {
        width = 60, limit_default = 60, limit_max = 1440;
    } else if (!strcmp(w, "1h")) {
        width = 3600, limit_default = 24, limit_max = 168;
    } else if (strcmp(w, "1d") != 0) {
        tg_call_error(c, TG_E_INVALID_VALUE, "bucket_width",
                      "Invalid 'bucket_width': expected one of '1m', '1h', '1d', got '%.32s'.", w);
        goto out;
    }
    int64_t limit = limit_default;
    if (p.limit && (limit = parse_int(p.limit, limit_max)) < 1) {
        tg_call_error(c, TG_E_INVALID_VALUE, "limit",
                      "Invalid 'limit': expected an integer between 1 and %lld for "
                      "bucket_width '%s'.",
                      (long long)limit_max, w);
        goto out;
    }

    /* group_by and filters */
    for (size_t i = 0; i < p.group_by.n; i++) {
        unsigned f;
        if (!allowed_group(kind, p.group_by.v[i], &f)) {
            tg_call_error(c, TG_E_INVALID_VALUE, "group_by",
                          "Invalid 'group_by': '%.64s' is not one of %s.", p.group_by.v[i],
                          group_names[kind]);
            goto out;
        }
        g |= f;
    }
    int nothing = 0; /* a filter no Tollgate request can match */
    if (kind != K_COSTS && p.user_ids.n)
        nothing = 1; /* requests are made with API keys, never on behalf of a user */
    if (kind == K_COMPLETIONS && p.batch) {
        if (!strcmp(p.batch, "true"))
            nothing = 1; /* no Batch API */
        else if (strcmp(p.batch, "false") != 0) {
            tg_call_error(c, TG_E_INVALID_VALUE, "batch",
                          "Invalid 'batch': expected 'true' or 'false'.");
            goto out;
        }
    }

    /* the page: buckets [first, first + n × width) of [lo, hi) */
    int64_t lo = start - start % width, hi = end + (width - end % width) % width;
    int64_t first = lo;
    if (p.page) {
        int64_t pw;
        if (cursor_decode(p.page, &first, &pw) < 0 || pw != width || first < lo || first >= hi ||
            (first - lo) % width) {
            tg_call_error(c, TG_E_INVALID_VALUE, "page",
                          "Invalid 'page': '%.64s' is not a cursor returned for this query.",
                          p.page);
            goto out;
        }
    }
    int64_t nb = (hi - first) / width;
    if (nb > limit)
        nb = limit;
    int64_t stop = first + nb * width;

    if (!nothing) {
        tg_usage_query_t q;
        memset(&q, 0, sizeof(q));
        q.org_id = c->org_id;
        q.start = first;
        q.end = stop;
        q.width = width;
        q.group_by = g & (TG_USAGE_BY_PROJECT | TG_USAGE_BY_KEY | TG_USAGE_BY_MODEL);
        if (g & BY_LINE_ITEM)
            q.group_by |= TG_USAGE_BY_MODEL;
        if (kind == K_COMPLETIONS) {
            q.endpoints = completions_eps;
            q.n_endpoints = 2;
        } else if (kind == K_EMBEDDINGS) {
            q.endpoints = embeddings_eps;
            q.n_endpoints = 1;
        }
        q.project_ids = p.project_ids.v;
        q.n_project_ids = p.project_ids.n;
        q.api_key_ids = p.api_key_ids.v;
        q.n_api_key_ids = p.api_key_ids.n;
        if (kind != K_COSTS) {
            q.models = p.models.v;
            q.n_models = p.models.n;
        }
        if (c->w->store->usage->usage_query(c->w->store, &q, &rows, &nrows) < 0) {
            tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
            goto out;
        }
    }

    cJSON *root = cJSON_CreateObject(), *data;
    cJSON_AddStringToObject(root, "object", "page");
    data = cJSON_AddArrayToObject(root, "data");
    size_t r = 0;
    for (int64_t b = first; b < stop; b += width) {
        cJSON *bucket = cJSON_CreateObject(), *results;
        cJSON_AddStringToObject(bucket, "object", "bucket");
        add_int(bucket, "start_time", b);
        add_int(bucket, "end_time", b + width);
        results = cJSON_AddArrayToObject(bucket, "results");
        for (; r < nrows && rows[r].bucket_start == b; r++) {
            if (kind != K_COSTS)
                cJSON_AddItemToArray(results, usage_result(kind, g, &rows[r]));
            else if (g & BY_LINE_ITEM)
                add_line_items(results, c->cat, g, &rows[r]);
            else
                cJSON_AddItemToArray(results,
                                     cost_result(g, &rows[r], NULL, rows[r].cost_nanousd, 0));
        }
        cJSON_AddItemToArray(data, bucket);
    }
    cJSON_AddBoolToObject(root, "has_more", stop < hi);
    if (stop < hi) {
        char cur[32];
        cursor_encode(stop, width, cur);
        cJSON_AddStringToObject(root, "next_page", cur);
    } else {
        cJSON_AddNullToObject(root, "next_page");
    }
    tg_call_json(c, 200, root);
out:
    free(rows);
    params_free(&p);
}

/* Other usage kinds (moderations, images, audio_*, vector_stores, …) are endpoints Tollgate
 * does not serve: they have no route, hence 404 unknown_url. */
void tg_api_usage_completions(tg_call_t *c, const tg_route_args_t *a) { serve(c, K_COMPLETIONS); }
void tg_api_usage_embeddings(tg_call_t *c, const tg_route_args_t *a) { serve(c, K_EMBEDDINGS); }
void tg_api_costs(tg_call_t *c, const tg_route_args_t *a) { serve(c, K_COSTS); }
