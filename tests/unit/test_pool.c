/* providers/pool.c: which provider and key each attempt gets. Exact shares of the smooth
 * weighted round robin, priority as fallback, a failed provider not retried in the same
 * request, keys in turn and resting after 401/429, the breaker's open → half-open (one probe)
 * → closed cycle, and the wait a request is told when nothing is available. */
#include "providers/pool.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

static tg_provider_t provs[4];
static tg_target_t targets[4];

/* n targets; provider i has id "<prefix>i", the given priority, weight and key count. */
static void setup(const char *prefix, int n, const int *prio, const int *weight, const int *keys)
{
    memset(provs, 0, sizeof(provs));
    memset(targets, 0, sizeof(targets));
    for (int i = 0; i < n; i++) {
        snprintf(provs[i].row.id, sizeof(provs[i].row.id), "%s%d", prefix, i);
        provs[i].row.priority = prio[i];
        provs[i].row.weight = weight[i];
        provs[i].row.enabled = 1;
        provs[i].nkeys = keys[i];
        for (int k = 0; k < keys[i]; k++)
            snprintf(provs[i].keys[k], sizeof(provs[i].keys[k]), "key-%d-%d", i, k);
        targets[i].provider = &provs[i];
        snprintf(targets[i].upstream_model, sizeof(targets[i].upstream_model), "m");
    }
}

