/* mapfuzz adapter for liburcu's cds_lfht (liburcu-dev 0.13, RCU flavour memb).
 *
 * cds_lfht is a lock-free, split-ordered RCU hash table: many writers, lock-free
 * readers, and resizes that run concurrently in liburcu's own worker thread. The
 * table is created with AUTO_RESIZE | ACCOUNTING and one bucket, so every run grows
 * (and shrinks) it while the threads work.
 *
 * Flavour. memb: readers only need registration, and an idle registered thread never
 * holds a grace period back (qsbr would: a parked pool thread that is registered
 * stalls every synchronize_rcu, i.e. every resize and call_rcu batch, forever;
 * signal takes SIGUSR1 from the process). Each thread registers lazily, on its
 * first call into the map; thread_exit unregisters it, and a pthread-key destructor
 * unregisters a thread that exits while still registered (the thread that runs the
 * prefill and post phase never gets thread_exit).
 *
 * Operations (each value is immutable inside its node; a node is replaced whole):
 *   get            lookup and copy inside one read-side section
 *   put            cds_lfht_add_replace; the replaced node goes to call_rcu
 *   put_if_absent  cds_lfht_add_unique; our node is freed at once when it lost
 *                  (it was never visible to anyone)
 *   del            lookup then cds_lfht_del; del < 0 means another writer removed
 *                  or replaced that node first: look up again
 *   len            cds_lfht_count_nodes: exact only when no thread is writing
 *   iterate        cds_lfht_first/next inside one read-side section: weakly
 *                  consistent (a key present for the whole walk is seen exactly once,
 *                  a key added or removed meanwhile may or may not be)
 *   destroy        quiescent: unlink every node, cds_lfht_destroy (which waits for
 *                  an in-flight resize), then free the nodes directly: no reader and
 *                  no resize can reach them any more. Nodes replaced earlier are still
 *                  queued in call_rcu; their callbacks touch only the node itself, so
 *                  destroy never waits for a grace period.
 *
 * Reclaimed nodes are poisoned (value bytes set to 0xA5) before free: a reader that
 * copies a node after its grace period gets bytes that fail mapfuzz's value check.
 *
 * Schedule points (host->point) sit inside the read-side sections, at the windows
 * the seeded variants get wrong. If the runner unwinds a thread from one of them
 * (watchdog), that thread is left inside a read-side section and every grace
 * period stalls until it calls in again: the adapter counts each thread's open
 * sections, closes them on the thread's next call, and a destroy that finds a
 * thread in that state leaks the table rather than wait for the resize worker.
 *
 * Variants (create's variant argument; 0 is the correct adapter):
 *   1 free-replaced-at-once   put frees the replaced node at once, no grace period
 *   2 copy-after-unlock       get leaves the read-side section before copying
 *   3 add-allows-duplicates   put looks up, then cds_lfht_add when it saw no node
 * Each variant's code opens with a comment naming the mistake and the finding.
 *
 * Build: gcc -std=gnu11 -O2 -fPIC -shared -pthread -I csrc csrc/adapters/cds_lfht.c
 *        $(pkg-config --cflags --libs liburcu-memb liburcu-cds) -o cds_lfht.so
 */
#define _GNU_SOURCE
#define _LGPL_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <urcu/urcu-memb.h>
#include <urcu/rculfhash.h>
#include "mapfuzz_target.h"

enum { V_CORRECT, V_FREE_AT_ONCE, V_COPY_AFTER_UNLOCK, V_ADD_DUPS, V_COUNT };

static const char *const VARIANTS[] = {
    "free-replaced-at-once", "copy-after-unlock", "add-allows-duplicates", NULL,
};

#define POISON 0xA5

struct lnode {
    struct cds_lfht_node lfn;
    struct rcu_head rh;
    struct lnode *qnext;           /* quarantine list (variant 1 only) */
    uint16_t vlen;
    uint8_t klen;
    uint8_t key[MF_MAX_KEY];
    uint8_t val[];                 /* immutable once the node is published */
};

struct lmap {
    struct cds_lfht *ht;
    const mf_host *host;
    uint64_t seed;
    uint32_t variant;
    pthread_t creator;             /* runs create, prefill, post phase and destroy */
    struct lnode *_Atomic quarantine;  /* free-replaced-at-once: poisoned, kept */
};

