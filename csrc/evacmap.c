/* evacmap: mapfuzz's built-in target, an open-addressing hash map that grows by
 * incremental evacuation (Go-map style), with a catalogue of seeded bugs.
 *
 * ============================================================ DESIGN
 *
 * Terminology.
 *   slot     one entry: key (inline, <= MF_MAX_KEY bytes), value, hash.
 *   group    8 slots, 8 control bytes, a sequence counter `seq`, and an
 *            evacuation state `done` (meaningful only in the old table).
 *   ctrl     control byte of a slot: EMPTY (0x80), TOMB (0xFE, deleted),
 *            EVAC (0xFD, moved to the new table), or a 7-bit hash fragment
 *            h2 = hash & 0x7f (the slot is "live").
 *   home     home(h, t) = (h >> 7) & t->mask, the group a key's probe starts at.
 *   run      the probe sequence of groups from a home group, up to and
 *            including the first group that holds an EMPTY slot.
 *   unit     in the old table, unit u = every key whose home group is u (such
 *            keys may sit further along u's run). The unit is what evacuation
 *            moves: all or nothing, under the writer lock.
 *   desc     an immutable table descriptor {cur, old}; m->desc points to one.
 *
 * Keys and hashing. The hash is seeded per map (create's hash_seed) and runs
 * over every key byte including the type tag (byte 0) and the length, so int 42,
 * str "42" and bytes b"42" are three keys. Only the low 32 bits are kept (stored
 * in the slot's meta word), which bounds a table at 2^24 groups. Equality is
 * hash32 + length + all key bytes. Behaviour depends only on the call sequence
 * and the interleaving: no addresses, clocks or rand() feed any decision.
 *
 * Layout. A table is 2^B groups of 8 slots (one malloc with its header). A slot
 * is 64 bytes: meta (hash32 | klen << 32 | vlen << 40), 4 key words, 2 inline
 * value words (values of < 16 bytes), and a blob pointer (values of 16..256
 * bytes, stored out of line as immutable ev_blob objects: every write of a long
 * value allocates a new blob and retires the old one; a blob is never written
 * after it is published). Blobs are cut from the map's own EV_ARENA bytes while
 * they last, then malloc'd.
 *
 * Probing. Triangular probing over groups: g, g+1, g+3, g+6, ... (mod 2^B),
 * which visits every group once. A lookup scans a group's 8 ctrl bytes for h2
 * and ends at a group that holds an EMPTY slot. TOMB and EVAC slots are
 * non-empty: probes pass through them.
 *
 * Insertion and deletion. An insert scans the whole run for the key (bug #19 of
 * the catalogue: never stop at the first free slot) and takes the first TOMB or
 * EMPTY slot of the run. A delete turns the slot into EMPTY when its group
 * already holds an EMPTY slot (no probe can pass that group, so nothing relies
 * on the slot), otherwise into a TOMB. Key and value words of a deleted slot are
 * left in place (only ctrl changes). Tombstones are cleared only by growth.
 *
 * Growth (incremental evacuation). An insert into an EMPTY slot that would
 * exceed the table's load limit (7/8 of the slots; `used` counts live + TOMB
 * slots) starts a growth: a new table of twice the size, or of the same size
 * when tombstones dominate (live + 1 <= half the limit), is published beside the old one as a new
 * desc {cur = new, old = old}. All geometry travels in that one pointer
 * (release/acquire; the lesson of bug #5: never read capacity and array as
 * separate fields). Every later write first evacuates the unit of its own key,
 * then the next unevacuated unit (cursor `nevac`), then works only in the new
 * table. Evacuating unit u walks u's run in the old table; for every live slot
 * whose home is u it copies the slot into the new table (unchecked insert: the
 * key cannot be there, I2) and only then marks the old slot EVAC. Evacuated
 * slots keep their ctrl byte EVAC (and their key words) until the old table is
 * retired. The unit state goes 0 (not started) -> 1 (in progress) -> 2 (done).
 * When every unit is done, desc {cur = new, old = NULL} is published and the old
 * table is retired. An insert that finds the new table itself full while growing
 * finishes the growth first, then grows again. The growths started are counted
 * by kind (doubling, same size) for tests: mf_evacmap_read_stats (evacmap.h).
 *
 * Sizing. create's capacity_hint counts slots: the first table has the fewest
 * groups (a power of two, at least 1) whose slots hold the hint, so it grows
 * when an insert would pass 7/8 of them. A hint of 1..7 makes a tiny first
 * table: one group whose load limit is 7/8 of the hint (at least 1), so a hint
 * of 2 grows at the second insert. Growth and evacuation are the same as for
 * any table; the tiny limit only lets a test reach a growth with few inserts
 * (short witnesses). Every later table has the full limit; hint 0 means no hint
 * (one full group). harness/search/generate.py's initial_groups/growth_threshold model
 * exactly this (docs/evacmap.md: growth as the tests see it).
 *
 * Iteration (Go's semantics: a key present throughout is visited exactly once,
 * a key absent throughout never, others may or may not be; values are current).
 * The iterator snapshots the desc once, holds its epoch for the whole walk, and
 * goes unit by unit: unit u of a table is walked along u's run, keeping only
 * keys whose home is u. Like Go's, it starts at a unit that varies (derived from
 * the hash seed and the number of iterations the map started before it) and
 * wraps round from the last unit to unit 0; which keys a unit walk keeps does not
 * depend on where the iteration started. Not growing: the units of cur. Growing: the units of
 * old; a unit not done is walked in the old table, a done unit in the new table
 * along the runs of the new groups j with j & oldmask == u (keeping keys whose
 * new home is j). A slot found EVAC (evacuated after the snapshot) is looked up
 * again in the current map and skipped if gone (Go's mapaccessK). Every key of
 * the snapshot sits in exactly one slot, live or EVAC, and exactly one unit walk
 * keeps it.
 *
 * Concurrency contract. Any number of readers and writers.
 *   Writers (put, put_if_absent, delete, and len) serialize on one writer lock
 *   (a test-and-set lock whose spin calls host->blocked). All table mutation
 *   happens under it, including evacuation and growth.
 *   Readers (get, iterate, put_if_absent's "present" fast path) take no lock.
 *   Each group has a seqcount: a writer makes it odd, mutates the group's ctrl
 *   and slot words (relaxed atomics), makes it even again. A reader reads seq,
 *   copies what it needs, and validates seq; on an odd or changed seq it
 *   restarts from the desc load. Probe runs are validated group by group; that
 *   is enough because keys never move within a table and a group never regains
 *   an EMPTY slot it did not have (I3).
 *   Reading during growth: a reader loads the desc; if its key's unit u is done
 *   it searches the new table only; otherwise it searches the old table, and if
 *   the key is absent there it re-reads u's state: still 0 means nothing moved,
 *   the answer is "absent"; otherwise it searches the new table, which received
 *   every copy before the old slot was marked EVAC. A value found in the old
 *   table was current when its group validated, since no write to the key
 *   lands anywhere before its unit is done.
 *   Reading a table that became old under the reader: the desc a reader loaded
 *   can be overtaken at any time. A reader that loaded {cur = T, old = NULL}
 *   (or a growing desc whose cur is T) may scan T after a growth from T was
 *   published and T's units evacuated: the key's slot is then EVAC and the run
 *   still ends at an EMPTY, so the scan says "absent" although the key sits in
 *   the new table. So an "absent" from the cur table is trusted only if the
 *   desc pointer is unchanged after the scan (desc_moved); otherwise the lookup
 *   restarts. Evacuation marks slots EVAC only after publishing the desc that
 *   makes T old, so a scan that saw a mark sees the new desc on the re-check.
 *   (Found by stress mode: get(k) loaded the steady desc of a 1-group table,
 *   a put grew it and evacuated its only unit, get scanned the old group:
 *   7 EVAC, 1 EMPTY, "absent".) Together: a reader never answers "absent"
 *   because an evacuation moved the key during the read (bug #12, #11).
 *   Long values: the reader validates the blob pointer under the seqlock, then
 *   copies the blob outside it; blobs are immutable and epoch-protected.
 *   len takes the writer lock, so it is exact (MF_CAP_EXACT_LEN): no reader can
 *   observe a write whose count update len could miss.
 *
 * Reclamation (epochs, never waiting). Retired memory (old tables, replaced
 * blobs) goes on a retire list stamped with the global epoch, which the retire
 * then advances. Every operation announces the epoch it entered in a per-thread
 * record of this map and clears it on exit. Writers, opportunistically after each
 * write, free every retired object whose stamp is below every announced epoch.
 * Nothing ever waits for a grace period. Per-thread records are found through a
 * small __thread cache keyed by the map's generation id (unique per create, never
 * reused), so many maps created and destroyed in the same threads never alias a
 * stale record; thread_exit releases the thread's record. destroy frees all.
 *   "Free" means quarantine: because this is a test target, memory that would be
 *   freed is poisoned (memset 0xA5) and kept allocated until destroy (up to
 *   EV_QUARANTINE_MAX bytes, then oldest first is really freed). A read of freed
 *   memory therefore copies 0xA5 bytes, which fail the harness's value
 *   self-check (torn-value), or finds garbage ctrl bytes and odd seqcounts,
 *   instead of crashing or going unnoticed without ASan. Table headers (geometry
 *   and embedded descs) are not poisoned; their groups are.
 *
 * Schedule points. host->point at operation entry and exit, between the words of
 * an inline value copy (read:val-word, put:val-word), every 64 bytes of a blob
 * copy (get:blob-copy, iter:blob-copy), before and after a slot's ctrl byte is
 * published (put:write / put:ctrl-published, del:write / del:ctrl-published),
 * per slot during evacuation (evac:slot), around desc publication
 * (grow:publish, grow:published, grow:finish, grow:finished), before retire and
 * free (mem:retire, mem:free), on a seqcount retry (read:seq-retry,
 * iter:seq-retry), between a reader's choice of table and its scan
 * (read:old-chosen, read:evac-recheck, read:cur-chosen: a whole growth can run
 * in that gap), on a reader's restart because the desc moved (read:desc-moved),
 * per unit or group of an iteration. Every spin (writer lock, odd seqcount)
 * calls host->blocked.
 *
 * Invariants (quiescent; check() verifies them, citing the number):
 *   I1  m->count equals the number of live slots in cur and old.
 *   I2  no key is live twice (in one table or across cur and old).
 *   I3  probe invariant: every live key is reachable from its home group, i.e.
 *       no group before its own in its run holds an EMPTY slot.
 *   I4  a live slot's ctrl equals h2 of its stored hash, and the stored hash is
 *       the seeded hash of its key bytes (and the stored length is 1..32).
 *   I5  every ctrl byte is EMPTY, TOMB, EVAC or a fragment < 0x80; EVAC appears
 *       only in the old table.
 *   I6  during growth, an old unit in state 2 has no live key left in the old
 *       table, and every live key of the new table belongs to a done old unit.
 *   I7  a table's `used` equals its non-EMPTY slots and stays <= its load
 *       limit (7/8 of the slots, or less: see Sizing), so every run ends.
 *   I8  geometry: group counts are powers of two, mask = groups - 1, desc is the
 *       cur table's dgrow (growing) or dsteady (not growing), `ndone` counts the
 *       done units and is below the unit count while the old table is attached.
 *   I9  every seqcount is even (no write half-done).
 *   I10 a live long value (>= 16 bytes) points to a live blob (not retired,
 *       not poisoned) of capacity >= its length; values are <= 256 bytes.
 *   I11 no thread is inside an operation (all epoch records inactive).
 *
 * Seeded bugs: `variant` at create (0 = correct). Each is described where it is
 * declared below, with the real-world pattern it models (#n) and mutation shape
 * (Mn) from the catalogue in docs/evacmap.md, the oracle class that should catch
 * it, and a one-line interleaving that exposes it in controlled mode. "Bug #n" in
 * this file always means pattern #n of that catalogue.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evacmap.h"
#include "mapfuzz_runner.h"

/* ------------------------------------------------------------ seeded bugs */

