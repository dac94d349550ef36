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
