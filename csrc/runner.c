/* Placeholder until the runner lands: every entry point exists so the module links. */
#include <stdio.h>
#include "mapfuzz_runner.h"

static void null_point(void *ctx, const char *site) { (void)ctx; (void)site; }
static const mf_host NULL_HOST = { NULL, null_point, null_point };
const mf_host *mf_host_null(void) { return &NULL_HOST; }

mf_runner *mf_runner_new(const mf_target *target, uint32_t max_threads, char *err, size_t cap)
{ (void)target; (void)max_threads; snprintf(err, cap, "runner not built yet"); return NULL; }
int mf_runner_run(mf_runner *r, const mf_plan *plan, const mf_config *cfg, mf_result *out)
{ (void)r; (void)plan; (void)cfg; (void)out; return -1; }
void mf_runner_free(mf_runner *r) { (void)r; }
uint8_t *mf_runner_coverage(mf_runner *r) { (void)r; return NULL; }
const char *mf_site_name(uint32_t site) { (void)site; return NULL; }
const mf_target *mf_load_target(const char *path, char *err, size_t cap)
{ (void)path; snprintf(err, cap, "not built yet"); return NULL; }
