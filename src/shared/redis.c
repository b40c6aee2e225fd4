/* Connections to Redis: asynchronous ones on the worker loops, a synchronous one for the
 * Admin API and the control thread, and a subscriber. See shared.h. */
#include "shared/shared_int.h"

#include "core/log.h"
#include "core/util.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PREFIX "tg:"

static struct {
    int on;
    char host[256];
    int port, db;
    char instance[32];
    struct {
        const char *name;
        char *text;
        size_t len;
        char sha[41];
    } scripts[SCRIPT__N];

    pthread_mutex_t mu; /* sync, sync_gen */
    redisContext *sync;
    int sync_gen;          /* outages when it connected */
    atomic_int outages;    /* failures the control thread saw: a stale socket is dropped */

    tg_store_t *st;
    int (*reload)(tg_store_t *st);
    pthread_t ctl, sub;
    int threads;
    atomic_int stop;
    pthread_mutex_t ctl_mu;
    pthread_cond_t ctl_cv;
    int reload_wanted;
    redisContext *subc;   /* the subscriber's (its fd is shut down to stop it) */
    _Atomic int64_t ok_until; /* mono ms: Redis answered the control thread and is ready */
    atomic_int ready;
    atomic_int want_rebuild;
    char epoch[40]; /* the value of the readiness mark: one per rebuild (under ctl_mu) */
} R = {.mu = PTHREAD_MUTEX_INITIALIZER,
       .ctl_mu = PTHREAD_MUTEX_INITIALIZER,
       .ctl_cv = PTHREAD_COND_INITIALIZER};

static const char *names[SCRIPT__N] = {"admit", "settle", "grant_claim", "grant_done",
                                       "balance", "heartbeat", "sweep"};

static int64_t mono_ms(void) { return (int64_t)(tg_mono_ns() / 1000000); }

int tg_shared_on(void) { return R.on; }
const char *tg_shared_instance(void) { return R.instance; }

char *tg_shared__key(char *buf, size_t cap, const char *a, const char *b, const char *c)
{
    snprintf(buf, cap, PREFIX "%s%s%s", a, b ? b : "", c ? c : "");
    return buf;
}

int tg_shared_config(const char *url, char *err, size_t cap)
{
    const char *p = url;
    if (strncmp(p, "redis://", 8) != 0) {
        snprintf(err, cap, "--redis: expected redis://HOST[:PORT][/DB], got %s", url);
        return -1;
    }
    p += 8;
    size_t hl = strcspn(p, ":/");
    if (hl == 0 || hl >= sizeof(R.host) || strchr(p, '@')) {
        snprintf(err, cap, "--redis: expected redis://HOST[:PORT][/DB] (no user or password "
                           "in this build), got %s", url);
        return -1;
    }
    memcpy(R.host, p, hl);
    R.host[hl] = 0;
    p += hl;
    R.port = 6379;
    R.db = 0;
    char *end;
    if (*p == ':') {
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || v < 1 || v > 65535) {
            snprintf(err, cap, "--redis: bad port in %s", url);
            return -1;
        }
        R.port = (int)v;
        p = end;
    }
    if (*p == '/' && p[1]) {
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end || v < 0 || v > 1000) {
            snprintf(err, cap, "--redis: bad database number in %s", url);
            return -1;
        }
        R.db = (int)v;
    } else if (*p && strcmp(p, "/") != 0) {
        snprintf(err, cap, "--redis: expected redis://HOST[:PORT][/DB], got %s", url);
        return -1;
    }
    R.on = 1;
    return 0;
}

/* ---- scripts ---- */

static int split_scripts(void)
{
    const char *tag = "-- @script ";
    const char *common = NULL, *common_end = NULL;
    const char *p = strstr(tg_shared_scripts_lua, tag);
    while (p) {
        const char *name = p + strlen(tag), *eol = strchr(name, '\n');
        if (!eol)
            return -1;
        const char *body = eol + 1, *next = strstr(body, tag);
        const char *end = next ? next : body + strlen(body);
        size_t nl = (size_t)(eol - name);
        if (nl == 6 && !memcmp(name, "common", 6)) {
            common = body;
            common_end = end;
        } else {
            for (int i = 0; i < SCRIPT__N; i++) {
                if (strlen(names[i]) != nl || memcmp(names[i], name, nl) != 0)
                    continue;
                size_t cl = common ? (size_t)(common_end - common) : 0, bl = (size_t)(end - body);
                char *t = malloc(cl + bl + 1);
                if (!t)
                    return -1;
                memcpy(t, common, cl);
                memcpy(t + cl, body, bl);
                t[cl + bl] = 0;
                R.scripts[i].name = names[i];
                R.scripts[i].text = t;
                R.scripts[i].len = cl + bl;
            }
        }
        p = next;
    }
    for (int i = 0; i < SCRIPT__N; i++)
        if (!R.scripts[i].text)
            return -1;
    return 0;
}

