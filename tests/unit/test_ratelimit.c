/* limits/ratelimit and limits/tiers: GCRA buckets (RPM, RPD, TPM, TPD) per organisation ×
 * model and project × model, the header state, refusals, reservation and settlement, the
 * Go-style durations of the x-ratelimit-reset-* headers, precision over time and under
 * threads, memory under churn, and the tier table data/tiers.json.
 *
 * Time is simulated with tg_rl_now_override (monotonic ns; 0 would mean the real clock, so
 * every test sets a non-zero instant). The buckets live in one process-wide table, so every
 * test uses its own organisation/project ids, and the simulated clock only moves forward
 * (each test starts 30 days after the previous one, when every earlier bucket is idle).
 *
 * Some tests look inside: they replicate the table's key hash (FNV-1a over scope, 0xff,
 * model; 64 stripes) to put several pairs into one lock stripe on purpose. If the hash in
 * src/limits/ratelimit.c changes, update same_stripe() below. */
#include "limits/ratelimit.h"
#include "limits/tiers.h"

#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define MS 1000000LL
#define SEC (1000 * MS)
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
#define STRIPES 64

/* ---- helpers ---- */

static int64_t clock_ns = 100 * DAY;

static void at(int64_t t)
{
    tg_rl_now_override = t;
}

/* A new instant, 30 days after anything an earlier test did. */
static int64_t fresh_time(void)
{
    clock_ns += 30 * DAY;
    at(clock_ns);
    return clock_ns;
}

static tg_rl_limits_t lim(int64_t rpm, int64_t rpd, int64_t tpm, int64_t tpd)
{
    tg_rl_limits_t l;
    l.v[TG_RL_RPM] = rpm;
    l.v[TG_RL_RPD] = rpd;
    l.v[TG_RL_TPM] = tpm;
    l.v[TG_RL_TPD] = tpd;
    return l;
}

typedef struct {
    int rc;
    tg_rl_ticket_t t;
    tg_rl_state_t s;
    tg_rl_refusal_t w;
} res_t;

static res_t acq(const char *org, const char *proj, const char *model, const tg_rl_limits_t *lo,
                 const tg_rl_limits_t *lp, int64_t tokens)
{
    res_t r;
    memset(&r, 0x5a, sizeof(r)); /* the call must fill everything it reports */
    r.rc = tg_rl_acquire(org, proj, model, lo, lp, tokens, &r.t, &r.s, &r.w);
    return r;
}

static void expect_admitted(const res_t *r, const char *what)
{
    if (r->rc != 0)
        fail_msg("%s: refused (which %d, project %d, limit %lld, used %lld, requested %lld, "
                 "retry %lld ms, too_large %d), want admitted",
                 what, r->w.which, r->w.project, (long long)r->w.limit, (long long)r->w.used,
                 (long long)r->w.requested, (long long)r->w.retry_after_ms, r->w.too_large);
}

static void expect_refused(const res_t *r, const char *what)
{
    if (r->rc != -1)
        fail_msg("%s: admitted (rc %d), want refused", what, r->rc);
}

/* The table's key hash and stripe (a replica of hash_key in src/limits/ratelimit.c). */
static int stripe_of(const char *scope, const char *model)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = scope; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (const char *p = model; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = h ? h : 1;
    return (int)(h % STRIPES);
}

/* Writes the next id "prefix<n>" (n counting up from *n) whose pair with `model` falls in
 * `stripe`. */
static void id_in_stripe(char *out, size_t cap, const char *prefix, int *n, const char *model,
                         int stripe)
{
    for (;; (*n)++) {
        snprintf(out, cap, "%s%d", prefix, *n);
        if (stripe_of(out, model) == stripe) {
            (*n)++;
            return;
        }
    }
}

/* Bytes currently allocated from the heap (the sanitizers' allocator when built with one). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TG_ASAN 1 /* ASan or TSan: both replace malloc, so mallinfo2 sees nothing */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TG_ASAN 1
#endif
#endif
#ifdef TG_ASAN
size_t __sanitizer_get_current_allocated_bytes(void);
static size_t heap_bytes(void)
{
    return __sanitizer_get_current_allocated_bytes();
}
#else
static size_t heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}
#endif

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* ---- the same-stripe growth (must run first: it needs a table nothing has touched) ---- */

/* Org and project pairs in the same stripe, with the project's new slot being the one that
 * fills it to the point of a rebuild: the organisation's slot was created just before, in
 * the same acquire, and must survive the rebuild. Runs in a child process so that a crash (or ASan's report) shows up as
 * one failed test rather than ending the run. Returns the child's exit code. */
static int same_stripe_growth_child(void)
{
    const char *model = "gpt-4o-mini";
    tg_rl_limits_t one = lim(1, 0, 0, 0), many = lim(1000, 0, 0, 0);
    char org[48], proj[48], a[48], b[48];
    int no = 0, np = 0, nf = 0, ng = 0;
    int s;
    res_t r;

    at(50 * DAY); /* frozen: every admitted bucket stays busy */
    id_in_stripe(org, sizeof(org), "org-sg-", &no, model, 0);
    s = stripe_of(org, model);
    id_in_stripe(proj, sizeof(proj), "proj_sg_", &np, model, s);
    /* a fresh stripe: capacity 64, grows when a 49th slot is added. 1 + 23 × 2 = 47 slots */
    id_in_stripe(a, sizeof(a), "org-fill-", &nf, model, s);
    r = acq(a, NULL, model, &many, NULL, 0);
    if (r.rc != 0)
        return 3;
    for (int i = 0; i < 23; i++) {
        id_in_stripe(a, sizeof(a), "org-fill-", &nf, model, s);
        id_in_stripe(b, sizeof(b), "proj_fill_", &ng, model, s);
        r = acq(a, b, model, &many, &many, 0);
        if (r.rc != 0)
            return 3;
    }
    /* the 48th slot (org) fits; the 49th (project) grows the stripe */
    r = acq(org, proj, model, &one, &many, 0);
    if (r.rc != 0)
        return 4;
    /* the organisation's single request per minute is taken: another project is refused */
    r = acq(org, "proj_sg_other", model, &one, &many, 0);
    if (r.rc != -1) {
        fprintf(stderr, "same-stripe growth: the organisation's bucket was not charged (its "
                        "slot was dropped or written after free)\n");
        return 2;
    }
    return 0;
}

