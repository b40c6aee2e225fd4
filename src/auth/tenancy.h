/* Creating an organisation: the one `tollgate init` makes for the operator and the
 * customer organisations of /v1/platform/organizations are made the same way. */
#ifndef TG_AUTH_TENANCY_H
#define TG_AUTH_TENANCY_H

#include "auth/keys.h"
#include "store/store.h"

#include <cjson/cJSON.h>

/* Writes a new organisation with its default project, its first admin key and (when owner is
 * not NULL: email, password_hash and role filled in) its owner, in one transaction. Fills
 * the rows (key_name NULL: no admin key); the admin key's secret goes to `secret`, to be shown once and wiped by the
 * caller. Returns 0, TG_STORE_CONFLICT (e.g. the owner's email is taken) or -1; nothing is
 * written unless it returns 0. */
int tg_org_create(tg_store_t *st, const char *name, const char *tier, int is_operator,
                  const char *key_name, tg_user_row_t *owner, tg_org_row_t *org,
                  tg_project_row_t *project, tg_key_row_t *key,
                  char secret[TG_KEY_SECRET_MAX]);

/* The same, with the default project named project_name (NULL: "Default project"). */
int tg_org_create_named(tg_store_t *st, const char *name, const char *tier, int is_operator,
                        const char *key_name, tg_user_row_t *owner, tg_org_row_t *org,
                        tg_project_row_t *project, tg_key_row_t *key,
                        char secret[TG_KEY_SECRET_MAX], const char *project_name);

/* The names sign-up gives when the person chose none, in their language: language is a
 * BCP 47 tag or NULL ("zh", "zh-CN" … → Chinese; anything else → English). These are user
 * data from then on (the organisation and the project can be renamed); the server never
 * translates them afterwards. */
const char *tg_org_default_org_name(const char *language);
const char *tg_org_default_project_name(const char *language);

/* An organisation as the platform calls and `tollgate org` show it. */
cJSON *tg_org_json(const tg_org_row_t *o);

#endif
