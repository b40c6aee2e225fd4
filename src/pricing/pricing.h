/* Model prices and the one rounding rule. Prices are integers: nano-dollars (10^-9 USD) per
 * 1M tokens. A request's cost is
 *     ceil((uncached_input × input_price + cached × cached_price + output × output_price) / 10^6)
 * nano-dollars: summed exactly in 128-bit integers, then rounded up once, so a request is
 * never charged less than its exact cost and never more than one nano-dollar above it. */
#ifndef TG_PRICING_H
#define TG_PRICING_H

#include "store/store.h"

#include <stdint.h>

int64_t tg_price_cost(const tg_model_row_t *m, int64_t input_tokens, int64_t cached_tokens,
                      int64_t output_tokens);

/* Loads the shipped model table (JSON, see data/README.md). Returns 0 and a malloc'd array. */
int tg_pricing_load_file(const char *path, tg_model_row_t **rows, size_t *n);

/* Finds a data file shipped with Tollgate: beside the binary (../data/NAME, ../share/tollgate/
 * NAME) — never the working directory. Returns 0 with the path in out. */
int tg_data_path(const char *name, char *out, size_t cap);

#endif
