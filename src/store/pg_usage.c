/* PostgreSQL backend, usage: usage records and their per-minute aggregates (store/usage.h).
 * The usage writer's batches travel as one statement each (arrays unnested), where SQLite
 * runs a prepared statement per row; text sorted byte by byte (COLLATE "C", SQLite's BINARY), sums
 * read back as BIGINT (an overflowing sum is an error, as in SQLite). */
#include "store/pg_int.h"

#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- usage ---- */

/* A PostgreSQL array literal being built ({"a","b"} or {1,2}), one per column of a batch:
 * a whole batch then travels as one statement (INSERT … SELECT * FROM unnest(…)), one round
 * trip and one plan however many rows it has. */
typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} arr_t;

static void arr_put(arr_t *a, const char *t, size_t n)
{
    if (a->oom)
        return;
    if (a->len + n + 2 > a->cap) {
        size_t cap = (a->cap ? a->cap * 2 : 256) + n;
        char *ns = realloc(a->s, cap);
        if (!ns) {
            a->oom = 1;
            return;
        }
        a->s = ns;
        a->cap = cap;
    }
    memcpy(a->s + a->len, t, n);
    a->len += n;
    a->s[a->len] = '\0';
}

static void arr_sep(arr_t *a)
{
    arr_put(a, a->len ? "," : "{", 1);
}

static void arr_text(arr_t *a, const char *v)
{
    arr_sep(a);
    arr_put(a, "\"", 1);
    for (const char *c = v; *c; c++) {
        if (*c == '"' || *c == '\\')
            arr_put(a, "\\", 1);
        arr_put(a, c, 1);
    }
    arr_put(a, "\"", 1);
}

/* "" becomes NULL (an unquoted NULL in an array literal). */
static void arr_opt_text(arr_t *a, const char *v)
{
    if (*v) {
        arr_text(a, v);
        return;
    }
    arr_sep(a);
    arr_put(a, "NULL", 4);
}

static void arr_int(arr_t *a, int64_t v)
{
    char t[24];
    arr_sep(a);
    arr_put(a, t, (size_t)snprintf(t, sizeof(t), "%lld", (long long)v));
}

/* Closes the literals and adds them as the statement's parameters; -1 when out of memory. */
static int arr_args(arr_t *cols, int n, tg_pg_args_t *a)
{
    for (int i = 0; i < n; i++) {
        arr_put(&cols[i], cols[i].len ? "}" : "{}", cols[i].len ? 1 : 2);
        if (cols[i].oom)
            return -1;
        tg_pg__text(a, cols[i].s);
    }
    return 0;
}

static void arr_free(arr_t *cols, int n)
{
    for (int i = 0; i < n; i++)
        free(cols[i].s);
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static int pg_usage_insert(tg_store_t *b, const tg_usage_row_t *rows, size_t n,
                           unsigned char *inserted)
{
    enum { NCOL = 18 };
    arr_t c[NCOL] = {{0}};
    tg_pg_args_t a = {0};
    PGresult *res = NULL;
    const char **ids = NULL;
    int rc = -1;

    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const tg_usage_row_t *r = &rows[i];
        arr_text(&c[0], r->request_id);
        arr_int(&c[1], r->created_at);
        arr_text(&c[2], r->org_id);
        arr_text(&c[3], r->project_id);
        arr_text(&c[4], r->api_key_id);
        arr_text(&c[5], r->model);
        arr_text(&c[6], r->provider_id);
        arr_text(&c[7], r->endpoint);
        arr_int(&c[8], r->input_tokens);
        arr_int(&c[9], r->cached_input_tokens);
        arr_int(&c[10], r->output_tokens);
        arr_int(&c[11], r->status);
        arr_int(&c[12], r->latency_ms);
        arr_int(&c[13], r->streamed);
        arr_int(&c[14], r->aborted);
        arr_int(&c[15], r->cost_nanousd);
        arr_int(&c[16], r->unbilled_nanousd);
        arr_opt_text(&c[17], r->response_id);
    }
    if (arr_args(c, NCOL, &a) < 0)
        goto out;
    /* a request id already stored, or twice in the batch, is skipped (idempotent) */
    res = tg_pg__query((pg_t *)b,
                       "INSERT INTO usage_records (request_id, created_at, organization_id,"
                       " project_id, api_key_id, model, provider_id, endpoint, input_tokens,"
                       " cached_input_tokens, output_tokens, status, latency_ms, streamed,"
                       " aborted, cost_nanousd, unbilled_nanousd, response_id)"
                       " SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[],"
                       " $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[],"
                       " $10::bigint[], $11::bigint[], $12::int[], $13::bigint[], $14::int[],"
                       " $15::int[], $16::bigint[], $17::bigint[], $18::text[])"
                       " ON CONFLICT DO NOTHING RETURNING request_id",
                       &a);
    if (!res)
        goto out;
    if (inserted) {
        /* the ids it returned were new: each marks the first row that has it */
        int m = PQntuples(res);
        if (!(ids = calloc(m ? (size_t)m : 1, sizeof(*ids) + 1)))
            goto out;
        unsigned char *used = (unsigned char *)(ids + (m ? m : 1));
        for (int i = 0; i < m; i++)
            ids[i] = PQgetvalue(res, i, 0);
        qsort(ids, (size_t)m, sizeof(*ids), cmp_str);
        for (size_t i = 0; i < n; i++) {
            const char *key = rows[i].request_id;
            const char **hit = bsearch(&key, ids, (size_t)m, sizeof(*ids), cmp_str);
            size_t k = hit ? (size_t)(hit - ids) : 0;
            inserted[i] = hit && !used[k];
            if (hit)
                used[k] = 1; /* a later row with the same id was not inserted */
        }
    }
    rc = 0;
out:
    free(ids);
    PQclear(res);
    arr_free(c, NCOL);
    return rc;
}

