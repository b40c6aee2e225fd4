/* A migrated store in a fresh database, for unit tests (included by each test that needs
 * one; every test binary is a single .c file): SQLite in a temp directory, or, when
 * TG_TEST_PG_URL names a PostgreSQL server (`make test-pg`), a new database on it, dropped
 * at the end — so the same tests check both backends. */
#ifndef TG_TEST_DB_FIXTURE_H
#define TG_TEST_DB_FIXTURE_H

#include "core/util.h"
#include "store/store.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char dir[64];
    char path[128];
    char url[320];
    char pg_db[64]; /* PostgreSQL: the database made for this test, "" with SQLite */
    tg_store_t *st;
} tg_test_db_t;

/* Runs one statement on the PostgreSQL server of TG_TEST_PG_URL (its own database). */
static int tg_test_pg_admin(const char *sql)
{
    PGconn *c = PQconnectdb(getenv("TG_TEST_PG_URL"));
    int ok = PQstatus(c) == CONNECTION_OK;
    if (ok) {
        PGresult *r = PQexec(c, sql);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            fprintf(stderr, "postgres: %s", PQresultErrorMessage(r));
        PQclear(r);
    }
    PQfinish(c);
    return ok ? 0 : -1;
}

/* TG_TEST_PG_URL with its database replaced by db. */
static void tg_test_pg_url(const char *db, char *out, size_t cap)
{
    const char *base = getenv("TG_TEST_PG_URL");
    const char *slash = strrchr(base, '/');
    int keep = slash && slash > strstr(base, "://") + 2 ? (int)(slash - base) : (int)strlen(base);
    snprintf(out, cap, "%.*s/%s", keep, base, db);
}

/* Removes the database and everything SQLite or Tollgate keeps beside it. */
static void tg_test_rm_db_files(const char *path)
{
    static const char *suffixes[] = {"", "-wal", "-shm", "-journal", ".secret", ".key", ".lock"};
    char p[256];
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);
        unlink(p);
    }
}

/* /tmp/tg-<tag>-XXXXXX/test.db, opened and migrated. Returns 0, or -1 with nothing left
 * behind. Asserts nothing, so that it can run in a cmocka setup. */
static int tg_test_db_open(tg_test_db_t *d, const char *tag)
{
    if (getenv("TG_TEST_PG_URL")) {
        static unsigned n;
        char sql[128];
        snprintf(d->pg_db, sizeof(d->pg_db), "tg_%s_%d_%u", tag, (int)getpid(), n++);
        for (char *c = d->pg_db; *c; c++)
            if (*c == '-')
                *c = '_';
        snprintf(sql, sizeof(sql), "CREATE DATABASE %s", d->pg_db);
        if (tg_test_pg_admin(sql) < 0)
            return -1;
        tg_test_pg_url(d->pg_db, d->url, sizeof(d->url));
        if (tg_store_open(d->url, &d->st) != 0 || d->st->ops->migrate(d->st) != 0) {
            tg_store_close(d->st);
            d->st = NULL;
            return -1;
        }
        return 0;
    }
    snprintf(d->dir, sizeof(d->dir), "/tmp/tg-%s-XXXXXX", tag);
    if (!mkdtemp(d->dir))
        return -1;
    snprintf(d->path, sizeof(d->path), "%s/test.db", d->dir);
    snprintf(d->url, sizeof(d->url), "sqlite:%s", d->path);
    if (tg_store_open(d->url, &d->st) != 0 || d->st->ops->migrate(d->st) != 0) {
        tg_store_close(d->st);
        d->st = NULL;
        tg_test_rm_db_files(d->path);
        rmdir(d->dir);
        return -1;
    }
    return 0;
}

/* Closes the store and removes its files; returns rmdir's result (0: nothing was left). */
static int tg_test_db_close(tg_test_db_t *d)
{
    tg_store_close(d->st);
    d->st = NULL;
    if (d->pg_db[0]) {
        char sql[128];
        snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", d->pg_db);
        return tg_test_pg_admin(sql);
    }
    tg_test_rm_db_files(d->path);
    return rmdir(d->dir);
}

/* cmocka setup and teardown for a test that needs only the database (*state is a
 * tg_test_db_t): `static int fx_setup(void **s) { return tg_test_db_setup(s, "tag"); }`.
 * inline: a test with its own fixture does not use them. */
static inline int tg_test_db_setup(void **state, const char *tag)
{
    tg_test_db_t *d = calloc(1, sizeof(*d));
    if (!d || tg_test_db_open(d, tag) != 0) {
        free(d);
        return -1;
    }
    *state = d;
    return 0;
}

static inline int tg_test_db_teardown(void **state)
{
    tg_test_db_t *d = *state;
    int rc = tg_test_db_close(d);
    free(d);
    return rc;
}

/* An organisation row (not stored): a customer at tier Free, or the operator's at Tier 5. */
static inline tg_org_row_t tg_test_org_row(const char *id, int is_operator)
{
    tg_org_row_t o;
    memset(&o, 0, sizeof(o));
    snprintf(o.id, sizeof(o.id), "%s", id);
    snprintf(o.name, sizeof(o.name), "%s", id);
    snprintf(o.tier, sizeof(o.tier), "%s", is_operator ? "tier_5" : "free");
    o.is_operator = is_operator;
    o.created_at = tg_now();
    return o;
}

#endif
