/*
 * ccdialer-eccp: a command-line ECCP client for people.
 *
 *   ccdialer-eccp [-H host] [-p port] [-u user] [-P pass] [-a agent -w agentpass]
 *                 [-e] [-t seconds] [-r] REQUEST [name=value ...]
 *   ccdialer-eccp ... -x '<request id="1"><getpauses/></request>'
 *
 * Logs in, sends the request (arguments become child elements; with -a/-w the
 * agent_number and the agent_hash computed from the session cookie are added),
 * prints the response indented, and with -e keeps printing events until
 * interrupted or -t seconds pass.  -r prints the raw wire bytes instead.
 * Exit status: 0 answered, 1 no answer (connection, login, timeout), 2 usage,
 * 3 the answer reports a failure (<failure> with a <code>).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "core/clock.h"
#include "core/err.h"
#include "eccp/eccp.h"
#include "eccp/eccp_int.h"

static int fd = -1;
static buf_t inbuf;
static eccp_frame_t fr;
static bool raw;
static volatile sig_atomic_t stop;

static void on_sig(int s)
{
    (void)s;
    stop = 1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: ccdialer-eccp [-H host] [-p port] [-u user] [-P password]\n"
            "                     [-a agent_number -w agent_password] [-e] [-t seconds] [-r]\n"
            "                     REQUEST [name=value ...] | -x '<request ...>...</request>'\n"
            "  -H host        server (default 127.0.0.1)     -p port   (default 20005)\n"
            "  -u/-P          ECCP user and password (default agentconsole/agentconsole)\n"
            "  -a/-w          add agent_number and agent_hash = md5(cookie+agent+password)\n"
            "  -e             keep printing events after the response (Ctrl-C to stop)\n"
            "  -t seconds     with -e, stop after this long; also the response timeout (10)\n"
            "  -r             print raw messages instead of indented XML\n"
            "  -x xml         send this request document verbatim (after login)\n"
            "  -n             do not log in first\n");
}

static int dial(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai, *p;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "ccdialer-eccp: %s: %s\n", host, gai_strerror(rc));
        return -1;
    }
    int s = -1;
    for (p = ai; p; p = p->ai_next) {
        s = socket(p->ai_family, p->ai_socktype, 0);
        if (s >= 0 && connect(s, p->ai_addr, p->ai_addrlen) == 0)
            break;
        if (s >= 0)
            close(s);
        s = -1;
    }
    freeaddrinfo(ai);
    if (s < 0)
        fprintf(stderr, "ccdialer-eccp: cannot connect to %s:%s: %s\n", host, port, strerror(errno));
    return s;
}

static int send_all(const char *s, size_t n)
{
    while (n) {
        ssize_t k = write(fd, s, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        s += k;
        n -= (size_t)k;
    }
    return 0;
}

static void print_msg(const char *p, size_t n)
{
    if (raw) {
        fwrite(p, 1, n, stdout);
        fputc('\n', stdout);
        fflush(stdout);
        return;
    }
    xmlDoc *doc = xmlReadMemory(p, (int)n, NULL, NULL, XML_PARSE_NONET | XML_PARSE_NOBLANKS |
                                                           XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        printf("(unparseable) %.*s\n", (int)n, p);
        return;
    }
    xmlChar *out;
    int len;
    xmlDocDumpFormatMemory(doc, &out, &len, 1);
    /* skip the declaration line */
    const char *body = (const char *)out;
    const char *nl = strchr(body, '\n');
    printf("%s", nl ? nl + 1 : body);
    fflush(stdout);
    xmlFree(out);
    xmlFreeDoc(doc);
}

