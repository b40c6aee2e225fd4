/* SQLite backend, payments: payment methods, payments, invoices and auto-recharge
 * (store/payments.h). */
#include "store/sqlite_int.h"

#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- usage tiers ---- */

static int sq_org_payments(tg_store_t *b, const char *org_id, int64_t *paid, int64_t *first)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st =
        tg_sq__prep(s, "SELECT COALESCE(SUM(amount), 0), COALESCE(MIN(created_at), 0)"
                       " FROM payments WHERE organization_id=? AND status='succeeded'");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, org_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *paid = sqlite3_column_int64(st, 0);
        *first = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* ---- payments ---- */

static int sq_pay_method_insert(tg_store_t *b, const tg_pay_method_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st =
        tg_sq__prep(s, "INSERT INTO payment_methods (id,organization_id,provider,"
                       "provider_ref,customer_ref,brand,last4,exp_month,exp_year,payer,"
                       "is_default,created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, r->id);
    tg_sq__bind_text(st, 2, r->org_id);
    tg_sq__bind_text(st, 3, r->provider);
    tg_sq__bind_text(st, 4, r->provider_ref);
    tg_sq__bind_opt_text(st, 5, r->customer_ref);
    tg_sq__bind_text(st, 6, r->brand);
    tg_sq__bind_text(st, 7, r->last4);
    sqlite3_bind_int(st, 8, r->exp_month);
    sqlite3_bind_int(st, 9, r->exp_year);
    tg_sq__bind_text(st, 10, r->payer);
    sqlite3_bind_int(st, 11, r->is_default ? 1 : 0);
    sqlite3_bind_int64(st, 12, r->created_at);
    return tg_sq__run(s, st);
}

static void fill_pay_method(sqlite3_stmt *st, void *p)
{
    tg_pay_method_row_t *r = p;
    tg_sq__col_text(st, 0, r->id, sizeof(r->id));
    tg_sq__col_text(st, 1, r->org_id, sizeof(r->org_id));
    tg_sq__col_text(st, 2, r->provider, sizeof(r->provider));
    tg_sq__col_text(st, 3, r->provider_ref, sizeof(r->provider_ref));
    tg_sq__col_text(st, 4, r->customer_ref, sizeof(r->customer_ref));
    tg_sq__col_text(st, 5, r->brand, sizeof(r->brand));
    tg_sq__col_text(st, 6, r->last4, sizeof(r->last4));
    r->exp_month = sqlite3_column_int(st, 7);
    r->exp_year = sqlite3_column_int(st, 8);
    tg_sq__col_text(st, 9, r->payer, sizeof(r->payer));
    r->is_default = sqlite3_column_int(st, 10);
    r->created_at = sqlite3_column_int64(st, 11);
    r->deleted_at = sqlite3_column_int64(st, 12);
}

static int sq_pay_method_list(tg_store_t *b, const char *org_id, tg_pay_method_row_t **rows,
                              size_t *n)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st =
        tg_sq__prep(s, "SELECT id,organization_id,provider,provider_ref,customer_ref,"
                       "brand,last4,exp_month,exp_year,payer,is_default,created_at,"
                       "deleted_at FROM payment_methods WHERE organization_id=? AND"
                       " deleted_at IS NULL ORDER BY created_at, rowid");
    if (st)
        tg_sq__bind_text(st, 1, org_id);
    return tg_sq__collect(s, st, sizeof(tg_pay_method_row_t), fill_pay_method, (void **)rows, n);
}

static int sq_pay_method_set_default(tg_store_t *b, const char *org_id, const char *id)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st =
        tg_sq__prep(s, "UPDATE payment_methods SET is_default=(id=?2) WHERE"
                       " organization_id=?1 AND deleted_at IS NULL AND EXISTS (SELECT 1"
                       " FROM payment_methods WHERE id=?2 AND organization_id=?1 AND"
                       " deleted_at IS NULL)");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, org_id);
    tg_sq__bind_text(st, 2, id);
    int rc = tg_sq__run(s, st);
    if (rc == 0 && sqlite3_changes(s->db) == 0)
        return TG_STORE_NOTFOUND;
    return rc;
}

