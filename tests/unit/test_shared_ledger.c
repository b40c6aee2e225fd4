/* The shared counters held to the in-memory ledger (SPEC.md §6). billing/ledger.h states the
 * money rules; src/shared/scripts.lua is their Redis twin, used when several instances run.
 * This test starts a private redis-server on a free port (it fails, never skips, when
 * /usr/bin/redis-server is missing) and gives two customer organisations the same history:
 *
 *   org L on the in-memory ledger (no remote): tg_ledger_reserve / tg_ledger_settle;
 *   org S on the shared counters (tg_shared_ledger as the ledger's remote for grants,
 *         balances and limits; tg_shared_admit / tg_shared_settle / tg_shared_release on a
 *         libevent loop, as the gate calls them).
 *
 * A seeded random sequence of grants (promotional, operator and purchased; no expiry, expired,
 * expiring later, expiring during the run; some rolled back), reservations (against credit,
 * the organisation's hard limit, a project's hard limit and the tier's cap), settlements
 * (cost 0, below, equal to and above the reservation, negative) and releases. After every
 * step both must agree on:
 *   - the admission: admitted, or which refusal, and what was left under the refusing limit;
 *   - each settlement: what was charged, which grants paid (mapped by creation order: the
 *     ids differ), in which order and how much, and the overdraft part;
 *   - each grant: what it paid of the overdraft when it was made;
 *   - the balance (available, reserved, granted, used, overdraft), every grant's consumed,
 *     the month spend of the organisation and of each project, and the hard limits.
 * Every charge is written to the store as the usage writer does (tg_usage_apply_charges); at
 * the end Redis is rebuilt from that store, then the memory ledger is reloaded from it, and
 * both must still agree.
 *
 * A second test: grants made in the same second with the same expiry and kind pay in the
 * order they were granted ("then the oldest", as the memory ledger and the store's order
 * have it).
 *
 * The seed is printed; TG_SHARED_SEED=N replays a run. Phase 3 waits for whole seconds of
 * the clock, so that grants expire between two known steps (Redis and the ledger read the
 * same clock: TIME and time()). */
#include "billing/ledger.h"
#include "billing/usage.h"
#include "core/log.h"
#include "core/util.h"
#include "shared/shared.h"
#include "shared/shared_int.h" /* tg_shared__epoch: to see a rebuild of Redis finish */
#include "store/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "db_fixture.h"

#define REDIS_BIN "/usr/bin/redis-server"
#define DEFAULT_SEED 20260611u
#define CENT TG_NANOS_PER_CENT
#define SLOTS 6
#define MAXG 400
#define NPROJ 2
#define TRACE 16

static const char *projects[NPROJ] = {"x", "y"}; /* project "proj-TAG-L-x" etc. */

/* ---- a private redis-server ---- */

static pid_t redis_pid = -1;
static int redis_port;

static int64_t mono_ms(void) { return (int64_t)(tg_mono_ns() / 1000000); }

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* 1 when a PING on 127.0.0.1:port gets +PONG */
static int redis_answers(int port)
{
    struct sockaddr_in a;
    struct timeval tv = {0, 200000};
    char buf[16] = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok = 0;
    if (fd < 0)
        return 0;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && write(fd, "PING\r\n", 6) == 6 &&
        read(fd, buf, sizeof(buf) - 1) >= 5)
        ok = strncmp(buf, "+PONG", 5) == 0;
    close(fd);
    return ok;
}

/* Stops the server this test started (by its pid), and reaps it. */
static void redis_kill(void)
{
    if (redis_pid <= 0)
        return;
    pid_t pid = redis_pid;
    redis_pid = -1;
    kill(pid, SIGTERM);
    for (int i = 0; i < 300; i++) { /* 3 s, then SIGKILL */
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static int redis_start(void)
{
    if (access(REDIS_BIN, X_OK) != 0) {
        fprintf(stderr, "test_shared_ledger: %s is missing: this test needs a redis-server "
                        "(Debian package redis-server; `make test-deps` installs it)\n",
                REDIS_BIN);
        return -1;
    }
    for (int attempt = 0; attempt < 5; attempt++) {
        int port = free_port();
        if (port <= 0)
            continue;
        char ps[16];
        snprintf(ps, sizeof(ps), "%d", port);
        pid_t parent = getpid();
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0)
            return -1;
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives the test, even a crashed one */
            if (getppid() != parent)
                _exit(127);
            int nul = open("/dev/null", O_RDWR);
            if (nul >= 0) {
                dup2(nul, 0);
                dup2(nul, 1);
                dup2(nul, 2);
            }
            execl(REDIS_BIN, "redis-server", "--port", ps, "--bind", "127.0.0.1", "--save", "",
                  "--appendonly", "no", "--dir", "/tmp", (char *)NULL);
            _exit(127);
        }
        redis_pid = pid;
        for (int64_t end = mono_ms() + 5000; mono_ms() < end;) {
            int status;
            if (waitpid(pid, &status, WNOHANG) == pid) { /* exited: the port was taken? */
                redis_pid = -1;
                break;
            }
            if (redis_answers(port)) {
                redis_port = port;
                return 0;
            }
            usleep(20000);
        }
        redis_kill();
    }
    fprintf(stderr, "test_shared_ledger: %s did not start (5 attempts)\n", REDIS_BIN);
    return -1;
}