/* Next message from the server into *msg (malloc'ed); 1 ok, 0 timeout, -1 closed/error. */
static int next_msg(int timeout_ms, char **msg)
{
    int64_t end = clk_mono_ms() + timeout_ms;
    for (;;) {
        ccd_str_t pkt;
        size_t used = 0;
        int rc = eccp__frame_scan(&fr, buf_data(&inbuf), inbuf.len, &pkt, &used);
        if (rc == 1) {
            *msg = ccd_str_dup((ccd_str_t){pkt.p, pkt.len});
            buf_consume(&inbuf, used);
            return 1;
        }
        buf_consume(&inbuf, used);
        if (rc != CCD_EAGAIN) {
            fprintf(stderr, "ccdialer-eccp: the server sent something that is not XML\n");
            return -1;
        }
        int64_t left = end - clk_mono_ms();
        if (left <= 0 || stop)
            return 0;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, left > 200 ? 200 : (int)left);
        if (pr <= 0)
            continue;
        char *w = buf_reserve(&inbuf, 65536);
        if (!w)
            return -1;
        ssize_t k = read(fd, w, 65536);
        if (k <= 0) {
            fprintf(stderr, "ccdialer-eccp: connection closed by the server\n");
            return -1;
        }
        buf_commit(&inbuf, (size_t)k);
    }
}

static bool is_event(const char *m)
{
    return strstr(m, "<event>") != NULL && strstr(m, "<response") == NULL;
}

/* Waits for the response to id, printing events that arrive meanwhile. */
static char *wait_response(const char *id, int timeout_ms)
{
    char want[300];
    snprintf(want, sizeof(want), "<response id=\"%s\"", id);
    int64_t end = clk_mono_ms() + timeout_ms;
    for (;;) {
        char *m = NULL;
        int64_t left = end - clk_mono_ms();
        int rc = next_msg(left > 0 ? (int)left : 0, &m);
        if (rc <= 0) {
            if (rc == 0)
                fprintf(stderr, "ccdialer-eccp: no response within %d ms\n", timeout_ms);
            return NULL;
        }
        if (strstr(m, want) || (strstr(m, "<response>") && !is_event(m)))
            return m;
        print_msg(m, strlen(m));
        free(m);
    }
}

/* A failed request carries <failure><code>N</code><message>…</message></failure>.
 * Some answers use <failure> for something else (getcampaignstatus counts calls
 * in <statuscount><failure>0</failure>), so only a failure element that has a
 * <code> child counts. */
static bool has_failure(xmlNode *n)
{
    for (; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (xmlStrcmp(n->name, BAD_CAST "failure") == 0)
            for (xmlNode *k = n->children; k; k = k->next)
                if (k->type == XML_ELEMENT_NODE && xmlStrcmp(k->name, BAD_CAST "code") == 0)
                    return true;
        if (has_failure(n->children))
            return true;
    }
    return false;
}

static bool answer_failed(const char *m)
{
    xmlDoc *doc = xmlReadMemory(m, (int)strlen(m), NULL, NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) /* print_msg said it is unparseable; judge it by the text */
        return strstr(m, "<failure><code>") != NULL;
    bool failed = has_failure(xmlDocGetRootElement(doc));
    xmlFreeDoc(doc);
    return failed;
}

