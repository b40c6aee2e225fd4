/* The console's side of the API: sign-up, login, logout and the session under
 * /console/api/, the session cookie as an Admin API credential, and the console's files.
 * The console itself (web/) is a view of the Admin API: no rule lives here that the Admin API
 * does not apply to admin keys as well. */
#include "api/api_int.h"

#include "auth/accounts.h"
#include "auth/perms.h"
#include "auth/tenancy.h"
#include "console/assets.h"
#include "core/log.h"
#include "core/util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEACTIVATED                                                                        \
    "This organization's account is deactivated. If you feel this is an error, contact your "  \
    "platform's operator."

#define COOKIE "tg_session"

/* The value of cookie `name` (into out); -1 when absent or too long. */
static int cookie_get(tg_call_t *c, const char *name, char *out, size_t cap)
{
    const char *h = tg_http_header(c->req, "cookie");
    size_t nlen = strlen(name);
    while (h && *h) {
        while (*h == ' ' || *h == ';')
            h++;
        size_t plen = strcspn(h, ";");
        if (plen > nlen && memcmp(h, name, nlen) == 0 && h[nlen] == '=') {
            size_t vlen = plen - nlen - 1;
            if (vlen == 0 || vlen >= cap)
                return -1;
            memcpy(out, h + nlen + 1, vlen);
            out[vlen] = '\0';
            return 0;
        }
        h += plen;
    }
    return -1;
}

static void set_cookie(tg_call_t *c, const char *token, int max_age)
{
    char v[256];
    const char *proto = tg_http_header(c->req, "x-forwarded-proto");
    snprintf(v, sizeof(v), COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d%s",
             token, max_age,
             tg_http_is_tls(c->req) || (proto && strcasecmp(proto, "https") == 0) ? "; Secure"
                                                                                  : "");
    tg_http_add_header(c->req, "set-cookie", v);
}

/* A write made with a cookie must come from our own pages: an Origin header, when the
 * browser sends one, names this host. */
static int same_origin(tg_call_t *c)
{
    const char *origin = tg_http_header(c->req, "origin"), *host = tg_http_header(c->req, "host");
    if (!origin)
        return 1;
    const char *p = strstr(origin, "://");
    return p && host && strcasecmp(p + 3, host) == 0;
}

/* The session of the request's cookie (into c->user): 0, 1 if none, -1 on error. A request
 * with an Authorization header is a script's: its cookie is never looked at. */
static int session_lookup(tg_call_t *c, char token[TG_TOKEN_MAX])
{
    if (tg_http_header(c->req, "authorization") || cookie_get(c, COOKIE, token, TG_TOKEN_MAX) < 0)
        return 1;
    tg_token_hash(token, strlen(token), c->session_hash);
    int rc = c->w->store->accounts->session_get(c->w->store, c->session_hash, tg_now(), &c->user);
    if (rc == TG_STORE_NOTFOUND)
        return 1;
    return rc < 0 ? -1 : 0;
}

