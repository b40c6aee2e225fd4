/* SQLite backend, secrets: the stored secrets as opaque bytes and the master key's id
 * (store/secrets.h). */
#include "store/sqlite_int.h"

#include "core/log.h"

#include <stdio.h>
#include <string.h>

static void fill_secret(sqlite3_stmt *st, void *p)
{
    tg_secret_row_t *r = p;
    r->kind = sqlite3_column_int(st, 0);
    tg_sq__col_text(st, 1, r->id, sizeof(r->id));
    const void *b = sqlite3_column_blob(st, 2);
    int n = sqlite3_column_bytes(st, 2);
    if (n > 0 && (size_t)n <= sizeof(r->value)) {
        memcpy(r->value, b, (size_t)n);
        r->len = (size_t)n;
    } else if (n > 0) {
        r->too_long = 1;
    }
}

static int sq_secret_list(tg_store_t *b, tg_secret_row_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    return tg_sq__collect(
        s,
        tg_sq__prep(s, "SELECT 1, id, secret FROM providers WHERE length(secret) > 0"
                       " UNION ALL SELECT 2, id, secret FROM spend_alerts"
                       " WHERE length(secret) > 0 ORDER BY 1, 2"),
        sizeof(tg_secret_row_t), fill_secret, (void **)rows, n);
}

static int sq_secret_set(tg_store_t *b, const tg_secret_row_t *r)
{
    sq_t *s = (sq_t *)b;
    const char *sql = r->kind == TG_SECRET_PROVIDER ? "UPDATE providers SET secret=? WHERE id=?"
                      : r->kind == TG_SECRET_ALERT  ? "UPDATE spend_alerts SET secret=? WHERE id=?"
                                                    : NULL;
    if (!sql)
        return -1;
    /* the replaced value's bytes are zeroed, not left as free space in the page */
    if (tg_sq__exec(s, "PRAGMA secure_delete=ON") < 0)
        return -1;
    sqlite3_stmt *st = tg_sq__prep(s, sql);
    if (!st)
        return -1;
    sqlite3_bind_blob(st, 1, r->value, (int)r->len, SQLITE_TRANSIENT);
    tg_sq__bind_text(st, 2, r->id);
    int rc = tg_sq__run(s, st);
    return rc == 0 && sqlite3_changes(s->db) == 0 ? TG_STORE_NOTFOUND : rc;
}

static int sq_key_id_get(tg_store_t *b, char out[TG_MASTER_KEY_ID_MAX])
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "SELECT key_id FROM master_key WHERE id=1");
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    out[0] = '\0';
    if (rc == SQLITE_ROW)
        tg_sq__col_text(st, 0, out, TG_MASTER_KEY_ID_MAX);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        tg_error("sqlite: %s", sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}

static int sq_key_id_set(tg_store_t *b, const char *key_id, int64_t at)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "INSERT INTO master_key (id, key_id, updated_at)"
                                      " VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE"
                                      " SET key_id=excluded.key_id,"
                                      " updated_at=excluded.updated_at");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, key_id);
    sqlite3_bind_int64(st, 2, at);
    return tg_sq__run(s, st);
}

/* The pages that held the replaced values go into the database file, and the WAL that still
 * has their earlier images is truncated to nothing. */
static int sq_forget(tg_store_t *b)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "PRAGMA wal_checkpoint(TRUNCATE)");
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    int busy = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 1;
    sqlite3_finalize(st);
    return busy ? -1 : 0;
}

const struct tg_store_secrets tg_sq__secrets = {
    .list = sq_secret_list,
    .set = sq_secret_set,
    .key_id_get = sq_key_id_get,
    .key_id_set = sq_key_id_set,
    .forget = sq_forget,
};
