/* mapfuzz instrumentation runtime: serves gcc's -fsanitize=thread hooks and the
 * link-time wrapped pthread/libc calls of a target built by `mapfuzz cc`, and turns
 * them into schedule points of mapfuzz's host (see mf_instrument.h for the
 * protocol). It replaces libtsan: nothing here detects races; the hooks only do
 * the memory operation (atomics for real, with the requested order) and tell the
 * scheduler that a thread switch may happen here.
 *
 * Design
 *   R1: a hook on a thread that has not attached (main's prefill and post phases,
 *       threads the target starts itself), or whose host call is in progress, only
 *       does its memory operation: no host call, no state change. So targets behave
 *       exactly as uninstrumented ones outside the parallel phase.
 *   R2: a schedule point is reported *before* the access it guards, so the
 *       scheduler can let another thread run between two accesses of an operation
 *       (e.g. halfway through a non-atomic value copy).
 *   R3: a busy lock never blocks the thread in the kernel: lock calls become
 *       try-lock loops that report `blocked` at each failed try, so the controlled
 *       scheduler (one thread runs at a time) runs the holder instead. Condition
 *       waits become an unlock, a `blocked`, and a re-lock (a spurious wake-up,
 *       which callers must tolerate).
 *   R4: spin detection: a thread that re-reads one of the last few addresses it read
 *       while no instrumented write happened anywhere (a write that leaves the value
 *       unchanged, such as a failed test-and-set, does not count) is making no
 *       progress; after SPIN_LIMIT such reads in a row it reports `blocked` instead
 *       of a point, so PCT lowers its priority and the writer it waits for runs.
 *   R5: a run aborted by the host leaves the target by longjmp from a host call
 *       (host.h), skipping C++ destructors (a forced unwind is no option: every
 *       std::atomic member is noexcept, so unwinding out of a hook called inside
 *       one calls std::terminate). The thread's `in_host` flag then stays set, and
 *       the detach that follows releases, on that same thread and in reverse order,
 *       every mutex, rwlock and spin lock it acquired through the wrappers and still
 *       holds: what the skipped RAII guards would have done, so a process-wide lock
 *       does not deadlock the next execution (the map itself is leaked).
 *   R6: per-thread state only (TLS) plus one global write counter (R4); the site
 *       table is read lock-free and grown under a spin lock, old tables are never
 *       freed (a reader may still hold one).
 *   R7: free() and realloc() called by instrumented code (wrapped at link time) do
 *       not give the block back: it is filled with QUARANTINE_POISON and kept on the
 *       quarantine list until flush(), which the runner calls after destroy. A map
 *       that reads memory it freed (a use-after-free) thus reads the poison, not
 *       whatever the allocator's timing-dependent reuse put there, and replays
 *       exactly. Beyond QUARANTINE_MAX bytes held, blocks are freed at once.
 *
 * Sites are code addresses: the hook's return address, which lies in the
 * instrumented code. They are named "<library>+0x<offset>" until set_sites
 * installs symbolised names (file:line (function)).
 *
 * Build: part of every `mapfuzz cc` link, never instrumented itself, with
 * -fvisibility=hidden (only mf_instrument_v1 is exported) and the --wrap flags of
 * harness/run/cc.py, which supply the __real_* symbols used below.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "mf_instrument.h"

#define EXPORT __attribute__((visibility("default")))
#define RET_PC() __builtin_return_address(0)
#define SPIN_WINDOW 4
#define SPIN_LIMIT 8
#define COPY_CHUNK 8
#define HELD_MAX 32

enum { HELD_MUTEX, HELD_RWLOCK, HELD_SPIN };

#ifndef MF_POINTS_DEFAULT
#define MF_POINTS_DEFAULT MF_POINTS_ALL
#endif

/* The real functions behind the link-time wraps (-Wl,--wrap=NAME gives __real_NAME). */
int __real_pthread_mutex_lock(pthread_mutex_t *m);
int __real_pthread_mutex_trylock(pthread_mutex_t *m);
int __real_pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *ts);
int __real_pthread_mutex_unlock(pthread_mutex_t *m);
int __real_pthread_rwlock_rdlock(pthread_rwlock_t *l);
int __real_pthread_rwlock_wrlock(pthread_rwlock_t *l);
int __real_pthread_rwlock_tryrdlock(pthread_rwlock_t *l);
int __real_pthread_rwlock_trywrlock(pthread_rwlock_t *l);
int __real_pthread_rwlock_unlock(pthread_rwlock_t *l);
int __real_pthread_spin_lock(pthread_spinlock_t *l);
int __real_pthread_spin_trylock(pthread_spinlock_t *l);
int __real_pthread_spin_unlock(pthread_spinlock_t *l);
int __real_pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m);
int __real_pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
                                  const struct timespec *ts);
int __real_pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clock,
                                  const struct timespec *ts);
