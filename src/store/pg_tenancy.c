/* PostgreSQL backend, tenancy (store/tenancy.h): being written. */
#include "store/pg_int.h"

const struct tg_store_tenancy tg_pg__tenancy = {0};
