/* PostgreSQL backend of store.h (libpq): the connection, the versioned migrations and the
 * helpers every domain file shares (store/pg_int.h). The operations live one domain per
 * file: pg_tenancy.c, pg_accounts.c, pg_money.c, pg_usage.c, pg_payments.c, pg_secrets.c — the same
 * tables and the same behaviour as the SQLite backend, checked by the same tests.
 *
 * One connection per thread, blocking calls: a store call runs on the thread that owns the
 * connection (the usage writer, the payment threads, a worker serving an Admin API call),
 * as with SQLite; the inference path never waits on it. */
#include "store/pg_int.h"

#include "core/log.h"
#include "core/util.h"

#include <stdatomic.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each migration runs once, in order, inside a transaction, under an advisory lock (several
 * instances may start at once); its version is recorded in schema_migrations. Never edit a
 * shipped migration: add a new one. Migration 1 is the schema of SQLite's migrations 1-7.
 * Lists that sort by text say COLLATE "C" (bytes, as SQLite sorts), whatever the database's
 * locale. */
static const char *migrations[] = {
    /* 1: everything up to sound reservations (SQLite 1-7) */
    "CREATE TABLE organizations (id TEXT PRIMARY KEY, name TEXT NOT NULL, tier TEXT NOT NULL,"
    "  is_operator INTEGER NOT NULL DEFAULT 0, created_at BIGINT NOT NULL,"
    "  overdraft BIGINT NOT NULL DEFAULT 0, seq BIGSERIAL);"
    "CREATE TABLE projects (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL REFERENCES"
    "  organizations(id), name TEXT NOT NULL, created_at BIGINT NOT NULL,"
    "  archived_at BIGINT, seq BIGSERIAL);"
    "CREATE INDEX projects_org ON projects(organization_id, created_at);"
    "CREATE TABLE api_keys (id TEXT PRIMARY KEY, kind INTEGER NOT NULL,"
    "  organization_id TEXT NOT NULL, project_id TEXT, name TEXT NOT NULL,"
    "  key_hash BYTEA NOT NULL UNIQUE, redacted TEXT NOT NULL, permissions TEXT NOT NULL,"
    "  allowed_models TEXT, created_at BIGINT NOT NULL, expires_at BIGINT,"
    "  last_used_at BIGINT, revoked_at BIGINT, seq BIGSERIAL);"
    "CREATE INDEX api_keys_org ON api_keys(organization_id, created_at);"
    "CREATE TABLE providers (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL,"
    "  name TEXT NOT NULL, type TEXT NOT NULL, base_url TEXT NOT NULL, secret BYTEA,"
    "  models TEXT NOT NULL, weight INTEGER NOT NULL, priority INTEGER NOT NULL,"
    "  created_at BIGINT NOT NULL, seq BIGSERIAL);"
    "CREATE TABLE models (id TEXT PRIMARY KEY, type TEXT NOT NULL, owned_by TEXT NOT NULL,"
    "  created BIGINT NOT NULL, input_price BIGINT NOT NULL, cached_input_price BIGINT,"
    "  output_price BIGINT NOT NULL, context_window BIGINT NOT NULL,"
    "  max_output_tokens BIGINT NOT NULL, tokenizer TEXT NOT NULL,"
    "  image_base_tokens BIGINT NOT NULL DEFAULT 0, image_tile_tokens BIGINT NOT NULL DEFAULT 0,"
    "  image_max_tokens BIGINT NOT NULL DEFAULT 0);"
    "CREATE TABLE usage_records (request_id TEXT PRIMARY KEY, created_at BIGINT NOT NULL,"
    "  organization_id TEXT NOT NULL, project_id TEXT NOT NULL, api_key_id TEXT NOT NULL,"
    "  model TEXT NOT NULL, provider_id TEXT NOT NULL, endpoint TEXT NOT NULL,"
    "  input_tokens BIGINT NOT NULL, cached_input_tokens BIGINT NOT NULL,"
    "  output_tokens BIGINT NOT NULL, status INTEGER NOT NULL, latency_ms BIGINT NOT NULL,"
    "  streamed INTEGER NOT NULL, aborted INTEGER NOT NULL, cost_nanousd BIGINT NOT NULL,"
    "  unbilled_nanousd BIGINT NOT NULL DEFAULT 0);"
    "CREATE TABLE users (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL,"
    "  email TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL, role TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL, seq BIGSERIAL);"
    "CREATE TABLE credit_grants (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL,"
    "  kind TEXT NOT NULL, amount BIGINT NOT NULL, consumed BIGINT NOT NULL DEFAULT 0,"
    "  granted_at BIGINT NOT NULL, expires_at BIGINT, description TEXT NOT NULL,"
    "  reference TEXT, seq BIGSERIAL);"
    "CREATE INDEX credit_grants_org ON credit_grants(organization_id, granted_at);"
    "CREATE TABLE spend_limits (scope_id TEXT PRIMARY KEY, organization_id TEXT NOT NULL,"
    "  threshold_amount BIGINT NOT NULL, created_at BIGINT NOT NULL);"
    "CREATE TABLE usage_agg (organization_id TEXT NOT NULL, minute BIGINT NOT NULL,"
    "  project_id TEXT NOT NULL, api_key_id TEXT NOT NULL, model TEXT NOT NULL,"
    "  endpoint TEXT NOT NULL, requests BIGINT NOT NULL, input_tokens BIGINT NOT NULL,"
    "  cached_input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL,"
    "  cost_nanousd BIGINT NOT NULL,"
    "  PRIMARY KEY (organization_id, minute, project_id, api_key_id, model, endpoint));"
    "CREATE TABLE spend_alerts (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL,"
    "  project_id TEXT, threshold_amount BIGINT NOT NULL, channel TEXT NOT NULL,"
    "  secret BYTEA, created_at BIGINT NOT NULL, seq BIGSERIAL);"
    "CREATE TABLE spend_alert_firings (alert_id TEXT NOT NULL, month BIGINT NOT NULL,"
    "  fired_at BIGINT NOT NULL, spend BIGINT NOT NULL, PRIMARY KEY (alert_id, month));"
    "CREATE TABLE payment_methods (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL,"
    "  provider TEXT NOT NULL, provider_ref TEXT NOT NULL, customer_ref TEXT,"
    "  brand TEXT NOT NULL, last4 TEXT NOT NULL, exp_month INTEGER NOT NULL,"
    "  exp_year INTEGER NOT NULL, payer TEXT NOT NULL, is_default INTEGER NOT NULL DEFAULT 0,"
    "  created_at BIGINT NOT NULL, deleted_at BIGINT, seq BIGSERIAL);"
    "CREATE INDEX payment_methods_org ON payment_methods(organization_id, created_at);"
    "CREATE TABLE payments (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL,"
    "  payment_method_id TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,"
    "  amount BIGINT NOT NULL, currency TEXT NOT NULL, provider TEXT NOT NULL,"
    "  provider_ref TEXT, failure_code TEXT, failure_message TEXT, brand TEXT NOT NULL,"
    "  last4 TEXT NOT NULL, payer TEXT NOT NULL, grant_id TEXT, invoice_id TEXT,"
    "  created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, seq BIGSERIAL);"
    "CREATE INDEX payments_org ON payments(organization_id, created_at);"
    "CREATE TABLE invoices (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL,"
    "  seq BIGINT NOT NULL, number TEXT NOT NULL, payment_id TEXT NOT NULL UNIQUE,"
    "  amount BIGINT NOT NULL, currency TEXT NOT NULL, description TEXT NOT NULL,"
    "  payer TEXT NOT NULL, seller TEXT NOT NULL, brand TEXT NOT NULL, last4 TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL, UNIQUE (organization_id, seq));"
    "CREATE TABLE auto_recharge (organization_id TEXT PRIMARY KEY, enabled INTEGER NOT NULL,"
    "  threshold_amount BIGINT NOT NULL, recharge_to_amount BIGINT NOT NULL,"
    "  monthly_limit BIGINT, paused_at BIGINT, paused_reason TEXT,"
    "  updated_at BIGINT NOT NULL);"
    "CREATE TABLE project_rate_limits (project_id TEXT NOT NULL, model TEXT NOT NULL,"
    "  rpm BIGINT NOT NULL, rpd BIGINT NOT NULL, tpm BIGINT NOT NULL, tpd BIGINT NOT NULL,"
    "  PRIMARY KEY (project_id, model));"
    "CREATE TABLE sessions (token_hash TEXT PRIMARY KEY,"
    "  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL);"
    "CREATE INDEX sessions_user ON sessions(user_id);"
    "CREATE TABLE invites (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL,"
    "  email TEXT NOT NULL, role TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE,"
    "  invited_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, accepted_at BIGINT,"
    "  seq BIGSERIAL);",
    /* 2: routing (SQLite 8) */
    "ALTER TABLE providers ADD COLUMN api_version TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE providers ADD COLUMN timeout_ms BIGINT NOT NULL DEFAULT 0;"
    "ALTER TABLE providers ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE usage_records ADD COLUMN response_id TEXT;"
    "CREATE INDEX usage_records_response ON usage_records(response_id)"
    "  WHERE response_id IS NOT NULL;",
    /* 3: platform calls (SQLite 9) */
    "ALTER TABLE organizations ADD COLUMN suspended INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE organizations ADD COLUMN tier_locked INTEGER NOT NULL DEFAULT 0;",
    /* 4: changes made on the host (SQLite 10) */
    "CREATE TABLE catalog_changes (id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  version BIGINT NOT NULL);"
    "INSERT INTO catalog_changes VALUES (1, 0);",
    /* 5: the audit log (SQLite 11) */
    "CREATE TABLE audit_logs (seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
    "  organization_id TEXT NOT NULL, type TEXT NOT NULL, effective_at BIGINT NOT NULL,"
    "  actor_id TEXT NOT NULL, project_id TEXT, actor TEXT NOT NULL, details TEXT NOT NULL);"
    "CREATE INDEX audit_logs_org ON audit_logs(organization_id, seq);",
    /* 6: secrets at rest (SQLite 12) */
    "CREATE TABLE master_key (id INTEGER PRIMARY KEY CHECK (id = 1), key_id TEXT NOT NULL,"
    "  updated_at BIGINT NOT NULL);",
};

