/* PostgreSQL backend, accounts (store/accounts.h): being written. */
#include "store/pg_int.h"

const struct tg_store_accounts tg_pg__accounts = {0};