int tg_console_auth(tg_call_t *c, unsigned scope)
{
    char token[TG_TOKEN_MAX];
    int rc = session_lookup(c, token);
    if (rc == 1) {
        if (!tg_http_header(c->req, "cookie") || tg_http_header(c->req, "authorization"))
            return 1; /* no cookie at all: the caller's "no API key" error */
        tg_call_error(c, TG_E_NOT_LOGGED_IN, NULL, NULL);
        return -1;
    }
    if (rc < 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return -1;
    }
    if (!tg_call_is(c, "GET") && !tg_call_is(c, "HEAD")) {
        char want[TG_TOKEN_HASH];
        const char *got = tg_http_header(c->req, "x-csrf-token");
        tg_session_csrf(token, strlen(token), want);
        if (!got || strlen(got) != TG_TOKEN_HASH - 1 ||
            sodium_memcmp(got, want, TG_TOKEN_HASH - 1) != 0 || !same_origin(c)) {
            tg_call_error(c, TG_E_CSRF, NULL, NULL);
            return -1;
        }
    }
    const tg_org_row_t *org = tg_call_org(c, c->user.org_id);
    if (!org) {
        tg_call_error(c, TG_E_NOT_LOGGED_IN, NULL, NULL);
        return -1;
    }
    if (org->suspended) {
        tg_call_error(c, TG_E_ACCOUNT_DEACTIVATED, NULL, DEACTIVATED);
        return -1;
    }
    tg_cat_key_t *k = &c->session_key;
    memset(k, 0, sizeof(*k));
    k->row.kind = TG_KEY_ADMIN;
    snprintf(k->row.id, sizeof(k->row.id), "%s", c->user.id);
    snprintf(k->row.org_id, sizeof(k->row.org_id), "%s", org->id);
    snprintf(k->row.name, sizeof(k->row.name), "%s", c->user.email);
    tg_perms_from_text(strcmp(c->user.role, "owner") == 0 ? "\"all\"" : "\"read_only\"",
                       TG_KEY_ADMIN, &k->scopes);
    k->org = org;
    c->key = k;
    c->via_session = 1;
    snprintf(c->org_id, sizeof(c->org_id), "%s", org->id);
    if (!(k->scopes & scope)) {
        tg_call_missing_scope(c, scope);
        return -1;
    }
    return 0;
}

/* ---- answers ---- */

static void session_answer(tg_call_t *c, int status, const tg_user_row_t *u, const char *token)
{
    const tg_org_row_t *org = tg_call_org(c, u->org_id);
    char csrf[TG_TOKEN_HASH];
    if (!org) {
        tg_call_error(c, TG_E_NOT_LOGGED_IN, NULL, NULL);
        return;
    }
    if (org->suspended) { /* no session for a deactivated organisation */
        tg_call_error(c, TG_E_ACCOUNT_DEACTIVATED, NULL, DEACTIVATED);
        return;
    }
    tg_session_csrf(token, strlen(token), csrf);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "console.session");
    cJSON *user = cJSON_AddObjectToObject(o, "user");
    cJSON_AddStringToObject(user, "id", u->id);
    cJSON_AddStringToObject(user, "email", u->email);
    cJSON_AddStringToObject(user, "role", u->role);
    cJSON *og = cJSON_AddObjectToObject(o, "organization");
    cJSON_AddStringToObject(og, "id", org->id);
    cJSON_AddStringToObject(og, "name", org->name);
    cJSON_AddStringToObject(og, "usage_tier", org->tier);
    cJSON_AddBoolToObject(og, "is_operator", org->is_operator);
    cJSON_AddStringToObject(o, "csrf_token", csrf);
    tg_http_add_header(c->req, "cache-control", "no-store");
    tg_call_json(c, status, o);
}

/* Opens a session for `u` and answers it with its cookie. */
static void open_session(tg_call_t *c, int status, const tg_user_row_t *u)
{
    tg_session_row_t s = {0};
    char token[TG_TOKEN_MAX];
    tg_token_new(token, s.token_hash);
    snprintf(s.user_id, sizeof(s.user_id), "%s", u->id);
    s.created_at = tg_now();
    s.expires_at = s.created_at + TG_SESSION_TTL;
    c->user = *u; /* the actor of the audit log's login.succeeded */
    snprintf(c->org_id, sizeof(c->org_id), "%s", u->org_id);
    if (tg_audit_begin(c) < 0 ||
        tg_audit_end(c, c->w->store->accounts->session_insert(c->w->store, &s),
                     "login.succeeded", NULL, NULL) != 0) {
        sodium_memzero(token, sizeof(token));
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return;
    }
    set_cookie(c, token, TG_SESSION_TTL);
    session_answer(c, status, u, token);
    sodium_memzero(token, sizeof(token));
}

