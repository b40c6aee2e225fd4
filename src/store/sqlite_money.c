/* SQLite backend, money: credit grants, overdrafts, monthly hard limits and spend alerts
 * (store/money.h). */
#include "store/sqlite_int.h"

#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int sq_alert_insert(tg_store_t *b, const tg_alert_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "INSERT INTO spend_alerts VALUES (?,?,?,?,?,?,?)");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, r->id);
    tg_sq__bind_text(st, 2, r->org_id);
    tg_sq__bind_opt_text(st, 3, r->project_id);
    sqlite3_bind_int64(st, 4, r->threshold_cents);
    tg_sq__bind_text(st, 5, r->channel);
    if (r->secret_len)
        sqlite3_bind_blob(st, 6, r->secret, (int)r->secret_len, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 6);
    sqlite3_bind_int64(st, 7, r->created_at);
    return tg_sq__run(s, st);
}

static int sq_alert_delete(tg_store_t *b, const char *id)
{
    return tg_sq__delete_by_id((sq_t *)b, "DELETE FROM spend_alerts WHERE id=?", id);
}

static void fill_alert(sqlite3_stmt *st, void *p)
{
    tg_alert_row_t *r = p;
    tg_sq__col_text(st, 0, r->id, sizeof(r->id));
    tg_sq__col_text(st, 1, r->org_id, sizeof(r->org_id));
    tg_sq__col_text(st, 2, r->project_id, sizeof(r->project_id));
    r->threshold_cents = sqlite3_column_int64(st, 3);
    tg_sq__col_text(st, 4, r->channel, sizeof(r->channel));
    int n = sqlite3_column_bytes(st, 5);
    if (n > 0 && (size_t)n <= sizeof(r->secret)) {
        memcpy(r->secret, sqlite3_column_blob(st, 5), (size_t)n);
        r->secret_len = (size_t)n;
    }
    r->created_at = sqlite3_column_int64(st, 6);
}

static int sq_alert_list(tg_store_t *b, tg_alert_row_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    return tg_sq__collect(
        s,
        tg_sq__prep(s, "SELECT id,organization_id,project_id,threshold_amount,channel,"
                       "secret,created_at FROM spend_alerts ORDER BY created_at, rowid"),
        sizeof(tg_alert_row_t), fill_alert, (void **)rows, n);
}

static int sq_alert_fired(tg_store_t *b, const char *alert_id, int64_t month, int64_t at,
                          int64_t spend)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "INSERT OR IGNORE INTO spend_alert_firings VALUES (?,?,?,?)");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, alert_id);
    sqlite3_bind_int64(st, 2, month);
    sqlite3_bind_int64(st, 3, at);
    sqlite3_bind_int64(st, 4, spend);
    int rc = tg_sq__run(s, st);
    return rc < 0 ? rc : sqlite3_changes(s->db) == 1;
}

static int sq_alert_firings(tg_store_t *b, int64_t month, tg_org_amount_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "SELECT '', alert_id, spend FROM spend_alert_firings WHERE"
                                      " month=?");
    if (st)
        sqlite3_bind_int64(st, 1, month);
    return tg_sq__collect(s, st, sizeof(tg_org_amount_t), tg_sq__fill_amount, (void **)rows, n);
}

/* ---- money ---- */

static int sq_grant_insert(tg_store_t *b, const tg_grant_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "INSERT INTO credit_grants VALUES (?,?,?,?,?,?,?,?,?)");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, r->id);
    tg_sq__bind_text(st, 2, r->org_id);
    tg_sq__bind_text(st, 3, r->kind);
    sqlite3_bind_int64(st, 4, r->amount);
    sqlite3_bind_int64(st, 5, r->consumed);
    sqlite3_bind_int64(st, 6, r->granted_at);
    tg_sq__bind_opt_int(st, 7, r->expires_at);
    tg_sq__bind_text(st, 8, r->description);
    tg_sq__bind_opt_text(st, 9, r->reference);
    return tg_sq__run(s, st);
}

