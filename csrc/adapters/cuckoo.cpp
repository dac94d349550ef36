/* mapfuzz adapter for libcuckoo's cuckoohash_map (libcuckoo-dev 0.3, header-only C++).
 *
 * libcuckoo is a multi-writer cuckoo hash table with striped spinlocks: every point
 * operation locks the key's two candidate buckets, and the table doubles itself
 * (taking every lock) when a cuckoo path cannot be found. The map starts at the
 * smallest size the capacity hint allows, so runs expand it while threads work.
 *
 * Layout: the key is stored inline (fixed 33 bytes), the value out of line in a
 * malloc'd blob (mapped_type is `Blob *`). A blob is only read under its bucket's
 * lock (find_fn, uprase_fn, erase_fn functors) or under lock_table(); a writer
 * swaps the pointer under the lock and frees the old blob after the lock is
 * released. Freed blobs are poisoned (value bytes set to 0xA5) first, so a copy
 * taken after the lock was dropped fails mapfuzz's value check. The blob keeps 16
 * bytes in front of its length: glibc's free() writes its list links there.
 *
 * Operations:
 *   get            find_fn, copying the blob inside the functor (bucket lock held)
 *   put            upsert: the functor swaps in the new blob and keeps the old one
 *   put_if_absent  uprase_fn: the functor copies the current blob, erases nothing
 *   del            erase_fn: the functor keeps the old blob and asks for the erase
 *   len            size(): sums per-lock counters without locking; exact only when
 *                  no thread is writing
 *   iterate        lock_table(): an atomic snapshot that blocks every other operation
 *   destroy        quiescent: free every blob, then the table
 *
 * Schedule points (host->point) are never called while a libcuckoo lock is held:
 * libcuckoo spins on its locks without telling the host, so a thread switched out
 * while holding one would leave the controlled scheduler's running thread spinning
 * for ever (a false hang). Every point therefore sits between lock-holding calls.
 * Exceptions (allocation failure, a resize libcuckoo refuses) become -ENOMEM / -EIO.
 *
 * Variants (create's variant argument; 0 is the correct adapter):
 *   1 find-copy-unlocked        get keeps the blob pointer and copies it after find_fn
 *   2 iterate-unlocked-snapshot iterate collects pointers under lock_table, visits later
 *   3 check-then-insert         put_if_absent is contains() followed by a blind upsert
 * Each variant's code opens with a comment naming the mistake and the finding.
 *
 * Build: g++ -std=c++11 -O2 -fPIC -shared -pthread -I csrc csrc/adapters/cuckoo.cpp
 *        -o cuckoo.so
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <atomic>
#include <new>
#include <utility>
#include <vector>

#include <libcuckoo/cuckoohash_map.hh>

#include "mapfuzz_target.h"

namespace {

enum { V_CORRECT, V_FIND_COPY_UNLOCKED, V_ITER_UNLOCKED, V_CHECK_THEN_INSERT, V_COUNT };

const char *const VARIANTS[] = {
    "find-copy-unlocked", "iterate-unlocked-snapshot", "check-then-insert", nullptr,
};

const uint8_t POISON = 0xA5;

struct Key {
    uint8_t len;
    uint8_t b[MF_MAX_KEY];        /* bytes past len are zero: whole-struct compares work */
};

uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

struct KeyHash {
    uint64_t seed;
    size_t operator()(const Key &k) const
    {
        uint64_t h = mix64(seed ^ (0x9e3779b97f4a7c15ull * (k.len + 1u)));
        for (size_t i = 0; i < k.len; i += 8) {
            uint64_t w = 0;
            memcpy(&w, k.b + i, k.len - i < 8 ? k.len - i : 8);
            h = mix64(h ^ w) + i;
        }
        return (size_t)mix64(h);
    }
};

struct KeyEq {
    bool operator()(const Key &a, const Key &b) const
    {
        return a.len == b.len && memcmp(a.b, b.b, a.len) == 0;
    }
};

