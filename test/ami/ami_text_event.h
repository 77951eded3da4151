/*
 * Tests only: one AMI event from its wire text ("Event: X\r\n...\r\n\r\n"), parsed by the
 * real parser and converted as the client converts it.  Include after <cmocka.h>.
 */
#ifndef CCD_TEST_AMI_TEXT_EVENT_H
#define CCD_TEST_AMI_TEXT_EVENT_H

#include <string.h>

#include "ami/ami.h"
#include "core/err.h"

/* The caller owns the event (ami_event_free); a text that is not one whole event fails. */
static inline ami_event_t *ami_test_event(const char *text)
{
    ami_parser_t p;
    ami_parser_init(&p, 0, 0, 0);
    ami_msg_t m;
    assert_int_equal(ami_parse(&p, text, strlen(text), &m), CCD_OK);
    ami_event_t *ev = ami_event_from_msg(&m, 0, NULL);
    assert_non_null(ev);
    return ev;
}

#endif