/* ------------------------------------------------------------ per-thread RCU state */

struct tstate {
    _Atomic int depth;             /* open read-side sections (relaxed: read by destroy
                                      only after the runner's own release/acquire) */
    int registered;
    struct tstate *next, *prev;
};

static __thread struct tstate tls;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tstate reg_head = { .next = &reg_head, .prev = &reg_head };
static pthread_key_t exit_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void unregister_self(void)
{
    struct tstate *t = &tls;
    if (!t->registered)
        return;
    for (int d = atomic_load_explicit(&t->depth, memory_order_relaxed); d > 0; d--)
        urcu_memb_read_unlock();
    atomic_store_explicit(&t->depth, 0, memory_order_relaxed);
    urcu_memb_unregister_thread();
    pthread_mutex_lock(&reg_lock);
    t->prev->next = t->next;
    t->next->prev = t->prev;
    pthread_mutex_unlock(&reg_lock);
    t->registered = 0;
    pthread_setspecific(exit_key, NULL);
}

static void exit_destructor(void *p)
{
    (void)p;
    unregister_self();
}

static void make_key(void)
{
    pthread_key_create(&exit_key, exit_destructor);
}

/* Every entry point calls this first: register on first use, and close read-side
 * sections a previous call left open when the runner unwound it (see the header). */
static inline void enter(void)
{
    struct tstate *t = &tls;
    if (__builtin_expect(!t->registered, 0)) {
        pthread_once(&key_once, make_key);
        urcu_memb_register_thread();
        pthread_mutex_lock(&reg_lock);
        t->next = reg_head.next;
        t->prev = &reg_head;
        reg_head.next->prev = t;
        reg_head.next = t;
        pthread_mutex_unlock(&reg_lock);
        t->registered = 1;
        pthread_setspecific(exit_key, t);
    }
    int d = atomic_load_explicit(&t->depth, memory_order_relaxed);
    if (__builtin_expect(d != 0, 0)) {
        for (; d > 0; d--)
            urcu_memb_read_unlock();
        atomic_store_explicit(&t->depth, 0, memory_order_relaxed);
    }
}

static inline void rs_lock(void)
{
    urcu_memb_read_lock();
    atomic_store_explicit(&tls.depth, 1, memory_order_relaxed);
}

static inline void rs_unlock(void)
{
    atomic_store_explicit(&tls.depth, 0, memory_order_relaxed);
    urcu_memb_read_unlock();
}

static int any_thread_stuck(void)
{
    int stuck = 0;
    pthread_mutex_lock(&reg_lock);
    for (struct tstate *t = reg_head.next; t != &reg_head; t = t->next)
        if (t != &tls && atomic_load_explicit(&t->depth, memory_order_relaxed))
            stuck = 1;
    pthread_mutex_unlock(&reg_lock);
    return stuck;
}

/* ------------------------------------------------------------ nodes and hashing */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static unsigned long key_hash(uint64_t seed, const uint8_t *k, size_t kl)
{
    uint64_t h = mix64(seed ^ (0x9e3779b97f4a7c15ull * (kl + 1)));
    for (size_t i = 0; i < kl; i += 8) {
        uint64_t w = 0;
        memcpy(&w, k + i, kl - i < 8 ? kl - i : 8);
        h = mix64(h ^ w) + i;
    }
    return (unsigned long)mix64(h);
}

struct lookup_key {
    const uint8_t *k;
    size_t kl;
};

static int match(struct cds_lfht_node *n, const void *arg)
{
    const struct lookup_key *lk = arg;
    const struct lnode *ln = caa_container_of(n, struct lnode, lfn);
    return ln->klen == lk->kl && memcmp(ln->key, lk->k, lk->kl) == 0;
}

static struct lnode *node_new(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    struct lnode *n = malloc(sizeof *n + vl);
    if (!n)
        return NULL;
    cds_lfht_node_init(&n->lfn);
    n->klen = (uint8_t)kl;
    n->vlen = (uint16_t)vl;
    memcpy(n->key, k, kl);
    memcpy(n->val, v, vl);
    return n;
}

static void node_free(struct lnode *n)
{
    memset(n->val, POISON, n->vlen);
    free(n);
}

