/* The organisation's people and settings in the Admin API: /v1/organization/invites and
 * /v1/organization/users (OpenAI's shapes), and /v1/organization/settings (Tollgate's: the
 * organisation's name). The console's Settings page uses exactly these calls. */
#include "api/api_int.h"

#include "auth/accounts.h"
#include "core/log.h"
#include "core/util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int valid_role(const char *r) { return r && (!strcmp(r, "owner") || !strcmp(r, "reader")); }

static const char *body_role(tg_call_t *c, const cJSON *j)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "role");
    if (!cJSON_IsString(v) || !valid_role(v->valuestring)) {
        tg_call_error(c, TG_E_INVALID_VALUE, "role",
                      "Invalid 'role': expected one of 'owner' or 'reader'.");
        return NULL;
    }
    return v->valuestring;
}

/* ---- invites ---- */

static cJSON *invite_object(const tg_invite_row_t *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "organization.invite");
    cJSON_AddStringToObject(o, "id", r->id);
    cJSON_AddStringToObject(o, "email", r->email);
    cJSON_AddStringToObject(o, "role", r->role);
    cJSON_AddStringToObject(o, "status", r->accepted_at               ? "accepted"
                                         : r->expires_at <= tg_now() ? "expired"
                                                                     : "pending");
    cJSON_AddNumberToObject(o, "invited_at", (double)r->invited_at);
    cJSON_AddNumberToObject(o, "expires_at", (double)r->expires_at);
    tg_json_opt_time(o, "accepted_at", r->accepted_at);
    return o;
}

static void invite_create(tg_call_t *c)
{
    tg_store_t *st = c->w->store;
    cJSON *j = tg_call_body_json(c);
    tg_invite_row_t r = {0};
    tg_user_row_t existing;
    char token[TG_TOKEN_MAX], url[128];
    if (!j)
        return;
    const cJSON *email = cJSON_GetObjectItemCaseSensitive(j, "email");
    const char *role = NULL;
    if (tg_api__cfg()->signup == TG_SIGNUP_CLOSED) {
        tg_call_error(c, TG_E_SIGNUP_CLOSED, NULL,
                      "Sign-up is closed on this server, so an invitation could not be used.");
        goto out;
    }
    if (!cJSON_IsString(email) || tg_email_normalize(email->valuestring, r.email, sizeof(r.email)) < 0) {
        tg_call_error(c, TG_E_INVALID_VALUE, "email", "Invalid 'email': expected an email address.");
        goto out;
    }
    if (!(role = body_role(c, j)))
        goto out;
    int rc = st->accounts->user_by_email(st, r.email, &existing);
    if (rc == 0) {
        tg_call_error(c, TG_E_CONFLICT, "email",
                      "A user with this email already has an account.");
        goto out;
    }
    tg_random_id(r.id, "invite-", 24);
    snprintf(r.org_id, sizeof(r.org_id), "%s", c->org_id);
    snprintf(r.role, sizeof(r.role), "%s", role);
    tg_token_new(token, r.token_hash);
    r.invited_at = tg_now();
    r.expires_at = r.invited_at + TG_INVITE_TTL;
    cJSON *ev = tg_audit_details(r.id), *evd = cJSON_AddObjectToObject(ev, "data");
    cJSON_AddStringToObject(evd, "email", r.email);
    cJSON_AddStringToObject(evd, "role", r.role);
    if (rc != TG_STORE_NOTFOUND) {
        cJSON_Delete(ev);
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        goto out;
    }
    if (tg_audit_begin(c) < 0 ||
        tg_audit_end(c, st->accounts->invite_insert(st, &r), "invite.sent", NULL, ev) != 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        goto out;
    }
    cJSON *o = invite_object(&r);
    snprintf(url, sizeof(url), "/signup?invite=%s", token);
    cJSON_AddStringToObject(o, "invite_url", url); /* the token: only in this answer */
    sodium_memzero(token, sizeof(token));
    sodium_memzero(url, sizeof(url));
    tg_call_json(c, 200, o);
out:
    cJSON_Delete(j);
}

/* …/invites (GET, POST) and …/invites/{id} (GET, DELETE) */
void tg_api_invites(tg_call_t *c, const tg_route_args_t *a)
{
    tg_store_t *st = c->w->store;
    const char *id = a->id;
    size_t idlen = a->idlen;
    if (!id) {
        if (tg_call_is(c, "POST")) {
            invite_create(c);
        } else {
            tg_invite_row_t *rows = NULL;
            size_t n = 0;
            if (st->accounts->invite_list(st, c->org_id, &rows, &n) != 0) {
                tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
                return;
            }
            cJSON *items = cJSON_CreateArray();
            for (size_t i = 0; i < n; i++)
                cJSON_AddItemToArray(items, invite_object(&rows[i]));
            free(rows);
            tg_call_list(c, items);
        }
        return;
    }
    char key[TG_ID_MAX];
    tg_invite_row_t r;
    snprintf(key, sizeof(key), "%.*s", (int)idlen, id);
    int rc = idlen < sizeof(key) ? st->accounts->invite_get(st, key, &r) : TG_STORE_NOTFOUND;
    if (rc == 0 && strcmp(r.org_id, c->org_id) != 0)
        rc = TG_STORE_NOTFOUND;
    if (rc != 0) {
        if (rc == TG_STORE_NOTFOUND)
            tg_call_error(c, TG_E_NOT_FOUND, NULL, "No invite found with id '%s'.", key);
        else
            tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return;
    }
    if (tg_call_is(c, "GET")) {
        tg_call_json(c, 200, invite_object(&r));
    } else if (tg_call_is(c, "DELETE")) {
        if (tg_audit_begin(c) < 0 ||
            tg_audit_end(c, st->accounts->invite_delete(st, r.id), "invite.deleted", NULL,
                         tg_audit_details(r.id)) != 0) {
            tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
            return;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "object", "organization.invite.deleted");
        cJSON_AddStringToObject(o, "id", r.id);
        cJSON_AddBoolToObject(o, "deleted", 1);
        tg_call_json(c, 200, o);
    }
}

