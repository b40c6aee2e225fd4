/* Payments (migration 4): saved payment methods, payments, invoices, auto-recharge settings,
 * and what an organisation has paid (for its usage tier).
 * One domain of the store: its rows and its operations. Include store/store.h, the face. */
#ifndef TG_STORE_PAYMENTS_H
#define TG_STORE_PAYMENTS_H

#ifndef TG_STORE_H
#error "include store/store.h"
#endif

/* A payment method keeps brand, last four and expiry only, never a card number. Amounts are
 * in cents. */
typedef struct {
    char id[TG_ID_MAX]; /* pm_… */
    char org_id[TG_ID_MAX];
    char provider[16];
    char provider_ref[TG_NAME_MAX]; /* the provider's reusable method (test: a test token) */
    char customer_ref[TG_NAME_MAX]; /* the provider's customer, "" if none */
    char brand[16];
    char last4[8];
    int exp_month, exp_year;
    char payer[TG_JSON_MAX]; /* JSON object */
    int is_default;
    int64_t created_at;
    int64_t deleted_at; /* 0: live */
} tg_pay_method_row_t;

typedef struct {
    char id[TG_ID_MAX]; /* pay_… */
    char org_id[TG_ID_MAX];
    char method_id[TG_ID_MAX];
    char kind[16];   /* top_up, auto_recharge */
    char status[16]; /* pending, succeeded, failed */
    int64_t amount;  /* cents */
    char currency[8];
    char provider[16];
    char provider_ref[TG_NAME_MAX];
    char failure_code[32];
    char failure_message[TG_NAME_MAX];
    char brand[16];
    char last4[8];
    char payer[TG_JSON_MAX]; /* as it was when the payment was made */
    char grant_id[TG_ID_MAX];
    char invoice_id[TG_ID_MAX];
    int64_t created_at, updated_at;
} tg_payment_row_t;

typedef struct {
    char id[TG_ID_MAX]; /* inv_… */
    char org_id[TG_ID_MAX];
    int64_t seq; /* 1, 2, … per organisation */
    char number[64];
    char payment_id[TG_ID_MAX];
    int64_t amount; /* cents */
    char currency[8];
    char description[TG_NAME_MAX]; /* the line item */
    char payer[TG_JSON_MAX];
    char seller[TG_NAME_MAX];
    char brand[16];
    char last4[8];
    int64_t created_at;
} tg_invoice_row_t;

typedef struct {
    char org_id[TG_ID_MAX];
    int enabled;
    int64_t threshold, recharge_to, monthly_limit; /* cents; monthly_limit 0: none */
    int64_t paused_at;                             /* 0: not paused */
    char paused_reason[TG_NAME_MAX];
    int64_t updated_at;
} tg_auto_recharge_row_t;

struct tg_store_payments {
    /* usage tiers: what an organisation has paid (succeeded payments, cents) and when it
     * first paid (0: never), and its tier */
    int (*org_payments)(tg_store_t *st, const char *org_id, int64_t *paid_cents,
                        int64_t *first_at);
    int (*pay_method_insert)(tg_store_t *st, const tg_pay_method_row_t *row);
    /* Live methods of an organisation, oldest first. */
    int (*pay_method_list)(tg_store_t *st, const char *org_id, tg_pay_method_row_t **rows,
                           size_t *n);
    /* Makes id the organisation's only default method; TG_STORE_NOTFOUND unless it is live. */
    int (*pay_method_set_default)(tg_store_t *st, const char *org_id, const char *id);
    /* Soft delete; a deleted default passes to the newest live method. */
    int (*pay_method_delete)(tg_store_t *st, const char *org_id, const char *id, int64_t at);
    int (*payment_insert)(tg_store_t *st, const tg_payment_row_t *row);
    int (*payment_get)(tg_store_t *st, const char *id, tg_payment_row_t *out);
    /* Writes status, provider_ref, failure, grant_id, invoice_id and updated_at of row->id if
     * its status is still from_status; TG_STORE_NOTFOUND otherwise. */
    int (*payment_update)(tg_store_t *st, const tg_payment_row_t *row, const char *from_status);
    /* An organisation's payments, newest first. */
    int (*payment_list)(tg_store_t *st, const char *org_id, tg_payment_row_t **rows, size_t *n);
    /* Σ amount of the organisation's payments of `kind` created at or after `since` that
     * succeeded or are pending, and how many of them are pending. */
    int (*payment_sum)(tg_store_t *st, const char *org_id, const char *kind, int64_t since,
                       int64_t *cents, int64_t *pending);
    /* The organisation's next invoice number (use inside the inserting transaction). */
    int (*invoice_next_seq)(tg_store_t *st, const char *org_id, int64_t *seq);
    int (*invoice_insert)(tg_store_t *st, const tg_invoice_row_t *row);
    /* An organisation's invoices, newest first. */
    int (*invoice_list)(tg_store_t *st, const char *org_id, tg_invoice_row_t **rows, size_t *n);
    int (*auto_recharge_set)(tg_store_t *st, const tg_auto_recharge_row_t *row);
    int (*auto_recharge_list)(tg_store_t *st, tg_auto_recharge_row_t **rows, size_t *n);
};

#endif
