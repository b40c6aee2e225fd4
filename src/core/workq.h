/* A small thread pool for work that must not run on an event loop (password hashing): the
 * work runs on a pool thread, then its completion runs on the loop that submitted it. */
#ifndef TG_CORE_WORKQ_H
#define TG_CORE_WORKQ_H

#include <stddef.h>

struct event_base;
typedef struct tg_workq tg_workq_t;

tg_workq_t *tg_workq_new(int threads, size_t max_queued);
/* Runs work(arg) on a pool thread, then done(arg) on `base`'s loop. Returns -1 (and runs
 * nothing) when max_queued jobs are already waiting. */
int tg_workq_submit(tg_workq_t *q, struct event_base *base, void (*work)(void *),
                    void (*done)(void *), void *arg);
/* Finishes the queued work and joins the threads; the loops must still be running or their
 * completions are dropped with them. NULL-tolerant. */
void tg_workq_free(tg_workq_t *q);

#endif
