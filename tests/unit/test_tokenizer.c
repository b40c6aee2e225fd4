/* tokenizer: known ids for both encodings (taken from js-tiktoken 1.0.21), invalid UTF-8, the
 * long-piece path, chat counting against the OpenAI cookbook's API-verified totals, load
 * errors, and counting from several threads at once. The full exactness test over ~12,000
 * strings is `make tokenizer-test`. */
#include "tokenizer/tokenizer.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

static tg_tok_t *cl, *o2;

static int setup(void **state)
{
    if (tg_tok_load_file("data/tokenizer/cl100k_base.tgbpe", &cl) != 0 ||
        tg_tok_load_file("data/tokenizer/o200k_base.tgbpe", &o2) != 0) {
        fprintf(stderr, "cannot load data/tokenizer/*.tgbpe (run from the repository root)\n");
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    tg_tok_free(cl);
    tg_tok_free(o2);
    return 0;
}

static void show(const char *label, const uint32_t *ids, size_t n)
{
    fprintf(stderr, "  %s (%zu):", label, n);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %u", ids[i]);
    fprintf(stderr, "\n");
}

static void expect_ids(const tg_tok_t *t, const char *text, size_t len, const uint32_t *want,
                       size_t want_n)
{
    uint32_t *got = NULL;
    size_t n = 0;
    assert_int_equal(tg_tok_encode(t, text, len, &got, &n), 0);
    if (n != want_n || (n && memcmp(got, want, n * sizeof(*got)) != 0)) {
        fprintf(stderr, "%s: wrong ids for \"%.*s\"\n", tg_tok_name(t), (int)len, text);
        show("want", want, want_n);
        show("got ", got, n);
        free(got);
        fail();
    }
    size_t c = tg_tok_count(t, text, len);
    if (c != want_n)
        fail_msg("%s: tg_tok_count(\"%.*s\") = %zu, want %zu", tg_tok_name(t), (int)len, text, c,
                 want_n);
    free(got);
}

#define IDS(...) ((const uint32_t[]){__VA_ARGS__}), sizeof((const uint32_t[]){__VA_ARGS__}) / 4
#define S(lit) lit, sizeof(lit) - 1

static void test_names(void **state)
{
    assert_string_equal(tg_tok_name(cl), "cl100k_base");
    assert_string_equal(tg_tok_name(o2), "o200k_base");
    assert_int_equal(tg_tok_vocab_size(cl), 100256);
    assert_int_equal(tg_tok_vocab_size(o2), 199998);
}

static void test_known_cl100k(void **state)
{
    expect_ids(cl, S("hello"), IDS(15339));
    expect_ids(cl, S("Hello world, I'M here!"), IDS(9906, 1917, 11, 358, 28703, 1618, 0));
    expect_ids(cl, S("  \n\n  x  \t"), IDS(19124, 220, 865, 19827));
    expect_ids(cl, S("我们今天去公园散步，天气非常好。"),
               IDS(98739, 37271, 36827, 86436, 35417, 9921, 255, 8067, 96, 65782, 3922, 36827,
                   30320, 242, 66776, 40053, 53901, 1811));
    expect_ids(cl, S("👩🏽‍💻 ok 🇺🇸"),
               IDS(9468, 239, 102, 9468, 237, 121, 378, 235, 93273, 119, 5509, 11410, 229, 118,
                   9468, 229, 116));
    expect_ids(cl, S("for (int i = 0; i < n; i++) {\n\treturn x->y;\n}"),
               IDS(2000, 320, 396, 602, 284, 220, 15, 26, 602, 366, 308, 26, 602, 2516, 341, 862,
                   865, 405, 88, 280, 92));
    expect_ids(cl, S("1234567.89"), IDS(4513, 10961, 22, 13, 4578));
    expect_ids(cl, S("HTTPServerError's parseJSON"), IDS(9412, 39609, 596, 4820, 5483));
    expect_ids(cl, S("<|endoftext|>"), IDS(27, 91, 8862, 728, 428, 91, 29));
}

static void test_known_o200k(void **state)
{
    expect_ids(o2, S("hello"), IDS(24912));
    expect_ids(o2, S("Hello world, I'M here!"), IDS(13225, 2375, 11, 3413, 44, 2105, 0));
    expect_ids(o2, S("  \n\n  x  \t"), IDS(11691, 220, 1215, 45469));
    expect_ids(o2, S("我们今天去公园散步，天气非常好。"),
               IDS(24809, 47256, 13817, 5312, 37075, 84748, 24952, 979, 167823, 71165, 8061, 788));
    expect_ids(o2, S("👩🏽‍💻 ok 🇺🇸"),
               IDS(28823, 102, 52622, 121, 2524, 31446, 119, 4763, 173468, 118, 55506, 116));
    expect_ids(o2, S("for (int i = 0; i < n; i++) {\n\treturn x->y;\n}"),
               IDS(1938, 350, 491, 575, 314, 220, 15, 26, 575, 464, 297, 26, 575, 4352, 405, 1393,
                   1215, 609, 88, 307, 92));
    expect_ids(o2, S("1234567.89"), IDS(7633, 19354, 22, 13, 7479));
    expect_ids(o2, S("HTTPServerError's parseJSON"), IDS(17893, 6444, 2255, 885, 8420, 8259));
    expect_ids(o2, S("<|endoftext|>"), IDS(27, 91, 419, 1440, 919, 91, 29));
}

static void test_empty_and_nul(void **state)
{
    uint32_t *ids = (uint32_t *)1;
    size_t n = 99;
    assert_int_equal(tg_tok_count(cl, "", 0), 0);
    assert_int_equal(tg_tok_encode(o2, "", 0, &ids, &n), 0);
    assert_null(ids);
    assert_int_equal(n, 0);
    expect_ids(cl, "a\0b", 3, IDS(64, 188, 65));
    expect_ids(o2, "a\0b", 3, IDS(64, 188, 65));
}

/* Invalid UTF-8 is decoded as TextDecoder does: one U+FFFD per maximal invalid subsequence. */
static void test_invalid_utf8(void **state)
{
    /* a, FF -> FFFD, E2 82 (cut short) -> FFFD, b, ED A0 80 (a surrogate) -> 3 x FFFD */
    expect_ids(cl, S("a\xff\xe2\x82" "b\xed\xa0\x80"), IDS(64, 10178, 65, 58432));
    expect_ids(o2, S("a\xff\xe2\x82" "b\xed\xa0\x80"), IDS(64, 10123, 65, 72387));
    const char *pairs[][2] = {
        {"\xff", "\xef\xbf\xbd"},
        {"x\xc0\xafy", "x\xef\xbf\xbd\xef\xbf\xbdy"},              /* overlong: 2 */
        {"\xf0\x9f\x98", "\xef\xbf\xbd"},                          /* truncated: 1 */
        {"\xf0\x9f\x98" "A", "\xef\xbf\xbd" "A"},                  /* A is read again */
        {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* > U+10FFFF */
        {"\xef\xbb\xbfhi", "\xef\xbb\xbfhi"},                      /* a BOM is kept as text */
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        for (int e = 0; e < 2; e++) {
            const tg_tok_t *t = e ? o2 : cl;
            uint32_t *a, *b;
            size_t an, bn;
            assert_int_equal(tg_tok_encode(t, pairs[i][0], strlen(pairs[i][0]), &a, &an), 0);
            assert_int_equal(tg_tok_encode(t, pairs[i][1], strlen(pairs[i][1]), &b, &bn), 0);
            if (an != bn || memcmp(a, b, an * sizeof(*a)) != 0) {
                show("raw      ", a, an);
                show("sanitized", b, bn);
                fail_msg("%s: case %zu", tg_tok_name(t), i);
            }
            free(a);
            free(b);
        }
    }
}

/* Pieces longer than TG_TOK_PIECE_STACK take the heap merge; counts from js-tiktoken. */
static void test_long_pieces(void **state)
{
    char buf[700];
    memset(buf, 'x', 300);
    buf[300] = ' ';
    size_t n = 301;
    for (int i = 0; i < 120; i++, n += 3)
        memcpy(buf + n, "\xe7\x9a\x84", 3); /* 的 */
    assert_int_equal(tg_tok_count(cl, buf, n), 158);
    assert_int_equal(tg_tok_count(o2, buf, n), 158);
    uint32_t *ids;
    size_t k;
    assert_int_equal(tg_tok_encode(cl, buf, n, &ids, &k), 0);
    assert_int_equal(k, 158);
    assert_int_equal(ids[0], 45202);
    assert_int_equal(ids[37], 19023);
    free(ids);
}

static cJSON *parse(const char *json)
{
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);
    return j;
}

/* The cookbook's examples, whose totals OpenAI's API confirmed: 129 (gpt-4, gpt-3.5-turbo) and
 * 124 (gpt-4o, gpt-4o-mini); with the weather tool, 105 and 101. */
static void test_chat_cookbook(void **state)
{
    cJSON *m = parse(
        "[{\"role\":\"system\",\"content\":\"You are a helpful, pattern-following assistant that "
        "translates corporate jargon into plain English.\"},"
        "{\"role\":\"system\",\"name\":\"example_user\",\"content\":\"New synergies will help "
        "drive top-line growth.\"},"
        "{\"role\":\"system\",\"name\":\"example_assistant\",\"content\":\"Things working well "
        "together will increase revenue.\"},"
        "{\"role\":\"system\",\"name\":\"example_user\",\"content\":\"Let's circle back when we "
        "have more bandwidth to touch base on opportunities for increased leverage.\"},"
        "{\"role\":\"system\",\"name\":\"example_assistant\",\"content\":\"Let's talk later when "
        "we're less busy about how to do better.\"},"
        "{\"role\":\"user\",\"content\":\"This late pivot means we don't have time to boil the "
        "ocean for the client deliverable.\"}]");
    assert_int_equal(tg_tok_count_chat(cl, m, NULL), 129);
    assert_int_equal(tg_tok_count_chat(o2, m, NULL), 124);
    cJSON_Delete(m);

    cJSON *m2 = parse("[{\"role\":\"system\",\"content\":\"You are a helpful assistant that can "
                      "answer to questions about the weather.\"},"
                      "{\"role\":\"user\",\"content\":\"What's the weather like in San "
                      "Francisco?\"}]");
    cJSON *tools = parse(
        "[{\"type\":\"function\",\"function\":{\"name\":\"get_current_weather\",\"description\":"
        "\"Get the current weather in a given location\",\"parameters\":{\"type\":\"object\","
        "\"properties\":{\"location\":{\"type\":\"string\",\"description\":\"The city and state, "
        "e.g. San Francisco, CA\"},\"unit\":{\"type\":\"string\",\"description\":\"The unit of "
        "temperature to return\",\"enum\":[\"celsius\",\"fahrenheit\"]}},\"required\":"
        "[\"location\"]}}}]");
    assert_int_equal(tg_tok_count_chat(cl, m2, tools), 105);
    assert_int_equal(tg_tok_count_chat(o2, m2, tools), 101);
    /* the same definition as a legacy `functions` item */
    cJSON *legacy = parse("[{}]");
    cJSON_ReplaceItemInArray(legacy, 0,
                             cJSON_Duplicate(cJSON_GetObjectItem(cJSON_GetArrayItem(tools, 0),
                                                                 "function"),
                                             1));
    assert_int_equal(tg_tok_count_chat(o2, m2, legacy), 101);
    cJSON_Delete(legacy);
    cJSON_Delete(tools);
    cJSON_Delete(m2);
}

static void test_chat_shapes(void **state)
{
    /* 3 + ("user": 1, "hi": 1) + 3 */
    cJSON *a = parse("[{\"role\":\"user\",\"content\":\"hi\"}]");
    assert_int_equal(tg_tok_count_chat(o2, a, NULL), 8);
    /* content parts: text parts count, the image does not */
    cJSON *b = parse("[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"},"
                     "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x/y.png\"}}]}]");
    assert_int_equal(tg_tok_count_chat(o2, b, NULL), 8);
    /* tool calls: the name and the arguments; null content counts nothing */
    cJSON *c = parse("[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\","
                     "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}]");
    int64_t want = 3 + (int64_t)tg_tok_count(o2, S("assistant")) +
                   (int64_t)tg_tok_count(o2, S("f")) + (int64_t)tg_tok_count(o2, S("{}")) + 3;
    assert_int_equal(tg_tok_count_chat(o2, c, NULL), want);
    /* not an array */
    assert_int_equal(tg_tok_count_chat(o2, NULL, NULL), -1);
    cJSON *d = parse("{\"role\":\"user\"}");
    assert_int_equal(tg_tok_count_chat(o2, d, NULL), -1);
    /* empty: the reply priming only */
    cJSON *e = parse("[]");
    assert_int_equal(tg_tok_count_chat(cl, e, NULL), 3);
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(c);
    cJSON_Delete(d);
    cJSON_Delete(e);
}

