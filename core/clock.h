/* Clocks: monotonic time for timeouts and intervals, wall time for records. */
#ifndef CCD_CORE_CLOCK_H
#define CCD_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Monotonic milliseconds / microseconds since an arbitrary point. Never jumps. */
int64_t clk_mono_ms(void);
int64_t clk_mono_us(void);

/* Wall-clock milliseconds since the Unix epoch, for timestamps written out. */
int64_t clk_wall_ms(void);

/* Fills ts with "now + ms" on CLOCK_MONOTONIC, for pthread_cond_timedwait. */
void clk_deadline(struct timespec *ts, int64_t ms);

#endif
