/* ab_client.c - the ws101 WebSocket client under Autobahn|Testsuite's
 * fuzzingserver: asks for the number of cases, runs each one as an echo
 * client (every message sent back as it came, text as text, binary as
 * binary), then asks the suite to write its reports.
 *
 *   ab_client URL AGENT DEFLATE
 *
 * URL is the suite's base ("ws://127.0.0.1:PORT"), AGENT the name the
 * reports are filed under, DEFLATE 1 to offer permessage-deflate (the
 * client's default) or 0 not to. Every other option is the default, so
 * this is the client as an application gets it, except the handshake
 * timeout: in cases such as 9.3.1 the suite builds the whole message (4 MiB
 * in 64-byte frames) before its 101 leaves, which on a loaded machine
 * takes longer than the default 10 s. Exits 0 once the reports
 * were requested; non-zero if a connection to the suite failed outright or
 * an echo was refused (the suite's verdicts are read by run_autobahn.py). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws101.h"

/* Steps, in order; each is one connection to the suite. */
enum { COUNT = 1, CASES, REPORTS, DONE };

typedef struct session {
  ws101_loop *loop;
  ws101_options *opts;
  const char *base, *agent;
  int ncases;  /* from /getCaseCount */
  int next;    /* next case to run, 1-based */
  int step;    /* 0 before the first connection, then COUNT..DONE */
  int failures;
} session;

static void step(session *s);

/* Echoes a message; a refused echo is reported and closes the connection
 * (1008 for backpressure, 1011 otherwise), never dropped silently. */
static void echo(session *s, ws101_ws *ws, const char *data, size_t len,
                 int opcode) {
  int rc = ws101_ws_send(ws, data, len, opcode);
  if (rc == 0 || rc == WS101_ECLOSED) return;
  fprintf(stderr, "ab_client: case %d: echo of %zu bytes refused: %s\n",
          s->next - 1, len, ws101_strerror(rc));
  s->failures++;
  ws101_ws_close(ws, rc == WS101_EBACKPRESSURE ? 1008 : 1011, "echo refused");
}

static void on_ws(ws101_ws *ws, int event, const char *data, size_t len,
                  int arg, void *ud) {
  session *s = ud;
  switch (event) {
    case WS101_WS_TEXT:
      if (s->step == COUNT) s->ncases = atoi(data); /* its only message */
      else if (s->step == CASES) echo(s, ws, data, len, WS101_OP_TEXT);
      break;
    case WS101_WS_BINARY:
      if (s->step == CASES) echo(s, ws, data, len, WS101_OP_BINARY);
      break;
    case WS101_WS_ERROR:
      /* A case may end its connection in any way (the suite judges it);
       * the count and report connections must work. */
      fprintf(stderr, "ab_client: step %d case %d: %.*s (%s)\n", s->step,
              s->next - 1, (int)len, data, ws101_strerror(arg));
      if (s->step != CASES) s->failures++;
      break;
    case WS101_WS_CLOSE:
      /* The next connection starts once this one is gone: the suite runs
       * one case at a time. */
      step(s);
      break;
    default:
      break;
  }
}

static void connect_to(session *s, const char *url) {
  int rc = ws101_ws_connect(s->loop, url, s->opts, on_ws, s, NULL);
  if (rc != 0) {
    fprintf(stderr, "ab_client: connect %s: %s\n", url, ws101_strerror(rc));
    s->failures++;
    s->step = DONE;
  }
}

/* Ends the current step and starts the next one. */
static void step(session *s) {
  char url[512];
  switch (s->step) {
    case 0:
      s->step = COUNT;
      snprintf(url, sizeof url, "%s/getCaseCount", s->base);
      connect_to(s, url);
      return;
    case COUNT:
      if (s->ncases <= 0) {
        fprintf(stderr, "ab_client: no case count from the suite\n");
        s->failures++;
        s->step = DONE;
        return;
      }
      s->step = CASES;
      s->next = 1;
      /* fall through */
    case CASES:
      if (s->next <= s->ncases) {
        snprintf(url, sizeof url, "%s/runCase?case=%d&agent=%s", s->base,
                 s->next++, s->agent);
        connect_to(s, url);
        return;
      }
      s->step = REPORTS;
      snprintf(url, sizeof url, "%s/updateReports?agent=%s", s->base,
               s->agent);
      connect_to(s, url);
      return;
    default:
      s->step = DONE;
      return;
  }
}

int main(int argc, char **argv) {
  session s;
  int rc;
  if (argc != 4) {
    fprintf(stderr, "usage: ab_client URL AGENT DEFLATE\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  memset(&s, 0, sizeof s);
  s.base = argv[1];
  s.agent = argv[2];
  if ((rc = ws101_loop_new(&s.loop)) != 0 ||
      (rc = ws101_options_new(&s.opts)) != 0 ||
      (rc = ws101_options_set(s.opts, WS101_OPT_DEFLATE, atoi(argv[3]) != 0)) ||
      (rc = ws101_options_set(s.opts, WS101_OPT_WS_HANDSHAKE_TIMEOUT_MS,
                              120000))) {
    fprintf(stderr, "ab_client: %s\n", ws101_strerror(rc));
    return 1;
  }
  step(&s);
  rc = ws101_loop_run(s.loop);
  ws101_options_free(s.opts);
  ws101_loop_free(s.loop);
  fprintf(stderr, "ab_client: %d of %d cases run, %d failures\n",
          s.next > 0 ? s.next - 1 : 0, s.ncases, s.failures);
  return rc != 0 || s.failures != 0 || s.step != DONE ? 1 : 0;
}
