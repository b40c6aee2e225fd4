/* Chat Completions prompt tokens, as the OpenAI cookbook ("How to count tokens with tiktoken")
 * counts them for current models; see docs/internals/tokenizer.md for what is exact, what is
 * approximate and why. */
#include "tokenizer/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKENS_PER_MESSAGE 3
#define TOKENS_PER_NAME 1
#define REPLY_PRIMING 3 /* <|start|>assistant<|message|> */

/* The cookbook's function-definition constants (num_tokens_for_tools): func_init is 7 for the
 * o200k_base models (gpt-4o, gpt-4o-mini) and 10 for the cl100k_base ones (gpt-4,
 * gpt-3.5-turbo); the rest are the same for both. */
#define PROP_INIT 3
#define PROP_KEY 3
#define ENUM_INIT (-3)
#define ENUM_ITEM 3
#define FUNC_END 12

static int64_t text_tokens(const tg_tok_t *t, const char *s, size_t n)
{
    size_t k = tg_tok_count(t, s, n);
    return k == TG_TOK_COUNT_ERR ? -1 : (int64_t)k;
}

static int64_t str_tokens(const tg_tok_t *t, const cJSON *v)
{
    if (!cJSON_IsString(v) || !v->valuestring)
        return 0;
    return text_tokens(t, v->valuestring, strlen(v->valuestring));
}

static const cJSON *get(const cJSON *o, const char *key)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

#define ADD(total, expr)                                                                          \
    do {                                                                                          \
        int64_t v_ = (expr);                                                                      \
        if (v_ < 0)                                                                               \
            return -1;                                                                            \
        (total) += v_;                                                                            \
    } while (0)

/* A string, or an array of content parts: text (and refusal) parts count, other parts
 * (image_url, input_audio, file) do not. */
static int64_t content_tokens(const tg_tok_t *t, const cJSON *c)
{
    int64_t total = 0;
    const cJSON *part;
    if (cJSON_IsString(c))
        return str_tokens(t, c);
    if (!cJSON_IsArray(c))
        return 0;
    cJSON_ArrayForEach(part, c)
    {
        if (cJSON_IsString(part)) {
            ADD(total, str_tokens(t, part));
            continue;
        }
        ADD(total, str_tokens(t, get(part, "text")));
        ADD(total, str_tokens(t, get(part, "refusal")));
    }
    return total;
}

/* {"name": ..., "arguments": ...} of a tool call or of a legacy function_call. */
static int64_t call_tokens(const tg_tok_t *t, const cJSON *fn)
{
    int64_t total = 0;
    ADD(total, str_tokens(t, get(fn, "name")));
    ADD(total, str_tokens(t, get(fn, "arguments")));
    return total;
}

static int64_t message_tokens(const tg_tok_t *t, const cJSON *msg)
{
    int64_t total = TOKENS_PER_MESSAGE;
    const cJSON *it, *call;
    cJSON_ArrayForEach(it, msg)
    {
        const char *key = it->string ? it->string : "";
        if (strcmp(key, "content") == 0) {
            ADD(total, content_tokens(t, it));
        } else if (strcmp(key, "tool_calls") == 0) {
            cJSON_ArrayForEach(call, it) ADD(total, call_tokens(t, get(call, "function")));
        } else if (strcmp(key, "function_call") == 0) {
            ADD(total, call_tokens(t, it));
        } else {
            ADD(total, str_tokens(t, it));
            if (strcmp(key, "name") == 0)
                total += TOKENS_PER_NAME;
        }
    }
    return total;
}

