/* catalog: snapshots built from a real SQLite store — key lookup, scopes, allowed models,
 * routes with decrypted upstream keys, and snapshot lifetime across reloads. */
#include "catalog/catalog.h"
#include "auth/keys.h"
#include "auth/secrets.h"
#include "auth/perms.h"
#include "core/log.h"
#include "store/store.h"

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
#include <sodium.h>

#define MASTER_A "6a1f0e55c3b2d4e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e"
#define MASTER_B "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

typedef struct {
    tg_test_db_t db;
    tg_catalog_t *slot;
    char k_all[TG_KEY_SECRET_MAX];   /* project key, "all", allowed: gpt-4o-mini only */
    char k_read[TG_KEY_SECRET_MAX];  /* project key, restricted models:read, any model */
    char k_none[TG_KEY_SECRET_MAX];  /* project key, allowed_models [] */
    char k_admin[TG_KEY_SECRET_MAX]; /* admin key, "all" */
    char k_dangling[TG_KEY_SECRET_MAX]; /* project key of a project that does not exist */
} fx_t;

static void use_master(const char *hex)
{
    tg_master_key_t k;
    unsigned char raw[32];
    assert_int_equal(sodium_hex2bin(raw, sizeof(raw), hex, strlen(hex), NULL, NULL, NULL), 0);
    assert_int_equal(tg_master_key_parse(raw, sizeof(raw), &k), 0);
    tg_secret_use(&k);
}

static void add_key(tg_store_t *st, const char *id, int kind, const char *proj, const char *perms,
                    const char *allowed, char *secret_out, int64_t at)
{
    tg_key_row_t k;
    memset(&k, 0, sizeof(k));
    tg_key_generate(kind == TG_KEY_ADMIN ? "sk-admin-" : "sk-proj-", secret_out);
    snprintf(k.id, sizeof(k.id), "%s", id);
    k.kind = kind;
    snprintf(k.org_id, sizeof(k.org_id), "org_a");
    snprintf(k.project_id, sizeof(k.project_id), "%s", proj);
    snprintf(k.name, sizeof(k.name), "%s", id);
    tg_key_hash(secret_out, strlen(secret_out), k.hash);
    tg_key_redact(secret_out, k.redacted);
    snprintf(k.permissions, sizeof(k.permissions), "%s", perms);
    snprintf(k.allowed_models, sizeof(k.allowed_models), "%s", allowed);
    k.created_at = at;
    assert_int_equal(st->tenancy->key_insert(st, &k), 0);
}

static void add_model(tg_store_t *st, const char *id)
{
    tg_model_row_t m;
    memset(&m, 0, sizeof(m));
    snprintf(m.id, sizeof(m.id), "%s", id);
    snprintf(m.type, sizeof(m.type), "chat");
    snprintf(m.owned_by, sizeof(m.owned_by), "openai");
    snprintf(m.tokenizer, sizeof(m.tokenizer), "o200k_base");
    m.input_price = 150000000;
    m.cached_input_price = 75000000;
    m.output_price = 600000000;
    m.context_window = 128000;
    m.max_output_tokens = 16384;
    assert_int_equal(st->tenancy->model_upsert(st, &m, 0), 0);
}

static void add_provider(tg_store_t *st, const char *id, int priority, const char *api_key,
                         const char *models, int64_t at)
{
    tg_provider_row_t p;
    memset(&p, 0, sizeof(p));
    snprintf(p.id, sizeof(p.id), "%s", id);
    snprintf(p.org_id, sizeof(p.org_id), "org_a");
    snprintf(p.name, sizeof(p.name), "%s", id);
    snprintf(p.type, sizeof(p.type), "openai");
    snprintf(p.base_url, sizeof(p.base_url), "https://%s.example.com/v1", id);
    int n = tg_secret_seal(api_key, strlen(api_key), p.secret, sizeof(p.secret));
    assert_true(n > 0);
    p.secret_len = (size_t)n;
    snprintf(p.models, sizeof(p.models), "%s", models);
    p.weight = 1;
    p.priority = priority;
    p.created_at = at;
    p.enabled = 1;
    assert_int_equal(st->tenancy->provider_upsert(st, &p), 0);
}

/* Creates the temp dir and an empty, migrated store. Nothing here asserts, so that a failure
 * in seeding (done by the test itself, see seeded()) still reaches fx_teardown. */