enum {
    V_CORRECT = 0,
    /* reader-no-seq-validate. Models M5 (no seqcount validation; ck_ht's "(K, V')"
     * comment; #5). Class: torn-value.
     * Interleaving: T1 put(k,v2) writes word 0 of v2 and stops at put:val-word;
     * T2 get(k) copies word 0 of v2 and word 1 of v1 and returns it. */
    V_READER_NO_SEQ_VALIDATE,
    /* value-update-skips-seq. Models M5 on the writer side (plain in-place
     * update, no seqcount bracket; ck_ht "(K, V')"). Class: torn-value.
     * Interleaving: T1 put(k,v2) (replace, inline) stores word 0 and stops at
     * put:val-word; T2 get(k) reads an even, unchanged seq and returns v2[0]+v1[1]. */
    V_VALUE_UPDATE_SKIPS_SEQ,
    /* blob-overwrite-in-place. Models breaking blob immutability (ck_ht/ck_hs
     * publish-new-then-retire; #8 folly value not kept alive). Class: torn-value.
     * Interleaving: T2 get(k) validates k's blob pointer and copies its first 64
     * bytes (get:blob-copy); T1 put(k,long v2) rewrites the same blob; T2 copies
     * the rest: bytes of v1 and v2 mixed. */
    V_BLOB_OVERWRITE_IN_PLACE,
    /* free-blob-at-once. Models M8 (#8 folly, #17 CPython early free): a replaced
     * blob is freed (here: poisoned) at once instead of after a grace period.
     * Class: torn-value (use-after-free reads 0xA5 bytes).
     * Interleaving: T2 get(k) validates the blob pointer and copies 64 bytes;
     * T1 put(k,v2) replaces the value and frees the old blob; T2 copies poison. */
    V_FREE_BLOB_AT_ONCE,
    /* writer-stale-desc-no-recheck. Models M3 (#6 xsync, #7 libcuckoo, #20
     * 3proxy: table chosen before the grow, reused after it). The writer loads
     * the desc before taking the lock and does not reload it. Class: lost-write.
     * Interleaving: T1 put(k,v2) loads desc {T1}, stops at put:lock; T2 put(x)
     * grows and evacuates k's unit to T2; T1 writes v2 into T1's old slot,
     * which nobody reads any more: get(k) returns v1. */
    V_WRITER_STALE_DESC,
    /* put-fast-path-skips-lock. Models #6 (xsync entries vanish on concurrent
     * resize) and #13 (haxmap Set during resize): replacing an existing key's
     * value lock-free, in the slot found by a lock-free lookup. Class: lost-write.
     * Interleaving: T1 put(k,v2) finds k in the old table, stops at
     * put:fast-found; T2 put(x) evacuates k's unit; T1 writes v2 into the EVAC
     * slot and returns "replaced"; get(k) returns v1. */
    V_PUT_FAST_PATH_SKIPS_LOCK,
    /* put-if-absent-no-recheck. Models check-then-act without re-validation
     * under the lock (#20 index computed before and reused after; #19 duplicate
     * "unique" keys). Class: lost-write (also duplicate-key, invariant I2).
     * Interleaving: T1 pia(k,v1) finds k absent, stops at pia:lock; T2 pia(k,v2)
     * inserts; T1 inserts k again in another slot: both return "inserted". */
    V_PIA_NO_RECHECK,
    /* evac-mark-before-copy. Models M1 (#12 .NET false not-found, #11 cht, #13
     * haxmap): the unit is marked done before its keys are copied. Class:
     * stale-read (false absent; also missing-key in iteration).
     * Interleaving: T1 put(x) marks k's unit done, stops at evac:slot; T2
     * get(k) goes to the new table and returns absent although k is present. */
    V_EVAC_MARK_BEFORE_COPY,
    /* reader-absent-no-evac-recheck. Models #12 (.NET DacEnumerableHash: reader
     * falls back while entries move, false "not found") and #11 (cht). A reader
     * that found nothing in the old table answers absent without re-reading
     * the unit state. Class: stale-read (false absent).
     * Interleaving: T2 get(k) sees k's unit not done, stops at read:old-chosen;
     * T1 put(x) evacuates the unit (k's old slot becomes EVAC); T2 scans the
     * old table, finds only EVAC, returns absent. */
    V_READER_ABSENT_NO_EVAC_RECHECK,
    /* geometry-split-publish. Models M2 / #5 (BookKeeper: capacity and arrays
     * read as separate fields) and #7 (libcuckoo hashpower read before the
     * resize counter). Growth publishes cur and old as two separate atomics
     * that readers load independently. Class: stale-read (false absent).
     * Interleaving: T1 put(x) starts a growth, stores cur=new and stops at
     * grow:split-publish; T2 get(k) reads cur=new, old=NULL, searches only the
     * empty new table and returns absent. */
    V_GEOMETRY_SPLIT_PUBLISH,
    /* delete-fast-path-skips-lock. Models #6 (xsync) / M4 (evacuation racing an
     * unsynchronised write, resurrecting the copy): a delete that tombstones the
     * slot found by a lock-free lookup, without the lock. Class:
     * resurrected-delete.
     * Interleaving: T1 del(k) finds k in the old table, stops at del:fast-found;
     * T2 put(x) evacuates k's unit (k copied to the new table); T1 tombstones
     * the old slot and returns "removed"; get(k) returns the value again. */
    V_DELETE_FAST_PATH_SKIPS_LOCK,
    /* publish-ctrl-before-value. Models M6 (ck_ht publication order: value,
     * fence, then key; #17): an insert publishes the ctrl byte before it writes
     * key and value under the seqcount. Class: resurrected-delete (or
     * stale-read / phantom-value).
     * Interleaving: del(k) leaves a TOMB holding k's old bytes; T1 put(k,v2)
     * reuses it, publishes ctrl and stops at put:write; T2 get(k) validates an
     * even seq, matches k's stale key words and returns the deleted value v1. */
    V_PUBLISH_CTRL_BEFORE_VALUE,
    /* iter-no-snapshot. Models M11 (ck PR #104: iterators must memoize the map;
     * #9 oneTBB inconsistent iteration): the iterator reloads the desc per group
     * and keeps its group index. Class: missing-key or duplicate-key.
     * Interleaving: T2 iterate visits units 0..i of T1, stops at iter:unit;
     * T1 put(x) doubles the table; T2 continues at group i+1 of the new table,
     * where keys already visited reappear and unevacuated keys are never seen. */
    V_ITER_NO_SNAPSHOT,
    /* iter-skips-evacuated. Models M9 / #15 (cockroachdb/swiss misses across a
     * split) and #14: the iterator treats EVAC slots as empty instead of looking
     * the key up in the current table. Class: missing-key.
     * Interleaving: T2 iterate snapshots {T1}, stops at iter:unit; T1 put(x)
     * grows and evacuates a unit; T2 scans it: only EVAC slots, keys present
     * throughout are never returned. */
    V_ITER_SKIPS_EVACUATED,
    /* iter-no-home-filter. Models M10 (#18 valkey duplicates, #15): walking a
     * unit's run returns every live key of the run, not only those whose home
     * is the unit. Class: duplicate-key.
     * Interleaving: key k displaced from its full home group v into group v+1
     * (home of unit v+1); iterate walks unit v's run and unit v+1's run and
     * returns k twice (reachable even with one thread). */
    V_ITER_NO_HOME_FILTER,
    /* delete-absent-decrements. Models M15 (#10 flurry size drift, #9 oneTBB
     * size underflow, #4 JCTools counter): the count is decremented by a delete
     * that found nothing. Class: len-mismatch (and invariant I1).
     * Interleaving: del(k) on an absent key, then len: one less than the keys. */
    V_DELETE_ABSENT_DECREMENTS,
    /* key-identity-ignores-type. Models a map keyed by the key's printed form
     * (a hash and equality over fmt.Sprint(k), JavaScript property keys, PHP
     * array keys that turn "42" into 42): the type tag drops out of key identity,
     * so int 42, str "42" and bytes b"42" become one key (the failure of a Go
     * program whose interface{} keys of different dynamic types met as one).
     * Every keyed operation rewrites the key as "s" + its text (an int's decimal
     * digits, a bytes key's payload) before hashing, comparing and storing it.
     * Class: lost-write or phantom-value (a write to one twin overwrites the
     * other; a read of one returns the other's value).
     * Interleaving: put(int 42, v1); put(str "42", v2) replaces v1; get(int 42)
     * returns v2. Reachable with one thread. */
    V_KEY_IDENTITY_IGNORES_TYPE,
    V_COUNT
};

static const char *const ev_variant_names[] = {
    "reader-no-seq-validate",
    "value-update-skips-seq",
    "blob-overwrite-in-place",
    "free-blob-at-once",
    "writer-stale-desc-no-recheck",
    "put-fast-path-skips-lock",
    "put-if-absent-no-recheck",
    "evac-mark-before-copy",
    "reader-absent-no-evac-recheck",
    "geometry-split-publish",
    "delete-fast-path-skips-lock",
    "publish-ctrl-before-value",
    "iter-no-snapshot",
    "iter-skips-evacuated",
    "iter-no-home-filter",
    "delete-absent-decrements",
    "key-identity-ignores-type",
    NULL,
};
_Static_assert(sizeof ev_variant_names / sizeof ev_variant_names[0] == V_COUNT,
               "one name per seeded bug");

/* ------------------------------------------------------------ layout */

#define EV_GS 8
#define CT_EMPTY 0x80u
#define CT_TOMB 0xFEu
#define CT_EVAC 0xFDu
#define EV_POISON 0xA5
#define EV_INLINE_MAX 15
#define EV_MAXREC 64
#define EV_TLC 4
#define EV_MAX_GROUPS (1ull << 24)
#define EV_QUARANTINE_MAX ((size_t)4 << 20)
#define EV_ARENA 4096              /* bytes of blobs cut from the map's own allocation */
#define EV_BLOB_MAGIC 0xB10BB10Bu
#define EV_RETIRED_MAGIC 0xDEADB10Bu
#define EV_DEAD_MAGIC 0xDEADDEADu
#define EV_TABLE_MAGIC 0x7AB1E7ABu

#define ST_TODO 0u
#define ST_MOVING 1u
#define ST_DONE 2u

enum { K_BLOB = 1, K_TABLE = 2 };

typedef struct ev_mem {            /* header of every retirable object */
    struct ev_mem *next;           /* retire list / quarantine / destroy list */
    uint64_t epoch;                /* global epoch at retirement */
    size_t size;                   /* allocation size */
    uint32_t kind;                 /* K_BLOB, K_TABLE */
    uint32_t magic;                /* live / retired / poisoned (0xA5A5A5A5) */
} ev_mem;

typedef struct ev_blob {
    ev_mem hdr;
    size_t cap;
    uint8_t bytes[];
} ev_blob;

typedef struct ev_slot {
    _Atomic uint64_t meta;         /* hash32 | klen << 32 | vlen << 40 */
    _Atomic uint64_t key[4];       /* key bytes, zero padded */
    _Atomic uint64_t v[2];         /* inline value bytes (vlen <= 15) */
    _Atomic uint64_t blob;         /* ev_blob * (vlen >= 16) */
} ev_slot;

typedef struct ev_group {
    _Atomic uint32_t seq;          /* seqcount, odd while a writer mutates the group */
    _Atomic uint32_t done;         /* old table only: unit state ST_* */
    _Atomic uint8_t ctrl[EV_GS];
    ev_slot s[EV_GS];
} ev_group;

struct ev_table;
typedef struct ev_desc {           /* immutable once published */
    struct ev_table *cur;
    struct ev_table *old;
} ev_desc;

