/* gradcore: weighted gradient coresets of huge datasets, with MPI over ranks and CUDA or CPU
 * backends. main only dispatches to a subcommand and maps its status to the exit code. */
#include <mpi.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "core/error.h"
#include "core/log.h"
#include "core/phases.h"
#include "core/version.h"
#include "kernels/backend.h"

static const char usage[] =
    "usage: gradcore COMMAND [options]      (run under mpirun for several ranks)\n\n"
    "commands:\n"
    "  select   build a weighted coreset of a dataset (--method craig, adacore, gmc, gradmatch, crest, bico)\n"
    "  stream   keep a coreset of batches arriving over time up to date (continual GMC, merge-reduce)\n"
    "  gen      write a synthetic dataset to HDF5\n"
    "  info     summarise a dataset, embeddings or coreset file\n"
    "  eval     train logistic regression on a coreset, random subsets and the full data; compare\n\n"
    "'gradcore COMMAND --help' lists a command's options. Exit codes: 0 ok, 2 usage, 3 bad input,\n"
    "4 output not writable, 5 no usable GPU, 6 out of memory, 7 library failure (MPI, HDF5, LAPACK, CUDA).\n";

/* A thread count far beyond the cores (OMP_NUM_THREADS=1000000) makes the OpenMP runtime fail
 * creating its first team, without a message: it is clamped to 4 threads a core, with a warning. */
static void clamp_threads(void)
{
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    const int limit = cores > 0 && cores < 4096 ? 4 * (int)cores : 4096;
    const int asked = omp_get_max_threads();
    if (asked <= limit) return;
    gc_warn("OMP_NUM_THREADS asks for %d threads on %ld cores: using %d", asked, cores, limit);
    omp_set_num_threads(limit);
}

int main(int argc, char **argv)
{
    gc_process_mark_start();
    gc_backend_prestart(argc, argv); /* the GPU's start-up runs while MPI's does */
    MPI_Init(&argc, &argv);
    gc_process_mark_started();
    /* Failed MPI calls return their error to gc_check_mpi, which names the call and the cause,
     * instead of aborting inside the library; communicators made later inherit the handler. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    gc_log_init(rank, GC_LOG_NORMAL);
    clamp_threads();
    int status = GC_OK;
    const char *command = argc > 1 ? argv[1] : "";
    if (strcmp(command, "select") == 0) {
        status = gc_command_select(argc - 2, argv + 2);
    } else if (strcmp(command, "stream") == 0) {
        status = gc_command_stream(argc - 2, argv + 2);
    } else if (strcmp(command, "gen") == 0) {
        status = gc_command_gen(argc - 2, argv + 2);
    } else if (strcmp(command, "info") == 0) {
        status = gc_command_info(argc - 2, argv + 2);
    } else if (strcmp(command, "eval") == 0) {
        status = gc_command_eval(argc - 2, argv + 2);
    } else if (strcmp(command, "--version") == 0) {
        if (rank == 0) printf("gradcore %s (%s)\n", GC_VERSION, GC_GIT_COMMIT);
    } else if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0 || argc < 2) {
        if (rank == 0) fputs(usage, argc < 2 ? stderr : stdout);
        status = argc < 2 ? GC_ERR_USAGE : GC_OK;
        if (argc < 2) gc_error_clear();
    } else {
        status = gc_fail(GC_ERR_USAGE, "unknown command '%s' (select, stream, gen, info, eval; see gradcore --help)",
                         command);
    }
    if (status != GC_OK && gc_error_message()[0] != '\0') gc_error_line(gc_error_message());
    gc_backend_prestart_finish();
    MPI_Finalize();
    return status;
}
