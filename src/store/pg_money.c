/* PostgreSQL backend, money: credit grants, overdrafts, monthly hard limits and spend alerts
 * (store/money.h). The same statements as sqlite_money.c; rows SQLite orders by rowid are
 * ordered by the tables' seq column. */
#include "store/pg_int.h"

#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int pg_alert_insert(tg_store_t *b, const tg_alert_row_t *r)
{
    tg_pg_args_t a = {0};
    if (r->secret_len > sizeof(r->secret)) {
        tg_error("postgres: spend alert %s: a secret of %zu bytes", r->id, r->secret_len);
        return -1;
    }
    tg_pg__text(&a, r->id);
    tg_pg__text(&a, r->org_id);
    tg_pg__opt_text(&a, r->project_id);
    tg_pg__int(&a, r->threshold_cents);
    tg_pg__text(&a, r->channel);
    /* out of memory marks the arguments as refused: tg_pg__cmd then fails and frees them */
    tg_pg__blob(&a, r->secret, r->secret_len);
    tg_pg__int(&a, r->created_at);
    return tg_pg__cmd((pg_t *)b,
                      "INSERT INTO spend_alerts (id, organization_id, project_id,"
                      " threshold_amount, channel, secret, created_at)"
                      " VALUES ($1,$2,$3,$4,$5,$6,$7)",
                      &a, NULL);
}

static int pg_alert_delete(tg_store_t *b, const char *id)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, id);
    return tg_pg__change((pg_t *)b, "DELETE FROM spend_alerts WHERE id=$1", &a);
}

static void fill_alert(const PGresult *res, int row, void *p)
{
    tg_alert_row_t *r = p;
    tg_pg__col_text(res, row, 0, r->id, sizeof(r->id));
    tg_pg__col_text(res, row, 1, r->org_id, sizeof(r->org_id));
    tg_pg__col_text(res, row, 2, r->project_id, sizeof(r->project_id));
    r->threshold_cents = tg_pg__col_int(res, row, 3);
    tg_pg__col_text(res, row, 4, r->channel, sizeof(r->channel));
    r->secret_len = tg_pg__col_blob(res, row, 5, r->secret, sizeof(r->secret));
    r->created_at = tg_pg__col_int(res, row, 6);
}

static int pg_alert_list(tg_store_t *b, tg_alert_row_t **rows, size_t *n)
{
    return tg_pg__collect((pg_t *)b,
                          "SELECT id,organization_id,project_id,threshold_amount,channel,"
                          "secret,created_at FROM spend_alerts ORDER BY created_at, seq",
                          NULL, sizeof(tg_alert_row_t), fill_alert, (void **)rows, n);
}

static int pg_alert_fired(tg_store_t *b, const char *alert_id, int64_t month, int64_t at,
                          int64_t spend)
{
    tg_pg_args_t a = {0};
    int64_t changed = 0;
    tg_pg__text(&a, alert_id);
    tg_pg__int(&a, month);
    tg_pg__int(&a, at);
    tg_pg__int(&a, spend);
    int rc = tg_pg__cmd((pg_t *)b,
                        "INSERT INTO spend_alert_firings (alert_id, month, fired_at, spend)"
                        " VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING",
                        &a, &changed);
    return rc < 0 ? rc : changed == 1;
}

static int pg_alert_firings(tg_store_t *b, int64_t month, tg_org_amount_t **rows, size_t *n)
{
    tg_pg_args_t a = {0};
    tg_pg__int(&a, month);
    return tg_pg__collect((pg_t *)b,
                          "SELECT '', alert_id, spend FROM spend_alert_firings WHERE month=$1", &a,
                          sizeof(tg_org_amount_t), tg_pg__fill_amount, (void **)rows, n);
}

/* ---- money ---- */

static int pg_grant_insert(tg_store_t *b, const tg_grant_row_t *r)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, r->id);
    tg_pg__text(&a, r->org_id);
    tg_pg__text(&a, r->kind);
    tg_pg__int(&a, r->amount);
    tg_pg__int(&a, r->consumed);
    tg_pg__int(&a, r->granted_at);
    tg_pg__opt_int(&a, r->expires_at);
    tg_pg__text(&a, r->description);
    tg_pg__opt_text(&a, r->reference);
    return tg_pg__cmd((pg_t *)b,
                      "INSERT INTO credit_grants (id, organization_id, kind, amount, consumed,"
                      " granted_at, expires_at, description, reference)"
                      " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
                      &a, NULL);
}