static void xml_text(buf_t *b, const char *s)
{
    xw_t w;
    eccp__xw_init(&w, b);
    eccp__xw_text(&w, s, strlen(s));
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *port = "20005", *user = "agentconsole", *pass = "agentconsole";
    const char *agent = NULL, *agent_pw = NULL, *rawxml = NULL;
    bool events = false, do_login = true;
    int secs = 10;
    int opt;
    while ((opt = getopt(argc, argv, "H:p:u:P:a:w:et:rx:nh")) != -1) {
        switch (opt) {
        case 'H': host = optarg; break;
        case 'p': port = optarg; break;
        case 'u': user = optarg; break;
        case 'P': pass = optarg; break;
        case 'a': agent = optarg; break;
        case 'w': agent_pw = optarg; break;
        case 'e': events = true; break;
        case 't': secs = atoi(optarg); break;
        case 'r': raw = true; break;
        case 'x': rawxml = optarg; break;
        case 'n': do_login = false; break;
        default: usage(); return 2;
        }
    }
    if (!rawxml && optind >= argc && !events) {
        usage();
        return 2;
    }
    signal(SIGINT, on_sig);
    signal(SIGTERM, on_sig);
    signal(SIGPIPE, SIG_IGN);
    xmlInitParser();
    buf_init(&inbuf, 16 << 20);
    eccp__frame_init(&fr, 16 << 20, 256);
    fd = dial(host, port);
    if (fd < 0)
        return 1;
    int timeout_ms = (secs > 0 ? secs : 10) * 1000;
    char cookie[64] = "";
    int rc = 0;
    buf_t out;
    buf_init(&out, 0);
    if (do_login) {
        buf_printf(&out, "<request id=\"login\"><login><username>");
        xml_text(&out, user);
        buf_printf(&out, "</username><password>");
        xml_text(&out, pass);
        buf_printf(&out, "</password></login></request>\n");
        if (send_all(buf_data(&out), out.len) != 0) {
            rc = 1;
            goto done;
        }
        buf_reset(&out);
        char *m = wait_response("login", timeout_ms);
        if (!m) {
            rc = 1;
            goto done;
        }
        const char *c = strstr(m, "<app_cookie>");
        if (!c) {
            print_msg(m, strlen(m));
            fprintf(stderr, "ccdialer-eccp: login failed\n");
            free(m);
            rc = 1;
            goto done;
        }
        snprintf(cookie, sizeof(cookie), "%.32s", c + strlen("<app_cookie>"));
        free(m);
    }
    const char *id = "1";
    if (rawxml) {
        buf_printf(&out, "%s\n", rawxml);
        /* find the id for matching; fall back to any response */
        const char *p = strstr(rawxml, "id=\"");
        static char rid[256];
        if (p) {
            snprintf(rid, sizeof(rid), "%s", p + 4);
            char *q = strchr(rid, '"');
            if (q)
                *q = '\0';
            id = rid;
        }
    } else if (optind < argc) {
        const char *name = argv[optind];
        buf_printf(&out, "<request id=\"%s\"><%s>", id, name);
        if (agent) {
            buf_printf(&out, "<agent_number>");
            xml_text(&out, agent);
            buf_printf(&out, "</agent_number>");
            if (agent_pw) {
                char h[33];
                eccp_agent_hash(cookie, agent, agent_pw, h);
                buf_printf(&out, "<agent_hash>%s</agent_hash>", h);
            }
        }
        for (int i = optind + 1; i < argc; i++) {
            const char *eq = strchr(argv[i], '=');
            if (!eq || eq == argv[i]) {
                fprintf(stderr, "ccdialer-eccp: argument '%s' is not name=value\n", argv[i]);
                rc = 2;
                goto done;
            }
            buf_printf(&out, "<%.*s>", (int)(eq - argv[i]), argv[i]);
            xml_text(&out, eq + 1);
            buf_printf(&out, "</%.*s>", (int)(eq - argv[i]), argv[i]);
        }
        buf_printf(&out, "</%s></request>\n", name);
    }
    if (out.len) {
        if (send_all(buf_data(&out), out.len) != 0) {
            rc = 1;
            goto done;
        }
        char *m = wait_response(id, timeout_ms);
        if (!m) {
            rc = 1;
            goto done;
        }
        print_msg(m, strlen(m));
        rc = answer_failed(m) ? 3 : 0;
        free(m);
    }
    if (events) {
        int64_t end = clk_mono_ms() + (int64_t)secs * 1000;
        while (!stop && (secs <= 0 || clk_mono_ms() < end)) {
            char *m = NULL;
            int r = next_msg(200, &m);
            if (r < 0)
                break;
            if (r == 1) {
                print_msg(m, strlen(m));
                free(m);
            }
        }
    }
done:
    buf_free(&out);
    buf_free(&inbuf);
    close(fd);
    return rc;
}
