/* pubsub.h - internal: a server's pub/sub hub, the group that links the
 * hubs of worker servers, and the seam the Redis backplane plugs into.
 *
 * A published message becomes one ws101__psmsg: the topic and the server
 * frame (plus, when some subscriber deflates with a shared stream, the
 * deflated frame), in one allocation, reference-counted because the same
 * bytes are delivered on several loops (workers) and to Redis. Every hub
 * queues them to its own subscribers on its own loop thread; the hubs of
 * other workers get them through ws101_loop_post, which is the only
 * thread crossing. */
#ifndef WS101_PUBSUB_H
#define WS101_PUBSUB_H

#include "handles/ws.h"
#include "proto/buf.h"
#include "proto/ws_deflate.h"
#include "server/pubsub_topics.h"
#include "ws101.h"

#include <stdatomic.h>
#include <stdint.h>

typedef struct ws101__pubsub ws101__pubsub;
typedef struct ws101__ps_group ws101__ps_group;

typedef struct ws101__psmsg {
  atomic_uint refs;
  int opcode;
  int remote;        /* came from Redis: never sent back there */
  size_t topic_len;
  const char *topic; /* into buf, NUL-terminated */
  ws101__ws_prepared prep; /* into buf */
  char buf[];
} ws101__psmsg;

typedef struct ws101__ps_worker {
  ws101_loop *loop;
  ws101__pubsub *ps; /* read and cleared on the worker's thread only */
} ws101__ps_worker;

struct ws101__ps_group {
  int n;
  ws101__ps_worker *w;
  /* The backplane, set before any worker runs (or on the only loop), and
   * freed with the group; its own loop is bp_loop. */
  struct ws101_redis *bp;
  ws101_loop *bp_loop;
  int owned_by_hub; /* a lone server's group, freed with its hub */
};

enum { WS101__PS_NSTATS = 9 };

struct ws101__pubsub {
  ws101_server *srv;
  ws101__ps_topics topics;
  ws101__ps_group *group;
  int index; /* in group->w */
  /* Deflates with the loop's shared stream, so its output is the bytes
   * every shared-mode subscriber expects. Created on first need. */
  ws101__pmd *zpmd;
  ws101__buf zbuf;
  ws101__buf local; /* the message of a lone server's publish, reused */
  uint64_t stat[WS101__PS_NSTATS];
};

/* The server's hub, created on first use (NULL on ENOMEM). */
ws101__pubsub *ws101__pubsub_of(ws101_server *srv);

/* server_free: releases the hub (and a lone server's group). */
void ws101__pubsub_server_gone(ws101_server *srv);

/* A group of `n` worker hubs (workers.c): creates the hub of every server
 * and links them. Returns NULL on ENOMEM. */
ws101__ps_group *ws101__ps_group_new(ws101_server **servers, int n);
void ws101__ps_group_free(ws101__ps_group *g);

/* Builds a message: frames `data` once (and deflates it with `ps`'s shared
 * stream if `ps` is not NULL and the message is long enough). NULL on
 * ENOMEM. One reference. */
ws101__psmsg *ws101__psmsg_new(ws101__pubsub *ps, const char *topic,
                               size_t tlen, const char *data, size_t len,
                               int opcode);
void ws101__psmsg_ref(ws101__psmsg *m);
void ws101__psmsg_unref(ws101__psmsg *m);

/* Delivers `m` to every hub of `g`: `self`'s at once (if not NULL, on its
 * loop thread), the others' through posts. Returns the deliveries made
 * at once. */
int ws101__ps_group_deliver(ws101__ps_group *g, ws101__pubsub *self,
                            ws101__psmsg *m);

/* The backplane's side (redis_backplane.c, or redis_stub.c without
 * hiredis): hands a locally published message to Redis. Thread-safe:
 * called on the loop `from` of whichever worker published. Takes its own
 * reference if it keeps `m`. */
void ws101__redis_publish(struct ws101_redis *bp, ws101_loop *from,
                          ws101__psmsg *m);
/* The group is being freed: release the backplane (loops are stopped). */
void ws101__redis_free(struct ws101_redis *bp);
/* The backplane's loop is freeing its server: disconnect, stop timers. */
void ws101__redis_shutdown(struct ws101_redis *bp);

#endif