static void node_free_rcu(struct rcu_head *h)
{
    node_free(caa_container_of(h, struct lnode, rh));
}

static void copy_val(const struct lnode *n, uint8_t *out, size_t *outlen)
{
    memcpy(out, n->val, n->vlen);
    *outlen = n->vlen;
}

static inline void point(const struct lmap *m, const char *site)
{
    m->host->point(m->host->ctx, site);
}

/* A reader descheduled for a time slice: the window a pointer that escaped its
 * read-side section needs before call_rcu (which batches callbacks every ~10 ms)
 * reclaims the node. Used only inside a seeded variant's window, and only on the
 * pool threads (the creator runs the sequential phases). */
static void preempted(const struct lmap *m)
{
    static __thread uint64_t rng;
    if (pthread_equal(pthread_self(), m->creator))
        return;
    if (!rng)
        rng = mix64((uint64_t)(uintptr_t)&rng ^ (uint64_t)pthread_self());
    rng = mix64(rng + 0x9e3779b97f4a7c15ull);
    if ((rng & 15) == 0) {
        struct timespec ts = { 0, 15000000 + (long)((rng >> 8) % 10000000) };
        nanosleep(&ts, NULL);
    }
}

/* ------------------------------------------------------------ the ABI */

static void *l_create(const mf_host *host, uint64_t hash_seed, size_t capacity_hint,
                      uint32_t variant)
{
    (void)capacity_hint;           /* one bucket on purpose: resizes during every run */
    if (variant >= V_COUNT)
        return NULL;
    struct lmap *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->ht = cds_lfht_new_flavor(1, 1, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
                                &urcu_memb_flavor, NULL);
    if (!m->ht) {
        free(m);
        return NULL;
    }
    m->host = host;
    m->seed = hash_seed;
    m->variant = variant;
    m->creator = pthread_self();
    atomic_init(&m->quarantine, NULL);
    return m;
}

static void l_destroy(void *map)
{
    struct lmap *m = map;
    enter();
    if (any_thread_stuck()) {
        /* A thread was unwound inside a read-side section: cds_lfht_destroy would
         * wait for a resize that waits for that thread. Leak the table instead. */
        free(m);
        return;
    }
    size_t n = 0, cap = 64;
    struct lnode **nodes = malloc(cap * sizeof *nodes);
    struct cds_lfht_iter it;
    rs_lock();
    for (cds_lfht_first(m->ht, &it); cds_lfht_iter_get_node(&it); cds_lfht_next(m->ht, &it)) {
        struct lnode *ln = caa_container_of(cds_lfht_iter_get_node(&it), struct lnode, lfn);
        if (cds_lfht_del(m->ht, &ln->lfn) == 0) {
            if (nodes && n == cap) {
                struct lnode **bigger = realloc(nodes, 2 * cap * sizeof *nodes);
                if (!bigger) {
                    free(nodes);
                    nodes = NULL;
                } else {
                    nodes = bigger;
                    cap *= 2;
                }
            }
            if (nodes)
                nodes[n++] = ln;
        }
    }
    rs_unlock();
    if (cds_lfht_destroy(m->ht, NULL) == 0 && nodes) {
        for (size_t i = 0; i < n; i++)
            node_free(nodes[i]);
    }
    /* else: out of memory or a table that would not die; leaking is the safe side */
    free(nodes);
    for (struct lnode *q = atomic_load(&m->quarantine), *nx; q; q = nx) {
        nx = q->qnext;
        free(q);
    }
    free(m);
}

static int l_get(void *map, const uint8_t *k, size_t kl, uint8_t *val, size_t *vlen)
{
    struct lmap *m = map;
    struct lookup_key lk = { k, kl };
    struct cds_lfht_iter it;
    enter();
    rs_lock();
    cds_lfht_lookup(m->ht, key_hash(m->seed, k, kl), match, &lk, &it);
    struct cds_lfht_node *n = cds_lfht_iter_get_node(&it);
    if (!n) {
        rs_unlock();
        return 0;
    }
    struct lnode *ln = caa_container_of(n, struct lnode, lfn);
    if (m->variant == V_COPY_AFTER_UNLOCK) {
        /* Seeded mistake: the node pointer escapes the read-side section. Once
         * rcu_read_unlock returns, a writer's call_rcu may reclaim the node; the late
         * memcpy then reads freed (poisoned) memory. Expected finding: torn-value. */
        rs_unlock();
        point(m, "lfht:get:after-unlock");
        preempted(m);
        copy_val(ln, val, vlen);
        return 1;
    }
    point(m, "lfht:get:found");
    copy_val(ln, val, vlen);
    rs_unlock();
    return 1;
}

