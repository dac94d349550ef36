/* syncmap: mapfuzz's second built-in target, the design of Go's sync.Map (Go 1.9 to
 * 1.23: read-only map + dirty map + misses) in C, with a catalogue of seeded bugs.
 *
 * ============================================================ DESIGN
 *
 * Terminology.
 *   entry    one key's value cell: an atomic pointer p to an immutable value
 *            blob, or NULL (deleted), or EXPUNGED (deleted and left out of the
 *            dirty map). An entry lives as long as the map; several tables may
 *            point to the same entry, and a store through any of them is seen
 *            through all of them.
 *   table    a hash table from key bytes to entry pointers (open addressing,
 *            linear probing, tombstones). Keys hash with mf_evacmap_hash (seeded,
 *            over every key byte including the type tag and the length).
 *   read     the published read-only view: an immutable {table m, amended}
 *            behind one atomic pointer. m may be NULL (empty). A table that
 *            became part of a published view is never written again.
 *   dirty    a table owned by the mutex `mu`: every key of read that is not
 *            expunged, plus the keys stored since the last promotion. NULL when
 *            it was promoted and no new key came since.
 *   amended  set in a view when dirty holds keys that view's m does not.
 *   misses   lookups (under mu) that had to go to dirty since the last promotion.
 *   promote  publish {m = dirty, amended = 0} as read and set dirty = NULL,
 *            misses = 0. O(1): the dirty table becomes the read table.
 *
 * Operations (the target ABI's names, then sync.Map's).
 *   get = Load: look the key up in read.m, lock-free. If absent and the view is
 *     amended: lock, load read again (a promotion may have happened while we
 *     waited), and if still absent and amended look in dirty and count a miss.
 *     The entry's p is loaded (acquire) and the blob copied: NULL or EXPUNGED
 *     means absent.
 *   put = Swap (Store that returns the previous value): if read.m has the key,
 *     CAS the new blob into the entry unless it is EXPUNGED (lock-free). Else
 *     lock, load read again: key in read.m -> un-expunge (CAS EXPUNGED -> NULL,
 *     and then add it to dirty) and exchange; key in dirty -> exchange; a new
 *     key -> if the view is not amended, build dirty (dirtyLocked, below) and
 *     publish {read.m, amended = 1}; insert a new entry into dirty.
 *   put_if_absent = LoadOrStore: like put, but an entry holding a value is
 *     returned instead of replaced (CAS NULL -> blob only); a hit in dirty counts
 *     a miss.
 *   del = LoadAndDelete: find the entry as get does (removing the key from dirty
 *     when only dirty had it), then CAS its blob -> NULL.
 *   iterate = Range: if the view is amended, lock and promote (re-checking
 *     amended on a fresh load); then visit every key of the view's table whose
 *     entry holds a value, loading it at the visit.
 *   len: the number of entries a Range visits. Not exact while writers run
 *     (no MF_CAP_EXACT_LEN), as sync.Map has no Len.
 *   dirtyLocked: when a new key arrives and dirty is NULL, copy read.m into a
 *     new dirty table, except entries that are deleted: those are CASed NULL ->
 *     EXPUNGED and left out. A store must never land in an expunged entry (it is
 *     in no dirty table, so the next promotion would drop it): that is what the
 *     EXPUNGED state is for, and why un-expunging happens under mu together with
 *     re-adding the key to dirty.
 *
 * Values. Each write allocates an immutable blob {magic, len, bytes} and
 * publishes it with a release CAS or exchange on the entry's p; readers load p
 * with acquire and copy the bytes. A blob is never written after publication and
 * never freed while the map lives (below), so a copy is atomic with respect to
 * every writer: a reader gets one whole value.
 *
 * Memory. Every allocation (blobs, entries, tables, views) is pushed on one
 * push-only list and freed at destroy: nothing is reclaimed during an execution
 * (the role Go's garbage collector plays). This makes every lock-free read
 * memory-safe without epochs; the price is that a map's memory only grows, which
 * a fuzz execution (hundreds of operations) and the benchmarks (a few hundred
 * thousand) afford.
 *
 * Concurrency contract. Any number of readers and writers. The mutex is a
 * pthread mutex (csrc/hostlock.h: a busy lock reports host->blocked). read is
 * published with release stores and loaded with acquire: a view and its table
 * are fully built before anyone can load them. dirty and misses are touched
 * only under mu.
 *
 * Schedule points. host->point at the race windows: between a lock-free lookup
 * in read and the lock (load:read-miss, put:read-miss, pia:read-miss,
 * del:read-miss, range:amended: a promotion can run there), between finding an
 * entry in read and its CAS (put:read-hit, pia:read-hit, del:entry,
 * load:entry: an expunge or delete can run there), inside an entry's CAS loop
 * (entry:cas), per entry copied by dirtyLocked (dirty:copy), around a promotion
 * (promote:publish, promote:published), before a new key is added
 * (put:new-key, pia:new-key), per entry of a Range (range:entry), and on the
 * seeded bug's unlocked miss counter (miss:count). Lock acquisitions are
 * points too (load:lock, put:lock, ...).
 *
 * Invariants (quiescent; check() verifies them, citing the number):
 *   S1  read points to a view; the view is amended exactly when dirty != NULL.
 *   S2  every entry of read and dirty holds NULL, EXPUNGED or a live blob of
 *       at most MF_MAX_VALUE bytes.
 *   S3  when dirty != NULL: every key of read.m whose entry is not expunged is
 *       in dirty with the same entry; no expunged entry is in dirty; a key of
 *       both tables has one entry.
 *   S4  when dirty == NULL, no entry of read.m is expunged (promotion publishes
 *       a table without expunged entries, and only dirtyLocked expunges).
 *   S5  tables: every live key is reachable from its home slot, stored hash
 *       and length match the key, no key is live twice, the live/used counts
 *       match the slots.
 *   S6  misses == 0 when dirty == NULL, else misses < the number of keys in dirty.
 *   S7  the mutex is free.
 *
 * Seeded bugs: `variant` at create (0 = correct). Each is described where it is
 * declared below with the real pattern it models and the verdict expected.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evacmap.h"
#include "hostlock.h"
#include "syncmap.h"

/* ------------------------------------------------------------ seeded bugs */

