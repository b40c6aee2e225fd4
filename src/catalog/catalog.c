#include "catalog/catalog.h"

#include "auth/keys.h"
#include "auth/secrets.h"
#include "auth/perms.h"
#include "core/log.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct tg_catalog {
    atomic_int refs;
    uint64_t version;
    tg_org_row_t *orgs;
    size_t norgs;
    tg_project_row_t *projects;
    size_t nprojects;
    tg_cat_key_t *keys;
    size_t nkeys;
    uint32_t *key_slots; /* open addressing on the key hash: index+1, 0 empty */
    size_t key_mask;
    tg_provider_t *providers;
    size_t nproviders;
    tg_target_t *targets; /* the routes' targets, model after model */
    tg_model_row_t *models; /* sorted by id */
    size_t nmodels;
    tg_cat_route_t *routes; /* parallel to models */
    tg_rate_limit_row_t *rl; /* projects' own rate limits */
    size_t nrl;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static tg_catalog_t *current;
static atomic_uint_fast64_t current_version;

static void catalog_free(tg_catalog_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nkeys; i++) {
        for (size_t j = 0; j < c->keys[i].nallowed; j++)
            free(c->keys[i].allowed[j]);
        free(c->keys[i].allowed);
    }
    if (c->providers)
        sodium_memzero(c->providers, c->nproviders * sizeof(*c->providers));
    free(c->orgs);
    free(c->projects);
    free(c->keys);
    free(c->key_slots);
    free(c->providers);
    free(c->models);
    free(c->routes);
    free(c->targets);
    free(c->rl);
    free(c);
}

void tg_catalog_shutdown(void)
{
    pthread_mutex_lock(&lock);
    tg_catalog_t *c = current;
    current = NULL;
    atomic_fetch_add(&current_version, 1);
    pthread_mutex_unlock(&lock);
    tg_catalog_unref(c);
}

tg_catalog_t *tg_catalog_ref(tg_catalog_t *c)
{
    atomic_fetch_add(&c->refs, 1);
    return c;
}

void tg_catalog_unref(tg_catalog_t *c)
{
    if (c && atomic_fetch_sub(&c->refs, 1) == 1)
        catalog_free(c);
}

tg_catalog_t *tg_catalog_current(tg_catalog_t **slot)
{
    if (*slot && (*slot)->version == atomic_load(&current_version))
        return *slot;
    pthread_mutex_lock(&lock);
    tg_catalog_t *c = current ? tg_catalog_ref(current) : NULL;
    pthread_mutex_unlock(&lock);
    tg_catalog_unref(*slot);
    *slot = c;
    return c;
}

static int cmp_model(const void *a, const void *b)
{
    return strcmp(((const tg_model_row_t *)a)->id, ((const tg_model_row_t *)b)->id);
}

static uint32_t hash_slot(const unsigned char h[32])
{
    uint32_t v;
    memcpy(&v, h, sizeof(v));
    return v;
}

static void parse_allowed(tg_cat_key_t *k)
{
    cJSON *a = k->row.allowed_models[0] ? cJSON_Parse(k->row.allowed_models) : NULL;
    if (cJSON_IsArray(a)) {
        size_t n = (size_t)cJSON_GetArraySize(a), i = 0;
        k->allowed = calloc(n ? n : 1, sizeof(char *));
        const cJSON *it;
        cJSON_ArrayForEach(it, a) {
            if (cJSON_IsString(it) && k->allowed)
                k->allowed[i++] = strdup(it->valuestring);
        }
        k->nallowed = i;
    }
    cJSON_Delete(a);
}

/* Each model's targets: the enabled providers that serve it, in the store's order (by
 * priority). Two passes over the providers' model lists: count, then fill. */
