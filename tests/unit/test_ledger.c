/* ledger: reservations against credit, monthly hard limits and the tier's cap; settlement
 * from the grants that expire first; overdraft; month boundaries; the ledger rebuilt from the
 * store; and a multithreaded stress test of the one-step check-and-reserve.
 *
 * Amounts are nano-dollars (TG_NANOS_PER_CENT = 10^7). The ledger is process-wide state:
 * every test starts from an empty ledger on a fresh SQLite file and a fixed clock
 * (tg_now_override), and tears both down. */
#include "billing/ledger.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "db_fixture.h"
#include <sodium.h>

/* Every reservation of these tests goes through here (no tier cap unless given). */
#define RESERVE(org, project, amount, r) tg_ledger_reserve((org), (project), (amount), 0, (r), NULL)

#define CENT TG_NANOS_PER_CENT
#define T_JAN31_235959 1769903999LL /* 2026-01-31T23:59:59Z */
#define T_FEB01_000000 1769904000LL /* 2026-02-01T00:00:00Z */
#define T_JAN01_000000 1767225600LL /* 2026-01-01T00:00:00Z */
#define T_JUN15_120000 1781524800LL /* 2026-06-15T12:00:00Z */
#define DAY 86400LL

typedef tg_test_db_t fx_t;

static int fx_setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    if (!f || tg_test_db_open(f, "ledger") != 0) {
        free(f);
        return -1;
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
    int rc = tg_test_db_close(f);
    free(f);
    return rc;
}


/* Grants `amount` nanos; granted_at 0: now. Returns the id (static storage per call site is
 * not needed: the caller passes a buffer). */
static void grant(tg_store_t *st, const char *org, const char *kind, int64_t amount,
                  int64_t expires_at, int64_t granted_at, char id_out[TG_ID_MAX])
{
    tg_grant_row_t g;
    memset(&g, 0, sizeof(g));
    snprintf(g.org_id, sizeof(g.org_id), "%s", org);
    snprintf(g.kind, sizeof(g.kind), "%s", kind);
    g.amount = amount;
    g.expires_at = expires_at;
    g.granted_at = granted_at;
    assert_int_equal(tg_ledger_grant(st, &g), 0);
    assert_true(strncmp(g.id, "grant_", 6) == 0);
    if (id_out)
        memcpy(id_out, g.id, TG_ID_MAX);
}

static tg_balance_t balance(const char *org)
{
    tg_balance_t b;
    assert_int_equal(tg_ledger_balance(NULL, org, &b, NULL, NULL), 0);
    return b;
}

/* consumed of one grant, as the ledger holds it now */
static int64_t grant_used(const char *org, const char *grant_id)
{
    tg_balance_t b;
    tg_grant_row_t *rows = NULL;
    size_t n = 0;
    int64_t v = -1;
    assert_int_equal(tg_ledger_balance(NULL, org, &b, &rows, &n), 0);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(rows[i].id, grant_id))
            v = rows[i].consumed;
    free(rows);
    assert_true(v >= 0);
    return v;
}

/* Σ charged in a charges record */
static int64_t charged(const tg_charges_t *ch)
{
    int64_t s = ch->overdraft;
    for (int i = 0; i < ch->n; i++)
        s += tg_charges_at(ch, i)->amount;
    return s;
}

/* What the usage writer commits with a usage record: the charges to grants and the overdraft
 * (src/billing/usage.c, apply_charges). The organisation's row must exist. */
static void commit_charges(tg_store_t *st, const char *org, const tg_charges_t *ch)
{
    assert_int_equal(tg_usage_apply_charges(st, org, ch), 0);
}

/* ---- tg_month_start ---- */

static void test_month_start(void **state)
{
    (void)state;
    assert_int_equal(tg_month_start(T_JAN31_235959), T_JAN01_000000);
    assert_int_equal(tg_month_start(T_FEB01_000000), T_FEB01_000000);
    assert_int_equal(tg_month_start(T_FEB01_000000 - 1), T_JAN01_000000);
    assert_int_equal(tg_month_start(T_FEB01_000000 + 1), T_FEB01_000000);
    assert_int_equal(tg_month_start(1709208000LL), 1706745600LL);  /* 2024-02-29 (leap) → 02-01 */
    assert_int_equal(tg_month_start(951868799LL), 949363200LL);    /* 2000-02-29T23:59:59 */
    assert_int_equal(tg_month_start(4107542399LL), 4105123200LL);  /* 2100-02-28 (no leap) */
    assert_int_equal(tg_month_start(4107542400LL), 4107542400LL);  /* 2100-03-01 */
    assert_int_equal(tg_month_start(1798761599LL), 1796083200LL);  /* 2026-12-31T23:59:59 → 12-01 */
    assert_int_equal(tg_month_start(1798761600LL), 1798761600LL);  /* 2027-01-01: a new year */
    assert_int_equal(tg_month_start(2147483648LL), 2145916800LL);  /* past 2^31 (2038-01-19) */
    assert_int_equal(tg_month_start(0), 0);
    assert_int_equal(tg_month_start(2678399LL), 0);                /* 1970-01-31T23:59:59 */
    /* idempotent, and every second of a month maps to its first second */
    for (int64_t t = T_JAN01_000000 - 2 * DAY; t < T_FEB01_000000 + 2 * DAY; t += 3607) {
        int64_t m = tg_month_start(t);
        assert_true(m <= t);
        assert_int_equal(tg_month_start(m), m);
        assert_true(t - m < 31 * DAY);
    }
}

