/* The Admin API under /v1/organization/: admin keys, projects, project API keys and
 * providers, in OpenAI's object shapes. Writes go to the store, then the catalog snapshot is
 * rebuilt so the request path sees them at once. */
#include "api/api_int.h"

#include "auth/keys.h"
#include "auth/secrets.h"
#include "auth/perms.h"
#include "billing/usage.h"
#include "core/log.h"
#include "core/util.h"
#include "limits/tiers.h"
#include "providers/pool.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* name: a required (or optional, when cur is given) string of 1..256 bytes. */
static int get_name(tg_call_t *c, const cJSON *j, char *out, size_t cap, int required)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "name");
    if (!v || cJSON_IsNull(v)) {
        if (!required)
            return 0;
        tg_call_error(c, TG_E_MISSING_PARAM, "name", "Missing required parameter: 'name'.");
        return -1;
    }
    if (!cJSON_IsString(v) || !*v->valuestring || strlen(v->valuestring) >= cap) {
        tg_call_error(c, TG_E_INVALID_VALUE, "name",
                      "Invalid 'name': expected a non-empty string of at most %zu bytes.",
                      cap - 1);
        return -1;
    }
    snprintf(out, cap, "%s", v->valuestring);
    return 1;
}

/* ---- keys ---- */

static cJSON *key_object(const tg_key_row_t *k)
{
    cJSON *o = cJSON_CreateObject();
    int admin = k->kind == TG_KEY_ADMIN;
    cJSON_AddStringToObject(o, "object",
                            admin ? "organization.admin_api_key" : "organization.project.api_key");
    cJSON_AddStringToObject(o, "id", k->id);
    cJSON_AddStringToObject(o, "name", k->name);
    cJSON_AddStringToObject(o, "redacted_value", k->redacted);
    cJSON_AddNumberToObject(o, "created_at", (double)k->created_at);
    tg_json_opt_time(o, "last_used_at", k->last_used_at);
    tg_json_opt_time(o, "expires_at", k->expires_at);
    cJSON *perm = cJSON_Parse(k->permissions);
    cJSON_AddItemToObject(o, "permissions", perm ? perm : cJSON_CreateString("all"));
    cJSON *allowed = k->allowed_models[0] ? cJSON_Parse(k->allowed_models) : NULL;
    cJSON_AddItemToObject(o, "allowed_models", allowed ? allowed : cJSON_CreateNull());
    if (!admin)
        cJSON_AddStringToObject(o, "project_id", k->project_id);
    cJSON *owner = cJSON_AddObjectToObject(o, "owner");
    cJSON_AddStringToObject(owner, "type", "service_account");
    cJSON *sa = cJSON_AddObjectToObject(owner, "service_account");
    cJSON_AddStringToObject(sa, "id", k->id);
    cJSON_AddStringToObject(sa, "name", k->name);
    cJSON_AddStringToObject(sa, "role", admin ? "owner" : "member");
    cJSON_AddNumberToObject(sa, "created_at", (double)k->created_at);
    if (!admin)
        cJSON_AddStringToObject(o, "owner_project_access", "active");
    return o;
}

