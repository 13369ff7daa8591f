#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static const gc_option_spec *find_spec(const gc_option_spec *specs, const char *name)
{
    for (const gc_option_spec *s = specs; s->name != NULL; ++s)
        if (strcmp(s->name, name) == 0) return s;
    return NULL;
}

static int find_entry(const gc_options *opts, const char *name)
{
    for (int i = 0; i < opts->count; ++i)
        if (strcmp(opts->names[i], name) == 0) return i;
    return -1;
}

static int set_value(gc_options *opts, const char *name, const char *value, int from_command_line)
{
    int i = find_entry(opts, name);
    if (i >= 0) {
        if (opts->from_command_line[i] && !from_command_line) return GC_OK; /* flags win */
        char *copy = gc_strdup(value);
        GC_CHECK_ALLOC(copy);
        free(opts->values[i]);
        opts->values[i] = copy;
        opts->from_command_line[i] = from_command_line;
        return GC_OK;
    }
    int n = opts->count + 1;
    char **names = gc_realloc(opts->names, (size_t)n * sizeof *names);
    GC_CHECK_ALLOC(names);
    opts->names = names;
    char **values = gc_realloc(opts->values, (size_t)n * sizeof *values);
    GC_CHECK_ALLOC(values);
    opts->values = values;
    int *flags = gc_realloc(opts->from_command_line, (size_t)n * sizeof *flags);
    GC_CHECK_ALLOC(flags);
    opts->from_command_line = flags;
    char *name_copy = gc_strdup(name), *value_copy = gc_strdup(value);
    if (name_copy == NULL || value_copy == NULL) { /* the entry is not counted: free what it got */
        free(name_copy);
        free(value_copy);
        return gc_fail(GC_ERR_MEMORY, "out of memory for option --%s", name);
    }
    opts->names[opts->count] = name_copy;
    opts->values[opts->count] = value_copy;
    opts->from_command_line[opts->count] = from_command_line;
    opts->count = n;
    return GC_OK;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) ++s;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1])) *--end = '\0';
    return s;
}

/* INI job file: "key = value" lines; '#' or ';' start comments; [sections] are ignored so one
 * file may hold the options of several subcommands' sections for readability. */
static int load_job_file(gc_options *opts, const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) return gc_fail(GC_ERR_USAGE, "--config %s: cannot open job file: %s", path, strerror(errno));
    char line[4096];
    int lineno = 0, status = GC_OK;
    while (status == GC_OK && fgets(line, sizeof line, f) != NULL) {
        ++lineno;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            status = gc_fail(GC_ERR_USAGE, "%s:%d: line longer than %zu characters", path, lineno, sizeof line - 1);
            break;
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '#' || *s == ';' || *s == '[') continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            status = gc_fail(GC_ERR_USAGE, "%s:%d: expected 'key = value'", path, lineno);
            break;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        const gc_option_spec *spec = find_spec(opts->specs, key);
        if (spec == NULL || strcmp(key, "config") == 0) {
            status =
                gc_fail(GC_ERR_USAGE, "%s:%d: unknown option '%s' for 'gradcore %s'", path, lineno, key, opts->command);
            break;
        }
        status = set_value(opts, key, value, 0);
    }
    fclose(f);
    return status;
}