/* ---- credit ---- */

static void test_credit_reserve_and_settle(void **state)
{
    fx_t *f = *state;
    tg_org_row_t o = tg_test_org_row("org-c", 0);
    char g[TG_ID_MAX];
    tg_reservation_t r[12];
    tg_charges_t ch;

    /* no credit: nothing fits, nothing is held */
    assert_int_equal(RESERVE(&o, "proj_a", 1, &r[0]), TG_E_CREDIT_EXHAUSTED);
    assert_false(r[0].active);
    assert_int_equal(balance("org-c").reserved, 0);

    grant(f->st, "org-c", "operator", CENT, 0, 0, g);
    for (int i = 0; i < 10; i++)
        assert_int_equal(RESERVE(&o, "proj_a", 1000000, &r[i]), TG_OK);
    assert_int_equal(RESERVE(&o, "proj_a", 1000000, &r[10]), TG_E_CREDIT_EXHAUSTED);
    assert_false(r[10].active);
    assert_int_equal(RESERVE(&o, "proj_b", 1, &r[10]), TG_E_CREDIT_EXHAUSTED); /* org-wide */
    tg_balance_t b = balance("org-c");
    assert_int_equal(b.reserved, CENT);
    assert_int_equal(b.available, 0);
    assert_int_equal(b.granted, CENT);
    assert_int_equal(b.used, 0);

    for (int i = 0; i < 10; i++) {
        assert_true(r[i].active);
        assert_int_equal(r[i].amount, 1000000);
        tg_ledger_settle(&r[i], "org-c", "proj_a", 5000, &ch);
        assert_false(r[i].active);
        assert_int_equal(ch.n, 1);
        assert_string_equal(tg_charges_at(&ch, 0)->grant_id, g);
        assert_int_equal(tg_charges_at(&ch, 0)->amount, 5000);
        assert_int_equal(ch.overdraft, 0);
    }
    b = balance("org-c");
    assert_int_equal(b.reserved, 0);
    assert_int_equal(b.used, 50000);
    assert_int_equal(b.available, CENT - 50000);
    assert_int_equal(grant_used("org-c", g), 50000);

    /* settling twice releases and charges once */
    assert_int_equal(RESERVE(&o, "proj_a", 1000, &r[0]), TG_OK);
    tg_ledger_settle(&r[0], "org-c", "proj_a", 0, &ch);
    assert_int_equal(ch.n, 0);
    assert_int_equal(tg_ledger_settle(&r[0], "org-c", "proj_a", 1000, &ch), 0);
    assert_int_equal(ch.n, 0);
    assert_int_equal(balance("org-c").reserved, 0);
    assert_int_equal(balance("org-c").available, CENT - 50000);

    /* a charge never exceeds its reservation: what is reported above it is not charged */
    assert_int_equal(RESERVE(&o, "proj_a", 1000, &r[0]), TG_OK);
    assert_int_equal(tg_ledger_settle(&r[0], "org-c", "proj_a", 1000000, &ch), 1000);
    assert_int_equal(charged(&ch), 1000);
    assert_int_equal(balance("org-c").available, CENT - 51000);

    /* exactly what is left fits; one nano more does not, and says what is left */
    int64_t left = 0;
    assert_int_equal(tg_ledger_reserve(&o, "proj_a", CENT - 51000 + 1, 0, &r[0], &left),
                     TG_E_CREDIT_EXHAUSTED);
    assert_int_equal(left, CENT - 51000);
    assert_int_equal(RESERVE(&o, "proj_a", CENT - 51000, &r[0]), TG_OK);
    assert_int_equal(RESERVE(&o, "proj_a", 1, &r[1]), TG_E_CREDIT_EXHAUSTED);
    assert_int_equal(RESERVE(&o, "proj_a", 0, &r[1]), TG_OK); /* a free request */
    tg_ledger_settle(&r[1], "org-c", "proj_a", 0, &ch);
    tg_ledger_settle(&r[0], "org-c", "proj_a", CENT - 51000, &ch);
    assert_int_equal(charged(&ch), CENT - 51000);
    b = balance("org-c");
    assert_int_equal(b.available, 0);
    assert_int_equal(b.used, CENT);
    assert_int_equal(b.reserved, 0);
}

