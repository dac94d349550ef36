/* mapfuzz host runtime: internal declarations shared by host.c and runner.c.
 *
 * Terminology
 *   pool thread  one of the runner's persistent pthreads (struct mf_slot); thread i
 *                of a plan runs on slot i.
 *   main         the thread that called mf_runner_run: it runs prefill and the post
 *                phase; in controlled mode it plays the parallel phase's first thread
 *                itself (its slot's gow/thr name main: runner.c "Main plays"), then
 *                waits for the phase's end.
 *   event        a schedule point passed in the parallel phase: host->point (kind 0),
 *                host->blocked (1), an op's call (2) or return (3). Every event is
 *                one step.
 *   decision     (step, thread): from event number `step` on, `thread` runs.
 *
 * Controlled mode invariants
 *   C1: at most one thread of the run (a pool thread, or main playing a slot) runs
 *       target code at a time (the "running" thread); every other one is parked
 *       in wait_word() on its slot's hand-off word (`gow`), idle, or done.
 *   C2: only the running thread reads or writes the scheduler state (struct
 *       mf_sched, the events, coverage, the trace); ownership moves with the `go`
 *       hand-off, whose release/acquire pair orders those plain accesses.
 *   C3: a parked thread is always inside a host call (point/blocked/op boundary)
 *       or not yet started, so on abort (step bound, replay divergence) every
 *       non-running thread can be woken and unwound with longjmp, and the running
 *       thread unwinds itself: nothing is left inside the target.
 *
 * Hang handling (both modes): on abort every pool thread leaves the target through
 * longjmp from its next host call back to the pool loop (no target frame needs
 * cleanup: targets are C; a lock the target held stays held, which is why the map
 * is then leaked rather than destroyed and the post phase is skipped). C++ RAII
 * destructors are skipped too; a forced unwind cannot replace the longjmp, since
 * every std::atomic member is noexcept and unwinding out of a hook called inside
 * one calls std::terminate. For targets built by `mapfuzz cc` the instrumentation
 * runtime instead releases, on the unwound thread, every lock it still holds
 * (detach after an abort, csrc/instrument/mf_instrument.c R5), so a process-wide
 * lock guarded by RAII does not deadlock the next execution. A thread
 * that never calls the host again (an uninstrumented infinite loop, a kernel
 * wait) cannot be recovered: after a grace period the runner is marked broken and
 * leaked; mf_result.broken tells the caller to create a new runner.
 */
#ifndef MAPFUZZ_HOST_H
#define MAPFUZZ_HOST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* pthread_setaffinity_np, cpu_set_t */
#endif
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>
#include "mapfuzz_runner.h"
#include "instrument/mf_instrument.h"

#define MF_EVENT_CAP   (1u << 16)
#define MF_DEFAULT_STEP_BOUND 100000u
#define MF_DEFAULT_TIMEOUT_MS 10000u
#define MF_GRACE_MS    2000u
/* Runner site cache slots (a power of two): instrumented targets have hundreds of
 * sites (one per instrumented access). */
#define MF_SITE_CACHE  4096u

enum { EV_POINT = 0, EV_BLOCKED = 1, EV_CALL = 2, EV_RETURN = 3, EV_EXIT = 4 };
enum { TS_IDLE = 0, TS_RUNNABLE = 1, TS_DONE = 2 };

/* Growable byte buffer, reused between runs. */
typedef struct mf_buf {
    uint8_t *p;
    size_t len, cap;
} mf_buf;

int mf_buf_reserve(mf_buf *b, size_t extra);   /* 0 ok, -1 out of memory */
int mf_buf_append(mf_buf *b, const void *src, size_t n);
void mf_buf_free(mf_buf *b);

typedef struct mf_runner mf_runner;

typedef struct mf_slot {
    mf_runner *r;
    uint32_t idx;
    pthread_t tid;
    /* Hand-off word: 0 = wait, 1 = go, 2 = a waiter sleeps in the kernel. Written by
     * whoever hands control to this thread (post_word), consumed by the thread. */
    _Atomic uint32_t go;
    /* Controlled mode, per run: the hand-off word the thread playing this slot
     * parks on (its own `go`, or main's `main_go` when main plays the slot) and
     * that thread's id. Written by main before the run's first post (published by
     * it), read by whoever hands control to the slot. */
    _Atomic uint32_t *gow;
    pthread_t thr;
    jmp_buf jb;                   /* set around the op list by the thread playing the slot */
    uint64_t ran_gen;             /* the run generation this slot last ran */
    int active;                   /* inside the parallel phase: host calls act */
    int pinned;                   /* CPU this thread is pinned to, -1: the runner's full mask */
    /* per run, controlled mode (owned per C2) */
    int state;                    /* TS_* */
    int64_t prio;                 /* PCT priority: the highest runnable runs */
    uint32_t cur_op;              /* index of the op in flight in the thread's list */
    uint8_t cur_kind;             /* its kind (coverage context) */
    uint32_t ctx_site;            /* site of the previous event of another thread */
    uint8_t ctx_kind;             /* its op kind */
    /* per run, stress mode (thread-private) */
    uint64_t rng;
    uint64_t steps;
    /* per run, the thread's value bytes (offsets fixed up when merged) */
    mf_buf arena;
    mf_buf items;                 /* mf_item scratch for one iterate */
} mf_slot;