/* ---- parameters ---- */

static const char **slot(tg_pg_args_t *a)
{
    if (a->n >= TG_PG_ARGS) {
        a->overflow = 1;
        return NULL;
    }
    return &a->v[a->n++];
}

void tg_pg__text(tg_pg_args_t *a, const char *s)
{
    const char **v = slot(a);
    if (v)
        *v = s;
}

void tg_pg__opt_text(tg_pg_args_t *a, const char *s)
{
    tg_pg__text(a, s && *s ? s : NULL);
}

void tg_pg__int(tg_pg_args_t *a, int64_t x)
{
    const char **v = slot(a);
    if (!v)
        return;
    int i = a->n - 1;
    snprintf(a->num[i], sizeof(a->num[i]), "%lld", (long long)x);
    *v = a->num[i];
}

void tg_pg__opt_int(tg_pg_args_t *a, int64_t x)
{
    if (x)
        tg_pg__int(a, x);
    else
        tg_pg__text(a, NULL);
}

int tg_pg__blob(tg_pg_args_t *a, const unsigned char *b, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (!n) {
        tg_pg__text(a, NULL);
        return 0;
    }
    const char **v = slot(a);
    if (!v)
        return -1;
    char *t = malloc(2 * n + 3);
    if (!t) {
        a->overflow = 1;
        *v = NULL;
        return -1;
    }
    t[0] = '\\';
    t[1] = 'x';
    for (size_t i = 0; i < n; i++) {
        t[2 + 2 * i] = hex[b[i] >> 4];
        t[3 + 2 * i] = hex[b[i] & 15];
    }
    t[2 + 2 * n] = '\0';
    a->owned[a->n - 1] = t;
    *v = t;
    return 0;
}

