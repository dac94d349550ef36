/* mapfuzz runner: a persistent pool of pthreads that executes one plan against a
 * target and records the history (see mapfuzz_runner.h for the contract and
 * host.h for the scheduler invariants C1..C3 and the hang handling).
 *
 * Pool protocol. Each pool thread parks on its `go` word between runs. main
 * prepares a run (records, scheduler state, run generation `gen`) and posts:
 *   controlled: only the first thread the strategy picks; every later start or
 *               resumption is a hand-off from the running thread (C1, C2);
 *   stress:     every thread of the plan; they meet at a spin barrier.
 * Each thread runs its op list, calls target->thread_exit, and decrements
 * `remaining`; the last one posts main's `done` word. main waits with a watchdog
 * (mf_config.stress_timeout_ms, both modes): when it fires it raises `abort`, and
 * every thread unwinds at its next host call; one that never calls the host again
 * within MF_GRACE_MS makes the runner broken.
 *
 * Main plays (controlled mode). main does not post a pool thread and sleep: it
 * runs the first thread the strategy picks itself (slot->gow is then main's own
 * `main_go` word and slot->thr main's id), and after that slot finishes it waits
 * for `done`. That saves a hand-off at the start of every run, and the one at the
 * end when main's slot finishes last. The pool thread of that slot stays parked.
 * Targets see a run's threads as before (each op list runs on one OS thread,
 * target->thread_exit ends it); which OS thread plays which index was never part
 * of the contract (the pool's threads already play every index across runs).
 * The watchdog while main plays:
 *   main finished its slot: its wait on `done` has the deadline, as before.
 *   main inside its slot (running it, or parked in a hand-off wait like any pool
 *     thread, untimed: a timed futex wait costs more, and random-walk runs park
 *     main hundreds of times): only another thread can notice. The watchdog
 *     thread (wd_main) sleeps toward the armed run's deadline; past it, it
 *     signals main (rescue_sig): the handler raises the hang on main itself, so
 *     the flag is never raised for a later run, and the running thread unwinds at
 *     its next host call, releasing everyone (C3). If main is still inside its
 *     slot after the grace period, a second signal makes the handler leave the
 *     slot with longjmp: from a park that is a host call like any unwind; from
 *     target code it skips frames, as a stuck pool thread is left behind. Either
 *     way some thread stayed stuck: the runner is broken (and leaked).
 *   The watchdog costs a run nothing while deadlines only grow: main stores the
 *   deadline and the run id and posts the watchdog only when the new deadline is
 *   earlier than the one it sleeps toward (or it sleeps for good: no run armed).
 * PCT and replay runs only (see the random walk's note in mf_runner_run).
 * MAPFUZZ_MAIN_PLAYS=0 turns this off (main posts the first thread and sleeps), as
 * do a rescue signal taken by the process or blocked in the calling thread.
 *
 * Memory. Records, the arena, events, the trace and per-thread arenas grow as
 * needed and are reused across runs: a steady-state run allocates nothing. In the
 * parallel phase each thread writes only its own records and its own arena;
 * main merges the arenas (fixing offsets) after the phase.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "host.h"

static uint32_t SITE_CALL, SITE_RETURN;
static pthread_once_t sites_once = PTHREAD_ONCE_INIT;
static void sites_init(void)
{
    SITE_CALL = mf_site_id("op:call");
    SITE_RETURN = mf_site_id("op:return");
}

static const char *const OP_NAME[] = { "get", "put", "put_if_absent", "delete", "iterate", "len" };

/* ------------------------------------------------------------------ errors */

