/* The tokenizer's exactness test: every string of the corpus that tools/tokenizer/gen_corpus.mjs
 * wrote, through both encodings, against the ids js-tiktoken produced for it. Checks
 * tg_tok_encode (ids), tg_tok_count (count) and the pre-split on its own (each piece's length
 * against the JavaScript regular expression's matches), and prints both sides of the first
 * mismatches.
 *
 * Usage: compare CORPUS_DIR [DATA_DIR]
 *   CORPUS_DIR holds corpus.bin and expect_<encoding>.bin; DATA_DIR (default data/tokenizer)
 *   holds the .tgbpe files. Exit 0 if every string matches in both encodings. */
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHOW_MAX 10

typedef struct {
    uint8_t *buf;
    size_t len, pos;
} file_t;

static int slurp(const char *path, file_t *f)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "compare: cannot open %s (run via `make tokenizer-test`)\n", path);
        return -1;
    }
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    f->buf = malloc((size_t)n + 1);
    f->len = (size_t)n;
    f->pos = 0;
    if (!f->buf || fread(f->buf, 1, (size_t)n, fp) != (size_t)n) {
        fclose(fp);
        return -1;
    }
    fclose(fp);
    return 0;
}

static int get_u32(file_t *f, uint32_t *v);

/* Reads n little-endian u32 into a new array. */
static uint32_t *get_u32s(file_t *f, uint32_t *n)
{
    const uint8_t *raw;
    if (get_u32(f, n) || f->len - f->pos < (size_t)*n * 4)
        return NULL;
    raw = f->buf + f->pos;
    f->pos += (size_t)*n * 4;
    uint32_t *v = malloc((size_t)*n * 4 + 4);
    for (uint32_t k = 0; k < *n; k++)
        v[k] = (uint32_t)raw[4 * k] | (uint32_t)raw[4 * k + 1] << 8 |
               (uint32_t)raw[4 * k + 2] << 16 | (uint32_t)raw[4 * k + 3] << 24;
    return v;
}

static int get_u32(file_t *f, uint32_t *v)
{
    if (f->len - f->pos < 4)
        return -1;
    const uint8_t *p = f->buf + f->pos;
    *v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    f->pos += 4;
    return 0;
}

static int get_bytes(file_t *f, size_t n, const uint8_t **p)
{
    if (f->len - f->pos < n)
        return -1;
    *p = f->buf + f->pos;
    f->pos += n;
    return 0;
}

static void show_bytes(const uint8_t *s, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n && i < 400; i++) {
        if (s[i] == '"' || s[i] == '\\')
            printf("\\%c", s[i]);
        else if (s[i] >= 0x20 && s[i] < 0x7f)
            putchar(s[i]);
        else
            printf("\\x%02x", s[i]);
    }
    printf(n > 400 ? "\"... (%zu bytes)\n" : "\" (%zu bytes)\n", n);
}

static void show_ids(const char *label, const uint32_t *ids, size_t n)
{
    printf("    %s (%zu):", label, n);
    for (size_t i = 0; i < n && i < 60; i++)
        printf(" %u", ids[i]);
    printf(n > 60 ? " ...\n" : "\n");
}

/* The scanner's pieces of s (sanitized first, as the tokenizer does) against want[0..n). */
static int pieces_match(const char *enc, const uint8_t *s, size_t len, const uint32_t *want,
                        size_t n, int show)
{
    uint8_t *clean = malloc(len * 3 + 1);
    size_t clen = tg_tok__utf8_sanitize(s, len, clean), k = 0, i = 0;
    int o200k = strcmp(enc, "o200k_base") == 0, ok = 1;
    while (i < clen) {
        size_t e = o200k ? tg_tok__next_o200k(clean, clen, i) : tg_tok__next_cl100k(clean, clen, i);
        if (e <= i || k >= n || e - i != want[k]) {
            ok = 0;
            if (show)
                printf("    piece %zu at byte %zu: regex %u bytes, scanner %zu bytes\n", k, i,
                       k < n ? want[k] : 0, e - i);
            break;
        }
        k++;
        i = e;
    }
    if (ok && k != n) {
        ok = 0;
        if (show)
            printf("    scanner made %zu pieces, regex %zu\n", k, n);
    }
    free(clean);
    return ok;
}

