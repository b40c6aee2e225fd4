/* SQLite backend of store.h: WAL mode, one connection per thread, versioned migrations. */
#include "store/store.h"

#include "core/log.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    tg_store_t base;
    sqlite3 *db;
    sqlite3_stmt *usage_ins, *key_touch; /* hot statements, prepared once */
    sqlite3_stmt *agg_add, *grant_consume;
} sq_t;

/* Each migration runs once, in order, inside a transaction; its version is recorded in
 * schema_migrations. Never edit a shipped migration: add a new one. */
static const char *migrations[] = {
    /* 1: tenancy, keys, providers, models, usage */
    "CREATE TABLE organizations (id TEXT PRIMARY KEY, name TEXT NOT NULL, tier TEXT NOT NULL,"
    "  is_operator INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);"
    "CREATE TABLE projects (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL REFERENCES"
    "  organizations(id), name TEXT NOT NULL, created_at INTEGER NOT NULL,"
    "  archived_at INTEGER);"
    "CREATE INDEX projects_org ON projects(organization_id, created_at);"
    "CREATE TABLE api_keys (id TEXT PRIMARY KEY, kind INTEGER NOT NULL,"
    "  organization_id TEXT NOT NULL, project_id TEXT, name TEXT NOT NULL,"
    "  key_hash BLOB NOT NULL UNIQUE, redacted TEXT NOT NULL, permissions TEXT NOT NULL,"
    "  allowed_models TEXT, created_at INTEGER NOT NULL, expires_at INTEGER,"
    "  last_used_at INTEGER, revoked_at INTEGER);"
    "CREATE INDEX api_keys_org ON api_keys(organization_id, created_at);"
    "CREATE TABLE providers (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL,"
    "  name TEXT NOT NULL, type TEXT NOT NULL, base_url TEXT NOT NULL, secret BLOB,"
    "  models TEXT NOT NULL, weight INTEGER NOT NULL, priority INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE models (id TEXT PRIMARY KEY, type TEXT NOT NULL, owned_by TEXT NOT NULL,"
    "  created INTEGER NOT NULL, input_price INTEGER NOT NULL, cached_input_price INTEGER,"
    "  output_price INTEGER NOT NULL, context_window INTEGER NOT NULL,"
    "  max_output_tokens INTEGER NOT NULL, tokenizer TEXT NOT NULL);"
    /* keyed by the time-ordered request id alone (WITHOUT ROWID): one B-tree, appended to */
    "CREATE TABLE usage_records (request_id TEXT PRIMARY KEY, created_at INTEGER NOT NULL,"
    "  organization_id TEXT NOT NULL, project_id TEXT NOT NULL, api_key_id TEXT NOT NULL,"
    "  model TEXT NOT NULL, provider_id TEXT NOT NULL, endpoint TEXT NOT NULL,"
    "  input_tokens INTEGER NOT NULL, cached_input_tokens INTEGER NOT NULL,"
    "  output_tokens INTEGER NOT NULL, status INTEGER NOT NULL, latency_ms INTEGER NOT NULL,"
    "  streamed INTEGER NOT NULL, aborted INTEGER NOT NULL, cost_nanousd INTEGER NOT NULL)"
    "  WITHOUT ROWID;"
    "CREATE TABLE users (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL,"
    "  email TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL, role TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL);",
    /* 2: money — credit grants (consumed is updated with each usage batch, in the same
     * transaction), overdraft, monthly hard limits, and per-minute usage aggregates */
    "CREATE TABLE credit_grants (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL,"
    "  kind TEXT NOT NULL, amount INTEGER NOT NULL, consumed INTEGER NOT NULL DEFAULT 0,"
    "  granted_at INTEGER NOT NULL, expires_at INTEGER, description TEXT NOT NULL,"
    "  reference TEXT);"
    "CREATE INDEX credit_grants_org ON credit_grants(organization_id, granted_at);"
    "ALTER TABLE organizations ADD COLUMN overdraft INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE spend_limits (scope_id TEXT PRIMARY KEY, organization_id TEXT NOT NULL,"
    "  threshold_amount INTEGER NOT NULL, created_at INTEGER NOT NULL);"
    "CREATE TABLE usage_agg (organization_id TEXT NOT NULL, minute INTEGER NOT NULL,"
    "  project_id TEXT NOT NULL, api_key_id TEXT NOT NULL, model TEXT NOT NULL,"
    "  endpoint TEXT NOT NULL, requests INTEGER NOT NULL, input_tokens INTEGER NOT NULL,"
    "  cached_input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,"
    "  cost_nanousd INTEGER NOT NULL,"
    "  PRIMARY KEY (organization_id, minute, project_id, api_key_id, model, endpoint))"
    "  WITHOUT ROWID;",
    /* 3: spend alerts (soft limits) and the months each has fired in */
    "CREATE TABLE spend_alerts (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL,"
    "  project_id TEXT, threshold_amount INTEGER NOT NULL, channel TEXT NOT NULL,"
    "  secret BLOB, created_at INTEGER NOT NULL);"
    "CREATE TABLE spend_alert_firings (alert_id TEXT NOT NULL, month INTEGER NOT NULL,"
    "  fired_at INTEGER NOT NULL, spend INTEGER NOT NULL, PRIMARY KEY (alert_id, month));",
    /* 4: payments — saved payment methods (brand, last four, expiry; never a card number),
     * payments (recorded before the provider is asked), one invoice per successful payment
     * numbered per organisation, auto-recharge settings */
    "CREATE TABLE payment_methods (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL,"
    "  provider TEXT NOT NULL, provider_ref TEXT NOT NULL, customer_ref TEXT,"
    "  brand TEXT NOT NULL, last4 TEXT NOT NULL, exp_month INTEGER NOT NULL,"
    "  exp_year INTEGER NOT NULL, payer TEXT NOT NULL, is_default INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL, deleted_at INTEGER);"
    "CREATE INDEX payment_methods_org ON payment_methods(organization_id, created_at);"
    "CREATE TABLE payments (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL,"
    "  payment_method_id TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,"
    "  amount INTEGER NOT NULL, currency TEXT NOT NULL, provider TEXT NOT NULL,"
    "  provider_ref TEXT, failure_code TEXT, failure_message TEXT, brand TEXT NOT NULL,"
    "  last4 TEXT NOT NULL, payer TEXT NOT NULL, grant_id TEXT, invoice_id TEXT,"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE INDEX payments_org ON payments(organization_id, created_at);"
    "CREATE TABLE invoices (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL,"
    "  seq INTEGER NOT NULL, number TEXT NOT NULL, payment_id TEXT NOT NULL UNIQUE,"
    "  amount INTEGER NOT NULL, currency TEXT NOT NULL, description TEXT NOT NULL,"
    "  payer TEXT NOT NULL, seller TEXT NOT NULL, brand TEXT NOT NULL, last4 TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL, UNIQUE (organization_id, seq));"
    "CREATE TABLE auto_recharge (organization_id TEXT PRIMARY KEY, enabled INTEGER NOT NULL,"
    "  threshold_amount INTEGER NOT NULL, recharge_to_amount INTEGER NOT NULL,"
    "  monthly_limit INTEGER, paused_at INTEGER, paused_reason TEXT,"
    "  updated_at INTEGER NOT NULL);",
    /* 5: projects' own rate limits per model */
    "CREATE TABLE project_rate_limits (project_id TEXT NOT NULL, model TEXT NOT NULL,"
    "  rpm INTEGER NOT NULL, rpd INTEGER NOT NULL, tpm INTEGER NOT NULL, tpd INTEGER NOT NULL,"
    "  PRIMARY KEY (project_id, model));",
    /* 6: console sessions and invitations (tokens stored as hashes) */
    "CREATE TABLE sessions (token_hash TEXT PRIMARY KEY,"
    "  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);"
    "CREATE INDEX sessions_user ON sessions(user_id);"
    "CREATE TABLE invites (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL,"
    "  email TEXT NOT NULL, role TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE,"
    "  invited_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, accepted_at INTEGER);",
    /* 7: sound reservations — a model's image costs (0: unknown); what an upstream reported
     * above a request's reservation and was not charged */
    "ALTER TABLE models ADD COLUMN image_base_tokens INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE models ADD COLUMN image_tile_tokens INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE models ADD COLUMN image_max_tokens INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE usage_records ADD COLUMN unbilled_nanousd INTEGER NOT NULL DEFAULT 0;",
};

