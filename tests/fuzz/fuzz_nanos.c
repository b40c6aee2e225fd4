/* libFuzzer: decimal money parsing. Checks: every accepted string formats back to a string
 * that parses to the same value (no silent rounding, no overflow). */
#include "core/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t v, w;
    char buf[32];
    if (tg_parse_nanos((const char *)data, size, &v) != 0)
        return 0;
    if (v < 0)
        abort();
    tg_format_nanos(v, buf);
    if (tg_parse_nanos(buf, strlen(buf), &w) != 0 || w != v)
        abort();
    return 0;
}
