/* billing/payments: card checks (Luhn, brand, expiry, CVC), the test provider's cards, Stripe
 * webhook signatures (valid, forged, tampered, stale), invoice numbers and their sequence in
 * the store, and the module end to end on a temporary database: top-ups, a declined card,
 * invoices numbered 1, 2, … and auto-recharge fired from many threads at once (one charge). */
#include "billing/ledger.h"
#include "billing/payments.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "db_fixture.h"
#include <sodium.h>

#define QUIET(expr)                                                                               \
    ({                                                                                            \
        int saved_ = tg_log_level;                                                                \
        tg_log_level = TG_LOG_ERROR + 1;                                                          \
        int rc_ = (expr);                                                                         \
        tg_log_level = saved_;                                                                    \
        rc_;                                                                                      \
    })

/* 2025-06-15 12:00:00 UTC */
#define NOW 1749988800LL

static tg_pay_card_t card(const char *number, int m, int y, const char *cvc)
{
    tg_pay_card_t c;
    memset(&c, 0, sizeof(c));
    snprintf(c.number, sizeof(c.number), "%s", number);
    c.exp_month = m;
    c.exp_year = y;
    snprintf(c.cvc, sizeof(c.cvc), "%s", cvc);
    return c;
}

/* ---- Luhn and brand ---- */

static void test_luhn(void **state)
{
    static const char *good[] = {"4242424242424242", "4000000000000002", "4000000000009995",
                                 "5555555555554444", "378282246310005", "6011111111111117",
                                 "3056930009020004", "3566002020360505", "6200000000000005",
                                 "79927398713"};
    static const char *bad[] = {"4242424242424241", "4000000000000003", "1234567812345678",
                                "42424242424242a2", ""};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!tg_pay_luhn(good[i], strlen(good[i])))
            fail_msg("Luhn refused %s", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (tg_pay_luhn(bad[i], strlen(bad[i])))
            fail_msg("Luhn accepted \"%s\"", bad[i]);
}

