/* Tokenizer benchmark, C side: tokens/s of tg_tok_count over the corpus that
 * tools/tokenizer/gen_corpus.mjs writes. bench/tokenizer/run.sh runs it beside bench.mjs
 * (js-tiktoken on the same corpus) and prints the ratio.
 *
 * Usage: bench CORPUS_DIR [DATA_DIR] [SECONDS] [SUBSET...]
 * SUBSET: all, typical (all but the long_pieces category), code, or a category name; the
 * default is all typical english chinese code.
 * Prints one line per (encoding, subset): "RESULT c ENC SUBSET STRINGS BYTES TOKENS SEC_PER_PASS",
 * the best of the passes made in SECONDS (default 2) per subset, plus the load times and a
 * two-thread line (the same work split over two threads). */
#include "tokenizer/tokenizer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    uint32_t cat, len;
    const char *s;
} item_t;

static item_t *items;
static uint32_t n_items;
static char **cats;
static uint32_t n_cats;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int load_corpus(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/corpus.bin", dir);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench: cannot open %s\n", path);
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n || n < 16 || memcmp(b, "TGCORP1\n", 8)) {
        fprintf(stderr, "bench: bad %s\n", path);
        fclose(f);
        return -1;
    }
    fclose(f);
    size_t p = 8;
    n_cats = rd32(b + p);
    p += 4;
    cats = calloc(n_cats, sizeof(*cats));
    for (uint32_t i = 0; i < n_cats; i++) {
        uint32_t l = rd32(b + p);
        cats[i] = strndup((const char *)b + p + 4, l);
        p += 4 + l;
    }
    n_items = rd32(b + p);
    p += 4;
    items = calloc(n_items, sizeof(*items));
    for (uint32_t i = 0; i < n_items; i++) {
        items[i].cat = rd32(b + p);
        items[i].len = rd32(b + p + 4);
        items[i].s = (const char *)b + p + 8;
        p += 8 + items[i].len;
    }
    return 0; /* b stays alive for the process */
}

/* Subsets: everything; everything but the deliberately long pieces; a few kinds of text. */
static const char *default_subsets[] = {"all", "typical", "english", "chinese", "code"};

static int in_subset(const char *subset, const char *cat)
{
    if (strcmp(subset, "all") == 0)
        return 1;
    if (strcmp(subset, "typical") == 0)
        return strcmp(cat, "long_pieces") != 0;
    if (strcmp(subset, "code") == 0)
        return strncmp(cat, "code_", 5) == 0;
    return strcmp(subset, cat) == 0;
}

typedef struct {
    const tg_tok_t *t;
    const item_t **v;
    size_t n;
    size_t tokens;
} job_t;

static void *run_job(void *arg)
{
    job_t *j = arg;
    size_t tokens = 0;
    for (size_t i = 0; i < j->n; i++)
        tokens += tg_tok_count(j->t, j->v[i]->s, j->v[i]->len);
    j->tokens = tokens;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench CORPUS_DIR [DATA_DIR] [SECONDS]\n");
        return 2;
    }
    const char *data = argc > 2 ? argv[2] : "data/tokenizer";
    double budget = argc > 3 ? atof(argv[3]) : 2.0;
    const char **subsets = default_subsets;
    size_t n_subsets = sizeof(default_subsets) / sizeof(default_subsets[0]);
    if (argc > 4) {
        subsets = (const char **)(argv + 4);
        n_subsets = (size_t)(argc - 4);
    }
    if (load_corpus(argv[1]) < 0)
        return 2;
    static const char *encs[] = {"cl100k_base", "o200k_base"};
    const item_t **sel = calloc(n_items, sizeof(*sel));
    for (int e = 0; e < 2; e++) {
        char path[4096];
        tg_tok_t *t;
        snprintf(path, sizeof(path), "%s/%s.tgbpe", data, encs[e]);
        double best_load = 1e9;
        for (int k = 0; k < 5; k++) {
            double t0 = now();
            if (tg_tok_load_file(path, &t) != 0) {
                fprintf(stderr, "bench: cannot load %s\n", path);
                return 2;
            }
            double dt = now() - t0;
            if (dt < best_load)
                best_load = dt;
            if (k < 4)
                tg_tok_free(t);
        }
        printf("LOAD c %s %.2f\n", encs[e], best_load * 1e3);
        for (size_t s = 0; s < n_subsets; s++) {
            size_t n = 0, bytes = 0;
            for (uint32_t i = 0; i < n_items; i++) {
                if (in_subset(subsets[s], cats[items[i].cat])) {
                    sel[n++] = &items[i];
                    bytes += items[i].len;
                }
            }
            job_t j = {t, sel, n, 0};
            run_job(&j); /* warm-up */
            double best = 1e9, start = now();
            int passes = 0;
            while (passes < 3 || now() - start < budget) {
                double t0 = now();
                run_job(&j);
                double dt = now() - t0;
                if (dt < best)
                    best = dt;
                passes++;
            }
            printf("RESULT c %s %s %zu %zu %zu %.6f\n", encs[e], subsets[s], n, bytes, j.tokens,
                   best);
            if (strcmp(subsets[s], "typical") == 0) { /* on two threads: both halves at once */
                job_t h[2] = {{t, sel, n / 2, 0}, {t, sel + n / 2, n - n / 2, 0}};
                pthread_t th;
                double best2 = 1e9;
                start = now();
                passes = 0;
                while (passes < 3 || now() - start < budget) {
                    double t0 = now();
                    pthread_create(&th, NULL, run_job, &h[1]);
                    run_job(&h[0]);
                    pthread_join(th, NULL);
                    double dt = now() - t0;
                    if (dt < best2)
                        best2 = dt;
                    passes++;
                }
                printf("RESULT c2 %s %s %zu %zu %zu %.6f\n", encs[e], subsets[s], n, bytes,
                       h[0].tokens + h[1].tokens, best2);
            }
        }
        tg_tok_free(t);
    }
    return 0;
}
