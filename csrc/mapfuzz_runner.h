/* mapfuzz runner and host runtime: the C side of one execution.
 *
 * Internal contract between the C core and the Python harness (harness/run/runner.py
 * binds it through cffi; csrc/mapfuzz_cdef.h repeats these declarations in the
 * form cffi parses: keep the two in step).
 *
 * One execution (mf_runner_run), GIL released by cffi for the whole call:
 *   1. create the map: target->create(host, plan->hash_seed, plan->capacity, plan->variant)
 *   2. prefill: the calling thread applies plan->prefill in order (schedule points
 *      are no-ops in this phase)
 *   3. parallel phase: plan->nthreads pool threads each run their op list; in
 *      controlled mode one runs at a time and the strategy picks who runs at every
 *      point; in stress mode they start from a spin barrier and run free with noise
 *   4. post phase, quiescent, on the calling thread: get every key of the key
 *      table (in key order), one iterate (if the target has it), one len, check
 *   5. destroy the map
 *
 * Records: prefill ops first (thread = MF_THREAD_SEQ), then the parallel ops in
 * plan order (thread 0's list, then thread 1's, ...), then the post phase
 * (thread = MF_THREAD_SEQ): nkeys gets, one iterate (if provided), one len.
 * Timestamps of every record come from one global counter, taken as
 *   fence(seq_cst); t_call = counter++; op(); fence(seq_cst); t_ret = counter++
 * so a's return < b's call means a really finished before b started.
 */
#ifndef MAPFUZZ_RUNNER_H
#define MAPFUZZ_RUNNER_H

#include "mapfuzz_target.h"

#define MF_MAX_THREADS   16
#define MF_THREAD_SEQ    255      /* record.thread for prefill and post-phase ops */
#define MF_COV_SIZE      65536    /* interleaving-coverage 8-bit counters */
#define MF_NO_VALUE      (-1)

enum { MF_OP_GET = 0, MF_OP_PUT = 1, MF_OP_PUT_IF_ABSENT = 2, MF_OP_DELETE = 3,
       MF_OP_ITERATE = 4, MF_OP_LEN = 5 };
enum { MF_MODE_CONTROLLED = 0, MF_MODE_STRESS = 1 };
enum { MF_STRAT_RANDOM = 0, MF_STRAT_PCT = 1, MF_STRAT_REPLAY = 2 };

/* mf_result.status */
enum { MF_EXEC_OK = 0,              /* ran to the end (the oracle still judges the history) */
       MF_EXEC_HANG = 1,            /* step bound reached (livelock/deadlock) in controlled
                                       mode, or the stress watchdog fired */
       MF_EXEC_TARGET_ERROR = 2,    /* an op returned < 0, or create returned NULL */
       MF_EXEC_INVARIANT = 3,       /* target->check returned non-zero; message holds its text */
       MF_EXEC_REPLAY_DIVERGED = 4, /* replay trace named a thread that could not run */
       MF_EXEC_BAD_PLAN = 5 };      /* plan rejected (too many threads, bad index...); message says why */

typedef struct mf_op {
    uint8_t  kind;                /* MF_OP_* */
    uint8_t  pad;
    uint16_t key;                 /* index into the plan's key table (ignored for iterate/len) */
    int32_t  value;               /* index into the plan's value table for put/put_if_absent, else MF_NO_VALUE */
} mf_op;

typedef struct mf_plan {
    uint64_t hash_seed;
    uint64_t capacity;
    uint32_t variant;
    uint32_t nkeys;
    const uint8_t  *key_data;     /* concatenated key bytes (tag byte first) */
    const uint32_t *key_off;      /* nkeys + 1 offsets into key_data */
    uint32_t nvalues;
    const uint8_t  *val_data;     /* concatenated value bytes */
    const uint32_t *val_off;      /* nvalues + 1 offsets into val_data */
    uint32_t nprefill;
    const mf_op *prefill;
    uint32_t nthreads;            /* 1..MF_MAX_THREADS */
    const uint32_t *thread_nops;  /* nthreads counts */
    const mf_op *ops;             /* the threads' lists, concatenated in thread order */
} mf_plan;

