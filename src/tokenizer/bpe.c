/* Rank data, the byte-sequence -> rank table, and the merge loop.
 *
 * The data file (tools/tokenizer/convert_ranks.mjs writes it; format in
 * docs/internals/tokenizer.md) is read whole; token bytes stay in that buffer. The table is open
 * addressing with linear probing, built once at load: each slot holds the first 8 bytes of its
 * token inline, so most look-ups never touch the token bytes. Single bytes and byte pairs have
 * direct-index arrays.
 *
 * Merging is tiktoken's: repeatedly merge the adjacent pair whose concatenation has the lowest
 * rank (the leftmost on ties) until no pair is a token. Short pieces use the plain O(n^2) loop
 * on stack arrays; longer ones a binary heap of (rank, position) over a linked list of parts,
 * which makes the same choices in O(n log n). */
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_int.h"

#include "pricing/pricing.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX

/* Pieces up to this many bytes use the plain O(n^2) merge loop, longer ones the heap. */
#ifndef LINEAR_MAX
#define LINEAR_MAX 16
#endif

typedef struct {
    uint64_t k8;   /* first 8 bytes of the token, zero-padded, little-endian */
    uint32_t rank;
    uint32_t meta; /* len | hash bits << 8; 0 = empty slot */
} slot_t;

typedef size_t (*next_fn)(const uint8_t *s, size_t len, size_t pos);

struct tg_tok {
    char name[32];
    next_fn next;
    uint8_t *file; /* the whole data file; lens and blob point into it */
    const uint8_t *lens, *blob;
    uint32_t *off; /* token r is blob[off[r] .. off[r] + lens[r]) */
    uint32_t n_ranks, max_len;
    slot_t *slots;
    uint64_t mask;
    uint32_t byte_rank[256];
    uint32_t *pair_rank; /* [a << 8 | b] */
};

/* ---- hashing ---- */

static inline uint64_t load_le(const uint8_t *p, size_t n) /* n <= 8 */
{
    uint64_t v = 0;
    switch (n) {
    case 8: v |= (uint64_t)p[7] << 56; /* fall through */
    case 7: v |= (uint64_t)p[6] << 48; /* fall through */
    case 6: v |= (uint64_t)p[5] << 40; /* fall through */
    case 5: v |= (uint64_t)p[4] << 32; /* fall through */
    case 4: v |= (uint64_t)p[3] << 24; /* fall through */
    case 3: v |= (uint64_t)p[2] << 16; /* fall through */
    case 2: v |= (uint64_t)p[1] << 8;  /* fall through */
    case 1: v |= p[0];                 /* fall through */
    default: break;
    }
    return v;
}

static inline uint64_t key_hash(const uint8_t *p, size_t n, uint64_t k8)
{
    uint64_t h = (k8 ^ (uint64_t)n) * 0x9E3779B97F4A7C15ull;
    for (size_t o = 8; o < n; o += 8)
        h = (h ^ (h >> 29) ^ load_le(p + o, n - o < 8 ? n - o : 8)) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ull;
    h ^= h >> 32;
    return h;
}

/* A look-up in two steps, so that two can be in flight at once: key() hashes and prefetches
 * the home slot, probe() walks from it. */
typedef struct {
    const uint8_t *p;
    size_t n;
    uint64_t k8, h;
} hkey_t;

static inline void key(const tg_tok_t *t, hkey_t *k, const uint8_t *p, size_t n)
{
    k->p = p;
    k->n = n;
    k->k8 = k->h = 0;
    if (n > t->max_len)
        return;
    k->k8 = load_le(p, n < 8 ? n : 8);
    k->h = key_hash(p, n, k->k8);
    __builtin_prefetch(&t->slots[k->h & t->mask]);
}