static void args_free(tg_pg_args_t *a)
{
    if (!a)
        return;
    for (int i = 0; i < a->n && i < TG_PG_ARGS; i++) {
        free(a->owned[i]);
        a->owned[i] = NULL;
    }
}

/* ---- statements ---- */

#define LOST_LOG_NS (30ull * 1000000000ull)

static PGresult *execute(pg_t *p, const char *sql, tg_pg_args_t *a)
{
    /* a lost connection (the server restarted, a network cut) is opened again here, so a
     * thread's store recovers by itself once the server is back */
    if (PQstatus(p->conn) == CONNECTION_BAD)
        PQreset(p->conn);
    if (a && a->overflow) {
        tg_error("postgres: too many parameters, or out of memory for them: %.80s", sql);
        args_free(a);
        return NULL;
    }
    /* without parameters, the simple protocol (several statements: the migrations) */
    PGresult *r = a ? PQexecParams(p->conn, sql, a->n, NULL, a->v, NULL, NULL, 0)
                    : PQexec(p->conn, sql);
    args_free(a);
    return r;
}

static int failed(pg_t *p, PGresult *r, const char *sql)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    /* 23505 unique_violation, 23503 foreign_key_violation: the SQLite backend's constraint */
    if (state && (!strcmp(state, "23505") || !strcmp(state, "23503")))
        return TG_STORE_CONFLICT;
    /* a lost server fails every call of every thread: say so once per LOST_LOG_NS */
    if (PQstatus(p->conn) == CONNECTION_BAD) {
        static _Atomic uint64_t last;
        uint64_t now = tg_mono_ns(), was = atomic_load(&last);
        if (was && now - was < LOST_LOG_NS)
            return -1;
        atomic_store(&last, now);
    }
    tg_error("postgres: %s (%.80s)", r ? PQresultErrorMessage(r) : PQerrorMessage(p->conn),
             sql);
    return -1;
}

