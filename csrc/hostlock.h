/* Locks of the built-in lock-based targets (syncmap's mutex, rwmap's rwlock):
 * pthread locks that cooperate with mapfuzz's controlled scheduler.
 *
 * In controlled mode one thread runs at a time, so a thread that blocks inside
 * pthread_*_lock while the holder is paused would stop the whole execution. Under
 * a real host these helpers therefore spin on trylock and report every failed
 * attempt with host->blocked (the scheduler then runs somebody else, eventually the
 * holder). Under the null host (no scheduler: benchmarks, standalone drivers) they
 * block in the ordinary pthread call, as a program using the map would.
 *
 * Memory ordering: the pthread calls are the synchronisation (lock acquires,
 * unlock releases); every successful trylock is an acquire like lock. */
#ifndef MAPFUZZ_HOSTLOCK_H
#define MAPFUZZ_HOSTLOCK_H

#include <pthread.h>
#include "mapfuzz_runner.h"

/* True when the host schedules nothing and a lock may block in the kernel. */
static inline int hl_blocking(const mf_host *h) { return h == mf_host_null(); }

static inline void hl_mutex_lock(pthread_mutex_t *mu, const mf_host *h, const char *site)
{
    h->point(h->ctx, site);
    if (hl_blocking(h)) {
        pthread_mutex_lock(mu);
        return;
    }
    while (pthread_mutex_trylock(mu))
        h->blocked(h->ctx, site);
}

static inline void hl_rdlock(pthread_rwlock_t *l, const mf_host *h, const char *site)
{
    h->point(h->ctx, site);
    if (hl_blocking(h)) {
        pthread_rwlock_rdlock(l);
        return;
    }
    while (pthread_rwlock_tryrdlock(l))
        h->blocked(h->ctx, site);
}

static inline void hl_wrlock(pthread_rwlock_t *l, const mf_host *h, const char *site)
{
    h->point(h->ctx, site);
    if (hl_blocking(h)) {
        pthread_rwlock_wrlock(l);
        return;
    }
    while (pthread_rwlock_trywrlock(l))
        h->blocked(h->ctx, site);
}

#endif /* MAPFUZZ_HOSTLOCK_H */