static inline uint32_t probe(const tg_tok_t *t, const hkey_t *k)
{
    size_t n = k->n;
    if (n > t->max_len)
        return NONE;
    uint32_t meta = (uint32_t)n | (uint32_t)(k->h >> 40) << 8;
    for (uint64_t i = k->h & t->mask;; i = (i + 1) & t->mask) {
        const slot_t *s = &t->slots[i];
        if (s->meta == 0)
            return NONE;
        if (s->meta == meta && s->k8 == k->k8 &&
            (n <= 8 || memcmp(t->blob + t->off[s->rank] + 8, k->p + 8, n - 8) == 0))
            return s->rank;
    }
}

static inline uint32_t lookup_long(const tg_tok_t *t, const uint8_t *p, size_t n)
{
    hkey_t k;
    key(t, &k, p, n);
    return probe(t, &k);
}

/* Rank of the token p[0..n), or NONE. */
static inline uint32_t lookup(const tg_tok_t *t, const uint8_t *p, size_t n)
{
    if (n == 1)
        return t->byte_rank[p[0]];
    if (n == 2)
        return t->pair_rank[(unsigned)p[0] << 8 | p[1]];
    return lookup_long(t, p, n);
}

/* ---- loading ---- */

const char *tg_tok_strerror(int rc)
{
    switch (rc) {
    case 0: return "ok";
    case TG_TOK_ENOENT: return "unknown encoding or data file not found";
    case TG_TOK_EFORMAT: return "damaged or incompatible tokenizer data file";
    case TG_TOK_ENOMEM: return "out of memory";
    case TG_TOK_EIO: return "cannot read tokenizer data file";
    default: return "unknown error";
    }
}

static uint64_t fnv1a64(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

typedef struct {
    const uint8_t *p;
    size_t left;
} rd_t;

static int rd_u32(rd_t *r, uint32_t *v)
{
    if (r->left < 4)
        return -1;
    *v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
         (uint32_t)r->p[3] << 24;
    r->p += 4;
    r->left -= 4;
    return 0;
}

static int rd_bytes(rd_t *r, size_t n, const uint8_t **out)
{
    if (r->left < n)
        return -1;
    *out = r->p;
    r->p += n;
    r->left -= n;
    return 0;
}

static int insert(tg_tok_t *t, uint32_t rank)
{
    const uint8_t *p = t->blob + t->off[rank];
    size_t n = t->lens[rank];
    uint64_t k8 = load_le(p, n < 8 ? n : 8);
    uint64_t h = key_hash(p, n, k8);
    uint32_t meta = (uint32_t)n | (uint32_t)(h >> 40) << 8;
    for (uint64_t i = h & t->mask;; i = (i + 1) & t->mask) {
        slot_t *s = &t->slots[i];
        if (s->meta == 0) {
            s->k8 = k8;
            s->rank = rank;
            s->meta = meta;
            return 0;
        }
        if (s->meta == meta && s->k8 == k8 && n == t->lens[s->rank] &&
            memcmp(t->blob + t->off[s->rank], p, n) == 0)
            return -1; /* the same bytes twice */
    }
}

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? TG_TOK_ENOENT : TG_TOK_EIO;
    int rc = TG_TOK_EIO;
    uint8_t *b = NULL;
    long sz;
    if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    if (sz > (64l << 20)) {
        rc = TG_TOK_EFORMAT;
        goto out;
    }
    b = malloc((size_t)sz + 1);
    if (!b) {
        rc = TG_TOK_ENOMEM;
        goto out;
    }
    if (fread(b, 1, (size_t)sz, f) != (size_t)sz)
        goto out;
    *buf = b;
    *len = (size_t)sz;
    b = NULL;
    rc = 0;
out:
    free(b);
    fclose(f);
    return rc;
}