int tg_pg__cmd(pg_t *p, const char *sql, tg_pg_args_t *a, int64_t *affected)
{
    PGresult *r = execute(p, sql, a);
    int rc = 0;
    if (!r || (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)) {
        rc = failed(p, r, sql);
    } else if (affected) {
        const char *t = PQcmdTuples(r);
        *affected = t && *t ? strtoll(t, NULL, 10) : 0;
    }
    PQclear(r);
    return rc;
}

int tg_pg__change(pg_t *p, const char *sql, tg_pg_args_t *a)
{
    int64_t changed = 0;
    int rc = tg_pg__cmd(p, sql, a, &changed);
    return rc == 0 && changed == 0 ? TG_STORE_NOTFOUND : rc;
}

PGresult *tg_pg__query(pg_t *p, const char *sql, tg_pg_args_t *a)
{
    PGresult *r = execute(p, sql, a);
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        failed(p, r, sql);
        PQclear(r);
        return NULL;
    }
    return r;
}

int tg_pg__collect(pg_t *p, const char *sql, tg_pg_args_t *a, size_t elem,
                   void (*fill)(const PGresult *r, int row, void *out), void **rows, size_t *n)
{
    PGresult *r = tg_pg__query(p, sql, a);
    if (!r)
        return -1;
    int cnt = PQntuples(r);
    char *arr = calloc(cnt ? (size_t)cnt : 1, elem);
    if (!arr) {
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < cnt; i++)
        fill(r, i, arr + (size_t)i * elem);
    PQclear(r);
    *rows = arr;
    *n = (size_t)cnt;
    return 0;
}