static void fill_provider_id(const PGresult *r, int row, void *out)
{
    tg_pg__col_text(r, row, 0, out, TG_ID_MAX);
}

static int pg_response_provider(tg_store_t *b, const char *org_id, const char *response_id,
                                char provider_id[TG_ID_MAX])
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, response_id);
    tg_pg__text(&a, org_id);
    return tg_pg__get_one((pg_t *)b,
                          "SELECT provider_id FROM usage_records WHERE response_id=$1 AND"
                          " organization_id=$2 LIMIT 1",
                          &a, fill_provider_id, provider_id);
}

static int pg_usage_count(tg_store_t *b, int64_t *n)
{
    PGresult *r = tg_pg__query((pg_t *)b, "SELECT COUNT(*) FROM usage_records", NULL);
    if (!r)
        return -1;
    *n = PQntuples(r) > 0 ? tg_pg__col_int(r, 0, 0) : 0;
    PQclear(r);
    return 0;
}

static int pg_usage_agg_add(tg_store_t *b, const tg_usage_agg_t *rows, size_t n)
{
    enum { NCOL = 11 };
    arr_t c[NCOL] = {{0}};
    tg_pg_args_t a = {0};
    int rc = -1;

    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) { /* one row per key: the writer aggregated the batch */
        const tg_usage_agg_t *r = &rows[i];
        arr_text(&c[0], r->org_id);
        arr_int(&c[1], r->minute);
        arr_text(&c[2], r->project_id);
        arr_text(&c[3], r->api_key_id);
        arr_text(&c[4], r->model);
        arr_text(&c[5], r->endpoint);
        arr_int(&c[6], r->requests);
        arr_int(&c[7], r->input_tokens);
        arr_int(&c[8], r->cached_input_tokens);
        arr_int(&c[9], r->output_tokens);
        arr_int(&c[10], r->cost_nanousd);
    }
    if (arr_args(c, NCOL, &a) == 0)
        rc = tg_pg__cmd((pg_t *)b,
                        "INSERT INTO usage_agg (organization_id, minute, project_id, api_key_id,"
                        " model, endpoint, requests, input_tokens, cached_input_tokens,"
                        " output_tokens, cost_nanousd)"
                        " SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[],"
                        " $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[],"
                        " $10::bigint[], $11::bigint[])"
                        " ON CONFLICT (organization_id, minute, project_id, api_key_id, model,"
                        " endpoint) DO UPDATE SET requests=usage_agg.requests+EXCLUDED.requests,"
                        " input_tokens=usage_agg.input_tokens+EXCLUDED.input_tokens,"
                        " cached_input_tokens=usage_agg.cached_input_tokens+"
                        "EXCLUDED.cached_input_tokens,"
                        " output_tokens=usage_agg.output_tokens+EXCLUDED.output_tokens,"
                        " cost_nanousd=usage_agg.cost_nanousd+EXCLUDED.cost_nanousd",
                        &a, NULL);
    arr_free(c, NCOL);
    return rc;
}