static int l_put(void *map, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                 uint8_t *old, size_t *oldlen)
{
    struct lmap *m = map;
    struct lookup_key lk = { k, kl };
    unsigned long h = key_hash(m->seed, k, kl);
    struct lnode *nn = node_new(k, kl, v, vl);
    if (!nn)
        return -ENOMEM;
    enter();
    if (m->variant == V_ADD_DUPS) {
        /* Seeded mistake: "insert if missing, else replace" built from a lookup and
         * cds_lfht_add, which never checks for an existing key. Two writers that both
         * miss the key both add it: the table holds the key twice. Expected finding:
         * invariant (check() finds the key twice once the threads stop), or
         * duplicate-key / lost-write when an iteration or a get sees the other copy. */
        struct cds_lfht_iter it;
        rs_lock();
        cds_lfht_lookup(m->ht, h, match, &lk, &it);
        if (!cds_lfht_iter_get_node(&it)) {
            point(m, "lfht:put:missed");
            cds_lfht_add(m->ht, h, &nn->lfn);
            rs_unlock();
            return 0;
        }
        rs_unlock();
        /* present: fall through to the correct replace */
    }
    rs_lock();
    point(m, "lfht:put:before-replace");
    struct cds_lfht_node *on = cds_lfht_add_replace(m->ht, h, match, &lk, &nn->lfn);
    if (!on) {
        rs_unlock();
        return 0;
    }
    struct lnode *oln = caa_container_of(on, struct lnode, lfn);
    copy_val(oln, old, oldlen);
    point(m, "lfht:put:replaced");
    rs_unlock();
    if (m->variant == V_FREE_AT_ONCE) {
        /* Seeded mistake: the replaced node is unlinked, so it is freed at once;
         * but readers that looked it up before the replace may still be copying it.
         * It needs call_rcu (a grace period). Expected finding: torn-value.
         * The node is poisoned and quarantined until destroy rather than handed to
         * free(), so a late reader copies the poison (instead of crashing on a link
         * the allocator overwrote). */
        memset(oln->val, POISON, oln->vlen);
        oln->qnext = atomic_load_explicit(&m->quarantine, memory_order_relaxed);
        while (!atomic_compare_exchange_weak_explicit(&m->quarantine, &oln->qnext, oln,
                                                      memory_order_relaxed,
                                                      memory_order_relaxed))
            ;
    } else {
        urcu_memb_call_rcu(&oln->rh, node_free_rcu);
    }
    return 1;
}

static int l_put_if_absent(void *map, const uint8_t *k, size_t kl, const uint8_t *v,
                           size_t vl, uint8_t *cur, size_t *curlen)
{
    struct lmap *m = map;
    struct lookup_key lk = { k, kl };
    struct lnode *nn = node_new(k, kl, v, vl);
    if (!nn)
        return -ENOMEM;
    enter();
    rs_lock();
    point(m, "lfht:pia:before-add");
    struct cds_lfht_node *got = cds_lfht_add_unique(m->ht, key_hash(m->seed, k, kl), match,
                                                    &lk, &nn->lfn);
    if (got == &nn->lfn) {
        rs_unlock();
        return 1;
    }
    point(m, "lfht:pia:present");
    copy_val(caa_container_of(got, struct lnode, lfn), cur, curlen);
    rs_unlock();
    free(nn);                      /* never published */
    return 0;
}

