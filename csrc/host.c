/* mapfuzz host runtime: the mf_host a target receives, the controlled scheduler
 * (random walk, PCT, replay), stress-mode noise, interleaving coverage, site ids.
 *
 * Read host.h first: its invariants C1..C3 and the hang-handling note are what
 * this file keeps.
 *
 * Controlled mode in one paragraph: every pool thread of the run owns a `go`
 * word; exactly one thread runs (C1). At each event the running thread updates
 * the scheduler state (steps, trace hash, events, coverage) and asks the strategy
 * who runs next. When that is itself (the common case under PCT) the event costs
 * a few dozen instructions: no syscall, no lock, no atomic. Otherwise it posts the
 * chosen thread's word and parks on its own (C2: the release/acquire pair of that
 * hand-off moves ownership of the scheduler state).
 *
 * Strategies
 *   random  at every point, uniform among the runnable threads (the running one
 *           included); at `blocked`, uniform among the other runnable threads.
 *   pct     Burckhardt et al. (ASPLOS 2010): distinct random initial priorities,
 *           d-1 change points drawn uniformly in [1, k] (k = mf_config.pct_steps,
 *           or 3 x the parallel op count); the highest-priority runnable thread
 *           runs; at a change point, or when the running thread reports `blocked`,
 *           its priority drops below every other one.
 *   replay  follows a recorded decision trace: a pair (s, t) says thread t runs
 *           from event s on. Where the trace says nothing the running thread goes
 *           on; when it finishes and the trace says nothing, the lowest-index
 *           runnable thread runs (so a trace with pairs removed still replays
 *           deterministically, which the minimiser relies on). A pair naming a
 *           thread that cannot run, or a step already passed, is a divergence.
 *   A thread that reported `blocked` stays runnable: the host cannot know when the
 *   condition it waits for changes, so the step bound is what turns a deadlock or
 *   livelock into MF_EXEC_HANG.
 *
 * Limitation: controlled mode explores sequentially consistent interleavings at
 * schedule points only; hardware reorderings are reachable only in stress mode.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "host.h"

__thread mf_slot *mf_tls_slot;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* ------------------------------------------------------------------ buffers */

