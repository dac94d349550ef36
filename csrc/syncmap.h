/* syncmap extras beyond the target ABI (csrc/syncmap.c). */
#ifndef SYNCMAP_H
#define SYNCMAP_H

#include <stdint.h>

/* Promotions (dirty published as read) a syncmap has made since create: a debug
 * counter for tests, read at quiescence. `map` is what the syncmap target's
 * create returned. */
uint64_t mf_syncmap_promotions(void *map);

#endif /* SYNCMAP_H */