static void test_brand(void **state)
{
    static const struct {
        const char *number, *brand;
    } cases[] = {
        {"4242424242424242", "visa"},       {"4000056655665556", "visa"},
        {"5555555555554444", "mastercard"}, {"2223003122003222", "mastercard"},
        {"378282246310005", "amex"},        {"371449635398431", "amex"},
        {"6011111111111117", "discover"},   {"6445644564456445", "discover"},
        {"3056930009020004", "diners"},     {"36227206271667", "diners"},
        {"3566002020360505", "jcb"},        {"6200000000000005", "unionpay"},
        {"9999999999999995", "unknown"},    {"12", "unknown"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *b = tg_pay_card_brand(cases[i].number, strlen(cases[i].number));
        if (strcmp(b, cases[i].brand))
            fail_msg("brand of %s: got %s, want %s", cases[i].number, b, cases[i].brand);
    }
}

static void check_bad(tg_pay_card_t c, const char *want_param)
{
    const char *param = NULL, *msg = NULL;
    tg_err_t err = tg_pay_card_check(&c, NOW, &param, &msg);
    if (err != TG_E_INVALID_VALUE || !param || strcmp(param, want_param))
        fail_msg("card %s %02d/%d cvc %s: err %d param %s, want invalid %s", c.number,
                 c.exp_month, c.exp_year, c.cvc, err, param ? param : "(none)", want_param);
    assert_non_null(msg);
    assert_null(strstr(msg, c.number)); /* never echoes the number */
}

static void test_card_check(void **state)
{
    const char *param = NULL, *msg = NULL;
    tg_pay_card_t ok = card("4242424242424242", 12, 2030, "123");
    assert_int_equal(tg_pay_card_check(&ok, NOW, &param, &msg), TG_OK);
    ok = card("378282246310005", 6, 2025, "1234"); /* valid through its month */
    assert_int_equal(tg_pay_card_check(&ok, NOW, &param, &msg), TG_OK);

    check_bad(card("4242424242424241", 12, 2030, "123"), "card.number"); /* Luhn */
    check_bad(card("42424242424", 12, 2030, "123"), "card.number");      /* 11 digits */
    check_bad(card("42424242424242424242", 12, 2030, "123"), "card.number"); /* 20 */
    check_bad(card("4242424242424242", 0, 2030, "123"), "card.exp_month");
    check_bad(card("4242424242424242", 13, 2030, "123"), "card.exp_month");
    check_bad(card("4242424242424242", 5, 2025, "123"), "card.exp_month"); /* last month */
    check_bad(card("4242424242424242", 12, 2024, "123"), "card.exp_year");
    check_bad(card("4242424242424242", 12, 2099, "123"), "card.exp_year");
    check_bad(card("4242424242424242", 12, 2030, "12"), "card.cvc");
    check_bad(card("4242424242424242", 12, 2030, "12345"), "card.cvc");
    check_bad(card("4242424242424242", 12, 2030, "12a"), "card.cvc");
    check_bad(card("4242424242424242", 12, 2030, ""), "card.cvc");
}

/* ---- the test provider ---- */

static tg_err_t add(tg_pay_provider_t *p, const char *number, const char *token,
                    tg_pay_method_row_t *m, char *param)
{
    tg_pay_method_in_t in;
    char msg[256];
    memset(&in, 0, sizeof(in));
    memset(m, 0, sizeof(*m));
    snprintf(in.org_id, sizeof(in.org_id), "org-test");
    if (number) {
        in.has_card = 1;
        in.card = card(number, 12, 2030, "123");
    } else {
        snprintf(in.token, sizeof(in.token), "%s", token);
    }
    snprintf(in.payer.type, sizeof(in.payer.type), "individual");
    snprintf(in.payer.name, sizeof(in.payer.name), "Ada");
    param[0] = '\0';
    return p->ops->method_create(p, &in, "pm_abc", m, param, 64, msg, sizeof(msg));
}

static void charge_expect(tg_pay_provider_t *p, const tg_pay_method_row_t *m,
                          tg_pay_status_t want, const char *want_code)
{
    tg_payment_row_t pay;
    tg_pay_charge_t ch;
    memset(&pay, 0, sizeof(pay));
    snprintf(pay.id, sizeof(pay.id), "pay_123");
    pay.amount = 1000;
    p->ops->charge(p, m, &pay, &ch);
    if (ch.status != want || strcmp(ch.failure_code, want_code))
        fail_msg("charge to %s …%s: status %d code '%s', want %d '%s'", m->brand, m->last4,
                 ch.status, ch.failure_code, want, want_code);
    assert_string_equal(ch.provider_ref, "pi_test_123");
}

static void test_test_provider(void **state)
{
    tg_pay_provider_t *p = tg_pay_test_new();
    tg_pay_method_row_t m;
    char param[64];
    tg_now_override = NOW;

    assert_int_equal(add(p, "4242424242424242", NULL, &m, param), TG_OK);
    assert_string_equal(m.brand, "visa");
    assert_string_equal(m.last4, "4242");
    assert_int_equal(m.exp_month, 12);
    assert_int_equal(m.exp_year, 2030);
    /* nothing of the number but its last four anywhere in the saved row */
    assert_null(memmem(&m, sizeof(m), "424242424242", 12));
    charge_expect(p, &m, TG_PAY_SUCCEEDED, "");

    assert_int_equal(add(p, "4000000000000002", NULL, &m, param), TG_OK); /* saved fine */
    assert_string_equal(m.last4, "0002");
    charge_expect(p, &m, TG_PAY_FAILED, "card_declined");
    assert_int_equal(add(p, "4000000000009995", NULL, &m, param), TG_OK);
    charge_expect(p, &m, TG_PAY_FAILED, "insufficient_funds");
    assert_int_equal(add(p, "4000000000000069", NULL, &m, param), TG_OK);
    charge_expect(p, &m, TG_PAY_FAILED, "expired_card");
    assert_int_equal(add(p, "5555555555554444", NULL, &m, param), TG_OK);
    assert_string_equal(m.brand, "mastercard");
    charge_expect(p, &m, TG_PAY_SUCCEEDED, "");
    assert_int_equal(add(p, "378282246310005", NULL, &m, param), TG_OK);
    assert_string_equal(m.brand, "amex");
    assert_string_equal(m.last4, "0005");

    assert_int_equal(add(p, NULL, "tok_visa", &m, param), TG_OK);
    assert_string_equal(m.last4, "4242");
    charge_expect(p, &m, TG_PAY_SUCCEEDED, "");
    assert_int_equal(add(p, NULL, "tok_chargeDeclinedInsufficientFunds", &m, param), TG_OK);
    charge_expect(p, &m, TG_PAY_FAILED, "insufficient_funds");

    assert_int_equal(add(p, "4242424242424241", NULL, &m, param), TG_E_INVALID_VALUE);
    assert_string_equal(param, "card.number");
    assert_int_equal(add(p, NULL, "tok_nonsense", &m, param), TG_E_INVALID_VALUE);
    assert_string_equal(param, "token");

    assert_int_equal(tg_pay_failure_err("card_declined"), TG_E_CARD_DECLINED);
    assert_int_equal(tg_pay_failure_err("insufficient_funds"), TG_E_INSUFFICIENT_FUNDS);
    assert_int_equal(tg_err_info(TG_E_CARD_DECLINED)->status, 402);
    assert_string_equal(tg_err_info(TG_E_INSUFFICIENT_FUNDS)->code, "insufficient_funds");
    assert_int_equal(tg_pay_failure_err("processing_error"), TG_E_PAYMENT_FAILED);
    p->ops->free(p);
    tg_now_override = 0;
}

/* ---- Stripe webhook signatures ---- */

static const char *SECRET = "whsec_unit_test_secret";

static void sign(const char *secret, int64_t t, const char *body, char *header, size_t cap)
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char hex[2 * sizeof(mac) + 1], ts[32];
    crypto_auth_hmacsha256_state st;
    int n = snprintf(ts, sizeof(ts), "%lld.", (long long)t);
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, (unsigned long long)n);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, strlen(body));
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
    snprintf(header, cap, "t=%lld,v1=%s", (long long)t, hex);
}

