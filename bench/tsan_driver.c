/* A standalone driver for ThreadSanitizer: mapfuzz's kind of workload on a built-in
 * map, without mapfuzz (TSan's runtime cannot be loaded into Python with dlopen).
 *
 * Built by bench/tsan_table.py with gcc -fsanitize=thread together with
 * csrc/evacmap.c (and csrc/syncmap.c), which it drives through their target tables:
 *
 *     tsan_driver TARGET VARIANT SECONDS SEED
 *
 * TARGET is evacmap or syncmap, VARIANT the create() index (0 = correct). Until
 * SECONDS have passed it repeats executions shaped like mapfuzz's default workload:
 * a fresh map with a small capacity hint (so it grows while the threads run), a
 * sequential prefill, then 3 threads started together, each running 16 operations
 * (get, put, put_if_absent, delete, iterate, len) over 8 keys of mixed types (int,
 * str and bytes, with type twins such as int 42 / "42" / b"42"), values of 9 to
 * 256 bytes; then the map's own check and destroy. It prints the number of
 * executions; TSan prints its reports on stderr. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mapfuzz_runner.h"

const mf_target *mf_evacmap(void);
const mf_target *mf_syncmap(void);

/* The null host (csrc/host.c is not linked: it is the scheduler). */
static void null_point(void *ctx, const char *site) { (void)ctx; (void)site; }
static const mf_host NULL_HOST = { NULL, null_point, null_point };
const mf_host *mf_host_null(void) { return &NULL_HOST; }

#define NTHREADS 3
#define NOPS 16
#define NKEYS 8

typedef struct { uint8_t b[MF_MAX_KEY]; size_t n; } dkey;

typedef struct {
    const mf_target *t;
    void *map;
    dkey *keys;
    uint64_t rng;
    pthread_barrier_t *start;
} dthread;

static uint64_t next(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static int visit(void *ctx, const uint8_t *k, size_t kn, const uint8_t *v, size_t vn)
{
    (void)ctx; (void)k; (void)kn; (void)v; (void)vn;
    return 0;
}

static void one_op(const mf_target *t, void *map, dkey *keys, uint64_t *x)
{
    uint8_t val[MF_MAX_VALUE], out[MF_MAX_VALUE];
    size_t outlen = 0;
    uint64_t r = next(x);
    dkey *k = &keys[r % NKEYS];
    size_t vlen = 9 + (size_t)((r >> 8) % (MF_MAX_VALUE - 8));
    if ((r >> 20) % 2)
        vlen = 9 + (size_t)((r >> 24) % 7);   /* short values half of the time */
    for (size_t i = 0; i < vlen; i++)
        val[i] = (uint8_t)(r >> (i % 56));
    val[0] = vlen < 16 ? 's' : 'b';
    switch ((r >> 32) % 10) {
    case 0: case 1: case 2:
        t->get(map, k->b, k->n, out, &outlen);
        break;
    case 3: case 4: case 5:
        t->put(map, k->b, k->n, val, vlen, out, &outlen);
        break;
    case 6:
        if (t->put_if_absent)
            t->put_if_absent(map, k->b, k->n, val, vlen, out, &outlen);
        break;
    case 7: case 8:
        t->del(map, k->b, k->n, out, &outlen);
        break;
    default:
        if ((r >> 40) % 2 && t->iterate)
            t->iterate(map, visit, NULL);
        else
            t->len(map);
    }
}

static void *run_thread(void *arg)
{
    dthread *d = arg;
    pthread_barrier_wait(d->start);
    for (int i = 0; i < NOPS; i++)
        one_op(d->t, d->map, d->keys, &d->rng);
    if (d->t->thread_exit)
        d->t->thread_exit(d->map);
    return NULL;
}

/* 8 keys: type twins of one number (int, str, bytes) and random others. */
static void make_keys(dkey *keys, uint64_t *x)
{
    int64_t n = (int64_t)(next(x) % 1000);
    char text[24];
    int tl = snprintf(text, sizeof text, "%lld", (long long)n);
    keys[0].b[0] = 'i';
    memcpy(keys[0].b + 1, &n, 8);
    keys[0].n = 9;
    keys[1].b[0] = 's';
    memcpy(keys[1].b + 1, text, (size_t)tl);
    keys[1].n = 1 + (size_t)tl;
    keys[2] = keys[1];
    keys[2].b[0] = 'b';
    for (int i = 3; i < NKEYS; i++) {
        uint64_t r = next(x);
        keys[i].b[0] = "isb"[r % 3];
        keys[i].n = keys[i].b[0] == 'i' ? 9 : 1 + (size_t)((r >> 8) % 12);
        for (size_t j = 1; j < keys[i].n; j++)
            keys[i].b[j] = (uint8_t)('a' + (next(x) % 26));
        keys[i].b[1] = (uint8_t)('0' + i);   /* distinct from each other */
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s evacmap|syncmap VARIANT SECONDS SEED\n", argv[0]);
        return 2;
    }
    const mf_target *t = !strcmp(argv[1], "evacmap") ? mf_evacmap()
                       : !strcmp(argv[1], "syncmap") ? mf_syncmap() : NULL;
    if (!t) {
        fprintf(stderr, "unknown target %s (evacmap or syncmap)\n", argv[1]);
        return 2;
    }
    uint32_t variant = (uint32_t)strtoul(argv[2], NULL, 10);
    double seconds = strtod(argv[3], NULL);
    uint64_t x = strtoull(argv[4], NULL, 10) * 0x9e3779b97f4a7c15ull + 1;
    long execs = 0, invariant = 0;
    double t0 = now();
    do {
        dkey keys[NKEYS];
        make_keys(keys, &x);
        void *map = t->create(mf_host_null(), next(&x), 1 + next(&x) % 16, variant);
        if (!map) {
            fprintf(stderr, "create failed for variant %u\n", variant);
            return 2;
        }
        int prefill = (int)(next(&x) % (NKEYS + 1));
        for (int i = 0; i < prefill; i++)
            one_op(t, map, keys, &x);
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, NTHREADS);
        dthread d[NTHREADS];
        pthread_t tid[NTHREADS];
        for (int i = 0; i < NTHREADS; i++) {
            d[i] = (dthread){ t, map, keys, next(&x) | 1, &start };
            pthread_create(&tid[i], NULL, run_thread, &d[i]);
        }
        for (int i = 0; i < NTHREADS; i++)
            pthread_join(tid[i], NULL);
        pthread_barrier_destroy(&start);
        char msg[512];
        if (t->check && t->check(map, msg, sizeof msg))
            invariant++;
        t->destroy(map);
        execs++;
    } while (now() - t0 < seconds);
    printf("executions %ld invariant-failures %ld\n", execs, invariant);
    return 0;
}
