/* The audit log (SPEC.md §8): every change made through the Admin API, the console or the
 * platform calls, in OpenAI's audit_log shape, stored in the transaction of the change it
 * records — either both are durable or neither.
 *
 * A handler that changes something brackets the change:
 *
 *     tg_audit_begin(c);
 *     rc = st->tenancy->key_insert(st, &row);
 *     rc = tg_audit_end(c, rc, "api_key.created", project_id, details);
 *
 * tg_audit_end writes the event when rc is 0, then commits (or rolls everything back) and
 * returns the outcome. A store call that opens its own transaction nests inside (store.h). */
#include "api/api_int.h"

#include "core/log.h"
#include "core/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The caller, as OpenAI's audit log names an actor: a console session (the user, the client's
 * address) or an API key (an admin key: a service account of the organisation). */
static cJSON *actor_object(tg_call_t *c, const char *ip, char actor_id[TG_ID_MAX])
{
    cJSON *a = cJSON_CreateObject();
    if (c->via_session || (!c->key && c->user.id[0])) {
        cJSON_AddStringToObject(a, "type", "session");
        cJSON *s = cJSON_AddObjectToObject(a, "session");
        cJSON *u = cJSON_AddObjectToObject(s, "user");
        cJSON_AddStringToObject(u, "id", c->user.id);
        cJSON_AddStringToObject(u, "email", c->user.email);
        cJSON_AddStringToObject(s, "ip_address", ip);
        snprintf(actor_id, TG_ID_MAX, "%s", c->user.id);
    } else {
        cJSON_AddStringToObject(a, "type", "api_key");
        cJSON *k = cJSON_AddObjectToObject(a, "api_key");
        cJSON_AddStringToObject(k, "id", c->actor_key);
        cJSON_AddStringToObject(k, "type", "service_account");
        cJSON *sa = cJSON_AddObjectToObject(k, "service_account");
        cJSON_AddStringToObject(sa, "id", c->actor_key);
        cJSON_AddStringToObject(a, "ip_address", ip);
        snprintf(actor_id, TG_ID_MAX, "%s", c->actor_key);
    }
    return a;
}

int tg_audit_write(tg_call_t *c, const char *org_id, const char *type, const char *project_id,
                   cJSON *details)
{
    tg_audit_row_t r;
    if (!c->actor_key[0] && c->key)
        snprintf(c->actor_key, sizeof(c->actor_key), "%s", c->key->row.id);
    memset(&r, 0, sizeof(r));
    tg_random_id(r.id, "audit_log-", 24);
    snprintf(r.org_id, sizeof(r.org_id), "%s", org_id && *org_id ? org_id : c->org_id);
    snprintf(r.type, sizeof(r.type), "%s", type);
    r.effective_at = tg_now();
    if (project_id)
        snprintf(r.project_id, sizeof(r.project_id), "%s", project_id);
    cJSON *a = actor_object(c, c->req ? tg_http_peer(c->req) : "", r.actor_id);
    char *at = cJSON_PrintUnformatted(a), *dt = details ? cJSON_PrintUnformatted(details) : NULL;
    cJSON_Delete(a);
    cJSON_Delete(details);
    int rc = -1;
    if (at && strlen(at) < sizeof(r.actor) && (!dt || strlen(dt) < sizeof(r.details))) {
        snprintf(r.actor, sizeof(r.actor), "%s", at);
        snprintf(r.details, sizeof(r.details), "%s", dt ? dt : "{}");
        rc = c->w->store->audit->audit_insert(c->w->store, &r);
    } else {
        tg_error("audit: an event of type %s does not fit its row", type);
    }
    free(at);
    free(dt);
    return rc;
}

int tg_audit_begin(tg_call_t *c)
{
    if (c->key) /* the actor outlives a catalog reload that ends c->key */
        snprintf(c->actor_key, sizeof(c->actor_key), "%s", c->key->row.id);
    return c->w->store->ops->begin(c->w->store);
}

int tg_audit_end(tg_call_t *c, int rc, const char *type, const char *project_id, cJSON *details)
{
    tg_store_t *st = c->w->store;
    if (rc == 0)
        rc = tg_audit_write(c, NULL, type, project_id, details);
    else
        cJSON_Delete(details);
    if (rc == 0 && st->ops->commit(st) < 0)
        rc = -1;
    else if (rc != 0)
        st->ops->rollback(st);
    return rc;
}

/* A small object {"id": id, …}: the usual details of an event. */
cJSON *tg_audit_details(const char *id)
{
    cJSON *o = cJSON_CreateObject();
    if (id)
        cJSON_AddStringToObject(o, "id", id);
    return o;
}

/* ---- GET /v1/organization/audit_logs ---- */

#define FILTER_MAX 32

typedef struct {
    const char *v[FILTER_MAX];
    char *owned[FILTER_MAX];
    int n, too_many;
} filter_t;

static int add_value(void *arg, const char *v)
{
    filter_t *f = arg;
    if (f->n == FILTER_MAX) {
        f->too_many = 1;
        return 0;
    }
    f->owned[f->n] = strdup(v);
    if (!f->owned[f->n])
        return -1;
    f->v[f->n] = f->owned[f->n];
    f->n++;
    return 0;
}

static void filter_free(filter_t *f)
{
    for (int i = 0; i < f->n; i++)
        free(f->owned[i]);
}

