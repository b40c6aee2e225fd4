/* The money promise as a property (SPEC.md §3, §5): thousands of random concurrent
 * reserve/settle sequences over random grants, limits and reported usage — honest,
 * over-reported, absurd and malformed — through the real ledger, the real settlement
 * (gate/settle.c) and the real usage writer on SQLite. After every step, and at the end:
 *
 *   - no customer organisation's available credit is ever negative (what is charged plus
 *     what is reserved never exceeds its credit);
 *   - an organisation's month spend (charged + reserved) never exceeds its hard limit or
 *     its tier's cap, nor a project's its own limit;
 *   - no charge exceeds its reservation;
 *   - at the end nothing is reserved, and the store holds exactly what the ledger charged:
 *     Σ usage_records.cost = Σ credit_grants.consumed (+ overdraft, which stays 0).
 *
 * The seed is printed; TG_PROP_SEED=N replays a run. */
#include "billing/ledger.h"
#include "billing/usage.h"
#include "core/log.h"
#include "core/util.h"
#include "gate/gate.h"
#include "pricing/pricing.h"
#include "store/store.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "db_fixture.h"

#define NORGS 4
#define NPROJ 2
#define NTHREADS 4
#define STEPS 4000
#define INFLIGHT 6
#define CENT TG_NANOS_PER_CENT

typedef struct {
    tg_org_row_t row;
    int64_t limit, tier_cap, proj_limit[NPROJ]; /* nano-dollars; 0: none */
} org_t;

static org_t orgs[NORGS];
static tg_model_row_t model;
static unsigned seed0;
static _Atomic long next_rid, refusals;

static const char *proj_id(int p)
{
    static const char *ids[NPROJ] = {"proj_a", "proj_b"};
    return ids[p];
}

/* The invariants that hold at every instant, whatever runs concurrently. */
static void check_org(const org_t *o, const char *when)
{
    tg_balance_t b;
    assert_int_equal(tg_ledger_balance(NULL, o->row.id, &b, NULL, NULL), 0);
    if (b.available < 0 || b.reserved < 0 || b.overdraft != 0)
        fail_msg("%s: %s available %lld reserved %lld overdraft %lld (seed %u)", when, o->row.id,
                 (long long)b.available, (long long)b.reserved, (long long)b.overdraft, seed0);
    int64_t spend = tg_ledger_month_spend(o->row.id, NULL);
    if ((o->limit && spend > o->limit) || (o->tier_cap && spend > o->tier_cap))
        fail_msg("%s: %s month spend %lld over limit %lld / tier cap %lld (seed %u)", when,
                 o->row.id, (long long)spend, (long long)o->limit, (long long)o->tier_cap, seed0);
    for (int p = 0; p < NPROJ; p++) {
        int64_t ps = tg_ledger_month_spend(o->row.id, proj_id(p));
        if (o->proj_limit[p] && ps > o->proj_limit[p])
            fail_msg("%s: %s/%s spend %lld over its limit %lld (seed %u)", when, o->row.id,
                     proj_id(p), (long long)ps, (long long)o->proj_limit[p], seed0);
    }
}

typedef struct {
    tg_ticket_t t;
    int org, proj, used;
} flight_t;

/* Usage as some upstream reports it: honest, over-reported, absurd or malformed. */
static void reported(unsigned *rs, const tg_ticket_t *t, tg_counts_t *r)
{
    memset(r, 0, sizeof(*r));
    r->present = rand_r(rs) % 8 != 0;
    r->valid = 1;
    int kind = rand_r(rs) % 4;
    int64_t in = t->input_tokens, out = t->output_tokens;
    switch (kind) {
    case 0: /* honest: at most what was reserved */
        r->input = in ? rand_r(rs) % (in + 1) : 0;
        r->output = out ? rand_r(rs) % (out + 1) : 0;
        break;
    case 1: /* another tokenizer: up to 10 × the input */
        r->input = in * (1 + rand_r(rs) % 10) + rand_r(rs) % 100;
        r->output = out + rand_r(rs) % 50;
        break;
    case 2: /* absurd */
        r->input = TG_TOKENS_MAX;
        r->output = rand_r(rs) % 2 ? TG_TOKENS_MAX : out;
        break;
    default: /* malformed: not used */
        r->valid = 0;
        break;
    }
    r->cached = r->input ? rand_r(rs) % (r->input + 1) : 0;
}