/* POST …/admin_api_keys, POST …/projects/{project}/api_keys */
void tg_api_key_create(tg_call_t *c, const tg_route_args_t *a)
{
    int kind = a->project ? TG_KEY_PROJECT : TG_KEY_ADMIN;
    const char *project_id = a->project ? a->project->id : NULL;
    if (a->project && a->project->archived_at) {
        tg_call_error(c, TG_E_INVALID_VALUE, NULL, "Project '%s' is archived.", a->project->id);
        return;
    }
    cJSON *j = tg_call_body_json(c);
    tg_key_row_t row;
    char secret[TG_KEY_SECRET_MAX];
    unsigned scopes;
    const char *msg;
    int64_t now = tg_now();

    if (!j)
        return;
    memset(&row, 0, sizeof(row));
    if (get_name(c, j, row.name, sizeof(row.name), 1) < 0)
        goto out;
    const cJSON *perm = cJSON_GetObjectItemCaseSensitive(j, "permissions");
    if (tg_perms_from_json(perm, kind, &scopes, &msg) < 0) {
        tg_call_error(c, TG_E_INVALID_VALUE, "permissions", "Invalid 'permissions': %s.", msg);
        goto out;
    }
    char *ptext = perm && !cJSON_IsNull(perm) ? cJSON_PrintUnformatted(perm) : NULL;
    snprintf(row.permissions, sizeof(row.permissions), "%s", ptext ? ptext : "\"all\"");
    if (ptext && strlen(ptext) >= sizeof(row.permissions)) {
        free(ptext);
        tg_call_error(c, TG_E_INVALID_VALUE, "permissions", "Invalid 'permissions': too long.");
        goto out;
    }
    free(ptext);
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(j, "expires_in_seconds");
    if (exp && !cJSON_IsNull(exp)) {
        if (!cJSON_IsNumber(exp) || exp->valuedouble < 1 || exp->valuedouble > 31536000.0 * 10 ||
            exp->valuedouble != (double)(int64_t)exp->valuedouble) {
            tg_call_error(c, TG_E_INVALID_VALUE, "expires_in_seconds",
                          "Invalid 'expires_in_seconds': expected an integer from 1 to "
                          "315360000.");
            goto out;
        }
        row.expires_at = now + (int64_t)exp->valuedouble;
    }
    const cJSON *am = cJSON_GetObjectItemCaseSensitive(j, "allowed_models");
    if (am && !cJSON_IsNull(am)) {
        const cJSON *it;
        int ok = cJSON_IsArray(am) && kind == TG_KEY_PROJECT;
        cJSON_ArrayForEach(it, am) ok = ok && cJSON_IsString(it) && *it->valuestring &&
                                        strlen(it->valuestring) < TG_NAME_MAX;
        char *t = ok ? cJSON_PrintUnformatted(am) : NULL;
        if (!t || strlen(t) >= sizeof(row.allowed_models)) {
            free(t);
            tg_call_error(c, TG_E_INVALID_VALUE, "allowed_models",
                          "Invalid 'allowed_models': expected an array of model ids.");
            goto out;
        }
        snprintf(row.allowed_models, sizeof(row.allowed_models), "%s", t);
        free(t);
    }
    tg_random_id(row.id, "key_", 24);
    row.kind = kind;
    snprintf(row.org_id, sizeof(row.org_id), "%s", c->org_id);
    if (project_id)
        snprintf(row.project_id, sizeof(row.project_id), "%s", project_id);
    tg_key_generate(kind == TG_KEY_ADMIN ? "sk-admin-" : "sk-proj-", secret);
    tg_key_hash(secret, strlen(secret), row.hash);
    tg_key_redact(secret, row.redacted);
    row.created_at = now;
    cJSON *ev = tg_audit_details(row.id), *evd = cJSON_AddObjectToObject(ev, "data");
    cJSON_AddStringToObject(evd, "name", row.name);
    cJSON_AddItemToObject(evd, "permissions", cJSON_Parse(row.permissions));
    if (tg_audit_begin(c) < 0 ||
        tg_audit_end(c, c->w->store->tenancy->key_insert(c->w->store, &row), "api_key.created",
                     project_id, ev) < 0 ||
        tg_call_reload(c) < 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        goto out;
    }
    cJSON *o = key_object(&row);
    cJSON_AddStringToObject(o, "value", secret); /* the only time the secret is shown */
    sodium_memzero(secret, sizeof(secret));
    tg_call_json(c, 200, o);
out:
    cJSON_Delete(j);
}

/* Live keys of the caller's organisation of one kind (and project). */
static int load_keys(tg_call_t *c, int kind, const char *project_id, tg_key_row_t **rows,
                     size_t *n)
{
    tg_key_row_t *all;
    size_t cnt, k = 0;
    if (c->w->store->tenancy->key_list(c->w->store, c->org_id, &all, &cnt) < 0)
        return -1;
    for (size_t i = 0; i < cnt; i++)
        if (all[i].kind == kind && (!project_id || strcmp(all[i].project_id, project_id) == 0))
            all[k++] = all[i];
    *rows = all;
    *n = k;
    return 0;
}

void tg_api_keys_list(tg_call_t *c, const tg_route_args_t *a)
{
    tg_key_row_t *rows;
    size_t n;
    if (load_keys(c, a->project ? TG_KEY_PROJECT : TG_KEY_ADMIN, a->project ? a->project->id : NULL,
                  &rows, &n) < 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return;
    }
    cJSON *items = cJSON_CreateArray();
    for (size_t k = 0; k < n; k++)
        cJSON_AddItemToArray(items, key_object(&rows[k]));
    free(rows);
    tg_call_list(c, items);
}

