/* core/sse: the incremental Server-Sent Events parser used on upstream streams. */
#include "core/sse.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Records every callback in order: "D:<payload>" for data, "E:<line>" for event lines. */
typedef struct {
    char *items[256];
    size_t n;
} rec_t;

static void rec_add(rec_t *r, char kind, const char *p, size_t len)
{
    assert_true(r->n < sizeof(r->items) / sizeof(r->items[0]));
    char *s = malloc(len + 3);
    assert_non_null(s);
    s[0] = kind;
    s[1] = ':';
    memcpy(s + 2, p, len);
    s[len + 2] = '\0';
    r->items[r->n++] = s;
}

static void rec_clear(rec_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->items[i]);
    r->n = 0;
}

static void on_data(void *arg, char *data, size_t len)
{
    /* a payload never carries the line terminator */
    assert_null(memchr(data, '\n', len));
    if (len)
        assert_int_not_equal(data[len - 1], '\r');
    rec_add(arg, 'D', data, len);
}

static void on_event(void *arg, const char *line, size_t len)
{
    rec_add(arg, 'E', line, len);
}

/* a string literal and its length */
#define S(lit) lit, sizeof(lit) - 1

static const tg_sse_cbs_t cbs = {on_data, on_event};
static const tg_sse_cbs_t cbs_data_only = {on_data, NULL};

static void expect(const rec_t *r, const char *const *want, size_t nwant, const char *ctx)
{
    if (r->n != nwant) {
        for (size_t i = 0; i < r->n; i++)
            print_error("  got[%zu] = %s\n", i, r->items[i]);
        fail_msg("%s: %zu callbacks, want %zu", ctx, r->n, nwant);
    }
    for (size_t i = 0; i < nwant; i++)
        if (strcmp(r->items[i], want[i]) != 0)
            fail_msg("%s: callback %zu = \"%s\", want \"%s\"", ctx, i, r->items[i], want[i]);
}

#define C1 "{\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":1700000000," \
           "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"," \
           "\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}"
#define C2 "{\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":1700000000," \
           "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello: " \
           "data\\n\\nworld\"},\"finish_reason\":null}],\"usage\":null}"
#define C3 "{\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":1700000000," \
           "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{}," \
           "\"finish_reason\":\"stop\"}],\"usage\":null}"
#define CU "{\"id\":\"chatcmpl-abc\",\"object\":\"chat.completion.chunk\",\"created\":1700000000," \
           "\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":3," \
           "\"completion_tokens\":5,\"total_tokens\":8}}"

static const char *const stream_want[] = {"D:" C1, "D:" C2, "D:" C3, "D:" CU, "D:[DONE]"};
#define NWANT (sizeof(stream_want) / sizeof(stream_want[0]))

static const char stream_lf[] = "data: " C1 "\n\n"
                                "data: " C2 "\n\n"
                                "data: " C3 "\n\n"
                                "data: " CU "\n\n"
                                "data: [DONE]\n\n";

static const char stream_crlf[] = "data: " C1 "\r\n\r\n"
                                  "data: " C2 "\r\n\r\n"
                                  "data: " C3 "\r\n\r\n"
                                  "data: " CU "\r\n\r\n"
                                  "data: [DONE]\r\n\r\n";

/* Feeds text in two pieces split at `cut`, then ends the stream. */
static void feed_split(const char *text, size_t len, size_t cut, rec_t *r)
{
    tg_sse_t s;
    assert_int_equal(tg_sse_init(&s, 4096), 0);
    assert_int_equal(tg_sse_feed(&s, text, cut, 0, &cbs, r), 0);
    assert_int_equal(tg_sse_feed(&s, text + cut, len - cut, 0, &cbs, r), 0);
    assert_int_equal(tg_sse_feed(&s, NULL, 0, 1, &cbs, r), 0);
    tg_sse_dispose(&s);
}

static void check_every_split(const char *text, size_t len)
{
    rec_t r = {0};
    char ctx[64];
    for (size_t cut = 0; cut <= len; cut++) {
        feed_split(text, len, cut, &r);
        snprintf(ctx, sizeof(ctx), "split at byte %zu", cut);
        expect(&r, stream_want, NWANT, ctx);
        rec_clear(&r);
    }
    /* one byte at a time */
    tg_sse_t s;
    assert_int_equal(tg_sse_init(&s, 4096), 0);
    for (size_t i = 0; i < len; i++)
        assert_int_equal(tg_sse_feed(&s, text + i, 1, 0, &cbs, &r), 0);
    expect(&r, stream_want, NWANT, "byte by byte (before final)");
    assert_int_equal(tg_sse_feed(&s, NULL, 0, 1, &cbs, &r), 0);
    expect(&r, stream_want, NWANT, "byte by byte (after final)");
    tg_sse_dispose(&s);
    rec_clear(&r);
}

static void test_every_split_lf(void **state)
{
    check_every_split(stream_lf, sizeof(stream_lf) - 1);
}