/* ---- the synchronous connection ---- */

static redisContext *connect_sync(void)
{
    struct timeval tv = {1, 0}, cmd = {TG_SHARED_TIMEOUT_MS / 1000,
                                       (TG_SHARED_TIMEOUT_MS % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(R.host, R.port, tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, cmd);
    if (R.db) {
        redisReply *r = redisCommand(c, "SELECT %d", R.db);
        int bad = !r || r->type == REDIS_REPLY_ERROR;
        if (r)
            freeReplyObject(r);
        if (bad) {
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

static redisReply *call_on(redisContext **cp, int script, int nkeys, int argc, const char **argv)
{
    const char *v[40];
    char nk[16];
    int n = 0;
    if (argc > 36)
        return NULL;
    if (!*cp && !(*cp = connect_sync()))
        return NULL;
    if (script >= 0) {
        v[n++] = "EVALSHA";
        v[n++] = R.scripts[script].sha;
        snprintf(nk, sizeof(nk), "%d", nkeys);
        v[n++] = nk;
    }
    for (int i = 0; i < argc; i++)
        v[n++] = argv[i];
    redisReply *r = redisCommandArgv(*cp, n, v, NULL);
    if (r && r->type == REDIS_REPLY_ERROR && script >= 0 && !strncmp(r->str, "NOSCRIPT", 8)) {
        freeReplyObject(r); /* Redis restarted and lost its scripts: load and try again */
        v[0] = "EVAL";
        v[1] = R.scripts[script].text;
        r = redisCommandArgv(*cp, n, v, NULL);
    }
    if (!r) {
        redisFree(*cp);
        *cp = NULL;
    }
    return r;
}

redisReply *tg_shared__call(int script, int nkeys, int argc, const char **argv)
{
    pthread_mutex_lock(&R.mu);
    int gen = atomic_load(&R.outages);
    if (R.sync && R.sync_gen != gen) { /* Redis went away since: a new connection */
        redisFree(R.sync);
        R.sync = NULL;
    }
    if (!R.sync)
        R.sync_gen = gen;
    redisReply *r = call_on(&R.sync, script, nkeys, argc, argv);
    pthread_mutex_unlock(&R.mu);
    return r;
}

static int load_scripts(redisContext **cp)
{
    for (int i = 0; i < SCRIPT__N; i++) {
        const char *argv[3] = {"SCRIPT", "LOAD", R.scripts[i].text};
        redisReply *r = call_on(cp, -1, 0, 3, argv);
        if (!r || r->type != REDIS_REPLY_STRING || r->len != 40) {
            if (r)
                tg_error("redis: cannot load script %s: %s", names[i],
                         r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
            if (r)
                freeReplyObject(r);
            return -1;
        }
        memcpy(R.scripts[i].sha, r->str, 40);
        R.scripts[i].sha[40] = 0;
        freeReplyObject(r);
    }
    return 0;
}

void tg_shared_publish(void)
{
    if (!R.on)
        return;
    const char *argv[3] = {"PUBLISH", PREFIX "changed", R.instance};
    redisReply *r = tg_shared__call(-1, 0, 3, argv);
    if (!r)
        tg_warn("redis: could not tell the other instances of a change (they re-read "
                "everything within 30 s)");
    else
        freeReplyObject(r);
}

int tg_shared_lock(const char *kind, const char *id, int ttl_ms)
{
    char key[320], ttl[16];
    tg_shared__key(key, sizeof(key), "lock:", kind, id);
    snprintf(ttl, sizeof(ttl), "%d", ttl_ms);
    const char *argv[6] = {"SET", key, R.instance, "NX", "PX", ttl};
    redisReply *r = tg_shared__call(-1, 0, 6, argv);
    if (!r)
        return -1;
    int rc = r->type == REDIS_REPLY_STATUS ? 1 : r->type == REDIS_REPLY_NIL ? 0 : -1;
    freeReplyObject(r);
    return rc;
}

void tg_shared_unlock(const char *kind, const char *id)
{
    char key[320];
    tg_shared__key(key, sizeof(key), "lock:", kind, id);
    /* only our own lock: one that expired and was taken by another instance stays */
    const char *argv[5] = {"EVAL", "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                                   "redis.call('DEL', KEYS[1]) end return 1", "1", key, R.instance};
    redisReply *r = tg_shared__call(-1, 0, 5, argv);
    if (r)
        freeReplyObject(r);
}

void tg_shared__epoch(char out[40])
{
    pthread_mutex_lock(&R.ctl_mu);
    memcpy(out, R.epoch, 40);
    pthread_mutex_unlock(&R.ctl_mu);
}

static void set_epoch(const char *e)
{
    pthread_mutex_lock(&R.ctl_mu);
    snprintf(R.epoch, sizeof(R.epoch), "%s", e);
    pthread_mutex_unlock(&R.ctl_mu);
}

void tg_shared_want_rebuild(void) { atomic_store(&R.want_rebuild, 1); }

int tg_shared_ok(void)
{
    return R.on && atomic_load(&R.ready) && mono_ms() < atomic_load(&R.ok_until);
}

/* ---- the asynchronous connections of the worker loops ---- */

struct tg_shared_conn {
    struct event_base *base;
    redisAsyncContext *ac;
    int up;
    struct event *timer;
    int64_t next_try;    /* mono ms of the next connection attempt */
    long pending;        /* commands without an answer */
    int64_t progress_at; /* mono ms of the last answer, or of the first pending command */
    void *retry;         /* counters.c's queue of settlements to apply */
};

typedef struct {
    tg_shared_conn_t *sc;
    tg_shared_reply_cb cb;
    void *arg;
} pending_t;

void **tg_shared__retry_slot(tg_shared_conn_t *sc) { return &sc->retry; }

static void on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    pending_t *p = priv;
    tg_shared_conn_t *sc = p->sc;
    sc->pending--;
    sc->progress_at = mono_ms();
    redisReply *r = reply;
    if (r && r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "NOSCRIPT", 8) && sc->ac == ac) {
        tg_warn("redis: scripts missing (Redis restarted?); reconnecting");
        redisAsyncDisconnect(ac);
    }
    if (p->cb)
        p->cb(p->arg, r);
    free(p);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    tg_shared_conn_t *sc = ac->data;
    if (status != REDIS_OK) {
        sc->ac = NULL; /* hiredis frees it */
        sc->up = 0;
        return;
    }
    sc->up = 1;
    sc->progress_at = mono_ms();
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    tg_shared_conn_t *sc = ac->data;
    if (sc->ac == ac) {
        sc->ac = NULL;
        sc->up = 0;
    }
}

static void send_raw(tg_shared_conn_t *sc, int argc, const char **argv)
{
    pending_t *p = calloc(1, sizeof(*p));
    if (!p)
        return;
    p->sc = sc;
    if (redisAsyncCommandArgv(sc->ac, on_reply, p, argc, argv, NULL) != REDIS_OK) {
        free(p);
        return;
    }
    if (sc->pending++ == 0)
        sc->progress_at = mono_ms();
}

static void connect_async(tg_shared_conn_t *sc)
{
    redisAsyncContext *ac = redisAsyncConnect(R.host, R.port);
    sc->next_try = mono_ms() + 500;
    if (!ac)
        return;
    if (ac->err) {
        redisAsyncFree(ac);
        return;
    }
    ac->data = sc;
    redisLibeventAttach(ac, sc->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    sc->ac = ac;
    /* queued until connected; they run before anything else on this connection */
    if (R.db) {
        char db[16];
        snprintf(db, sizeof(db), "%d", R.db);
        const char *argv[2] = {"SELECT", db};
        send_raw(sc, 2, argv);
    }
    for (int i = 0; i < SCRIPT__N; i++) {
        const char *argv[3] = {"SCRIPT", "LOAD", R.scripts[i].text};
        send_raw(sc, 3, argv);
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    tg_shared_conn_t *sc = arg;
    int64_t now = mono_ms();
    if (!sc->ac && now >= sc->next_try)
        connect_async(sc);
    else if (sc->ac && sc->pending > 0 && now - sc->progress_at > TG_SHARED_TIMEOUT_MS) {
        tg_warn("redis: no answer for %d ms; reconnecting", TG_SHARED_TIMEOUT_MS);
        redisAsyncContext *ac = sc->ac;
        sc->ac = NULL;
        sc->up = 0;
        redisAsyncFree(ac); /* at once: pending callbacks run with no reply (a disconnect
                             * would wait for their replies) */
    }
    if (sc->up && sc->retry)
        tg_shared__retry(sc);
}

tg_shared_conn_t *tg_shared_conn_new(struct event_base *base)
{
    tg_shared_conn_t *sc = calloc(1, sizeof(*sc));
    if (!sc)
        return NULL;
    sc->base = base;
    struct timeval tv = {0, 250000};
    sc->timer = event_new(base, -1, EV_PERSIST, on_tick, sc);
    if (!sc->timer) {
        free(sc);
        return NULL;
    }
    event_add(sc->timer, &tv);
    connect_async(sc);
    return sc;
}

void tg_shared_conn_free(tg_shared_conn_t *sc)
{
    if (!sc)
        return;
    event_free(sc->timer);
    if (sc->ac) {
        redisAsyncContext *ac = sc->ac;
        sc->ac = NULL;
        sc->up = 0;
        redisAsyncFree(ac); /* pending callbacks run with no reply */
    }
    tg_shared__retry_free(sc); /* what is left goes through the synchronous connection */
    free(sc);
}

int tg_shared__eval(tg_shared_conn_t *sc, int script, int nkeys, int argc, const char **argv,
                    tg_shared_reply_cb cb, void *arg)
{
    const char *v[40];
    char nk[16];
    if (argc > 36) {
        tg_error("redis: script %s called with %d arguments (at most 36)", names[script], argc);
        return -1;
    }
    if (!sc || !sc->up || !sc->ac || !tg_shared_ok())
        return -1;
    pending_t *p = calloc(1, sizeof(*p));
    if (!p)
        return -1;
    p->sc = sc;
    p->cb = cb;
    p->arg = arg;
    snprintf(nk, sizeof(nk), "%d", nkeys);
    v[0] = "EVALSHA";
    v[1] = R.scripts[script].sha;
    v[2] = nk;
    memcpy(v + 3, argv, (size_t)argc * sizeof(*argv));
    if (redisAsyncCommandArgv(sc->ac, on_reply, p, argc + 3, v, NULL) != REDIS_OK) {
        free(p);
        return -1;
    }
    if (sc->pending++ == 0)
        sc->progress_at = mono_ms();
    return 0;
}

/* ---- the control thread: lease, sweep, readiness, invalidation ---- */

static void *sub_main(void *arg)
{
    while (!atomic_load(&R.stop)) {
        redisContext *c = connect_sync();
        if (!c) {
            sleep(1);
            continue;
        }
        struct timeval none = {0, 0};
        redisSetTimeout(c, none); /* blocks until a message; stopped by shutdown(fd) */
        pthread_mutex_lock(&R.ctl_mu);
        R.subc = c;
        pthread_mutex_unlock(&R.ctl_mu);
        redisReply *r = redisCommand(c, "SUBSCRIBE " PREFIX "changed");
        if (r)
            freeReplyObject(r);
        /* messages may have been missed while not subscribed: re-read everything */
        pthread_mutex_lock(&R.ctl_mu);
        R.reload_wanted = 1;
        pthread_cond_signal(&R.ctl_cv);
        pthread_mutex_unlock(&R.ctl_mu);
        void *rep;
        while (r && !atomic_load(&R.stop) && redisGetReply(c, &rep) == REDIS_OK) {
            redisReply *m = rep;
            int other = m && m->type == REDIS_REPLY_ARRAY && m->elements == 3 &&
                        m->element[2]->type == REDIS_REPLY_STRING &&
                        strcmp(m->element[2]->str, R.instance) != 0;
            if (m)
                freeReplyObject(m);
            if (other) {
                pthread_mutex_lock(&R.ctl_mu);
                R.reload_wanted = 1;
                pthread_cond_signal(&R.ctl_cv);
                pthread_mutex_unlock(&R.ctl_mu);
            }
        }
        pthread_mutex_lock(&R.ctl_mu);
        R.subc = NULL;
        pthread_mutex_unlock(&R.ctl_mu);
        redisFree(c);
        if (!atomic_load(&R.stop))
            sleep(1);
    }
    return NULL;
}

/* Rebuilds Redis from the store when the readiness mark is missing (Redis started empty,
 * or lost its data), one instance at a time. */
static int check_ready(redisContext **cp)
{
    if (atomic_exchange(&R.want_rebuild, 0)) {
        const char *del[2] = {"DEL", PREFIX "ready"};
        redisReply *d = call_on(cp, -1, 0, 2, del);
        if (!d) {
            atomic_store(&R.want_rebuild, 1);
            return -1;
        }
        freeReplyObject(d);
    }
    const char *ex[2] = {"GET", PREFIX "ready"};
    redisReply *r = call_on(cp, -1, 0, 2, ex);
    if (!r)
        return -1;
    int ready = r->type == REDIS_REPLY_STRING;
    if (ready)
        set_epoch(r->str);
    freeReplyObject(r);
    if (ready) {
        atomic_store(&R.ready, 1);
        return 0;
    }
    atomic_store(&R.ready, 0);
    const char *lk[7] = {"SET", PREFIX "rebuilding", R.instance, "NX", "PX", "60000", NULL};
    r = call_on(cp, -1, 0, 6, lk);
    if (!r)
        return -1;
    int mine = r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    if (!mine)
        return 0; /* another instance is at it */
    tg_info("redis: empty; rebuilding the shared counters from the store");
    int rc = tg_shared__rebuild(R.st);
    char epoch[32];
    tg_random_id(epoch, "e", 24);
    const char *done[3] = {"SET", PREFIX "ready", epoch};
    const char *unlock[2] = {"DEL", PREFIX "rebuilding"};
    if (rc == 0 && (r = tg_shared__call(-1, 0, 3, done)) != NULL) {
        freeReplyObject(r);
        set_epoch(epoch);
        atomic_store(&R.ready, 1);
        tg_info("redis: shared counters rebuilt");
    } else {
        tg_error("redis: rebuilding the shared counters failed; retrying");
        rc = -1;
    }
    if ((r = tg_shared__call(-1, 0, 2, unlock)) != NULL)
        freeReplyObject(r);
    return rc;
}

static void *ctl_main(void *arg)
{
    redisContext *c = NULL;
    char lease[16];
    snprintf(lease, sizeof(lease), "%d", TG_SHARED_LEASE_MS);
    int64_t last_sweep = 0, last_refresh = mono_ms(), down_logged = 0, up_since = mono_ms();
    while (!atomic_load(&R.stop)) {
        int64_t now = mono_ms();
        const char *hb[4] = {PREFIX "inst", R.instance, lease};
        redisReply *r = call_on(&c, SCRIPT_HEARTBEAT, 1, 3, hb);
        int ok = r && r->type == REDIS_REPLY_INTEGER;
        if (r && r->type == REDIS_REPLY_ERROR)
            tg_error("redis: heartbeat: %s", r->str);
        if (r)
            freeReplyObject(r);
        if (ok && check_ready(&c) < 0)
            ok = 0;
        if (!ok) {
            up_since = -1;
            atomic_fetch_add(&R.outages, 1);
        }
        else if (up_since < 0)
            up_since = now;
        /* sweep only after a whole lease in contact: after an outage every lease has run
         * out, and the other instances must first get the chance to renew theirs */
        if (ok && now - last_sweep >= 5000 && now - up_since >= TG_SHARED_LEASE_MS) {
            last_sweep = now;
            const char *sw[3] = {PREFIX "inst", PREFIX "rv", PREFIX};
            r = call_on(&c, SCRIPT_SWEEP, 2, 3, sw);
            if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                r->element[0]->integer > 0)
                tg_warn("redis: gave back %lld reservations (%s nano-dollars) of instances "
                        "whose lease ran out", (long long)r->element[0]->integer,
                        r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str : "?");
            if (r)
                freeReplyObject(r);
        }
        if (ok) {
            atomic_store(&R.ok_until, mono_ms() + 3000);
            if (down_logged)
                tg_info("redis: reachable again");
            down_logged = 0;
        } else if (!down_logged || now - down_logged > 30000) {
            tg_error("redis: %s:%d unreachable; requests that need it are refused (503) "
                     "until it is back", R.host, R.port);
            down_logged = now;
        }
        /* wait a second, or less when another instance changed something */
        pthread_mutex_lock(&R.ctl_mu);
        if (!R.reload_wanted && !atomic_load(&R.stop)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&R.ctl_cv, &R.ctl_mu, &ts);
        }
        int want = R.reload_wanted;
        R.reload_wanted = 0;
        pthread_mutex_unlock(&R.ctl_mu);
        if ((want || mono_ms() - last_refresh >= 30000) && R.reload && !atomic_load(&R.stop)) {
            last_refresh = mono_ms(); /* the safety net: a full re-read every 30 s */
            if (R.reload(R.st) < 0)
                tg_warn("redis: re-reading the catalog after a change failed; retrying in 30 s");
        }
    }
    /* stopping: this instance's reservations go back now, not after the lease */
    if (c) {
        const char *hb[4] = {PREFIX "inst", R.instance, "-100000"};
        redisReply *r = call_on(&c, SCRIPT_HEARTBEAT, 1, 3, hb);
        if (r)
            freeReplyObject(r);
        const char *sw[3] = {PREFIX "inst", PREFIX "rv", PREFIX};
        if ((r = call_on(&c, SCRIPT_SWEEP, 2, 3, sw)))
            freeReplyObject(r);
        redisFree(c);
    }
    return NULL;
}

int tg_shared_start(tg_store_t *st, int (*reload)(tg_store_t *st))
{
    if (!R.on)
        return 0;
    tg_random_id(R.instance, "i", 16);
    if (split_scripts() < 0) {
        tg_error("redis: the embedded scripts are malformed");
        return -1;
    }
    R.st = st;
    R.reload = reload;
    pthread_mutex_lock(&R.mu);
    int rc = load_scripts(&R.sync);
    pthread_mutex_unlock(&R.mu);
    if (rc < 0) {
        tg_error("redis: cannot reach %s:%d", R.host, R.port);
        return -1;
    }
    redisContext *c = NULL;
    const char *hb[4] = {PREFIX "inst", R.instance, "20000"};
    redisReply *r = call_on(&c, SCRIPT_HEARTBEAT, 1, 3, hb);
    if (r)
        freeReplyObject(r);
    /* wait (up to a minute) for the shared counters to be there: rebuilt by this instance
     * or by another one that is at it */
    for (int i = 0; i < 600 && !atomic_load(&R.ready); i++) {
        if (check_ready(&c) < 0 && i > 10)
            break;
        if (!atomic_load(&R.ready))
            usleep(100000);
    }
    if (c)
        redisFree(c);
    if (!atomic_load(&R.ready)) {
        tg_error("redis: the shared counters could not be made ready");
        return -1;
    }
    atomic_store(&R.ok_until, mono_ms() + 3000);
    if (pthread_create(&R.ctl, NULL, ctl_main, NULL) != 0)
        return -1;
    if (pthread_create(&R.sub, NULL, sub_main, NULL) != 0) {
        atomic_store(&R.stop, 1);
        pthread_join(R.ctl, NULL);
        return -1;
    }
    R.threads = 1;
    tg_info("redis: shared counters on %s:%d/%d (instance %s)", R.host, R.port, R.db,
            R.instance);
    return 0;
}

void tg_shared_stop(void)
{
    if (!R.on)
        return;
    if (R.threads) {
        atomic_store(&R.stop, 1);
        pthread_mutex_lock(&R.ctl_mu);
        pthread_cond_signal(&R.ctl_cv);
        if (R.subc)
            shutdown(R.subc->fd, SHUT_RDWR);
        pthread_mutex_unlock(&R.ctl_mu);
        pthread_join(R.sub, NULL);
        pthread_join(R.ctl, NULL);
        R.threads = 0;
    }
    pthread_mutex_lock(&R.mu);
    if (R.sync)
        redisFree(R.sync);
    R.sync = NULL;
    pthread_mutex_unlock(&R.mu);
    for (int i = 0; i < SCRIPT__N; i++) {
        free(R.scripts[i].text);
        R.scripts[i].text = NULL;
    }
}
