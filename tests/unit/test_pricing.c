/* pricing: the cost rounding rule and the shipped model table. */
#include "pricing/pricing.h"
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

static tg_model_row_t model(int64_t in, int64_t cached, int64_t out)
{
    tg_model_row_t m;
    memset(&m, 0, sizeof(m));
    snprintf(m.id, sizeof(m.id), "test-model");
    m.input_price = in;
    m.cached_input_price = cached;
    m.output_price = out;
    return m;
}

/* gpt-4o-mini: $0.15 / $0.075 cached / $0.60 per 1M tokens */
#define MINI_IN 150000000
#define MINI_CACHED 75000000
#define MINI_OUT 600000000

static void test_cost_basic(void **state)
{
    tg_model_row_t m = model(MINI_IN, MINI_CACHED, MINI_OUT);
    /* (3 × 150000000 + 5 × 600000000) / 10^6 = 3450 exactly */
    assert_int_equal(tg_price_cost(&m, 3, 0, 5), 3450);
    assert_int_equal(tg_price_cost(&m, 1000000, 0, 0), 150000000);
    assert_int_equal(tg_price_cost(&m, 0, 0, 1000000), 600000000);
    assert_int_equal(tg_price_cost(&m, 1, 0, 0), 150);
}

static void test_cost_cached(void **state)
{
    tg_model_row_t m = model(MINI_IN, MINI_CACHED, MINI_OUT);
    /* 1000 input of which 400 cached, 10 output:
     * 600 × 150000000 + 400 × 75000000 + 10 × 600000000 = 126 × 10^9 → 126000 */
    assert_int_equal(tg_price_cost(&m, 1000, 400, 10), 126000);
    /* all cached */
    assert_int_equal(tg_price_cost(&m, 1000, 1000, 0), 75000);
    /* cached is a subset of input: more cached than input counts as all input cached */
    assert_int_equal(tg_price_cost(&m, 3, 10, 0), 225);
    assert_int_equal(tg_price_cost(&m, 1000, 5000, 10), 75000 + 6000);
    /* cached tokens never cost more than uncached ones here */
    assert_true(tg_price_cost(&m, 1000, 400, 0) < tg_price_cost(&m, 1000, 0, 0));
}

static void test_cost_no_cached_price(void **state)
{
    /* cached_input_price -1: cached tokens bill at the input price */
    tg_model_row_t m = model(500000000, -1, 1500000000);
    assert_int_equal(tg_price_cost(&m, 1000, 400, 0), 500000);
    assert_int_equal(tg_price_cost(&m, 1000, 400, 0), tg_price_cost(&m, 1000, 0, 0));
    assert_int_equal(tg_price_cost(&m, 1000, 1000, 10), 500000 + 15000);
    /* a cached price of 0 is a real price (free), not "none" */
    tg_model_row_t z = model(500000000, 0, 0);
    assert_int_equal(tg_price_cost(&z, 1000, 1000, 0), 0);
    assert_int_equal(tg_price_cost(&z, 1000, 400, 0), 300000);
}

static void test_cost_rounds_up_once(void **state)
{
    /* a fraction of a nano-dollar rounds up to 1 */
    tg_model_row_t m = model(1, 1, 1);
    assert_int_equal(tg_price_cost(&m, 1, 0, 0), 1);
    assert_int_equal(tg_price_cost(&m, 0, 0, 1), 1);
    /* exact multiples are not rounded */
    assert_int_equal(tg_price_cost(&m, 1000000, 0, 0), 1);
    assert_int_equal(tg_price_cost(&m, 1000001, 0, 0), 2);
    assert_int_equal(tg_price_cost(&m, 2000000, 0, 0), 2);
    /* the sum is rounded once, not each part: 1 + 1 + 1 millionths → 1, not 3 */
    assert_int_equal(tg_price_cost(&m, 2, 1, 1), 1);
    tg_model_row_t h = model(999999, 999999, 999999);
    assert_int_equal(tg_price_cost(&h, 1, 0, 0), 1);
    assert_int_equal(tg_price_cost(&h, 1, 0, 1), 2); /* 1999998 / 10^6 → 2 */
    tg_model_row_t k = model(1000001, -1, 0);
    assert_int_equal(tg_price_cost(&k, 1, 0, 0), 2);
    /* never less than the exact cost, never a whole nano-dollar more */
    tg_model_row_t mini = model(MINI_IN, MINI_CACHED, MINI_OUT);
    for (int64_t in = 0; in < 300; in += 7)
        for (int64_t c = 0; c <= in; c += 11)
            for (int64_t out = 0; out < 300; out += 13) {
                __int128 exact =
                    (__int128)(in - c) * MINI_IN + (__int128)c * MINI_CACHED + (__int128)out * MINI_OUT;
                __int128 got = (__int128)tg_price_cost(&mini, in, c, out) * 1000000;
                if (got < exact || got - exact >= 1000000)
                    fail_msg("cost(%lld,%lld,%lld) off the rule", (long long)in, (long long)c,
                             (long long)out);
            }
}

