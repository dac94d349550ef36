/* rwmap: mapfuzz's baseline built-in target, a plain hash map behind one pthread
 * rwlock. Correct only (no seeded bugs): the benchmarks' baseline and a
 * false-alarm control (a fuzz campaign on it must find nothing).
 *
 * ============================================================ DESIGN
 *
 * Layout. Open addressing with linear probing over a power-of-two array of slots
 * {hash, key length, state, key bytes, value length, value pointer}; each value is
 * a malloc'd copy, replaced (and the old one freed) under the write lock, read
 * under the read lock. Keys hash with mf_evacmap_hash
 * (seeded, over every key byte including the type tag and the length), so int 42,
 * str "42" and bytes b"42" are three keys. Deletes leave tombstones; a table at
 * 3/4 of its slots (live + tombstones) is rebuilt at twice the live count.
 *
 * Concurrency contract. get, iterate and len take the lock shared; put,
 * put_if_absent and del take it exclusive (csrc/hostlock.h: a busy lock reports
 * host->blocked). Every operation happens entirely inside its critical section, so
 * the map is linearizable at the lock acquisition and len is exact. The visit
 * callback of iterate runs under the shared lock.
 *
 * Schedule points: host->point at each lock acquisition (get:lock, put:lock,
 * pia:lock, del:lock, iter:lock, len:lock); nothing inside a critical section can
 * interleave with a writer, so no other point would add an interleaving.
 *
 * Invariants (quiescent; check() verifies them, citing the number):
 *   R1  count equals the live slots, used equals live + tombstones, and
 *       used <= 3/4 of the slots.
 *   R2  every live key is reachable from its home slot, its stored hash and
 *       length match its bytes, and no key is live twice.
 *   R3  every live value is at most MF_MAX_VALUE bytes.
 *   R4  the lock is free.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evacmap.h"
#include "hostlock.h"

#define RW_EMPTY 0
#define RW_LIVE 1
#define RW_TOMB 2
#define RW_MIN_CAP 16

typedef struct rw_slot {
    uint32_t hash;
    uint8_t klen, state;
    uint16_t vlen;
    uint8_t key[MF_MAX_KEY];
    uint8_t *val;                  /* malloc'd, vlen bytes (NULL when vlen is 0) */
} rw_slot;

typedef struct rwmap {
    const mf_host *host;
    uint64_t seed;
    pthread_rwlock_t lock;
    uint64_t mask, count, used;    /* under the lock */
    rw_slot *s;
} rwmap;

static void noop_point(void *ctx, const char *site) { (void)ctx; (void)site; }
static const mf_host rw_noop_host = { NULL, noop_point, noop_point };

static int bad_key(size_t klen) { return klen < 1 || klen > MF_MAX_KEY; }

/* The slot of key (found), else the first tombstone or empty slot of its run. */
static rw_slot *rw_probe(rwmap *m, uint32_t h, const uint8_t *key, size_t klen, int *found)
{
    rw_slot *free_slot = NULL;
    *found = 0;
    for (uint64_t i = h & m->mask, n = 0; n <= m->mask; n++, i = (i + 1) & m->mask) {
        rw_slot *s = &m->s[i];
        if (s->state == RW_EMPTY)
            return free_slot ? free_slot : s;
        if (s->state == RW_TOMB) {
            if (!free_slot)
                free_slot = s;
            continue;
        }
        if (s->hash == h && s->klen == klen && !memcmp(s->key, key, klen)) {
            *found = 1;
            return s;
        }
    }
    return free_slot;
}

/* Rebuild at twice the live count (keeps R1); -1 when out of memory. */
static int rw_rebuild(rwmap *m)
{
    uint64_t cap = RW_MIN_CAP;
    while (cap < (m->count + 1) * 2)
        cap <<= 1;
    rw_slot *ns = calloc(cap, sizeof *ns), *os = m->s;
    if (!ns)
        return -1;
    uint64_t omask = m->mask;
    m->s = ns;
    m->mask = cap - 1;
    m->used = m->count;
    for (uint64_t i = 0; i <= omask; i++) {
        if (os[i].state != RW_LIVE)
            continue;
        uint64_t j = os[i].hash & m->mask;
        while (ns[j].state != RW_EMPTY)
            j = (j + 1) & m->mask;
        ns[j] = os[i];
    }
    free(os);
    return 0;
}

