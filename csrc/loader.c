/* mapfuzz target loader: dlopen a shared library and check its mf_target_v1 table.
 *
 * RTLD_NOW resolves every symbol at load, so a missing dependency fails here with
 * the dynamic linker's text rather than at the first call in a pool thread.
 * RTLD_NODELETE keeps the library mapped for the process's life: maps that start
 * background threads (or register TLS destructors) crash when unloaded under them,
 * and site strings handed to the host must stay valid (the site cache keys on
 * their addresses). The handle is never closed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include "mapfuzz_runner.h"
#include "instrument/mf_instrument.h"

/* Targets built by `mapfuzz cc` also export mf_instrument_v1 (the instrumentation
 * runtime, csrc/instrument/): remembered per target table so that the runner can
 * attach its pool threads to it. Load-time only; at most INST_MAX such targets. */
#define INST_MAX 64
static struct { const mf_target *t; const mf_instrument *inst; } inst_tab[INST_MAX];
static unsigned inst_n;
static pthread_mutex_t inst_lock = PTHREAD_MUTEX_INITIALIZER;

static void inst_remember(void *h, const mf_target *t)
{
    void *sym = dlsym(h, "mf_instrument_v1");
    if (!sym)
        return;   /* an uninstrumented target: nothing changes */
    const mf_instrument *(*fn)(void);
    *(void **)&fn = sym;
    const mf_instrument *inst = fn();
    if (!inst || inst->version < MF_INSTRUMENT_VERSION_MIN ||
        inst->version > MF_INSTRUMENT_VERSION)
        return;
    pthread_mutex_lock(&inst_lock);
    unsigned i = 0;
    while (i < inst_n && inst_tab[i].t != t)
        i++;
    if (i == inst_n && inst_n < INST_MAX)
        inst_n++;
    if (i < INST_MAX) {
        inst_tab[i].t = t;
        inst_tab[i].inst = inst;
    }
    pthread_mutex_unlock(&inst_lock);
}

const mf_instrument *mf_target_instrument(const mf_target *t)
{
    const mf_instrument *inst = NULL;
    pthread_mutex_lock(&inst_lock);
    for (unsigned i = 0; i < inst_n; i++)
        if (inst_tab[i].t == t)
            inst = inst_tab[i].inst;
    pthread_mutex_unlock(&inst_lock);
    return inst;
}

int mf_target_set_sites(const mf_target *t, uint32_t n, const uint64_t *offs,
                        const char *const *names)
{
    const mf_instrument *inst = mf_target_instrument(t);
    return inst ? inst->set_sites(n, offs, names) : -1;
}

int64_t mf_target_density(const mf_target *t, int64_t density)
{
    const mf_instrument *inst = mf_target_instrument(t);
    if (!inst)
        return -1;
    if (density >= 0)
        inst->set_density((uint32_t)density);
    return inst->density;
}

const mf_target *mf_load_target(const char *path, char *err, size_t cap)
{
    if (!path || !*path) {
        snprintf(err, cap, "no target path given");
        return NULL;
    }
    void *h = dlopen(path, RTLD_NOW | RTLD_NODELETE);
    if (!h) {
        const char *e = dlerror();
        snprintf(err, cap, "cannot load %s: %s", path, e ? e : "dlopen failed");
        return NULL;
    }
    dlerror();
    void *sym = dlsym(h, "mf_target_v1");
    if (!sym) {
        snprintf(err, cap, "no symbol mf_target_v1 in %s: is it built against "
                 "csrc/mapfuzz_target.h (and exported, extern \"C\" in C++)?", path);
        return NULL;
    }
    const mf_target *(*fn)(void);
    *(void **)&fn = sym;   /* POSIX: object pointer to function pointer */
    const mf_target *t = fn();
    if (!t) {
        snprintf(err, cap, "mf_target_v1 in %s returned NULL", path);
        return NULL;
    }
    if (t->abi_version != MF_ABI_VERSION) {
        snprintf(err, cap, "%s speaks target ABI version %u, mapfuzz speaks %d: rebuild it "
                 "against this mapfuzz's csrc/mapfuzz_target.h", path, t->abi_version,
                 MF_ABI_VERSION);
        return NULL;
    }
    const char *missing = !t->create ? "create" : !t->destroy ? "destroy" : !t->get ? "get"
                        : !t->put ? "put" : !t->del ? "del" : !t->len ? "len" : NULL;
    if (missing) {
        snprintf(err, cap, "target table in %s has no %s function (create, destroy, get, put, "
                 "del and len are required)", path, missing);
        return NULL;
    }
    if ((t->caps & MF_CAP_PUT_IF_ABSENT) && !t->put_if_absent) {
        snprintf(err, cap, "target table in %s claims MF_CAP_PUT_IF_ABSENT but put_if_absent "
                 "is NULL", path);
        return NULL;
    }
    inst_remember(h, t);
    return t;
}
