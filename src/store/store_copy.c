/* Copies a SQLite installation into PostgreSQL (tollgate migrate): every row of every table,
 * table by table in SQLite's rowid order (so the PostgreSQL `seq` columns keep list order),
 * each table in one transaction, rows already present skipped (ON CONFLICT DO NOTHING), so a
 * copy that was interrupted can simply be run again. Values travel as text (integers printed
 * exactly, blobs as bytea hex): nothing is converted through a float. */
#include "store/pg_int.h"
#include "store/sqlite_int.h"

#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* In an order that satisfies the foreign keys (projects → organizations, sessions → users). */
static const struct {
    const char *name;
    int rowid; /* 0: a WITHOUT ROWID table (ordered by its key) */
} tables[] = {
    {"organizations", 1},  {"projects", 1},        {"api_keys", 1},
    {"providers", 1},      {"models", 1},          {"users", 1},
    {"sessions", 1},       {"invites", 1},         {"credit_grants", 1},
    {"spend_limits", 1},   {"spend_alerts", 1},    {"spend_alert_firings", 1},
    {"payment_methods", 1}, {"payments", 1},       {"invoices", 1},
    {"auto_recharge", 1},  {"project_rate_limits", 1}, {"usage_records", 0},
    {"usage_agg", 0},      {"audit_logs", 1},     {"master_key", 1},
};

#define PROGRESS_EVERY 10000

static int copy_table(sqlite3 *db, pg_t *pg, const char *table, int rowid, tg_store_copy_cb cb,
                      void *arg)
{
    char sql[256];
    sqlite3_stmt *st = NULL;
    int64_t total = 0, done = 0;
    char *ins = NULL;
    int rc = -1;

    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s", table);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
        goto out;
    total = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    snprintf(sql, sizeof(sql), "SELECT * FROM %s ORDER BY %s", table, rowid ? "rowid" : "1");
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        goto out;
    int ncol = sqlite3_column_count(st);
    if (ncol <= 0 || ncol > TG_PG_ARGS)
        goto out;
    /* INSERT INTO t (c1, …) VALUES ($1, …) ON CONFLICT DO NOTHING */
    size_t cap = 128 + (size_t)ncol * 80;
    if (!(ins = malloc(cap)))
        goto out;
    size_t len = (size_t)snprintf(ins, cap, "INSERT INTO %s (", table);
    for (int i = 0; i < ncol; i++)
        len += (size_t)snprintf(ins + len, cap - len, "%s%s", i ? "," : "",
                                sqlite3_column_name(st, i));
    len += (size_t)snprintf(ins + len, cap - len, ") VALUES (");
    for (int i = 0; i < ncol; i++)
        len += (size_t)snprintf(ins + len, cap - len, "%s$%d", i ? "," : "", i + 1);
    snprintf(ins + len, cap - len, ") ON CONFLICT DO NOTHING");

    if (pg->base.ops->begin(&pg->base) < 0)
        goto out;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        tg_pg_args_t a = {0};
        for (int i = 0; i < ncol; i++) {
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_NULL:
                tg_pg__text(&a, NULL);
                break;
            case SQLITE_INTEGER:
                tg_pg__int(&a, sqlite3_column_int64(st, i));
                break;
            case SQLITE_BLOB:
                tg_pg__blob(&a, sqlite3_column_blob(st, i), (size_t)sqlite3_column_bytes(st, i));
                break;
            default: /* TEXT (and REAL, which Tollgate never stores) as text */
                tg_pg__text(&a, (const char *)sqlite3_column_text(st, i));
                break;
            }
        }
        if (tg_pg__cmd(pg, ins, &a, NULL) < 0) {
            pg->base.ops->rollback(&pg->base);
            goto out;
        }
        if (++done % PROGRESS_EVERY == 0 && cb)
            cb(table, done, total, arg);
    }
    if (step != SQLITE_DONE) {
        tg_error("sqlite: %s", sqlite3_errmsg(db));
        pg->base.ops->rollback(&pg->base);
        goto out;
    }
    if (pg->base.ops->commit(&pg->base) < 0)
        goto out;
    if (cb)
        cb(table, done, total, arg);
    rc = 0;
out:
    if (rc < 0)
        tg_error("migrate: copying %s failed", table);
    sqlite3_finalize(st);
    free(ins);
    return rc;
}

int tg_store_copy_sqlite_to_pg(const char *sqlite_path, const char *pg_url, tg_store_copy_cb cb,
                               void *arg)
{
    sqlite3 *db = NULL;
    tg_store_t *to = NULL;
    int rc = -1;

    if (sqlite3_open_v2(sqlite_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        tg_error("cannot open %s: %s", sqlite_path, db ? sqlite3_errmsg(db) : "");
        goto out;
    }
    sqlite3_busy_timeout(db, 10000);
    /* the source must be at the newest schema too (its columns are the target's) */
    tg_store_t *from = NULL;
    if (tg_store_sqlite_open(sqlite_path, &from) < 0 || from->ops->migrate(from) < 0) {
        tg_store_close(from);
        goto out;
    }
    tg_store_close(from);
    if (tg_store_pg_open(pg_url, &to) < 0 || to->ops->migrate(to) < 0)
        goto out;
    /* one read transaction: a consistent snapshot even if a server is still writing */
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        goto out;
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
        if (copy_table(db, (pg_t *)to, tables[i].name, tables[i].rowid, cb, arg) < 0)
            goto out;
    /* audit_logs.seq was copied as it was: the next event numbers after it */
    if (tg_pg__cmd((pg_t *)to, "SELECT setval(pg_get_serial_sequence('audit_logs', 'seq'),"
                               " GREATEST((SELECT MAX(seq) FROM audit_logs), 1))", NULL, NULL) < 0)
        goto out;
    rc = 0;
out:
    if (db)
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    tg_store_close(to);
    return rc;
}
