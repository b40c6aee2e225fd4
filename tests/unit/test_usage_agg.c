/* store: usage_query over usage_agg (the usage and costs endpoints' one read), on a fresh
 * SQLite database per test with rows written by usage_agg_add as the usage writer does. */
#include "store/store.h"
#include "core/log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "db_fixture.h"

typedef tg_test_db_t fx_t;

static int fx_setup(void **state) { return tg_test_db_setup(state, "agg"); }
static int fx_teardown(void **state) { return tg_test_db_teardown(state); }

#define DAY 86400
#define HOUR 3600
/* 2026-01-01T00:00:00Z: a day boundary */
#define T0 1767225600

static void add(tg_store_t *st, const char *org, int64_t minute, const char *proj, const char *key,
                const char *model, const char *endpoint, int64_t req, int64_t in, int64_t cached,
                int64_t out, int64_t cost)
{
    tg_usage_agg_t a;
    memset(&a, 0, sizeof(a));
    snprintf(a.org_id, sizeof(a.org_id), "%s", org);
    a.minute = minute;
    snprintf(a.project_id, sizeof(a.project_id), "%s", proj);
    snprintf(a.api_key_id, sizeof(a.api_key_id), "%s", key);
    snprintf(a.model, sizeof(a.model), "%s", model);
    snprintf(a.endpoint, sizeof(a.endpoint), "%s", endpoint);
    a.requests = req;
    a.input_tokens = in;
    a.cached_input_tokens = cached;
    a.output_tokens = out;
    a.cost_nanousd = cost;
    assert_int_equal(st->usage->usage_agg_add(st, &a, 1), 0);
}

/* A small data set over two days:
 *   day 0, 00:00  org_a proj_1 key_1 gpt-4o-mini chat        1 req 10 in (2 cached) 5 out  cost 100
 *   day 0, 00:00  org_a proj_1 key_1 gpt-4o-mini chat        (added again: 2 req 20 in 10 out 200)
 *   day 0, 00:59  org_a proj_1 key_2 gpt-4o      chat        1 req 7 in 3 out cost 1000
 *   day 0, 01:00  org_a proj_2 key_3 gpt-4o-mini completions 1 req 4 in 1 out cost 10
 *   day 0, 23:59  org_a proj_2 key_3 text-emb    embeddings  3 req 30 in cost 3
 *   day 1, 00:00  org_a proj_1 key_1 gpt-4o-mini chat        1 req 1 in 1 out cost 7
 *   day 0, 00:00  org_b proj_9 key_9 gpt-4o-mini chat        (another organisation)
 *   day 2, 00:00  org_a proj_1 key_1 gpt-4o      chat        (outside most queries) */
static void seed(tg_store_t *st)
{
    add(st, "org_a", T0, "proj_1", "key_1", "gpt-4o-mini", "chat.completions", 1, 10, 2, 5, 100);
    add(st, "org_a", T0, "proj_1", "key_1", "gpt-4o-mini", "chat.completions", 1, 10, 0, 5, 100);
    add(st, "org_a", T0 + 59 * 60, "proj_1", "key_2", "gpt-4o", "chat.completions", 1, 7, 0, 3,
        1000);
    add(st, "org_a", T0 + HOUR, "proj_2", "key_3", "gpt-4o-mini", "completions", 1, 4, 0, 1, 10);
    add(st, "org_a", T0 + DAY - 60, "proj_2", "key_3", "text-embedding-3-small", "embeddings", 3,
        30, 0, 0, 3);
    add(st, "org_a", T0 + DAY, "proj_1", "key_1", "gpt-4o-mini", "chat.completions", 1, 1, 0, 1, 7);
    add(st, "org_b", T0, "proj_9", "key_9", "gpt-4o-mini", "chat.completions", 5, 50, 0, 50, 5000);
    add(st, "org_a", T0 + 2 * DAY, "proj_1", "key_1", "gpt-4o", "chat.completions", 1, 1, 0, 1,
        11);
}

