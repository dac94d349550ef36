/* mapfuzz instrumentation runtime: the interface between a target built by
 * `mapfuzz cc` and the runner that drives it.
 *
 * `mapfuzz cc` compiles the target's sources with gcc's -fsanitize=thread
 * instrumentation but links them against csrc/instrument/mf_instrument.c instead
 * of libtsan: the compiler's __tsan_* hooks (every atomic, and plain reads and
 * writes of memory that may be shared), and the pthread lock calls wrapped at link
 * time (-Wl,--wrap=...), become schedule points of mapfuzz's host.
 *
 * The runtime lives inside the target .so (its hooks have hidden visibility, so
 * several instrumented targets in one process keep apart). It exports one extra
 * symbol, mf_instrument_v1, that the loader looks up next to mf_target_v1. A target
 * without it is driven exactly as before.
 *
 * Protocol: a pool thread entering the parallel phase calls attach(host); from
 * then until detach() the thread's hooks call host->point / host->blocked with a
 * site string per code address (the hook's return address, named
 * "<library>+0x<offset>" until a symbol table is installed with set_sites, see
 * harness/run/symbols.py). Threads that never attached (main's prefill and post
 * phases, threads the target starts itself) run the hooks as plain memory
 * operations: nothing else changes for them.
 */
#ifndef MAPFUZZ_INSTRUMENT_H
#define MAPFUZZ_INSTRUMENT_H

#include <stdint.h>
#include "../mapfuzz_target.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MF_INSTRUMENT_VERSION 2   /* 2 added flush; a version-1 table is still driven */
#define MF_INSTRUMENT_VERSION_MIN 1

/* Point density for plain (non-atomic) accesses; atomics, locks, fences and
 * spin detection are active at every density. */
enum { MF_POINTS_SYNC = 0,      /* atomics and synchronisation calls only */
       MF_POINTS_ALL = 1 };     /* every instrumented access; > 1: every Nth one per thread */

typedef struct mf_instrument {
    uint32_t version;             /* MF_INSTRUMENT_VERSION */
    uint32_t density;             /* the density in force (MF_POINTS_* or N) */
    /* The calling thread's hooks report to host until detach (NULL detaches; a
     * detach of a thread an abort unwound releases the locks it still holds). */
    void (*attach)(const mf_host *host);
    /* Install site names: offs[i] (an offset into this library) is named names[i].
     * Copies everything; 0 ok, -1 out of memory. Unknown offsets keep the
     * "<library>+0x<offset>" form. */
    int (*set_sites)(uint32_t n, const uint64_t *offs, const char *const *names);
    /* Set the density (MF_POINTS_*, or N > 1 for every Nth plain access). */
    void (*set_density)(uint32_t density);
    /* Version 2. Give back the memory the instrumented code freed since the last
     * flush: free() and realloc() of instrumented code hold the block back, poisoned,
     * so a late reader of freed memory reads the poison whatever the allocator would
     * have put there (a run is then a function of its schedule). The runner calls it
     * once the map is destroyed and no thread is inside it. */
    void (*flush)(void);
} mf_instrument;

const mf_instrument *mf_instrument_v1(void);

#ifdef __cplusplus
}
#endif
#endif /* MAPFUZZ_INSTRUMENT_H */