int tg_pg__get_one(pg_t *p, const char *sql, tg_pg_args_t *a,
                   void (*fill)(const PGresult *r, int row, void *out), void *out)
{
    PGresult *r = tg_pg__query(p, sql, a);
    if (!r)
        return -1;
    int rc = PQntuples(r) > 0 ? 0 : TG_STORE_NOTFOUND;
    if (rc == 0)
        fill(r, 0, out);
    PQclear(r);
    return rc;
}

/* ---- columns ---- */

void tg_pg__col_text(const PGresult *r, int row, int col, char *out, size_t cap)
{
    size_t n = PQgetisnull(r, row, col) ? 0 : (size_t)PQgetlength(r, row, col);
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(out, PQgetvalue(r, row, col), n);
    out[n] = '\0';
}

int64_t tg_pg__col_int(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

int tg_pg__col_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col);
}

size_t tg_pg__col_blob(const PGresult *r, int row, int col, unsigned char *out, size_t cap)
{
    if (PQgetisnull(r, row, col))
        return 0;
    size_t n = 0;
    unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), &n);
    if (!b)
        return 0;
    if (n > cap)
        n = 0;
    if (n)
        memcpy(out, b, n);
    PQfreemem(b);
    return n;
}

void tg_pg__fill_amount(const PGresult *r, int row, void *out)
{
    tg_org_amount_t *a = out;
    tg_pg__col_text(r, row, 0, a->org_id, sizeof(a->org_id));
    tg_pg__col_text(r, row, 1, a->scope_id, sizeof(a->scope_id));
    a->amount = tg_pg__col_int(r, row, 2);
}

/* ---- lifecycle ---- */

static void pg_close(tg_store_t *b)
{
    pg_t *p = (pg_t *)b;
    PQfinish(p->conn);
    free(p);
}

static int pg_begin(tg_store_t *b)
{
    char sp[32];
    snprintf(sp, sizeof(sp), "SAVEPOINT tg%d", b->depth);
    if (tg_pg__cmd((pg_t *)b, b->depth ? sp : "BEGIN", NULL, NULL) < 0)
        return -1;
    b->depth++;
    return 0;
}
/* COMMIT succeeds on PostgreSQL even when it rolled back (a transaction aborted by an
 * error) or when there was no transaction: only a real commit returns 0 here. */
static int pg_commit(tg_store_t *b)
{
    pg_t *p = (pg_t *)b;
    char sp[32];
    if (b->depth > 1) { /* a savepoint: released, or undone with the transaction later */
        b->depth--;
        snprintf(sp, sizeof(sp), "RELEASE SAVEPOINT tg%d", b->depth);
        return tg_pg__cmd(p, sp, NULL, NULL);
    }
    b->depth = 0;
    PGTransactionStatusType ts = PQtransactionStatus(p->conn);
    if (ts == PQTRANS_INERROR) {
        tg_pg__cmd(p, "ROLLBACK", NULL, NULL);
        tg_error("postgres: COMMIT of a failed transaction: rolled back");
        return -1;
    }
    if (ts != PQTRANS_INTRANS) {
        tg_error("postgres: COMMIT without a transaction");
        return -1;
    }
    PGresult *r = PQexec(p->conn, "COMMIT");
    int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK && !strcmp(PQcmdStatus(r), "COMMIT");
    if (!ok)
        tg_error("postgres: COMMIT failed: %s", r ? PQresultErrorMessage(r) : PQerrorMessage(p->conn));
    PQclear(r);
    return ok ? 0 : -1;
}
static int pg_rollback(tg_store_t *b)
{
    char sp[80];
    if (b->depth > 1) {
        b->depth--;
        snprintf(sp, sizeof(sp), "ROLLBACK TO SAVEPOINT tg%d; RELEASE SAVEPOINT tg%d", b->depth,
                 b->depth);
        return tg_pg__cmd((pg_t *)b, sp, NULL, NULL);
    }
    b->depth = 0;
    return tg_pg__cmd((pg_t *)b, "ROLLBACK", NULL, NULL);
}

