/* gc_run_tasks (kernels/backend.h) runs every task once, all at the same time: each task arrives at
 * a counter and waits (up to 5 s) until every task has arrived, which only tasks on threads of
 * their own can do; run with no task, one, and more than a host has cores (OpenMP gives a region
 * the threads it asks for unless OMP_THREAD_LIMIT says otherwise: with OMP_THREAD_LIMIT=1 this test
 * fails). The CUDA backend's facility-location lanes rely on it: a lane left to wait behind another
 * would greedy its problems one by one. */
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "check.h"
#include "kernels/backend.h"

enum { MAX_TASKS = 32 };

typedef struct {
    int tasks;
    atomic_int arrived;
    atomic_int calls[MAX_TASKS];
    atomic_int met[MAX_TASKS]; /* task t saw every task arrive */
} rendezvous;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void meet(void *ctx, int t)
{
    rendezvous *r = ctx;
    atomic_fetch_add(&r->calls[t], 1);
    atomic_fetch_add(&r->arrived, 1);
    const double deadline = now_s() + 5.0;
    while (atomic_load(&r->arrived) < r->tasks && now_s() < deadline) {}
    atomic_store(&r->met[t], atomic_load(&r->arrived) >= r->tasks);
}

static void run(int tasks)
{
    static rendezvous r;
    r.tasks = tasks;
    atomic_store(&r.arrived, 0);
    for (int t = 0; t < MAX_TASKS; ++t) atomic_store(&r.calls[t], 0), atomic_store(&r.met[t], 0);
    gc_run_tasks(tasks, meet, &r);
    for (int t = 0; t < MAX_TASKS; ++t) {
        CHECK(atomic_load(&r.calls[t]) == (t < tasks));
        CHECK(atomic_load(&r.met[t]) == (t < tasks));
    }
}

int main(void)
{
    run(0);
    run(1);
    run(8);
    run(MAX_TASKS);
    return check_failures;
}