static void target_error(mf_runner *r, const char *fmt, ...)
{
    int exp = 0;
    /* Relaxed: elects the one writer of the message; main reads it after the
     * parallel phase, ordered by the `remaining`/`done` chain. */
    if (!atomic_compare_exchange_strong_explicit(&r->target_error, &exp, 1,
                                                 memory_order_relaxed, memory_order_relaxed))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err_msg, sizeof r->err_msg, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ one op */

typedef struct visit_ctx {
    mf_buf *arena;
    mf_buf *items;
    int oom;
} visit_ctx;

/* One item an iterate visits: its key and value bytes go to the arena back to
 * back (key, value, key, value...: the Python decoder relies on this contiguity,
 * harness/run/runner.py _items_memo), its mf_item to the items scratch. */
static int visit(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    visit_ctx *v = ctx;
    mf_buf *a = v->arena, *its = v->items;
    if (mf_buf_reserve(a, klen + vlen) || mf_buf_reserve(its, sizeof(mf_item))) {
        v->oom = 1;
        return 1;
    }
    mf_item it;
    it.key_off = a->len;
    it.key_len = (uint32_t)klen;
    it.val_off = a->len + klen;
    it.val_len = (uint32_t)vlen;
    memcpy(a->p + a->len, key, klen);
    memcpy(a->p + a->len + klen, val, vlen);
    a->len += klen + vlen;
    memcpy(its->p + its->len, &it, sizeof it);
    its->len += sizeof it;
    return 0;
}

static int align8(mf_buf *b)
{
    size_t pad = (8 - (b->len & 7)) & 7;
    static const uint8_t zero[8];
    return mf_buf_append(b, zero, pad);
}

/* Runs one op and fills its record (kind/thread/key/value are preset). `me` is
 * the pool thread in the parallel phase, NULL on main (prefill/post). */
static void do_op(mf_runner *r, mf_slot *me, const mf_op *op, mf_record *rec,
                  mf_buf *arena, mf_buf *items)
{
    const mf_plan *p = r->plan;
    const mf_target *T = r->target;
    void *map = r->map;
    uint8_t out[MF_MAX_VALUE];
    size_t olen = 0;
    const uint8_t *k = NULL, *v = NULL;
    size_t klen = 0, vlen = 0;
    int kind = op->kind;
    if (kind <= MF_OP_DELETE) {
        k = p->key_data + p->key_off[op->key];
        klen = p->key_off[op->key + 1] - p->key_off[op->key];
    }
    if (kind == MF_OP_PUT || kind == MF_OP_PUT_IF_ABSENT) {
        v = p->val_data + p->val_off[op->value];
        vlen = p->val_off[op->value + 1] - p->val_off[op->value];
    }
    if (me)
        mf_host_event(me, SITE_CALL, EV_CALL);
    /* A target without MF_CAP_MULTI_WRITER is driven under its contract: one
     * write op in flight at a time (readers run alongside). The turn is taken
     * after the call point and before t_call, so the op's interval lies inside it. */
    int turn = me && kind <= MF_OP_DELETE && kind != MF_OP_GET &&
               !(T->caps & MF_CAP_MULTI_WRITER);
    if (turn)
        mf_writer_enter(me);

    /* Free-running pool threads (stress mode): seq_cst RMW + fence: t_call is
     * taken before any memory access of the op (the fence keeps the op's loads
     * from moving above the increment); pairs with the fence before t_ret in
     * other threads, so a.t_ret < b.t_call means a finished before b started
     * (mapfuzz_runner.h, timestamps).
     * One thread at a time (controlled mode, C1; main in the sequential phases):
     * relaxed load + store, no RMW, no fence. Only that thread touches the clock,
     * and every change of thread is a go/done hand-off (release post, acquire
     * wait) that orders all of a's op and its t_ret before b's t_call and op, the
     * same guarantee the fences give, so the timestamps mean the same thing. */
    int serial = !me || r->mode == MF_MODE_CONTROLLED;
    if (serial) {
        uint64_t t = atomic_load_explicit(&r->clock, memory_order_relaxed);
        atomic_store_explicit(&r->clock, t + 1, memory_order_relaxed);
        rec->t_call = t;
    } else {
        rec->t_call = atomic_fetch_add_explicit(&r->clock, 1, memory_order_seq_cst);
        atomic_thread_fence(memory_order_seq_cst);
    }
    int st = 0;
    int64_t len = 0;
    visit_ctx vc = { arena, items, 0 };
    switch (kind) {
    case MF_OP_GET:
        st = T->get(map, k, klen, out, &olen);
        if (st != 1)
            olen = 0;
        break;
    case MF_OP_PUT:
        st = T->put(map, k, klen, v, vlen, out, &olen);
        if (st != 1)
            olen = 0;
        break;
    case MF_OP_PUT_IF_ABSENT:
        st = T->put_if_absent(map, k, klen, v, vlen, out, &olen);
        if (st != 0)
            olen = 0;
        break;
    case MF_OP_DELETE:
        st = T->del(map, k, klen, out, &olen);
        if (st != 1)
            olen = 0;
        break;
    case MF_OP_ITERATE:
        items->len = 0;
        st = T->iterate(map, visit, &vc);
        break;
    default:
        len = T->len(map);
        st = len < 0 ? (len < INT32_MIN ? INT32_MIN : (int)len) : 0;
        break;
    }
    if (serial) {
        /* Relaxed, one thread at a time: see t_call above. */
        uint64_t t = atomic_load_explicit(&r->clock, memory_order_relaxed);
        atomic_store_explicit(&r->clock, t + 1, memory_order_relaxed);
        rec->t_ret = t;
    } else {
        /* Fence + seq_cst RMW: every access of the op is done before t_ret is
         * taken; pairs with the fence after t_call above (in this and other
         * threads). */
        atomic_thread_fence(memory_order_seq_cst);
        rec->t_ret = atomic_fetch_add_explicit(&r->clock, 1, memory_order_seq_cst);
    }
    if (turn)
        mf_writer_leave(me);

    rec->status = st;
    if (st < 0) {
        if (me)
            target_error(r, "%s (thread %u, op %u) returned %d", OP_NAME[kind], me->idx,
                         me->cur_op, st);
        else
            target_error(r, "%s (sequential phase) returned %d", OP_NAME[kind], st);
    }
    if (olen > MF_MAX_VALUE) {
        target_error(r, "%s returned a value of %zu bytes, more than MF_MAX_VALUE (%d)",
                     OP_NAME[kind], olen, MF_MAX_VALUE);
        olen = MF_MAX_VALUE;
    }
    if (olen) {
        rec->out_off = arena->len;
        rec->out_len = (uint32_t)olen;
        if (mf_buf_append(arena, out, olen)) {
            rec->out_len = 0;
            target_error(r, "out of memory recording a value");
        }
    }
    if (kind == MF_OP_ITERATE) {
        if (vc.oom || align8(arena)) {
            target_error(r, "out of memory recording an iteration");
        } else {
            rec->out_off = arena->len;
            rec->len = (int64_t)(items->len / sizeof(mf_item));
            if (mf_buf_append(arena, items->p, items->len))
                target_error(r, "out of memory recording an iteration");
        }
    } else if (kind == MF_OP_LEN) {
        rec->len = len;
    }
    if (me)
        mf_host_event(me, SITE_RETURN, EV_RETURN);
}

/* ------------------------------------------------------------------ pool */

static void run_ops(mf_slot *me)
{
    mf_runner *r = me->r;
    const mf_plan *p = r->plan;
    uint32_t t = me->idx;
    uint32_t n = p->thread_nops[t];
    const mf_op *ops = p->ops + r->op_base[t];
    mf_record *rec = r->records + r->rec_base[t];

    if (r->mode == MF_MODE_CONTROLLED) {
        /* Relaxed: posted to us after the flag was raised (release/acquire). */
        if (atomic_load_explicit(&r->abort, memory_order_relaxed))
            mf_abort_run(r, me, MF_EXEC_HANG, "aborted");
    } else {
        /* Spin barrier: relaxed increments; the loads only need to see the count
         * eventually (the run's setup was published by main's go posts). */
        uint32_t np = p->nthreads;
        atomic_fetch_add_explicit(&r->arrived, 1, memory_order_relaxed);
        while (atomic_load_explicit(&r->arrived, memory_order_relaxed) < np) {
            if (atomic_load_explicit(&r->abort, memory_order_relaxed))
                longjmp(me->jb, 1);
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
    }
    /* An instrumented target's hooks report to this runner's host from here to
     * the end of the thread's part (run_job detaches, also after an abort). */
    if (r->inst)
        r->inst->attach(&r->host.base);
    for (uint32_t i = 0; i < n; i++) {
        me->cur_op = i;
        me->cur_kind = ops[i].kind;
        do_op(r, me, &ops[i], &rec[i], &me->arena, &me->items);
    }
    if (r->target->thread_exit)
        r->target->thread_exit(r->map);
}

/* After destroy, with no thread inside the map: give back what an instrumented
 * target's free() held back (mf_instrument.h, version 2). */
static void inst_flush(mf_runner *r)
{
    if (r->inst && r->inst->version >= 2 && r->inst->flush)
        r->inst->flush();
}

static void run_job(mf_slot *const me)
{
    me->arena.len = 0;
    me->steps = 0;
    me->active = 1;
    if (setjmp(me->jb) == 0) {
        run_ops(me);
        if (me->r->inst)
            me->r->inst->attach(NULL);
        me->active = 0;
        if (me->r->mode == MF_MODE_CONTROLLED)
            mf_sched_finish(me);
        else
            mf_thread_done(me->r);
    } else {
        /* Unwound from a host call by an abort (C3). */
        if (me->r->inst)
            me->r->inst->attach(NULL);
        me->active = 0;
        mf_thread_done(me->r);
    }
}

static void *pool_main(void *arg)
{
    mf_slot *me = arg;
    mf_runner *r = me->r;
    mf_tls_slot = me;
    for (;;) {
        mf_wait_word(&me->go, r->spin, 0);
        /* Acquire (in mf_wait_word) ordered main's quit store before us. */
        if (atomic_load_explicit(&r->quit, memory_order_relaxed))
            break;
        if (me->ran_gen == r->gen)
            continue;   /* cannot happen: each thread is posted once per run */
        me->ran_gen = r->gen;
        run_job(me);
    }
    return NULL;
}

/* ------------------------------------------------------------------ main plays */

/* What main plays right now, for the rescue signal's handler (main's own thread
 * reads it: volatile keeps the stores where the code puts them). */
typedef struct main_part_ctx {
    mf_runner *volatile r;        /* NULL: main is not inside a slot's part */
    mf_slot *volatile me;
    volatile uint64_t run;        /* the run (gen) main plays in */
    volatile int rescued;         /* set by the handler before it leaves the part */
} main_part_ctx;
static __thread main_part_ctx mp_ctx;
static __thread int mp_tid;       /* main's kernel thread id, cached (0: not yet) */

static int rescue_sig;            /* 0: no signal available, main never plays */
static pthread_once_t rescue_once = PTHREAD_ONCE_INIT;

/* The watchdog's signal, on main. The watchdog stored late_run or stuck_run
 * before tgkill; a signal for another run than the one main plays now (it
 * finished in between) does nothing. */
static void rescue_handler(int sig)
{
    (void)sig;
    int saved = errno;
    mf_runner *r = mp_ctx.r;
    if (r) {
        uint64_t run = mp_ctx.run;
        /* Relaxed: the watchdog's stores precede its tgkill, which is a kernel call
         * in its thread; the signal's delivery follows it. A stale value names an
         * older run and is ignored. */
        if (atomic_load_explicit(&r->stuck_run, memory_order_relaxed) == run) {
            mp_ctx.rescued = 1;
            mf_raise_watchdog(r);
            mf_slot *me = mp_ctx.me;
            mp_ctx.r = NULL;
            errno = saved;
            longjmp(me->jb, 1);   /* SA_NODEFER: the signal stays unblocked */
        }
        if (atomic_load_explicit(&r->late_run, memory_order_relaxed) == run)
            mf_raise_watchdog(r);   /* main unwinds at its next host call */
    }
    errno = saved;
}

static void rescue_init(void)
{
    int sig = SIGRTMIN + 6;
    struct sigaction old, sa;
    if (sig > SIGRTMAX || sigaction(sig, NULL, &old) || old.sa_handler != SIG_DFL ||
        (old.sa_flags & SA_SIGINFO))
        return;   /* taken by the process: main does not play */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = rescue_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART | SA_NODEFER;
    if (sigaction(sig, &sa, NULL) == 0)
        rescue_sig = sig;
}

static void wd_signal(mf_runner *r, _Atomic uint64_t *which, uint64_t run)
{
    /* Relaxed: read by the handler on main after the kernel delivered the signal
     * this thread sends next (see rescue_handler). */
    atomic_store_explicit(which, run, memory_order_relaxed);
    /* Relaxed: main stores it before its seq_cst arm of the run this thread read. */
    syscall(SYS_tgkill, getpid(), atomic_load_explicit(&r->main_tid, memory_order_relaxed),
            rescue_sig);
}

/* The watchdog thread of a runner whose main plays. It sleeps on wd_word toward
 * the armed run's deadline (wd_target tells main how far it sleeps). */
static void *wd_main(void *arg)
{
    mf_runner *r = arg;
    uint64_t late = 0, handled = 0;
    for (;;) {
        /* Relaxed: published by the release post of wd_word in mf_runner_free. */
        if (atomic_load_explicit(&r->quit, memory_order_relaxed))
            break;
        /* seq_cst: pairs with main's seq_cst store of wd_run in wd_arm (Dekker with
         * wd_target below); also an acquire of the deadline main stored before. */
        uint64_t run = atomic_load_explicit(&r->wd_run, memory_order_seq_cst);
        uint64_t target = UINT64_MAX;
        if (run && run != handled) {
            /* Relaxed: ordered after main's store by the seq_cst load of wd_run. */
            uint64_t dl = atomic_load_explicit(&r->wd_deadline, memory_order_relaxed);
            if (run == late)
                dl += MF_GRACE_MS * 1000000ull;
            if (mf_now_ns() >= dl) {
                if (run != late) {
                    late = run;
                    wd_signal(r, &r->late_run, run);
                } else {
                    handled = run;   /* main still in its slot: leave it (broken) */
                    wd_signal(r, &r->stuck_run, run);
                }
                continue;
            }
            target = dl;
        }
        /* seq_cst store, then re-load wd_run (seq_cst): either main's wd_arm sees
         * this target (and posts when its deadline is earlier), or this load sees
         * main's new run: no run's deadline is slept through. */
        atomic_store_explicit(&r->wd_target, target, memory_order_seq_cst);
        if (atomic_load_explicit(&r->wd_run, memory_order_seq_cst) != run)
            continue;
        mf_wait_until(&r->wd_word, 0, target == UINT64_MAX ? 0 : target);
    }
    return NULL;
}

/* Arm the watchdog for this run (main). */
static void wd_arm(mf_runner *r)
{
    /* Relaxed: published by the seq_cst store of wd_run that follows. */
    atomic_store_explicit(&r->wd_deadline, r->deadline_ns, memory_order_relaxed);
    /* seq_cst: pairs with the watchdog's store of wd_target and load of wd_run. */
    atomic_store_explicit(&r->wd_run, r->gen, memory_order_seq_cst);
    if (atomic_load_explicit(&r->wd_target, memory_order_seq_cst) > r->deadline_ns)
        mf_post_word(&r->wd_word);   /* release: it sleeps past this deadline; wake it */
}

/* Start the watchdog thread on the first run where main plays; 0 ok. */
static int wd_start(mf_runner *r)
{
    if (r->wd_started)
        return 0;
    /* Relaxed: the thread reads them after pthread_create (which orders them). */
    atomic_store_explicit(&r->wd_target, UINT64_MAX, memory_order_relaxed);
    atomic_store_explicit(&r->wd_run, 0, memory_order_relaxed);
    if (pthread_create(&r->wd_tid, NULL, wd_main, r))
        return -1;
    r->wd_started = 1;
    return 0;
}

/* The rescue signal reaches this thread (it is not blocked here). Checked once per
 * thread (a sigprocmask call per run would cost more than a hand-off saves): a
 * thread that blocks it later would leave a stuck slot of its own unrescued. */
static int main_can_play(void)
{
    static __thread int ok;       /* 0 unknown, 1 yes, -1 no */
    if (!ok) {
        sigset_t cur;
        ok = pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0 && !sigismember(&cur, rescue_sig)
             ? 1 : -1;
    }
    return ok > 0;
}

static void run_job(mf_slot *const me);

/* main plays slot `me` of this run (controlled mode). */
static void main_part(mf_runner *r, mf_slot *me)
{
    if (!mp_tid)
        mp_tid = (int)syscall(SYS_gettid);
    /* Relaxed: published by the seq_cst store of wd_run in wd_arm. */
    atomic_store_explicit(&r->main_tid, mp_tid, memory_order_relaxed);
    mp_ctx.me = me;
    mp_ctx.run = r->gen;
    mp_ctx.rescued = 0;
    mp_ctx.r = r;
    /* Keeps the stores above before the arming the signal follows (same thread). */
    atomic_signal_fence(memory_order_seq_cst);
    wd_arm(r);
    run_job(me);
    mp_ctx.r = NULL;
    atomic_signal_fence(memory_order_seq_cst);   /* the handler sees NULL from here */
    /* Relaxed: a later run's arm republishes it (seq_cst); the watchdog reading
     * this run id late only signals main for a run it no longer plays. */
    atomic_store_explicit(&r->wd_run, 0, memory_order_relaxed);
    if (mp_ctx.rescued)
        r->broken = 1;
}

/* Pin the first n pool threads to `cpu` (-1: the runner's full mask), skipping
 * the ones already there. Best effort: a failure leaves the thread where it is. */
static void pin_threads(mf_runner *r, uint32_t n, int cpu)
{
    for (uint32_t i = 0; i < n; i++) {
        mf_slot *s = &r->slots[i];
        if (s->pinned == cpu)
            continue;
        cpu_set_t one;
        CPU_ZERO(&one);
        if (cpu >= 0)
            CPU_SET(cpu, &one);
        if (pthread_setaffinity_np(s->tid, sizeof one, cpu >= 0 ? &one : &r->cpus) == 0)
            s->pinned = cpu;
    }
}

/* ------------------------------------------------------------------ new/free */

mf_runner *mf_runner_new(const mf_target *target, uint32_t max_threads, char *err, size_t cap)
{
    pthread_once(&sites_once, sites_init);
    if (!target) {
        snprintf(err, cap, "no target (NULL table)");
        return NULL;
    }
    if (!target->create || !target->destroy || !target->get || !target->put ||
        !target->del || !target->len) {
        snprintf(err, cap, "target %s lacks a required function (create, destroy, get, put, "
                 "del and len are required)", target->name ? target->name : "(unnamed)");
        return NULL;
    }
    if (max_threads == 0 || max_threads > MF_MAX_THREADS) {
        snprintf(err, cap, "max_threads %u out of range 1..%d", max_threads, MF_MAX_THREADS);
        return NULL;
    }
    mf_runner *r = calloc(1, sizeof *r);
    if (!r)
        goto oom;
    r->target = target;
    r->inst = mf_target_instrument(target);
    r->max_threads = max_threads;
    r->slots = calloc(max_threads, sizeof *r->slots);
    r->events = malloc(MF_EVENT_CAP * sizeof *r->events);
    r->cov = calloc(MF_COV_SIZE, 1);
    r->cov_touched = malloc(MF_COV_SIZE * sizeof *r->cov_touched);
    if (!r->slots || !r->events || !r->cov || !r->cov_touched)
        goto oom;
    mf_host_init(r);
    r->site_exit = mf_site_id("thread:exit");
    /* No spinning before sleeping on a hand-off word by default: in controlled mode
     * the thread handed to is parked anyway, and a spinning waiter steals the CPU
     * the running thread needs (measured: spin 200 halves PCT throughput on 2 cores). */
    r->spin = 0;
    const char *env = getenv("MAPFUZZ_SPIN");
    if (env)
        r->spin = atoi(env);
    /* Controlled mode runs one thread at a time, so it gains nothing from several
     * CPUs and pays for them: waking a thread parked on another (idle) CPU costs
     * an inter-processor interrupt, 10-20 us on a VM against ~1-2 us for a switch
     * on one CPU. So a controlled run pins its pool threads to the CPU main is on
     * (re-pinned only when main moved); stress runs get the full mask back.
     * MAPFUZZ_PIN=0 turns this off. */
    env = getenv("MAPFUZZ_MAIN_PLAYS");
    pthread_once(&rescue_once, rescue_init);
    r->main_plays = rescue_sig && !(env && env[0] == '0');
    r->main_slot = UINT32_MAX;
    env = getenv("MAPFUZZ_PIN");
    r->pin = !(env && env[0] == '0');
    if (pthread_getaffinity_np(pthread_self(), sizeof r->cpus, &r->cpus))
        r->pin = 0;
    for (uint32_t i = 0; i < max_threads; i++) {
        mf_slot *s = &r->slots[i];
        s->r = r;
        s->idx = i;
        s->pinned = -1;
        if (pthread_create(&s->tid, NULL, pool_main, s)) {
            snprintf(err, cap, "pthread_create failed for pool thread %u", i);
            /* Relaxed: published by the release post below (pool loop acquires). */
            atomic_store_explicit(&r->quit, 1, memory_order_relaxed);
            for (uint32_t j = 0; j < i; j++) {
                mf_post_word(&r->slots[j].go);   /* release: publishes quit */
                pthread_join(r->slots[j].tid, NULL);
            }
            goto fail;
        }
    }
    return r;
oom:
    snprintf(err, cap, "out of memory creating the runner");
fail:
    if (r) {
        free(r->slots);
        free(r->events);
        free(r->cov);
        free(r->cov_touched);
        free(r);
    }
    return NULL;
}

void mf_runner_free(mf_runner *r)
{
    if (!r)
        return;
    if (r->broken)
        return;   /* a pool thread may still touch r: leak it (see host.h) */
    /* Relaxed: published by the release posts below (pool loop acquires). */
    atomic_store_explicit(&r->quit, 1, memory_order_relaxed);
    if (r->wd_started) {
        mf_post_word(&r->wd_word);   /* release: publishes quit to the watchdog */
        pthread_join(r->wd_tid, NULL);
    }
    for (uint32_t i = 0; i < r->max_threads; i++) {
        mf_post_word(&r->slots[i].go);   /* release: pairs with the pool loop's acquire */
        pthread_join(r->slots[i].tid, NULL);
        mf_buf_free(&r->slots[i].arena);
        mf_buf_free(&r->slots[i].items);
    }
    free(r->slots);
    free(r->events);
    free(r->cov);
    free(r->cov_touched);
    free(r->records);
    free(r->trace);
    free(r->rec_base);
    free(r->op_base);
    mf_buf_free(&r->arena);
    mf_buf_free(&r->seq_items);
    free(r);
}

uint8_t *mf_runner_coverage(mf_runner *r)
{
    return r ? r->cov : NULL;
}

uint32_t mf_runner_features(mf_runner *r)
{
    return r ? r->nfeatures : 0;
}

/* ------------------------------------------------------------------ validation */

static int bad(mf_result *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof out->message, fmt, ap);
    va_end(ap);
    out->status = MF_EXEC_BAD_PLAN;
    return -1;
}

static int check_ops(mf_runner *r, const mf_plan *p, const mf_op *ops, uint32_t n,
                     const char *where, uint32_t thread, mf_result *out)
{
    for (uint32_t i = 0; i < n; i++) {
        const mf_op *o = &ops[i];
        if (o->kind > MF_OP_LEN)
            return bad(out, "%s %u, op %u: unknown op kind %u", where, thread, i, o->kind);
        if (o->kind <= MF_OP_DELETE && o->key >= p->nkeys)
            return bad(out, "%s %u, op %u: key index %u out of range (the plan has %u keys)",
                       where, thread, i, o->key, p->nkeys);
        if ((o->kind == MF_OP_PUT || o->kind == MF_OP_PUT_IF_ABSENT) &&
            (o->value < 0 || (uint32_t)o->value >= p->nvalues))
            return bad(out, "%s %u, op %u: value index %d out of range (the plan has %u values)",
                       where, thread, i, o->value, p->nvalues);
        if (o->kind == MF_OP_PUT_IF_ABSENT && !r->target->put_if_absent)
            return bad(out, "%s %u, op %u: put_if_absent, which target %s does not provide",
                       where, thread, i, r->target->name);
        if (o->kind == MF_OP_ITERATE && !r->target->iterate)
            return bad(out, "%s %u, op %u: iterate, which target %s does not provide",
                       where, thread, i, r->target->name);
    }
    return 0;
}

static int validate(mf_runner *r, const mf_plan *p, const mf_config *c, mf_result *out)
{
    if (!p || !c)
        return bad(out, "no plan or no config");
    if (p->nthreads < 1 || p->nthreads > r->max_threads)
        return bad(out, "plan has %u threads; this runner runs 1..%u (create it with a larger "
                   "max_threads, at most %d)", p->nthreads, r->max_threads, MF_MAX_THREADS);
    if (p->nkeys > 65535)
        return bad(out, "plan has %u keys; at most 65535", p->nkeys);
    if (p->nkeys && (!p->key_off || !p->key_data))
        return bad(out, "plan has %u keys but no key table", p->nkeys);
    for (uint32_t i = 0; i < p->nkeys; i++) {
        if (p->key_off[i + 1] < p->key_off[i])
            return bad(out, "key %u: offsets go backwards", i);
        uint32_t l = p->key_off[i + 1] - p->key_off[i];
        if (l < 1 || l > MF_MAX_KEY)
            return bad(out, "key %u is %u bytes; keys are 1..%d bytes (tag byte first)",
                       i, l, MF_MAX_KEY);
    }
    if (p->nvalues && (!p->val_off || !p->val_data))
        return bad(out, "plan has %u values but no value table", p->nvalues);
    for (uint32_t i = 0; i < p->nvalues; i++) {
        if (p->val_off[i + 1] < p->val_off[i])
            return bad(out, "value %u: offsets go backwards", i);
        uint32_t l = p->val_off[i + 1] - p->val_off[i];
        if (l < 1 || l > MF_MAX_VALUE)
            return bad(out, "value %u is %u bytes; values are 1..%d bytes (tag byte first)",
                       i, l, MF_MAX_VALUE);
    }
    if (p->nprefill && !p->prefill)
        return bad(out, "plan has %u prefill ops but no list", p->nprefill);
    if (check_ops(r, p, p->prefill, p->nprefill, "prefill", 0, out))
        return -1;
    if (!p->thread_nops)
        return bad(out, "plan has no thread op counts");
    uint64_t total = 0;
    for (uint32_t t = 0; t < p->nthreads; t++)
        total += p->thread_nops[t];
    if (total > (1u << 24))
        return bad(out, "plan has %llu parallel ops; at most %u", (unsigned long long)total, 1u << 24);
    if (total && !p->ops)
        return bad(out, "plan has %llu parallel ops but no list", (unsigned long long)total);
    for (uint32_t t = 0, base = 0; t < p->nthreads; t++) {
        if (check_ops(r, p, p->ops + base, p->thread_nops[t], "thread", t, out))
            return -1;
        base += p->thread_nops[t];
    }
    if (c->mode != MF_MODE_CONTROLLED && c->mode != MF_MODE_STRESS)
        return bad(out, "unknown mode %d", c->mode);
    if (c->mode == MF_MODE_CONTROLLED && (c->strategy < MF_STRAT_RANDOM || c->strategy > MF_STRAT_REPLAY))
        return bad(out, "unknown strategy %d", c->strategy);
    if (c->strategy == MF_STRAT_REPLAY && c->replay_len && !c->replay)
        return bad(out, "replay_len %u but no replay trace", c->replay_len);
    if (!(c->noise >= 0.0 && c->noise <= 1.0))
        return bad(out, "noise %g out of range 0..1", c->noise);
    return 0;
}

/* ------------------------------------------------------------------ one run */

static int grow_records(mf_runner *r, size_t n)
{
    if (n <= r->rec_cap)
        return 0;
    size_t cap = r->rec_cap ? r->rec_cap : 256;
    while (cap < n)
        cap *= 2;
    mf_record *nr = realloc(r->records, cap * sizeof *nr);
    if (!nr)
        return -1;
    r->records = nr;
    r->rec_cap = cap;
    return 0;
}

static void preset(mf_record *rec, const mf_op *op, uint8_t thread)
{
    rec->kind = op->kind;
    rec->thread = thread;
    rec->key = op->kind <= MF_OP_DELETE ? op->key : 0;
    rec->value = (op->kind == MF_OP_PUT || op->kind == MF_OP_PUT_IF_ABSENT) ? op->value : MF_NO_VALUE;
    rec->status = 0;
    rec->out_len = 0;
    rec->out_off = 0;
    rec->t_call = UINT64_MAX;
    rec->t_ret = UINT64_MAX;
    rec->len = 0;
}

/* Append a thread's arena to the merged one, fixing its records' offsets. */
static int merge_arena(mf_runner *r, mf_slot *s, mf_record *rec, uint32_t n)
{
    if (align8(&r->arena))
        return -1;
    uint64_t base = r->arena.len;
    if (mf_buf_append(&r->arena, s->arena.p, s->arena.len))
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        mf_record *x = &rec[i];
        if (x->out_len)
            x->out_off += base;
        if (x->kind == MF_OP_ITERATE && x->t_ret != UINT64_MAX) {
            x->out_off += base;
            mf_item *it = (mf_item *)(r->arena.p + x->out_off);
            for (int64_t j = 0; j < x->len; j++) {
                it[j].key_off += base;
                it[j].val_off += base;
            }
        }
    }
    return 0;
}

