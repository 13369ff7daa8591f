#include "error.h"

#include <stdio.h>

static char first_message[1024];

int gc_failv(int status, const char *fmt, va_list ap)
{
#pragma omp critical(gc_error)
    if (first_message[0] == '\0') vsnprintf(first_message, sizeof first_message, fmt, ap);
    return status;
}

int gc_fail(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gc_failv(status, fmt, ap);
    va_end(ap);
    return status;
}

const char *gc_error_message(void) { return first_message; }

void gc_error_clear(void) { first_message[0] = '\0'; }
