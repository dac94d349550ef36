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

#endif /* EVACMAP_H */