typedef struct mf_config {
    int      mode;                /* MF_MODE_* */
    int      strategy;            /* MF_STRAT_* (controlled mode) */
    uint64_t seed;                /* scheduler seed (controlled) / noise seed (stress) */
    uint32_t pct_depth;           /* PCT bug depth d (d - 1 priority change points) */
    uint64_t step_bound;          /* controlled: steps before MF_EXEC_HANG; 0 = default 100000 */
    double   noise;               /* stress: probability of noise at a point, 0..1 */
    uint32_t stress_timeout_ms;   /* stress watchdog; 0 = default 10000 */
    const uint32_t *replay;       /* MF_STRAT_REPLAY: the decision trace (see mf_result.trace) */
    uint32_t replay_len;          /* number of (step, thread) pairs in replay */
    uint64_t pct_steps;           /* PCT: estimated steps k (change points drawn in [1, k]);
                                     0 = 3 x the number of parallel ops */
    uint32_t *trace_mirror;       /* optional (controlled): a copy of the decision trace kept
                                     crash-safe, e.g. in memory shared with a parent process:
                                     word 0 = number of trace words written so far, words
                                     1..n = the trace; a dying run leaves every decision it
                                     took up to the crash. NULL: none */
    uint32_t trace_mirror_cap;    /* words in trace_mirror (the trace is cut at cap - 1) */
} mf_config;

typedef struct mf_record {
    uint8_t  kind;                /* MF_OP_* */
    uint8_t  thread;              /* pool thread index, or MF_THREAD_SEQ */
    uint16_t key;                 /* key index (iterate/len: 0) */
    int32_t  value;               /* value index written, or MF_NO_VALUE */
    int32_t  status;              /* the target call's return (len: 0) */
    uint32_t out_len;             /* bytes of the returned value in the arena (0 if none) */
    uint64_t out_off;             /* get found / put replaced / pia present / del removed:
                                     offset of the returned bytes in the arena;
                                     iterate: offset of its first mf_item in the arena */
    uint64_t t_call, t_ret;       /* t_ret == UINT64_MAX: never returned (hang);
                                     t_call == UINT64_MAX too: never called (the run was
                                     aborted before this op started) */
    int64_t  len;                 /* len: the result; iterate: number of items visited */
} mf_record;

typedef struct mf_item {          /* one (key, value) an iterate visited; bytes in the arena */
    uint64_t key_off;
    uint64_t val_off;
    uint32_t key_len;
    uint32_t val_len;
} mf_item;

typedef struct mf_event {         /* one schedule point reached, in execution order (controlled) */
    uint32_t site;                /* site id: mf_site_name(site) gives the string */
    uint8_t  thread;
    uint8_t  kind;                /* 0 point, 1 blocked, 2 op call, 3 op return,
                                     4 thread exit (site "thread:exit", after thread_exit) */
    uint16_t op;                  /* index of the thread's current op in its list
                                     (exit: the thread's op count) */
} mf_event;

typedef struct mf_sevent {        /* a structural event the target reported (MF_CAP_EVENTS) */
    uint64_t clock;               /* the timestamp counter when it was reported: records with
                                     t_ret < clock returned before it, records with
                                     t_call >= clock were called after it */
    uint64_t arg;                 /* the target's argument (new capacity, generation) */
    uint32_t step;                /* controlled parallel phase: schedule events passed before it
                                     (it lies between events[step - 1] and events[step]);
                                     UINT32_MAX in any other phase or mode */
    uint8_t  thread;              /* pool thread index, or MF_THREAD_SEQ (prefill, post phase,
                                     a thread the runner does not own) */
    uint8_t  kind;                /* MF_EVENT_* */
    uint16_t op;                  /* pool thread: index of its op in flight in its list */
} mf_sevent;

#define MF_SEVENT_CAP 4096        /* structural events kept per run (more: sevents_truncated) */

