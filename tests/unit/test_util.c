/* core/util: decimal money parsing/formatting and random identifiers. */
#include "core/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

static int parse(const char *s, int64_t *out)
{
    return tg_parse_nanos(s, strlen(s), out);
}

static void parse_ok(const char *s, int64_t want)
{
    int64_t v = -12345;
    if (parse(s, &v) != 0)
        fail_msg("tg_parse_nanos(\"%s\") failed, want %lld", s, (long long)want);
    if (v != want)
        fail_msg("tg_parse_nanos(\"%s\") = %lld, want %lld", s, (long long)v, (long long)want);
}

static void parse_bad(const char *s)
{
    int64_t v = 0;
    if (parse(s, &v) != -1)
        fail_msg("tg_parse_nanos(\"%s\") accepted (value %lld), want -1", s, (long long)v);
}

static void test_parse_nanos_valid(void **state)
{
    parse_ok("0.15", 150000000);
    parse_ok("2", 2000000000);
    parse_ok("0.000000001", 1);
    parse_ok("0", 0);
    parse_ok("0.0", 0);
    parse_ok("0.075", 75000000);
    parse_ok("0.6", 600000000);
    parse_ok("10", 10000000000LL);
    parse_ok("1.5", 1500000000);
    parse_ok("123.456789012", 123456789012LL);
    parse_ok("1.000000000", 1000000000); /* 9 decimals is the limit, trailing zeros fine */
    parse_ok("007", 7000000000LL);
    parse_ok("100", 100000000000LL);
    /* the largest representable value */
    parse_ok("9223372036.854775807", INT64_MAX);
}

static void test_parse_nanos_uses_len_not_nul(void **state)
{
    int64_t v = 0;
    /* callers parse slices of JSON text: bytes after len must be ignored */
    assert_int_equal(tg_parse_nanos("0.15xyz", 4, &v), 0);
    assert_true(v == 150000000);
    assert_int_equal(tg_parse_nanos("25", 1, &v), 0);
    assert_true(v == 2000000000);
    /* ...and a slice that ends in the middle of "1." is not a number */
    assert_int_equal(tg_parse_nanos("1.5", 2, &v), -1);
}

static void test_parse_nanos_rejects(void **state)
{
    parse_bad("");
    parse_bad(".5");
    parse_bad("5.");
    parse_bad("-1");
    parse_bad("+1");
    parse_bad("-0.5");
    parse_bad("1.0000000001"); /* 10 decimals */
    parse_bad("0.0000000001"); /* 10 decimals, even though it would round to 0 */
    parse_bad("1e3");
    parse_bad("1E3");
    parse_bad("abc");
    parse_bad("0x10");
    parse_bad("1.2.3");
    parse_bad(" 1");
    parse_bad("1 ");
    parse_bad("1,5");
    parse_bad(".");
    parse_bad("NaN");
}

static void test_parse_nanos_overflow(void **state)
{
    parse_bad("99999999999999999999");
    parse_bad("99999999999999999999.5");
    parse_bad("100000000000"); /* 10^11 dollars = 10^20 nanos > INT64_MAX */
    /* just above INT64_MAX nanos (9223372036.854775807 dollars) */
    parse_bad("9223372036.854775808");
    parse_bad("9223372036.9");
    parse_bad("9223372037");
    parse_bad("9223372039");
    parse_bad("9999999999");
}

static void format_is(int64_t v, const char *want)
{
    char out[32];
    memset(out, 'Z', sizeof(out));
    tg_format_nanos(v, out);
    if (strcmp(out, want) != 0)
        fail_msg("tg_format_nanos(%lld) = \"%s\", want \"%s\"", (long long)v, out, want);
}

static void test_format_nanos_exact(void **state)
{
    format_is(0, "0");
    format_is(1, "0.000000001");
    format_is(10, "0.00000001");
    format_is(1000000000, "1");
    format_is(150000000, "0.15");
    format_is(75000000, "0.075");
    format_is(2000000000, "2");
    format_is(1500000000, "1.5");
    format_is(123456789012LL, "123.456789012");
    format_is(100000000000LL, "100");
    format_is(-1, "-0.000000001");
    format_is(-150000000, "-0.15");
    format_is(-2000000000, "-2");
    format_is(INT64_MAX, "9223372036.854775807");
    format_is(INT64_MIN, "-9223372036.854775808");
}

/* format → parse gives the value back (negatives: '-' then the magnitude's form) */
static void roundtrip(int64_t v)
{
    char out[32];
    int64_t back = -777;
    tg_format_nanos(v, out);
    if (v < 0) {
        if (out[0] != '-')
            fail_msg("tg_format_nanos(%lld) = \"%s\": no sign", (long long)v, out);
        char pos[32];
        tg_format_nanos(-v, pos);
        if (strcmp(out + 1, pos) != 0)
            fail_msg("tg_format_nanos(%lld) = \"%s\", magnitude form \"%s\"", (long long)v, out,
                     pos);
        if (tg_parse_nanos(out + 1, strlen(out + 1), &back) != 0 || back != -v)
            fail_msg("round trip of %lld via \"%s\" failed", (long long)v, out);
        return;
    }
    if (tg_parse_nanos(out, strlen(out), &back) != 0 || back != v)
        fail_msg("round trip of %lld via \"%s\" gave %lld", (long long)v, out, (long long)back);
    /* minimal: no trailing zero after a decimal point, no trailing point */
    char *dot = strchr(out, '.');
    if (dot) {
        size_t l = strlen(out);
        if (out[l - 1] == '0' || out[l - 1] == '.')
            fail_msg("tg_format_nanos(%lld) = \"%s\" is not minimal", (long long)v, out);
        if (strlen(dot + 1) > 9)
            fail_msg("tg_format_nanos(%lld) = \"%s\" has > 9 decimals", (long long)v, out);
    }
}

