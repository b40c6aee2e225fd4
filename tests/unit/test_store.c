/* store: the SQLite backend, through the vtable, on a fresh database file per test. */
#include "store/store.h"
#include "core/log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "db_fixture.h"

typedef tg_test_db_t fx_t;

static int fx_setup(void **state) { return tg_test_db_setup(state, "store"); }
static int fx_teardown(void **state) { return tg_test_db_teardown(state); }

/* Runs a call that is expected to fail without its log line cluttering the output. */
#define QUIET(expr)                                                                               \
    ({                                                                                            \
        int saved_ = tg_log_level;                                                                \
        tg_log_level = TG_LOG_ERROR + 1;                                                          \
        int rc_ = (expr);                                                                         \
        tg_log_level = saved_;                                                                    \
        rc_;                                                                                      \
    })

static tg_org_row_t org(const char *id, const char *name, int64_t at)
{
    tg_org_row_t o;
    memset(&o, 0, sizeof(o));
    snprintf(o.id, sizeof(o.id), "%s", id);
    snprintf(o.name, sizeof(o.name), "%s", name);
    snprintf(o.tier, sizeof(o.tier), "tier-1");
    o.created_at = at;
    return o;
}

static tg_project_row_t project(const char *id, const char *org_id, const char *name, int64_t at)
{
    tg_project_row_t p;
    memset(&p, 0, sizeof(p));
    snprintf(p.id, sizeof(p.id), "%s", id);
    snprintf(p.org_id, sizeof(p.org_id), "%s", org_id);
    snprintf(p.name, sizeof(p.name), "%s", name);
    p.created_at = at;
    return p;
}

static tg_key_row_t key(const char *id, int kind, const char *org_id, const char *proj_id,
                        unsigned char hashbyte, int64_t at)
{
    tg_key_row_t k;
    memset(&k, 0, sizeof(k));
    snprintf(k.id, sizeof(k.id), "%s", id);
    k.kind = kind;
    snprintf(k.org_id, sizeof(k.org_id), "%s", org_id);
    snprintf(k.project_id, sizeof(k.project_id), "%s", proj_id);
    snprintf(k.name, sizeof(k.name), "key %s", id);
    for (int i = 0; i < 32; i++)
        k.hash[i] = (unsigned char)(hashbyte + i * 7);
    k.hash[5] = 0; /* a NUL inside the blob must survive */
    snprintf(k.redacted, sizeof(k.redacted), "sk-proj-abc\xe2\x80\xa6wxyz");
    snprintf(k.permissions, sizeof(k.permissions), "\"all\"");
    k.created_at = at;
    return k;
}

static void key_eq(const tg_key_row_t *a, const tg_key_row_t *b)
{
    assert_string_equal(a->id, b->id);
    assert_int_equal(a->kind, b->kind);
    assert_string_equal(a->org_id, b->org_id);
    assert_string_equal(a->project_id, b->project_id);
    assert_string_equal(a->name, b->name);
    assert_memory_equal(a->hash, b->hash, 32);
    assert_string_equal(a->redacted, b->redacted);
    assert_string_equal(a->permissions, b->permissions);
    assert_string_equal(a->allowed_models, b->allowed_models);
    assert_true(a->created_at == b->created_at);
    assert_true(a->expires_at == b->expires_at);
    assert_true(a->last_used_at == b->last_used_at);
    assert_true(a->revoked_at == b->revoked_at);
}

static const tg_key_row_t *find_key(const tg_key_row_t *rows, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].id, id) == 0)
            return &rows[i];
    return NULL;
}

/* ---- migrations ---- */

static void test_migrate_idempotent(void **state)
{
    fx_t *f = *state;
    tg_store_t *st = f->st;
    tg_org_row_t o = org("org_a", "A", 100);
    assert_int_equal(st->tenancy->org_insert(st, &o), 0);
    assert_int_equal(st->ops->migrate(st), 0);
    assert_int_equal(st->ops->migrate(st), 0);

    /* a second connection on the same file migrates as a no-op too, and sees the data */
    tg_store_t *st2 = NULL;
    assert_int_equal(tg_store_open(f->url, &st2), 0);
    assert_int_equal(st2->ops->migrate(st2), 0);
    tg_org_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(st2->tenancy->org_list(st2, &rows, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].id, "org_a");
    free(rows);
    tg_store_close(st2);
    tg_store_close(NULL); /* NULL-tolerant */
}

