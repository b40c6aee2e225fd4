/* SQLite backend, usage: usage records and their per-minute aggregates (store/usage.h). */
#include "store/sqlite_int.h"

#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- usage ---- */

static int sq_usage_insert(tg_store_t *b, const tg_usage_row_t *rows, size_t n,
                           unsigned char *inserted)
{
    sq_t *s = (sq_t *)b;
    if (!s->usage_ins &&
        !(s->usage_ins = tg_sq__prep(s, "INSERT OR IGNORE INTO usage_records VALUES"
                                        " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")))
        return -1;
    sqlite3_stmt *st = s->usage_ins;
    for (size_t i = 0; i < n; i++) {
        const tg_usage_row_t *r = &rows[i];
        sqlite3_reset(st);
        tg_sq__bind_text(st, 1, r->request_id);
        sqlite3_bind_int64(st, 2, r->created_at);
        tg_sq__bind_text(st, 3, r->org_id);
        tg_sq__bind_text(st, 4, r->project_id);
        tg_sq__bind_text(st, 5, r->api_key_id);
        tg_sq__bind_text(st, 6, r->model);
        tg_sq__bind_text(st, 7, r->provider_id);
        tg_sq__bind_text(st, 8, r->endpoint);
        sqlite3_bind_int64(st, 9, r->input_tokens);
        sqlite3_bind_int64(st, 10, r->cached_input_tokens);
        sqlite3_bind_int64(st, 11, r->output_tokens);
        sqlite3_bind_int(st, 12, r->status);
        sqlite3_bind_int64(st, 13, r->latency_ms);
        sqlite3_bind_int(st, 14, r->streamed);
        sqlite3_bind_int(st, 15, r->aborted);
        sqlite3_bind_int64(st, 16, r->cost_nanousd);
        sqlite3_bind_int64(st, 17, r->unbilled_nanousd);
        if (r->response_id[0])
            tg_sq__bind_text(st, 18, r->response_id);
        else
            sqlite3_bind_null(st, 18);
        if (sqlite3_step(st) != SQLITE_DONE) {
            tg_error("sqlite usage insert: %s", sqlite3_errmsg(s->db));
            sqlite3_reset(st);
            return -1;
        }
        if (inserted)
            inserted[i] = sqlite3_changes(s->db) == 1;
    }
    sqlite3_reset(st);
    return 0;
}

static int sq_usage_count(tg_store_t *b, int64_t *n)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "SELECT COUNT(*) FROM usage_records");
    if (!st)
        return -1;
    *n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return 0;
}

static int sq_usage_agg_add(tg_store_t *b, const tg_usage_agg_t *rows, size_t n)
{
    sq_t *s = (sq_t *)b;
    if (!s->agg_add && !(s->agg_add = tg_sq__prep(
                             s, "INSERT INTO usage_agg VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT"
                                " DO UPDATE SET requests=requests+excluded.requests,"
                                " input_tokens=input_tokens+excluded.input_tokens,"
                                " cached_input_tokens=cached_input_tokens+"
                                "excluded.cached_input_tokens,"
                                " output_tokens=output_tokens+excluded.output_tokens,"
                                " cost_nanousd=cost_nanousd+excluded.cost_nanousd")))
        return -1;
    sqlite3_stmt *st = s->agg_add;
    for (size_t i = 0; i < n; i++) {
        const tg_usage_agg_t *r = &rows[i];
        sqlite3_reset(st);
        tg_sq__bind_text(st, 1, r->org_id);
        sqlite3_bind_int64(st, 2, r->minute);
        tg_sq__bind_text(st, 3, r->project_id);
        tg_sq__bind_text(st, 4, r->api_key_id);
        tg_sq__bind_text(st, 5, r->model);
        tg_sq__bind_text(st, 6, r->endpoint);
        sqlite3_bind_int64(st, 7, r->requests);
        sqlite3_bind_int64(st, 8, r->input_tokens);
        sqlite3_bind_int64(st, 9, r->cached_input_tokens);
        sqlite3_bind_int64(st, 10, r->output_tokens);
        sqlite3_bind_int64(st, 11, r->cost_nanousd);
        if (sqlite3_step(st) != SQLITE_DONE) {
            tg_error("sqlite usage_agg: %s", sqlite3_errmsg(s->db));
            sqlite3_reset(st);
            return -1;
        }
    }
    sqlite3_reset(st);
    return 0;
}

static int sq_month_spend(tg_store_t *b, int64_t since, tg_org_amount_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "SELECT organization_id, project_id, SUM(cost_nanousd) FROM"
                                      " usage_agg WHERE minute >= ? GROUP BY organization_id,"
                                      " project_id");
    if (st)
        sqlite3_bind_int64(st, 1, since);
    return tg_sq__collect(s, st, sizeof(tg_org_amount_t), tg_sq__fill_amount, (void **)rows, n);
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

/* " AND col IN (?N,?N+1,…)" for a filter array; advances *param. */
static void sql_in(char *buf, size_t cap, size_t *len, const char *col, size_t n, int *param)
{
    char p[24];
    if (!n)
        return;
    sql_cat(buf, cap, len, " AND ");
    sql_cat(buf, cap, len, col);
    sql_cat(buf, cap, len, " IN (");
    for (size_t i = 0; i < n; i++) {
        snprintf(p, sizeof(p), "%s?%d", i ? "," : "", (*param)++);
        sql_cat(buf, cap, len, p);
    }
    sql_cat(buf, cap, len, ")");
}