static const char *EVENT =
    "{\"id\":\"evt_1\",\"object\":\"event\",\"type\":\"payment_intent.succeeded\",\"data\":"
    "{\"object\":{\"id\":\"pi_123\",\"object\":\"payment_intent\",\"amount\":1000,\"currency\":"
    "\"usd\",\"status\":\"succeeded\",\"metadata\":{\"tollgate_payment_id\":\"pay_abc\"}}}}";

static tg_err_t hook(tg_pay_provider_t *p, const char *header, const char *body, int64_t now,
                     tg_pay_event_t *ev)
{
    return QUIET(p->ops->webhook(p, header, body, strlen(body), now, ev));
}

static void test_webhook_signature(void **state)
{
    tg_pay_provider_t *p = tg_pay_stripe_new("http://127.0.0.1:9", "sk_test_x", SECRET);
    tg_pay_event_t ev;
    char h[256], h2[512];
    assert_non_null(p);
    assert_string_equal(p->ops->webhook_header, "Stripe-Signature");

    sign(SECRET, NOW, EVENT, h, sizeof(h));
    assert_int_equal(hook(p, h, EVENT, NOW, &ev), TG_OK);
    assert_int_equal(ev.kind, TG_PAY_EV_SUCCEEDED);
    assert_string_equal(ev.payment_id, "pay_abc");
    assert_string_equal(ev.provider_ref, "pi_123");
    assert_int_equal(ev.amount, 1000);
    assert_string_equal(ev.currency, "usd");
    /* within the tolerance on either side */
    assert_int_equal(hook(p, h, EVENT, NOW + 300, &ev), TG_OK);
    assert_int_equal(hook(p, h, EVENT, NOW - 300, &ev), TG_OK);
    /* stale or from the future */
    assert_int_equal(hook(p, h, EVENT, NOW + 301, &ev), TG_E_INVALID_SIGNATURE);
    assert_int_equal(hook(p, h, EVENT, NOW - 301, &ev), TG_E_INVALID_SIGNATURE);
    /* forged: another secret */
    sign("whsec_someone_else", NOW, EVENT, h2, sizeof(h2));
    assert_int_equal(hook(p, h2, EVENT, NOW, &ev), TG_E_INVALID_SIGNATURE);
    /* tampered body */
    char *tampered = strdup(EVENT);
    memcpy(strstr(tampered, "1000"), "9000", 4);
    assert_int_equal(hook(p, h, tampered, NOW, &ev), TG_E_INVALID_SIGNATURE);
    free(tampered);
    /* a signature for another timestamp, with this one's t */
    sign(SECRET, NOW - 1, EVENT, h2, sizeof(h2));
    char mixed[512];
    snprintf(mixed, sizeof(mixed), "t=%lld,%s", (long long)NOW, strstr(h2, "v1="));
    assert_int_equal(hook(p, mixed, EVENT, NOW, &ev), TG_E_INVALID_SIGNATURE);
    /* several v1 values (secret rotation): one valid is enough; v0 is ignored */
    snprintf(h2, sizeof(h2), "t=%lld,v1=%064d,%s,v0=abc", (long long)NOW, 0, strstr(h, "v1="));
    assert_int_equal(hook(p, h2, EVENT, NOW, &ev), TG_OK);
    /* malformed headers */
    assert_int_equal(hook(p, NULL, EVENT, NOW, &ev), TG_E_INVALID_SIGNATURE);
    assert_int_equal(hook(p, "", EVENT, NOW, &ev), TG_E_INVALID_SIGNATURE);
    assert_int_equal(hook(p, "v1=abcd", EVENT, NOW, &ev), TG_E_INVALID_SIGNATURE);
    snprintf(h2, sizeof(h2), "t=%lld", (long long)NOW);
    assert_int_equal(hook(p, h2, EVENT, NOW, &ev), TG_E_INVALID_SIGNATURE);
    snprintf(h2, sizeof(h2), "t=%lld,v1=zz%s", (long long)NOW, strstr(h, "v1=") + 5);
    assert_int_equal(hook(p, h2, EVENT, NOW, &ev), TG_E_INVALID_SIGNATURE);
    /* signed but not JSON */
    sign(SECRET, NOW, "not json", h2, sizeof(h2));
    assert_int_equal(hook(p, h2, "not json", NOW, &ev), TG_E_INVALID_JSON);
    /* signed, another event type: verified, nothing to do */
    const char *other = "{\"type\":\"customer.created\",\"data\":{\"object\":{}}}";
    sign(SECRET, NOW, other, h2, sizeof(h2));
    assert_int_equal(hook(p, h2, other, NOW, &ev), TG_OK);
    assert_int_equal(ev.kind, TG_PAY_EV_OTHER);
    /* a failed payment carries its decline reason */
    const char *failed = "{\"type\":\"payment_intent.payment_failed\",\"data\":{\"object\":{"
                         "\"id\":\"pi_9\",\"amount\":700,\"currency\":\"usd\",\"metadata\":{"
                         "\"tollgate_payment_id\":\"pay_x\"},\"last_payment_error\":{\"type\":"
                         "\"card_error\",\"code\":\"card_declined\",\"decline_code\":"
                         "\"insufficient_funds\",\"message\":\"Your card has insufficient "
                         "funds.\"}}}}";
    sign(SECRET, NOW, failed, h2, sizeof(h2));
    assert_int_equal(hook(p, h2, failed, NOW, &ev), TG_OK);
    assert_int_equal(ev.kind, TG_PAY_EV_FAILED);
    assert_string_equal(ev.failure_code, "insufficient_funds");
    p->ops->free(p);
}