static int exec(sq_t *s, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        tg_error("sqlite: %s", err ? err : "error");
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

static sqlite3_stmt *prep(sq_t *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        tg_error("sqlite prepare: %s", sqlite3_errmsg(s->db));
        return NULL;
    }
    return st;
}

/* Runs a prepared write to completion and finalizes it. */
static int run(sq_t *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc == SQLITE_CONSTRAINT)
        return TG_STORE_CONFLICT;
    tg_error("sqlite: %s", sqlite3_errmsg(s->db));
    return -1;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

static void bind_opt_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v && *v)
        bind_text(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static void bind_opt_int(sqlite3_stmt *st, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static void col_text(sqlite3_stmt *st, int i, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    size_t n = t ? (size_t)sqlite3_column_bytes(st, i) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(out, t, n);
    out[n] = '\0';
}

/* Collects rows of a SELECT into a growing array using `fill`. */
static int collect(sq_t *s, sqlite3_stmt *st, size_t elem, void (*fill)(sqlite3_stmt *, void *),
                   void **rows, size_t *n)
{
    size_t cap = 0, cnt = 0;
    char *arr = NULL;
    int rc;

    if (!st)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            char *na = realloc(arr, cap * elem);
            if (!na) {
                free(arr);
                sqlite3_finalize(st);
                return -1;
            }
            arr = na;
        }
        memset(arr + cnt * elem, 0, elem);
        fill(st, arr + cnt * elem);
        cnt++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        tg_error("sqlite: %s", sqlite3_errmsg(s->db));
        free(arr);
        return -1;
    }
    *rows = arr;
    *n = cnt;
    return 0;
}

/* Runs a `DELETE … WHERE id=?`; TG_STORE_NOTFOUND when no row had that id. */
static int delete_by_id(sq_t *s, const char *sql, const char *id)
{
    sqlite3_stmt *st = prep(s, sql);
    if (!st)
        return -1;
    bind_text(st, 1, id);
    int rc = run(s, st);
    if (rc == 0 && sqlite3_changes(s->db) == 0)
        return TG_STORE_NOTFOUND;
    return rc;
}

/* ---- lifecycle ---- */

static void sq_close(tg_store_t *base)
{
    sq_t *s = (sq_t *)base;
    sqlite3_finalize(s->usage_ins);
    sqlite3_finalize(s->agg_add);
    sqlite3_finalize(s->grant_consume);
    sqlite3_finalize(s->key_touch);
    sqlite3_close(s->db);
    free(s);
}

static int sq_migrate(tg_store_t *base)
{
    sq_t *s = (sq_t *)base;
    size_t total = sizeof(migrations) / sizeof(migrations[0]);
    int64_t have = 0;

    if (exec(s, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                " applied_at INTEGER NOT NULL)") < 0)
        return -1;
    if (exec(s, "BEGIN IMMEDIATE") < 0)
        return -1;
    sqlite3_stmt *st = prep(s, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    if (st && sqlite3_step(st) == SQLITE_ROW)
        have = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    for (size_t v = (size_t)have; v < total; v++) {
        char rec[128];
        if (exec(s, migrations[v]) < 0) {
            exec(s, "ROLLBACK");
            return -1;
        }
        snprintf(rec, sizeof(rec),
                 "INSERT INTO schema_migrations VALUES (%zu, strftime('%%s','now'))", v + 1);
        if (exec(s, rec) < 0) {
            exec(s, "ROLLBACK");
            return -1;
        }
    }
    return exec(s, "COMMIT");
}

static int sq_begin(tg_store_t *b) { return exec((sq_t *)b, "BEGIN IMMEDIATE"); }
static int sq_commit(tg_store_t *b) { return exec((sq_t *)b, "COMMIT"); }
static int sq_rollback(tg_store_t *b) { return exec((sq_t *)b, "ROLLBACK"); }

/* ---- organisations ---- */

static int sq_org_insert(tg_store_t *b, const tg_org_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "INSERT INTO organizations (id,name,tier,is_operator,created_at) VALUES (?,?,?,?,?)");
    if (!st)
        return -1;
    bind_text(st, 1, r->id);
    bind_text(st, 2, r->name);
    bind_text(st, 3, r->tier);
    sqlite3_bind_int(st, 4, r->is_operator);
    sqlite3_bind_int64(st, 5, r->created_at);
    return run(s, st);
}

static void fill_org(sqlite3_stmt *st, void *p)
{
    tg_org_row_t *r = p;
    col_text(st, 0, r->id, sizeof(r->id));
    col_text(st, 1, r->name, sizeof(r->name));
    col_text(st, 2, r->tier, sizeof(r->tier));
    r->is_operator = sqlite3_column_int(st, 3);
    r->created_at = sqlite3_column_int64(st, 4);
}

static int sq_org_list(tg_store_t *b, tg_org_row_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    return collect(s, prep(s, "SELECT id,name,tier,is_operator,created_at FROM organizations"
                              " ORDER BY created_at, id"),
                   sizeof(tg_org_row_t), fill_org, (void **)rows, n);
}

/* ---- projects ---- */

static int sq_project_upsert(tg_store_t *b, const tg_project_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "INSERT INTO projects VALUES (?,?,?,?,?) ON CONFLICT(id) DO UPDATE"
                               " SET name=excluded.name, archived_at=excluded.archived_at");
    if (!st)
        return -1;
    bind_text(st, 1, r->id);
    bind_text(st, 2, r->org_id);
    bind_text(st, 3, r->name);
    sqlite3_bind_int64(st, 4, r->created_at);
    bind_opt_int(st, 5, r->archived_at);
    return run(s, st);
}

static void fill_project(sqlite3_stmt *st, void *p)
{
    tg_project_row_t *r = p;
    col_text(st, 0, r->id, sizeof(r->id));
    col_text(st, 1, r->org_id, sizeof(r->org_id));
    col_text(st, 2, r->name, sizeof(r->name));
    r->created_at = sqlite3_column_int64(st, 3);
    r->archived_at = sqlite3_column_int64(st, 4);
}

static int sq_project_list(tg_store_t *b, const char *org_id, tg_project_row_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "SELECT id,organization_id,name,created_at,archived_at FROM"
                               " projects WHERE ?1 IS NULL OR organization_id=?1"
                               " ORDER BY created_at, rowid");
    if (st)
        bind_opt_text(st, 1, org_id);
    return collect(s, st, sizeof(tg_project_row_t), fill_project, (void **)rows, n);
}

/* ---- keys ---- */

static int sq_key_insert(tg_store_t *b, const tg_key_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "INSERT INTO api_keys VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!st)
        return -1;
    bind_text(st, 1, r->id);
    sqlite3_bind_int(st, 2, r->kind);
    bind_text(st, 3, r->org_id);
    bind_opt_text(st, 4, r->project_id);
    bind_text(st, 5, r->name);
    sqlite3_bind_blob(st, 6, r->hash, sizeof(r->hash), SQLITE_TRANSIENT);
    bind_text(st, 7, r->redacted);
    bind_text(st, 8, r->permissions);
    bind_opt_text(st, 9, r->allowed_models);
    sqlite3_bind_int64(st, 10, r->created_at);
    bind_opt_int(st, 11, r->expires_at);
    bind_opt_int(st, 12, r->last_used_at);
    bind_opt_int(st, 13, r->revoked_at);
    return run(s, st);
}

static int sq_key_revoke(tg_store_t *b, const char *id, int64_t at)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st =
        prep(s, "UPDATE api_keys SET revoked_at=? WHERE id=? AND revoked_at IS NULL");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, at);
    bind_text(st, 2, id);
    int rc = run(s, st);
    if (rc == 0 && sqlite3_changes(s->db) == 0)
        return TG_STORE_NOTFOUND;
    return rc;
}

