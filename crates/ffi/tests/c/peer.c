/*
 * The C peer of the cross-language tests (tests/c.rs): one program, one
 * role per run, each a real process beside the Rust test process.
 *
 *   peer queue_send NAME N         send 0..N-1 on the Queue<u64> NAME
 *   peer mutex_create NAME N       create Mutex<u64> NAME, then N increments
 *   peer mutex_inc NAME N          N increments of the Mutex<u64> NAME
 *   peer mutex_hold NAME           lock it, half-update, then hang (killed)
 *   peer value_create NAME         create Value<Job> NAME = {7, 0.5, 3}
 *   peer value_check NAME ID       open Value<Job> NAME, expect id == ID
 *   peer value_bad NAME            open it with `weight` as uint32_t: refused
 *   peer bytes_send NAME N SEED    N random messages, zero-copy, on a ByteQueue
 *   peer mq_send NAME N ID         N messages of random sizes on the MessageQueue NAME
 *   peer jobq_send NAME N          send Job {i, i/2, 7i} for i < N on the Queue<Job> NAME
 *   peer rwlock_write NAME         wait for the write lock of RwLock<Job> NAME, write {42, 2.5, 9}
 *   peer wait_any PREFIX           wait on the queues PREFIX-a, PREFIX-b and the event PREFIX-e
 *   peer errors PREFIX             every error path returns its status
 *   peer all PREFIX                create, use and free every object kind
 *
 * Exit status 0 on success; a failure prints one line to stderr.
 */
#include "shmkit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#define MS 1000000ull

static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "peer: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* CHECK(call): the call must return SHMKIT_OK. */
#define CHECK(call)                                                                                    \
    do {                                                                                               \
        shmkit_status st_ = (call);                                                                    \
        if (st_ != SHMKIT_OK)                                                                          \
            fail("%s:%d: %s -> %s: %s", __FILE__, __LINE__, #call, shmkit_status_name(st_),           \
                 shmkit_last_error_message());                                                         \
    } while (0)

/* EXPECT(call, status, text): the call returns `status` and a message that
 * contains `text`. */
#define EXPECT(call, status, text)                                                                     \
    do {                                                                                               \
        shmkit_status st_ = (call);                                                                    \
        if (st_ != (status))                                                                           \
            fail("%s:%d: %s -> %s, expected %s (%s)", __FILE__, __LINE__, #call,                      \
                 shmkit_status_name(st_), #status, shmkit_last_error_message());                       \
        if (strstr(shmkit_last_error_message(), (text)) == NULL)                                       \
            fail("%s:%d: %s: message \"%s\" lacks \"%s\"", __FILE__, __LINE__, #call,                 \
                 shmkit_last_error_message(), (text));                                                 \
    } while (0)

/* The Rust test's #[derive(ShmType)] struct Job. */
typedef struct {
    uint64_t id;
    float weight;
    uint32_t flags;
} Job;

static shmkit_type *job_type(int weight_code) {
    shmkit_type *t = NULL;
    CHECK(shmkit_type_new_struct("Job", sizeof(Job), _Alignof(Job), &t));
    CHECK(shmkit_type_add_field_primitive(t, "id", offsetof(Job, id), SHMKIT_U64));
    CHECK(shmkit_type_add_field_primitive(t, "weight", offsetof(Job, weight), weight_code));
    CHECK(shmkit_type_add_field_primitive(t, "flags", offsetof(Job, flags), SHMKIT_U32));
    return t;
}

static shmkit_type *prim(uint32_t code) {
    shmkit_type *t = NULL;
    CHECK(shmkit_type_new_primitive(code, &t));
    return t;
}

static uint64_t rng_next(uint64_t *x) {
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 0x2545F4914F6CDD1Dull;
}

static int queue_send(const char *name, uint64_t n) {
    shmkit_type *u64 = prim(SHMKIT_U64);
    shmkit_queue *q = NULL;
    shmkit_sender *tx = NULL;
    CHECK(shmkit_queue_new(name, SHMKIT_OPEN, u64, 0, SHMKIT_MPMC, NULL, &q));
    CHECK(shmkit_queue_sender(q, &tx));
    uint64_t i = 0;
    /* The first half one by one, the rest in batches. */
    for (; i < n / 2; i++) CHECK(shmkit_sender_send(tx, &i));
    uint64_t batch[100];
    while (i < n) {
        size_t k = 0, sent = 0;
        for (; k < 100 && i + k < n; k++) batch[k] = i + k;
        CHECK(shmkit_sender_send_batch(tx, batch, k, &sent));
        if (sent != k) fail("sent %zu of %zu", sent, k);
        i += k;
    }
    CHECK(shmkit_sender_free(tx));
    CHECK(shmkit_queue_free(q));
    CHECK(shmkit_type_free(u64));
    return 0;
}

static void increments(shmkit_mutex *m, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        void *data = NULL;
        CHECK(shmkit_mutex_lock(m, &data));
        *(uint64_t *)data += 1;
        CHECK(shmkit_mutex_unlock(m));
    }
}

static int mutex_role(const char *role, const char *name, uint64_t n) {
    shmkit_type *u64 = prim(SHMKIT_U64);
    shmkit_mutex *m = NULL;
    if (strcmp(role, "mutex_create") == 0) {
        CHECK(shmkit_mutex_new(name, SHMKIT_CREATE, u64, NULL, 0, NULL, &m));
        /* The test process removes the name. */
        CHECK(shmkit_mutex_persist(m));
        printf("READY\n");
        fflush(stdout);
    } else {
        CHECK(shmkit_mutex_new(name, SHMKIT_OPEN, u64, NULL, 0, NULL, &m));
    }
    if (strcmp(role, "mutex_hold") == 0) {
        void *data = NULL;
        CHECK(shmkit_mutex_lock(m, &data));
        *(uint64_t *)data = 999999; /* half an update */
        printf("HOLDING\n");
        fflush(stdout);
        for (;;) pause();
    }
    increments(m, n);
    CHECK(shmkit_mutex_free(m));
    CHECK(shmkit_type_free(u64));
    return 0;
}

static int value_role(const char *role, const char *name, const char *arg) {
    shmkit_type *job = job_type(strcmp(role, "value_bad") == 0 ? SHMKIT_U32 : SHMKIT_F32);
    shmkit_value *v = NULL;
    if (strcmp(role, "value_create") == 0) {
        Job init = {7, 0.5f, 3};
        uint64_t fp = 0;
        CHECK(shmkit_type_fingerprint(job, &fp));
        CHECK(shmkit_value_new(name, SHMKIT_CREATE, job, &init, sizeof init, NULL, &v));
        CHECK(shmkit_value_persist(v));
        printf("FP %016llx\n", (unsigned long long)fp);
    } else if (strcmp(role, "value_check") == 0) {
        Job got;
        CHECK(shmkit_value_new(name, SHMKIT_OPEN, job, NULL, 0, NULL, &v));
        CHECK(shmkit_value_load(v, &got, sizeof got));
        if (got.id != strtoull(arg, NULL, 10) || got.weight != 2.5f || got.flags != 9)
            fail("value_check: got {%llu, %f, %u}", (unsigned long long)got.id, got.weight, got.flags);
        printf("OK\n");
    } else {
        EXPECT(shmkit_value_new(name, SHMKIT_OPEN, job, NULL, 0, NULL, &v), SHMKIT_WRONG_TYPE, "field 'weight'");
        printf("REFUSED %s\n", shmkit_last_error_message());
    }
    CHECK(shmkit_value_free(v));
    CHECK(shmkit_type_free(job));
    return 0;
}