static void test_load_errors(void **state)
{
    tg_tok_t *t = NULL;
    assert_int_equal(tg_tok_load("p50k_base", &t), TG_TOK_ENOENT);
    assert_int_equal(tg_tok_load_file("/nonexistent/x.tgbpe", &t), TG_TOK_ENOENT);
    assert_null(t);

    /* by name, through tg_data_path */
    assert_int_equal(setenv("TOLLGATE_DATA_DIR", "data", 1), 0);
    assert_int_equal(tg_tok_load("o200k_base", &t), 0);
    assert_int_equal(tg_tok_count(t, S("hello")), 1);
    tg_tok_free(t);
    t = NULL;
    assert_int_equal(setenv("TOLLGATE_DATA_DIR", "/nonexistent", 1), 0);
    assert_int_equal(tg_tok_load("o200k_base", &t), TG_TOK_ENOENT);
    unsetenv("TOLLGATE_DATA_DIR");

    /* one flipped byte fails the checksum; a cut file fails too */
    FILE *f = fopen("data/tokenizer/cl100k_base.tgbpe", "rb");
    assert_non_null(f);
    static uint8_t buf[1 << 21];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    char path[] = "/tmp/tg_tok_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    buf[n / 2] ^= 1;
    assert_int_equal(write(fd, buf, n), (ssize_t)n);
    close(fd);
    assert_int_equal(tg_tok_load_file(path, &t), TG_TOK_EFORMAT);
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, 100), 100);
    close(fd);
    assert_int_equal(tg_tok_load_file(path, &t), TG_TOK_EFORMAT);
    unlink(path);
    assert_null(t);
    tg_tok_free(NULL);
}