int mf_runner_run(mf_runner *r, const mf_plan *p, const mf_config *c, mf_result *out)
{
    memset(out, 0, sizeof *out);
    if (!r) {
        snprintf(out->message, sizeof out->message, "no runner");
        return -1;
    }
    if (r->broken) {
        out->broken = 1;
        snprintf(out->message, sizeof out->message, "this runner is broken: a pool thread stayed "
                 "stuck inside the target after a hang; free it and create a new runner");
        return -1;
    }
    pthread_once(&sites_once, sites_init);
    if (validate(r, p, c, out))
        return 0;

    uint32_t n = p->nthreads;
    size_t total = 0;
    if (!r->rec_base) {
        r->rec_base = calloc(MF_MAX_THREADS, sizeof *r->rec_base);
        r->op_base = calloc(MF_MAX_THREADS, sizeof *r->op_base);
        if (!r->rec_base || !r->op_base)
            goto oom;
    }
    for (uint32_t t = 0; t < n; t++) {
        r->op_base[t] = (uint32_t)total;
        r->rec_base[t] = p->nprefill + (uint32_t)total;
        total += p->thread_nops[t];
    }
    size_t npost = p->nkeys + (r->target->iterate ? 1 : 0) + 1;
    size_t nrec = p->nprefill + total + npost;
    if (grow_records(r, nrec))
        goto oom;

    r->plan = p;
    r->cfg = c;
    r->mode = c->mode;
    for (uint32_t i = 0; i < r->ncov_touched; i++)
        r->cov[r->cov_touched[i]] = 0;
    r->ncov_touched = 0;
    r->arena.len = 0;
    r->nevents = 0;
    r->events_truncated = 0;
    r->ntrace = 0;
    r->trace_oom = 0;
    /* Relaxed stores: published to the pool threads by main's go posts (release). */
    atomic_store_explicit(&r->abort, 0, memory_order_relaxed);
    atomic_store_explicit(&r->target_error, 0, memory_order_relaxed);
    atomic_store_explicit(&r->clock, 0, memory_order_relaxed);
    r->abort_msg[0] = 0;
    r->err_msg[0] = 0;
    /* Relaxed: main alone until the go posts (release) publish them. */
    atomic_store_explicit(&r->nsevents, 0, memory_order_relaxed);
    atomic_store_explicit(&r->growing, 0, memory_order_relaxed);
    atomic_store_explicit(&r->writer, UINT32_MAX, memory_order_relaxed);
    if (c->trace_mirror && c->trace_mirror_cap)
        c->trace_mirror[0] = 0;

    for (uint32_t i = 0; i < p->nprefill; i++)
        preset(&r->records[i], &p->prefill[i], MF_THREAD_SEQ);
    for (uint32_t t = 0; t < n; t++)
        for (uint32_t i = 0; i < p->thread_nops[t]; i++)
            preset(&r->records[r->rec_base[t] + i], &p->ops[r->op_base[t] + i], (uint8_t)t);

    r->map = r->target->create(&r->host.base, p->hash_seed, (size_t)p->capacity, p->variant);
    if (!r->map) {
        out->status = MF_EXEC_TARGET_ERROR;
        snprintf(out->message, sizeof out->message, "create returned NULL (variant %u, capacity %llu)",
                 p->variant, (unsigned long long)p->capacity);
        return 0;
    }

    /* prefill: main, host calls are no-ops (mf_tls_slot is NULL here) */
    for (uint32_t i = 0; i < p->nprefill; i++)
        do_op(r, NULL, &p->prefill[i], &r->records[i], &r->arena, &r->seq_items);

    /* parallel phase */
    r->gen++;
    atomic_store_explicit(&r->remaining, n, memory_order_relaxed);   /* published by the posts */
    atomic_store_explicit(&r->done, 0, memory_order_relaxed);
    if (r->pin) {
        int cpu = c->mode == MF_MODE_CONTROLLED ? sched_getcpu() : -1;
        if (cpu >= 0 && !CPU_ISSET(cpu, &r->cpus))
            cpu = -1;
        pin_threads(r, n, cpu);
    }
    r->timeout_ms = c->stress_timeout_ms ? c->stress_timeout_ms : MF_DEFAULT_TIMEOUT_MS;
    mf_watchdog_message(r);
    r->deadline_ns = mf_now_ns() + (uint64_t)r->timeout_ms * 1000000ull;
    r->main_slot = UINT32_MAX;
    if (c->mode == MF_MODE_CONTROLLED) {
        mf_sched_begin(r);
        uint32_t first = r->s.cur;
        for (uint32_t t = 0; t < n; t++) {
            r->slots[t].gow = &r->slots[t].go;
            r->slots[t].thr = r->slots[t].tid;
        }
        if (r->main_plays && wd_start(r))
            r->main_plays = 0;   /* no watchdog thread: main sleeps as before */
        /* Not under the random walk: it hands off at nearly every event, so main
         * would be woken hundreds of times per run, and main is not pinned to the
         * pool's CPU (a wake on the other CPU costs an interrupt): measured 5%
         * slower there, for one or two hand-offs saved out of ~250. */
        if (r->main_plays && c->strategy != MF_STRAT_RANDOM && main_can_play()) {
            mf_slot *me = &r->slots[first];
            r->main_slot = first;
            r->main_thr = pthread_self();
            me->gow = &r->main_go;
            me->thr = r->main_thr;
            /* Relaxed: main's own word; only this run's threads post it, after
             * main's setup reached them through the hand-off chain. */
            atomic_store_explicit(&r->main_go, 0, memory_order_relaxed);
            main_part(r, me);
        } else {
            mf_post_word(&r->slots[first].go);   /* release: the run's setup (C2 starts here) */
        }
    } else {
        mf_stress_begin(r);
        for (uint32_t t = 0; t < n; t++)
            mf_post_word(&r->slots[t].go);       /* release: the run's setup */
    }
    if (r->broken) {
        out->broken = 1;   /* main left its slot: a thread stayed stuck in the target */
    } else if (mf_wait_until(&r->done, r->spin, r->deadline_ns)) {
        mf_raise_watchdog(r);
        if (mf_wait_word(&r->done, 0, MF_GRACE_MS)) {
            r->broken = 1;
            out->broken = 1;
        }
    }

    if (!r->broken)
        /* Relaxed: every pool thread is parked again; the next run's posts publish it. */
        atomic_store_explicit(&r->running, NULL, memory_order_relaxed);
    int status = MF_EXEC_OK;
    /* Relaxed: ordered by the acquire of `done` above (or irrelevant when broken). */
    int ab = atomic_load_explicit(&r->abort, memory_order_relaxed);
    if (!r->broken)
        for (uint32_t t = 0; t < n; t++)
            if (merge_arena(r, &r->slots[t], &r->records[r->rec_base[t]], p->thread_nops[t]))
                goto oom;
    uint64_t steps = 0;
    if (c->mode == MF_MODE_CONTROLLED) {
        steps = r->s.steps;
    } else {
        for (uint32_t t = 0; t < n; t++)
            steps += r->slots[t].steps;
    }

    size_t nrecords = p->nprefill + total;
    if (ab) {
        status = ab;
        snprintf(out->message, sizeof out->message, "%s%s", r->abort_msg,
                 r->broken ? "; a thread never came back (stuck in the target without "
                 "calling the host): this runner is broken, create a new one" : "");
        /* The post phase is skipped (a lock the unwound ops held may still be held).
         * The map is destroyed when every thread came back (no thread is inside it),
         * leaked otherwise. */
        if (!r->broken) {
            r->target->destroy(r->map);
            inst_flush(r);
        }
    } else {
        /* post phase, quiescent, on main */
        mf_record *rec = r->records + nrecords;
        mf_op op = { MF_OP_GET, 0, 0, MF_NO_VALUE };
        for (uint32_t k = 0; k < p->nkeys; k++) {
            op.key = (uint16_t)k;
            preset(rec, &op, MF_THREAD_SEQ);
            do_op(r, NULL, &op, rec++, &r->arena, &r->seq_items);
        }
        if (r->target->iterate) {
            op.kind = MF_OP_ITERATE;
            op.key = 0;
            preset(rec, &op, MF_THREAD_SEQ);
            do_op(r, NULL, &op, rec++, &r->arena, &r->seq_items);
        }
        op.kind = MF_OP_LEN;
        preset(rec, &op, MF_THREAD_SEQ);
        do_op(r, NULL, &op, rec++, &r->arena, &r->seq_items);
        nrecords = (size_t)(rec - r->records);
        char msg[sizeof out->message];
        msg[0] = 0;
        int inv = r->target->check ? r->target->check(r->map, msg, sizeof msg) : 0;
        msg[sizeof msg - 1] = 0;
        r->target->destroy(r->map);
        inst_flush(r);
        /* Relaxed: every pool thread's write was ordered before main's acquire of
         * `done`; main's own writes are program-ordered. */
        if (atomic_load_explicit(&r->target_error, memory_order_relaxed)) {
            status = MF_EXEC_TARGET_ERROR;
            snprintf(out->message, sizeof out->message, "%s", r->err_msg);
        } else if (inv) {
            status = MF_EXEC_INVARIANT;
            snprintf(out->message, sizeof out->message, "%s", msg[0] ? msg : "check failed (no message)");
        }
    }
    r->map = NULL;
    if (r->trace_oom && status == MF_EXEC_OK) {
        status = MF_EXEC_TARGET_ERROR;
        snprintf(out->message, sizeof out->message, "out of memory recording the decision trace");
    }

    out->status = status;
    out->steps = steps;
    out->trace_hash = c->mode == MF_MODE_CONTROLLED ? r->s.hash : 0;
    out->preemptions = c->mode == MF_MODE_CONTROLLED ? r->s.preemptions : 0;
    out->nrecords = (uint32_t)nrecords;
    out->records = r->records;
    out->arena = r->arena.p;
    out->arena_len = r->arena.len;
    out->ntrace = c->mode == MF_MODE_CONTROLLED ? (uint32_t)r->ntrace : 0;
    out->trace = r->trace;
    out->nevents = c->mode == MF_MODE_CONTROLLED ? r->nevents : 0;
    out->events = r->events;
    out->events_truncated = r->events_truncated;
    /* Relaxed: every reporter's store is ordered before this (done chain, or main). */
    uint32_t nsev = atomic_load_explicit(&r->nsevents, memory_order_relaxed);
    out->nsevents = nsev > MF_SEVENT_CAP ? MF_SEVENT_CAP : nsev;
    out->sevents_truncated = nsev > MF_SEVENT_CAP;
    out->sevents = r->sevents;
    return 0;
oom:
    snprintf(out->message, sizeof out->message, "out of memory");
    return -1;
}
