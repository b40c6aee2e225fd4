/* Payments (payment methods, top-ups, auto-recharge, invoices): not built yet; these routes
 * answer 404 unknown_url. */
#include "api/api_int.h"

void tg_api_payments(tg_call_t *c, const char *what, size_t len, const char *id, size_t idlen,
                     int nsegs)
{
    tg_call_unknown_url(c);
}