struct Blob {
    uint64_t allocator_room[2];   /* free() overwrites these; len and data survive */
    uint32_t len;
    uint8_t data[1];
};

Blob *blob_new(const uint8_t *v, size_t vl)
{
    Blob *b = static_cast<Blob *>(malloc(offsetof(Blob, data) + (vl ? vl : 1)));
    if (!b)
        return nullptr;
    b->len = (uint32_t)vl;
    memcpy(b->data, v, vl);
    return b;
}

void blob_free(Blob *b)
{
    if (!b)
        return;
    memset(b->data, POISON, b->len);
    free(b);
}

void blob_copy(const Blob *b, uint8_t *out, size_t *outlen)
{
    size_t n = b->len < MF_MAX_VALUE ? b->len : MF_MAX_VALUE;   /* a reused blob may lie */
    memcpy(out, b->data, n);
    *outlen = n;
}

typedef libcuckoo::cuckoohash_map<Key, Blob *, KeyHash, KeyEq> Table;

struct CMap {
    Table t;
    const mf_host *host;
    uint32_t variant;
    pthread_t creator;
    std::atomic<size_t> hp_seen;   /* the largest hashpower reported (structural events) */
    CMap(size_t n, uint64_t seed) : t(n, KeyHash{seed}), host(nullptr), variant(0),
                                    creator(pthread_self()), hp_seen(0) {}
};

/* Structural events (MF_CAP_EVENTS). libcuckoo expands inside one insert, holding
 * every lock, and exposes only the result: hashpower(). After each insert the
 * adapter compares it with the last size reported and reports a new generation
 * (arg: the bucket count) once per size; which thread saw it first says which
 * insert expanded (or raced with) the table. */
void note_size(CMap *m)
{
    size_t hp = m->t.hashpower();
    /* Relaxed: hp_seen only elects one reporter per size; it orders nothing. */
    size_t seen = m->hp_seen.load(std::memory_order_relaxed);
    while (hp > seen) {
        if (m->hp_seen.compare_exchange_weak(seen, hp, std::memory_order_relaxed)) {
            mf_report_event(m->host, MF_EVENT_GENERATION, (uint64_t)1 << hp);
            return;
        }
    }
}

bool make_key(const uint8_t *k, size_t kl, Key *out)
{
    if (kl > MF_MAX_KEY)
        return false;
    memset(out, 0, sizeof *out);
    out->len = (uint8_t)kl;
    memcpy(out->b, k, kl);
    return true;
}

/* Built with -DMF_NO_HAND_POINTS (`mapfuzz cc ... -- -DMF_NO_HAND_POINTS`, the
 * instrumentation's proof on a real library): no hand-placed points, the
 * compiler's instrumentation places them all. */
inline void point(const CMap *m, const char *site)
{
#ifdef MF_NO_HAND_POINTS
    (void)m;
    (void)site;
#else
    m->host->point(m->host->ctx, site);
#endif
}

/* A reader descheduled for a moment inside a seeded variant's window (pool threads
 * only: the creator runs the sequential phases). */
void preempted(const CMap *m)
{
    static __thread uint64_t rng;
    if (pthread_equal(pthread_self(), m->creator))
        return;
    if (!rng)
        rng = mix64((uint64_t)(uintptr_t)&rng ^ (uint64_t)pthread_self());
    rng = mix64(rng + 0x9e3779b97f4a7c15ull);
    if ((rng & 15) == 0) {
        struct timespec ts = { 0, 50000 + (long)((rng >> 8) % 200000) };
        nanosleep(&ts, nullptr);
    }
}

/* ------------------------------------------------------------ the ABI */