int mf_buf_reserve(mf_buf *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

int mf_buf_append(mf_buf *b, const void *src, size_t n)
{
    if (mf_buf_reserve(b, n))
        return -1;
    if (n)
        memcpy(b->p + b->len, src, n);
    b->len += n;
    return 0;
}

void mf_buf_free(mf_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ------------------------------------------------------------------ futex words */

static long futex(_Atomic uint32_t *w, int op, uint32_t val, const struct timespec *ts)
{
    return syscall(SYS_futex, (uint32_t *)w, op, val, ts, NULL, 0);
}

void mf_post_word(_Atomic uint32_t *w)
{
    /* Release: everything the poster wrote before (the scheduler state it hands
     * over per C2, main's run setup, a finished thread's records) happens-before
     * whatever the waiter does after its acquire in mf_wait_word. Without it the
     * woken thread could read a stale `cur` or a half-written record. */
    uint32_t old = atomic_exchange_explicit(w, 1, memory_order_release);
    if (old == 2)   /* the waiter announced it sleeps in the kernel */
        futex(w, FUTEX_WAKE_PRIVATE, 1, NULL);
}

uint64_t mf_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int mf_wait_word(_Atomic uint32_t *w, int spin, uint32_t timeout_ms)
{
    return mf_wait_until(w, spin, timeout_ms ? mf_now_ns() + (uint64_t)timeout_ms * 1000000ull : 0);
}

int mf_wait_until(_Atomic uint32_t *w, int spin, uint64_t deadline)
{
    for (int i = 0; i < spin; i++) {
        /* Acquire: pairs with the release exchange in mf_post_word. */
        if (atomic_load_explicit(w, memory_order_acquire) == 1)
            goto got;
        cpu_relax();
    }
    uint32_t exp = 0;
    /* Acquire on both outcomes: on failure we may have read the poster's 1 (pairs
     * with its release exchange). On success the 2 tells the poster to wake us. */
    if (atomic_compare_exchange_strong_explicit(w, &exp, 2, memory_order_acquire,
                                                memory_order_acquire) || exp == 2) {
        for (;;) {
            struct timespec rel, *tsp = NULL;
            if (deadline) {
                uint64_t t = mf_now_ns();
                if (t >= deadline)
                    return -1;   /* the word stays 2: a later post still wakes a waiter */
                rel.tv_sec = (time_t)((deadline - t) / 1000000000ull);
                rel.tv_nsec = (long)((deadline - t) % 1000000000ull);
                tsp = &rel;
            }
            futex(w, FUTEX_WAIT_PRIVATE, 2, tsp);
            /* Acquire: pairs with the release exchange in mf_post_word. */
            if (atomic_load_explicit(w, memory_order_acquire) == 1)
                break;
        }
    }
got:
    /* Consume the post. Relaxed: nobody posts this word again before this thread
     * parks on it again (C1; main posts each pool thread once per run). */
    atomic_store_explicit(w, 0, memory_order_relaxed);
    return 0;
}

/* ------------------------------------------------------------------ sites */

/* Site ids are FNV-1a 32 of the string, so they are stable across processes and
 * runs. The name table (id -> first name seen) is global and locked; a per-thread
 * direct-mapped cache keyed by the string's address makes the common lookup a
 * compare. Sites are expected to be string literals (a buffer reused for another
 * name would keep its first id). */
typedef struct { uint32_t id; char *name; } site_entry;
static pthread_mutex_t site_lock = PTHREAD_MUTEX_INITIALIZER;
static site_entry *site_tab;
static size_t site_cap, site_n;

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static void site_register(uint32_t id, const char *name)
{
    pthread_mutex_lock(&site_lock);
    if (site_n * 2 >= site_cap) {
        size_t ncap = site_cap ? site_cap * 2 : 256;
        site_entry *nt = calloc(ncap, sizeof *nt);
        if (!nt)
            goto out;
        for (size_t i = 0; i < site_cap; i++)
            if (site_tab[i].name) {
                size_t j = site_tab[i].id & (ncap - 1);
                while (nt[j].name)
                    j = (j + 1) & (ncap - 1);
                nt[j] = site_tab[i];
            }
        free(site_tab);
        site_tab = nt;
        site_cap = ncap;
    }
    size_t j = id & (site_cap - 1);
    while (site_tab[j].name) {
        if (site_tab[j].id == id)
            goto out;   /* known (or an FNV collision: the first name stays) */
        j = (j + 1) & (site_cap - 1);
    }
    site_tab[j].name = strdup(name);
    if (site_tab[j].name) {
        site_tab[j].id = id;
        site_n++;
    }
out:
    pthread_mutex_unlock(&site_lock);
}

#define SITE_CACHE 256
static __thread struct { const char *p; uint32_t id; } site_cache[SITE_CACHE];

uint32_t mf_site_id(const char *site)
{
    if (!site)
        site = "(null)";
    size_t h = ((uintptr_t)site >> 3) & (SITE_CACHE - 1);
    if (site_cache[h].p == site)
        return site_cache[h].id;
    uint32_t id = fnv1a(site);
    site_register(id, site);
    site_cache[h].p = site;
    site_cache[h].id = id;
    return id;
}

const char *mf_site_name(uint32_t id)
{
    const char *name = NULL;
    pthread_mutex_lock(&site_lock);
    if (site_cap) {
        size_t j = id & (site_cap - 1);
        while (site_tab[j].name) {
            if (site_tab[j].id == id) {
                name = site_tab[j].name;
                break;
            }
            j = (j + 1) & (site_cap - 1);
        }
    }
    pthread_mutex_unlock(&site_lock);
    return name;
}

/* ------------------------------------------------------------------ null host */

static void null_point(void *ctx, const char *site) { (void)ctx; (void)site; }
static const mf_host_ext NULL_HOST = {
    { NULL, null_point, null_point }, sizeof(mf_host_ext), MF_HOST_EXT_VERSION, NULL };
const mf_host *mf_host_null(void) { return &NULL_HOST.base; }

/* ------------------------------------------------------------------ helpers */

static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 33)) * 0xff51afd7ed558ccdull;
    z = (z ^ (z >> 33)) * 0xc4ceb9fe1a85ec53ull;
    return z ^ (z >> 33);
}

void mf_thread_done(mf_runner *r)
{
    /* acq_rel: release publishes this thread's records to main (through the
     * release sequence on `remaining`); the last thread's acquire takes in every
     * other thread's release before its own post of `done` (release) hands all of
     * it to main's acquire in mf_wait_word. */
    if (atomic_fetch_sub_explicit(&r->remaining, 1, memory_order_acq_rel) == 1)
        mf_post_word(&r->done);
}

static void trace_push(mf_runner *r, uint64_t step, uint32_t t)
{
    if (r->ntrace + 2 > r->trace_cap) {
        size_t ncap = r->trace_cap ? r->trace_cap * 2 : 256;
        uint32_t *nt = realloc(r->trace, ncap * sizeof *nt);
        if (!nt) {
            r->trace_oom = 1;
            return;
        }
        r->trace = nt;
        r->trace_cap = ncap;
    }
    r->trace[r->ntrace++] = (uint32_t)(step > UINT32_MAX ? UINT32_MAX : step);
    r->trace[r->ntrace++] = t;
    /* Crash-safe copy (mf_config.trace_mirror): the pair first, then the count,
     * so a reader of a dead process's mirror sees only whole pairs. Relaxed
     * stores: the reader runs after this process died (no concurrent access);
     * they only need to reach the shared page, which every store does. */
    const mf_config *c = r->cfg;
    if (c->trace_mirror && r->ntrace < c->trace_mirror_cap) {
        _Atomic uint32_t *m = (_Atomic uint32_t *)c->trace_mirror;
        atomic_store_explicit(&m[r->ntrace - 1], r->trace[r->ntrace - 2], memory_order_relaxed);
        atomic_store_explicit(&m[r->ntrace], t, memory_order_relaxed);
        atomic_store_explicit(&m[0], (uint32_t)r->ntrace, memory_order_relaxed);
    }
}