static int build_routes(tg_catalog_t *c)
{
    size_t total = 0;
    c->routes = calloc(c->nmodels ? c->nmodels : 1, sizeof(*c->routes));
    if (!c->routes)
        return -1;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            c->targets = calloc(total ? total : 1, sizeof(*c->targets));
            if (!c->targets)
                return -1;
            size_t at = 0; /* each route's slice, counted in pass 0 */
            for (size_t m = 0; m < c->nmodels; m++) {
                c->routes[m].targets = c->targets + at;
                at += (size_t)c->routes[m].n;
                c->routes[m].n = 0;
            }
        }
        for (size_t p = 0; p < c->nproviders; p++) {
            if (!c->providers[p].row.enabled)
                continue;
            cJSON *arr = cJSON_Parse(c->providers[p].row.models);
            const cJSON *it;
            cJSON_ArrayForEach(it, arr) {
                const cJSON *m = cJSON_GetObjectItemCaseSensitive(it, "model");
                const cJSON *um = cJSON_GetObjectItemCaseSensitive(it, "upstream_model");
                if (!cJSON_IsString(m))
                    continue;
                const tg_model_row_t *model = tg_catalog_model(c, m->valuestring,
                                                               strlen(m->valuestring));
                if (!model)
                    continue;
                tg_cat_route_t *r = &c->routes[model - c->models];
                if (r->n == TG_POOL_TARGETS_MAX)
                    continue;
                if (pass == 0) {
                    r->n++;
                    total++;
                    continue;
                }
                tg_target_t *t = (tg_target_t *)&r->targets[r->n++];
                t->provider = &c->providers[p];
                snprintf(t->upstream_model, sizeof(t->upstream_model), "%s",
                         cJSON_IsString(um) && *um->valuestring ? um->valuestring
                                                                : m->valuestring);
            }
            cJSON_Delete(arr);
        }
    }
    return 0;
}

static void (*on_change)(void);

void tg_catalog_on_change(void (*fn)(void)) { on_change = fn; }

int tg_catalog_reload(tg_store_t *st)
{
    int rc = tg_catalog_refresh(st);
    if (rc == 0 && on_change)
        on_change();
    return rc;
}

int tg_catalog_refresh(tg_store_t *st)
{
    tg_catalog_t *c = calloc(1, sizeof(*c));
    tg_key_row_t *keys = NULL;
    tg_provider_row_t *provs = NULL;
    size_t nkeys = 0, nprovs = 0;

    if (!c)
        return -1;
    atomic_init(&c->refs, 1);
    if (st->tenancy->org_list(st, &c->orgs, &c->norgs) < 0 ||
        st->tenancy->project_list(st, NULL, &c->projects, &c->nprojects) < 0 ||
        st->tenancy->key_list(st, NULL, &keys, &nkeys) < 0 ||
        st->tenancy->provider_list(st, &provs, &nprovs) < 0 ||
        st->tenancy->model_list(st, &c->models, &c->nmodels) < 0 ||
        st->tenancy->rate_limit_list(st, &c->rl, &c->nrl) < 0)
        goto fail;
    qsort(c->models, c->nmodels, sizeof(*c->models), cmp_model);

    c->keys = calloc(nkeys ? nkeys : 1, sizeof(*c->keys));
    size_t slots = 16;
    while (slots < nkeys * 2)
        slots *= 2;
    c->key_slots = calloc(slots, sizeof(uint32_t));
    c->key_mask = slots - 1;
    if (!c->keys || !c->key_slots)
        goto fail;
    for (size_t i = 0; i < nkeys; i++) {
        tg_cat_key_t *k = &c->keys[c->nkeys];
        k->row = keys[i];
        k->org = tg_catalog_org(c, k->row.org_id);
        k->project = k->row.project_id[0] ? tg_catalog_project(c, k->row.project_id) : NULL;
        if (!k->org || (k->row.kind == TG_KEY_PROJECT && !k->project) ||
            tg_perms_from_text(k->row.permissions, k->row.kind, &k->scopes) < 0)
            continue; /* dangling or unreadable: such a key authenticates nothing */
        parse_allowed(k);
        size_t s = hash_slot(k->row.hash) & c->key_mask;
        while (c->key_slots[s])
            s = (s + 1) & c->key_mask;
        c->key_slots[s] = (uint32_t)(c->nkeys + 1);
        c->nkeys++;
    }

    c->providers = calloc(nprovs ? nprovs : 1, sizeof(*c->providers));
    if (!c->providers)
        goto fail;
    for (size_t i = 0; i < nprovs; i++) {
        tg_provider_t *p = &c->providers[c->nproviders];
        char text[TG_SECRET_BLOB_MAX];
        p->row = provs[i];
        if (!(p->adapter = tg_adapter_find(p->row.type))) {
            tg_error("provider %s: unknown type '%s'; it serves nothing", p->row.id, p->row.type);
            continue;
        }
        if (p->row.secret_len &&
            tg_secret_open(p->row.secret, p->row.secret_len, text, sizeof(text)) < 0) {
            tg_error("provider %s: cannot decrypt its upstream keys (the master key changed under a running server?)",
                     p->row.id);
            continue;
        }
        p->nkeys = p->row.secret_len ? tg_provider_split_keys(text, p->keys) : 0;
        sodium_memzero(text, sizeof(text));
        c->nproviders++;
    }
    if (build_routes(c) < 0)
        goto fail;
    sodium_memzero(provs, nprovs * sizeof(*provs));
    free(provs);
    free(keys);

    pthread_mutex_lock(&lock);
    tg_catalog_t *old = current;
    c->version = atomic_load(&current_version) + 1;
    current = c;
    atomic_store(&current_version, c->version);
    pthread_mutex_unlock(&lock);
    tg_catalog_unref(old);
    return 0;
fail:
    free(provs);
    free(keys);
    catalog_free(c);
    return -1;
}

