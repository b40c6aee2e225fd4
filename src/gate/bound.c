/* The input bound: an upper bound of the prompt tokens an upstream can bill for a request.
 *
 *   text, model with a tokenizer of ours   the exact BPE count plus the chat format's overhead
 *   text, model without one                its UTF-8 bytes (a byte-level BPE token covers at
 *                                          least one byte) plus TG_BOUND_PER_MESSAGE per
 *                                          message and TG_BOUND_PER_REQUEST
 *   tool definitions                       the chat format's count (or bytes + TG_BOUND_TOOLS)
 *   response_format                        the bytes of its JSON text
 *   an image part                          the model's tile arithmetic when its size is known
 *                                          (data: URL) or detail is low, else the model's
 *                                          worst case per image
 *   audio, file, an image for a model      the context window (the most any request can
 *   without image costs                    hold); a clear error when the model has none
 *
 * and all of it capped at the context window, which an upstream never bills beyond. */
#include "gate/gate.h"

#include "tokenizer/image.h"
#include "tokenizer/tokenizer.h"

#include <stdlib.h>
#include <string.h>

static const cJSON *get(const cJSON *o, const char *key)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

static int is(const cJSON *v, const char *s)
{
    return cJSON_IsString(v) && strcmp(v->valuestring, s) == 0;
}

static int64_t add(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* Bytes of every string in v (a number is one token at most per character it prints as;
 * counted as 24 bytes, the longest a JSON number prints). */
static int64_t string_bytes(const cJSON *v)
{
    if (cJSON_IsString(v))
        return (int64_t)strlen(v->valuestring);
    if (cJSON_IsNumber(v) || cJSON_IsBool(v))
        return 24;
    int64_t n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, v) n = add(n, string_bytes(it));
    return n;
}

/* Bytes of v's JSON text (tools, response_format): what a template renders them from. */
static int64_t json_bytes(const cJSON *v)
{
    char *t = cJSON_PrintUnformatted(v);
    if (!t)
        return -1;
    int64_t n = (int64_t)strlen(t);
    free(t);
    return n;
}

/* Prompt tokens of one image part for model m; -1 when the model has no image costs. */
static int64_t image_tokens(const tg_model_row_t *m, const cJSON *part)
{
    if (m->image_max_tokens <= 0 && m->image_base_tokens <= 0)
        return -1;
    int64_t worst = m->image_max_tokens > 0
                        ? m->image_max_tokens
                        : m->image_base_tokens + TG_IMAGE_MAX_TILES * m->image_tile_tokens;
    if (m->image_tile_tokens <= 0) /* a patch model: only its worst case is known */
        return worst;
    const cJSON *iu = get(part, "image_url");
    const cJSON *url = cJSON_IsString(iu) ? iu : get(iu, "url");
    if (is(get(iu, "detail"), "low"))
        return m->image_base_tokens;
    uint32_t w, h;
    if (cJSON_IsString(url) && tg_image_size(url->valuestring, strlen(url->valuestring), &w, &h) == 0) {
        int64_t t = m->image_base_tokens + tg_image_tiles(w, h) * m->image_tile_tokens;
        return t < worst ? t : worst;
    }
    return worst;
}

/* Walks the content parts of every message: text bytes (only for a model without tokenizer:
 * `bytes` set), images, and parts that only the context window bounds. */
typedef struct {
    int64_t text_bytes, images, image_tokens;
    int unbounded; /* an audio or file part, or an image the model has no costs for */
    int bytes;
} parts_t;

static void content_parts(const tg_model_row_t *m, const cJSON *content, parts_t *p)
{
    const cJSON *part;
    if (cJSON_IsString(content)) {
        if (p->bytes)
            p->text_bytes = add(p->text_bytes, (int64_t)strlen(content->valuestring));
        return;
    }
    cJSON_ArrayForEach(part, content)
    {
        const cJSON *type = get(part, "type");
        if (cJSON_IsString(part)) {
            if (p->bytes)
                p->text_bytes = add(p->text_bytes, (int64_t)strlen(part->valuestring));
        } else if (is(type, "image_url")) {
            int64_t t = image_tokens(m, part);
            p->images++;
            if (t < 0)
                p->unbounded = 1;
            else
                p->image_tokens = add(p->image_tokens, t);
        } else if (is(type, "text") || is(type, "refusal") || !type) {
            if (p->bytes) {
                p->text_bytes = add(p->text_bytes, string_bytes(get(part, "text")));
                p->text_bytes = add(p->text_bytes, string_bytes(get(part, "refusal")));
            }
        } else {
            p->unbounded = 1; /* input_audio, file, and any part type to come */
        }
    }
}

