/* The BPE tokenizer: OpenAI's cl100k_base and o200k_base encodings, exact to js-tiktoken (see
 * docs/internals/tokenizer.md for how exactness is tested and what "exact" means for invalid
 * UTF-8). The whole face of src/tokenizer/.
 *
 * An encoding is loaded once (data/tokenizer/<name>.tgbpe, found beside the binary like
 * data/models.json) and is immutable afterwards: every function below that takes a
 * `const tg_tok_t *` may run on any number of threads at once. Counting allocates nothing for
 * valid UTF-8 whose pre-split pieces are at most TG_TOK_PIECE_STACK bytes (every piece of
 * ordinary text); a longer piece, or input with invalid UTF-8, costs one malloc per call.
 *
 * Text is a (pointer, length) byte range and may hold NUL bytes. Special tokens such as
 * "<|endoftext|>" are tokenized as ordinary text (tiktoken's encode_ordinary), which is what
 * OpenAI does with them inside message content. */
#ifndef TG_TOKENIZER_H
#define TG_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

typedef struct tg_tok tg_tok_t;

enum {
    TG_TOK_ENOENT = -1,  /* unknown encoding name, or its data file was not found */
    TG_TOK_EFORMAT = -2, /* the data file is damaged or is not for this code */
    TG_TOK_ENOMEM = -3,
    TG_TOK_EIO = -4,
};

/* Pieces up to this many bytes are merged in stack arrays (no allocation). */
#define TG_TOK_PIECE_STACK 256

/* Returned by tg_tok_count when memory ran out (only possible for a piece longer than
 * TG_TOK_PIECE_STACK bytes or for invalid UTF-8). */
#define TG_TOK_COUNT_ERR SIZE_MAX

/* Loads "cl100k_base" or "o200k_base" from data/tokenizer/<name>.tgbpe, found with
 * tg_data_path() (TOLLGATE_DATA_DIR, else beside the binary). Returns 0 and *out (owned; free
 * with tg_tok_free), or a TG_TOK_E* code. */
int tg_tok_load(const char *name, tg_tok_t **out);

/* The same from an explicit file; the encoding is the one the file names. */
int tg_tok_load_file(const char *path, tg_tok_t **out);

void tg_tok_free(tg_tok_t *t); /* tolerates NULL */

/* "cl100k_base" or "o200k_base"; borrowed from t. */
const char *tg_tok_name(const tg_tok_t *t);

/* Number of ordinary (non-special) tokens: ranks are 0 .. n-1. */
uint32_t tg_tok_vocab_size(const tg_tok_t *t);

/* A short text for a TG_TOK_E* code. */
const char *tg_tok_strerror(int rc);

/* The number of tokens of text[0..len). Bytes that are not valid UTF-8 count as U+FFFD, one per
 * maximal invalid subsequence (the WHATWG decoder's rule, what TextDecoder does). Returns
 * TG_TOK_COUNT_ERR only when memory ran out. */
size_t tg_tok_count(const tg_tok_t *t, const char *text, size_t len);

/* The token ids of text[0..len), same rules as tg_tok_count. Returns 0 with *ids (owned, free();
 * NULL when *n is 0) and *n, or TG_TOK_ENOMEM. */
int tg_tok_encode(const tg_tok_t *t, const char *text, size_t len, uint32_t **ids, size_t *n);

/* Prompt tokens of a Chat Completions request as OpenAI counts them (the OpenAI cookbook's
 * rule for current models): 3 per message, plus the tokens of every string value of the message
 * (role, content, name, ...), plus 1 when it has a name; plus 3 for the reply's priming. Content
 * given as an array of parts counts its text parts; image, audio and file parts count 0 (their
 * cost is not text). Assistant tool_calls count each function's name and arguments.
 * tools (may be NULL): the function definitions, counted with the cookbook's approximation (see
 * docs/internals/tokenizer.md); both {"type":"function","function":{...}} items and bare
 * legacy `functions` items are accepted. Returns the count, or -1 if messages is not an array
 * or memory ran out. */
int64_t tg_tok_count_chat(const tg_tok_t *t, const cJSON *messages, const cJSON *tools);

#endif