static void test_same_stripe_growth(void **state)
{
    (void)state;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* cmocka's handlers would catch a crash and longjmp back into the test runner, and
         * the child would run the remaining tests (and hang on the mutex it still holds):
         * a crash must end the child, and so must a hang */
        static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
            signal(sigs[i], SIG_DFL);
        alarm(20);
        _exit(same_stripe_growth_child());
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("org and project in one stripe, the project's new slot filling it: child %s "
                 "%d (2: org bucket not charged; 1: sanitizer report; signal: crash) — the "
                 "organisation's slot, created just before in the same acquire, must survive "
                 "the stripe being rebuilt for the project's",
                 WIFEXITED(st) ? "exited" : "killed by signal",
                 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

/* ---- durations ---- */

static void dur_is(int64_t ms, const char *want)
{
    char got[64];
    memset(got, 'x', sizeof(got));
    tg_rl_duration(ms, got, sizeof(got));
    if (strcmp(got, want) != 0)
        fail_msg("tg_rl_duration(%lld) = \"%s\", want \"%s\"", (long long)ms, got, want);
}

static void test_duration_exact(void **state)
{
    (void)state;
    /* The brief also listed 0 → "0ms"; Go prints the zero duration as "0s" (see
     * test_duration_go_rules), so 0 is checked there only. */
    dur_is(20, "20ms");
    dur_is(999, "999ms");
    dur_is(1000, "1s");
    dur_is(1500, "1.5s");
    dur_is(60000, "1m0s");
    dur_is(90000, "1m30s");
    dur_is(360000, "6m0s");
    dur_is(3600000, "1h0m0s");
    dur_is(86399000, "23h59m59s");
    /* small buffers truncate, NUL-terminated */
    char small[4];
    tg_rl_duration(86399000, small, sizeof(small));
    assert_string_equal(small, "23h");
}

/* Go's time.Duration.String (src/time/time.go, format/fmtFrac/fmtInt), ported for ns ≥ 0.
 * "Leading zero units are omitted. As a special case, durations less than one second format
 * use a smaller unit (milli-, micro-, or nanoseconds) to ensure that the leading digit is
 * non-zero. The zero duration formats as 0s." */
static int go_frac(char *buf, int w, uint64_t *v, int prec)
{
    int print = 0;
    for (int i = 0; i < prec; i++) {
        int digit = (int)(*v % 10);
        print = print || digit != 0;
        if (print)
            buf[--w] = (char)('0' + digit);
        *v /= 10;
    }
    if (print)
        buf[--w] = '.';
    return w;
}

static int go_int(char *buf, int w, uint64_t v)
{
    if (v == 0) {
        buf[--w] = '0';
    } else {
        while (v > 0) {
            buf[--w] = (char)('0' + v % 10);
            v /= 10;
        }
    }
    return w;
}

static void go_duration(uint64_t u, char *out, size_t cap)
{
    char buf[32];
    int w = (int)sizeof(buf);
    if (u < 1000000000ull) {
        int prec;
        buf[--w] = 's';
        w--;
        if (u == 0) {
            buf[w] = '0';
            snprintf(out, cap, "%.*s", (int)sizeof(buf) - w, buf + w);
            return;
        } else if (u < 1000ull) {
            prec = 0;
            buf[w] = 'n';
        } else if (u < 1000000ull) {
            prec = 3;
            w--;
            memcpy(buf + w, "\xc2\xb5", 2); /* µ */
        } else {
            prec = 6;
            buf[w] = 'm';
        }
        w = go_frac(buf, w, &u, prec);
        w = go_int(buf, w, u);
    } else {
        buf[--w] = 's';
        w = go_frac(buf, w, &u, 9);
        w = go_int(buf, w, u % 60);
        u /= 60;
        if (u > 0) {
            buf[--w] = 'm';
            w = go_int(buf, w, u % 60);
            u /= 60;
            if (u > 0) {
                buf[--w] = 'h';
                w = go_int(buf, w, u);
            }
        }
    }
    snprintf(out, cap, "%.*s", (int)sizeof(buf) - w, buf + w);
}

static void test_duration_go_rules(void **state)
{
    (void)state;
    char want[64], got[64];
    /* the port against Go's documented outputs */
    static const struct {
        uint64_t ns;
        const char *s;
    } go_known[] = {
        {0, "0s"}, {1, "1ns"}, {1100, "1.1\xc2\xb5s"}, {2200000, "2.2ms"},
        {3300000000ull, "3.3s"}, {4 * 60000000000ull + 5000000000ull, "4m5s"},
        {4 * 60000000000ull + 5001000000ull, "4m5.001s"},
        {5 * 3600000000000ull + 6 * 60000000000ull + 7001000000ull, "5h6m7.001s"},
        {72 * 3600000000000ull + 3 * 60000000000ull + 500000000ull, "72h3m0.5s"},
    };
    for (size_t i = 0; i < sizeof(go_known) / sizeof(go_known[0]); i++) {
        go_duration(go_known[i].ns, want, sizeof(want));
        assert_string_equal(want, go_known[i].s);
    }

    static const int64_t table[] = {
        1, 9, 10, 12, 20, 99, 100, 101, 999, 1000, 1001, 1010, 1100, 1500, 1999, 2000, 9999,
        10000, 59999, 60000, 60001, 60010, 60100, 60500, 61000, 90000, 119999, 120000, 359999,
        360000, 3599999, 3600000, 3600001, 3600500, 3660500, 86399000, 86399999, 86400000,
        90061001, 359999999, 360000000000LL, 9223372036854LL,
    };
    int diffs = 0;
    char first[256] = "";
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        go_duration((uint64_t)table[i] * 1000000ull, want, sizeof(want));
        tg_rl_duration(table[i], got, sizeof(got));
        if (strcmp(got, want) != 0 && diffs++ == 0)
            snprintf(first, sizeof(first), "%lld ms: \"%s\", Go \"%s\"", (long long)table[i], got,
                     want);
    }
    for (int i = 0; i < 200000; i++) {
        static const int64_t mags[] = {1000, 60000, 3600000, 86400000, 1000000000, 9223372036854LL};
        int64_t ms = (int64_t)(rng() % (uint64_t)mags[i % 6]);
        if (ms == 0)
            continue;
        go_duration((uint64_t)ms * 1000000ull, want, sizeof(want));
        tg_rl_duration(ms, got, sizeof(got));
        if (strcmp(got, want) != 0 && diffs++ == 0)
            snprintf(first, sizeof(first), "%lld ms: \"%s\", Go \"%s\"", (long long)ms, got, want);
    }
    if (diffs)
        fail_msg("%d durations differ from Go's rule, first: %s", diffs, first);

    /* The zero duration: Go prints "0s". A full bucket (reset 0, e.g. a TPM bucket after a
     * request that reserved 0 tokens) puts this in x-ratelimit-reset-*. */
    go_duration(0, want, sizeof(want));
    tg_rl_duration(0, got, sizeof(got));
    if (strcmp(got, want) != 0)
        fail_msg("tg_rl_duration(0) = \"%s\", Go's time.Duration(0).String() = \"%s\"", got,
                 want);
}

/* ---- RPM ---- */

static void test_rpm_burst_refusal_refill(void **state)
{
    (void)state;
    int64_t t = fresh_time();
    tg_rl_limits_t lo = lim(3, 0, 0, 0);
    res_t r;
    for (int i = 1; i <= 3; i++) {
        r = acq("org-rpm", NULL, "gpt-4o-mini", &lo, NULL, 0);
        expect_admitted(&r, "RPM 3, request within the burst");
        assert_int_equal(r.s.have, 1);
        assert_int_equal(r.s.limit_requests, 3);
        assert_int_equal(r.s.remaining_requests, 3 - i);
        assert_int_equal(r.s.reset_requests_ms, 20000 * i);
        assert_int_equal(r.s.limit_tokens, 0);
        assert_int_equal(r.t.active, 1);
    }
    r = acq("org-rpm", NULL, "gpt-4o-mini", &lo, NULL, 0);
    expect_refused(&r, "RPM 3, 4th request at the same instant");
    assert_int_equal(r.w.which, TG_RL_RPM);
    assert_int_equal(r.w.project, 0);
    assert_int_equal(r.w.limit, 3);
    assert_int_equal(r.w.used, 3);
    assert_int_equal(r.w.requested, 1);
    assert_int_equal(r.w.too_large, 0);
    assert_in_range(r.w.retry_after_ms, 19999, 20001);
    assert_int_equal(r.t.active, 0);
    assert_int_equal(r.s.have, 0);
    tg_rl_settle(&r.t, 5); /* a refused ticket: nothing to settle */

    /* 19.999 s later: still refused, for 1 ms more */
    at(t + 20 * SEC - MS);
    r = acq("org-rpm", NULL, "gpt-4o-mini", &lo, NULL, 0);
    expect_refused(&r, "RPM 3, 1 ms before the next request is due");
    assert_int_equal(r.w.retry_after_ms, 1);

    at(t + 20 * SEC);
    r = acq("org-rpm", NULL, "gpt-4o-mini", &lo, NULL, 0);
    expect_admitted(&r, "RPM 3, 20 s after the burst");
    assert_int_equal(r.s.remaining_requests, 0);
    assert_int_equal(r.s.reset_requests_ms, 60000);
    r = acq("org-rpm", NULL, "gpt-4o-mini", &lo, NULL, 0);
    expect_refused(&r, "RPM 3, again at once");
    assert_int_equal(r.w.retry_after_ms, 20000);

    /* a minute of silence refills the whole burst */
    at(t + 20 * SEC + MIN);
    for (int i = 1; i <= 3; i++) {
        r = acq("org-rpm", NULL, "gpt-4o-mini", &lo, NULL, 0);
        expect_admitted(&r, "RPM 3, after a full minute");
        assert_int_equal(r.s.remaining_requests, 3 - i);
    }
    /* half-way: remaining counts whole requests, reset is the time to a full bucket */
    at(t + 20 * SEC + MIN + 30 * SEC);
    r = acq("org-rpm", NULL, "gpt-4o-mini", &lo, NULL, 0);
    expect_admitted(&r, "RPM 3, 30 s into the refill");
    assert_int_equal(r.s.remaining_requests, 0);
    assert_int_equal(r.s.reset_requests_ms, 50000);
}

/* A burst at one instant admits exactly L for any L, and "remaining" counts down exactly. */
static void test_rpm_burst_exact_for_any_limit(void **state)
{
    (void)state;
    static const int64_t limits[] = {1, 2, 3, 7, 11, 13, 600, 7777};
    char org[32], msg[256] = "";
    int bad = 0;
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        int64_t L = limits[i];
        tg_rl_limits_t lo = lim(L, 0, 0, 0);
        int64_t admitted = 0, remaining_bad = -1;
        fresh_time();
        snprintf(org, sizeof(org), "org-burst-%lld", (long long)L);
        for (int64_t k = 0; k < L + 5; k++) {
            res_t r = acq(org, NULL, "m", &lo, NULL, 0);
            if (r.rc == 0) {
                admitted++;
                if (r.s.remaining_requests != L - admitted && remaining_bad < 0)
                    remaining_bad = admitted;
            }
        }
        if ((admitted != L || remaining_bad >= 0) && bad++ < 4) {
            size_t n = strlen(msg);
            snprintf(msg + n, sizeof(msg) - n, " [RPM %lld: %lld admitted%s]", (long long)L,
                     (long long)admitted, remaining_bad >= 0 ? ", remaining off" : "");
        }
    }
    if (bad)
        fail_msg("a burst at one instant must admit exactly L with remaining L-i after the "
                 "i-th:%s (limits that do not divide 60e9 ns)", msg);
}