/* Tokens of the concatenation a + sep + b + sep + c (NULL parts are left out with their sep). */
static int64_t joined_tokens(const tg_tok_t *t, const char *a, size_t an, const char *b,
                             size_t bn, const char *c, size_t cn)
{
    char stack[1024], *buf = stack;
    size_t need = an + bn + cn + 2;
    if (need > sizeof(stack) && !(buf = malloc(need)))
        return -1;
    size_t n = 0;
    memcpy(buf + n, a, an);
    n += an;
    if (b) {
        buf[n++] = ':';
        memcpy(buf + n, b, bn);
        n += bn;
    }
    if (c) {
        buf[n++] = ':';
        memcpy(buf + n, c, cn);
        n += cn;
    }
    int64_t k = text_tokens(t, buf, n);
    if (buf != stack)
        free(buf);
    return k;
}

/* A string field, "" when absent; *n its length without one trailing '.' if strip_dot. */
static const char *field(const cJSON *o, const char *key, int strip_dot, size_t *n)
{
    const cJSON *v = get(o, key);
    const char *s = cJSON_IsString(v) && v->valuestring ? v->valuestring : "";
    *n = strlen(s);
    if (strip_dot && *n > 0 && s[*n - 1] == '.')
        (*n)--;
    return s;
}

static int64_t enum_item_tokens(const tg_tok_t *t, const cJSON *item)
{
    char num[64];
    if (cJSON_IsString(item))
        return str_tokens(t, item);
    if (cJSON_IsNumber(item)) {
        double d = item->valuedouble;
        if (d == (double)(long long)d)
            snprintf(num, sizeof(num), "%lld", (long long)d);
        else
            snprintf(num, sizeof(num), "%.17g", d);
        return text_tokens(t, num, strlen(num));
    }
    if (cJSON_IsBool(item))
        return text_tokens(t, cJSON_IsTrue(item) ? "true" : "false", cJSON_IsTrue(item) ? 4 : 5);
    return 0;
}

static int64_t function_tokens(const tg_tok_t *t, const cJSON *fn, int func_init)
{
    int64_t total = func_init;
    size_t nn, dn, tn, pn;
    const char *name = field(fn, "name", 0, &nn);
    const char *desc = field(fn, "description", 1, &dn);
    ADD(total, joined_tokens(t, name, nn, desc, dn, NULL, 0));
    const cJSON *props = get(get(fn, "parameters"), "properties");
    if (!cJSON_IsObject(props) || !props->child)
        return total;
    total += PROP_INIT;
    const cJSON *p, *item;
    cJSON_ArrayForEach(p, props)
    {
        total += PROP_KEY;
        const char *key = p->string ? p->string : "";
        const char *type = field(p, "type", 0, &tn);
        const char *pdesc = field(p, "description", 1, &pn);
        const cJSON *en = get(p, "enum");
        if (cJSON_IsArray(en)) {
            total += ENUM_INIT;
            cJSON_ArrayForEach(item, en)
            {
                total += ENUM_ITEM;
                ADD(total, enum_item_tokens(t, item));
            }
        }
        ADD(total, joined_tokens(t, key, strlen(key), type, tn, pdesc, pn));
    }
    return total;
}

static int64_t tools_tokens(const tg_tok_t *t, const cJSON *tools)
{
    int64_t total = 0;
    int any = 0;
    int func_init = strcmp(tg_tok_name(t), "cl100k_base") == 0 ? 10 : 7;
    const cJSON *it;
    if (!cJSON_IsArray(tools))
        return 0;
    cJSON_ArrayForEach(it, tools)
    {
        const cJSON *fn = get(it, "function");
        if (!cJSON_IsObject(fn))
            fn = get(it, "name") ? it : NULL; /* a legacy `functions` item */
        if (!fn)
            continue;
        ADD(total, function_tokens(t, fn, func_init));
        any = 1;
    }
    return any ? total + FUNC_END : 0;
}

int64_t tg_tok_count_chat(const tg_tok_t *t, const cJSON *messages, const cJSON *tools)
{
    int64_t total = REPLY_PRIMING;
    const cJSON *msg;
    if (!cJSON_IsArray(messages))
        return -1;
    cJSON_ArrayForEach(msg, messages) ADD(total, message_tokens(t, msg));
    ADD(total, tools_tokens(t, tools));
    return total;
}