static const char *json_str(const cJSON *j, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- sign-up ---- */

typedef struct {
    tg_call_t *c;
    tg_user_row_t user;
    char org_name[TG_NAME_MAX];
    char language[16]; /* the console's language at sign-up: names the default project */
    tg_invite_row_t invite;
    int by_invite;
} pending_t;

static void signup_hashed(void *arg, int result, const char *hash)
{
    pending_t *p = arg;
    tg_call_t *c = p->c;
    tg_store_t *st = c->w->store;
    int rc;

    if (result != 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        goto out;
    }
    snprintf(p->user.password_hash, sizeof(p->user.password_hash), "%s", hash);
    if (p->by_invite) {
        tg_random_id(p->user.id, "user-", 24);
        snprintf(p->user.org_id, sizeof(p->user.org_id), "%s", p->invite.org_id);
        snprintf(p->user.role, sizeof(p->user.role), "%s", p->invite.role);
        p->user.created_at = tg_now();
        c->user = p->user; /* the actor of invite.accepted */
        snprintf(c->org_id, sizeof(c->org_id), "%s", p->user.org_id);
        rc = st->ops->begin(st);
        if (rc == 0)
            rc = st->accounts->invite_accept(st, p->invite.id, p->user.created_at);
        if (rc == 0)
            rc = st->accounts->user_insert(st, &p->user);
        if (rc == 0)
            rc = tg_audit_write(c, NULL, "invite.accepted", NULL, tg_audit_details(p->invite.id));
        if (rc == 0)
            rc = st->ops->commit(st);
        if (rc != 0)
            st->ops->rollback(st);
    } else {
        tg_org_row_t org;
        tg_project_row_t proj;
        tg_key_row_t key;
        char secret[TG_KEY_SECRET_MAX];
        snprintf(p->user.role, sizeof(p->user.role), "owner");
        rc = tg_org_create_named(st, p->org_name, "free", 0, NULL, &p->user, &org, &proj, &key,
                                 secret, tg_org_default_project_name(p->language));
        if (rc == 0 && tg_call_reload(c) < 0)
            rc = -1;
    }
    if (rc == TG_STORE_CONFLICT)
        tg_call_error(c, TG_E_CONFLICT, "email", "An account with this email already exists.");
    else if (rc == TG_STORE_NOTFOUND)
        tg_call_error(c, TG_E_INVALID_VALUE, "invite_token",
                      "This invitation is no longer valid (used, expired or revoked).");
    else if (rc != 0)
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
    else {
        tg_info("console: %s signed up (%s, %s)", p->user.id, p->user.org_id, p->user.role);
        open_session(c, 201, &p->user);
    }
out:
    sodium_memzero(p, sizeof(*p));
    free(p);
}

/* An invitation by its token: pending and unexpired, or TG_STORE_NOTFOUND. */
static int live_invite(tg_call_t *c, const char *token, tg_invite_row_t *inv)
{
    char hash[TG_TOKEN_HASH];
    if (strlen(token) >= TG_TOKEN_MAX)
        return TG_STORE_NOTFOUND;
    tg_token_hash(token, strlen(token), hash);
    int rc = c->w->store->accounts->invite_by_token(c->w->store, hash, inv);
    if (rc == 0 && (inv->accepted_at || inv->expires_at <= tg_now()))
        rc = TG_STORE_NOTFOUND;
    return rc;
}

void tg_console_signup(tg_call_t *c, const tg_route_args_t *a)
{
    if (!same_origin(c)) {
        tg_call_error(c, TG_E_CSRF, NULL, "Sign-up and login are accepted only from this "
                                          "server's own pages.");
        return;
    }
    cJSON *j = tg_call_body_json(c);
    if (!j)
        return;
    pending_t *p = calloc(1, sizeof(*p));
    const char *email = json_str(j, "email"), *pw = json_str(j, "password");
    const char *org = json_str(j, "organization_name"), *invite = json_str(j, "invite_token");
    const char *language = json_str(j, "language");
    int mode = tg_api__cfg()->signup;

    if (!p) {
        tg_call_error(c, TG_E_UNAVAILABLE, NULL, NULL);
        goto out;
    }
    p->c = c;
    if (!email || tg_email_normalize(email, p->user.email, sizeof(p->user.email)) < 0) {
        tg_call_error(c, TG_E_INVALID_VALUE, "email", "Enter a valid email address.");
        goto out;
    }
    if (!pw || tg_password_ok(pw, strlen(pw)) < 0) {
        tg_call_error(c, TG_E_INVALID_VALUE, "password",
                      "The password needs %d to %d characters.", TG_PW_MIN, TG_PW_MAX);
        goto out;
    }
    if (mode == TG_SIGNUP_CLOSED) {
        tg_call_error(c, TG_E_SIGNUP_CLOSED, NULL, NULL);
        goto out;
    }
    if (invite) {
        int rc = live_invite(c, invite, &p->invite);
        if (rc != 0) {
            if (rc == TG_STORE_NOTFOUND)
                tg_call_error(c, TG_E_INVALID_VALUE, "invite_token",
                              "This invitation is no longer valid (used, expired or revoked).");
            else
                tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
            goto out;
        }
        if (strcmp(p->invite.email, p->user.email) != 0) {
            tg_call_error(c, TG_E_INVALID_VALUE, "email",
                          "This invitation is for another email address.");
            goto out;
        }
        p->by_invite = 1;
    } else if (mode != TG_SIGNUP_OPEN) {
        tg_call_error(c, TG_E_SIGNUP_CLOSED, NULL,
                      "Sign-up on this server is by invitation only. Ask an owner of your "
                      "organization for an invitation link.");
        goto out;
    } else {
        if (org && (!*org || strlen(org) >= sizeof(p->org_name))) {
            tg_call_error(c, TG_E_INVALID_VALUE, "organization_name",
                          "Invalid 'organization_name': expected 1 to %zu bytes.",
                          sizeof(p->org_name) - 1);
            goto out;
        }
        if (language)
            snprintf(p->language, sizeof(p->language), "%s", language);
        snprintf(p->org_name, sizeof(p->org_name), "%s",
                 org ? org : tg_org_default_org_name(p->language));
    }
    tg_user_row_t existing;
    int rc = c->w->store->accounts->user_by_email(c->w->store, p->user.email, &existing);
    if (rc == 0) {
        tg_call_error(c, TG_E_CONFLICT, "email", "An account with this email already exists.");
        goto out;
    }
    if (rc != TG_STORE_NOTFOUND) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        goto out;
    }
    if (tg_password_hash_async(c->w->base, pw, strlen(pw), signup_hashed, p) < 0) {
        tg_call_error(c, TG_E_UNAVAILABLE, NULL, NULL);
        goto out;
    }
    p = NULL; /* signup_hashed answers */
out:
    if (p) {
        sodium_memzero(p, sizeof(*p));
        free(p);
    }
    cJSON_Delete(j); /* the body's copy of the password stays in the request buffer only */
}