/* ---- TPM: reservation and settlement ---- */

static void test_tpm_reserve_and_settle(void **state)
{
    (void)state;
    int64_t t = fresh_time();
    tg_rl_limits_t lo = lim(0, 0, 1000, 0);
    res_t a = acq("org-tpm", NULL, "gpt-4o", &lo, NULL, 600);
    expect_admitted(&a, "TPM 1000, 600 tokens");
    assert_int_equal(a.s.limit_tokens, 1000);
    assert_int_equal(a.s.remaining_tokens, 400);
    assert_int_equal(a.s.reset_tokens_ms, 36000);
    assert_int_equal(a.s.limit_requests, 0);
    assert_int_equal(a.t.tokens, 600);

    res_t b = acq("org-tpm", NULL, "gpt-4o", &lo, NULL, 600);
    expect_refused(&b, "TPM 1000, 600 more tokens");
    assert_int_equal(b.w.which, TG_RL_TPM);
    assert_int_equal(b.w.limit, 1000);
    assert_int_equal(b.w.used, 600);
    assert_int_equal(b.w.requested, 600);
    assert_int_equal(b.w.too_large, 0);
    assert_int_equal(b.w.retry_after_ms, 12000);

    tg_rl_settle(&a.t, 10); /* used 10 of the 600 reserved: 590 back */
    assert_int_equal(a.t.active, 0);
    tg_rl_settle(&a.t, 0); /* twice: no effect */
    res_t c = acq("org-tpm", NULL, "gpt-4o", &lo, NULL, 900);
    expect_admitted(&c, "TPM 1000, 900 tokens after the refund");
    assert_int_equal(c.s.remaining_tokens, 90);
    assert_int_equal(c.s.reset_tokens_ms, 54600);
    tg_rl_settle(&c.t, 900); /* exact: nothing changes */
    res_t d = acq("org-tpm", NULL, "gpt-4o", &lo, NULL, 91);
    expect_refused(&d, "TPM 1000, 91 tokens with 90 left");
    d = acq("org-tpm", NULL, "gpt-4o", &lo, NULL, 90);
    expect_admitted(&d, "TPM 1000, the last 90 tokens");
    assert_int_equal(d.s.remaining_tokens, 0);

    /* actual > reserved: corrected by no more than the reservation (SPEC.md §5: usage an
     * upstream over-reports is capped as a charge is) */
    at(t + 10 * MIN);
    res_t e = acq("org-tpm", NULL, "gpt-4o", &lo, NULL, 100);
    expect_admitted(&e, "TPM 1000, 100 tokens reserved");
    tg_rl_settle(&e.t, 700); /* 600 more than reserved: not taken */
    res_t f = acq("org-tpm", NULL, "gpt-4o", &lo, NULL, 901);
    expect_refused(&f, "TPM 1000, 901 after a request that reserved 100");
    assert_int_equal(f.w.used, 100);
    res_t g = acq("org-tpm", NULL, "gpt-4o", &lo, NULL, 900);
    expect_admitted(&g, "TPM 1000, 900 after a request capped at its 100");
    /* absurd usage changes nothing either */
    at(t + 20 * MIN);
    res_t h = acq("org-tpm", NULL, "gpt-4o", &lo, NULL, 100);
    expect_admitted(&h, "TPM 1000, fresh");
    tg_rl_settle(&h.t, INT64_MAX);
    f = acq("org-tpm", NULL, "gpt-4o", &lo, NULL, 900);
    expect_admitted(&f, "TPM 1000, 900 after absurd usage on 100");
    f = acq("org-tpm", NULL, "gpt-4o", &lo, NULL, 1);
    expect_refused(&f, "TPM 1000 full");
    assert_int_equal(f.w.used, 1000);
}