/* Controlled abort, by the running thread: wake every thread of the run that is
 * parked or not started so that it unwinds (C3). All states become TS_DONE before
 * the first post, so a woken thread (which runs this again) posts nobody: every
 * thread is posted at most once per run. */
static void release_parked(mf_runner *r, mf_slot *me)
{
    uint32_t todo[MF_MAX_THREADS], n = 0;
    /* Relaxed: nobody runs target code from here on; a stale value is harmless
     * (host calls compare it against the caller). */
    atomic_store_explicit(&r->running, NULL, memory_order_relaxed);
    me->state = TS_DONE;
    for (uint32_t i = 0; i < r->s.n; i++)
        if (r->slots[i].state != TS_DONE) {
            r->slots[i].state = TS_DONE;
            todo[n++] = i;
        }
    for (uint32_t i = 0; i < n; i++)
        /* Release: orders the abort flag and the TS_DONE marks before the woken
         * thread's acquire; it reads the flag and unwinds. */
        mf_post_word(r->slots[todo[i]].gow);
}

/* Abort the run (step bound, replay divergence, watchdog). Called by the running
 * thread in controlled mode (C2 makes its view of `state` exact), or by any pool
 * thread in stress mode. Wakes every parked thread of the run so that it unwinds
 * (C3), then unwinds the caller. Never returns when me != NULL. */
void mf_abort_run(mf_runner *r, mf_slot *me, int status, const char *msg)
{
    int exp = 0;
    /* Relaxed: the CAS only elects who writes abort_msg; main reads the message
     * after the `remaining`/`done` chain (acq_rel/release) that follows. */
    if (atomic_compare_exchange_strong_explicit(&r->abort, &exp, status,
                                                memory_order_relaxed, memory_order_relaxed))
        snprintf(r->abort_msg, sizeof r->abort_msg, "%s", msg);
    if (r->mode == MF_MODE_CONTROLLED && me)
        release_parked(r, me);
    if (me)
        longjmp(me->jb, 1);
}

/* ------------------------------------------------------------------ controlled */