static void test_every_split_crlf(void **state)
{
    check_every_split(stream_crlf, sizeof(stream_crlf) - 1);
}

/* Events are delivered as soon as their blank line arrives, not only at the end. */
static void test_delivered_promptly(void **state)
{
    rec_t r = {0};
    tg_sse_t s;
    assert_int_equal(tg_sse_init(&s, 4096), 0);
    assert_int_equal(tg_sse_feed(&s, S("data: one\n"), 0, &cbs, &r), 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(tg_sse_feed(&s, S("\ndata: tw"), 0, &cbs, &r), 0);
    expect(&r, (const char *const[]){"D:one"}, 1, "after first blank line");
    assert_int_equal(tg_sse_feed(&s, S("o\n\n"), 0, &cbs, &r), 0);
    expect(&r, (const char *const[]){"D:one", "D:two"}, 2, "after second blank line");
    assert_int_equal(tg_sse_feed(&s, NULL, 0, 1, &cbs, &r), 0);
    assert_int_equal(r.n, 2);
    tg_sse_dispose(&s);
    rec_clear(&r);
}

static void test_comments_and_other_fields_ignored(void **state)
{
    static const char text[] = ": keep-alive\n\n"
                               "data: a\n\n"
                               ": keep-alive\n"
                               ":\n"
                               "id: 7\n"
                               "retry: 1000\n"
                               "data: b\n\n"
                               ": OPENROUTER PROCESSING\n\n"
                               "data: [DONE]\n\n";
    rec_t r = {0};
    tg_sse_t s;
    assert_int_equal(tg_sse_init(&s, 4096), 0);
    assert_int_equal(tg_sse_feed(&s, text, sizeof(text) - 1, 1, &cbs, &r), 0);
    expect(&r, (const char *const[]){"D:a", "D:b", "D:[DONE]"}, 3, "comments");
    tg_sse_dispose(&s);
    rec_clear(&r);
}

static void test_event_lines(void **state)
{
    static const char text[] = "data: x\n\n"
                               "event: error\n"
                               "data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n";
    rec_t r = {0};
    tg_sse_t s;
    assert_int_equal(tg_sse_init(&s, 4096), 0);
    assert_int_equal(tg_sse_feed(&s, text, sizeof(text) - 1, 0, &cbs, &r), 0);
    expect(&r,
           (const char *const[]){"D:x", "E:event: error",
                                 "D:{\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}"},
           3, "event: error");
    rec_clear(&r);

    /* with CRLF the event line has no '\r' */
    assert_int_equal(tg_sse_feed(&s, S("event: error\r\ndata: y\r\n\r\n"), 0, &cbs, &r), 0);
    expect(&r, (const char *const[]){"E:event: error", "D:y"}, 2, "event: error CRLF");
    rec_clear(&r);

    /* without an on_event callback event lines are skipped, data still delivered */
    assert_int_equal(tg_sse_feed(&s, S("event: error\ndata: z\n\n"), 0, &cbs_data_only, &r), 0);
    expect(&r, (const char *const[]){"D:z"}, 1, "no on_event");
    tg_sse_dispose(&s);
    rec_clear(&r);
}

static void test_trailing_event_only_when_final(void **state)
{
    rec_t r = {0};
    tg_sse_t s;
    assert_int_equal(tg_sse_init(&s, 4096), 0);
    assert_int_equal(tg_sse_feed(&s, S("data: a\n\ndata: b"), 0, &cbs, &r), 0);
    expect(&r, (const char *const[]){"D:a"}, 1, "before final");
    assert_int_equal(tg_sse_feed(&s, NULL, 0, 0, &cbs, &r), 0);
    expect(&r, (const char *const[]){"D:a"}, 1, "empty non-final feed");
    assert_int_equal(tg_sse_feed(&s, NULL, 0, 1, &cbs, &r), 0);
    expect(&r, (const char *const[]){"D:a", "D:b"}, 2, "after final");
    /* delivered once: another final feed adds nothing */
    assert_int_equal(tg_sse_feed(&s, NULL, 0, 1, &cbs, &r), 0);
    assert_int_equal(r.n, 2);
    tg_sse_dispose(&s);
    rec_clear(&r);

    /* a final event that ends with one newline (no blank line) */
    assert_int_equal(tg_sse_init(&s, 4096), 0);
    assert_int_equal(tg_sse_feed(&s, S("data: c\n"), 0, &cbs, &r), 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(tg_sse_feed(&s, S(""), 1, &cbs, &r), 0);
    expect(&r, (const char *const[]){"D:c"}, 1, "single newline, final");
    tg_sse_dispose(&s);
    rec_clear(&r);

    /* the last bytes arrive together with final=1 */
    assert_int_equal(tg_sse_init(&s, 4096), 0);
    assert_int_equal(tg_sse_feed(&s, S("data: d\r\n"), 1, &cbs, &r), 0);
    expect(&r, (const char *const[]){"D:d"}, 1, "CRLF, final in same feed");
    tg_sse_dispose(&s);
    rec_clear(&r);
}

static void test_max_event(void **state)
{
    rec_t r = {0};
    tg_sse_t s;
    char big[200];
    memcpy(big, "data: ", 6);
    memset(big + 6, 'x', sizeof(big) - 6);

    /* an unfinished event beyond the limit is an error */
    assert_int_equal(tg_sse_init(&s, 64), 0);
    assert_int_equal(tg_sse_feed(&s, big, 60, 0, &cbs, &r), 0);
    assert_int_equal(tg_sse_feed(&s, big + 60, sizeof(big) - 60, 0, &cbs, &r), -1);
    assert_int_equal(r.n, 0);
    tg_sse_dispose(&s);

    /* ... even when it comes in one piece */
    assert_int_equal(tg_sse_init(&s, 64), 0);
    assert_int_equal(tg_sse_feed(&s, big, sizeof(big), 0, &cbs, &r), -1);
    tg_sse_dispose(&s);

    /* the limit is per event: many small events together far beyond it are fine */
    assert_int_equal(tg_sse_init(&s, 64), 0);
    for (int i = 0; i < 100; i++) {
        char ev[32];
        int n = snprintf(ev, sizeof(ev), "data: event-%03d\n\n", i);
        assert_int_equal(tg_sse_feed(&s, ev, (size_t)n, 0, &cbs, &r), 0);
    }
    assert_int_equal(r.n, 100);
    assert_string_equal(r.items[99], "D:event-099");
    rec_clear(&r);
    /* and a pending small event after lots of traffic is still fine */
    assert_int_equal(tg_sse_feed(&s, S("data: partial"), 0, &cbs, &r), 0);
    tg_sse_dispose(&s);
    rec_clear(&r);
}

static void test_leading_space(void **state)
{
    static const char text[] = "data:  two spaces\n\n"
                               "data:none\n\n"
                               "data: one\n\n"
                               "data:\n\n"
                               "data: \n\n"
                               "data:\ttab\n\n";
    rec_t r = {0};
    tg_sse_t s;
    assert_int_equal(tg_sse_init(&s, 4096), 0);
    assert_int_equal(tg_sse_feed(&s, text, sizeof(text) - 1, 1, &cbs, &r), 0);
    expect(&r, (const char *const[]){"D: two spaces", "D:none", "D:one", "D:", "D:", "D:\ttab"}, 6,
           "leading space");
    tg_sse_dispose(&s);
    rec_clear(&r);
}

static void test_multi_data_lines(void **state)
{
    /* each data: line of an event is handed over on its own, in order */
    rec_t r = {0};
    tg_sse_t s;
    assert_int_equal(tg_sse_init(&s, 4096), 0);
    assert_int_equal(tg_sse_feed(&s, S("data: a\ndata: b\n\ndata: c\n\n"), 0, &cbs, &r), 0);
    expect(&r, (const char *const[]){"D:a", "D:b", "D:c"}, 3, "multi data lines");
    tg_sse_dispose(&s);
    rec_clear(&r);
}

/* The payload is writable in place (the relay edits it): editing must not corrupt what
 * follows. */
static void smash(void *arg, char *data, size_t len)
{
    rec_add(arg, 'D', data, len);
    memset(data, '#', len);
}

static void test_payload_writable(void **state)
{
    static const tg_sse_cbs_t c = {smash, NULL};
    rec_t r = {0};
    tg_sse_t s;
    assert_int_equal(tg_sse_init(&s, 4096), 0);
    assert_int_equal(tg_sse_feed(&s, S("data: aa\n\ndata: bb\n\ndata: c"), 0, &c, &r), 0);
    assert_int_equal(tg_sse_feed(&s, S("c\n\n"), 0, &c, &r), 0);
    expect(&r, (const char *const[]){"D:aa", "D:bb", "D:cc"}, 3, "writable payload");
    tg_sse_dispose(&s);
    rec_clear(&r);
}

static void test_dispose_twice_safe(void **state)
{
    tg_sse_t s;
    assert_int_equal(tg_sse_init(&s, 16), 0);
    tg_sse_dispose(&s);
    tg_sse_dispose(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_split_lf),
        cmocka_unit_test(test_every_split_crlf),
        cmocka_unit_test(test_delivered_promptly),
        cmocka_unit_test(test_comments_and_other_fields_ignored),
        cmocka_unit_test(test_event_lines),
        cmocka_unit_test(test_trailing_event_only_when_final),
        cmocka_unit_test(test_max_event),
        cmocka_unit_test(test_leading_space),
        cmocka_unit_test(test_multi_data_lines),
        cmocka_unit_test(test_payload_writable),
        cmocka_unit_test(test_dispose_twice_safe),
    };
    return cmocka_run_group_tests_name("sse", tests, NULL, NULL);
}
