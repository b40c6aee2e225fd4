/* Incremental parser for Server-Sent Events (text/event-stream). Bytes come in arbitrary
 * pieces; each complete event's `data:` lines and `event:` lines are handed to callbacks.
 * Bounded: an unfinished event may buffer at most max_event bytes (the upstream could
 * otherwise grow it without end); complete events are handed over as they are. */
#ifndef TG_CORE_SSE_H
#define TG_CORE_SSE_H

#include <stddef.h>

struct evbuffer;

typedef struct {
    /* The payload of one `data:` line (one leading space removed), writable in place. */
    void (*on_data)(void *arg, char *data, size_t len);
    /* An `event:` line, whole (optional). */
    void (*on_event)(void *arg, const char *line, size_t len);
} tg_sse_cbs_t;

typedef struct {
    struct evbuffer *buf; /* the unfinished event */
    size_t max_event;
} tg_sse_t;

int tg_sse_init(tg_sse_t *s, size_t max_event);
void tg_sse_dispose(tg_sse_t *s);
/* Feeds bytes; final: the stream ended, so a trailing event without its blank line counts.
 * Returns 0, or -1 when an unfinished event exceeds max_event. */
int tg_sse_feed(tg_sse_t *s, const char *p, size_t n, int final, const tg_sse_cbs_t *cbs,
                void *arg);

#endif