static tg_usage_query_t query(int64_t start, int64_t end, int64_t width)
{
    tg_usage_query_t q;
    memset(&q, 0, sizeof(q));
    q.org_id = "org_a";
    q.start = start;
    q.end = end;
    q.width = width;
    return q;
}

static void run(tg_store_t *st, const tg_usage_query_t *q, tg_usage_bucket_row_t **rows, size_t *n)
{
    *rows = NULL;
    *n = 99;
    assert_int_equal(st->usage->usage_query(st, q, rows, n), 0);
}

static void sums_eq(const tg_usage_bucket_row_t *r, int64_t bucket, int64_t req, int64_t in,
                    int64_t cached, int64_t out, int64_t cost)
{
    assert_int_equal(r->bucket_start, bucket);
    assert_int_equal(r->requests, req);
    assert_int_equal(r->input_tokens, in);
    assert_int_equal(r->cached_input_tokens, cached);
    assert_int_equal(r->output_tokens, out);
    assert_int_equal(r->cost_nanousd, cost);
}

/* Ungrouped daily buckets: one row per non-empty bucket, group columns empty, the upserted
 * row counted once with both additions, org_b and rows at/after `end` left out. */
static void test_daily_totals(void **state)
{
    fx_t *f = *state;
    tg_usage_bucket_row_t *r;
    size_t n;
    seed(f->st);
    tg_usage_query_t q = query(T0, T0 + 2 * DAY, DAY);
    run(f->st, &q, &r, &n);
    assert_int_equal(n, 2);
    sums_eq(&r[0], T0, 2 + 1 + 1 + 3, 20 + 7 + 4 + 30, 2, 10 + 3 + 1, 200 + 1000 + 10 + 3);
    assert_string_equal(r[0].project_id, "");
    assert_string_equal(r[0].api_key_id, "");
    assert_string_equal(r[0].model, "");
    sums_eq(&r[1], T0 + DAY, 1, 1, 0, 1, 7);
    free(r);
}

/* end is exclusive: a row at exactly `end` is out, one a minute before is in; start is
 * inclusive. */
static void test_boundaries(void **state)
{
    fx_t *f = *state;
    tg_usage_bucket_row_t *r;
    size_t n;
    seed(f->st);

    tg_usage_query_t q = query(T0, T0 + DAY, DAY); /* the row at T0 + DAY is excluded */
    run(f->st, &q, &r, &n);
    assert_int_equal(n, 1);
    sums_eq(&r[0], T0, 7, 61, 2, 14, 1213);
    free(r);

    q = query(T0 + DAY - 60, T0 + DAY, 60); /* exactly the 23:59 minute */
    run(f->st, &q, &r, &n);
    assert_int_equal(n, 1);
    sums_eq(&r[0], T0 + DAY - 60, 3, 30, 0, 0, 3);
    free(r);

    q = query(T0 + 60, T0 + 59 * 60, 60); /* 00:01 … 00:58: nothing */
    run(f->st, &q, &r, &n);
    assert_int_equal(n, 0);
    free(r);

    q = query(T0 + DAY, T0 + DAY, 60); /* empty range */
    run(f->st, &q, &r, &n);
    assert_int_equal(n, 0);
    free(r);

    q = query(T0 + HOUR, T0 + HOUR + 60, 60); /* start inclusive */
    run(f->st, &q, &r, &n);
    assert_int_equal(n, 1);
    sums_eq(&r[0], T0 + HOUR, 1, 4, 0, 1, 10);
    free(r);
}