static void fill_key(sqlite3_stmt *st, void *p)
{
    tg_key_row_t *r = p;
    col_text(st, 0, r->id, sizeof(r->id));
    r->kind = sqlite3_column_int(st, 1);
    col_text(st, 2, r->org_id, sizeof(r->org_id));
    col_text(st, 3, r->project_id, sizeof(r->project_id));
    col_text(st, 4, r->name, sizeof(r->name));
    if (sqlite3_column_bytes(st, 5) == (int)sizeof(r->hash))
        memcpy(r->hash, sqlite3_column_blob(st, 5), sizeof(r->hash));
    col_text(st, 6, r->redacted, sizeof(r->redacted));
    col_text(st, 7, r->permissions, sizeof(r->permissions));
    col_text(st, 8, r->allowed_models, sizeof(r->allowed_models));
    r->created_at = sqlite3_column_int64(st, 9);
    r->expires_at = sqlite3_column_int64(st, 10);
    r->last_used_at = sqlite3_column_int64(st, 11);
    r->revoked_at = sqlite3_column_int64(st, 12);
}

static int sq_key_list(tg_store_t *b, const char *org_id, tg_key_row_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "SELECT id,kind,organization_id,project_id,name,key_hash,redacted,"
                               "permissions,allowed_models,created_at,expires_at,last_used_at,"
                               "revoked_at FROM api_keys WHERE revoked_at IS NULL AND"
                               " (?1 IS NULL OR organization_id=?1) ORDER BY created_at, rowid");
    if (st)
        bind_opt_text(st, 1, org_id);
    return collect(s, st, sizeof(tg_key_row_t), fill_key, (void **)rows, n);
}

static int sq_key_touch(tg_store_t *b, const char *id, int64_t at)
{
    sq_t *s = (sq_t *)b;
    if (!s->key_touch &&
        !(s->key_touch = prep(s, "UPDATE api_keys SET last_used_at=?1 WHERE id=?2 AND"
                                 " (last_used_at IS NULL OR last_used_at < ?1)")))
        return -1;
    sqlite3_stmt *st = s->key_touch;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, at);
    bind_text(st, 2, id);
    if (sqlite3_step(st) != SQLITE_DONE) {
        tg_error("sqlite: %s", sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}

/* ---- providers ---- */

static int sq_provider_upsert(tg_store_t *b, const tg_provider_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "INSERT OR REPLACE INTO providers VALUES (?,?,?,?,?,?,?,?,?,?)");
    if (!st)
        return -1;
    bind_text(st, 1, r->id);
    bind_text(st, 2, r->org_id);
    bind_text(st, 3, r->name);
    bind_text(st, 4, r->type);
    bind_text(st, 5, r->base_url);
    if (r->secret_len)
        sqlite3_bind_blob(st, 6, r->secret, (int)r->secret_len, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 6);
    bind_text(st, 7, r->models);
    sqlite3_bind_int(st, 8, r->weight);
    sqlite3_bind_int(st, 9, r->priority);
    sqlite3_bind_int64(st, 10, r->created_at);
    return run(s, st);
}

static int sq_provider_delete(tg_store_t *b, const char *id)
{
    return delete_by_id((sq_t *)b, "DELETE FROM providers WHERE id=?", id);
}

static void fill_provider(sqlite3_stmt *st, void *p)
{
    tg_provider_row_t *r = p;
    col_text(st, 0, r->id, sizeof(r->id));
    col_text(st, 1, r->org_id, sizeof(r->org_id));
    col_text(st, 2, r->name, sizeof(r->name));
    col_text(st, 3, r->type, sizeof(r->type));
    col_text(st, 4, r->base_url, sizeof(r->base_url));
    int n = sqlite3_column_bytes(st, 5);
    if (n > 0 && (size_t)n <= sizeof(r->secret)) {
        memcpy(r->secret, sqlite3_column_blob(st, 5), (size_t)n);
        r->secret_len = (size_t)n;
    }
    col_text(st, 6, r->models, sizeof(r->models));
    r->weight = sqlite3_column_int(st, 7);
    r->priority = sqlite3_column_int(st, 8);
    r->created_at = sqlite3_column_int64(st, 9);
}

static int sq_provider_list(tg_store_t *b, tg_provider_row_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    return collect(s, prep(s, "SELECT id,organization_id,name,type,base_url,secret,models,weight,"
                              "priority,created_at FROM providers ORDER BY priority, created_at,"
                              " rowid"),
                   sizeof(tg_provider_row_t), fill_provider, (void **)rows, n);
}

/* ---- models ---- */

static int sq_model_upsert(tg_store_t *b, const tg_model_row_t *r, int only_new)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, only_new ? "INSERT OR IGNORE INTO models VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
                                        : "INSERT OR REPLACE INTO models VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!st)
        return -1;
    bind_text(st, 1, r->id);
    bind_text(st, 2, r->type);
    bind_text(st, 3, r->owned_by);
    sqlite3_bind_int64(st, 4, r->created);
    sqlite3_bind_int64(st, 5, r->input_price);
    if (r->cached_input_price >= 0)
        sqlite3_bind_int64(st, 6, r->cached_input_price);
    else
        sqlite3_bind_null(st, 6);
    sqlite3_bind_int64(st, 7, r->output_price);
    sqlite3_bind_int64(st, 8, r->context_window);
    sqlite3_bind_int64(st, 9, r->max_output_tokens);
    bind_text(st, 10, r->tokenizer);
    sqlite3_bind_int64(st, 11, r->image_base_tokens);
    sqlite3_bind_int64(st, 12, r->image_tile_tokens);
    sqlite3_bind_int64(st, 13, r->image_max_tokens);
    return run(s, st);
}

static void fill_model(sqlite3_stmt *st, void *p)
{
    tg_model_row_t *r = p;
    col_text(st, 0, r->id, sizeof(r->id));
    col_text(st, 1, r->type, sizeof(r->type));
    col_text(st, 2, r->owned_by, sizeof(r->owned_by));
    r->created = sqlite3_column_int64(st, 3);
    r->input_price = sqlite3_column_int64(st, 4);
    r->cached_input_price =
        sqlite3_column_type(st, 5) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 5);
    r->output_price = sqlite3_column_int64(st, 6);
    r->context_window = sqlite3_column_int64(st, 7);
    r->max_output_tokens = sqlite3_column_int64(st, 8);
    col_text(st, 9, r->tokenizer, sizeof(r->tokenizer));
    r->image_base_tokens = sqlite3_column_int64(st, 10);
    r->image_tile_tokens = sqlite3_column_int64(st, 11);
    r->image_max_tokens = sqlite3_column_int64(st, 12);
}

static int sq_model_list(tg_store_t *b, tg_model_row_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    return collect(s, prep(s, "SELECT id,type,owned_by,created,input_price,cached_input_price,"
                              "output_price,context_window,max_output_tokens,tokenizer,"
                              "image_base_tokens,image_tile_tokens,image_max_tokens FROM models"
                              " ORDER BY id"),
                   sizeof(tg_model_row_t), fill_model, (void **)rows, n);
}

/* ---- usage ---- */

static int sq_usage_insert(tg_store_t *b, const tg_usage_row_t *rows, size_t n,
                           unsigned char *inserted)
{
    sq_t *s = (sq_t *)b;
    if (!s->usage_ins && !(s->usage_ins = prep(s, "INSERT OR IGNORE INTO usage_records VALUES"
                                                  " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")))
        return -1;
    sqlite3_stmt *st = s->usage_ins;
    for (size_t i = 0; i < n; i++) {
        const tg_usage_row_t *r = &rows[i];
        sqlite3_reset(st);
        bind_text(st, 1, r->request_id);
        sqlite3_bind_int64(st, 2, r->created_at);
        bind_text(st, 3, r->org_id);
        bind_text(st, 4, r->project_id);
        bind_text(st, 5, r->api_key_id);
        bind_text(st, 6, r->model);
        bind_text(st, 7, r->provider_id);
        bind_text(st, 8, r->endpoint);
        sqlite3_bind_int64(st, 9, r->input_tokens);
        sqlite3_bind_int64(st, 10, r->cached_input_tokens);
        sqlite3_bind_int64(st, 11, r->output_tokens);
        sqlite3_bind_int(st, 12, r->status);
        sqlite3_bind_int64(st, 13, r->latency_ms);
        sqlite3_bind_int(st, 14, r->streamed);
        sqlite3_bind_int(st, 15, r->aborted);
        sqlite3_bind_int64(st, 16, r->cost_nanousd);
        sqlite3_bind_int64(st, 17, r->unbilled_nanousd);
        if (sqlite3_step(st) != SQLITE_DONE) {
            tg_error("sqlite usage insert: %s", sqlite3_errmsg(s->db));
            sqlite3_reset(st);
            return -1;
        }
        if (inserted)
            inserted[i] = sqlite3_changes(s->db) == 1;
    }
    sqlite3_reset(st);
    return 0;
}

