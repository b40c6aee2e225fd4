/* Inside src/shared/: what redis.c gives counters.c. */
#ifndef TG_SHARED_INT_H
#define TG_SHARED_INT_H

#include "shared/shared.h"

#include <hiredis/hiredis.h>
#include <stddef.h>

enum { SCRIPT_ADMIT, SCRIPT_SETTLE, SCRIPT_GRANT_CLAIM, SCRIPT_GRANT_DONE, SCRIPT_BALANCE,
       SCRIPT_HEARTBEAT, SCRIPT_SWEEP, SCRIPT__N };

/* Key names: the prefix then the parts, e.g. key(buf, "a:", org, NULL). */
char *tg_shared__key(char *buf, size_t cap, const char *a, const char *b, const char *c);

/* Runs a script on sc with KEYS argv[0..nkeys) and ARGV the rest. cb gets the reply (NULL:
 * no answer: the connection failed or timed out; an error reply is passed as is). Returns
 * -1 when sc is not connected now (cb never runs). */
typedef void (*tg_shared_reply_cb)(void *arg, redisReply *r);
int tg_shared__eval(tg_shared_conn_t *sc, int script, int nkeys, int argc, const char **argv,
                    tg_shared_reply_cb cb, void *arg);

/* Synchronous: a script (or, script < 0, a command) on the shared synchronous connection;
 * NULL when Redis did not answer (free the reply with freeReplyObject). */
redisReply *tg_shared__call(int script, int nkeys, int argc, const char **argv);

/* The readiness mark's value now: it changes with every rebuild of Redis from the store. */
void tg_shared__epoch(char out[40]);

/* The settlements that must still reach Redis, per connection (counters.c). */
void tg_shared__retry(tg_shared_conn_t *sc);
void tg_shared__retry_free(tg_shared_conn_t *sc);
void **tg_shared__retry_slot(tg_shared_conn_t *sc);

extern const char tg_shared_scripts_lua[]; /* scripts.lua, embedded by the build */

#endif