static void test_store_urls(void **state)
{
    char buf[256];
    assert_string_equal(tg_store_sqlite_path("sqlite:./x.db", buf, sizeof(buf)), "./x.db");
    assert_string_equal(tg_store_sqlite_path("sqlite:///abs/x.db", buf, sizeof(buf)), "/abs/x.db");
    assert_string_equal(tg_store_sqlite_path("/abs/x.db", buf, sizeof(buf)), "/abs/x.db");
    assert_null(tg_store_sqlite_path("postgres://u@h/db", buf, sizeof(buf)));
    tg_store_t *st = NULL;
    /* a PostgreSQL URL opens the PostgreSQL backend: nothing listens on port 1 */
    assert_int_equal(QUIET(tg_store_open("postgres://u@127.0.0.1:1/db", &st)), -1);
    assert_int_equal(QUIET(tg_store_open("sqlite:", &st)), -1);
    assert_true(tg_store_is_pg("postgresql://u@h/db"));
    assert_false(tg_store_is_pg("sqlite:postgres://"));
    /* a password never reaches a message */
    tg_store_redact_url("postgres://tg:s3cr3t@db:5432/tollgate", buf, sizeof(buf));
    assert_string_equal(buf, "postgres://tg:***@db:5432/tollgate");
    tg_store_redact_url("postgres://tg@db/tollgate", buf, sizeof(buf));
    assert_string_equal(buf, "postgres://tg@db/tollgate");
    tg_store_redact_url("sqlite:./a:b@c.db", buf, sizeof(buf));
    assert_string_equal(buf, "sqlite:./a:b@c.db");
}

/* One process claims a database; a second connection cannot until the first closes. */
static void test_claim(void **state)
{
    fx_t *f = *state;
    tg_store_t *a = NULL, *b = NULL;
    assert_int_equal(tg_store_open(f->url, &a), 0);
    assert_int_equal(tg_store_open(f->url, &b), 0);
    assert_int_equal(a->ops->claim(a), 0);
    assert_int_equal(b->ops->claim(b), TG_STORE_CONFLICT);
    tg_store_close(a);
    assert_int_equal(b->ops->claim(b), 0);
    tg_store_close(b);
}

/* ---- organisations and projects ---- */