typedef struct mf_result {
    int      status;              /* MF_EXEC_* */
    char     message[512];        /* invariant text, error text, or "" */
    uint64_t steps;               /* events in the parallel phase: schedule points, op
                                     calls/returns, thread exits (controlled mode) */
    uint64_t trace_hash;          /* hash of the (thread, site) event sequence (controlled);
                                     equal seeds and plans give equal hashes */
    uint32_t preemptions;         /* switches away from a thread that could have continued */
    uint32_t nrecords;
    const mf_record *records;     /* valid until the next run or mf_runner_free */
    const uint8_t *arena;         /* returned value bytes and mf_items */
    uint64_t arena_len;
    uint32_t ntrace;              /* number of uint32 in trace (2 per pair) */
    const uint32_t *trace;        /* decision trace: pairs (step, thread): from event number
                                     `step` (0-based) on, `thread` runs; the first pair is
                                     (0, first thread); pass back as mf_config.replay with
                                     replay_len = ntrace / 2 */
    uint32_t nevents;
    const mf_event *events;       /* controlled mode only; truncated at a cap (events_truncated) */
    int      events_truncated;
    int      broken;              /* a pool thread could not be recovered (stuck in the target
                                     without calling the host): this runner now refuses to
                                     run; free it (it is leaked, not joined) and create a new one */
    uint32_t nsevents;            /* structural events, in the order they were reported */
    int      sevents_truncated;   /* more than MF_SEVENT_CAP were reported */
    const mf_sevent *sevents;     /* valid until the next run (both modes, every phase) */
} mf_result;

typedef struct mf_runner mf_runner;

/* The pool holds max_threads threads for the runner's life. NULL on failure, with err filled. */
mf_runner *mf_runner_new(const mf_target *target, uint32_t max_threads, char *err, size_t cap);
/* 0: out->status says how the execution ended. -1: nothing ran (a broken runner,
 * or out of memory); out->message says why. */
int  mf_runner_run(mf_runner *r, const mf_plan *plan, const mf_config *cfg, mf_result *out);
void mf_runner_free(mf_runner *r);
/* Interleaving coverage of the last controlled run: MF_COV_SIZE 8-bit counters,
 * cleared at the start of each run, stable address for the runner's life. */
uint8_t *mf_runner_coverage(mf_runner *r);
/* Distinct coverage counters that were ever non-zero in this runner's life. */
uint32_t mf_runner_features(mf_runner *r);

/* Site names seen so far (process-wide); NULL for an unknown id. */
const char *mf_site_name(uint32_t site);

/* Single-thread ops/s of a target on a fixed mixed workload (csrc/microbench.c):
 * nops operations over nkeys int keys, null host; -1 on failure. For benchmarks. */
double mf_bench_single_thread(const mf_target *t, uint64_t nops, uint32_t nkeys, uint64_t seed);

/* Ops/s of a target with nthreads threads on workload 0 (90% get), 1 (puts of new
 * keys only) or 2 (mixed), null host (csrc/microbench.c); -1 on failure. */
double mf_bench_workload(const mf_target *t, uint32_t nthreads, uint64_t ops_per_thread,
                         uint32_t nkeys, int workload, uint64_t seed);

/* A host whose point and blocked do nothing: for calling a target directly
 * (single-threaded tests, the sequential phases). */
const mf_host *mf_host_null(void);

/* Targets. */
const mf_target *mf_evacmap(void);                       /* the built-in evacmap */
const mf_target *mf_syncmap(void);                       /* the built-in syncmap (sync.Map's design) */
const mf_target *mf_rwmap(void);                         /* the built-in rwmap (one rwlock, correct) */
const mf_target *mf_load_target(const char *path, char *err, size_t cap);  /* dlopen + mf_target_v1 */

/* Targets built by `mapfuzz cc` (csrc/instrument/mf_instrument.h). */
/* Install symbolised names for the target's code offsets; -1: not instrumented or no memory. */
int mf_target_set_sites(const mf_target *t, uint32_t n, const uint64_t *offs,
                        const char *const *names);
/* Set the plain-access point density (>= 0) and/or read it (-1); -1: not instrumented. */
int64_t mf_target_density(const mf_target *t, int64_t density);

#endif /* MAPFUZZ_RUNNER_H */