enum {
    SV_CORRECT = 0,
    /* store-ignores-expunged. Models a Store fast path whose CAS does not refuse
     * an EXPUNGED entry (sync.Map's tryStore/trySwap must return false on it; the
     * expunged state exists for exactly this, see the comments in Go's map.go and
     * golang/go#45429 on what p == nil and expunged mean). The store lands in an
     * entry no dirty table holds; the next promotion drops it. Verdict: lost-write
     * (or stale-read; invariant S3 at quiescence when no promotion followed).
     * Interleaving: put(k), promotion, del(k), put(j) (new key: dirtyLocked
     * expunges k), put(k, v2) CASes v2 into the expunged entry, promotion,
     * get(k) -> absent. Reachable with one thread. */
    SV_STORE_IGNORES_EXPUNGED,
    /* dirty-copy-no-expunge. Models a promotion that loses entries: dirtyLocked
     * leaves deleted (NULL) entries out of the new dirty table without CASing them
     * to EXPUNGED, so a concurrent or later lock-free store revives such an entry
     * in read only, and the next promotion drops the key. (The same family as
     * golang/go#40999's delete path, where the dirty map and the entries' states
     * disagreed.) Verdict: lost-write / stale-read, invariant S3.
     * Interleaving: del(k) (k in read), put(j) (new key: dirty copied without k,
     * k stays NULL), put(k, v2) through read (fast path), promotion, get(k). */
    SV_DIRTY_COPY_NO_EXPUNGE,
    /* load-or-store-stale-view. Models LoadOrStore racing promotion: its slow path
     * keeps the view it loaded before taking mu instead of loading read again.
     * After a promotion in that window the key is in the new read table and dirty
     * is NULL; the stale (amended) view sends it down the new-key path without
     * dirtyLocked. Verdict: stale-read (put_if_absent "inserted" while the key
     * holds a value), later lost-write; invariant S1/S3.
     * Interleaving: T1 pia(k) misses read (k only in dirty), stops at pia:lock;
     * T2 get(x) misses enough to promote; T1 inserts a second entry for k. */
    SV_LOAD_OR_STORE_STALE_VIEW,
    /* delete-skips-dirty. Models a delete that consults only the read map (the
     * lock-free half of LoadAndDelete without the amended slow path). Go 1.15's
     * LoadAndDelete got the dirty-only branch wrong the other way round (keys were
     * marked, never removed from dirty: golang/go#40999). A key stored since the
     * last promotion is reported absent and stays. Verdict: lost-write (the
     * delete's "absent" contradicts a put that completed before it), or
     * resurrected-delete.
     * Interleaving: put(k) (new key: dirty only), del(k) -> absent, get(k) -> v.
     * Reachable with one thread. */
    SV_DELETE_SKIPS_DIRTY,
    /* range-promotes-stale-view. Models Range during promotion: Range checks
     * `amended` on the view it loaded before taking mu and promotes whatever
     * dirty is now. If a miss promoted dirty in that window, dirty is NULL and
     * Range publishes an empty read table: every key vanishes. Verdict:
     * lost-write / stale-read / missing-key.
     * Interleaving: T1 iterate loads an amended view, stops at range:lock; T2's
     * get misses promote dirty; T1 promotes NULL. */
    SV_RANGE_PROMOTES_STALE_VIEW,
    /* misses-outside-lock. Models a misses counter updated outside the lock (a
     * plain read-modify-write and a promotion after mu is released, the
     * "missLocked without the lock" slip). A promotion then races writers that
     * hold mu: a writer sees the promoted view (not amended) but dirty not yet
     * cleared, skips dirtyLocked and publishes {read.m, amended}; the promoter
     * then clears dirty. The map is left amended with no dirty table, and the
     * next new key creates a dirty table holding only itself; its promotion
     * drops every other key. Verdict: lost-write / stale-read, invariant S1/S6.
     * Data race on misses and dirty (a race detector sees it).
     * Interleaving: T1 get(x) misses, unlocks, stops at miss:count; T2 put(new)
     * under mu; T1 promotes. */
    SV_MISSES_OUTSIDE_LOCK,
    /* load-miss-no-recheck. Models the spurious miss Go's Load comment warns
     * about ("avoid reporting a spurious miss if m.dirty got promoted while we
     * were blocked on m.mu"): the slow path does not load read again after taking
     * mu. After a promotion in that window the key is in read and dirty is NULL:
     * Load answers absent. Verdict: stale-read.
     * Interleaving: T1 get(k) misses read (k only in dirty), stops at load:lock;
     * T2 get(x) misses enough to promote; T1 looks in dirty (NULL): absent. */
    SV_LOAD_MISS_NO_RECHECK,
    SV_COUNT
};