int gc_options_parse(gc_options *opts, const char *command, const gc_option_spec *specs, int argc, char **argv)
{
    memset(opts, 0, sizeof *opts);
    opts->command = command;
    opts->specs = specs;
    const char *config = NULL;
    for (int i = 0; i < argc; ++i) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            opts->help_requested = 1;
            continue;
        }
        if (strcmp(arg, "--version") == 0) {
            opts->version_requested = 1;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0)
            return gc_fail(GC_ERR_USAGE, "unexpected argument '%s' (options start with --)", arg);
        char name[128];
        const char *eq = strchr(arg + 2, '=');
        size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        if (len == 0 || len >= sizeof name) return gc_fail(GC_ERR_USAGE, "malformed option '%s'", arg);
        memcpy(name, arg + 2, len);
        name[len] = '\0';
        const gc_option_spec *spec = find_spec(specs, name);
        if (spec == NULL)
            return gc_fail(GC_ERR_USAGE, "unknown option '--%s' for 'gradcore %s' (see --help)", name, command);
        const char *value;
        if (eq != NULL) {
            value = eq + 1;
        } else if (spec->kind == GC_OPT_FLAG) {
            value = "on";
        } else {
            if (i + 1 >= argc) return gc_fail(GC_ERR_USAGE, "option --%s needs a value", name);
            value = argv[++i];
        }
        if (strcmp(name, "config") == 0)
            config = value;
        else
            GC_TRY(set_value(opts, name, value, 1));
    }
    if (config != NULL && !opts->help_requested) {
        opts->config = gc_strdup(config);
        GC_CHECK_ALLOC(opts->config);
        GC_TRY(load_job_file(opts, config));
    }
    return GC_OK;
}

int gc_options_parse_groups(gc_options *opts, const char *command, const gc_option_spec *const *groups, int argc,
                            char **argv)
{
    size_t n = 0;
    for (const gc_option_spec *const *g = groups; *g != NULL; ++g)
        for (const gc_option_spec *s = *g; s->name != NULL; ++s) ++n;
    gc_option_spec *all = gc_calloc(n + 1, sizeof *all);
    GC_CHECK_ALLOC(all);
    n = 0;
    for (const gc_option_spec *const *g = groups; *g != NULL; ++g)
        for (const gc_option_spec *s = *g; s->name != NULL; ++s) {
            for (size_t j = 0; j < n; ++j)
                if (strcmp(all[j].name, s->name) == 0) {
                    free(all);
                    return gc_fail(GC_ERR_USAGE, "gradcore %s: option --%s is declared twice", command, s->name);
                }
            all[n++] = *s;
        }
    int status = gc_options_parse(opts, command, all, argc, argv);
    opts->owned_specs = all; /* after parse, which clears opts */
    return status;
}

void gc_options_destroy(gc_options *opts)
{
    free(opts->owned_specs);
    for (int i = 0; i < opts->count; ++i) {
        free(opts->names[i]);
        free(opts->values[i]);
    }
    free(opts->names);
    free(opts->values);
    free(opts->from_command_line);
    free(opts->config);
    memset(opts, 0, sizeof *opts);
}

const char *gc_options_get(const gc_options *opts, const char *name)
{
    int i = find_entry(opts, name);
    if (i >= 0) return opts->values[i];
    const gc_option_spec *spec = find_spec(opts->specs, name);
    return spec ? spec->default_value : NULL;
}

int gc_options_is_set(const gc_options *opts, const char *name) { return find_entry(opts, name) >= 0; }

int gc_options_require(const gc_options *opts, const char *name)
{
    const char *v = gc_options_get(opts, name);
    if (v == NULL || *v == '\0')
        return gc_fail(GC_ERR_USAGE, "option --%s is required for 'gradcore %s'", name, opts->command);
    return GC_OK;
}

int gc_options_get_long(const gc_options *opts, const char *name, long min, long max, long *out)
{
    const char *v = gc_options_get(opts, name);
    if (v == NULL) return gc_fail(GC_ERR_USAGE, "option --%s is required", name);
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno == ERANGE) return gc_fail(GC_ERR_USAGE, "option --%s: %s is outside [%ld, %ld]", name, v, min, max);
    if (errno != 0 || end == v || *end != '\0')
        return gc_fail(GC_ERR_USAGE, "option --%s: '%s' is not an integer", name, v);
    if (x < min || x > max) return gc_fail(GC_ERR_USAGE, "option --%s: %ld is outside [%ld, %ld]", name, x, min, max);
    *out = x;
    return GC_OK;
}