/* ---- users ---- */

static cJSON *user_object(const tg_user_row_t *u)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "organization.user");
    cJSON_AddStringToObject(o, "id", u->id);
    cJSON_AddStringToObject(o, "name", u->email);
    cJSON_AddStringToObject(o, "email", u->email);
    cJSON_AddStringToObject(o, "role", u->role);
    cJSON_AddNumberToObject(o, "added_at", (double)u->created_at);
    return o;
}

static cJSON *role_change(const char *id, const char *role)
{
    cJSON *ev = tg_audit_details(id);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(ev, "changes_requested"), "role", role);
    return ev;
}

/* …/users (GET) and …/users/{id} (GET, POST a role, DELETE) */
void tg_api_users(tg_call_t *c, const tg_route_args_t *a)
{
    tg_store_t *st = c->w->store;
    tg_user_row_t *rows = NULL, *u = NULL;
    size_t n = 0, owners = 0;
    const char *id = a->id;
    size_t idlen = a->idlen;

    if (st->accounts->user_list(st, c->org_id, &rows, &n) != 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        owners += strcmp(rows[i].role, "owner") == 0;
        if (id && tg_span_is(id, idlen, rows[i].id))
            u = &rows[i];
    }
    if (!id) {
        cJSON *items = cJSON_CreateArray();
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(items, user_object(&rows[i]));
        tg_call_list(c, items);
    } else if (!u) {
        tg_call_error(c, TG_E_NOT_FOUND, NULL, "No user found with id '%.*s'.",
                      (int)(idlen > 64 ? 64 : idlen), id);
    } else if (tg_call_is(c, "GET")) {
        tg_call_json(c, 200, user_object(u));
    } else if (tg_call_is(c, "POST")) {
        cJSON *j = tg_call_body_json(c);
        const char *role = j ? body_role(c, j) : NULL;
        if (role && strcmp(u->role, "owner") == 0 && strcmp(role, "owner") != 0 && owners == 1) {
            tg_call_error(c, TG_E_INVALID_VALUE, "role",
                          "An organization needs at least one owner.");
        } else if (role && (tg_audit_begin(c) < 0 ||
                            tg_audit_end(c, st->accounts->user_set_role(st, u->id, role),
                                         "user.updated", NULL, role_change(u->id, role)) != 0)) {
            tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        } else if (role) {
            snprintf(u->role, sizeof(u->role), "%s", role);
            tg_call_json(c, 200, user_object(u));
        }
        cJSON_Delete(j);
    } else if (tg_call_is(c, "DELETE")) {
        if (strcmp(u->role, "owner") == 0 && owners == 1) {
            tg_call_error(c, TG_E_INVALID_VALUE, NULL,
                          "An organization needs at least one owner.");
        } else if (tg_audit_begin(c) < 0 ||
                   tg_audit_end(c, st->accounts->user_delete(st, u->id), "user.deleted", NULL,
                                tg_audit_details(u->id)) != 0) {
            tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        } else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "object", "organization.user.deleted");
            cJSON_AddStringToObject(o, "id", u->id);
            cJSON_AddBoolToObject(o, "deleted", 1);
            tg_call_json(c, 200, o);
        }
    }
    free(rows);
}

/* ---- settings ---- */

/* …/settings: GET, or POST a new name */
void tg_api_settings(tg_call_t *c, const tg_route_args_t *a)
{
    char org_id[TG_ID_MAX];
    snprintf(org_id, sizeof(org_id), "%s", c->org_id);
    if (tg_call_is(c, "POST")) {
        cJSON *j = tg_call_body_json(c);
        if (!j)
            return;
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
        if (!cJSON_IsString(name) || !*name->valuestring ||
            strlen(name->valuestring) >= TG_NAME_MAX) {
            cJSON_Delete(j);
            tg_call_error(c, TG_E_INVALID_VALUE, "name",
                          "Invalid 'name': expected a non-empty string of at most %d bytes.",
                          TG_NAME_MAX - 1);
            return;
        }
        cJSON *ev = tg_audit_details(org_id);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(ev, "changes_requested"), "name",
                                name->valuestring);
        int rc = tg_audit_begin(c) < 0
                     ? -1
                     : tg_audit_end(c, c->w->store->tenancy->org_rename(c->w->store, org_id,
                                                                       name->valuestring),
                                    "organization.updated", NULL, ev);
        cJSON_Delete(j);
        if (rc != 0 || tg_call_reload(c) < 0) {
            tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
            return;
        }
    }
    const tg_org_row_t *org = tg_call_org(c, org_id);
    if (!org) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "organization");
    cJSON_AddStringToObject(o, "id", org->id);
    cJSON_AddStringToObject(o, "name", org->name);
    cJSON_AddStringToObject(o, "usage_tier", org->tier);
    cJSON_AddBoolToObject(o, "is_operator", org->is_operator);
    cJSON_AddNumberToObject(o, "created_at", (double)org->created_at);
    tg_call_json(c, 200, o);
}
