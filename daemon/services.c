/*
 * Service start/stop order; see services.h.
 *
 * Start: registry -> database -> AMI -> ECCP (each later one feeds on the
 * earlier).  Stop: the reverse, so producers stop before their consumers and
 * every queue is drained by its consumer before that consumer exits.
 */
#include "daemon/services.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/err.h"
#include "core/log.h"
#include "reg/reg.h"

struct svc {
    const conf_t *cf;
    reg_t *reg;
    pthread_t reg_thread;
    bool reg_running;
};

svc_t *svc_start(const conf_t *cf, char *err, size_t errlen)
{
    svc_t *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->cf = cf;
    s->reg = reg_new(100000);
    if (!s->reg) {
        snprintf(err, errlen, "cannot create the registry");
        goto fail;
    }
    if (pthread_create(&s->reg_thread, NULL, reg_run, s->reg) != 0) {
        snprintf(err, errlen, "cannot start the registry thread");
        goto fail;
    }
    s->reg_running = true;
    LOG_INFO("main", "registry running");
    return s;
fail:
    svc_stop(s);
    return NULL;
}

void svc_stop(svc_t *s)
{
    if (!s)
        return;
    if (s->reg_running) {
        reg_stop(s->reg);
        pthread_join(s->reg_thread, NULL);
    }
    reg_free(s->reg);
    free(s);
}

int svc_init_db(const conf_t *cf, char *err, size_t errlen)
{
    (void)cf;
    snprintf(err, errlen, "the database module is not built into this binary");
    return CCD_ERR;
}