int gc_options_get_double(const gc_options *opts, const char *name, double min, double max, double *out)
{
    const char *v = gc_options_get(opts, name);
    if (v == NULL) return gc_fail(GC_ERR_USAGE, "option --%s is required", name);
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno == ERANGE && end != v && *end == '\0' && fabs(x) > 1.0)
        return gc_fail(GC_ERR_USAGE, "option --%s: %s is outside [%g, %g]", name, v, min, max);
    if (errno != 0 || end == v || *end != '\0' || !isfinite(x))
        return gc_fail(GC_ERR_USAGE, "option --%s: '%s' is not a number", name, v);
    if (x < min || x > max) return gc_fail(GC_ERR_USAGE, "option --%s: %g is outside [%g, %g]", name, x, min, max);
    *out = x;
    return GC_OK;
}

int gc_options_get_bool(const gc_options *opts, const char *name, int *out)
{
    int choice;
    const char *v = gc_options_get(opts, name);
    if (v == NULL) return gc_fail(GC_ERR_USAGE, "option --%s is required", name);
    static const char *yes[] = { "on", "true", "yes", "1" }, *no[] = { "off", "false", "no", "0" };
    for (choice = 0; choice < 4; ++choice) {
        if (strcmp(v, yes[choice]) == 0) return *out = 1, GC_OK;
        if (strcmp(v, no[choice]) == 0) return *out = 0, GC_OK;
    }
    return gc_fail(GC_ERR_USAGE, "option --%s: '%s' is not on/off", name, v);
}

int gc_options_get_choice(const gc_options *opts, const char *name, const char *choices, int *out)
{
    const char *v = gc_options_get(opts, name);
    if (v == NULL) return gc_fail(GC_ERR_USAGE, "option --%s is required", name);
    size_t vlen = strlen(v);
    int index = 0;
    for (const char *c = choices; *c != '\0'; ++index) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (len == vlen && strncmp(c, v, len) == 0) return *out = index, GC_OK;
        if (bar == NULL) break;
        c = bar + 1;
    }
    return gc_fail(GC_ERR_USAGE, "option --%s: '%s' is not one of %s", name, v, choices);
}

void gc_options_print_help(const gc_option_spec *specs, const char *usage, FILE *stream)
{
    fprintf(stream, "%s\n\nOptions (also as 'name = value' lines of an INI job file; flags win):\n", usage);
    for (const gc_option_spec *s = specs; s->name != NULL; ++s) {
        char left[96];
        snprintf(left, sizeof left, "--%s%s%s", s->name, s->metavar ? " " : "", s->metavar ? s->metavar : "");
        /* Pad by characters, not bytes: metavars such as α or λ are two bytes wide in UTF-8. */
        int width = 0;
        for (const char *c = left; *c != '\0'; ++c) width += ((unsigned char)*c & 0xC0) != 0x80;
        fprintf(stream, "  %s%*s %s", left, width < 28 ? 28 - width : 0, "", s->help);
        if (s->default_value != NULL) fprintf(stream, " [default: %s]", s->default_value);
        fputc('\n', stream);
    }
    fprintf(stream, "  %-28s %s\n  %-28s %s\n", "--help", "show this help", "--version", "show the version");
}

char *gc_options_resolved(const gc_options *opts)
{
    size_t cap = 1, used = 0;
    for (const gc_option_spec *s = opts->specs; s->name != NULL; ++s) {
        const char *v = gc_options_get(opts, s->name);
        if (v != NULL) cap += strlen(s->name) + strlen(v) + 2;
    }
    char *out = gc_malloc(cap);
    if (out == NULL) return NULL;
    out[0] = '\0';
    for (const gc_option_spec *s = opts->specs; s->name != NULL; ++s) {
        const char *v = gc_options_get(opts, s->name);
        if (v != NULL) used += (size_t)sprintf(out + used, "%s=%s\n", s->name, v);
    }
    return out;
}

char *gc_command_line(const char *command, int argc, char **argv)
{
    size_t len = strlen("gradcore ") + strlen(command) + 1;
    for (int i = 0; i < argc; ++i) len += strlen(argv[i]) + 1;
    char *s = gc_malloc(len);
    if (s == NULL) return NULL;
    snprintf(s, len, "gradcore %s", command);
    for (int i = 0; i < argc; ++i) {
        strcat(s, " ");
        strcat(s, argv[i]);
    }
    return s;
}