static void copy_out(const rw_slot *s, uint8_t *out, size_t *outlen)
{
    if (s->vlen)
        memcpy(out, s->val, s->vlen);
    *outlen = s->vlen;
}

static int rw_get(void *map, const uint8_t *key, size_t klen, uint8_t *val, size_t *vlen)
{
    rwmap *m = map;
    if (bad_key(klen))
        return -1;
    uint32_t h = mf_evacmap_hash(m->seed, key, klen);
    int found;
    hl_rdlock(&m->lock, m->host, "get:lock");
    rw_slot *s = rw_probe(m, h, key, klen, &found);
    if (found)
        copy_out(s, val, vlen);
    pthread_rwlock_unlock(&m->lock);
    return found;
}

enum { W_PUT, W_PIA };

static int rw_write(rwmap *m, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                    uint8_t *out, size_t *outlen, int mode)
{
    if (bad_key(klen) || vlen > MF_MAX_VALUE)
        return -1;
    uint32_t h = mf_evacmap_hash(m->seed, key, klen);
    int found, ret;
    hl_wrlock(&m->lock, m->host, mode == W_PIA ? "pia:lock" : "put:lock");
    rw_slot *s = rw_probe(m, h, key, klen, &found);
    uint8_t *copy = NULL;   /* the new value, when it will be stored */
    if ((!found || mode == W_PUT) && vlen && !(copy = malloc(vlen))) {
        ret = -1;
        goto unlock;
    }
    if (copy)
        memcpy(copy, val, vlen);
    if (found) {
        copy_out(s, out, outlen);
        if (mode == W_PUT) {
            free(s->val);
            s->val = copy;
            s->vlen = (uint16_t)vlen;
        }
        ret = mode == W_PUT ? 1 : 0;
        goto unlock;
    }
    if (s->state == RW_EMPTY && (m->used + 1) * 4 > (m->mask + 1) * 3) {
        if (rw_rebuild(m)) {
            free(copy);
            ret = -1;
            goto unlock;
        }
        s = rw_probe(m, h, key, klen, &found);
    }
    if (s->state == RW_EMPTY)
        m->used++;
    s->hash = h;
    s->klen = (uint8_t)klen;
    memcpy(s->key, key, klen);
    s->val = copy;
    s->vlen = (uint16_t)vlen;
    s->state = RW_LIVE;
    m->count++;
    ret = mode == W_PUT ? 0 : 1;
unlock:
    pthread_rwlock_unlock(&m->lock);
    return ret;
}

static int rw_put(void *map, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                  uint8_t *old, size_t *oldlen)
{
    return rw_write(map, key, klen, val, vlen, old, oldlen, W_PUT);
}

static int rw_pia(void *map, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                  uint8_t *cur, size_t *curlen)
{
    return rw_write(map, key, klen, val, vlen, cur, curlen, W_PIA);
}

static int rw_del(void *map, const uint8_t *key, size_t klen, uint8_t *old, size_t *oldlen)
{
    rwmap *m = map;
    if (bad_key(klen))
        return -1;
    uint32_t h = mf_evacmap_hash(m->seed, key, klen);
    int found;
    hl_wrlock(&m->lock, m->host, "del:lock");
    rw_slot *s = rw_probe(m, h, key, klen, &found);
    if (found) {
        copy_out(s, old, oldlen);
        free(s->val);
        s->val = NULL;
        s->state = RW_TOMB;
        m->count--;
    }
    pthread_rwlock_unlock(&m->lock);
    return found;
}

static int64_t rw_len(void *map)
{
    rwmap *m = map;
    hl_rdlock(&m->lock, m->host, "len:lock");
    int64_t n = (int64_t)m->count;
    pthread_rwlock_unlock(&m->lock);
    return n;
}