static void test_stripe_config(void **state)
{
    /* the secret key never goes over plain HTTP to another host */
    assert_null(tg_pay_stripe_new("http://api.stripe.com", "sk", "wh"));
    assert_null(tg_pay_stripe_new("http://127.0.0.1.evil.com", "sk", "wh"));
    assert_null(tg_pay_stripe_new("https://api.stripe.com", "", "wh"));
    assert_null(tg_pay_stripe_new("https://api.stripe.com", "sk", NULL));
    tg_pay_provider_t *p = tg_pay_stripe_new(NULL, "sk", "wh"); /* default URL */
    assert_non_null(p);
    p->ops->free(p);
    p = tg_pay_stripe_new("http://localhost:12111/", "sk", "wh");
    assert_non_null(p);
    p->ops->free(p);
}

/* ---- invoice numbers ---- */

static void test_invoice_number(void **state)
{
    char out[64];
    tg_pay_invoice_number("org-AbCdEfGh1234567890", 1, out, sizeof(out));
    assert_string_equal(out, "TG-AbCdEfGh-0001");
    tg_pay_invoice_number("org-AbCdEfGh1234567890", 42, out, sizeof(out));
    assert_string_equal(out, "TG-AbCdEfGh-0042");
    tg_pay_invoice_number("org-AbCdEfGh1234567890", 12345, out, sizeof(out));
    assert_string_equal(out, "TG-AbCdEfGh-12345");
    tg_pay_invoice_number("org-x", 7, out, sizeof(out));
    assert_string_equal(out, "TG-x-0007");
}