int __real_pthread_cond_signal(pthread_cond_t *c);
int __real_pthread_cond_broadcast(pthread_cond_t *c);
int __real_sem_wait(sem_t *s);
int __real_sem_trywait(sem_t *s);
int __real_sem_timedwait(sem_t *s, const struct timespec *ts);
int __real_sem_post(sem_t *s);
void *__real_memcpy(void *d, const void *s, size_t n);
void *__real_memmove(void *d, const void *s, size_t n);
void *__real_memset(void *d, int c, size_t n);
void __real_free(void *p);
void *__real_realloc(void *p, size_t n);
size_t malloc_usable_size(void *p);

/* ------------------------------------------------------------------ state */

typedef struct tstate {
    const mf_host *host;          /* attached host, NULL: hooks are plain operations (R1) */
    uint32_t in_host;             /* a host call is in progress or was unwound (R5) */
    uint32_t sample;              /* plain accesses since the last sampled point */
    uint64_t seen_writes;         /* g_writes when the spin window was last reset (R4) */
    uintptr_t window[SPIN_WINDOW];
    uint32_t wpos, fruitless;
    uint32_t nheld;               /* locks acquired through the wrappers, not released (R5) */
    struct { void *p; int kind; } held[HELD_MAX];
} tstate;

static __thread tstate TS;
/* Instrumented writes by attached threads (R4). Relaxed: only compared for change;
 * in controlled mode the host's hand-off (release/acquire) orders it between
 * threads, in stress mode spin detection is best effort. */
static _Atomic uint64_t g_writes;
static uint32_t g_density = MF_POINTS_DEFAULT;

static inline int active(const tstate *t) { return t->host && !t->in_host; }

/* ------------------------------------------------------------------ sites */

typedef struct site {
    _Atomic uintptr_t pc;         /* 0: empty */
    const char *_Atomic name;
} site;
typedef struct site_tab {
    size_t cap, n;                /* cap a power of two; n guarded by g_site_lock */
    site *e;
} site_tab;

static site_tab *_Atomic g_sites;
static atomic_flag g_site_lock = ATOMIC_FLAG_INIT;
static uintptr_t g_base;
static char g_lib[128] = "target";

static void lib_init(void)
{
    Dl_info info;
    if (dladdr((void *)&mf_instrument_v1, &info) && info.dli_fbase) {
        g_base = (uintptr_t)info.dli_fbase;
        const char *s = info.dli_fname ? strrchr(info.dli_fname, '/') : NULL;
        snprintf(g_lib, sizeof g_lib, "%s", s ? s + 1 : info.dli_fname ? info.dli_fname : "target");
    }
}

