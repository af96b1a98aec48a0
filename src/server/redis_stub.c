/* redis_stub.c - ws101_redis_* when the library is built without hiredis
 * (then redis_backplane.c is empty): the API exists in
 * every build, so programs link the same way, and says WS101_ENOTSUP.
 * Empty when CMake found hiredis (WS101_HAVE_HIREDIS). */
#ifndef WS101_HAVE_HIREDIS
#include "server/pubsub.h"

#include <stdlib.h>

struct ws101_redis {
  int unused;
};

int ws101_redis_attach(ws101_server *server, const char *url,
                       const char *channel_prefix, ws101_redis_cb cb,
                       void *user_data, ws101_redis **out) {
  (void)channel_prefix, (void)cb, (void)user_data;
  if (out != NULL) *out = NULL;
  if (server == NULL || url == NULL) return WS101_EINVAL;
  return WS101_ENOTSUP;
}

int ws101_redis_connected(const ws101_redis *r) {
  (void)r;
  return 0;
}

void ws101__redis_publish(ws101_redis *bp, ws101_loop *from, ws101__psmsg *m) {
  (void)bp, (void)from, (void)m;
}

void ws101__redis_free(ws101_redis *bp) { free(bp); }

void ws101__redis_shutdown(ws101_redis *bp) { (void)bp; }

#else
typedef int ws101__redis_stub_unused;
#endif /* !WS101_HAVE_HIREDIS */
