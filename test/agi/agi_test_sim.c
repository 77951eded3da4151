/* The pbxsim options of the FastAGI script tests (agi_test_util.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test/agi/agi_test_util.h"
#include "tools/pbxsim/pbxsim.h"

void tagi_sim_opts(struct pbxsim_opts *o, agi_t *agi)
{
    pbxsim_opts_default(o);
    o->username = "dialer";
    o->secret = "dialer";
    o->time_scale = 20;
    o->fastagi_port = agi_port(agi);
    o->auth_fail_delay_ms = 0;
}
