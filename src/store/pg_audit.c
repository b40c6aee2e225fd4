/* The audit log on PostgreSQL (store/audit.h). */
#include "store/pg_int.h"

#include <stdlib.h>
#include <string.h>

#define COLS "seq, id, organization_id, type, effective_at, actor_id, project_id, actor, details"

static void fill(const PGresult *res, int row, void *p)
{
    tg_audit_row_t *r = p;
    r->seq = tg_pg__col_int(res, row, 0);
    tg_pg__col_text(res, row, 1, r->id, sizeof(r->id));
    tg_pg__col_text(res, row, 2, r->org_id, sizeof(r->org_id));
    tg_pg__col_text(res, row, 3, r->type, sizeof(r->type));
    r->effective_at = tg_pg__col_int(res, row, 4);
    tg_pg__col_text(res, row, 5, r->actor_id, sizeof(r->actor_id));
    tg_pg__col_text(res, row, 6, r->project_id, sizeof(r->project_id));
    tg_pg__col_text(res, row, 7, r->actor, sizeof(r->actor));
    tg_pg__col_text(res, row, 8, r->details, sizeof(r->details));
}

static int pg_audit_insert(tg_store_t *b, const tg_audit_row_t *r)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, r->id);
    tg_pg__text(&a, r->org_id);
    tg_pg__text(&a, r->type);
    tg_pg__int(&a, r->effective_at);
    tg_pg__text(&a, r->actor_id);
    tg_pg__opt_text(&a, r->project_id);
    tg_pg__text(&a, r->actor);
    tg_pg__text(&a, r->details);
    return tg_pg__cmd((pg_t *)b, "INSERT INTO audit_logs (id, organization_id, type, effective_at,"
                                 " actor_id, project_id, actor, details)"
                                 " VALUES ($1,$2,$3,$4,$5,$6,$7,$8)", &a, NULL);
}

static int pg_audit_page(tg_store_t *b, const char *org_id, int64_t from, int64_t to,
                         int64_t before_seq, size_t max, tg_audit_row_t **rows, size_t *n)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, org_id);
    tg_pg__int(&a, from);
    tg_pg__int(&a, to);
    tg_pg__int(&a, before_seq > 0 ? before_seq : INT64_MAX);
    tg_pg__int(&a, (int64_t)max);
    return tg_pg__collect((pg_t *)b, "SELECT " COLS " FROM audit_logs WHERE organization_id=$1"
                                     " AND effective_at>=$2 AND effective_at<$3 AND seq<$4"
                                     " ORDER BY seq DESC LIMIT $5",
                          &a, sizeof(**rows), fill, (void **)rows, n);
}

static void fill_seq(const PGresult *r, int row, void *out) { *(int64_t *)out = tg_pg__col_int(r, row, 0); }

static int pg_audit_seq(tg_store_t *b, const char *org_id, const char *id, int64_t *seq)
{
    tg_pg_args_t a = {0};
    tg_pg__text(&a, id);
    tg_pg__text(&a, org_id);
    return tg_pg__get_one((pg_t *)b, "SELECT seq FROM audit_logs WHERE id=$1 AND organization_id=$2",
                          &a, fill_seq, seq);
}

const struct tg_store_audit tg_pg__audit = {
    .audit_insert = pg_audit_insert,
    .audit_page = pg_audit_page,
    .audit_seq = pg_audit_seq,
};
