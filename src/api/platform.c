/* The operator's platform calls, /v1/platform/… (SPEC.md §1.2): customer organisations —
 * list, create, read, rename, set a tier by hand, suspend or reactivate — and their credit.
 *
 * Rows of router.c's table: the operator's admin key (or session) is checked there, and the
 * route's {org} is resolved to a->org before a handler runs. */
#include "api/api_int.h"

#include "auth/perms.h"
#include "auth/tenancy.h"
#include "core/log.h"
#include "limits/tiers.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cJSON *org_object(const tg_org_row_t *o) { return tg_org_json(o); }

void tg_api_orgs_list(tg_call_t *c, const tg_route_args_t *a)
{
    tg_org_row_t *rows;
    size_t n;
    if (c->w->store->tenancy->org_list(c->w->store, &rows, &n) < 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return;
    }
    cJSON *items = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(items, org_object(&rows[i]));
    free(rows);
    tg_call_list(c, items);
}

/* A new customer organisation (tier Free) with its default project and first admin key. */
void tg_api_org_create(tg_call_t *c, const tg_route_args_t *a)
{
    cJSON *j = tg_call_body_json(c);
    tg_org_row_t o;
    tg_project_row_t p;
    tg_key_row_t k;
    char secret[TG_KEY_SECRET_MAX];

    if (!j)
        return;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
    if (!name || !cJSON_IsString(name) || !*name->valuestring ||
        strlen(name->valuestring) >= sizeof(o.name)) {
        tg_call_error(c, name ? TG_E_INVALID_VALUE : TG_E_MISSING_PARAM, "name",
                      "'name' must be a non-empty string of at most %zu bytes.",
                      sizeof(o.name) - 1);
        cJSON_Delete(j);
        return;
    }
    int rc = tg_audit_begin(c);
    if (rc == 0) {
        rc = tg_org_create(c->w->store, name->valuestring, "free", 0, "first admin key", NULL,
                           &o, &p, &k, secret);
        cJSON *ev = tg_audit_details(rc == 0 ? o.id : NULL);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(ev, "data"), "name", name->valuestring);
        rc = tg_audit_end(c, rc, "organization.created", NULL, ev);
    }
    cJSON_Delete(j);
    if (rc != 0 || tg_catalog_reload(c->w->store) < 0) {
        sodium_memzero(secret, sizeof(secret));
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return;
    }
    cJSON *out = org_object(&o);
    cJSON_AddStringToObject(out, "default_project_id", p.id);
    cJSON *ak = cJSON_AddObjectToObject(out, "admin_key");
    cJSON_AddStringToObject(ak, "object", "organization.admin_api_key");
    cJSON_AddStringToObject(ak, "id", k.id);
    cJSON_AddStringToObject(ak, "name", k.name);
    cJSON_AddStringToObject(ak, "redacted_value", k.redacted);
    cJSON_AddStringToObject(ak, "value", secret); /* shown once */
    sodium_memzero(secret, sizeof(secret));
    tg_call_json(c, 200, out);
}

void tg_api_org_get(tg_call_t *c, const tg_route_args_t *a) { tg_call_json(c, 200, org_object(a->org)); }

/* POST …/organizations/{org}: any of name, tier (sticky), status. Everything is checked
 * before anything changes. */
void tg_api_org_update(tg_call_t *c, const tg_route_args_t *a)
{
    const tg_org_row_t *o = a->org;
    cJSON *j = tg_call_body_json(c);
    const cJSON *name = NULL, *tier = NULL, *status = NULL;
    char id[TG_ID_MAX];
    int suspended = -1;

    if (!j)
        return;
    snprintf(id, sizeof(id), "%s", o->id); /* o lives in the snapshot the reload replaces */
    if (tg_opt_string(c, j, "name", &name) < 0 || tg_opt_string(c, j, "tier", &tier) < 0 ||
        tg_opt_string(c, j, "status", &status) < 0)
        goto out;
    if (name && (!*name->valuestring || strlen(name->valuestring) >= TG_NAME_MAX)) {
        tg_call_error(c, TG_E_INVALID_VALUE, "name",
                      "'name' must be a non-empty string of at most %d bytes.", TG_NAME_MAX - 1);
        goto out;
    }
    if (tier && tg_tiers_rank(tier->valuestring) < 0) {
        tg_call_error(c, TG_E_INVALID_VALUE, "tier",
                      "Invalid 'tier': '%.64s' is not a tier of this server's tier table "
                      "(its ids are in data/tiers.json: free, tier_1 … tier_5 by default).", tier->valuestring);
        goto out;
    }
    if (status) {
        if (!strcmp(status->valuestring, "suspended"))
            suspended = 1;
        else if (!strcmp(status->valuestring, "active"))
            suspended = 0;
        else {
            tg_call_error(c, TG_E_INVALID_VALUE, "status",
                          "Invalid 'status': expected 'active' or 'suspended'.");
            goto out;
        }
        if (suspended == 1 && o->is_operator) {
            tg_call_error(c, TG_E_INVALID_VALUE, "status",
                          "The operator's own organization cannot be suspended.");
            goto out;
        }
    }
    cJSON *ev = tg_audit_details(id), *chg = cJSON_AddObjectToObject(ev, "changes_requested");
    if (name)
        cJSON_AddStringToObject(chg, "name", name->valuestring);
    if (tier)
        cJSON_AddStringToObject(chg, "tier", tier->valuestring);
    if (suspended >= 0)
        cJSON_AddStringToObject(chg, "status", suspended ? "suspended" : "active");
    if (tg_audit_begin(c) < 0) {
        cJSON_Delete(ev);
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        goto out;
    }
    int rc = c->w->store->tenancy->org_update(c->w->store, id, name ? name->valuestring : NULL,
                                              tier ? tier->valuestring : NULL, suspended);
    rc = tg_audit_end(c, rc, "organization.updated", NULL, ev);
    if (rc < 0 || tg_call_reload(c) < 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        goto out;
    }
    if (suspended >= 0 || tier)
        tg_info("organization %s:%s%s%s by the operator", id,
                suspended == 1 ? " suspended" : suspended == 0 ? " active" : "",
                tier ? " tier set to " : "", tier ? tier->valuestring : "");
    const tg_org_row_t *now = tg_catalog_org(c->cat, id);
    if (now)
        tg_call_json(c, 200, org_object(now));
    else
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
out:
    cJSON_Delete(j);
}

void tg_api_org_grant(tg_call_t *c, const tg_route_args_t *a)
{
    char id[TG_ID_MAX];
    snprintf(id, sizeof(id), "%s", a->org->id);
    tg_api_grant_credit(c, id);
}