static int rw_iterate(void *map, mf_visit visit, void *ctx)
{
    rwmap *m = map;
    hl_rdlock(&m->lock, m->host, "iter:lock");
    for (uint64_t i = 0; i <= m->mask; i++) {
        rw_slot *s = &m->s[i];
        if (s->state == RW_LIVE && visit(ctx, s->key, s->klen, s->val, s->vlen))
            break;
    }
    pthread_rwlock_unlock(&m->lock);
    return 0;
}

#define FAIL(...)                                                  \
    do {                                                           \
        if (cap)                                                   \
            snprintf(msg, cap, "invariant failed: " __VA_ARGS__);  \
        return 1;                                                  \
    } while (0)

static int rw_check(void *map, char *msg, size_t cap)
{
    rwmap *m = map;
    if (cap)
        msg[0] = 0;
    if (pthread_rwlock_trywrlock(&m->lock))
        FAIL("the lock is held at quiescence (violates R4)");
    pthread_rwlock_unlock(&m->lock);
    uint64_t live = 0, used = 0;
    for (uint64_t i = 0; i <= m->mask; i++) {
        rw_slot *s = &m->s[i];
        if (s->state == RW_EMPTY)
            continue;
        used++;
        if (s->state != RW_LIVE)
            continue;
        live++;
        if (s->klen < 1 || s->klen > MF_MAX_KEY || s->hash != mf_evacmap_hash(m->seed, s->key, s->klen))
            FAIL("slot %llu: stored hash or length does not match its key (violates R2)",
                 (unsigned long long)i);
        int found;
        if (rw_probe(m, s->hash, s->key, s->klen, &found) != s || !found)
            FAIL("slot %llu: key unreachable from its home or live twice (violates R2)",
                 (unsigned long long)i);
        if (s->vlen > MF_MAX_VALUE)
            FAIL("slot %llu: value of %u bytes (violates R3)", (unsigned long long)i, s->vlen);
    }
    if (live != m->count || used != m->used || used * 4 > (m->mask + 1) * 3)
        FAIL("count %llu / used %llu, slots: %llu live, %llu used of %llu (violates R1)",
             (unsigned long long)m->count, (unsigned long long)m->used, (unsigned long long)live,
             (unsigned long long)used, (unsigned long long)(m->mask + 1));
    return 0;
}
#undef FAIL

static void *rw_create(const mf_host *host, uint64_t hash_seed, size_t capacity_hint,
                       uint32_t variant)
{
    if (variant != 0)
        return NULL;
    rwmap *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    uint64_t cap = RW_MIN_CAP;
    while (cap * 3 < (uint64_t)(capacity_hint > (1u << 20) ? (1u << 20) : capacity_hint) * 4)
        cap <<= 1;
    m->s = calloc(cap, sizeof *m->s);
    if (!m->s) {
        free(m);
        return NULL;
    }
    m->mask = cap - 1;
    m->host = host ? host : &rw_noop_host;
    m->seed = hash_seed;
    pthread_rwlock_init(&m->lock, NULL);
    return m;
}

static void rw_destroy(void *map)
{
    rwmap *m = map;
    if (!m)
        return;
    pthread_rwlock_destroy(&m->lock);
    for (uint64_t i = 0; i <= m->mask; i++)
        if (m->s[i].state == RW_LIVE)
            free(m->s[i].val);
    free(m->s);
    free(m);
}

static const mf_target rw_target = {
    .abi_version = MF_ABI_VERSION,
    .caps = MF_CAP_MULTI_WRITER | MF_CAP_PUT_IF_ABSENT | MF_CAP_ITERATE | MF_CAP_EXACT_LEN,
    .name = "rwmap",
    .variants = NULL,
    .create = rw_create,
    .destroy = rw_destroy,
    .get = rw_get,
    .put = rw_put,
    .put_if_absent = rw_pia,
    .del = rw_del,
    .len = rw_len,
    .iterate = rw_iterate,
    .check = rw_check,
    .thread_exit = NULL,
};

const mf_target *mf_rwmap(void) { return &rw_target; }
