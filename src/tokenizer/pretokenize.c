/* The pre-split: the regular expressions js-tiktoken uses to cut text into pieces before BPE,
 * written out as scanners over UTF-8, and the UTF-8 decoding rule for invalid input.
 *
 * Each scanner reproduces the JavaScript regular expression's backtracking semantics: at a
 * position the alternatives are tried in order and the first that matches wins (not the
 * longest); inside an alternative, greedy quantifiers take as much as they can and give back
 * one character at a time until the rest matches. docs/internals/tokenizer.md walks through
 * each alternative. */
#include "tokenizer/tokenizer_int.h"

#include <string.h>

const char tg_tok__pat_cl100k[] =
    "('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)"
    "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+"
    "|\\s+(?!\\S)|\\s+";

const char tg_tok__pat_o200k[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
    "('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)?"
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
    "('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)?"
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* ---- classes of the pattern's character sets ---- */

#define BIT(c) (1u << (c))
#define SET_L (BIT(TG_TOK__LU) | BIT(TG_TOK__LL) | BIT(TG_TOK__LO)) /* \p{L} */
#define SET_PRE (BIT(TG_TOK__OT) | BIT(TG_TOK__M) | BIT(TG_TOK__WS)) /* [^\r\n\p{L}\p{N}] */
#define SET_PUNCT (BIT(TG_TOK__OT) | BIT(TG_TOK__M))                /* [^\s\p{L}\p{N}] */
#define SET_WS (BIT(TG_TOK__WS) | BIT(TG_TOK__NL))                  /* \s */
/* UP = [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}], LOW = [\p{Ll}\p{Lm}\p{Lo}\p{M}] */
#define SET_UP (BIT(TG_TOK__LU) | BIT(TG_TOK__LO) | BIT(TG_TOK__M))
#define SET_LOW (BIT(TG_TOK__LL) | BIT(TG_TOK__LO) | BIT(TG_TOK__M))
#define IN(set, c) ((set) & BIT(c))

/* Class of the code point at s[i] (valid UTF-8) and its length in *n; TG_TOK__END at the end. */
static inline int cls_at(const uint8_t *s, size_t len, size_t i, size_t *n)
{
    if (i >= len) {
        *n = 0;
        return TG_TOK__END;
    }
    uint32_t c = s[i];
    if (c < 0x80) {
        *n = 1;
    } else if (c < 0xE0) {
        c = ((c & 0x1F) << 6) | (s[i + 1] & 0x3F);
        *n = 2;
    } else if (c < 0xF0) {
        c = ((c & 0x0F) << 12) | ((uint32_t)(s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
        *n = 3;
    } else {
        c = ((c & 0x07) << 18) | ((uint32_t)(s[i + 1] & 0x3F) << 12) |
            ((uint32_t)(s[i + 2] & 0x3F) << 6) | (s[i + 3] & 0x3F);
        *n = 4;
    }
    return tg_tok__class(c);
}

/* End of the run of code points in set that starts at i. */
static size_t run(const uint8_t *s, size_t len, size_t i, unsigned set)
{
    size_t n;
    while (i < len) {
        int c = cls_at(s, len, i, &n);
        if (!IN(set, c))
            break;
        i += n;
    }
    return i;
}

/* Length of the contraction at s[i] ('s 't 'm 'd 're 've 'll, any letter case), or 0. */
static size_t contraction(const uint8_t *s, size_t len, size_t i)
{
    if (i + 1 >= len || s[i] != '\'')
        return 0;
    unsigned a = s[i + 1] | 0x20;
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return 2;
    if (i + 2 >= len)
        return 0;
    unsigned b = s[i + 2] | 0x20;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return 3;
    return 0;
}

/* The whitespace alternatives, common to both patterns, at a whitespace code point i:
 *   \s*[\r\n]+   up to and including the run's last CR/LF, if it has one;
 *   \s+(?!\S)    else the whole run if the text ends there, else all but its last code point
 *                (the lookahead then sees whitespace), if that leaves one;
 *   \s+          else the run (one code point before a non-space). */
static size_t whitespace(const uint8_t *s, size_t len, size_t i)
{
    size_t e = i, n, last_nl = 0, last_start = i, count = 0;
    while (e < len) {
        int c = cls_at(s, len, e, &n);
        if (!IN(SET_WS, c))
            break;
        if (c == TG_TOK__NL)
            last_nl = e + 1; /* CR and LF are one byte */
        last_start = e;
        e += n;
        count++;
    }
    if (last_nl)
        return last_nl;
    if (e == len || count < 2)
        return e;
    return last_start;
}

/* " ?[^\s\p{L}\p{N}]+" then the trailing set ([\r\n]* or [\r\n/]*), from the first punctuation
 * code point's end p. */
static size_t punct(const uint8_t *s, size_t len, size_t p, int slash)
{
    p = run(s, len, p, SET_PUNCT);
    while (p < len && (s[p] == '\r' || s[p] == '\n' || (slash && s[p] == '/')))
        p++;
    return p;
}

/* ---- cl100k_base ----
 * ('s|'S|...|'d|'D) | [^\r\n\p{L}\p{N}]?\p{L}+ | \p{N}{1,3} | ?[^\s\p{L}\p{N}]+[\r\n]*
 * | \s*[\r\n]+ | \s+(?!\S) | \s+ */
size_t tg_tok__next_cl100k(const uint8_t *s, size_t len, size_t i)
{
    size_t n, n2, k;
    if ((k = contraction(s, len, i)) != 0)
        return i + k;
    int c = cls_at(s, len, i, &n);
    if (IN(SET_L, c))
        return run(s, len, i + n, SET_L);
    int c2 = cls_at(s, len, i + n, &n2);
    if (IN(SET_PRE, c) && c2 != TG_TOK__END && IN(SET_L, c2))
        return run(s, len, i + n + n2, SET_L);
    if (c == TG_TOK__N) {
        size_t e = i + n;
        for (int d = 1; d < 3 && cls_at(s, len, e, &n2) == TG_TOK__N; d++)
            e += n2;
        return e;
    }
    if (IN(SET_PUNCT, c))
        return punct(s, len, i + n, 0);
    if (s[i] == ' ' && c2 != TG_TOK__END && IN(SET_PUNCT, c2))
        return punct(s, len, i + n + n2, 0);
    return whitespace(s, len, i);
}

/* ---- o200k_base ----
 * A: [^\r\n\p{L}\p{N}]?[UP]*[LOW]+(contraction)?   B: [^\r\n\p{L}\p{N}]?[UP]+[LOW]*(contraction)?
 * | \p{N}{1,3} | ?[^\s\p{L}\p{N}]+[\r\n/]* | \s*[\r\n]+ | \s+(?!\S) | \s+
 * with UP = [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] and LOW = [\p{Ll}\p{Lm}\p{Lo}\p{M}] (Lm, Lo and M
 * are in both). */

/* [UP]*[LOW]+ from p: the end of the match, or 0 if none. [UP]* takes the whole UP run first;
 * if the code point after it is in LOW (then it is Ll), [LOW]+ runs on from there. Otherwise
 * [UP]* gives back code points until [LOW]+ can take one: the match ends after the run's last
 * code point that is also in LOW (Lm, Lo or M), and fails if there is none. */
static size_t up_low(const uint8_t *s, size_t len, size_t p)
{
    size_t e = p, n = 0, last_low = 0;
    int c = TG_TOK__END;
    while (e < len) {
        c = cls_at(s, len, e, &n);
        if (!IN(SET_UP, c))
            break;
        e += n;
        if (IN(SET_LOW, c))
            last_low = e;
    }
    if (e < len && c == TG_TOK__LL)
        return run(s, len, e + n, SET_LOW);
    return last_low;
}

size_t tg_tok__next_o200k(const uint8_t *s, size_t len, size_t i)
{
    size_t n, n2, e;
    int c = cls_at(s, len, i, &n);
    int c2 = cls_at(s, len, i + n, &n2);
    /* A, with the optional prefix taken, then without it. */
    if (IN(SET_PRE, c) && c2 != TG_TOK__END && (e = up_low(s, len, i + n)) != 0)
        return e + contraction(s, len, e);
    if (IN(SET_UP | SET_LOW, c) && (e = up_low(s, len, i)) != 0)
        return e + contraction(s, len, e);
    /* B: [UP]+ takes the whole run, [LOW]* whatever follows; nothing to give back. */
    if (IN(SET_PRE, c) && c2 != TG_TOK__END && IN(SET_UP, c2)) {
        e = run(s, len, run(s, len, i + n, SET_UP), SET_LOW);
        return e + contraction(s, len, e);
    }
    if (IN(SET_UP, c)) {
        e = run(s, len, run(s, len, i, SET_UP), SET_LOW);
        return e + contraction(s, len, e);
    }
    if (c == TG_TOK__N) {
        e = i + n;
        for (int d = 1; d < 3 && cls_at(s, len, e, &n2) == TG_TOK__N; d++)
            e += n2;
        return e;
    }
    if (IN(SET_PUNCT, c))
        return punct(s, len, i + n, 1);
    if (s[i] == ' ' && c2 != TG_TOK__END && IN(SET_PUNCT, c2))
        return punct(s, len, i + n + n2, 1);
    return whitespace(s, len, i);
}

/* ---- UTF-8 ---- */

/* Length of the well-formed sequence at s[i], or 0 with *bad set to the number of bytes that
 * make up its maximal invalid subsequence (>= 1), as the WHATWG decoder consumes them. */
static size_t seq(const uint8_t *s, size_t len, size_t i, size_t *bad)
{
    uint8_t b = s[i];
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b < 0x80)
        return 1;
    if (b >= 0xC2 && b <= 0xDF) {
        need = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 2;
        if (b == 0xE0)
            lo = 0xA0;
        else if (b == 0xED)
            hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3;
        if (b == 0xF0)
            lo = 0x90;
        else if (b == 0xF4)
            hi = 0x8F;
    } else {
        *bad = 1;
        return 0;
    }
    size_t j = i + 1;
    for (size_t k = 0; k < need; k++, j++) {
        if (j >= len || s[j] < lo || s[j] > hi) {
            *bad = j - i; /* the lead and the continuations that were right; s[j] is read again */
            return 0;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    return need + 1;
}

int tg_tok__utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0, bad;
    while (i < len) {
        if (len - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ull)) {
                i += 8;
                continue;
            }
        }
        size_t k = seq(s, len, i, &bad);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

size_t tg_tok__utf8_sanitize(const uint8_t *s, size_t len, uint8_t *out)
{
    size_t i = 0, o = 0, bad = 0;
    while (i < len) {
        size_t k = seq(s, len, i, &bad);
        if (k) {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        } else {
            out[o++] = 0xEF;
            out[o++] = 0xBF;
            out[o++] = 0xBD;
            i += bad;
        }
    }
    return o;
}