static void pct_setup(mf_runner *r)
{
    mf_sched *s = &r->s;
    const mf_config *c = r->cfg;
    uint32_t n = s->n;
    uint32_t perm[MF_MAX_THREADS];
    for (uint32_t i = 0; i < n; i++)
        perm[i] = i;
    for (uint32_t i = n; i > 1; i--) {          /* Fisher-Yates */
        uint32_t j = mf_rand_below(&s->rng, i);
        uint32_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
    for (uint32_t i = 0; i < n; i++)
        r->slots[i].prio = ((int64_t)1 << 32) + perm[i];
    uint64_t k = c->pct_steps;
    if (!k) {
        uint64_t ops = 0;
        for (uint32_t i = 0; i < n; i++)
            ops += r->plan->thread_nops[i];
        k = ops * 3 < 16 ? 16 : ops * 3;
        /* An instrumented target (`mapfuzz cc`) passes tens of points per operation
         * (every access, lock call and copy chunk), a number the host cannot know
         * in advance: each run draws the scale of k from 3 to 96 steps per op, so
         * some runs put their change points anywhere in a long run, others early. */
        if (r->inst)
            k <<= mf_rand_below(&s->rng, 6);
    }
    uint32_t d = c->pct_depth ? c->pct_depth : 1;
    if (d > 65)
        d = 65;
    s->nchange = d - 1;
    for (uint32_t i = 0; i < s->nchange; i++)
        s->change[i] = 1 + (mf_rand(&s->rng) % k);
    for (uint32_t i = 1; i < s->nchange; i++)   /* insertion sort, d is small */
        for (uint32_t j = i; j > 0 && s->change[j - 1] > s->change[j]; j--) {
            uint64_t t = s->change[j];
            s->change[j] = s->change[j - 1];
            s->change[j - 1] = t;
        }
    s->next_change = 0;
    s->low_prio = 0;
}

/* The highest-priority runnable thread, `except` excluded; UINT32_MAX if none. */
static uint32_t pct_pick(mf_runner *r, uint32_t except)
{
    uint32_t best = UINT32_MAX;
    int64_t bp = INT64_MIN;
    for (uint32_t i = 0; i < r->s.n; i++) {
        mf_slot *o = &r->slots[i];
        if (i != except && o->state != TS_DONE && o->prio > bp) {
            bp = o->prio;
            best = i;
        }
    }
    return best;
}

static uint32_t random_pick(mf_runner *r, uint32_t except)
{
    uint32_t cand[MF_MAX_THREADS], nc = 0;
    for (uint32_t i = 0; i < r->s.n; i++)
        if (i != except && r->slots[i].state != TS_DONE)
            cand[nc++] = i;
    if (!nc)
        return UINT32_MAX;
    return nc == 1 ? cand[0] : cand[mf_rand_below(&r->s.rng, nc)];
}

static uint32_t lowest_runnable(mf_runner *r)
{
    for (uint32_t i = 0; i < r->s.n; i++)
        if (r->slots[i].state != TS_DONE)
            return i;
    return UINT32_MAX;
}

/* Replay: the thread the trace names for the current step, UINT32_MAX when the
 * trace says nothing here. Diverges (aborts) on a bad pair. */
static uint32_t replay_next(mf_runner *r, mf_slot *me)
{
    mf_sched *s = &r->s;
    if (s->replay_pos >= s->replay_len)
        return UINT32_MAX;
    uint64_t step = s->replay[2 * s->replay_pos];
    uint32_t t = s->replay[2 * s->replay_pos + 1];
    if (step > s->steps)
        return UINT32_MAX;
    char msg[160];
    if (step < s->steps) {
        snprintf(msg, sizeof msg, "replay diverged: trace pair %u wants a switch at step %llu, "
                 "but no decision happened there (now at step %llu)", s->replay_pos,
                 (unsigned long long)step, (unsigned long long)s->steps);
        mf_abort_run(r, me, MF_EXEC_REPLAY_DIVERGED, msg);
        return UINT32_MAX;   /* only when me == NULL (main) */
    }
    if (t >= s->n || r->slots[t].state == TS_DONE) {
        snprintf(msg, sizeof msg, "replay diverged: trace pair %u names thread %u at step %llu, "
                 "which %s", s->replay_pos, t, (unsigned long long)step,
                 t >= s->n ? "does not exist" : "has finished");
        mf_abort_run(r, me, MF_EXEC_REPLAY_DIVERGED, msg);
        return UINT32_MAX;
    }
    s->replay_pos++;
    return t;
}

/* s->stop: the first step at which the strategy may act (see mf_sched). Below it
 * a non-blocked event cannot change who runs: PCT changes priorities only at a
 * change point or `blocked`; replay acts only at its next pair's step (a pair
 * whose step has already passed diverges there too, one event later, as when it
 * was checked at every event); the bound aborts at `bound`. Random decides at
 * every event. Called whenever the change point, replay position or strategy
 * moves (C2: by the thread that owns the scheduler state). */
static void sched_restop(mf_sched *s)
{
    uint64_t stop = s->bound;
    if (s->strategy == MF_STRAT_RANDOM) {
        stop = 0;
    } else if (s->strategy == MF_STRAT_PCT) {
        if (s->next_change < s->nchange && s->change[s->next_change] < stop)
            stop = s->change[s->next_change];
    } else if (s->replay_pos < s->replay_len) {
        uint64_t st = s->replay[2 * s->replay_pos];
        if (st < stop)
            stop = st;
    }
    s->stop = stop;
}

void mf_sched_begin(mf_runner *r)
{
    mf_sched *s = &r->s;
    const mf_config *c = r->cfg;
    s->strategy = c->strategy;
    s->n = r->plan->nthreads;
    s->steps = 0;
    /* Instrumented targets take ~10-100x the steps per op of hand-placed points. */
    s->bound = c->step_bound ? c->step_bound
             : r->inst ? 10ull * MF_DEFAULT_STEP_BOUND : MF_DEFAULT_STEP_BOUND;
    s->rng = mix64(c->seed ^ 0x6d617066757a7aull);   /* "mapfuzz" */
    s->replay = c->replay;
    s->replay_len = c->replay ? c->replay_len : 0;
    s->replay_pos = 0;
    s->preemptions = 0;
    s->hash = 0xcbf29ce484222325ull;
    s->last_thread = UINT32_MAX;
    s->last_site = 0;
    s->last_kind = 0;
    s->nchange = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        mf_slot *o = &r->slots[i];
        o->state = TS_RUNNABLE;
        o->prio = 0;
        o->ctx_site = 0;
        o->ctx_kind = 0;
        o->cur_op = 0;
        o->cur_kind = 0;
    }
    if (s->strategy == MF_STRAT_PCT)
        pct_setup(r);
    uint32_t first;
    if (s->strategy == MF_STRAT_PCT)
        first = pct_pick(r, UINT32_MAX);
    else if (s->strategy == MF_STRAT_RANDOM)
        first = random_pick(r, UINT32_MAX);
    else {
        first = replay_next(r, NULL);
        if (atomic_load_explicit(&r->abort, memory_order_relaxed))
            first = 0;   /* diverged at step 0: thread 0 starts and unwinds at once */
        else if (first == UINT32_MAX)
            first = 0;
    }
    s->cur = first;
    /* Relaxed: published to `first` by main's go post (release). */
    atomic_store_explicit(&r->running, &r->slots[first], memory_order_relaxed);
    trace_push(r, 0, first);
    sched_restop(s);
}