static void settle_one(flight_t *f, unsigned *rs)
{
    tg_counts_t rep, own = {1, 1, 0, 0, 0};
    tg_usage_row_t u;
    memset(&u, 0, sizeof(u));
    snprintf(u.request_id, sizeof(u.request_id), "req_%032lx", (long)++next_rid);
    u.created_at = tg_now();
    snprintf(u.org_id, sizeof(u.org_id), "%s", orgs[f->org].row.id);
    snprintf(u.project_id, sizeof(u.project_id), "%s", proj_id(f->proj));
    snprintf(u.api_key_id, sizeof(u.api_key_id), "key_x");
    snprintf(u.model, sizeof(u.model), "%s", model.id);
    snprintf(u.provider_id, sizeof(u.provider_id), "prov_x");
    snprintf(u.endpoint, sizeof(u.endpoint), "chat.completions");
    u.status = 200;
    reported(rs, &f->t, &rep);
    own.input = rand_r(rs) % (f->t.input_tokens + 100);
    own.output = rand_r(rs) % (f->t.output_tokens + 100);
    int64_t worst = f->t.worst;
    tg_settle(&f->t, &model, &rep, &own, rand_r(rs) % 2, &u, NULL, NULL, NULL);
    if (u.cost_nanousd > worst || u.cost_nanousd < 0 || u.unbilled_nanousd < 0)
        fail_msg("charged %lld of a %lld reservation (unbilled %lld; seed %u)",
                 (long long)u.cost_nanousd, (long long)worst, (long long)u.unbilled_nanousd, seed0);
    f->used = 0;
}

static void *worker(void *arg)
{
    unsigned rs = seed0 + (unsigned)(uintptr_t)arg * 7919u;
    flight_t fl[INFLIGHT];
    memset(fl, 0, sizeof(fl));
    for (int step = 0; step < STEPS; step++) {
        flight_t *f = &fl[rand_r(&rs) % INFLIGHT];
        if (f->used) {
            settle_one(f, &rs);
        } else {
            f->org = rand_r(&rs) % NORGS;
            f->proj = rand_r(&rs) % NPROJ;
            org_t *o = &orgs[f->org];
            f->t.input_tokens = rand_r(&rs) % 5000;
            f->t.output_tokens = rand_r(&rs) % 4 ? rand_r(&rs) % 2000 : 16384;
            f->t.worst = tg_price_cost(&model, f->t.input_tokens, 0, f->t.output_tokens);
            int64_t left;
            tg_err_t e = tg_ledger_reserve(&o->row, proj_id(f->proj), f->t.worst, o->tier_cap,
                                           &f->t.resv, &left);
            if (e == TG_OK) {
                f->used = 1;
            } else {
                refusals++;
                if (left >= f->t.worst)
                    fail_msg("refused (%d) although %lld ≥ %lld was left (seed %u)", (int)e,
                             (long long)left, (long long)f->t.worst, seed0);
            }
        }
        check_org(&orgs[f->org], "step");
    }
    for (int i = 0; i < INFLIGHT; i++)
        if (fl[i].used)
            settle_one(&fl[i], &rs);
    return NULL;
}