static const char *const sm_variant_names[] = {
    "store-ignores-expunged",
    "dirty-copy-no-expunge",
    "load-or-store-stale-view",
    "delete-skips-dirty",
    "range-promotes-stale-view",
    "misses-outside-lock",
    "load-miss-no-recheck",
    NULL,
};
_Static_assert(sizeof sm_variant_names / sizeof sm_variant_names[0] == SV_COUNT,
               "one name per seeded bug");

/* ------------------------------------------------------------ layout */

#define SM_VAL_MAGIC 0x5A1BB10Bu
#define SM_EMPTY 0
#define SM_LIVE 1
#define SM_TOMB 2
#define SM_MIN_CAP 8

typedef struct sm_mem { struct sm_mem *next; } sm_mem;   /* header of every allocation */

typedef struct sm_val {            /* immutable once published */
    uint32_t magic;
    uint32_t len;
    uint8_t bytes[];
} sm_val;

typedef struct sm_entry {
    _Atomic(sm_val *) p;           /* blob, NULL (deleted) or EXPUNGED */
} sm_entry;

typedef struct sm_slot {
    uint32_t hash;
    uint8_t klen;
    uint8_t state;                 /* SM_EMPTY, SM_LIVE, SM_TOMB */
    uint8_t key[MF_MAX_KEY];
    sm_entry *e;
} sm_slot;

typedef struct sm_table {          /* immutable once part of a published view */
    uint64_t mask;
    uint64_t live;                 /* SM_LIVE slots: len(m) in Go's terms */
    uint64_t used;                 /* SM_LIVE + SM_TOMB slots */
    sm_slot s[];
} sm_table;

typedef struct sm_view {           /* immutable once published */
    sm_table *m;                   /* NULL: empty */
    int amended;
} sm_view;

typedef struct syncmap {
    const mf_host *host;
    uint64_t seed;
    uint32_t variant;
    pthread_mutex_t mu;
    _Atomic(sm_view *) read;
    sm_table *dirty;               /* under mu (the seeded misses-outside-lock bug breaks that) */
    uint64_t misses;               /* under mu (idem) */
    uint64_t promotions;           /* under mu: debug counter for tests (mf_syncmap_promotions) */
    _Atomic(sm_mem *) allocs;      /* every allocation, freed at destroy */
} syncmap;

/* The EXPUNGED marker: a distinct address no blob can have. */
static sm_val sm_expunged_obj = { 0, 0 };
#define EXPUNGED (&sm_expunged_obj)

#define V(m, x) ((m)->variant == (x))

static void noop_point(void *ctx, const char *site) { (void)ctx; (void)site; }
static const mf_host sm_noop_host = { NULL, noop_point, noop_point };

static inline void pt(const syncmap *m, const char *site) { m->host->point(m->host->ctx, site); }

static void lock(syncmap *m, const char *site) { hl_mutex_lock(&m->mu, m->host, site); }
static void unlock(syncmap *m) { pthread_mutex_unlock(&m->mu); }

/* ------------------------------------------------------------ memory */

static void *sm_alloc(syncmap *m, size_t size)
{
    sm_mem *h = malloc(sizeof(sm_mem) + size);
    if (!h)
        return NULL;
    /* Relaxed CAS push: the list is only walked by destroy, when the map is
     * quiescent and the harness's own synchronisation orders every push before
     * it. Push-only, so no ABA. */
    sm_mem *head = atomic_load_explicit(&m->allocs, memory_order_relaxed);
    do
        h->next = head;
    while (!atomic_compare_exchange_weak_explicit(&m->allocs, &head, h, memory_order_relaxed,
                                                  memory_order_relaxed));
    return h + 1;
}

static sm_val *val_new(syncmap *m, const uint8_t *bytes, size_t len)
{
    sm_val *v = sm_alloc(m, sizeof(sm_val) + len);
    if (!v)
        return NULL;
    v->magic = SM_VAL_MAGIC;
    v->len = (uint32_t)len;
    memcpy(v->bytes, bytes, len);
    return v;
}

static sm_entry *entry_new(syncmap *m, sm_val *v)
{
    sm_entry *e = sm_alloc(m, sizeof *e);
    if (e)
        /* atomic_init (plain): the entry is published by the table insert that
         * follows, under mu, or by the view publication that orders it. */
        atomic_init(&e->p, v);
    return e;
}