/* ---- login ---- */

static void login_checked(void *arg, int result, const char *unused)
{
    pending_t *p = arg;
    tg_call_t *c = p->c;
    if (result == 0 && p->user.id[0]) {
        tg_login_succeeded(p->user.email);
        open_session(c, 200, &p->user);
    } else if (result < 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
    } else {
        tg_login_failed(p->user.email, tg_now());
        if (p->user.id[0]) { /* a known account: its organisation's audit log says so */
            cJSON *ev = cJSON_CreateObject();
            cJSON_AddStringToObject(ev, "error_code", "invalid_credentials");
            c->user = p->user;
            snprintf(c->org_id, sizeof(c->org_id), "%s", p->user.org_id);
            if (tg_audit_begin(c) == 0)
                tg_audit_end(c, 0, "login.failed", NULL, ev);
            else
                cJSON_Delete(ev);
        }
        tg_call_error(c, TG_E_INVALID_CREDENTIALS, NULL, NULL);
    }
    sodium_memzero(p, sizeof(*p));
    free(p);
}

void tg_console_login(tg_call_t *c, const tg_route_args_t *a)
{
    if (!same_origin(c)) {
        tg_call_error(c, TG_E_CSRF, NULL, "Sign-up and login are accepted only from this "
                                          "server's own pages.");
        return;
    }
    cJSON *j = tg_call_body_json(c);
    if (!j)
        return;
    const char *email = json_str(j, "email"), *pw = json_str(j, "password");
    char norm[TG_NAME_MAX];
    pending_t *p = NULL;

    if (!email || !pw) {
        const char *which = !email ? "email" : "password";
        tg_call_error(c, TG_E_MISSING_PARAM, which, "Missing required parameter: '%s'.", which);
        goto out;
    }
    if (tg_email_normalize(email, norm, sizeof(norm)) < 0 || strlen(pw) > TG_PW_MAX) {
        tg_call_error(c, TG_E_INVALID_CREDENTIALS, NULL, NULL);
        goto out;
    }
    int64_t wait = tg_login_throttled(norm, tg_now());
    if (wait > 0) {
        char v[32];
        snprintf(v, sizeof(v), "%lld", (long long)wait);
        tg_http_add_header(c->req, "retry-after", v);
        tg_call_error(c, TG_E_LOGIN_THROTTLED, NULL,
                      "Too many failed login attempts for this account. Try again in %lld "
                      "minutes.",
                      (long long)(wait + 59) / 60);
        goto out;
    }
    p = calloc(1, sizeof(*p));
    if (!p) {
        tg_call_error(c, TG_E_UNAVAILABLE, NULL, NULL);
        goto out;
    }
    p->c = c;
    int rc = c->w->store->accounts->user_by_email(c->w->store, norm, &p->user);
    if (rc != 0 && rc != TG_STORE_NOTFOUND) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        goto out;
    }
    if (rc == TG_STORE_NOTFOUND) { /* verify against a dummy hash: the same time either way */
        memset(&p->user, 0, sizeof(p->user));
        snprintf(p->user.email, sizeof(p->user.email), "%s", norm);
    }
    if (tg_password_verify_async(c->w->base, rc == 0 ? p->user.password_hash : NULL, pw,
                                 strlen(pw), login_checked, p) < 0) {
        tg_call_error(c, TG_E_UNAVAILABLE, NULL, NULL);
        goto out;
    }
    p = NULL;
