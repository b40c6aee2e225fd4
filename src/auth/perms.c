#include "auth/perms.h"

#include "store/store.h"

#include <string.h>

const char *tg_scope_name(unsigned scope)
{
    switch (scope) {
    case TG_SCOPE_MODELS_READ: return "api.model.read";
    case TG_SCOPE_MODEL_REQUEST: return "model.request";
    case TG_SCOPE_MGMT_READ: return "api.management.read";
    case TG_SCOPE_MGMT_WRITE: return "api.management.write";
    default: return "unknown";
    }
}

static int level(const cJSON *o, const char *name, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v) {
        *out = "none";
        return 0;
    }
    if (!cJSON_IsString(v))
        return -1;
    *out = v->valuestring;
    return 0;
}

int tg_perms_from_json(const cJSON *v, int kind, unsigned *scopes, const char **msg)
{
    *msg = "permissions must be \"all\", \"read_only\" or {\"restricted\": {...}}";
    if (!v || cJSON_IsNull(v) || (cJSON_IsString(v) && strcmp(v->valuestring, "all") == 0)) {
        *scopes = kind == TG_KEY_ADMIN ? TG_SCOPE_MGMT_READ | TG_SCOPE_MGMT_WRITE
                                       : TG_SCOPE_MODELS_READ | TG_SCOPE_MODEL_REQUEST;
        return 0;
    }
    if (cJSON_IsString(v) && strcmp(v->valuestring, "read_only") == 0) {
        *scopes = kind == TG_KEY_ADMIN ? TG_SCOPE_MGMT_READ : TG_SCOPE_MODELS_READ;
        return 0;
    }
    const cJSON *r = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "restricted") : NULL;
    if (!cJSON_IsObject(r) || kind == TG_KEY_ADMIN)
        return -1;
    const char *models, *caps;
    const cJSON *it;
    cJSON_ArrayForEach(it, r) {
        if (strcmp(it->string, "models") != 0 && strcmp(it->string, "model_capabilities") != 0) {
            *msg = "restricted permissions know \"models\" and \"model_capabilities\"";
            return -1;
        }
    }
    if (level(r, "models", &models) < 0 || level(r, "model_capabilities", &caps) < 0)
        return -1;
    *scopes = 0;
    if (strcmp(models, "read") == 0 || strcmp(models, "write") == 0)
        *scopes |= TG_SCOPE_MODELS_READ;
    else if (strcmp(models, "none") != 0)
        return -1;
    if (strcmp(caps, "write") == 0)
        *scopes |= TG_SCOPE_MODEL_REQUEST;
    else if (strcmp(caps, "none") != 0 && strcmp(caps, "read") != 0)
        return -1;
    return 0;
}

int tg_perms_from_text(const char *json, int kind, unsigned *scopes)
{
    const char *msg;
    cJSON *v = cJSON_Parse(json);
    int rc = v ? tg_perms_from_json(v, kind, scopes, &msg) : -1;
    cJSON_Delete(v);
    return rc;
}
