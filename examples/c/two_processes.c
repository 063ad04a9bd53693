/*
 * Two real processes share a Value<u64> and a Mutex<[u64; 2]> by name,
 * from C: the C mirror of examples/two_processes.rs.
 *
 *   cc -std=c11 -I include examples/c/two_processes.c -L target/debug \
 *      -lshmkit_ffi -Wl,-rpath,target/debug -o two_processes
 *   ./two_processes [ITERATIONS]
 *
 * 1. The parent creates both objects; a child (this program run again with
 *    a role argument) opens them by name. Both increment the counter under
 *    its lock and bump both halves of the pair under the mutex, many times.
 *    The counts come out exact.
 * 2. Another child takes the mutex, writes half an update, and is killed
 *    with SIGKILL while holding it. The parent's next lock returns
 *    SHMKIT_OWNER_DIED with the lock held; it rolls the half update back,
 *    and the lock works as before.
 *
 * A Rust program can open the same objects as shmkit::Value<u64> and
 * shmkit::Mutex<[u64; 2]>: the C types below describe the same layouts.
 */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#include "shmkit.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TRY(call)                                                                                      \
    do {                                                                                               \
        shmkit_status st_ = (call);                                                                    \
        if (st_ != SHMKIT_OK) {                                                                        \
            fprintf(stderr, "two_processes: %s: %s (%s)\n", #call, shmkit_last_error_message(),        \
                    shmkit_status_name(st_));                                                          \
            exit(1);                                                                                   \
        }                                                                                              \
    } while (0)

typedef struct {
    shmkit_type *u64, *pair_type;
    shmkit_value *counter;
    shmkit_mutex *pair;
} Objects;

/* Opens (or, with how = SHMKIT_CREATE, creates) both objects. */
static Objects attach(const char *counter_name, const char *pair_name, uint32_t how) {
    Objects o;
    TRY(shmkit_type_new_primitive(SHMKIT_U64, &o.u64));
    TRY(shmkit_type_new_array(o.u64, 2, &o.pair_type)); /* Rust [u64; 2] */
    TRY(shmkit_value_new(counter_name, how, o.u64, NULL, 0, NULL, &o.counter));
    TRY(shmkit_mutex_new(pair_name, how, o.pair_type, NULL, 0, NULL, &o.pair));
    return o;
}

static void detach(Objects *o) {
    TRY(shmkit_mutex_free(o->pair));
    TRY(shmkit_value_free(o->counter));
    TRY(shmkit_type_free(o->pair_type));
    TRY(shmkit_type_free(o->u64));
}

static void work(Objects *o, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        void *data;
        TRY(shmkit_value_lock(o->counter, &data));
        *(uint64_t *)data += 1;
        TRY(shmkit_value_unlock(o->counter));
        TRY(shmkit_mutex_lock(o->pair, &data));
        ((uint64_t *)data)[0] += 1;
        ((uint64_t *)data)[1] += 1;
        TRY(shmkit_mutex_unlock(o->pair));
    }
}

/* Runs this program again as `role`; its stdout comes back through *out. */
static pid_t spawn(const char *role, const char *a, const char *b, const char *c, FILE **out) {
    int fds[2];
    if (pipe(fds) != 0) exit(1);
    pid_t pid = fork();
    if (pid < 0) exit(1);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl("/proc/self/exe", "two_processes", role, a, b, c, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    *out = fdopen(fds[0], "r");
    return pid;
}

static void expect_line(FILE *f, const char *marker) {
    char line[64];
    if (!fgets(line, sizeof line, f) || strncmp(line, marker, strlen(marker)) != 0) {
        fprintf(stderr, "two_processes: the child did not say %s\n", marker);
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "--worker") == 0) {
        Objects o = attach(argv[2], argv[3], SHMKIT_OPEN);
        printf("READY\n");
        fflush(stdout);
        work(&o, strtoull(argv[4], NULL, 10));
        detach(&o);
        return 0;
    }
    if (argc == 5 && strcmp(argv[1], "--holder") == 0) {
        Objects o = attach(argv[2], argv[3], SHMKIT_OPEN);
        void *data;
        TRY(shmkit_mutex_lock(o.pair, &data));
        ((uint64_t *)data)[0] += 1000; /* half an update... */
        printf("HOLDING\n");
        fflush(stdout);
        for (;;) pause(); /* ...and killed here */
    }

    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000;
    char counter_name[64], pair_name[64], n_text[32];
    snprintf(counter_name, sizeof counter_name, "two-processes-c-%d-counter", (int)getpid());
    snprintf(pair_name, sizeof pair_name, "two-processes-c-%d-pair", (int)getpid());
    snprintf(n_text, sizeof n_text, "%llu", (unsigned long long)n);
    /* The creating handles remove both names when freed. */
    Objects o = attach(counter_name, pair_name, SHMKIT_CREATE);
    printf("parent %d created '%s' (Value<u64>) and '%s' (Mutex<[u64; 2]>)\n", (int)getpid(), counter_name,
           pair_name);

    /* Part 1: two processes, same work, exact totals. */
    FILE *out;
    pid_t worker = spawn("--worker", counter_name, pair_name, n_text, &out);
    expect_line(out, "READY");
    work(&o, n);
    int status;
    waitpid(worker, &status, 0);
    fclose(out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "two_processes: the worker failed\n");
        return 1;
    }
    uint64_t total, pair[2];
    TRY(shmkit_value_load(o.counter, &total, sizeof total));
    void *data;
    TRY(shmkit_mutex_lock(o.pair, &data));
    memcpy(pair, data, sizeof pair);
    TRY(shmkit_mutex_unlock(o.pair));
    if (total != 2 * n || pair[0] != 2 * n || pair[1] != 2 * n) {
        fprintf(stderr, "two_processes: counter %llu, pair [%llu, %llu], expected %llu\n",
                (unsigned long long)total, (unsigned long long)pair[0], (unsigned long long)pair[1],
                (unsigned long long)(2 * n));
        return 1;
    }
    printf("counter = %llu, pair = [%llu, %llu]: exact\n", (unsigned long long)total,
           (unsigned long long)pair[0], (unsigned long long)pair[1]);

    /* Part 2: a holder dies; the next locker is told and repairs. */
    pid_t holder = spawn("--holder", counter_name, pair_name, n_text, &out);
    expect_line(out, "HOLDING");
    kill(holder, SIGKILL);
    waitpid(holder, &status, 0);
    fclose(out);
    shmkit_status st = shmkit_mutex_lock(o.pair, &data);
    if (st != SHMKIT_OWNER_DIED) {
        fprintf(stderr, "two_processes: expected SHMKIT_OWNER_DIED, got %s\n", shmkit_status_name(st));
        return 1;
    }
    uint64_t *p = data;
    printf("SHMKIT_OWNER_DIED: the holder died holding the lock; pair = [%llu, %llu], rolling back\n",
           (unsigned long long)p[0], (unsigned long long)p[1]);
    p[0] = p[1]; /* repair: the halves must agree */
    TRY(shmkit_mutex_unlock(o.pair));
    TRY(shmkit_mutex_lock(o.pair, &data));
    printf("locked again cleanly: pair = [%llu, %llu]\n", (unsigned long long)((uint64_t *)data)[0],
           (unsigned long long)((uint64_t *)data)[1]);
    TRY(shmkit_mutex_unlock(o.pair));
    detach(&o);
    return 0;
}