/* The watchdog's hang: the flag (CAS, first cause wins) and its message. Called
 * by main only (its timed wait for `done`; the watchdog thread's signal handler
 * runs on main too), so it never touches a later run's flag. */
void mf_raise_watchdog(mf_runner *r)
{
    int exp = 0;
    /* Relaxed: elects the message writer; the threads poll the flag, and main reads
     * the message after the `remaining`/`done` chain or its own write. */
    if (atomic_compare_exchange_strong_explicit(&r->abort, &exp, MF_EXEC_HANG,
                                                memory_order_relaxed, memory_order_relaxed))
        memcpy(r->abort_msg, r->wd_msg, sizeof r->wd_msg);   /* async-signal-safe: no formatting */
}

/* The watchdog message for this run's mode and timeout, formatted by main before
 * the run (only when they changed) so that mf_raise_watchdog only copies it. */
void mf_watchdog_message(mf_runner *r)
{
    if (r->wd_msg[0] && r->wd_msg_timeout == r->timeout_ms && r->wd_msg_mode == r->mode)
        return;
    snprintf(r->wd_msg, sizeof r->wd_msg, "%s watchdog fired after %u ms%s",
             r->mode == MF_MODE_STRESS ? "stress" : "controlled-mode", r->timeout_ms,
             r->mode == MF_MODE_STRESS ? " (livelock, deadlock or a very slow target)"
             : ": a thread ran that long without reaching a schedule point");
    r->wd_msg_timeout = r->timeout_ms;
    r->wd_msg_mode = r->mode;
}

/* Hand control from me to thread `next` and park until control comes back. */
static void switch_to(mf_runner *r, mf_slot *me, uint32_t next)
{
    r->s.cur = next;
    /* Relaxed: the release post below orders it before `next` runs. */
    atomic_store_explicit(&r->running, &r->slots[next], memory_order_relaxed);
    mf_post_word(r->slots[next].gow);
    mf_wait_word(me->gow, r->spin, 0);   /* main too: its watchdog is a signal (runner.c) */
    /* Acquire (in mf_wait_word) made the poster's abort store visible. */
    if (atomic_load_explicit(&r->abort, memory_order_relaxed))
        mf_abort_run(r, me, MF_EXEC_HANG, "aborted");
}

/* Count interleaving feature fi (controlled mode, owned per C2). */
static inline __attribute__((always_inline)) void cov_hit(mf_runner *r, uint8_t *cov, uint32_t fi)
{
    uint8_t c = cov[fi];
    if (c == 0) {
        r->cov_touched[r->ncov_touched++] = (uint16_t)fi;   /* at most MF_COV_SIZE */
        uint64_t bit = 1ull << (fi & 63);
        if (!(r->cov_ever[fi >> 6] & bit)) {
            r->cov_ever[fi >> 6] |= bit;
            r->nfeatures++;
        }
    }
    if (c != 255)
        cov[fi] = (uint8_t)(c + 1);
}

/* Bookkeeping of one event by the running thread: coverage, trace hash, the
 * event list, the step count. Everything is loaded into locals first: the 8-bit
 * coverage store may alias any field, and would otherwise make the compiler
 * reload them all. */
static inline __attribute__((always_inline)) void ctl_record(mf_slot *me, uint32_t site, int kind)
{
    mf_runner *r = me->r;
    mf_sched *s = &r->s;
    uint32_t t = me->idx;
    uint32_t last_thread = s->last_thread;
    uint32_t ctx_site = me->ctx_site;
    uint8_t ctx_kind = me->ctx_kind;
    uint8_t cur_kind = me->cur_kind;
    uint32_t cur_op = me->cur_op;
    uint64_t steps = s->steps;
    uint64_t hash = s->hash;
    uint32_t nev = r->nevents;
    uint8_t *cov = r->cov;
    /* Interleaving coverage: (site + op kind of the previous event of another
     * thread, this site + op kind + event kind). */
    if (last_thread != t && last_thread != UINT32_MAX) {
        ctx_site = s->last_site;
        ctx_kind = s->last_kind;
        me->ctx_site = ctx_site;
        me->ctx_kind = ctx_kind;
    }
    uint64_t f = mix64(((uint64_t)ctx_site << 32 | site) ^
                       ((uint64_t)(ctx_kind * 8u + cur_kind) << 8 | (uint64_t)kind) *
                           0x9e3779b97f4a7c15ull);
    /* Relaxed: a feature bit only (see mf_runner.growing). Targets that report no
     * structural events never set it, so their features are unchanged. */
    if (atomic_load_explicit(&r->growing, memory_order_relaxed) > 0)
        f = mix64(f ^ 0x67726f77696e67ull);   /* "growing" */
    hash = mix64(hash ^ ((uint64_t)site | (uint64_t)t << 32 | (uint64_t)kind << 40));
    s->hash = hash;
    s->last_thread = t;
    s->last_site = site;
    s->last_kind = cur_kind;
    s->steps = steps + 1;
    if (nev < MF_EVENT_CAP) {
        mf_event e;
        e.site = site;
        e.thread = (uint8_t)t;
        e.kind = (uint8_t)kind;
        e.op = (uint16_t)(cur_op > 0xffff ? 0xffff : cur_op);
        r->events[nev] = e;
        r->nevents = nev + 1;
    } else {
        r->events_truncated = 1;
    }
    cov_hit(r, cov, (uint32_t)(f & (MF_COV_SIZE - 1)));
}