typedef struct ev_table {
    ev_mem hdr;
    uint64_t ngroups, mask;
    uint64_t used;                 /* writer-only: non-EMPTY slots (I7) */
    uint64_t limit;                /* load limit: `used` never passes it (I7) */
    uint64_t nevac;                /* writer-only, old role: evacuation cursor */
    uint64_t ndone;                /* writer-only, old role: units in ST_DONE (I8) */
    ev_desc dgrow;                 /* {this, old}: published when this table's growth starts */
    ev_desc dsteady;               /* {this, NULL}: published when it finishes */
    ev_group g[];
} ev_table;

typedef struct ev_rec {            /* one thread's epoch record in one map */
    _Atomic uint64_t active;       /* 0: not in an operation; else the epoch it entered */
    _Atomic uint32_t owned;        /* claimed by a thread */
    uint32_t nest;                 /* owner-private nesting depth */
} ev_rec;

typedef struct evacmap {
    const mf_host *host;
    uint64_t seed;
    uint32_t variant;
    uint64_t gen;                  /* unique per create: key of the __thread cache */
    _Atomic(ev_desc *) desc;       /* the one geometry pointer */
    _Atomic(ev_table *) split_cur; /* geometry-split-publish only: geometry as two fields */
    _Atomic(ev_table *) split_old;
    _Atomic uint32_t wlock;        /* writer lock */
    _Atomic int64_t count;         /* live keys, updated under wlock */
    _Atomic uint64_t gepoch;       /* global epoch, starts at 1 */
    _Atomic uint32_t nrec_hi;      /* records [0, nrec_hi) may be owned */
    ev_mem *rhead, *rtail;         /* writer-only: retire list, epoch order */
    ev_mem *qhead, *qtail;         /* writer-only: quarantine (poisoned) */
    size_t qbytes;
    uint64_t ndouble, nsame;       /* writer-only: growths started, by kind (debug counters) */
    _Atomic uint64_t niter;        /* iterations started: seeds each one's start unit */
    _Atomic uint64_t last_start;   /* the unit the latest iteration started at (debug) */
    ev_rec recs[EV_MAXREC];
    /* Blob arena: blobs are cut from `arena` by a bump pointer until it is used
     * up, then malloc'd (most maps of a fuzzing run hold a few long values and
     * live for one execution: no malloc per value). An arena blob is retired,
     * quarantined and poisoned like any other; only its real free is a no-op (the
     * map's allocation holds it). Left uninitialised by create. */
    _Atomic size_t arena_used;
    _Alignas(16) uint8_t arena[EV_ARENA];
} evacmap;

typedef struct ev_tlc { uint64_t gen; ev_rec *rec; } ev_tlc;
static __thread ev_tlc ev_tl[EV_TLC];
static __thread unsigned ev_tl_next;
/* Relaxed: only uniqueness matters. */
static _Atomic uint64_t ev_gen_counter = 1;

#define V(m, x) ((m)->variant == (x))

/* Fences. ThreadSanitizer does not model atomic_thread_fence (gcc -Wtsan, and
 * the build uses -Werror). In TSan builds only: acquire/release fences become
 * compiler barriers (which is what they compile to on x86-64 anyway) and seq_cst
 * fences a seq_cst RMW on a dummy word (a locked instruction, also a full
 * barrier on x86-64). TSan builds look for data races, not reorderings. */
#if defined(__SANITIZE_THREAD__)
static _Atomic uint32_t ev_fence_word;
#define FENCE_ACQ() atomic_signal_fence(memory_order_acquire)
#define FENCE_REL() atomic_signal_fence(memory_order_release)
#define FENCE_SC() ((void)atomic_fetch_add_explicit(&ev_fence_word, 0, memory_order_seq_cst))
#else
#define FENCE_ACQ() atomic_thread_fence(memory_order_acquire)
#define FENCE_REL() atomic_thread_fence(memory_order_release)
#define FENCE_SC() atomic_thread_fence(memory_order_seq_cst)
#endif

static void noop_point(void *ctx, const char *site) { (void)ctx; (void)site; }
static const mf_host_ext ev_noop_host = {
    { NULL, noop_point, noop_point }, sizeof(mf_host_ext), MF_HOST_EXT_VERSION, NULL };

static inline void pt(const evacmap *m, const char *site) { m->host->point(m->host->ctx, site); }
static inline void blk(const evacmap *m, const char *site) { m->host->blocked(m->host->ctx, site); }

/* Slot and ctrl words are relaxed atomics: every reader validates them with the
 * group's seqcount (acquire load / acquire fence), every writer brackets them
 * with it (release fence / release store). Relaxed keeps the map data-race free
 * without paying for ordering per word. */
#define LD(p) atomic_load_explicit((p), memory_order_relaxed)
#define ST(p, x) atomic_store_explicit((p), (x), memory_order_relaxed)

/* ------------------------------------------------------------ hashing */

static inline uint64_t ev_mix(uint64_t x)
{
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ull;
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ull;
    x ^= x >> 32;
    return x;
}

static inline void key_words(const uint8_t *k, size_t n, uint64_t w[4])
{
    w[0] = w[1] = w[2] = w[3] = 0;
    memcpy(w, k, n);
}

static inline uint32_t ev_hash(uint64_t seed, const uint64_t w[4], size_t n)
{
    uint64_t h = ev_mix(seed ^ (0x9e3779b97f4a7c15ull * (n + 1)));
    for (size_t i = 0; i < (n + 7) / 8; i++)
        h = ev_mix(h ^ w[i]) + 0x9e3779b97f4a7c15ull;
    return (uint32_t)(h ^ (h >> 32));
}

static inline uint64_t home(uint32_t h, uint64_t mask) { return (h >> 7) & mask; }
static inline uint8_t h2of(uint32_t h) { return (uint8_t)(h & 0x7f); }
static inline uint64_t mk_meta(uint32_t h, size_t klen, size_t vlen)
{
    return (uint64_t)h | ((uint64_t)klen << 32) | ((uint64_t)vlen << 40);
}
static inline uint32_t meta_hash(uint64_t meta) { return (uint32_t)meta; }
static inline size_t meta_klen(uint64_t meta) { return (size_t)((meta >> 32) & 0xff); }
static inline size_t meta_vlen(uint64_t meta) { return (size_t)(meta >> 40); }
static inline uint64_t meta_id(uint64_t meta) { return meta & 0xffffffffffull; } /* hash + klen */

static int slot_key_eq(ev_slot *s, uint64_t id, size_t klen, const uint64_t kw[4])
{
    if (meta_id(LD(&s->meta)) != id)
        return 0;
    for (size_t i = 0; i < (klen + 7) / 8; i++)
        if (LD(&s->key[i]) != kw[i])
            return 0;
    return 1;
}

/* ------------------------------------------------------------ seqcount (writer side) */

static inline void seq_begin(ev_group *g)
{
    /* Relaxed RMW makes seq odd; the release fence after it orders the odd value
     * before every following slot/ctrl store, pairing with the reader's acquire
     * fence before its re-read of seq: a reader that saw any of our stores sees
     * seq changed. Without the fence a reader could validate a half-written
     * slot. (A RMW rather than a store so that seeded bugs with unlocked writers
     * cannot make two brackets cancel out.) */
    atomic_fetch_add_explicit(&g->seq, 1, memory_order_relaxed);
    FENCE_REL();    /* see above: pairs with the reader's FENCE_ACQ before its re-read */
}

static inline void seq_end(ev_group *g)
{
    /* Release: orders the slot/ctrl stores (and the contents of any blob they
     * point to) before the even seq; pairs with the reader's acquire load of
     * seq at the start of its scan. Without it a reader could see the new seq
     * but old words. */
    atomic_fetch_add_explicit(&g->seq, 1, memory_order_release);
}

/* ------------------------------------------------------------ memory: epochs, quarantine */

static ev_rec *rec_get(evacmap *m)
{
    for (unsigned i = 0; i < EV_TLC; i++)
        if (ev_tl[i].gen == m->gen)
            return ev_tl[i].rec;
    for (uint32_t i = 0; i < EV_MAXREC; i++) {
        uint32_t z = 0;
        /* Acquire on success: we take over a record another thread may have
         * released (thread_exit's release store of owned); relaxed on failure. */
        if (atomic_compare_exchange_strong_explicit(&m->recs[i].owned, &z, 1,
                                                    memory_order_acquire, memory_order_relaxed)) {
            /* Relaxed load and max: reclaim reads nrec_hi after its seq_cst fence; a
             * record claimed after that scan announces an epoch newer than
             * anything retired before the scan (see epoch_enter), so missing it is
             * safe. */
            uint32_t hi = atomic_load_explicit(&m->nrec_hi, memory_order_relaxed);
            /* (the CAS loop below) Relaxed max: reclaim reads nrec_hi after its seq_cst fence; a record
             * claimed after that scan announces an epoch newer than anything
             * retired before the scan (see epoch_enter), so missing it is safe. */
            while (hi < i + 1 && !atomic_compare_exchange_weak_explicit(
                       &m->nrec_hi, &hi, i + 1, memory_order_relaxed, memory_order_relaxed))
                ;
            m->recs[i].nest = 0;
            unsigned slot = EV_TLC;
            for (unsigned k = 0; k < EV_TLC && slot == EV_TLC; k++)
                if (ev_tl[k].gen == 0)
                    slot = k;
            if (slot == EV_TLC)       /* evict round-robin: that map's record stays owned */
                slot = ev_tl_next++ % EV_TLC;
            ev_tl[slot].gen = m->gen;
            ev_tl[slot].rec = &m->recs[i];
            return &m->recs[i];
        }
    }
    return NULL;
}

static ev_rec *epoch_enter(evacmap *m)
{
    ev_rec *r = rec_get(m);
    if (!r)
        return NULL;
    if (r->nest++ == 0) {
        /* seq_cst load: pairs with retire's seq_cst fetch_add; if we read the
         * advanced epoch we also see the unlink that preceded the advance. */
        uint64_t e = atomic_load_explicit(&m->gepoch, memory_order_seq_cst);
        /* Relaxed store, ordered before our later loads by the fence below. */
        atomic_store_explicit(&r->active, e, memory_order_relaxed);
        /* seq_cst fence: orders our announcement before every later load of a
         * shared pointer (desc, blob). Pairs with the seq_cst fence in reclaim,
         * between a retire's unlink and the scan of records: either the
         * reclaimer sees our announcement (and keeps what we may load), or we
         * see the unlink (and cannot load the retired object). Without it a
         * reader could load a pointer to an object being poisoned. */
        FENCE_SC();
    }
    return r;
}

static void epoch_exit(ev_rec *r)
{
    if (--r->nest == 0)
        /* Release: all our reads of shared memory happen before we are seen
         * inactive; pairs with reclaim's acquire load of `active`. Without it
         * the reclaimer could poison a blob we are still copying. */
        atomic_store_explicit(&r->active, 0, memory_order_release);
}

static void mem_free_real(evacmap *m, ev_mem *p)
{
    if ((uint8_t *)p >= m->arena && (uint8_t *)p < m->arena + EV_ARENA)
        return;   /* an arena blob: freed with the map */
    free(p);
}

static void quarantine(evacmap *m, ev_mem *p)
{
    /* Poison instead of free (see the design block): payload only, the list
     * header is needed to free it at destroy; table headers keep geometry. */
    if (p->kind == K_TABLE) {
        ev_table *t = (ev_table *)p;
        memset(t->g, EV_POISON, t->ngroups * sizeof(ev_group));
        memset(&p->magic, EV_POISON, sizeof p->magic);
    } else {
        memset((char *)p + offsetof(ev_mem, magic), EV_POISON, p->size - offsetof(ev_mem, magic));
    }
    p->next = NULL;
    if (m->qtail)
        m->qtail->next = p;
    else
        m->qhead = p;
    m->qtail = p;
    m->qbytes += p->size;
    while (m->qbytes > EV_QUARANTINE_MAX && m->qhead != p) {
        ev_mem *q = m->qhead;
        m->qhead = q->next;
        m->qbytes -= q->size;
        mem_free_real(m, q);
    }
}

