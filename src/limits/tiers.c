#include "limits/tiers.h"

#include "core/log.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The parsed file, immutable after load. */
static cJSON *table;

int tg_tiers_load(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    long len;
    if (!f) {
        tg_error("cannot open the tier table %s", path);
        return -1;
    }
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (len > 0 && len < (1 << 22) && (text = malloc((size_t)len + 1)) &&
        fread(text, 1, (size_t)len, f) == (size_t)len) {
        text[len] = '\0';
        cJSON_Delete(table);
        table = cJSON_Parse(text);
    }
    free(text);
    fclose(f);
    if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(table, "tiers"))) {
        tg_error("%s: no \"tiers\" array", path);
        cJSON_Delete(table);
        table = NULL;
        return -1;
    }
    return 0;
}

void tg_tiers_free(void)
{
    cJSON_Delete(table);
    table = NULL;
}

static void read_limits(const cJSON *o, tg_rl_limits_t *out)
{
    static const char *names[TG_RL__N] = {"rpm", "rpd", "tpm", "tpd"};
    for (int k = 0; k < TG_RL__N; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, names[k]);
        out->v[k] = cJSON_IsNumber(v) && v->valuedouble > 0 ? (int64_t)v->valuedouble : 0;
    }
}

void tg_tiers_limits(const char *tier, const tg_model_row_t *m, tg_rl_limits_t *out)
{
    const cJSON *t, *tiers = cJSON_GetObjectItemCaseSensitive(table, "tiers");
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
