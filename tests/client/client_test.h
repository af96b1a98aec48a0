/* client_test.h - shared helpers for the client test programs.
 *
 * Each program runs one case named on its command line against a peer that
 * peers.py started (its port is in WS101_TEST_PORT). The loop runs under a
 * watchdog so a hang fails instead of blocking ctest, and every case ends
 * with ws101_loop_free so LeakSanitizer sees a clean exit. */
#ifndef WS101_CLIENT_TEST_H
#define WS101_CLIENT_TEST_H

#include "test.h"
#include "ws101.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define SKIP(...)                                                          \
  do {                                                                     \
    printf("SKIPPED: ");                                                   \
    printf(__VA_ARGS__);                                                   \
    printf("\n");                                                          \
    exit(77);                                                              \
  } while (0)

static int ct_port(void) {
  const char *p = getenv("WS101_TEST_PORT");
  if (p == NULL) SKIP("WS101_TEST_PORT not set (run through peers.py)");
  return atoi(p);
}

/* Formats a URL on the test peer: ct_url("ws", "/echo"). */
static const char *ct_url(const char *scheme, const char *path) {
  static char buf[8][256];
  static int n;
  char *b = buf[n++ % 8];
  snprintf(b, sizeof(buf[0]), "%s://127.0.0.1:%d%s", scheme, ct_port(), path);
  return b;
}

static void ct_watchdog_cb(uv_timer_t *t) {
  (void)t;
  fprintf(stderr, "watchdog: the test did not finish in time\n");
  abort();
}

/* Runs the loop until it has nothing left to do, aborting after `ms`. */
static void ct_run(ws101_loop *loop, uint64_t ms) {
  uv_timer_t wd;
  uv_timer_init(ws101_loop_uv(loop), &wd);
  uv_timer_start(&wd, ct_watchdog_cb, ms, 0);
  uv_unref((uv_handle_t *)&wd); /* the watchdog alone keeps nothing alive */
  ASSERT_EQ(ws101_loop_run(loop), 0);
  uv_close((uv_handle_t *)&wd, NULL);
  uv_run(ws101_loop_uv(loop), UV_RUN_NOWAIT);
}

/* A case table entry. */
typedef struct ct_case {
  const char *name;
  void (*fn)(void);
} ct_case;

static int ct_main(int argc, char **argv, const ct_case *cases) {
  const ct_case *c;
  (void)test__count; /* test.h's counter is for RUN(); cases run alone */
  if (argc != 2) {
    fprintf(stderr, "usage: %s CASE\n", argv[0]);
    return 2;
  }
  for (c = cases; c->name != NULL; c++) {
    if (strcmp(c->name, argv[1]) == 0) {
      fprintf(stderr, "  %s ...\n", c->name);
      c->fn();
      fprintf(stderr, "  %s ok\n", c->name);
      return 0;
    }
  }
  fprintf(stderr, "unknown case %s\n", argv[1]);
  return 2;
}

#endif