/* Writer-only (under wlock). */
static void retire(evacmap *m, ev_mem *p)
{
    pt(m, "mem:retire");
    if (p->kind == K_BLOB && p->magic != EV_BLOB_MAGIC)
        return;   /* already retired: only seeded bugs with unlocked writers get here */
    if (p->kind == K_BLOB && V(m, V_FREE_BLOB_AT_ONCE)) {
        /* BUG free-blob-at-once: no grace period. */
        quarantine(m, p);
        return;
    }
    p->magic = p->kind == K_BLOB ? EV_RETIRED_MAGIC : p->magic;
    /* seq_cst RMW: the unlink of p (a slot or desc store made before this call)
     * is ordered before the epoch advance; a reader that loads the advanced
     * epoch cannot load p. Pairs with epoch_enter's seq_cst load of gepoch. */
    p->epoch = atomic_fetch_add_explicit(&m->gepoch, 1, memory_order_seq_cst);
    p->next = NULL;
    if (m->rtail)
        m->rtail->next = p;
    else
        m->rhead = p;
    m->rtail = p;
}

/* Writer-only: quarantine every retired object no announced epoch can hold. */
static void reclaim(evacmap *m)
{
    if (!m->rhead)
        return;
    /* seq_cst fence: pairs with epoch_enter's fence (see there). */
    FENCE_SC();
    uint64_t min = UINT64_MAX;
    /* Relaxed: see rec_get (records claimed after the fence cannot hold
     * anything retired before it). */
    uint32_t hi = atomic_load_explicit(&m->nrec_hi, memory_order_relaxed);
    for (uint32_t i = 0; i < hi; i++) {
        /* Acquire: pairs with epoch_exit's release store; a reader we see
         * inactive has finished every read of the objects it loaded. */
        uint64_t a = atomic_load_explicit(&m->recs[i].active, memory_order_acquire);
        if (a && a < min)
            min = a;
    }
    /* A reader that announced epoch a may hold objects retired at epochs >= a;
     * objects retired at e < a were unlinked before it could load them. */
    while (m->rhead && m->rhead->epoch < min) {
        ev_mem *p = m->rhead;
        m->rhead = p->next;
        if (!m->rhead)
            m->rtail = NULL;
        pt(m, "mem:free");
        quarantine(m, p);
    }
}

/* ------------------------------------------------------------ writer lock */

static void wlock(evacmap *m, const char *site)
{
    pt(m, site);
    /* Acquire: everything the previous holder wrote (table contents, used,
     * cursor, retire list) is visible to us; pairs with wunlock's release. */
    while (atomic_exchange_explicit(&m->wlock, 1, memory_order_acquire))
        blk(m, site);
}

static void wunlock(evacmap *m)
{
    /* Release: publishes our writer-only state to the next holder. */
    atomic_store_explicit(&m->wlock, 0, memory_order_release);
}

/* ------------------------------------------------------------ tables and desc */

static ev_table *table_new(uint64_t ngroups, uint64_t limit)
{
    size_t size = sizeof(ev_table) + ngroups * sizeof(ev_group);
    ev_table *t = calloc(1, size);
    if (!t)
        return NULL;
    t->hdr.size = size;
    t->hdr.kind = K_TABLE;
    t->hdr.magic = EV_TABLE_MAGIC;
    t->ngroups = ngroups;
    t->mask = ngroups - 1;
    t->limit = limit;
    for (uint64_t i = 0; i < ngroups; i++)
        memset((void *)t->g[i].ctrl, CT_EMPTY, EV_GS);
    t->dgrow.cur = t;
    t->dsteady.cur = t;
    return t;
}

/* 7/8 of the slots, except a tiny first table (see Sizing in the design block). */
static inline uint64_t full_limit(uint64_t ngroups) { return ngroups * (EV_GS * 7 / 8); }
static inline uint64_t table_limit(const ev_table *t) { return t->limit; }

/* Readers: the current geometry. Returns the desc pointer it loaded (the token
 * desc_moved() compares), NULL for geometry-split-publish, which has none. */
static const ev_desc *load_desc(evacmap *m, ev_desc *out)
{
    if (V(m, V_GEOMETRY_SPLIT_PUBLISH)) {
        /* BUG geometry-split-publish: two independent loads. Each acquire pairs
         * with publish()'s release store of that field (the table behind it is
         * initialised), but the pair is not one snapshot. */
        out->cur = atomic_load_explicit(&m->split_cur, memory_order_acquire);
        out->old = atomic_load_explicit(&m->split_old, memory_order_acquire);
        return NULL;
    }
    /* Acquire: pairs with publish()'s release store; the table header, groups
     * and embedded desc it points to are fully initialised for us. Without it a
     * reader could index a table whose ctrl bytes are not yet EMPTY. */
    const ev_desc *dp = atomic_load_explicit(&m->desc, memory_order_acquire);
    *out = *dp;
    return dp;
}

/* Readers, after a scan that found nothing: has any desc been published since
 * load_desc returned dp (or, for geometry-split-publish, the pair d)? Each desc
 * is published at most once (a table's dgrow when its growth starts, its
 * dsteady when that growth ends), and the reader's epoch keeps every table it
 * may have loaded, with the descs embedded in it, from being freed and its
 * address reused: an unchanged pointer means no growth started or finished
 * in between, so no evacuation touched the table just scanned. */
static int desc_moved(evacmap *m, const ev_desc *dp, const ev_desc *d)
{
    if (!dp)
        /* geometry-split-publish: re-read the two fields it read (acquire, as
         * in load_desc). An unchanged pair still lets the seeded split window
         * through: that bug is the pair, not this check. */
        return atomic_load_explicit(&m->split_cur, memory_order_acquire) != d->cur ||
               atomic_load_explicit(&m->split_old, memory_order_acquire) != d->old;
    /* Acquire, as load_desc (pairs with publish()'s release store), though the
     * check needs only coherence: an evacuation runs after its growth's
     * publish() in the same writer, and every slot it moves is marked EVAC
     * inside a seqcount bracket. A validated scan that saw an EVAC mark
     * acquired that bracket's seq_end (tab_find's acquire load of seq), so the
     * publication happens-before this load, which cannot return the desc we
     * scanned under. Without this re-check a reader that loaded the desc before
     * a growth started (or before the growth after the one it saw) scans a
     * table being evacuated under it, finds the key's slot EVAC and the run's
     * EMPTY, and answers a false "absent" (bug #12, .NET DacEnumerableHash;
     * #11 cht). */
    return atomic_load_explicit(&m->desc, memory_order_acquire) != dp;
}

/* Writer-only. */
static void publish(evacmap *m, ev_desc *d)
{
    /* Release: pairs with load_desc's acquire (see there). */
    atomic_store_explicit(&m->desc, d, memory_order_release);
    /* The split copy exists for geometry-split-publish only; release for the
     * same reason, but the two stores are not one snapshot (that is the bug). */
    atomic_store_explicit(&m->split_cur, d->cur, memory_order_release);
    if (V(m, V_GEOMETRY_SPLIT_PUBLISH))
        pt(m, "grow:split-publish");
    atomic_store_explicit(&m->split_old, d->old, memory_order_release);   /* as split_cur */
}

/* ------------------------------------------------------------ values */

static ev_blob *blob_new(evacmap *m, const uint8_t *val, size_t vlen, size_t cap)
{
    size_t size = sizeof(ev_blob) + cap;
    size_t asz = (size + 15) & ~(size_t)15;
    /* Relaxed: only that each range is handed out once matters (writers are
     * serialised by wlock, but seeded bugs write without it). The blob's bytes
     * reach readers through the slot's publication, as for a malloc'd blob. */
    size_t off = atomic_fetch_add_explicit(&m->arena_used, asz, memory_order_relaxed);
    ev_blob *b = off <= EV_ARENA - asz ? (ev_blob *)(void *)(m->arena + off) : malloc(size);
    if (!b)
        return NULL;
    b->hdr.next = NULL;
    b->hdr.epoch = 0;
    b->hdr.size = size;
    b->hdr.kind = K_BLOB;
    b->hdr.magic = EV_BLOB_MAGIC;
    b->cap = cap;
    memcpy(b->bytes, val, vlen);
    return b;
}

typedef struct ev_val { uint64_t v0, v1, blob; } ev_val;

static int make_value(evacmap *m, const uint8_t *val, size_t vlen, ev_val *out)
{
    out->v0 = out->v1 = out->blob = 0;
    if (vlen <= EV_INLINE_MAX) {
        uint64_t w[2] = { 0, 0 };
        memcpy(w, val, vlen);
        out->v0 = w[0];
        out->v1 = w[1];
        return 0;
    }
    ev_blob *b = blob_new(m, val, vlen, V(m, V_BLOB_OVERWRITE_IN_PLACE) ? MF_MAX_VALUE : vlen);
    if (!b)
        return -1;
    out->blob = (uint64_t)(uintptr_t)b;
    return 0;
}

/* Copy a validated value out. Blobs are immutable and epoch-protected, so the
 * copy needs no seqcount; a schedule point every 64 bytes. */
static void copy_value(evacmap *m, uint64_t meta, const ev_val *v, uint8_t *out, const char *site)
{
    size_t vlen = meta_vlen(meta);
    if (vlen > MF_MAX_VALUE)
        vlen = MF_MAX_VALUE;     /* only a seeded bug can tear meta */
    if (vlen <= EV_INLINE_MAX) {
        uint64_t w[2] = { v->v0, v->v1 };
        memcpy(out, w, vlen);
        return;
    }
    const ev_blob *b = (const ev_blob *)(uintptr_t)v->blob;
    if (!b) {                    /* only a seeded bug can pair a long meta with no blob */
        memset(out, 0, vlen);
        return;
    }
    for (size_t off = 0; off < vlen; off += 64) {
        if (off)
            pt(m, site);
        size_t n = vlen - off < 64 ? vlen - off : 64;
        memcpy(out + off, b->bytes + off, n);
    }
}

/* ------------------------------------------------------------ lock-free read path */

enum { R_ABSENT = 0, R_FOUND = 1, R_RETRY = 2 };

typedef struct ev_loc {
    ev_table *t;
    uint64_t gi;
    unsigned si;
    uint64_t meta;
    ev_val v;
} ev_loc;

/* Search one table's run for the key, validating each group with its seqcount. */
static int tab_find(evacmap *m, ev_table *t, uint32_t h, size_t klen, const uint64_t kw[4],
                    ev_loc *L)
{
    const int novalidate = V(m, V_READER_NO_SEQ_VALIDATE);
    const uint8_t f = h2of(h);
    const uint64_t id = mk_meta(h, klen, 0);
    uint64_t gi = home(h, t->mask);
    for (uint64_t step = 1; step <= t->ngroups; step++) {
        ev_group *g = &t->g[gi];
        /* Acquire: pairs with seq_end's release; the words we read below are at
         * least as new as the last completed bracket. */
        uint32_t s0 = atomic_load_explicit(&g->seq, memory_order_acquire);
        if ((s0 & 1) && !novalidate) {
            blk(m, "read:seq-odd");
            return R_RETRY;
        }
        int found = -1, empty = 0;
        for (unsigned j = 0; j < EV_GS; j++) {
            uint8_t c = LD(&g->ctrl[j]);
            if (c == CT_EMPTY) {
                empty = 1;
                continue;
            }
            if (c != f || !slot_key_eq(&g->s[j], id, klen, kw))
                continue;
            L->meta = LD(&g->s[j].meta);
            if (meta_vlen(L->meta) <= EV_INLINE_MAX) {
                L->v.v0 = LD(&g->s[j].v[0]);
                pt(m, "read:val-word");
                L->v.v1 = LD(&g->s[j].v[1]);
                L->v.blob = 0;
            } else {
                L->v.blob = LD(&g->s[j].blob);
                L->v.v0 = L->v.v1 = 0;
            }
            found = (int)j;
            break;
        }
        /* Acquire fence: orders the relaxed word loads above before the re-read
         * of seq; pairs with seq_begin's release fence. Without it the re-read
         * could be satisfied before the word loads and miss a concurrent write. */
        FENCE_ACQ();
        uint32_t s1 = LD(&g->seq);
        if (s1 != s0 && !novalidate) {    /* BUG reader-no-seq-validate skips this */
            pt(m, "read:seq-retry");
            return R_RETRY;
        }
        if (found >= 0) {
            L->t = t;
            L->gi = gi;
            L->si = (unsigned)found;
            return R_FOUND;
        }
        if (empty)
            return R_ABSENT;
        gi = (gi + step) & t->mask;
    }
    return R_ABSENT;
}

