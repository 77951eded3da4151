/*
 * The message queue; see mq.h for the design.
 *
 * Invariant: the wake eventfd holds a non-zero count exactly when the list is
 * non-empty.  It is written on the empty->non-empty transition and drained
 * when a pop empties the list, both under the queue mutex, so it never drifts.
 */
#include "core/mq.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct mq {
    pthread_mutex_t lock; /* guards every field below except name and wake_fd */
    pthread_cond_t nonempty;
    mq_msg_t *head;
    mq_msg_t *tail;
    size_t depth;
    size_t max_depth;
    bool closed;
    bool warned_full; /* log the first rejection of a full period only */
    mq_stats_t stats;
    int wake_fd;   /* immutable after mq_new */
    char name[32]; /* immutable after mq_new */
};

mq_t *mq_new(const char *name, size_t max_depth, int flags)
{
    mq_t *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    snprintf(q->name, sizeof(q->name), "%s", name ? name : "mq");
    q->max_depth = max_depth ? max_depth : 1;
    q->wake_fd = -1;
    if (flags & MQ_WAKEFD) {
        q->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (q->wake_fd < 0) {
            free(q);
            return NULL;
        }
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->nonempty, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&q->lock, NULL);
    return q;
}

void mq_free(mq_t *q)
{
    if (!q)
        return;
    mq_msg_free_chain(q->head);
    if (q->wake_fd >= 0)
        close(q->wake_fd);
    pthread_cond_destroy(&q->nonempty);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

static void wake_set(mq_t *q)
{
    if (q->wake_fd >= 0) {
        uint64_t one = 1;
        ssize_t r = write(q->wake_fd, &one, sizeof(one));
        (void)r; /* EAGAIN only when the counter is already huge: still readable */
    }
}

static void wake_clear(mq_t *q)
{
    if (q->wake_fd >= 0) {
        uint64_t v;
        ssize_t r = read(q->wake_fd, &v, sizeof(v));
        (void)r; /* EAGAIN: already clear */
    }
}

static int push_locked(mq_t *q, mq_msg_t *msg, bool force)
{
    if (q->closed)
        return CCD_ECLOSED;
    if (!force && q->depth >= q->max_depth) {
        q->stats.rejected_full++;
        return CCD_EFULL;
    }
    msg->next = NULL;
    if (q->tail)
        q->tail->next = msg;
    else
        q->head = msg;
    q->tail = msg;
    if (q->depth++ == 0)
        wake_set(q);
    q->stats.pushed++;
    if (q->depth > q->stats.high_water)
        q->stats.high_water = q->depth;
    q->warned_full = false;
    pthread_cond_signal(&q->nonempty);
    return 0;
}

static int push(mq_t *q, mq_msg_t *msg, bool force)
{
    pthread_mutex_lock(&q->lock);
    int rc = push_locked(q, msg, force);
    bool warn = rc == CCD_EFULL && !q->warned_full;
    if (warn)
        q->warned_full = true;
    pthread_mutex_unlock(&q->lock);
    if (warn)
        LOG_WARN("mq", "queue %s is full (%zu messages); producers are being refused", q->name,
                 q->max_depth);
    return rc;
}

int mq_push(mq_t *q, mq_msg_t *msg)
{
    return push(q, msg, false);
}

int mq_push_force(mq_t *q, mq_msg_t *msg)
{
    return push(q, msg, true);
}

static mq_msg_t *take_locked(mq_t *q)
{
    mq_msg_t *m = q->head;
    q->head = m->next;
    if (!q->head)
        q->tail = NULL;
    m->next = NULL;
    if (--q->depth == 0)
        wake_clear(q);
    q->stats.popped++;
    return m;
}

mq_msg_t *mq_pop(mq_t *q, int timeout_ms)
{
    struct timespec deadline;
    if (timeout_ms > 0)
        clk_deadline(&deadline, timeout_ms);
    pthread_mutex_lock(&q->lock);
    while (!q->head && !q->closed && timeout_ms != 0) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&q->nonempty, &q->lock);
        } else if (pthread_cond_timedwait(&q->nonempty, &q->lock, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    mq_msg_t *m = q->head ? take_locked(q) : NULL;
    pthread_mutex_unlock(&q->lock);
    return m;
}

mq_msg_t *mq_pop_all(mq_t *q)
{
    pthread_mutex_lock(&q->lock);
    mq_msg_t *h = q->head;
    if (h) {
        q->stats.popped += q->depth;
        q->head = q->tail = NULL;
        q->depth = 0;
        wake_clear(q);
    }
    pthread_mutex_unlock(&q->lock);
    return h;
}

void mq_close(mq_t *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_cond_broadcast(&q->nonempty);
    pthread_mutex_unlock(&q->lock);
}

bool mq_closed(mq_t *q)
{
    pthread_mutex_lock(&q->lock);
    bool c = q->closed;
    pthread_mutex_unlock(&q->lock);
    return c;
}

int mq_wake_fd(const mq_t *q)
{
    return q->wake_fd;
}

size_t mq_depth(mq_t *q)
{
    pthread_mutex_lock(&q->lock);
    size_t d = q->depth;
    pthread_mutex_unlock(&q->lock);
    return d;
}

void mq_get_stats(mq_t *q, mq_stats_t *out)
{
    pthread_mutex_lock(&q->lock);
    *out = q->stats;
    out->depth = q->depth;
    pthread_mutex_unlock(&q->lock);
}

static void quit_free(mq_msg_t *m)
{
    free(m);
}

mq_msg_t *mq_msg_quit_new(void)
{
    mq_msg_t *m = calloc(1, sizeof(*m));
    if (m) {
        m->type = MSG_QUIT;
        m->free = quit_free;
    }
    return m;
}

void mq_msg_free_chain(mq_msg_t *head)
{
    while (head) {
        mq_msg_t *next = head->next;
        if (head->free)
            head->free(head);
        head = next;
    }
}
