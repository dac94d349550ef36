/* Placeholder until evacmap lands. */
#include "mapfuzz_runner.h"
const mf_target *mf_evacmap(void) { return NULL; }