static inline uint32_t unit_state(ev_table *o, uint64_t u)
{
    /* Acquire: pairs with evac_unit's release store of ST_DONE; every copy of
     * the unit's keys into the new table is visible once we see DONE. Without
     * it a reader could trust DONE and miss a key not yet visible in the new
     * table (false absent). */
    return atomic_load_explicit(&o->g[u].done, memory_order_acquire);
}

/* Lock-free lookup from the current desc; restarts on any validation failure,
 * and on an "absent" from the current table once the desc has moved on. */
static int lookup(evacmap *m, uint32_t h, size_t klen, const uint64_t kw[4], ev_loc *L)
{
    for (;;) {
        ev_desc d;
        const ev_desc *dp = load_desc(m, &d);
        int evac_recheck = 0;
        if (d.old) {
            ev_table *o = d.old;
            uint64_t u = home(h, o->mask);
            if (unit_state(o, u) != ST_DONE) {
                pt(m, "read:old-chosen");
                int r = tab_find(m, o, h, klen, kw, L);
                if (r == R_RETRY)
                    continue;
                if (r == R_FOUND)
                    return r;
                /* Absent from the old table. If the unit was untouched all along,
                 * that is the answer; if evacuation started, everything it moved
                 * was copied into the new table before being marked EVAC (keeps I6):
                 * search there. BUG reader-absent-no-evac-recheck answers now. */
                if (V(m, V_READER_ABSENT_NO_EVAC_RECHECK) || unit_state(o, u) == ST_TODO)
                    return R_ABSENT;
                pt(m, "read:evac-recheck");
                evac_recheck = 1;
            }
        }
        /* The window between choosing cur and scanning it: a growth can start
         * here (or, when d.old is set, the next one) and evacuate the table we
         * are about to scan. read:evac-recheck already marks that gap on the
         * fall-through path. */
        if (!evac_recheck)
            pt(m, "read:cur-chosen");
        int r = tab_find(m, d.cur, h, klen, kw, L);
        if (r == R_RETRY)
            continue;
        /* A key found live was current when its group validated (no write to a
         * key lands before its unit is done). An absent key is trusted only if
         * no growth moved keys out of d.cur meanwhile (see desc_moved). The
         * old-table "absent while TODO" answer above needs no such check: a
         * unit still TODO has moved nothing, and a growth cannot finish (nor a
         * later one start) before every unit is done. */
        if (r == R_ABSENT && desc_moved(m, dp, &d)) {
            pt(m, "read:desc-moved");
            continue;
        }
        return r;
    }
}

/* ------------------------------------------------------------ writer internals (under wlock) */

/* Find the key in t's run, and the first free (TOMB or EMPTY) slot of the run. */
static int wfind(ev_table *t, uint32_t h, size_t klen, const uint64_t kw[4], uint64_t *gi_out,
                 unsigned *si_out, uint64_t *fgi, int *fsi)
{
    const uint8_t f = h2of(h);
    const uint64_t id = mk_meta(h, klen, 0);
    uint64_t gi = home(h, t->mask);
    int found = 0;
    *fsi = -1;
    for (uint64_t step = 1; step <= t->ngroups; step++) {
        ev_group *g = &t->g[gi];
        int empty = 0;
        for (unsigned j = 0; j < EV_GS; j++) {
            uint8_t c = LD(&g->ctrl[j]);
            if (c == CT_EMPTY || c == CT_TOMB) {
                empty |= c == CT_EMPTY;
                if (*fsi < 0) {
                    *fgi = gi;
                    *fsi = (int)j;
                }
                continue;
            }
            if (!found && c == f && slot_key_eq(&g->s[j], id, klen, kw)) {
                *gi_out = gi;
                *si_out = j;
                found = 1;
            }
        }
        if (empty || (found && *fsi >= 0))   /* keeps I3: the run ends at an EMPTY */
            return found;
        gi = (gi + step) & t->mask;
    }
    return found;
}

/* Write a whole slot (insert). ctrl is published last inside the bracket. */
static void slot_fill(evacmap *m, ev_table *t, uint64_t gi, unsigned j, uint64_t meta,
                      const uint64_t kw[4], const ev_val *v, const char *pre, const char *post)
{
    ev_group *g = &t->g[gi];
    ev_slot *s = &g->s[j];
    const uint8_t f = h2of(meta_hash(meta));
    const int early = V(m, V_PUBLISH_CTRL_BEFORE_VALUE);
    if (LD(&g->ctrl[j]) == CT_EMPTY)
        t->used++;   /* keeps I7 */
    if (early)       /* BUG publish-ctrl-before-value: ctrl outside the bracket, first */
        ST(&g->ctrl[j], f);
    pt(m, pre);
    seq_begin(g);
    ST(&s->meta, meta);
    for (unsigned i = 0; i < 4; i++)
        ST(&s->key[i], kw[i]);
    ST(&s->blob, v->blob);
    ST(&s->v[0], v->v0);
    if (meta_vlen(meta) <= EV_INLINE_MAX)
        pt(m, "put:val-word");
    ST(&s->v[1], v->v1);
    if (!early)
        ST(&g->ctrl[j], f);  /* keeps I4 */
    seq_end(g);
    pt(m, post);
}

/* Replace the value of a live slot. */
static void slot_update(evacmap *m, ev_group *g, unsigned j, uint64_t meta, const ev_val *v)
{
    ev_slot *s = &g->s[j];
    const int noseq = V(m, V_VALUE_UPDATE_SKIPS_SEQ);
    if (!noseq)
        seq_begin(g);
    ST(&s->blob, v->blob);
    ST(&s->v[0], v->v0);
    if (meta_vlen(meta) <= EV_INLINE_MAX)
        pt(m, "put:val-word");
    ST(&s->v[1], v->v1);
    ST(&s->meta, meta);
    if (!noseq)          /* BUG value-update-skips-seq: no bracket */
        seq_end(g);
}

/* Copy one live slot into the new table: an unchecked insert (keeps I2: the
 * key's unit is being evacuated now, so the key is in no new-table slot). */
static void evac_copy(evacmap *m, ev_table *t, ev_slot *s)
{
    uint64_t meta = LD(&s->meta);
    uint64_t kw[4];
    for (unsigned i = 0; i < 4; i++)
        kw[i] = LD(&s->key[i]);
    ev_val v = { LD(&s->v[0]), LD(&s->v[1]), LD(&s->blob) };
    uint32_t h = meta_hash(meta);
    uint64_t gi = home(h, t->mask);
    for (uint64_t step = 1; step <= t->ngroups; step++) {
        ev_group *g = &t->g[gi];
        for (unsigned j = 0; j < EV_GS; j++) {
            uint8_t c = LD(&g->ctrl[j]);
            if (c == CT_EMPTY || c == CT_TOMB) {
                slot_fill(m, t, gi, j, meta, kw, &v, "evac:write", "evac:ctrl-published");
                return;
            }
        }
        gi = (gi + step) & t->mask;
    }
    /* Unreachable: the new table keeps room (I7, growth sizing). */
}

/* Move unit u of the old table o into the new table t. */
static void evac_unit(evacmap *m, ev_table *o, ev_table *t, uint64_t u)
{
    ev_group *hg = &o->g[u];
    if (LD(&hg->done) == ST_DONE)
        return;
    const int early = V(m, V_EVAC_MARK_BEFORE_COPY);
    if (early) {
        /* BUG evac-mark-before-copy: readers now go to the new table, where the
         * unit's keys are not yet. */
        atomic_store_explicit(&hg->done, ST_DONE, memory_order_release);
    } else {
        /* Relaxed: ST_MOVING becomes visible to readers through the release in
         * the seq_end of the first EVAC mark below (a reader that saw an EVAC
         * mark validated acquired that bracket). Readers only need "not TODO". */
        ST(&hg->done, ST_MOVING);
    }
    uint64_t gi = u;
    for (uint64_t step = 1; step <= o->ngroups; step++) {
        ev_group *g = &o->g[gi];
        int empty = 0;
        for (unsigned j = 0; j < EV_GS; j++) {
            uint8_t c = LD(&g->ctrl[j]);
            if (c == CT_EMPTY)
                empty = 1;
            if (c >= 0x80 || home(meta_hash(LD(&g->s[j].meta)), o->mask) != u)
                continue;
            pt(m, "evac:slot");
            evac_copy(m, t, &g->s[j]);   /* copy first ... */
            seq_begin(g);
            ST(&g->ctrl[j], (uint8_t)CT_EVAC);  /* ... then mark (keeps I6) */
            seq_end(g);
        }
        if (empty)
            break;
        gi = (gi + step) & o->mask;
    }
    if (!early)
        /* Release: every copy above happens before DONE; pairs with
         * unit_state's acquire load in readers and iterators. */
        atomic_store_explicit(&hg->done, ST_DONE, memory_order_release);
    o->ndone++;    /* keeps I8 */
}

static void grow_finish(evacmap *m, ev_table *t, ev_table *o)
{
    pt(m, "grow:finish");
    publish(m, &t->dsteady);
    /* Structural event (MF_CAP_EVENTS): the growth is over once dsteady is out. */
    mf_report_event(m->host, MF_EVENT_GROW_END, t->ngroups * EV_GS);
    pt(m, "grow:finished");
    retire(m, &o->hdr);
}

/* During growth: evacuate the unit of hash h, then the next unevacuated unit;
 * finish the growth when every unit is done. Returns the table to write. */
static ev_table *writer_table(evacmap *m, uint32_t h)
{
    /* Relaxed: desc is written only under wlock, whose acquire ordered it. */
    ev_desc *d = atomic_load_explicit(&m->desc, memory_order_relaxed);
    ev_table *o = d->old, *t = d->cur;
    if (!o)
        return t;
    evac_unit(m, o, t, home(h, o->mask));
    while (o->nevac < o->ngroups && LD(&o->g[o->nevac].done) == ST_DONE)
        o->nevac++;
    if (o->nevac < o->ngroups)
        evac_unit(m, o, t, o->nevac);
    if (o->ndone == o->ngroups)
        grow_finish(m, t, o);
    return t;
}

