#include "output_guard.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/error.h"
#include "dataset.h"

enum { PATH_BYTES = 4096, MAX_TEMPORARIES = 16 };

/* ---- the identity of a path ---- */

typedef struct {
    const char *option;
    const char *path;
    gc_guard_role role;
    int exists;
    struct stat st; /* of the path when it exists, else of its directory */
    char name[256]; /* the last component, for an output that does not exist yet */
} guarded_path;

static const char *file_kind(mode_t mode)
{
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISLNK(mode)) return "a dangling symbolic link";
    return "not a regular file";
}

/* stat() follows links: an input reached through a link is the file it names. An output path that
 * does not exist is identified by its directory and name. */
static int identify(guarded_path *p)
{
    if (stat(p->path, &p->st) == 0) {
        p->exists = 1;
        return GC_OK;
    }
    struct stat link;
    if (lstat(p->path, &link) == 0) { /* a dangling symbolic link */
        p->exists = 1;
        p->st = link;
        return GC_OK;
    }
    char copy[PATH_BYTES], copy2[PATH_BYTES];
    snprintf(copy, sizeof copy, "%s", p->path);
    snprintf(copy2, sizeof copy2, "%s", p->path);
    snprintf(p->name, sizeof p->name, "%s", basename(copy2));
    const char *dir = dirname(copy);
    if (stat(dir, &p->st) != 0 || !S_ISDIR(p->st.st_mode))
        return gc_fail(GC_ERR_IO, "--%s %s: the directory %s does not exist", p->option, p->path, dir);
    return GC_OK;
}

static int same_file(const guarded_path *a, const guarded_path *b)
{
    if (a->exists != b->exists || a->st.st_dev != b->st.st_dev || a->st.st_ino != b->st.st_ino) return 0;
    return a->exists || strcmp(a->name, b->name) == 0;
}

/* ---- collecting the paths ---- */

typedef struct {
    guarded_path *paths;
    char **owned; /* expanded shard names */
    int count, owned_count;
} path_set;

static int add(path_set *s, const char *option, const char *path, gc_guard_role role)
{
    guarded_path *grown = gc_realloc(s->paths, (size_t)(s->count + 1) * sizeof *grown);
    GC_CHECK_ALLOC(grown);
    s->paths = grown;
    memset(&grown[s->count], 0, sizeof *grown);
    grown[s->count].option = option;
    grown[s->count].path = path;
    grown[s->count].role = role;
    s->count++;
    return GC_OK;
}

static int add_list(path_set *s, const char *option, const char *spec)
{
    char **paths;
    int count;
    GC_TRY(gc_dataset_paths(option, spec, &paths, &count));
    char **owned = gc_realloc(s->owned, (size_t)(s->owned_count + count + 1) * sizeof *owned);
    int status = owned ? GC_OK : gc_fail(GC_ERR_MEMORY, "out of memory");
    if (owned) s->owned = owned;
    for (int i = 0; i < count && status == GC_OK; ++i) {
        s->owned[s->owned_count++] = paths[i];
        paths[i] = NULL;
        status = add(s, option, s->owned[s->owned_count - 1], GC_GUARD_INPUT);
    }
    gc_dataset_paths_free(paths, count);
    return status;
}

static void path_set_destroy(path_set *s)
{
    for (int i = 0; i < s->owned_count; ++i) free(s->owned[i]);
    free(s->owned);
    free(s->paths);
}

static int is_output(const guarded_path *p) { return p->role == GC_GUARD_OUTPUT || p->role == GC_GUARD_OUTPUT_DIR; }

/* ---- the checks ---- */