/* The strategy's decision after an event at or past s->stop, or a `blocked`. */
static __attribute__((noinline)) void ctl_decide(mf_slot *me, int kind)
{
    mf_runner *r = me->r;
    mf_sched *s = &r->s;
    uint32_t t = me->idx;

    if (s->steps >= s->bound) {
        char msg[128];
        snprintf(msg, sizeof msg, "step bound %llu reached: livelock or deadlock "
                 "(threads kept reaching schedule points without finishing)",
                 (unsigned long long)s->bound);
        mf_abort_run(r, me, MF_EXEC_HANG, msg);
    }

    uint32_t next = t;
    int blocked = kind == EV_BLOCKED;
    switch (s->strategy) {
    case MF_STRAT_PCT:
        if (blocked) {
            me->prio = s->low_prio--;
            next = pct_pick(r, t);
            if (next == UINT32_MAX)
                next = t;
        } else if (s->next_change < s->nchange && s->steps >= s->change[s->next_change]) {
            while (s->next_change < s->nchange && s->steps >= s->change[s->next_change])
                s->next_change++;
            me->prio = s->low_prio--;
            next = pct_pick(r, UINT32_MAX);
        }
        /* else: me is still the highest-priority runnable thread (priorities only
         * change here, and finished threads only leave the set): no switch. */
        break;
    case MF_STRAT_RANDOM:
        next = blocked ? random_pick(r, t) : random_pick(r, UINT32_MAX);
        if (next == UINT32_MAX)
            next = t;
        break;
    default: {
        uint32_t x = replay_next(r, me);
        if (x != UINT32_MAX)
            next = x;
        break;
    }
    }
    sched_restop(s);
    if (next == t)
        return;
    if (!blocked)
        s->preemptions++;
    trace_push(r, s->steps, next);
    switch_to(r, me, next);
}

/* One event of the running thread. The common case (no decision due: PCT between
 * change points, replay between pairs) is the abort check, the bookkeeping and
 * one compare: no call, no atomic RMW, no syscall. */
static inline __attribute__((always_inline)) void ctl_event(mf_slot *me, uint32_t site, int kind)
{
    mf_runner *r = me->r;
    /* Relaxed: main's watchdog sets it; any delay only postpones the abort. */
    if (atomic_load_explicit(&r->abort, memory_order_relaxed))
        mf_abort_run(r, me, MF_EXEC_HANG, "aborted");
    ctl_record(me, site, kind);
    if (kind != EV_BLOCKED && r->s.steps < r->s.stop)
        return;
    ctl_decide(me, kind);
}

void mf_sched_finish(mf_slot *me)
{
    mf_runner *r = me->r;
    mf_sched *s = &r->s;
    if (atomic_load_explicit(&r->abort, memory_order_relaxed)) {
        /* main's watchdog fired (or replay diverged) while we ran: release the
         * parked ones (C3). */
        release_parked(r, me);
        mf_thread_done(r);
        return;
    }
    /* The exit is an event of its own, so the decision taken here has a step
     * number no point decision shares (replay tells them apart). */
    me->cur_op = r->plan->thread_nops[me->idx];
    ctl_record(me, r->site_exit, EV_EXIT);
    me->state = TS_DONE;
    uint32_t next;
    if (s->strategy == MF_STRAT_PCT)
        next = pct_pick(r, UINT32_MAX);
    else if (s->strategy == MF_STRAT_RANDOM)
        next = random_pick(r, UINT32_MAX);
    else {
        next = lowest_runnable(r);
        if (next != UINT32_MAX && s->replay_pos < s->replay_len &&
            s->replay[2 * s->replay_pos] == s->steps) {
            uint32_t t = s->replay[2 * s->replay_pos + 1];
            if (t < s->n && r->slots[t].state != TS_DONE) {
                next = t;
                s->replay_pos++;
            } else {
                char msg[160];
                snprintf(msg, sizeof msg, "replay diverged: trace pair %u names thread %u at "
                         "step %llu, which %s", s->replay_pos, t, (unsigned long long)s->steps,
                         t >= s->n ? "does not exist" : "has finished");
                int exp = 0;
                if (atomic_compare_exchange_strong_explicit(&r->abort, &exp,
                        MF_EXEC_REPLAY_DIVERGED, memory_order_relaxed, memory_order_relaxed))
                    snprintf(r->abort_msg, sizeof r->abort_msg, "%s", msg);
                mf_sched_finish(me);   /* takes the abort path above */
                return;
            }
        }
    }
    if (next != UINT32_MAX) {
        trace_push(r, s->steps, next);
        s->cur = next;
        sched_restop(s);
        /* Relaxed: the release post below orders it before `next` runs. */
        atomic_store_explicit(&r->running, &r->slots[next], memory_order_relaxed);
        /* From this post on, `next` owns the scheduler state (C2): touch none of it. */
        mf_post_word(r->slots[next].gow);
    } else {
        /* Relaxed: main reads it after the `remaining`/`done` chain. */
        atomic_store_explicit(&r->running, NULL, memory_order_relaxed);
    }
    mf_thread_done(r);
}