static int sq_pay_method_delete(tg_store_t *b, const char *org_id, const char *id, int64_t at)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st =
        tg_sq__prep(s, "UPDATE payment_methods SET deleted_at=?, is_default=0 WHERE id=?"
                       " AND organization_id=? AND deleted_at IS NULL");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, at);
    tg_sq__bind_text(st, 2, id);
    tg_sq__bind_text(st, 3, org_id);
    int rc = tg_sq__run(s, st);
    if (rc == 0 && sqlite3_changes(s->db) == 0)
        return TG_STORE_NOTFOUND;
    if (rc != 0)
        return rc;
    /* no default left: the newest live method takes over */
    st = tg_sq__prep(s, "UPDATE payment_methods SET is_default=1 WHERE id=(SELECT id FROM"
                        " payment_methods WHERE organization_id=?1 AND deleted_at IS NULL ORDER BY"
                        " created_at DESC, rowid DESC LIMIT 1) AND NOT EXISTS (SELECT 1 FROM"
                        " payment_methods WHERE organization_id=?1 AND deleted_at IS NULL AND"
                        " is_default=1)");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, org_id);
    return tg_sq__run(s, st);
}

#define PAYMENT_COLS                                                                               \
    "id,organization_id,payment_method_id,kind,status,amount,currency,provider,provider_ref,"      \
    "failure_code,failure_message,brand,last4,payer,grant_id,invoice_id,created_at,updated_at"

static int sq_payment_insert(tg_store_t *b, const tg_payment_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "INSERT INTO payments (" PAYMENT_COLS ") VALUES"
                                      " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, r->id);
    tg_sq__bind_text(st, 2, r->org_id);
    tg_sq__bind_text(st, 3, r->method_id);
    tg_sq__bind_text(st, 4, r->kind);
    tg_sq__bind_text(st, 5, r->status);
    sqlite3_bind_int64(st, 6, r->amount);
    tg_sq__bind_text(st, 7, r->currency);
    tg_sq__bind_text(st, 8, r->provider);
    tg_sq__bind_opt_text(st, 9, r->provider_ref);
    tg_sq__bind_opt_text(st, 10, r->failure_code);
    tg_sq__bind_opt_text(st, 11, r->failure_message);
    tg_sq__bind_text(st, 12, r->brand);
    tg_sq__bind_text(st, 13, r->last4);
    tg_sq__bind_text(st, 14, r->payer);
    tg_sq__bind_opt_text(st, 15, r->grant_id);
    tg_sq__bind_opt_text(st, 16, r->invoice_id);
    sqlite3_bind_int64(st, 17, r->created_at);
    sqlite3_bind_int64(st, 18, r->updated_at);
    return tg_sq__run(s, st);
}

static void fill_payment(sqlite3_stmt *st, void *p)
{
    tg_payment_row_t *r = p;
    tg_sq__col_text(st, 0, r->id, sizeof(r->id));
    tg_sq__col_text(st, 1, r->org_id, sizeof(r->org_id));
    tg_sq__col_text(st, 2, r->method_id, sizeof(r->method_id));
    tg_sq__col_text(st, 3, r->kind, sizeof(r->kind));
    tg_sq__col_text(st, 4, r->status, sizeof(r->status));
    r->amount = sqlite3_column_int64(st, 5);
    tg_sq__col_text(st, 6, r->currency, sizeof(r->currency));
    tg_sq__col_text(st, 7, r->provider, sizeof(r->provider));
    tg_sq__col_text(st, 8, r->provider_ref, sizeof(r->provider_ref));
    tg_sq__col_text(st, 9, r->failure_code, sizeof(r->failure_code));
    tg_sq__col_text(st, 10, r->failure_message, sizeof(r->failure_message));
    tg_sq__col_text(st, 11, r->brand, sizeof(r->brand));
    tg_sq__col_text(st, 12, r->last4, sizeof(r->last4));
    tg_sq__col_text(st, 13, r->payer, sizeof(r->payer));
    tg_sq__col_text(st, 14, r->grant_id, sizeof(r->grant_id));
    tg_sq__col_text(st, 15, r->invoice_id, sizeof(r->invoice_id));
    r->created_at = sqlite3_column_int64(st, 16);
    r->updated_at = sqlite3_column_int64(st, 17);
}

