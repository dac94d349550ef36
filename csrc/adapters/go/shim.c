/* The mf_target table of a Go adapter (see abi.go): C functions that call the
 * exported Go functions and, between the steps of one operation, the host's
 * schedule point. The name, caps and variants come from the Go side (the file the
 * build tag selects), read once by mf_target_v1. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "_cgo_export.h"
#include "mapfuzz_target.h"

#define STEP_POINT 100 /* abi.go stepPoint */
#define MAX_VARIANTS 16

typedef struct gmap {
    uintptr_t h;           /* cgo.Handle of the Go map */
    const mf_host *host;
} gmap;

static const char *const SITES[] = {
    "go:get:step", "go:put:step", "go:put_if_absent:step", "go:delete:step",
};

int mfgo_call_visit(mf_visit visit, void *ctx, const uint8_t *k, size_t kl,
                    const uint8_t *v, size_t vl)
{
    return visit(ctx, k, kl, v, vl);
}

static void *create(const mf_host *host, uint64_t seed, size_t cap, uint32_t variant)
{
    (void)seed; /* Go seeds its map hashes itself */
    gmap *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->host = host;
    m->h = mfgoCreate(variant, cap);
    if (!m->h) {
        free(m);
        return NULL;
    }
    return m;
}

static void destroy(void *map)
{
    gmap *m = map;
    mfgoDestroy(m->h);
    free(m);
}

/* Steps of one operation; the host's point runs between them, from C. */
static int run_op(gmap *m, int kind, const uint8_t *k, size_t kl, const uint8_t *v,
                  size_t vl, uint8_t *out, size_t *outlen)
{
    for (int step = 0;; step++) {
        int rc = mfgoOp(m->h, kind, step, (void *)k, kl, (void *)v, vl, out, outlen);
        if (rc != STEP_POINT)
            return rc;
        if (m->host && m->host->point)
            m->host->point(m->host->ctx, SITES[kind]);
    }
}

static int get(void *map, const uint8_t *k, size_t kl, uint8_t *val, size_t *vl)
{
    return run_op(map, 0, k, kl, NULL, 0, val, vl);
}

static int put(void *map, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
               uint8_t *old, size_t *ol)
{
    return run_op(map, 1, k, kl, v, vl, old, ol);
}

static int put_if_absent(void *map, const uint8_t *k, size_t kl, const uint8_t *v,
                         size_t vl, uint8_t *cur, size_t *cl)
{
    return run_op(map, 2, k, kl, v, vl, cur, cl);
}

static int del(void *map, const uint8_t *k, size_t kl, uint8_t *old, size_t *ol)
{
    return run_op(map, 3, k, kl, NULL, 0, old, ol);
}

static int64_t len(void *map)
{
    return mfgoLen(((gmap *)map)->h);
}

static int iterate(void *map, mf_visit visit, void *ctx)
{
    return mfgoIterate(((gmap *)map)->h, visit, ctx);
}

static int check(void *map, char *msg, size_t cap)
{
    return mfgoCheck(((gmap *)map)->h, msg, cap);
}

static mf_target table = {
    .abi_version = MF_ABI_VERSION,
    .create = create,
    .destroy = destroy,
    .get = get,
    .put = put,
    .put_if_absent = put_if_absent,
    .del = del,
    .len = len,
    .iterate = iterate,
    .check = check,
};
static const char *variants[MAX_VARIANTS + 1];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Names, caps and variants from Go; the strings live as long as the library. */
static void describe(void)
{
    table.name = mfgoName();
    table.caps = mfgoCaps();
    char *list = mfgoVariants();
    size_t n = 0;
    for (char *p = list; *p && n < MAX_VARIANTS;) {
        variants[n++] = p;
        char *nl = strchr(p, '\n');
        if (!nl)
            break;
        *nl = 0;
        p = nl + 1;
    }
    variants[n] = NULL;
    table.variants = variants;
}

const mf_target *mf_target_v1(void)
{
    pthread_once(&once, describe);
    return &table;
}