static void test_orgs_and_projects(void **state)
{
    fx_t *f = *state;
    tg_store_t *st = f->st;
    tg_org_row_t a = org("org_b", "Beta", 200), b = org("org_a", "Alpha", 100);
    a.is_operator = 1;
    assert_int_equal(st->tenancy->org_insert(st, &a), 0);
    assert_int_equal(st->tenancy->org_insert(st, &b), 0);
    assert_int_equal(QUIET(st->tenancy->org_insert(st, &b)), TG_STORE_CONFLICT);

    tg_org_row_t *orgs = NULL;
    size_t n = 0;
    assert_int_equal(st->tenancy->org_list(st, &orgs, &n), 0);
    assert_int_equal(n, 2);
    /* oldest first */
    assert_string_equal(orgs[0].id, "org_a");
    assert_string_equal(orgs[0].name, "Alpha");
    assert_string_equal(orgs[0].tier, "tier-1");
    assert_int_equal(orgs[0].is_operator, 0);
    assert_true(orgs[0].created_at == 100);
    assert_string_equal(orgs[1].id, "org_b");
    assert_int_equal(orgs[1].is_operator, 1);
    assert_true(orgs[1].created_at == 200);
    free(orgs);

    tg_project_row_t p1 = project("proj_1", "org_a", "Default", 110);
    tg_project_row_t p2 = project("proj_2", "org_b", "Other", 210);
    tg_project_row_t p3 = project("proj_3", "org_a", "Second", 120);
    assert_int_equal(st->tenancy->project_upsert(st, &p1), 0);
    assert_int_equal(st->tenancy->project_upsert(st, &p2), 0);
    assert_int_equal(st->tenancy->project_upsert(st, &p3), 0);
    /* a project of an organisation that does not exist is refused */
    tg_project_row_t bad = project("proj_x", "org_nope", "X", 1);
    assert_int_not_equal(QUIET(st->tenancy->project_upsert(st, &bad)), 0);

    tg_project_row_t *ps = NULL;
    assert_int_equal(st->tenancy->project_list(st, "org_a", &ps, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ps[0].id, "proj_1");
    assert_string_equal(ps[0].org_id, "org_a");
    assert_string_equal(ps[0].name, "Default");
    assert_true(ps[0].created_at == 110);
    assert_true(ps[0].archived_at == 0);
    assert_string_equal(ps[1].id, "proj_3");
    free(ps);
    assert_int_equal(st->tenancy->project_list(st, NULL, &ps, &n), 0);
    assert_int_equal(n, 3);
    free(ps);
    assert_int_equal(st->tenancy->project_list(st, "org_none", &ps, &n), 0);
    assert_int_equal(n, 0);
    free(ps);

    /* upsert renames and archives; created_at and org stay */
    p1.archived_at = 500;
    snprintf(p1.name, sizeof(p1.name), "Renamed");
    p1.created_at = 999;
    assert_int_equal(st->tenancy->project_upsert(st, &p1), 0);
    assert_int_equal(st->tenancy->project_list(st, "org_a", &ps, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ps[0].id, "proj_1");
    assert_string_equal(ps[0].name, "Renamed");
    assert_true(ps[0].archived_at == 500);
    assert_true(ps[0].created_at == 110);
    free(ps);
}

/* ---- keys ---- */

static void seed_tenancy(tg_store_t *st)
{
    tg_org_row_t o = org("org_a", "Alpha", 100), o2 = org("org_b", "Beta", 101);
    assert_int_equal(st->tenancy->org_insert(st, &o), 0);
    assert_int_equal(st->tenancy->org_insert(st, &o2), 0);
    tg_project_row_t p = project("proj_1", "org_a", "Default", 110);
    assert_int_equal(st->tenancy->project_upsert(st, &p), 0);
}

static void test_keys_round_trip(void **state)
{
    fx_t *f = *state;
    tg_store_t *st = f->st;
    seed_tenancy(st);

    tg_key_row_t adm = key("key_admin", TG_KEY_ADMIN, "org_a", "", 0x11, 1000);
    tg_key_row_t prj = key("key_proj", TG_KEY_PROJECT, "org_a", "proj_1", 0x22, 2000);
    snprintf(prj.permissions, sizeof(prj.permissions),
             "{\"restricted\":{\"models\":\"read\",\"model_capabilities\":\"write\"}}");
    snprintf(prj.allowed_models, sizeof(prj.allowed_models), "[\"gpt-4o-mini\",\"gpt-4o\"]");
    prj.expires_at = 99999;
    prj.last_used_at = 2500;
    tg_key_row_t other = key("key_other", TG_KEY_ADMIN, "org_b", "", 0x33, 1500);
    assert_int_equal(st->tenancy->key_insert(st, &prj), 0);
    assert_int_equal(st->tenancy->key_insert(st, &adm), 0);
    assert_int_equal(st->tenancy->key_insert(st, &other), 0);

    tg_key_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(st->tenancy->key_list(st, "org_a", &rows, &n), 0);
    assert_int_equal(n, 2);
    /* oldest first, every field back as written; NULL-able fields come back as 0 / "" */
    key_eq(&rows[0], &adm);
    key_eq(&rows[1], &prj);
    assert_string_equal(rows[0].project_id, "");
    assert_string_equal(rows[0].allowed_models, "");
    assert_true(rows[0].expires_at == 0 && rows[0].last_used_at == 0 && rows[0].revoked_at == 0);
    free(rows);

    assert_int_equal(st->tenancy->key_list(st, NULL, &rows, &n), 0);
    assert_int_equal(n, 3);
    assert_non_null(find_key(rows, n, "key_other"));
    key_eq(find_key(rows, n, "key_other"), &other);
    free(rows);

    assert_int_equal(st->tenancy->key_list(st, "org_b", &rows, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].id, "key_other");
    free(rows);
}

static void test_key_conflicts(void **state)
{
    fx_t *f = *state;
    tg_store_t *st = f->st;
    seed_tenancy(st);
    tg_key_row_t a = key("key_1", TG_KEY_PROJECT, "org_a", "proj_1", 0x40, 10);
    assert_int_equal(st->tenancy->key_insert(st, &a), 0);
    /* same hash under another id: the secret would authenticate twice */
    tg_key_row_t b = key("key_2", TG_KEY_PROJECT, "org_a", "proj_1", 0x40, 11);
    assert_int_equal(QUIET(st->tenancy->key_insert(st, &b)), TG_STORE_CONFLICT);
    /* same id, other hash */
    tg_key_row_t c = key("key_1", TG_KEY_PROJECT, "org_a", "proj_1", 0x41, 12);
    assert_int_equal(QUIET(st->tenancy->key_insert(st, &c)), TG_STORE_CONFLICT);

    tg_key_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(st->tenancy->key_list(st, NULL, &rows, &n), 0);
    assert_int_equal(n, 1);
    key_eq(&rows[0], &a);
    free(rows);
}

static void test_key_revoke(void **state)
{
    fx_t *f = *state;
    tg_store_t *st = f->st;
    seed_tenancy(st);
    tg_key_row_t a = key("key_1", TG_KEY_PROJECT, "org_a", "proj_1", 0x50, 10);
    tg_key_row_t b = key("key_2", TG_KEY_PROJECT, "org_a", "proj_1", 0x60, 20);
    assert_int_equal(st->tenancy->key_insert(st, &a), 0);
    assert_int_equal(st->tenancy->key_insert(st, &b), 0);

    assert_int_equal(st->tenancy->key_revoke(st, "key_1", 500), 0);
    tg_key_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(st->tenancy->key_list(st, NULL, &rows, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].id, "key_2");
    free(rows);
    assert_int_equal(st->tenancy->key_list(st, "org_a", &rows, &n), 0);
    assert_int_equal(n, 1);
    free(rows);

    assert_int_equal(st->tenancy->key_revoke(st, "key_1", 600), TG_STORE_NOTFOUND);
    assert_int_equal(st->tenancy->key_revoke(st, "key_nope", 600), TG_STORE_NOTFOUND);
    /* revoking one key leaves the other usable */
    assert_int_equal(st->tenancy->key_revoke(st, "key_2", 700), 0);
    assert_int_equal(st->tenancy->key_list(st, NULL, &rows, &n), 0);
    assert_int_equal(n, 0);
    free(rows);
    /* a revoked key's hash stays taken */
    tg_key_row_t again = key("key_3", TG_KEY_PROJECT, "org_a", "proj_1", 0x50, 30);
    assert_int_equal(QUIET(st->tenancy->key_insert(st, &again)), TG_STORE_CONFLICT);
}

static int64_t last_used(tg_store_t *st, const char *id)
{
    tg_key_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(st->tenancy->key_list(st, NULL, &rows, &n), 0);
    const tg_key_row_t *k = find_key(rows, n, id);
    assert_non_null(k);
    int64_t v = k->last_used_at;
    free(rows);
    return v;
}

static void test_key_touch(void **state)
{
    fx_t *f = *state;
    tg_store_t *st = f->st;
    seed_tenancy(st);
    tg_key_row_t a = key("key_1", TG_KEY_PROJECT, "org_a", "proj_1", 0x70, 10);
    tg_key_row_t b = key("key_2", TG_KEY_PROJECT, "org_a", "proj_1", 0x71, 10);
    assert_int_equal(st->tenancy->key_insert(st, &a), 0);
    assert_int_equal(st->tenancy->key_insert(st, &b), 0);
    assert_true(last_used(st, "key_1") == 0);

    assert_int_equal(st->tenancy->key_touch(st, "key_1", 100), 0);
    assert_true(last_used(st, "key_1") == 100);
    assert_int_equal(st->tenancy->key_touch(st, "key_1", 50), 0); /* late, out-of-order flush */
    assert_true(last_used(st, "key_1") == 100);
    assert_int_equal(st->tenancy->key_touch(st, "key_1", 100), 0);
    assert_true(last_used(st, "key_1") == 100);
    assert_int_equal(st->tenancy->key_touch(st, "key_1", 200), 0);
    assert_true(last_used(st, "key_1") == 200);
    /* only that key moved */
    assert_true(last_used(st, "key_2") == 0);
}

/* ---- providers ---- */

static tg_provider_row_t provider(const char *id, int priority, int64_t at)
{
    tg_provider_row_t p;
    memset(&p, 0, sizeof(p));
    snprintf(p.id, sizeof(p.id), "%s", id);
    snprintf(p.org_id, sizeof(p.org_id), "org_a");
    snprintf(p.name, sizeof(p.name), "provider %s", id);
    snprintf(p.type, sizeof(p.type), "openai");
    snprintf(p.base_url, sizeof(p.base_url), "https://api.example.com/v1");
    for (size_t i = 0; i < 72; i++)
        p.secret[i] = (unsigned char)(i * 37 + 1);
    p.secret[3] = 0; /* binary, with a NUL */
    p.secret_len = 72;
    snprintf(p.models, sizeof(p.models),
             "[{\"model\":\"gpt-4o-mini\",\"upstream_model\":\"gpt-4o-mini-2024-07-18\"}]");
    p.weight = 3;
    p.priority = priority;
    p.created_at = at;
    p.enabled = priority != 2; /* one of each */
    p.timeout_ms = 1500 + priority;
    snprintf(p.api_version, sizeof(p.api_version), "2024-10-%02d", 20 + priority);
    return p;
}

static void provider_eq(const tg_provider_row_t *a, const tg_provider_row_t *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->org_id, b->org_id);
    assert_string_equal(a->name, b->name);
    assert_string_equal(a->type, b->type);
    assert_string_equal(a->base_url, b->base_url);
    assert_int_equal(a->secret_len, b->secret_len);
    assert_memory_equal(a->secret, b->secret, b->secret_len);
    assert_string_equal(a->models, b->models);
    assert_int_equal(a->weight, b->weight);
    assert_int_equal(a->priority, b->priority);
    assert_true(a->created_at == b->created_at);
    assert_int_equal(a->enabled, b->enabled);
    assert_true(a->timeout_ms == b->timeout_ms);
    assert_string_equal(a->api_version, b->api_version);
}

static void test_providers(void **state)
{
    fx_t *f = *state;
    tg_store_t *st = f->st;
    seed_tenancy(st);
    tg_provider_row_t p1 = provider("prov_1", 2, 10), p2 = provider("prov_2", 1, 20);
    p2.secret_len = 0; /* no upstream key */
    assert_int_equal(st->tenancy->provider_upsert(st, &p1), 0);
    assert_int_equal(st->tenancy->provider_upsert(st, &p2), 0);

    tg_provider_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(st->tenancy->provider_list(st, &rows, &n), 0);
    assert_int_equal(n, 2);
    /* by priority */
    provider_eq(&rows[0], &p2);
    provider_eq(&rows[1], &p1);
    assert_int_equal(rows[0].secret_len, 0);
    free(rows);

    /* upsert replaces: still two rows, new values */
    p1.priority = 0;
    p1.weight = 9;
    snprintf(p1.base_url, sizeof(p1.base_url), "https://other.example.com/v1");
    p1.secret_len = 40;
    memset(p1.secret, 0xAB, 40);
    assert_int_equal(st->tenancy->provider_upsert(st, &p1), 0);
    assert_int_equal(st->tenancy->provider_list(st, &rows, &n), 0);
    assert_int_equal(n, 2);
    provider_eq(&rows[0], &p1);
    free(rows);

    assert_int_equal(st->tenancy->provider_delete(st, "prov_1"), 0);
    assert_int_equal(st->tenancy->provider_list(st, &rows, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].id, "prov_2");
    free(rows);
    assert_int_equal(st->tenancy->provider_delete(st, "prov_1"), TG_STORE_NOTFOUND);
    assert_int_equal(st->tenancy->provider_delete(st, "prov_nope"), TG_STORE_NOTFOUND);
}

/* ---- models ---- */

static tg_model_row_t mrow(const char *id, int64_t in, int64_t cached, int64_t out)
{
    tg_model_row_t m;
    memset(&m, 0, sizeof(m));
    snprintf(m.id, sizeof(m.id), "%s", id);
    snprintf(m.type, sizeof(m.type), "chat");
    snprintf(m.owned_by, sizeof(m.owned_by), "openai");
    m.created = 1721172741;
    m.input_price = in;
    m.cached_input_price = cached;
    m.output_price = out;
    m.context_window = 128000;
    m.max_output_tokens = 16384;
    snprintf(m.tokenizer, sizeof(m.tokenizer), "o200k_base");
    return m;
}

static void model_eq(const tg_model_row_t *a, const tg_model_row_t *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->type, b->type);
    assert_string_equal(a->owned_by, b->owned_by);
    assert_true(a->created == b->created);
    assert_true(a->input_price == b->input_price);
    assert_true(a->cached_input_price == b->cached_input_price);
    assert_true(a->output_price == b->output_price);
    assert_true(a->context_window == b->context_window);
    assert_true(a->max_output_tokens == b->max_output_tokens);
    assert_string_equal(a->tokenizer, b->tokenizer);
}

