/* The start-up the MPI-using fuzzers share: the readers under test are collective, so a one-rank
 * MPI_COMM_SELF run needs MPI (singleton init). Open MPI leaves a few hundred bytes of its start-up
 * and shutdown unreachable by design; LeakSanitizer ignores what MPI_Init and MPI_Finalize allocate,
 * so that only leaks of the code under test fail a run. */
#ifndef GC_FUZZ_MPI_H
#define GC_FUZZ_MPI_H

#include <mpi.h>
#include <sanitizer/lsan_interface.h>
#include <stdio.h>
#include <stdlib.h>

static void fuzz_finalize_mpi(void)
{
    int finalized = 0;
    MPI_Finalized(&finalized);
    __lsan_disable();
    if (!finalized) MPI_Finalize();
    __lsan_enable();
}

/* Starts MPI (finalized at exit) and makes the run's scratch directory from `pattern`
 * ("/tmp/…-XXXXXX") into directory[size]; exits on failure. */
static void fuzz_start(int *argc, char ***argv, char *directory, size_t size, const char *pattern)
{
    __lsan_disable();
    MPI_Init(argc, argv);
    __lsan_enable();
    atexit(fuzz_finalize_mpi);
    snprintf(directory, size, "%s", pattern);
    if (mkdtemp(directory) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
}

#endif