static int fx_setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    if (!f || tg_test_db_open(&f->db, "catalog") != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

/* Fills the store: one organisation and project, five keys, four models, two providers;
 * then publishes a snapshot. */
static fx_t *seeded(void **state)
{
    fx_t *f = *state;
    tg_store_t *st = f->db.st;
    use_master(MASTER_A);

    tg_org_row_t o;
    memset(&o, 0, sizeof(o));
    snprintf(o.id, sizeof(o.id), "org_a");
    snprintf(o.name, sizeof(o.name), "Alpha");
    snprintf(o.tier, sizeof(o.tier), "tier-1");
    o.created_at = 1;
    assert_int_equal(st->tenancy->org_insert(st, &o), 0);
    tg_project_row_t p;
    memset(&p, 0, sizeof(p));
    snprintf(p.id, sizeof(p.id), "proj_1");
    snprintf(p.org_id, sizeof(p.org_id), "org_a");
    snprintf(p.name, sizeof(p.name), "Default");
    p.created_at = 2;
    assert_int_equal(st->tenancy->project_upsert(st, &p), 0);

    add_key(st, "key_all", TG_KEY_PROJECT, "proj_1", "\"all\"", "[\"gpt-4o-mini\"]", f->k_all, 10);
    add_key(st, "key_read", TG_KEY_PROJECT, "proj_1", "{\"restricted\":{\"models\":\"read\"}}", "",
            f->k_read, 11);
    add_key(st, "key_none", TG_KEY_PROJECT, "proj_1", "\"all\"", "[]", f->k_none, 12);
    add_key(st, "key_admin", TG_KEY_ADMIN, "", "\"all\"", "", f->k_admin, 13);
    add_key(st, "key_dangling", TG_KEY_PROJECT, "proj_gone", "\"all\"", "", f->k_dangling, 14);

    add_model(st, "gpt-4o-mini");
    add_model(st, "gpt-4o");
    add_model(st, "gpt-4.1-mini");
    add_model(st, "orphan-model");

    /* inserted first but lower in priority (larger number): gpt-4o-mini's second target */
    add_provider(st, "prov_backup", 5, "sk-upstream-backup",
                 "[{\"model\":\"gpt-4o-mini\",\"upstream_model\":\"backup-mini\"},"
                 "{\"model\":\"gpt-4.1-mini\",\"upstream_model\":\"gpt-4.1-mini-2025-04-14\"}]",
                 20);
    add_provider(st, "prov_main", 1, "sk-upstream-main-0123456789",
                 "[{\"model\":\"gpt-4o-mini\",\"upstream_model\":\"gpt-4o-mini-2024-07-18\"},"
                 "{\"model\":\"gpt-4o\"},{\"model\":\"not-in-catalog\"}]",
                 21);

    assert_int_equal(tg_catalog_reload(st), 0);
    return f;
}

static int fx_teardown(void **state)
{
    fx_t *f = *state;
    tg_catalog_unref(f->slot);
    int rc = tg_test_db_close(&f->db);
    free(f);
    return rc;
}

static const tg_cat_key_t *lookup(const tg_catalog_t *c, const char *secret)
{
    return tg_catalog_key_by_secret(c, secret, strlen(secret));
}

static void test_key_by_secret(void **state)
{
    fx_t *f = seeded(state);
    tg_catalog_t *c = tg_catalog_current(&f->slot);
    assert_non_null(c);

    const tg_cat_key_t *k = lookup(c, f->k_all);
    assert_non_null(k);
    assert_string_equal(k->row.id, "key_all");
    assert_int_equal(k->row.kind, TG_KEY_PROJECT);
    assert_non_null(k->org);
    assert_string_equal(k->org->id, "org_a");
    assert_string_equal(k->org->name, "Alpha");
    assert_non_null(k->project);
    assert_string_equal(k->project->id, "proj_1");

    const tg_cat_key_t *a = lookup(c, f->k_admin);
    assert_non_null(a);
    assert_string_equal(a->row.id, "key_admin");
    assert_int_equal(a->row.kind, TG_KEY_ADMIN);
    assert_null(a->project);
    assert_string_equal(a->org->id, "org_a");

    /* wrong secrets: one character changed, truncated, extended, another prefix, empty */
    char wrong[TG_KEY_SECRET_MAX + 2];
    snprintf(wrong, sizeof(wrong), "%s", f->k_all);
    size_t len = strlen(wrong);
    wrong[len - 1] = wrong[len - 1] == 'a' ? 'b' : 'a';
    assert_null(lookup(c, wrong));
    assert_null(tg_catalog_key_by_secret(c, f->k_all, strlen(f->k_all) - 1));
    snprintf(wrong, sizeof(wrong), "%sx", f->k_all);
    assert_null(lookup(c, wrong));
    snprintf(wrong, sizeof(wrong), "sk-admin-%s", f->k_all + 8);
    assert_null(lookup(c, wrong));
    assert_null(lookup(c, ""));
    assert_null(lookup(c, "sk-proj-"));

    /* the length given is what counts (the bearer token is a slice of a header) */
    char hdr[200];
    snprintf(hdr, sizeof(hdr), "%s\r\nHost: x", f->k_read);
    k = tg_catalog_key_by_secret(c, hdr, strlen(f->k_read));
    assert_non_null(k);
    assert_string_equal(k->row.id, "key_read");

    /* a key whose project does not exist authenticates nothing */
    assert_null(lookup(c, f->k_dangling));
}

static void test_scopes(void **state)
{
    fx_t *f = seeded(state);
    tg_catalog_t *c = tg_catalog_current(&f->slot);
    const tg_cat_key_t *k = lookup(c, f->k_all);
    assert_non_null(k);
    assert_int_equal(k->scopes, TG_SCOPE_MODELS_READ | TG_SCOPE_MODEL_REQUEST);
    k = lookup(c, f->k_read);
    assert_non_null(k);
    assert_int_equal(k->scopes, TG_SCOPE_MODELS_READ);
    k = lookup(c, f->k_admin);
    assert_non_null(k);
    assert_int_equal(k->scopes, TG_SCOPE_MGMT_READ | TG_SCOPE_MGMT_WRITE);
}

static void test_allowed_models(void **state)
{
    fx_t *f = seeded(state);
    tg_catalog_t *c = tg_catalog_current(&f->slot);
    const tg_cat_key_t *k = lookup(c, f->k_all);
    assert_non_null(k);
    assert_true(tg_catalog_key_allows(k, "gpt-4o-mini"));
    assert_false(tg_catalog_key_allows(k, "gpt-4o"));
    assert_false(tg_catalog_key_allows(k, "gpt-4o-mini-2024-07-18"));
    assert_false(tg_catalog_key_allows(k, "gpt-4o-min"));
    assert_false(tg_catalog_key_allows(k, ""));

    k = lookup(c, f->k_read); /* no list: any model */
    assert_non_null(k);
    assert_true(tg_catalog_key_allows(k, "gpt-4o-mini"));
    assert_true(tg_catalog_key_allows(k, "gpt-4o"));
    assert_true(tg_catalog_key_allows(k, "anything"));

    k = lookup(c, f->k_none); /* an empty list: no model */
    assert_non_null(k);
    assert_false(tg_catalog_key_allows(k, "gpt-4o-mini"));
    assert_false(tg_catalog_key_allows(k, "gpt-4o"));
}

static void test_models_and_routes(void **state)
{
    fx_t *f = seeded(state);
    tg_catalog_t *c = tg_catalog_current(&f->slot);
    size_t n = 0;
    const tg_model_row_t *ms = tg_catalog_models(c, &n);
    assert_int_equal(n, 4);
    for (size_t i = 1; i < n; i++)
        assert_true(strcmp(ms[i - 1].id, ms[i].id) < 0);

    /* lookups by slice */
    const tg_model_row_t *mini = tg_catalog_model(c, "gpt-4o-mini", 11);
    assert_non_null(mini);
    assert_string_equal(mini->id, "gpt-4o-mini");
    assert_true(mini->input_price == 150000000);
    const tg_model_row_t *m4o = tg_catalog_model(c, "gpt-4o-mini", 6); /* "gpt-4o" */
    assert_non_null(m4o);
    assert_string_equal(m4o->id, "gpt-4o");
    assert_null(tg_catalog_model(c, "gpt-4", 5));
    assert_null(tg_catalog_model(c, "gpt-4o-mini-2024-07-18", 22));
    assert_null(tg_catalog_model(c, "zzz", 3));
    assert_null(tg_catalog_model(c, "", 0));
    for (size_t i = 0; i < n; i++)
        assert_ptr_equal(tg_catalog_model(c, ms[i].id, strlen(ms[i].id)), &ms[i]);

    /* the first provider by priority serves gpt-4o-mini, with its decrypted key */
    const tg_cat_route_t *r = tg_catalog_route(c, mini);
    assert_non_null(r);
    assert_true(r->n >= 1);
    assert_string_equal(r->targets[0].provider->row.id, "prov_main");
    assert_int_equal(r->targets[0].provider->nkeys, 1);
    assert_string_equal(r->targets[0].provider->keys[0], "sk-upstream-main-0123456789");
    assert_string_equal(r->targets[0].provider->row.base_url, "https://prov_main.example.com/v1");
    assert_string_equal(r->targets[0].upstream_model, "gpt-4o-mini-2024-07-18");
    /* the other provider that serves it follows, by priority, with its own upstream name */
    assert_int_equal(r->n, 2);
    assert_string_equal(r->targets[1].provider->row.id, "prov_backup");
    assert_string_equal(r->targets[1].upstream_model, "backup-mini");

    /* no upstream_model: the model's own name */
    r = tg_catalog_route(c, m4o);
    assert_int_equal(r->n, 1);
    assert_string_equal(r->targets[0].provider->row.id, "prov_main");
    assert_string_equal(r->targets[0].upstream_model, "gpt-4o");

    /* served only by the backup provider */
    const tg_model_row_t *m41 = tg_catalog_model(c, "gpt-4.1-mini", 12);
    assert_non_null(m41);
    r = tg_catalog_route(c, m41);
    assert_int_equal(r->n, 1);
    assert_string_equal(r->targets[0].provider->row.id, "prov_backup");
    assert_string_equal(r->targets[0].provider->keys[0], "sk-upstream-backup");
    assert_string_equal(r->targets[0].upstream_model, "gpt-4.1-mini-2025-04-14");

    /* no provider at all */
    const tg_model_row_t *orphan = tg_catalog_model(c, "orphan-model", 12);
    assert_non_null(orphan);
    r = tg_catalog_route(c, orphan);
    assert_non_null(r);
    assert_int_equal(r->n, 0);

    /* organisation and project lookups */
    assert_non_null(tg_catalog_org(c, "org_a"));
    assert_null(tg_catalog_org(c, "org_b"));
    assert_non_null(tg_catalog_project(c, "proj_1"));
    assert_null(tg_catalog_project(c, "proj_gone"));
}

static void test_reload_and_snapshot_lifetime(void **state)
{
    fx_t *f = seeded(state);
    tg_catalog_t *c1 = tg_catalog_current(&f->slot);
    assert_non_null(c1);
    /* unchanged: the same snapshot again */
    assert_ptr_equal(tg_catalog_current(&f->slot), c1);

    /* an in-flight request holds the old snapshot */
    tg_catalog_t *old = tg_catalog_ref(c1);
    const tg_cat_key_t *held = lookup(old, f->k_all);
    assert_non_null(held);

    assert_int_equal(f->db.st->tenancy->key_revoke(f->db.st, "key_all", 1000), 0);
    assert_int_equal(tg_catalog_reload(f->db.st), 0);

    tg_catalog_t *c2 = tg_catalog_current(&f->slot);
    assert_non_null(c2);
    assert_ptr_not_equal(c2, c1);
    assert_ptr_equal(f->slot, c2);
    assert_null(lookup(c2, f->k_all));
    /* the other keys are still there */
    assert_non_null(lookup(c2, f->k_read));
    assert_non_null(lookup(c2, f->k_admin));

    /* the old snapshot still answers, and what it lent out is intact */
    const tg_cat_key_t *k = lookup(old, f->k_all);
    assert_non_null(k);
    assert_ptr_equal(k, held);
    assert_string_equal(held->row.id, "key_all");
    assert_string_equal(held->project->id, "proj_1");
    assert_true(tg_catalog_key_allows(held, "gpt-4o-mini"));
    const tg_model_row_t *mini = tg_catalog_model(old, "gpt-4o-mini", 11);
    assert_non_null(mini);
    assert_string_equal(tg_catalog_route(old, mini)->targets[0].provider->keys[0],
                        "sk-upstream-main-0123456789");
    tg_catalog_unref(old);

    /* a second slot (another worker) sees the newest snapshot too */
    tg_catalog_t *slot2 = NULL;
    assert_ptr_equal(tg_catalog_current(&slot2), c2);
    tg_catalog_unref(slot2);
    tg_catalog_unref(NULL);

    /* a new key shows up after a reload */
    char secret[TG_KEY_SECRET_MAX];
    add_key(f->db.st, "key_new", TG_KEY_PROJECT, "proj_1", "\"read_only\"", "", secret, 50);
    assert_null(lookup(c2, secret));
    assert_int_equal(tg_catalog_reload(f->db.st), 0);
    tg_catalog_t *c3 = tg_catalog_current(&f->slot);
    const tg_cat_key_t *nk = lookup(c3, secret);
    assert_non_null(nk);
    assert_string_equal(nk->row.id, "key_new");
    assert_int_equal(nk->scopes, TG_SCOPE_MODELS_READ);
}

static void test_provider_changes(void **state)
{
    fx_t *f = seeded(state);
    /* deleting the main provider moves gpt-4o-mini to the backup */
    assert_int_equal(f->db.st->tenancy->provider_delete(f->db.st, "prov_main"), 0);
    assert_int_equal(tg_catalog_reload(f->db.st), 0);
    tg_catalog_t *c = tg_catalog_current(&f->slot);
    const tg_model_row_t *mini = tg_catalog_model(c, "gpt-4o-mini", 11);
    assert_non_null(mini);
    const tg_cat_route_t *r = tg_catalog_route(c, mini);
    assert_int_equal(r->n, 1);
    assert_string_equal(r->targets[0].provider->row.id, "prov_backup");
    assert_string_equal(r->targets[0].provider->keys[0], "sk-upstream-backup");
    assert_string_equal(r->targets[0].upstream_model, "backup-mini");
    /* and gpt-4o has no provider any more */
    const tg_model_row_t *m4o = tg_catalog_model(c, "gpt-4o", 6);
    assert_non_null(m4o);
    assert_int_equal(tg_catalog_route(c, m4o)->n, 0);
}

static void test_undecryptable_provider_never_routes(void **state)
{
    fx_t *f = seeded(state);
    /* a provider sealed under another master key (e.g. the wrong key file) */
    use_master(MASTER_B);
    add_provider(f->db.st, "prov_foreign", 0, "sk-upstream-foreign",
                 "[{\"model\":\"orphan-model\"},{\"model\":\"gpt-4o-mini\"}]", 30);
    use_master(MASTER_A);
    int saved = tg_log_level;
    tg_log_level = TG_LOG_ERROR + 1; /* the decryption error is expected */
    assert_int_equal(tg_catalog_reload(f->db.st), 0);
    tg_log_level = saved;
    tg_catalog_t *c = tg_catalog_current(&f->slot);

    const tg_model_row_t *orphan = tg_catalog_model(c, "orphan-model", 12);
    assert_int_equal(tg_catalog_route(c, orphan)->n, 0);
    const tg_model_row_t *mini = tg_catalog_model(c, "gpt-4o-mini", 11);
    const tg_cat_route_t *r = tg_catalog_route(c, mini);
    assert_true(r->n >= 1);
    assert_string_equal(r->targets[0].provider->row.id, "prov_main");
    assert_string_equal(r->targets[0].provider->keys[0], "sk-upstream-main-0123456789");
    for (int i = 0; i < r->n; i++) /* the foreign provider is not among them */
        assert_string_not_equal(r->targets[i].provider->row.id, "prov_foreign");
    /* everything else is unaffected */
    assert_non_null(lookup(c, f->k_all));
}

static void test_many_keys(void **state)
{
    fx_t *f = seeded(state);
    enum { N = 300 };
    char (*secrets)[TG_KEY_SECRET_MAX] = calloc(N, TG_KEY_SECRET_MAX);
    assert_non_null(secrets);
    assert_int_equal(f->db.st->ops->begin(f->db.st), 0);
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof(id), "key_bulk_%d", i);
        add_key(f->db.st, id, TG_KEY_PROJECT, "proj_1", "\"all\"", "", secrets[i], 100 + i);
    }
    assert_int_equal(f->db.st->ops->commit(f->db.st), 0);
    assert_int_equal(tg_catalog_reload(f->db.st), 0);
    tg_catalog_t *c = tg_catalog_current(&f->slot);
    for (int i = 0; i < N; i++) {
        const tg_cat_key_t *k = lookup(c, secrets[i]);
        char id[32];
        snprintf(id, sizeof(id), "key_bulk_%d", i);
        if (!k || strcmp(k->row.id, id) != 0)
            fail_msg("bulk key %d not found by its secret", i);
    }
    assert_non_null(lookup(c, f->k_all));
    assert_non_null(lookup(c, f->k_admin));
    /* unknown secrets are still rejected in a fuller table */
    for (int i = 0; i < 200; i++) {
        char s[TG_KEY_SECRET_MAX];
        tg_key_generate("sk-proj-", s);
        assert_null(lookup(c, s));
    }
    free(secrets);
}

static int group_setup(void **state)
{
    return sodium_init() < 0 ? -1 : 0;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_key_by_secret),
        T(test_scopes),
        T(test_allowed_models),
        T(test_models_and_routes),
        T(test_reload_and_snapshot_lifetime),
        T(test_provider_changes),
        T(test_undecryptable_provider_never_routes),
        T(test_many_keys),
    };
    return cmocka_run_group_tests_name("catalog", tests, group_setup, NULL);
}