/* Finish a running growth, or start a new one. -1 on allocation failure. */
static int grow_step(evacmap *m)
{
    /* Relaxed: written under wlock only, which we hold. */
    ev_desc *d = atomic_load_explicit(&m->desc, memory_order_relaxed);
    ev_table *c = d->cur, *o = d->old;
    if (o) {
        for (uint64_t u = 0; u < o->ngroups; u++)
            evac_unit(m, o, c, u);
        o->nevac = o->ngroups;
        grow_finish(m, c, o);
        return 0;
    }
    /* Size from the live slots themselves, not from m->count: a growth costs
     * O(slots) anyway, and a drifting count (a seeded bug) must not turn into
     * endless same-size growths. */
    uint64_t live = 0;
    for (uint64_t gi = 0; gi < c->ngroups; gi++)
        for (unsigned j = 0; j < EV_GS; j++)
            live += LD(&c->g[gi].ctrl[j]) < 0x80;
    uint64_t ng = c->ngroups;
    if ((live + 1) * 2 > table_limit(c))   /* tombstones do not dominate */
        ng *= 2;
    if (ng > EV_MAX_GROUPS)
        return -1;
    ev_table *t = table_new(ng, full_limit(ng));
    if (!t)
        return -1;
    if (ng == c->ngroups)
        m->nsame++;
    else
        m->ndouble++;
    t->dgrow.old = c;
    pt(m, "grow:publish");
    /* Structural event (MF_CAP_EVENTS): reported before the publish, so a
     * reader that sees the growing desc always comes after the report. */
    mf_report_event(m->host, MF_EVENT_GROW_BEGIN, ng * EV_GS);
    publish(m, &t->dgrow);
    pt(m, "grow:published");
    return 0;
}

/* ------------------------------------------------------------ operations */

static int bad_key(size_t klen) { return klen < 1 || klen > MF_MAX_KEY; }

enum { W_PUT, W_PIA };


/* BUG key-identity-ignores-type: the key's printed form, "s" + text (an int's
 * decimal digits, a str or bytes key's payload), in kw; returns its length. */
static size_t key_text(uint64_t kw[4], size_t klen)
{
    uint8_t b[MF_MAX_KEY];
    memcpy(b, kw, klen);
    if (b[0] == 'i' && klen == 9) {
        int64_t v;
        memcpy(&v, b + 1, 8);
        char text[24];
        int n = snprintf(text, sizeof text, "%lld", (long long)v);
        memcpy(b + 1, text, (size_t)n);
        klen = 1 + (size_t)n;
    }
    b[0] = 's';
    key_words(b, klen, kw);
    return klen;
}

/* The prologue every keyed operation shares: the entry schedule point, joining the
 * epoch (the tables and blobs this operation reaches stay allocated until it leaves),
 * and the key's words and seeded hash. NULL when the thread has no epoch record. */
static ev_rec *op_begin(evacmap *m, const char *site, const uint8_t *key, size_t *klen,
                        uint64_t kw[4], uint32_t *h)
{
    pt(m, site);
    ev_rec *rec = epoch_enter(m);
    if (!rec)
        return NULL;
    key_words(key, *klen, kw);
    if (V(m, V_KEY_IDENTITY_IGNORES_TYPE))
        *klen = key_text(kw, *klen);   /* BUG key-identity-ignores-type */
    *h = ev_hash(m->seed, kw, *klen);
    return rec;
}

static int ev_write(evacmap *m, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                    uint8_t *out, size_t *outlen, int mode)
{
    if (bad_key(klen) || vlen > MF_MAX_VALUE)
        return -1;
    const int pia = mode == W_PIA;
    uint64_t kw[4];
    uint32_t h;
    ev_rec *rec = op_begin(m, pia ? "pia:enter" : "put:enter", key, &klen, kw, &h);
    if (!rec)
        return -1;
    int ret;
    ev_loc L;

    if (pia && lookup(m, h, klen, kw, &L) == R_FOUND) {
        /* Lock-free "present": linearizes at the validation of L. */
        copy_value(m, L.meta, &L.v, out, "pia:blob-copy");
        *outlen = meta_vlen(L.meta);
        ret = 0;
        goto out;
    }
    if (!pia && V(m, V_PUT_FAST_PATH_SKIPS_LOCK) && lookup(m, h, klen, kw, &L) == R_FOUND) {
        /* BUG put-fast-path-skips-lock: update the slot found lock-free. */
        pt(m, "put:fast-found");
        ev_val nv;
        if (make_value(m, val, vlen, &nv)) {
            ret = -1;
            goto out;
        }
        copy_value(m, L.meta, &L.v, out, "put:blob-copy");
        *outlen = meta_vlen(L.meta);
        slot_update(m, &L.t->g[L.gi], L.si, mk_meta(h, klen, vlen), &nv);
        if (L.v.blob) {       /* the retire list itself is writer-only */
            wlock(m, "put:lock");
            retire(m, (ev_mem *)(uintptr_t)L.v.blob);
            wunlock(m);
        }
        ret = 1;
        goto out;
    }

    ev_desc stale = { NULL, NULL };
    if (V(m, V_WRITER_STALE_DESC))
        /* Acquire, as in load_desc (the seeded bug is using it after the lock). */
        stale = *atomic_load_explicit(&m->desc, memory_order_acquire);
    wlock(m, pia ? "pia:lock" : "put:lock");
    ev_table *t = writer_table(m, h);
    if (stale.cur && !stale.old && stale.cur != t)
        t = stale.cur;   /* BUG writer-stale-desc-no-recheck: table chosen before the lock */
    uint64_t gi = 0, fgi = 0;
    unsigned si = 0;
    int fsi, rounds = 0;
again:;
    int found = wfind(t, h, klen, kw, &gi, &si, &fgi, &fsi);
    if (pia && V(m, V_PIA_NO_RECHECK))
        found = 0;       /* BUG put-if-absent-no-recheck: trusts the unlocked "absent" */

    if (found) {
        ev_group *g = &t->g[gi];
        ev_slot *s = &g->s[si];
        uint64_t meta = LD(&s->meta);
        ev_val ov = { LD(&s->v[0]), LD(&s->v[1]), LD(&s->blob) };
        copy_value(m, meta, &ov, out, pia ? "pia:blob-copy" : "put:blob-copy");
        *outlen = meta_vlen(meta);
        if (pia) {
            ret = 0;
            goto unlock;
        }
        ev_blob *ob = (ev_blob *)(uintptr_t)ov.blob;
        if (V(m, V_BLOB_OVERWRITE_IN_PLACE) && ob && vlen > EV_INLINE_MAX && vlen <= ob->cap) {
            /* BUG blob-overwrite-in-place: a published blob is rewritten. */
            for (size_t off = 0; off < vlen; off += 64) {
                if (off)
                    pt(m, "put:blob-write");
                size_t n = vlen - off < 64 ? vlen - off : 64;
                memcpy(ob->bytes + off, val + off, n);
            }
            slot_update(m, g, si, mk_meta(h, klen, vlen), &ov);
            ret = 1;
            goto unlock;
        }
        ev_val nv;
        if (make_value(m, val, vlen, &nv)) {
            ret = -1;
            goto unlock;
        }
        slot_update(m, g, si, mk_meta(h, klen, vlen), &nv);
        if (ob)
            retire(m, &ob->hdr);   /* after the unlink above (keeps I10) */
        ret = 1;
        goto unlock;
    }

    /* Insert. Grow (or finish a growth) while the run has no free slot or the
     * free slot is EMPTY and the table is at its load limit (keeps I7). */
    while (fsi < 0 || (LD(&t->g[fgi].ctrl[fsi]) == CT_EMPTY && t->used + 1 > table_limit(t))) {
        /* Two rounds suffice (finish a growth, start one); more means a broken
         * table (seeded bugs only): report an error instead of livelocking. */
        if (++rounds > 4 || grow_step(m)) {
            ret = -1;
            goto unlock;
        }
        t = writer_table(m, h);
        /* Absent before the growth means absent after it, except for a writer
         * that looked in a stale table (writer-stale-desc-no-recheck). */
        goto again;
    }
    ev_val nv;
    if (make_value(m, val, vlen, &nv)) {
        ret = -1;
        goto unlock;
    }
    /* Relaxed: count is read under wlock only (len, check at quiescence). */
    atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);   /* keeps I1 */
    slot_fill(m, t, fgi, (unsigned)fsi, mk_meta(h, klen, vlen), kw, &nv,
              pia ? "pia:write" : "put:write", pia ? "pia:ctrl-published" : "put:ctrl-published");
    ret = pia ? 1 : 0;
unlock:
    reclaim(m);
    wunlock(m);
out:
    epoch_exit(rec);
    pt(m, pia ? "pia:exit" : "put:exit");
    return ret;
}

static int ev_put(void *map, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                  uint8_t *old, size_t *oldlen)
{
    return ev_write(map, key, klen, val, vlen, old, oldlen, W_PUT);
}

static int ev_pia(void *map, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                  uint8_t *cur, size_t *curlen)
{
    return ev_write(map, key, klen, val, vlen, cur, curlen, W_PIA);
}

/* Tombstone (or empty) slot j of group g; returns its blob, if any. */
static ev_blob *slot_delete(evacmap *m, ev_table *t, ev_group *g, unsigned j)
{
    int has_empty = 0;
    for (unsigned i = 0; i < EV_GS; i++)
        has_empty |= LD(&g->ctrl[i]) == CT_EMPTY;
    ev_blob *b = meta_vlen(LD(&g->s[j].meta)) > EV_INLINE_MAX
                     ? (ev_blob *)(uintptr_t)LD(&g->s[j].blob) : NULL;
    pt(m, "del:write");
    seq_begin(g);
    /* EMPTY only when the group already has one: no run passes this group, so
     * no key relies on this slot (keeps I3). */
    ST(&g->ctrl[j], (uint8_t)(has_empty ? CT_EMPTY : CT_TOMB));
    seq_end(g);
    if (has_empty)
        t->used--;   /* keeps I7 */
    pt(m, "del:ctrl-published");
    return b;
}

static int ev_del(void *map, const uint8_t *key, size_t klen, uint8_t *old, size_t *oldlen)
{
    evacmap *m = map;
    if (bad_key(klen))
        return -1;
    uint64_t kw[4];
    uint32_t h;
    ev_rec *rec = op_begin(m, "del:enter", key, &klen, kw, &h);
    if (!rec)
        return -1;
    int ret;

    if (V(m, V_DELETE_FAST_PATH_SKIPS_LOCK)) {
        /* BUG delete-fast-path-skips-lock: tombstone the slot found lock-free. */
        ev_loc L;
        if (lookup(m, h, klen, kw, &L) != R_FOUND) {
            ret = 0;
            goto out;
        }
        pt(m, "del:fast-found");
        copy_value(m, L.meta, &L.v, old, "del:blob-copy");
        *oldlen = meta_vlen(L.meta);
        ev_group *g = &L.t->g[L.gi];
        seq_begin(g);
        ST(&g->ctrl[L.si], (uint8_t)CT_TOMB);
        seq_end(g);
        /* Relaxed RMW: atomic so the seeded bug stays memory-safe; unlocked. */
        atomic_fetch_sub_explicit(&m->count, 1, memory_order_relaxed);
        if (L.v.blob) {       /* the retire list itself is writer-only */
            wlock(m, "del:lock");
            retire(m, (ev_mem *)(uintptr_t)L.v.blob);
            wunlock(m);
        }
        ret = 1;
        goto out;
    }

    wlock(m, "del:lock");
    ev_table *t = writer_table(m, h);
    uint64_t gi = 0, fgi = 0;
    unsigned si = 0;
    int fsi;
    if (!wfind(t, h, klen, kw, &gi, &si, &fgi, &fsi)) {
        if (V(m, V_DELETE_ABSENT_DECREMENTS))   /* BUG delete-absent-decrements */
            atomic_fetch_sub_explicit(&m->count, 1, memory_order_relaxed);
        ret = 0;
    } else {
        ev_group *g = &t->g[gi];
        ev_slot *s = &g->s[si];
        uint64_t meta = LD(&s->meta);
        ev_val ov = { LD(&s->v[0]), LD(&s->v[1]), LD(&s->blob) };
        copy_value(m, meta, &ov, old, "del:blob-copy");
        *oldlen = meta_vlen(meta);
        ev_blob *b = slot_delete(m, t, g, si);
        /* Relaxed: read under wlock only. */
        atomic_fetch_sub_explicit(&m->count, 1, memory_order_relaxed);   /* keeps I1 */
        if (b)
            retire(m, &b->hdr);
        ret = 1;
    }
    reclaim(m);
    wunlock(m);
out:
    epoch_exit(rec);
    pt(m, "del:exit");
    return ret;
}

