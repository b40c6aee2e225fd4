/* PostgreSQL backend, payments: payment methods, payments, invoices and auto-recharge
 * (store/payments.h). The same statements as sqlite_payments.c.
 *
 * SQLite's transactions are BEGIN IMMEDIATE: every writer waits for the one before, so a
 * read and the write that depends on it see the same data. PostgreSQL's are not serialised,
 * so where the callers read then write, the organisation's row (organizations) is locked
 * first (SELECT … FOR UPDATE, held to the end of the transaction; the next statement's
 * snapshot then sees what the previous holder committed):
 *   - invoice_next_seq: max+1, then the caller inserts the invoice (one number, once);
 *   - pay_method_list inside a transaction: "has it a default?", then the caller inserts a
 *     method (billing/payments.c, run_method), and pay_method_insert inside a transaction;
 *   - pay_method_set_default and pay_method_delete (which check then update several rows):
 *     in a transaction of their own when the caller has none.
 * Inside a transaction, payment_get locks the payment's row (FOR UPDATE): a payment settled
 * by two callers at once (the charge's answer and the webhook) is seen settled by the
 * second, as with SQLite. Outside a transaction a lock would end with its statement, so none
 * is taken. An organisation without a row in organizations is not locked. */
#include "store/pg_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- serialising an organisation's writes ---- */

static int in_transaction(const pg_t *p)
{
    return PQtransactionStatus(p->conn) == PQTRANS_INTRANS;
}

/* Locks the organisation's row until the caller's transaction ends (nothing outside one). */
static int lock_org(pg_t *p, const char *org_id)
{
    if (!in_transaction(p))
        return 0;
    tg_pg_args_t a = {0};
    tg_pg__text(&a, org_id);
    return tg_pg__cmd(p, "SELECT 1 FROM organizations WHERE id=$1 FOR UPDATE", &a, NULL);
}

/* Starts a transaction when the caller has none (*own), then locks the organisation. */
static int org_begin(pg_t *p, const char *org_id, int *own)
{
    *own = 0;
    if (PQtransactionStatus(p->conn) == PQTRANS_IDLE) {
        if (tg_pg__cmd(p, "BEGIN", NULL, NULL) < 0)
            return -1;
        *own = 1;
    }
    return lock_org(p, org_id);
}

/* Ends the transaction org_begin started, if it did: committed when rc is 0. Returns rc, or
 * -1 when the commit fails. */
static int org_end(pg_t *p, int own, int rc)
{
    if (!own)
        return rc;
    if (rc == 0) {
        /* a failed COMMIT ends the transaction too */
        if (tg_pg__cmd(p, "COMMIT", NULL, NULL) < 0)
            return -1;
        return 0;
    }
    tg_pg__cmd(p, "ROLLBACK", NULL, NULL);
    return rc;
}

/* ---- usage tiers ---- */

static int pg_org_payments(tg_store_t *b, const char *org_id, int64_t *paid, int64_t *first)
{
    pg_t *p = (pg_t *)b;
    tg_pg_args_t a = {0};
    tg_pg__text(&a, org_id);
    PGresult *r = tg_pg__query(p,
                               "SELECT COALESCE(SUM(amount), 0), COALESCE(MIN(created_at), 0)"
                               " FROM payments WHERE organization_id=$1 AND status='succeeded'",
                               &a);
    if (!r)
        return -1;
    int rc = PQntuples(r) == 1 ? 0 : -1;
    if (rc == 0) {
        *paid = tg_pg__col_int(r, 0, 0);
        *first = tg_pg__col_int(r, 0, 1);
    }
    PQclear(r);
    return rc;
}

/* ---- payment methods ---- */

static int pg_pay_method_insert(tg_store_t *b, const tg_pay_method_row_t *r)
{
    pg_t *p = (pg_t *)b;
    if (lock_org(p, r->org_id) < 0)
        return -1;
    tg_pg_args_t a = {0};
    tg_pg__text(&a, r->id);
    tg_pg__text(&a, r->org_id);
    tg_pg__text(&a, r->provider);
    tg_pg__text(&a, r->provider_ref);
    tg_pg__opt_text(&a, r->customer_ref);
    tg_pg__text(&a, r->brand);
    tg_pg__text(&a, r->last4);
    tg_pg__int(&a, r->exp_month);
    tg_pg__int(&a, r->exp_year);
    tg_pg__text(&a, r->payer);
    tg_pg__int(&a, r->is_default ? 1 : 0);
    tg_pg__int(&a, r->created_at);
    return tg_pg__cmd(p,
                      "INSERT INTO payment_methods (id,organization_id,provider,provider_ref,"
                      "customer_ref,brand,last4,exp_month,exp_year,payer,is_default,created_at)"
                      " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
                      &a, NULL);
}