typedef struct mf_sched {         /* controlled scheduler state, owned per C2 */
    int strategy;
    uint32_t n;                   /* threads in this run */
    uint32_t cur;                 /* the running thread */
    uint64_t steps;               /* events passed */
    uint64_t stop;                /* the next step at which the strategy has something to
                                     decide (a PCT change point, a replay pair, the bound;
                                     0 for random: every step); below it a point that is not
                                     `blocked` only records (sched_restop keeps it) */
    uint64_t bound;
    uint64_t rng;
    uint32_t nchange;             /* PCT change points, sorted ascending */
    uint64_t change[64];
    uint32_t next_change;
    int64_t low_prio;             /* next priority below every other one (decreasing) */
    const uint32_t *replay;
    uint32_t replay_len, replay_pos;
    uint32_t preemptions;
    uint64_t hash;
    uint32_t last_thread;         /* thread of the previous event, or UINT32_MAX */
    uint32_t last_site;
    uint8_t last_kind;
} mf_sched;

struct mf_runner {
    const mf_target *target;
    /* The target's instrumentation runtime (a `mapfuzz cc` build), else NULL: pool
     * threads attach to it for the parallel phase (csrc/instrument/mf_instrument.h). */
    const mf_instrument *inst;
    uint32_t max_threads;
    mf_slot *slots;
    mf_host_ext host;             /* host.base is what targets receive (extension: events) */
    int broken;
    _Atomic int quit;             /* pool shutdown (mf_runner_free) */

    /* Controlled mode, parallel phase: the slot of the running thread, NULL outside
     * the phase (and in stress mode). host->point uses it (with a pthread_self check)
     * instead of thread-local storage, which costs a __tls_get_addr call per point in
     * a dlopen'ed module. Relaxed atomic: written by the running thread (or main
     * before the first post) right before the hand-off post, whose release orders
     * it for the next running thread; any other thread only compares it against
     * itself (a stale value never names it). */
    _Atomic(mf_slot *) running;
    /* Site id cache keyed by the string's address (controlled mode; owned per C2). */
    struct { const char *p; uint32_t id; } site_cache[MF_SITE_CACHE];
    uint32_t nsite_cache;

    /* per run */
    const mf_plan *plan;
    const mf_config *cfg;
    int mode;
    void *map;
    uint64_t gen;                 /* run generation, bumped by main before a run */
    /* Abort flag: 0 running, otherwise the MF_EXEC_* status that caused it. */
    _Atomic int abort;
    _Atomic uint32_t remaining;   /* pool threads not yet finished with this run */
    _Atomic uint32_t done;        /* main's wake word: 1 when remaining reached 0 */
    _Atomic uint32_t arrived;     /* stress start barrier */
    _Atomic uint64_t clock;       /* the global timestamp counter */
    _Atomic int target_error;
    char abort_msg[256];
    uint32_t *rec_base;           /* per thread: index of its first record */
    uint32_t *op_base;            /* per thread: index of its first op in plan->ops */
    mf_buf seq_items;             /* iterate scratch for main */
    char err_msg[512];            /* first target error (written by the target_error CAS winner) */
    mf_record *records;
    size_t rec_cap;
    uint32_t nrecords;
    mf_buf arena;
    mf_sched s;
    mf_event *events;
    uint32_t nevents;
    int events_truncated;
    uint32_t *trace;
    size_t ntrace, trace_cap;
    int trace_oom;
    uint8_t *cov;
    uint16_t *cov_touched;        /* counters made non-zero this run (cleared at the next) */
    uint32_t ncov_touched;
    uint64_t cov_ever[MF_COV_SIZE / 64];  /* counters ever non-zero in this runner's life */
    uint32_t nfeatures;           /* bits set in cov_ever */
    uint64_t noise_thresh;        /* stress: noise when a 64-bit draw is below this */
    uint32_t site_exit;           /* site id of "thread:exit" */
    int pin;                      /* controlled mode: pin the run's threads to main's CPU */
    cpu_set_t cpus;               /* main's affinity at mf_runner_new (stress mode uses it) */
    int spin;                     /* spin iterations before sleeping in the kernel */

