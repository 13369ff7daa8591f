/* Logging: rank 0 prints progress and results, and the one error line all ranks agreed on; the
 * other ranks stay silent. The one exception is a failed MPI call (gc_check_mpi, core/comm.c): the
 * rank that saw it prints its line itself, with a "[rank r]" prefix, before the job ends. Levels
 * follow --quiet / --verbose. */
#ifndef GC_LOG_H
#define GC_LOG_H

enum gc_log_level { GC_LOG_QUIET = 0, GC_LOG_NORMAL = 1, GC_LOG_VERBOSE = 2 };

void gc_log_init(int rank, int level);
int gc_log_rank(void);
int gc_log_level(void);
/* Progress and summaries (stderr, rank 0, unless quiet). */
void gc_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Detail for --verbose (stderr, rank 0). */
void gc_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Warnings (stderr, rank 0, even when quiet). */
void gc_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The one error line of a failed run (stderr, rank 0 only: all ranks agreed on it). */
void gc_error_line(const char *message);

#endif