int tg_tok_load_file(const char *path, tg_tok_t **out)
{
    int rc;
    tg_tok_t *t = calloc(1, sizeof(*t));
    uint8_t *file = NULL;
    size_t flen = 0;
    if (!t)
        return TG_TOK_ENOMEM;
    if ((rc = read_file(path, &file, &flen)) != 0)
        goto fail;
    t->file = file;
    rc = TG_TOK_EFORMAT;
    if (flen < 16 || memcmp(file, "TGBPE01\n", 8) != 0)
        goto fail;
    uint64_t sum = 0;
    for (int i = 7; i >= 0; i--)
        sum = sum << 8 | file[flen - 8 + (size_t)i];
    if (fnv1a64(file, flen - 8) != sum)
        goto fail;

    rd_t r = {file + 8, flen - 16};
    uint32_t n, blob_len, n_special, name_len, pat_len;
    const uint8_t *name, *pat, *skip;
    if (rd_u32(&r, &n) || rd_u32(&r, &blob_len) || rd_u32(&r, &n_special) ||
        rd_u32(&r, &name_len) || rd_bytes(&r, name_len, &name) || rd_u32(&r, &pat_len) ||
        rd_bytes(&r, pat_len, &pat))
        goto fail;
    for (uint32_t i = 0; i < n_special; i++) { /* special tokens: counted as text, not used */
        uint32_t rank, slen;
        if (rd_u32(&r, &rank) || rd_u32(&r, &slen) || rd_bytes(&r, slen, &skip))
            goto fail;
    }
    if (n < 256 || rd_bytes(&r, n, &t->lens) || rd_bytes(&r, blob_len, &t->blob) || r.left != 0)
        goto fail;
    if (name_len == 0 || name_len >= sizeof(t->name))
        goto fail;
    memcpy(t->name, name, name_len);
    const char *want;
    if (strcmp(t->name, "cl100k_base") == 0) {
        t->next = tg_tok__next_cl100k;
        want = tg_tok__pat_cl100k;
    } else if (strcmp(t->name, "o200k_base") == 0) {
        t->next = tg_tok__next_o200k;
        want = tg_tok__pat_o200k;
    } else {
        goto fail;
    }
    if (pat_len != strlen(want) || memcmp(pat, want, pat_len) != 0)
        goto fail; /* the ranks were made for a pre-split this code does not implement */

    t->n_ranks = n;
    rc = TG_TOK_ENOMEM;
    t->off = malloc((size_t)n * sizeof(*t->off));
    t->pair_rank = malloc(65536 * sizeof(*t->pair_rank));
    uint64_t cap = 1;
    while (cap < (uint64_t)n * 2 + 2)
        cap <<= 1;
    t->slots = calloc(cap, sizeof(*t->slots));
    if (!t->off || !t->pair_rank || !t->slots)
        goto fail;
    t->mask = cap - 1;
    rc = TG_TOK_EFORMAT;
    uint64_t o = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (t->lens[i] == 0)
            goto fail;
        t->off[i] = (uint32_t)o;
        o += t->lens[i];
        if (t->lens[i] > t->max_len)
            t->max_len = t->lens[i];
    }
    if (o != blob_len)
        goto fail;
    memset(t->byte_rank, 0xFF, sizeof(t->byte_rank));
    memset(t->pair_rank, 0xFF, 65536 * sizeof(*t->pair_rank));
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *p = t->blob + t->off[i];
        if (insert(t, i) != 0)
            goto fail;
        if (t->lens[i] == 1)
            t->byte_rank[p[0]] = i;
        else if (t->lens[i] == 2)
            t->pair_rank[(unsigned)p[0] << 8 | p[1]] = i;
    }
    for (int b = 0; b < 256; b++)
        if (t->byte_rank[b] == NONE)
            goto fail; /* every byte must have a token, or text could not be encoded */
    *out = t;
    return 0;
fail:
    tg_tok_free(t);
    return rc;
}

int tg_tok_load(const char *name, tg_tok_t **out)
{
    char rel[64], path[4096];
    if (!name || (strcmp(name, "cl100k_base") != 0 && strcmp(name, "o200k_base") != 0))
        return TG_TOK_ENOENT;
    snprintf(rel, sizeof(rel), "tokenizer/%s.tgbpe", name);
    if (tg_data_path(rel, path, sizeof(path)) < 0)
        return TG_TOK_ENOENT;
    return tg_tok_load_file(path, out);
}

void tg_tok_free(tg_tok_t *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t->pair_rank);
    free(t->off);
    free(t->file);
    free(t);
}