    /* Main plays a logical thread (controlled mode, see runner.c "Main plays").
     * main_slot: the slot main plays this run (UINT32_MAX: none); main_go: its
     * hand-off word; deadline_ns: the run's watchdog deadline; main_plays: the
     * feature is on (MAPFUZZ_MAIN_PLAYS=0 and a missing rescue signal turn it
     * off). The watchdog thread (wd_*) guards the one case main cannot time
     * itself: main running its slot's code and never calling the host again. */
    int main_plays;
    uint32_t main_slot;
    _Atomic uint32_t main_go;
    uint64_t deadline_ns;
    pthread_t main_thr;
    int wd_started;
    pthread_t wd_tid;
    _Atomic uint32_t wd_word;     /* the watchdog's hand-off word (woken from deep sleep, quit) */
    _Atomic int wd_deep;          /* the watchdog sleeps until the next armed run */
    _Atomic uint64_t wd_run;      /* id of the armed run (gen), 0: no run in progress */
    _Atomic uint64_t wd_deadline; /* that run's deadline (CLOCK_MONOTONIC ns) */
    _Atomic uint64_t wd_target;   /* the deadline the watchdog sleeps toward (UINT64_MAX: none) */
    _Atomic uint64_t late_run;    /* run whose main the watchdog told its deadline passed */
    _Atomic uint64_t stuck_run;   /* run whose main the watchdog rescues (signal) */
    _Atomic int main_tid;         /* main's kernel thread id (the watchdog's signal goes there) */
    uint32_t timeout_ms;          /* the run's watchdog timeout */
    char wd_msg[192];             /* the watchdog's message for (mode, timeout_ms) */
    uint32_t wd_msg_timeout;
    int wd_msg_mode;

    /* Structural events (MF_CAP_EVENTS), per run. Slots are claimed with a relaxed
     * fetch_add (any thread may report, stress threads at once); main reads them
     * after the parallel phase (ordered by the `remaining`/`done` chain) or after
     * its own reports (program order). */
    mf_sevent sevents[MF_SEVENT_CAP];
    _Atomic uint32_t nsevents;
    /* Growths begun and not yet ended (begin +1, end -1; relaxed: a feature bit,
     * not a synchronisation). Controlled mode folds "a growth is running" into the
     * interleaving features. */
    _Atomic int growing;

    /* Single-writer targets (no MF_CAP_MULTI_WRITER): the pool thread whose write
     * op is in flight, UINT32_MAX for none. A writer takes it (CAS, acquire) before
     * t_call and gives it back (release store) after t_ret; a second writer waits
     * at a `blocked` point (controlled) or spins (stress). Reset by main per run. */
    _Atomic uint32_t writer;
};

/* futex-backed hand-off words */
void mf_post_word(_Atomic uint32_t *w);
/* Wait until *w is 1, consume it (set 0). timeout_ms 0 = forever. 0 ok, -1 timed out. */
int mf_wait_word(_Atomic uint32_t *w, int spin, uint32_t timeout_ms);
/* The same with an absolute CLOCK_MONOTONIC deadline in ns (0 = forever). */
int mf_wait_until(_Atomic uint32_t *w, int spin, uint64_t deadline_ns);
uint64_t mf_now_ns(void);

/* sites */
uint32_t mf_site_id(const char *site);

/* PRNG: splitmix64 */
static inline uint64_t mf_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static inline uint32_t mf_rand_below(uint64_t *s, uint32_t n)
{
    return (uint32_t)(((mf_rand(s) >> 32) * (uint64_t)n) >> 32);
}

/* The thread identity of a pool thread (NULL on any other thread). */
extern __thread mf_slot *mf_tls_slot;

/* host runtime entry points used by runner.c */
void mf_host_init(mf_runner *r);                 /* fills r->host */
void mf_sched_begin(mf_runner *r);               /* controlled: state for a new run; picks the first thread */
void mf_host_event(mf_slot *me, uint32_t site, int kind);   /* an op call/return point */
void mf_sched_finish(mf_slot *me);               /* controlled: me is done; hand off */
void mf_abort_run(mf_runner *r, mf_slot *me, int status, const char *msg);  /* noreturn for pool threads */
void mf_stress_begin(mf_runner *r);
void mf_thread_done(mf_runner *r);               /* remaining--, wake main at 0 */
/* The instrumentation runtime of a loaded target, or NULL (loader.c). */
const mf_instrument *mf_target_instrument(const mf_target *t);
void mf_raise_watchdog(mf_runner *r);            /* main: the run's watchdog hang (first cause wins) */
void mf_watchdog_message(mf_runner *r);          /* main, before a run: format the watchdog's message */
void mf_writer_enter(mf_slot *me);               /* single-writer targets: wait for the write turn */
void mf_writer_leave(mf_slot *me);

#endif /* MAPFUZZ_HOST_H */