static void fill_pay_method(const PGresult *res, int row, void *out)
{
    tg_pay_method_row_t *r = out;
    tg_pg__col_text(res, row, 0, r->id, sizeof(r->id));
    tg_pg__col_text(res, row, 1, r->org_id, sizeof(r->org_id));
    tg_pg__col_text(res, row, 2, r->provider, sizeof(r->provider));
    tg_pg__col_text(res, row, 3, r->provider_ref, sizeof(r->provider_ref));
    tg_pg__col_text(res, row, 4, r->customer_ref, sizeof(r->customer_ref));
    tg_pg__col_text(res, row, 5, r->brand, sizeof(r->brand));
    tg_pg__col_text(res, row, 6, r->last4, sizeof(r->last4));
    r->exp_month = (int)tg_pg__col_int(res, row, 7);
    r->exp_year = (int)tg_pg__col_int(res, row, 8);
    tg_pg__col_text(res, row, 9, r->payer, sizeof(r->payer));
    r->is_default = (int)tg_pg__col_int(res, row, 10);
    r->created_at = tg_pg__col_int(res, row, 11);
    r->deleted_at = tg_pg__col_int(res, row, 12);
}

static int pg_pay_method_list(tg_store_t *b, const char *org_id, tg_pay_method_row_t **rows,
                              size_t *n)
{
    pg_t *p = (pg_t *)b;
    /* in a transaction, what is read here decides what the caller writes */
    if (lock_org(p, org_id) < 0)
        return -1;
    tg_pg_args_t a = {0};
    tg_pg__text(&a, org_id);
    return tg_pg__collect(p,
                          "SELECT id,organization_id,provider,provider_ref,customer_ref,brand,"
                          "last4,exp_month,exp_year,payer,is_default,created_at,deleted_at"
                          " FROM payment_methods WHERE organization_id=$1 AND"
                          " deleted_at IS NULL ORDER BY created_at, seq",
                          &a, sizeof(tg_pay_method_row_t), fill_pay_method, (void **)rows, n);
}

static int pg_pay_method_set_default(tg_store_t *b, const char *org_id, const char *id)
{
    pg_t *p = (pg_t *)b;
    int own;
    int64_t changed = 0;
    int rc = org_begin(p, org_id, &own);
    if (rc == 0) {
        tg_pg_args_t a = {0};
        tg_pg__text(&a, org_id);
        tg_pg__text(&a, id);
        rc = tg_pg__cmd(p,
                        "UPDATE payment_methods SET is_default=CASE WHEN id=$2 THEN 1 ELSE 0 END"
                        " WHERE organization_id=$1 AND deleted_at IS NULL AND EXISTS (SELECT 1"
                        " FROM payment_methods WHERE id=$2 AND organization_id=$1 AND"
                        " deleted_at IS NULL)",
                        &a, &changed);
    }
    if (rc == 0 && changed == 0)
        rc = TG_STORE_NOTFOUND;
    return org_end(p, own, rc);
}

static int pg_pay_method_delete(tg_store_t *b, const char *org_id, const char *id, int64_t at)
{
    pg_t *p = (pg_t *)b;
    int own;
    int64_t changed = 0;
    int rc = org_begin(p, org_id, &own);
    if (rc == 0) {
        tg_pg_args_t a = {0};
        tg_pg__int(&a, at);
        tg_pg__text(&a, id);
        tg_pg__text(&a, org_id);
        rc = tg_pg__cmd(p,
                        "UPDATE payment_methods SET deleted_at=$1, is_default=0 WHERE id=$2"
                        " AND organization_id=$3 AND deleted_at IS NULL",
                        &a, &changed);
    }
    if (rc == 0 && changed == 0)
        rc = TG_STORE_NOTFOUND;
    if (rc == 0) {
        /* no default left: the newest live method takes over */
        tg_pg_args_t a = {0};
        tg_pg__text(&a, org_id);
        rc = tg_pg__cmd(p,
                        "UPDATE payment_methods SET is_default=1 WHERE id=(SELECT id FROM"
                        " payment_methods WHERE organization_id=$1 AND deleted_at IS NULL"
                        " ORDER BY created_at DESC, seq DESC LIMIT 1) AND NOT EXISTS (SELECT 1"
                        " FROM payment_methods WHERE organization_id=$1 AND deleted_at IS NULL"
                        " AND is_default=1)",
                        &a, NULL);
    }
    return org_end(p, own, rc);
}

