/* The options database: command line beats the job file, the job file beats defaults, and bad
 * input is a usage error naming the option. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "core/options.h"

static const gc_option_spec specs[] = {
    { "config", GC_OPT_VALUE, NULL, "FILE", "job file" }, { "k", GC_OPT_VALUE, NULL, "N", "size" },
    { "seed", GC_OPT_VALUE, "0", "S", "seed" },           { "method", GC_OPT_VALUE, "craig", "M", "method" },
    { "quiet", GC_OPT_FLAG, "off", NULL, "quiet" },       { NULL, 0, NULL, NULL, NULL }
};

static void command_line_wins_over_job_file(void)
{
    const char *path = "test_options_job.ini";
    FILE *f = fopen(path, "w");
    fprintf(f, "# a job\n[select]\nk = 10\nseed=5 \nmethod = gmc\n");
    fclose(f);
    char *argv[] = { "--config", (char *)path, "--seed", "7", "--quiet" };
    gc_options o;
    CHECK(gc_options_parse(&o, "select", specs, 5, argv) == GC_OK);
    long k = 0, seed = 0;
    int quiet = 0;
    CHECK(gc_options_get_long(&o, "k", 1, 100, &k) == GC_OK && k == 10);
    CHECK(gc_options_get_long(&o, "seed", 0, 100, &seed) == GC_OK && seed == 7);
    CHECK(strcmp(gc_options_get(&o, "method"), "gmc") == 0);
    CHECK(gc_options_get_bool(&o, "quiet", &quiet) == GC_OK && quiet == 1);
    gc_options_destroy(&o);
    remove(path);
}

static void unknown_and_malformed_options_are_usage_errors(void)
{
    gc_options o;
    char *unknown[] = { "--frobnicate", "3" };
    gc_error_clear();
    CHECK(gc_options_parse(&o, "select", specs, 2, unknown) == GC_ERR_USAGE);
    CHECK(strstr(gc_error_message(), "--frobnicate") != NULL);
    gc_options_destroy(&o);
    char *missing[] = { "--k" };
    gc_error_clear();
    CHECK(gc_options_parse(&o, "select", specs, 1, missing) == GC_ERR_USAGE);
    gc_options_destroy(&o);
    char *bad[] = { "--k=abc" };
    gc_error_clear();
    long k;
    CHECK(gc_options_parse(&o, "select", specs, 1, bad) == GC_OK);
    CHECK(gc_options_get_long(&o, "k", 1, 10, &k) == GC_ERR_USAGE);
    CHECK(strstr(gc_error_message(), "--k") != NULL);
    gc_options_destroy(&o);
    char *job[] = { "--config", "/nonexistent/job.ini" };
    gc_error_clear();
    CHECK(gc_options_parse(&o, "select", specs, 2, job) == GC_ERR_USAGE);
    gc_options_destroy(&o);
    gc_error_clear();
}

int main(void)
{
    command_line_wins_over_job_file();
    unknown_and_malformed_options_are_usage_errors();
    TEST_MAIN_END();
}