static void test_tpm_too_large(void **state)
{
    (void)state;
    fresh_time();
    tg_rl_limits_t lo = lim(5, 0, 1000, 0);
    res_t r = acq("org-big", NULL, "gpt-4o", &lo, NULL, 1001);
    expect_refused(&r, "1001 tokens with TPM 1000");
    assert_int_equal(r.w.too_large, 1);
    assert_int_equal(r.w.which, TG_RL_TPM);
    assert_int_equal(r.w.project, 0);
    assert_int_equal(r.w.limit, 1000);
    assert_int_equal(r.w.requested, 1001);
    assert_int_equal(r.w.retry_after_ms, 0);
    assert_int_equal(r.t.active, 0);
    /* nothing was taken: neither the request nor any tokens */
    r = acq("org-big", NULL, "gpt-4o", &lo, NULL, 1);
    expect_admitted(&r, "1 token after the too-large one");
    assert_int_equal(r.s.remaining_requests, 4);
    assert_int_equal(r.s.remaining_tokens, 999);
    /* exactly the limit is not too large */
    r = acq("org-big2", NULL, "gpt-4o", &lo, NULL, 1000);
    expect_admitted(&r, "1000 tokens with TPM 1000");
    assert_int_equal(r.s.remaining_tokens, 0);

    /* a project's TPD, with the org's bucket untouched */
    tg_rl_limits_t lp = lim(0, 0, 0, 500);
    r = acq("org-big3", "proj_big3", "gpt-4o", &lo, &lp, 501);
    expect_refused(&r, "501 tokens with the project's TPD 500");
    assert_int_equal(r.w.too_large, 1);
    assert_int_equal(r.w.which, TG_RL_TPD);
    assert_int_equal(r.w.project, 1);
    assert_int_equal(r.w.limit, 500);
    r = acq("org-big3", "proj_big3", "gpt-4o", &lo, &lp, 10);
    expect_admitted(&r, "10 tokens after");
    assert_int_equal(r.s.remaining_requests, 4);
    assert_int_equal(r.s.remaining_tokens, 990);
}

/* ---- organisation and project ---- */

static void test_org_vs_project(void **state)
{
    (void)state;
    int64_t t = fresh_time();
    res_t r;
    /* the project is tighter */
    tg_rl_limits_t lo = lim(10, 0, 0, 0), lp = lim(2, 0, 0, 0);
    for (int i = 0; i < 2; i++) {
        r = acq("org-ovp1", "proj_ovp1", "m", &lo, &lp, 0);
        expect_admitted(&r, "project RPM 2");
    }
    assert_int_equal(r.s.limit_requests, 2); /* the scope closer to its limit is reported */
    assert_int_equal(r.s.remaining_requests, 0);
    assert_int_equal(r.s.reset_requests_ms, 60000);
    r = acq("org-ovp1", "proj_ovp1", "m", &lo, &lp, 0);
    expect_refused(&r, "project RPM 2, 3rd");
    assert_int_equal(r.w.project, 1);
    assert_int_equal(r.w.limit, 2);
    assert_int_equal(r.w.used, 2);
    assert_int_equal(r.w.retry_after_ms, 30000);
    /* the refusal took nothing from the organisation: 8 left for another project */
    for (int i = 0; i < 8; i++) {
        r = acq("org-ovp1", "proj_ovp1b", "m", &lo, &lo, 0);
        expect_admitted(&r, "organisation's remaining 8");
    }
    r = acq("org-ovp1", "proj_ovp1b", "m", &lo, &lo, 0);
    expect_refused(&r, "organisation RPM 10, 11th");
    assert_int_equal(r.w.project, 0);
    assert_int_equal(r.w.limit, 10);

    /* the organisation is tighter */
    lo = lim(2, 0, 0, 0);
    lp = lim(10, 0, 0, 0);
    for (int i = 0; i < 2; i++) {
        r = acq("org-ovp2", "proj_ovp2", "m", &lo, &lp, 0);
        expect_admitted(&r, "organisation RPM 2");
    }
    assert_int_equal(r.s.limit_requests, 2);
    assert_int_equal(r.s.remaining_requests, 0);
    r = acq("org-ovp2", "proj_ovp2", "m", &lo, &lp, 0);
    expect_refused(&r, "organisation RPM 2, 3rd");
    assert_int_equal(r.w.project, 0);
    assert_int_equal(r.w.limit, 2);

    /* headers: the scope with the smaller share left; requests and tokens independently */
    lo = lim(100, 0, 1000, 0);
    lp = lim(10, 0, 100000, 0);
    r = acq("org-ovp3", "proj_ovp3", "m", &lo, &lp, 100);
    expect_admitted(&r, "headers");
    assert_int_equal(r.s.limit_requests, 10); /* project: 9/10 left vs org 99/100 */
    assert_int_equal(r.s.remaining_requests, 9);
    assert_int_equal(r.s.reset_requests_ms, 6000);
    assert_int_equal(r.s.limit_tokens, 1000); /* org: 900/1000 left vs project 99900/100000 */
    assert_int_equal(r.s.remaining_tokens, 900);
    assert_int_equal(r.s.reset_tokens_ms, 6000);

    /* all or nothing, tokens: the project refuses, the organisation keeps its tokens */
    lo = lim(0, 0, 1000, 0);
    lp = lim(0, 0, 500, 0);
    r = acq("org-ovp4", "proj_ovp4", "m", &lo, &lp, 400);
    expect_admitted(&r, "400 of project TPM 500");
    r = acq("org-ovp4", "proj_ovp4", "m", &lo, &lp, 200);
    expect_refused(&r, "200 more: project TPM 500");
    assert_int_equal(r.w.project, 1);
    assert_int_equal(r.w.which, TG_RL_TPM);
    tg_rl_limits_t none = lim(0, 0, 0, 0);
    r = acq("org-ovp4", "proj_ovp4b", "m", &lo, &none, 600);
    expect_admitted(&r, "the organisation's remaining 600 tokens");
    assert_int_equal(r.s.remaining_tokens, 0);

    /* all or nothing, the other way: the organisation refuses, the project keeps its RPD */
    lo = lim(1, 0, 0, 0);
    lp = lim(0, 2, 0, 0);
    r = acq("org-ovp5", "proj_ovp5", "m", &lo, &lp, 0);
    expect_admitted(&r, "1st");
    at(t + SEC);
    r = acq("org-ovp5", "proj_ovp5", "m", &lo, &lp, 0);
    expect_refused(&r, "organisation RPM 1");
    assert_int_equal(r.w.project, 0);
    assert_int_equal(r.w.which, TG_RL_RPM);
    at(t + 61 * SEC);
    r = acq("org-ovp5", "proj_ovp5", "m", &lo, &lp, 0);
    expect_admitted(&r, "2nd of the project's RPD 2 (the refused one took none)");
    at(t + 122 * SEC);
    r = acq("org-ovp5", "proj_ovp5", "m", &lo, &lp, 0);
    expect_refused(&r, "3rd of the project's RPD 2");
    assert_int_equal(r.w.project, 1);
    assert_int_equal(r.w.which, TG_RL_RPD);

    /* settle corrects both scopes */
    at(t + 10 * MIN);
    lo = lim(0, 0, 1000, 0);
    lp = lim(0, 0, 1000, 0);
    r = acq("org-ovp6", "proj_ovp6", "m", &lo, &lp, 900);
    expect_admitted(&r, "900 tokens");
    tg_rl_settle(&r.t, 100);
    r = acq("org-ovp6", "proj_ovp6", "m", &lo, &lp, 900);
    expect_admitted(&r, "900 after settling the first at 100, both scopes refunded");
    assert_int_equal(r.s.remaining_tokens, 0);
}

/* A client that waits retry-after-ms and tries again gets in: the wait reported must be the
 * longest of the buckets that refuse, not the first one checked. */
