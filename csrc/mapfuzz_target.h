/* mapfuzz target ABI, version 1.
 *
 * Public contract between mapfuzz and the maps it drives. A target is a shared
 * library exporting one symbol, mf_target_v1, that returns a pointer to a
 * static mf_target table. mapfuzz loads it with dlopen(RTLD_NOW | RTLD_NODELETE).
 * The built-in evacmap implements the same table. Change nothing here without
 * bumping MF_ABI_VERSION: adapters written by users compile against this file.
 *
 * Keys and values are byte strings. Byte 0 of a key is its type tag, byte 0 of a
 * value is the value's type tag. Keys with different tags are different keys even
 * when the payload bytes agree (int 42, str "42" and bytes b"42" are three keys).
 * Output buffers passed to get/put/put_if_absent/del hold MF_MAX_VALUE bytes.
 * Negative returns are errors reported by the target.
 */
#ifndef MAPFUZZ_TARGET_H
#define MAPFUZZ_TARGET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MF_ABI_VERSION 1
#define MF_MAX_KEY   32          /* bytes; byte 0 is the key's type tag */
#define MF_MAX_VALUE 256         /* bytes; byte 0 is the value's type tag */

enum { MF_CAP_MULTI_WRITER = 1,     /* several threads may write at once        */
       MF_CAP_PUT_IF_ABSENT = 2,    /* put_if_absent is provided                 */
       MF_CAP_ITERATE = 4,          /* iterate may run concurrently with writers */
       MF_CAP_EXACT_LEN = 8,        /* len is exact even while threads run       */
       MF_CAP_EVENTS = 16 };        /* the target reports structural events (below) */

typedef struct mf_host {          /* provided by the harness, valid for the map's life */
    void *ctx;
    void (*point)(void *ctx, const char *site);    /* schedule point: a thread switch may happen here */
    void (*blocked)(void *ctx, const char *site);  /* cannot progress (lock busy, spin wait): let others run */
} mf_host;

typedef int (*mf_visit)(void *ctx, const uint8_t *key, size_t klen,
                        const uint8_t *val, size_t vlen);   /* return 0 to continue */

typedef struct mf_target {
    uint32_t abi_version;                 /* MF_ABI_VERSION */
    uint32_t caps;                        /* MF_CAP_* */
    const char *name;
    const char *const *variants;          /* NULL-terminated names of seeded bugs, or NULL */
    void   *(*create)(const mf_host *host, uint64_t hash_seed, size_t capacity_hint,
                      uint32_t variant);  /* variant 0 = correct; i = variants[i-1] */
    void    (*destroy)(void *map);        /* quiescent only */
    int     (*get)(void *map, const uint8_t *key, size_t klen,
                   uint8_t *val, size_t *vlen);                        /* 1 found, 0 absent */
    int     (*put)(void *map, const uint8_t *key, size_t klen,
                   const uint8_t *val, size_t vlen,
                   uint8_t *old, size_t *oldlen);                      /* 1 replaced (old copied), 0 inserted */
    int     (*put_if_absent)(void *map, const uint8_t *key, size_t klen,
                   const uint8_t *val, size_t vlen,
                   uint8_t *cur, size_t *curlen);                      /* 1 inserted, 0 present (cur copied); may be NULL */
    int     (*del)(void *map, const uint8_t *key, size_t klen,
                   uint8_t *old, size_t *oldlen);                      /* 1 removed (old copied), 0 absent */
    int64_t (*len)(void *map);
    int     (*iterate)(void *map, mf_visit visit, void *ctx);          /* may be NULL */
    int     (*check)(void *map, char *msg, size_t cap);                /* quiescent invariant check, 0 ok; may be NULL */
    void    (*thread_exit)(void *map);                                 /* per-thread cleanup (RCU/epoch); may be NULL */
} mf_target;

const mf_target *mf_target_v1(void);

/* ---- Extension: structural events (optional; ABI v1 stays valid without it) ----
 *
 * A target may tell mapfuzz when its structure changes (a growth or resize began or
 * ended, a new table generation was published). mapfuzz records each report in the
 * execution's event log at the point it happened (between the right operations),
 * shows it in `mapfuzz explain`, folds it into the interleaving features, and the
 * random engine spends more executions on schedules whose parallel phase overlaps
 * a growth.
 *
 * Handshake: a target that sets MF_CAP_EVENTS in caps receives in create a host
 * that is the head of an mf_host_ext (the same pointer; mapfuzz hosts always pass
 * one). `size` says how much of the struct the host filled: read a field only when
 * it lies within `size` (mf_report_event does). Targets without MF_CAP_EVENTS are
 * v1 targets and never look past mf_host. Reporting is cheap (no schedule point,
 * no thread switch) and may happen on any thread, in any phase; the `arg` is free
 * for the target (a table size, a generation number).
 */
#define MF_HOST_EXT_VERSION 1

enum { MF_EVENT_GROW_BEGIN = 1,   /* a growth/resize started (arg: the new capacity, or 0) */
       MF_EVENT_GROW_END = 2,     /* it finished: the old table is no longer used */
       MF_EVENT_GENERATION = 3 }; /* a new table (generation) was published (arg: its number) */

typedef struct mf_host_ext {
    mf_host base;                 /* the v1 host: pass &ext->base wherever an mf_host is used */
    uint32_t size;                /* sizeof(mf_host_ext) of the mapfuzz that filled it */
    uint32_t version;             /* MF_HOST_EXT_VERSION */
    void (*event)(void *ctx, uint32_t kind, uint64_t arg);   /* MF_EVENT_*; may be NULL */
} mf_host_ext;

/* Report a structural event through the host create received. Call it only from
 * a target that sets MF_CAP_EVENTS (only then is the host an mf_host_ext). */
static inline void mf_report_event(const mf_host *host, uint32_t kind, uint64_t arg)
{
    const mf_host_ext *x = (const mf_host_ext *)host;
    if (x->size >= offsetof(mf_host_ext, event) + sizeof x->event && x->event)
        x->event(host->ctx, kind, arg);
}

#ifdef __cplusplus
}
#endif
#endif /* MAPFUZZ_TARGET_H */