out:
    if (p) {
        sodium_memzero(p, sizeof(*p));
        free(p);
    }
    cJSON_Delete(j);
}

/* The console's writes on oneself (logout, password): a session of any role and its CSRF
 * token; -1 after answering. */
static int require_session(tg_call_t *c)
{
    int rc = tg_console_auth(c, TG_SCOPE_MGMT_READ);
    if (rc == 1)
        tg_call_error(c, TG_E_NOT_LOGGED_IN, NULL, NULL);
    return rc == 0 ? 0 : -1;
}

void tg_console_logout(tg_call_t *c, const tg_route_args_t *a)
{
    if (require_session(c) < 0)
        return;
    if (tg_audit_begin(c) < 0 ||
        tg_audit_end(c, c->w->store->accounts->session_delete(c->w->store, c->session_hash) == -1
                            ? -1
                            : 0,
                     "logout.succeeded", NULL, NULL) == -1) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return;
    }
    set_cookie(c, "", 0);
    tg_http_add_header(c->req, "cache-control", "no-store");
    tg_call_json(c, 200, cJSON_CreateObject());
}

/* ---- changing one's password ---- */

typedef struct {
    tg_call_t *c;
    char new_pw[TG_PW_MAX + 1];
} pw_change_t;

static void pw_change_free(pw_change_t *p)
{
    sodium_memzero(p, sizeof(*p));
    free(p);
}

