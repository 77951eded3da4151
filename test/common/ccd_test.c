/* Shared test helpers (see ccd_test.h). */
#include "test/common/ccd_test.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

int64_t ccd_test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ccd_test_timeout_multiplier(void)
{
    /* Read each time: cheap, and no shared state between a test's threads. */
    const char *e = getenv("CCD_TEST_TIMEOUT_MULTIPLIER");
    if (!e || !*e)
        return 1;
    char *endp;
    long k = strtol(e, &endp, 10);
    if (*endp != '\0' || k < 1)
        return 1;
    return k > 100 ? 100 : (int)k;
}

int ccd_test_timeout_ms(int base_ms)
{
    return base_ms * ccd_test_timeout_multiplier();
}

int64_t ccd_test_deadline(int base_ms)
{
    return ccd_test_now_ms() + ccd_test_timeout_ms(base_ms);
}

void ccd_test_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}
