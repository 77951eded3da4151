/*
 * The rule that picks the incoming campaign of a watched queue from the
 * campaign_entry rows (pure: the loader runs it on a database reader thread,
 * the tests on theirs).  Dates and times are compared as the fixed-width text
 * MariaDB gives ("YYYY-MM-DD", "HH:MM:SS"), which orders like the values.
 */
#include "reg/reg.h"

#include <string.h>

bool reg_inbound_campaign_open(const reg_inbound_campaign_t *c, const char *today,
                               const char *now)
{
    if (!c->active)
        return false;
    if (c->date_init[0] && strcmp(today, c->date_init) < 0)
        return false;
    if (c->date_end[0] && strcmp(today, c->date_end) > 0)
        return false;
    const char *ti = c->time_init[0] ? c->time_init : "00:00:00";
    const char *te = c->time_end[0] ? c->time_end : "23:59:59";
    if (strcmp(ti, te) <= 0)
        return strcmp(ti, now) <= 0 && strcmp(now, te) <= 0;
    /* an overnight window (22:00 to 06:00) wraps midnight */
    return strcmp(now, ti) >= 0 || strcmp(now, te) <= 0;
}

void reg_inbound_choose(reg_inbound_queue_t *q, size_t nq, const reg_inbound_campaign_t *c,
                        size_t nc, const char *today, const char *now)
{
    for (size_t i = 0; i < nq; i++) {
        q[i].campaign_id = 0;
        for (size_t k = 0; k < nc; k++) {
            if (c[k].queue_id != q[i].queue_id || !reg_inbound_campaign_open(&c[k], today, now))
                continue;
            if (!q[i].campaign_id || c[k].id < q[i].campaign_id)
                q[i].campaign_id = c[k].id;
        }
    }
}