static inline size_t pc_hash(uintptr_t pc, size_t cap)
{
    return (size_t)((pc * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
}

static site *tab_find(site_tab *t, uintptr_t pc)
{
    for (size_t j = pc_hash(pc, t->cap);; j = (j + 1) & (t->cap - 1)) {
        /* Acquire: pairs with the release store of pc in tab_put, so the name
         * written before it is visible. */
        uintptr_t p = atomic_load_explicit(&t->e[j].pc, memory_order_acquire);
        if (p == pc || p == 0)
            return &t->e[j];
    }
}

static void site_lock(void)
{
    /* Acquire/release pair: the spin lock orders table growth and inserts. */
    while (atomic_flag_test_and_set_explicit(&g_site_lock, memory_order_acquire))
        ;
}
static void site_unlock(void) { atomic_flag_clear_explicit(&g_site_lock, memory_order_release); }

/* Insert or rename pc (under g_site_lock). -1 out of memory. */
static int tab_put(uintptr_t pc, const char *name)
{
    /* Relaxed: the lock orders the pointer for writers; readers acquire it in site_name. */
    site_tab *t = atomic_load_explicit(&g_sites, memory_order_relaxed);
    if (!t || (t->n + 1) * 2 > t->cap) {
        site_tab *nt = calloc(1, sizeof *nt);
        size_t cap = t ? t->cap * 2 : 4096;
        if (!nt || !(nt->e = calloc(cap, sizeof *nt->e))) {
            free(nt);
            return -1;
        }
        nt->cap = cap;
        /* Relaxed loads and stores while copying: writers are serialised by
         * g_site_lock, and readers reach the new table only through its release
         * publication below. */
        for (size_t i = 0; t && i < t->cap; i++) {
            uintptr_t p = atomic_load_explicit(&t->e[i].pc, memory_order_relaxed);
            if (p) {
                site *s = tab_find(nt, p);
                atomic_store_explicit(&s->name, atomic_load_explicit(&t->e[i].name,
                                      memory_order_relaxed), memory_order_relaxed);
                atomic_store_explicit(&s->pc, p, memory_order_relaxed);
                nt->n++;
            }
        }
        /* Release: a reader that acquires the new table sees its entries; the old
         * table is leaked on purpose (R6). */
        atomic_store_explicit(&g_sites, nt, memory_order_release);
        t = nt;
    }
    site *s = tab_find(t, pc);
    /* Relaxed name store, then release pc store: pairs with tab_find's acquire. A
     * renamed entry's old name stays valid (names are never freed). */
    atomic_store_explicit(&s->name, name, memory_order_relaxed);
    if (!atomic_load_explicit(&s->pc, memory_order_relaxed)) {
        atomic_store_explicit(&s->pc, pc, memory_order_release);
        t->n++;
    }
    return 0;
}

static const char *site_name(uintptr_t pc)
{
    /* Acquire: pairs with the release publication of a grown table in tab_put. */
    site_tab *t = atomic_load_explicit(&g_sites, memory_order_acquire);
    if (t) {
        site *s = tab_find(t, pc);
        if (atomic_load_explicit(&s->pc, memory_order_acquire) == pc)
            return atomic_load_explicit(&s->name, memory_order_relaxed);
    }
    char buf[192];
    snprintf(buf, sizeof buf, "%s+0x%llx", g_lib, (unsigned long long)(pc - g_base));
    char *name = strdup(buf);
    if (!name)
        return "target+?";
    site_lock();
    /* Relaxed: under g_site_lock, which orders every writer's table and entries. */
    t = atomic_load_explicit(&g_sites, memory_order_relaxed);
    site *s = t ? tab_find(t, pc) : NULL;
    const char *have = s && atomic_load_explicit(&s->pc, memory_order_relaxed) == pc
                           ? atomic_load_explicit(&s->name, memory_order_relaxed) : NULL;
    if (!have && tab_put(pc, name) == 0)
        have = name;
    site_unlock();
    if (have != name)
        free(name);
    return have ? have : "target+?";
}

static int set_sites(uint32_t n, const uint64_t *offs, const char *const *names)
{
    int rc = 0;
    site_lock();
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        char *nm = strdup(names[i]);
        rc = nm ? tab_put(g_base + (uintptr_t)offs[i], nm) : -1;
    }
    site_unlock();
    return rc;
}

/* ------------------------------------------------------------------ points */

static void host_call(tstate *t, void *pc, int blocked)
{
    const mf_host *h = t->host;
    const char *name = site_name((uintptr_t)pc);
    t->in_host = 1;           /* stays set if the host unwinds this thread (R5) */
    if (blocked)
        h->blocked(h->ctx, name);
    else
        h->point(h->ctx, name);
    t->in_host = 0;
}

static inline void note_write(void)
{
    /* Relaxed: see g_writes. */
    atomic_fetch_add_explicit(&g_writes, 1, memory_order_relaxed);
}

/* R4: is this read of addr fruitless spinning? Updates the window. */
static inline int spinning(tstate *t, const volatile void *addr)
{
    uint64_t w = atomic_load_explicit(&g_writes, memory_order_relaxed);   /* see g_writes */
    uintptr_t a = (uintptr_t)addr;
    if (w != t->seen_writes) {
        t->seen_writes = w;
        for (int i = 0; i < SPIN_WINDOW; i++)
            t->window[i] = 0;
        t->fruitless = 0;
    }
    for (int i = 0; i < SPIN_WINDOW; i++)
        if (t->window[i] == a) {
            if (++t->fruitless >= SPIN_LIMIT) {
                t->fruitless = 0;
                return 1;
            }
            return 0;
        }
    t->window[t->wpos++ & (SPIN_WINDOW - 1)] = a;
    t->fruitless = 0;
    return 0;
}

/* A synchronising read (atomic load, failed CAS, try-lock): always a point. */
static inline void sync_read(tstate *t, const volatile void *addr, void *pc)
{
    host_call(t, pc, spinning(t, addr));
}

/* A plain access: a point at the configured density; reads feed spin detection. */
static inline void plain_access(const volatile void *addr, int write, void *pc)
{
    tstate *t = &TS;
    if (!active(t))
        return;
    int blocked = 0;
    if (write)
        note_write();
    else
        blocked = spinning(t, addr);
    if (!blocked) {
        uint32_t d = g_density;
        if (d == MF_POINTS_SYNC)
            return;
        if (d > 1 && ++t->sample < d)
            return;
        t->sample = 0;
    }
    host_call(t, pc, blocked);
}

/* ------------------------------------------------------------------ plain hooks */

#define PLAIN(N)                                                                          \
    void __tsan_read##N(void *a) { plain_access(a, 0, RET_PC()); }                        \
    void __tsan_write##N(void *a) { plain_access(a, 1, RET_PC()); }                       \
    void __tsan_unaligned_read##N(void *a) { plain_access(a, 0, RET_PC()); }              \
    void __tsan_unaligned_write##N(void *a) { plain_access(a, 1, RET_PC()); }             \
    void __tsan_volatile_read##N(void *a) { plain_access(a, 0, RET_PC()); }               \
    void __tsan_volatile_write##N(void *a) { plain_access(a, 1, RET_PC()); }              \
    void __tsan_read##N##_pc(void *a, void *pc) { plain_access(a, 0, pc); }               \
    void __tsan_write##N##_pc(void *a, void *pc) { plain_access(a, 1, pc); }

PLAIN(1)
PLAIN(2)
PLAIN(4)
PLAIN(8)
PLAIN(16)

void __tsan_read_range(void *a, unsigned long n) { (void)n; plain_access(a, 0, RET_PC()); }
void __tsan_write_range(void *a, unsigned long n) { (void)n; plain_access(a, 1, RET_PC()); }
void __tsan_init(void) {}
void __tsan_func_entry(void *pc) { (void)pc; }
void __tsan_func_exit(void) {}
/* A vtable pointer store is a plain write; reading one a plain read. */
void __tsan_vptr_update(void **p, void *v) { (void)v; plain_access(p, 1, RET_PC()); }
void __tsan_vptr_read(void **p) { plain_access(p, 0, RET_PC()); }

/* ------------------------------------------------------------------ atomics */

/* gcc passes the __ATOMIC_* model of the source (relaxed 0, consume 1, acquire 2,
 * release 3, acq_rel 4, seq_cst 5), possibly with the HLE bits (1 << 16, 1 << 17)
 * set; the low bits are the model. The switches below hand the builtins constant
 * orders, so each atomic runs with the order the source asked for (consume as
 * acquire, as gcc itself does; an order invalid for the operation as seq_cst). */
static inline int mo_of(int mo) { mo &= 0xffff; return mo > 5 ? 5 : mo; }

#define LOAD_MO(expr_mo, body)                                                            \
    switch (mo_of(expr_mo)) {                                                             \
    case 0: { const int M = __ATOMIC_RELAXED; body } break;                               \
    case 1: case 2: { const int M = __ATOMIC_ACQUIRE; body } break;                       \
    default: { const int M = __ATOMIC_SEQ_CST; body } break;                              \
    }
#define STORE_MO(expr_mo, body)                                                           \
    switch (mo_of(expr_mo)) {                                                             \
    case 0: { const int M = __ATOMIC_RELAXED; body } break;                               \
    case 3: { const int M = __ATOMIC_RELEASE; body } break;                               \
    default: { const int M = __ATOMIC_SEQ_CST; body } break;                              \
    }
#define RMW_MO(expr_mo, body)                                                             \
    switch (mo_of(expr_mo)) {                                                             \
    case 0: { const int M = __ATOMIC_RELAXED; body } break;                               \
    case 1: case 2: { const int M = __ATOMIC_ACQUIRE; body } break;                       \
    case 3: { const int M = __ATOMIC_RELEASE; body } break;                               \
    case 4: { const int M = __ATOMIC_ACQ_REL; body } break;                               \
    default: { const int M = __ATOMIC_SEQ_CST; body } break;                              \
    }

/* CAS: success order strengthened to cover the failure order (C++17 lets failure be
 * stronger); the failure order is the success order's load part. */
static inline int cas_mo(int mo, int fmo)
{
    mo = mo_of(mo);
    fmo = mo_of(fmo);
    if (fmo == 5)
        return 5;
    if (fmo == 1 || fmo == 2)
        return mo == 0 ? 2 : mo == 3 ? 4 : mo;
    return mo;
}
#define CAS_MO(expr_mo, body)                                                             \
    switch (expr_mo) {                                                                    \
    case 0: { const int M = __ATOMIC_RELAXED, F = __ATOMIC_RELAXED; body } break;         \
    case 1: case 2: { const int M = __ATOMIC_ACQUIRE, F = __ATOMIC_ACQUIRE; body } break; \
    case 3: { const int M = __ATOMIC_RELEASE, F = __ATOMIC_RELAXED; body } break;         \
    case 4: { const int M = __ATOMIC_ACQ_REL, F = __ATOMIC_ACQUIRE; body } break;         \
    default: { const int M = __ATOMIC_SEQ_CST, F = __ATOMIC_SEQ_CST; body } break;        \
    }

/* Every atomic is a point (R2) before it runs; loads and RMWs that change nothing
 * feed spin detection (R4), RMWs that change the value count as writes. */
#define RMW(N, T, NAME, OP)                                                               \
    T __tsan_atomic##N##_##NAME(volatile T *a, T v, int mo)                               \
    {                                                                                     \
        tstate *t = &TS;                                                                   \
        int on = active(t);                                                               \
        if (on)                                                                           \
            sync_read(t, a, RET_PC());                                                    \
        T old = 0;                                                                        \
        RMW_MO(mo, old = OP(a, v, M);)                                                    \
        if (on && old != (T)(NEWVAL_##NAME(old, v)))                                      \
            note_write();                                                                 \
        return old;                                                                       \
    }

#define NEWVAL_exchange(o, v) (v)
#define NEWVAL_fetch_add(o, v) ((o) + (v))
#define NEWVAL_fetch_sub(o, v) ((o) - (v))
#define NEWVAL_fetch_and(o, v) ((o) & (v))
#define NEWVAL_fetch_or(o, v) ((o) | (v))
#define NEWVAL_fetch_xor(o, v) ((o) ^ (v))
#define NEWVAL_fetch_nand(o, v) (~((o) & (v)))

#define ATOMICS(N, T)                                                                     \
    T __tsan_atomic##N##_load(const volatile T *a, int mo)                                \
    {                                                                                     \
        tstate *t = &TS;                                                                   \
        if (active(t))                                                                    \
            sync_read(t, a, RET_PC());                                                    \
        T v = 0;                                                                          \
        LOAD_MO(mo, v = __atomic_load_n(a, M);)                                           \
        return v;                                                                         \
    }                                                                                     \
    void __tsan_atomic##N##_store(volatile T *a, T v, int mo)                             \
    {                                                                                     \
        tstate *t = &TS;                                                                   \
        if (active(t)) {                                                                  \
            host_call(t, RET_PC(), 0);                                                    \
            note_write();                                                                 \
        }                                                                                 \
        STORE_MO(mo, __atomic_store_n(a, v, M);)                                          \
    }                                                                                     \
    RMW(N, T, exchange, __atomic_exchange_n)                                              \
    RMW(N, T, fetch_add, __atomic_fetch_add)                                              \
    RMW(N, T, fetch_sub, __atomic_fetch_sub)                                              \
    RMW(N, T, fetch_and, __atomic_fetch_and)                                              \
    RMW(N, T, fetch_or, __atomic_fetch_or)                                                \
    RMW(N, T, fetch_xor, __atomic_fetch_xor)                                              \
    RMW(N, T, fetch_nand, __atomic_fetch_nand)                                            \
    static inline int cas##N(volatile T *a, T *c, T v, int mo, int fmo, void *pc)         \
    {                                                                                     \
        tstate *t = &TS;                                                                   \
        int on = active(t);                                                               \
        if (on)                                                                           \
            sync_read(t, a, pc);                                                          \
        int ok = 0;                                                                       \
        CAS_MO(cas_mo(mo, fmo), ok = __atomic_compare_exchange_n(a, c, v, 0, M, F);)      \
        if (on && ok && *c != v)                                                          \
            note_write();                                                                 \
        return ok;                                                                        \
    }                                                                                     \
    int __tsan_atomic##N##_compare_exchange_strong(volatile T *a, T *c, T v, int mo,      \
                                                   int fmo)                               \
    {                                                                                     \
        return cas##N(a, c, v, mo, fmo, RET_PC());                                        \
    }                                                                                     \
    /* weak: performed as strong (a weak CAS may fail spuriously; never failing is    */  \
    /* one of its allowed behaviours, and keeps controlled runs deterministic).        */  \
    int __tsan_atomic##N##_compare_exchange_weak(volatile T *a, T *c, T v, int mo,        \
                                                 int fmo)                                 \
    {                                                                                     \
        return cas##N(a, c, v, mo, fmo, RET_PC());                                        \
    }                                                                                     \
    T __tsan_atomic##N##_compare_exchange_val(volatile T *a, T c, T v, int mo, int fmo)   \
    {                                                                                     \
        cas##N(a, &c, v, mo, fmo, RET_PC());                                              \
        return c;                                                                         \
    }

ATOMICS(8, uint8_t)
ATOMICS(16, uint16_t)
ATOMICS(32, uint32_t)
ATOMICS(64, uint64_t)

/* Fences: a point, then the fence itself with the requested order. */
void __tsan_atomic_thread_fence(int mo)
{
    tstate *t = &TS;
    if (active(t))
        host_call(t, RET_PC(), 0);
    RMW_MO(mo, __atomic_thread_fence(M);)
}

void __tsan_atomic_signal_fence(int mo)
{
    RMW_MO(mo, __atomic_signal_fence(M);)
}

/* ------------------------------------------------------------------ memory calls */

/* memcpy/memmove/memset from instrumented code: at a density with plain-access
 * points, split into COPY_CHUNK-byte pieces with a point before each (R2), so a
 * value copy can be interrupted halfway. */
static inline int split_copies(const tstate *t)
{
    return active(t) && g_density != MF_POINTS_SYNC;
}

void *__wrap_memcpy(void *d, const void *s, size_t n)
{
    tstate *t = &TS;
    if (!split_copies(t))
        return __real_memcpy(d, s, n);
    void *pc = RET_PC();
    for (size_t i = 0; i < n; i += COPY_CHUNK) {
        plain_access((char *)d + i, 1, pc);
        __real_memcpy((char *)d + i, (const char *)s + i, n - i < COPY_CHUNK ? n - i : COPY_CHUNK);
    }
    return d;
}

void *__wrap_memmove(void *d, const void *s, size_t n)
{
    tstate *t = &TS;
    if (!split_copies(t) || n <= COPY_CHUNK)
        return __real_memmove(d, s, n);
    void *pc = RET_PC();
    if ((uintptr_t)d <= (uintptr_t)s) {         /* forward: never clobbers unread source */
        for (size_t i = 0; i < n; i += COPY_CHUNK) {
            plain_access((char *)d + i, 1, pc);
            __real_memmove((char *)d + i, (const char *)s + i,
                           n - i < COPY_CHUNK ? n - i : COPY_CHUNK);
        }
    } else {                                    /* backward, last chunk first */
        size_t i = n;
        while (i > 0) {
            size_t k = i < COPY_CHUNK ? i : COPY_CHUNK;
            i -= k;
            plain_access((char *)d + i, 1, pc);
            __real_memmove((char *)d + i, (const char *)s + i, k);
        }
    }
    return d;
}

void *__wrap_memset(void *d, int c, size_t n)
{
    tstate *t = &TS;
    if (!split_copies(t))
        return __real_memset(d, c, n);
    void *pc = RET_PC();
    for (size_t i = 0; i < n; i += COPY_CHUNK) {
        plain_access((char *)d + i, 1, pc);
        __real_memset((char *)d + i, c, n - i < COPY_CHUNK ? n - i : COPY_CHUNK);
    }
    return d;
}

/* ------------------------------------------------------------------ locks */

static void held_push(tstate *t, int kind, void *p)
{
    if (t->nheld < HELD_MAX) {
        t->held[t->nheld].p = p;
        t->held[t->nheld].kind = kind;
    }
    t->nheld++;   /* past HELD_MAX: counted, not remembered */
}

static void held_pop(tstate *t, void *p)
{
    if (!p)
        return;   /* not a lock (condvar signal, semaphore post) */
    uint32_t n = t->nheld < HELD_MAX ? t->nheld : HELD_MAX;
    for (uint32_t i = n; i-- > 0;)
        if (t->held[i].p == p) {
            for (uint32_t j = i; j + 1 < n; j++)
                t->held[j] = t->held[j + 1];
            t->nheld--;
            return;
        }
    if (t->nheld > HELD_MAX)
        t->nheld--;
}

/* R5: release what an aborted thread still holds, newest first. */
static void held_release_all(tstate *t)
{
    uint32_t n = t->nheld < HELD_MAX ? t->nheld : HELD_MAX;
    while (n-- > 0) {
        void *p = t->held[n].p;
        if (t->held[n].kind == HELD_MUTEX)
            __real_pthread_mutex_unlock(p);
        else if (t->held[n].kind == HELD_RWLOCK)
            __real_pthread_rwlock_unlock(p);
        else
            __real_pthread_spin_unlock(p);
    }
    t->nheld = 0;
}

/* Acquire through a try-lock loop (R3): a point before the first try, `blocked`
 * after each busy one. */
#define TRY_LOOP(kind, obj, pc, trycall)                                                  \
    do {                                                                                  \
        host_call(t, pc, 0);                                                              \
        for (;;) {                                                                        \
            int rc_ = (trycall);                                                          \
            if (rc_ != EBUSY) {                                                           \
                if (rc_ == 0) {                                                           \
                    note_write();                                                         \
                    held_push(t, kind, obj);                                              \
                }                                                                         \
                return rc_;                                                               \
            }                                                                             \
            host_call(t, pc, 1);                                                          \
        }                                                                                 \
    } while (0)

/* A try call: a synchronising read (a try-lock polled in a loop is a spin, R4). */
#define TRY_ONCE(kind, obj, pc, trycall)                                                  \
    do {                                                                                  \
        sync_read(t, obj, pc);                                                            \
        int rc_ = (trycall);                                                              \
        if (rc_ == 0) {                                                                   \
            note_write();                                                                 \
            held_push(t, kind, obj);                                                      \
        }                                                                                 \
        return rc_;                                                                       \
    } while (0)

/* A release: for real, then a point, so a waiter may take it at once. */
#define RELEASE(obj, pc, call)                                                            \
    do {                                                                                  \
        held_pop(t, obj);                                                                 \
        int rc_ = (call);                                                                 \
        note_write();                                                                     \
        host_call(t, pc, 0);                                                              \
        return rc_;                                                                       \
    } while (0)

int __wrap_pthread_mutex_lock(pthread_mutex_t *m)
{
    tstate *t = &TS;
    if (!active(t))
        return __real_pthread_mutex_lock(m);
    TRY_LOOP(HELD_MUTEX, m, RET_PC(), __real_pthread_mutex_trylock(m));
}

int __wrap_pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *ts)
{
    tstate *t = &TS;
    if (!active(t))
        return __real_pthread_mutex_timedlock(m, ts);
    TRY_LOOP(HELD_MUTEX, m, RET_PC(), __real_pthread_mutex_trylock(m));
}