static int pick1(const char *model, int n, tg_tries_t *t, tg_pick_t *p)
{
    int64_t wait;
    return tg_pool_pick(model, targets, n, t, p, &wait);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_weights_exact_shares(void **state)
{
    setup("w", 3, (int[]){0, 0, 1}, (int[]){3, 1, 5}, (int[]){1, 1, 1});
    int count[3] = {0}, run = 0, longest = 0, last = -1;
    for (int i = 0; i < 200; i++) {
        tg_tries_t t = {0};
        tg_pick_t p;
        assert_int_equal(pick1("model-w", 3, &t, &p), 0);
        tg_pool_report(targets, &p, &t, TG_OUT_OK, 0, NULL);
        count[p.target]++;
        run = p.target == last ? run + 1 : 1;
        last = p.target;
        if (p.target == 0 && run > longest)
            longest = run;
    }
    /* 3 : 1 exactly over any multiple of 4, interleaved (A A B A …), never the fallback */
    assert_int_equal(count[0], 150);
    assert_int_equal(count[1], 50);
    assert_int_equal(count[2], 0);
    assert_true(longest <= 3);
}

static void test_priority_fallback_and_no_second_try(void **state)
{
    setup("f", 2, (int[]){0, 1}, (int[]){1, 1}, (int[]){1, 1});
    tg_tries_t t = {0};
    tg_pick_t p;
    assert_int_equal(pick1("model-f", 2, &t, &p), 0);
    assert_int_equal(p.target, 0);
    tg_pool_report(targets, &p, &t, TG_OUT_FAILED, 0, "HTTP 503");
    /* the same request goes to the fallback, then has nothing left */
    assert_int_equal(pick1("model-f", 2, &t, &p), 0);
    assert_int_equal(p.target, 1);
    tg_pool_report(targets, &p, &t, TG_OUT_FAILED, 0, "HTTP 503");
    int64_t wait = -1;
    assert_int_equal(tg_pool_pick("model-f", targets, 2, &t, &p, &wait), -1);
    assert_int_equal(wait, 0); /* nothing will become available to this request */
    assert_int_equal(t.attempts, 2);
    /* a new request starts on the primary again (one failure does not open its breaker) */
    tg_tries_t t2 = {0};
    assert_int_equal(pick1("model-f", 2, &t2, &p), 0);
    assert_int_equal(p.target, 0);
    tg_pool_report(targets, &p, &t2, TG_OUT_OK, 0, NULL);
    tg_health_view_t h;
    tg_pool_health("f0", 1, &h);
    assert_string_equal(h.status, "healthy");
    assert_string_equal(h.last_error, "HTTP 503");
    assert_true(h.last_error_at > 0);
}

static void test_keys_rotate_and_rest(void **state)
{
    setup("k", 1, (int[]){0}, (int[]){1}, (int[]){3});
    int seen[3] = {0};
    for (int i = 0; i < 6; i++) {
        tg_tries_t t = {0};
        tg_pick_t p;
        assert_int_equal(pick1("model-k", 1, &t, &p), 0);
        seen[p.key]++;
        tg_pool_report(targets, &p, &t, TG_OUT_OK, 0, NULL);
    }
    assert_int_equal(seen[0], 2);
    assert_int_equal(seen[1], 2);
    assert_int_equal(seen[2], 2);
    /* key 0 refused, key 1 rate limited for 60 s: the same request tries key 2, and later
     * requests use only key 2 */
    tg_tries_t t = {0};
    tg_pick_t p;
    assert_int_equal(pick1("model-k", 1, &t, &p), 0);
    assert_int_equal(p.key, 0);
    tg_pool_report(targets, &p, &t, TG_OUT_AUTH, 0, "HTTP 401");
    assert_int_equal(pick1("model-k", 1, &t, &p), 0);
    assert_int_equal(p.key, 1);
    tg_pool_report(targets, &p, &t, TG_OUT_LIMITED, 60000, "HTTP 429");
    assert_int_equal(pick1("model-k", 1, &t, &p), 0);
    assert_int_equal(p.key, 2);
    tg_pool_report(targets, &p, &t, TG_OUT_OK, 0, NULL);
    for (int i = 0; i < 4; i++) {
        tg_tries_t u = {0};
        assert_int_equal(pick1("model-k", 1, &u, &p), 0);
        assert_int_equal(p.key, 2);
        tg_pool_report(targets, &p, &u, TG_OUT_OK, 0, NULL);
    }
    /* key 2 limited too: nothing now, and the request is told when a key wakes (≤ 60 s) */
    tg_tries_t u = {0};
    assert_int_equal(pick1("model-k", 1, &u, &p), 0);
    tg_pool_report(targets, &p, &u, TG_OUT_LIMITED, 2000, "HTTP 429");
    tg_tries_t v = {0};
    int64_t wait = 0;
    assert_int_equal(tg_pool_pick("model-k", targets, 1, &v, &p, &wait), -1);
    assert_true(wait > 0 && wait <= 2000);
    tg_health_view_t h;
    tg_pool_health("k0", 1, &h);
    assert_string_equal(h.status, "healthy"); /* a limited key is not a broken provider */
    assert_int_equal(h.outcomes[TG_OUT_AUTH], 1);
    assert_int_equal(h.outcomes[TG_OUT_LIMITED], 2);
}

static void test_breaker_opens_probes_and_closes(void **state)
{
    tg_pool_config(3, 200);
    setup("b", 2, (int[]){0, 1}, (int[]){1, 1}, (int[]){1, 1});
    tg_tries_t t;
    tg_pick_t p;
    tg_health_view_t h;
    for (int i = 0; i < 3; i++) { /* three requests each fail on b0, then get b1 */
        memset(&t, 0, sizeof(t));
        assert_int_equal(pick1("model-b", 2, &t, &p), 0);
        assert_int_equal(p.target, 0);
        tg_pool_report(targets, &p, &t, TG_OUT_FAILED, 0, "connect");
        tg_pool_health("b0", 1, &h);
        assert_string_equal(h.status, i < 2 ? "failing" : "open");
    }
    /* open: skipped, straight to the fallback */
    memset(&t, 0, sizeof(t));
    assert_int_equal(pick1("model-b", 2, &t, &p), 0);
    assert_int_equal(p.target, 1);
    tg_pool_report(targets, &p, &t, TG_OUT_OK, 0, NULL);
    /* alone, an open provider is not available, with a wait until its cool-down ends */
    memset(&t, 0, sizeof(t));
    int64_t wait = 0;
    assert_int_equal(tg_pool_pick("model-b", targets, 1, &t, &p, &wait), -1);
    assert_true(wait > 0 && wait <= 200);
    sleep_ms(250);
    tg_pool_health("b0", 1, &h);
    assert_string_equal(h.status, "half_open");
    /* one probe: the next request gets b0; a concurrent one does not */
    tg_tries_t probe = {0}, other = {0};
    assert_int_equal(pick1("model-b", 2, &probe, &p), 0);
    assert_int_equal(p.target, 0);
    tg_pick_t q;
    assert_int_equal(pick1("model-b", 2, &other, &q), 0);
    assert_int_equal(q.target, 1);
    tg_pool_report(targets, &q, &other, TG_OUT_OK, 0, NULL);
    /* the probe fails: open again for a whole cool-down */
    tg_pool_report(targets, &p, &probe, TG_OUT_FAILED, 0, "HTTP 500");
    tg_pool_health("b0", 1, &h);
    assert_string_equal(h.status, "open");
    sleep_ms(250);
    memset(&probe, 0, sizeof(probe));
    assert_int_equal(pick1("model-b", 2, &probe, &p), 0);
    assert_int_equal(p.target, 0);
    tg_pool_report(targets, &p, &probe, TG_OUT_OK, 0, NULL);
    tg_pool_health("b0", 1, &h);
    assert_string_equal(h.status, "healthy");
    assert_int_equal(h.consecutive_failures, 0);
    /* a probe whose request went away is given back: the next request may probe */
    for (int i = 0; i < 3; i++) {
        memset(&t, 0, sizeof(t));
        assert_int_equal(pick1("model-b", 2, &t, &p), 0);
        tg_pool_report(targets, &p, &t, TG_OUT_FAILED, 0, "connect");
    }
    sleep_ms(250);
    memset(&probe, 0, sizeof(probe));
    assert_int_equal(pick1("model-b", 2, &probe, &p), 0);
    assert_int_equal(p.target, 0);
    tg_pool_abandon(targets, &probe);
    memset(&t, 0, sizeof(t));
    assert_int_equal(pick1("model-b", 2, &t, &p), 0);
    assert_int_equal(p.target, 0);
    tg_pool_report(targets, &p, &t, TG_OUT_OK, 0, NULL);
    tg_pool_config(5, 30000);
}

static void test_retry_after_on_5xx_rests_the_provider(void **state)
{
    setup("r", 2, (int[]){0, 0}, (int[]){1, 1}, (int[]){1, 1});
    tg_tries_t t = {0};
    tg_pick_t p;
    assert_int_equal(pick1("model-r", 2, &t, &p), 0);
    int first = p.target;
    tg_pool_report(targets, &p, &t, TG_OUT_FAILED, 60000, "HTTP 503");
    for (int i = 0; i < 4; i++) { /* later requests avoid it while it rests */
        tg_tries_t u = {0};
        assert_int_equal(pick1("model-r", 2, &u, &p), 0);
        assert_int_not_equal(p.target, first);
        tg_pool_report(targets, &p, &u, TG_OUT_OK, 0, NULL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weights_exact_shares),
        cmocka_unit_test(test_priority_fallback_and_no_second_try),
        cmocka_unit_test(test_keys_rotate_and_rest),
        cmocka_unit_test(test_breaker_opens_probes_and_closes),
        cmocka_unit_test(test_retry_after_on_5xx_rests_the_provider),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