static void test_operator_org_is_exempt(void **state)
{
    fx_t *f = *state;
    tg_org_row_t op = tg_test_org_row("org-op", 1);
    tg_reservation_t r;
    tg_charges_t ch;
    char g[TG_ID_MAX];

    /* no credit needed, none used even when there is some */
    assert_int_equal(RESERVE(&op, "proj_o", 1000 * CENT, &r), TG_OK);
    tg_ledger_settle(&r, "org-op", "proj_o", 5000, &ch);
    assert_int_equal(ch.n, 0);
    assert_int_equal(ch.overdraft, 0);
    grant(f->st, "org-op", "operator", CENT, 0, 0, g);
    assert_int_equal(RESERVE(&op, "proj_o", 1000 * CENT, &r), TG_OK);
    tg_ledger_settle(&r, "org-op", "proj_o", 7000, &ch);
    assert_int_equal(ch.n, 0);
    assert_int_equal(ch.overdraft, 0);
    assert_int_equal(grant_used("org-op", g), 0);
    tg_balance_t b = balance("org-op");
    assert_int_equal(b.used, 0);
    assert_int_equal(b.reserved, 0);
    /* but its spend counts, and its hard limit holds */
    assert_int_equal(tg_ledger_month_spend("org-op", NULL), 12000);
    assert_int_equal(tg_ledger_month_spend("org-op", "proj_o"), 12000);
    assert_int_equal(tg_ledger_set_limit(f->st, "org-op", "org-op", 1), 0);
    assert_int_equal(RESERVE(&op, "proj_o", CENT - 12000, &r), TG_OK);
    tg_reservation_t r2;
    assert_int_equal(RESERVE(&op, "proj_o", 1, &r2), TG_E_ORG_SPEND_LIMIT);
    tg_ledger_settle(&r, "org-op", "proj_o", 0, &ch);
    /* and no tier cap applies to it */
    assert_int_equal(tg_ledger_set_limit(f->st, "org-op", "org-op", 0), 0);
    assert_int_equal(tg_ledger_reserve(&op, "proj_o", 10 * CENT, CENT, &r, NULL), TG_OK);
    tg_ledger_settle(&r, "org-op", "proj_o", 0, &ch);
}

/* ---- limits ---- */

static void test_org_limit(void **state)
{
    fx_t *f = *state;
    tg_org_row_t o = tg_test_org_row("org-l", 0);
    tg_reservation_t r[12];
    tg_charges_t ch;

    grant(f->st, "org-l", "operator", 1000 * CENT, 0, 0, NULL);
    assert_int_equal(tg_ledger_set_limit(f->st, "org-l", "org-l", 1), 0);
    assert_int_equal(tg_ledger_limit("org-l", "org-l"), 1);
    for (int i = 0; i < 10; i++)
        assert_int_equal(RESERVE(&o, i % 2 ? "proj_a" : "proj_b", 1000000, &r[i]), TG_OK);
    assert_int_equal(RESERVE(&o, "proj_a", 1000000, &r[10]), TG_E_ORG_SPEND_LIMIT);
    assert_false(r[10].active);
    assert_int_equal(RESERVE(&o, "proj_c", 1, &r[10]), TG_E_ORG_SPEND_LIMIT);
    assert_int_equal(tg_ledger_month_spend("org-l", NULL), CENT); /* reservations count */
    for (int i = 0; i < 10; i++)
        tg_ledger_settle(&r[i], "org-l", i % 2 ? "proj_a" : "proj_b", 5000, &ch);
    assert_int_equal(tg_ledger_month_spend("org-l", NULL), 50000);
    assert_int_equal(tg_ledger_month_spend("org-l", "proj_a"), 25000);
    /* what the charges left: 9 more of 10^6 */
    for (int i = 0; i < 9; i++)
        assert_int_equal(RESERVE(&o, "proj_a", 1000000, &r[i]), TG_OK);
    assert_int_equal(RESERVE(&o, "proj_a", 1000000, &r[9]), TG_E_ORG_SPEND_LIMIT);
    assert_int_equal(RESERVE(&o, "proj_a", 950000, &r[9]), TG_OK); /* exactly to the limit */
    assert_int_equal(tg_ledger_month_spend("org-l", NULL), CENT);
    assert_int_equal(RESERVE(&o, "proj_a", 1, &r[10]), TG_E_ORG_SPEND_LIMIT);
    for (int i = 0; i < 10; i++)
        tg_ledger_settle(&r[i], "org-l", "proj_a", 0, &ch);
    /* a higher limit admits more; removing it admits anything the credit covers */
    assert_int_equal(tg_ledger_set_limit(f->st, "org-l", "org-l", 2), 0);
    assert_int_equal(RESERVE(&o, "proj_a", 2 * CENT - 50000, &r[0]), TG_OK);
    assert_int_equal(RESERVE(&o, "proj_a", 1, &r[1]), TG_E_ORG_SPEND_LIMIT);
    assert_int_equal(tg_ledger_set_limit(f->st, "org-l", "org-l", 0), 0);
    assert_int_equal(tg_ledger_limit("org-l", "org-l"), 0);
    assert_int_equal(RESERVE(&o, "proj_a", 100 * CENT, &r[1]), TG_OK);
    tg_ledger_settle(&r[0], "org-l", "proj_a", 0, &ch);
    tg_ledger_settle(&r[1], "org-l", "proj_a", 0, &ch);
    assert_int_equal(balance("org-l").reserved, 0);
}