static int sq_usage_count(tg_store_t *b, int64_t *n)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "SELECT COUNT(*) FROM usage_records");
    if (!st)
        return -1;
    *n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return 0;
}

/* ---- spend alerts ---- */

static void fill_amount(sqlite3_stmt *st, void *p);

static int sq_alert_insert(tg_store_t *b, const tg_alert_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "INSERT INTO spend_alerts VALUES (?,?,?,?,?,?,?)");
    if (!st)
        return -1;
    bind_text(st, 1, r->id);
    bind_text(st, 2, r->org_id);
    bind_opt_text(st, 3, r->project_id);
    sqlite3_bind_int64(st, 4, r->threshold_cents);
    bind_text(st, 5, r->channel);
    if (r->secret_len)
        sqlite3_bind_blob(st, 6, r->secret, (int)r->secret_len, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 6);
    sqlite3_bind_int64(st, 7, r->created_at);
    return run(s, st);
}

static int sq_alert_delete(tg_store_t *b, const char *id)
{
    return delete_by_id((sq_t *)b, "DELETE FROM spend_alerts WHERE id=?", id);
}

static void fill_alert(sqlite3_stmt *st, void *p)
{
    tg_alert_row_t *r = p;
    col_text(st, 0, r->id, sizeof(r->id));
    col_text(st, 1, r->org_id, sizeof(r->org_id));
    col_text(st, 2, r->project_id, sizeof(r->project_id));
    r->threshold_cents = sqlite3_column_int64(st, 3);
    col_text(st, 4, r->channel, sizeof(r->channel));
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
    return collect(s, prep(s, "SELECT id,organization_id,project_id,threshold_amount,channel,"
                              "secret,created_at FROM spend_alerts ORDER BY created_at, rowid"),
                   sizeof(tg_alert_row_t), fill_alert, (void **)rows, n);
}

static int sq_alert_fired(tg_store_t *b, const char *alert_id, int64_t month, int64_t at,
                          int64_t spend)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "INSERT OR IGNORE INTO spend_alert_firings VALUES (?,?,?,?)");
    if (!st)
        return -1;
    bind_text(st, 1, alert_id);
    sqlite3_bind_int64(st, 2, month);
    sqlite3_bind_int64(st, 3, at);
    sqlite3_bind_int64(st, 4, spend);
    int rc = run(s, st);
    return rc < 0 ? rc : sqlite3_changes(s->db) == 1;
}

static int sq_alert_firings(tg_store_t *b, int64_t month, tg_org_amount_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "SELECT '', alert_id, spend FROM spend_alert_firings WHERE"
                               " month=?");
    if (st)
        sqlite3_bind_int64(st, 1, month);
    return collect(s, st, sizeof(tg_org_amount_t), fill_amount, (void **)rows, n);
}

/* ---- usage tiers ---- */

static int sq_org_payments(tg_store_t *b, const char *org_id, int64_t *paid, int64_t *first)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "SELECT COALESCE(SUM(amount), 0), COALESCE(MIN(created_at), 0)"
                               " FROM payments WHERE organization_id=? AND status='succeeded'");
    if (!st)
        return -1;
    bind_text(st, 1, org_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *paid = sqlite3_column_int64(st, 0);
        *first = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

static int sq_org_set_tier(tg_store_t *b, const char *org_id, const char *tier)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "UPDATE organizations SET tier=? WHERE id=?");
    if (!st)
        return -1;
    bind_text(st, 1, tier);
    bind_text(st, 2, org_id);
    return run(s, st);
}

/* ---- projects' rate limits ---- */

static int sq_rate_limit_set(tg_store_t *b, const tg_rate_limit_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "INSERT OR REPLACE INTO project_rate_limits VALUES (?,?,?,?,?,?)");
    if (!st)
        return -1;
    bind_text(st, 1, r->project_id);
    bind_text(st, 2, r->model);
    for (int k = 0; k < 4; k++)
        sqlite3_bind_int64(st, 3 + k, r->v[k]);
    return run(s, st);
}

static void fill_rate_limit(sqlite3_stmt *st, void *p)
{
    tg_rate_limit_row_t *r = p;
    col_text(st, 0, r->project_id, sizeof(r->project_id));
    col_text(st, 1, r->model, sizeof(r->model));
    for (int k = 0; k < 4; k++)
        r->v[k] = sqlite3_column_int64(st, 2 + k);
}

static int sq_rate_limit_list(tg_store_t *b, tg_rate_limit_row_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    return collect(s, prep(s, "SELECT project_id, model, rpm, rpd, tpm, tpd FROM"
                              " project_rate_limits"),
                   sizeof(tg_rate_limit_row_t), fill_rate_limit, (void **)rows, n);
}

/* ---- money ---- */

static int sq_grant_insert(tg_store_t *b, const tg_grant_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "INSERT INTO credit_grants VALUES (?,?,?,?,?,?,?,?,?)");
    if (!st)
        return -1;
    bind_text(st, 1, r->id);
    bind_text(st, 2, r->org_id);
    bind_text(st, 3, r->kind);
    sqlite3_bind_int64(st, 4, r->amount);
    sqlite3_bind_int64(st, 5, r->consumed);
    sqlite3_bind_int64(st, 6, r->granted_at);
    bind_opt_int(st, 7, r->expires_at);
    bind_text(st, 8, r->description);
    bind_opt_text(st, 9, r->reference);
    return run(s, st);
}

static void fill_grant(sqlite3_stmt *st, void *p)
{
    tg_grant_row_t *r = p;
    col_text(st, 0, r->id, sizeof(r->id));
    col_text(st, 1, r->org_id, sizeof(r->org_id));
    col_text(st, 2, r->kind, sizeof(r->kind));
    r->amount = sqlite3_column_int64(st, 3);
    r->consumed = sqlite3_column_int64(st, 4);
    r->granted_at = sqlite3_column_int64(st, 5);
    r->expires_at = sqlite3_column_int64(st, 6);
    col_text(st, 7, r->description, sizeof(r->description));
    col_text(st, 8, r->reference, sizeof(r->reference));
}

static int sq_grant_list(tg_store_t *b, const char *org_id, tg_grant_row_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "SELECT id,organization_id,kind,amount,consumed,granted_at,"
                               "expires_at,description,reference FROM credit_grants WHERE"
                               " ?1 IS NULL OR organization_id=?1 ORDER BY granted_at, rowid");
    if (st)
        bind_opt_text(st, 1, org_id);
    return collect(s, st, sizeof(tg_grant_row_t), fill_grant, (void **)rows, n);
}

static int sq_grant_consume(tg_store_t *b, const char *id, int64_t amount)
{
    sq_t *s = (sq_t *)b;
    if (!s->grant_consume &&
        !(s->grant_consume = prep(s, "UPDATE credit_grants SET consumed=consumed+? WHERE id=?")))
        return -1;
    sqlite3_stmt *st = s->grant_consume;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, amount);
    bind_text(st, 2, id);
    if (sqlite3_step(st) != SQLITE_DONE) {
        tg_error("sqlite: %s", sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}

static int sq_org_overdraft_add(tg_store_t *b, const char *org_id, int64_t amount)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "UPDATE organizations SET overdraft=overdraft+? WHERE id=?");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, amount);
    bind_text(st, 2, org_id);
    return run(s, st);
}

static int sq_org_overdrafts(tg_store_t *b, tg_org_amount_t **rows, size_t *n);

static void fill_amount(sqlite3_stmt *st, void *p)
{
    tg_org_amount_t *r = p;
    col_text(st, 0, r->org_id, sizeof(r->org_id));
    col_text(st, 1, r->scope_id, sizeof(r->scope_id));
    r->amount = sqlite3_column_int64(st, 2);
}

static int sq_org_overdrafts(tg_store_t *b, tg_org_amount_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    return collect(s, prep(s, "SELECT id, id, overdraft FROM organizations WHERE overdraft != 0"),
                   sizeof(tg_org_amount_t), fill_amount, (void **)rows, n);
}