/* Buckets are aligned to `start`: hourly buckets from 00:00 and from 00:30 cut differently. */
static void test_hourly_buckets(void **state)
{
    fx_t *f = *state;
    tg_usage_bucket_row_t *r;
    size_t n;
    seed(f->st);

    tg_usage_query_t q = query(T0, T0 + DAY, HOUR);
    run(f->st, &q, &r, &n);
    assert_int_equal(n, 3);
    sums_eq(&r[0], T0, 3, 27, 2, 13, 1200); /* 00:00 and 00:59 */
    sums_eq(&r[1], T0 + HOUR, 1, 4, 0, 1, 10);
    sums_eq(&r[2], T0 + 23 * HOUR, 3, 30, 0, 0, 3);
    free(r);

    q = query(T0 + 30 * 60, T0 + DAY, HOUR);
    run(f->st, &q, &r, &n);
    assert_int_equal(n, 2);
    sums_eq(&r[0], T0 + 30 * 60, 2, 11, 0, 4, 1010); /* 00:59 and 01:00 */
    sums_eq(&r[1], T0 + 23 * HOUR + 30 * 60, 3, 30, 0, 0, 3);
    free(r);
}

static void test_group_by(void **state)
{
    fx_t *f = *state;
    tg_usage_bucket_row_t *r;
    size_t n;
    seed(f->st);

    tg_usage_query_t q = query(T0, T0 + DAY, DAY);
    q.group_by = TG_USAGE_BY_PROJECT;
    run(f->st, &q, &r, &n);
    assert_int_equal(n, 2);
    assert_string_equal(r[0].project_id, "proj_1");
    assert_string_equal(r[0].api_key_id, "");
    assert_string_equal(r[0].model, "");
    sums_eq(&r[0], T0, 3, 27, 2, 13, 1200);
    assert_string_equal(r[1].project_id, "proj_2");
    sums_eq(&r[1], T0, 4, 34, 0, 1, 13);
    free(r);

    q.group_by = TG_USAGE_BY_MODEL;
    run(f->st, &q, &r, &n);
    assert_int_equal(n, 3); /* sorted by model */
    assert_string_equal(r[0].model, "gpt-4o");
    sums_eq(&r[0], T0, 1, 7, 0, 3, 1000);
    assert_string_equal(r[1].model, "gpt-4o-mini");
    sums_eq(&r[1], T0, 3, 24, 2, 11, 210);
    assert_string_equal(r[2].model, "text-embedding-3-small");
    assert_string_equal(r[2].project_id, "");
    free(r);

    q.group_by = TG_USAGE_BY_PROJECT | TG_USAGE_BY_KEY | TG_USAGE_BY_MODEL;
    run(f->st, &q, &r, &n);
    assert_int_equal(n, 4);
    assert_string_equal(r[0].project_id, "proj_1");
    assert_string_equal(r[0].api_key_id, "key_1");
    assert_string_equal(r[0].model, "gpt-4o-mini");
    sums_eq(&r[0], T0, 2, 20, 2, 10, 200);
    assert_string_equal(r[1].api_key_id, "key_2");
    assert_string_equal(r[2].project_id, "proj_2");
    assert_string_equal(r[2].model, "gpt-4o-mini");
    assert_string_equal(r[3].model, "text-embedding-3-small");
    free(r);

    /* grouping over two days: rows ordered by bucket first */
    q = query(T0, T0 + 3 * DAY, DAY);
    q.group_by = TG_USAGE_BY_KEY;
    run(f->st, &q, &r, &n);
    assert_int_equal(n, 5);
    assert_int_equal(r[0].bucket_start, T0);
    assert_string_equal(r[0].api_key_id, "key_1");
    assert_string_equal(r[2].api_key_id, "key_3");
    assert_int_equal(r[3].bucket_start, T0 + DAY);
    sums_eq(&r[4], T0 + 2 * DAY, 1, 1, 0, 1, 11);
    free(r);
}

