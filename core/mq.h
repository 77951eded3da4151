/*
 * mq: the bounded, lock-protected message queue that threads talk through.
 *
 * DESIGN
 * - A message is any struct whose first member is an mq_msg_t.  The header
 *   carries the type and the function that frees the whole message.
 * - Ownership passes to the queue on a successful push (0) and to the
 *   receiver on pop.  When push fails (CCD_EFULL, CCD_ECLOSED) the sender
 *   still owns the message and decides what to do with it.
 * - Bounded: push fails with CCD_EFULL at max_depth, so a stalled consumer is
 *   noticed by its producers instead of eating memory.  mq_push_force() skips
 *   the bound; it exists for control messages (quit) that must get through.
 * - A consumer that also polls sockets asks for a wake fd (an eventfd) that is
 *   readable whenever the queue is non-empty.
 * - Shutdown is a MSG_QUIT message (never pthread_cancel); mq_close() then
 *   refuses new pushes while the consumer drains what is left.
 * - Each queue has one mutex, a leaf lock: no other lock is ever taken while
 *   it is held, and message free functions are never called under it.
 */
#ifndef CCD_CORE_MQ_H
#define CCD_CORE_MQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mq_msg mq_msg_t;
struct mq_msg {
    mq_msg_t *next; /* owned by whichever queue holds the message */
    int type;       /* one of the MSG_* ranges below */
    void (*free)(mq_msg_t *msg);
};

/*
 * Message type ranges: each module defines its own types inside its range in
 * its public header, so modules can add types without touching this file.
 */
enum {
    MSG_QUIT = 1,      /* stop the receiving thread after draining */
    MSG_AMI_BASE = 100,
    MSG_REG_BASE = 200,
    MSG_DB_BASE = 300,
    MSG_ECCP_BASE = 400,
    MSG_DL_BASE = 500,
    MSG_AGI_BASE = 600,
    MSG_AGS_BASE = 700, /* agent service (agent/agent.h) */
    MSG_JNL_BASE = 800, /* call journal (journal/) */
    MSG_TEST_BASE = 900,
};

typedef struct mq mq_t;

typedef struct mq_stats {
    uint64_t pushed;
    uint64_t popped;
    uint64_t rejected_full;
    size_t depth;
    size_t high_water; /* deepest the queue has been */
} mq_stats_t;

#define MQ_WAKEFD 0x1 /* create an eventfd that is readable while non-empty */

/* Creates a queue named name (for logs) holding at most max_depth messages.
 * Returns NULL on allocation or eventfd failure. */
mq_t *mq_new(const char *name, size_t max_depth, int flags);

/* Frees the queue and every message still in it (through msg->free). NULL is a no-op. */
void mq_free(mq_t *q);

/* 0 on success (the queue owns msg), CCD_EFULL or CCD_ECLOSED (caller keeps it). */
int mq_push(mq_t *q, mq_msg_t *msg);

/* As mq_push but ignores max_depth; fails only with CCD_ECLOSED. */
int mq_push_force(mq_t *q, mq_msg_t *msg);

/*
 * Removes the oldest message.  timeout_ms < 0 waits forever, 0 does not wait.
 * Returns the message (the caller owns it) or NULL on timeout, or when the
 * queue is closed and empty.
 */
mq_msg_t *mq_pop(mq_t *q, int timeout_ms);

/* Takes every queued message at once (oldest first, linked by next); NULL if empty. */
mq_msg_t *mq_pop_all(mq_t *q);

/* Refuses further pushes; pops still return what is queued. Wakes waiters. */
void mq_close(mq_t *q);

/* True once mq_close() was called (pops may still return queued messages). */
bool mq_closed(mq_t *q);

/* The eventfd to poll for POLLIN, or -1 without MQ_WAKEFD. */
int mq_wake_fd(const mq_t *q);

size_t mq_depth(mq_t *q);
void mq_get_stats(mq_t *q, mq_stats_t *out);

/* A ready-made quit message (allocated; freed by its own free). NULL on ENOMEM. */
mq_msg_t *mq_msg_quit_new(void);

/* Frees a chain returned by mq_pop_all() that the caller will not process. */
void mq_msg_free_chain(mq_msg_t *head);

#endif
