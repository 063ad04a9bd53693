/*
 * The C peer of `shmkit bench` (rows c-spsc, c-spsc-batch and c-bytequeue): the peer
 * side of one measurement, written in C against include/shmkit.h, so that
 * its per-message loop is C code calling the C ABI. Built by the build
 * script of the shmkit command into the `shmkit` binary (next to the
 * shmkit-ffi functions it calls); `shmkit __bench-peer` calls
 * c_peer_run().
 *
 * Same protocol as the Rust peers (link.rs `serve`): every message starts
 * with a little-endian u64 sequence number; SYNC is answered and the loop
 * goes on, STOP is answered and the loop ends; in a ping-pong every other
 * message is echoed. c-spsc-batch sends and receives batches of up to 64
 * (shmkit_sender_send_batch, shmkit_receiver_recv_batch), flushing what
 * it queued before a receive waits, as the Rust shmkit-spsc-batch side
 * does. Waits are sliced (50 ms) so that a parent that has
 * gone, or no progress for 10 s, ends the peer with an error, never a hang.
 */
#include "shmkit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define C_PEER_SPSC 0
#define C_PEER_BYTEQUEUE 1
#define C_PEER_SPSC_BATCH 2

#define BATCH 64

#define SYNC (UINT64_MAX - 1)
#define STOP UINT64_MAX
#define SLICE_NS 50000000ull
#define STALL_NS 10000000000ull

typedef struct {
    int kind;
    uint32_t parent;
    char *err;
    size_t errcap;
    /* c-spsc, c-spsc-batch */
    shmkit_sender *tx;
    shmkit_receiver *rx;
    /* c-spsc-batch: messages queued to send (the first `queued`), and
     * received ones (the first `received`), of which `taken` were taken */
    uint64_t out[BATCH], inbox[BATCH];
    size_t queued, received, taken;
    /* c-bytequeue */
    shmkit_byte_sender *btx;
    shmkit_byte_receiver *brx;
} peer;

static int fail(peer *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, p->errcap, fmt, ap);
    va_end(ap);
    return 1;
}

static int failed_call(peer *p, const char *what, shmkit_status st) {
    return fail(p, "%s: %s: %s", what, shmkit_status_name(st), shmkit_last_error_message());
}

/* After a slice without progress: 0 to go on waiting. `*since` is 0 until
 * the first slice of a wait ends (the clock is read then, not on every
 * empty poll, as the Rust peers' Patience does). */
static int still_waiting(peer *p, uint64_t *since) {
    if ((uint32_t)getppid() != p->parent)
        return fail(p, "the parent process exited");
    if (*since == 0)
        *since = shmkit_now_ns();
    else if (shmkit_now_ns() - *since > STALL_NS)
        return fail(p, "no progress for 10s");
    return 0;
}

static inline uint64_t seq_of(const unsigned char *m) {
    uint64_t s;
    memcpy(&s, m, sizeof s);
    return s;
}

/* c-spsc-batch: sends the queued messages. */
static int flush(peer *p) {
    if (p->queued == 0)
        return 0;
    /* What fits now; then the rest, waiting in slices. */
    size_t done = 0;
    shmkit_status st = shmkit_sender_try_send_batch(p->tx, p->out, p->queued, &done);
    uint64_t since = 0;
    while (st == SHMKIT_FULL || st == SHMKIT_TIMEOUT) {
        if (st == SHMKIT_TIMEOUT && still_waiting(p, &since))
            return 1;
        size_t sent = 0;
        st = shmkit_sender_send_batch_timeout(p->tx, p->out + done, p->queued - done, &sent, SLICE_NS);
        done += sent;
        if (sent > 0)
            since = 0;
    }
    if (st != SHMKIT_OK)
        return failed_call(p, "send_batch", st);
    p->queued = 0;
    return 0;
}

/* c-spsc-batch: the next message of a received batch, receiving one (after
 * sending ours) if needed. */
static int recv_batched(peer *p, unsigned char *buf) {
    if (p->taken == p->received) {
        if (flush(p))
            return 1;
        size_t got = 0;
        shmkit_status st = shmkit_receiver_try_recv_batch(p->rx, p->inbox, BATCH, &got);
        uint64_t since = 0;
        while (st == SHMKIT_EMPTY || st == SHMKIT_TIMEOUT) {
            if (st == SHMKIT_TIMEOUT && still_waiting(p, &since))
                return 1;
            st = shmkit_receiver_recv_batch_timeout(p->rx, p->inbox, BATCH, &got, SLICE_NS);
        }
        if (st != SHMKIT_OK)
            return failed_call(p, "recv_batch", st);
        p->received = got;
        p->taken = 0;
    }
    memcpy(buf, &p->inbox[p->taken++], sizeof(uint64_t));
    return 0;
}

static inline int send_msg(peer *p, const unsigned char *msg, size_t len) {
    if (p->kind == C_PEER_SPSC_BATCH) {
        memcpy(&p->out[p->queued++], msg, sizeof(uint64_t));
        return p->queued == BATCH ? flush(p) : 0;
    }
    shmkit_status st = p->kind == C_PEER_SPSC ? shmkit_sender_try_send(p->tx, msg)
                                              : shmkit_byte_sender_try_send(p->btx, msg, len);
    if (st == SHMKIT_OK)
        return 0;
    uint64_t since = 0;
    while (st == SHMKIT_FULL || st == SHMKIT_TIMEOUT) {
        if (st == SHMKIT_TIMEOUT && still_waiting(p, &since))
            return 1;
        st = p->kind == C_PEER_SPSC ? shmkit_sender_send_timeout(p->tx, msg, SLICE_NS)
                                    : shmkit_byte_sender_send_timeout(p->btx, msg, len, SLICE_NS);
    }
    return st == SHMKIT_OK ? 0 : failed_call(p, "send", st);
}