static int64_t sum_sql(sqlite3 *db, const char *sql, const char *org)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void test_random_concurrent_money(void **state)
{
    tg_test_db_t *d = *state;
    tg_store_t *st = d->st;
    const char *env = getenv("TG_PROP_SEED");
    seed0 = env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)tg_mono_ns();
    printf("[ seed     ] TG_PROP_SEED=%u\n", seed0);
    tg_log_level = TG_LOG_ERROR; /* one discrepancy warning per over-reported request */
    unsigned rs = seed0;

    memset(&model, 0, sizeof(model));
    snprintf(model.id, sizeof(model.id), "m-prop");
    /* $0.05..1 / $0.10..2 per 1M tokens: a worst case of up to ~3.8 cents, so that credit,
     * limits and caps of a few dollars are each reached in a run */
    model.input_price = 50000000LL * (1 + rand_r(&rs) % 20);
    model.cached_input_price = model.input_price / 2;
    model.output_price = 100000000LL * (1 + rand_r(&rs) % 20);
    model.context_window = 128000;
    model.max_output_tokens = 16384;

    for (int i = 0; i < NORGS; i++) {
        org_t *o = &orgs[i];
        char id[32];
        snprintf(id, sizeof(id), "org-prop-%d", i);
        memset(o, 0, sizeof(*o));
        o->row = tg_test_org_row(id, 0);
        assert_int_equal(st->tenancy->org_insert(st, &o->row), 0);
        int ngrants = 1 + rand_r(&rs) % 40; /* many small grants: charges span several */
        for (int g = 0; g < ngrants; g++) {
            tg_grant_row_t gr;
            memset(&gr, 0, sizeof(gr));
            snprintf(gr.org_id, sizeof(gr.org_id), "org-prop-%d", i);
            snprintf(gr.kind, sizeof(gr.kind), g % 3 ? "operator" : "purchased");
            gr.amount = 1 + rand_r(&rs) % (25 * CENT);
            gr.granted_at = tg_now() - 1000 + g;
            gr.expires_at = rand_r(&rs) % 2 ? 0 : tg_now() + 86400 * (1 + rand_r(&rs) % 300);
            assert_int_equal(tg_ledger_grant(st, &gr), 0);
        }
        if (rand_r(&rs) % 2) {
            int64_t cents = 100 + rand_r(&rs) % 200;
            o->limit = cents * CENT;
            assert_int_equal(tg_ledger_set_limit(st, o->row.id, o->row.id, cents), 0);
        }
        o->tier_cap = rand_r(&rs) % 2 ? (100 + rand_r(&rs) % 200) * CENT : 0;
        for (int p = 0; p < NPROJ; p++)
            if (rand_r(&rs) % 2) {
                int64_t cents = 50 + rand_r(&rs) % 100;
                o->proj_limit[p] = cents * CENT;
                assert_int_equal(tg_ledger_set_limit(st, o->row.id, proj_id(p), cents), 0);
            }
    }
    assert_int_equal(tg_usage_start(d->url), 0);

    pthread_t th[NTHREADS];
    for (uintptr_t i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker, (void *)i), 0);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    tg_usage_stop(); /* commits everything queued */

    sqlite3 *db;
    assert_int_equal(sqlite3_open(d->path, &db), SQLITE_OK);
    int64_t all = 0;
    for (int i = 0; i < NORGS; i++) {
        org_t *o = &orgs[i];
        check_org(o, "end");
        tg_balance_t b;
        assert_int_equal(tg_ledger_balance(NULL, o->row.id, &b, NULL, NULL), 0);
        assert_int_equal(b.reserved, 0);
        int64_t cost = sum_sql(db, "SELECT COALESCE(SUM(cost_nanousd),0) FROM usage_records"
                                   " WHERE organization_id=?", o->row.id);
        int64_t consumed = sum_sql(db, "SELECT COALESCE(SUM(consumed),0) FROM credit_grants"
                                       " WHERE organization_id=?", o->row.id);
        int64_t granted = sum_sql(db, "SELECT COALESCE(SUM(amount),0) FROM credit_grants"
                                      " WHERE organization_id=?", o->row.id);
        int64_t overdraft = sum_sql(db, "SELECT overdraft FROM organizations WHERE id=?",
                                    o->row.id);
        assert_int_equal(overdraft, 0);
        assert_int_equal(cost, consumed);
        assert_int_equal(b.used, cost);
        assert_true(cost <= granted);
        if (o->limit)
            assert_true(cost <= o->limit);
        if (o->tier_cap)
            assert_true(cost <= o->tier_cap);
        all += cost;
    }
    int64_t records = sum_sql(db, "SELECT COUNT(*) FROM usage_records WHERE ?1 IS NOT NULL", "x");
    sqlite3_close(db);
    printf("[ props    ] %lld requests settled, %ld refused, %lld nano-dollars charged\n",
           (long long)records, (long)refusals, (long long)all);
    /* the run admitted and charged many requests, and ran into its limits */
    assert_true(records > 200);
    assert_true(refusals > 100);
    /* and the ledger rebuilt from the store (a restart) agrees */
    tg_balance_t before[NORGS];
    int64_t spend[NORGS];
    for (int i = 0; i < NORGS; i++) {
        tg_ledger_balance(NULL, orgs[i].row.id, &before[i], NULL, NULL);
        spend[i] = tg_ledger_month_spend(orgs[i].row.id, NULL);
    }
    tg_ledger_shutdown();
    assert_int_equal(tg_ledger_load(st), 0);
    for (int i = 0; i < NORGS; i++) {
        tg_balance_t b;
        tg_ledger_balance(NULL, orgs[i].row.id, &b, NULL, NULL);
        assert_int_equal(b.available, before[i].available);
        assert_int_equal(b.used, before[i].used);
        assert_int_equal(tg_ledger_month_spend(orgs[i].row.id, NULL), spend[i]);
    }
}

static int setup(void **state)
{
    tg_ledger_shutdown(); /* an empty ledger */
    return tg_test_db_setup(state, "props");
}

static int teardown(void **state)
{
    tg_ledger_shutdown();
    return tg_test_db_teardown(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_random_concurrent_money, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
