/* Internal to the SQLite backend (src/store/store_sqlite.c and sqlite_<domain>.c): the
 * connection and the helpers every domain file shares. */
#ifndef TG_STORE_SQLITE_INT_H
#define TG_STORE_SQLITE_INT_H

#include "store/store.h"

#include <sqlite3.h>

typedef struct {
    tg_store_t base;
    sqlite3 *db;
    sqlite3_stmt *usage_ins, *key_touch; /* hot statements, prepared once */
    sqlite3_stmt *agg_add, *grant_consume;
    char path[4096]; /* the database file */
    int claim_fd;    /* <path>.lock, flock'ed by claim (-1: none) */
} sq_t;

/* Runs SQL without results; -1 (logged) on error. */
int tg_sq__exec(sq_t *s, const char *sql);
/* A prepared statement, or NULL (logged). */
sqlite3_stmt *tg_sq__prep(sq_t *s, const char *sql);
/* Runs a prepared write to completion and finalizes it: 0, TG_STORE_CONFLICT or -1. */
int tg_sq__run(sq_t *s, sqlite3_stmt *st);
void tg_sq__bind_text(sqlite3_stmt *st, int i, const char *v);
void tg_sq__bind_opt_text(sqlite3_stmt *st, int i, const char *v);
void tg_sq__bind_opt_int(sqlite3_stmt *st, int i, int64_t v);
void tg_sq__col_text(sqlite3_stmt *st, int i, char *out, size_t cap);
/* Collects the rows of a SELECT into a malloc'd array with `fill`; finalizes st. */
int tg_sq__collect(sq_t *s, sqlite3_stmt *st, size_t elem, void (*fill)(sqlite3_stmt *, void *),
                   void **rows, size_t *n);
/* Runs a `DELETE … WHERE id=?`; TG_STORE_NOTFOUND when no row had that id. */
int tg_sq__delete_by_id(sq_t *s, const char *sql, const char *id);
/* One row of a SELECT taking (arg, arg2) into out; TG_STORE_NOTFOUND when there is none. */
int tg_sq__get_one(sq_t *s, const char *sql, const char *arg, int64_t arg2, size_t elem,
                   void (*fill)(sqlite3_stmt *, void *), void *out);
/* Fills a tg_org_amount_t from (org_id, scope_id, amount). */
void tg_sq__fill_amount(sqlite3_stmt *st, void *p);

/* The operations of each domain (sqlite_<domain>.c). */
extern const struct tg_store_tenancy tg_sq__tenancy;
extern const struct tg_store_accounts tg_sq__accounts;
extern const struct tg_store_money tg_sq__money;
extern const struct tg_store_usage tg_sq__usage;
extern const struct tg_store_payments tg_sq__payments;
extern const struct tg_store_audit tg_sq__audit;
extern const struct tg_store_secrets tg_sq__secrets;

#endif