static int bytes_send(const char *name, uint64_t n, uint64_t seed) {
    shmkit_byte_queue *q = NULL;
    shmkit_byte_sender *tx = NULL;
    CHECK(shmkit_byte_queue_new(name, SHMKIT_OPEN, 0, NULL, &q));
    CHECK(shmkit_byte_queue_sender(q, &tx));
    uint64_t x = seed;
    for (uint64_t i = 0; i < n; i++) {
        size_t len = (size_t)(rng_next(&x) % 3001);
        uint64_t fill = rng_next(&x);
        /* Every 7th reserves more than it commits. */
        size_t extra = i % 7 == 0 ? 16 : 0;
        void *buf = NULL;
        CHECK(shmkit_byte_sender_reserve(tx, len + extra, &buf));
        unsigned char *p = buf;
        for (size_t j = 0; j < len; j++) p[j] = (unsigned char)(fill + j * 31);
        CHECK(shmkit_byte_sender_commit(tx, len));
    }
    CHECK(shmkit_byte_sender_free(tx));
    CHECK(shmkit_byte_queue_free(q));
    return 0;
}

/* One of two threads sharing one byte sender: sends {id, seq} for seq in
 * 0..n, retrying while the ring is full or the other thread is inside the
 * end (SHMKIT_BUSY). */
struct shared_sender {
    shmkit_byte_sender *tx;
    uint64_t id, n, busy;
};

static void *send_on_shared(void *arg) {
    struct shared_sender *t = arg;
    for (uint64_t seq = 0; seq < t->n;) {
        uint64_t msg[2] = {t->id, seq};
        shmkit_status st = shmkit_byte_sender_try_send(t->tx, msg, sizeof msg);
        if (st == SHMKIT_OK) {
            seq++;
        } else if (st == SHMKIT_BUSY) {
            t->busy++;
        } else if (st != SHMKIT_FULL) {
            fail("thread %llu, message %llu: %s: %s", (unsigned long long)t->id, (unsigned long long)seq,
                 shmkit_status_name(st), shmkit_last_error_message());
        }
    }
    return NULL;
}

/* Two threads send n messages each through one sender; prints how often
 * one found the other inside the end. */