static int sq_spend_limit_set(tg_store_t *b, const char *scope_id, const char *org_id,
                              int64_t cents, int64_t at)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = cents > 0 ? prep(s, "INSERT OR REPLACE INTO spend_limits VALUES (?,?,?,?)")
                                 : prep(s, "DELETE FROM spend_limits WHERE scope_id=?");
    if (!st)
        return -1;
    bind_text(st, 1, scope_id);
    if (cents > 0) {
        bind_text(st, 2, org_id);
        sqlite3_bind_int64(st, 3, cents);
        sqlite3_bind_int64(st, 4, at);
    }
    return run(s, st);
}

static int sq_spend_limit_list(tg_store_t *b, tg_org_amount_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    return collect(s, prep(s, "SELECT organization_id, scope_id, threshold_amount FROM"
                              " spend_limits"),
                   sizeof(tg_org_amount_t), fill_amount, (void **)rows, n);
}

static int sq_usage_agg_add(tg_store_t *b, const tg_usage_agg_t *rows, size_t n)
{
    sq_t *s = (sq_t *)b;
    if (!s->agg_add &&
        !(s->agg_add = prep(s, "INSERT INTO usage_agg VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT"
                               " DO UPDATE SET requests=requests+excluded.requests,"
                               " input_tokens=input_tokens+excluded.input_tokens,"
                               " cached_input_tokens=cached_input_tokens+"
                               "excluded.cached_input_tokens,"
                               " output_tokens=output_tokens+excluded.output_tokens,"
                               " cost_nanousd=cost_nanousd+excluded.cost_nanousd")))
        return -1;
    sqlite3_stmt *st = s->agg_add;
    for (size_t i = 0; i < n; i++) {
        const tg_usage_agg_t *r = &rows[i];
        sqlite3_reset(st);
        bind_text(st, 1, r->org_id);
        sqlite3_bind_int64(st, 2, r->minute);
        bind_text(st, 3, r->project_id);
        bind_text(st, 4, r->api_key_id);
        bind_text(st, 5, r->model);
        bind_text(st, 6, r->endpoint);
        sqlite3_bind_int64(st, 7, r->requests);
        sqlite3_bind_int64(st, 8, r->input_tokens);
        sqlite3_bind_int64(st, 9, r->cached_input_tokens);
        sqlite3_bind_int64(st, 10, r->output_tokens);
        sqlite3_bind_int64(st, 11, r->cost_nanousd);
        if (sqlite3_step(st) != SQLITE_DONE) {
            tg_error("sqlite usage_agg: %s", sqlite3_errmsg(s->db));
            sqlite3_reset(st);
            return -1;
        }
    }
    sqlite3_reset(st);
    return 0;
}

static int sq_month_spend(tg_store_t *b, int64_t since, tg_org_amount_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "SELECT organization_id, project_id, SUM(cost_nanousd) FROM"
                               " usage_agg WHERE minute >= ? GROUP BY organization_id,"
                               " project_id");
    if (st)
        sqlite3_bind_int64(st, 1, since);
    return collect(s, st, sizeof(tg_org_amount_t), fill_amount, (void **)rows, n);
}

/* ---- usage and costs queries ---- */

/* Appends to a SQL text being built; the caller sized buf for the worst case. */
static void sql_cat(char *buf, size_t cap, size_t *len, const char *text)
{
    size_t k = strlen(text);
    if (*len + k < cap)
        memcpy(buf + *len, text, k + 1);
    *len += k;
}

/* " AND col IN (?N,?N+1,…)" for a filter array; advances *param. */
static void sql_in(char *buf, size_t cap, size_t *len, const char *col, size_t n, int *param)
{
    char p[24];
    if (!n)
        return;
    sql_cat(buf, cap, len, " AND ");
    sql_cat(buf, cap, len, col);
    sql_cat(buf, cap, len, " IN (");
    for (size_t i = 0; i < n; i++) {
        snprintf(p, sizeof(p), "%s?%d", i ? "," : "", (*param)++);
        sql_cat(buf, cap, len, p);
    }
    sql_cat(buf, cap, len, ")");
}

static void bind_list(sqlite3_stmt *st, const char *const *v, size_t n, int *param)
{
    for (size_t i = 0; i < n; i++)
        bind_text(st, (*param)++, v[i] ? v[i] : "");
}

static void fill_bucket(sqlite3_stmt *st, void *p)
{
    tg_usage_bucket_row_t *r = p;
    r->bucket_start = sqlite3_column_int64(st, 0);
    col_text(st, 1, r->project_id, sizeof(r->project_id));
    col_text(st, 2, r->api_key_id, sizeof(r->api_key_id));
    col_text(st, 3, r->model, sizeof(r->model));
    r->requests = sqlite3_column_int64(st, 4);
    r->input_tokens = sqlite3_column_int64(st, 5);
    r->cached_input_tokens = sqlite3_column_int64(st, 6);
    r->output_tokens = sqlite3_column_int64(st, 7);
    r->cost_nanousd = sqlite3_column_int64(st, 8);
}

/* A range scan of the primary key (organization_id, minute, …), summed per bucket and
 * group. ?1 start, ?2 width, ?3 organisation, ?4 end, then the filter values. */
static int sq_usage_query(tg_store_t *b, const tg_usage_query_t *q, tg_usage_bucket_row_t **rows,
                          size_t *n)
{
    sq_t *s = (sq_t *)b;
    *rows = NULL;
    *n = 0;
    if (!q->org_id || q->width <= 0)
        return -1;
    if (q->end <= q->start)
        return 0;
    size_t nvals = q->n_endpoints + q->n_project_ids + q->n_api_key_ids + q->n_models;
    if (nvals > 30000) /* SQLite allows at most 32766 bound parameters */
        return -1;
    size_t cap = 1024 + nvals * 8, len = 0;
    char *sql = malloc(cap);
    if (!sql)
        return -1;
    unsigned g = q->group_by;
    sql_cat(sql, cap, &len, "SELECT ?1 + ((minute - ?1) / ?2) * ?2 AS b, ");
    sql_cat(sql, cap, &len, g & TG_USAGE_BY_PROJECT ? "project_id, " : "'', ");
    sql_cat(sql, cap, &len, g & TG_USAGE_BY_KEY ? "api_key_id, " : "'', ");
    sql_cat(sql, cap, &len, g & TG_USAGE_BY_MODEL ? "model, " : "'', ");
    sql_cat(sql, cap, &len,
            "SUM(requests), SUM(input_tokens), SUM(cached_input_tokens), SUM(output_tokens),"
            " SUM(cost_nanousd) FROM usage_agg"
            " WHERE organization_id = ?3 AND minute >= ?1 AND minute < ?4");
    int param = 5;
    sql_in(sql, cap, &len, "endpoint", q->n_endpoints, &param);
    sql_in(sql, cap, &len, "project_id", q->n_project_ids, &param);
    sql_in(sql, cap, &len, "api_key_id", q->n_api_key_ids, &param);
    sql_in(sql, cap, &len, "model", q->n_models, &param);
    sql_cat(sql, cap, &len, " GROUP BY b");
    if (g & TG_USAGE_BY_PROJECT)
        sql_cat(sql, cap, &len, ", project_id");
    if (g & TG_USAGE_BY_KEY)
        sql_cat(sql, cap, &len, ", api_key_id");
    if (g & TG_USAGE_BY_MODEL)
        sql_cat(sql, cap, &len, ", model");
    sql_cat(sql, cap, &len, " ORDER BY 1, 2, 3, 4");
    if (len >= cap) {
        free(sql);
        return -1;
    }
    sqlite3_stmt *st = prep(s, sql);
    free(sql);
    if (st) {
        sqlite3_bind_int64(st, 1, q->start);
        sqlite3_bind_int64(st, 2, q->width);
        bind_text(st, 3, q->org_id);
        sqlite3_bind_int64(st, 4, q->end);
        param = 5;
        bind_list(st, q->endpoints, q->n_endpoints, &param);
        bind_list(st, q->project_ids, q->n_project_ids, &param);
        bind_list(st, q->api_key_ids, q->n_api_key_ids, &param);
        bind_list(st, q->models, q->n_models, &param);
    }
    return collect(s, st, sizeof(tg_usage_bucket_row_t), fill_bucket, (void **)rows, n);
}

/* ---- payments ---- */