const char *tg_tok_name(const tg_tok_t *t)
{
    return t->name;
}

uint32_t tg_tok_vocab_size(const tg_tok_t *t)
{
    return t->n_ranks;
}

/* ---- merging ---- */

/* Output: a count, and the ids when ids is not NULL (room for n of them). */

/* n in [2, LINEAR_MAX]: the plain loop, as tiktoken's _byte_pair_merge. */
static size_t merge_small(const tg_tok_t *t, const uint8_t *p, size_t n, uint32_t *ids)
{
    uint32_t st[LINEAR_MAX + 1]; /* part starts, st[m] == n */
    uint32_t rk[LINEAR_MAX];     /* rk[i]: rank of parts i and i+1 merged */
    size_t m = n;
    for (size_t i = 0; i <= n; i++)
        st[i] = (uint32_t)i;
    for (size_t i = 0; i + 1 < n; i++)
        rk[i] = t->pair_rank[(unsigned)p[i] << 8 | p[i + 1]];
    while (m > 1) {
        uint32_t best = NONE;
        size_t bi = 0;
        for (size_t i = 0; i + 1 < m; i++) {
            if (rk[i] < best) {
                best = rk[i];
                bi = i;
            }
        }
        if (best == NONE)
            break;
        memmove(&st[bi + 1], &st[bi + 2], (m - bi - 1) * sizeof(*st));
        if (bi + 2 < m)
            memmove(&rk[bi + 1], &rk[bi + 2], (m - bi - 3) * sizeof(*rk));
        m--;
        /* the merged part's pairs with its right and left neighbours: both are at least 3
         * bytes long, so both go to the table; start both look-ups before waiting on either */
        hkey_t kr = {0}, kl = {0};
        if (bi + 1 < m)
            key(t, &kr, p + st[bi], st[bi + 2] - st[bi]);
        if (bi > 0)
            key(t, &kl, p + st[bi - 1], st[bi + 1] - st[bi - 1]);
        rk[bi] = bi + 1 < m ? probe(t, &kr) : NONE;
        if (bi > 0)
            rk[bi - 1] = probe(t, &kl);
    }
    if (ids)
        for (size_t i = 0; i < m; i++)
            ids[i] = lookup(t, p + st[i], st[i + 1] - st[i]);
    return m;
}

/* A binary min-heap of (rank << 32 | start). */
static void heap_push(uint64_t *h, size_t *n, uint64_t v)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (h[up] <= v)
            break;
        h[i] = h[up];
        i = up;
    }
    h[i] = v;
}

static uint64_t heap_pop(uint64_t *h, size_t *n)
{
    uint64_t top = h[0], v = h[--(*n)];
    size_t i = 0, len = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= len)
            break;
        if (c + 1 < len && h[c + 1] < h[c])
            c++;
        if (h[c] >= v)
            break;
        h[i] = h[c];
        i = c;
    }
    if (len)
        h[i] = v;
    return top;
}

/* Any n >= 2 (< 4 GiB). Parts are named by their start; rk[s] is the rank of the part at s
 * merged with the next one (NONE if that is no token, or if s is no longer a part). A heap
 * entry is current iff rk[s] still equals its rank: a part's pair only grows, so a rank, which
 * names one byte string, cannot come back. */