/* The keys of the route's kind (and project), and which of them is {id}; -1 after answering
 * (404 when none is). */
static int find_key(tg_call_t *c, const tg_route_args_t *a, tg_key_row_t **rows, size_t *n,
                    size_t *k)
{
    if (load_keys(c, a->project ? TG_KEY_PROJECT : TG_KEY_ADMIN, a->project ? a->project->id : NULL,
                  rows, n) < 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return -1;
    }
    for (*k = 0; *k < *n; (*k)++)
        if (tg_span_is(a->id, a->idlen, (*rows)[*k].id))
            return 0;
    free(*rows);
    tg_call_error(c, TG_E_NOT_FOUND, NULL, "No API key found with id '%.*s'.",
                  (int)(a->idlen > 64 ? 64 : a->idlen), a->id);
    return -1;
}

void tg_api_key_get(tg_call_t *c, const tg_route_args_t *a)
{
    tg_key_row_t *rows;
    size_t n, k;
    if (find_key(c, a, &rows, &n, &k) < 0)
        return;
    tg_call_json(c, 200, key_object(&rows[k]));
    free(rows);
}

void tg_api_key_delete(tg_call_t *c, const tg_route_args_t *a)
{
    tg_key_row_t *rows;
    size_t n, k;
    char id[TG_ID_MAX];
    if (find_key(c, a, &rows, &n, &k) < 0)
        return;
    int kind = rows[k].kind;
    snprintf(id, sizeof(id), "%s", rows[k].id);
    free(rows);
    if (kind == TG_KEY_ADMIN && n == 1) {
        tg_call_error(c, TG_E_CONFLICT, NULL,
                      "This is the organization's last admin key; create another one before "
                      "deleting it.");
        return;
    }
    const char *project_id = a->project ? a->project->id : NULL;
    if (tg_audit_begin(c) < 0 ||
        tg_audit_end(c, c->w->store->tenancy->key_revoke(c->w->store, id, tg_now()),
                     "api_key.deleted", project_id, tg_audit_details(id)) < 0 ||
        tg_call_reload(c) < 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", kind == TG_KEY_ADMIN ? "organization.admin_api_key.deleted"
                                                              : "organization.project.api_key.deleted");
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddBoolToObject(o, "deleted", 1);
    tg_call_json(c, 200, o);
}

/* ---- projects ---- */

static cJSON *project_object(const tg_project_row_t *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", p->id);
    cJSON_AddStringToObject(o, "object", "organization.project");
    cJSON_AddStringToObject(o, "name", p->name);
    cJSON_AddNumberToObject(o, "created_at", (double)p->created_at);
    tg_json_opt_time(o, "archived_at", p->archived_at);
    cJSON_AddStringToObject(o, "status", p->archived_at ? "archived" : "active");
    return o;
}

/* event: project.created, project.updated or project.archived */
static void save_project(tg_call_t *c, tg_project_row_t *p, const char *event)
{
    cJSON *ev = tg_audit_details(p->id);
    if (strcmp(event, "project.archived") != 0)
        cJSON_AddStringToObject(cJSON_AddObjectToObject(ev, "data"), "name", p->name);
    if (tg_audit_begin(c) < 0 ||
        tg_audit_end(c, c->w->store->tenancy->project_upsert(c->w->store, p), event, p->id, ev) < 0 ||
        tg_call_reload(c) < 0)
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
    else
        tg_call_json(c, 200, project_object(p));
}

/* ---- projects' rate limits: one project.rate_limit per model, id "rl-<model>" ---- */

