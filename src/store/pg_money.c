/* PostgreSQL backend, money (store/money.h): being written. */
#include "store/pg_int.h"

const struct tg_store_money tg_pg__money = {0};