/* ------------------------------------------------------------ tables */

typedef struct sm_key {
    const uint8_t *b;
    size_t len;
    uint32_t hash;
} sm_key;

static sm_table *tab_new(syncmap *m, uint64_t cap)
{
    uint64_t c = SM_MIN_CAP;
    while (c < cap)
        c <<= 1;
    sm_table *t = sm_alloc(m, sizeof(sm_table) + c * sizeof(sm_slot));
    if (!t)
        return NULL;
    memset(t, 0, sizeof(sm_table) + c * sizeof(sm_slot));   /* every slot SM_EMPTY */
    t->mask = c - 1;
    return t;
}

static int slot_is(const sm_slot *s, const sm_key *k)
{
    return s->state == SM_LIVE && s->hash == k->hash && s->klen == k->len &&
           !memcmp(s->key, k->b, k->len);
}

/* The slot holding k, or NULL. t may be NULL (empty). */
static sm_slot *tab_slot(sm_table *t, const sm_key *k)
{
    if (!t)
        return NULL;
    for (uint64_t i = k->hash & t->mask, n = 0; n <= t->mask; n++, i = (i + 1) & t->mask) {
        sm_slot *s = &t->s[i];
        if (s->state == SM_EMPTY)
            return NULL;
        if (slot_is(s, k))
            return s;
    }
    return NULL;
}

static sm_entry *tab_find(sm_table *t, const sm_key *k)
{
    sm_slot *s = tab_slot(t, k);
    return s ? s->e : NULL;
}

static void slot_put(sm_slot *s, const sm_key *k, sm_entry *e)
{
    s->hash = k->hash;
    s->klen = (uint8_t)k->len;
    memcpy(s->key, k->b, k->len);
    s->e = e;
    s->state = SM_LIVE;
}

/* Insert a key known to be absent (keeps S5). Writer-only (dirty, under mu);
 * grows by replacing *tp with a new table (the old one is never freed). */
static int tab_insert(syncmap *m, sm_table **tp, const sm_key *k, sm_entry *e)
{
    sm_table *t = *tp;
    if (!t || (t->used + 1) * 4 > (t->mask + 1) * 3) {
        uint64_t live = t ? t->live : 0;
        sm_table *n = tab_new(m, (live + 1) * 2);
        if (!n)
            return -1;
        for (uint64_t i = 0; t && i <= t->mask; i++)
            if (t->s[i].state == SM_LIVE) {
                sm_key ok = { t->s[i].key, t->s[i].klen, t->s[i].hash };
                uint64_t j = ok.hash & n->mask;
                while (n->s[j].state != SM_EMPTY)
                    j = (j + 1) & n->mask;
                slot_put(&n->s[j], &ok, t->s[i].e);
                n->live++;
                n->used++;
            }
        *tp = t = n;
    }
    uint64_t i = k->hash & t->mask;
    while (t->s[i].state == SM_LIVE)
        i = (i + 1) & t->mask;
    if (t->s[i].state == SM_EMPTY)
        t->used++;
    slot_put(&t->s[i], k, e);
    t->live++;
    return 0;
}

/* Remove k (tombstone). Writer-only (dirty, under mu). */
static void tab_remove(sm_table *t, const sm_key *k)
{
    sm_slot *s = tab_slot(t, k);
    if (!s)
        return;
    s->state = SM_TOMB;
    t->live--;
}

/* ------------------------------------------------------------ entries */

static sm_view *load_read(syncmap *m)
{
    /* Acquire: pairs with publish()'s release store; the view, its table and
     * every entry it points to are fully built for us. Without it a reader could
     * probe a table whose slots are not written yet. */
    return atomic_load_explicit(&m->read, memory_order_acquire);
}

static int publish(syncmap *m, sm_table *t, int amended)
{
    sm_view *v = sm_alloc(m, sizeof *v);
    if (!v)
        return -1;
    v->m = t;
    v->amended = amended;
    /* Release: pairs with load_read's acquire (see there). The old view is left
     * to destroy (readers may hold it). */
    atomic_store_explicit(&m->read, v, memory_order_release);
    return 0;
}

/* The entry's value, or NULL when it holds none (deleted or expunged). */
static sm_val *entry_load(sm_entry *e)
{
    /* Acquire: pairs with the release CAS/exchange that published the blob; its
     * bytes are visible. */
    sm_val *p = atomic_load_explicit(&e->p, memory_order_acquire);
    return p == EXPUNGED ? NULL : p;
}

static void copy_out(const sm_val *v, uint8_t *out, size_t *outlen)
{
    size_t n = v->len > MF_MAX_VALUE ? MF_MAX_VALUE : v->len;
    memcpy(out, v->bytes, n);
    *outlen = n;
}

/* trySwap: replace the value unless the entry is expunged. 1 done (*prev set),
 * 0 expunged (the caller must take the lock). */