static int l_del(void *map, const uint8_t *k, size_t kl, uint8_t *old, size_t *oldlen)
{
    struct lmap *m = map;
    struct lookup_key lk = { k, kl };
    unsigned long h = key_hash(m->seed, k, kl);
    struct cds_lfht_iter it;
    enter();
    for (;;) {
        rs_lock();
        cds_lfht_lookup(m->ht, h, match, &lk, &it);
        struct cds_lfht_node *n = cds_lfht_iter_get_node(&it);
        if (!n) {
            rs_unlock();
            return 0;
        }
        point(m, "lfht:del:found");
        if (cds_lfht_del(m->ht, n) == 0) {
            struct lnode *ln = caa_container_of(n, struct lnode, lfn);
            copy_val(ln, old, oldlen);
            rs_unlock();
            urcu_memb_call_rcu(&ln->rh, node_free_rcu);
            return 1;
        }
        /* another writer removed or replaced this node first: look again */
        rs_unlock();
        point(m, "lfht:del:retry");
    }
}

static int64_t l_len(void *map)
{
    struct lmap *m = map;
    long before, after;
    unsigned long count;
    enter();
    rs_lock();
    cds_lfht_count_nodes(m->ht, &before, &count, &after);
    rs_unlock();
    return (int64_t)count;
}

static int l_iterate(void *map, mf_visit visit, void *ctx)
{
    struct lmap *m = map;
    struct cds_lfht_iter it;
    int rc = 0;
    enter();
    rs_lock();
    for (cds_lfht_first(m->ht, &it); cds_lfht_iter_get_node(&it); cds_lfht_next(m->ht, &it)) {
        const struct lnode *ln = caa_container_of(cds_lfht_iter_get_node(&it),
                                                  struct lnode, lfn);
        rc = visit(ctx, ln->key, ln->klen, ln->val, ln->vlen);
        if (rc)
            break;
        point(m, "lfht:iter:next");
    }
    rs_unlock();
    return rc < 0 ? rc : 0;
}

static int cmp_keys(const void *a, const void *b)
{
    const struct lnode *x = *(struct lnode *const *)a, *y = *(struct lnode *const *)b;
    if (x->klen != y->klen)
        return x->klen < y->klen ? -1 : 1;
    return memcmp(x->key, y->key, x->klen);
}

/* Quiescent: no key twice, and the node counters agree with a full traversal. */
static int l_check(void *map, char *msg, size_t cap)
{
    struct lmap *m = map;
    struct cds_lfht_iter it;
    size_t n = 0, room = 64;
    struct lnode **nodes = malloc(room * sizeof *nodes);
    int rc = 0;
    if (!nodes)
        return 0;
    enter();
    rs_lock();
    for (cds_lfht_first(m->ht, &it); cds_lfht_iter_get_node(&it); cds_lfht_next(m->ht, &it)) {
        if (n == room) {
            struct lnode **bigger = realloc(nodes, 2 * room * sizeof *nodes);
            if (!bigger)
                goto out;
            nodes = bigger;
            room *= 2;
        }
        nodes[n++] = caa_container_of(cds_lfht_iter_get_node(&it), struct lnode, lfn);
    }
    long before, after;
    unsigned long count;
    cds_lfht_count_nodes(m->ht, &before, &count, &after);
    if (count != n) {
        snprintf(msg, cap, "cds_lfht_count_nodes counted %lu nodes, a traversal saw %zu",
                 count, n);
        rc = 1;
        goto out;
    }
    qsort(nodes, n, sizeof *nodes, cmp_keys);
    for (size_t i = 1; i < n; i++)
        if (cmp_keys(&nodes[i - 1], &nodes[i]) == 0) {
            snprintf(msg, cap, "the table holds a key twice (%u bytes, tag 0x%02x)",
                     nodes[i]->klen, nodes[i]->klen ? nodes[i]->key[0] : 0);
            rc = 1;
            break;
        }
out:
    rs_unlock();
    free(nodes);
    return rc;
}

static void l_thread_exit(void *map)
{
    (void)map;
    unregister_self();
}

static const mf_target TABLE = {
    .abi_version = MF_ABI_VERSION,
    .caps = MF_CAP_MULTI_WRITER | MF_CAP_PUT_IF_ABSENT | MF_CAP_ITERATE,
    .name = "cds_lfht",
    .variants = VARIANTS,
    .create = l_create,
    .destroy = l_destroy,
    .get = l_get,
    .put = l_put,
    .put_if_absent = l_put_if_absent,
    .del = l_del,
    .len = l_len,
    .iterate = l_iterate,
    .check = l_check,
    .thread_exit = l_thread_exit,
};

const mf_target *mf_target_v1(void)
{
    return &TABLE;
}