static int sq_payment_get(tg_store_t *b, const char *id, tg_payment_row_t *out)
{
    sq_t *s = (sq_t *)b;
    tg_payment_row_t *rows = NULL;
    size_t n = 0;
    sqlite3_stmt *st = tg_sq__prep(s, "SELECT " PAYMENT_COLS " FROM payments WHERE id=?");
    if (st)
        tg_sq__bind_text(st, 1, id);
    if (tg_sq__collect(s, st, sizeof(tg_payment_row_t), fill_payment, (void **)&rows, &n) < 0)
        return -1;
    if (n)
        *out = rows[0];
    free(rows);
    return n ? 0 : TG_STORE_NOTFOUND;
}

static int sq_payment_update(tg_store_t *b, const tg_payment_row_t *r, const char *from_status)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st =
        tg_sq__prep(s, "UPDATE payments SET status=?, provider_ref=?, failure_code=?,"
                       " failure_message=?, grant_id=?, invoice_id=?, updated_at=?"
                       " WHERE id=? AND status=?");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, r->status);
    tg_sq__bind_opt_text(st, 2, r->provider_ref);
    tg_sq__bind_opt_text(st, 3, r->failure_code);
    tg_sq__bind_opt_text(st, 4, r->failure_message);
    tg_sq__bind_opt_text(st, 5, r->grant_id);
    tg_sq__bind_opt_text(st, 6, r->invoice_id);
    sqlite3_bind_int64(st, 7, r->updated_at);
    tg_sq__bind_text(st, 8, r->id);
    tg_sq__bind_text(st, 9, from_status);
    int rc = tg_sq__run(s, st);
    if (rc == 0 && sqlite3_changes(s->db) == 0)
        return TG_STORE_NOTFOUND;
    return rc;
}

static int sq_payment_list(tg_store_t *b, const char *org_id, tg_payment_row_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st =
        tg_sq__prep(s, "SELECT " PAYMENT_COLS " FROM payments WHERE organization_id=?"
                       " ORDER BY created_at DESC, rowid DESC");
    if (st)
        tg_sq__bind_text(st, 1, org_id);
    return tg_sq__collect(s, st, sizeof(tg_payment_row_t), fill_payment, (void **)rows, n);
}

