/* auth/keys: key generation, hashing, redaction (sealing: test_secrets.c). */
#include "auth/keys.h"
#include "core/log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

static int is_base62(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- generation ---- */

static void check_generated(const char *prefix)
{
    char k[TG_KEY_SECRET_MAX];
    memset(k, 'Z', sizeof(k));
    tg_key_generate(prefix, k);
    size_t pl = strlen(prefix);
    assert_int_equal(strlen(k), pl + 44);
    assert_memory_equal(k, prefix, pl);
    for (size_t i = pl; i < pl + 44; i++)
        if (!is_base62(k[i]))
            fail_msg("key %s: char %zu is not base62", k, i);
}

static void test_generate_format(void **state)
{
    check_generated("sk-proj-");
    check_generated("sk-admin-");
}

static void test_generate_distinct(void **state)
{
    enum { N = 1000 };
    char **keys = calloc(N, sizeof(char *));
    assert_non_null(keys);
    for (int i = 0; i < N; i++) {
        keys[i] = malloc(TG_KEY_SECRET_MAX);
        assert_non_null(keys[i]);
        tg_key_generate("sk-proj-", keys[i]);
    }
    qsort(keys, N, sizeof(char *), cmp_str);
    for (int i = 1; i < N; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0)
            fail_msg("duplicate key %s", keys[i]);
    for (int i = 0; i < N; i++)
        free(keys[i]);
    free(keys);
}

/* ---- hashing ---- */

static void test_hash(void **state)
{
    unsigned char a[32], b[32], c[32];
    const char *s1 = "sk-proj-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const char *s2 = "sk-proj-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB";
    tg_key_hash(s1, strlen(s1), a);
    tg_key_hash(s1, strlen(s1), b);
    assert_memory_equal(a, b, 32);
    tg_key_hash(s2, strlen(s2), c);
    assert_memory_not_equal(a, c, 32);
    /* the length counts: a prefix of a secret is a different secret */
    tg_key_hash(s1, strlen(s1) - 1, c);
    assert_memory_not_equal(a, c, 32);
    /* and bytes past len are not part of it */
    tg_key_hash("abcdef", 3, b);
    tg_key_hash("abcxyz", 3, c);
    assert_memory_equal(b, c, 32);
    /* stored hashes must stay valid across versions: BLAKE2b-256, unkeyed (known vector) */
    static const unsigned char abc[32] = {
        0xbd, 0xdd, 0x81, 0x3c, 0x63, 0x42, 0x39, 0x72, 0x31, 0x71, 0xef,
        0x3f, 0xee, 0x98, 0x57, 0x9b, 0x94, 0x96, 0x4e, 0x3b, 0xb1, 0xcb,
        0x3e, 0x42, 0x72, 0x62, 0xc8, 0xc0, 0x68, 0xd5, 0x23, 0x19};
    tg_key_hash("abc", 3, a);
    assert_memory_equal(a, abc, 32);
}

/* ---- redaction for listings ---- */

#define BODY44 "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqr"

/* No 4-byte run of the secret's hidden middle [from, to) shows up in out. */
static void reveals_nothing(const char *secret, size_t from, size_t to, const char *out)
{
    for (size_t i = from; i + 4 <= to; i++)
        if (memmem(out, strlen(out), secret + i, 4))
            fail_msg("\"%s\" reveals \"%.4s\" from the middle of the secret", out, secret + i);
}

static void test_redact(void **state)
{
    char out[64];
    const char *proj = "sk-proj-" BODY44;
    tg_key_redact(proj, out);
    assert_string_equal(out, "sk-proj-ABC\xe2\x80\xa6opqr");
    reveals_nothing(proj, 11, strlen(proj) - 4, out);

    const char *adm = "sk-admin-" BODY44;
    tg_key_redact(adm, out);
    assert_string_equal(out, "sk-admin-ABC\xe2\x80\xa6opqr");
    reveals_nothing(adm, 12, strlen(adm) - 4, out);

    /* a generated key: prefix + 3 + "…" + last 4, nothing else */
    char k[TG_KEY_SECRET_MAX];
    for (int i = 0; i < 200; i++) {
        tg_key_generate("sk-proj-", k);
        tg_key_redact(k, out);
        size_t kl = strlen(k);
        assert_int_equal(strlen(out), 8 + 3 + 3 + 4);
        assert_memory_equal(out, k, 11);
        assert_memory_equal(out + 11, "\xe2\x80\xa6", 3);
        assert_memory_equal(out + 14, k + kl - 4, 4);
    }
}

static void test_redact_short(void **state)
{
    /* too short to redact safely: nothing after the prefix is shown */
    char out[64];
    tg_key_redact("sk-proj-abcd", out);
    assert_null(strstr(out, "abc"));
    assert_null(strstr(out, "bcd"));
    tg_key_redact("sk-proj-", out);
    assert_true(strlen(out) < 64);
    tg_key_redact("", out);
    assert_true(strlen(out) < 64);
}

/* ---- redaction for error messages ---- */

static void check_redact_error(const char *secret, size_t len)
{
    char out[256];
    tg_key_redact_error(secret, len, out, sizeof(out));
    size_t ol = strlen(out);
    assert_true(ol > 12);
    assert_memory_equal(out, secret, 8);
    assert_memory_equal(out + ol - 4, secret + len - 4, 4);
    for (size_t i = 8; i < ol - 4; i++)
        if (out[i] != '*')
            fail_msg("redacted \"%s\": char %zu is not '*'", out, i);
}

static void test_redact_error(void **state)
{
    const char *k = "sk-proj-" BODY44; /* 52 chars */
    char out[256];
    tg_key_redact_error(k, strlen(k), out, sizeof(out));
    assert_string_equal(out, "sk-proj-****************************************opqr");
    check_redact_error(k, strlen(k));

    /* 13 characters: the shortest that shows anything */
    tg_key_redact_error("sk-proj-12345", 13, out, sizeof(out));
    assert_string_equal(out, "sk-proj-*2345");

    /* only len bytes count */
    tg_key_redact_error("sk-wrong-key-1234TRAILING", 17, out, sizeof(out));
    assert_string_equal(out, "sk-wrong*****1234");
}

static void test_redact_error_long_is_bounded(void **state)
{
    size_t len = 10 * 1024;
    char *big = malloc(len);
    assert_non_null(big);
    for (size_t i = 0; i < len; i++)
        big[i] = "abcdefghij"[i % 10];
    memcpy(big, "sk-proj-", 8);
    memcpy(big + len - 4, "WXYZ", 4);

    char out[16384];
    tg_key_redact_error(big, len, out, sizeof(out));
    size_t ol = strlen(out);
    if (ol > 100)
        fail_msg("a 10 KB key gave a %zu-byte redaction", ol);
    check_redact_error(big, len);

    /* the message never grows with the input */
    char out2[16384];
    tg_key_redact_error(big, 200, out2, sizeof(out2));
    assert_true(strlen(out2) <= 100);
    free(big);
}

static void test_redact_error_short_reveals_nothing(void **state)
{
    static const char *shorts[] = {"", "a", "sk-", "sk-proj-", "sk-proj-abcd", "123456789012"};
    for (size_t i = 0; i < sizeof(shorts) / sizeof(shorts[0]); i++) {
        const char *s = shorts[i];
        size_t len = strlen(s);
        assert_true(len <= 12);
        char out[64];
        memset(out, 'Z', sizeof(out));
        tg_key_redact_error(s, len, out, sizeof(out));
        assert_true(strlen(out) < sizeof(out));
        for (const char *p = out; *p; p++)
            if (*p != '*')
                fail_msg("short key \"%s\" redacted as \"%s\": reveals '%c'", s, out, *p);
    }
}

static void test_redact_error_nonprintable(void **state)
{
    /* control bytes, a NUL, DEL, and non-ASCII in the shown parts */
    static const char k[] = "sk\n\r\0\x01\x7f\xff"
                            "MIDDLEMIDDLEMIDDLE"
                            "\x1b\t\xc3\xa9";
    size_t len = sizeof(k) - 1;
    char out[256];
    tg_key_redact_error(k, len, out, sizeof(out));
    assert_int_equal(strlen(out), len); /* the NUL did not cut it short */
    for (const char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            fail_msg("byte 0x%02x at %zu not replaced", (unsigned char)*p, (size_t)(p - out));
    assert_memory_equal(out, "sk", 2);
    assert_null(strstr(out, "MIDDLE"));
}

static void test_redact_error_cap(void **state)
{
    const char *k = "sk-proj-" BODY44;
    char buf[64];
    memset(buf, 'Z', sizeof(buf));
    tg_key_redact_error(k, strlen(k), buf, 10);
    assert_true(strlen(buf) <= 9);
    for (size_t i = 10; i < sizeof(buf); i++)
        assert_int_equal(buf[i], 'Z');
    /* what was written is still a prefix of the full redaction */
    char full[256];
    tg_key_redact_error(k, strlen(k), full, sizeof(full));
    assert_memory_equal(buf, full, strlen(buf));

    memset(buf, 'Z', sizeof(buf));
    tg_key_redact_error(k, strlen(k), buf, 1);
    assert_int_equal(buf[0], '\0');
    assert_int_equal(buf[1], 'Z');

    memset(buf, 'Z', sizeof(buf));
    tg_key_redact_error(k, strlen(k), buf, 0); /* writes nothing */
    assert_int_equal(buf[0], 'Z');

    /* short key with a small cap */
    memset(buf, 'Z', sizeof(buf));
    tg_key_redact_error("sk-12345", 8, buf, 4);
    assert_string_equal(buf, "***");
    assert_int_equal(buf[4], 'Z');
}

static int setup(void **state)
{
    return sodium_init() < 0 ? -1 : 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_format),
        cmocka_unit_test(test_generate_distinct),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_redact),
        cmocka_unit_test(test_redact_short),
        cmocka_unit_test(test_redact_error),
        cmocka_unit_test(test_redact_error_long_is_bounded),
        cmocka_unit_test(test_redact_error_short_reveals_nothing),
        cmocka_unit_test(test_redact_error_nonprintable),
        cmocka_unit_test(test_redact_error_cap),
    };
    return cmocka_run_group_tests_name("keys", tests, setup, NULL);
}
