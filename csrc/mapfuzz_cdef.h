/* Declarations of mapfuzz_target.h, mapfuzz_runner.h and evacmap.h in the form
 * cffi's cdef parses (no includes, no expressions). harness/_build.py feeds this
 * file to cffi. Keep it in step with the three headers. */
#define MF_ABI_VERSION 1
#define MF_MAX_KEY 32
#define MF_MAX_VALUE 256
#define MF_CAP_MULTI_WRITER 1
#define MF_CAP_PUT_IF_ABSENT 2
#define MF_CAP_ITERATE 4
#define MF_CAP_EXACT_LEN 8
#define MF_CAP_EVENTS 16
#define MF_HOST_EXT_VERSION 1
#define MF_EVENT_GROW_BEGIN 1
#define MF_EVENT_GROW_END 2
#define MF_EVENT_GENERATION 3

typedef struct mf_host {
    void *ctx;
    void (*point)(void *ctx, const char *site);
    void (*blocked)(void *ctx, const char *site);
} mf_host;

typedef struct mf_host_ext {
    mf_host base;
    uint32_t size;
    uint32_t version;
    void (*event)(void *ctx, uint32_t kind, uint64_t arg);
} mf_host_ext;

typedef int (*mf_visit)(void *ctx, const uint8_t *key, size_t klen,
                        const uint8_t *val, size_t vlen);

typedef struct mf_target {
    uint32_t abi_version;
    uint32_t caps;
    const char *name;
    const char *const *variants;
    void   *(*create)(const mf_host *host, uint64_t hash_seed, size_t capacity_hint, uint32_t variant);
    void    (*destroy)(void *map);
    int     (*get)(void *map, const uint8_t *key, size_t klen, uint8_t *val, size_t *vlen);
    int     (*put)(void *map, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                   uint8_t *old, size_t *oldlen);
    int     (*put_if_absent)(void *map, const uint8_t *key, size_t klen, const uint8_t *val,
                   size_t vlen, uint8_t *cur, size_t *curlen);
    int     (*del)(void *map, const uint8_t *key, size_t klen, uint8_t *old, size_t *oldlen);
    int64_t (*len)(void *map);
    int     (*iterate)(void *map, mf_visit visit, void *ctx);
    int     (*check)(void *map, char *msg, size_t cap);
    void    (*thread_exit)(void *map);
} mf_target;

#define MF_MAX_THREADS 16
#define MF_THREAD_SEQ 255
#define MF_COV_SIZE 65536
#define MF_NO_VALUE -1
#define MF_OP_GET 0
#define MF_OP_PUT 1
#define MF_OP_PUT_IF_ABSENT 2
#define MF_OP_DELETE 3
#define MF_OP_ITERATE 4
#define MF_OP_LEN 5
#define MF_MODE_CONTROLLED 0
#define MF_MODE_STRESS 1
#define MF_STRAT_RANDOM 0
#define MF_STRAT_PCT 1
#define MF_STRAT_REPLAY 2
#define MF_EXEC_OK 0
#define MF_EXEC_HANG 1
#define MF_EXEC_TARGET_ERROR 2
#define MF_EXEC_INVARIANT 3
#define MF_EXEC_REPLAY_DIVERGED 4
#define MF_EXEC_BAD_PLAN 5

typedef struct mf_op { uint8_t kind; uint8_t pad; uint16_t key; int32_t value; } mf_op;

typedef struct mf_plan {
    uint64_t hash_seed;
    uint64_t capacity;
    uint32_t variant;
    uint32_t nkeys;
    const uint8_t *key_data;
    const uint32_t *key_off;
    uint32_t nvalues;
    const uint8_t *val_data;
    const uint32_t *val_off;
    uint32_t nprefill;
    const mf_op *prefill;
    uint32_t nthreads;
    const uint32_t *thread_nops;
    const mf_op *ops;
} mf_plan;

typedef struct mf_config {
    int mode;
    int strategy;
    uint64_t seed;
    uint32_t pct_depth;
    uint64_t step_bound;
    double noise;
    uint32_t stress_timeout_ms;
    const uint32_t *replay;
    uint32_t replay_len;
    uint64_t pct_steps;
    uint32_t *trace_mirror;
    uint32_t trace_mirror_cap;
} mf_config;

typedef struct mf_record {
    uint8_t kind; uint8_t thread; uint16_t key; int32_t value; int32_t status;
    uint32_t out_len; uint64_t out_off; uint64_t t_call, t_ret; int64_t len;
} mf_record;

typedef struct mf_item { uint64_t key_off; uint64_t val_off; uint32_t key_len; uint32_t val_len; } mf_item;

typedef struct mf_event { uint32_t site; uint8_t thread; uint8_t kind; uint16_t op; } mf_event;

typedef struct mf_sevent {
    uint64_t clock; uint64_t arg; uint32_t step; uint8_t thread; uint8_t kind; uint16_t op;
} mf_sevent;
#define MF_SEVENT_CAP 4096

typedef struct mf_result {
    int status;
    char message[512];
    uint64_t steps;
    uint64_t trace_hash;
    uint32_t preemptions;
    uint32_t nrecords;
    const mf_record *records;
    const uint8_t *arena;
    uint64_t arena_len;
    uint32_t ntrace;
    const uint32_t *trace;
    uint32_t nevents;
    const mf_event *events;
    int events_truncated;
    int broken;
    uint32_t nsevents;
    int sevents_truncated;
    const mf_sevent *sevents;
} mf_result;

typedef struct mf_runner mf_runner;

mf_runner *mf_runner_new(const mf_target *target, uint32_t max_threads, char *err, size_t cap);
int  mf_runner_run(mf_runner *r, const mf_plan *plan, const mf_config *cfg, mf_result *out);
void mf_runner_free(mf_runner *r);
uint8_t *mf_runner_coverage(mf_runner *r);
uint32_t mf_runner_features(mf_runner *r);
uint32_t mf_evacmap_hash(uint64_t seed, const uint8_t *key, size_t klen);
typedef struct mf_evacmap_stats {
    uint64_t doublings; uint64_t same_size; uint64_t groups; uint64_t old_groups;
    uint64_t iterations; uint64_t last_start;
} mf_evacmap_stats;
int mf_evacmap_read_stats(const mf_target *target, void *map, mf_evacmap_stats *out);
const char *mf_site_name(uint32_t site);
const mf_host *mf_host_null(void);
double mf_bench_single_thread(const mf_target *t, uint64_t nops, uint32_t nkeys, uint64_t seed);
double mf_bench_workload(const mf_target *t, uint32_t nthreads, uint64_t ops_per_thread,
                         uint32_t nkeys, int workload, uint64_t seed);
const mf_target *mf_evacmap(void);
const mf_target *mf_syncmap(void);
const mf_target *mf_rwmap(void);
uint64_t mf_syncmap_promotions(void *map);
const mf_target *mf_load_target(const char *path, char *err, size_t cap);
int mf_target_set_sites(const mf_target *t, uint32_t n, const uint64_t *offs,
                        const char *const *names);
int64_t mf_target_density(const mf_target *t, int64_t density);
