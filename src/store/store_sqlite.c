/* SQLite backend of store.h: the connection (WAL mode, one per thread), the versioned
 * migrations and the helpers every domain file shares (store/sqlite_int.h). The operations
 * live one domain per file: sqlite_tenancy.c, sqlite_accounts.c, sqlite_money.c,
 * sqlite_usage.c, sqlite_payments.c, sqlite_secrets.c. */
#include "store/sqlite_int.h"

#include "core/log.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

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
    /* 8: routing — a provider's api-version (azure), first-byte timeout and switch; which
     * provider made a Responses API answer (GET/DELETE /v1/responses/{id} go there) */
    "ALTER TABLE providers ADD COLUMN api_version TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE providers ADD COLUMN timeout_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE providers ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE usage_records ADD COLUMN response_id TEXT;"
    "CREATE INDEX usage_records_response ON usage_records(response_id)"
    "  WHERE response_id IS NOT NULL;",
    /* 9: the operator's platform calls — a suspended organisation, a tier set by hand */
    "ALTER TABLE organizations ADD COLUMN suspended INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE organizations ADD COLUMN tier_locked INTEGER NOT NULL DEFAULT 0;",
    /* 10: a counter that commands on the host (tollgate org …) raise after a change, which a
     * running `serve` polls to re-read its catalog */
    "CREATE TABLE catalog_changes (id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  version INTEGER NOT NULL);"
    "INSERT INTO catalog_changes VALUES (1, 0);",
    /* 11: the audit log (issue 13) */
    "CREATE TABLE audit_logs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
    "  organization_id TEXT NOT NULL, type TEXT NOT NULL, effective_at INTEGER NOT NULL,"
    "  actor_id TEXT NOT NULL, project_id TEXT, actor TEXT NOT NULL, details TEXT NOT NULL);"
    "CREATE INDEX audit_logs_org ON audit_logs(organization_id, seq);",
    /* 12: secrets at rest — the id of the master key that sealed every stored secret
     * (auth/secrets.c): a server given another key refuses to start. Older rows (sealed
     * before key ids, or plain text) are sealed anew at start, which needs the key. */
    "CREATE TABLE master_key (id INTEGER PRIMARY KEY CHECK (id = 1), key_id TEXT NOT NULL,"
    "  updated_at INTEGER NOT NULL);",
};

int tg_sq__exec(sq_t *s, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        tg_error("sqlite: %s", err ? err : "error");
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

sqlite3_stmt *tg_sq__prep(sq_t *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        tg_error("sqlite prepare: %s", sqlite3_errmsg(s->db));
        return NULL;
    }
    return st;
}

/* Runs a prepared write to completion and finalizes it. */
int tg_sq__run(sq_t *s, sqlite3_stmt *st)
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