static void test_retry_after_is_enough(void **state)
{
    (void)state;
    int64_t t = fresh_time();
    /* one scope: RPM 1 (wait < 1 min) and TPD 1000 (wait ~4.8 h) */
    tg_rl_limits_t lo = lim(1, 0, 0, 1000);
    res_t r = acq("org-ra1", NULL, "m", &lo, NULL, 600);
    expect_admitted(&r, "600 of TPD 1000");
    at(t + SEC);
    r = acq("org-ra1", NULL, "m", &lo, NULL, 600);
    expect_refused(&r, "RPM 1 and TPD 1000 both exceeded");
    int64_t wait1 = r.w.retry_after_ms;
    int which1 = r.w.which;
    at(t + SEC + wait1 * MS);
    r = acq("org-ra1", NULL, "m", &lo, NULL, 600);
    int rc1 = r.rc, which1b = r.w.which;

    /* two scopes: the organisation's RPM 1 and the project's RPD 1 */
    t = fresh_time();
    tg_rl_limits_t o2 = lim(1, 0, 0, 0), p2 = lim(0, 1, 0, 0);
    r = acq("org-ra2", "proj_ra2", "m", &o2, &p2, 0);
    expect_admitted(&r, "1st");
    at(t + SEC);
    r = acq("org-ra2", "proj_ra2", "m", &o2, &p2, 0);
    expect_refused(&r, "org RPM 1 and project RPD 1 both exceeded");
    int64_t wait2 = r.w.retry_after_ms;
    int proj2 = r.w.project;
    at(t + SEC + wait2 * MS);
    r = acq("org-ra2", "proj_ra2", "m", &o2, &p2, 0);
    int rc2 = r.rc;

    if (rc1 != 0 || rc2 != 0)
        fail_msg("waiting retry_after_ms is not enough: [RPM 1 + TPD 1000] told which %d, wait "
                 "%lld ms, then refused again by which %d (want ≥ 17279000 ms, the TPD wait); "
                 "[org RPM 1 + project RPD 1] told project %d, wait %lld ms, retry %s (want "
                 "≥ 86399000 ms, the project's RPD wait): the wait must be the longest of the "
                 "refusing buckets",
                 which1, (long long)wait1, rc1 ? which1b : -1, proj2, (long long)wait2,
                 rc2 ? "refused" : "admitted");
}

/* ---- day windows, unlimited, separate buckets ---- */

static void test_day_windows(void **state)
{
    (void)state;
    int64_t t = fresh_time();
    tg_rl_limits_t lo = lim(0, 2, 0, 0);
    res_t r;
    for (int i = 0; i < 2; i++) {
        r = acq("org-rpd", NULL, "m", &lo, NULL, 0);
        expect_admitted(&r, "RPD 2");
        assert_int_equal(r.s.have, 0); /* no per-minute limit: no headers */
    }
    r = acq("org-rpd", NULL, "m", &lo, NULL, 0);
    expect_refused(&r, "RPD 2, 3rd");
    assert_int_equal(r.w.which, TG_RL_RPD);
    assert_int_equal(r.w.limit, 2);
    assert_int_equal(r.w.used, 2);
    assert_int_equal(r.w.retry_after_ms, 43200000);
    at(t + 12 * HOUR - MS);
    r = acq("org-rpd", NULL, "m", &lo, NULL, 0);
    expect_refused(&r, "RPD 2, 1 ms early");
    at(t + 12 * HOUR);
    r = acq("org-rpd", NULL, "m", &lo, NULL, 0);
    expect_admitted(&r, "RPD 2, 12 h later");
    r = acq("org-rpd", NULL, "m", &lo, NULL, 0);
    expect_refused(&r, "RPD 2, again");

    t = fresh_time();
    lo = lim(0, 0, 0, 1000);
    res_t a = acq("org-tpd", NULL, "m", &lo, NULL, 600);
    expect_admitted(&a, "TPD 1000, 600");
    r = acq("org-tpd", NULL, "m", &lo, NULL, 600);
    expect_refused(&r, "TPD 1000, 600 more");
    assert_int_equal(r.w.which, TG_RL_TPD);
    assert_int_equal(r.w.used, 600);
    assert_int_equal(r.w.retry_after_ms, 17280000);
    tg_rl_settle(&a.t, 100);
    r = acq("org-tpd", NULL, "m", &lo, NULL, 900);
    expect_admitted(&r, "TPD 1000, 900 after the refund");
    r = acq("org-tpd", NULL, "m", &lo, NULL, 1);
    expect_refused(&r, "TPD 1000, full");
    at(t + 8640 * SEC); /* 1/10 of a day: 100 tokens back */
    r = acq("org-tpd", NULL, "m", &lo, NULL, 100);
    expect_admitted(&r, "TPD 1000, 100 refilled");

    /* minute and day together: the day limit binds after the minute ones refill */
    t = fresh_time();
    lo = lim(2, 3, 0, 0);
    for (int i = 0; i < 2; i++)
        expect_admitted((r = acq("org-rpmd", NULL, "m", &lo, NULL, 0), &r), "RPM 2 RPD 3");
    r = acq("org-rpmd", NULL, "m", &lo, NULL, 0);
    expect_refused(&r, "RPM 2");
    assert_int_equal(r.w.which, TG_RL_RPM);
    at(t + MIN);
    r = acq("org-rpmd", NULL, "m", &lo, NULL, 0);
    expect_admitted(&r, "3rd of RPD 3");
    at(t + 2 * MIN);
    r = acq("org-rpmd", NULL, "m", &lo, NULL, 0);
    expect_refused(&r, "4th of RPD 3");
    assert_int_equal(r.w.which, TG_RL_RPD);
}

static void test_unlimited_and_separate(void **state)
{
    (void)state;
    fresh_time();
    tg_rl_limits_t zero = lim(0, 0, 0, 0);
    res_t r;
    for (int i = 0; i < 1000; i++) {
        r = acq("org-free", "proj_free", "m", &zero, &zero, 1000000);
        expect_admitted(&r, "no limits");
        assert_int_equal(r.s.have, 0);
        assert_int_equal(r.t.active, 0);
    }
    r = acq("org-free", "proj_free", "m", NULL, NULL, 5);
    expect_admitted(&r, "NULL limits");
    tg_rl_settle(&r.t, 99);
    /* RPM 0 but TPM set: requests unlimited, tokens limited */
    tg_rl_limits_t lo = lim(0, 0, 100000, 0);
    for (int i = 0; i < 1000; i++) {
        r = acq("org-tokonly", NULL, "m", &lo, NULL, 100);
        expect_admitted(&r, "TPM only");
    }
    r = acq("org-tokonly", NULL, "m", &lo, NULL, 100);
    expect_refused(&r, "TPM only, full");
    assert_int_equal(r.w.which, TG_RL_TPM);
    /* no project id: the project's limits are ignored */
    tg_rl_limits_t one = lim(1, 0, 0, 0);
    for (int i = 0; i < 3; i++)
        expect_admitted((r = acq("", "", "m", &one, &one, 0), &r), "empty ids");

    /* different models, projects and organisations do not share buckets */
    lo = lim(1, 0, 0, 0);
    expect_admitted((r = acq(NULL, "proj_sep", "gpt-4o", NULL, &lo, 0), &r), "P gpt-4o");
    expect_refused((r = acq(NULL, "proj_sep", "gpt-4o", NULL, &lo, 0), &r), "P gpt-4o again");
    expect_admitted((r = acq(NULL, "proj_sep", "gpt-4o-mini", NULL, &lo, 0), &r), "P mini");
    expect_admitted((r = acq(NULL, "proj_sep2", "gpt-4o", NULL, &lo, 0), &r), "P2 gpt-4o");
    expect_admitted((r = acq("org-sep", NULL, "gpt-4o", &lo, NULL, 0), &r), "O gpt-4o");
    expect_admitted((r = acq("org-sep2", NULL, "gpt-4o", &lo, NULL, 0), &r), "O2 gpt-4o");
    /* a key's prefix is not another key: "ab"+"c" vs "a"+"bc" */
    expect_admitted((r = acq("org-ab", NULL, "c", &lo, NULL, 0), &r), "ab/c");
    expect_admitted((r = acq("org-a", NULL, "bc", &lo, NULL, 0), &r), "a/bc");
}