static void test_cost_zero(void **state)
{
    tg_model_row_t m = model(MINI_IN, MINI_CACHED, MINI_OUT);
    assert_int_equal(tg_price_cost(&m, 0, 0, 0), 0);
    tg_model_row_t free_model = model(0, 0, 0);
    assert_int_equal(tg_price_cost(&free_model, 1000000, 500, 1000000), 0);
    tg_model_row_t emb = model(20000000, -1, 0); /* text-embedding-3-small */
    assert_int_equal(tg_price_cost(&emb, 0, 0, 12345), 0);
    assert_int_equal(tg_price_cost(&emb, 50, 0, 0), 1000);
}

static void test_cost_huge(void **state)
{
    /* 10^12 tokens at $100 per 1M (10^11 nanos): 10^23 before division, 10^17 after */
    tg_model_row_t m = model(100000000000LL, 50000000000LL, 100000000000LL);
    assert_true(tg_price_cost(&m, 1000000000000LL, 0, 0) == 100000000000000000LL);
    assert_true(tg_price_cost(&m, 0, 0, 1000000000000LL) == 100000000000000000LL);
    assert_true(tg_price_cost(&m, 1000000000000LL, 0, 1000000000000LL) == 200000000000000000LL);
    assert_true(tg_price_cost(&m, 1000000000000LL, 1000000000000LL, 0) == 50000000000000000LL);
    /* one token more is still counted at this scale */
    assert_true(tg_price_cost(&m, 1000000000001LL, 0, 0) == 100000000000100000LL);
}

/* ---- the shipped table ---- */

static const tg_model_row_t *find(const tg_model_row_t *rows, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].id, id) == 0)
            return &rows[i];
    return NULL;
}

static void test_load_shipped_table(void **state)
{
    tg_model_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(tg_pricing_load_file("data/models.json", &rows, &n), 0);
    assert_non_null(rows);
    assert_true(n >= 10);

    const tg_model_row_t *mini = find(rows, n, "gpt-4o-mini");
    assert_non_null(mini);
    assert_true(mini->input_price == MINI_IN);
    assert_true(mini->cached_input_price == MINI_CACHED);
    assert_true(mini->output_price == MINI_OUT);
    assert_string_equal(mini->type, "chat");
    assert_string_equal(mini->owned_by, "openai");
    assert_true(mini->context_window == 128000);
    assert_true(mini->max_output_tokens == 16384);
    assert_string_equal(mini->tokenizer, "o200k_base");
    assert_true(mini->created > 1600000000);
    assert_int_equal(tg_price_cost(mini, 3, 0, 5), 3450);

    const tg_model_row_t *emb = find(rows, n, "text-embedding-3-small");
    assert_non_null(emb);
    assert_string_equal(emb->type, "embedding");
    assert_true(emb->input_price == 20000000);
    assert_true(emb->cached_input_price == -1); /* null in the file */
    assert_true(emb->output_price == 0);

    const tg_model_row_t *t35 = find(rows, n, "gpt-3.5-turbo");
    assert_non_null(t35);
    assert_true(t35->cached_input_price == -1);
    assert_true(t35->input_price == 500000000);
    assert_true(t35->output_price == 1500000000);

    const tg_model_row_t *instr = find(rows, n, "gpt-3.5-turbo-instruct");
    assert_non_null(instr);
    assert_string_equal(instr->type, "completion");

    for (size_t i = 0; i < n; i++) {
        const tg_model_row_t *r = &rows[i];
        if (!*r->id)
            fail_msg("model %zu has no id", i);
        if (r->input_price < 0 || r->output_price < 0 || r->cached_input_price < -1)
            fail_msg("model %s has a negative price", r->id);
        if (r->cached_input_price > r->input_price)
            fail_msg("model %s: cached price above input price", r->id);
        if (strcmp(r->type, "chat") && strcmp(r->type, "completion") &&
            strcmp(r->type, "embedding"))
            fail_msg("model %s has type %s", r->id, r->type);
        if (r->context_window <= 0)
            fail_msg("model %s has no context window", r->id);
        if (strcmp(r->tokenizer, "o200k_base") && strcmp(r->tokenizer, "cl100k_base"))
            fail_msg("model %s has tokenizer %s", r->id, r->tokenizer);
        for (size_t j = 0; j < i; j++)
            if (strcmp(rows[j].id, r->id) == 0)
                fail_msg("model %s listed twice", r->id);
    }
    free(rows);
}

/* ---- malformed tables ---- */

typedef struct {
    char path[64];
} tmpfile_t;