int __wrap_pthread_mutex_trylock(pthread_mutex_t *m)
{
    tstate *t = &TS;
    if (!active(t))
        return __real_pthread_mutex_trylock(m);
    TRY_ONCE(HELD_MUTEX, m, RET_PC(), __real_pthread_mutex_trylock(m));
}

int __wrap_pthread_mutex_unlock(pthread_mutex_t *m)
{
    tstate *t = &TS;
    if (!active(t))
        return __real_pthread_mutex_unlock(m);
    RELEASE(m, RET_PC(), __real_pthread_mutex_unlock(m));
}

int __wrap_pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
    tstate *t = &TS;
    if (!active(t))
        return __real_pthread_rwlock_rdlock(l);
    TRY_LOOP(HELD_RWLOCK, l, RET_PC(), __real_pthread_rwlock_tryrdlock(l));
}

int __wrap_pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
    tstate *t = &TS;
    if (!active(t))
        return __real_pthread_rwlock_wrlock(l);
    TRY_LOOP(HELD_RWLOCK, l, RET_PC(), __real_pthread_rwlock_trywrlock(l));
}

int __wrap_pthread_rwlock_tryrdlock(pthread_rwlock_t *l)
{
    tstate *t = &TS;
    if (!active(t))
        return __real_pthread_rwlock_tryrdlock(l);
    TRY_ONCE(HELD_RWLOCK, l, RET_PC(), __real_pthread_rwlock_tryrdlock(l));
}

