/* mapfuzz instrumentation runtime, the part linked only into C++ targets: wraps
 * std::condition_variable::wait(std::unique_lock<std::mutex>&), which libstdc++
 * defines out of line (its pthread_cond_wait call is not in the target's code, so
 * the link-time wrap of pthread_cond_wait cannot see it). An attached thread's wait
 * becomes the runtime's unlock / `blocked` / re-lock (mf_instrument.c R3).
 *
 * Layout facts relied on (libstdc++ ABI, stable since GCC 4.x): a unique_lock's
 * first member is the mutex pointer, and a std::mutex is a pthread_mutex_t.
 */
#include <pthread.h>

#define CV_WAIT _ZNSt18condition_variable4waitERSt11unique_lockISt5mutexE
#define WRAP_(n) __wrap_##n
#define REAL_(n) __real_##n
#define WRAP(n) WRAP_(n)
#define REAL(n) REAL_(n)

int mf_inst_cxx_cond_wait(pthread_mutex_t *m, void *pc);
void REAL(CV_WAIT)(void *cv, void *lock);
void WRAP(CV_WAIT)(void *cv, void *lock);

void WRAP(CV_WAIT)(void *cv, void *lock)
{
    pthread_mutex_t *m = *(pthread_mutex_t **)lock;
    if (!mf_inst_cxx_cond_wait(m, __builtin_return_address(0)))
        REAL(CV_WAIT)(cv, lock);
}