static int sq_pay_method_insert(tg_store_t *b, const tg_pay_method_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "INSERT INTO payment_methods (id,organization_id,provider,"
                               "provider_ref,customer_ref,brand,last4,exp_month,exp_year,payer,"
                               "is_default,created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!st)
        return -1;
    bind_text(st, 1, r->id);
    bind_text(st, 2, r->org_id);
    bind_text(st, 3, r->provider);
    bind_text(st, 4, r->provider_ref);
    bind_opt_text(st, 5, r->customer_ref);
    bind_text(st, 6, r->brand);
    bind_text(st, 7, r->last4);
    sqlite3_bind_int(st, 8, r->exp_month);
    sqlite3_bind_int(st, 9, r->exp_year);
    bind_text(st, 10, r->payer);
    sqlite3_bind_int(st, 11, r->is_default ? 1 : 0);
    sqlite3_bind_int64(st, 12, r->created_at);
    return run(s, st);
}

static void fill_pay_method(sqlite3_stmt *st, void *p)
{
    tg_pay_method_row_t *r = p;
    col_text(st, 0, r->id, sizeof(r->id));
    col_text(st, 1, r->org_id, sizeof(r->org_id));
    col_text(st, 2, r->provider, sizeof(r->provider));
    col_text(st, 3, r->provider_ref, sizeof(r->provider_ref));
    col_text(st, 4, r->customer_ref, sizeof(r->customer_ref));
    col_text(st, 5, r->brand, sizeof(r->brand));
    col_text(st, 6, r->last4, sizeof(r->last4));
    r->exp_month = sqlite3_column_int(st, 7);
    r->exp_year = sqlite3_column_int(st, 8);
    col_text(st, 9, r->payer, sizeof(r->payer));
    r->is_default = sqlite3_column_int(st, 10);
    r->created_at = sqlite3_column_int64(st, 11);
    r->deleted_at = sqlite3_column_int64(st, 12);
}

static int sq_pay_method_list(tg_store_t *b, const char *org_id, tg_pay_method_row_t **rows,
                              size_t *n)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "SELECT id,organization_id,provider,provider_ref,customer_ref,"
                               "brand,last4,exp_month,exp_year,payer,is_default,created_at,"
                               "deleted_at FROM payment_methods WHERE organization_id=? AND"
                               " deleted_at IS NULL ORDER BY created_at, rowid");
    if (st)
        bind_text(st, 1, org_id);
    return collect(s, st, sizeof(tg_pay_method_row_t), fill_pay_method, (void **)rows, n);
}

static int sq_pay_method_set_default(tg_store_t *b, const char *org_id, const char *id)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "UPDATE payment_methods SET is_default=(id=?2) WHERE"
                               " organization_id=?1 AND deleted_at IS NULL AND EXISTS (SELECT 1"
                               " FROM payment_methods WHERE id=?2 AND organization_id=?1 AND"
                               " deleted_at IS NULL)");
    if (!st)
        return -1;
    bind_text(st, 1, org_id);
    bind_text(st, 2, id);
    int rc = run(s, st);
    if (rc == 0 && sqlite3_changes(s->db) == 0)
        return TG_STORE_NOTFOUND;
    return rc;
}

static int sq_pay_method_delete(tg_store_t *b, const char *org_id, const char *id, int64_t at)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "UPDATE payment_methods SET deleted_at=?, is_default=0 WHERE id=?"
                               " AND organization_id=? AND deleted_at IS NULL");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, at);
    bind_text(st, 2, id);
    bind_text(st, 3, org_id);
    int rc = run(s, st);
    if (rc == 0 && sqlite3_changes(s->db) == 0)
        return TG_STORE_NOTFOUND;
    if (rc != 0)
        return rc;
    /* no default left: the newest live method takes over */
    st = prep(s, "UPDATE payment_methods SET is_default=1 WHERE id=(SELECT id FROM"
                 " payment_methods WHERE organization_id=?1 AND deleted_at IS NULL ORDER BY"
                 " created_at DESC, rowid DESC LIMIT 1) AND NOT EXISTS (SELECT 1 FROM"
                 " payment_methods WHERE organization_id=?1 AND deleted_at IS NULL AND"
                 " is_default=1)");
    if (!st)
        return -1;
    bind_text(st, 1, org_id);
    return run(s, st);
}

#define PAYMENT_COLS                                                                           \
    "id,organization_id,payment_method_id,kind,status,amount,currency,provider,provider_ref," \
    "failure_code,failure_message,brand,last4,payer,grant_id,invoice_id,created_at,updated_at"

static int sq_payment_insert(tg_store_t *b, const tg_payment_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "INSERT INTO payments (" PAYMENT_COLS ") VALUES"
                               " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!st)
        return -1;
    bind_text(st, 1, r->id);
    bind_text(st, 2, r->org_id);
    bind_text(st, 3, r->method_id);
    bind_text(st, 4, r->kind);
    bind_text(st, 5, r->status);
    sqlite3_bind_int64(st, 6, r->amount);
    bind_text(st, 7, r->currency);
    bind_text(st, 8, r->provider);
    bind_opt_text(st, 9, r->provider_ref);
    bind_opt_text(st, 10, r->failure_code);
    bind_opt_text(st, 11, r->failure_message);
    bind_text(st, 12, r->brand);
    bind_text(st, 13, r->last4);
    bind_text(st, 14, r->payer);
    bind_opt_text(st, 15, r->grant_id);
    bind_opt_text(st, 16, r->invoice_id);
    sqlite3_bind_int64(st, 17, r->created_at);
    sqlite3_bind_int64(st, 18, r->updated_at);
    return run(s, st);
}

static void fill_payment(sqlite3_stmt *st, void *p)
{
    tg_payment_row_t *r = p;
    col_text(st, 0, r->id, sizeof(r->id));
    col_text(st, 1, r->org_id, sizeof(r->org_id));
    col_text(st, 2, r->method_id, sizeof(r->method_id));
    col_text(st, 3, r->kind, sizeof(r->kind));
    col_text(st, 4, r->status, sizeof(r->status));
    r->amount = sqlite3_column_int64(st, 5);
    col_text(st, 6, r->currency, sizeof(r->currency));
    col_text(st, 7, r->provider, sizeof(r->provider));
    col_text(st, 8, r->provider_ref, sizeof(r->provider_ref));
    col_text(st, 9, r->failure_code, sizeof(r->failure_code));
    col_text(st, 10, r->failure_message, sizeof(r->failure_message));
    col_text(st, 11, r->brand, sizeof(r->brand));
    col_text(st, 12, r->last4, sizeof(r->last4));
    col_text(st, 13, r->payer, sizeof(r->payer));
    col_text(st, 14, r->grant_id, sizeof(r->grant_id));
    col_text(st, 15, r->invoice_id, sizeof(r->invoice_id));
    r->created_at = sqlite3_column_int64(st, 16);
    r->updated_at = sqlite3_column_int64(st, 17);
}

static int sq_payment_get(tg_store_t *b, const char *id, tg_payment_row_t *out)
{
    sq_t *s = (sq_t *)b;
    tg_payment_row_t *rows = NULL;
    size_t n = 0;
    sqlite3_stmt *st = prep(s, "SELECT " PAYMENT_COLS " FROM payments WHERE id=?");
    if (st)
        bind_text(st, 1, id);
    if (collect(s, st, sizeof(tg_payment_row_t), fill_payment, (void **)&rows, &n) < 0)
        return -1;
    if (n)
        *out = rows[0];
    free(rows);
    return n ? 0 : TG_STORE_NOTFOUND;
}

static int sq_payment_update(tg_store_t *b, const tg_payment_row_t *r, const char *from_status)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "UPDATE payments SET status=?, provider_ref=?, failure_code=?,"
                               " failure_message=?, grant_id=?, invoice_id=?, updated_at=?"
                               " WHERE id=? AND status=?");
    if (!st)
        return -1;
    bind_text(st, 1, r->status);
    bind_opt_text(st, 2, r->provider_ref);
    bind_opt_text(st, 3, r->failure_code);
    bind_opt_text(st, 4, r->failure_message);
    bind_opt_text(st, 5, r->grant_id);
    bind_opt_text(st, 6, r->invoice_id);
    sqlite3_bind_int64(st, 7, r->updated_at);
    bind_text(st, 8, r->id);
    bind_text(st, 9, from_status);
    int rc = run(s, st);
    if (rc == 0 && sqlite3_changes(s->db) == 0)
        return TG_STORE_NOTFOUND;
    return rc;
}