/* ------------------------------------------------------------------ stress */

static void stress_noise(mf_slot *me)
{
    uint64_t x = mf_rand(&me->rng);
    switch (x & 3) {
    case 0: {                                   /* short spin */
        uint32_t n = (uint32_t)(x >> 8) % 64;
        for (uint32_t i = 0; i < n; i++)
            cpu_relax();
        break;
    }
    case 1: {                                   /* longer spin */
        uint32_t n = (uint32_t)(x >> 8) % 2048;
        for (uint32_t i = 0; i < n; i++)
            cpu_relax();
        break;
    }
    case 2:
        sched_yield();
        break;
    default: {                                  /* a few microseconds asleep */
        struct timespec ts = { 0, 1000 + (long)((x >> 8) % 9000) };
        nanosleep(&ts, NULL);
        break;
    }
    }
}

static void stress_event(mf_slot *me, int kind)
{
    mf_runner *r = me->r;
    me->steps++;
    /* Relaxed: the watchdog's flag only needs to be seen eventually. */
    if (atomic_load_explicit(&r->abort, memory_order_relaxed))
        longjmp(me->jb, 1);
    if (kind == EV_BLOCKED) {
        for (int i = 0; i < 16; i++)
            cpu_relax();
        if ((me->steps & 7) == 0)
            sched_yield();
        return;
    }
    if (r->noise_thresh && mf_rand(&me->rng) < r->noise_thresh)
        stress_noise(me);
}

void mf_stress_begin(mf_runner *r)
{
    const mf_config *c = r->cfg;
    double p = c->noise;
    r->noise_thresh = p <= 0 ? 0 : p >= 1 ? UINT64_MAX : (uint64_t)(p * 18446744073709551616.0);
    for (uint32_t i = 0; i < r->plan->nthreads; i++) {
        mf_slot *o = &r->slots[i];
        o->rng = mix64(c->seed + 0x9e3779b97f4a7c15ull * (i + 1));
        o->state = TS_RUNNABLE;
    }
    atomic_store_explicit(&r->arrived, 0, memory_order_relaxed);  /* published by the go posts */
}

/* ------------------------------------------------------------------ host calls */

void mf_host_event(mf_slot *me, uint32_t site, int kind)
{
    if (me->r->mode == MF_MODE_CONTROLLED)
        ctl_event(me, site, kind);
    else
        stress_event(me, kind);
}

/* Site id of a point's string, through the runner's cache (open addressing keyed
 * by the string's address; controlled mode only, so owned per C2). A full cache
 * just stops caching. */
static inline uint32_t site_lookup(mf_runner *r, const char *site)
{
    if (!site)
        site = "(null)";
    uint32_t h = (uint32_t)(((uintptr_t)site * 0x9e3779b97f4a7c15ull) >> 52) & (MF_SITE_CACHE - 1);
    for (;;) {
        const char *p = r->site_cache[h].p;
        if (p == site)
            return r->site_cache[h].id;
        if (!p)
            break;
        h = (h + 1) & (MF_SITE_CACHE - 1);
    }
    uint32_t id = mf_site_id(site);
    if (r->nsite_cache < MF_SITE_CACHE * 3 / 4) {
        r->site_cache[h].p = site;
        r->site_cache[h].id = id;
        r->nsite_cache++;
    }
    return id;
}

/* The pool thread a host call comes from, in controlled mode: the running one,
 * or NULL (prefill/post phase on main, or a thread the runner does not own). */
static inline mf_slot *ctl_caller(mf_runner *r)
{
    /* Relaxed: see mf_runner.running; only the running thread finds itself. */
    mf_slot *me = atomic_load_explicit(&r->running, memory_order_relaxed);
    if (!me || !pthread_equal(me->thr, pthread_self()))
        return NULL;
    return me;
}

