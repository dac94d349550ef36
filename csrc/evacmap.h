/* evacmap extras beyond the target ABI (csrc/evacmap.c). */
#ifndef EVACMAP_H
#define EVACMAP_H

#include <stddef.h>
#include <stdint.h>

/* evacmap's key hash: under hash seed `seed`, a key (tag byte first, 1..32
 * bytes) has home group (h >> 7) & (groups - 1) in a table of `groups` groups
 * (a power of two; 8 slots each) and control-byte fragment h & 0x7f. Keys whose
 * hashes agree on those bits collide. */
uint32_t mf_evacmap_hash(uint64_t seed, const uint8_t *key, size_t klen);

/* Debug counters of one evacmap, for tests (growths are invisible through the
 * target ABI). */
typedef struct mf_evacmap_stats {
    uint64_t doublings;    /* growths started that double the table */
    uint64_t same_size;    /* growths started that rebuild it at the same size
                              (tombstones dominate) */
    uint64_t groups;       /* groups of the current table */
    uint64_t old_groups;   /* groups of the table being evacuated; 0: not growing */
    uint64_t iterations;   /* iterate calls started */
    uint64_t last_start;   /* the unit the latest iteration started at (a unit of
                              the old table if it ran during a growth) */
} mf_evacmap_stats;

/* Fill *out for `map`, a map that mf_evacmap()'s create made (`target` must be
 * mf_evacmap(), else -1). Call it only while no operation of the map runs. */
struct mf_target;
int mf_evacmap_read_stats(const struct mf_target *target, void *map, mf_evacmap_stats *out);

#endif /* EVACMAP_H */