static void test_filters(void **state)
{
    fx_t *f = *state;
    tg_usage_bucket_row_t *r;
    size_t n;
    seed(f->st);

    static const char *const chat[] = {"chat.completions", "completions"};
    static const char *const emb[] = {"embeddings"};
    static const char *const p2[] = {"proj_2"};
    static const char *const keys[] = {"key_2", "key_3", "key_nope"};
    static const char *const mini[] = {"gpt-4o-mini"};
    static const char *const nope[] = {"proj_9"}; /* another organisation's project */

    tg_usage_query_t q = query(T0, T0 + DAY, DAY);
    q.endpoints = chat;
    q.n_endpoints = 2;
    run(f->st, &q, &r, &n);
    assert_int_equal(n, 1);
    sums_eq(&r[0], T0, 4, 31, 2, 14, 1210);
    free(r);

    q.endpoints = emb;
    q.n_endpoints = 1;
    run(f->st, &q, &r, &n);
    assert_int_equal(n, 1);
    sums_eq(&r[0], T0, 3, 30, 0, 0, 3);
    free(r);

    q.endpoints = chat;
    q.n_endpoints = 2;
    q.project_ids = p2;
    q.n_project_ids = 1;
    run(f->st, &q, &r, &n);
    assert_int_equal(n, 1);
    sums_eq(&r[0], T0, 1, 4, 0, 1, 10);
    free(r);

    q = query(T0, T0 + DAY, DAY);
    q.api_key_ids = keys;
    q.n_api_key_ids = 3;
    q.group_by = TG_USAGE_BY_KEY;
    run(f->st, &q, &r, &n);
    assert_int_equal(n, 2);
    assert_string_equal(r[0].api_key_id, "key_2");
    assert_string_equal(r[1].api_key_id, "key_3");
    free(r);

    q = query(T0, T0 + 2 * DAY, DAY);
    q.models = mini;
    q.n_models = 1;
    run(f->st, &q, &r, &n);
    assert_int_equal(n, 2);
    sums_eq(&r[0], T0, 3, 24, 2, 11, 210);
    sums_eq(&r[1], T0 + DAY, 1, 1, 0, 1, 7);
    free(r);

    q = query(T0, T0 + DAY, DAY);
    q.project_ids = nope;
    q.n_project_ids = 1;
    run(f->st, &q, &r, &n);
    assert_int_equal(n, 0);
    free(r);

    q = query(T0, T0 + DAY, DAY);
    q.org_id = "org_b";
    run(f->st, &q, &r, &n);
    assert_int_equal(n, 1);
    sums_eq(&r[0], T0, 5, 50, 0, 50, 5000);
    free(r);
}

/* Totals are exact integer sums (no floating point anywhere): large values survive. */
static void test_large_sums(void **state)
{
    fx_t *f = *state;
    tg_usage_bucket_row_t *r;
    size_t n;
    const int64_t big = INT64_C(1) << 52; /* beyond a double's exact odd integers once summed */
    add(f->st, "org_a", T0, "p", "k", "m", "chat.completions", 1, big, 0, 1, big + 1);
    add(f->st, "org_a", T0 + 60, "p", "k", "m", "chat.completions", 1, big, 0, 1, big + 2);
    tg_usage_query_t q = query(T0, T0 + DAY, DAY);
    run(f->st, &q, &r, &n);
    assert_int_equal(n, 1);
    sums_eq(&r[0], T0, 2, 2 * big, 0, 2, 2 * big + 3);
    free(r);
}

static void test_bad_queries(void **state)
{
    fx_t *f = *state;
    tg_usage_bucket_row_t *r = NULL;
    size_t n = 0;
    tg_usage_query_t q = query(T0, T0 + DAY, 0);
    int saved = tg_log_level;
    tg_log_level = TG_LOG_ERROR + 1;
    assert_int_equal(f->st->usage->usage_query(f->st, &q, &r, &n), -1);
    q = query(T0, T0 + DAY, DAY);
    q.org_id = NULL;
    assert_int_equal(f->st->usage->usage_query(f->st, &q, &r, &n), -1);
    tg_log_level = saved;
    assert_null(r);
    assert_int_equal(n, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_daily_totals), T(test_boundaries), T(test_hourly_buckets), T(test_group_by),
        T(test_filters),      T(test_large_sums), T(test_bad_queries),
    };
    return cmocka_run_group_tests_name("usage_agg", tests, NULL, NULL);
}