static int ev_get(void *map, const uint8_t *key, size_t klen, uint8_t *val, size_t *vlen)
{
    evacmap *m = map;
    if (bad_key(klen))
        return -1;
    uint64_t kw[4];
    uint32_t h;
    ev_rec *rec = op_begin(m, "get:enter", key, &klen, kw, &h);
    if (!rec)
        return -1;
    ev_loc L;
    int r = lookup(m, h, klen, kw, &L);
    if (r == R_FOUND) {
        copy_value(m, L.meta, &L.v, val, "get:blob-copy");
        *vlen = meta_vlen(L.meta);
    }
    epoch_exit(rec);
    pt(m, "get:exit");
    return r == R_FOUND;
}

static int64_t ev_len(void *map)
{
    evacmap *m = map;
    pt(m, "len:enter");
    /* Under the writer lock: every write is all-or-nothing for len (exact). */
    wlock(m, "len:lock");
    /* Relaxed: every update of count happened under wlock, ordered by its acquire. */
    int64_t n = atomic_load_explicit(&m->count, memory_order_relaxed);
    wunlock(m);
    pt(m, "len:exit");
    return n;
}

/* ------------------------------------------------------------ iteration */

typedef struct ev_item {
    uint64_t meta;
    uint64_t kw[4];
    ev_val v;
    int evac;          /* EVAC slot: the key moved on; look it up in the current map */
} ev_item;

/* Copy the live and EVAC slots of group gi of t under its seqcount. With
 * `filter`, keep only keys whose home in t is `want`. Returns whether the group
 * holds an EMPTY slot (the end of a run). */
static int iter_copy_group(evacmap *m, ev_table *t, uint64_t gi, int filter, uint64_t want,
                           ev_item *items, int *n)
{
    const int novalidate = V(m, V_READER_NO_SEQ_VALIDATE);
    ev_group *g = &t->g[gi];
    for (;;) {
        /* Acquire: pairs with seq_end's release (as in tab_find). */
        uint32_t s0 = atomic_load_explicit(&g->seq, memory_order_acquire);
        if ((s0 & 1) && !novalidate) {
            blk(m, "iter:seq-odd");
            continue;
        }
        int k = 0, empty = 0;
        for (unsigned j = 0; j < EV_GS; j++) {
            uint8_t c = LD(&g->ctrl[j]);
            int evac;
            if (c == CT_EMPTY) {
                empty = 1;
                continue;
            }
            if (c == CT_EVAC) {
                if (V(m, V_ITER_SKIPS_EVACUATED))
                    continue;   /* BUG iter-skips-evacuated */
                evac = 1;
            } else if (c < 0x80) {
                evac = 0;
            } else {
                continue;
            }
            ev_slot *s = &g->s[j];
            uint64_t meta = LD(&s->meta);
            if (filter && home(meta_hash(meta), t->mask) != want)
                continue;
            ev_item *it = &items[k++];
            it->meta = meta;
            for (unsigned i = 0; i < 4; i++)
                it->kw[i] = LD(&s->key[i]);
            it->v.v0 = LD(&s->v[0]);
            it->v.v1 = LD(&s->v[1]);
            it->v.blob = LD(&s->blob);
            it->evac = evac;
        }
        /* Acquire fence: pairs with seq_begin's release fence (as in tab_find). */
        FENCE_ACQ();
        if (LD(&g->seq) != s0 && !novalidate) {
            pt(m, "iter:seq-retry");
            continue;
        }
        *n = k;
        return empty;
    }
}

static int iter_emit(evacmap *m, ev_item *items, int n, mf_visit visit, void *ctx)
{
    uint8_t kb[MF_MAX_KEY], vb[MF_MAX_VALUE];
    for (int i = 0; i < n; i++) {
        ev_item *it = &items[i];
        size_t klen = meta_klen(it->meta);
        if (klen < 1 || klen > MF_MAX_KEY)
            continue;    /* only a seeded bug can tear meta */
        uint64_t meta = it->meta;
        const ev_val *v = &it->v;
        ev_loc L;
        if (it->evac) {
            /* Moved by an evacuation after we took our snapshot: the current
             * value lives in a newer table (Go's mapaccessK); skip if deleted. */
            if (lookup(m, meta_hash(meta), klen, it->kw, &L) != R_FOUND)
                continue;
            meta = L.meta;
            v = &L.v;
        }
        memcpy(kb, it->kw, klen);
        copy_value(m, meta, v, vb, "iter:blob-copy");
        size_t vlen = meta_vlen(meta);
        if (visit(ctx, kb, klen, vb, vlen > MF_MAX_VALUE ? MF_MAX_VALUE : vlen))
            return 1;
    }
    return 0;
}

/* Walk the run of t from group `start`, keeping the keys whose home is start
 * (each group is validated on its own, as in tab_find). */
static int iter_run(evacmap *m, ev_table *t, uint64_t start, mf_visit visit, void *ctx)
{
    const int filter = !V(m, V_ITER_NO_HOME_FILTER);   /* BUG iter-no-home-filter */
    uint64_t gi = start;
    for (uint64_t step = 1; step <= t->ngroups; step++) {
        ev_item items[EV_GS];
        int n;
        int empty = iter_copy_group(m, t, gi, filter, start, items, &n);
        if (iter_emit(m, items, n, visit, ctx))
            return 1;
        if (empty)
            break;
        gi = (gi + step) & t->mask;
        pt(m, "iter:run-next");
    }
    return 0;
}

/* The start of iteration number `n` of a map with hash seed `seed`: unit
 * (r + i) & mask is the i-th unit walked in a table of mask + 1 groups. */
static inline uint64_t iter_start(uint64_t seed, uint64_t n)
{
    return ev_mix(seed ^ ev_mix(n + 0x9e3779b97f4a7c15ull));
}

/* Go's semantics: a key present throughout is visited exactly once, a key absent
 * throughout never, values are current when visited. The iterator keeps the
 * desc it started with (and holds its epoch, so none of its tables is
 * reclaimed) and works unit by unit: unit u of a table is every key whose home
 * group is u, found on u's run. Every key present at the start sits in exactly
 * one slot of the snapshot, live or EVAC (then it is looked up in the current
 * map), and exactly one unit walk keeps it.
 *   Not growing: units of cur, walking cur's runs.
 *   Growing: units of old. A unit not done: walk its old run. A unit done: walk
 *   the new runs of the new groups it maps to (j & oldmask == u), keeping keys
 *   whose new home is j.
 * Like Go, it starts at a unit that varies: (r + i) & mask for i = 0, 1, ...,
 * mask, with r = iter_start(hash seed, number of iterations started before this
 * one), so no caller can rely on an order and growth races are tried from every
 * point of the table; which keys a unit walk keeps does not depend on where the
 * walk started, so the rules above hold across the wrap from the last unit to
 * unit 0. Deterministic for a given call sequence, interleaving and hash seed. */
static int ev_iterate(void *map, mf_visit visit, void *ctx)
{
    evacmap *m = map;
    pt(m, "iter:enter");
    ev_rec *rec = epoch_enter(m);
    if (!rec)
        return -1;
    /* Relaxed: only the count matters (each iteration gets its own number). */
    uint64_t r = iter_start(m->seed, atomic_fetch_add_explicit(&m->niter, 1, memory_order_relaxed));
    ev_desc d0;
    load_desc(m, &d0);
    int stop = 0;
    ev_table *units = d0.old ? d0.old : d0.cur;
    /* Relaxed: a debug value read at quiescence (mf_evacmap_read_stats). */
    atomic_store_explicit(&m->last_start, r & units->mask, memory_order_relaxed);
    if (!d0.old) {
        ev_table *t = d0.cur;
        for (uint64_t i = 0; !stop && i < t->ngroups; i++) {
            pt(m, "iter:unit");
            if (V(m, V_ITER_NO_SNAPSHOT)) {
                /* BUG iter-no-snapshot: the current table, same index. */
                ev_desc dn;
                load_desc(m, &dn);
                t = dn.cur;
                if (i >= t->ngroups)
                    break;
            }
            stop = iter_run(m, t, (r + i) & t->mask, visit, ctx);
        }
    } else {
        ev_table *o = d0.old, *t = d0.cur;
        for (uint64_t i = 0; !stop && i < o->ngroups; i++) {
            uint64_t u = (r + i) & o->mask;
            pt(m, "iter:unit");
            if (unit_state(o, u) != ST_DONE)
                stop = iter_run(m, o, u, visit, ctx);
            else
                for (uint64_t j = u; !stop && j < t->ngroups; j += o->ngroups)
                    stop = iter_run(m, t, j, visit, ctx);
        }
    }
    epoch_exit(rec);
    pt(m, "iter:exit");
    return 0;
}

/* ------------------------------------------------------------ invariant check */

typedef struct ev_kref { uint64_t id; uint64_t kw[4]; } ev_kref;

static int kref_cmp(const void *a, const void *b)
{
    const ev_kref *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    for (int i = 0; i < 4; i++)
        if (x->kw[i] != y->kw[i])
            return x->kw[i] < y->kw[i] ? -1 : 1;
    return 0;
}

static int group_has_empty(ev_group *g)
{
    for (unsigned j = 0; j < EV_GS; j++)
        if (LD(&g->ctrl[j]) == CT_EMPTY)
            return 1;
    return 0;
}

#define FAIL(...)                                    \
    do {                                             \
        if (cap)                                     \
            snprintf(msg, cap, "invariant failed: " __VA_ARGS__); \
        ret = 1;                                     \
        goto done;                                   \
    } while (0)