static int sq_payment_sum(tg_store_t *b, const char *org_id, const char *kind, int64_t since,
                          int64_t *cents, int64_t *pending)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st =
        tg_sq__prep(s, "SELECT COALESCE(SUM(amount),0), COALESCE(SUM(status='pending'),0)"
                       " FROM payments WHERE organization_id=? AND kind=? AND"
                       " created_at>=? AND status IN ('succeeded','pending')");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, org_id);
    tg_sq__bind_text(st, 2, kind);
    sqlite3_bind_int64(st, 3, since);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *cents = sqlite3_column_int64(st, 0);
        *pending = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) {
        tg_error("sqlite: %s", sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}

static int sq_invoice_next_seq(tg_store_t *b, const char *org_id, int64_t *seq)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st =
        tg_sq__prep(s, "SELECT COALESCE(MAX(seq),0)+1 FROM invoices WHERE organization_id=?");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, org_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *seq = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) {
        tg_error("sqlite: %s", sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}

static int sq_invoice_insert(tg_store_t *b, const tg_invoice_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st =
        tg_sq__prep(s, "INSERT INTO invoices (id,organization_id,seq,number,payment_id,"
                       "amount,currency,description,payer,seller,brand,last4,created_at)"
                       " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, r->id);
    tg_sq__bind_text(st, 2, r->org_id);
    sqlite3_bind_int64(st, 3, r->seq);
    tg_sq__bind_text(st, 4, r->number);
    tg_sq__bind_text(st, 5, r->payment_id);
    sqlite3_bind_int64(st, 6, r->amount);
    tg_sq__bind_text(st, 7, r->currency);
    tg_sq__bind_text(st, 8, r->description);
    tg_sq__bind_text(st, 9, r->payer);
    tg_sq__bind_text(st, 10, r->seller);
    tg_sq__bind_text(st, 11, r->brand);
    tg_sq__bind_text(st, 12, r->last4);
    sqlite3_bind_int64(st, 13, r->created_at);
    return tg_sq__run(s, st);
}

static void fill_invoice(sqlite3_stmt *st, void *p)
{
    tg_invoice_row_t *r = p;
    tg_sq__col_text(st, 0, r->id, sizeof(r->id));
    tg_sq__col_text(st, 1, r->org_id, sizeof(r->org_id));
    r->seq = sqlite3_column_int64(st, 2);
    tg_sq__col_text(st, 3, r->number, sizeof(r->number));
    tg_sq__col_text(st, 4, r->payment_id, sizeof(r->payment_id));
    r->amount = sqlite3_column_int64(st, 5);
    tg_sq__col_text(st, 6, r->currency, sizeof(r->currency));
    tg_sq__col_text(st, 7, r->description, sizeof(r->description));
    tg_sq__col_text(st, 8, r->payer, sizeof(r->payer));
    tg_sq__col_text(st, 9, r->seller, sizeof(r->seller));
    tg_sq__col_text(st, 10, r->brand, sizeof(r->brand));
    tg_sq__col_text(st, 11, r->last4, sizeof(r->last4));
    r->created_at = sqlite3_column_int64(st, 12);
}

static int sq_invoice_list(tg_store_t *b, const char *org_id, tg_invoice_row_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st =
        tg_sq__prep(s, "SELECT id,organization_id,seq,number,payment_id,amount,currency,"
                       "description,payer,seller,brand,last4,created_at FROM invoices"
                       " WHERE organization_id=? ORDER BY seq DESC");
    if (st)
        tg_sq__bind_text(st, 1, org_id);
    return tg_sq__collect(s, st, sizeof(tg_invoice_row_t), fill_invoice, (void **)rows, n);
}

static int sq_auto_recharge_set(tg_store_t *b, const tg_auto_recharge_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st =
        tg_sq__prep(s, "INSERT OR REPLACE INTO auto_recharge (organization_id,enabled,"
                       "threshold_amount,recharge_to_amount,monthly_limit,paused_at,"
                       "paused_reason,updated_at) VALUES (?,?,?,?,?,?,?,?)");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, r->org_id);
    sqlite3_bind_int(st, 2, r->enabled ? 1 : 0);
    sqlite3_bind_int64(st, 3, r->threshold);
    sqlite3_bind_int64(st, 4, r->recharge_to);
    tg_sq__bind_opt_int(st, 5, r->monthly_limit);
    tg_sq__bind_opt_int(st, 6, r->paused_at);
    tg_sq__bind_opt_text(st, 7, r->paused_reason);
    sqlite3_bind_int64(st, 8, r->updated_at);
    return tg_sq__run(s, st);
}

static void fill_auto_recharge(sqlite3_stmt *st, void *p)
{
    tg_auto_recharge_row_t *r = p;
    tg_sq__col_text(st, 0, r->org_id, sizeof(r->org_id));
    r->enabled = sqlite3_column_int(st, 1);
    r->threshold = sqlite3_column_int64(st, 2);
    r->recharge_to = sqlite3_column_int64(st, 3);
    r->monthly_limit = sqlite3_column_int64(st, 4);
    r->paused_at = sqlite3_column_int64(st, 5);
    tg_sq__col_text(st, 6, r->paused_reason, sizeof(r->paused_reason));
    r->updated_at = sqlite3_column_int64(st, 7);
}

static int sq_auto_recharge_list(tg_store_t *b, tg_auto_recharge_row_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    return tg_sq__collect(s,
                          tg_sq__prep(s, "SELECT organization_id,enabled,threshold_amount,"
                                         "recharge_to_amount,monthly_limit,paused_at,paused_reason,"
                                         "updated_at FROM auto_recharge"),
                          sizeof(tg_auto_recharge_row_t), fill_auto_recharge, (void **)rows, n);
}

const struct tg_store_payments tg_sq__payments = {
    .org_payments = sq_org_payments,
    .pay_method_insert = sq_pay_method_insert,
    .pay_method_list = sq_pay_method_list,
    .pay_method_set_default = sq_pay_method_set_default,
    .pay_method_delete = sq_pay_method_delete,
    .payment_insert = sq_payment_insert,
    .payment_get = sq_payment_get,
    .payment_update = sq_payment_update,
    .payment_list = sq_payment_list,
    .payment_sum = sq_payment_sum,
    .invoice_next_seq = sq_invoice_next_seq,
    .invoice_insert = sq_invoice_insert,
    .invoice_list = sq_invoice_list,
    .auto_recharge_set = sq_auto_recharge_set,
    .auto_recharge_list = sq_auto_recharge_list,
};