static void fill_grant(const PGresult *res, int row, void *p)
{
    tg_grant_row_t *r = p;
    tg_pg__col_text(res, row, 0, r->id, sizeof(r->id));
    tg_pg__col_text(res, row, 1, r->org_id, sizeof(r->org_id));
    tg_pg__col_text(res, row, 2, r->kind, sizeof(r->kind));
    r->amount = tg_pg__col_int(res, row, 3);
    r->consumed = tg_pg__col_int(res, row, 4);
    r->granted_at = tg_pg__col_int(res, row, 5);
    r->expires_at = tg_pg__col_int(res, row, 6);
    tg_pg__col_text(res, row, 7, r->description, sizeof(r->description));
    tg_pg__col_text(res, row, 8, r->reference, sizeof(r->reference));
}

/* org_id NULL or "": every organisation's grants. */
static int pg_grant_list(tg_store_t *b, const char *org_id, tg_grant_row_t **rows, size_t *n)
{
    tg_pg_args_t a = {0};
    tg_pg__opt_text(&a, org_id);
    return tg_pg__collect((pg_t *)b,
                          "SELECT id,organization_id,kind,amount,consumed,granted_at,"
                          "expires_at,description,reference FROM credit_grants WHERE"
                          " $1::text IS NULL OR organization_id=$1 ORDER BY granted_at, seq",
                          &a, sizeof(tg_grant_row_t), fill_grant, (void **)rows, n);
}

/* Like SQLite's: 0 even when no grant has that id. */
static int pg_grant_consume(tg_store_t *b, const char *id, int64_t amount)
{
    tg_pg_args_t a = {0};
    tg_pg__int(&a, amount);
    tg_pg__text(&a, id);
    if (tg_pg__cmd((pg_t *)b, "UPDATE credit_grants SET consumed=consumed+$1 WHERE id=$2", &a,
                   NULL) < 0)
        return -1;
    return 0;
}

/* Like SQLite's: 0 even when no organisation has that id. */
static int pg_org_overdraft_add(tg_store_t *b, const char *org_id, int64_t amount)
{
    tg_pg_args_t a = {0};
    tg_pg__int(&a, amount);
    tg_pg__text(&a, org_id);
    return tg_pg__cmd((pg_t *)b, "UPDATE organizations SET overdraft=overdraft+$1 WHERE id=$2", &a,
                      NULL);
}

static int pg_org_overdrafts(tg_store_t *b, tg_org_amount_t **rows, size_t *n)
{
    return tg_pg__collect((pg_t *)b,
                          "SELECT id, id, overdraft FROM organizations WHERE overdraft != 0"
                          " ORDER BY seq",
                          NULL, sizeof(tg_org_amount_t), tg_pg__fill_amount, (void **)rows, n);
}

static int pg_spend_limit_set(tg_store_t *b, const char *scope_id, const char *org_id,
                              int64_t cents, int64_t at)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, scope_id);
    if (cents <= 0)
        return tg_pg__cmd((pg_t *)b, "DELETE FROM spend_limits WHERE scope_id=$1", &a, NULL);
    tg_pg__text(&a, org_id);
    tg_pg__int(&a, cents);
    tg_pg__int(&a, at);
    /* SQLite's INSERT OR REPLACE: the whole row is the new one */
    return tg_pg__cmd((pg_t *)b,
                      "INSERT INTO spend_limits (scope_id, organization_id, threshold_amount,"
                      " created_at) VALUES ($1,$2,$3,$4) ON CONFLICT (scope_id) DO UPDATE SET"
                      " organization_id=EXCLUDED.organization_id,"
                      " threshold_amount=EXCLUDED.threshold_amount,"
                      " created_at=EXCLUDED.created_at",
                      &a, NULL);
}

static int pg_spend_limit_list(tg_store_t *b, tg_org_amount_t **rows, size_t *n)
{
    return tg_pg__collect((pg_t *)b,
                          "SELECT organization_id, scope_id, threshold_amount FROM spend_limits",
                          NULL, sizeof(tg_org_amount_t), tg_pg__fill_amount, (void **)rows, n);
}

const struct tg_store_money tg_pg__money = {
    .alert_insert = pg_alert_insert,
    .alert_delete = pg_alert_delete,
    .alert_list = pg_alert_list,
    .alert_fired = pg_alert_fired,
    .alert_firings = pg_alert_firings,
    .grant_insert = pg_grant_insert,
    .grant_list = pg_grant_list,
    .grant_consume = pg_grant_consume,
    .org_overdraft_add = pg_org_overdraft_add,
    .org_overdrafts = pg_org_overdrafts,
    .spend_limit_set = pg_spend_limit_set,
    .spend_limit_list = pg_spend_limit_list,
};