static void fill_grant(sqlite3_stmt *st, void *p)
{
    tg_grant_row_t *r = p;
    tg_sq__col_text(st, 0, r->id, sizeof(r->id));
    tg_sq__col_text(st, 1, r->org_id, sizeof(r->org_id));
    tg_sq__col_text(st, 2, r->kind, sizeof(r->kind));
    r->amount = sqlite3_column_int64(st, 3);
    r->consumed = sqlite3_column_int64(st, 4);
    r->granted_at = sqlite3_column_int64(st, 5);
    r->expires_at = sqlite3_column_int64(st, 6);
    tg_sq__col_text(st, 7, r->description, sizeof(r->description));
    tg_sq__col_text(st, 8, r->reference, sizeof(r->reference));
}

static int sq_grant_list(tg_store_t *b, const char *org_id, tg_grant_row_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st =
        tg_sq__prep(s, "SELECT id,organization_id,kind,amount,consumed,granted_at,"
                       "expires_at,description,reference FROM credit_grants WHERE"
                       " ?1 IS NULL OR organization_id=?1 ORDER BY granted_at, rowid");
    if (st)
        tg_sq__bind_opt_text(st, 1, org_id);
    return tg_sq__collect(s, st, sizeof(tg_grant_row_t), fill_grant, (void **)rows, n);
}

static int sq_grant_consume(tg_store_t *b, const char *id, int64_t amount)
{
    sq_t *s = (sq_t *)b;
    if (!s->grant_consume && !(s->grant_consume = tg_sq__prep(
                                   s, "UPDATE credit_grants SET consumed=consumed+? WHERE id=?")))
        return -1;
    sqlite3_stmt *st = s->grant_consume;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, amount);
    tg_sq__bind_text(st, 2, id);
    if (sqlite3_step(st) != SQLITE_DONE) {
        tg_error("sqlite: %s", sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}

static int sq_org_overdraft_add(tg_store_t *b, const char *org_id, int64_t amount)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "UPDATE organizations SET overdraft=overdraft+? WHERE id=?");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, amount);
    tg_sq__bind_text(st, 2, org_id);
    return tg_sq__run(s, st);
}

static int sq_org_overdrafts(tg_store_t *b, tg_org_amount_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    return tg_sq__collect(
        s, tg_sq__prep(s, "SELECT id, id, overdraft FROM organizations WHERE overdraft != 0"),
        sizeof(tg_org_amount_t), tg_sq__fill_amount, (void **)rows, n);
}

static int sq_spend_limit_set(tg_store_t *b, const char *scope_id, const char *org_id,
                              int64_t cents, int64_t at)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = cents > 0
                           ? tg_sq__prep(s, "INSERT OR REPLACE INTO spend_limits VALUES (?,?,?,?)")
                           : tg_sq__prep(s, "DELETE FROM spend_limits WHERE scope_id=?");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, scope_id);
    if (cents > 0) {
        tg_sq__bind_text(st, 2, org_id);
        sqlite3_bind_int64(st, 3, cents);
        sqlite3_bind_int64(st, 4, at);
    }
    return tg_sq__run(s, st);
}

static int sq_spend_limit_list(tg_store_t *b, tg_org_amount_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    return tg_sq__collect(s,
                          tg_sq__prep(s, "SELECT organization_id, scope_id, threshold_amount FROM"
                                         " spend_limits"),
                          sizeof(tg_org_amount_t), tg_sq__fill_amount, (void **)rows, n);
}

const struct tg_store_money tg_sq__money = {
    .alert_insert = sq_alert_insert,
    .alert_delete = sq_alert_delete,
    .alert_list = sq_alert_list,
    .alert_fired = sq_alert_fired,
    .alert_firings = sq_alert_firings,
    .grant_insert = sq_grant_insert,
    .grant_list = sq_grant_list,
    .grant_consume = sq_grant_consume,
    .org_overdraft_add = sq_org_overdraft_add,
    .org_overdrafts = sq_org_overdrafts,
    .spend_limit_set = sq_spend_limit_set,
    .spend_limit_list = sq_spend_limit_list,
};
