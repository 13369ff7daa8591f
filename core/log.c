#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static int log_rank = 0;
static int log_level = GC_LOG_NORMAL;

void gc_log_init(int rank, int level)
{
    log_rank = rank;
    log_level = level;
}

int gc_log_rank(void) { return log_rank; }

int gc_log_level(void) { return log_level; }

static void emit(const char *prefix, const char *fmt, va_list ap)
{
    fputs(prefix, stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    fflush(stderr);
}

void gc_info(const char *fmt, ...)
{
    if (log_rank != 0 || log_level < GC_LOG_NORMAL) return;
    va_list ap;
    va_start(ap, fmt);
    emit("", fmt, ap);
    va_end(ap);
}

void gc_debug(const char *fmt, ...)
{
    if (log_rank != 0 || log_level < GC_LOG_VERBOSE) return;
    va_list ap;
    va_start(ap, fmt);
    emit("", fmt, ap);
    va_end(ap);
}

void gc_warn(const char *fmt, ...)
{
    if (log_rank != 0) return;
    va_list ap;
    va_start(ap, fmt);
    emit("gradcore: warning: ", fmt, ap);
    va_end(ap);
}

void gc_error_line(const char *message)
{
    if (log_rank != 0) return;
    fprintf(stderr, "gradcore: error: %s\n", message);
    fflush(stderr);
}
