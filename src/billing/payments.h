/* Payments: payment methods, top-ups, auto-recharge and invoices, behind a payment-provider
 * interface (a struct of function pointers, like store.h) with two providers:
 *
 *   test    offline (the default): card numbers behave like Stripe's test cards
 *           (pay_test.c);
 *   stripe  PaymentIntents over HTTPS and signed webhooks (pay_stripe.c, the only file that
 *           knows Stripe's wire format).
 *
 * Threads. Provider calls block (libcurl's easy API), so they never run on a worker's event
 * loop: a small pool of payment threads of this module takes jobs from a queue, each with its
 * own store connection and (stripe) its own kept-alive HTTPS connection, and hands every
 * result back to the submitter's event loop with event_base_once (as billing/usage.c does).
 * The auto-recharge hook (tg_ledger_set_hook(1, …)) only looks at an in-memory table and
 * queues a job; it never blocks a worker.
 *
 * Money: amounts are integer cents here (what a card is charged); credit bought becomes a
 * "purchased" ledger grant of cents × TG_NANOS_PER_CENT nano-dollars, expiring after 365 days.
 *
 * Card data: a card number and CVC live only in the request body and in a job, both wiped
 * after use; storage, logs and responses see brand, last four and expiry only. */
#ifndef TG_BILLING_PAYMENTS_H
#define TG_BILLING_PAYMENTS_H

#include "core/errors.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

struct event_base;

#define TG_PAY_MIN_CENTS 500           /* $5: the smallest top-up or recharge */
#define TG_PAY_MAX_CENTS 99999999LL    /* $999,999.99: the largest single charge */
#define TG_PAY_GRANT_DAYS 365          /* purchased credit expires after a year */
#define TG_PAY_WEBHOOK_TOLERANCE 300   /* seconds a signed webhook stays valid */

/* ---- the payer and the card ---- */

typedef struct {
    char type[16]; /* "individual" or "company" */
    char name[TG_NAME_MAX];
    char email[TG_NAME_MAX];
    char line1[TG_NAME_MAX], line2[TG_NAME_MAX];
    char city[128], postal_code[32], state[128];
    char country[3]; /* ISO 3166-1 alpha-2, upper case */
    char tax_id[64];
} tg_payer_t;

typedef struct {
    char number[24]; /* digits only */
    int exp_month, exp_year;
    char cvc[8];
} tg_pay_card_t;

/* What a new payment method is made from: a card (test provider), a provider token
 * ("tok_visa" for test, "pm_…" from Stripe.js for stripe), plus the payer. */
typedef struct {
    char org_id[TG_ID_MAX];
    int has_card;
    tg_pay_card_t card;
    char token[TG_NAME_MAX];
    tg_payer_t payer;
    int make_default;
} tg_pay_method_in_t;

/* The payer as a JSON object text (stored with methods, payments and invoices). */
int tg_pay_payer_to_json(const tg_payer_t *p, char *out, size_t cap);
int tg_pay_payer_from_json(const char *json, tg_payer_t *p);

/* Card checks (pure). Luhn over a string of digits; brand from the number's prefix ("visa",
 * "mastercard", "amex", "discover", "diners", "jcb", "unionpay" or "unknown"). */
int tg_pay_luhn(const char *digits, size_t n);
const char *tg_pay_card_brand(const char *digits, size_t n);
/* Checks a card as a provider would accept it: 12–19 digits passing Luhn, expiry month
 * 1–12 and not in the past at `now`, CVC 3–4 digits. Returns TG_OK, or TG_E_INVALID_VALUE
 * with *param ("card.number", "card.exp_month", "card.exp_year", "card.cvc") and *msg. */
tg_err_t tg_pay_card_check(const tg_pay_card_t *card, int64_t now, const char **param,
                           const char **msg);

/* "TG-<first 8 characters of the organisation id after org->-<seq, 4+ digits>". */
void tg_pay_invoice_number(const char *org_id, int64_t seq, char *out, size_t cap);

/* ---- the provider interface ---- */

typedef enum { TG_PAY_SUCCEEDED = 1, TG_PAY_FAILED = 2, TG_PAY_PENDING = 3 } tg_pay_status_t;

/* The outcome of a provider call. failure_code: "card_declined", "insufficient_funds",
 * "expired_card", "processing_error", "authentication_required", "provider_unavailable"
 * (nothing was charged), "provider_error", … */
typedef struct {
    tg_pay_status_t status;
    char provider_ref[TG_NAME_MAX]; /* the provider's id of the charge (pi_…) */
    char failure_code[32];
    char failure_message[TG_NAME_MAX]; /* safe to show the payer */
} tg_pay_charge_t;

typedef enum {
    TG_PAY_EV_OTHER = 0,     /* verified, but nothing for us */
    TG_PAY_EV_SUCCEEDED = 1, /* a charge succeeded */
    TG_PAY_EV_FAILED = 2     /* a charge failed */
} tg_pay_event_kind_t;

typedef struct {
    tg_pay_event_kind_t kind;
    char type[64];                  /* the provider's event type */
    char payment_id[TG_ID_MAX];     /* ours (pay_…), from the charge's metadata */
    char provider_ref[TG_NAME_MAX]; /* the provider's charge id */
    int64_t amount;                 /* cents */
    char currency[8];
    char failure_code[32];
    char failure_message[TG_NAME_MAX];
} tg_pay_event_t;