static cJSON *rate_limit_object(tg_call_t *c, const tg_project_row_t *p, const tg_model_row_t *m)
{
    /* c->key may be gone after a reload: the tier comes from the organisation */
    const tg_org_row_t *org = tg_catalog_org(c->cat, c->org_id);
    tg_rl_limits_t tier = {{0}}, eff;
    if (org && !org->is_operator)
        tg_tiers_limits(org->tier, m, &tier);
    tg_catalog_project_limits(c->cat, p->id, m->id, &tier, &eff);
    cJSON *o = cJSON_CreateObject();
    char id[TG_NAME_MAX + 4];
    snprintf(id, sizeof(id), "rl-%s", m->id);
    cJSON_AddStringToObject(o, "object", "project.rate_limit");
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "model", m->id);
    cJSON_AddNumberToObject(o, "max_requests_per_1_minute", (double)eff.v[TG_RL_RPM]);
    cJSON_AddNumberToObject(o, "max_tokens_per_1_minute", (double)eff.v[TG_RL_TPM]);
    cJSON_AddNumberToObject(o, "max_requests_per_1_day", (double)eff.v[TG_RL_RPD]);
    cJSON_AddNumberToObject(o, "max_tokens_per_1_day", (double)eff.v[TG_RL_TPD]);
    /* Tollgate's: whether any enabled provider serves the model now (else requests for it
     * get 404 model_not_found, whatever the limits say) */
    cJSON_AddBoolToObject(o, "served", tg_catalog_route(c->cat, m)->n > 0);
    return o;
}

void tg_api_rate_limits_list(tg_call_t *c, const tg_route_args_t *a)
{
    size_t n;
    const tg_model_row_t *models = tg_catalog_models(c->cat, &n);
    cJSON *items = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(items, rate_limit_object(c, a->project, &models[i]));
    tg_call_list_n(c, items, 100); /* OpenAI's default for rate limits */
}

/* The model of a rate limit's id "rl-<model>"; NULL after answering 404. */
static const tg_model_row_t *rate_limit_model(tg_call_t *c, const tg_route_args_t *a)
{
    const tg_model_row_t *m = NULL;
    if (a->idlen > 3 && !memcmp(a->id, "rl-", 3))
        m = tg_catalog_model(c->cat, a->id + 3, a->idlen - 3);
    if (!m)
        tg_call_error(c, TG_E_NOT_FOUND, NULL, "No rate limit found with id '%.*s'.",
                      (int)(a->idlen > 64 ? 64 : a->idlen), a->id);
    return m;
}

void tg_api_rate_limit_get(tg_call_t *c, const tg_route_args_t *a)
{
    const tg_model_row_t *m = rate_limit_model(c, a);
    if (m)
        tg_call_json(c, 200, rate_limit_object(c, a->project, m));
}

void tg_api_rate_limit_set(tg_call_t *c, const tg_route_args_t *a)
{
    const tg_model_row_t *m = rate_limit_model(c, a);
    tg_project_row_t p = *a->project; /* a->project goes with the snapshot the reload ends */
    if (!m)
        return;
    cJSON *j = tg_call_body_json(c);
    if (!j)
        return;
    static const char *names[TG_RL__N] = {"max_requests_per_1_minute", "max_requests_per_1_day",
                                          "max_tokens_per_1_minute", "max_tokens_per_1_day"};
    tg_rate_limit_row_t row;
    memset(&row, 0, sizeof(row));
    snprintf(row.project_id, sizeof(row.project_id), "%s", p.id);
    snprintf(row.model, sizeof(row.model), "%s", m->id);
    /* start from the project's current own limits */
    tg_rl_limits_t zero = {{0}}, own;
    tg_catalog_project_limits(c->cat, p.id, m->id, &zero, &own);
    for (int k = 0; k < TG_RL__N; k++) {
        row.v[k] = own.v[k];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, names[k]);
        if (!v)
            continue;
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e15 ||
            v->valuedouble != (double)(int64_t)v->valuedouble) {
            tg_call_error(c, TG_E_INVALID_VALUE, names[k],
                          "Invalid '%s': expected a non-negative integer (0: the tier's "
                          "limit).", names[k]);
            cJSON_Delete(j);
            return;
        }
        row.v[k] = (int64_t)v->valuedouble;
    }
    cJSON_Delete(j);
    cJSON *ev = tg_audit_details(NULL), *chg;
    char rl[TG_NAME_MAX + 4];
    snprintf(rl, sizeof(rl), "rl-%s", row.model);
    cJSON_AddStringToObject(ev, "id", rl);
    chg = cJSON_AddObjectToObject(ev, "changes_requested");
    for (int k = 0; k < TG_RL__N; k++)
        cJSON_AddNumberToObject(chg, names[k], (double)row.v[k]);
    if (tg_audit_begin(c) < 0 ||
        tg_audit_end(c, c->w->store->tenancy->rate_limit_set(c->w->store, &row),
                     "rate_limit.updated", p.id, ev) < 0 ||
        tg_call_reload(c) < 0 ||
        !(m = tg_catalog_model(c->cat, row.model, strlen(row.model)))) { /* the new snapshot */
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return;
    }
    tg_call_json(c, 200, rate_limit_object(c, &p, m));
}

