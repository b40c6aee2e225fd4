/* gate/bound.c: the input bound of a request is an upper bound of what any upstream can bill.
 * Exact numbers where the rule is exact (a tokenizer of ours, OpenAI's tile arithmetic, the
 * byte rule), the worst case where nothing better is known, and the context window as the
 * ceiling of everything. */
#include "gate/gate.h"
#include "tokenizer/tokenizer.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static tg_tok_t *o200k;

static int load(void **state)
{
    (void)state;
    return tg_tok_load_file("data/tokenizer/o200k_base.tgbpe", &o200k);
}

static int unload(void **state)
{
    (void)state;
    tg_tok_free(o200k);
    return 0;
}

/* gpt-4o's table row, or a model without tokenizer and image costs. */
static tg_model_row_t model(int with_costs)
{
    tg_model_row_t m;
    memset(&m, 0, sizeof(m));
    snprintf(m.id, sizeof(m.id), with_costs ? "gpt-4o" : "llama-open");
    m.context_window = 128000;
    m.max_output_tokens = 16384;
    if (with_costs) {
        snprintf(m.tokenizer, sizeof(m.tokenizer), "o200k_base");
        m.image_base_tokens = 85;
        m.image_tile_tokens = 170;
        m.image_max_tokens = 85 + 8 * 170;
    }
    return m;
}

static int64_t chat_bound(const tg_model_row_t *m, const tg_tok_t *tok, const char *json,
                          tg_bound_t *b)
{
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);
    int rc = tg_bound_chat(m, tok, cJSON_GetObjectItem(j, "messages"), cJSON_GetObjectItem(j, "tools"),
                           cJSON_GetObjectItem(j, "response_format"), b);
    cJSON_Delete(j);
    return rc < 0 ? rc : b->tokens;
}

/* A PNG header of w × h as a data: URL (only the size is read). */
static void png_url(uint32_t w, uint32_t h, char *out, size_t cap)
{
    unsigned char b[33] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    for (int i = 0; i < 4; i++) {
        b[16 + i] = (unsigned char)(w >> (24 - 8 * i));
        b[20 + i] = (unsigned char)(h >> (24 - 8 * i));
    }
    b[24] = 8;
    b[25] = 6;
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = (size_t)snprintf(out, cap, "data:image/png;base64,");
    for (size_t i = 0; i < sizeof(b); i += 3) {
        uint32_t v = (uint32_t)b[i] << 16 | (uint32_t)(i + 1 < sizeof(b) ? b[i + 1] : 0) << 8 |
                     (i + 2 < sizeof(b) ? b[i + 2] : 0);
        out[n++] = al[v >> 18 & 63];
        out[n++] = al[v >> 12 & 63];
        out[n++] = i + 1 < sizeof(b) ? al[v >> 6 & 63] : '=';
        out[n++] = i + 2 < sizeof(b) ? al[v & 63] : '=';
    }
    out[n] = '\0';
}

static void test_text_with_tokenizer_is_exact(void **state)
{
    (void)state;
    tg_model_row_t m = model(1);
    tg_bound_t b;
    /* 3 per message + "user" (1) + "hello" (1) + 3 for the reply */
    assert_int_equal(chat_bound(&m, o200k, "{\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}", &b), 8);
    assert_int_equal(b.text_tokens, 8);
    assert_int_equal(b.images, 0);
}

static void test_text_without_tokenizer_is_bytes(void **state)
{
    (void)state;
    tg_model_row_t m = model(0);
    tg_bound_t b;
    /* "你好" is 6 bytes, "user" 4; one message: + 8; the request: + 64 */
    assert_int_equal(chat_bound(&m, NULL, "{\"messages\":[{\"role\":\"user\",\"content\":\"你好\"}]}", &b),
                     6 + 4 + TG_BOUND_PER_MESSAGE + TG_BOUND_PER_REQUEST);
    assert_int_equal(b.text_tokens, -1);
    /* tool definitions: the bytes of their JSON text, plus TG_BOUND_TOOLS */
    const char *tools = "[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]";
    char req[512];
    snprintf(req, sizeof(req), "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":%s}", tools);
    assert_int_equal(chat_bound(&m, NULL, req, &b),
                     1 + 4 + TG_BOUND_PER_MESSAGE + TG_BOUND_PER_REQUEST + (int64_t)strlen(tools) +
                         TG_BOUND_TOOLS);
    /* a byte-level BPE never needs more tokens than bytes: the bound holds for o200k too */
    const char *texts[] = {"hello world", "你好，世界", "🙂🙂🙂", "a b c d e f g", "\x01\x02\x03"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        cJSON *msgs = cJSON_CreateArray(), *msg = cJSON_CreateObject();
        cJSON_AddStringToObject(msg, "role", "user");
        cJSON_AddStringToObject(msg, "content", texts[i]);
        cJSON_AddItemToArray(msgs, msg);
        tg_bound_t exact, bytes;
        assert_int_equal(tg_bound_chat(&m, o200k, msgs, NULL, NULL, &exact), 0);
        assert_int_equal(tg_bound_chat(&m, NULL, msgs, NULL, NULL, &bytes), 0);
        assert_true(bytes.tokens >= exact.tokens);
        cJSON_Delete(msgs);
    }
}