static int finish(const tg_model_row_t *m, int64_t total, int unbounded, tg_bound_t *out)
{
    if (unbounded) {
        if (m->context_window <= 0)
            return TG_BOUND_EUNBOUNDED;
        total = m->context_window;
    }
    if (m->context_window > 0 && total > m->context_window)
        total = m->context_window;
    out->tokens = total;
    return TG_BOUND_OK;
}

int tg_bound_chat(const tg_model_row_t *m, const tg_tok_t *tok, const cJSON *messages,
                  const cJSON *tools, const cJSON *response_format, tg_bound_t *out)
{
    parts_t p = {.bytes = tok == NULL}; /* with a tokenizer, the BPE count replaces bytes */
    int64_t total = 0, nmsg = 0;
    const cJSON *msg, *it;

    memset(out, 0, sizeof(*out));
    out->text_tokens = -1;
    cJSON_ArrayForEach(msg, messages)
    {
        nmsg++;
        cJSON_ArrayForEach(it, msg)
        {
            if (it->string && strcmp(it->string, "content") == 0)
                content_parts(m, it, &p);
            else if (p.bytes) /* role, name, tool_calls, function_call, tool_call_id, … */
                p.text_bytes = add(p.text_bytes, string_bytes(it));
        }
    }
    if (tok) {
        int64_t n = tg_tok_count_chat(tok, messages, tools);
        if (n < 0)
            return TG_BOUND_ENOMEM;
        out->text_tokens = n;
        total = n;
    } else {
        total = add(p.text_bytes, add(TG_BOUND_PER_REQUEST, nmsg * TG_BOUND_PER_MESSAGE));
        if (cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0) {
            int64_t b = json_bytes(tools);
            if (b < 0)
                return TG_BOUND_ENOMEM;
            total = add(total, add(b, TG_BOUND_TOOLS));
        }
    }
    if (cJSON_IsObject(response_format)) {
        int64_t b = json_bytes(response_format);
        if (b < 0)
            return TG_BOUND_ENOMEM;
        total = add(total, b);
    }
    total = add(total, p.image_tokens);
    out->images = p.images;
    return finish(m, total, p.unbounded, out);
}

/* Tokens (or, without a tokenizer, bytes) of every string in v; token ids count one each. */
static int64_t text_count(const tg_tok_t *tok, const cJSON *v)
{
    if (cJSON_IsString(v)) {
        size_t len = strlen(v->valuestring);
        if (!tok)
            return (int64_t)len;
        size_t k = tg_tok_count(tok, v->valuestring, len);
        return k == TG_TOK_COUNT_ERR ? -1 : (int64_t)k;
    }
    if (cJSON_IsNumber(v))
        return 1;
    int64_t n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        int64_t k = text_count(tok, it);
        if (k < 0)
            return -1;
        n = add(n, k);
    }
    return n;
}

int tg_bound_text(const tg_model_row_t *m, const tg_tok_t *tok, const cJSON *input,
                  tg_bound_t *out)
{
    int64_t n = 0;
    const cJSON *it;
    int i = 0;

    memset(out, 0, sizeof(*out));
    out->text_tokens = -1;
    out->max_item = -1;
    if (cJSON_IsArray(input)) { /* several inputs (or one list of token ids) */
        cJSON_ArrayForEach(it, input)
        {
            int64_t k = text_count(tok, it);
            if (k < 0)
                return TG_BOUND_ENOMEM;
            if (!cJSON_IsNumber(it) && k > out->max_item) {
                out->max_item = k;
                out->max_item_index = i;
            }
            n = add(n, k);
            i++;
        }
    } else if ((n = text_count(tok, input)) < 0) {
        return TG_BOUND_ENOMEM;
    }
    if (tok) {
        out->text_tokens = n;
    } else { /* a BOS token per item, and whatever the server adds */
        int64_t items = cJSON_IsArray(input) ? cJSON_GetArraySize(input) : 1;
        n = add(n, add(TG_BOUND_PER_REQUEST, items * TG_BOUND_PER_MESSAGE));
    }
    return finish(m, n, 0, out);
}