static inline int recv_msg(peer *p, unsigned char *buf, size_t size) {
    if (p->kind == C_PEER_SPSC_BATCH)
        return recv_batched(p, buf);
    size_t len = size;
    shmkit_status st = p->kind == C_PEER_SPSC ? shmkit_receiver_try_recv(p->rx, buf)
                                              : shmkit_byte_receiver_try_recv(p->brx, buf, size, &len);
    uint64_t since = 0;
    while (st == SHMKIT_EMPTY || st == SHMKIT_TIMEOUT) {
        if (st == SHMKIT_TIMEOUT && still_waiting(p, &since))
            return 1;
        st = p->kind == C_PEER_SPSC ? shmkit_receiver_recv_timeout(p->rx, buf, SLICE_NS)
                                    : shmkit_byte_receiver_recv_timeout(p->brx, buf, size, &len, SLICE_NS);
    }
    if (st != SHMKIT_OK)
        return failed_call(p, "recv", st);
    if (len != size)
        return fail(p, "received %zu bytes, expected %zu", len, size);
    return 0;
}

static int serve(peer *p, size_t size, int echo, int (*ready)(void)) {
    unsigned char *buf = calloc(1, size);
    if (buf == NULL)
        return fail(p, "out of memory");
    int rc = ready() == 0 ? 0 : fail(p, "cannot tell the parent it is ready");
    uint64_t expect = 0;
    while (rc == 0) {
        rc = recv_msg(p, buf, size);
        if (rc != 0)
            break;
        uint64_t s = seq_of(buf);
        if (s == STOP) {
            rc = send_msg(p, buf, size);
            if (rc == 0 && p->kind == C_PEER_SPSC_BATCH)
                rc = flush(p);
            break;
        } else if (s == SYNC) {
            rc = send_msg(p, buf, size);
        } else if (s == expect) {
            expect++;
            if (echo)
                rc = send_msg(p, buf, size);
        } else {
            rc = fail(p, "received message %llu, expected %llu", (unsigned long long)s,
                      (unsigned long long)expect);
        }
    }
    free(buf);
    return rc;
}

/*
 * Opens the channel the parent made (`p2c` carries the parent's messages,
 * `c2p` the answers), tells the parent (`ready()`, 0 on success), serves
 * until STOP and frees everything. `kind` C_PEER_SPSC: two queues of
 * uint64_t (`size` 8), C_PEER_SPSC_BATCH: the same in batches;
 * C_PEER_BYTEQUEUE: two byte queues. `wait` is a
 * SHMKIT_WAIT_* strategy. Returns 0, or 1 with a message in `err`.
 */
int c_peer_run(int kind, const char *p2c, const char *c2p, size_t size, int echo, uint32_t wait, uint32_t parent,
               int (*ready)(void), char *err, size_t errcap) {
    peer p = {.kind = kind, .parent = parent, .err = err, .errcap = errcap};
    shmkit_options opts = shmkit_options_default();
    opts.wait_strategy = wait;
    shmkit_status st;
    int rc = 1;
    if (kind == C_PEER_SPSC || kind == C_PEER_SPSC_BATCH) {
        if (size != sizeof(uint64_t))
            return fail(&p, "c-spsc carries 8-byte messages only, not %zu", size);
        shmkit_type *u64 = NULL;
        shmkit_queue *in = NULL, *out = NULL;
        if ((st = shmkit_type_new_primitive(SHMKIT_U64, &u64)) != SHMKIT_OK)
            rc = failed_call(&p, "type", st);
        else if ((st = shmkit_queue_new(p2c, SHMKIT_OPEN, u64, 0, SHMKIT_SPSC, &opts, &in)) != SHMKIT_OK)
            rc = failed_call(&p, "open the parent's queue", st);
        else if ((st = shmkit_queue_new(c2p, SHMKIT_OPEN, u64, 0, SHMKIT_SPSC, &opts, &out)) != SHMKIT_OK)
            rc = failed_call(&p, "open the answer queue", st);
        else if ((st = shmkit_queue_receiver(in, &p.rx)) != SHMKIT_OK)
            rc = failed_call(&p, "receiver", st);
        else if ((st = shmkit_queue_sender(out, &p.tx)) != SHMKIT_OK)
            rc = failed_call(&p, "sender", st);
        else
            rc = serve(&p, size, echo, ready);
        shmkit_sender_free(p.tx);
        shmkit_receiver_free(p.rx);
        shmkit_queue_free(out);
        shmkit_queue_free(in);
        shmkit_type_free(u64);
    } else if (kind == C_PEER_BYTEQUEUE) {
        shmkit_byte_queue *in = NULL, *out = NULL;
        if ((st = shmkit_byte_queue_new(p2c, SHMKIT_OPEN, 0, &opts, &in)) != SHMKIT_OK)
            rc = failed_call(&p, "open the parent's byte queue", st);
        else if ((st = shmkit_byte_queue_new(c2p, SHMKIT_OPEN, 0, &opts, &out)) != SHMKIT_OK)
            rc = failed_call(&p, "open the answer byte queue", st);
        else if ((st = shmkit_byte_queue_receiver(in, &p.brx)) != SHMKIT_OK)
            rc = failed_call(&p, "receiver", st);
        else if ((st = shmkit_byte_queue_sender(out, &p.btx)) != SHMKIT_OK)
            rc = failed_call(&p, "sender", st);
        else
            rc = serve(&p, size, echo, ready);
        shmkit_byte_sender_free(p.btx);
        shmkit_byte_receiver_free(p.brx);
        shmkit_byte_queue_free(out);
        shmkit_byte_queue_free(in);
    } else {
        rc = fail(&p, "unknown kind %d", kind);
    }
    return rc;
}