static void pw_change_hashed(void *arg, int result, const char *hash)
{
    pw_change_t *p = arg;
    tg_call_t *c = p->c;
    tg_store_t *st = c->w->store;
    int rc = result == 0 ? st->ops->begin(st) : -1;
    if (rc == 0)
        rc = st->accounts->user_set_password(st, c->user.id, hash, c->session_hash); /* this one stays */
    if (rc == 0)
        rc = st->ops->commit(st);
    else if (result == 0)
        st->ops->rollback(st);
    if (rc != 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
    } else {
        tg_info("console: %s changed its password; its other sessions ended", c->user.id);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "object", "console.password");
        cJSON_AddBoolToObject(o, "changed", 1);
        tg_call_json(c, 200, o);
    }
    pw_change_free(p);
}

static void pw_change_checked(void *arg, int result, const char *unused)
{
    pw_change_t *p = arg;
    tg_call_t *c = p->c;
    if (result != 0) {
        if (result > 0) {
            tg_login_failed(c->user.email, tg_now()); /* guessing it counts as a failed login */
            tg_call_error(c, TG_E_INVALID_VALUE, "current_password",
                          "The current password is not correct.");
        } else
            tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        pw_change_free(p);
        return;
    }
    if (tg_password_hash_async(c->w->base, p->new_pw, strlen(p->new_pw), pw_change_hashed, p) <
        0) {
        tg_call_error(c, TG_E_UNAVAILABLE, NULL, NULL);
        pw_change_free(p);
    }
}

void tg_console_password(tg_call_t *c, const tg_route_args_t *a)
{
    if (require_session(c) < 0) /* readers may change their own too */
        return;
    cJSON *j = tg_call_body_json(c);
    if (!j)
        return;
    const char *cur = json_str(j, "current_password"), *pw = json_str(j, "new_password");
    pw_change_t *p = NULL;
    if (!cur || !pw) {
        const char *which = !cur ? "current_password" : "new_password";
        tg_call_error(c, TG_E_MISSING_PARAM, which, "Missing required parameter: '%s'.", which);
    } else if (tg_login_throttled(c->user.email, tg_now()) > 0) {
        tg_call_error(c, TG_E_LOGIN_THROTTLED, NULL, NULL);
    } else if (strlen(cur) > TG_PW_MAX) {
        tg_call_error(c, TG_E_INVALID_VALUE, "current_password",
                      "The current password is not correct.");
    } else if (tg_password_ok(pw, strlen(pw)) < 0) {
        tg_call_error(c, TG_E_INVALID_VALUE, "new_password",
                      "The password needs %d to %d characters.", TG_PW_MIN, TG_PW_MAX);
    } else if (!(p = calloc(1, sizeof(*p)))) {
        tg_call_error(c, TG_E_UNAVAILABLE, NULL, NULL);
    } else {
        p->c = c;
        memcpy(p->new_pw, pw, strlen(pw) + 1);
        if (tg_password_verify_async(c->w->base, c->user.password_hash, cur, strlen(cur),
                                     pw_change_checked, p) < 0) {
            tg_call_error(c, TG_E_UNAVAILABLE, NULL, NULL);
            pw_change_free(p);
        }
    }
    cJSON_Delete(j);
}

void tg_console_session(tg_call_t *c, const tg_route_args_t *a)
{
    char token[TG_TOKEN_MAX];
    int rc = session_lookup(c, token);
    if (rc == 0)
        session_answer(c, 200, &c->user, token);
    else if (rc == 1)
        tg_call_error(c, TG_E_NOT_LOGGED_IN, NULL, NULL);
    else
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
    sodium_memzero(token, sizeof(token));
}

void tg_console_config(tg_call_t *c, const tg_route_args_t *a)
{
    static const char *const modes[] = {"invite", "open", "closed"};
    const tg_api_config_t *cfg = tg_api__cfg();
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "console.config");
    cJSON_AddStringToObject(o, "signup", modes[cfg->signup]);
    cJSON *pay = cJSON_AddObjectToObject(o, "payments");
    cJSON_AddStringToObject(pay, "provider", cfg->payments_provider ? cfg->payments_provider
                                                                    : "test");
    if (cfg->stripe_publishable_key)
        cJSON_AddStringToObject(pay, "publishable_key", cfg->stripe_publishable_key);
    else
        cJSON_AddNullToObject(pay, "publishable_key");
    cJSON *alerts = cJSON_AddObjectToObject(o, "alerts");
    cJSON_AddBoolToObject(alerts, "email", cfg->email_alerts);
    tg_call_json(c, 200, o);
}