static int passes(const filter_t *f, const char *v)
{
    if (!f->n)
        return 1;
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->v[i], v) == 0)
            return 1;
    return 0;
}

/* effective_at[gt|gte|lt|lte]: -1 after answering 400, 0 when absent, 1 when set. */
static int time_bound(tg_call_t *c, const char *name, int64_t *out)
{
    char buf[32], *end;
    const char *v = tg_call_query(c, name, buf, sizeof(buf));
    if (!v)
        return 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || x < 0 || x > 4102444800LL) {
        tg_call_error(c, TG_E_INVALID_VALUE, name, "Invalid '%s': expected a Unix time in seconds.",
                      name);
        return -1;
    }
    *out = x;
    return 1;
}

static cJSON *event_object(const tg_audit_row_t *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", r->id);
    cJSON_AddStringToObject(o, "type", r->type);
    cJSON_AddNumberToObject(o, "effective_at", (double)r->effective_at);
    if (r->project_id[0]) {
        cJSON *p = cJSON_AddObjectToObject(o, "project");
        cJSON_AddStringToObject(p, "id", r->project_id);
    }
    cJSON *actor = cJSON_Parse(r->actor), *details = cJSON_Parse(r->details);
    cJSON_AddItemToObject(o, "actor", actor ? actor : cJSON_CreateObject());
    cJSON_AddItemToObject(o, r->type, details ? details : cJSON_CreateObject());
    return o;
}

void tg_api_audit_logs(tg_call_t *c, const tg_route_args_t *a)
{
    filter_t types = {0}, actors = {0}, projects = {0};
    int64_t v, from = 0, to = INT64_MAX, before_seq = 0;
    char buf[TG_ID_MAX * 2];
    long limit = 20;
    tg_audit_row_t *rows = NULL;
    cJSON *data = NULL;
    int rc;

    if ((rc = time_bound(c, "effective_at[gt]", &v)) < 0)
        goto out;
    if (rc)
        from = v + 1;
    if ((rc = time_bound(c, "effective_at[gte]", &v)) < 0)
        goto out;
    if (rc && v > from)
        from = v;
    if ((rc = time_bound(c, "effective_at[lt]", &v)) < 0)
        goto out;
    if (rc)
        to = v;
    if ((rc = time_bound(c, "effective_at[lte]", &v)) < 0)
        goto out;
    if (rc && v + 1 < to)
        to = v + 1;
    const char *l = tg_call_query(c, "limit", buf, sizeof(buf));
    if (l) {
        char *end;
        limit = strtol(l, &end, 10);
        if (!*l || *end || limit < 1 || limit > 100) {
            tg_call_error(c, TG_E_INVALID_VALUE, "limit",
                          "Invalid 'limit': expected an integer from 1 to 100.");
            goto out;
        }
    }
    const char *after = tg_call_query(c, "after", buf, sizeof(buf));
    if (after) {
        rc = c->w->store->audit->audit_seq(c->w->store, c->org_id, after, &before_seq);
        if (rc == TG_STORE_NOTFOUND) {
            tg_call_error(c, TG_E_INVALID_VALUE, "after", "Invalid 'after': no audit log event "
                                                          "with id '%.64s'.", after);
            goto out;
        }
        if (rc < 0) {
            tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
            goto out;
        }
    }
    if (tg_call_query_each(c, "event_types", add_value, &types) < 0 ||
        tg_call_query_each(c, "actor_ids", add_value, &actors) < 0 ||
        tg_call_query_each(c, "project_ids", add_value, &projects) < 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        goto out;
    }
    if (types.too_many || actors.too_many || projects.too_many) {
        tg_call_error(c, TG_E_INVALID_VALUE, NULL, "At most %d values per filter.", FILTER_MAX);
        goto out;
    }
    /* newest first, in windows, until limit + 1 events pass the filters (the +1 tells
     * has_more) or the log ends */
    data = cJSON_CreateArray();
    int found = 0;
    char first[TG_ID_MAX] = "", last[TG_ID_MAX] = "";
    for (;;) {
        size_t n = 0;
        free(rows);
        rows = NULL;
        if (c->w->store->audit->audit_page(c->w->store, c->org_id, from, to, before_seq, 200,
                                           &rows, &n) < 0) {
            tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
            goto out;
        }
        for (size_t i = 0; i < n && found <= limit; i++) {
            if (!passes(&types, rows[i].type) || !passes(&actors, rows[i].actor_id) ||
                !passes(&projects, rows[i].project_id))
                continue;
            if (++found > limit)
                break;
            if (!first[0])
                snprintf(first, sizeof(first), "%s", rows[i].id);
            snprintf(last, sizeof(last), "%s", rows[i].id);
            cJSON_AddItemToArray(data, event_object(&rows[i]));
        }
        if (found > limit || n < 200)
            break;
        before_seq = rows[n - 1].seq;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON_AddItemToObject(o, "data", data);
    data = NULL;
    if (first[0])
        cJSON_AddStringToObject(o, "first_id", first);
    else
        cJSON_AddNullToObject(o, "first_id");
    if (last[0])
        cJSON_AddStringToObject(o, "last_id", last);
    else
        cJSON_AddNullToObject(o, "last_id");
    cJSON_AddBoolToObject(o, "has_more", found > limit);
    tg_call_json(c, 200, o);
out:
    cJSON_Delete(data);
    free(rows);
    filter_free(&types);
    filter_free(&actors);
    filter_free(&projects);
}
