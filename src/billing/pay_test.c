/* The offline `test` payment provider: cards behave like Stripe's test cards.
 *
 *   4242 4242 4242 4242 (and any other valid number)   charges succeed
 *   4000 0000 0000 0002                                 declined: card_declined
 *   4000 0000 0000 9995                                 declined: insufficient_funds
 *   4000 0000 0000 0069                                 declined: expired_card
 *   4000 0000 0000 0119                                 declined: processing_error
 *   4000 0000 0000 0341                                 declined: card_declined
 *
 * As with Stripe, a declining card is saved fine; its charges fail. Instead of a card, a
 * Stripe test token may be given ("tok_visa", "tok_chargeDeclined", …). The saved method
 * keeps only that token (the card's behaviour), brand, last four and expiry. */
#include "billing/payments.h"

#include "core/util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *token;
    const char *number; /* NULL: "any other valid number" of that brand */
    const char *brand;
    const char *last4;
    const char *failure; /* NULL: charges succeed */
    const char *message;
} test_card_t;

static const test_card_t cards[] = {
    {"tok_visa", "4242424242424242", "visa", "4242", NULL, NULL},
    {"tok_visa_debit", "4000056655665556", "visa", "5556", NULL, NULL},
    {"tok_mastercard", "5555555555554444", "mastercard", "4444", NULL, NULL},
    {"tok_amex", "378282246310005", "amex", "0005", NULL, NULL},
    {"tok_chargeDeclined", "4000000000000002", "visa", "0002", "card_declined",
     "Your card was declined."},
    {"tok_chargeDeclinedInsufficientFunds", "4000000000009995", "visa", "9995",
     "insufficient_funds", "Your card has insufficient funds."},
    {"tok_chargeDeclinedExpiredCard", "4000000000000069", "visa", "0069", "expired_card",
     "Your card has expired."},
    {"tok_chargeDeclinedProcessingError", "4000000000000119", "visa", "0119",
     "processing_error", "An error occurred while processing your card. Try again in a little "
     "bit."},
    {"tok_chargeCustomerFail", "4000000000000341", "visa", "0341", "card_declined",
     "Your card was declined."},
};
#define NCARDS (sizeof(cards) / sizeof(cards[0]))

static const test_card_t *by_token(const char *token)
{
    for (size_t i = 0; i < NCARDS; i++)
        if (!strcmp(cards[i].token, token))
            return &cards[i];
    return NULL;
}

static tg_err_t method_create(tg_pay_provider_t *p, const tg_pay_method_in_t *in,
                              const char *method_id, tg_pay_method_row_t *out, char *param,
                              size_t param_cap, char *msg, size_t msg_cap)
{
    const test_card_t *tc = NULL;
    if (in->has_card) {
        const char *bad_param, *bad_msg;
        tg_err_t err = tg_pay_card_check(&in->card, tg_now(), &bad_param, &bad_msg);
        if (err != TG_OK) {
            snprintf(param, param_cap, "%s", bad_param);
            snprintf(msg, msg_cap, "%s", bad_msg);
            return err;
        }
        size_t n = strlen(in->card.number);
        for (size_t i = 0; i < NCARDS && !tc; i++)
            if (strlen(cards[i].number) == n &&
                sodium_memcmp(cards[i].number, in->card.number, n) == 0)
                tc = &cards[i];
        const char *brand = tg_pay_card_brand(in->card.number, n);
        snprintf(out->provider_ref, sizeof(out->provider_ref), "%s",
                 tc ? tc->token : !strcmp(brand, "visa") ? "tok_visa" : "tok_ok");
        snprintf(out->brand, sizeof(out->brand), "%s", brand);
        snprintf(out->last4, sizeof(out->last4), "%s", in->card.number + n - 4);
        out->exp_month = in->card.exp_month;
        out->exp_year = in->card.exp_year;
    } else {
        tc = by_token(in->token);
        if (!tc) {
            snprintf(param, param_cap, "token");
            snprintf(msg, msg_cap, "Unknown test token; use a card or one of Stripe's test "
                                   "tokens such as 'tok_visa' or 'tok_chargeDeclined'.");
            return TG_E_INVALID_VALUE;
        }
        time_t t = (time_t)tg_now();
        struct tm tm;
        gmtime_r(&t, &tm);
        snprintf(out->provider_ref, sizeof(out->provider_ref), "%s", tc->token);
        snprintf(out->brand, sizeof(out->brand), "%s", tc->brand);
        snprintf(out->last4, sizeof(out->last4), "%s", tc->last4);
        out->exp_month = 12;
        out->exp_year = tm.tm_year + 1900 + 3;
    }
    snprintf(out->customer_ref, sizeof(out->customer_ref), "cus_test_%s",
             method_id + (strncmp(method_id, "pm_", 3) ? 0 : 3));
    return TG_OK;
}

/* Stateless, hence idempotent: the same payment always gets the same outcome and id. */
static void charge(tg_pay_provider_t *p, const tg_pay_method_row_t *m,
                   const tg_payment_row_t *pay, tg_pay_charge_t *out)
{
    const test_card_t *tc = by_token(m->provider_ref);
    memset(out, 0, sizeof(*out));
    snprintf(out->provider_ref, sizeof(out->provider_ref), "pi_test_%s",
             pay->id + (strncmp(pay->id, "pay_", 4) ? 0 : 4));
    if (tc && tc->failure) {
        out->status = TG_PAY_FAILED;
        snprintf(out->failure_code, sizeof(out->failure_code), "%s", tc->failure);
        snprintf(out->failure_message, sizeof(out->failure_message), "%s", tc->message);
    } else {
        out->status = TG_PAY_SUCCEEDED;
    }
}

static void provider_free(tg_pay_provider_t *p) { free(p); }

static const tg_pay_provider_ops_t test_ops = {
    .name = "test",
    .webhook_header = NULL,
    .method_create = method_create,
    .charge = charge,
    .webhook = NULL,
    .thread_exit = NULL,
    .free = provider_free,
};

tg_pay_provider_t *tg_pay_test_new(void)
{
    tg_pay_provider_t *p = calloc(1, sizeof(*p));
    if (p)
        p->ops = &test_ops;
    return p;
}