static void test_models(void **state)
{
    fx_t *f = *state;
    tg_store_t *st = f->st;
    tg_model_row_t mini = mrow("gpt-4o-mini", 150000000, 75000000, 600000000);
    tg_model_row_t t35 = mrow("gpt-3.5-turbo", 500000000, -1, 1500000000);
    tg_model_row_t freebie = mrow("free-cache", 100, 0, 100);
    assert_int_equal(st->tenancy->model_upsert(st, &mini, 1), 0);
    assert_int_equal(st->tenancy->model_upsert(st, &t35, 1), 0);
    assert_int_equal(st->tenancy->model_upsert(st, &freebie, 1), 0);

    tg_model_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(st->tenancy->model_list(st, &rows, &n), 0);
    assert_int_equal(n, 3);
    /* by id */
    model_eq(&rows[0], &freebie);
    model_eq(&rows[1], &t35);
    model_eq(&rows[2], &mini);
    assert_true(rows[1].cached_input_price == -1); /* "no cached price" survives */
    assert_true(rows[0].cached_input_price == 0);  /* and is not confused with free */
    free(rows);

    /* the operator edits a price; re-seeding the shipped table (only_new) keeps the edit */
    tg_model_row_t edited = mini;
    edited.input_price = 1;
    edited.cached_input_price = -1;
    assert_int_equal(st->tenancy->model_upsert(st, &edited, 0), 0);
    assert_int_equal(st->tenancy->model_upsert(st, &mini, 1), 0);
    assert_int_equal(st->tenancy->model_list(st, &rows, &n), 0);
    assert_int_equal(n, 3);
    model_eq(&rows[2], &edited);
    free(rows);

    /* only_new=0 overwrites */
    assert_int_equal(st->tenancy->model_upsert(st, &mini, 0), 0);
    assert_int_equal(st->tenancy->model_list(st, &rows, &n), 0);
    assert_int_equal(n, 3);
    model_eq(&rows[2], &mini);
    free(rows);
}