void tg_api_projects_list(tg_call_t *c, const tg_route_args_t *a)
{
    char buf[16];
    const char *ia = tg_call_query(c, "include_archived", buf, sizeof(buf));
    int archived = ia && strcmp(ia, "true") == 0;
    tg_project_row_t *rows;
    size_t n;
    if (c->w->store->tenancy->project_list(c->w->store, c->org_id, &rows, &n) < 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return;
    }
    cJSON *items = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        if (archived || !rows[i].archived_at)
            cJSON_AddItemToArray(items, project_object(&rows[i]));
    free(rows);
    tg_call_list(c, items);
}

void tg_api_project_create(tg_call_t *c, const tg_route_args_t *a)
{
    cJSON *j = tg_call_body_json(c);
    tg_project_row_t p;
    if (!j)
        return;
    memset(&p, 0, sizeof(p));
    if (get_name(c, j, p.name, sizeof(p.name), 1) > 0) {
        tg_random_id(p.id, "proj_", 24);
        snprintf(p.org_id, sizeof(p.org_id), "%s", c->org_id);
        p.created_at = tg_now();
        save_project(c, &p, "project.created");
    }
    cJSON_Delete(j);
}

void tg_api_project_get(tg_call_t *c, const tg_route_args_t *a)
{
    tg_call_json(c, 200, project_object(a->project));
}

void tg_api_project_update(tg_call_t *c, const tg_route_args_t *a)
{
    tg_project_row_t p = *a->project;
    cJSON *j = tg_call_body_json(c);
    if (!j)
        return;
    if (get_name(c, j, p.name, sizeof(p.name), 1) > 0)
        save_project(c, &p, "project.updated");
    cJSON_Delete(j);
}

void tg_api_project_archive(tg_call_t *c, const tg_route_args_t *a)
{
    tg_project_row_t p = *a->project;
    if (!p.archived_at)
        p.archived_at = tg_now();
    save_project(c, &p, "project.archived");
}

/* ---- providers (operator only) ---- */

/* A provider as the Admin API shows it: never a key, only how many there are; its health as
 * this instance's pool sees it (providers/pool.h). */
static cJSON *provider_object(tg_call_t *c, const tg_provider_row_t *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", p->id);
    cJSON_AddStringToObject(o, "object", "organization.provider");
    cJSON_AddStringToObject(o, "name", p->name);
    cJSON_AddStringToObject(o, "type", p->type);
    cJSON_AddStringToObject(o, "base_url", p->base_url);
    if (!strcmp(p->type, "azure"))
        cJSON_AddStringToObject(o, "api_version",
                                p->api_version[0] ? p->api_version : TG_AZURE_API_VERSION);
    const tg_provider_t *live = c->cat ? tg_catalog_provider(c->cat, p->id) : NULL;
    cJSON_AddBoolToObject(o, "has_api_key", p->secret_len > 0); /* the keys themselves: never */
    cJSON_AddNumberToObject(o, "api_key_count", live ? live->nkeys : p->secret_len > 0);
    cJSON *m = cJSON_Parse(p->models);
    cJSON_AddItemToObject(o, "models", m ? m : cJSON_CreateArray());
    cJSON_AddNumberToObject(o, "weight", p->weight);
    cJSON_AddNumberToObject(o, "priority", p->priority);
    if (p->timeout_ms > 0)
        cJSON_AddNumberToObject(o, "timeout_ms", (double)p->timeout_ms);
    else
        cJSON_AddNullToObject(o, "timeout_ms");
    cJSON_AddBoolToObject(o, "enabled", p->enabled);
    tg_health_view_t h;
    tg_pool_health(p->id, p->enabled, &h);
    cJSON_AddStringToObject(o, "status", h.status);
    if (h.last_error[0]) {
        cJSON_AddStringToObject(o, "last_error", h.last_error);
        cJSON_AddNumberToObject(o, "last_error_at", (double)h.last_error_at);
    } else {
        cJSON_AddNullToObject(o, "last_error");
        cJSON_AddNullToObject(o, "last_error_at");
    }
    cJSON_AddNumberToObject(o, "created_at", (double)p->created_at);
    return o;
}

