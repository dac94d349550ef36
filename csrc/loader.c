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
#include <stdio.h>
#include "mapfuzz_runner.h"

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
    return t;
}