static int check_kind(const guarded_path *p)
{
    if (!p->exists) return GC_OK;
    if (p->role == GC_GUARD_OUTPUT_DIR) {
        if (!S_ISDIR(p->st.st_mode))
            return gc_fail(GC_ERR_IO, "--%s %s exists and is %s, not a directory: refusing to use it", p->option,
                           p->path, S_ISREG(p->st.st_mode) ? "a regular file" : file_kind(p->st.st_mode));
        return GC_OK;
    }
    if (!S_ISREG(p->st.st_mode))
        return gc_fail(GC_ERR_IO,
                       "--%s %s exists and is %s: refusing to replace it (outputs replace regular files only)",
                       p->option, p->path, file_kind(p->st.st_mode));
    return GC_OK;
}

/* Creates and removes a file where the output will be written: its temporary name for a file, a
 * temporary inside an existing directory output, or beside a directory output yet to be made. */
static int check_writable(const guarded_path *p)
{
    char target[PATH_BYTES], tmp[PATH_BYTES + 32];
    if (p->role == GC_GUARD_OUTPUT_DIR && p->exists)
        snprintf(target, sizeof target, "%s/.write-test", p->path);
    else
        snprintf(target, sizeof target, "%s", p->path);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", target, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        return gc_fail(GC_ERR_IO, "--%s %s: cannot create files there: %s", p->option, p->path, strerror(errno));
    close(fd);
    unlink(tmp);
    return GC_OK;
}

/* A "<prefix>.tmp.<pid>" entry whose process is gone from this host and that nobody holds locked. */
static void remove_if_stale(const char *dir, const char *entry, const char *prefix)
{
    const size_t len = strlen(prefix);
    if (strncmp(entry, prefix, len) != 0 || strncmp(entry + len, ".tmp.", 5) != 0) return;
    const char *digits = entry + len + 5;
    char *end;
    long pid = strtol(digits, &end, 10);
    if (end == digits || *end != '\0' || pid <= 0 || pid == (long)getpid()) return;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) return;
    char path[PATH_BYTES * 2];
    snprintf(path, sizeof path, "%s/%s", dir, entry);
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) return;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) unlink(path);
    close(fd);
}

static void sweep(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (d == NULL) return;
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (prefix != NULL) {
            remove_if_stale(dir, e->d_name, prefix);
            continue;
        }
        /* Inside a directory output: any "<name>.tmp.<pid>". */
        char name[256];
        snprintf(name, sizeof name, "%s", e->d_name);
        char *tmp = strstr(name, ".tmp.");
        if (tmp == NULL) continue;
        *tmp = '\0';
        remove_if_stale(dir, e->d_name, name);
    }
    closedir(d);
}

static void sweep_stale(const guarded_path *p)
{
    char copy[PATH_BYTES], copy2[PATH_BYTES];
    snprintf(copy, sizeof copy, "%s", p->path);
    snprintf(copy2, sizeof copy2, "%s", p->path);
    if (p->role == GC_GUARD_OUTPUT_DIR && p->exists) sweep(p->path, NULL);
    sweep(dirname(copy), basename(copy2));
}

static int check_all(path_set *s)
{
    for (int i = 0; i < s->count; ++i) {
        guarded_path *p = &s->paths[i];
        if (is_output(p))
            GC_TRY(identify(p));
        else
            p->exists = stat(p->path, &p->st) == 0; /* a missing input is its command's to report */
    }
    for (int i = 0; i < s->count; ++i) {
        const guarded_path *o = &s->paths[i];
        if (!is_output(o)) continue;
        for (int j = 0; j < s->count; ++j) {
            const guarded_path *x = &s->paths[j];
            if (j == i || (!is_output(x) && !x->exists) || !same_file(o, x)) continue;
            if (!is_output(x))
                return gc_fail(GC_ERR_USAGE,
                               "--%s %s is the same file as the input --%s %s: refusing to write over an input",
                               o->option, o->path, x->option, x->path);
            if (j < i)
                return gc_fail(GC_ERR_USAGE, "--%s %s and --%s %s name the same file: give each output its own path",
                               x->option, x->path, o->option, o->path);
        }
    }
    for (int i = 0; i < s->count; ++i)
        if (is_output(&s->paths[i])) GC_TRY(check_kind(&s->paths[i]));
    for (int i = 0; i < s->count; ++i)
        if (is_output(&s->paths[i])) GC_TRY(check_writable(&s->paths[i]));
    for (int i = 0; i < s->count; ++i)
        if (is_output(&s->paths[i])) sweep_stale(&s->paths[i]);
    return GC_OK;
}

