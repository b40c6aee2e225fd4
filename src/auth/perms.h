/* Key permissions → scopes. Project keys: "all", "read_only", or
 * {"restricted": {"models": "read"|"none", "model_capabilities": "write"|"read"|"none"}}.
 * Admin keys: "all" or "read_only". Scope names are OpenAI's, used in its 401 messages. */
#ifndef TG_AUTH_PERMS_H
#define TG_AUTH_PERMS_H

#include <cjson/cJSON.h>

enum {
    TG_SCOPE_MODELS_READ = 1u << 0,   /* api.model.read */
    TG_SCOPE_MODEL_REQUEST = 1u << 1, /* model.request */
    TG_SCOPE_MGMT_READ = 1u << 2,     /* api.management.read */
    TG_SCOPE_MGMT_WRITE = 1u << 3,    /* api.management.write */
};

const char *tg_scope_name(unsigned scope);
/* Parses a stored or requested permission value for a key of `kind` (TG_KEY_*). Returns 0
 * and the scopes, or -1 if the value is not valid for that kind (msg says why). */
int tg_perms_from_json(const cJSON *v, int kind, unsigned *scopes, const char **msg);
int tg_perms_from_text(const char *json, int kind, unsigned *scopes);

#endif
