/* The options database (PETSc style): every long option of a subcommand is declared once in a
 * table with its default and help text; values come from the command line or from an INI job file
 * (--config FILE, keys = long option names, optional [section] headers ignored), and command-line
 * values win. Typed getters validate and name the option in their error line. */
#ifndef GC_OPTIONS_H
#define GC_OPTIONS_H

#include <stdio.h>

typedef enum { GC_OPT_VALUE, GC_OPT_FLAG } gc_option_kind;

typedef struct {
    const char *name;          /* long name without "--" */
    gc_option_kind kind;       /* a flag takes no value on the command line ("on" when given) */
    const char *default_value; /* NULL: no default (optional or required, as the subcommand decides) */
    const char *metavar;       /* shown in --help */
    const char *help;
} gc_option_spec;

typedef struct {
    const char *command;         /* subcommand name, for messages */
    const gc_option_spec *specs; /* terminated by a {NULL} entry */
    gc_option_spec *owned_specs; /* the concatenation made by gc_options_parse_groups, freed by destroy */
    int count;
    char **names;
    char **values;
    int *from_command_line;
    char *config; /* the job file (--config), or NULL */
    int help_requested;
    int version_requested;
} gc_options;

/* Parses argv (after the subcommand name). Unknown options, missing values and unreadable job
 * files are usage errors with one message. */
int gc_options_parse(gc_options *opts, const char *command, const gc_option_spec *specs, int argc, char **argv);
/* The same over several tables, e.g. a command's own options followed by groups declared once and
 * shared by select, stream and the Python package (src/select/selector.h): `groups` ends with NULL,
 * each table with a {NULL} entry, and a name declared twice is a programming error (GC_ERR_USAGE). */
int gc_options_parse_groups(gc_options *opts, const char *command, const gc_option_spec *const *groups, int argc,
                            char **argv);
void gc_options_destroy(gc_options *opts);

/* Resolved value: command line, else job file, else the table's default; NULL when none. */
const char *gc_options_get(const gc_options *opts, const char *name);
int gc_options_is_set(const gc_options *opts, const char *name);
int gc_options_get_long(const gc_options *opts, const char *name, long min, long max, long *out);
int gc_options_get_double(const gc_options *opts, const char *name, double min, double max, double *out);
/* on|off|true|false|yes|no|1|0 */
int gc_options_get_bool(const gc_options *opts, const char *name, int *out);
/* Value must be one of the '|'-separated choices; *out = its position. */
int gc_options_get_choice(const gc_options *opts, const char *name, const char *choices, int *out);
int gc_options_require(const gc_options *opts, const char *name);

void gc_options_print_help(const gc_option_spec *specs, const char *usage, FILE *stream);
/* "name=value" lines of every option with a value, in table order (for provenance). */
char *gc_options_resolved(const gc_options *opts);
/* "gradcore COMMAND ARG…" as typed (for provenance); NULL when out of memory. */
char *gc_command_line(const char *command, int argc, char **argv);

#endif