static int sq_payment_list(tg_store_t *b, const char *org_id, tg_payment_row_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "SELECT " PAYMENT_COLS " FROM payments WHERE organization_id=?"
                               " ORDER BY created_at DESC, rowid DESC");
    if (st)
        bind_text(st, 1, org_id);
    return collect(s, st, sizeof(tg_payment_row_t), fill_payment, (void **)rows, n);
}

static int sq_payment_sum(tg_store_t *b, const char *org_id, const char *kind, int64_t since,
                          int64_t *cents, int64_t *pending)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "SELECT COALESCE(SUM(amount),0), COALESCE(SUM(status='pending'),0)"
                               " FROM payments WHERE organization_id=? AND kind=? AND"
                               " created_at>=? AND status IN ('succeeded','pending')");
    if (!st)
        return -1;
    bind_text(st, 1, org_id);
    bind_text(st, 2, kind);
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
        prep(s, "SELECT COALESCE(MAX(seq),0)+1 FROM invoices WHERE organization_id=?");
    if (!st)
        return -1;
    bind_text(st, 1, org_id);
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
    sqlite3_stmt *st = prep(s, "INSERT INTO invoices (id,organization_id,seq,number,payment_id,"
                               "amount,currency,description,payer,seller,brand,last4,created_at)"
                               " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!st)
        return -1;
    bind_text(st, 1, r->id);
    bind_text(st, 2, r->org_id);
    sqlite3_bind_int64(st, 3, r->seq);
    bind_text(st, 4, r->number);
    bind_text(st, 5, r->payment_id);
    sqlite3_bind_int64(st, 6, r->amount);
    bind_text(st, 7, r->currency);
    bind_text(st, 8, r->description);
    bind_text(st, 9, r->payer);
    bind_text(st, 10, r->seller);
    bind_text(st, 11, r->brand);
    bind_text(st, 12, r->last4);
    sqlite3_bind_int64(st, 13, r->created_at);
    return run(s, st);
}

static void fill_invoice(sqlite3_stmt *st, void *p)
{
    tg_invoice_row_t *r = p;
    col_text(st, 0, r->id, sizeof(r->id));
    col_text(st, 1, r->org_id, sizeof(r->org_id));
    r->seq = sqlite3_column_int64(st, 2);
    col_text(st, 3, r->number, sizeof(r->number));
    col_text(st, 4, r->payment_id, sizeof(r->payment_id));
    r->amount = sqlite3_column_int64(st, 5);
    col_text(st, 6, r->currency, sizeof(r->currency));
    col_text(st, 7, r->description, sizeof(r->description));
    col_text(st, 8, r->payer, sizeof(r->payer));
    col_text(st, 9, r->seller, sizeof(r->seller));
    col_text(st, 10, r->brand, sizeof(r->brand));
    col_text(st, 11, r->last4, sizeof(r->last4));
    r->created_at = sqlite3_column_int64(st, 12);
}

static int sq_invoice_list(tg_store_t *b, const char *org_id, tg_invoice_row_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "SELECT id,organization_id,seq,number,payment_id,amount,currency,"
                               "description,payer,seller,brand,last4,created_at FROM invoices"
                               " WHERE organization_id=? ORDER BY seq DESC");
    if (st)
        bind_text(st, 1, org_id);
    return collect(s, st, sizeof(tg_invoice_row_t), fill_invoice, (void **)rows, n);
}

static int sq_auto_recharge_set(tg_store_t *b, const tg_auto_recharge_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "INSERT OR REPLACE INTO auto_recharge (organization_id,enabled,"
                               "threshold_amount,recharge_to_amount,monthly_limit,paused_at,"
                               "paused_reason,updated_at) VALUES (?,?,?,?,?,?,?,?)");
    if (!st)
        return -1;
    bind_text(st, 1, r->org_id);
    sqlite3_bind_int(st, 2, r->enabled ? 1 : 0);
    sqlite3_bind_int64(st, 3, r->threshold);
    sqlite3_bind_int64(st, 4, r->recharge_to);
    bind_opt_int(st, 5, r->monthly_limit);
    bind_opt_int(st, 6, r->paused_at);
    bind_opt_text(st, 7, r->paused_reason);
    sqlite3_bind_int64(st, 8, r->updated_at);
    return run(s, st);
}

static void fill_auto_recharge(sqlite3_stmt *st, void *p)
{
    tg_auto_recharge_row_t *r = p;
    col_text(st, 0, r->org_id, sizeof(r->org_id));
    r->enabled = sqlite3_column_int(st, 1);
    r->threshold = sqlite3_column_int64(st, 2);
    r->recharge_to = sqlite3_column_int64(st, 3);
    r->monthly_limit = sqlite3_column_int64(st, 4);
    r->paused_at = sqlite3_column_int64(st, 5);
    col_text(st, 6, r->paused_reason, sizeof(r->paused_reason));
    r->updated_at = sqlite3_column_int64(st, 7);
}

static int sq_auto_recharge_list(tg_store_t *b, tg_auto_recharge_row_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    return collect(s, prep(s, "SELECT organization_id,enabled,threshold_amount,"
                              "recharge_to_amount,monthly_limit,paused_at,paused_reason,"
                              "updated_at FROM auto_recharge"),
                   sizeof(tg_auto_recharge_row_t), fill_auto_recharge, (void **)rows, n);
}

/* ---- users ---- */

static int sq_user_insert(tg_store_t *b, const tg_user_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "INSERT INTO users VALUES (?,?,?,?,?,?)");
    if (!st)
        return -1;
    bind_text(st, 1, r->id);
    bind_text(st, 2, r->org_id);
    bind_text(st, 3, r->email);
    bind_text(st, 4, r->password_hash);
    bind_text(st, 5, r->role);
    sqlite3_bind_int64(st, 6, r->created_at);
    return run(s, st);
}

static void fill_user(sqlite3_stmt *st, void *p)
{
    tg_user_row_t *r = p;
    col_text(st, 0, r->id, sizeof(r->id));
    col_text(st, 1, r->org_id, sizeof(r->org_id));
    col_text(st, 2, r->email, sizeof(r->email));
    col_text(st, 3, r->password_hash, sizeof(r->password_hash));
    col_text(st, 4, r->role, sizeof(r->role));
    r->created_at = sqlite3_column_int64(st, 5);
}

#define USER_COLS "u.id,u.organization_id,u.email,u.password_hash,u.role,u.created_at"

/* The first row of a one-text-parameter SELECT (or TG_STORE_NOTFOUND). */
static int get_one(sq_t *s, const char *sql, const char *arg, int64_t arg2, size_t elem,
                   void (*fill)(sqlite3_stmt *, void *), void *out)
{
    void *rows = NULL;
    size_t n = 0;
    sqlite3_stmt *st = prep(s, sql);
    if (st) {
        bind_text(st, 1, arg);
        if (sqlite3_bind_parameter_count(st) > 1)
            sqlite3_bind_int64(st, 2, arg2);
    }
    if (collect(s, st, elem, fill, &rows, &n) < 0)
        return -1;
    if (n)
        memcpy(out, rows, elem);
    free(rows);
    return n ? 0 : TG_STORE_NOTFOUND;
}

static int sq_user_get(tg_store_t *b, const char *id, tg_user_row_t *out)
{
    return get_one((sq_t *)b, "SELECT " USER_COLS " FROM users u WHERE u.id=?", id, 0,
                   sizeof(*out), fill_user, out);
}

static int sq_user_by_email(tg_store_t *b, const char *email, tg_user_row_t *out)
{
    return get_one((sq_t *)b, "SELECT " USER_COLS " FROM users u WHERE u.email=?", email, 0,
                   sizeof(*out), fill_user, out);
}

static int sq_user_list(tg_store_t *b, const char *org_id, tg_user_row_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "SELECT " USER_COLS " FROM users u WHERE u.organization_id=? "
                               "ORDER BY u.created_at, u.id");
    if (st)
        bind_text(st, 1, org_id);
    return collect(s, st, sizeof(**rows), fill_user, (void **)rows, n);
}

static int sq_user_set_role(tg_store_t *b, const char *id, const char *role)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "UPDATE users SET role=? WHERE id=?");
    if (!st)
        return -1;
    bind_text(st, 1, role);
    bind_text(st, 2, id);
    int rc = run(s, st);
    return rc == 0 && sqlite3_changes(s->db) == 0 ? TG_STORE_NOTFOUND : rc;
}

