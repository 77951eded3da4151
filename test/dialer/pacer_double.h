/* What the test double of the pacing unit was told (test/dialer/pacer_double.c). */
#ifndef CCD_TEST_DIALER_PACER_DOUBLE_H
#define CCD_TEST_DIALER_PACER_DOUBLE_H
#include <stdatomic.h>
#include <stdint.h>
extern _Atomic uint64_t pd_outcomes, pd_connected, pd_abandoned, pd_done, pd_decisions;
#endif
