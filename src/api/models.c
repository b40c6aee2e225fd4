/* /v1/models (what a project key may call) and /v1/organization/models (prices). */
#include "api/api_int.h"

#include "auth/perms.h"
#include "catalog/catalog.h"
#include "core/util.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static cJSON *model_object(const tg_model_row_t *m)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", m->id);
    cJSON_AddStringToObject(o, "object", "model");
    cJSON_AddNumberToObject(o, "created", (double)m->created);
    cJSON_AddStringToObject(o, "owned_by", m->owned_by);
    return o;
}

static int visible(tg_call_t *c, const tg_model_row_t *m)
{
    return tg_catalog_route(c->cat, m)->n > 0 && tg_catalog_key_allows(c->key, m->id);
}

void tg_api_models_list(tg_call_t *c, const tg_route_args_t *a)
{
    size_t n;
    const tg_model_row_t *models = tg_catalog_models(c->cat, &n);
    cJSON *root = cJSON_CreateObject(), *data;
    cJSON_AddStringToObject(root, "object", "list");
    data = cJSON_AddArrayToObject(root, "data");
    for (size_t i = 0; i < n; i++)
        if (visible(c, &models[i]))
            cJSON_AddItemToArray(data, model_object(&models[i]));
    tg_call_json(c, 200, root);
}

/* /v1/models/{*}: everything after the prefix is the id */
void tg_api_models_get(tg_call_t *c, const tg_route_args_t *a)
{
    const char *id = a->id;
    size_t len = a->idlen;
    const tg_model_row_t *m = tg_catalog_model(c->cat, id, len);
    if (!m || !visible(c, m)) {
        tg_call_error(c, TG_E_MODEL_NOT_FOUND, "model",
                      "The model '%.*s' does not exist", (int)(len > 200 ? 200 : len), id);
        return;
    }
    tg_call_json(c, 200, model_object(m));
}

static cJSON *price(int64_t nanos)
{
    return nanos < 0 ? cJSON_CreateNull() : tg_json_nanos(nanos);
}

static cJSON *org_model_object(const tg_model_row_t *m)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", m->id);
    cJSON_AddStringToObject(o, "object", "organization.model");
    cJSON_AddStringToObject(o, "type", m->type);
    cJSON_AddStringToObject(o, "owned_by", m->owned_by);
    cJSON_AddNumberToObject(o, "created", (double)m->created);
    cJSON_AddItemToObject(o, "input_price", price(m->input_price));
    cJSON_AddItemToObject(o, "cached_input_price", price(m->cached_input_price));
    cJSON_AddItemToObject(o, "output_price", price(m->output_price));
    cJSON_AddNumberToObject(o, "context_window", (double)m->context_window);
    cJSON_AddNumberToObject(o, "max_output_tokens", (double)m->max_output_tokens);
    if (m->tokenizer[0])
        cJSON_AddStringToObject(o, "tokenizer", m->tokenizer);
    else
        cJSON_AddNullToObject(o, "tokenizer");
    cJSON_AddNumberToObject(o, "image_base_tokens", (double)m->image_base_tokens);
    cJSON_AddNumberToObject(o, "image_tile_tokens", (double)m->image_tile_tokens);
    cJSON_AddNumberToObject(o, "image_max_tokens", (double)m->image_max_tokens);
    return o;
}

/* A price given as a JSON number or a decimal string, in dollars per 1M tokens: at most 9
 * decimals, never negative; a number with more precision is refused, not rounded. */
static int parse_price(const cJSON *v, int64_t *out, int nullable)
{
    char buf[64];
    if (nullable && cJSON_IsNull(v)) {
        *out = -1;
        return 0;
    }
    if (cJSON_IsString(v))
        return tg_parse_nanos(v->valuestring, strlen(v->valuestring), out);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e9 || !isfinite(v->valuedouble))
        return -1;
    /* the shortest form that reads back as the same double: what the client wrote */
    snprintf(buf, sizeof(buf), "%.15g", v->valuedouble);
    return tg_parse_nanos(buf, strlen(buf), out);
}

