/* Typed field checks with OpenAI's errors, for every handler that reads a JSON body. Each
 * answers the error itself and returns -1. */
#include "api/api_int.h"

#include "core/util.h"

#include <stdint.h>
#include <string.h>

static const char *type_name(const cJSON *v)
{
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    int64_t x;
    if (cJSON_IsNumber(v)) return tg_double_to_i64(v->valuedouble, &x) == 0 ? "an integer" : "a decimal";
    return "an unknown type";
}

int tg_bad_type(tg_call_t *c, const char *name, const char *want, const cJSON *v)
{
    tg_call_error(c, TG_E_INVALID_TYPE, name,
                  "Invalid type for '%s': expected %s, but got %s instead.", name, want,
                  type_name(v));
    return -1;
}

int tg_missing(tg_call_t *c, const char *name)
{
    tg_call_error(c, TG_E_MISSING_PARAM, name, "Missing required parameter: '%s'.", name);
    return -1;
}

int tg_opt_int(tg_call_t *c, const cJSON *j, const char *name, int64_t min, int64_t max,
               int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!v || cJSON_IsNull(v))
        return 0;
    int64_t x;
    if (!cJSON_IsNumber(v) || tg_double_to_i64(v->valuedouble, &x) < 0)
        return tg_bad_type(c, name, "an integer", v);
    if (x < min) {
        tg_call_error(c, TG_E_INVALID_VALUE, name,
                      "Invalid '%s': integer below minimum value. Expected a value >= %lld, but "
                      "got %lld instead.", name, (long long)min, (long long)x);
        return -1;
    }
    if (x > max) {
        tg_call_error(c, TG_E_INVALID_VALUE, name,
                      "Invalid '%s': integer above maximum value. Expected a value <= %lld, but "
                      "got %lld instead.", name, (long long)max, (long long)x);
        return -1;
    }
    *out = x;
    return 1;
}

int tg_opt_bool(tg_call_t *c, const cJSON *j, const char *name, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsBool(v))
        return tg_bad_type(c, name, "a boolean", v);
    *out = cJSON_IsTrue(v);
    return 1;
}

int tg_opt_number(tg_call_t *c, const cJSON *j, const char *name, double min, double max)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v))
        return tg_bad_type(c, name, "a number", v);
    if (v->valuedouble < min || v->valuedouble > max) {
        tg_call_error(c, TG_E_INVALID_VALUE, name,
                      "Invalid '%s': expected a value between %g and %g, but got %g instead.",
                      name, min, max, v->valuedouble);
        return -1;
    }
    return 1;
}

int tg_opt_string(tg_call_t *c, const cJSON *j, const char *name, const cJSON **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v))
        return tg_bad_type(c, name, "a string", v);
    *out = v;
    return 1;
}
