/* The audit log on SQLite (store/audit.h). */
#include "store/sqlite_int.h"

#include <stdlib.h>
#include <string.h>

#define COLS "seq, id, organization_id, type, effective_at, actor_id, project_id, actor, details"

static void fill(sqlite3_stmt *st, void *p)
{
    tg_audit_row_t *r = p;
    r->seq = sqlite3_column_int64(st, 0);
    tg_sq__col_text(st, 1, r->id, sizeof(r->id));
    tg_sq__col_text(st, 2, r->org_id, sizeof(r->org_id));
    tg_sq__col_text(st, 3, r->type, sizeof(r->type));
    r->effective_at = sqlite3_column_int64(st, 4);
    tg_sq__col_text(st, 5, r->actor_id, sizeof(r->actor_id));
    tg_sq__col_text(st, 6, r->project_id, sizeof(r->project_id));
    tg_sq__col_text(st, 7, r->actor, sizeof(r->actor));
    tg_sq__col_text(st, 8, r->details, sizeof(r->details));
}

static int sq_audit_insert(tg_store_t *b, const tg_audit_row_t *r)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "INSERT INTO audit_logs (id, organization_id, type,"
                                      " effective_at, actor_id, project_id, actor, details)"
                                      " VALUES (?,?,?,?,?,?,?,?)");
    if (!st)
        return -1;
    tg_sq__bind_text(st, 1, r->id);
    tg_sq__bind_text(st, 2, r->org_id);
    tg_sq__bind_text(st, 3, r->type);
    sqlite3_bind_int64(st, 4, r->effective_at);
    tg_sq__bind_text(st, 5, r->actor_id);
    tg_sq__bind_opt_text(st, 6, r->project_id);
    tg_sq__bind_text(st, 7, r->actor);
    tg_sq__bind_text(st, 8, r->details);
    return tg_sq__run(s, st);
}

static int sq_audit_page(tg_store_t *b, const char *org_id, int64_t from, int64_t to,
                         int64_t before_seq, size_t max, tg_audit_row_t **rows, size_t *n)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "SELECT " COLS " FROM audit_logs WHERE organization_id=?"
                                      " AND effective_at>=? AND effective_at<? AND seq<?"
                                      " ORDER BY seq DESC LIMIT ?");
    if (st) {
        tg_sq__bind_text(st, 1, org_id);
        sqlite3_bind_int64(st, 2, from);
        sqlite3_bind_int64(st, 3, to);
        sqlite3_bind_int64(st, 4, before_seq > 0 ? before_seq : INT64_MAX);
        sqlite3_bind_int64(st, 5, (int64_t)max);
    }
    return tg_sq__collect(s, st, sizeof(**rows), fill, (void **)rows, n);
}

static void fill_seq(sqlite3_stmt *st, void *p) { *(int64_t *)p = sqlite3_column_int64(st, 0); }

static int sq_audit_seq(tg_store_t *b, const char *org_id, const char *id, int64_t *seq)
{
    sq_t *s = (sq_t *)b;
    sqlite3_stmt *st = tg_sq__prep(s, "SELECT seq FROM audit_logs WHERE id=? AND organization_id=?");
    int64_t *rows = NULL;
    size_t n = 0;
    if (st) {
        tg_sq__bind_text(st, 1, id);
        tg_sq__bind_text(st, 2, org_id);
    }
    int rc = tg_sq__collect(s, st, sizeof(int64_t), fill_seq, (void **)&rows, &n);
    if (rc == 0 && n == 0)
        rc = TG_STORE_NOTFOUND;
    else if (rc == 0)
        *seq = rows[0];
    free(rows);
    return rc;
}

const struct tg_store_audit tg_sq__audit = {
    .audit_insert = sq_audit_insert,
    .audit_page = sq_audit_page,
    .audit_seq = sq_audit_seq,
};