static void update_model(tg_call_t *c, const char *id, size_t len)
{
    cJSON *j = tg_call_body_json(c);
    tg_model_row_t row;
    const tg_model_row_t *cur;
    static const char *price_names[] = {"input_price", "cached_input_price", "output_price"};

    if (!j)
        return;
    if (len == 0 || len >= sizeof(row.id)) {
        cJSON_Delete(j);
        tg_call_error(c, TG_E_INVALID_VALUE, "model", "Invalid model id.");
        return;
    }
    cur = tg_catalog_model(c->cat, id, len);
    memset(&row, 0, sizeof(row));
    if (cur) {
        row = *cur;
    } else { /* a new model: the operator must give its prices */
        memcpy(row.id, id, len);
        snprintf(row.type, sizeof(row.type), "chat");
        snprintf(row.owned_by, sizeof(row.owned_by), "organization-owner");
        row.tokenizer[0] = '\0'; /* none of ours unless the operator names one */
        row.created = tg_now();
        row.cached_input_price = -1;
        row.input_price = row.output_price = -1;
        row.context_window = 128000;
        row.max_output_tokens = 16384;
    }
    int64_t *fields[] = {&row.input_price, &row.cached_input_price, &row.output_price};
    for (int i = 0; i < 3; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, price_names[i]);
        if (v && parse_price(v, fields[i], i == 1) < 0) {
            tg_call_error(c, TG_E_INVALID_VALUE, price_names[i],
                          "Invalid '%s': expected dollars per 1M tokens, a non-negative decimal "
                          "with at most 9 decimals.", price_names[i]);
            cJSON_Delete(j);
            return;
        }
    }
    if (row.input_price < 0 || row.output_price < 0) {
        cJSON_Delete(j);
        tg_call_error(c, TG_E_MISSING_PARAM, row.input_price < 0 ? "input_price" : "output_price",
                      "Missing required parameter: '%s' (a new model needs its prices).",
                      row.input_price < 0 ? "input_price" : "output_price");
        return;
    }
    static const char *int_names[] = {"context_window", "max_output_tokens",
                                      "image_base_tokens", "image_tile_tokens",
                                      "image_max_tokens"};
    int64_t *ints[] = {&row.context_window, &row.max_output_tokens, &row.image_base_tokens,
                       &row.image_tile_tokens, &row.image_max_tokens};
    for (int i = 0; i < 5; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, int_names[i]);
        if (!v)
            continue;
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e9 ||
            v->valuedouble != floor(v->valuedouble)) {
            cJSON_Delete(j);
            tg_call_error(c, TG_E_INVALID_VALUE, int_names[i], "Invalid '%s': expected a "
                          "non-negative integer.", int_names[i]);
            return;
        }
        *ints[i] = (int64_t)v->valuedouble;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "tokenizer");
    if (v && !cJSON_IsNull(v) &&
        (!cJSON_IsString(v) || (strcmp(v->valuestring, "o200k_base") != 0 &&
                                strcmp(v->valuestring, "cl100k_base") != 0))) {
        cJSON_Delete(j);
        tg_call_error(c, TG_E_INVALID_VALUE, "tokenizer",
                      "Invalid 'tokenizer': expected 'o200k_base', 'cl100k_base' or null (a model "
                      "Tollgate has no tokenizer for: its input is bounded by its bytes).");
        return;
    }
    if (v)
        snprintf(row.tokenizer, sizeof(row.tokenizer), "%s", cJSON_IsNull(v) ? "" : v->valuestring);
    v = cJSON_GetObjectItemCaseSensitive(j, "type");
    if (v && (!cJSON_IsString(v) ||
              (strcmp(v->valuestring, "chat") && strcmp(v->valuestring, "completion") &&
               strcmp(v->valuestring, "embedding")))) {
        cJSON_Delete(j);
        tg_call_error(c, TG_E_INVALID_VALUE, "type",
                      "Invalid 'type': expected 'chat', 'completion' or 'embedding'.");
        return;
    }
    if (v)
        snprintf(row.type, sizeof(row.type), "%s", v->valuestring);
    cJSON_Delete(j);
    tg_store_t *st = c->w->store;
    cJSON *ev = tg_audit_details(row.id), *evd = cJSON_AddObjectToObject(ev, "data");
    cJSON_AddItemToObject(evd, "input_price", tg_json_nanos(row.input_price));
    cJSON_AddItemToObject(evd, "output_price", tg_json_nanos(row.output_price));
    cJSON_AddNumberToObject(evd, "context_window", (double)row.context_window);
    if (tg_audit_begin(c) < 0 ||
        tg_audit_end(c, st->tenancy->model_upsert(st, &row, 0),
                     tg_catalog_model(c->cat, id, len) ? "model.updated" : "model.created", NULL,
                     ev) < 0 ||
        tg_catalog_reload(st) < 0) {
        tg_call_error(c, TG_E_INTERNAL, NULL, NULL);
        return;
    }
    tg_call_json(c, 200, org_model_object(&row));
}

void tg_api_admin_models_list(tg_call_t *c, const tg_route_args_t *a)
{
    size_t n;
    const tg_model_row_t *models = tg_catalog_models(c->cat, &n);
    cJSON *items = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(items, org_model_object(&models[i]));
    tg_call_list(c, items);
}

void tg_api_admin_model_get(tg_call_t *c, const tg_route_args_t *a)
{
    const tg_model_row_t *row = tg_catalog_model(c->cat, a->id, a->idlen);
    if (!row)
        tg_call_error(c, TG_E_MODEL_NOT_FOUND, "model", "The model '%.*s' does not exist",
                      (int)(a->idlen > 200 ? 200 : a->idlen), a->id);
    else
        tg_call_json(c, 200, org_model_object(row));
}

/* POST …/models/{*}: the operator's (the route checks) */
void tg_api_admin_model_set(tg_call_t *c, const tg_route_args_t *a) { update_model(c, a->id, a->idlen); }