/* ---- payments ---- */

#define PAYMENT_COLS                                                                               \
    "id,organization_id,payment_method_id,kind,status,amount,currency,provider,provider_ref,"      \
    "failure_code,failure_message,brand,last4,payer,grant_id,invoice_id,created_at,updated_at"

static int pg_payment_insert(tg_store_t *b, const tg_payment_row_t *r)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, r->id);
    tg_pg__text(&a, r->org_id);
    tg_pg__text(&a, r->method_id);
    tg_pg__text(&a, r->kind);
    tg_pg__text(&a, r->status);
    tg_pg__int(&a, r->amount);
    tg_pg__text(&a, r->currency);
    tg_pg__text(&a, r->provider);
    tg_pg__opt_text(&a, r->provider_ref);
    tg_pg__opt_text(&a, r->failure_code);
    tg_pg__opt_text(&a, r->failure_message);
    tg_pg__text(&a, r->brand);
    tg_pg__text(&a, r->last4);
    tg_pg__text(&a, r->payer);
    tg_pg__opt_text(&a, r->grant_id);
    tg_pg__opt_text(&a, r->invoice_id);
    tg_pg__int(&a, r->created_at);
    tg_pg__int(&a, r->updated_at);
    return tg_pg__cmd((pg_t *)b,
                      "INSERT INTO payments (" PAYMENT_COLS ") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,"
                      "$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)",
                      &a, NULL);
}

static void fill_payment(const PGresult *res, int row, void *out)
{
    tg_payment_row_t *r = out;
    tg_pg__col_text(res, row, 0, r->id, sizeof(r->id));
    tg_pg__col_text(res, row, 1, r->org_id, sizeof(r->org_id));
    tg_pg__col_text(res, row, 2, r->method_id, sizeof(r->method_id));
    tg_pg__col_text(res, row, 3, r->kind, sizeof(r->kind));
    tg_pg__col_text(res, row, 4, r->status, sizeof(r->status));
    r->amount = tg_pg__col_int(res, row, 5);
    tg_pg__col_text(res, row, 6, r->currency, sizeof(r->currency));
    tg_pg__col_text(res, row, 7, r->provider, sizeof(r->provider));
    tg_pg__col_text(res, row, 8, r->provider_ref, sizeof(r->provider_ref));
    tg_pg__col_text(res, row, 9, r->failure_code, sizeof(r->failure_code));
    tg_pg__col_text(res, row, 10, r->failure_message, sizeof(r->failure_message));
    tg_pg__col_text(res, row, 11, r->brand, sizeof(r->brand));
    tg_pg__col_text(res, row, 12, r->last4, sizeof(r->last4));
    tg_pg__col_text(res, row, 13, r->payer, sizeof(r->payer));
    tg_pg__col_text(res, row, 14, r->grant_id, sizeof(r->grant_id));
    tg_pg__col_text(res, row, 15, r->invoice_id, sizeof(r->invoice_id));
    r->created_at = tg_pg__col_int(res, row, 16);
    r->updated_at = tg_pg__col_int(res, row, 17);
}

static int pg_payment_get(tg_store_t *b, const char *id, tg_payment_row_t *out)
{
    pg_t *p = (pg_t *)b;
    tg_pg_args_t a = {0};
    tg_pg__text(&a, id);
    /* in a transaction, the caller decides from this row how to update it */
    return tg_pg__get_one(p,
                          in_transaction(p)
                              ? "SELECT " PAYMENT_COLS " FROM payments WHERE id=$1 FOR UPDATE"
                              : "SELECT " PAYMENT_COLS " FROM payments WHERE id=$1",
                          &a, fill_payment, out);
}