static int entry_try_swap(syncmap *m, sm_entry *e, sm_val *nv, sm_val **prev)
{
    /* Relaxed first load: the CAS below validates it. */
    sm_val *p = atomic_load_explicit(&e->p, memory_order_relaxed);
    for (;;) {
        if (p == EXPUNGED && !V(m, SV_STORE_IGNORES_EXPUNGED))
            return 0;
        pt(m, "entry:cas");
        /* acq_rel: release publishes nv's bytes (pairs with entry_load's acquire);
         * acquire makes the previous blob's bytes visible to our copy of it. On
         * failure, acquire for the same reason on the value we retry with. */
        if (atomic_compare_exchange_strong_explicit(&e->p, &p, nv, memory_order_acq_rel,
                                                    memory_order_acquire)) {
            *prev = p == EXPUNGED ? NULL : p;   /* BUG store-ignores-expunged gets here */
            return 1;
        }
    }
}

/* swapLocked: unconditional exchange (under mu, entry known not expunged). */
static sm_val *entry_swap(sm_entry *e, sm_val *nv)
{
    /* acq_rel: as entry_try_swap's CAS. */
    sm_val *p = atomic_exchange_explicit(&e->p, nv, memory_order_acq_rel);
    return p == EXPUNGED ? NULL : p;
}

/* unexpungeLocked: EXPUNGED -> NULL; 1 if it was expunged (the caller then adds
 * the key to dirty, under the same hold of mu: keeps S3). */
static int entry_unexpunge(sm_entry *e)
{
    sm_val *x = EXPUNGED;
    /* Relaxed: under mu, which orders it with dirtyLocked's expunge; lock-free
     * paths only compare against EXPUNGED (they never follow it). */
    return atomic_compare_exchange_strong_explicit(&e->p, &x, NULL, memory_order_relaxed,
                                                   memory_order_relaxed);
}

/* tryExpungeLocked: NULL -> EXPUNGED; 1 if the entry is (now) expunged. */
static int entry_try_expunge(syncmap *m, sm_entry *e)
{
    /* Relaxed: the CAS validates; a concurrent lock-free store either lands
     * first (we see the blob and keep the entry) or finds EXPUNGED and goes to
     * the lock (which we hold). */
    sm_val *p = atomic_load_explicit(&e->p, memory_order_relaxed);
    while (p == NULL) {
        if (V(m, SV_DIRTY_COPY_NO_EXPUNGE))
            return 1;   /* BUG dirty-copy-no-expunge: left out, still NULL */
        /* Relaxed, see above. */
        if (atomic_compare_exchange_weak_explicit(&e->p, &p, EXPUNGED, memory_order_relaxed,
                                                  memory_order_relaxed))
            return 1;
    }
    return p == EXPUNGED;
}

/* tryLoadOrStore: 1 stored nv, 0 loaded (*cur set), -1 expunged (take the lock). */
static int entry_try_load_or_store(syncmap *m, sm_entry *e, sm_val *nv, sm_val **cur)
{
    /* Acquire: a blob we return is copied (pairs with its publishing release). */
    sm_val *p = atomic_load_explicit(&e->p, memory_order_acquire);
    for (;;) {
        if (p == EXPUNGED)
            return -1;
        if (p) {
            *cur = p;
            return 0;
        }
        pt(m, "entry:cas");
        /* Release on success publishes nv (pairs with entry_load); acquire on
         * failure for the blob we may return. */
        if (atomic_compare_exchange_strong_explicit(&e->p, &p, nv, memory_order_release,
                                                    memory_order_acquire))
            return 1;
    }
}

/* delete: value -> NULL; returns the value removed, or NULL. */
static sm_val *entry_delete(syncmap *m, sm_entry *e)
{
    /* Acquire: we copy the blob we remove. */
    sm_val *p = atomic_load_explicit(&e->p, memory_order_acquire);
    for (;;) {
        if (!p || p == EXPUNGED)
            return NULL;
        pt(m, "entry:cas");
        /* acq_rel on success: acquire for the blob we copy; the release orders
         * nothing we wrote but keeps the RMW chain simple. Acquire on failure. */
        if (atomic_compare_exchange_strong_explicit(&e->p, &p, NULL, memory_order_acq_rel,
                                                    memory_order_acquire))
            return p;
    }
}

/* ------------------------------------------------------------ promotion (under mu) */

static void promote(syncmap *m)
{
    pt(m, "promote:publish");
    if (publish(m, m->dirty, 0))
        return;   /* out of memory: dirty stays, a later miss retries */
    m->dirty = NULL;
    m->misses = 0;
    m->promotions++;
    pt(m, "promote:published");
}

/* missLocked. */
static void miss(syncmap *m)
{
    uint64_t len = m->dirty ? m->dirty->live : 0;
    if (V(m, SV_MISSES_OUTSIDE_LOCK)) {
        /* BUG misses-outside-lock: called after unlock; a plain increment split
         * by a schedule point and a promotion without mu. */
        uint64_t n = m->misses;
        pt(m, "miss:count");
        m->misses = n + 1;
        if (m->misses >= len)
            promote(m);
        return;
    }
    if (++m->misses >= len)
        promote(m);
}