const tg_cat_key_t *tg_catalog_key_by_secret(const tg_catalog_t *c, const char *secret,
                                             size_t len)
{
    unsigned char h[32];
    tg_key_hash(secret, len, h);
    for (size_t s = hash_slot(h) & c->key_mask; c->key_slots[s]; s = (s + 1) & c->key_mask) {
        const tg_cat_key_t *k = &c->keys[c->key_slots[s] - 1];
        if (sodium_memcmp(k->row.hash, h, 32) == 0)
            return k;
    }
    return NULL;
}

const tg_org_row_t *tg_catalog_org(const tg_catalog_t *c, const char *id)
{
    for (size_t i = 0; i < c->norgs; i++)
        if (strcmp(c->orgs[i].id, id) == 0)
            return &c->orgs[i];
    return NULL;
}

const tg_project_row_t *tg_catalog_project(const tg_catalog_t *c, const char *id)
{
    for (size_t i = 0; i < c->nprojects; i++)
        if (strcmp(c->projects[i].id, id) == 0)
            return &c->projects[i];
    return NULL;
}

const tg_model_row_t *tg_catalog_model(const tg_catalog_t *c, const char *id, size_t len)
{
    size_t lo = 0, hi = c->nmodels;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int r = strncmp(c->models[mid].id, id, len);
        if (r == 0 && c->models[mid].id[len] != '\0')
            r = 1;
        if (r == 0)
            return &c->models[mid];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const tg_cat_route_t *tg_catalog_route(const tg_catalog_t *c, const tg_model_row_t *m)
{
    return &c->routes[m - c->models];
}

const tg_provider_t *tg_catalog_provider(const tg_catalog_t *c, const char *id)
{
    for (size_t i = 0; i < c->nproviders; i++)
        if (strcmp(c->providers[i].row.id, id) == 0)
            return &c->providers[i];
    return NULL;
}

const tg_model_row_t *tg_catalog_models(const tg_catalog_t *c, size_t *n)
{
    *n = c->nmodels;
    return c->models;
}

int tg_catalog_key_allows(const tg_cat_key_t *k, const char *model)
{
    if (!k->allowed)
        return 1;
    for (size_t i = 0; i < k->nallowed; i++)
        if (k->allowed[i] && strcmp(k->allowed[i], model) == 0)
            return 1;
    return 0;
}

void tg_catalog_project_limits(const tg_catalog_t *c, const char *project_id, const char *model,
                               const tg_rl_limits_t *org, tg_rl_limits_t *out)
{
    *out = *org;
    for (size_t i = 0; i < c->nrl; i++) {
        const tg_rate_limit_row_t *r = &c->rl[i];
        if (strcmp(r->project_id, project_id) != 0 || strcmp(r->model, model) != 0)
            continue;
        for (int k = 0; k < TG_RL__N; k++)
            if (r->v[k] > 0 && (out->v[k] <= 0 || r->v[k] < out->v[k]))
                out->v[k] = r->v[k];
        return;
    }
}
