#include "core/workq.h"

#include "core/log.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>

typedef struct job {
    struct job *next;
    struct event_base *base;
    void (*work)(void *);
    void (*done)(void *);
    void *arg;
} job_t;

struct tg_workq {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_t *head, *tail;
    size_t queued, max_queued;
    int stopping, nthreads;
    pthread_t *threads;
};

static void run_done(evutil_socket_t fd, short what, void *p)
{
    job_t *j = p;
    j->done(j->arg);
    free(j);
}

static void *worker(void *p)
{
    tg_workq_t *q = p;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (!q->head && !q->stopping)
            pthread_cond_wait(&q->cv, &q->mu);
        job_t *j = q->head;
        if (!j) {
            pthread_mutex_unlock(&q->mu);
            return NULL;
        }
        q->head = j->next;
        if (!q->head)
            q->tail = NULL;
        q->queued--;
        pthread_mutex_unlock(&q->mu);
        j->work(j->arg);
        if (event_base_once(j->base, -1, EV_TIMEOUT, run_done, j, NULL) != 0) {
            /* out of memory: done() must run on the loop's thread, never here */
            tg_error("workq: cannot hand a job back to its loop; it is dropped");
            free(j);
        }
    }
}

tg_workq_t *tg_workq_new(int threads, size_t max_queued)
{
    tg_workq_t *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->threads = calloc((size_t)threads, sizeof(pthread_t));
    if (!q->threads) {
        free(q);
        return NULL;
    }
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->max_queued = max_queued;
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&q->threads[i], NULL, worker, q) != 0)
            break;
        q->nthreads++;
    }
    if (q->nthreads == 0) {
        tg_workq_free(q);
        return NULL;
    }
    return q;
}

int tg_workq_submit(tg_workq_t *q, struct event_base *base, void (*work)(void *),
                    void (*done)(void *), void *arg)
{
    job_t *j = malloc(sizeof(*j));
    if (!j)
        return -1;
    *j = (job_t){.base = base, .work = work, .done = done, .arg = arg};
    pthread_mutex_lock(&q->mu);
    if (q->queued >= q->max_queued || q->stopping) {
        pthread_mutex_unlock(&q->mu);
        free(j);
        return -1;
    }
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    q->queued++;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

void tg_workq_free(tg_workq_t *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    q->stopping = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    for (int i = 0; i < q->nthreads; i++)
        pthread_join(q->threads[i], NULL);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q->threads);
    free(q);
}