/* ---- usage ---- */

static tg_usage_row_t urow(const char *rid, int64_t cost)
{
    tg_usage_row_t u;
    memset(&u, 0, sizeof(u));
    snprintf(u.request_id, sizeof(u.request_id), "%s", rid);
    u.created_at = 1000;
    snprintf(u.org_id, sizeof(u.org_id), "org_a");
    snprintf(u.project_id, sizeof(u.project_id), "proj_1");
    snprintf(u.api_key_id, sizeof(u.api_key_id), "key_1");
    snprintf(u.model, sizeof(u.model), "gpt-4o-mini");
    snprintf(u.provider_id, sizeof(u.provider_id), "prov_1");
    snprintf(u.endpoint, sizeof(u.endpoint), "chat.completions");
    u.input_tokens = 3;
    u.output_tokens = 5;
    u.status = 200;
    u.latency_ms = 12;
    u.cost_nanousd = cost;
    return u;
}

static int64_t count(tg_store_t *st)
{
    int64_t n = -1;
    assert_int_equal(st->usage->usage_count(st, &n), 0);
    return n;
}

static void test_usage_idempotent(void **state)
{
    fx_t *f = *state;
    tg_store_t *st = f->st;
    assert_true(count(st) == 0);
    tg_usage_row_t batch[3] = {urow("req_1", 3450), urow("req_2", 1), urow("req_3", 0)};
    assert_int_equal(st->usage->usage_insert(st, batch, 3, NULL), 0);
    assert_true(count(st) == 3);
    /* the same batch again (a retried flush) adds nothing */
    assert_int_equal(st->usage->usage_insert(st, batch, 3, NULL), 0);
    assert_true(count(st) == 3);
    /* a single repeat */
    assert_int_equal(st->usage->usage_insert(st, &batch[1], 1, NULL), 0);
    assert_true(count(st) == 3);
    /* a mixed batch: only the new one counts, and the rows after a duplicate still go in */
    tg_usage_row_t mixed[3] = {urow("req_2", 1), urow("req_4", 7), urow("req_5", 8)};
    assert_int_equal(st->usage->usage_insert(st, mixed, 3, NULL), 0);
    assert_true(count(st) == 5);
    /* duplicates inside one batch */
    tg_usage_row_t dup[2] = {urow("req_6", 1), urow("req_6", 1)};
    assert_int_equal(st->usage->usage_insert(st, dup, 2, NULL), 0);
    assert_true(count(st) == 6);
    /* an empty batch */
    assert_int_equal(st->usage->usage_insert(st, NULL, 0, NULL), 0);
    assert_true(count(st) == 6);
    /* which rows were new, a repeat inside the batch included; text with quotes, backslashes,
     * braces and commas stored as it came (PostgreSQL sends a batch as arrays) */
    tg_usage_row_t odd[4] = {urow("req_7", 1), urow("req_1", 1), urow("req_7", 1), urow("req_8", 2)};
    snprintf(odd[0].model, sizeof(odd[0].model), "m \"q\" \\ {a,b} NULL");
    unsigned char fresh[4] = {9, 9, 9, 9};
    assert_int_equal(st->usage->usage_insert(st, odd, 4, fresh), 0);
    assert_int_equal(fresh[0], 1);
    assert_int_equal(fresh[1], 0);
    assert_int_equal(fresh[2], 0);
    assert_int_equal(fresh[3], 1);
    assert_true(count(st) == 8);
    /* many new ids, out of order: every one reported new exactly once */
    const char *order[] = {"req_m", "req_c", "req_x", "req_a", "req_p", "req_e", "req_c", "req_z"};
    tg_usage_row_t many[8];
    unsigned char nw[8];
    for (int i = 0; i < 8; i++)
        many[i] = urow(order[i], 1);
    assert_int_equal(st->usage->usage_insert(st, many, 8, nw), 0);
    for (int i = 0; i < 8; i++)
        assert_int_equal(nw[i], i == 6 ? 0 : 1);
    assert_true(count(st) == 15);
    tg_usage_agg_t agg;
    memset(&agg, 0, sizeof(agg));
    snprintf(agg.org_id, sizeof(agg.org_id), "org_x");
    snprintf(agg.model, sizeof(agg.model), "%s", odd[0].model);
    agg.minute = 60;
    agg.requests = 2;
    agg.cost_nanousd = 5;
    assert_int_equal(st->usage->usage_agg_add(st, &agg, 1), 0);
    assert_int_equal(st->usage->usage_agg_add(st, &agg, 1), 0); /* adds */
    tg_usage_query_t q = {.org_id = "org_x", .start = 0, .end = 3600, .width = 3600,
                          .group_by = TG_USAGE_BY_MODEL};
    tg_usage_bucket_row_t *b = NULL;
    size_t nb = 0;
    assert_int_equal(st->usage->usage_query(st, &q, &b, &nb), 0);
    assert_int_equal(nb, 1);
    assert_string_equal(b[0].model, odd[0].model);
    assert_int_equal(b[0].requests, 4);
    assert_int_equal(b[0].cost_nanousd, 10);
    free(b);
}

