#include "providers/provider.h"

#include "tokenizer/tokenizer.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

static const tg_adapter_t *const adapters[] = {
    &tg_adapter_openai,
    &tg_adapter_openai_compatible,
    &tg_adapter_azure,
};

const tg_adapter_t *tg_adapter_find(const char *type)
{
    for (size_t i = 0; i < sizeof(adapters) / sizeof(adapters[0]); i++)
        if (strcmp(adapters[i]->type, type) == 0)
            return adapters[i];
    return NULL;
}

const char *tg_adapter_names(void) { return "'openai', 'openai_compatible' or 'azure'"; }

int tg_count_from_json(const cJSON *v, int64_t *out)
{
    if (!cJSON_IsNumber(v))
        return -1;
    double d = v->valuedouble;
    if (!(d >= 0)) /* negative, or NaN */
        return -1;
    if (d >= (double)TG_TOKENS_MAX) { /* includes infinity: absurd, judged by the caller */
        *out = TG_TOKENS_MAX;
        return 0;
    }
    int64_t k = (int64_t)d; /* defined: 0 <= d < 2^40 */
    if ((double)k != d)
        return -1; /* not an integer */
    *out = k;
    return 0;
}

int tg_provider_split_keys(const char *text, char keys[][TG_UPSTREAM_KEY_MAX])
{
    int n = 0;
    for (const char *p = text; *p && n < TG_UPSTREAM_KEYS_MAX;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len && len < TG_UPSTREAM_KEY_MAX) {
            memcpy(keys[n], p, len);
            keys[n++][len] = '\0';
        }
        if (!e)
            break;
        p = e + 1;
    }
    return n;
}

int64_t tg_relay_tokens(tg_relay_t *r, const struct tg_tok *tok)
{
    size_t n = r->text ? evbuffer_get_length(r->text) : 0;
    if (!tok || !n)
        return r->relayed;
    /* the text is still JSON-escaped: quoted, it parses back to what was generated */
    evbuffer_prepend(r->text, "\"", 1);
    evbuffer_add(r->text, "\"", 1);
    n += 2;
    cJSON *str = cJSON_ParseWithLength((const char *)evbuffer_pullup(r->text, (ssize_t)n), n);
    int64_t t = r->relayed;
    if (cJSON_IsString(str)) {
        size_t k = tg_tok_count(tok, str->valuestring, strlen(str->valuestring));
        if (k != TG_TOK_COUNT_ERR)
            t = (int64_t)k;
    }
    cJSON_Delete(str);
    return t;
}

void tg_relay_dispose(tg_relay_t *r)
{
    if (r->text)
        evbuffer_free(r->text);
    if (r->held)
        evbuffer_free(r->held);
    r->text = r->held = NULL;
}