typedef struct tg_pay_provider tg_pay_provider_t;

/* All calls may block (network); they run on the payment threads, several at a time, so a
 * provider is thread-safe. Return TG_OK or an error code; on error `param`/`msg` (may be
 * NULL) say why in words fit for the caller. */
typedef struct {
    const char *name;           /* "test", "stripe" */
    const char *webhook_header; /* the request header with the webhook's signature, or NULL */
    /* Makes a reusable payment method from in->card or in->token. Fills out's brand, last4,
     * exp_month, exp_year, provider_ref and customer_ref. */
    tg_err_t (*method_create)(tg_pay_provider_t *p, const tg_pay_method_in_t *in,
                              const char *method_id, tg_pay_method_row_t *out, char *param,
                              size_t param_cap, char *msg, size_t msg_cap);
    /* Charges pay->amount cents to method m, idempotent under pay->id (a retry with the same
     * payment id never charges twice). Always fills out (never returns an error: a failure
     * is out->status TG_PAY_FAILED with a failure_code). */
    void (*charge)(tg_pay_provider_t *p, const tg_pay_method_row_t *m,
                   const tg_payment_row_t *pay, tg_pay_charge_t *out);
    /* Verifies a webhook's signature (header value `signature`) over the raw body at time
     * `now` and parses its event. NULL: the provider has no webhooks. Returns TG_OK or
     * TG_E_INVALID_SIGNATURE / TG_E_INVALID_JSON. */
    tg_err_t (*webhook)(tg_pay_provider_t *p, const char *signature, const char *body,
                        size_t len, int64_t now, tg_pay_event_t *ev);
    /* Called by each payment thread before it exits (per-thread connections). May be NULL. */
    void (*thread_exit)(tg_pay_provider_t *p);
    void (*free)(tg_pay_provider_t *p);
} tg_pay_provider_ops_t;

struct tg_pay_provider {
    const tg_pay_provider_ops_t *ops;
};

tg_pay_provider_t *tg_pay_test_new(void);
/* base_url "https://api.stripe.com" (http:// only for a loopback host); secrets are copied,
 * wiped on free and never logged. NULL if an argument is missing or invalid. */
tg_pay_provider_t *tg_pay_stripe_new(const char *base_url, const char *secret_key,
                                     const char *webhook_secret);

/* ---- the module ---- */

typedef struct {
    const char *provider;              /* "test" (NULL: test) or "stripe" */
    const char *stripe_url;            /* NULL: https://api.stripe.com */
    const char *stripe_key;            /* borrows */
    const char *stripe_webhook_secret; /* borrows */
    int threads;                       /* payment threads (0: 2) */
} tg_pay_config_t;

/* Opens the threads' store connections, loads auto-recharge settings, registers the
 * auto-recharge ledger hook and starts the threads. Call after tg_ledger_load(). */
int tg_pay_start(const char *db_url, const tg_pay_config_t *cfg);
/* Lets running jobs finish, drops queued ones, joins the threads. Call after the HTTP
 * server's loops have stopped and before they are freed. */
void tg_pay_stop(void);
/* The configured provider's name, or NULL before tg_pay_start. */
const char *tg_pay_provider_name(void);
/* The header that carries its webhooks' signature, or NULL (no webhooks). */
const char *tg_pay_webhook_header(void);

/* The result of a job, handed to the submitter's loop. err TG_OK: success (payment may still
 * be TG_PAY_PENDING: a webhook will settle it). Otherwise param/msg say why; a failed charge
 * still has its recorded payment in `payment`. */
typedef struct {
    tg_err_t err;
    char param[64];
    char msg[512];
    tg_pay_method_row_t method;  /* method jobs */
    tg_payment_row_t payment;    /* top-up jobs */
    int has_payment;
} tg_pay_result_t;

/* Runs on `base`'s thread with the result (borrowed for the call). */
typedef void (*tg_pay_done_cb)(void *arg, const tg_pay_result_t *res);

/* Queues work for the payment threads. Returns 0 (cb runs exactly once, later) or -1 (out of
 * memory or stopping; cb never runs). `in` is copied and the copy wiped after use. */
int tg_pay_method_add(const tg_pay_method_in_t *in, struct event_base *base, tg_pay_done_cb cb,
                      void *arg);
/* method_id "" or NULL: the organisation's default payment method. */
int tg_pay_top_up(const char *org_id, const char *method_id, int64_t cents,
                  struct event_base *base, tg_pay_done_cb cb, void *arg);
/* A provider's webhook: `provider` is the name in the URL. res->err: TG_OK (handled or
 * ignored), TG_E_INVALID_SIGNATURE, TG_E_INVALID_JSON, TG_E_UNKNOWN_URL (no such provider). */
int tg_pay_webhook(const char *provider, const char *signature, const char *body, size_t len,
                   struct event_base *base, tg_pay_done_cb cb, void *arg);

/* Auto-recharge settings: saved to the store and applied at once; saving clears a pause.
 * Returns 0 or -1. */
int tg_pay_auto_recharge_save(tg_store_t *st, const tg_auto_recharge_row_t *row);
/* The settings in effect (a row with enabled 0 when none); 0 or -1. */
int tg_pay_auto_recharge_get(const char *org_id, tg_auto_recharge_row_t *out);

/* The error an API answer uses for a failure code ("card_declined" → TG_E_CARD_DECLINED…). */
tg_err_t tg_pay_failure_err(const char *failure_code);

#endif
