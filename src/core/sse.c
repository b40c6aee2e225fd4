#include "core/sse.h"

#include <event2/buffer.h>
#include <string.h>

int tg_sse_init(tg_sse_t *s, size_t max_event)
{
    s->buf = evbuffer_new();
    s->max_event = max_event;
    return s->buf ? 0 : -1;
}

void tg_sse_dispose(tg_sse_t *s)
{
    if (s->buf)
        evbuffer_free(s->buf);
    s->buf = NULL;
}

static void event(char *ev, size_t len, const tg_sse_cbs_t *cbs, void *arg)
{
    char *p = ev, *end = ev + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        size_t ll = (size_t)(le - p);
        if (ll && p[ll - 1] == '\r')
            ll--;
        if (ll >= 5 && memcmp(p, "data:", 5) == 0) {
            char *d = p + 5;
            size_t dl = ll - 5;
            if (dl && *d == ' ')
                d++, dl--;
            cbs->on_data(arg, d, dl);
        } else if (ll >= 6 && memcmp(p, "event:", 6) == 0 && cbs->on_event) {
            cbs->on_event(arg, p, ll);
        } /* comments (":…"), id: and retry: lines are dropped */
        p = le + 1;
    }
}

int tg_sse_feed(tg_sse_t *s, const char *p, size_t n, int final, const tg_sse_cbs_t *cbs,
                void *arg)
{
    if (n)
        evbuffer_add(s->buf, p, n);
    size_t len = evbuffer_get_length(s->buf);
    char *buf = (char *)evbuffer_pullup(s->buf, (ssize_t)len);
    size_t pos = 0, start = 0;

    while (pos < len) {
        char *nl = memchr(buf + pos, '\n', len - pos);
        if (!nl)
            break;
        size_t le = (size_t)(nl - buf), ll = le - pos;
        if (ll && buf[le - 1] == '\r')
            ll--;
        if (ll == 0) { /* a blank line ends the event */
            if (le > start)
                event(buf + start, le - start, cbs, arg);
            start = le + 1;
        }
        pos = le + 1;
    }
    if (final && start < len) {
        event(buf + start, len - start, cbs, arg);
        start = len;
    }
    evbuffer_drain(s->buf, start);
    return evbuffer_get_length(s->buf) > s->max_event ? -1 : 0;
}