static void test_response_format_counts(void **state)
{
    (void)state;
    tg_model_row_t m = model(1);
    tg_bound_t b;
    const char *rf = "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":{\"type\":\"object\"}}}";
    char req[512];
    snprintf(req, sizeof(req), "{\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}],\"response_format\":%s}", rf);
    assert_int_equal(chat_bound(&m, o200k, req, &b), 8 + (int64_t)strlen(rf));
}

static void test_images(void **state)
{
    (void)state;
    tg_model_row_t m = model(1);
    tg_bound_t b;
    char url[256], req[1024];
    const char *fmt = "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"},"
                      "{\"type\":\"image_url\",\"image_url\":{\"url\":\"%s\"%s}}]}]}";
    /* text: 3 + "user" + "hi" + 3 = 8 */
    png_url(512, 512, url, sizeof(url));
    snprintf(req, sizeof(req), fmt, url, "");
    assert_int_equal(chat_bound(&m, o200k, req, &b), 8 + 85 + 170);
    assert_int_equal(b.images, 1);
    png_url(2048, 4096, url, sizeof(url));
    snprintf(req, sizeof(req), fmt, url, "");
    assert_int_equal(chat_bound(&m, o200k, req, &b), 8 + 85 + 6 * 170); /* OpenAI's example: 1105 */
    snprintf(req, sizeof(req), fmt, url, ",\"detail\":\"low\"");
    assert_int_equal(chat_bound(&m, o200k, req, &b), 8 + 85);
    snprintf(req, sizeof(req), fmt, "https://example.com/cat.png", "");
    assert_int_equal(chat_bound(&m, o200k, req, &b), 8 + 85 + 8 * 170); /* unknown size */
    snprintf(req, sizeof(req), fmt, "data:image/png;base64,AAAA", "");
    assert_int_equal(chat_bound(&m, o200k, req, &b), 8 + 85 + 8 * 170); /* unreadable */
    /* a patch model (only its worst case is known) */
    m.image_base_tokens = m.image_tile_tokens = 0;
    m.image_max_tokens = 2489;
    png_url(512, 512, url, sizeof(url));
    snprintf(req, sizeof(req), fmt, url, "");
    assert_int_equal(chat_bound(&m, o200k, req, &b), 8 + 2489);
    /* a model without image costs: the context window */
    tg_model_row_t none = model(0);
    assert_int_equal(chat_bound(&none, NULL, req, &b), none.context_window);
    /* the image's base64 text is not counted as text */
    assert_true(chat_bound(&none, NULL, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &b) <
                200);
}

static void test_audio_and_files(void **state)
{
    (void)state;
    tg_model_row_t m = model(1);
    tg_bound_t b;
    const char *audio = "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\","
                        "\"input_audio\":{\"data\":\"AAAA\",\"format\":\"wav\"}}]}]}";
    const char *file = "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"file\","
                       "\"file\":{\"file_id\":\"file-1\"}}]}]}";
    assert_int_equal(chat_bound(&m, o200k, audio, &b), m.context_window);
    assert_int_equal(chat_bound(&m, o200k, file, &b), m.context_window);
    m.context_window = 0; /* no worst case known: refused */
    assert_int_equal(chat_bound(&m, o200k, audio, &b), TG_BOUND_EUNBOUNDED);
}

static void test_context_window_caps(void **state)
{
    (void)state;
    tg_model_row_t m = model(0);
    m.context_window = 100;
    tg_bound_t b;
    char *big = malloc(10000), *req = malloc(10100);
    memset(big, 'x', 9999);
    big[9999] = '\0';
    snprintf(req, 10100, "{\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}", big);
    assert_int_equal(chat_bound(&m, NULL, req, &b), 100);
    free(big);
    free(req);
}

static void test_text_inputs(void **state)
{
    (void)state;
    tg_model_row_t m = model(1), none = model(0);
    tg_bound_t b;
    cJSON *in = cJSON_Parse("[\"one\", \"two two\", [1, 2, 3]]");
    assert_int_equal(tg_bound_text(&m, o200k, in, &b), 0);
    assert_int_equal(b.tokens, 1 + 2 + 3);
    assert_int_equal(b.max_item, 3); /* the list of 3 token ids */
    assert_int_equal(b.max_item_index, 2);
    assert_int_equal(tg_bound_text(&none, NULL, in, &b), 0);
    assert_int_equal(b.tokens, 3 + 7 + 3 + 3 * TG_BOUND_PER_MESSAGE + TG_BOUND_PER_REQUEST);
    cJSON_Delete(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_with_tokenizer_is_exact),
        cmocka_unit_test(test_text_without_tokenizer_is_bytes),
        cmocka_unit_test(test_response_format_counts),
        cmocka_unit_test(test_images),
        cmocka_unit_test(test_audio_and_files),
        cmocka_unit_test(test_context_window_caps),
        cmocka_unit_test(test_text_inputs),
    };
    return cmocka_run_group_tests(tests, load, unload);
}