/* Model ids may be up to TG_NAME_MAX-1 (255) characters; the limit must hold for all. */
static void test_long_model_name(void **state)
{
    (void)state;
    fresh_time();
    char model[256];
    memset(model, 'm', sizeof(model) - 1);
    model[sizeof(model) - 1] = '\0';
    memcpy(model, "ft:gpt-4o-mini:", 15);
    tg_rl_limits_t lo = lim(1, 0, 0, 0);
    res_t r = acq("org-long", NULL, model, &lo, NULL, 0);
    expect_admitted(&r, "long model, 1st");
    int admitted = 1;
    for (int i = 0; i < 9; i++)
        admitted += acq("org-long", NULL, model, &lo, NULL, 0).rc == 0;
    if (admitted != 1)
        fail_msg("RPM 1 for a 255-character model id admitted %d of 10 at one instant, want 1 "
                 "(a model id truncated in the slot never matches again)", admitted);
}

/* ---- precision ---- */

/* Exact GCRA as a reference: time scaled by L (units of 1/L ns), so a unit costs exactly W. */
typedef struct {
    __int128 tat;
    int64_t L, W;
} ref_t;

static int ref_admit(ref_t *b, int64_t now, int64_t n)
{
    __int128 nowL = (__int128)now * b->L;
    __int128 tat = b->tat > nowL ? b->tat : nowL;
    __int128 nt = tat + (__int128)n * b->W;
    if (nt - nowL > (__int128)b->W * b->L)
        return 0;
    b->tat = nt;
    return 1;
}

static void run_arrivals(const char *org, int64_t L, int64_t t0, int64_t step, int64_t jitter,
                         int64_t span, int64_t *got, int64_t *want, int64_t *first,
                         int64_t *last)
{
    tg_rl_limits_t lo = lim(L, 0, 0, 0);
    ref_t ref = {0, L, MIN};
    *got = *want = 0;
    *first = *last = -1;
    for (int64_t k = 0; k * step < span; k++) {
        int64_t j = jitter ? (int64_t)(rng() % (uint64_t)(2 * jitter + 1)) - jitter : 0;
        int64_t now = t0 + k * step + j;
        at(now);
        if (*first < 0)
            *first = now;
        *last = now;
        *got += acq(org, NULL, "m", &lo, NULL, 0).rc == 0;
        *want += ref_admit(&ref, now, 1);
    }
}

static void test_precision_rpm_600(void **state)
{
    (void)state;
    int64_t got, want, first, last;
    /* 600 RPM, a request every 100 ms ± 30 ms for 10 minutes: exactly the rate, all pass */
    int64_t t = fresh_time();
    run_arrivals("org-prec1", 600, t + 30 * MS, 100 * MS, 30 * MS, 10 * MIN, &got, &want, &first,
                 &last);
    assert_int_equal(want, 6000);
    assert_int_equal(got, 6000);

    /* every 50 ms ± 20 ms (twice the rate): a burst of 600, then one per 100 ms */
    t = fresh_time();
    run_arrivals("org-prec2", 600, t + 20 * MS, 50 * MS, 20 * MS, 10 * MIN, &got, &want, &first,
                 &last);
    int64_t bound = 600 + (last - first) / (100 * MS); /* L + span × L/W */
    if (got != want || got > bound + 1 || got < bound - 1)
        fail_msg("600 RPM, 12000 arrivals over 10 min: admitted %lld, exact GCRA %lld, bound "
                 "%lld", (long long)got, (long long)want, (long long)bound);

    /* an hour at twice the rate, no jitter: exactly 600 + 36000 */
    t = fresh_time();
    run_arrivals("org-prec3", 600, t, 50 * MS, 0, HOUR, &got, &want, &first, &last);
    assert_int_equal(want, 600 + 36000 - 1); /* the last arrival is 50 ms before the hour */
    assert_int_equal(got, want);

    /* a limit that does not divide the window: 7 RPM, arrivals every 1 s for 2 h */
    t = fresh_time();
    run_arrivals("org-prec4", 7, t, SEC, 0, 2 * HOUR, &got, &want, &first, &last);
    if (got != want)
        fail_msg("7 RPM, an arrival per second for 2 h: admitted %lld, exact GCRA %lld",
                 (long long)got, (long long)want);
}

static void test_precision_large_limits(void **state)
{
    (void)state;
    int64_t t = fresh_time();
    /* gpt-4o-mini at tier 5: 150,000,000 TPM; 100-token requests at one instant */
    tg_rl_limits_t lo = lim(0, 0, 150000000, 0);
    res_t r = acq("org-huge", NULL, "gpt-4o-mini", &lo, NULL, 100);
    expect_admitted(&r, "150M TPM, 100 tokens");
    assert_int_equal(r.s.limit_tokens, 150000000);
    assert_int_equal(r.s.remaining_tokens, 149999900);
    assert_int_equal(r.s.reset_tokens_ms, 1); /* 40 µs, rounded up */
    int64_t admitted = 1;
    while (acq("org-huge", NULL, "gpt-4o-mini", &lo, NULL, 100).rc == 0 && admitted < 2000000)
        admitted++;
    assert_int_equal(admitted, 1500000);
    r = acq("org-huge", NULL, "gpt-4o-mini", &lo, NULL, 1);
    expect_refused(&r, "150M TPM, full");
    assert_int_equal(r.w.used, 150000000);
    at(t + MS); /* 2500 tokens per ms */
    admitted = 0;
    while (acq("org-huge", NULL, "gpt-4o-mini", &lo, NULL, 100).rc == 0 && admitted < 1000)
        admitted++;
    assert_int_equal(admitted, 25);

    /* the Admin API's largest limit (1e15) per day, with requests as large as the limit */
    t = fresh_time();
    lo = lim(0, 0, 1000000000000000LL, 1000000000000000LL);
    r = acq("org-huge2", NULL, "m", &lo, NULL, 1000000000000000LL);
    expect_admitted(&r, "1e15 tokens with TPM/TPD 1e15");
    assert_int_equal(r.s.limit_tokens, 1000000000000000LL);
    assert_int_equal(r.s.remaining_tokens, 0);
    assert_int_equal(r.s.reset_tokens_ms, 60000);
    r = acq("org-huge2", NULL, "m", &lo, NULL, 1);
    expect_refused(&r, "1e15 TPM, full");
    assert_int_equal(r.w.which, TG_RL_TPM);
    assert_int_equal(r.w.used, 1000000000000000LL);
    assert_int_equal(r.w.retry_after_ms, 1); /* 1 ns, rounded up to 1 ms */
    tg_rl_settle(&r.t, 0);
    r = acq("org-huge3", NULL, "m", &lo, NULL, INT64_MAX);
    expect_refused(&r, "INT64_MAX tokens");
    assert_int_equal(r.w.too_large, 1);
    /* usage far beyond a small limit (garbage from an upstream) is capped at the request's
     * reservation: the bucket is exactly as after honest usage of 1 token */
    tg_rl_limits_t small = lim(0, 0, 1000, 0);
    static const int64_t actual[] = {100000000LL, 10000000000LL, 1000000000000LL,
                                     100000000000000LL, INT64_MAX / 2, INT64_MAX};
    char org[32];
    for (size_t i = 0; i < sizeof(actual) / sizeof(actual[0]); i++) {
        snprintf(org, sizeof(org), "org-huge4-%zu", i);
        r = acq(org, NULL, "m", &small, NULL, 1);
        expect_admitted(&r, "1 token");
        tg_rl_settle(&r.t, actual[i]);
        r = acq(org, NULL, "m", &small, NULL, 999);
        expect_admitted(&r, "999 tokens after a huge settlement of a 1-token reservation");
        r = acq(org, NULL, "m", &small, NULL, 1);
        expect_refused(&r, "full");
        assert_int_equal(r.w.used, 1000);
    }
}