static int pg_month_spend(tg_store_t *b, int64_t since, tg_org_amount_t **rows, size_t *n)
{
    tg_pg_args_t a = {0};
    tg_pg__int(&a, since);
    /* ordered as SQLite's GROUP BY returns them */
    return tg_pg__collect((pg_t *)b,
                          "SELECT organization_id, project_id, SUM(cost_nanousd)::bigint FROM"
                          " usage_agg WHERE minute >= $1 GROUP BY organization_id, project_id"
                          " ORDER BY organization_id COLLATE \"C\", project_id COLLATE \"C\"",
                          &a, sizeof(tg_org_amount_t), tg_pg__fill_amount, (void **)rows, n);
}

/* ---- usage and costs queries ---- */

/* Appends to a SQL text being built; the caller sized buf for the worst case. */
static void sql_cat(char *buf, size_t cap, size_t *len, const char *text)
{
    size_t k = strlen(text);
    if (*len + k < cap)
        memcpy(buf + *len, text, k + 1);
    *len += k;
}

/* 1 if s is well-formed UTF-8 as PostgreSQL checks it (no overlong forms, no surrogates,
 * nothing above U+10FFFF). */
static int utf8_valid(const char *s)
{
    const unsigned char *c = (const unsigned char *)s;
    while (*c) {
        unsigned char lo = 0x80, hi = 0xBF;
        int more;
        if (*c < 0x80)
            more = 0;
        else if (*c >= 0xC2 && *c <= 0xDF)
            more = 1;
        else if (*c >= 0xE0 && *c <= 0xEF)
            more = 2;
        else if (*c >= 0xF0 && *c <= 0xF4)
            more = 3;
        else
            return 0;
        if (*c == 0xE0)
            lo = 0xA0;
        else if (*c == 0xED)
            hi = 0x9F;
        else if (*c == 0xF0)
            lo = 0x90;
        else if (*c == 0xF4)
            hi = 0x8F;
        c++;
        for (int i = 0; i < more; i++, c++) {
            if (*c < lo || *c > hi)
                return 0;
            lo = 0x80;
            hi = 0xBF;
        }
    }
    return 1;
}

/* " AND col IN ($N,$N+1,…)" for a filter array, its values appended to v (*nv of them so
 * far). A value that is not UTF-8 is left out: PostgreSQL would refuse the statement, and
 * it equals no stored text (SQLite just finds no row). Returns 1 when the filter has values
 * but all were left out (it matches no row), else 0. */
static int sql_in(char *buf, size_t cap, size_t *len, const char *col, const char *const *vals,
                  size_t n, const char **v, int *nv)
{
    char ph[24];
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = vals[i] ? vals[i] : "";
        if (!utf8_valid(s))
            continue;
        if (!kept) {
            sql_cat(buf, cap, len, " AND ");
            sql_cat(buf, cap, len, col);
            sql_cat(buf, cap, len, " IN (");
        }
        v[*nv] = s;
        snprintf(ph, sizeof(ph), "%s$%d", kept ? "," : "", ++*nv);
        sql_cat(buf, cap, len, ph);
        kept++;
    }
    if (kept)
        sql_cat(buf, cap, len, ")");
    return n && !kept;
}

static void fill_bucket(const PGresult *res, int row, tg_usage_bucket_row_t *r)
{
    r->bucket_start = tg_pg__col_int(res, row, 0);
    tg_pg__col_text(res, row, 1, r->project_id, sizeof(r->project_id));
    tg_pg__col_text(res, row, 2, r->api_key_id, sizeof(r->api_key_id));
    tg_pg__col_text(res, row, 3, r->model, sizeof(r->model));
    r->requests = tg_pg__col_int(res, row, 4);
    r->input_tokens = tg_pg__col_int(res, row, 5);
    r->cached_input_tokens = tg_pg__col_int(res, row, 6);
    r->output_tokens = tg_pg__col_int(res, row, 7);
    r->cost_nanousd = tg_pg__col_int(res, row, 8);
}

/* A range scan of the primary key (organization_id, minute, …), summed per bucket and
 * group. $1 start, $2 width, $3 organisation, $4 end, then the filter values: up to
 * 4 × 1000 of them (api/usage.c), more than a tg_pg_args_t holds, so the parameters are an
 * array of their own and the statement is run here. */