static int bytes_threads(const char *name, uint64_t n) {
    shmkit_byte_queue *q = NULL;
    shmkit_byte_sender *tx = NULL;
    CHECK(shmkit_byte_queue_new(name, SHMKIT_OPEN, 0, NULL, &q));
    CHECK(shmkit_byte_queue_sender(q, &tx));
    struct shared_sender t[2] = {{tx, 0, n, 0}, {tx, 1, n, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        if (pthread_create(&th[i], NULL, send_on_shared, &t[i]) != 0) fail("pthread_create");
    for (int i = 0; i < 2; i++)
        if (pthread_join(th[i], NULL) != 0) fail("pthread_join");
    printf("busy %llu\n", (unsigned long long)(t[0].busy + t[1].busy));
    fflush(stdout);
    CHECK(shmkit_byte_sender_free(tx));
    CHECK(shmkit_byte_queue_free(q));
    return 0;
}

/* Message `seq` of sender `id`: 16 bytes {id, seq}, then bytes derived from
 * them, 16 to 200 bytes in all. */
static size_t mq_message(uint64_t id, uint64_t seq, unsigned char *out) {
    uint64_t x = (id << 32 | seq) + 1;
    size_t len = 16 + (size_t)(rng_next(&x) % 185);
    memcpy(out, &id, 8);
    memcpy(out + 8, &seq, 8);
    for (size_t j = 16; j < len; j++) out[j] = (unsigned char)(rng_next(&x) >> 56);
    return len;
}

static int mq_send(const char *name, uint64_t n, uint64_t id) {
    shmkit_message_queue *q = NULL;
    shmkit_message_sender *tx = NULL;
    size_t max = 0;
    unsigned char msg[256];
    CHECK(shmkit_message_queue_new(name, SHMKIT_OPEN, 0, 0, 0, NULL, &q));
    CHECK(shmkit_message_queue_max_message_len(q, &max));
    if (max != 200) fail("max_message_len %zu", max);
    CHECK(shmkit_message_queue_sender(q, &tx));
    EXPECT(shmkit_message_sender_try_send(tx, msg, 201), SHMKIT_TOO_LARGE, "longer than the queue carries");
    for (uint64_t i = 0; i < n; i++) {
        size_t len = mq_message(id, i, msg);
        /* Alternate the blocking and the deadline forms. */
        if (i % 2) CHECK(shmkit_message_sender_send(tx, msg, len));
        else CHECK(shmkit_message_sender_send_deadline(tx, msg, len, shmkit_now_ns() + 60000 * MS));
    }
    CHECK(shmkit_message_sender_free(tx));
    CHECK(shmkit_message_queue_free(q));
    return 0;
}

static int jobq_send(const char *name, uint64_t n) {
    shmkit_type *job = job_type(SHMKIT_F32);
    shmkit_queue *q = NULL;
    shmkit_sender *tx = NULL;
    CHECK(shmkit_queue_new(name, SHMKIT_OPEN, job, 0, SHMKIT_MPMC, NULL, &q));
    CHECK(shmkit_queue_sender(q, &tx));
    uint64_t i = 0;
    for (; i < n / 2; i++) {
        Job j = {i, (float)i / 2, (uint32_t)i * 7};
        CHECK(shmkit_sender_send(tx, &j));
    }
    Job batch[10];
    while (i < n) {
        size_t k = 0, sent = 0;
        for (; k < 10 && i + k < n; k++) batch[k] = (Job){i + k, (float)(i + k) / 2, (uint32_t)(i + k) * 7};
        CHECK(shmkit_sender_send_batch(tx, batch, k, &sent));
        if (sent != k) fail("sent %zu of %zu", sent, k);
        i += k;
    }
    CHECK(shmkit_sender_free(tx));
    CHECK(shmkit_queue_free(q));
    CHECK(shmkit_type_free(job));
    return 0;
}

/* Publishes jobs 0..N on the typed lossless broadcast NAME of Job that the
 * Rust process made (a Broadcast<Job>); a description with `weight` as
 * uint32_t is refused first, and a message of the wrong size. */
static int jobbc_pub(const char *name, uint64_t n) {
    shmkit_type *job = job_type(SHMKIT_F32), *bad = job_type(SHMKIT_U32);
    shmkit_broadcast *b = NULL;
    shmkit_publisher *p = NULL;
    shmkit_status st = shmkit_broadcast_new_typed(name, SHMKIT_OPEN, bad, 0, SHMKIT_LOSSLESS, NULL, &b);
    if (st != SHMKIT_WRONG_TYPE || strstr(shmkit_last_error_message(), "weight") == NULL)
        fail("a changed field: %s: %s", shmkit_status_name(st), shmkit_last_error_message());
    CHECK(shmkit_broadcast_new_typed(name, SHMKIT_OPEN, job, 0, SHMKIT_LOSSLESS, NULL, &b));
    size_t cap = 0, size = 0;
    CHECK(shmkit_broadcast_info(b, &cap, &size));
    if (size != sizeof(Job)) fail("element size %zu, not %zu", size, sizeof(Job));
    CHECK(shmkit_broadcast_publisher(b, &p));
    Job j = {0, 0, 0};
    st = shmkit_publisher_try_send(p, &j, sizeof j - 1);
    if (st != SHMKIT_INVALID_ARGUMENT) fail("a short message: %s", shmkit_status_name(st));
    for (uint64_t i = 0; i < n; i++) {
        j = (Job){i, (float)i / 2, (uint32_t)i * 7};
        CHECK(shmkit_publisher_send_timeout(p, &j, sizeof j, 60000 * MS));
    }
    CHECK(shmkit_publisher_free(p));
    CHECK(shmkit_broadcast_free(b));
    CHECK(shmkit_type_free(job));
    CHECK(shmkit_type_free(bad));
    return 0;
}

/* The RwLock<Job> NAME is read-locked by the Rust process: the write lock
 * would block (BLOCKED), so wait for it; see the Rust job, write ours. A
 * description with `weight` as uint32_t is refused first. */
static int rwlock_write(const char *name) {
    shmkit_type *job = job_type(SHMKIT_F32), *bad = job_type(SHMKIT_U32);
    shmkit_rwlock *rw = NULL;
    void *data = NULL;
    EXPECT(shmkit_rwlock_new(name, SHMKIT_OPEN, bad, NULL, 0, NULL, &rw), SHMKIT_WRONG_TYPE, "field 'weight'");
    CHECK(shmkit_rwlock_new(name, SHMKIT_OPEN, job, NULL, 0, NULL, &rw));
    EXPECT(shmkit_rwlock_try_write(rw, &data), SHMKIT_WOULD_BLOCK, "held");
    printf("BLOCKED\n");
    fflush(stdout);
    CHECK(shmkit_rwlock_write_timeout(rw, 60000 * MS, &data));
    Job *j = data;
    if (j->id != 7 || j->weight != 0.5f || j->flags != 3)
        fail("rwlock_write: found {%llu, %f, %u}", (unsigned long long)j->id, j->weight, j->flags);
    *j = (Job){42, 2.5f, 9};
    CHECK(shmkit_rwlock_unlock(rw));
    CHECK(shmkit_rwlock_free(rw));
    CHECK(shmkit_type_free(job));
    CHECK(shmkit_type_free(bad));
    printf("WROTE\n");
    return 0;
}

static char *join(const char *prefix, const char *tag) {
    static char buf[8][256];
    static int next = 0;
    char *b = buf[next++ % 8];
    snprintf(b, 256, "%s-%s", prefix, tag);
    return b;
}

/* Waits on the receivers of the Queue<u64>s PREFIX-a and PREFIX-b and on the
 * event PREFIX-e, which the Rust process makes ready one at a time: prints
 * "READY i v" for a message v on queue i, "READY 2" for the event. Checks
 * first every error path, and a mutex and a sender of its own. */
static int wait_any_role(const char *prefix) {
    shmkit_type *u64 = prim(SHMKIT_U64);
    shmkit_queue *qa = NULL, *qb = NULL, *qs = NULL;
    shmkit_receiver *ra = NULL, *rb = NULL;
    shmkit_sender *tx = NULL;
    shmkit_event *e = NULL;
    shmkit_mutex *m1 = NULL, *m2 = NULL;
    shmkit_ready_fd *r = NULL;
    void *data = NULL;
    size_t i = 99, again = 99;
    CHECK(shmkit_queue_new(join(prefix, "a"), SHMKIT_OPEN, u64, 0, SHMKIT_MPMC, NULL, &qa));
    CHECK(shmkit_queue_new(join(prefix, "b"), SHMKIT_OPEN, u64, 0, SHMKIT_MPMC, NULL, &qb));
    CHECK(shmkit_queue_receiver(qa, &ra));
    CHECK(shmkit_queue_receiver(qb, &rb));
    CHECK(shmkit_event_new(join(prefix, "e"), SHMKIT_OPEN, NULL, &e));
    shmkit_waitable w[3] = {{SHMKIT_WAITABLE_RECEIVER, ra}, {SHMKIT_WAITABLE_RECEIVER, rb}, {SHMKIT_WAITABLE_EVENT, e}};

    /* Bad lists are errors that name the object; nothing is written. */
    EXPECT(shmkit_wait_any(w, 0, &i), SHMKIT_INVALID_ARGUMENT, "no objects");
    EXPECT(shmkit_wait_any(NULL, 3, &i), SHMKIT_NULL_POINTER, "objects is NULL");
    EXPECT(shmkit_wait_any(w, 3, NULL), SHMKIT_NULL_POINTER, "index is NULL");
    shmkit_waitable bad[2] = {{SHMKIT_WAITABLE_EVENT, e}, {SHMKIT_WAITABLE_RECEIVER, e}};
    EXPECT(shmkit_wait_any(bad, 2, &i), SHMKIT_INVALID_HANDLE, "objects[1]: not a live shmkit_receiver");
    bad[1] = (shmkit_waitable){SHMKIT_WAITABLE_EVENT, NULL};
    EXPECT(shmkit_wait_any(bad, 2, &i), SHMKIT_NULL_POINTER, "objects[1]: shmkit_event is NULL");
    bad[1] = (shmkit_waitable){99, ra};
    EXPECT(shmkit_wait_any(bad, 2, &i), SHMKIT_INVALID_ARGUMENT, "objects[1]: kind 99");
    if (i != 99) fail("wait_any wrote an index on failure");

    /* A mutex is ready when a lock would not wait; one this handle holds is refused. */
    CHECK(shmkit_mutex_new(join(prefix, "m"), SHMKIT_CREATE, u64, NULL, 0, NULL, &m1));
    CHECK(shmkit_mutex_new(join(prefix, "m"), SHMKIT_OPEN, u64, NULL, 0, NULL, &m2));
    CHECK(shmkit_mutex_lock(m1, &data));
    shmkit_waitable lock[1] = {{SHMKIT_WAITABLE_MUTEX, m2}};
    EXPECT(shmkit_try_wait_any(lock, 1, &i), SHMKIT_WOULD_BLOCK, "none of the objects");
    lock[0].handle = m1;
    EXPECT(shmkit_try_wait_any(lock, 1, &i), SHMKIT_BUSY, "objects[0]: this handle holds the lock");
    CHECK(shmkit_mutex_unlock(m1));
    CHECK(shmkit_try_wait_any(lock, 1, &i));
    if (i != 0) fail("mutex index %zu", i);
    /* A sender is ready while there is room; the descriptor watches it too. */
    CHECK(shmkit_queue_new(join(prefix, "s"), SHMKIT_CREATE, u64, 1, SHMKIT_SPSC, NULL, &qs));
    CHECK(shmkit_queue_sender(qs, &tx));
    shmkit_waitable send[2] = {{SHMKIT_WAITABLE_EVENT, e}, {SHMKIT_WAITABLE_SENDER, tx}};
    CHECK(shmkit_try_wait_any(send, 2, &i));
    if (i != 1) fail("sender index %zu", i);
    CHECK(shmkit_ready_fd_new(&r));
    CHECK(shmkit_ready_fd_watch(r, &send[1]));
    EXPECT(shmkit_ready_fd_watch(r, &bad[1]), SHMKIT_INVALID_ARGUMENT, "kind 99");
    CHECK(shmkit_ready_fd_free(r));
    uint64_t one = 1;
    CHECK(shmkit_sender_try_send(tx, &one));
    EXPECT(shmkit_wait_any_deadline(send, 2, &i, shmkit_now_ns() + 5 * MS), SHMKIT_TIMEOUT, "timed out");

    /* Nothing is ready until the Rust process acts. */
    EXPECT(shmkit_try_wait_any(w, 3, &i), SHMKIT_WOULD_BLOCK, "none of the objects");
    EXPECT(shmkit_wait_any_timeout(w, 3, &i, 5 * MS), SHMKIT_TIMEOUT, "timed out");
    printf("WAITING\n");
    fflush(stdout);
    for (;;) {
        CHECK(shmkit_wait_any_timeout(w, 3, &i, 60000 * MS));
        /* Readiness, not receipt: it is still ready. */
        CHECK(shmkit_try_wait_any(w, 3, &again));
        if (again != i) fail("ready %zu, then %zu", i, again);
        if (i == 2) break;
        uint64_t v = 0;
        CHECK(shmkit_receiver_try_recv(i == 0 ? ra : rb, &v));
        printf("READY %zu %llu\n", i, (unsigned long long)v);
        fflush(stdout);
    }
    bool set = false;
    CHECK(shmkit_event_is_set(e, &set));
    if (!set) fail("the wait cleared the event");
    printf("READY 2\n");
    CHECK(shmkit_sender_free(tx));
    CHECK(shmkit_queue_free(qs));
    CHECK(shmkit_mutex_free(m2));
    CHECK(shmkit_mutex_free(m1));
    CHECK(shmkit_receiver_free(ra));
    CHECK(shmkit_receiver_free(rb));
    CHECK(shmkit_queue_free(qa));
    CHECK(shmkit_queue_free(qb));
    CHECK(shmkit_event_free(e));
    CHECK(shmkit_type_free(u64));
    return 0;
}

static int errors(const char *prefix) {
    shmkit_type *u64 = prim(SHMKIT_U64), *u32 = prim(SHMKIT_U32);
    shmkit_value *v = NULL, *v2 = NULL;
    shmkit_mutex *m = NULL, *m2 = NULL;
    shmkit_event *e = NULL;
    void *data = NULL;

    /* Names. */
    EXPECT(shmkit_value_new("bad/name", SHMKIT_CREATE, u64, NULL, 0, NULL, &v), SHMKIT_INVALID_NAME, "invalid segment name");
    EXPECT(shmkit_value_new("", SHMKIT_CREATE, u64, NULL, 0, NULL, &v), SHMKIT_INVALID_NAME, "invalid segment name");
    EXPECT(shmkit_value_new(join(prefix, "none"), SHMKIT_OPEN, u64, NULL, 0, NULL, &v), SHMKIT_NOT_FOUND, "does not exist");
    EXPECT(shmkit_unlink(join(prefix, "none")), SHMKIT_NOT_FOUND, "does not exist");
    EXPECT(shmkit_value_new(join(prefix, "v"), 42, u64, NULL, 0, NULL, &v), SHMKIT_INVALID_ARGUMENT, "SHMKIT_CREATE");

    /* Exclusive create, kind, type. */
    CHECK(shmkit_value_new(join(prefix, "v"), SHMKIT_CREATE, u64, NULL, 0, NULL, &v));
    EXPECT(shmkit_value_new(join(prefix, "v"), SHMKIT_CREATE, u64, NULL, 0, NULL, &v2), SHMKIT_ALREADY_EXISTS, "already exists");
    EXPECT(shmkit_mutex_new(join(prefix, "v"), SHMKIT_OPEN, u64, NULL, 0, NULL, &m), SHMKIT_WRONG_KIND, "Value<u64>");
    EXPECT(shmkit_value_new(join(prefix, "v"), SHMKIT_OPEN, u32, NULL, 0, NULL, &v2), SHMKIT_WRONG_TYPE, "holds Value<u64>");
    CHECK(shmkit_event_new(join(prefix, "e"), SHMKIT_CREATE, NULL, &e));
    EXPECT(shmkit_value_new(join(prefix, "e"), SHMKIT_OPEN, u64, NULL, 0, NULL, &v2), SHMKIT_WRONG_KIND, "Event");
    uint32_t small = 1;
    EXPECT(shmkit_value_new(join(prefix, "w"), SHMKIT_CREATE, u64, &small, sizeof small, NULL, &v2), SHMKIT_INVALID_ARGUMENT, "initial bytes");
    uint64_t out = 0;
    EXPECT(shmkit_value_load(v, &out, 4), SHMKIT_INVALID_ARGUMENT, "4 bytes");

    /* Timeouts and would-block. */
    CHECK(shmkit_mutex_new(join(prefix, "m"), SHMKIT_CREATE, u64, NULL, 0, NULL, &m));
    CHECK(shmkit_mutex_new(join(prefix, "m"), SHMKIT_OPEN, u64, NULL, 0, NULL, &m2));
    CHECK(shmkit_mutex_lock(m, &data));
    EXPECT(shmkit_mutex_try_lock(m2, &data), SHMKIT_WOULD_BLOCK, "held");
    EXPECT(shmkit_mutex_lock_timeout(m2, 20 * MS, &data), SHMKIT_TIMEOUT, "timed out");
    EXPECT(shmkit_mutex_lock_deadline(m2, shmkit_now_ns() + 20 * MS, &data), SHMKIT_TIMEOUT, "timed out");
    EXPECT(shmkit_mutex_unlock(m2), SHMKIT_INVALID_ARGUMENT, "not locked");
    CHECK(shmkit_mutex_unlock(m));
    CHECK(shmkit_mutex_lock_timeout(m2, 20 * MS, &data));
    CHECK(shmkit_mutex_unlock(m2));
    EXPECT(shmkit_event_wait_timeout(e, 10 * MS), SHMKIT_TIMEOUT, "timed out");

    /* Null pointers, bad handles, double free. */
    EXPECT(shmkit_value_new(NULL, SHMKIT_CREATE, u64, NULL, 0, NULL, &v2), SHMKIT_NULL_POINTER, "name is NULL");
    EXPECT(shmkit_value_new(join(prefix, "x"), SHMKIT_CREATE, NULL, NULL, 0, NULL, &v2), SHMKIT_NULL_POINTER, "shmkit_type");
    EXPECT(shmkit_value_new(join(prefix, "x"), SHMKIT_CREATE, u64, NULL, 0, NULL, NULL), SHMKIT_NULL_POINTER, "NULL");
    EXPECT(shmkit_mutex_lock(NULL, &data), SHMKIT_NULL_POINTER, "shmkit_mutex");
    EXPECT(shmkit_mutex_lock(m, NULL), SHMKIT_NULL_POINTER, "data");
    EXPECT(shmkit_value_store(v, NULL, 8), SHMKIT_NULL_POINTER, "value");
    EXPECT(shmkit_mutex_lock((shmkit_mutex *)v, &data), SHMKIT_INVALID_HANDLE, "shmkit_mutex");
    CHECK(shmkit_mutex_free(m2));
    EXPECT(shmkit_mutex_free(m2), SHMKIT_INVALID_HANDLE, "freed");
    CHECK(shmkit_mutex_free(NULL));

    /* Queues: empty, full, buffer too small, disconnected. */
    shmkit_queue *q = NULL;
    shmkit_sender *tx = NULL;
    shmkit_receiver *rx = NULL;
    CHECK(shmkit_queue_new(join(prefix, "q"), SHMKIT_CREATE, u64, 2, SHMKIT_SPSC, NULL, &q));
    CHECK(shmkit_queue_sender(q, &tx));
    CHECK(shmkit_queue_receiver(q, &rx));
    shmkit_sender *tx2 = NULL;
    EXPECT(shmkit_queue_sender(q, &tx2), SHMKIT_BUSY, "sender");
    EXPECT(shmkit_receiver_try_recv(rx, &out), SHMKIT_EMPTY, "empty");
    EXPECT(shmkit_receiver_recv_timeout(rx, &out, 10 * MS), SHMKIT_TIMEOUT, "timed out");
    uint64_t one = 1;
    CHECK(shmkit_sender_try_send(tx, &one));
    CHECK(shmkit_sender_try_send(tx, &one));
    EXPECT(shmkit_sender_try_send(tx, &one), SHMKIT_FULL, "full");
    EXPECT(shmkit_sender_send_timeout(tx, &one, 10 * MS), SHMKIT_TIMEOUT, "timed out");
    CHECK(shmkit_sender_free(tx));
    CHECK(shmkit_receiver_recv(rx, &out));
    CHECK(shmkit_receiver_recv(rx, &out));
    EXPECT(shmkit_receiver_recv(rx, &out), SHMKIT_DISCONNECTED, "senders have all gone");
    CHECK(shmkit_receiver_free(rx));
    CHECK(shmkit_queue_free(q));
    /* A queue of a described struct: the same errors, and another
     * description of an existing one is refused. */
    shmkit_type *job = job_type(SHMKIT_F32), *badjob = job_type(SHMKIT_U32);
    Job jo = {1, 0.5f, 2}, ji;
    uint64_t jobs[2 * sizeof(Job) / 8];
    size_t njobs = 0;
    CHECK(shmkit_queue_new(join(prefix, "qj"), SHMKIT_CREATE, job, 1, SHMKIT_SPSC, NULL, &q));
    shmkit_queue *q2 = NULL;
    EXPECT(shmkit_queue_new(join(prefix, "qj"), SHMKIT_OPEN, badjob, 0, SHMKIT_MPMC, NULL, &q2), SHMKIT_WRONG_TYPE, "weight");
    CHECK(shmkit_queue_sender(q, &tx));
    CHECK(shmkit_queue_receiver(q, &rx));
    EXPECT(shmkit_queue_sender(q, &tx2), SHMKIT_BUSY, "sender");
    EXPECT(shmkit_receiver_try_recv(rx, &ji), SHMKIT_EMPTY, "empty");
    EXPECT(shmkit_receiver_try_recv_batch(rx, jobs, 2, &njobs), SHMKIT_EMPTY, "empty");
    EXPECT(shmkit_receiver_recv_timeout(rx, &ji, 10 * MS), SHMKIT_TIMEOUT, "timed out");
    CHECK(shmkit_sender_try_send(tx, &jo));
    EXPECT(shmkit_sender_try_send(tx, &jo), SHMKIT_FULL, "full");
    EXPECT(shmkit_sender_send_timeout(tx, &jo, 10 * MS), SHMKIT_TIMEOUT, "timed out");
    CHECK(shmkit_receiver_recv(rx, &ji));
    if (ji.id != 1 || ji.weight != 0.5f || ji.flags != 2) fail("job queue");
    CHECK(shmkit_sender_free(tx));
    EXPECT(shmkit_receiver_recv(rx, &ji), SHMKIT_DISCONNECTED, "gone");
    CHECK(shmkit_receiver_free(rx));
    CHECK(shmkit_queue_free(q));
    CHECK(shmkit_type_free(job));
    CHECK(shmkit_type_free(badjob));

    shmkit_byte_queue *bq = NULL;
    shmkit_byte_sender *btx = NULL;
    shmkit_byte_receiver *brx = NULL;
    CHECK(shmkit_byte_queue_new(join(prefix, "b"), SHMKIT_CREATE, 256, NULL, &bq));
    CHECK(shmkit_byte_queue_sender(bq, &btx));
    CHECK(shmkit_byte_queue_receiver(bq, &brx));
    char msg[100] = "hello, world";
    char small_buf[4];
    size_t len = 0;
    CHECK(shmkit_byte_sender_send(btx, msg, sizeof msg));
    EXPECT(shmkit_byte_receiver_recv(brx, small_buf, sizeof small_buf, &len), SHMKIT_BUFFER_TOO_SMALL, "100 bytes");
    if (len != sizeof msg) fail("needed length %zu, expected %zu", len, sizeof msg);
    CHECK(shmkit_byte_receiver_recv(brx, msg, sizeof msg, &len));
    static char big[10000];
    EXPECT(shmkit_byte_sender_send(btx, big, sizeof big), SHMKIT_TOO_LARGE, "longer");
    void *buf = NULL;
    CHECK(shmkit_byte_sender_reserve(btx, 8, &buf));
    EXPECT(shmkit_byte_sender_send(btx, msg, 1), SHMKIT_BUSY, "reservation");
    EXPECT(shmkit_byte_sender_commit(btx, 9), SHMKIT_INVALID_ARGUMENT, "reservation of 8");
    CHECK(shmkit_byte_sender_abort(btx));
    EXPECT(shmkit_byte_receiver_try_recv(brx, msg, sizeof msg, &len), SHMKIT_EMPTY, "empty");
    CHECK(shmkit_byte_sender_free(btx));
    EXPECT(shmkit_byte_receiver_recv(brx, msg, sizeof msg, &len), SHMKIT_DISCONNECTED, "sender has gone");
    CHECK(shmkit_byte_receiver_free(brx));
    CHECK(shmkit_byte_queue_free(bq));

    /* A panic-free failure leaves the last message in place; OK does not clear it. */
    CHECK(shmkit_value_free(v));
    CHECK(shmkit_mutex_free(m));
    CHECK(shmkit_event_free(e));
    CHECK(shmkit_type_free(u64));
    CHECK(shmkit_type_free(u32));
    EXPECT(shmkit_type_free(u32), SHMKIT_INVALID_HANDLE, "shmkit_type");
    printf("OK\n");
    return 0;
}

static int all(const char *prefix) {
    shmkit_options opts = shmkit_options_default();
    opts.registry_slots = 16;
    shmkit_type *u64 = prim(SHMKIT_U64), *f32 = prim(SHMKIT_F32), *job = job_type(SHMKIT_F32);
    shmkit_type *bytes = NULL, *arr = NULL;
    CHECK(shmkit_type_new_bytes(24, &bytes));
    CHECK(shmkit_type_new_array(f32, 4, &arr));
    char enc[128];
    size_t enc_len = 0;
    CHECK(shmkit_type_encode(job, enc, sizeof enc, &enc_len));
    if (strcmp(enc, "Job{id:u64@0,weight:f32@8,flags:u32@12}#16/8") != 0) fail("encoding %s", enc);
    EXPECT(shmkit_type_encode(job, enc, 4, &enc_len), SHMKIT_BUFFER_TOO_SMALL, "the encoding needs");

    shmkit_value *v = NULL;
    Job j = {1, 2.0f, 3}, k;
    CHECK(shmkit_value_new(join(prefix, "v"), SHMKIT_CREATE, job, &j, sizeof j, &opts, &v));
    void *data = NULL;
    CHECK(shmkit_value_lock(v, &data));
    ((Job *)data)->id = 5;
    EXPECT(shmkit_value_load(v, &k, sizeof k), SHMKIT_BUSY, "holds the lock");
    CHECK(shmkit_value_unlock(v));
    CHECK(shmkit_value_load(v, &k, sizeof k));
    if (k.id != 5) fail("value");
    CHECK(shmkit_value_free(v));

    shmkit_array *a = NULL;
    float fs[4] = {1, 2, 3, 4};
    size_t n = 0;
    CHECK(shmkit_array_new(join(prefix, "a"), SHMKIT_CREATE, arr, 3, NULL, 0, &opts, &a));
    CHECK(shmkit_array_set(a, 2, fs, sizeof fs));
    CHECK(shmkit_array_get(a, 2, fs, sizeof fs));
    CHECK(shmkit_array_len(a, &n));
    EXPECT(shmkit_array_get(a, 3, fs, sizeof fs), SHMKIT_INVALID_ARGUMENT, "out of bounds");
    CHECK(shmkit_array_lock(a, &data));
    CHECK(shmkit_array_unlock(a));
    CHECK(shmkit_array_free(a));

    shmkit_mutex *m = NULL;
    shmkit_condvar *cv = NULL;
    CHECK(shmkit_mutex_new(join(prefix, "m"), SHMKIT_OPEN_OR_CREATE, bytes, NULL, 0, &opts, &m));
    CHECK(shmkit_condvar_new(join(prefix, "cv"), SHMKIT_CREATE, &opts, &cv));
    CHECK(shmkit_mutex_lock(m, &data));
    memset(data, 1, 24);
    EXPECT(shmkit_condvar_wait_timeout(cv, m, 5 * MS), SHMKIT_TIMEOUT, "timed out");
    CHECK(shmkit_condvar_notify_all(cv));
    CHECK(shmkit_mutex_unlock(m));
    /* Freed while locked: the free unlocks. */
    CHECK(shmkit_mutex_lock(m, &data));
    CHECK(shmkit_mutex_free(m));
    CHECK(shmkit_condvar_free(cv));

    shmkit_rwlock *rw = NULL, *rw2 = NULL;
    uint64_t five = 5;
    void *r1 = NULL, *r2 = NULL;
    CHECK(shmkit_rwlock_new(join(prefix, "rw"), SHMKIT_CREATE, u64, &five, sizeof five, &opts, &rw));
    CHECK(shmkit_rwlock_new(join(prefix, "rw"), SHMKIT_OPEN, u64, NULL, 0, &opts, &rw2));
    CHECK(shmkit_rwlock_read(rw, &r1));
    CHECK(shmkit_rwlock_try_read(rw2, &r2));
    if (*(uint64_t *)r1 != 5 || *(uint64_t *)r2 != 5) fail("rwlock read");
    EXPECT(shmkit_rwlock_try_write(rw2, &data), SHMKIT_WOULD_BLOCK, "held");
    CHECK(shmkit_rwlock_unlock(rw2));
    CHECK(shmkit_rwlock_unlock(rw));
    CHECK(shmkit_rwlock_write_timeout(rw2, 100 * MS, &data));
    *(uint64_t *)data = 6;
    EXPECT(shmkit_rwlock_read_timeout(rw, 5 * MS, &r1), SHMKIT_TIMEOUT, "timed out");
    CHECK(shmkit_rwlock_unlock(rw2));
    EXPECT(shmkit_rwlock_unlock(rw2), SHMKIT_INVALID_ARGUMENT, "no lock");
    CHECK(shmkit_rwlock_read(rw, &r1));
    if (*(uint64_t *)r1 != 6) fail("rwlock write");
    /* Freed holding a read lock: the free releases it. */
    CHECK(shmkit_rwlock_free(rw));
    CHECK(shmkit_rwlock_write_deadline(rw2, shmkit_now_ns() + 100 * MS, &data));
    CHECK(shmkit_rwlock_free(rw2));

    shmkit_atomic_u64 *a64 = NULL;
    shmkit_atomic_u32 *a32 = NULL;
    uint64_t x = 0;
    uint32_t y = 0;
    CHECK(shmkit_atomic_u64_new(join(prefix, "a64"), SHMKIT_CREATE, 10, &opts, &a64));
    CHECK(shmkit_atomic_u64_fetch_add(a64, 5, &x));
    CHECK(shmkit_atomic_u64_compare_exchange(a64, 15, 20, &x));
    CHECK(shmkit_atomic_u64_load(a64, &x));
    if (x != 20) fail("atomic u64 %llu", (unsigned long long)x);
    CHECK(shmkit_atomic_u32_new(join(prefix, "a32"), SHMKIT_CREATE, 1, &opts, &a32));
    CHECK(shmkit_atomic_u32_store(a32, 7));
    CHECK(shmkit_atomic_u32_compare_exchange(a32, 1, 2, &y));
    if (y != 7) fail("atomic u32 %u", y);
    CHECK(shmkit_atomic_u64_free(a64));
    CHECK(shmkit_atomic_u32_free(a32));

    shmkit_queue *q = NULL;
    shmkit_sender *tx = NULL;
    shmkit_receiver *rx = NULL;
    uint64_t vals[8] = {1, 2, 3, 4, 5, 6, 7, 8}, got[8];
    size_t sent = 0, recvd = 0;
    CHECK(shmkit_queue_new(join(prefix, "q"), SHMKIT_CREATE, u64, 16, SHMKIT_MPMC, &opts, &q));
    CHECK(shmkit_queue_sender(q, &tx));
    CHECK(shmkit_queue_receiver(q, &rx));
    CHECK(shmkit_sender_send_batch(tx, vals, 8, &sent));
    CHECK(shmkit_receiver_recv_batch_timeout(rx, got, 8, &recvd, 100 * MS));
    CHECK(shmkit_queue_len(q, &n));
    CHECK(shmkit_sender_free(tx));
    CHECK(shmkit_receiver_free(rx));
    CHECK(shmkit_queue_free(q));

    shmkit_byte_queue *bq = NULL;
    shmkit_byte_sender *btx = NULL;
    shmkit_byte_receiver *brx = NULL;
    const void *ref = NULL;
    size_t len = 0;
    CHECK(shmkit_byte_queue_new(join(prefix, "b"), SHMKIT_CREATE, 4096, &opts, &bq));
    CHECK(shmkit_byte_queue_sender(bq, &btx));
    CHECK(shmkit_byte_queue_receiver(bq, &brx));
    CHECK(shmkit_byte_sender_send(btx, "abc", 3));
    CHECK(shmkit_byte_receiver_recv_ref(brx, &ref, &len));
    if (len != 3 || memcmp(ref, "abc", 3) != 0) fail("recv_ref");
    CHECK(shmkit_byte_receiver_release(brx));
    CHECK(shmkit_byte_sender_reserve(btx, 5, &data));
    /* Freed with a reservation and a held message outstanding. */
    CHECK(shmkit_byte_sender_send_timeout(btx, "x", 1, 0) == SHMKIT_BUSY ? SHMKIT_OK : SHMKIT_INTERNAL);
    CHECK(shmkit_byte_sender_free(btx));
    CHECK(shmkit_byte_receiver_free(brx));
    CHECK(shmkit_byte_queue_free(bq));

    shmkit_message_queue *mq = NULL, *mq2 = NULL;
    shmkit_message_sender *mtx = NULL;
    shmkit_message_receiver *mrx = NULL;
    char mbuf[8];
    CHECK(shmkit_message_queue_new(join(prefix, "mq"), SHMKIT_CREATE, 2, 8, SHMKIT_JOINABLE, &opts, &mq));
    CHECK(shmkit_message_queue_new(join(prefix, "mq"), SHMKIT_OPEN_OR_CREATE, 64, 64, 0, &opts, &mq2));
    CHECK(shmkit_message_queue_capacity(mq2, &n));
    if (n != 2) fail("message queue capacity %zu", n);
    CHECK(shmkit_message_queue_sender(mq, &mtx));
    CHECK(shmkit_message_queue_receiver(mq2, &mrx));
    EXPECT(shmkit_message_receiver_try_recv(mrx, mbuf, sizeof mbuf, &len), SHMKIT_EMPTY, "empty");
    CHECK(shmkit_message_sender_send(mtx, "hello", 5));
    CHECK(shmkit_message_sender_try_send(mtx, "", 0));
    EXPECT(shmkit_message_sender_send_timeout(mtx, "x", 1, 5 * MS), SHMKIT_TIMEOUT, "timed out");
    EXPECT(shmkit_message_sender_send(mtx, "123456789", 9), SHMKIT_TOO_LARGE, "9 bytes");
    EXPECT(shmkit_message_receiver_recv(mrx, mbuf, 2, &len), SHMKIT_BUFFER_TOO_SMALL, "5 bytes");
    if (len != 5) fail("needed length %zu", len);
    CHECK(shmkit_message_receiver_recv_timeout(mrx, mbuf, sizeof mbuf, &len, 100 * MS));
    if (len != 5 || memcmp(mbuf, "hello", 5) != 0) fail("message queue recv");
    CHECK(shmkit_message_receiver_task_done(mrx));
    EXPECT(shmkit_message_queue_join_timeout(mq, 0), SHMKIT_TIMEOUT, "not marked done");
    EXPECT(shmkit_message_queue_try_join(mq), SHMKIT_TIMEOUT, "not marked done");
    EXPECT(shmkit_message_queue_join_timeout(mq, 5 * MS), SHMKIT_TIMEOUT, "not marked done");
    EXPECT(shmkit_message_queue_join_deadline(mq, shmkit_now_ns() + 5 * MS), SHMKIT_TIMEOUT, "not marked done");
    CHECK(shmkit_message_receiver_recv_deadline(mrx, mbuf, sizeof mbuf, &len, shmkit_now_ns() + 100 * MS));
    if (len != 0) fail("empty message");
    CHECK(shmkit_message_receiver_task_done(mrx));
    CHECK(shmkit_message_queue_join_timeout(mq, SHMKIT_FOREVER));
    CHECK(shmkit_message_queue_join(mq));
    CHECK(shmkit_message_queue_try_join(mq));
    CHECK(shmkit_message_queue_join_deadline(mq, shmkit_now_ns()));
    EXPECT(shmkit_message_queue_join(NULL), SHMKIT_NULL_POINTER, "NULL");
    EXPECT(shmkit_message_receiver_task_done(mrx), SHMKIT_INVALID_ARGUMENT, "task_done");
    CHECK(shmkit_message_queue_len(mq, &n));
    CHECK(shmkit_message_sender_free(mtx));
    EXPECT(shmkit_message_receiver_recv(mrx, mbuf, sizeof mbuf, &len), SHMKIT_DISCONNECTED, "gone");
    CHECK(shmkit_message_receiver_free(mrx));
    CHECK(shmkit_message_queue_free(mq2));
    CHECK(shmkit_message_queue_free(mq));

    shmkit_pipe *p = NULL;
    shmkit_connection *c1 = NULL, *c2 = NULL;
    char buf[16];
    CHECK(shmkit_pipe_new(join(prefix, "p"), SHMKIT_CREATE, 0, &opts, &p));
    CHECK(shmkit_pipe_connect(p, &c1));
    CHECK(shmkit_pipe_connect(p, &c2));
    CHECK(shmkit_connection_send(c1, "ping", 4));
    CHECK(shmkit_connection_recv_timeout(c2, buf, sizeof buf, &len, 100 * MS));
    CHECK(shmkit_connection_send(c2, "pong", 4));
    CHECK(shmkit_connection_recv(c1, buf, sizeof buf, &len));
    CHECK(shmkit_connection_free(c1));
    EXPECT(shmkit_connection_recv(c2, buf, sizeof buf, &len), SHMKIT_DISCONNECTED, "gone");
    CHECK(shmkit_connection_free(c2));
    CHECK(shmkit_pipe_free(p));

    shmkit_event *e = NULL;
    bool set = false;
    CHECK(shmkit_event_new(join(prefix, "e"), SHMKIT_CREATE, &opts, &e));
    EXPECT(shmkit_event_try_wait(e), SHMKIT_WOULD_BLOCK, "not set");
    CHECK(shmkit_event_set(e));
    CHECK(shmkit_event_wait(e));
    CHECK(shmkit_event_is_set(e, &set));
    CHECK(shmkit_event_clear(e));
    CHECK(shmkit_event_free(e));

    shmkit_semaphore *s = NULL, *bs = NULL;
    uint32_t val = 0;
    CHECK(shmkit_semaphore_new(join(prefix, "s"), SHMKIT_CREATE, 1, false, &opts, &s));
    CHECK(shmkit_semaphore_acquire(s));
    EXPECT(shmkit_semaphore_try_acquire(s), SHMKIT_WOULD_BLOCK, "permit");
    EXPECT(shmkit_semaphore_acquire_timeout(s, 5 * MS), SHMKIT_TIMEOUT, "permit");
    CHECK(shmkit_semaphore_release(s));
    CHECK(shmkit_semaphore_value(s, &val));
    CHECK(shmkit_semaphore_new(join(prefix, "bs"), SHMKIT_CREATE, 1, true, &opts, &bs));
    EXPECT(shmkit_semaphore_release(bs), SHMKIT_INVALID_ARGUMENT, "");
    EXPECT(shmkit_semaphore_new(join(prefix, "bs"), SHMKIT_OPEN, 1, false, &opts, &s), SHMKIT_WRONG_KIND, "");
    CHECK(shmkit_semaphore_free(s));
    CHECK(shmkit_semaphore_free(bs));

    shmkit_barrier *b = NULL;
    bool leader = false;
    CHECK(shmkit_barrier_new(join(prefix, "bar"), SHMKIT_CREATE, 1, &opts, &b));
    CHECK(shmkit_barrier_wait(b, &leader));
    if (!leader) fail("a barrier of one party: its party leads");
    CHECK(shmkit_barrier_free(b));
    CHECK(shmkit_barrier_new(join(prefix, "bar2"), SHMKIT_CREATE, 2, &opts, &b));
    EXPECT(shmkit_barrier_wait_timeout(b, 5 * MS, &leader), SHMKIT_TIMEOUT, "timed out");
    EXPECT(shmkit_barrier_wait(b, &leader), SHMKIT_BROKEN, "broken");
    CHECK(shmkit_barrier_reset(b));
    CHECK(shmkit_barrier_free(b));

    CHECK(shmkit_type_free(u64));
    CHECK(shmkit_type_free(f32));
    CHECK(shmkit_type_free(job));
    CHECK(shmkit_type_free(bytes));
    CHECK(shmkit_type_free(arr));
    printf("OK\n");
    return 0;
}

/* Subscribes to the lossless broadcast NAME, says SUBSCRIBED, then waits in
 * poll() on a readiness descriptor and drains with try_recv until the
 * publisher is gone; prints the count and sum of the u64 messages. */
static int bc_poll(const char *name) {
    shmkit_broadcast *b = NULL;
    shmkit_subscriber *s = NULL;
    shmkit_ready_fd *r = NULL;
    shmkit_options opts = shmkit_options_default();
    CHECK(shmkit_broadcast_new(name, SHMKIT_OPEN, 0, 0, SHMKIT_LOSSLESS, &opts, &b));
    CHECK(shmkit_broadcast_subscribe(b, 0, &s));
    CHECK(shmkit_ready_fd_new(&r));
    CHECK(shmkit_ready_fd_watch_subscriber(r, s));
    int fd = -1;
    CHECK(shmkit_ready_fd_fd(r, &fd));
    printf("SUBSCRIBED\n");
    fflush(stdout);
    uint64_t count = 0, sum = 0, v = 0;
    size_t len = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 30000) != 1) fail("the readiness descriptor never became readable");
        CHECK(shmkit_ready_fd_clear(r, NULL));
        for (;;) {
            shmkit_status st = shmkit_subscriber_try_recv(s, &v, sizeof v, &len);
            if (st == SHMKIT_OK) {
                if (len != sizeof v || v != count) fail("message %llu is %llu", (unsigned long long)count, (unsigned long long)v);
                count++;
                sum += v;
            } else if (st == SHMKIT_EMPTY) {
                break;
            } else if (st == SHMKIT_DISCONNECTED) {
                printf("RESULT %llu %llu\n", (unsigned long long)count, (unsigned long long)sum);
                CHECK(shmkit_ready_fd_free(r));
                CHECK(shmkit_subscriber_free(s));
                CHECK(shmkit_broadcast_free(b));
                return 0;
            } else {
                fail("try_recv: %s: %s", shmkit_status_name(st), shmkit_last_error_message());
            }
        }
    }
}

