/* A delay line between two network namespaces, for kernels without sch_netem (tc qdisc … netem).
 *
 *   delayline DELAY_US LIFETIME_S NETNS_A NETNS_B
 *
 * Opens a TUN device "dl0" in each of the two namespaces (paths such as /run/netns/NAME), prints
 * "ready" on stdout once both exist, then moves every IP packet read from one device to the other,
 * each leaving DELAY_US microseconds after it arrived (first in, first out, per direction). The
 * caller routes the peer's address through dl0 in each namespace (MTU at most PACKET bytes) and
 * may shape dl0's egress with tc (tbf, htb) for a bandwidth. The program exits on SIGTERM or
 * SIGINT, and by itself after LIFETIME_S seconds; the devices vanish with it. It never touches its own namespace's
 * links: setns(2) moves the thread into each namespace only to open the device there.
 *
 * Timing: the timer slack is set to 1 ns and the wait is ppoll(2) with a nanosecond timeout until
 * SPIN_NS before the next packet is due, then a spin (ppoll without a timeout's sleep), since a
 * timer's wake-up in a VM takes tens of µs. A packet then leaves within the scheduler's latency of
 * its due time; on a loaded machine that is more than the setting: measure the path, as
 * bench/netem/netem.sh does, never assume the setting. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

enum { QUEUE = 4096, PACKET = 9216 }; /* packets per direction; bytes per packet (MTU 9000) */
enum { SPIN_NS = 50000 };

typedef struct {
    int64_t due_ns[QUEUE];
    uint32_t bytes[QUEUE];
    unsigned char *data; /* [QUEUE × PACKET] */
    unsigned head, count;
} fifo;

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig, stop = 1; }

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* A TUN device named dl0 inside the network namespace at `path`; returns its descriptor. */
static int open_tun_in(const char *path, int home)
{
    int ns = open(path, O_RDONLY | O_CLOEXEC);
    if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) {
        fprintf(stderr, "delayline: cannot enter %s: %s\n", path, strerror(errno));
        return -1;
    }
    close(ns);
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    strcpy(ifr.ifr_name, "dl0");
    if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) != 0) {
        fprintf(stderr, "delayline: cannot create dl0 in %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (setns(home, CLONE_NEWNET) != 0) return -1;
    return fd;
}

/* Reads every packet waiting on `from` into q, due `delay_ns` from now. A full queue drops the
 * packet, as a full switch buffer would; TCP retransmits it. */
static void take(int from, fifo *q, int64_t delay_ns)
{
    for (;;) {
        unsigned slot = (q->head + q->count) % QUEUE;
        unsigned char scratch[PACKET];
        unsigned char *dst = q->count < QUEUE ? q->data + (size_t)slot * PACKET : scratch;
        ssize_t n = read(from, dst, PACKET);
        if (n <= 0) return;
        if (dst == scratch) continue;
        q->due_ns[slot] = now_ns() + delay_ns;
        q->bytes[slot] = (uint32_t)n;
        q->count++;
    }
}

/* Writes the packets of q that are due to `to`; returns the due time of the next one, or -1. */
static int64_t give(int to, fifo *q)
{
    int64_t now = now_ns();
    while (q->count > 0 && q->due_ns[q->head] <= now) {
        if (write(to, q->data + (size_t)q->head * PACKET, q->bytes[q->head]) < 0 && errno == EAGAIN) break;
        q->head = (q->head + 1) % QUEUE;
        q->count--;
    }
    return q->count > 0 ? q->due_ns[q->head] : -1;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: delayline DELAY_US LIFETIME_S NETNS_A NETNS_B\n");
        return 2;
    }
    const int64_t delay_ns = (int64_t)(atof(argv[1]) * 1000.0);
    const int64_t end_ns = now_ns() + (int64_t)(atof(argv[2]) * 1e9);
    prctl(PR_SET_TIMERSLACK, 1UL);
    int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    int a = open_tun_in(argv[3], home), b = open_tun_in(argv[4], home);
    fifo q[2] = { { .data = malloc((size_t)QUEUE * PACKET) }, { .data = malloc((size_t)QUEUE * PACKET) } };
    if (home < 0 || a < 0 || b < 0 || !q[0].data || !q[1].data) return 1;
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    printf("ready\n");
    fflush(stdout);
    struct pollfd fds[2] = { { a, POLLIN, 0 }, { b, POLLIN, 0 } };
    while (!stop && now_ns() < end_ns) {
        int64_t next_a = give(b, &q[0]), next_b = give(a, &q[1]), next = next_a;
        if (next < 0 || (next_b >= 0 && next_b < next)) next = next_b;
        struct timespec wait = { 1, 0 };
        if (next >= 0) {
            int64_t left = next - now_ns() - SPIN_NS;
            if (left < 0) left = 0;
            wait.tv_sec = left / 1000000000;
            wait.tv_nsec = left % 1000000000;
        }
        if (ppoll(fds, 2, &wait, NULL) < 0 && errno != EINTR) break;
        if (fds[0].revents & POLLIN) take(a, &q[0], delay_ns);
        if (fds[1].revents & POLLIN) take(b, &q[1], delay_ns);
    }
    return 0;
}