/* ---- the store, the shared counters and the loop ---- */

static tg_test_db_t db;
static struct event_base *base;
static tg_shared_conn_t *sc;
static int shared_started;

static int group_setup(void **state)
{
    (void)state;
    char url[64], err[256];
    tg_log_level = TG_LOG_WARN;
    if (redis_start() < 0)
        return -1;
    atexit(redis_kill);
    if (tg_test_db_open(&db, "shared") != 0) {
        fprintf(stderr, "test_shared_ledger: cannot make the store\n");
        return -1;
    }
    tg_ledger_set_remote(NULL);
    tg_ledger_shutdown();
    if (tg_ledger_load(db.st) != 0) /* the memory ledger from the (empty) store */
        return -1;
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", redis_port);
    if (tg_shared_config(url, err, sizeof(err)) < 0) {
        fprintf(stderr, "test_shared_ledger: %s\n", err);
        return -1;
    }
    if (tg_shared_start(db.st, NULL) < 0) { /* rebuilt from the store: empty */
        fprintf(stderr, "test_shared_ledger: tg_shared_start failed on %s\n", url);
        return -1;
    }
    shared_started = 1;
    base = event_base_new();
    sc = base ? tg_shared_conn_new(base) : NULL;
    return sc ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    if (sc)
        tg_shared_conn_free(sc);
    sc = NULL;
    if (shared_started)
        tg_shared_stop();
    if (base)
        event_base_free(base);
    base = NULL;
    redis_kill();
    tg_ledger_set_remote(NULL);
    tg_ledger_shutdown();
    return tg_test_db_close(&db);
}

/* ---- one run: two organisations with one history ---- */

typedef struct {
    int used;
    int proj; /* index in projects */
    int64_t amount;
    tg_reservation_t r;  /* L */
    tg_shared_hold_t h;  /* S */
} slot_t;

typedef struct {
    char l[TG_ID_MAX], s[TG_ID_MAX];
    int64_t amount, expires_at, granted_at;
} gpair_t;

typedef struct {
    unsigned seed;
    int step;
    const char *phase;
    char org_l[TG_ID_MAX], org_s[TG_ID_MAX];
    char proj[2][NPROJ][TG_ID_MAX]; /* a project id is one organisation's (L 0, S 1) */
    tg_org_row_t row_l, row_s;
    gpair_t g[MAXG];
    int ng;
    slot_t slot[SLOTS];
    int64_t fut[4]; /* future expiries shared by several grants (the kind and age rules) */
    int limit_set, plimit_set, no_month;
    char trace[TRACE][240];
    int ntrace;
    /* coverage */
    long admitted, refused[5], left_pos, settles, charged_multi, overdrafts, capped, releases,
        grants, rollbacks, paid_overdraft, expired_in_run;
} run_t;

static void side_l(void) { tg_ledger_set_remote(NULL); }
static void side_s(void) { tg_ledger_set_remote(&tg_shared_ledger); }