static void test_format_nanos_roundtrip(void **state)
{
    static const int64_t fixed[] = {0,
                                    1,
                                    9,
                                    10,
                                    99,
                                    100,
                                    999999999,
                                    1000000000,
                                    1000000001,
                                    1000000010,
                                    1100000000,
                                    123456789012LL,
                                    150000000,
                                    75000000,
                                    600000000,
                                    10000000000LL,
                                    999999999999999999LL,
                                    INT64_MAX,
                                    INT64_MAX - 1,
                                    -1,
                                    -999999999,
                                    -1000000000,
                                    -123456789012LL,
                                    INT64_MIN + 1};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        roundtrip(fixed[i]);
    /* powers of ten and their neighbours */
    for (int e = 0; e <= 18; e++) {
        int64_t p = 1;
        for (int j = 0; j < e; j++)
            p *= 10;
        roundtrip(p);
        roundtrip(p - 1);
        roundtrip(p + 1);
        roundtrip(-p);
    }
    /* pseudo-random values across the whole range */
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t v = (int64_t)(x >> (i % 63)); /* vary magnitudes */
        if (v == INT64_MIN)
            continue;
        if (i & 1)
            v = -v;
        roundtrip(v);
    }
}

static int is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static void test_request_id(void **state)
{
    char a[37], b[37];
    memset(a, 'Z', sizeof(a));
    memset(b, 'Z', sizeof(b));
    tg_request_id(a);
    tg_request_id(b);
    assert_int_equal(strlen(a), 36);
    assert_int_equal(strlen(b), 36);
    assert_memory_equal(a, "req_", 4);
    for (int i = 4; i < 36; i++)
        if (!is_lower_hex(a[i]))
            fail_msg("request id %s: char %d '%c' is not lowercase hex", a, i, a[i]);
    assert_string_not_equal(a, b);
    /* many ids: no repeats, and every hex digit shows up (the whole 128 bits are random) */
    enum { N = 500 };
    static char ids[N][37];
    int seen[16] = {0};
    for (int i = 0; i < N; i++) {
        tg_request_id(ids[i]);
        for (int j = 4; j < 36; j++) {
            char c = ids[i][j];
            seen[c <= '9' ? c - '0' : c - 'a' + 10]++;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(ids[i], ids[j]) == 0)
                fail_msg("duplicate request id %s", ids[i]);
    }
    for (int d = 0; d < 16; d++)
        assert_true(seen[d] > 0);
}

static int is_base62(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static void test_random_id(void **state)
{
    char out[128];
    memset(out, 'Z', sizeof(out));
    tg_random_id(out, "org_", 24);
    assert_int_equal(strlen(out), 4 + 24);
    assert_memory_equal(out, "org_", 4);
    for (int i = 4; i < 28; i++)
        assert_true(is_base62(out[i]));

    /* nchars 0: just the prefix; the byte after the NUL is untouched */
    memset(out, 'Z', sizeof(out));
    tg_random_id(out, "proj_", 0);
    assert_string_equal(out, "proj_");
    assert_int_equal(out[6], 'Z');

    /* no prefix, exact size: writes exactly nchars + 1 bytes */
    memset(out, 'Z', sizeof(out));
    tg_random_id(out, "", 10);
    assert_int_equal(strlen(out), 10);
    assert_int_equal(out[11], 'Z');

    /* the whole base62 alphabet is used, and ids do not repeat */
    int seen[128] = {0};
    char prev[64] = "";
    for (int i = 0; i < 1000; i++) {
        char id[64];
        tg_random_id(id, "x_", 24);
        assert_string_not_equal(id, prev);
        for (int j = 2; j < 26; j++) {
            assert_true(is_base62(id[j]));
            seen[(unsigned char)id[j]]++;
        }
        strcpy(prev, id);
    }
    int distinct = 0;
    for (int c = 0; c < 128; c++)
        distinct += seen[c] > 0;
    assert_int_equal(distinct, 62);
}

static void test_slice_eq_ci(void **state)
{
    assert_true(tg_slice_eq_ci("Content-Type", 12, "content-type"));
    assert_true(tg_slice_eq_ci("BEARERxyz", 6, "bearer"));
    assert_false(tg_slice_eq_ci("Bearer", 6, "bearer "));
    assert_false(tg_slice_eq_ci("Bearer ", 7, "bearer"));
    assert_false(tg_slice_eq_ci("Bearex", 6, "bearer"));
    assert_true(tg_slice_eq_ci("", 0, ""));
}

static int setup(void **state)
{
    return sodium_init() < 0 ? -1 : 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_nanos_valid),
        cmocka_unit_test(test_parse_nanos_uses_len_not_nul),
        cmocka_unit_test(test_parse_nanos_rejects),
        cmocka_unit_test(test_parse_nanos_overflow),
        cmocka_unit_test(test_format_nanos_exact),
        cmocka_unit_test(test_format_nanos_roundtrip),
        cmocka_unit_test(test_request_id),
        cmocka_unit_test(test_random_id),
        cmocka_unit_test(test_slice_eq_ci),
    };
    return cmocka_run_group_tests_name("util", tests, setup, NULL);
}