/* dirtyLocked: build dirty from read.m, expunging deleted entries (keeps S3). */
static int dirty_locked(syncmap *m)
{
    if (m->dirty)
        return 0;
    sm_view *r = load_read(m);
    sm_table *d = tab_new(m, r->m ? r->m->live * 2 : 0);
    if (!d)
        return -1;
    for (uint64_t i = 0; r->m && i <= r->m->mask; i++) {
        sm_slot *s = &r->m->s[i];
        if (s->state != SM_LIVE)
            continue;
        pt(m, "dirty:copy");
        if (entry_try_expunge(m, s->e))
            continue;
        sm_key k = { s->key, s->klen, s->hash };
        if (tab_insert(m, &d, &k, s->e))
            return -1;
    }
    m->dirty = d;
    return 0;
}

/* m.dirty[key] = e for a key absent from dirty. dirty is never NULL here in the
 * correct map (S1: amended implies dirty); seeded bugs with a stale view get here
 * with NULL and create one holding only this key, as a lazily created map would. */
static int dirty_add(syncmap *m, const sm_key *k, sm_entry *e)
{
    return tab_insert(m, &m->dirty, k, e);
}

/* The new-key path of Store and LoadOrStore (under mu): keeps S1 and S3. */
static int add_new_key(syncmap *m, sm_view *r, const sm_key *k, sm_val *v, const char *site)
{
    pt(m, site);
    if (!r->amended) {
        if (dirty_locked(m) || publish(m, r->m, 1))
            return -1;
    }
    sm_entry *e = entry_new(m, v);
    return e ? dirty_add(m, k, e) : -1;
}

/* ------------------------------------------------------------ operations */

static int bad_key(size_t klen) { return klen < 1 || klen > MF_MAX_KEY; }

static sm_key mk_key(syncmap *m, const uint8_t *key, size_t klen)
{
    sm_key k = { key, klen, mf_evacmap_hash(m->seed, key, klen) };
    return k;
}

/* Load's and LoadAndDelete's lookup: read.m, then (amended) dirty under mu.
 * `remove` also removes the key from dirty when only dirty had it. */
static sm_entry *find(syncmap *m, const sm_key *k, int remove, const char *miss_site,
                      const char *lock_site)
{
    sm_view *r = load_read(m);
    sm_entry *e = tab_find(r->m, k);
    if (e || !r->amended)
        return e;
    if (remove && V(m, SV_DELETE_SKIPS_DIRTY))
        return NULL;   /* BUG delete-skips-dirty: only the read map is consulted */
    pt(m, miss_site);
    lock(m, lock_site);
    if (!V(m, SV_LOAD_MISS_NO_RECHECK) || remove) {
        /* Load read again: dirty may have been promoted while we waited.
         * BUG load-miss-no-recheck keeps the stale view for get. */
        r = load_read(m);
        e = tab_find(r->m, k);
    }
    int counted = 0;
    if (!e && r->amended) {
        e = tab_find(m->dirty, k);
        if (remove)
            tab_remove(m->dirty, k);
        counted = 1;
        if (!V(m, SV_MISSES_OUTSIDE_LOCK))
            miss(m);
    }
    unlock(m);
    if (counted && V(m, SV_MISSES_OUTSIDE_LOCK))
        miss(m);   /* BUG misses-outside-lock */
    return e;
}

/* get (Load) and, with `remove`, del (LoadAndDelete): find the entry, then load
 * its value or CAS it to NULL, and copy the value out. */
static int sm_lookup(void *map, const uint8_t *key, size_t klen, uint8_t *out, size_t *outlen,
                     int remove)
{
    syncmap *m = map;
    if (bad_key(klen))
        return -1;
    sm_key k = mk_key(m, key, klen);
    sm_entry *e = find(m, &k, remove, remove ? "del:read-miss" : "load:read-miss",
                       remove ? "del:lock" : "load:lock");
    if (!e)
        return 0;
    pt(m, remove ? "del:entry" : "load:entry");
    sm_val *v = remove ? entry_delete(m, e) : entry_load(e);
    if (!v)
        return 0;
    copy_out(v, out, outlen);
    return 1;
}

static int sm_get(void *map, const uint8_t *key, size_t klen, uint8_t *val, size_t *vlen)
{
    return sm_lookup(map, key, klen, val, vlen, 0);
}