/* ---- transactions and users ---- */

static void test_transactions(void **state)
{
    fx_t *f = *state;
    tg_store_t *st = f->st;
    tg_org_row_t a = org("org_a", "A", 1), b = org("org_b", "B", 2);
    assert_int_equal(st->ops->begin(st), 0);
    assert_int_equal(st->tenancy->org_insert(st, &a), 0);
    assert_int_equal(st->ops->rollback(st), 0);
    tg_org_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(st->tenancy->org_list(st, &rows, &n), 0);
    assert_int_equal(n, 0);
    free(rows);

    assert_int_equal(st->ops->begin(st), 0);
    assert_int_equal(st->tenancy->org_insert(st, &b), 0);
    assert_int_equal(st->ops->commit(st), 0);
    assert_int_equal(st->tenancy->org_list(st, &rows, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].id, "org_b");
    free(rows);
}

static void test_users(void **state)
{
    fx_t *f = *state;
    tg_store_t *st = f->st;
    tg_user_row_t u;
    memset(&u, 0, sizeof(u));
    snprintf(u.id, sizeof(u.id), "user_1");
    snprintf(u.org_id, sizeof(u.org_id), "org_a");
    snprintf(u.email, sizeof(u.email), "a@example.com");
    snprintf(u.password_hash, sizeof(u.password_hash), "$argon2id$v=19$...");
    snprintf(u.role, sizeof(u.role), "owner");
    u.created_at = 5;
    assert_int_equal(st->accounts->user_insert(st, &u), 0);
    snprintf(u.id, sizeof(u.id), "user_2");
    assert_int_equal(QUIET(st->accounts->user_insert(st, &u)), TG_STORE_CONFLICT); /* same email */
}

