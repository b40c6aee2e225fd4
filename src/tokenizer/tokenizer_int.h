/* Inside src/tokenizer/: character classes, the UTF-8 helpers and the pre-split scanners
 * (pretokenize.c), shared with bpe.c and chat.c. Not part of the module's face. */
#ifndef TG_TOKENIZER_INT_H
#define TG_TOKENIZER_INT_H

#include <stddef.h>
#include <stdint.h>

/* Character classes of the pre-split patterns, one per code point (unicode_tables.c, generated
 * by tools/tokenizer/gen_unicode.mjs from node's \p{..} and \s). Mutually exclusive. */
enum {
    TG_TOK__OT = 0, /* anything else: punctuation, symbols, controls, unassigned, U+FFFD */
    TG_TOK__LU = 1, /* \p{Lu} \p{Lt} */
    TG_TOK__LL = 2, /* \p{Ll} */
    TG_TOK__LO = 3, /* \p{Lm} \p{Lo} */
    TG_TOK__M = 4,  /* \p{M} */
    TG_TOK__N = 5,  /* \p{N} */
    TG_TOK__WS = 6, /* JavaScript's \s, except CR and LF */
    TG_TOK__NL = 7, /* CR, LF */
    TG_TOK__END = 8 /* past the end of the text (never in the tables) */
};

extern const char tg_tok__unicode_version[];
extern const uint8_t tg_tok__cls_index[0x110000 / 128];
extern const uint8_t tg_tok__cls_blocks[];

static inline int tg_tok__class(uint32_t cp)
{
    uint8_t v = tg_tok__cls_blocks[(size_t)tg_tok__cls_index[cp >> 7] * 64 + ((cp & 127) >> 1)];
    return (cp & 1) ? v >> 4 : v & 15;
}

/* Which pre-split pattern (the encodings differ only in it and in the ranks). */
typedef enum { TG_TOK__PAT_CL100K, TG_TOK__PAT_O200K } tg_tok__pat_t;

/* The exact pattern strings of js-tiktoken 1.0.21 that the scanners implement; the loader
 * refuses a data file whose pat_str differs. */
extern const char tg_tok__pat_cl100k[];
extern const char tg_tok__pat_o200k[];

/* End of the piece that starts at pos (< len) of valid UTF-8 s: the match the JavaScript
 * regular expression would find there. */
size_t tg_tok__next_cl100k(const uint8_t *s, size_t len, size_t pos);
size_t tg_tok__next_o200k(const uint8_t *s, size_t len, size_t pos);

/* 1 if s[0..len) is valid UTF-8 (no surrogates, no overlongs, nothing above U+10FFFF). */
int tg_tok__utf8_valid(const uint8_t *s, size_t len);

/* Decodes s[0..len) as the WHATWG UTF-8 decoder does (each maximal invalid subsequence becomes
 * one U+FFFD) and writes it back as UTF-8 to out, which holds at least 3 * len bytes. Returns
 * the bytes written. */
size_t tg_tok__utf8_sanitize(const uint8_t *s, size_t len, uint8_t *out);

#endif