/* ---- settle after the stripe grew ---- */

static void test_settle_after_growth(void **state)
{
    (void)state;
    fresh_time();
    const char *model = "settle-growth";
    tg_rl_limits_t lo = lim(0, 0, 1000, 0), filler = lim(1, 0, 0, 0);
    char ids[8][48], f[48];
    res_t held[8];
    int n = 0, nf = 0, s;
    id_in_stripe(ids[0], sizeof(ids[0]), "org-sag-", &n, model, 0);
    s = stripe_of(ids[0], model);
    for (int i = 1; i < 8; i++)
        id_in_stripe(ids[i], sizeof(ids[i]), "org-sag-", &n, model, s);
    for (int i = 0; i < 8; i++) {
        held[i] = acq(ids[i], NULL, model, &lo, NULL, 600);
        expect_admitted(&held[i], "600 of TPM 1000");
    }
    /* new busy pairs in the same stripe: it grows (several times) while the tickets are out */
    for (int i = 0; i < 20000; i++) {
        id_in_stripe(f, sizeof(f), "org-sag-fill-", &nf, model, s);
        if (acq(f, NULL, model, &filler, NULL, 0).rc != 0)
            fail_msg("filler refused");
    }
    int dropped = 0;
    for (int i = 0; i < 8; i++) {
        tg_rl_settle(&held[i].t, 10);
        dropped += acq(ids[i], NULL, model, &lo, NULL, 900).rc != 0;
    }
    if (dropped)
        fail_msg("%d of 8 refunds (600 reserved, 10 used) were lost after the stripe grew: 900 "
                 "tokens refused (the settlement must find its slot after the stripe moved "
                 "it)",
                 dropped);
}

/* ---- memory ---- */

static int64_t wave(const char *prefix, int count)
{
    tg_rl_limits_t lo = lim(10, 0, 0, 0);
    char id[48];
    size_t before = heap_bytes();
    for (int i = 0; i < count; i++) {
        snprintf(id, sizeof(id), "%s%06d", prefix, i);
        if (acq(id, NULL, "gpt-4o-mini", &lo, NULL, 0).rc != 0)
            fail_msg("wave %s: refused", prefix);
    }
    return (int64_t)heap_bytes() - (int64_t)before;
}

static void test_memory_idle_pairs_reclaimed(void **state)
{
    (void)state;
    int64_t t = fresh_time();
    int64_t g1 = wave("org-mem-a-", 100000);
    at(t + 2 * DAY); /* every pair of wave a is idle */
    int64_t g2 = wave("org-mem-b-", 100000);
    at(t + 4 * DAY);
    int64_t g3 = wave("org-mem-c-", 100000);
    at(t + 6 * DAY);
    int64_t g4 = wave("org-mem-d-", 100000);
    print_message("rate-limit table: 100,000 pairs → +%.1f MiB; then 100,000 new pairs every 2 "
                  "days (the old ones idle) → +%.1f, +%.1f, +%.1f MiB\n",
                  g1 / 1048576.0, g2 / 1048576.0, g3 / 1048576.0, g4 / 1048576.0);
    assert_true(g1 > 0);
    if (g2 > g1 / 10 || g3 > g1 / 10 || g4 > g1 / 10)
        fail_msg("the table grew with idle pairs: 100,000 active pairs took %.1f MiB; each later "
                 "wave of 100,000 (the previous ones idle) added %.1f, %.1f, %.1f MiB, want "
                 "≤ 10%% of the first (idle slots must be reused, not outgrown)",
                 g1 / 1048576.0, g2 / 1048576.0, g3 / 1048576.0, g4 / 1048576.0);
}

/* ---- concurrency ---- */

typedef struct {
    const char *org, *proj;
    tg_rl_limits_t lo, lp;
    int iters;
    int64_t admitted;
} worker_t;

static void *worker(void *arg)
{
    worker_t *w = arg;
    for (int i = 0; i < w->iters; i++) {
        tg_rl_ticket_t t;
        tg_rl_state_t s;
        tg_rl_refusal_t why;
        if (tg_rl_acquire(w->org, w->proj, "gpt-4o", &w->lo, &w->lp, 10, &t, &s, &why) == 0) {
            w->admitted++;
            tg_rl_settle(&t, i & 1 ? 5 : 10);
        }
    }
    return NULL;
}