static void test_sessions_and_invites(void **state)
{
    fx_t *f = *state;
    tg_store_t *st = f->st;
    tg_user_row_t u = {0}, got;
    snprintf(u.id, sizeof(u.id), "user_1");
    snprintf(u.org_id, sizeof(u.org_id), "org_a");
    snprintf(u.email, sizeof(u.email), "a@example.com");
    snprintf(u.password_hash, sizeof(u.password_hash), "$argon2id$v=19$...");
    snprintf(u.role, sizeof(u.role), "owner");
    assert_int_equal(st->accounts->user_insert(st, &u), 0);
    assert_int_equal(st->accounts->user_by_email(st, "a@example.com", &got), 0);
    assert_string_equal(got.id, "user_1");
    assert_int_equal(st->accounts->user_by_email(st, "b@example.com", &got), TG_STORE_NOTFOUND);

    tg_session_row_t s = {.created_at = 100, .expires_at = 200};
    snprintf(s.token_hash, sizeof(s.token_hash), "h1");
    snprintf(s.user_id, sizeof(s.user_id), "user_1");
    assert_int_equal(st->accounts->session_insert(st, &s), 0);
    assert_int_equal(st->accounts->session_get(st, "h1", 199, &got), 0);
    assert_string_equal(got.email, "a@example.com");
    assert_int_equal(st->accounts->session_get(st, "h1", 200, &got), TG_STORE_NOTFOUND); /* expired */
    assert_int_equal(st->accounts->session_get(st, "h2", 150, &got), TG_STORE_NOTFOUND);
    assert_int_equal(st->accounts->user_set_role(st, "user_1", "reader"), 0);
    assert_int_equal(st->accounts->session_get(st, "h1", 150, &got), 0);
    assert_string_equal(got.role, "reader"); /* a role change applies to live sessions */
    /* a new password ends the user's other sessions, not the one it keeps */
    snprintf(s.token_hash, sizeof(s.token_hash), "h3");
    assert_int_equal(st->accounts->session_insert(st, &s), 0);
    assert_int_equal(st->accounts->user_set_password(st, "user_1", "$argon2id$new", "h1"), 0);
    assert_int_equal(st->accounts->session_get(st, "h1", 150, &got), 0);
    assert_string_equal(got.password_hash, "$argon2id$new");
    assert_int_equal(st->accounts->session_get(st, "h3", 150, &got), TG_STORE_NOTFOUND);
    assert_int_equal(st->accounts->user_set_password(st, "nobody", "x", NULL), TG_STORE_NOTFOUND);
    /* deleting a user ends its sessions */
    assert_int_equal(st->accounts->user_delete(st, "user_1"), 0);
    assert_int_equal(st->accounts->session_get(st, "h1", 150, &got), TG_STORE_NOTFOUND);
    assert_int_equal(st->accounts->user_delete(st, "user_1"), TG_STORE_NOTFOUND);

    tg_invite_row_t inv = {.invited_at = 10, .expires_at = 20}, gi;
    snprintf(inv.id, sizeof(inv.id), "invite-1");
    snprintf(inv.org_id, sizeof(inv.org_id), "org_a");
    snprintf(inv.email, sizeof(inv.email), "b@example.com");
    snprintf(inv.role, sizeof(inv.role), "reader");
    snprintf(inv.token_hash, sizeof(inv.token_hash), "t1");
    assert_int_equal(st->accounts->invite_insert(st, &inv), 0);
    assert_int_equal(st->accounts->invite_by_token(st, "t1", &gi), 0);
    assert_string_equal(gi.id, "invite-1");
    assert_int_equal(gi.accepted_at, 0);
    assert_int_equal(st->accounts->invite_accept(st, "invite-1", 15), 0);
    assert_int_equal(st->accounts->invite_accept(st, "invite-1", 16), TG_STORE_NOTFOUND); /* once */
    assert_int_equal(st->accounts->invite_get(st, "invite-1", &gi), 0);
    assert_int_equal(gi.accepted_at, 15);
    assert_int_equal(st->accounts->invite_delete(st, "invite-1"), 0);
    assert_int_equal(st->accounts->invite_get(st, "invite-1", &gi), TG_STORE_NOTFOUND);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_migrate_idempotent),
        cmocka_unit_test(test_store_urls),
        T(test_claim),
        T(test_orgs_and_projects),
        T(test_keys_round_trip),
        T(test_key_conflicts),
        T(test_key_revoke),
        T(test_key_touch),
        T(test_providers),
        T(test_models),
        T(test_usage_idempotent),
        T(test_transactions),
        T(test_users),
        T(test_sessions_and_invites),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