static void note(run_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(run_t *r, const char *fmt, ...)
{
    va_list ap;
    char *t = r->trace[r->ntrace++ % TRACE];
    int k = snprintf(t, sizeof(r->trace[0]), "[%s step %d] ", r->phase, r->step);
    va_start(ap, fmt);
    vsnprintf(t + k, sizeof(r->trace[0]) - (size_t)k, fmt, ap);
    va_end(ap);
}

static void dump_trace(const run_t *r)
{
    int from = r->ntrace > TRACE ? r->ntrace - TRACE : 0;
    printf("[ trace    ] the last steps (seed %u):\n", r->seed);
    for (int i = from; i < r->ntrace; i++)
        printf("[ trace    ]   %s\n", r->trace[i % TRACE]);
    fflush(stdout);
}

static void disagree(run_t *r, const char *what, int64_t l, int64_t s)
{
    dump_trace(r);
    fail_msg("seed %u, %s step %d: %s: in-memory ledger %lld, shared counters %lld "
             "(TG_SHARED_SEED=%u replays)", r->seed, r->phase, r->step, what, (long long)l,
             (long long)s, r->seed);
}

#define AGREE(r, what, l, s)                                                                   \
    do {                                                                                       \
        int64_t l_ = (int64_t)(l), s_ = (int64_t)(s);                                          \
        if (l_ != s_)                                                                          \
            disagree((r), (what), l_, s_);                                                     \
    } while (0)

static void run_fail(run_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void run_fail(run_t *r, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    dump_trace(r);
    fail_msg("seed %u, %s step %d: %s", r->seed, r->phase, r->step, msg);
}

static void run_init(run_t *r, const char *tag, unsigned seed)
{
    memset(r, 0, sizeof(*r));
    r->seed = seed;
    r->phase = "setup";
    snprintf(r->org_l, sizeof(r->org_l), "org-%s-L", tag);
    snprintf(r->org_s, sizeof(r->org_s), "org-%s-S", tag);
    for (int s = 0; s < 2; s++)
        for (int p = 0; p < NPROJ; p++)
            snprintf(r->proj[s][p], sizeof(r->proj[s][p]), "proj-%s-%c-%s", tag, s ? 'S' : 'L',
                     projects[p]);
    r->row_l = tg_test_org_row(r->org_l, 0);
    r->row_s = tg_test_org_row(r->org_s, 0);
    assert_int_equal(db.st->tenancy->org_insert(db.st, &r->row_l), 0);
    assert_int_equal(db.st->tenancy->org_insert(db.st, &r->row_s), 0);
    int64_t now = tg_now();
    r->fut[0] = now + 3600;
    r->fut[1] = now + 7200;
    r->fut[2] = now + 86400;
    r->fut[3] = now + 30 * 86400;
}

/* lo..hi inclusive (hi - lo < 2^62) */
static int64_t rnd(int64_t lo, int64_t hi)
{
    uint64_t x = ((uint64_t)(unsigned)rand() << 31) ^ (uint64_t)(unsigned)rand();
    return lo + (int64_t)(x % (uint64_t)(hi - lo + 1));
}

static int grant_index(const run_t *r, const char *id, int s)
{
    for (int i = 0; i < r->ng; i++)
        if (!strcmp(s ? r->g[i].s : r->g[i].l, id))
            return i;
    return -1;
}

/* ---- the shared side's asynchronous calls ---- */

typedef struct {
    int done;
    tg_shared_verdict_t v;
} admit_wait_t;

typedef struct {
    int done;
    tg_shared_settled_t s;
} settle_wait_t;

static void on_verdict(void *arg, const tg_shared_verdict_t *v)
{
    admit_wait_t *w = arg;
    w->v = *v;
    w->done = 1;
}

static void on_settled(void *arg, tg_shared_settled_t *s)
{
    settle_wait_t *w = arg;
    w->s = *s; /* takes s->charges */
    w->done = 1;
}

static void wait_for(run_t *r, volatile int *flag, const char *what)
{
    int64_t end = mono_ms() + 5000;
    while (!*flag) {
        if (mono_ms() > end)
            run_fail(r, "no answer from Redis within 5 s (%s)", what);
        event_base_loop(base, EVLOOP_ONCE);
    }
}

static void s_admit(run_t *r, tg_shared_hold_t *h, int64_t tier_cap, tg_shared_verdict_t *out)
{
    admit_wait_t w;
    memset(&w, 0, sizeof(w));
    /* the connection connects asynchronously: not connected yet, admit refuses at once */
    int64_t end = mono_ms() + 5000;
    while (tg_shared_admit(sc, h, tier_cap, on_verdict, &w) < 0) {
        if (mono_ms() > end)
            run_fail(r, "tg_shared_admit: Redis not reachable for 5 s");
        event_base_loop(base, EVLOOP_ONCE);
    }
    wait_for(r, &w.done, "an admission");
    if (w.v.rc != 0 && w.v.rc != TG_SHARED_MONEY)
        run_fail(r, "tg_shared_admit answered rc %d (no rate limits were set)", w.v.rc);
    *out = w.v;
}

static void s_settle(run_t *r, const tg_shared_hold_t *h, int64_t cost, tg_shared_settled_t *out)
{
    settle_wait_t w;
    memset(&w, 0, sizeof(w));
    tg_shared_settle(sc, h, cost, 0, on_settled, &w);
    wait_for(r, &w.done, "a settlement");
    if (!w.s.reached) {
        tg_charges_dispose(&w.s.charges);
        run_fail(r, "tg_shared_settle did not reach Redis (recorded as overdraft instead)");
    }
    *out = w.s;
}

/* tg_shared_release answers nothing: a settlement sent after it on the same connection
 * (of a reservation that never was, charging 0) comes back after it. */
static void s_fence(run_t *r)
{
    static int n;
    tg_shared_hold_t f;
    tg_shared_settled_t s;
    memset(&f, 0, sizeof(f));
    snprintf(f.resv_id, sizeof(f.resv_id), "rfence%d", n++);
    snprintf(f.org_id, sizeof(f.org_id), "org-fence");
    snprintf(f.project_id, sizeof(f.project_id), "proj_x");
    snprintf(f.model, sizeof(f.model), "m-shared");
    s_settle(r, &f, 0, &s);
    tg_charges_dispose(&s.charges);
}

static tg_err_t money_err(int e)
{
    switch (e) {
    case 1: return TG_E_CREDIT_EXHAUSTED;
    case 2: return TG_E_USAGE_LIMIT;
    case 3: return TG_E_ORG_SPEND_LIMIT;
    case 4: return TG_E_PROJECT_SPEND_LIMIT;
    default: return TG_E_INTERNAL;
    }
}

static int err_index(tg_err_t e)
{
    return e == TG_E_CREDIT_EXHAUSTED ? 1 : e == TG_E_USAGE_LIMIT ? 2
         : e == TG_E_ORG_SPEND_LIMIT ? 3 : e == TG_E_PROJECT_SPEND_LIMIT ? 4 : 0;
}

/* ---- the steps, on both sides ---- */

static void do_grant(run_t *r, const char *kind, int64_t amount, int64_t expires_at,
                     int64_t granted_at, int commit)
{
    tg_store_t *st = db.st;
    tg_grant_row_t g[2];
    int rc[2];
    assert_true(r->ng < MAXG);
    note(r, "grant %s %lld nanos, expires %lld (now %lld), granted_at %lld%s", kind,
         (long long)amount, (long long)expires_at, (long long)tg_now(), (long long)granted_at,
         commit ? "" : ", rolled back");
    for (int s = 0; s < 2; s++) {
        memset(&g[s], 0, sizeof(g[s]));
        snprintf(g[s].org_id, sizeof(g[s].org_id), "%s", s ? r->org_s : r->org_l);
        snprintf(g[s].kind, sizeof(g[s].kind), "%s", kind);
        g[s].amount = amount;
        g[s].expires_at = expires_at;
        g[s].granted_at = granted_at;
        s ? side_s() : side_l();
        assert_int_equal(st->ops->begin(st), 0);
        rc[s] = tg_ledger_grant_write(st, &g[s]);
        if (rc[s] == 0 && commit) {
            assert_int_equal(st->ops->commit(st), 0);
            tg_ledger_grant_done(&g[s], 1);
        } else {
            assert_int_equal(st->ops->rollback(st), 0);
            if (rc[s] == 0)
                tg_ledger_grant_done(&g[s], 0);
        }
    }
    side_l();
    AGREE(r, "tg_ledger_grant_write's result", rc[0], rc[1]);
    AGREE(r, "the overdraft a new grant pays (its consumed)", g[0].consumed, g[1].consumed);
    if (rc[0] != 0)
        run_fail(r, "tg_ledger_grant_write failed (%d) on both sides", rc[0]);
    if (!commit) {
        r->rollbacks++;
        return;
    }
    gpair_t *p = &r->g[r->ng++];
    memcpy(p->l, g[0].id, TG_ID_MAX);
    memcpy(p->s, g[1].id, TG_ID_MAX);
    p->amount = amount;
    p->expires_at = expires_at;
    p->granted_at = g[0].granted_at;
    r->grants++;
    if (g[0].consumed > 0)
        r->paid_overdraft++;
}

static void do_reserve(run_t *r, slot_t *sl, int p, int64_t amount, int64_t tier_cap)
{
    int64_t left_l = 0;
    tg_shared_verdict_t v;
    note(r, "reserve %lld nanos on %s, tier cap %lld", (long long)amount, projects[p],
         (long long)tier_cap);
    side_l();
    tg_err_t el = tg_ledger_reserve(&r->row_l, r->proj[0][p], amount, tier_cap, &sl->r, &left_l);
    memset(&sl->h, 0, sizeof(sl->h));
    snprintf(sl->h.org_id, sizeof(sl->h.org_id), "%s", r->org_s);
    snprintf(sl->h.project_id, sizeof(sl->h.project_id), "%s", r->proj[1][p]);
    snprintf(sl->h.model, sizeof(sl->h.model), "m-shared");
    sl->h.exempt = 0;
    sl->h.amount = amount;
    sl->h.tokens = 0; /* no rate limits: lo, lp all 0 */
    s_admit(r, &sl->h, tier_cap, &v);
    tg_err_t es = v.rc == 0 ? TG_OK : money_err(v.money_err);
    note(r, "  -> memory %d (left %lld), shared %d (left %lld)", (int)el, (long long)left_l,
         (int)es, (long long)v.left);
    AGREE(r, "admission (0 admitted, else the refusal's tg_err_t)", el, es);
    if (el != TG_OK) {
        AGREE(r, "left under the refusing limit", left_l, v.left);
        r->refused[err_index(el)]++;
        if (left_l > 0)
            r->left_pos++;
        return;
    }
    sl->used = 1;
    sl->proj = p;
    sl->amount = amount;
    r->admitted++;
}

static void compare_charges(run_t *r, int64_t cl, const tg_charges_t *chl,
                            const tg_shared_settled_t *ss)
{
    char what[128];
    AGREE(r, "charged", cl, ss->charged);
    AGREE(r, "the overdraft part of the charge", chl->overdraft, ss->charges.overdraft);
    AGREE(r, "number of grants charged", chl->n, ss->charges.n);
    for (int i = 0; i < chl->n; i++) {
        const tg_charge_t *a = tg_charges_at(chl, i), *b = tg_charges_at(&ss->charges, i);
        int ia = grant_index(r, a->grant_id, 0), ib = grant_index(r, b->grant_id, 1);
        if (ia < 0 || ib < 0)
            run_fail(r, "a charge to an unknown grant (%s / %s)", a->grant_id, b->grant_id);
        snprintf(what, sizeof(what), "charge #%d: the grant charged (by creation order)", i);
        AGREE(r, what, ia, ib);
        snprintf(what, sizeof(what), "charge #%d: the amount charged to grant #%d", i, ia);
        AGREE(r, what, a->amount, b->amount);
    }
}

/* writes the charges to the store, as the usage writer does with a usage record */
static void commit_charges(const char *org, tg_charges_t *ch)
{
    assert_int_equal(db.st->ops->begin(db.st), 0);
    assert_int_equal(tg_usage_apply_charges(db.st, org, ch), 0);
    assert_int_equal(db.st->ops->commit(db.st), 0);
    tg_charges_dispose(ch);
}

static void do_settle(run_t *r, slot_t *sl, int64_t cost)
{
    tg_charges_t chl;
    tg_shared_settled_t ss;
    note(r, "settle a reservation of %lld on %s at cost %lld", (long long)sl->amount, projects[sl->proj],
         (long long)cost);
    side_l();
    int64_t cl = tg_ledger_settle(&sl->r, r->org_l, r->proj[0][sl->proj], cost, &chl);
    s_settle(r, &sl->h, cost, &ss);
    note(r, "  -> memory charged %lld (%d grants, overdraft %lld), shared %lld (%d grants, "
         "overdraft %lld)", (long long)cl, chl.n, (long long)chl.overdraft,
         (long long)ss.charged, ss.charges.n, (long long)ss.charges.overdraft);
    sl->used = 0;
    r->settles++;
    if (chl.n > 1)
        r->charged_multi++;
    if (chl.overdraft > 0)
        r->overdrafts++;
    if (cost > sl->amount)
        r->capped++;
    compare_charges(r, cl, &chl, &ss);
    commit_charges(r->org_l, &chl);
    commit_charges(r->org_s, &ss.charges);
}

static void do_release(run_t *r, slot_t *sl, int via_release)
{
    tg_charges_t chl;
    note(r, "release a reservation of %lld on %s (%s)", (long long)sl->amount, projects[sl->proj],
         via_release ? "tg_shared_release" : "tg_shared_settle at cost 0");
    if (!via_release) {
        do_settle(r, sl, 0);
        r->releases++;
        return;
    }
    side_l();
    int64_t cl = tg_ledger_settle(&sl->r, r->org_l, r->proj[0][sl->proj], 0, &chl);
    tg_shared_release(sc, &sl->h);
    s_fence(r);
    sl->used = 0;
    r->releases++;
    AGREE(r, "charged by a release", cl, 0);
    AGREE(r, "grants charged by a release", chl.n, 0);
    AGREE(r, "overdraft made by a release", chl.overdraft, 0);
    tg_charges_dispose(&chl);
}

static void do_limit(run_t *r, const char *scope_l, const char *scope_s, int64_t cents)
{
    note(r, "hard limit of %s: %lld cents", scope_l, (long long)cents);
    side_l();
    assert_int_equal(tg_ledger_set_limit(db.st, r->org_l, scope_l, cents), 0);
    side_s();
    assert_int_equal(tg_ledger_set_limit(db.st, r->org_s, scope_s, cents), 0);
    side_l();
}

/* p < 0: the organisation's */
static int64_t month_spend(const run_t *r, int s, int p)
{
    s ? side_s() : side_l();
    int64_t v = tg_ledger_month_spend(s ? r->org_s : r->org_l, p < 0 ? NULL : r->proj[s][p]);
    side_l();
    return v;
}

static tg_balance_t balance_of(const run_t *r, int s)
{
    tg_balance_t b;
    s ? side_s() : side_l();
    assert_int_equal(tg_ledger_balance(db.st, s ? r->org_s : r->org_l, &b, NULL, NULL), 0);
    side_l();
    return b;
}

/* Everything both sides must agree on between steps. */
static void check_all(run_t *r)
{
    tg_balance_t b[2];
    tg_grant_row_t *rows[2] = {NULL, NULL};
    size_t n[2] = {0, 0};
    static int64_t cons[2][MAXG];
    char what[128];

    for (int s = 0; s < 2; s++) {
        s ? side_s() : side_l();
        assert_int_equal(tg_ledger_balance(db.st, s ? r->org_s : r->org_l, &b[s], &rows[s],
                                           &n[s]), 0);
        for (int i = 0; i < r->ng; i++)
            cons[s][i] = -1;
        for (size_t k = 0; k < n[s]; k++) {
            int i = grant_index(r, rows[s][k].id, s);
            if (i < 0)
                run_fail(r, "balance lists an unknown grant %s", rows[s][k].id);
            cons[s][i] = rows[s][k].consumed;
        }
        free(rows[s]);
    }
    side_l();
    AGREE(r, "balance: available", b[0].available, b[1].available);
    AGREE(r, "balance: reserved", b[0].reserved, b[1].reserved);
    AGREE(r, "balance: granted", b[0].granted, b[1].granted);
    AGREE(r, "balance: used", b[0].used, b[1].used);
    AGREE(r, "balance: overdraft", b[0].overdraft, b[1].overdraft);
    AGREE(r, "number of grants listed", n[0], n[1]);
    for (int i = 0; i < r->ng; i++) {
        snprintf(what, sizeof(what), "consumed of grant #%d", i);
        AGREE(r, what, cons[0][i], cons[1][i]);
    }
    /* ledger.h: reserved is the sum of the active reservations */
    int64_t held = 0;
    for (int i = 0; i < SLOTS; i++)
        if (r->slot[i].used)
            held += r->slot[i].amount;
    AGREE(r, "reserved (memory) vs the sum of the active reservations", b[0].reserved, held);
    if (!r->no_month) {
        AGREE(r, "month spend of the organisation", month_spend(r, 0, -1),
              month_spend(r, 1, -1));
        for (int p = 0; p < NPROJ; p++) {
            snprintf(what, sizeof(what), "month spend of project %s", projects[p]);
            AGREE(r, what, month_spend(r, 0, p), month_spend(r, 1, p));
        }
    }
    side_l();
    int64_t ll = tg_ledger_limit(r->org_l, r->org_l), lpl = tg_ledger_limit(r->org_l, r->proj[0][1]);
    side_s();
    int64_t ls = tg_ledger_limit(r->org_s, r->org_s), lps = tg_ledger_limit(r->org_s, r->proj[1][1]);
    side_l();
    AGREE(r, "the organisation's hard limit (cents)", ll, ls);
    AGREE(r, "project y's hard limit (cents)", lpl, lps);
}

/* ---- the random steps ---- */

static slot_t *pick_slot(run_t *r, int used)
{
    int idx[SLOTS], k = 0;
    for (int i = 0; i < SLOTS; i++)
        if (r->slot[i].used == used)
            idx[k++] = i;
    return k ? &r->slot[idx[rand() % k]] : NULL;
}

static int64_t distinct_granted_at(const run_t *r)
{
    /* distinct ages, unrelated to the order of creation (ties: see the second test) */
    for (;;) {
        int64_t t = tg_now() - 100 - rnd(0, 10000000);
        int dup = 0;
        for (int i = 0; i < r->ng && !dup; i++)
            dup = r->g[i].granted_at == t;
        if (!dup)
            return t;
    }
}

static void random_grant(run_t *r, int64_t expires_override)
{
    static const char *kinds[] = {"promotional", "purchased", "purchased", "promotional",
                                  "operator"};
    const char *kind = kinds[rand() % 5];
    int64_t amount, expires;
    int a = rand() % 10;
    amount = a < 4 ? rnd(1, 1000000) : a < 8 ? rnd(1000000, 500000000) : rnd(500000000, 3000000000LL);
    int e = rand() % 10;
    if (expires_override)
        expires = expires_override;
    else if (e < 3)
        expires = 0;
    else if (e < 5)
        expires = rand() % 4 ? tg_now() - rnd(1, 40 * 86400) : tg_now(); /* expired (now: just) */
    else
        expires = r->fut[rand() % 4];
    int commit = rand() % 12 != 0;
    do_grant(r, kind, amount, expires, distinct_granted_at(r), commit);
}

static int64_t random_amount(run_t *r, int p)
{
    tg_balance_t b = balance_of(r, 0);
    int k = rand() % 20;
    if (k < 2)
        return 0; /* a free request */
    if (k < 5 && b.available > 0)
        return b.available; /* exactly what is left */
    if (k < 7 && b.available >= 0)
        return b.available + 1; /* one nano more */
    if (k < 9 && r->limit_set) {
        int64_t room = tg_cents_to_nanos(tg_ledger_limit(r->org_l, r->org_l)) -
                       month_spend(r, 0, -1);
        if (room >= 0)
            return room + (rand() % 2); /* the hard limit's room, or one nano more */
    }
    if (k < 11 && p == 1 && r->plimit_set) {
        int64_t room = tg_cents_to_nanos(tg_ledger_limit(r->org_l, r->proj[0][1])) -
                       month_spend(r, 0, 1);
        if (room >= 0)
            return room + (rand() % 2); /* the project's */
    }
    return rand() % 3 ? rnd(1, 1000000) : rnd(1000000, 1500000000);
}

static int64_t random_cost(const slot_t *sl)
{
    int k = rand() % 20;
    if (k < 3)
        return 0;
    if (k < 8)
        return sl->amount;
    if (k < 12)
        return sl->amount + rnd(1, 1000000000); /* more than reserved: capped */
    if (k < 13)
        return -rnd(1, 1000);
    return sl->amount ? rnd(0, sl->amount - 1) : 0;
}

/* phase: 1 no limits, 2 the org's hard limit, 3 grants expiring during the run, 4 also the
 * tier's cap and a project's hard limit */
static void random_step(run_t *r, int phase)
{
    int k = rand() % 100;
    slot_t *free_sl = pick_slot(r, 0), *used_sl = pick_slot(r, 1);
    if (phase >= 2 && k < 4) {
        int64_t cents = month_spend(r, 0, -1) / CENT + rnd(0, 400);
        if (phase == 4 && rand() % 5 == 0)
            cents = 0; /* no limit */
        do_limit(r, r->org_l, r->org_s, cents);
        r->limit_set = cents > 0;
    } else if (phase == 4 && k < 7) {
        int64_t cents = month_spend(r, 0, 1) / CENT + rnd(0, 30);
        do_limit(r, r->proj[0][1], r->proj[1][1], cents);
        r->plimit_set = 1;
    } else if (k < 20 || (!free_sl && !used_sl)) {
        random_grant(r, 0);
    } else if (free_sl && (k < 55 || !used_sl)) {
        int64_t tier_cap = 0;
        if (phase == 4 && rand() % 2)
            tier_cap = month_spend(r, 0, -1) + rnd(-100000000, 2000000000);
        if (tier_cap < 0)
            tier_cap = 1;
        int p = rand() % NPROJ;
        do_reserve(r, free_sl, p, random_amount(r, p), tier_cap);
    } else if (k < 88) {
        do_settle(r, used_sl, random_cost(used_sl));
    } else {
        do_release(r, used_sl, rand() % 2);
    }
}

static int64_t realtime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* sleeps until `ms` past the start of second t */
/* Until ms past the start of second t, and until tg_now() says t too: time() reads the
 * kernel's coarse clock, which may lag CLOCK_REALTIME by a tick or more. */
static void sleep_until(int64_t t, int ms)
{
    int64_t target = t * 1000 + ms;
    for (int64_t now = realtime_ms(); now < target; now = realtime_ms())
        usleep((useconds_t)((target - now) * 1000));
    while (tg_now() < t)
        usleep(1000);
}

static void steps(run_t *r, int phase, const char *name, int count)
{
    r->phase = name;
    for (int i = 0; i < count; i++, r->step++) {
        random_step(r, phase);
        check_all(r);
    }
}

static void test_shared_matches_memory(void **state)
{
    (void)state;
    static run_t run;
    run_t *r = &run;
    const char *env = getenv("TG_SHARED_SEED");
    unsigned seed = env ? (unsigned)strtoul(env, NULL, 10) : DEFAULT_SEED;
    printf("[ seed     ] TG_SHARED_SEED=%u\n", seed);
    srand(seed);
    run_init(r, "prop", seed);
    int64_t t0 = mono_ms();

    /* 1: credit only */
    steps(r, 1, "credit", 150);
    /* 2: and the organisation's hard limit, reached and moved */
    r->phase = "limit";
    do_limit(r, r->org_l, r->org_s, month_spend(r, 0, -1) / CENT + 200);
    r->limit_set = 1;
    steps(r, 2, "limit", 150);

    /* 3: grants that expire while requests are in flight: what no live grant covers is
     * overdraft, which the next grants pay first. Two grants expire at e1 (free credit
     * before purchased), one at e2; steps run in [s0, e1), [e1, e2) and after e2. */
    r->phase = "expiry";
    int64_t s0 = tg_now() + 1;
    sleep_until(s0, 5);
    int64_t e1 = s0 + 2, e2 = s0 + 3;
    random_grant(r, e1);
    random_grant(r, e1);
    random_grant(r, e2);
    check_all(r);
    steps(r, 3, "expiry", 25);
    /* then every other reservation ends, and one holds all the credit across e1: settled in
     * full after e1, what the expired grants held is overdraft; a grant smaller than it pays
     * part of it, later ones the rest */
    r->phase = "expiry";
    for (int i = 0; i < SLOTS; i++)
        if (r->slot[i].used)
            do_release(r, &r->slot[i], 1);
    do_limit(r, r->org_l, r->org_s, 0);
    r->limit_set = 0;
    do_grant(r, "promotional", rnd(500000000, 2000000000), e1, distinct_granted_at(r), 1);
    do_grant(r, "purchased", rnd(500000000, 2000000000), e1, distinct_granted_at(r), 1);
    do_grant(r, "operator", rnd(500000000, 2000000000), e2, distinct_granted_at(r), 1);
    check_all(r);
    slot_t *pin = &r->slot[0];
    do_reserve(r, pin, 0, balance_of(r, 0).available, 0);
    if (!pin->used)
        run_fail(r, "could not reserve all of the credit");
    check_all(r);
    if (tg_now() >= e1)
        run_fail(r, "timing, not a disagreement: the steps meant for [s0, e1) ran past e1");
    sleep_until(e1, 20);
    r->phase = "expiry+1";
    r->step++;
    do_settle(r, pin, pin->amount);
    check_all(r);
    int64_t owed = balance_of(r, 0).overdraft;
    if (owed > 1) {
        r->step++;
        do_grant(r, "promotional", owed / 2, 0, distinct_granted_at(r), 1);
        check_all(r);
    }
    r->step++;
    steps(r, 3, "expiry+1", 25);
    if (tg_now() >= e2)
        run_fail(r, "timing, not a disagreement: the steps meant for [e1, e2) ran past e2");
    sleep_until(e2, 20);
    steps(r, 3, "expiry+2", 30);
    for (int i = 0; i < r->ng; i++)
        if (r->g[i].expires_at > s0 && r->g[i].expires_at <= e2)
            r->expired_in_run++;

    /* 4: and the tier's cap and a project's hard limit (with credit enough for them to be
     * what refuses) */
    r->phase = "caps";
    do_grant(r, "purchased", 40000000000LL, r->fut[3], distinct_granted_at(r), 1);
    check_all(r);
    steps(r, 4, "caps", 120);

    /* every reservation settles; then Redis is rebuilt from the store, and the memory ledger
     * reloaded from it: both still agree (month spend is not compared there: the store has
     * no usage records in this test, only their charges) */
    r->phase = "end";
    for (int i = 0; i < SLOTS; i++)
        if (r->slot[i].used)
            do_settle(r, &r->slot[i], random_cost(&r->slot[i]));
    check_all(r);
    tg_balance_t before = balance_of(r, 1);
    char epoch[40], now_epoch[40];
    tg_shared__epoch(epoch);
    tg_shared_want_rebuild();
    for (int64_t end = mono_ms() + 10000;; usleep(20000)) {
        tg_shared__epoch(now_epoch);
        if (strcmp(epoch, now_epoch) != 0 && tg_shared_ok())
            break;
        if (mono_ms() > end)
            run_fail(r, "Redis was not rebuilt within 10 s");
    }
    r->phase = "rebuilt";
    r->no_month = 1;
    tg_balance_t after = balance_of(r, 1);
    AGREE(r, "available before/after rebuilding Redis", before.available, after.available);
    AGREE(r, "used before/after rebuilding Redis", before.used, after.used);
    AGREE(r, "overdraft before/after rebuilding Redis", before.overdraft, after.overdraft);
    check_all(r);
    r->phase = "reloaded";
    side_l();
    tg_ledger_shutdown();
    assert_int_equal(tg_ledger_load(db.st), 0);
    check_all(r);
    r->no_month = 0; /* both start again from the store: no usage records, no spend */
    check_all(r);
    steps(r, 4, "reloaded", 30); /* and they go on agreeing */

    printf("[ shared   ] %d steps in %.1f s: %ld grants (%ld paid overdraft, %ld expired during "
           "the run, %ld rolled back); %ld admitted, refused: %ld credit, %ld tier cap, %ld org "
           "limit, %ld project limit (%ld with something left); %ld settled (%ld over several "
           "grants, %ld capped at the reservation, %ld with overdraft), %ld released\n",
           r->step, (double)(mono_ms() - t0) / 1000, r->grants, r->paid_overdraft,
           r->expired_in_run, r->rollbacks, r->admitted, r->refused[1], r->refused[2],
           r->refused[3], r->refused[4], r->left_pos, r->settles, r->charged_multi, r->capped,
           r->overdrafts, r->releases);
    /* the run went where it was meant to */
    assert_true(r->admitted > 50);
    assert_true(r->refused[1] > 5);
    assert_true(r->refused[2] > 0);
    assert_true(r->refused[3] > 0);
    assert_true(r->refused[4] > 0);
    assert_true(r->charged_multi > 5);
    assert_true(r->capped > 5);
    assert_true(r->overdrafts > 0);
    assert_true(r->paid_overdraft > 0);
    assert_true(r->releases > 5);
}

/* "then the oldest": grants made in the same second (granted_at is in seconds), with the same
 * expiry and kind, pay in the order they were made — as the memory ledger keeps them, and as
 * the store lists them (ORDER BY granted_at, rowid) when the ledger is rebuilt. */
static void test_same_second_grants_pay_oldest_first(void **state)
{
    (void)state;
    static run_t run;
    run_t *r = &run;
    run_init(r, "tie", DEFAULT_SEED);
    r->phase = "same second";
    sleep_until(tg_now() + 1, 20); /* early in a fresh second */
    int64_t t = tg_now();
    for (int i = 0; i < 6; i++)
        do_grant(r, "promotional", 1000, 0, 0 /* now, as the Admin API and payments do */, 1);
    if (tg_now() != t)
        run_fail(r, "timing, not a disagreement: six grants took more than a second");
    for (int i = 0; i < r->ng; i++)
        assert_int_equal(r->g[i].granted_at, t);
    check_all(r);
    r->step++;
    do_reserve(r, &r->slot[0], 0, 3500, 0);
    assert_true(r->slot[0].used);
    r->step++;
    do_settle(r, &r->slot[0], 3500); /* grants #0..#2, then 500 of #3 */
    check_all(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_matches_memory),
        cmocka_unit_test(test_same_second_grants_pay_oldest_first),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
