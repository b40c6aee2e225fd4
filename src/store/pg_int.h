/* Internal to the PostgreSQL backend (src/store/store_pg.c and pg_<domain>.c): the
 * connection and the helpers every domain file shares.
 *
 * Statements use libpq's text format: parameters are built as text into a tg_pg_args_t
 * ($1, $2, … in the order they are added), results are read with the tg_pg__col_* helpers.
 * A parameter tested with IS NULL needs a cast in the SQL ($1::text IS NULL). Tables that
 * SQLite orders by rowid have a `seq BIGSERIAL` column here, for the same insertion order. */
#ifndef TG_STORE_PG_INT_H
#define TG_STORE_PG_INT_H

#include "store/store.h"

#include <libpq-fe.h>

typedef struct {
    tg_store_t base;
    PGconn *conn;
} pg_t;

#define TG_PG_ARGS 32

/* The parameters of one statement, as text. */
typedef struct {
    const char *v[TG_PG_ARGS];
    char num[TG_PG_ARGS][24];
    char *owned[TG_PG_ARGS]; /* escaped bytea, freed by tg_pg__cmd / tg_pg__query */
    int n;
    int overflow; /* more than TG_PG_ARGS: the statement is refused */
} tg_pg_args_t;

void tg_pg__text(tg_pg_args_t *a, const char *s);     /* NULL: SQL NULL */
void tg_pg__opt_text(tg_pg_args_t *a, const char *s); /* NULL or "": SQL NULL */
void tg_pg__int(tg_pg_args_t *a, int64_t v);
void tg_pg__opt_int(tg_pg_args_t *a, int64_t v); /* 0: SQL NULL */
/* A bytea (n 0: SQL NULL); -1 when out of memory (the statement then fails). */
int tg_pg__blob(tg_pg_args_t *a, const unsigned char *b, size_t n);

/* Runs a statement that returns no rows (a may be NULL). Returns 0 with *affected (may be
 * NULL) the number of rows it changed, TG_STORE_CONFLICT on a unique or foreign-key
 * violation, or -1 (logged). */
int tg_pg__cmd(pg_t *p, const char *sql, tg_pg_args_t *a, int64_t *affected);
/* An UPDATE or DELETE: tg_pg__cmd, and TG_STORE_NOTFOUND when it changed no row. */
int tg_pg__change(pg_t *p, const char *sql, tg_pg_args_t *a);
/* Runs a SELECT (or a statement with RETURNING): the result, to PQclear, or NULL (logged). */
PGresult *tg_pg__query(pg_t *p, const char *sql, tg_pg_args_t *a);
/* Collects every row of a SELECT into a malloc'd array with `fill`. */
int tg_pg__collect(pg_t *p, const char *sql, tg_pg_args_t *a, size_t elem,
                   void (*fill)(const PGresult *r, int row, void *out), void **rows, size_t *n);
/* The first row of a SELECT into out, or TG_STORE_NOTFOUND. */
int tg_pg__get_one(pg_t *p, const char *sql, tg_pg_args_t *a,
                   void (*fill)(const PGresult *r, int row, void *out), void *out);

/* Column readers: a NULL reads as "", 0, or no bytes. */
void tg_pg__col_text(const PGresult *r, int row, int col, char *out, size_t cap);
int64_t tg_pg__col_int(const PGresult *r, int row, int col);
int tg_pg__col_null(const PGresult *r, int row, int col);
/* A bytea column into out (at most cap bytes); returns its length, 0 if NULL or too long. */
size_t tg_pg__col_blob(const PGresult *r, int row, int col, unsigned char *out, size_t cap);

/* Fills a tg_org_amount_t from (org_id, scope_id, amount). */
void tg_pg__fill_amount(const PGresult *r, int row, void *out);

/* The operations of each domain (pg_<domain>.c). */
extern const struct tg_store_tenancy tg_pg__tenancy;
extern const struct tg_store_accounts tg_pg__accounts;
extern const struct tg_store_money tg_pg__money;
extern const struct tg_store_usage tg_pg__usage;
extern const struct tg_store_payments tg_pg__payments;
extern const struct tg_store_audit tg_pg__audit;
extern const struct tg_store_secrets tg_pg__secrets;

#endif
