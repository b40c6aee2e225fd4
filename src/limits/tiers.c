#include "limits/tiers.h"

#include "catalog/catalog.h"
#include "core/log.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The parsed file: each version immutable once published. A reload publishes a new one;
 * the old stay until tg_tiers_free, since callers hold names borrowed from them (a tier's
 * display name, the tier a model needs) — a few kilobytes per reload. Every function reads
 * the pointer once (cur()), so it sees one version throughout. */
typedef struct version {
    cJSON *table;
    struct version *older;
} version_t;

static _Atomic(version_t *) current;

static const cJSON *cur(void)
{
    version_t *v = atomic_load_explicit(&current, memory_order_acquire);
    return v ? v->table : NULL;
}

static cJSON *parse(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    long len;
    cJSON *table = NULL;
    if (!f) {
        tg_error("cannot open the tier table %s", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (len > 0 && len < (1 << 22) && (text = malloc((size_t)len + 1)) &&
        fread(text, 1, (size_t)len, f) == (size_t)len) {
        text[len] = '\0';
        table = cJSON_Parse(text);
    }
    free(text);
    fclose(f);
    if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(table, "tiers"))) {
        tg_error("%s: no \"tiers\" array (not valid JSON, or not a tier table)", path);
        cJSON_Delete(table);
        return NULL;
    }
    return table;
}

static int publish(cJSON *table)
{
    version_t *v = malloc(sizeof(*v));
    if (!v) {
        cJSON_Delete(table);
        return -1;
    }
    v->table = table;
    v->older = atomic_load(&current);
    atomic_store_explicit(&current, v, memory_order_release);
    return 0;
}

int tg_tiers_load(const char *path)
{
    cJSON *table = parse(path);
    return table ? publish(table) : -1;
}

int tg_tiers_reload(const char *path)
{
    cJSON *table = parse(path);
    if (!table)
        return -1; /* the table in force stays */
    if (cur() && cJSON_Compare(table, cur(), 1)) {
        cJSON_Delete(table);
        return 0;
    }
    return publish(table) < 0 ? -1 : 1;
}

void tg_tiers_free(void)
{
    version_t *v = atomic_exchange(&current, NULL);
    while (v) {
        version_t *older = v->older;
        cJSON_Delete(v->table);
        free(v);
        v = older;
    }
}

static void read_limits(const cJSON *o, tg_rl_limits_t *out)
{
    static const char *names[TG_RL__N] = {"rpm", "rpd", "tpm", "tpd"};
    for (int k = 0; k < TG_RL__N; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, names[k]);
        int64_t x;
        out->v[k] = cJSON_IsNumber(v) && tg_double_to_i64(v->valuedouble, &x) == 0 && x > 0 ? x : 0;
    }
}

void tg_tiers_limits(const char *tier, const tg_model_row_t *m, tg_rl_limits_t *out)
{
    const cJSON *t, *tiers = cJSON_GetObjectItemCaseSensitive(cur(), "tiers");
    memset(out, 0, sizeof(*out));
    cJSON_ArrayForEach(t, tiers) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(t, "id");
        if (!cJSON_IsString(id) || strcmp(id->valuestring, tier) != 0)
            continue;
        const cJSON *mm = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(t, "models"), m->id);
        if (cJSON_IsObject(mm)) {
            read_limits(mm, out);
            return;
        }
        read_limits(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(t, "types"),
                                                     m->type),
                    out);
        return;
    }
}

static const cJSON *tier_obj(const cJSON *table, const char *tier, int *rank)
{
    const cJSON *t, *tiers = cJSON_GetObjectItemCaseSensitive(table, "tiers");
    int i = 0;
    cJSON_ArrayForEach(t, tiers) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(t, "id");
        if (cJSON_IsString(id) && tier && strcmp(id->valuestring, tier) == 0) {
            if (rank)
                *rank = i;
            return t;
        }
        i++;
    }
    return NULL;
}

static int64_t num(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    int64_t x;
    return cJSON_IsNumber(v) && tg_double_to_i64(v->valuedouble, &x) == 0 && x > 0 ? x : 0;
}

int64_t tg_tiers_monthly_cap(const char *tier)
{
    return num(tier_obj(cur(), tier, NULL), "monthly_usage_limit_cents");
}

int tg_tiers_allows(const char *tier, const char *model, const char **needed)
{
    const cJSON *table = cur();
    const cJSON *min = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(table, "model_min_tier"), model);
    int have = -1, need = -1;
    const cJSON *t = cJSON_IsString(min) ? tier_obj(table, min->valuestring, &need) : NULL;
    if (!t)
        return 1;
    tier_obj(table, tier, &have);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "name");
    *needed = cJSON_IsString(name) ? name->valuestring : min->valuestring;
    return have >= need;
}

const char *tg_tiers_qualify(int64_t paid_cents, int64_t days)
{
    const cJSON *t, *tiers = cJSON_GetObjectItemCaseSensitive(cur(), "tiers");
    const char *best = "free";
    if (paid_cents <= 0)
        return best;
    cJSON_ArrayForEach(t, tiers) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(t, "id");
        if (cJSON_IsString(id) && num(t, "paid_cents") <= paid_cents &&
            num(t, "days_since_first_payment") <= days && num(t, "paid_cents") > 0)
            best = id->valuestring;
    }
    return best;
}

const char *tg_tiers_name(const char *tier)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(tier_obj(cur(), tier, NULL), "name");
    return cJSON_IsString(n) ? n->valuestring : tier;
}

int tg_tiers_rank(const char *tier)
{
    int rank = -1;
    tier_obj(cur(), tier, &rank);
    return rank;
}

int tg_tiers_promote(tg_store_t *st, const tg_org_row_t *org)
{
    int64_t paid = 0, first = 0;
    if (org->is_operator || org->tier_locked) /* the operator's hand wins over payments */
        return 0;
    if (st->payments->org_payments(st, org->id, &paid, &first) < 0)
        return -1;
    int64_t days = first ? (tg_now() - first) / 86400 : 0;
    const char *q = tg_tiers_qualify(paid, days);
    if (tg_tiers_rank(q) <= tg_tiers_rank(org->tier))
        return 0;
    char id[TG_ID_MAX], tier[16];
    snprintf(id, sizeof(id), "%s", org->id); /* org may live in the snapshot we replace */
    snprintf(tier, sizeof(tier), "%s", q);
    if (st->tenancy->org_set_tier(st, id, tier) < 0 || tg_catalog_reload(st) < 0)
        return -1;
    tg_info("organization %s: promoted to %s", id, tg_tiers_name(tier));
    return 1;
}

const char *tg_tiers_next(const char *tier, int64_t *paid_cents, int64_t *days)
{
    const cJSON *table = cur();
    int rank = -1;
    tier_obj(table, tier, &rank);
    const cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(table, "tiers"),
                                        rank + 1);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(t, "id");
    if (rank < 0 || !cJSON_IsString(id))
        return NULL;
    *paid_cents = num(t, "paid_cents");
    *days = num(t, "days_since_first_payment");
    return id->valuestring;
}