/* api_key (one) or api_keys (several, rotated): sealed together, one per line. */
static int provider_keys(tg_call_t *c, const cJSON *j, tg_provider_row_t *p)
{
    const cJSON *one = cJSON_GetObjectItemCaseSensitive(j, "api_key");
    const cJSON *many = cJSON_GetObjectItemCaseSensitive(j, "api_keys");
    const cJSON *it;
    char text[TG_UPSTREAM_KEYS_MAX * TG_UPSTREAM_KEY_MAX];
    size_t len = 0;
    int n = 0, rc = -1;

    if (one && many && !cJSON_IsNull(one) && !cJSON_IsNull(many)) {
        tg_call_error(c, TG_E_INVALID_VALUE, "api_keys", "Give either 'api_key' or 'api_keys'.");
        return -1;
    }
    if (!(one && !cJSON_IsNull(one)) && !(many && !cJSON_IsNull(many))) {
        if ((one && cJSON_IsNull(one)) || (many && cJSON_IsNull(many)))
            p->secret_len = 0; /* null: no key (a local server) */
        return 0;
    }
    const char *param = one && !cJSON_IsNull(one) ? "api_key" : "api_keys";
    cJSON *arr = NULL;
    if (one && !cJSON_IsNull(one)) {
        arr = cJSON_CreateArray();
        cJSON_AddItemToArray(arr, cJSON_Duplicate(one, 1));
        many = arr;
    }
    if (!cJSON_IsArray(many) || cJSON_GetArraySize(many) < 1 ||
        cJSON_GetArraySize(many) > TG_UPSTREAM_KEYS_MAX)
        goto bad;
    cJSON_ArrayForEach(it, many)
    {
        size_t k = cJSON_IsString(it) ? strlen(it->valuestring) : 0;
        if (!k || k >= TG_UPSTREAM_KEY_MAX || strpbrk(it->valuestring, "\r\n"))
            goto bad;
        if (n++)
            text[len++] = '\n';
        memcpy(text + len, it->valuestring, k);
        len += k;
    }
    int sealed = tg_secret_seal(text, len, p->secret, sizeof(p->secret));
    if (sealed < 0)
        goto bad;
    p->secret_len = (size_t)sealed;
    rc = 0;
    goto out;
bad:
    tg_call_error(c, TG_E_INVALID_VALUE, param,
                  "Invalid '%s': expected %s of at most %d characters each, without line "
                  "breaks.", param,
                  strcmp(param, "api_key") ? "an array of 1 to 8 strings" : "a string",
                  TG_UPSTREAM_KEY_MAX - 1);
out:
    sodium_memzero(text, sizeof(text));
    cJSON_Delete(arr);
    return rc;
}

