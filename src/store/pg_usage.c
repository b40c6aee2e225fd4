/* PostgreSQL backend, usage (store/usage.h): being written. */
#include "store/pg_int.h"

const struct tg_store_usage tg_pg__usage = {0};