/* Tokens of the strings under `key` of o (0 when absent); -1 when out of memory. */
static int64_t field_count(const tg_tok_t *tok, const cJSON *o, const char *key)
{
    const cJSON *v = get(o, key);
    return v ? text_count(tok, v) : 0;
}

int tg_bound_responses(const tg_model_row_t *m, const tg_tok_t *tok, const cJSON *input,
                       const cJSON *instructions, const cJSON *tools, const cJSON *format,
                       int continues, tg_bound_t *out)
{
    int64_t total = TG_BOUND_PER_REQUEST, k;
    int unbounded = continues;
    const cJSON *item, *part;

    memset(out, 0, sizeof(*out));
    out->text_tokens = -1;
    out->max_item = -1;
    if ((k = text_count(tok, instructions)) < 0)
        return TG_BOUND_ENOMEM;
    total = add(total, k);
    if (cJSON_IsString(input)) {
        if ((k = text_count(tok, input)) < 0)
            return TG_BOUND_ENOMEM;
        total = add(total, add(k, TG_BOUND_PER_MESSAGE));
    }
    const cJSON *items = cJSON_IsArray(input) ? input : NULL;
    cJSON_ArrayForEach(item, items)
    {
        const cJSON *type = get(item, "type"), *content = get(item, "content");
        total = add(total, TG_BOUND_PER_MESSAGE);
        if (!type || is(type, "message")) {
            if (cJSON_IsString(content)) {
                if ((k = text_count(tok, content)) < 0)
                    return TG_BOUND_ENOMEM;
                total = add(total, k);
            }
            const cJSON *parts = cJSON_IsArray(content) ? content : NULL;
            cJSON_ArrayForEach(part, parts)
            {
                const cJSON *pt = get(part, "type");
                if (is(pt, "input_text") || is(pt, "output_text") || is(pt, "text") ||
                    is(pt, "refusal")) {
                    if ((k = field_count(tok, part, "text")) < 0 ||
                        (total = add(total, k), (k = field_count(tok, part, "refusal")) < 0))
                        return TG_BOUND_ENOMEM;
                    total = add(total, k);
                } else if (is(pt, "input_image")) {
                    int64_t t = image_tokens(m, part);
                    out->images++;
                    if (t < 0)
                        unbounded = 1;
                    else
                        total = add(total, t);
                } else {
                    unbounded = 1; /* input_file, input_audio, and any part type to come */
                }
            }
            if (content && !cJSON_IsString(content) && !cJSON_IsArray(content))
                unbounded = 1;
        } else if (is(type, "function_call") || is(type, "function_call_output") ||
                   is(type, "custom_tool_call") || is(type, "custom_tool_call_output")) {
            static const char *const keys[] = {"name", "arguments", "output", "input"};
            for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                if ((k = field_count(tok, item, keys[i])) < 0)
                    return TG_BOUND_ENOMEM;
                total = add(total, k);
            }
        } else {
            unbounded = 1; /* reasoning, item_reference, computer calls, … */
        }
    }
    if (input && !cJSON_IsString(input) && !cJSON_IsArray(input))
        unbounded = 1;
    const cJSON *extra[2] = {tools, format};
    for (int i = 0; i < 2; i++) {
        if (!extra[i] || cJSON_IsNull(extra[i]))
            continue;
        char *t = cJSON_PrintUnformatted(extra[i]);
        if (!t)
            return TG_BOUND_ENOMEM;
        size_t len = strlen(t);
        size_t n = tok ? tg_tok_count(tok, t, len) : len;
        free(t);
        if (n == TG_TOK_COUNT_ERR)
            return TG_BOUND_ENOMEM;
        total = add(total, add((int64_t)n, TG_BOUND_TOOLS));
    }
    return finish(m, total, unbounded, out);
}
