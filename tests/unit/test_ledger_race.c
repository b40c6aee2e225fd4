/* ledger under threads: the regression test of the use-after-free between tg_ledger_grant and
 * first-time accounts (the ledger used to keep a pointer to an account across an unlock while
 * another thread grew the accounts array), and of the two-step grant (tg_ledger_grant_write,
 * tg_ledger_grant_done) against concurrent grants, rollbacks and requests.
 *
 *   - grants racing first-time accounts: granters add credit to hundreds of organisations
 *     the ledger has never seen while other threads reserve, settle, read balances and month
 *     spend and set limits, for those and for brand-new ids; at the end every organisation's
 *     balance is exactly what the threads granted and charged;
 *   - overdraft payback racing: many concurrent grants to an organisation in overdraft pay it
 *     exactly once in total;
 *   - rollbacks: half of the grants are written and rolled back; they never count, their
 *     claim on the overdraft is released, and the stores hold exactly the committed grants;
 *     then (one thread) a grant that would take the total to 2^63 is refused and changes
 *     nothing.
 *
 * The ledger's memory is process-wide and shared by the threads (that is what is under test);
 * SQLite connections are not shared: every thread writes to its own database file in the
 * fixture's directory. The clock is fixed (tg_now_override), so no test straddles a month or
 * an expiry it does not set up. Worker threads never call cmocka's asserts (they longjmp):
 * they count failures and keep the first message, which the main thread prints and asserts.
 *
 * Randomness: rand_r per thread, seeded from one printed seed (TG_RACE_SEED=<n> replays or
 * varies it). Meant to run in the normal build, under ASan (make test-asan) and under
 * ThreadSanitizer (make test-tsan). */
#include "billing/ledger.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "db_fixture.h"
#include <sodium.h>

#define CENT TG_NANOS_PER_CENT
#define T_JUN15_120000 1781524800LL /* 2026-06-15T12:00:00Z */
#define DAY 86400LL

#define THREADS 8
#define DEFAULT_SEED 20260615u

static unsigned seed_base = DEFAULT_SEED;

/* ---- fixture: the main store plus one store per thread, in one temp directory ---- */

typedef struct {
    tg_test_db_t db; /* the main thread's store (setup and single-threaded checks) */
    char path[THREADS][160];
    tg_store_t *st[THREADS];
} fx_t;

static void fx_close_threads(fx_t *f)
{
    for (int i = 0; i < THREADS; i++) {
        if (!f->path[i][0])
            continue;
        tg_store_close(f->st[i]);
        f->st[i] = NULL;
        tg_test_rm_db_files(f->path[i]);
        f->path[i][0] = '\0';
    }
}

static int fx_setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    if (!f || tg_test_db_open(&f->db, "ledrace") != 0) {
        free(f);
        return -1;
    }
    for (int i = 0; i < THREADS; i++) {
        char dir[sizeof(f->db.dir)], url[sizeof(f->path[i]) + 8];
        memcpy(dir, f->db.dir, sizeof(dir));
        snprintf(f->path[i], sizeof(f->path[i]), "%.63s/t%d.db", dir, i);
        snprintf(url, sizeof(url), "sqlite:%s", f->path[i]);
        if (tg_store_open(url, &f->st[i]) != 0 || f->st[i]->ops->migrate(f->st[i]) != 0) {
            fx_close_threads(f);
            tg_test_db_close(&f->db);
            free(f);
            return -1;
        }
    }
    tg_now_override = T_JUN15_120000;
    tg_ledger_shutdown(); /* an empty ledger */
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fx_t *f = *state;
    tg_ledger_shutdown();
    tg_now_override = 0;
    fx_close_threads(f);
    int rc = tg_test_db_close(&f->db);
    free(f);
    return rc;
}

/* ---- helpers ---- */


static tg_grant_row_t grant_row(const char *org, const char *kind, int64_t amount,
                                int64_t expires_at)
{
    tg_grant_row_t g;
    memset(&g, 0, sizeof(g));
    snprintf(g.org_id, sizeof(g.org_id), "%s", org);
    snprintf(g.kind, sizeof(g.kind), "%s", kind);
    g.amount = amount;
    g.expires_at = expires_at;
    return g;
}

/* Σ charged in a charges record */
static int64_t charged(const tg_charges_t *ch)
{
    int64_t s = ch->overdraft;
    for (int i = 0; i < ch->n; i++)
        s += tg_charges_at(ch, i)->amount;
    return s;
}

static tg_balance_t balance(const char *org)
{
    tg_balance_t b;
    assert_int_equal(tg_ledger_balance(NULL, org, &b, NULL, NULL), 0);
    return b;
}

/* Number of grants the ledger holds for org. */
static size_t grant_count(const char *org)
{
    tg_balance_t b;
    tg_grant_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(tg_ledger_balance(NULL, org, &b, &rows, &n), 0);
    free(rows);
    return n;
}

