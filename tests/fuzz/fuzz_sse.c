/* libFuzzer: the upstream SSE parser, fed the input in pieces whose sizes come from the
 * input itself. Checks: no crash, no out-of-bounds (ASan), payloads lie inside the data. */
#include "core/sse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t total;

static void on_data(void *arg, char *d, size_t n)
{
    total += n;
    if (n)
        d[0] ^= 1; /* payloads are writable in place */
}

static void on_event(void *arg, const char *l, size_t n) { total += n; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const tg_sse_cbs_t cbs = {on_data, on_event};
    tg_sse_t s;
    size_t pos = 0, step = size ? (size_t)data[0] % 17 + 1 : 1;
    if (tg_sse_init(&s, 4096) < 0)
        return 0;
    while (pos < size) {
        size_t n = size - pos < step ? size - pos : step;
        if (tg_sse_feed(&s, (const char *)data + pos, n, 0, &cbs, NULL) < 0)
            break;
        pos += n;
    }
    tg_sse_feed(&s, NULL, 0, 1, &cbs, NULL);
    tg_sse_dispose(&s);
    return 0;
}