/* Applies the body to p; required fields only when creating. Answers errors itself. */
static int provider_fields(tg_call_t *c, const cJSON *j, tg_provider_row_t *p, int create)
{
    const cJSON *v;
    if (get_name(c, j, p->name, sizeof(p->name), create) < 0)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(j, "type");
    if (v || create) {
        if (!v) {
            tg_call_error(c, TG_E_MISSING_PARAM, "type", "Missing required parameter: 'type'.");
            return -1;
        }
        if (!cJSON_IsString(v) || !tg_adapter_find(v->valuestring)) {
            tg_call_error(c, TG_E_INVALID_VALUE, "type", "Invalid 'type': expected %s.",
                          tg_adapter_names());
            return -1;
        }
        snprintf(p->type, sizeof(p->type), "%s", v->valuestring);
    }
    v = cJSON_GetObjectItemCaseSensitive(j, "base_url");
    if (v && !cJSON_IsNull(v)) {
        size_t n = cJSON_IsString(v) ? strlen(v->valuestring) : 0;
        if (!n || n >= sizeof(p->base_url) ||
            (strncmp(v->valuestring, "http://", 7) && strncmp(v->valuestring, "https://", 8)) ||
            strpbrk(v->valuestring, " \r\n\t")) {
            tg_call_error(c, TG_E_INVALID_VALUE, "base_url",
                          "Invalid 'base_url': expected an http:// or https:// URL.");
            return -1;
        }
        snprintf(p->base_url, sizeof(p->base_url), "%s", v->valuestring);
        while (n > 8 && p->base_url[n - 1] == '/')
            p->base_url[--n] = '\0';
    } else if (!p->base_url[0]) {
        const char *d = tg_adapter_find(p->type)->default_base;
        if (!d) {
            tg_call_error(c, TG_E_MISSING_PARAM, "base_url",
                          "Missing required parameter: 'base_url'.");
            return -1;
        }
        snprintf(p->base_url, sizeof(p->base_url), "%s", d);
    }
    if (provider_keys(c, j, p) < 0)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(j, "models");
    if (v || create) {
        const cJSON *it;
        cJSON *clean = cJSON_CreateArray();
        int ok = cJSON_IsArray(v);
        const cJSON *arr = ok ? v : NULL;
        cJSON_ArrayForEach(it, arr) {
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(it, "model");
            const cJSON *um = cJSON_GetObjectItemCaseSensitive(it, "upstream_model");
            if (!cJSON_IsString(m) || !tg_catalog_model(c->cat, m->valuestring, strlen(m->valuestring)) ||
                (um && !cJSON_IsNull(um) && (!cJSON_IsString(um) || !*um->valuestring ||
                                             strlen(um->valuestring) >= TG_NAME_MAX))) {
                cJSON_Delete(clean);
                tg_call_error(c, TG_E_INVALID_VALUE, "models",
                              "Invalid 'models': each item needs a 'model' from the model table "
                              "(add new ones with POST /v1/organization/models/{model}) and an "
                              "optional 'upstream_model' string.");
                return -1;
            }
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "model", m->valuestring);
            cJSON_AddStringToObject(o, "upstream_model",
                                    cJSON_IsString(um) ? um->valuestring : m->valuestring);
            cJSON_AddItemToArray(clean, o);
        }
        char *t = ok ? cJSON_PrintUnformatted(clean) : NULL;
        cJSON_Delete(clean);
        if (!t || strlen(t) >= sizeof(p->models)) {
            free(t);
            tg_call_error(c, TG_E_INVALID_VALUE, "models",
                          "Invalid 'models': expected an array of {\"model\", \"upstream_model\"}.");
            return -1;
        }
        snprintf(p->models, sizeof(p->models), "%s", t);
        free(t);
    }
    static const char *ints[] = {"weight", "priority"};
    int *dst[] = {&p->weight, &p->priority};
    for (int i = 0; i < 2; i++) {
        v = cJSON_GetObjectItemCaseSensitive(j, ints[i]);
        if (!v || cJSON_IsNull(v))
            continue;
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1000000 ||
            v->valuedouble != (double)(int)v->valuedouble) {
            tg_call_error(c, TG_E_INVALID_VALUE, ints[i],
                          "Invalid '%s': expected an integer from 0 to 1000000.", ints[i]);
            return -1;
        }
        *dst[i] = (int)v->valuedouble;
    }
    v = cJSON_GetObjectItemCaseSensitive(j, "timeout_ms");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 600000 ||
            v->valuedouble != (double)(int64_t)v->valuedouble) {
            tg_call_error(c, TG_E_INVALID_VALUE, "timeout_ms",
                          "Invalid 'timeout_ms': expected an integer from 1 to 600000 (the wait "
                          "for the provider's first byte), or null for the server's timeout.");
            return -1;
        }
        p->timeout_ms = (int64_t)v->valuedouble;
    } else if (v) {
        p->timeout_ms = 0;
    }
    v = cJSON_GetObjectItemCaseSensitive(j, "enabled");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsBool(v)) {
            tg_call_error(c, TG_E_INVALID_TYPE, "enabled",
                          "Invalid type for 'enabled': expected a boolean.");
            return -1;
        }
        p->enabled = cJSON_IsTrue(v);
    }
    v = cJSON_GetObjectItemCaseSensitive(j, "api_version");
    if (v && !cJSON_IsNull(v)) {
        size_t k = cJSON_IsString(v) ? strlen(v->valuestring) : 0;
        if (!k || k >= sizeof(p->api_version) ||
            strspn(v->valuestring, "0123456789abcdefghijklmnopqrstuvwxyz-.") != k) {
            tg_call_error(c, TG_E_INVALID_VALUE, "api_version",
                          "Invalid 'api_version': expected an Azure OpenAI API version such as "
                          "'%s'.", TG_AZURE_API_VERSION);
            return -1;
        }
        snprintf(p->api_version, sizeof(p->api_version), "%s", v->valuestring);
    } else if (v) {
        p->api_version[0] = '\0';
    }
    return 0;
}