static size_t merge_large(const tg_tok_t *t, const uint8_t *p, size_t n, uint32_t *ids, int *err)
{
    uint64_t stack[TG_TOK_PIECE_STACK * 3 + TG_TOK_PIECE_STACK * 3 / 2 + 1];
    uint64_t *heap = stack;
    if (n > TG_TOK_PIECE_STACK &&
        !(heap = malloc(n * (3 * sizeof(uint64_t) + 3 * sizeof(uint32_t))))) {
        *err = TG_TOK_ENOMEM;
        return 0;
    }
    uint32_t *nxt = (uint32_t *)(void *)(heap + 3 * n), *prv = nxt + n, *rk = prv + n;
    size_t hn = 0, m = n;
    for (size_t s = 0; s < n; s++) {
        nxt[s] = (uint32_t)(s + 1);
        prv[s] = (uint32_t)(s - 1); /* unused for s == 0 */
        rk[s] = s + 1 < n ? t->pair_rank[(unsigned)p[s] << 8 | p[s + 1]] : NONE;
        if (rk[s] != NONE)
            heap_push(heap, &hn, (uint64_t)rk[s] << 32 | s);
    }
    while (hn) {
        uint64_t top = heap_pop(heap, &hn);
        uint32_t r = (uint32_t)(top >> 32), s = (uint32_t)top;
        if (rk[s] != r)
            continue;
        uint32_t b = nxt[s], u = nxt[b]; /* merge s with b; u follows */
        rk[b] = NONE;
        nxt[s] = u;
        if (u < n)
            prv[u] = s;
        m--;
        rk[s] = u < n ? lookup(t, p + s, nxt[u] - s) : NONE;
        if (rk[s] != NONE)
            heap_push(heap, &hn, (uint64_t)rk[s] << 32 | s);
        if (s > 0) {
            uint32_t q = prv[s];
            rk[q] = lookup(t, p + q, u - q);
            if (rk[q] != NONE)
                heap_push(heap, &hn, (uint64_t)rk[q] << 32 | q);
        }
    }
    if (ids) {
        size_t k = 0;
        for (size_t s = 0; s < n; s = nxt[s])
            ids[k++] = lookup(t, p + s, nxt[s] - s);
    }
    if (heap != stack)
        free(heap);
    return m;
}

/* Tokens of one piece; ids (room for n) may be NULL. */
static size_t piece(const tg_tok_t *t, const uint8_t *p, size_t n, uint32_t *ids, int *err)
{
    uint32_t r = lookup(t, p, n);
    if (r != NONE) {
        if (ids)
            ids[0] = r;
        return 1;
    }
    if (n <= LINEAR_MAX)
        return merge_small(t, p, n, ids);
    if (n >= UINT32_MAX) { /* parts are named by 32-bit offsets */
        *err = TG_TOK_ENOMEM;
        return 0;
    }
    return merge_large(t, p, n, ids, err);
}

/* Runs the pre-split and the merges over text; ids (room for one per byte of the sanitized
 * text) may be NULL. */
static int run_text(const tg_tok_t *t, const char *text, size_t len, uint32_t **ids_out,
                    size_t *count)
{
    const uint8_t *s = (const uint8_t *)text;
    uint8_t *clean = NULL;
    uint32_t *ids = NULL;
    int err = 0;
    size_t total = 0;
    if (!tg_tok__utf8_valid(s, len)) {
        if (len > SIZE_MAX / 3 || !(clean = malloc(len * 3)))
            return TG_TOK_ENOMEM;
        len = tg_tok__utf8_sanitize(s, len, clean);
        s = clean;
    }
    if (ids_out && len) {
        if (len > SIZE_MAX / sizeof(*ids) || !(ids = malloc(len * sizeof(*ids)))) {
            err = TG_TOK_ENOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < len;) {
        size_t e = t->next(s, len, i);
        total += piece(t, s + i, e - i, ids ? ids + total : NULL, &err);
        if (err)
            goto out;
        i = e;
    }
    if (ids_out) {
        *ids_out = ids;
        ids = NULL;
    }
    *count = total;
out:
    free(ids);
    free(clean);
    return err;
}

size_t tg_tok_count(const tg_tok_t *t, const char *text, size_t len)
{
    size_t n = 0;
    if (run_text(t, text, len, NULL, &n) != 0)
        return TG_TOK_COUNT_ERR;
    return n;
}

int tg_tok_encode(const tg_tok_t *t, const char *text, size_t len, uint32_t **ids, size_t *n)
{
    uint32_t *v = NULL;
    size_t k = 0;
    int rc = run_text(t, text, len, &v, &k);
    if (rc != 0)
        return rc;
    if (k == 0) {
        free(v);
        v = NULL;
    }
    *ids = v;
    *n = k;
    return 0;
}