static int pg_usage_query(tg_store_t *b, const tg_usage_query_t *q, tg_usage_bucket_row_t **rows,
                          size_t *n)
{
    pg_t *p = (pg_t *)b;
    *rows = NULL;
    *n = 0;
    if (!q->org_id || q->width <= 0)
        return -1;
    if (q->end <= q->start)
        return 0;
    size_t nvals = q->n_endpoints + q->n_project_ids + q->n_api_key_ids + q->n_models;
    if (nvals > 30000) /* as in SQLite (PostgreSQL allows at most 65535 parameters) */
        return -1;

    size_t cap = 1024 + nvals * 8, len = 0;
    char *sql = malloc(cap);
    const char **v = malloc((4 + nvals) * sizeof(*v));
    PGresult *res = NULL;
    char start[24], width[24], end[24];
    int rc = -1, nv = 4;
    if (!sql || !v)
        goto out;
    snprintf(start, sizeof(start), "%lld", (long long)q->start);
    snprintf(width, sizeof(width), "%lld", (long long)q->width);
    snprintf(end, sizeof(end), "%lld", (long long)q->end);
    v[0] = start;
    v[1] = width;
    v[2] = q->org_id;
    v[3] = end;

    unsigned g = q->group_by;
    sql_cat(sql, cap, &len,
            "SELECT $1::bigint + ((minute - $1::bigint) / $2::bigint) * $2::bigint"
            " AS b, ");
    sql_cat(sql, cap, &len, g & TG_USAGE_BY_PROJECT ? "project_id COLLATE \"C\", " : "'', ");
    sql_cat(sql, cap, &len, g & TG_USAGE_BY_KEY ? "api_key_id COLLATE \"C\", " : "'', ");
    sql_cat(sql, cap, &len, g & TG_USAGE_BY_MODEL ? "model COLLATE \"C\", " : "'', ");
    sql_cat(sql, cap, &len,
            "SUM(requests)::bigint, SUM(input_tokens)::bigint,"
            " SUM(cached_input_tokens)::bigint, SUM(output_tokens)::bigint,"
            " SUM(cost_nanousd)::bigint FROM usage_agg"
            " WHERE organization_id = $3 AND minute >= $1 AND minute < $4");
    if (sql_in(sql, cap, &len, "endpoint", q->endpoints, q->n_endpoints, v, &nv) ||
        sql_in(sql, cap, &len, "project_id", q->project_ids, q->n_project_ids, v, &nv) ||
        sql_in(sql, cap, &len, "api_key_id", q->api_key_ids, q->n_api_key_ids, v, &nv) ||
        sql_in(sql, cap, &len, "model", q->models, q->n_models, v, &nv)) {
        rc = 0; /* no row can match */
        goto out;
    }
    sql_cat(sql, cap, &len, " GROUP BY b");
    if (g & TG_USAGE_BY_PROJECT)
        sql_cat(sql, cap, &len, ", project_id");
    if (g & TG_USAGE_BY_KEY)
        sql_cat(sql, cap, &len, ", api_key_id");
    if (g & TG_USAGE_BY_MODEL)
        sql_cat(sql, cap, &len, ", model");
    sql_cat(sql, cap, &len, " ORDER BY 1, 2, 3, 4");
    if (len >= cap)
        goto out;

    res = PQexecParams(p->conn, sql, nv, NULL, v, NULL, NULL, 0);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        tg_error("postgres: %s (%.80s)", res ? PQresultErrorMessage(res) : PQerrorMessage(p->conn),
                 sql);
        goto out;
    }
    int cnt = PQntuples(res);
    tg_usage_bucket_row_t *arr = calloc(cnt ? (size_t)cnt : 1, sizeof(*arr));
    if (!arr)
        goto out;
    for (int i = 0; i < cnt; i++)
        fill_bucket(res, i, &arr[i]);
    *rows = arr;
    *n = (size_t)cnt;
    rc = 0;
out:
    PQclear(res);
    free(v);
    free(sql);
    return rc;
}

const struct tg_store_usage tg_pg__usage = {
    .usage_insert = pg_usage_insert,
    .usage_count = pg_usage_count,
    .usage_agg_add = pg_usage_agg_add,
    .month_spend = pg_month_spend,
    .usage_query = pg_usage_query,
    .response_provider = pg_response_provider,
};