static int ev_check(void *map, char *msg, size_t cap)
{
    evacmap *m = map;
    int ret = 0;
    ev_kref *keys = NULL;
    if (cap)
        msg[0] = 0;
    /* Acquire: quiescent, but the last writer may be another thread; the
     * harness's own synchronisation orders its writes, this documents the pairing
     * with publish()'s release. */
    ev_desc *d = atomic_load_explicit(&m->desc, memory_order_acquire);
    ev_table *t = d->cur, *o = d->old;
    ev_table *tabs[2] = { t, o };
    for (int k = 0; k < 2; k++) {
        ev_table *T = tabs[k];
        if (T && (T->ngroups == 0 || (T->ngroups & T->mask) || T->mask != T->ngroups - 1))
            FAIL("%s table has %llu groups, mask %llu (violates I8)", k ? "old" : "current",
                 (unsigned long long)T->ngroups, (unsigned long long)T->mask);
    }
    if (o) {
        if (d != &t->dgrow || t->dgrow.old != o)
            FAIL("published desc is not the growing table's {cur, old} (violates I8)");
        uint64_t ndone = 0;
        for (uint64_t u = 0; u < o->ngroups; u++) {
            uint32_t st = LD(&o->g[u].done);
            if (st != ST_TODO && st != ST_DONE)
                FAIL("old unit %llu left in evacuation state %u (violates I8)",
                     (unsigned long long)u, st);
            ndone += st == ST_DONE;
        }
        if (ndone != o->ndone)
            FAIL("old table counts %llu done units, %llu are done (violates I8)",
                 (unsigned long long)o->ndone, (unsigned long long)ndone);
        if (ndone >= o->ngroups)
            FAIL("every unit is evacuated but the old table is still attached (violates I8)");
    } else if (d != &t->dsteady) {
        FAIL("published desc is not the current table's {cur, NULL} (violates I8)");
    }
    /* Acquire: pairs with epoch_exit's release (quiescent: ordering only documents). */
    uint32_t hi = atomic_load_explicit(&m->nrec_hi, memory_order_acquire);
    for (uint32_t i = 0; i < hi; i++)
        if (atomic_load_explicit(&m->recs[i].active, memory_order_acquire))
            FAIL("epoch record %u is active at quiescence (violates I11)", i);

    size_t nslots = (t->ngroups + (o ? o->ngroups : 0)) * EV_GS, nkeys = 0;
    keys = malloc(nslots * sizeof *keys);
    if (!keys)
        FAIL("out of memory in check");
    for (int k = 0; k < 2; k++) {
        ev_table *T = tabs[k];
        if (!T)
            continue;
        const char *tn = k ? "old" : "current";
        uint64_t nonempty = 0;
        for (uint64_t gi = 0; gi < T->ngroups; gi++) {
            ev_group *g = &T->g[gi];
            uint32_t seq = LD(&g->seq);
            if (seq & 1)
                FAIL("%s group %llu has odd seqcount %u (violates I9)", tn,
                     (unsigned long long)gi, seq);
            for (unsigned j = 0; j < EV_GS; j++) {
                uint8_t c = LD(&g->ctrl[j]);
                if (c == CT_EMPTY)
                    continue;
                nonempty++;
                if (c == CT_TOMB)
                    continue;
                if (c == CT_EVAC) {
                    if (T != o)
                        FAIL("EVAC slot %llu.%u in the current table (violates I5)",
                             (unsigned long long)gi, j);
                    continue;
                }
                if (c >= 0x80)
                    FAIL("%s slot %llu.%u has control byte 0x%02x (violates I5)", tn,
                         (unsigned long long)gi, j, c);
                ev_slot *s = &g->s[j];
                uint64_t meta = LD(&s->meta);
                size_t klen = meta_klen(meta), vlen = meta_vlen(meta);
                if (klen < 1 || klen > MF_MAX_KEY)
                    FAIL("%s slot %llu.%u has key length %zu (violates I4)", tn,
                         (unsigned long long)gi, j, klen);
                ev_kref *kr = &keys[nkeys++];
                kr->id = meta_id(meta);
                for (unsigned i = 0; i < 4; i++)
                    kr->kw[i] = LD(&s->key[i]);
                uint32_t h = meta_hash(meta);
                if (ev_hash(m->seed, kr->kw, klen) != h)
                    FAIL("%s slot %llu.%u stores a hash that is not its key's (violates I4)", tn,
                         (unsigned long long)gi, j);
                if (c != h2of(h))
                    FAIL("%s slot %llu.%u control byte 0x%02x != hash fragment 0x%02x (violates I4)",
                         tn, (unsigned long long)gi, j, c, h2of(h));
                /* I3: reachable from home without crossing a group with EMPTY. */
                uint64_t pg = home(h, T->mask), step = 1;
                while (pg != gi) {
                    if (group_has_empty(&T->g[pg]) || step > T->ngroups)
                        FAIL("%s slot %llu.%u unreachable: its run from group %llu ends before it (violates I3)",
                             tn, (unsigned long long)gi, j, (unsigned long long)home(h, T->mask));
                    pg = (pg + step++) & T->mask;
                }
                if (o) {
                    uint64_t u = home(h, o->mask);
                    uint32_t st = LD(&o->g[u].done);
                    if (T == o && st == ST_DONE)
                        FAIL("old unit %llu is evacuated but still holds live slot %llu.%u (violates I6)",
                             (unsigned long long)u, (unsigned long long)gi, j);
                    if (T == t && st != ST_DONE)
                        FAIL("new-table slot %llu.%u belongs to old unit %llu, not evacuated (violates I6)",
                             (unsigned long long)gi, j, (unsigned long long)u);
                }
                if (vlen > MF_MAX_VALUE)
                    FAIL("%s slot %llu.%u has value length %zu (violates I10)", tn,
                         (unsigned long long)gi, j, vlen);
                if (vlen > EV_INLINE_MAX) {
                    ev_blob *b = (ev_blob *)(uintptr_t)LD(&s->blob);
                    if (!b)
                        FAIL("%s slot %llu.%u long value without a blob (violates I10)", tn,
                             (unsigned long long)gi, j);
                    if (b->hdr.magic != EV_BLOB_MAGIC)
                        FAIL("%s slot %llu.%u value blob is %s (violates I10)", tn,
                             (unsigned long long)gi, j,
                             b->hdr.magic == EV_RETIRED_MAGIC ? "retired" : "freed (poisoned)");
                    if (b->cap < vlen)
                        FAIL("%s slot %llu.%u value of %zu bytes in a blob of %zu (violates I10)",
                             tn, (unsigned long long)gi, j, vlen, b->cap);
                }
            }
        }
        if (T == t && (T->used != nonempty || T->used > table_limit(T)))
            FAIL("current table used=%llu, non-empty slots=%llu, limit=%llu (violates I7)",
                 (unsigned long long)T->used, (unsigned long long)nonempty,
                 (unsigned long long)table_limit(T));
    }
    /* Relaxed: quiescent. */
    int64_t count = atomic_load_explicit(&m->count, memory_order_relaxed);
    if (count != (int64_t)nkeys)
        FAIL("count %lld != %zu live slots (violates I1)", (long long)count, nkeys);
    qsort(keys, nkeys, sizeof *keys, kref_cmp);
    for (size_t i = 1; i < nkeys; i++)
        if (!kref_cmp(&keys[i - 1], &keys[i]))
            FAIL("a key (%zu bytes) is live in two slots (violates I2)",
                 meta_klen(keys[i].id));
done:
    free(keys);
    return ret;
}
#undef FAIL

/* ------------------------------------------------------------ lifecycle */

static void *ev_create(const mf_host *host, uint64_t hash_seed, size_t capacity_hint,
                       uint32_t variant)
{
    if (variant >= V_COUNT)
        return NULL;
    evacmap *m = malloc(sizeof *m);
    if (!m)
        return NULL;
    memset(m, 0, offsetof(evacmap, arena));   /* the arena's bytes are written before use */
    uint64_t ng = 1;
    if (capacity_hint > EV_MAX_GROUPS)
        capacity_hint = EV_MAX_GROUPS;
    while (ng * EV_GS < capacity_hint)   /* the hint counts slots; growth past 7/8 */
        ng <<= 1;
    uint64_t limit = full_limit(ng);
    if (capacity_hint > 0 && capacity_hint < EV_GS) {   /* a tiny first table */
        limit = capacity_hint * 7 / 8;
        if (limit == 0)
            limit = 1;
    }
    ev_table *t = table_new(ng, limit);
    if (!t) {
        free(m);
        return NULL;
    }
    m->host = host ? host : &ev_noop_host.base;
    m->seed = hash_seed;
    m->variant = variant;
    /* Relaxed: only uniqueness of the id matters. */
    m->gen = atomic_fetch_add_explicit(&ev_gen_counter, 1, memory_order_relaxed);
    /* atomic_init (plain): the map is not shared until create returns, and the
     * harness hands it to other threads with its own synchronisation. */
    atomic_init(&m->gepoch, 1);
    atomic_init(&m->desc, &t->dsteady);
    atomic_init(&m->split_cur, t);
    atomic_init(&m->split_old, NULL);
    return m;
}

static void push_blob(ev_mem **list, ev_slot *s)
{
    if (meta_vlen(LD(&s->meta)) <= EV_INLINE_MAX)
        return;
    ev_blob *b = (ev_blob *)(uintptr_t)LD(&s->blob);
    if (!b || b->hdr.magic != EV_BLOB_MAGIC)
        return;   /* retired or poisoned: on another list */
    b->hdr.magic = EV_DEAD_MAGIC;    /* dedupe: a blob shared by two slots (seeded bugs) */
    b->hdr.next = *list;
    *list = &b->hdr;
}

static void ev_destroy(void *map)
{
    evacmap *m = map;
    if (!m)
        return;
    /* Acquire: quiescent; pairs with publish()'s release (documentation). */
    ev_desc *d = atomic_load_explicit(&m->desc, memory_order_acquire);
    ev_table *tabs[2] = { d->cur, d->old };
    ev_mem *dead = NULL;
    for (int k = 0; k < 2; k++) {
        ev_table *t = tabs[k];
        if (!t)
            continue;
        for (uint64_t gi = 0; gi < t->ngroups; gi++)
            for (unsigned j = 0; j < EV_GS; j++)
                if (LD(&t->g[gi].ctrl[j]) < 0x80 || LD(&t->g[gi].ctrl[j]) == CT_EVAC)
                    push_blob(&dead, &t->g[gi].s[j]);   /* EVAC: shared with its copy, or
                                                           written there by a seeded bug */
    }
    ev_mem *lists[3] = { dead, m->rhead, m->qhead };
    for (int k = 0; k < 3; k++)
        for (ev_mem *p = lists[k], *n; p; p = n) {
            n = p->next;
            mem_free_real(m, p);
        }
    ev_table *cur = d->cur, *old = d->old;   /* d lives inside cur */
    free(old);
    free(cur);
    /* This thread's cache entry dies with the map (its gen is never reused). */
    for (unsigned i = 0; i < EV_TLC; i++)
        if (ev_tl[i].gen == m->gen)
            ev_tl[i].gen = 0;
    free(m);
}

static void ev_thread_exit(void *map)
{
    evacmap *m = map;
    for (unsigned i = 0; i < EV_TLC; i++) {
        if (ev_tl[i].gen != m->gen)
            continue;
        ev_rec *r = ev_tl[i].rec;
        /* Release, as in epoch_exit: we are out of every operation. */
        atomic_store_explicit(&r->active, 0, memory_order_release);
        r->nest = 0;
        /* Release: our last uses of the record happen before another thread
         * claims it (pairs with rec_get's acquire CAS). */
        atomic_store_explicit(&r->owned, 0, memory_order_release);
        ev_tl[i].gen = 0;
    }
}

/* evacmap's key hash, for schedule generators that want colliding keys: under
 * hash seed `seed`, a key's home group in a table of G groups (a power of two)
 * is (h >> 7) & (G - 1) and its control-byte fragment is h & 0x7f. */
uint32_t mf_evacmap_hash(uint64_t seed, const uint8_t *key, size_t klen)
{
    uint64_t kw[4];
    if (klen > MF_MAX_KEY)
        klen = MF_MAX_KEY;
    key_words(key, klen, kw);
    return ev_hash(seed, kw, klen);
}

static const mf_target ev_target = {
    .abi_version = MF_ABI_VERSION,
    .caps = MF_CAP_MULTI_WRITER | MF_CAP_PUT_IF_ABSENT | MF_CAP_ITERATE | MF_CAP_EXACT_LEN |
            MF_CAP_EVENTS,
    .name = "evacmap",
    .variants = ev_variant_names,
    .create = ev_create,
    .destroy = ev_destroy,
    .get = ev_get,
    .put = ev_put,
    .put_if_absent = ev_pia,
    .del = ev_del,
    .len = ev_len,
    .iterate = ev_iterate,
    .check = ev_check,
    .thread_exit = ev_thread_exit,
};

const mf_target *mf_evacmap(void) { return &ev_target; }

int mf_evacmap_read_stats(const mf_target *target, void *map, mf_evacmap_stats *out)
{
    if (target != &ev_target || !map || !out)
        return -1;
    evacmap *m = map;
    /* Acquire: quiescent (see evacmap.h); pairs with publish()'s release. */
    ev_desc *d = atomic_load_explicit(&m->desc, memory_order_acquire);
    out->doublings = m->ndouble;
    out->same_size = m->nsame;
    out->groups = d->cur->ngroups;
    out->old_groups = d->old ? d->old->ngroups : 0;
    /* Relaxed: quiescent, nothing to order. */
    out->iterations = atomic_load_explicit(&m->niter, memory_order_relaxed);
    out->last_start = atomic_load_explicit(&m->last_start, memory_order_relaxed);
    return 0;
}