/* The providers, and which one is {id} (*cur; NULL when the route names none). -1 after
 * answering (404 for an unknown id). The rows hold keys: free them with free_providers. */
static int load_providers(tg_call_t *c, const tg_route_args_t *a, tg_provider_row_t **rows,
                          size_t *n, tg_provider_row_t **cur)
{
    *cur = NULL;
    if (c->w->store->tenancy->provider_list(c->w->store, rows, n) < 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return -1;
    }
    if (!a->id)
        return 0;
    for (size_t i = 0; i < *n; i++)
        if (tg_span_is(a->id, a->idlen, (*rows)[i].id))
            *cur = &(*rows)[i];
    if (*cur)
        return 0;
    tg_call_error(c, TG_E_NOT_FOUND, NULL, "No provider found with id '%.*s'.",
                  (int)(a->idlen > 64 ? 64 : a->idlen), a->id);
    return -1;
}

static void free_providers(tg_provider_row_t *rows, size_t n)
{
    if (rows)
        sodium_memzero(rows, n * sizeof(*rows));
    free(rows);
}

void tg_api_providers_list(tg_call_t *c, const tg_route_args_t *a)
{
    tg_provider_row_t *rows = NULL, *cur;
    size_t n = 0;
    if (load_providers(c, a, &rows, &n, &cur) == 0) {
        cJSON *items = cJSON_CreateArray();
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(items, provider_object(c, &rows[i]));
        tg_call_list(c, items);
    }
    free_providers(rows, n);
}

void tg_api_provider_get(tg_call_t *c, const tg_route_args_t *a)
{
    tg_provider_row_t *rows = NULL, *cur;
    size_t n = 0;
    if (load_providers(c, a, &rows, &n, &cur) == 0)
        tg_call_json(c, 200, provider_object(c, cur));
    free_providers(rows, n);
}

/* POST …/providers (create) and POST …/providers/{id} (change the fields given) */
void tg_api_provider_save(tg_call_t *c, const tg_route_args_t *a)
{
    tg_store_t *st = c->w->store;
    tg_provider_row_t *rows = NULL, *cur, p;
    size_t n = 0;
    cJSON *j;
    if (load_providers(c, a, &rows, &n, &cur) < 0 || !(j = tg_call_body_json(c))) {
        free_providers(rows, n);
        return;
    }
    if (cur) {
        p = *cur;
    } else {
        memset(&p, 0, sizeof(p));
        tg_random_id(p.id, "prov_", 24);
        snprintf(p.org_id, sizeof(p.org_id), "%s", c->org_id);
        p.weight = 1;
        p.enabled = 1;
        p.created_at = tg_now();
    }
    free_providers(rows, n);
    if (provider_fields(c, j, &p, !cur) == 0) {
        cJSON *ev = tg_audit_details(p.id), *evd = cJSON_AddObjectToObject(ev, "data");
        cJSON_AddStringToObject(evd, "name", p.name); /* never a key */
        cJSON_AddStringToObject(evd, "base_url", p.base_url);
        if (tg_audit_begin(c) < 0 ||
            tg_audit_end(c, st->tenancy->provider_upsert(st, &p),
                         cur ? "provider.updated" : "provider.created", NULL, ev) < 0 ||
            tg_call_reload(c) < 0)
            tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        else
            tg_call_json(c, 200, provider_object(c, &p));
    }
    sodium_memzero(&p, sizeof(p));
    cJSON_Delete(j);
}

void tg_api_provider_delete(tg_call_t *c, const tg_route_args_t *a)
{
    tg_provider_row_t *rows = NULL, *cur;
    size_t n = 0;
    char id[TG_ID_MAX];
    if (load_providers(c, a, &rows, &n, &cur) < 0) {
        free_providers(rows, n);
        return;
    }
    snprintf(id, sizeof(id), "%s", cur->id);
    free_providers(rows, n);
    if (tg_audit_begin(c) < 0 ||
        tg_audit_end(c, c->w->store->tenancy->provider_delete(c->w->store, id),
                     "provider.deleted", NULL, tg_audit_details(id)) < 0 ||
        tg_call_reload(c) < 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "organization.provider.deleted");
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddBoolToObject(o, "deleted", 1);
    tg_call_json(c, 200, o);
}
