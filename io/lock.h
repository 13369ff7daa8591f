/* Exclusive locks on state that lasts between jobs (the stream state, the checkpoint directory), so
 * that a second job on the same state fails at once instead of racing the first (docs/design.md
 * §6, §9). The lock is flock(2) on a lock file that is never removed (removing it would let
 * two jobs hold locks on two different files of one name); the kernel releases it when the holder
 * exits or dies, so a killed job never leaves a stale lock. On NFS, Linux maps flock to POSIX
 * byte-range locks, which the server arbitrates across hosts. The holder writes "pid host" into the
 * file so the refusal can say who holds it. One process (rank 0) takes the lock for the job. */
#ifndef GC_LOCK_H
#define GC_LOCK_H

typedef struct {
    int fd; /* -1: not held */
} gc_lock;

/* Takes the lock on `lock_path`; when another process still holds it after a grace of 5 s (for a
 * killed holder that is still going), an error naming `option` and `what` (the state it protects)
 * and the holder (GC_ERR_IO). */
int gc_lock_acquire(gc_lock *lock, const char *lock_path, const char *option, const char *what);
void gc_lock_release(gc_lock *lock);

#endif
