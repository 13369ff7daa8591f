/* libFuzzer target: the INI job-file reader of the options database (src/options.c). Each input is
 * written to a temporary file and read the way a user's job file is, through
 * gc_options_parse(--config FILE), so the test covers exactly the shipped code path (fgets line
 * splitting, the long-line check, trimming, comments, sections, unknown keys) with no seam added
 * for it. Every resolved value then goes through each typed getter and the provenance dump.
 * Errors are expected outcomes; ASan/UBSan/LeakSanitizer report the bugs. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/error.h"
#include "core/options.h"

/* The value kinds the subcommands declare: integers, numbers, choices, flags, paths. */
static const gc_option_spec specs[] = { { "config", GC_OPT_VALUE, NULL, "FILE", "job file" },
                                        { "data", GC_OPT_VALUE, NULL, "PATH", "input" },
                                        { "k", GC_OPT_VALUE, NULL, "N|P%", "size" },
                                        { "seed", GC_OPT_VALUE, "0", "S", "seed" },
                                        { "lr", GC_OPT_VALUE, "0.1", "A", "a number" },
                                        { "method", GC_OPT_VALUE, "craig", "M", "a choice" },
                                        { "per-class", GC_OPT_VALUE, "on", "on|off", "a boolean" },
                                        { "quiet", GC_OPT_FLAG, "off", NULL, "a flag" },
                                        { NULL, 0, NULL, NULL, NULL } };

static char job_path[64];

static void remove_job_file(void) { unlink(job_path); }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(job_path, sizeof job_path, "/tmp/gradcore-fuzz-job-XXXXXX");
    int fd = mkstemp(job_path);
    if (fd < 0) {
        perror("mkstemp");
        exit(1);
    }
    close(fd);
    atexit(remove_job_file);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(job_path, "wb");
    if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0) abort(); /* the harness itself failed */
    char *argv[] = { "--config", job_path, "--seed", "3" };
    gc_options o;
    if (gc_options_parse(&o, "fuzz", specs, 4, argv) == GC_OK) {
        for (const gc_option_spec *s = specs; s->name != NULL; ++s) {
            long l;
            double x;
            int b, choice;
            (void)gc_options_get(&o, s->name);
            (void)gc_options_is_set(&o, s->name);
            (void)gc_options_get_long(&o, s->name, -1000, 1000, &l);
            (void)gc_options_get_double(&o, s->name, -1e6, 1e6, &x);
            (void)gc_options_get_bool(&o, s->name, &b);
            (void)gc_options_get_choice(&o, s->name, "craig|gmc|crest", &choice);
            (void)gc_options_require(&o, s->name);
        }
        free(gc_options_resolved(&o));
    }
    gc_options_destroy(&o);
    gc_error_clear();
    return 0;
}