static void test_concurrency_exact(void **state)
{
    (void)state;
    int64_t t = fresh_time();
    /* one project, limit L = 1000 RPM; 8 threads × 10,000 attempts at a frozen clock */
    worker_t w[8];
    pthread_t th[8];
    int64_t total = 0;
    for (int i = 0; i < 8; i++) {
        w[i] = (worker_t){"org-conc", "proj_conc", lim(1000000, 0, 100000000, 0),
                          lim(1000, 0, 100000000, 0), 10000, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        total += w[i].admitted;
    }
    assert_int_equal(total, 1000);
    res_t r = acq("org-conc", "proj_conc", "gpt-4o", &w[0].lo, &w[0].lp, 10);
    expect_refused(&r, "after the threads");
    assert_int_equal(r.w.project, 1);
    assert_int_equal(r.w.used, 1000);
    /* the organisation was charged exactly as often (all or nothing) */
    tg_rl_limits_t zero = lim(0, 0, 0, 0);
    r = acq("org-conc", "proj_conc_probe", "gpt-4o", &w[0].lo, &zero, 0);
    expect_admitted(&r, "the organisation's 1001st");
    assert_int_equal(r.s.limit_requests, 1000000);
    assert_int_equal(r.s.remaining_requests, 1000000 - 1001);

    /* 8 projects of one organisation (two stripes locked per decision), org limit 5000 */
    at(t + DAY);
    static const char *projs[8] = {"proj_c0", "proj_c1", "proj_c2", "proj_c3",
                                   "proj_c4", "proj_c5", "proj_c6", "proj_c7"};
    total = 0;
    for (int i = 0; i < 8; i++) {
        w[i] = (worker_t){"org-conc2", projs[i], lim(5000, 0, 0, 0), lim(100000, 0, 0, 0),
                          10000, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        total += w[i].admitted;
    }
    assert_int_equal(total, 5000);
}

/* ---- tiers ---- */

static tg_model_row_t model_row(const char *id, const char *type)
{
    tg_model_row_t m;
    memset(&m, 0, sizeof(m));
    snprintf(m.id, sizeof(m.id), "%s", id);
    snprintf(m.type, sizeof(m.type), "%s", type);
    return m;
}

static void limits_are(const char *tier, const char *model, const char *type, int64_t rpm,
                       int64_t rpd, int64_t tpm, int64_t tpd)
{
    tg_model_row_t m = model_row(model, type);
    tg_rl_limits_t l;
    memset(&l, 0x5a, sizeof(l));
    tg_tiers_limits(tier, &m, &l);
    if (l.v[TG_RL_RPM] != rpm || l.v[TG_RL_RPD] != rpd || l.v[TG_RL_TPM] != tpm ||
        l.v[TG_RL_TPD] != tpd)
        fail_msg("%s / %s (%s): rpm %lld rpd %lld tpm %lld tpd %lld, want %lld %lld %lld %lld",
                 tier, model, type, (long long)l.v[TG_RL_RPM], (long long)l.v[TG_RL_RPD],
                 (long long)l.v[TG_RL_TPM], (long long)l.v[TG_RL_TPD], (long long)rpm,
                 (long long)rpd, (long long)tpm, (long long)tpd);
}

static void test_tiers(void **state)
{
    (void)state;
    tg_tiers_free();
    limits_are("tier_1", "gpt-4o-mini", "chat", 0, 0, 0, 0); /* not loaded: no limits */
    assert_int_equal(tg_tiers_load("data/no-such-tiers.json"), -1);
    assert_int_equal(tg_tiers_load("data/tiers.json"), 0);

    /* free: no rows of its own, every chat model takes the chat default */
    limits_are("free", "gpt-4o-mini", "chat", 3, 200, 40000, 0);
    limits_are("free", "gpt-3.5-turbo", "chat", 3, 200, 40000, 0);
    limits_are("free", "text-embedding-3-small", "embedding", 100, 2000, 40000, 0);
    /* tier 1: gpt-4o-mini has its own row; gpt-4o (no row) takes the chat default */
    limits_are("tier_1", "gpt-4o-mini", "chat", 500, 10000, 200000, 0);
    limits_are("tier_1", "gpt-4o", "chat", 500, 10000, 30000, 0);
    limits_are("tier_1", "text-embedding-3-small", "embedding", 3000, 0, 1000000, 0);
    limits_are("tier_1", "gpt-3.5-turbo-instruct", "completion", 500, 10000, 200000, 0);
    limits_are("tier_2", "gpt-4o", "chat", 5000, 0, 450000, 0);
    /* tier 5 */
    limits_are("tier_5", "gpt-4o-mini", "chat", 30000, 0, 150000000, 0);
    limits_are("tier_5", "gpt-4o", "chat", 10000, 0, 30000000, 0);
    limits_are("tier_5", "text-embedding-3-small", "embedding", 10000, 0, 10000000, 0);
    /* unknown tier or type: no limits */
    limits_are("tier_9", "gpt-4o-mini", "chat", 0, 0, 0, 0);
    limits_are("", "gpt-4o-mini", "chat", 0, 0, 0, 0);
    limits_are("Tier_1", "gpt-4o-mini", "chat", 0, 0, 0, 0);
    limits_are("tier_1", "whisper-1", "audio", 0, 0, 0, 0);

    /* a file that cannot replace the table is an error, whatever was loaded before */
    char path[] = "/tmp/tg-tiers-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd); /* empty */
    int rc_empty = tg_tiers_load(path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"tiers\": nope", f);
    fclose(f);
    int rc_bad = tg_tiers_load(path);
    unlink(path);
    assert_int_equal(tg_tiers_load("data/tiers.json"), 0);
    limits_are("tier_1", "gpt-4o-mini", "chat", 500, 10000, 200000, 0);
    assert_int_equal(rc_bad, -1);
    if (rc_empty != -1)
        fail_msg("tg_tiers_load(empty file) = %d after a good load, want -1 (the old table "
                 "must not pass for the new one)", rc_empty);
}

/* Qualification, monthly caps, model_min_tier, names and order (SPEC.md §5). */
static void test_tiers_qualification(void **state)
{
    (void)state;
    const char *needed = NULL;
    int64_t paid = -1, days = -1;
    assert_int_equal(tg_tiers_load("data/tiers.json"), 0);
    assert_string_equal(tg_tiers_qualify(0, 0), "free");
    assert_string_equal(tg_tiers_qualify(0, 365), "free");
    assert_string_equal(tg_tiers_qualify(499, 365), "free");
    assert_string_equal(tg_tiers_qualify(500, 0), "tier_1");
    assert_string_equal(tg_tiers_qualify(5000, 6), "tier_1");
    assert_string_equal(tg_tiers_qualify(5000, 7), "tier_2");
    assert_string_equal(tg_tiers_qualify(10000, 7), "tier_3");
    assert_string_equal(tg_tiers_qualify(25000, 13), "tier_3");
    assert_string_equal(tg_tiers_qualify(25000, 14), "tier_4");
    assert_string_equal(tg_tiers_qualify(100000, 29), "tier_4");
    assert_string_equal(tg_tiers_qualify(100000, 30), "tier_5");
    assert_string_equal(tg_tiers_qualify(99999999, 3650), "tier_5");

    assert_int_equal(tg_tiers_monthly_cap("free"), 10000);
    assert_int_equal(tg_tiers_monthly_cap("tier_1"), 10000);
    assert_int_equal(tg_tiers_monthly_cap("tier_2"), 50000);
    assert_int_equal(tg_tiers_monthly_cap("tier_3"), 100000);
    assert_int_equal(tg_tiers_monthly_cap("tier_4"), 500000);
    assert_int_equal(tg_tiers_monthly_cap("tier_5"), 20000000);
    assert_int_equal(tg_tiers_monthly_cap("tier_9"), 0);

    assert_int_equal(tg_tiers_allows("free", "o1", &needed), 0);
    assert_string_equal(needed, "Tier 1");
    assert_int_equal(tg_tiers_allows("tier_1", "o1", &needed), 1);
    assert_int_equal(tg_tiers_allows("tier_5", "gpt-4", &needed), 1);
    assert_int_equal(tg_tiers_allows("free", "gpt-4o-mini", &needed), 1);
    assert_int_equal(tg_tiers_allows("tier_9", "o1", &needed), 0);

    assert_string_equal(tg_tiers_name("tier_1"), "Tier 1");
    assert_string_equal(tg_tiers_name("free"), "Free");
    assert_string_equal(tg_tiers_name("nope"), "nope");
    assert_int_equal(tg_tiers_rank("free"), 0);
    assert_int_equal(tg_tiers_rank("tier_5"), 5);
    assert_int_equal(tg_tiers_rank("nope"), -1);
    assert_string_equal(tg_tiers_next("free", &paid, &days), "tier_1");
    assert_int_equal(paid, 500);
    assert_int_equal(days, 0);
    assert_string_equal(tg_tiers_next("tier_3", &paid, &days), "tier_4");
    assert_int_equal(paid, 25000);
    assert_int_equal(days, 14);
    assert_null(tg_tiers_next("tier_5", &paid, &days));
    assert_null(tg_tiers_next("nope", &paid, &days));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* first: it needs a rate-limit table that nothing has touched */
        cmocka_unit_test(test_same_stripe_growth),
        cmocka_unit_test(test_duration_exact),
        cmocka_unit_test(test_duration_go_rules),
        cmocka_unit_test(test_rpm_burst_refusal_refill),
        cmocka_unit_test(test_rpm_burst_exact_for_any_limit),
        cmocka_unit_test(test_tpm_reserve_and_settle),
        cmocka_unit_test(test_tpm_too_large),
        cmocka_unit_test(test_org_vs_project),
        cmocka_unit_test(test_retry_after_is_enough),
        cmocka_unit_test(test_day_windows),
        cmocka_unit_test(test_unlimited_and_separate),
        cmocka_unit_test(test_long_model_name),
        cmocka_unit_test(test_precision_rpm_600),
        cmocka_unit_test(test_precision_large_limits),
        cmocka_unit_test(test_settle_after_growth),
        cmocka_unit_test(test_memory_idle_pairs_reclaimed),
        cmocka_unit_test(test_concurrency_exact),
        cmocka_unit_test(test_tiers),
        cmocka_unit_test(test_tiers_qualification),
    };
    return cmocka_run_group_tests_name("limits/ratelimit", tests, NULL, NULL);
}