int __wrap_pthread_rwlock_trywrlock(pthread_rwlock_t *l)
{
    tstate *t = &TS;
    if (!active(t))
        return __real_pthread_rwlock_trywrlock(l);
    TRY_ONCE(HELD_RWLOCK, l, RET_PC(), __real_pthread_rwlock_trywrlock(l));
}

int __wrap_pthread_rwlock_unlock(pthread_rwlock_t *l)
{
    tstate *t = &TS;
    if (!active(t))
        return __real_pthread_rwlock_unlock(l);
    RELEASE(l, RET_PC(), __real_pthread_rwlock_unlock(l));
}

int __wrap_pthread_spin_lock(pthread_spinlock_t *l)
{
    tstate *t = &TS;
    if (!active(t))
        return __real_pthread_spin_lock(l);
    TRY_LOOP(HELD_SPIN, (void *)l, RET_PC(), __real_pthread_spin_trylock(l));
}

int __wrap_pthread_spin_trylock(pthread_spinlock_t *l)
{
    tstate *t = &TS;
    if (!active(t))
        return __real_pthread_spin_trylock(l);
    TRY_ONCE(HELD_SPIN, (void *)l, RET_PC(), __real_pthread_spin_trylock(l));
}

int __wrap_pthread_spin_unlock(pthread_spinlock_t *l)
{
    tstate *t = &TS;
    if (!active(t))
        return __real_pthread_spin_unlock(l);
    RELEASE((void *)l, RET_PC(), __real_pthread_spin_unlock(l));
}