/* The same texts counted on four threads at once give the single-threaded counts. */
static const char *mt_texts[] = {
    "Hello world, I'M here!", "我们今天去公园散步，天气非常好。", "👩🏽‍💻 ok 🇺🇸",
    "for (int i = 0; i < n; i++) {\n\treturn x->y;\n}", "a\xff\xe2\x82" "b",
};
#define MT_N (sizeof(mt_texts) / sizeof(mt_texts[0]))
static size_t mt_want[2][MT_N];

static void *mt_worker(void *arg)
{
    long bad = 0;
    for (int round = 0; round < 2000; round++)
        for (size_t i = 0; i < MT_N; i++)
            for (int e = 0; e < 2; e++)
                if (tg_tok_count(e ? o2 : cl, mt_texts[i], strlen(mt_texts[i])) != mt_want[e][i])
                    bad++;
    return (void *)bad;
}

static void test_threads(void **state)
{
    pthread_t th[4];
    for (size_t i = 0; i < MT_N; i++)
        for (int e = 0; e < 2; e++)
            mt_want[e][i] = tg_tok_count(e ? o2 : cl, mt_texts[i], strlen(mt_texts[i]));
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, mt_worker, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        assert_int_equal((long)r, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),       cmocka_unit_test(test_known_cl100k),
        cmocka_unit_test(test_known_o200k), cmocka_unit_test(test_empty_and_nul),
        cmocka_unit_test(test_invalid_utf8), cmocka_unit_test(test_long_pieces),
        cmocka_unit_test(test_chat_cookbook), cmocka_unit_test(test_chat_shapes),
        cmocka_unit_test(test_load_errors), cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests_name("tokenizer", tests, setup, teardown);
}