static void host_point(void *ctx, const char *site)
{
    mf_runner *r = ctx;
    if (r->mode == MF_MODE_CONTROLLED) {
        mf_slot *me = ctl_caller(r);
        if (me)
            ctl_event(me, site_lookup(r, site), EV_POINT);
        return;
    }
    mf_slot *me = mf_tls_slot;
    if (!me || !me->active || me->r != r)
        return;   /* prefill/post phase, or a thread the runner does not own */
    stress_event(me, EV_POINT);
}

static void host_blocked(void *ctx, const char *site)
{
    mf_runner *r = ctx;
    if (r->mode == MF_MODE_CONTROLLED) {
        mf_slot *me = ctl_caller(r);
        if (me)
            ctl_event(me, site_lookup(r, site), EV_BLOCKED);
        return;
    }
    mf_slot *me = mf_tls_slot;
    if (!me || !me->active || me->r != r)
        return;
    stress_event(me, EV_BLOCKED);
}

/* ------------------------------------------------------------------ structural events */

/* host->event (MF_CAP_EVENTS): record the report with its place in the run. */
static void host_struct_event(void *ctx, uint32_t kind, uint64_t arg)
{
    mf_runner *r = ctx;
    mf_slot *me = r->mode == MF_MODE_CONTROLLED ? ctl_caller(r) : mf_tls_slot;
    if (me && (!me->active || me->r != r))
        me = NULL;
    if (kind == MF_EVENT_GROW_BEGIN)
        atomic_fetch_add_explicit(&r->growing, 1, memory_order_relaxed);
    else if (kind == MF_EVENT_GROW_END)
        atomic_fetch_sub_explicit(&r->growing, 1, memory_order_relaxed);
    /* Relaxed claim of a slot: only uniqueness matters; main reads the slots after
     * the phase's `done` chain. */
    uint32_t i = atomic_fetch_add_explicit(&r->nsevents, 1, memory_order_relaxed);
    if (i >= MF_SEVENT_CAP)
        return;
    mf_sevent *e = &r->sevents[i];
    /* Controlled mode and main: one thread at a time, a relaxed load is exact.
     * Stress: seq_cst, the same order as the op timestamps' RMWs. */
    e->clock = atomic_load_explicit(&r->clock, me && r->mode == MF_MODE_STRESS
                                    ? memory_order_seq_cst : memory_order_relaxed);
    e->arg = arg;
    e->kind = (uint8_t)kind;
    e->thread = me ? (uint8_t)me->idx : MF_THREAD_SEQ;
    e->op = me ? (uint16_t)(me->cur_op > 0xffff ? 0xffff : me->cur_op) : 0;
    e->step = UINT32_MAX;
    if (me && r->mode == MF_MODE_CONTROLLED) {
        mf_sched *s = &r->s;   /* owned per C2: we are the running thread */
        e->step = (uint32_t)(s->steps > UINT32_MAX - 1 ? UINT32_MAX - 1 : s->steps);
        /* Interleaving feature: this event kind after the last site of another
         * thread (which code interleaved with the growth). */
        uint64_t f = mix64(((uint64_t)me->ctx_site << 32 | kind) ^
                           (uint64_t)(me->ctx_kind * 8u + me->cur_kind) * 0x5bd1e995ull ^
                           0x73747275637475ull);   /* "structu" */
        cov_hit(r, r->cov, (uint32_t)(f & (MF_COV_SIZE - 1)));
    }
}

/* ------------------------------------------------------------------ single writer */

static uint32_t SITE_WRITER_WAIT;

void mf_writer_enter(mf_slot *me)
{
    mf_runner *r = me->r;
    uint32_t exp = UINT32_MAX;
    /* Acquire on success: pairs with the release in mf_writer_leave, so this write
     * sees everything the previous writer did. Relaxed on failure (we retry). */
    while (!atomic_compare_exchange_weak_explicit(&r->writer, &exp, me->idx,
                                                  memory_order_acquire, memory_order_relaxed)) {
        exp = UINT32_MAX;
        /* controlled: let the holder run; stress: spin, yield, honour aborts */
        mf_host_event(me, SITE_WRITER_WAIT, EV_BLOCKED);
    }
}

void mf_writer_leave(mf_slot *me)
{
    /* Release: pairs with the acquire CAS of the next writer. */
    atomic_store_explicit(&me->r->writer, UINT32_MAX, memory_order_release);
}

void mf_host_init(mf_runner *r)
{
    r->host.base.ctx = r;
    r->host.base.point = host_point;
    r->host.base.blocked = host_blocked;
    r->host.size = sizeof r->host;
    r->host.version = MF_HOST_EXT_VERSION;
    r->host.event = host_struct_event;
    SITE_WRITER_WAIT = mf_site_id("runner:writer-wait");   /* before any pool thread runs */
}