/* Σ amount and number of the grants in a store (every organisation). */
static void store_grants(tg_store_t *st, int64_t *sum, size_t *count)
{
    tg_grant_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(st->money->grant_list(st, NULL, &rows, &n), 0);
    *sum = 0;
    for (size_t i = 0; i < n; i++)
        *sum += rows[i].amount;
    *count = n;
    free(rows);
}

/* An organisation in overdraft, made as in test_ledger.c's test_overdraft_is_paid_once: a
 * grant expires while a reservation that counted on it is held, so the settle charges `owed`
 * more than the grants still hold. `base` (never expiring) is then fully used. Leaves the
 * clock `10` seconds later than it found it. */
static void make_overdraft(tg_store_t *st, const char *org, int64_t base, int64_t owed)
{
    tg_org_row_t o = tg_test_org_row(org, 0);
    int64_t t = tg_now();
    tg_reservation_t r;
    tg_charges_t ch;

    tg_grant_row_t g1 = grant_row(org, "operator", base, 0);
    tg_grant_row_t g2 = grant_row(org, "promotional", owed, t + 10);
    assert_int_equal(tg_ledger_grant(st, &g1), 0);
    assert_int_equal(tg_ledger_grant(st, &g2), 0);
    assert_int_equal(tg_ledger_reserve(&o, "proj_a", base + owed, 0, &r, NULL), TG_OK);
    tg_now_override = t + 10; /* g2 expires while the request runs */
    assert_int_equal(tg_ledger_settle(&r, org, "proj_a", base + owed, &ch), base + owed);
    assert_int_equal(ch.overdraft, owed);
    tg_charges_dispose(&ch);
    tg_balance_t b = balance(org);
    assert_int_equal(b.overdraft, owed);
    assert_int_equal(b.available, -owed);
    assert_int_equal(b.used, base + owed);
    assert_int_equal(b.granted, base + owed);
}

/* Per-thread failure record: the count and the first message. */
typedef struct {
    int n;
    char first[256];
} fails_t;