static void bind_list(sqlite3_stmt *st, const char *const *v, size_t n, int *param)
{
    for (size_t i = 0; i < n; i++)
        tg_sq__bind_text(st, (*param)++, v[i] ? v[i] : "");
}

static void fill_bucket(sqlite3_stmt *st, void *p)
{
    tg_usage_bucket_row_t *r = p;
    r->bucket_start = sqlite3_column_int64(st, 0);
    tg_sq__col_text(st, 1, r->project_id, sizeof(r->project_id));
    tg_sq__col_text(st, 2, r->api_key_id, sizeof(r->api_key_id));
    tg_sq__col_text(st, 3, r->model, sizeof(r->model));
    r->requests = sqlite3_column_int64(st, 4);
    r->input_tokens = sqlite3_column_int64(st, 5);
    r->cached_input_tokens = sqlite3_column_int64(st, 6);
    r->output_tokens = sqlite3_column_int64(st, 7);
    r->cost_nanousd = sqlite3_column_int64(st, 8);
}

/* A range scan of the primary key (organization_id, minute, …), summed per bucket and
 * group. ?1 start, ?2 width, ?3 organisation, ?4 end, then the filter values. */
static int sq_usage_query(tg_store_t *b, const tg_usage_query_t *q, tg_usage_bucket_row_t **rows,
                          size_t *n)
{
    sq_t *s = (sq_t *)b;
    *rows = NULL;
    *n = 0;
    if (!q->org_id || q->width <= 0)
        return -1;
    if (q->end <= q->start)
        return 0;
    size_t nvals = q->n_endpoints + q->n_project_ids + q->n_api_key_ids + q->n_models;
    if (nvals > 30000) /* SQLite allows at most 32766 bound parameters */
        return -1;
    size_t cap = 1024 + nvals * 8, len = 0;
    char *sql = malloc(cap);
    if (!sql)
        return -1;
    unsigned g = q->group_by;
    sql_cat(sql, cap, &len, "SELECT ?1 + ((minute - ?1) / ?2) * ?2 AS b, ");
    sql_cat(sql, cap, &len, g & TG_USAGE_BY_PROJECT ? "project_id, " : "'', ");
    sql_cat(sql, cap, &len, g & TG_USAGE_BY_KEY ? "api_key_id, " : "'', ");
    sql_cat(sql, cap, &len, g & TG_USAGE_BY_MODEL ? "model, " : "'', ");
    sql_cat(sql, cap, &len,
            "SUM(requests), SUM(input_tokens), SUM(cached_input_tokens), SUM(output_tokens),"
            " SUM(cost_nanousd) FROM usage_agg"
            " WHERE organization_id = ?3 AND minute >= ?1 AND minute < ?4");
    int param = 5;
    sql_in(sql, cap, &len, "endpoint", q->n_endpoints, &param);
    sql_in(sql, cap, &len, "project_id", q->n_project_ids, &param);
    sql_in(sql, cap, &len, "api_key_id", q->n_api_key_ids, &param);
    sql_in(sql, cap, &len, "model", q->n_models, &param);
    sql_cat(sql, cap, &len, " GROUP BY b");
    if (g & TG_USAGE_BY_PROJECT)
        sql_cat(sql, cap, &len, ", project_id");
    if (g & TG_USAGE_BY_KEY)
        sql_cat(sql, cap, &len, ", api_key_id");
    if (g & TG_USAGE_BY_MODEL)
        sql_cat(sql, cap, &len, ", model");
    sql_cat(sql, cap, &len, " ORDER BY 1, 2, 3, 4");
    if (len >= cap) {
        free(sql);
        return -1;
    }
    sqlite3_stmt *st = tg_sq__prep(s, sql);
    free(sql);
    if (st) {
        sqlite3_bind_int64(st, 1, q->start);
        sqlite3_bind_int64(st, 2, q->width);
        tg_sq__bind_text(st, 3, q->org_id);
        sqlite3_bind_int64(st, 4, q->end);
        param = 5;
        bind_list(st, q->endpoints, q->n_endpoints, &param);
        bind_list(st, q->project_ids, q->n_project_ids, &param);
        bind_list(st, q->api_key_ids, q->n_api_key_ids, &param);
        bind_list(st, q->models, q->n_models, &param);
    }
    return tg_sq__collect(s, st, sizeof(tg_usage_bucket_row_t), fill_bucket, (void **)rows, n);
}

static int sq_response_provider(tg_store_t *b, const char *org_id, const char *response_id,
                                char provider_id[TG_ID_MAX])
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "SELECT provider_id FROM usage_records WHERE"
                                      " response_id=? AND organization_id=? LIMIT 1");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, response_id);
    tg_sq__bind_text(st, 2, org_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        tg_sq__col_text(st, 0, provider_id, TG_ID_MAX);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? TG_STORE_NOTFOUND : -1;
}

const struct tg_store_usage tg_sq__usage = {
    .usage_insert = sq_usage_insert,
    .usage_count = sq_usage_count,
    .usage_agg_add = sq_usage_agg_add,
    .month_spend = sq_month_spend,
    .usage_query = sq_usage_query,
    .response_provider = sq_response_provider,
};
