#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/error.h"

enum { GRACE_S = 5 };

int gc_lock_acquire(gc_lock *lock, const char *lock_path, const char *option, const char *what)
{
    lock->fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock->fd < 0)
        return gc_fail(GC_ERR_IO, "%s %s: cannot create the lock file %s: %s", option, what, lock_path,
                       strerror(errno));
    /* A holder that was just killed may take a moment to go (a rank in an fsync when SIGKILL came):
     * it is given GRACE_S seconds, a live job never lets go that soon. */
    int rc = flock(lock->fd, LOCK_EX | LOCK_NB);
    for (int tries = 0; rc != 0 && errno == EWOULDBLOCK && tries < GRACE_S * 10; ++tries) {
        usleep(100000);
        rc = flock(lock->fd, LOCK_EX | LOCK_NB);
    }
    if (rc != 0) {
        int err = errno;
        char holder[128] = "";
        ssize_t n = pread(lock->fd, holder, sizeof holder - 1, 0);
        holder[n > 0 ? n : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        close(lock->fd);
        lock->fd = -1;
        if (err == EWOULDBLOCK)
            return gc_fail(GC_ERR_IO, "%s %s is in use by another gradcore job (pid %s): wait for it to finish", option,
                           what, holder[0] ? holder : "unknown");
        return gc_fail(GC_ERR_IO, "%s %s: cannot lock %s: %s", option, what, lock_path, strerror(err));
    }
    char holder[128], host[64] = "?";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    int len = snprintf(holder, sizeof holder, "%ld on %s\n", (long)getpid(), host);
    /* Best effort: without it the lock is held all the same, only a refusal cannot name the holder. */
    if (ftruncate(lock->fd, 0) == 0) len = (int)pwrite(lock->fd, holder, (size_t)len, 0);
    return GC_OK;
}

void gc_lock_release(gc_lock *lock)
{
    if (lock->fd >= 0) close(lock->fd);
    lock->fd = -1;
}