static void failf(fails_t *fl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failf(fails_t *fl, const char *fmt, ...)
{
    if (fl->n++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(fl->first, sizeof(fl->first), fmt, ap);
        va_end(ap);
    }
}

/* Prints every thread's first failure (with the seed) and fails if there was any. */
static void assert_no_failures(const char *test, fails_t *const fl[], int nthreads)
{
    int total = 0;
    for (int i = 0; i < nthreads; i++) {
        if (fl[i]->n) {
            fprintf(stderr, "%s (seed %u): thread %d: %d failures, first: %s\n", test, seed_base, i,
                    fl[i]->n, fl[i]->first);
            total += fl[i]->n;
        }
    }
    assert_int_equal(total, 0);
}

/* Compares one figure of the final state; prints the organisation and both sides. */
static int mismatches;
static void check_eq(const char *org, const char *what, int64_t got, int64_t want)
{
    if (got == want)
        return;
    if (mismatches++ < 20)
        fprintf(stderr, "  %s %s: got %lld, want %lld\n", org, what, (long long)got,
                (long long)want);
}

/* Opens a transaction on st, runs tg_ledger_grant, commits. */
static int grant_tx(tg_store_t *st, tg_grant_row_t *g)
{
    if (st->ops->begin(st) != 0)
        return -1;
    int rc = tg_ledger_grant(st, g);
    if (rc != 0) {
        st->ops->rollback(st);
        return rc;
    }
    return st->ops->commit(st);
}

/* Reserves amount for (org, proj) and settles cost: checks the cap and that the charges add
 * up; adds what was charged to *charged_out (0 when refused). Returns the reserve's result. */
static tg_err_t reserve_settle(const tg_org_row_t *o, const char *proj, int64_t amount,
                               int64_t cost, int yield, int64_t *charged_out, fails_t *fl)
{
    tg_reservation_t r;
    tg_charges_t ch;
    int64_t left = 0;
    tg_err_t e = tg_ledger_reserve(o, proj, amount, 0, &r, &left);
    if (e != TG_OK) {
        if (r.active)
            failf(fl, "%s: refused (%d) but active", o->id, (int)e);
        if (e == TG_E_CREDIT_EXHAUSTED && left >= amount)
            failf(fl, "%s: refused with %lld left for %lld", o->id, (long long)left,
                  (long long)amount);
        return e;
    }
    if (yield)
        sched_yield(); /* hold the reservation while others run */
    int64_t c = tg_ledger_settle(&r, o->id, proj, cost, &ch);
    int64_t want = cost < amount ? cost : amount;
    if (c != want)
        failf(fl, "%s: settle(%lld) of a %lld reservation charged %lld", o->id, (long long)cost,
              (long long)amount, (long long)c);
    if (!o->is_operator && (charged(&ch) != c || ch.overdraft != 0))
        failf(fl, "%s: charges add to %lld (overdraft %lld), charged %lld", o->id,
              (long long)charged(&ch), (long long)ch.overdraft, (long long)c);
    if (r.active)
        failf(fl, "%s: reservation still active after settle", o->id);
    tg_charges_dispose(&ch);
    *charged_out += c;
    return e;
}

/* ---- grants racing first-time accounts ---- */

#define RACE_ORGS 384
#define RACE_GRANTERS 4
#define RACE_GRANTS 400    /* per granter thread */
#define RACE_USER_OPS 2500 /* per user thread */
#define RACE_HELD 4        /* reservations a user thread may hold at once */

static const char *const kinds[] = {"promotional", "operator", "purchased"};

typedef struct {
    int index;
    unsigned seed;
    tg_store_t *st;
    pthread_barrier_t *start;
    fails_t fl;
    int64_t granted[RACE_ORGS], charged[RACE_ORGS];
    size_t ngrants[RACE_ORGS];
    long admitted, refused, fresh;
} race_t;

static void race_org(char out[TG_ID_MAX], int n)
{
    snprintf(out, TG_ID_MAX, "org-race-%d", n);
}

static void *race_granter(void *p)
{
    race_t *w = p;
    pthread_barrier_wait(w->start);
    for (int i = 0; i < RACE_GRANTS; i++) {
        int n = (int)(rand_r(&w->seed) % RACE_ORGS);
        char org[TG_ID_MAX];
        race_org(org, n);
        int k = (int)(rand_r(&w->seed) % 3);
        int64_t expires = rand_r(&w->seed) % 2 ? tg_now() + 30 * DAY : 0;
        tg_grant_row_t g = grant_row(org, kinds[k], 1 + rand_r(&w->seed) % 1000000, expires);
        int rc = grant_tx(w->st, &g);
        if (rc != 0) {
            failf(&w->fl, "%s: grant of %lld returned %d", org, (long long)g.amount, rc);
            continue;
        }
        if (g.consumed != 0)
            failf(&w->fl, "%s: a grant paid %lld of an overdraft that is not there", org,
                  (long long)g.consumed);
        w->granted[n] += g.amount;
        w->ngrants[n]++;
    }
    return NULL;
}

/* Something on an organisation no one has used before (unique per thread and op). */
static void fresh_op(race_t *w, int i)
{
    char id[TG_ID_MAX];
    snprintf(id, sizeof(id), "org-fresh-%d-%d", w->index, i);
    w->fresh++;
    tg_balance_t b;
    int64_t c = 0;
    switch (rand_r(&w->seed) % 5) {
    case 0: { /* no credit: refused, nothing held */
        tg_org_row_t o = tg_test_org_row(id, 0);
        if (reserve_settle(&o, "proj_0", 1 + rand_r(&w->seed) % 1000, 1, 0, &c, &w->fl) !=
            TG_E_CREDIT_EXHAUSTED)
            failf(&w->fl, "%s: reserve without credit was not refused", id);
        break;
    }
    case 1: { /* the operator's organisation: no credit needed, spend counted */
        tg_org_row_t o = tg_test_org_row(id, 1);
        int64_t amount = 1 + rand_r(&w->seed) % 100000;
        if (reserve_settle(&o, "proj_0", amount, amount / 2, 0, &c, &w->fl) != TG_OK)
            failf(&w->fl, "%s: operator reserve refused", id);
        if (tg_ledger_month_spend(id, NULL) != c || tg_ledger_month_spend(id, "proj_0") != c)
            failf(&w->fl, "%s: month spend %lld, charged %lld", id,
                  (long long)tg_ledger_month_spend(id, NULL), (long long)c);
        break;
    }
    case 2: { /* a hard limit on a new organisation holds at once */
        tg_org_row_t o = tg_test_org_row(id, 1);
        if (tg_ledger_set_limit(w->st, id, id, 1) != 0)
            failf(&w->fl, "%s: set_limit failed", id);
        if (tg_ledger_limit(id, id) != 1)
            failf(&w->fl, "%s: limit reads %lld", id, (long long)tg_ledger_limit(id, id));
        if (reserve_settle(&o, "proj_0", CENT + 1, 0, 0, &c, &w->fl) != TG_E_ORG_SPEND_LIMIT)
            failf(&w->fl, "%s: reserve over a 1-cent limit was not refused", id);
        break;
    }
    case 3:
        if (tg_ledger_month_spend(id, rand_r(&w->seed) % 2 ? NULL : "proj_0") != 0)
            failf(&w->fl, "%s: a new organisation has spent", id);
        break;
    default:
        if (tg_ledger_balance(NULL, id, &b, NULL, NULL) != 0 || b.available || b.reserved || b.granted ||
            b.used || b.overdraft)
            failf(&w->fl, "%s: a new organisation's balance is not 0", id);
        break;
    }
}

static void *race_user(void *p)
{
    race_t *w = p;
    struct {
        tg_reservation_t r;
        int n;
        char proj[8];
    } held[RACE_HELD];
    memset(held, 0, sizeof(held));
    pthread_barrier_wait(w->start);
    for (int i = 0; i < RACE_USER_OPS; i++) {
        int n = (int)(rand_r(&w->seed) % RACE_ORGS), op = (int)(rand_r(&w->seed) % 100);
        char org[TG_ID_MAX];
        race_org(org, n);
        tg_balance_t b;
        if (op < 35) { /* reserve (held for a while) or settle one held */
            int slot = (int)(rand_r(&w->seed) % RACE_HELD);
            if (held[slot].r.active) {
                char o2[TG_ID_MAX];
                tg_charges_t ch;
                race_org(o2, held[slot].n);
                int64_t amount = held[slot].r.amount;
                int64_t cost = rand_r(&w->seed) % (amount + amount / 4 + 1); /* may exceed */
                int64_t c = tg_ledger_settle(&held[slot].r, o2, held[slot].proj, cost, &ch);
                if (c != (cost < amount ? cost : amount) || charged(&ch) != c || ch.overdraft != 0)
                    failf(&w->fl, "%s: settle(%lld) of %lld charged %lld (charges %lld)", o2,
                          (long long)cost, (long long)amount, (long long)c,
                          (long long)charged(&ch));
                tg_charges_dispose(&ch);
                w->charged[held[slot].n] += c;
            } else {
                tg_org_row_t o = tg_test_org_row(org, 0);
                snprintf(held[slot].proj, sizeof(held[slot].proj), "proj_%d",
                         (int)(rand_r(&w->seed) % 3));
                held[slot].n = n;
                tg_err_t e = tg_ledger_reserve(&o, held[slot].proj, 1 + rand_r(&w->seed) % 200000,
                                               0, &held[slot].r, NULL);
                if (e == TG_OK)
                    w->admitted++;
                else if (e == TG_E_CREDIT_EXHAUSTED)
                    w->refused++;
                else
                    failf(&w->fl, "%s: reserve returned %d", org, (int)e);
            }
        } else if (op < 50) { /* reserve and settle at once */
            tg_org_row_t o = tg_test_org_row(org, 0);
            int64_t amount = 1 + rand_r(&w->seed) % 200000;
            int64_t cost = rand_r(&w->seed) % (amount + amount / 4 + 1);
            tg_err_t e = reserve_settle(&o, "proj_0", amount, cost, op % 2, &w->charged[n], &w->fl);
            if (e == TG_OK)
                w->admitted++;
            else if (e == TG_E_CREDIT_EXHAUSTED)
                w->refused++;
            else
                failf(&w->fl, "%s: reserve returned %d", org, (int)e);
        } else if (op < 62) { /* a balance that never shows overdraft or negative credit */
            tg_grant_row_t *rows = NULL;
            size_t nrows = 0;
            if (tg_ledger_balance(NULL, org, &b, op % 2 ? &rows : NULL, &nrows) != 0 || b.reserved < 0 ||
                b.overdraft != 0 || b.available < 0 || b.used > b.granted ||
                b.available + b.reserved + b.used != b.granted)
                failf(&w->fl, "%s: balance avail %lld res %lld granted %lld used %lld od %lld", org,
                      (long long)b.available, (long long)b.reserved, (long long)b.granted,
                      (long long)b.used, (long long)b.overdraft);
            for (size_t j = 0; j < nrows; j++)
                if (strcmp(rows[j].org_id, org) != 0 || rows[j].consumed > rows[j].amount)
                    failf(&w->fl, "%s: grant row %s of %s, %lld of %lld used", org, rows[j].id,
                          rows[j].org_id, (long long)rows[j].consumed, (long long)rows[j].amount);
            free(rows);
        } else if (op < 72) {
            if (tg_ledger_month_spend(org, NULL) < 0 || tg_ledger_month_spend(org, "proj_1") < 0)
                failf(&w->fl, "%s: negative month spend", org);
        } else if (op < 76) { /* limits too high to refuse anything */
            const char *scope = op % 2 ? org : "proj_2";
            if (tg_ledger_set_limit(w->st, org, scope, 1000000000) != 0 ||
                tg_ledger_limit(org, scope) != 1000000000)
                failf(&w->fl, "%s: set_limit of %s", org, scope);
        } else {
            fresh_op(w, i);
        }
    }
    for (int s = 0; s < RACE_HELD; s++) { /* settle what is still held, charging all of it */
        if (!held[s].r.active)
            continue;
        char o2[TG_ID_MAX];
        tg_charges_t ch;
        race_org(o2, held[s].n);
        int64_t amount = held[s].r.amount;
        int64_t c = tg_ledger_settle(&held[s].r, o2, held[s].proj, amount, &ch);
        if (c != amount || charged(&ch) != c || ch.overdraft != 0)
            failf(&w->fl, "%s: final settle of %lld charged %lld", o2, (long long)amount,
                  (long long)c);
        tg_charges_dispose(&ch);
        w->charged[held[s].n] += c;
    }
    return NULL;
}

static void test_grants_race_new_accounts(void **state)
{
    fx_t *f = *state;
    pthread_t th[THREADS];
    pthread_barrier_t start;
    race_t *w = calloc(THREADS, sizeof(*w));
    fails_t *fl[THREADS];
    assert_non_null(w);

    assert_int_equal(pthread_barrier_init(&start, NULL, THREADS), 0);
    for (int i = 0; i < THREADS; i++) {
        w[i].index = i;
        w[i].seed = seed_base * 31u + 100u + (unsigned)i;
        w[i].st = f->st[i];
        w[i].start = &start;
        fl[i] = &w[i].fl;
        assert_int_equal(
            pthread_create(&th[i], NULL, i < RACE_GRANTERS ? race_granter : race_user, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    assert_no_failures("grants_race_new_accounts", fl, THREADS);

    long admitted = 0, refused = 0, fresh = 0;
    for (int i = RACE_GRANTERS; i < THREADS; i++) {
        admitted += w[i].admitted;
        refused += w[i].refused;
        fresh += w[i].fresh;
    }
    /* the race happened: requests were admitted and refused, new accounts were made */
    assert_true(admitted > 100);
    assert_true(refused > 10);
    assert_true(fresh > 100);

    mismatches = 0;
    int64_t all_granted = 0;
    for (int n = 0; n < RACE_ORGS; n++) {
        char org[TG_ID_MAX];
        race_org(org, n);
        int64_t g = 0, c = 0;
        size_t count = 0;
        for (int i = 0; i < THREADS; i++) {
            g += w[i].granted[n];
            c += w[i].charged[n];
            count += w[i].ngrants[n];
        }
        all_granted += g;
        tg_balance_t b = balance(org);
        check_eq(org, "granted", b.granted, g);
        check_eq(org, "reserved", b.reserved, 0);
        check_eq(org, "available", b.available, g - c);
        check_eq(org, "used", b.used, c);
        check_eq(org, "overdraft", b.overdraft, 0);
        check_eq(org, "grants", (int64_t)grant_count(org), (int64_t)count);
        check_eq(org, "month spend", tg_ledger_month_spend(org, NULL), c);
        check_eq(org, "Σ project month spend",
                 tg_ledger_month_spend(org, "proj_0") + tg_ledger_month_spend(org, "proj_1") +
                     tg_ledger_month_spend(org, "proj_2"),
                 c);
    }
    /* each granter's store holds exactly its grants */
    for (int i = 0; i < RACE_GRANTERS; i++) {
        int64_t sum = 0, want = 0;
        size_t count = 0;
        store_grants(f->st[i], &sum, &count);
        for (int n = 0; n < RACE_ORGS; n++)
            want += w[i].granted[n];
        check_eq("store", "Σ amount", sum, want);
        check_eq("store", "grants", (int64_t)count, RACE_GRANTS);
    }
    if (mismatches)
        fprintf(stderr, "grants_race_new_accounts (seed %u): %d mismatches\n", seed_base,
                mismatches);
    assert_int_equal(mismatches, 0);
    assert_true(all_granted > 0);
    free(w);
}

/* ---- overdraft payback racing ---- */

#define OD_BASE 1000
#define OD_OWED 50000
#define OD_GRANTERS 6
#define OD_GRANTS 300 /* per granter; 1..200 nanos each: ~500 grants pay the overdraft */
#define OD_OPS 3000   /* per reserving / checking thread at least: they run until grants end */

typedef struct {
    int index;
    unsigned seed;
    tg_store_t *st;
    pthread_barrier_t *start;
    const char *org;
    atomic_int *granting; /* granter threads still running */
    fails_t fl;
    int64_t granted, paid, charged;
    long payers, admitted;
} od_t;

static void *od_granter(void *p)
{
    od_t *w = p;
    pthread_barrier_wait(w->start);
    for (int i = 0; i < OD_GRANTS; i++) {
        tg_grant_row_t g =
            grant_row(w->org, kinds[rand_r(&w->seed) % 3], 1 + rand_r(&w->seed) % 200, 0);
        int rc = grant_tx(w->st, &g);
        if (rc != 0) {
            failf(&w->fl, "grant returned %d", rc);
            continue;
        }
        if (g.consumed < 0 || g.consumed > g.amount)
            failf(&w->fl, "a grant of %lld paid %lld", (long long)g.amount, (long long)g.consumed);
        w->granted += g.amount;
        w->paid += g.consumed;
        w->payers += g.consumed > 0;
    }
    atomic_fetch_sub(w->granting, 1);
    return NULL;
}

/* Reserves and settles small amounts while the overdraft is being paid back: whatever is
 * admitted is covered by grants (no new overdraft). */
static void *od_reserver(void *p)
{
    od_t *w = p;
    tg_org_row_t o = tg_test_org_row(w->org, 0);
    pthread_barrier_wait(w->start);
    for (int i = 0; i < OD_OPS || atomic_load(w->granting) > 0; i++) {
        int64_t amount = 1 + rand_r(&w->seed) % 50;
        tg_err_t e = reserve_settle(&o, "proj_r", amount, rand_r(&w->seed) % (amount + 1), i % 2,
                                    &w->charged, &w->fl);
        if (e == TG_OK)
            w->admitted++;
        else if (e == TG_E_CREDIT_EXHAUSTED)
            sched_yield(); /* the overdraft is not paid yet */
        else
            failf(&w->fl, "reserve returned %d", (int)e);
    }
    return NULL;
}

/* Samples the balance: the overdraft only shrinks, never below 0; what was used never
 * shrinks; the unexpired grants less what was used and reserved is what is available. */
static void *od_checker(void *p)
{
    od_t *w = p;
    int64_t last_od = OD_OWED;
    pthread_barrier_wait(w->start);
    for (int i = 0; i < OD_OPS || atomic_load(w->granting) > 0; i++) {
        tg_balance_t b;
        if (tg_ledger_balance(NULL, w->org, &b, NULL, NULL) != 0) {
            failf(&w->fl, "balance failed");
            continue;
        }
        /* the expired grant (OD_OWED, unused) is in granted but not in the credit */
        if (b.overdraft < 0 || b.overdraft > last_od || b.reserved < 0 ||
            b.used < OD_BASE + OD_OWED || b.available < -OD_OWED ||
            b.available != b.granted - OD_OWED - b.used - b.reserved)
            failf(&w->fl, "balance avail %lld res %lld granted %lld used %lld od %lld (was %lld)",
                  (long long)b.available, (long long)b.reserved, (long long)b.granted,
                  (long long)b.used, (long long)b.overdraft, (long long)last_od);
        last_od = b.overdraft;
        if (i % 4 == 0)
            sched_yield();
    }
    return NULL;
}

static void test_overdraft_payback_race(void **state)
{
    fx_t *f = *state;
    static const char org[] = "org-od-race";
    pthread_t th[THREADS];
    pthread_barrier_t start;
    od_t w[THREADS];
    fails_t *fl[THREADS];
    atomic_int granting = OD_GRANTERS;

    make_overdraft(f->db.st, org, OD_BASE, OD_OWED);
    assert_int_equal(pthread_barrier_init(&start, NULL, THREADS), 0);
    memset(w, 0, sizeof(w));
    for (int i = 0; i < THREADS; i++) {
        w[i].index = i;
        w[i].seed = seed_base * 31u + 200u + (unsigned)i;
        w[i].st = f->st[i];
        w[i].start = &start;
        w[i].org = org;
        w[i].granting = &granting;
        fl[i] = &w[i].fl;
        void *(*fn)(void *) = i < OD_GRANTERS    ? od_granter
                              : i == OD_GRANTERS ? od_reserver
                                                 : od_checker;
        assert_int_equal(pthread_create(&th[i], NULL, fn, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    assert_no_failures("overdraft_payback_race", fl, THREADS);

    int64_t granted = 0, paid = 0, charged_total = 0;
    long payers = 0;
    for (int i = 0; i < THREADS; i++) {
        granted += w[i].granted;
        paid += w[i].paid;
        charged_total += w[i].charged;
        payers += w[i].payers;
    }
    assert_true(granted >= OD_OWED); /* the grants could pay it all (true of the seeds) */
    assert_true(payers > 1);         /* and it took several of them */
    assert_true(w[OD_GRANTERS].admitted > 0);
    /* paid exactly once in total */
    assert_int_equal(paid, OD_OWED);
    tg_balance_t b = balance(org);
    assert_int_equal(b.overdraft, 0);
    assert_int_equal(b.reserved, 0);
    assert_int_equal(b.granted, OD_BASE + OD_OWED + granted);
    assert_int_equal(b.used, OD_BASE + OD_OWED + charged_total);
    assert_int_equal(b.available, granted - OD_OWED - charged_total);
    assert_int_equal(grant_count(org), 2 + OD_GRANTERS * OD_GRANTS);
    /* the grants in memory say the same: their consumed adds up to what was ever charged */
    tg_grant_row_t *rows = NULL;
    size_t n = 0;
    int64_t consumed = 0;
    assert_int_equal(tg_ledger_balance(NULL, org, &b, &rows, &n), 0);
    for (size_t i = 0; i < n; i++)
        consumed += rows[i].consumed;
    free(rows);
    assert_int_equal(consumed, OD_BASE + OD_OWED + charged_total);
}

/* ---- grant_write / grant_done with rollbacks; then 2^63 ---- */

#define RB_ORGS 64
#define RB_GRANTERS 6
#define RB_GRANTS 400 /* per granter; half rolled back */
#define RB_OPS 3000   /* per reserving thread */
#define RB_OD_BASE 1000
#define RB_OD_OWED 300000

typedef struct {
    int index;
    unsigned seed;
    tg_store_t *st;
    pthread_barrier_t *start;
    fails_t fl;
    int64_t granted[RB_ORGS + 1], charged[RB_ORGS + 1]; /* [RB_ORGS]: the overdraft org */
    size_t ngrants[RB_ORGS + 1];
    int64_t paid; /* overdraft paid by this thread's committed grants */
    int64_t store_sum;
    size_t store_count;
    long rolled_back;
} rb_t;

static void rb_org(char out[TG_ID_MAX], int n)
{
    if (n == RB_ORGS)
        snprintf(out, TG_ID_MAX, "org-rb-od");
    else
        snprintf(out, TG_ID_MAX, "org-rb-%d", n);
}

static void *rb_granter(void *p)
{
    rb_t *w = p;
    pthread_barrier_wait(w->start);
    for (int i = 0; i < RB_GRANTS; i++) {
        int n = rand_r(&w->seed) % 8 == 0 ? RB_ORGS : (int)(rand_r(&w->seed) % RB_ORGS);
        int commit = rand_r(&w->seed) % 2;
        char org[TG_ID_MAX];
        rb_org(org, n);
        tg_grant_row_t g =
            grant_row(org, kinds[rand_r(&w->seed) % 3], 1 + rand_r(&w->seed) % 2000, 0);
        if (w->st->ops->begin(w->st) != 0) {
            failf(&w->fl, "begin failed");
            continue;
        }
        int rc = tg_ledger_grant_write(w->st, &g);
        if (rc != 0) {
            failf(&w->fl, "%s: grant_write returned %d", org, rc);
            w->st->ops->rollback(w->st);
            continue;
        }
        if (rand_r(&w->seed) % 4 == 0)
            sched_yield(); /* the grant is written, not yet in memory */
        if (!commit) {
            if (w->st->ops->rollback(w->st) != 0)
                failf(&w->fl, "rollback failed");
            tg_ledger_grant_done(&g, 0);
            w->rolled_back++;
            continue;
        }
        if (w->st->ops->commit(w->st) != 0) {
            failf(&w->fl, "commit failed");
            tg_ledger_grant_done(&g, 0);
            continue;
        }
        tg_ledger_grant_done(&g, 1);
        if (n != RB_ORGS && g.consumed != 0)
            failf(&w->fl, "%s: paid %lld of no overdraft", org, (long long)g.consumed);
        w->granted[n] += g.amount;
        w->ngrants[n]++;
        w->paid += g.consumed;
        w->store_sum += g.amount;
        w->store_count++;
    }
    return NULL;
}

static void *rb_reserver(void *p)
{
    rb_t *w = p;
    pthread_barrier_wait(w->start);
    for (int i = 0; i < RB_OPS; i++) {
        int n = (int)(rand_r(&w->seed) % (RB_ORGS + 1));
        char org[TG_ID_MAX];
        rb_org(org, n);
        tg_org_row_t o = tg_test_org_row(org, 0);
        int64_t amount = 1 + rand_r(&w->seed) % 3000;
        tg_err_t e = reserve_settle(&o, "proj_0", amount, rand_r(&w->seed) % (amount + 1),
                                    i % 3 == 0, &w->charged[n], &w->fl);
        if (e != TG_OK && e != TG_E_CREDIT_EXHAUSTED)
            failf(&w->fl, "%s: reserve returned %d", org, (int)e);
    }
    return NULL;
}

static void test_grant_rollbacks_race(void **state)
{
    fx_t *f = *state;
    pthread_t th[THREADS];
    pthread_barrier_t start;
    rb_t *w = calloc(THREADS, sizeof(*w));
    fails_t *fl[THREADS];
    char od_org[TG_ID_MAX];
    assert_non_null(w);

    rb_org(od_org, RB_ORGS);
    make_overdraft(f->db.st, od_org, RB_OD_BASE, RB_OD_OWED);
    assert_int_equal(pthread_barrier_init(&start, NULL, THREADS), 0);
    for (int i = 0; i < THREADS; i++) {
        w[i].index = i;
        w[i].seed = seed_base * 31u + 300u + (unsigned)i;
        w[i].st = f->st[i];
        w[i].start = &start;
        fl[i] = &w[i].fl;
        assert_int_equal(
            pthread_create(&th[i], NULL, i < RB_GRANTERS ? rb_granter : rb_reserver, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    assert_no_failures("grant_rollbacks_race", fl, THREADS);

    long rolled_back = 0;
    int64_t paid = 0;
    for (int i = 0; i < THREADS; i++) {
        rolled_back += w[i].rolled_back;
        paid += w[i].paid;
    }
    assert_true(rolled_back > RB_GRANTERS * RB_GRANTS / 4);

    mismatches = 0;
    for (int n = 0; n <= RB_ORGS; n++) {
        char org[TG_ID_MAX];
        rb_org(org, n);
        int64_t g = 0, c = 0;
        size_t count = 0;
        for (int i = 0; i < THREADS; i++) {
            g += w[i].granted[n];
            c += w[i].charged[n];
            count += w[i].ngrants[n];
        }
        tg_balance_t b = balance(org);
        check_eq(org, "reserved", b.reserved, 0);
        if (n < RB_ORGS) {
            check_eq(org, "granted", b.granted, g);
            check_eq(org, "available", b.available, g - c);
            check_eq(org, "used", b.used, c);
            check_eq(org, "overdraft", b.overdraft, 0);
            check_eq(org, "grants", (int64_t)grant_count(org), (int64_t)count);
        } else {
            /* committed grants paid part of the overdraft, each part once; a rolled-back
             * grant's claim was given back (what is left is still owed) */
            check_eq(org, "granted", b.granted, RB_OD_BASE + RB_OD_OWED + g);
            check_eq(org, "paid + overdraft", paid + b.overdraft, RB_OD_OWED);
            check_eq(org, "used", b.used, RB_OD_BASE + RB_OD_OWED + c);
            check_eq(org, "available", b.available, g - RB_OD_OWED - c);
            check_eq(org, "grants", (int64_t)grant_count(org), 2 + (int64_t)count);
            if (b.overdraft < 0)
                check_eq(org, "overdraft ≥ 0", b.overdraft, 0);
        }
    }
    /* the stores hold the committed grants only */
    for (int i = 0; i < RB_GRANTERS; i++) {
        int64_t sum = 0;
        size_t count = 0;
        store_grants(f->st[i], &sum, &count);
        check_eq("store", "Σ amount", sum, w[i].store_sum);
        check_eq("store", "grants", (int64_t)count, (int64_t)w[i].store_count);
    }
    if (mismatches)
        fprintf(stderr, "grant_rollbacks_race (seed %u): %d mismatches\n", seed_base, mismatches);
    assert_int_equal(mismatches, 0);

    /* no claim on the overdraft is left behind: the next grant pays all that is owed */
    tg_balance_t b = balance(od_org);
    int64_t owed = b.overdraft;
    tg_grant_row_t last = grant_row(od_org, "operator", RB_OD_OWED, 0);
    assert_int_equal(grant_tx(f->db.st, &last), 0);
    assert_int_equal(last.consumed, owed);
    assert_int_equal(balance(od_org).overdraft, 0);
    assert_int_equal(balance(od_org).available, b.available + RB_OD_OWED);

    /* 2^63 (one thread): a grant that would take the total to 2^63 or more changes nothing */
    static const char big[] = "org-rb-0";
    tg_store_t *st = f->db.st;
    tg_balance_t b0 = balance(big);
    size_t n0 = grant_count(big), s0;
    int64_t sum0;
    store_grants(st, &sum0, &s0);
    assert_true(b0.granted > 0);

    tg_grant_row_t g = grant_row(big, "purchased", INT64_MAX - b0.granted + 1, 0);
    assert_int_equal(tg_ledger_grant(st, &g), TG_LEDGER_ETOO_LARGE);
    g = grant_row(big, "purchased", INT64_MAX, 0);
    assert_int_equal(tg_ledger_grant(st, &g), TG_LEDGER_ETOO_LARGE);
    tg_balance_t b1 = balance(big);
    assert_int_equal(b1.granted, b0.granted);
    assert_int_equal(b1.available, b0.available);
    assert_int_equal(b1.used, b0.used);
    assert_int_equal(b1.reserved, b0.reserved);
    assert_int_equal(b1.overdraft, b0.overdraft);
    assert_int_equal(grant_count(big), n0);
    int64_t sum1;
    size_t s1;
    store_grants(st, &sum1, &s1);
    assert_int_equal(s1, s0);
    assert_int_equal(sum1, sum0);

    /* exactly 2^63 − 1 in total fits; while it is being written, one more nano does not */
    g = grant_row(big, "purchased", INT64_MAX - b0.granted, 0);
    assert_int_equal(st->ops->begin(st), 0);
    assert_int_equal(tg_ledger_grant_write(st, &g), 0);
    tg_grant_row_t one = grant_row(big, "operator", 1, 0);
    assert_int_equal(tg_ledger_grant_write(st, &one), TG_LEDGER_ETOO_LARGE);
    assert_int_equal(st->ops->rollback(st), 0);
    tg_ledger_grant_done(&g, 0);
    /* rolled back: its room is free again, and it never counted */
    assert_int_equal(balance(big).granted, b0.granted);
    one = grant_row(big, "operator", 1, 0);
    assert_int_equal(grant_tx(st, &one), 0);
    g = grant_row(big, "purchased", INT64_MAX - b0.granted, 0);
    assert_int_equal(grant_tx(st, &g), TG_LEDGER_ETOO_LARGE);
    g = grant_row(big, "purchased", INT64_MAX - b0.granted - 1, 0);
    assert_int_equal(grant_tx(st, &g), 0);
    tg_balance_t b2 = balance(big);
    assert_int_equal(b2.granted, INT64_MAX);
    assert_int_equal(b2.available, INT64_MAX - b0.used);
    one = grant_row(big, "operator", 1, 0);
    assert_int_equal(grant_tx(st, &one), TG_LEDGER_ETOO_LARGE);
    assert_int_equal(balance(big).granted, INT64_MAX);
    assert_int_equal(grant_count(big), n0 + 2);
    free(w);
}

int main(void)
{
    const char *s = getenv("TG_RACE_SEED");
    if (s && *s)
        seed_base = (unsigned)strtoul(s, NULL, 10);
    printf("test_ledger_race: seed %u (TG_RACE_SEED=%u replays it)\n", seed_base, seed_base);
    fflush(stdout);
    if (sodium_init() < 0)
        return 1;
    tg_log_level = TG_LOG_ERROR;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_grants_race_new_accounts, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_overdraft_payback_race, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_grant_rollbacks_race, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