static void test_project_limit(void **state)
{
    fx_t *f = *state;
    tg_org_row_t o = tg_test_org_row("org-p", 0);
    tg_reservation_t r[64];
    tg_charges_t ch;

    grant(f->st, "org-p", "operator", 1000 * CENT, 0, 0, NULL);
    assert_int_equal(tg_ledger_set_limit(f->st, "org-p", "proj_a", 1), 0);
    assert_int_equal(tg_ledger_limit("org-p", "proj_a"), 1);
    assert_int_equal(tg_ledger_limit("org-p", "proj_b"), 0);
    assert_int_equal(tg_ledger_limit("org-p", "org-p"), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(RESERVE(&o, "proj_a", 1000000, &r[i]), TG_OK);
    assert_int_equal(RESERVE(&o, "proj_a", 1000000, &r[10]), TG_E_PROJECT_SPEND_LIMIT);
    /* another project of the organisation is unaffected */
    for (int i = 10; i < 60; i++)
        assert_int_equal(RESERVE(&o, "proj_b", 1000000, &r[i]), TG_OK);
    assert_int_equal(tg_ledger_month_spend("org-p", "proj_a"), CENT);
    assert_int_equal(tg_ledger_month_spend("org-p", "proj_b"), 50 * 1000000LL);
    assert_int_equal(tg_ledger_month_spend("org-p", NULL), 60 * 1000000LL);
    /* with both limits exceeded the organisation's is reported */
    assert_int_equal(tg_ledger_set_limit(f->st, "org-p", "org-p", 6), 0);
    assert_int_equal(RESERVE(&o, "proj_a", 1, &r[60]), TG_E_ORG_SPEND_LIMIT);
    /* and no credit comes first of all */
    tg_org_row_t poor = tg_test_org_row("org-poor", 0);
    assert_int_equal(tg_ledger_set_limit(f->st, "org-poor", "org-poor", 1), 0);
    assert_int_equal(RESERVE(&poor, "proj_x", 2 * CENT, &r[60]), TG_E_CREDIT_EXHAUSTED);
    for (int i = 0; i < 60; i++)
        tg_ledger_settle(&r[i], "org-p", i < 10 ? "proj_a" : "proj_b", 1000, &ch);
    assert_int_equal(tg_ledger_month_spend("org-p", "proj_a"), 10000);
    assert_int_equal(balance("org-p").reserved, 0);
    assert_int_equal(balance("org-p").used, 60000);
}

static void test_tier_cap(void **state)
{
    fx_t *f = *state;
    tg_org_row_t o = tg_test_org_row("org-t", 0);
    tg_reservation_t r, r2;
    tg_charges_t ch;

    grant(f->st, "org-t", "operator", 1000 * CENT, 0, 0, NULL);
    assert_int_equal(tg_ledger_reserve(&o, "proj_a", CENT, CENT, &r, NULL), TG_OK);
    assert_int_equal(tg_ledger_reserve(&o, "proj_a", 1, CENT, &r2, NULL), TG_E_USAGE_LIMIT);
    tg_ledger_settle(&r, "org-t", "proj_a", CENT, &ch);
    assert_int_equal(tg_ledger_reserve(&o, "proj_a", 1, CENT, &r2, NULL), TG_E_USAGE_LIMIT);
    assert_int_equal(tg_ledger_reserve(&o, "proj_a", 1, 2 * CENT, &r2, NULL), TG_OK);
    tg_ledger_settle(&r2, "org-t", "proj_a", 1, &ch);
}

/* The Admin API accepts thresholds up to 10^12 cents; × 10^7 nanos per cent that is 10^19,
 * more than INT64_MAX (a limit above 922,337,203,685 cents overflows). A huge limit must
 * still be a limit, not a refusal of everything. */
static void test_huge_limit(void **state)
{
    fx_t *f = *state;
    tg_org_row_t o = tg_test_org_row("org-h", 0);
    tg_reservation_t r;
    tg_charges_t ch;

    grant(f->st, "org-h", "operator", CENT, 0, 0, NULL);
    assert_int_equal(tg_ledger_set_limit(f->st, "org-h", "org-h", 922337203685LL), 0);
    assert_int_equal(RESERVE(&o, "proj_a", 5000, &r), TG_OK); /* the largest that fits */
    tg_ledger_settle(&r, "org-h", "proj_a", 0, &ch);
    assert_int_equal(tg_ledger_set_limit(f->st, "org-h", "org-h", 1000000000000LL), 0);
    assert_int_equal(RESERVE(&o, "proj_a", 5000, &r), TG_OK); /* today: ORG_SPEND_LIMIT */
    tg_ledger_settle(&r, "org-h", "proj_a", 0, &ch);
    assert_int_equal(tg_ledger_limit("org-h", "org-h"), 1000000000000LL);
}

/* ---- grants ---- */

static void test_grant_order(void **state)
{
    fx_t *f = *state;
    tg_org_row_t o = tg_test_org_row("org-g", 0);
    int64_t now = tg_now();
    char never[TG_ID_MAX], late[TG_ID_MAX], soon_op[TG_ID_MAX], soon_promo[TG_ID_MAX],
        soon_bought[TG_ID_MAX], soon_bought_old[TG_ID_MAX];
    tg_reservation_t r;
    tg_charges_t ch;

    /* granted in an order unlike the consumption order */
    grant(f->st, "org-g", "operator", 1000, 0, now - 50, never);
    grant(f->st, "org-g", "purchased", 1000, now + DAY, now - 40, soon_bought_old);
    grant(f->st, "org-g", "promotional", 1000, now + 2 * DAY, now - 30, late);
    grant(f->st, "org-g", "purchased", 1000, now + DAY, now - 35, soon_bought);
    grant(f->st, "org-g", "promotional", 1000, now + DAY, now - 10, soon_promo);
    grant(f->st, "org-g", "operator", 1000, now + DAY, now - 20, soon_op);
    /* soonest expiry first; on equal expiry free credit (operator and promotional, in the
     * order granted) before purchased (in the order granted); never-expiring last */
    const char *order[] = {soon_op, soon_promo, soon_bought_old, soon_bought, late, never};
    assert_int_equal(balance("org-g").available, 6000);
    assert_int_equal(RESERVE(&o, "proj_a", 5500, &r), TG_OK);
    tg_ledger_settle(&r, "org-g", "proj_a", 5500, &ch);
    assert_int_equal(ch.n, 6);
    for (int i = 0; i < 6; i++) {
        assert_string_equal(tg_charges_at(&ch, i)->grant_id, order[i]);
        assert_int_equal(tg_charges_at(&ch, i)->amount, i < 5 ? 1000 : 500);
        assert_int_equal(grant_used("org-g", order[i]), i < 5 ? 1000 : 500);
    }
    assert_int_equal(ch.overdraft, 0);
    tg_charges_dispose(&ch); /* six charges: two beyond the record's inline ones */
    /* a charge that starts mid-grant */
    assert_int_equal(RESERVE(&o, "proj_a", 500, &r), TG_OK);
    tg_ledger_settle(&r, "org-g", "proj_a", 300, &ch);
    assert_int_equal(ch.n, 1);
    assert_string_equal(tg_charges_at(&ch, 0)->grant_id, never);
    assert_int_equal(grant_used("org-g", never), 800);
    tg_balance_t b = balance("org-g");
    assert_int_equal(b.available, 200);
    assert_int_equal(b.used, 5800);
}

static void test_expiry(void **state)
{
    fx_t *f = *state;
    tg_org_row_t o = tg_test_org_row("org-e", 0);
    int64_t t = tg_now();
    char a[TG_ID_MAX], b_[TG_ID_MAX], c[TG_ID_MAX];
    tg_reservation_t r, r2;
    tg_charges_t ch;

    grant(f->st, "org-e", "promotional", 2000, t + 10, 0, a);
    grant(f->st, "org-e", "operator", 1000, 0, 0, b_);
    assert_int_equal(balance("org-e").available, 3000);
    tg_now_override = t + 9;
    assert_int_equal(balance("org-e").available, 3000);
    tg_now_override = t + 10; /* expires_at is the first second it no longer counts */
    tg_balance_t b = balance("org-e");
    assert_int_equal(b.available, 1000);
    assert_int_equal(b.granted, 3000);
    assert_int_equal(RESERVE(&o, "proj_a", 1001, &r), TG_E_CREDIT_EXHAUSTED);
    assert_int_equal(RESERVE(&o, "proj_a", 1000, &r), TG_OK);
    tg_ledger_settle(&r, "org-e", "proj_a", 600, &ch);
    assert_int_equal(ch.n, 1);
    assert_string_equal(tg_charges_at(&ch, 0)->grant_id, b_);
    assert_int_equal(grant_used("org-e", a), 0);
    assert_int_equal(grant_used("org-e", b_), 600);

    /* a grant that expires while a request is in flight: the charge that no live grant
     * covers is overdraft, and the next grant pays it first */
    grant(f->st, "org-e", "operator", 1000, t + 20, 0, c);
    tg_now_override = t + 15;
    assert_int_equal(RESERVE(&o, "proj_a", 1400, &r), TG_OK);
    assert_int_equal(RESERVE(&o, "proj_a", 1, &r2), TG_E_CREDIT_EXHAUSTED);
    tg_now_override = t + 20;
    tg_ledger_settle(&r, "org-e", "proj_a", 1400, &ch);
    assert_int_equal(ch.n, 1);
    assert_string_equal(tg_charges_at(&ch, 0)->grant_id, b_);
    assert_int_equal(tg_charges_at(&ch, 0)->amount, 400);
    assert_int_equal(ch.overdraft, 1000);
    assert_int_equal(grant_used("org-e", c), 0);
    b = balance("org-e");
    assert_int_equal(b.overdraft, 1000);
    assert_int_equal(b.available, -1000);
    assert_int_equal(b.used, 2000);
    assert_int_equal(b.reserved, 0);
    assert_int_equal(RESERVE(&o, "proj_a", 0, &r), TG_E_CREDIT_EXHAUSTED); /* in debt */
    grant(f->st, "org-e", "operator", 5000, 0, 0, NULL);
    assert_int_equal(balance("org-e").available, 4000);
    assert_int_equal(RESERVE(&o, "proj_a", 4001, &r), TG_E_CREDIT_EXHAUSTED);
    assert_int_equal(RESERVE(&o, "proj_a", 4000, &r), TG_OK);
    tg_ledger_settle(&r, "org-e", "proj_a", 0, &ch);
}

/* The overdraft is "paid first" by the next grant (ledger.c): once paid it must not be paid
 * again. Today the overdraft stays a separate debt that only lowers `available`, so when the
 * grant that paid it expires, the debt reappears and the following grant pays it a second
 * time. */
static void test_overdraft_is_paid_once(void **state)
{
    fx_t *f = *state;
    tg_org_row_t o = tg_test_org_row("org-od", 0);
    int64_t t = tg_now();
    tg_reservation_t r;
    tg_charges_t ch;
    char g2[TG_ID_MAX];

    assert_int_equal(f->st->tenancy->org_insert(f->st, &o), 0);
    grant(f->st, "org-od", "operator", 1000, 0, 0, NULL);
    grant(f->st, "org-od", "operator", 500, t + 10, 0, NULL);
    assert_int_equal(RESERVE(&o, "proj_a", 1500, &r), TG_OK);
    tg_now_override = t + 10; /* the 500 grant expires while the request runs */
    tg_ledger_settle(&r, "org-od", "proj_a", 1500, &ch); /* 500 more than any grant holds */
    assert_int_equal(ch.overdraft, 500);
    commit_charges(f->st, "org-od", &ch);
    assert_int_equal(balance("org-od").available, -500);
    /* g2 pays the 500 first: 9500 of it is left for requests */
    grant(f->st, "org-od", "promotional", 10000, t + 100, 0, g2);
    assert_int_equal(balance("org-od").available, 9500);
    /* nothing more is spent; g2 expires with its 9500 */
    tg_now_override = t + 100;
    grant(f->st, "org-od", "operator", 10000, 0, 0, NULL);
    tg_balance_t b = balance("org-od");
    /* Σ cost 1500 was paid by the first grant (1000) and g2 (500): the new grant is whole */
    assert_int_equal(b.used, 1500);
    assert_int_equal(b.available, 10000);
    /* and the store says the same: the ledger rebuilt from it (as after a restart) agrees */
    tg_ledger_shutdown();
    assert_int_equal(tg_ledger_load(f->st), 0);
    tg_balance_t l = balance("org-od");
    assert_int_equal(l.granted, b.granted);
    assert_int_equal(l.used, b.used);
    assert_int_equal(l.overdraft, b.overdraft);
    assert_int_equal(l.available, b.available);
}

/* A charge spread over more grants than a charges record holds inline: every grant is named
 * (in the ledger's order), the store applies exactly those amounts, and the ledger rebuilt
 * from the store agrees with the one in memory. */
static void test_charge_over_many_grants(void **state)
{
    fx_t *f = *state;
    tg_org_row_t o = tg_test_org_row("org-many", 0);
    int64_t t = tg_now();
    const int n = TG_CHARGE_INLINE + 30; /* small promotional grants, expiring together */
    tg_reservation_t r;
    tg_charges_t ch;

    for (int i = 0; i < n; i++)
        grant(f->st, "org-many", "promotional", 1000, t + 100, t - 100 + i, NULL);
    grant(f->st, "org-many", "operator", 5000, 0, t, NULL); /* and one that never expires */
    assert_int_equal(balance("org-many").available, n * 1000 + 5000);
    int64_t cost = (n - 1) * 1000 + 500; /* all but the last small grant, and half of it */
    assert_int_equal(RESERVE(&o, "proj_a", cost, &r), TG_OK);
    tg_ledger_settle(&r, "org-many", "proj_a", cost, &ch);
    assert_int_equal(charged(&ch), cost);
    assert_int_equal(ch.n, n);
    assert_int_equal(ch.overdraft, 0);
    for (int i = 0; i < n; i++) /* oldest first among grants expiring together */
        assert_int_equal(tg_charges_at(&ch, i)->amount, i < n - 1 ? 1000 : 500);
    assert_int_equal(balance("org-many").available, 5500);
    /* the store applies exactly those charges: the ledger rebuilt from it agrees */
    tg_org_row_t row = o;
    assert_int_equal(f->st->tenancy->org_insert(f->st, &row), 0);
    commit_charges(f->st, "org-many", &ch);
    tg_charges_dispose(&ch);
    tg_ledger_shutdown();
    assert_int_equal(tg_ledger_load(f->st), 0);
    assert_int_equal(balance("org-many").available, 5500);
    assert_int_equal(balance("org-many").used, cost);
    /* the small grants expire: the 500 left in the last one is lost, the 5000 grant is whole */
    tg_now_override = t + 100;
    tg_balance_t b = balance("org-many");
    assert_int_equal(b.overdraft, 0);
    assert_int_equal(b.available, 5000);
}

/* ---- month boundary ---- */

static void test_month_boundary(void **state)
{
    fx_t *f = *state;
    tg_org_row_t o = tg_test_org_row("org-m", 0);
    tg_reservation_t r[12], held;
    tg_charges_t ch;

    tg_now_override = T_JAN31_235959;
    grant(f->st, "org-m", "operator", 1000 * CENT, 0, 0, NULL);
    assert_int_equal(tg_ledger_set_limit(f->st, "org-m", "org-m", 1), 0);
    assert_int_equal(tg_ledger_set_limit(f->st, "org-m", "proj_b", 1), 0);
    for (int i = 0; i < 9; i++) {
        assert_int_equal(RESERVE(&o, "proj_a", 1000000, &r[i]), TG_OK);
        tg_ledger_settle(&r[i], "org-m", "proj_a", 1000000, &ch);
    }
    assert_int_equal(RESERVE(&o, "proj_b", 1000000, &held), TG_OK); /* in flight at midnight */
    assert_int_equal(tg_ledger_month_spend("org-m", NULL), CENT);
    assert_int_equal(RESERVE(&o, "proj_a", 1, &r[9]), TG_E_ORG_SPEND_LIMIT);

    /* 2026-02-01T00:00:00Z: January's spend no longer counts; the reservation does */
    tg_now_override = T_FEB01_000000;
    assert_int_equal(tg_ledger_month_spend("org-m", NULL), 1000000);
    assert_int_equal(tg_ledger_month_spend("org-m", "proj_a"), 0);
    assert_int_equal(tg_ledger_month_spend("org-m", "proj_b"), 1000000);
    for (int i = 0; i < 9; i++)
        assert_int_equal(RESERVE(&o, "proj_a", 1000000, &r[i]), TG_OK);
    assert_int_equal(RESERVE(&o, "proj_a", 1, &r[9]), TG_E_ORG_SPEND_LIMIT);
    for (int i = 0; i < 9; i++)
        tg_ledger_settle(&r[i], "org-m", "proj_a", 0, &ch);
    /* the request from January settles in February, and counts there (its usage record is
     * dated when it settles) */
    tg_ledger_settle(&held, "org-m", "proj_b", 700000, &ch);
    assert_int_equal(tg_ledger_month_spend("org-m", NULL), 700000);
    assert_int_equal(tg_ledger_month_spend("org-m", "proj_b"), 700000);
    assert_int_equal(RESERVE(&o, "proj_b", CENT - 700000 + 1, &r[0]), TG_E_ORG_SPEND_LIMIT);
    assert_int_equal(tg_ledger_set_limit(f->st, "org-m", "org-m", 0), 0);
    assert_int_equal(RESERVE(&o, "proj_b", CENT - 700000 + 1, &r[0]), TG_E_PROJECT_SPEND_LIMIT);
    assert_int_equal(RESERVE(&o, "proj_b", CENT - 700000, &r[0]), TG_OK);
    tg_ledger_settle(&r[0], "org-m", "proj_b", 0, &ch);
    /* credit is not monthly: all that was charged stays used */
    tg_balance_t b = balance("org-m");
    assert_int_equal(b.used, 9000000 + 700000);
    assert_int_equal(b.reserved, 0);
    /* a month later, it starts again */
    tg_now_override = T_FEB01_000000 + 28 * DAY; /* 2026-03-01 */
    assert_int_equal(tg_ledger_month_spend("org-m", NULL), 0);
    assert_int_equal(RESERVE(&o, "proj_a", CENT, &r[0]), TG_OK);
    tg_ledger_settle(&r[0], "org-m", "proj_a", 0, &ch);
}

/* ---- the ledger rebuilt from the store (what `serve` does at start, e.g. after a crash) ---- */

static void test_load_from_store(void **state)
{
    fx_t *f = *state;
    tg_store_t *st = f->st;
    tg_org_row_t o = tg_test_org_row("org-r", 0);
    int64_t now = tg_now();
    char g1[TG_ID_MAX], g2[TG_ID_MAX];
    tg_reservation_t r;
    tg_charges_t ch;

    assert_int_equal(st->tenancy->org_insert(st, &o), 0);
    grant(st, "org-r", "operator", 3 * CENT, now + DAY, now - 10, g1);
    grant(st, "org-r", "promotional", 2 * CENT, 0, now - 5, g2);
    assert_int_equal(tg_ledger_set_limit(st, "org-r", "org-r", 10), 0);
    assert_int_equal(tg_ledger_set_limit(st, "org-r", "proj_a", 4), 0);
    /* what the usage writer commits: charges and per-minute aggregates, this month and the
     * last one */
    assert_int_equal(st->money->grant_consume(st, g1, 12345), 0);
    assert_int_equal(st->money->org_overdraft_add(st, "org-r", 55), 0);
    tg_usage_agg_t agg[2];
    memset(agg, 0, sizeof(agg));
    for (int i = 0; i < 2; i++) {
        snprintf(agg[i].org_id, sizeof(agg[i].org_id), "org-r");
        snprintf(agg[i].project_id, sizeof(agg[i].project_id), "proj_a");
        snprintf(agg[i].api_key_id, sizeof(agg[i].api_key_id), "key_a");
        snprintf(agg[i].model, sizeof(agg[i].model), "m");
        snprintf(agg[i].endpoint, sizeof(agg[i].endpoint), "chat.completions");
        agg[i].requests = 1;
    }
    agg[0].minute = now - now % 60;
    agg[0].cost_nanousd = 12400;
    agg[1].minute = tg_month_start(now) - 60; /* last month */
    agg[1].cost_nanousd = 999999;
    assert_int_equal(st->usage->usage_agg_add(st, agg, 2), 0);

    tg_ledger_shutdown();
    assert_int_equal(tg_ledger_load(st), 0);
    tg_balance_t b = balance("org-r");
    assert_int_equal(b.granted, 5 * CENT);
    assert_int_equal(b.used, 12345 + 55);
    assert_int_equal(b.overdraft, 55);
    assert_int_equal(b.reserved, 0);
    assert_int_equal(b.available, 5 * CENT - 12345 - 55);
    assert_int_equal(grant_used("org-r", g1), 12345);
    assert_int_equal(tg_ledger_limit("org-r", "org-r"), 10);
    assert_int_equal(tg_ledger_limit("org-r", "proj_a"), 4);
    assert_int_equal(tg_ledger_month_spend("org-r", NULL), 12400);
    assert_int_equal(tg_ledger_month_spend("org-r", "proj_a"), 12400);
    /* and carries on: the project limit counts this month's loaded spend */
    assert_int_equal(RESERVE(&o, "proj_a", 4 * CENT - 12400 + 1, &r), TG_E_PROJECT_SPEND_LIMIT);
    assert_int_equal(RESERVE(&o, "proj_a", 4 * CENT - 12400, &r), TG_OK);
    tg_ledger_settle(&r, "org-r", "proj_a", 100, &ch);
    assert_int_equal(ch.n, 1);
    assert_string_equal(tg_charges_at(&ch, 0)->grant_id, g1); /* still the grant that expires first */
    assert_int_equal(grant_used("org-r", g1), 12445);
}

/* ---- concurrency ---- */

#define THREADS 8
#define ITERS 20000
#define STRESS_CREDIT (100 * CENT)
#define STRESS_ORG_LIMIT 50  /* cents */
#define STRESS_PROJ_LIMIT 20 /* cents, proj_0 only */

typedef struct {
    tg_org_row_t org;
    unsigned seed;
    int64_t charged; /* Σ cost settled by this thread */
    long admitted, refused;
    int bad;         /* a charges record that did not add up */
} worker_arg_t;

static volatile int stress_done;
static volatile int stress_violation;

static void *stress_worker(void *p)
{
    worker_arg_t *w = p;
    for (int i = 0; i < ITERS; i++) {
        const char *proj = (rand_r(&w->seed) % 3) == 0 ? "proj_0" : "proj_1";
        int64_t amount = 1 + rand_r(&w->seed) % 1000000;
        tg_reservation_t r;
        tg_err_t e = RESERVE(&w->org, proj, amount, &r);
        if (e != TG_OK) {
            if (e != TG_E_CREDIT_EXHAUSTED && e != TG_E_ORG_SPEND_LIMIT &&
                e != TG_E_PROJECT_SPEND_LIMIT)
                w->bad++;
            w->refused++;
            continue;
        }
        w->admitted++;
        int64_t cost = rand_r(&w->seed) % (amount + 1); /* the real cost: at most the worst case */
        tg_charges_t ch;
        tg_ledger_settle(&r, w->org.id, proj, cost, &ch);
        if (charged(&ch) != cost || ch.overdraft != 0)
            w->bad++;
        w->charged += cost;
    }
    return NULL;
}

/* Samples the ledger while the workers run: nothing is ever over a limit or the credit. */
static void *stress_checker(void *p)
{
    const char *org = p;
    while (!stress_done) {
        tg_balance_t b;
        if (tg_ledger_balance(NULL, org, &b, NULL, NULL) < 0 || b.reserved < 0 || b.available < 0 ||
            b.used + b.reserved > STRESS_CREDIT)
            stress_violation = 1;
        int64_t s = tg_ledger_month_spend(org, NULL);
        int64_t s0 = tg_ledger_month_spend(org, "proj_0");
        if (s < 0 || s > STRESS_ORG_LIMIT * CENT || s0 < 0 || s0 > STRESS_PROJ_LIMIT * CENT)
            stress_violation = 1;
    }
    return NULL;
}

static void test_concurrent_reserve_settle(void **state)
{
    fx_t *f = *state;
    pthread_t th[THREADS], checker;
    worker_arg_t args[THREADS];
    static const char org[] = "org-stress";

    /* the clock is fixed (mid-June): the test never straddles a month boundary */
    grant(f->st, org, "promotional", 30 * CENT, tg_now() + DAY, 0, NULL);
    grant(f->st, org, "operator", STRESS_CREDIT - 30 * CENT, 0, 0, NULL);
    assert_int_equal(tg_ledger_set_limit(f->st, org, org, STRESS_ORG_LIMIT), 0);
    assert_int_equal(tg_ledger_set_limit(f->st, org, "proj_0", STRESS_PROJ_LIMIT), 0);
    stress_done = 0;
    stress_violation = 0;
    assert_int_equal(pthread_create(&checker, NULL, stress_checker, (void *)org), 0);
    for (int i = 0; i < THREADS; i++) {
        memset(&args[i], 0, sizeof(args[i]));
        args[i].org = tg_test_org_row(org, 0);
        args[i].seed = 12345u + (unsigned)i;
        assert_int_equal(pthread_create(&th[i], NULL, stress_worker, &args[i]), 0);
    }
    int64_t total = 0;
    long admitted = 0, refused = 0;
    int bad = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        total += args[i].charged;
        admitted += args[i].admitted;
        refused += args[i].refused;
        bad += args[i].bad;
    }
    stress_done = 1;
    pthread_join(checker, NULL);

    assert_int_equal(bad, 0);
    assert_int_equal(stress_violation, 0);
    assert_true(admitted > 0);
    assert_true(refused > 0); /* the limits were reached */
    tg_balance_t b = balance(org);
    assert_int_equal(b.reserved, 0);
    assert_int_equal(b.used, total);
    assert_int_equal(b.overdraft, 0);
    assert_int_equal(b.available, STRESS_CREDIT - total);
    assert_int_equal(tg_ledger_month_spend(org, NULL), total);
    assert_true(total <= STRESS_ORG_LIMIT * CENT);
    assert_true(tg_ledger_month_spend(org, "proj_0") <= STRESS_PROJ_LIMIT * CENT);
    assert_int_equal(tg_ledger_month_spend(org, "proj_0") + tg_ledger_month_spend(org, "proj_1"),
                     total);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    tg_log_level = TG_LOG_ERROR;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_month_start),
        cmocka_unit_test_setup_teardown(test_credit_reserve_and_settle, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_operator_org_is_exempt, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_org_limit, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_project_limit, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_tier_cap, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_huge_limit, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_grant_order, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_expiry, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_overdraft_is_paid_once, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_charge_over_many_grants, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_month_boundary, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_load_from_store, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_reserve_settle, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