static int past(clockid_t clock, const struct timespec *ts)
{
    struct timespec now;
    clock_gettime(clock, &now);
    return now.tv_sec > ts->tv_sec || (now.tv_sec == ts->tv_sec && now.tv_nsec >= ts->tv_nsec);
}

/* R3: unlock, let others run, re-lock: a spurious wake-up. */
static int cond_wait(tstate *t, pthread_mutex_t *m, clockid_t clock, const struct timespec *ts,
                     void *pc)
{
    held_pop(t, m);
    int rc = __real_pthread_mutex_unlock(m);
    if (rc)
        return rc;
    note_write();
    host_call(t, pc, 1);
    for (;;) {
        rc = __real_pthread_mutex_trylock(m);
        if (rc != EBUSY)
            break;
        host_call(t, pc, 1);
    }
    if (rc == 0) {
        note_write();
        held_push(t, HELD_MUTEX, m);
    }
    return rc ? rc : ts && past(clock, ts) ? ETIMEDOUT : 0;
}

int __wrap_pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
    tstate *t = &TS;
    if (!active(t))
        return __real_pthread_cond_wait(c, m);
    return cond_wait(t, m, CLOCK_REALTIME, NULL, RET_PC());
}

int __wrap_pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
                                  const struct timespec *ts)
{
    tstate *t = &TS;
    if (!active(t))
        return __real_pthread_cond_timedwait(c, m, ts);
    return cond_wait(t, m, CLOCK_REALTIME, ts, RET_PC());
}

