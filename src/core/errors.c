#include "core/errors.h"

static const tg_err_info_t table[TG_E__COUNT] = {
    [TG_OK] = {"OK", 500, "server_error", NULL, "No error."},
#define X(name, status, type, code, msg) [TG_E_##name] = {#name, status, type, code, msg},
    TG_ERR_MAP(X)
#undef X
};

const tg_err_info_t *tg_err_info(tg_err_t err)
{
    if ((int)err <= 0 || err >= TG_E__COUNT)
        return &table[TG_E_INTERNAL];
    return &table[err];
}