/* put (Swap) and put_if_absent (LoadOrStore). */
static int sm_write(syncmap *m, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                    uint8_t *out, size_t *outlen, int pia)
{
    if (bad_key(klen) || vlen > MF_MAX_VALUE)
        return -1;
    sm_key k = mk_key(m, key, klen);
    sm_val *nv = val_new(m, val, vlen);
    if (!nv)
        return -1;
    sm_val *prev = NULL;
    int r;
    sm_view *rd = load_read(m);
    sm_entry *e = tab_find(rd->m, &k);
    if (e) {
        pt(m, pia ? "pia:read-hit" : "put:read-hit");
        r = pia ? entry_try_load_or_store(m, e, nv, &prev) : entry_try_swap(m, e, nv, &prev);
        if (pia && r >= 0)
            goto done;
        if (!pia && r == 1)
            goto done;
    } else {
        pt(m, pia ? "pia:read-miss" : "put:read-miss");
    }
    lock(m, pia ? "pia:lock" : "put:lock");
    if (!(pia && V(m, SV_LOAD_OR_STORE_STALE_VIEW)))
        rd = load_read(m);   /* BUG load-or-store-stale-view keeps the view loaded before mu */
    prev = NULL;
    r = 1;
    if ((e = tab_find(rd->m, &k))) {
        if (entry_unexpunge(e) && dirty_add(m, &k, e)) {
            r = -1;
        } else if (pia) {
            r = entry_try_load_or_store(m, e, nv, &prev);
        } else {
            prev = entry_swap(e, nv);
        }
    } else if ((e = tab_find(m->dirty, &k))) {
        if (pia) {
            r = entry_try_load_or_store(m, e, nv, &prev);
            miss(m);
        } else {
            prev = entry_swap(e, nv);
        }
    } else {
        r = add_new_key(m, rd, &k, nv, pia ? "pia:new-key" : "put:new-key") ? -1 : 1;
    }
    unlock(m);
    if (r < 0)
        return -1;
done:
    if (pia) {
        if (r == 1)
            return 1;
        copy_out(prev, out, outlen);
        return 0;
    }
    if (!prev)
        return 0;
    copy_out(prev, out, outlen);
    return 1;
}

static int sm_put(void *map, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                  uint8_t *old, size_t *oldlen)
{
    return sm_write(map, key, klen, val, vlen, old, oldlen, 0);
}

static int sm_pia(void *map, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                  uint8_t *cur, size_t *curlen)
{
    return sm_write(map, key, klen, val, vlen, cur, curlen, 1);
}

static int sm_del(void *map, const uint8_t *key, size_t klen, uint8_t *old, size_t *oldlen)
{
    return sm_lookup(map, key, klen, old, oldlen, 1);
}

/* Range: promote when amended, then walk the view's table. visit may be NULL
 * (len counts). Returns the number of keys visited. */
static int64_t range(syncmap *m, mf_visit visit, void *ctx)
{
    sm_view *r = load_read(m);
    if (r->amended) {
        pt(m, "range:amended");
        lock(m, "range:lock");
        if (!V(m, SV_RANGE_PROMOTES_STALE_VIEW))
            r = load_read(m);   /* BUG range-promotes-stale-view keeps the old view */
        if (r->amended) {
            promote(m);
            r = load_read(m);
        }
        unlock(m);
    }
    int64_t n = 0;
    for (uint64_t i = 0; r->m && i <= r->m->mask; i++) {
        sm_slot *s = &r->m->s[i];
        if (s->state != SM_LIVE)
            continue;
        pt(m, "range:entry");
        sm_val *v = entry_load(s->e);
        if (!v)
            continue;
        n++;
        if (visit && visit(ctx, s->key, s->klen, v->bytes,
                           v->len > MF_MAX_VALUE ? MF_MAX_VALUE : v->len))
            break;
    }
    return n;
}

static int sm_iterate(void *map, mf_visit visit, void *ctx)
{
    range(map, visit, ctx);
    return 0;
}

static int64_t sm_len(void *map) { return range(map, NULL, NULL); }

/* ------------------------------------------------------------ invariant check */

#define FAIL(...)                                                  \
    do {                                                           \
        if (cap)                                                   \
            snprintf(msg, cap, "invariant failed: " __VA_ARGS__);  \
        return 1;                                                  \
    } while (0)

static int check_value(sm_val *p) { return !p || p == EXPUNGED ||
                                           (p->magic == SM_VAL_MAGIC && p->len <= MF_MAX_VALUE); }

/* S5 and S2 for one table. */
static int check_table(syncmap *m, sm_table *t, const char *tn, char *msg, size_t cap)
{
    if (!t)
        return 0;
    uint64_t live = 0, used = 0;
    for (uint64_t i = 0; i <= t->mask; i++) {
        sm_slot *s = &t->s[i];
        if (s->state == SM_EMPTY)
            continue;
        used++;
        if (s->state != SM_LIVE) {
            if (s->state != SM_TOMB)
                FAIL("%s slot %llu has state %u (violates S5)", tn, (unsigned long long)i,
                     s->state);
            continue;
        }
        live++;
        if (s->klen < 1 || s->klen > MF_MAX_KEY)
            FAIL("%s slot %llu has key length %u (violates S5)", tn, (unsigned long long)i,
                 s->klen);
        sm_key k = mk_key(m, s->key, s->klen);
        if (k.hash != s->hash)
            FAIL("%s slot %llu stores a hash that is not its key's (violates S5)", tn,
                 (unsigned long long)i);
        if (tab_slot(t, &k) != s)
            FAIL("%s slot %llu: its key is unreachable or live twice (violates S5)", tn,
                 (unsigned long long)i);
        if (!s->e)
            FAIL("%s slot %llu has no entry (violates S2)", tn, (unsigned long long)i);
        /* Relaxed: quiescent. */
        if (!check_value(atomic_load_explicit(&s->e->p, memory_order_relaxed)))
            FAIL("%s slot %llu: entry holds a corrupt value (violates S2)", tn,
                 (unsigned long long)i);
    }
    if (live != t->live || used != t->used)
        FAIL("%s table counts %llu live / %llu used slots, has %llu / %llu (violates S5)", tn,
             (unsigned long long)t->live, (unsigned long long)t->used, (unsigned long long)live,
             (unsigned long long)used);
    return 0;
}