static int tmp_setup(void **state)
{
    tmpfile_t *t = calloc(1, sizeof(*t));
    if (!t)
        return -1;
    snprintf(t->path, sizeof(t->path), "/tmp/tg-pricing-XXXXXX");
    int fd = mkstemp(t->path);
    if (fd < 0) {
        free(t);
        return -1;
    }
    close(fd);
    *state = t;
    return 0;
}

static int tmp_teardown(void **state)
{
    tmpfile_t *t = *state;
    int rc = unlink(t->path);
    free(t);
    return rc;
}

static int load_text(const char *path, const char *text, tg_model_row_t **rows, size_t *n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    fclose(f);
    int saved = tg_log_level;
    tg_log_level = TG_LOG_ERROR + 1; /* failures are expected here */
    int rc = tg_pricing_load_file(path, rows, n);
    tg_log_level = saved;
    return rc;
}

#define ROW(in, cached, out)                                                                      \
    "{\"models\":[{\"id\":\"m\",\"type\":\"chat\",\"owned_by\":\"openai\",\"created\":1,"         \
    "\"input_price\":" in ",\"cached_input_price\":" cached ",\"output_price\":" out ","         \
    "\"context_window\":1000,\"max_output_tokens\":100,\"tokenizer\":\"o200k_base\"}]}"

static void load_bad(const char *path, const char *text)
{
    tg_model_row_t *rows = (tg_model_row_t *)0x1;
    size_t n = 12345;
    if (load_text(path, text, &rows, &n) != -1)
        fail_msg("accepted: %s", text);
}

static void test_load_valid_temp(void **state)
{
    tmpfile_t *t = *state;
    tg_model_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(load_text(t->path, ROW("\"0.123456789\"", "null", "\"12\""), &rows, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].id, "m");
    assert_true(rows[0].input_price == 123456789);
    assert_true(rows[0].cached_input_price == -1);
    assert_true(rows[0].output_price == 12000000000LL);
    free(rows);
}

static void test_load_bad_prices(void **state)
{
    tmpfile_t *t = *state;
    load_bad(t->path, ROW("\"0.1234567891\"", "null", "\"1\"")); /* 10 decimals */
    load_bad(t->path, ROW("0.15", "null", "\"1\""));             /* a number, not a string */
    load_bad(t->path, ROW("\"0.15\"", "0.075", "\"1\""));
    load_bad(t->path, ROW("\"0.15\"", "null", "0.6"));
    load_bad(t->path, ROW("\"-0.15\"", "null", "\"1\""));
    load_bad(t->path, ROW("\"1e3\"", "null", "\"1\""));
    load_bad(t->path, ROW("\"\"", "null", "\"1\""));
    load_bad(t->path, ROW("null", "null", "\"1\""));
    load_bad(t->path, ROW("\"0.15\"", "\"x\"", "\"1\""));
    load_bad(t->path, ROW("\"99999999999999999999\"", "null", "\"1\""));
    /* missing prices, missing id */
    load_bad(t->path, "{\"models\":[{\"id\":\"m\",\"output_price\":\"1\"}]}");
    load_bad(t->path, "{\"models\":[{\"id\":\"m\",\"input_price\":\"1\"}]}");
    load_bad(t->path, "{\"models\":[{\"input_price\":\"1\",\"output_price\":\"1\"}]}");
    /* a bad row after good ones fails the whole file */
    load_bad(t->path, "{\"models\":[{\"id\":\"a\",\"input_price\":\"1\",\"output_price\":\"1\"},"
                      "{\"id\":\"b\",\"input_price\":1,\"output_price\":\"1\"}]}");
    /* not a table */
    load_bad(t->path, "{\"models\":{}}");
    load_bad(t->path, "{}");
    load_bad(t->path, "{\"models\":[");
    load_bad(t->path, "");
}

static void test_load_missing_file(void **state)
{
    tg_model_row_t *rows = NULL;
    size_t n = 0;
    int saved = tg_log_level;
    tg_log_level = TG_LOG_ERROR + 1;
    assert_int_equal(tg_pricing_load_file("/nonexistent/models.json", &rows, &n), -1);
    tg_log_level = saved;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cost_basic),
        cmocka_unit_test(test_cost_cached),
        cmocka_unit_test(test_cost_no_cached_price),
        cmocka_unit_test(test_cost_rounds_up_once),
        cmocka_unit_test(test_cost_zero),
        cmocka_unit_test(test_cost_huge),
        cmocka_unit_test(test_load_shipped_table),
        cmocka_unit_test_setup_teardown(test_load_valid_temp, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_load_bad_prices, tmp_setup, tmp_teardown),
        cmocka_unit_test(test_load_missing_file),
    };
    return cmocka_run_group_tests_name("pricing", tests, NULL, NULL);
}
