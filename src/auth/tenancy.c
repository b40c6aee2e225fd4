#include "auth/tenancy.h"

#include "core/util.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static int is_chinese(const char *language)
{
    return language && (language[0] == 'z' || language[0] == 'Z') &&
           (language[1] == 'h' || language[1] == 'H') &&
           (language[2] == '\0' || language[2] == '-' || language[2] == '_');
}

const char *tg_org_default_org_name(const char *language)
{
    return is_chinese(language) ? "个人" : "Personal";
}

const char *tg_org_default_project_name(const char *language)
{
    return is_chinese(language) ? "默认项目" : "Default project";
}

int tg_org_create(tg_store_t *st, const char *name, const char *tier, int is_operator,
                  const char *key_name, tg_user_row_t *owner, tg_org_row_t *org,
                  tg_project_row_t *project, tg_key_row_t *key,
                  char secret[TG_KEY_SECRET_MAX])
{
    return tg_org_create_named(st, name, tier, is_operator, key_name, owner, org, project, key,
                               secret, NULL);
}

int tg_org_create_named(tg_store_t *st, const char *name, const char *tier, int is_operator,
                        const char *key_name, tg_user_row_t *owner, tg_org_row_t *org,
                        tg_project_row_t *project, tg_key_row_t *key,
                        char secret[TG_KEY_SECRET_MAX], const char *project_name)
{
    int64_t now = tg_now();

    memset(org, 0, sizeof(*org));
    memset(project, 0, sizeof(*project));
    memset(key, 0, sizeof(*key));
    tg_random_id(org->id, "org-", 24);
    snprintf(org->name, sizeof(org->name), "%s", name);
    snprintf(org->tier, sizeof(org->tier), "%s", tier);
    org->is_operator = is_operator;
    org->created_at = now;
    tg_random_id(project->id, "proj_", 24);
    snprintf(project->org_id, sizeof(project->org_id), "%s", org->id);
    snprintf(project->name, sizeof(project->name), "%s",
             project_name ? project_name : tg_org_default_project_name(NULL));
    project->created_at = now;
    if (!key_name)
        goto no_key;
    tg_random_id(key->id, "key_", 24);
    key->kind = TG_KEY_ADMIN;
    snprintf(key->org_id, sizeof(key->org_id), "%s", org->id);
    snprintf(key->name, sizeof(key->name), "%s", key_name);
    snprintf(key->permissions, sizeof(key->permissions), "\"all\"");
    tg_key_generate("sk-admin-", secret);
    tg_key_hash(secret, strlen(secret), key->hash);
    tg_key_redact(secret, key->redacted);
    key->created_at = now;
no_key:
    if (owner) {
        tg_random_id(owner->id, "user-", 24);
        snprintf(owner->org_id, sizeof(owner->org_id), "%s", org->id);
        owner->created_at = now;
    }

    int rc = st->ops->begin(st);
    if (rc != 0)
        goto fail;
    rc = st->tenancy->org_insert(st, org);
    if (rc == 0)
        rc = st->tenancy->project_upsert(st, project);
    if (rc == 0 && key_name)
        rc = st->tenancy->key_insert(st, key);
    if (rc == 0 && owner)
        rc = st->accounts->user_insert(st, owner);
    if (rc == 0)
        rc = st->ops->commit(st);
    if (rc == 0)
        return 0;
    st->ops->rollback(st); /* also after a failed COMMIT */
fail:
    sodium_memzero(secret, TG_KEY_SECRET_MAX);
    return rc == TG_STORE_CONFLICT ? rc : -1;
}

cJSON *tg_org_json(const tg_org_row_t *o)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "object", "organization");
    cJSON_AddStringToObject(j, "id", o->id);
    cJSON_AddStringToObject(j, "name", o->name);
    cJSON_AddStringToObject(j, "tier", o->tier);
    /* Tollgate's: set by the operator (payments no longer move it) or by payments */
    cJSON_AddStringToObject(j, "tier_set_by", o->tier_locked ? "operator" : "payments");
    cJSON_AddStringToObject(j, "status", o->suspended ? "suspended" : "active");
    cJSON_AddBoolToObject(j, "is_operator", o->is_operator);
    cJSON_AddNumberToObject(j, "created_at", (double)o->created_at);
    return j;
}