static int pg_payment_update(tg_store_t *b, const tg_payment_row_t *r, const char *from_status)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, r->status);
    tg_pg__opt_text(&a, r->provider_ref);
    tg_pg__opt_text(&a, r->failure_code);
    tg_pg__opt_text(&a, r->failure_message);
    tg_pg__opt_text(&a, r->grant_id);
    tg_pg__opt_text(&a, r->invoice_id);
    tg_pg__int(&a, r->updated_at);
    tg_pg__text(&a, r->id);
    tg_pg__text(&a, from_status);
    return tg_pg__change((pg_t *)b,
                         "UPDATE payments SET status=$1, provider_ref=$2, failure_code=$3,"
                         " failure_message=$4, grant_id=$5, invoice_id=$6, updated_at=$7"
                         " WHERE id=$8 AND status=$9",
                         &a);
}

static int pg_payment_list(tg_store_t *b, const char *org_id, tg_payment_row_t **rows, size_t *n)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, org_id);
    return tg_pg__collect((pg_t *)b,
                          "SELECT " PAYMENT_COLS " FROM payments WHERE organization_id=$1"
                          " ORDER BY created_at DESC, seq DESC",
                          &a, sizeof(tg_payment_row_t), fill_payment, (void **)rows, n);
}

static int pg_payment_sum(tg_store_t *b, const char *org_id, const char *kind, int64_t since,
                          int64_t *cents, int64_t *pending)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, org_id);
    tg_pg__text(&a, kind);
    tg_pg__int(&a, since);
    PGresult *r = tg_pg__query((pg_t *)b,
                               "SELECT COALESCE(SUM(amount),0), COUNT(*) FILTER (WHERE"
                               " status='pending') FROM payments WHERE organization_id=$1 AND"
                               " kind=$2 AND created_at>=$3 AND status IN ('succeeded','pending')",
                               &a);
    if (!r)
        return -1;
    int rc = PQntuples(r) == 1 ? 0 : -1;
    if (rc == 0) {
        *cents = tg_pg__col_int(r, 0, 0);
        *pending = tg_pg__col_int(r, 0, 1);
    }
    PQclear(r);
    return rc;
}

/* ---- invoices ---- */

static int pg_invoice_next_seq(tg_store_t *b, const char *org_id, int64_t *seq)
{
    pg_t *p = (pg_t *)b;
    /* two payments of one organisation settled at once must not take the same number: the
     * second waits here until the first's transaction (and its invoice) is committed */
    if (lock_org(p, org_id) < 0)
        return -1;
    tg_pg_args_t a = {0};
    tg_pg__text(&a, org_id);
    PGresult *r = tg_pg__query(
        p, "SELECT COALESCE(MAX(seq),0)+1 FROM invoices WHERE organization_id=$1", &a);
    if (!r)
        return -1;
    int rc = PQntuples(r) == 1 ? 0 : -1;
    if (rc == 0)
        *seq = tg_pg__col_int(r, 0, 0);
    PQclear(r);
    return rc;
}

static int pg_invoice_insert(tg_store_t *b, const tg_invoice_row_t *r)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, r->id);
    tg_pg__text(&a, r->org_id);
    tg_pg__int(&a, r->seq);
    tg_pg__text(&a, r->number);
    tg_pg__text(&a, r->payment_id);
    tg_pg__int(&a, r->amount);
    tg_pg__text(&a, r->currency);
    tg_pg__text(&a, r->description);
    tg_pg__text(&a, r->payer);
    tg_pg__text(&a, r->seller);
    tg_pg__text(&a, r->brand);
    tg_pg__text(&a, r->last4);
    tg_pg__int(&a, r->created_at);
    return tg_pg__cmd((pg_t *)b,
                      "INSERT INTO invoices (id,organization_id,seq,number,payment_id,amount,"
                      "currency,description,payer,seller,brand,last4,created_at)"
                      " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
                      &a, NULL);
}

static void fill_invoice(const PGresult *res, int row, void *out)
{
    tg_invoice_row_t *r = out;
    tg_pg__col_text(res, row, 0, r->id, sizeof(r->id));
    tg_pg__col_text(res, row, 1, r->org_id, sizeof(r->org_id));
    r->seq = tg_pg__col_int(res, row, 2);
    tg_pg__col_text(res, row, 3, r->number, sizeof(r->number));
    tg_pg__col_text(res, row, 4, r->payment_id, sizeof(r->payment_id));
    r->amount = tg_pg__col_int(res, row, 5);
    tg_pg__col_text(res, row, 6, r->currency, sizeof(r->currency));
    tg_pg__col_text(res, row, 7, r->description, sizeof(r->description));
    tg_pg__col_text(res, row, 8, r->payer, sizeof(r->payer));
    tg_pg__col_text(res, row, 9, r->seller, sizeof(r->seller));
    tg_pg__col_text(res, row, 10, r->brand, sizeof(r->brand));
    tg_pg__col_text(res, row, 11, r->last4, sizeof(r->last4));
    r->created_at = tg_pg__col_int(res, row, 12);
}

