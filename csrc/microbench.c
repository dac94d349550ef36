/* Single-thread speed of a target, measured in C (no Python, no scheduler): the
 * figure `mapfuzz bench` reports as a target's single-thread ops/s.
 *
 * One map (null host), `nkeys` int keys, `nops` operations drawn from a fixed
 * xorshift stream: 50% get, 30% put (9-byte values, like the harness's ints), 20%
 * delete. Deterministic op sequence; only the elapsed time varies. */
#include <stdint.h>
#include <string.h>
#include <time.h>
#include "mapfuzz_runner.h"

double mf_bench_single_thread(const mf_target *t, uint64_t nops, uint32_t nkeys, uint64_t seed)
{
    if (!t || nkeys == 0)
        return -1.0;
    void *m = t->create(mf_host_null(), seed, 0, 0);
    if (!m)
        return -1.0;
    uint8_t key[9] = { 'i' }, val[9] = { 'i' }, out[MF_MAX_VALUE];
    size_t outlen = 0;
    uint64_t x = seed | 1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (uint64_t i = 0; i < nops; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        uint64_t k = (x >> 8) % nkeys;
        memcpy(key + 1, &k, 8);
        uint32_t dice = (uint32_t)(x & 0xff) % 10;
        if (dice < 5) {
            t->get(m, key, sizeof key, out, &outlen);
        } else if (dice < 8) {
            memcpy(val + 1, &i, 8);
            t->put(m, key, sizeof key, val, sizeof val, out, &outlen);
        } else {
            t->del(m, key, sizeof key, out, &outlen);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    t->destroy(m);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    return secs > 0 ? (double)nops / secs : -1.0;
}

/* ------------------------------------------------------------ designs side by side
 *
 * Multi-threaded throughput of a target on one of three workloads (`mapfuzz bench`,
 * harness/bench/designs.py), measured in C with the null host (locks block in the
 * kernel, csrc/hostlock.h):
 *   MF_WL_READ_HEAVY   90% get, 10% put of existing keys, over `nkeys` int keys.
 *   MF_WL_WRITE_UNIQUE every operation a put of a key never used before (each
 *                      thread its own key range): the map only grows.
 *   MF_WL_MIXED        50% get, 30% put, 10% put_if_absent, 10% delete over `nkeys`.
 * Before the clock starts, one thread puts every key of the key set and gets each
 * once (a warm map: for syncmap the gets promote the stored keys into its read
 * view). Then `nthreads` threads, released together by one flag, run
 * `ops_per_thread` operations each from their own xorshift stream; the figure is
 * all operations over the wall time from the release to the last thread's end.
 * Returns ops/s, or -1 on failure. */
#include <pthread.h>
#include <stdatomic.h>

enum { MF_WL_READ_HEAVY = 0, MF_WL_WRITE_UNIQUE = 1, MF_WL_MIXED = 2 };

typedef struct wl_ctx {
    const mf_target *t;
    void *map;
    int workload;
    uint32_t nkeys, thread;
    uint64_t ops, seed;
    _Atomic int *go;
    int failed;
} wl_ctx;

static void wl_key(uint8_t key[9], uint64_t k)
{
    key[0] = 'i';
    memcpy(key + 1, &k, 8);
}

static void *wl_thread(void *arg)
{
    wl_ctx *c = arg;
    uint8_t key[9], val[9] = { 'i' }, out[MF_MAX_VALUE];
    size_t outlen = 0;
    uint64_t x = (c->seed * 0x9e3779b97f4a7c15ull + c->thread + 1) | 1;
    /* Acquire: pairs with the main thread's release store of go (the map and the
     * context are fully set up); every thread starts at once. */
    while (!atomic_load_explicit(c->go, memory_order_acquire))
        ;
    for (uint64_t i = 0; i < c->ops; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        uint32_t dice = (uint32_t)(x & 0xff) % 100;
        uint64_t k = (x >> 8) % c->nkeys;
        memcpy(val + 1, &i, 8);
        int r;
        if (c->workload == MF_WL_WRITE_UNIQUE) {
            wl_key(key, ((uint64_t)(c->thread + 1) << 40) | i);   /* never used before */
            r = c->t->put(c->map, key, sizeof key, val, sizeof val, out, &outlen);
        } else {
            wl_key(key, k);
            uint32_t get = c->workload == MF_WL_READ_HEAVY ? 90 : 50;
            if (dice < get)
                r = c->t->get(c->map, key, sizeof key, out, &outlen);
            else if (dice < 80 || c->workload == MF_WL_READ_HEAVY || !c->t->put_if_absent)
                r = c->t->put(c->map, key, sizeof key, val, sizeof val, out, &outlen);
            else if (dice < 90)
                r = c->t->put_if_absent(c->map, key, sizeof key, val, sizeof val, out, &outlen);
            else
                r = c->t->del(c->map, key, sizeof key, out, &outlen);
        }
        if (r < 0)
            c->failed = 1;
    }
    if (c->t->thread_exit)
        c->t->thread_exit(c->map);
    return NULL;
}

double mf_bench_workload(const mf_target *t, uint32_t nthreads, uint64_t ops_per_thread,
                         uint32_t nkeys, int workload, uint64_t seed)
{
    if (!t || nkeys == 0 || nthreads == 0 || nthreads > 64 || workload < 0 || workload > 2)
        return -1.0;
    void *m = t->create(mf_host_null(), seed, 0, 0);
    if (!m)
        return -1.0;
    uint8_t key[9], val[9] = { 'i' }, out[MF_MAX_VALUE];
    size_t outlen = 0;
    for (uint32_t k = 0; k < nkeys; k++) {
        wl_key(key, k);
        t->put(m, key, sizeof key, val, sizeof val, out, &outlen);
    }
    for (uint32_t k = 0; k < nkeys; k++) {
        wl_key(key, k);
        t->get(m, key, sizeof key, out, &outlen);
    }
    _Atomic int go = 0;
    wl_ctx ctx[64];
    pthread_t tid[64];
    uint32_t made = 0;
    for (; made < nthreads; made++) {
        ctx[made] = (wl_ctx){ t, m, workload, nkeys, made, ops_per_thread, seed, &go, 0 };
        if (pthread_create(&tid[made], NULL, wl_thread, &ctx[made]))
            break;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* Release: publishes the contexts and the warm map to the threads (pairs with
     * their acquire spin). */
    atomic_store_explicit(&go, 1, memory_order_release);
    int failed = made < nthreads;   /* a thread that could not start: no figure */
    for (uint32_t i = 0; i < made; i++) {
        pthread_join(tid[i], NULL);
        failed |= ctx[i].failed;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    t->destroy(m);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    return failed || secs <= 0 ? -1.0 : (double)(nthreads * ops_per_thread) / secs;
}