/* ---- with a database ---- */

typedef tg_test_db_t fx_t;

static int fx_setup(void **state) { return tg_test_db_setup(state, "pay"); }
static int fx_teardown(void **state) { return tg_test_db_teardown(state); }

static tg_invoice_row_t invoice(const char *org, int64_t seq, const char *payment)
{
    tg_invoice_row_t v;
    memset(&v, 0, sizeof(v));
    tg_random_id(v.id, "inv_", 24);
    snprintf(v.org_id, sizeof(v.org_id), "%s", org);
    v.seq = seq;
    tg_pay_invoice_number(org, seq, v.number, sizeof(v.number));
    snprintf(v.payment_id, sizeof(v.payment_id), "%s", payment);
    v.amount = 1000;
    snprintf(v.currency, sizeof(v.currency), "usd");
    snprintf(v.description, sizeof(v.description), "Prepaid API credit");
    snprintf(v.payer, sizeof(v.payer), "{}");
    return v;
}

static void test_invoice_sequence(void **state)
{
    fx_t *f = *state;
    tg_store_t *st = f->st;
    int64_t seq = 0;
    tg_invoice_row_t v;

    assert_int_equal(st->payments->invoice_next_seq(st, "org-A", &seq), 0);
    assert_int_equal(seq, 1);
    v = invoice("org-A", seq, "pay_1");
    assert_int_equal(st->payments->invoice_insert(st, &v), 0);
    assert_int_equal(st->payments->invoice_next_seq(st, "org-A", &seq), 0);
    assert_int_equal(seq, 2);
    v = invoice("org-A", seq, "pay_2");
    assert_int_equal(st->payments->invoice_insert(st, &v), 0);
    assert_int_equal(st->payments->invoice_next_seq(st, "org-B", &seq), 0);
    assert_int_equal(seq, 1); /* per organisation */
    v = invoice("org-B", seq, "pay_3");
    assert_int_equal(st->payments->invoice_insert(st, &v), 0);
    /* a number is never given twice, nor a payment invoiced twice */
    v = invoice("org-A", 2, "pay_4");
    assert_int_equal(QUIET(st->payments->invoice_insert(st, &v)), TG_STORE_CONFLICT);
    v = invoice("org-A", 3, "pay_1");
    assert_int_equal(QUIET(st->payments->invoice_insert(st, &v)), TG_STORE_CONFLICT);
    tg_invoice_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(st->payments->invoice_list(st, "org-A", &rows, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].number, "TG-A-0002"); /* newest first */
    assert_string_equal(rows[1].number, "TG-A-0001");
    free(rows);
}