static int sm_check(void *map, char *msg, size_t cap)
{
    syncmap *m = map;
    if (cap)
        msg[0] = 0;
    if (pthread_mutex_trylock(&m->mu))
        FAIL("the mutex is held at quiescence (violates S7)");
    pthread_mutex_unlock(&m->mu);
    sm_view *r = load_read(m);
    if (!r)
        FAIL("no read view is published (violates S1)");
    if (!r->amended != !m->dirty)
        FAIL("read view %s amended but dirty is %s (violates S1)", r->amended ? "is" : "is not",
             m->dirty ? "set" : "NULL");
    if (check_table(m, r->m, "read", msg, cap) || check_table(m, m->dirty, "dirty", msg, cap))
        return 1;
    for (uint64_t i = 0; r->m && i <= r->m->mask; i++) {
        sm_slot *s = &r->m->s[i];
        if (s->state != SM_LIVE)
            continue;
        sm_key k = { s->key, s->klen, s->hash };
        /* Relaxed: quiescent. */
        int expunged = atomic_load_explicit(&s->e->p, memory_order_relaxed) == EXPUNGED;
        sm_entry *d = tab_find(m->dirty, &k);
        if (!m->dirty) {
            if (expunged)
                FAIL("read slot %llu is expunged while there is no dirty map (violates S4)",
                     (unsigned long long)i);
        } else if (expunged && d) {
            FAIL("read slot %llu is expunged but its key is in dirty (violates S3)",
                 (unsigned long long)i);
        } else if (!expunged && d != s->e) {
            FAIL("read slot %llu's key is %s dirty (violates S3)", (unsigned long long)i,
                 d ? "bound to another entry in" : "missing from");
        }
    }
    for (uint64_t i = 0; m->dirty && i <= m->dirty->mask; i++) {
        sm_slot *s = &m->dirty->s[i];
        /* Relaxed: quiescent. */
        if (s->state == SM_LIVE &&
            atomic_load_explicit(&s->e->p, memory_order_relaxed) == EXPUNGED)
            FAIL("dirty slot %llu holds an expunged entry (violates S3)", (unsigned long long)i);
    }
    if (m->dirty ? m->misses >= m->dirty->live && m->misses > 0 : m->misses != 0)
        FAIL("misses = %llu with %llu keys in dirty (violates S6)",
             (unsigned long long)m->misses, (unsigned long long)(m->dirty ? m->dirty->live : 0));
    return 0;
}
#undef FAIL

/* ------------------------------------------------------------ lifecycle */

static void sm_destroy(void *map);

static void *sm_create(const mf_host *host, uint64_t hash_seed, size_t capacity_hint,
                       uint32_t variant)
{
    if (variant >= SV_COUNT)
        return NULL;
    syncmap *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->host = host ? host : &sm_noop_host;
    m->seed = hash_seed;
    m->variant = variant;
    pthread_mutex_init(&m->mu, NULL);
    /* The first view holds an empty table sized from the hint, so that the
     * first promotion is not the only way a key gets into read. */
    sm_table *t = tab_new(m, capacity_hint > (1u << 20) ? (1u << 20) : capacity_hint);
    sm_view *v = sm_alloc(m, sizeof *v);
    if (!t || !v) {
        sm_destroy(m);
        return NULL;
    }
    v->m = t;
    v->amended = 0;
    /* atomic_init (plain): the map is not shared until create returns. */
    atomic_init(&m->read, v);
    return m;
}

static void sm_destroy(void *map)
{
    syncmap *m = map;
    if (!m)
        return;
    /* Relaxed: quiescent (see sm_alloc). */
    for (sm_mem *p = atomic_load_explicit(&m->allocs, memory_order_relaxed), *n; p; p = n) {
        n = p->next;
        free(p);
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

uint64_t mf_syncmap_promotions(void *map) { return ((syncmap *)map)->promotions; }

static const mf_target sm_target = {
    .abi_version = MF_ABI_VERSION,
    .caps = MF_CAP_MULTI_WRITER | MF_CAP_PUT_IF_ABSENT | MF_CAP_ITERATE,
    .name = "syncmap",
    .variants = sm_variant_names,
    .create = sm_create,
    .destroy = sm_destroy,
    .get = sm_get,
    .put = sm_put,
    .put_if_absent = sm_pia,
    .del = sm_del,
    .len = sm_len,
    .iterate = sm_iterate,
    .check = sm_check,
    .thread_exit = NULL,
};

const mf_target *mf_syncmap(void) { return &sm_target; }