void tg_sq__bind_text(sqlite3_stmt *st, int i, const char *v)
{
    sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

void tg_sq__bind_opt_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v && *v)
        tg_sq__bind_text(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

void tg_sq__bind_opt_int(sqlite3_stmt *st, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

void tg_sq__col_text(sqlite3_stmt *st, int i, char *out, size_t cap)
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
int tg_sq__collect(sq_t *s, sqlite3_stmt *st, size_t elem, void (*fill)(sqlite3_stmt *, void *),
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
int tg_sq__delete_by_id(sq_t *s, const char *sql, const char *id)
{
    sqlite3_stmt *st = tg_sq__prep(s, sql);
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, id);
    int rc = tg_sq__run(s, st);
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
    if (s->claim_fd >= 0)
        close(s->claim_fd);
    free(s);
}

static int sq_migrate(tg_store_t *base)
{
    sq_t *s = (sq_t *)base;
    size_t total = sizeof(migrations) / sizeof(migrations[0]);
    int64_t have = 0;

    if (tg_sq__exec(s, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                       " applied_at INTEGER NOT NULL)") < 0)
        return -1;
    if (tg_sq__exec(s, "BEGIN IMMEDIATE") < 0)
        return -1;
    sqlite3_stmt *st = tg_sq__prep(s, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    if (st && sqlite3_step(st) == SQLITE_ROW)
        have = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    for (size_t v = (size_t)have; v < total; v++) {
        char rec[128];
        if (tg_sq__exec(s, migrations[v]) < 0) {
            tg_sq__exec(s, "ROLLBACK");
            return -1;
        }
        snprintf(rec, sizeof(rec),
                 "INSERT INTO schema_migrations VALUES (%zu, strftime('%%s','now'))", v + 1);
        if (tg_sq__exec(s, rec) < 0) {
            tg_sq__exec(s, "ROLLBACK");
            return -1;
        }
    }
    return tg_sq__exec(s, "COMMIT");
}

static int sq_begin(tg_store_t *b)
{
    char sp[32];
    if (b->depth == 0 && tg_sq__exec((sq_t *)b, "BEGIN IMMEDIATE") < 0)
        return -1;
    snprintf(sp, sizeof(sp), "SAVEPOINT tg%d", b->depth);
    if (b->depth > 0 && tg_sq__exec((sq_t *)b, sp) < 0)
        return -1;
    b->depth++;
    return 0;
}

static int sq_commit(tg_store_t *b)
{
    char sp[32];
    if (b->depth == 0)
        return -1;
    if (--b->depth == 0)
        return tg_sq__exec((sq_t *)b, "COMMIT");
    snprintf(sp, sizeof(sp), "RELEASE tg%d", b->depth);
    return tg_sq__exec((sq_t *)b, sp);
}

static int sq_rollback(tg_store_t *b)
{
    char sp[64];
    if (b->depth == 0)
        return -1;
    if (--b->depth == 0)
        return tg_sq__exec((sq_t *)b, "ROLLBACK");
    snprintf(sp, sizeof(sp), "ROLLBACK TO tg%d; RELEASE tg%d", b->depth, b->depth);
    return tg_sq__exec((sq_t *)b, sp);
}

void tg_sq__fill_amount(sqlite3_stmt *st, void *p)
{
    tg_org_amount_t *r = p;
    tg_sq__col_text(st, 0, r->org_id, sizeof(r->org_id));
    tg_sq__col_text(st, 1, r->scope_id, sizeof(r->scope_id));
    r->amount = sqlite3_column_int64(st, 2);
}

/* The first row of a one-text-parameter SELECT (or TG_STORE_NOTFOUND). */
int tg_sq__get_one(sq_t *s, const char *sql, const char *arg, int64_t arg2, size_t elem,
                   void (*fill)(sqlite3_stmt *, void *), void *out)
{
    void *rows = NULL;
    size_t n = 0;
    sqlite3_stmt *st = tg_sq__prep(s, sql);
    if (st) {
        tg_sq__bind_text(st, 1, arg);
        if (sqlite3_bind_parameter_count(st) > 1)
            sqlite3_bind_int64(st, 2, arg2);
    }
    if (tg_sq__collect(s, st, elem, fill, &rows, &n) < 0)
        return -1;
    if (n)
        memcpy(out, rows, elem);
    free(rows);
    return n ? 0 : TG_STORE_NOTFOUND;
}

/* An exclusive flock on <path>.lock, released when the connection closes or the process
 * dies (kill -9 included). */
static int sq_claim(tg_store_t *b)
{
    sq_t *s = (sq_t *)b;
    char lock[4200];
    snprintf(lock, sizeof(lock), "%s.lock", s->path);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        tg_error("cannot open %s", lock);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        close(fd);
        return TG_STORE_CONFLICT;
    }
    if (s->claim_fd >= 0)
        close(s->claim_fd);
    s->claim_fd = fd;
    return 0;
}

static int sq_ping(tg_store_t *b)
{
    return tg_sq__exec((sq_t *)b, "SELECT 1");
}

static const tg_store_ops_t sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .migrate = sq_migrate,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .claim = sq_claim,
    .ping = sq_ping,
};

int tg_store_sqlite_open(const char *path, tg_store_t **out)
{
    sq_t *s = calloc(1, sizeof(*s));
    if (!s)
        return -1;
    s->base.ops = &sqlite_ops;
    s->claim_fd = -1;
    snprintf(s->path, sizeof(s->path), "%s", path);
    s->base.tenancy = &tg_sq__tenancy;
    s->base.accounts = &tg_sq__accounts;
    s->base.money = &tg_sq__money;
    s->base.usage = &tg_sq__usage;
    s->base.payments = &tg_sq__payments;
    s->base.audit = &tg_sq__audit;
    s->base.secrets = &tg_sq__secrets;
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
    if (tg_sq__exec(
            s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;") < 0) {
        sq_close(&s->base);
        return -1;
    }
    *out = &s->base;
    return 0;
}