int main(int argc, char **argv) {
    if (argc < 3) fail("usage: peer ROLE NAME [ARGS]");
    const char *role = argv[1], *name = argv[2];
    uint64_t n = argc > 3 ? strtoull(argv[3], NULL, 10) : 0;
    if (strcmp(role, "queue_send") == 0) return queue_send(name, n);
    if (strncmp(role, "mutex_", 6) == 0) return mutex_role(role, name, n);
    if (strncmp(role, "value_", 6) == 0) return value_role(role, name, argc > 3 ? argv[3] : "");
    if (strcmp(role, "bytes_send") == 0) return bytes_send(name, n, argc > 4 ? strtoull(argv[4], NULL, 10) : 1);
    if (strcmp(role, "bytes_threads") == 0) return bytes_threads(name, n);
    if (strcmp(role, "jobq_send") == 0) return jobq_send(name, n);
    if (strcmp(role, "rwlock_write") == 0) return rwlock_write(name);
    if (strcmp(role, "wait_any") == 0) return wait_any_role(name);
    if (strcmp(role, "mq_send") == 0) return mq_send(name, n, argc > 4 ? strtoull(argv[4], NULL, 10) : 0);
    if (strcmp(role, "errors") == 0) return errors(name);
    if (strcmp(role, "bc_poll") == 0) return bc_poll(name);
    if (strcmp(role, "jobbc_pub") == 0) return jobbc_pub(name, n);
    if (strcmp(role, "all") == 0) return all(name);
    fail("unknown role %s", role);
    return 1;
}
