/*
 * ccdialer-eccp's exit status against a scripted ECCP server in this file:
 * 0 for an answer, 3 only for an answer that reports a failure
 * (<failure><code>…), never for the call count getcampaignstatus names
 * <failure> inside <statuscount>.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static const char *cli_path;

static int tmo(int ms)
{
    const char *m = getenv("CCD_TEST_TIMEOUT_MULTIPLIER");
    int k = m ? atoi(m) : 1;
    return ms * (k > 0 ? k : 1);
}

typedef struct srv {
    int lfd;
    uint16_t port;
    pthread_t th;
    const char *answer; /* sent once the request has arrived */
    char got[4096];     /* the request as received */
} srv_t;

static void *srv_run(void *arg)
{
    srv_t *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    size_t n = 0;
    while (n + 1 < sizeof(s->got) && !strstr(s->got, "</request>")) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, tmo(10000)) <= 0)
            break;
        ssize_t k = read(fd, s->got + n, sizeof(s->got) - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
        s->got[n] = '\0';
    }
    if (send(fd, s->answer, strlen(s->answer), MSG_NOSIGNAL) < 0)
        perror("write");
    /* keep the socket until the client has read the answer and gone */
    char b[256];
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (poll(&p, 1, tmo(10000)) > 0 && read(fd, b, sizeof(b)) > 0)
        ;
    close(fd);
    return NULL;
}

/* Runs the CLI (no login) for one request against an answer; returns its exit status. */
static int run_against(const char *answer, const char *request_args)
{
    srv_t s;
    memset(&s, 0, sizeof(s));
    s.answer = answer;
    s.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    assert_int_equal(bind(s.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s.lfd, 4), 0);
    assert_int_equal(getsockname(s.lfd, (struct sockaddr *)&a, &al), 0);
    s.port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s.th, NULL, srv_run, &s), 0);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s -n -r -p %u -t %d %s >/dev/null 2>&1", cli_path, (unsigned)s.port,
             tmo(10000) / 1000, request_args);
    int st = system(cmd);
    pthread_join(s.th, NULL);
    close(s.lfd);
    assert_non_null(strstr(s.got, "</request>"));
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void test_campaign_status_count_is_not_a_failure(void **state)
{
    (void)state;
    const char *ans = "<response id=\"1\"><getcampaignstatus_response><statuscount><total>3</total>"
                      "<pending>1</pending><failure>0</failure><noanswer>2</noanswer></statuscount>"
                      "<agents/><activecalls/><stats><total_sec>0</total_sec><max_duration>0"
                      "</max_duration></stats></getcampaignstatus_response></response>\n";
    assert_int_equal(run_against(ans, "getcampaignstatus campaign_id=1"), 0);
    /* the same count with a value other than 0 */
    const char *ans2 = "<response id=\"1\"><getcampaignstatus_response><statuscount><total>9</total>"
                       "<failure>9</failure></statuscount></getcampaignstatus_response></response>\n";
    assert_int_equal(run_against(ans2, "getcampaignstatus campaign_id=1"), 0);
}

static void test_failure_answers_exit_3(void **state)
{
    (void)state;
    const char *ans = "<response id=\"1\"><getcampaignstatus_response><failure><code>404</code>"
                      "<message>Campaign not found</message></failure></getcampaignstatus_response>"
                      "</response>\n";
    assert_int_equal(run_against(ans, "getcampaignstatus campaign_id=5"), 3);
    /* whitespace between the elements, and a failure right under <response> */
    const char *ans2 = "<response id=\"1\">\n  <failure>\n    <code>501</code>\n"
                       "    <message>Not Implemented</message>\n  </failure>\n</response>\n";
    assert_int_equal(run_against(ans2, "nosuchrequest"), 3);
}

static void test_plain_success_exits_0(void **state)
{
    (void)state;
    const char *ans = "<response id=\"1\"><pingagent_response><success/></pingagent_response></response>\n";
    assert_int_equal(run_against(ans, "pingagent agent_number=Agent/9000"), 0);
}

int main(int argc, char **argv)
{
    cli_path = argc > 1 ? argv[1] : NULL;
    if (!cli_path) {
        fprintf(stderr, "the test needs the ccdialer-eccp path as its first argument\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_campaign_status_count_is_not_a_failure),
        cmocka_unit_test(test_failure_answers_exit_3),
        cmocka_unit_test(test_plain_success_exits_0),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
