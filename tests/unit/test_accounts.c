/* auth/accounts: email rules, tokens and their hashes, CSRF derivation, login throttling,
 * and the asynchronous password hashing on the work queue (a real event loop). */
#include "auth/accounts.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_email(void **state)
{
    char out[256];
    assert_int_equal(tg_email_normalize("Ada.Lovelace@Example.COM", out, sizeof(out)), 0);
    assert_string_equal(out, "ada.lovelace@example.com");
    const char *bad[] = {"", "a", "no-at.example.com", "two@@example.com", "a@b@example.com",
                         "@example.com", "ada@", "ada@example", "ada@.com", "ada@example.",
                         "ada lovelace@example.com", "ada@exa\tmple.com", "<ada@example.com>"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(tg_email_normalize(bad[i], out, sizeof(out)), -1);
    char longmail[300];
    memset(longmail, 'a', sizeof(longmail));
    memcpy(longmail + 280, "@example.com", 13);
    assert_int_equal(tg_email_normalize(longmail, out, sizeof(out)), -1);
    assert_int_equal(tg_email_normalize("ada@example.com", out, 10), -1); /* never overflows */
}

static void test_password_rules(void **state)
{
    assert_int_equal(tg_password_ok("1234567", 7), -1);
    assert_int_equal(tg_password_ok("12345678", 8), 0);
    char big[TG_PW_MAX + 1];
    memset(big, 'x', sizeof(big));
    assert_int_equal(tg_password_ok(big, TG_PW_MAX), 0);
    assert_int_equal(tg_password_ok(big, TG_PW_MAX + 1), -1);
    assert_int_equal(tg_password_ok("abcd\0efgh", 9), -1); /* an embedded NUL */
}

static void test_tokens(void **state)
{
    char t1[TG_TOKEN_MAX], h1[TG_TOKEN_HASH], t2[TG_TOKEN_MAX], h2[TG_TOKEN_HASH], h[TG_TOKEN_HASH];
    tg_token_new(t1, h1);
    tg_token_new(t2, h2);
    assert_int_equal(strlen(t1), 43);
    assert_string_not_equal(t1, t2);
    assert_int_equal(strlen(h1), 64);
    tg_token_hash(t1, strlen(t1), h);
    assert_string_equal(h, h1);          /* the stored hash finds the token again */
    assert_null(strstr(h1, t1));         /* and does not contain it */
    char c1[TG_TOKEN_HASH], c2[TG_TOKEN_HASH];
    tg_session_csrf(t1, strlen(t1), c1);
    tg_session_csrf(t1, strlen(t1), c2);
    assert_string_equal(c1, c2);
    assert_string_not_equal(c1, h1);     /* the CSRF token is not the stored session hash */
    tg_session_csrf(t2, strlen(t2), c2);
    assert_string_not_equal(c1, c2);
}

static void test_throttle(void **state)
{
    const char *e = "victim@example.com";
    int64_t now = 1800000000;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(tg_login_throttled(e, now), 0);
        tg_login_failed(e, now);
    }
    assert_int_equal(tg_login_throttled(e, now), 0);
    tg_login_failed(e, now + 10);
    assert_int_equal(tg_login_throttled(e, now + 10), 900 - 10);
    assert_int_equal(tg_login_throttled("other@example.com", now + 10), 0);
    assert_int_equal(tg_login_throttled(e, now + 900), 0); /* the window ended */
    /* a success clears the count */
    tg_login_failed(e, now + 1000);
    tg_login_succeeded(e);
    for (int i = 0; i < 4; i++)
        tg_login_failed(e, now + 1001);
    assert_int_equal(tg_login_throttled(e, now + 1001), 0);
}

typedef struct {
    struct event_base *base;
    int result, calls;
    char hash[crypto_pwhash_STRBYTES];
} done_t;

static void on_done(void *arg, int result, const char *hash)
{
    done_t *d = arg;
    d->result = result;
    d->calls++;
    if (hash)
        snprintf(d->hash, sizeof(d->hash), "%s", hash);
    event_base_loopbreak(d->base);
}

static void run(done_t *d)
{
    d->calls = 0;
    event_base_loop(d->base, EVLOOP_NO_EXIT_ON_EMPTY);
    assert_int_equal(d->calls, 1);
}

static void test_async_hash_and_verify(void **state)
{
    done_t d = {.base = event_base_new()};
    assert_int_equal(tg_accounts_start(2), 0);
    assert_int_equal(tg_password_hash_async(d.base, "correct horse", 13, on_done, &d), 0);
    run(&d);
    assert_int_equal(d.result, 0);
    assert_memory_equal(d.hash, "$argon2id$", 10);
    assert_null(strstr(d.hash, "correct horse"));

    assert_int_equal(tg_password_verify_async(d.base, d.hash, "correct horse", 13, on_done, &d), 0);
    run(&d);
    assert_int_equal(d.result, 0);
    assert_int_equal(tg_password_verify_async(d.base, d.hash, "wrong horse", 11, on_done, &d), 0);
    run(&d);
    assert_int_equal(d.result, 1);
    /* an unknown user: checked against the dummy hash, never a match */
    assert_int_equal(tg_password_verify_async(d.base, NULL, "tollgate", 8, on_done, &d), 0);
    run(&d);
    assert_int_equal(d.result, 1);
    tg_accounts_stop();
    /* stopped: refused, not queued */
    assert_int_equal(tg_password_hash_async(d.base, "x", 1, on_done, &d), -1);
    event_base_free(d.base);
}

int main(void)
{
    evthread_use_pthreads();
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_email),
        cmocka_unit_test(test_password_rules),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_throttle),
        cmocka_unit_test(test_async_hash_and_verify),
    };
    return cmocka_run_group_tests_name("accounts", tests, NULL, NULL);
}
