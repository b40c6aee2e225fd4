/* PostgreSQL backend, payments (store/payments.h): being written. */
#include "store/pg_int.h"

const struct tg_store_payments tg_pg__payments = {0};