int gc_guard_check(const gc_options *opts, const gc_guard_option *table)
{
    path_set s = { 0 };
    int status = opts->config != NULL ? add(&s, "config", opts->config, GC_GUARD_INPUT) : GC_OK;
    for (const gc_guard_option *t = table; t->option != NULL && status == GC_OK; ++t) {
        const char *value = gc_options_get(opts, t->option);
        if (value == NULL || *value == '\0') continue;
        status = t->role == GC_GUARD_INPUTS ? add_list(&s, t->option, value) : add(&s, t->option, value, t->role);
    }
    if (status == GC_OK) status = check_all(&s);
    path_set_destroy(&s);
    return status;
}

int gc_check_free_space(const char *option, const char *path, double bytes)
{
    char copy[PATH_BYTES];
    snprintf(copy, sizeof copy, "%s", path);
    struct statvfs fs;
    if (statvfs(dirname(copy), &fs) != 0) return GC_OK; /* unknown: the write itself will tell */
    const double room = (double)fs.f_bavail * (double)fs.f_frsize;
    if (room < bytes)
        return gc_fail(GC_ERR_IO, "%s %s: needs about %.3g MB but its file system has %.3g MB free: %s", option, path,
                       bytes / 1e6, room / 1e6, strerror(ENOSPC));
    return GC_OK;
}

/* ---- temporaries ---- */

/* Written only outside the handler; the handler reads `used` first and each name whole. */
static char temporaries[MAX_TEMPORARIES][PATH_BYTES];
static volatile sig_atomic_t temporary_used[MAX_TEMPORARIES];

static void remove_temporaries(int sig)
{
    for (int i = 0; i < MAX_TEMPORARIES; ++i)
        if (temporary_used[i]) unlink(temporaries[i]);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Once, and only for signals nobody else handles: the run still dies of the signal. */
static void install_handlers(void)
{
    static int installed;
    if (installed) return;
    installed = 1;
    static const int signals[] = { SIGTERM, SIGINT, SIGHUP, SIGXCPU };
    for (size_t i = 0; i < sizeof signals / sizeof *signals; ++i) {
        struct sigaction old, action;
        if (sigaction(signals[i], NULL, &old) != 0 || old.sa_handler != SIG_DFL) continue;
        memset(&action, 0, sizeof action);
        action.sa_handler = remove_temporaries;
        sigemptyset(&action.sa_mask);
        sigaction(signals[i], &action, NULL);
    }
}

void gc_temporary_name(const char *path, char *buf, size_t size)
{
    snprintf(buf, size, "%s.tmp.%ld", path, (long)getpid());
    install_handlers();
    for (int i = 0; i < MAX_TEMPORARIES; ++i)
        if (!temporary_used[i]) {
            snprintf(temporaries[i], sizeof temporaries[i], "%s", buf);
            temporary_used[i] = 1;
            return;
        }
}

void gc_temporary_forget(const char *tmp)
{
    for (int i = 0; i < MAX_TEMPORARIES; ++i)
        if (temporary_used[i] && strcmp(temporaries[i], tmp) == 0) temporary_used[i] = 0;
}

int gc_commit_output(const char *option, const char *tmp, const char *path, int status)
{
    if (status != GC_OK) {
        unlink(tmp);
        gc_temporary_forget(tmp);
        return status;
    }
    int rc = rename(tmp, path), err = errno;
    if (rc != 0) unlink(tmp);
    gc_temporary_forget(tmp);
    if (rc != 0)
        return gc_fail(GC_ERR_IO, "%s %s: cannot rename the finished file into place: %s", option, path, strerror(err));
    return GC_OK;
}