void *c_create(const mf_host *host, uint64_t hash_seed, size_t capacity_hint, uint32_t variant)
{
    if (variant >= V_COUNT)
        return nullptr;
    try {
        CMap *m = new CMap(capacity_hint ? capacity_hint : 1, hash_seed);
        m->host = host;
        m->variant = variant;
        /* A bad run of hashes must not make libcuckoo throw load_factor_too_low; the
         * hashpower bound keeps a runaway expansion finite (it would throw instead). */
        m->t.minimum_load_factor(0.0);
        m->t.maximum_hashpower(24);
        /* Relaxed: the map is not shared until create returns. */
        m->hp_seen.store(m->t.hashpower(), std::memory_order_relaxed);
        return m;
    } catch (...) {
        return nullptr;
    }
}

void c_destroy(void *map)
{
    CMap *m = static_cast<CMap *>(map);
    try {
        auto lt = m->t.lock_table();
        for (auto &kv : lt)
            blob_free(kv.second);
    } catch (...) {
        /* leak the blobs rather than fail a quiescent destroy */
    }
    delete m;
}

int c_get(void *map, const uint8_t *k, size_t kl, uint8_t *val, size_t *vlen)
{
    CMap *m = static_cast<CMap *>(map);
    Key key;
    if (!make_key(k, kl, &key))
        return -EINVAL;
    try {
        if (m->variant == V_FIND_COPY_UNLOCKED) {
            /* Seeded mistake: the blob pointer is fetched under the bucket lock, but
             * the bytes are copied after find_fn has released it (the "find returns a
             * pointer, use it later" pattern). A writer that swaps the value frees the
             * old blob as soon as it drops the lock. Expected finding: torn-value. */
            Blob *p = nullptr;
            if (!m->t.find_fn(key, [&p](Blob *const &b) { p = b; }))
                return 0;
            point(m, "cuckoo:get:after-find");
            preempted(m);
            blob_copy(p, val, vlen);
            return 1;
        }
        return m->t.find_fn(key, [&](Blob *const &b) { blob_copy(b, val, vlen); }) ? 1 : 0;
    } catch (...) {
        return -EIO;
    }
}

int c_put(void *map, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
          uint8_t *old, size_t *oldlen)
{
    CMap *m = static_cast<CMap *>(map);
    Key key;
    if (!make_key(k, kl, &key))
        return -EINVAL;
    Blob *nb = blob_new(v, vl);
    if (!nb)
        return -ENOMEM;
    Blob *ob = nullptr;
    try {
        point(m, "cuckoo:put:before");
        bool inserted = m->t.upsert(key, [&](Blob *&cur) {
            ob = cur;
            blob_copy(cur, old, oldlen);
            cur = nb;
        }, nb);
        if (inserted) {
            note_size(m);
            return 0;
        }
    } catch (const std::bad_alloc &) {
        free(nb);
        return -ENOMEM;
    } catch (...) {
        free(nb);
        return -EIO;
    }
    point(m, "cuckoo:put:replaced");
    blob_free(ob);
    return 1;
}

int c_put_if_absent(void *map, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                    uint8_t *cur, size_t *curlen)
{
    CMap *m = static_cast<CMap *>(map);
    Key key;
    if (!make_key(k, kl, &key))
        return -EINVAL;
    Blob *nb = blob_new(v, vl);
    if (!nb)
        return -ENOMEM;
    try {
        if (m->variant == V_CHECK_THEN_INSERT) {
            /* Seeded mistake: "insert if absent" written as contains() then a write.
             * Between the two, another writer can insert the key; the blind upsert
             * then overwrites that value and still reports an insert. Expected
             * finding: lost-write (the overwritten value vanishes unobserved) or
             * stale-read. */
            if (m->t.find_fn(key, [&](Blob *const &b) { blob_copy(b, cur, curlen); })) {
                free(nb);
                return 0;
            }
            point(m, "cuckoo:pia:checked");
            preempted(m);
            Blob *ob = nullptr;
            m->t.upsert(key, [&](Blob *&c) { ob = c; c = nb; }, nb);
            blob_free(ob);
            note_size(m);
            return 1;
        }
        point(m, "cuckoo:pia:before");
        bool inserted = m->t.uprase_fn(key, [&](Blob *&c) {
            blob_copy(c, cur, curlen);
            return false;
        }, nb);
        if (!inserted)
            free(nb);              /* never published */
        else
            note_size(m);
        return inserted ? 1 : 0;
    } catch (const std::bad_alloc &) {
        free(nb);
        return -ENOMEM;
    } catch (...) {
        free(nb);
        return -EIO;
    }
}

