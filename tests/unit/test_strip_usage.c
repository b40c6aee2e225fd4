/* providers/openai.c: tg_openai_strip_null_usage, which hides `"usage":null` from stream chunks when
 * the client did not ask for usage. */
#include "providers/provider.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

/* Strips a copy of `in` and returns it NUL-terminated (caller frees). The buffer has guard
 * bytes after the text that must stay untouched. */
static char *strip(const char *in)
{
    size_t len = strlen(in);
    char *buf = malloc(len + 16);
    assert_non_null(buf);
    memcpy(buf, in, len);
    memset(buf + len, '#', 16);
    size_t n = tg_openai_strip_null_usage(buf, len);
    assert_true(n <= len);
    for (size_t i = len; i < len + 16; i++)
        assert_int_equal(buf[i], '#');
    buf[n] = '\0';
    return buf;
}

/* The result parses, has no "usage" key, and keeps every other top-level key of the input. */
static void check_json(const char *in, const char *out)
{
    cJSON *a = cJSON_Parse(in), *b = cJSON_Parse(out);
    if (!b)
        fail_msg("result does not parse as JSON: %s", out);
    assert_non_null(a);
    assert_null(cJSON_GetObjectItemCaseSensitive(b, "usage"));
    const cJSON *it;
    int nkeys = 0;
    cJSON_ArrayForEach(it, a) {
        if (strcmp(it->string, "usage") == 0)
            continue;
        nkeys++;
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(b, it->string);
        if (!o || !cJSON_Compare(it, o, 1))
            fail_msg("key \"%s\" changed or lost: %s", it->string, out);
    }
    assert_int_equal(cJSON_GetArraySize(b), nkeys);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

static void strips_to(const char *in, const char *want)
{
    char *out = strip(in);
    if (strcmp(out, want) != 0)
        fail_msg("strip(%s) = %s, want %s", in, out, want);
    check_json(in, out);
    free(out);
}

/* Text without the key comes back byte for byte, with the same length. */
static void unchanged_text(const char *in)
{
    size_t len = strlen(in);
    char *buf = malloc(len + 1);
    assert_non_null(buf);
    memcpy(buf, in, len + 1);
    assert_int_equal(tg_openai_strip_null_usage(buf, len), len);
    assert_memory_equal(buf, in, len + 1);
    free(buf);
}

static void test_trailing_usage(void **state)
{
    strips_to("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
              "\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}],\"usage\":null}",
              "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
              "\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}");
}

static void test_leading_usage(void **state)
{
    strips_to("{\"usage\":null,\"id\":\"x\",\"choices\":[]}", "{\"id\":\"x\",\"choices\":[]}");
}

static void test_middle_usage(void **state)
{
    strips_to("{\"id\":\"x\",\"usage\":null,\"model\":\"gpt-4o-mini\"}",
              "{\"id\":\"x\",\"model\":\"gpt-4o-mini\"}");
}

static void test_only_usage(void **state)
{
    strips_to("{\"usage\":null}", "{}");
}

static void test_content_mentioning_usage_kept(void **state)
{
    /* the word usage inside a string value (quotes escaped) stays */
    strips_to("{\"choices\":[{\"delta\":{\"content\":\"the \\\"usage\\\" is null\"}}],\"usage\":null}",
              "{\"choices\":[{\"delta\":{\"content\":\"the \\\"usage\\\" is null\"}}]}");
    /* a model that writes JSON text about usage: only the real key goes */
    strips_to("{\"choices\":[{\"delta\":{\"content\":\"{\\\"usage\\\":null}\"}}],\"usage\":null}",
              "{\"choices\":[{\"delta\":{\"content\":\"{\\\"usage\\\":null}\"}}]}");
    unchanged_text("{\"choices\":[{\"delta\":{\"content\":\"{\\\"usage\\\":null}\"}}]}");
}

static void test_without_null_usage_unchanged(void **state)
{
    unchanged_text("{\"id\":\"x\",\"choices\":[{\"delta\":{\"content\":\"hello\"}}]}");
    unchanged_text("{\"id\":\"x\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":5,"
              "\"total_tokens\":8}}");
    unchanged_text("[DONE]");
    unchanged_text("");
    unchanged_text("\"usage\":nul"); /* truncated: not the key */
}

static void test_respects_len(void **state)
{
    /* only the first len bytes are looked at and moved */
    char buf[] = "{\"id\":\"x\"}\"usage\":null";
    size_t n = tg_openai_strip_null_usage(buf, 10);
    assert_int_equal(n, 10);
    assert_memory_equal(buf, "{\"id\":\"x\"}\"usage\":null", sizeof(buf));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trailing_usage),
        cmocka_unit_test(test_leading_usage),
        cmocka_unit_test(test_middle_usage),
        cmocka_unit_test(test_only_usage),
        cmocka_unit_test(test_content_mentioning_usage_kept),
        cmocka_unit_test(test_without_null_usage_unchanged),
        cmocka_unit_test(test_respects_len),
    };
    return cmocka_run_group_tests_name("strip_null_usage", tests, NULL, NULL);
}
