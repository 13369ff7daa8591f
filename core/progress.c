#include "progress.h"

#include <mpi.h>
#include <stdio.h>
#include <unistd.h>

#include "log.h"

void gc_progress_begin(gc_progress *p, const char *what, const char *unit, int64_t total)
{
    p->what = what;
    p->unit = unit;
    p->total = total > 0 ? total : 1;
    p->started = p->last_print = MPI_Wtime();
    p->last_decile = 0;
    p->enabled = gc_log_rank() == 0 && gc_log_level() >= GC_LOG_NORMAL;
    p->terminal = isatty(STDERR_FILENO);
}

static void format_seconds(double s, char *buf, size_t size)
{
    if (s < 0 || s > 1e7)
        snprintf(buf, size, "--");
    else if (s < 60)
        snprintf(buf, size, "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, size, "%.0fm%02.0fs", s / 60 - 0.5, (double)((int)s % 60));
    else
        snprintf(buf, size, "%.0fh%02dm", s / 3600 - 0.5, (int)s % 3600 / 60);
}

void gc_progress_update(gc_progress *p, int64_t done)
{
    if (!p->enabled) return;
    double now = MPI_Wtime(), elapsed = now - p->started, fraction = (double)done / (double)p->total;
    int decile = (int)(fraction * 10);
    if (p->terminal ? now - p->last_print < 0.25 : (decile <= p->last_decile && now - p->last_print < 10.0)) return;
    p->last_print = now;
    p->last_decile = decile;
    char eta[32];
    format_seconds(fraction > 0 ? elapsed * (1.0 - fraction) / fraction : -1, eta, sizeof eta);
    double rate = elapsed > 0 ? (double)done / elapsed : 0.0;
    if (p->terminal) {
        char bar[31];
        int filled = (int)(fraction * 30);
        for (int i = 0; i < 30; ++i) bar[i] = i < filled ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr, "\r%s [%s] %3.0f%% %lld/%lld %s, %.3g %s/s, ETA %s   ", p->what, bar, 100 * fraction,
                (long long)done, (long long)p->total, p->unit, rate, p->unit, eta);
    } else {
        fprintf(stderr, "%s: %.0f%% (%lld/%lld %s, %.3g %s/s, ETA %s)\n", p->what, 100 * fraction, (long long)done,
                (long long)p->total, p->unit, rate, p->unit, eta);
    }
    fflush(stderr);
}

void gc_progress_end(gc_progress *p)
{
    if (!p->enabled) return;
    if (p->terminal) fprintf(stderr, "\r%*s\r", 110, "");
    fflush(stderr);
}