int c_del(void *map, const uint8_t *k, size_t kl, uint8_t *old, size_t *oldlen)
{
    CMap *m = static_cast<CMap *>(map);
    Key key;
    if (!make_key(k, kl, &key))
        return -EINVAL;
    Blob *ob = nullptr;
    try {
        point(m, "cuckoo:del:before");
        bool found = m->t.erase_fn(key, [&](Blob *&c) {
            ob = c;
            blob_copy(c, old, oldlen);
            return true;
        });
        if (!found)
            return 0;
    } catch (...) {
        return -EIO;
    }
    point(m, "cuckoo:del:erased");
    blob_free(ob);
    return 1;
}

int64_t c_len(void *map)
{
    CMap *m = static_cast<CMap *>(map);
    return (int64_t)m->t.size();
}

int c_iterate(void *map, mf_visit visit, void *ctx)
{
    CMap *m = static_cast<CMap *>(map);
    try {
        if (m->variant == V_ITER_UNLOCKED) {
            /* Seeded mistake: to keep the table lock short, the iteration snapshots
             * (key, blob pointer) pairs under lock_table() and visits them after
             * unlocking. Writers free replaced and erased blobs in the meantime.
             * Expected finding: torn-value (poisoned bytes in an iterated value). */
            std::vector<std::pair<Key, Blob *>> snap;
            {
                auto lt = m->t.lock_table();
                for (auto &kv : lt)
                    snap.push_back(std::make_pair(kv.first, kv.second));
            }
            for (auto &kv : snap) {
                point(m, "cuckoo:iter:next");
                preempted(m);
                const Blob *b = kv.second;
                size_t n = b->len < MF_MAX_VALUE ? b->len : MF_MAX_VALUE;
                int rc = visit(ctx, kv.first.b, kv.first.len, b->data, n);
                if (rc)
                    return rc < 0 ? rc : 0;
            }
            return 0;
        }
        point(m, "cuckoo:iter:before");
        auto lt = m->t.lock_table();
        for (auto &kv : lt) {
            int rc = visit(ctx, kv.first.b, kv.first.len, kv.second->data, kv.second->len);
            if (rc)
                return rc < 0 ? rc : 0;
        }
        return 0;
    } catch (...) {
        return -EIO;
    }
}

/* Quiescent: size() agrees with a locked walk, and every blob is a sane length. */
int c_check(void *map, char *msg, size_t cap)
{
    CMap *m = static_cast<CMap *>(map);
    try {
        size_t n = 0;
        size_t sz = m->t.size();
        auto lt = m->t.lock_table();
        for (auto &kv : lt) {
            n++;
            if (kv.second->len > MF_MAX_VALUE) {
                snprintf(msg, cap, "a stored value claims %u bytes", kv.second->len);
                return 1;
            }
        }
        if (n != sz) {
            snprintf(msg, cap, "size() says %zu entries, a locked walk found %zu", sz, n);
            return 1;
        }
        return 0;
    } catch (...) {
        snprintf(msg, cap, "lock_table() threw");
        return 1;
    }
}

const mf_target TABLE = {
    MF_ABI_VERSION,
    MF_CAP_MULTI_WRITER | MF_CAP_PUT_IF_ABSENT | MF_CAP_ITERATE | MF_CAP_EVENTS,
    "cuckoo",
    VARIANTS,
    c_create,
    c_destroy,
    c_get,
    c_put,
    c_put_if_absent,
    c_del,
    c_len,
    c_iterate,
    c_check,
    nullptr,
};

}  // namespace

extern "C" const mf_target *mf_target_v1(void)
{
    return &TABLE;
}