static int sq_user_set_password(tg_store_t *b, const char *id, const char *hash,
                                const char *keep_hash)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "UPDATE users SET password_hash=? WHERE id=?");
    if (!st)
        return -1;
    bind_text(st, 1, hash);
    bind_text(st, 2, id);
    int rc = run(s, st);
    if (rc == 0 && sqlite3_changes(s->db) == 0)
        return TG_STORE_NOTFOUND;
    if (rc != 0 || !(st = prep(s, "DELETE FROM sessions WHERE user_id=? AND token_hash IS NOT ?")))
        return -1;
    bind_text(st, 1, id);
    bind_opt_text(st, 2, keep_hash);
    return run(s, st);
}

static int sq_user_delete(tg_store_t *b, const char *id)
{
    sq_t *s = (sq_t *)b;
    int rc = delete_by_id(s, "DELETE FROM sessions WHERE user_id=?", id);
    if (rc == -1)
        return -1;
    return delete_by_id(s, "DELETE FROM users WHERE id=?", id);
}

static int sq_session_insert(tg_store_t *b, const tg_session_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "INSERT INTO sessions VALUES (?,?,?,?)");
    if (!st)
        return -1;
    bind_text(st, 1, r->token_hash);
    bind_text(st, 2, r->user_id);
    sqlite3_bind_int64(st, 3, r->created_at);
    sqlite3_bind_int64(st, 4, r->expires_at);
    return run(s, st);
}

static int sq_session_get(tg_store_t *b, const char *token_hash, int64_t now, tg_user_row_t *u)
{
    return get_one((sq_t *)b,
                   "SELECT " USER_COLS " FROM sessions s JOIN users u ON u.id=s.user_id "
                   "WHERE s.token_hash=? AND s.expires_at>?",
                   token_hash, now, sizeof(*u), fill_user, u);
}

static int sq_session_delete(tg_store_t *b, const char *token_hash)
{
    return delete_by_id((sq_t *)b, "DELETE FROM sessions WHERE token_hash=?", token_hash);
}

static int sq_invite_insert(tg_store_t *b, const tg_invite_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "INSERT INTO invites VALUES (?,?,?,?,?,?,?,NULL)");
    if (!st)
        return -1;
    bind_text(st, 1, r->id);
    bind_text(st, 2, r->org_id);
    bind_text(st, 3, r->email);
    bind_text(st, 4, r->role);
    bind_text(st, 5, r->token_hash);
    sqlite3_bind_int64(st, 6, r->invited_at);
    sqlite3_bind_int64(st, 7, r->expires_at);
    return run(s, st);
}

static void fill_invite(sqlite3_stmt *st, void *p)
{
    tg_invite_row_t *r = p;
    col_text(st, 0, r->id, sizeof(r->id));
    col_text(st, 1, r->org_id, sizeof(r->org_id));
    col_text(st, 2, r->email, sizeof(r->email));
    col_text(st, 3, r->role, sizeof(r->role));
    col_text(st, 4, r->token_hash, sizeof(r->token_hash));
    r->invited_at = sqlite3_column_int64(st, 5);
    r->expires_at = sqlite3_column_int64(st, 6);
    r->accepted_at = sqlite3_column_int64(st, 7);
}

#define INVITE_COLS                                                                                \
    "id,organization_id,email,role,token_hash,invited_at,expires_at,accepted_at"

static int sq_invite_list(tg_store_t *b, const char *org_id, tg_invite_row_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "SELECT " INVITE_COLS " FROM invites WHERE organization_id=? "
                               "ORDER BY invited_at, id");
    if (st)
        bind_text(st, 1, org_id);
    return collect(s, st, sizeof(**rows), fill_invite, (void **)rows, n);
}

static int sq_invite_get(tg_store_t *b, const char *id, tg_invite_row_t *out)
{
    return get_one((sq_t *)b, "SELECT " INVITE_COLS " FROM invites WHERE id=?", id, 0,
                   sizeof(*out), fill_invite, out);
}

static int sq_invite_by_token(tg_store_t *b, const char *token_hash, tg_invite_row_t *out)
{
    return get_one((sq_t *)b, "SELECT " INVITE_COLS " FROM invites WHERE token_hash=?",
                   token_hash, 0, sizeof(*out), fill_invite, out);
}

static int sq_invite_accept(tg_store_t *b, const char *id, int64_t at)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st =
        prep(s, "UPDATE invites SET accepted_at=? WHERE id=? AND accepted_at IS NULL");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, at);
    bind_text(st, 2, id);
    int rc = run(s, st);
    return rc == 0 && sqlite3_changes(s->db) == 0 ? TG_STORE_NOTFOUND : rc;
}

static int sq_invite_delete(tg_store_t *b, const char *id)
{
    return delete_by_id((sq_t *)b, "DELETE FROM invites WHERE id=?", id);
}

static int sq_org_rename(tg_store_t *b, const char *id, const char *name)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = prep(s, "UPDATE organizations SET name=? WHERE id=?");
    if (!st)
        return -1;
    bind_text(st, 1, name);
    bind_text(st, 2, id);
    int rc = run(s, st);
    return rc == 0 && sqlite3_changes(s->db) == 0 ? TG_STORE_NOTFOUND : rc;
}

static const tg_store_ops_t sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .migrate = sq_migrate,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .org_insert = sq_org_insert,
    .org_list = sq_org_list,
    .project_upsert = sq_project_upsert,
    .project_list = sq_project_list,
    .key_insert = sq_key_insert,
    .key_revoke = sq_key_revoke,
    .key_list = sq_key_list,
    .key_touch = sq_key_touch,
    .provider_upsert = sq_provider_upsert,
    .provider_delete = sq_provider_delete,
    .provider_list = sq_provider_list,
    .model_upsert = sq_model_upsert,
    .model_list = sq_model_list,
    .usage_insert = sq_usage_insert,
    .usage_count = sq_usage_count,
    .user_insert = sq_user_insert,
    .user_get = sq_user_get,
    .user_by_email = sq_user_by_email,
    .user_list = sq_user_list,
    .user_set_role = sq_user_set_role,
    .user_set_password = sq_user_set_password,
    .user_delete = sq_user_delete,
    .session_insert = sq_session_insert,
    .session_get = sq_session_get,
    .session_delete = sq_session_delete,
    .invite_insert = sq_invite_insert,
    .invite_list = sq_invite_list,
    .invite_get = sq_invite_get,
    .invite_by_token = sq_invite_by_token,
    .invite_accept = sq_invite_accept,
    .invite_delete = sq_invite_delete,
    .org_rename = sq_org_rename,
    .alert_insert = sq_alert_insert,
    .alert_delete = sq_alert_delete,
    .alert_list = sq_alert_list,
    .alert_fired = sq_alert_fired,
    .alert_firings = sq_alert_firings,
    .org_payments = sq_org_payments,
    .org_set_tier = sq_org_set_tier,
    .rate_limit_set = sq_rate_limit_set,
    .rate_limit_list = sq_rate_limit_list,
    .grant_insert = sq_grant_insert,
    .grant_list = sq_grant_list,
    .grant_consume = sq_grant_consume,
    .org_overdraft_add = sq_org_overdraft_add,
    .org_overdrafts = sq_org_overdrafts,
    .spend_limit_set = sq_spend_limit_set,
    .spend_limit_list = sq_spend_limit_list,
    .usage_agg_add = sq_usage_agg_add,
    .month_spend = sq_month_spend,
    .usage_query = sq_usage_query,
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

int tg_store_sqlite_open(const char *path, tg_store_t **out)
{
    sq_t *s = calloc(1, sizeof(*s));
    if (!s)
        return -1;
    s->base.ops = &sqlite_ops;
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        tg_error("cannot open database %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "");
        sqlite3_close(s->db);
        free(s);
        return -1;
    }
    sqlite3_busy_timeout(s->db, 10000);
    /* WAL + synchronous=FULL: a committed transaction survives a process crash and a power
     * loss; group commit (billing/usage.c) amortises the fsync. */
    if (exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;") <
        0) {
        sq_close(&s->base);
        return -1;
    }
    *out = &s->base;
    return 0;
}