static int pg_invoice_list(tg_store_t *b, const char *org_id, tg_invoice_row_t **rows, size_t *n)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, org_id);
    return tg_pg__collect((pg_t *)b,
                          "SELECT id,organization_id,seq,number,payment_id,amount,currency,"
                          "description,payer,seller,brand,last4,created_at FROM invoices"
                          " WHERE organization_id=$1 ORDER BY seq DESC",
                          &a, sizeof(tg_invoice_row_t), fill_invoice, (void **)rows, n);
}

/* ---- auto-recharge ---- */

static int pg_auto_recharge_set(tg_store_t *b, const tg_auto_recharge_row_t *r)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, r->org_id);
    tg_pg__int(&a, r->enabled ? 1 : 0);
    tg_pg__int(&a, r->threshold);
    tg_pg__int(&a, r->recharge_to);
    tg_pg__opt_int(&a, r->monthly_limit);
    tg_pg__opt_int(&a, r->paused_at);
    tg_pg__opt_text(&a, r->paused_reason);
    tg_pg__int(&a, r->updated_at);
    return tg_pg__cmd((pg_t *)b,
                      "INSERT INTO auto_recharge (organization_id,enabled,threshold_amount,"
                      "recharge_to_amount,monthly_limit,paused_at,paused_reason,updated_at)"
                      " VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (organization_id) DO"
                      " UPDATE SET enabled=EXCLUDED.enabled,"
                      " threshold_amount=EXCLUDED.threshold_amount,"
                      " recharge_to_amount=EXCLUDED.recharge_to_amount,"
                      " monthly_limit=EXCLUDED.monthly_limit, paused_at=EXCLUDED.paused_at,"
                      " paused_reason=EXCLUDED.paused_reason, updated_at=EXCLUDED.updated_at",
                      &a, NULL);
}

static void fill_auto_recharge(const PGresult *res, int row, void *out)
{
    tg_auto_recharge_row_t *r = out;
    tg_pg__col_text(res, row, 0, r->org_id, sizeof(r->org_id));
    r->enabled = (int)tg_pg__col_int(res, row, 1);
    r->threshold = tg_pg__col_int(res, row, 2);
    r->recharge_to = tg_pg__col_int(res, row, 3);
    r->monthly_limit = tg_pg__col_int(res, row, 4);
    r->paused_at = tg_pg__col_int(res, row, 5);
    tg_pg__col_text(res, row, 6, r->paused_reason, sizeof(r->paused_reason));
    r->updated_at = tg_pg__col_int(res, row, 7);
}

static int pg_auto_recharge_list(tg_store_t *b, tg_auto_recharge_row_t **rows, size_t *n)
{
    /* SQLite's order is its rowid's (unspecified; the caller sorts): here, by organisation */
    return tg_pg__collect((pg_t *)b,
                          "SELECT organization_id,enabled,threshold_amount,recharge_to_amount,"
                          "monthly_limit,paused_at,paused_reason,updated_at FROM auto_recharge"
                          " ORDER BY organization_id",
                          NULL, sizeof(tg_auto_recharge_row_t), fill_auto_recharge,
                          (void **)rows, n);
}

const struct tg_store_payments tg_pg__payments = {
    .org_payments = pg_org_payments,
    .pay_method_insert = pg_pay_method_insert,
    .pay_method_list = pg_pay_method_list,
    .pay_method_set_default = pg_pay_method_set_default,
    .pay_method_delete = pg_pay_method_delete,
    .payment_insert = pg_payment_insert,
    .payment_get = pg_payment_get,
    .payment_update = pg_payment_update,
    .payment_list = pg_payment_list,
    .payment_sum = pg_payment_sum,
    .invoice_next_seq = pg_invoice_next_seq,
    .invoice_insert = pg_invoice_insert,
    .invoice_list = pg_invoice_list,
    .auto_recharge_set = pg_auto_recharge_set,
    .auto_recharge_list = pg_auto_recharge_list,
};