/* GET /console/api/invites/{id}: what the sign-up page of an invitation link shows */
void tg_console_invite(tg_call_t *c, const tg_route_args_t *a)
{
    const char *token = a->id;
    size_t len = a->idlen;
    char t[TG_TOKEN_MAX];
    tg_invite_row_t inv;
    if (len == 0 || len >= sizeof(t)) {
        tg_call_error(c, TG_E_NOT_FOUND, NULL, "This invitation is not valid.");
        return;
    }
    memcpy(t, token, len);
    t[len] = '\0';
    int rc = live_invite(c, t, &inv);
    const tg_org_row_t *org = rc == 0 ? tg_call_org(c, inv.org_id) : NULL;
    if (!org) {
        if (rc < 0 && rc != TG_STORE_NOTFOUND)
            tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        else
            tg_call_error(c, TG_E_NOT_FOUND, NULL,
                          "This invitation is no longer valid (used, expired or revoked).");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "console.invite");
    cJSON_AddStringToObject(o, "email", inv.email);
    cJSON_AddStringToObject(o, "organization_name", org->name);
    cJSON_AddStringToObject(o, "role", inv.role);
    cJSON_AddNumberToObject(o, "expires_at", (double)inv.expires_at);
    tg_call_json(c, 200, o);
}

/* ---- the console's files ---- */

void tg_api_console_file(tg_call_t *c, const char *path, size_t len)
{
    const tg_asset_t *a = tg_asset_find(path, len), *gz = NULL;
    int page = !a;
    if (page) /* one of the console's pages: the application decides what to show */
        a = tg_asset_find("/index.html", 11);
    if (!a) {
        tg_call_unknown_url(c);
        return;
    }
    const char *ae = tg_http_header(c->req, "accept-encoding");
    if (!page && len < 512 && ae && strstr(ae, "gzip")) { /* the build's gzipped twin */
        char gzpath[520];
        snprintf(gzpath, sizeof(gzpath), "%.*s.gz", (int)len, path);
        gz = tg_asset_find(gzpath, len + 3);
    }
    if (gz)
        tg_http_add_header(c->req, "content-encoding", "gzip");
    if (!page)
        tg_http_add_header(c->req, "vary", "accept-encoding");
    const char *csp;
    if (tg_api__cfg()->payments_provider && strcmp(tg_api__cfg()->payments_provider, "stripe") == 0)
        csp = "default-src 'self'; script-src 'self' https://js.stripe.com; "
              "frame-src https://js.stripe.com https://hooks.stripe.com; "
              "connect-src 'self' https://api.stripe.com; img-src 'self' data:; "
              "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; "
              "form-action 'self'";
    else
        csp = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
              "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
    tg_http_add_header(c->req, "content-security-policy", csp);
    tg_http_add_header(c->req, "x-content-type-options", "nosniff");
    tg_http_add_header(c->req, "x-frame-options", "DENY");
    tg_http_add_header(c->req, "referrer-policy", "same-origin");
    /* hashed names never change; pages must always be fresh */
    int hashed = len > 8 && memcmp(path, "/assets/", 8) == 0 && !page;
    tg_http_add_header(c->req, "cache-control",
                       hashed ? "public, max-age=31536000, immutable" : "no-cache");
    c->status = 200;
    if (gz)
        tg_http_respond(c->req, 200, a->type, (const char *)gz->data, gz->len);
    else
        tg_http_respond(c->req, 200, a->type, (const char *)a->data, a->len);
    tg_call_free(c);
}