static void test_payment_methods_store(void **state)
{
    fx_t *f = *state;
    tg_store_t *st = f->st;
    tg_pay_method_row_t m, *rows = NULL;
    size_t n = 0;

    for (int i = 0; i < 3; i++) {
        memset(&m, 0, sizeof(m));
        snprintf(m.id, sizeof(m.id), "pm_%d", i);
        snprintf(m.org_id, sizeof(m.org_id), "org-A");
        snprintf(m.provider, sizeof(m.provider), "test");
        snprintf(m.provider_ref, sizeof(m.provider_ref), "tok_visa");
        snprintf(m.brand, sizeof(m.brand), "visa");
        snprintf(m.last4, sizeof(m.last4), "4242");
        snprintf(m.payer, sizeof(m.payer), "{}");
        m.is_default = i == 0;
        m.created_at = 100 + i;
        assert_int_equal(st->payments->pay_method_insert(st, &m), 0);
    }
    assert_int_equal(st->payments->pay_method_set_default(st, "org-A", "pm_1"), 0);
    assert_int_equal(st->payments->pay_method_set_default(st, "org-B", "pm_1"), TG_STORE_NOTFOUND);
    assert_int_equal(st->payments->pay_method_list(st, "org-A", &rows, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(rows[0].is_default + rows[1].is_default * 2 + rows[2].is_default * 4, 2);
    free(rows);
    /* deleting the default hands it to the newest live method */
    assert_int_equal(st->payments->pay_method_delete(st, "org-A", "pm_1", 200), 0);
    assert_int_equal(st->payments->pay_method_delete(st, "org-A", "pm_1", 200), TG_STORE_NOTFOUND);
    assert_int_equal(st->payments->pay_method_delete(st, "org-B", "pm_0", 200), TG_STORE_NOTFOUND);
    assert_int_equal(st->payments->pay_method_list(st, "org-A", &rows, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(rows[1].id, "pm_2");
    assert_int_equal(rows[1].is_default, 1);
    assert_int_equal(rows[0].is_default, 0);
    free(rows);
}

/* ---- the module end to end ---- */

typedef struct {
    int done;
    tg_pay_result_t res;
} waiter_t;

static void on_done(void *arg, const tg_pay_result_t *res)
{
    waiter_t *w = arg;
    w->res = *res;
    w->done = 1;
}

static void run_until(struct event_base *base, waiter_t *w)
{
    for (int i = 0; i < 2000 && !w->done; i++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        usleep(1000);
    }
    assert_true(w->done);
}

static tg_pay_result_t add_card(struct event_base *base, const char *org, const char *number,
                                int make_default)
{
    tg_pay_method_in_t in;
    waiter_t w = {0};
    memset(&in, 0, sizeof(in));
    snprintf(in.org_id, sizeof(in.org_id), "%s", org);
    in.has_card = 1;
    in.card = card(number, 12, 2030, "123");
    in.make_default = make_default;
    snprintf(in.payer.type, sizeof(in.payer.type), "company");
    snprintf(in.payer.name, sizeof(in.payer.name), "ACME");
    snprintf(in.payer.country, sizeof(in.payer.country), "DE");
    assert_int_equal(tg_pay_method_add(&in, base, on_done, &w), 0);
    run_until(base, &w);
    return w.res;
}

static tg_pay_result_t top_up(struct event_base *base, const char *org, int64_t cents)
{
    waiter_t w = {0};
    assert_int_equal(tg_pay_top_up(org, NULL, cents, base, on_done, &w), 0);
    run_until(base, &w);
    return w.res;
}

static int64_t available(const char *org)
{
    tg_balance_t b;
    assert_int_equal(tg_ledger_balance(NULL, org, &b, NULL, NULL), 0);
    return b.available;
}

static int count_payments(tg_store_t *st, const char *org, const char *kind, const char *status)
{
    tg_payment_row_t *rows = NULL;
    size_t n = 0;
    int k = 0;
    assert_int_equal(st->payments->payment_list(st, org, &rows, &n), 0);
    for (size_t i = 0; i < n; i++)
        k += !strcmp(rows[i].kind, kind) && (!status || !strcmp(rows[i].status, status));
    free(rows);
    return k;
}

static void *settle_thread(void *arg)
{
    for (int i = 0; i < 20; i++) {
        tg_charges_t ch;
        tg_ledger_settle(NULL, "org-C", "proj_C", 10 * TG_NANOS_PER_CENT, &ch);
    }
    return NULL;
}

/* Waits until `want` auto-recharges have ended (succeeded or failed), then a little more so
 * that an extra one would show. */
static void wait_recharges(tg_store_t *st, const char *org, int want, int max_ms)
{
    for (int i = 0; i < max_ms / 10; i++) {
        if (count_payments(st, org, "auto_recharge", "succeeded") +
                count_payments(st, org, "auto_recharge", "failed") >=
            want)
            break;
        usleep(10000);
    }
    usleep(200000);
}

static void test_module(void **state)
{
    fx_t *f = *state;
    tg_store_t *st = f->st;
    const char *org = "org-C";
    tg_org_row_t o = {0};
    tg_pay_config_t cfg = {.provider = "test", .threads = 3};
    struct event_base *base;
    tg_pay_result_t r;

    evthread_use_pthreads();
    base = event_base_new();
    snprintf(o.id, sizeof(o.id), "%s", org);
    snprintf(o.name, sizeof(o.name), "Customer");
    snprintf(o.tier, sizeof(o.tier), "free");
    assert_int_equal(st->tenancy->org_insert(st, &o), 0);
    assert_int_equal(tg_ledger_load(st), 0);
    assert_int_equal(tg_pay_start(f->url, &cfg), 0);

    /* a top-up with no payment method: refused, nothing recorded */
    r = top_up(base, org, 1000);
    assert_int_equal(r.err, TG_E_INVALID_VALUE);
    assert_string_equal(r.param, "payment_method_id");
    assert_false(r.has_payment);

    r = add_card(base, org, "4242424242424242", 0);
    assert_int_equal(r.err, TG_OK);
    assert_true(r.method.is_default); /* the first one */
    char good[TG_ID_MAX];
    snprintf(good, sizeof(good), "%s", r.method.id);

    int64_t expect = 0;
    for (int i = 1; i <= 3; i++) {
        r = top_up(base, org, 1000 + i);
        assert_int_equal(r.err, TG_OK);
        assert_string_equal(r.payment.status, "succeeded");
        expect += (1000 + i) * TG_NANOS_PER_CENT;
        assert_int_equal(available(org), expect); /* exactly the amount paid */
    }
    tg_invoice_row_t *inv = NULL;
    size_t n = 0;
    assert_int_equal(st->payments->invoice_list(st, org, &inv, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(inv[0].number, "TG-C-0003");
    assert_string_equal(inv[2].number, "TG-C-0001");
    assert_int_equal(inv[0].amount, 1003);
    assert_string_equal(inv[0].seller, "Tollgate");
    free(inv);
    tg_grant_row_t *grants = NULL;
    tg_balance_t b;
    assert_int_equal(tg_ledger_balance(NULL, org, &b, &grants, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(grants[0].kind, "purchased");
    assert_true(grants[0].expires_at >= tg_now() + 364 * 86400);
    assert_true(!strncmp(grants[0].reference, "pay_", 4));
    free(grants);

    /* a declining card, made the default: 402-class error, payment recorded, no credit */
    int64_t before = available(org);
    r = add_card(base, org, "4000000000009995", 1);
    assert_int_equal(r.err, TG_OK);
    r = top_up(base, org, 700);
    assert_int_equal(r.err, TG_E_INSUFFICIENT_FUNDS);
    assert_true(r.has_payment);
    assert_string_equal(r.payment.status, "failed");
    assert_string_equal(r.payment.failure_code, "insufficient_funds");
    assert_int_equal(available(org), before);
    assert_int_equal(count_payments(st, org, "top_up", "failed"), 1);

    /* auto-recharge: 60 charges of 10 cents from 3 threads at once cross the threshold;
     * the good card is the default again */
    assert_int_equal(st->payments->pay_method_set_default(st, org, good), 0);
    tg_auto_recharge_row_t ar = {.enabled = 1};
    snprintf(ar.org_id, sizeof(ar.org_id), "%s", org);
    ar.threshold = before / TG_NANOS_PER_CENT - 100; /* $1 below the balance */
    ar.recharge_to = ar.threshold + 2000;
    assert_int_equal(tg_pay_auto_recharge_save(st, &ar), 0);
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, settle_thread, NULL);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    wait_recharges(st, org, 1, 5000);
    assert_int_equal(count_payments(st, org, "auto_recharge", NULL), 1);
    assert_int_equal(count_payments(st, org, "auto_recharge", "succeeded"), 1);
    /* recharged to recharge_to (the amount rounded up to whole cents), minus what was spent
     * after the hook looked */
    assert_true(available(org) <= ar.recharge_to * TG_NANOS_PER_CENT);
    assert_true(available(org) >= ar.threshold * TG_NANOS_PER_CENT);

    /* a declined auto-recharge: recorded once, auto-recharge paused, never retried */
    r = add_card(base, org, "4000000000000002", 1);
    assert_int_equal(r.err, TG_OK);
    ar.threshold = available(org) / TG_NANOS_PER_CENT + 500;
    ar.recharge_to = ar.threshold + 1000;
    ar.monthly_limit = 0;
    assert_int_equal(tg_pay_auto_recharge_save(st, &ar), 0);
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, settle_thread, NULL);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    wait_recharges(st, org, 2, 5000);
    assert_int_equal(count_payments(st, org, "auto_recharge", "failed"), 1);
    tg_auto_recharge_row_t got;
    tg_pay_auto_recharge_get(org, &got);
    assert_true(got.paused_at > 0);
    assert_string_equal(got.paused_reason, "card_declined");
    settle_thread(NULL);
    usleep(100000);
    assert_int_equal(count_payments(st, org, "auto_recharge", "failed"), 1);

    /* the monthly limit: this month already has one recharge (succeeded); a limit leaving
     * less than $5 stops the next one */
    assert_int_equal(st->payments->pay_method_set_default(st, org, good), 0);
    int64_t sum = 0, pending = 0;
    assert_int_equal(st->payments->payment_sum(st, org, "auto_recharge", tg_month_start(tg_now()),
                                          &sum, &pending), 0);
    ar.monthly_limit = sum + 499;
    assert_int_equal(tg_pay_auto_recharge_save(st, &ar), 0); /* also resumes it */
    tg_pay_auto_recharge_get(org, &got);
    assert_int_equal(got.paused_at, 0);
    settle_thread(NULL);
    wait_recharges(st, org, 3, 300); /* none comes */
    assert_int_equal(count_payments(st, org, "auto_recharge", "succeeded"), 1);
    /* a limit leaving room for part of it: charged up to the limit, not more */
    ar.monthly_limit = sum + 600;
    assert_int_equal(tg_pay_auto_recharge_save(st, &ar), 0);
    settle_thread(NULL);
    wait_recharges(st, org, 3, 5000);
    assert_int_equal(count_payments(st, org, "auto_recharge", "succeeded"), 2);
    assert_int_equal(st->payments->payment_sum(st, org, "auto_recharge", tg_month_start(tg_now()),
                                          &sum, &pending), 0);
    assert_int_equal(sum, ar.monthly_limit);

    tg_pay_stop();
    tg_ledger_shutdown();
    event_base_free(base);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_luhn),
        cmocka_unit_test(test_brand),
        cmocka_unit_test(test_card_check),
        cmocka_unit_test(test_test_provider),
        cmocka_unit_test(test_webhook_signature),
        cmocka_unit_test(test_stripe_config),
        cmocka_unit_test(test_invoice_number),
        T(test_invoice_sequence),
        T(test_payment_methods_store),
        T(test_module),
    };
    return cmocka_run_group_tests_name("payments", tests, NULL, NULL);
}