/* libstdc++'s condition_variable::wait_for/wait_until (inline) call this one. */
int __wrap_pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clock,
                                  const struct timespec *ts)
{
    tstate *t = &TS;
    if (!active(t))
        return __real_pthread_cond_clockwait(c, m, clock, ts);
    return cond_wait(t, m, clock, ts, RET_PC());
}

/* std::condition_variable::wait is out of line in libstdc++.so; the C++ part of the
 * runtime (mf_instrument_cxx.c) wraps it and hands the wait here: 1 when handled
 * (the thread is attached), 0 when the caller must do the real wait. */
int mf_inst_cxx_cond_wait(pthread_mutex_t *m, void *pc)
{
    tstate *t = &TS;
    if (!active(t))
        return 0;
    cond_wait(t, m, CLOCK_REALTIME, NULL, pc);
    return 1;
}

int __wrap_pthread_cond_signal(pthread_cond_t *c)
{
    tstate *t = &TS;
    if (!active(t))
        return __real_pthread_cond_signal(c);
    RELEASE(NULL, RET_PC(), __real_pthread_cond_signal(c));
}

int __wrap_pthread_cond_broadcast(pthread_cond_t *c)
{
    tstate *t = &TS;
    if (!active(t))
        return __real_pthread_cond_broadcast(c);
    RELEASE(NULL, RET_PC(), __real_pthread_cond_broadcast(c));
}

/* Semaphores report errors through errno; a busy one is EAGAIN. */
static int sem_loop(tstate *t, sem_t *s, const struct timespec *ts, void *pc)
{
    host_call(t, pc, 0);
    for (;;) {
        if (__real_sem_trywait(s) == 0) {
            note_write();
            return 0;
        }
        if (errno != EAGAIN)
            return -1;
        if (ts && past(CLOCK_REALTIME, ts)) {
            errno = ETIMEDOUT;
            return -1;
        }
        host_call(t, pc, 1);
    }
}

