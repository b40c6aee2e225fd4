#include "pricing/pricing.h"

#include "core/log.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int64_t tg_price_cost(const tg_model_row_t *m, int64_t input_tokens, int64_t cached_tokens,
                      int64_t output_tokens)
{
    if (cached_tokens > input_tokens)
        cached_tokens = input_tokens;
    if (cached_tokens < 0)
        cached_tokens = 0;
    int64_t cached_price = m->cached_input_price >= 0 ? m->cached_input_price : m->input_price;
    __int128 sum = (__int128)(input_tokens - cached_tokens) * m->input_price +
                   (__int128)cached_tokens * cached_price + (__int128)output_tokens * m->output_price;
    if (sum <= 0)
        return 0;
    __int128 cost = (sum + 999999) / 1000000;
    return cost > INT64_MAX ? INT64_MAX : (int64_t)cost;
}

static int price_field(const cJSON *o, const char *name, int64_t *out, int nullable)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (nullable && (!v || cJSON_IsNull(v))) {
        *out = -1;
        return 0;
    }
    if (!cJSON_IsString(v) || tg_parse_nanos(v->valuestring, strlen(v->valuestring), out) < 0)
        return -1;
    return 0;
}

/* A non-negative integer field; 0 when absent or out of range. */
static int64_t int_field(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 1e15
               ? (int64_t)v->valuedouble : 0;
}

static void str_field(const cJSON *o, const char *name, char *out, size_t cap, const char *dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    snprintf(out, cap, "%s", cJSON_IsString(v) ? v->valuestring : dflt);
}

int tg_pricing_load_file(const char *path, tg_model_row_t **rows, size_t *n)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    long len;
    cJSON *root = NULL;
    int rc = -1;

    if (!f) {
        tg_error("cannot open model table %s", path);
        return -1;
    }
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (len <= 0 || len > 16 * 1024 * 1024 || !(text = malloc((size_t)len + 1)) ||
        fread(text, 1, (size_t)len, f) != (size_t)len)
        goto out;
    text[len] = '\0';
    root = cJSON_Parse(text);
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(root, "models");
    if (!cJSON_IsArray(models)) {
        tg_error("%s: no \"models\" array", path);
        goto out;
    }
    size_t cnt = (size_t)cJSON_GetArraySize(models), i = 0;
    tg_model_row_t *arr = calloc(cnt ? cnt : 1, sizeof(*arr));
    if (!arr)
        goto out;
    const cJSON *m;
    cJSON_ArrayForEach(m, models) {
        tg_model_row_t *r = &arr[i];
        str_field(m, "id", r->id, sizeof(r->id), "");
        str_field(m, "type", r->type, sizeof(r->type), "chat");
        str_field(m, "owned_by", r->owned_by, sizeof(r->owned_by), "openai");
        /* "tokenizer": null — a model no tokenizer of ours counts (bound by its bytes) */
        str_field(m, "tokenizer", r->tokenizer, sizeof(r->tokenizer),
                  cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(m, "tokenizer")) ? ""
                                                                                 : "o200k_base");
        r->image_base_tokens = int_field(m, "image_base_tokens");
        r->image_tile_tokens = int_field(m, "image_tile_tokens");
        r->image_max_tokens = int_field(m, "image_max_tokens");
        r->created = int_field(m, "created");
        r->context_window = int_field(m, "context_window");
        r->max_output_tokens = int_field(m, "max_output_tokens");
        if (!*r->id || price_field(m, "input_price", &r->input_price, 0) < 0 ||
            price_field(m, "cached_input_price", &r->cached_input_price, 1) < 0 ||
            price_field(m, "output_price", &r->output_price, 0) < 0) {
            tg_error("%s: model %zu (%s) has a bad id or price", path, i, r->id);
            free(arr);
            goto out;
        }
        i++;
    }
    *rows = arr;
    *n = cnt;
    rc = 0;
out:
    cJSON_Delete(root);
    free(text);
    fclose(f);
    return rc;
}

int tg_data_path(const char *name, char *out, size_t cap)
{
    char exe[4096];
    const char *env = getenv("TOLLGATE_DATA_DIR");
    ssize_t n;

    if (env) {
        snprintf(out, cap, "%s/%s", env, name);
        return access(out, R_OK) == 0 ? 0 : -1;
    }
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    static const char *rel[] = {"../data", "../share/tollgate", "data"};
    for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
        snprintf(out, cap, "%s/%s/%s", exe, rel[i], name);
        if (access(out, R_OK) == 0)
            return 0;
    }
    return -1;
}
