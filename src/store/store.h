/* Durable state behind vtables, one per domain (tenancy.h, accounts.h, money.h, usage.h,
 * payments.h, secrets.h): SQLite now (store_sqlite.c and sqlite_<domain>.c), PostgreSQL later.
 * A tg_store_t is one connection, used by one thread at a time; each thread opens its own.
 * List calls return arrays allocated with malloc (the caller frees them with free()).
 * All functions return 0 on success, TG_STORE_NOTFOUND, TG_STORE_CONFLICT or -1 (logged). */
#ifndef TG_STORE_H
#define TG_STORE_H

#include <stddef.h>
#include <stdint.h>

#define TG_STORE_NOTFOUND (-2)
#define TG_STORE_CONFLICT (-3)

#define TG_ID_MAX 48
#define TG_NAME_MAX 256
#define TG_URL_MAX 1024
#define TG_JSON_MAX 4096
/* a provider's keys (8 × 400 characters), sealed: "v1:" key id ":" base64(nonce|ciphertext) */
#define TG_SECRET_BLOB_MAX 4608

/* A (scope, amount) pair: overdrafts (scope = org), spend limits in cents (scope = org or
 * project id), month spend in nano-dollars (scope = project id). */
typedef struct {
    char org_id[TG_ID_MAX];
    char scope_id[TG_ID_MAX];
    int64_t amount;
} tg_org_amount_t;

typedef struct tg_store tg_store_t;

#include "store/tenancy.h"
#include "store/accounts.h"
#include "store/money.h"
#include "store/usage.h"
#include "store/payments.h"
#include "store/audit.h"
#include "store/secrets.h"

/* The connection: its name, its schema and its transactions. */
typedef struct {
    const char *name;
    void (*close)(tg_store_t *st);
    int (*migrate)(tg_store_t *st);
    /* Transactions nest: a begin inside a transaction opens a savepoint, which its commit
     * releases and its rollback undoes; only the outermost commit makes anything durable. So
     * a write that opens its own transaction can run inside a caller's (the audit log records
     * a change in the change's own transaction). */
    int (*begin)(tg_store_t *st);
    int (*commit)(tg_store_t *st);
    int (*rollback)(tg_store_t *st);
    /* Claims the database for this process for as long as this connection stays open: 0, or
     * TG_STORE_CONFLICT when another process holds it. `serve` keeps one claim: the ledger
     * and the rate limits live in one process's memory, so a second instance on the same
     * database (until shared counters exist) would enforce every limit on its own. */
    int (*claim)(tg_store_t *st);
    /* Checks that the database answers (reconnecting if the connection was lost): 0 or -1. */
    int (*ping)(tg_store_t *st);
} tg_store_ops_t;

/* A connection and its operations, one table per domain: st->money->grant_insert(st, …). */
struct tg_store {
    const tg_store_ops_t *ops;
    const struct tg_store_tenancy *tenancy;
    const struct tg_store_accounts *accounts;
    const struct tg_store_money *money;
    const struct tg_store_usage *usage;
    const struct tg_store_payments *payments;
    const struct tg_store_audit *audit;
    int depth; /* open transactions: 1 the outermost, more for savepoints */
    const struct tg_store_secrets *secrets;
};

/* Opens a connection for `url` ("sqlite:PATH", a bare path, or "postgres://…"). */
int tg_store_open(const char *url, tg_store_t **out);
/* NULL-tolerant. */
void tg_store_close(tg_store_t *st);
/* The path of a sqlite: URL (into buf), or NULL for other schemes. */
const char *tg_store_sqlite_path(const char *url, char *buf, size_t len);

int tg_store_sqlite_open(const char *path, tg_store_t **out);
/* A PostgreSQL connection (url: postgres://USER[:PASS]@HOST:PORT/DB, libpq's URI). */
int tg_store_pg_open(const char *url, tg_store_t **out);
/* Copies every row of a SQLite installation into a PostgreSQL database (migrating both
 * first); idempotent: rows already there are kept. cb (may be NULL) reports progress every
 * 10,000 rows and at the end of each table. */
typedef void (*tg_store_copy_cb)(const char *table, int64_t done, int64_t total, void *arg);
int tg_store_copy_sqlite_to_pg(const char *sqlite_path, const char *pg_url, tg_store_copy_cb cb,
                               void *arg);
/* Backups of a SQLite database (store/sqlite_backup.c; PostgreSQL: pg_dump, docs/operations.md). */
typedef struct {
    int64_t pages, bytes; /* the copy's size */
    int restarts;         /* times a write by another connection made the copy start over */
    char key_id[TG_MASTER_KEY_ID_MAX]; /* the master key id recorded in the copy ("": none) */
} tg_backup_info_t;
/* Copies the database at src (which a running serve may be writing) into the new file dst with
 * SQLite's online backup API, a few pages per step; the copy is made self-contained (no WAL),
 * passes PRAGMA integrity_check, and only then is renamed to dst, so dst never holds a partial
 * copy. An existing dst is refused unless overwrite. 0, or -1 with a one-line reason in err. */
int tg_store_sqlite_backup(const char *src, const char *dst, int overwrite,
                           tg_backup_info_t *info, char *err, size_t cap);
/* Puts a backup in place as the database dst: checks the backup (integrity_check, a Tollgate
 * schema), copies it beside dst, checks the copy, then renames it over dst (its -wal and -shm
 * removed). Refuses an existing dst unless force, and always a dst a running serve holds.
 * 0, or -1 with a one-line reason in err. */
int tg_store_sqlite_restore(const char *from, const char *dst, int force, tg_backup_info_t *info,
                            char *err, size_t cap);

/* url for messages and logs: a password in it (postgres://USER:PASS@…) becomes "***". */
void tg_store_redact_url(const char *url, char *out, size_t cap);
/* 1 if url names a PostgreSQL database (postgres:// or postgresql://). */
int tg_store_is_pg(const char *url);

#endif