int __wrap_sem_wait(sem_t *s)
{
    tstate *t = &TS;
    if (!active(t))
        return __real_sem_wait(s);
    return sem_loop(t, s, NULL, RET_PC());
}

int __wrap_sem_timedwait(sem_t *s, const struct timespec *ts)
{
    tstate *t = &TS;
    if (!active(t))
        return __real_sem_timedwait(s, ts);
    return sem_loop(t, s, ts, RET_PC());
}

int __wrap_sem_trywait(sem_t *s)
{
    tstate *t = &TS;
    if (!active(t))
        return __real_sem_trywait(s);
    sync_read(t, s, RET_PC());
    int rc = __real_sem_trywait(s);
    if (rc == 0)
        note_write();
    return rc;
}

int __wrap_sem_post(sem_t *s)
{
    tstate *t = &TS;
    if (!active(t))
        return __real_sem_post(s);
    RELEASE(NULL, RET_PC(), __real_sem_post(s));
}

/* ------------------------------------------------------------------ quarantine (R7) */

#define QUARANTINE_POISON 0xdb
#define QUARANTINE_MAX ((size_t)256 << 20)

static struct {
    void **blocks;
    size_t n, cap, bytes;
} g_quar;
/* Acquire/release pair around the quarantine list: frees from several threads
 * (stress mode) and flush on main are serialised by it. */
static atomic_flag g_quar_lock = ATOMIC_FLAG_INIT;

static void quar_lock(void)
{
    while (atomic_flag_test_and_set_explicit(&g_quar_lock, memory_order_acquire))
        ;
}
static void quar_unlock(void) { atomic_flag_clear_explicit(&g_quar_lock, memory_order_release); }

/* Hold p back, poisoned; 0 when it could not be held (the caller frees it). */
static int quarantine(void *p)
{
    size_t size = malloc_usable_size(p);
    quar_lock();
    if (g_quar.bytes + size > QUARANTINE_MAX) {
        quar_unlock();
        return 0;
    }
    if (g_quar.n == g_quar.cap) {
        size_t cap = g_quar.cap ? g_quar.cap * 2 : 1024;
        void **nb = __real_realloc(g_quar.blocks, cap * sizeof *nb);
        if (!nb) {
            quar_unlock();
            return 0;
        }
        g_quar.blocks = nb;
        g_quar.cap = cap;
    }
    g_quar.blocks[g_quar.n++] = p;
    g_quar.bytes += size;
    quar_unlock();
    __real_memset(p, QUARANTINE_POISON, size);
    return 1;
}

void __wrap_free(void *p)
{
    if (p && !quarantine(p))
        __real_free(p);
}

void *__wrap_realloc(void *p, size_t n)
{
    if (!p)
        return malloc(n);
    if (n == 0) {             /* glibc's realloc(p, 0): frees p, returns NULL */
        __wrap_free(p);
        return NULL;
    }
    void *q = malloc(n);
    if (!q)
        return NULL;          /* p stays valid, as realloc leaves it on failure */
    size_t old = malloc_usable_size(p);
    __real_memcpy(q, p, old < n ? old : n);
    __wrap_free(p);
    return q;
}

static void flush(void)
{
    quar_lock();
    void **blocks = g_quar.blocks;
    size_t n = g_quar.n;
    g_quar.blocks = NULL;
    g_quar.n = g_quar.cap = g_quar.bytes = 0;
    quar_unlock();
    for (size_t i = 0; i < n; i++)
        __real_free(blocks[i]);
    __real_free(blocks);
}

/* ------------------------------------------------------------------ the table */

static void attach(const mf_host *host)
{
    tstate *t = &TS;
    if (t->host && t->in_host)
        held_release_all(t);      /* the thread was unwound by an abort (R5) */
    t->nheld = 0;
    t->host = host;
    t->in_host = 0;
    t->sample = 0;
    t->fruitless = 0;
    t->wpos = 0;
    for (int i = 0; i < SPIN_WINDOW; i++)
        t->window[i] = 0;
    /* Relaxed: see g_writes. */
    t->seen_writes = atomic_load_explicit(&g_writes, memory_order_relaxed);
}

static mf_instrument g_table = {
    MF_INSTRUMENT_VERSION, MF_POINTS_DEFAULT, attach, set_sites, NULL, flush,
};

static void set_density(uint32_t d)
{
    g_density = d;
    g_table.density = d;
}

static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* Density from MAPFUZZ_POINTS: "sync", "all", or a number N (every Nth plain access). */
static void init_once(void)
{
    lib_init();
    g_table.set_density = set_density;
    const char *env = getenv("MAPFUZZ_POINTS");
    if (env && *env) {
        if (strcmp(env, "sync") == 0)
            set_density(MF_POINTS_SYNC);
        else if (strcmp(env, "all") == 0)
            set_density(MF_POINTS_ALL);
        else {
            long n = strtol(env, NULL, 10);
            if (n >= 1)
                set_density((uint32_t)n);
        }
    }
}

EXPORT const mf_instrument *mf_instrument_v1(void)
{
    pthread_once(&g_once, init_once);
    return &g_table;
}