typedef struct {
    uint32_t cat, len;
    const uint8_t *s;
} item_t;

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: compare CORPUS_DIR [DATA_DIR]\n");
        return 2;
    }
    const char *dir = argv[1], *data = argc > 2 ? argv[2] : "data/tokenizer";
    static const char *encs[] = {"cl100k_base", "o200k_base"};
    char path[4096];
    file_t cf;
    snprintf(path, sizeof(path), "%s/corpus.bin", dir);
    if (slurp(path, &cf) < 0)
        return 2;
    const uint8_t *magic;
    uint32_t ncat, n;
    if (get_bytes(&cf, 8, &magic) || memcmp(magic, "TGCORP1\n", 8) || get_u32(&cf, &ncat)) {
        fprintf(stderr, "compare: bad corpus.bin\n");
        return 2;
    }
    char **cats = calloc(ncat, sizeof(*cats));
    for (uint32_t i = 0; i < ncat; i++) {
        uint32_t l;
        const uint8_t *p;
        if (get_u32(&cf, &l) || get_bytes(&cf, l, &p))
            return 2;
        cats[i] = strndup((const char *)p, l);
    }
    if (get_u32(&cf, &n))
        return 2;
    item_t *items = calloc(n, sizeof(*items));
    size_t bytes = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (get_u32(&cf, &items[i].cat) || get_u32(&cf, &items[i].len) ||
            get_bytes(&cf, items[i].len, &items[i].s) || items[i].cat >= ncat) {
            fprintf(stderr, "compare: bad corpus.bin at string %u\n", i);
            return 2;
        }
        bytes += items[i].len;
    }

    int failed = 0;
    size_t n_pass = 0, n_fail = 0; /* per string and encoding */
    for (size_t e = 0; e < 2; e++) {
        tg_tok_t *t;
        file_t ef, pf;
        snprintf(path, sizeof(path), "%s/%s.tgbpe", data, encs[e]);
        int rc = tg_tok_load_file(path, &t);
        if (rc != 0) {
            fprintf(stderr, "compare: %s: %s\n", path, tg_tok_strerror(rc));
            return 2;
        }
        uint32_t ne, np;
        snprintf(path, sizeof(path), "%s/expect_%s.bin", dir, encs[e]);
        if (slurp(path, &ef) < 0 || get_bytes(&ef, 8, &magic) || memcmp(magic, "TGEXPT1\n", 8) ||
            get_u32(&ef, &ne) || ne != n) {
            fprintf(stderr, "compare: bad %s\n", path);
            return 2;
        }
        snprintf(path, sizeof(path), "%s/pieces_%s.bin", dir, encs[e]);
        if (slurp(path, &pf) < 0 || get_bytes(&pf, 8, &magic) || memcmp(magic, "TGPIEC1\n", 8) ||
            get_u32(&pf, &np) || np != n) {
            fprintf(stderr, "compare: bad %s\n", path);
            return 2;
        }
        size_t mismatches = 0, split_mismatches = 0, tokens = 0, npieces = 0;
        size_t *bad_per_cat = calloc(ncat, sizeof(size_t));
        for (uint32_t i = 0; i < n; i++) {
            uint32_t want_n, plen_n;
            uint32_t *want = get_u32s(&ef, &want_n), *plen = get_u32s(&pf, &plen_n);
            if (!want || !plen) {
                fprintf(stderr, "compare: %s ends early\n", path);
                return 2;
            }
            uint32_t *got = NULL;
            size_t got_n = 0;
            if (tg_tok_encode(t, (const char *)items[i].s, items[i].len, &got, &got_n) != 0) {
                fprintf(stderr, "compare: out of memory\n");
                return 2;
            }
            size_t cnt = tg_tok_count(t, (const char *)items[i].s, items[i].len);
            int ok = got_n == want_n && cnt == want_n &&
                     (want_n == 0 || memcmp(got, want, (size_t)want_n * 4) == 0);
            int split_ok = pieces_match(encs[e], items[i].s, items[i].len, plen, plen_n, 0);
            tokens += want_n;
            npieces += plen_n;
            if (!ok || !split_ok) {
                if (mismatches + split_mismatches < SHOW_MAX) {
                    printf("MISMATCH %s #%u [%s]%s ", encs[e], i, cats[items[i].cat],
                           split_ok ? "" : " (pre-split)");
                    show_bytes(items[i].s, items[i].len);
                    show_ids("js-tiktoken", want, want_n);
                    show_ids("tollgate   ", got, got_n);
                    if (cnt != got_n)
                        printf("    tg_tok_count: %zu\n", cnt);
                    if (!split_ok)
                        pieces_match(encs[e], items[i].s, items[i].len, plen, plen_n, 1);
                }
                n_fail++;
                if (!ok)
                    mismatches++;
                if (!split_ok)
                    split_mismatches++;
                bad_per_cat[items[i].cat]++;
            } else {
                n_pass++;
            }
            free(got);
            free(want);
            free(plen);
        }
        printf("%s: %u strings (%zu bytes, %zu reference tokens), %zu mismatches; pre-split: "
               "%zu pieces, %zu mismatches\n",
               encs[e], n, bytes, tokens, mismatches, npieces, split_mismatches);
        for (uint32_t c = 0; c < ncat; c++)
            if (bad_per_cat[c])
                printf("    %s: %zu\n", cats[c], bad_per_cat[c]);
        if (mismatches || split_mismatches)
            failed = 1;
        free(bad_per_cat);
        free(ef.buf);
        free(pf.buf);
        tg_tok_free(t);
    }
    for (uint32_t i = 0; i < ncat; i++)
        free(cats[i]);
    free(cats);
    free(items);
    free(cf.buf);
    printf(failed ? "tokenizer exactness: FAILED\n" : "tokenizer exactness: ok\n");
    printf("tokenizer: %zu passed, %zu failed\n", n_pass, n_fail);
    return failed;
}