/* An arbitrary, fixed advisory lock key: "tollgate" in ASCII. */
#define MIGRATION_LOCK "7671447447434277"

static int pg_migrate(tg_store_t *b)
{
    pg_t *p = (pg_t *)b;
    size_t total = sizeof(migrations) / sizeof(migrations[0]);
    int rc = -1;

    if (tg_pg__cmd(p, "SELECT pg_advisory_lock(" MIGRATION_LOCK ")", NULL, NULL) < 0)
        return -1;
    if (tg_pg__cmd(p, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                      " applied_at BIGINT NOT NULL)", NULL, NULL) < 0)
        goto out;
    PGresult *r = tg_pg__query(p, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", NULL);
    if (!r)
        goto out;
    size_t v = (size_t)tg_pg__col_int(r, 0, 0);
    PQclear(r);
    for (; v < total; v++) {
        tg_pg_args_t a = {0};
        tg_pg__int(&a, (int64_t)v + 1);
        if (pg_begin(b) < 0)
            goto out;
        if (tg_pg__cmd(p, migrations[v], NULL, NULL) < 0 ||
            tg_pg__cmd(p, "INSERT INTO schema_migrations VALUES ($1, extract(epoch FROM now()))",
                       &a, NULL) < 0 ||
            pg_commit(b) < 0) {
            pg_rollback(b);
            tg_error("postgres: migration %zu failed", v + 1);
            goto out;
        }
    }
    rc = 0;
out:
    tg_pg__cmd(p, "SELECT pg_advisory_unlock(" MIGRATION_LOCK ")", NULL, NULL);
    return rc;
}

/* A session-level advisory lock, released when the connection closes (or the server sees
 * it die). */
#define CLAIM_LOCK "7671447447434278"
static int pg_claim(tg_store_t *b)
{
    PGresult *r = tg_pg__query((pg_t *)b, "SELECT pg_try_advisory_lock(" CLAIM_LOCK ")", NULL);
    if (!r)
        return -1;
    int got = PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
    return got ? 0 : TG_STORE_CONFLICT;
}

static int pg_ping(tg_store_t *b)
{
    return tg_pg__cmd((pg_t *)b, "SELECT 1", NULL, NULL);
}

static const tg_store_ops_t pg_ops = {
    .name = "postgres",
    .close = pg_close,
    .migrate = pg_migrate,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .claim = pg_claim,
    .ping = pg_ping,
};

int tg_store_pg_open(const char *url, tg_store_t **out)
{
    pg_t *p = calloc(1, sizeof(*p));
    if (!p)
        return -1;
    p->base.ops = &pg_ops;
    p->base.tenancy = &tg_pg__tenancy;
    p->base.accounts = &tg_pg__accounts;
    p->base.money = &tg_pg__money;
    p->base.usage = &tg_pg__usage;
    p->base.payments = &tg_pg__payments;
    p->base.audit = &tg_pg__audit;
    p->base.secrets = &tg_pg__secrets;
    /* the URL's own settings, and a connect timeout unless it names one */
    const char *keys[] = {"dbname", "connect_timeout", NULL};
    const char *vals[] = {url, strstr(url, "connect_timeout") ? NULL : "5", NULL};
    p->conn = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(p->conn) != CONNECTION_OK) {
        /* libpq's message names host and port, never the password */
        tg_error("cannot connect to PostgreSQL: %s", PQerrorMessage(p->conn));
        PQfinish(p->conn);
        free(p);
        return -1;
    }
    /* quiet NOTICEs (CREATE TABLE IF NOT EXISTS …) */
    if (tg_pg__cmd(p, "SET client_min_messages TO warning", NULL, NULL) < 0) {
        pg_close(&p->base);
        return -1;
    }
    *out = &p->base;
    return 0;
}
