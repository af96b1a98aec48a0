/* pubsub.c - topics on a server: subscribe, publish (framed once, the same
 * bytes queued to every subscriber), per-subscriber backpressure, counters,
 * and the fan-out to the other workers of a group. */
#include "server/pubsub.h"

#include "io/conn.h"
#include "io/loop.h"
#include "proto/utf8.h"
#include "proto/ws_frame.h"
#include "server/server.h"

#include <stdlib.h>
#include <string.h>

/* Deflate output above this size is not kept between messages. */
#define ZBUF_KEEP (256 * 1024)
/* Likewise for the reusable message of a lone server. */
#define LOCAL_KEEP (256 * 1024)

/* ------------------------------------------------------------------------ */
/* Hubs and groups                                                          */

static ws101__pubsub *hub_new(ws101_server *srv) {
  ws101__pubsub *ps = calloc(1, sizeof(*ps));
  if (ps == NULL) return NULL;
  ps->srv = srv;
  ws101__ps_init(&ps->topics);
  srv->pubsub = ps;
  return ps;
}

ws101__pubsub *ws101__pubsub_of(ws101_server *srv) {
  ws101__pubsub *ps;
  ws101__ps_group *g;
  if (srv->pubsub != NULL) return srv->pubsub;
  /* A lone server is a group of one, so publishing has one path. */
  g = calloc(1, sizeof(*g));
  if (g == NULL) return NULL;
  g->w = calloc(1, sizeof(*g->w));
  ps = g->w != NULL ? hub_new(srv) : NULL;
  if (ps == NULL) {
    free(g->w);
    free(g);
    return NULL;
  }
  g->n = 1;
  g->w[0].loop = srv->loop;
  g->w[0].ps = ps;
  g->owned_by_hub = 1;
  ps->group = g;
  return ps;
}

ws101__ps_group *ws101__ps_group_new(ws101_server **servers, int n) {
  ws101__ps_group *g = calloc(1, sizeof(*g));
  int i;
  if (g == NULL) return NULL;
  g->w = calloc((size_t)n, sizeof(*g->w));
  if (g->w == NULL) {
    free(g);
    return NULL;
  }
  g->n = n;
  for (i = 0; i < n; i++) {
    ws101__pubsub *ps = hub_new(servers[i]);
    if (ps == NULL) {
      while (i-- > 0) ws101__pubsub_server_gone(servers[i]);
      free(g->w);
      free(g);
      return NULL;
    }
    ps->group = g;
    ps->index = i;
    g->w[i].loop = servers[i]->loop;
    g->w[i].ps = ps;
  }
  return g;
}

void ws101__ps_group_free(ws101__ps_group *g) {
  if (g == NULL) return;
  if (g->bp != NULL) ws101__redis_free(g->bp);
  free(g->w);
  free(g);
}

void ws101__pubsub_server_gone(ws101_server *srv) {
  ws101__pubsub *ps = srv->pubsub;
  ws101__ps_group *g;
  if (ps == NULL) return;
  g = ps->group;
  srv->pubsub = NULL;
  if (g != NULL) {
    g->w[ps->index].ps = NULL;
    /* The backplane runs on this loop: its connection goes with it. */
    if (g->bp != NULL && g->bp_loop == srv->loop) ws101__redis_shutdown(g->bp);
    if (g->owned_by_hub) ws101__ps_group_free(g);
  }
  ws101__ps_free(&ps->topics);
  ws101__pmd_free(ps->zpmd);
  ws101__buf_free(&ps->zbuf);
  ws101__buf_free(&ps->local);
  free(ps);
}

/* ------------------------------------------------------------------------ */
/* Subscriptions                                                            */

/* The hub of a live server-side connection, or NULL. */
static ws101__pubsub *hub_of_ws(const ws101_ws *ws) {
  if (ws == NULL || ws->conn == NULL || ws->conn->owner == NULL) return NULL;
  return ((ws101_server *)ws->conn->owner)->pubsub;
}

int ws101_ws_subscribe(ws101_ws *ws, const char *topic) {
  ws101__pubsub *ps;
  size_t len;
  int rc;
  if (ws == NULL || topic == NULL) return WS101_EINVAL;
  len = strlen(topic);
  if (len == 0 || len > WS101__PS_TOPIC_MAX) return WS101_EINVAL;
  if (ws->eng.is_client) return WS101_ENOTSUP;
  if (ws->finished || ws->conn == NULL || ws->conn->owner == NULL ||
      (ws->conn->flags & WS101__CONN_CLOSING))
    return WS101_ECLOSED;
  ps = ws101__pubsub_of((ws101_server *)ws->conn->owner);
  if (ps == NULL) return WS101_ENOMEM;
  rc = ws101__ps_subscribe(&ps->topics, ws, topic, len);
  if (rc == 1) ws->subscribed = 1;
  return rc;
}

int ws101_ws_unsubscribe(ws101_ws *ws, const char *topic) {
  ws101__pubsub *ps;
  if (ws == NULL || topic == NULL) return WS101_EINVAL;
  if (!ws->subscribed || (ps = hub_of_ws(ws)) == NULL) return 0;
  return ws101__ps_unsubscribe(&ps->topics, ws, topic, strlen(topic));
}

int ws101_ws_is_subscribed(const ws101_ws *ws, const char *topic) {
  const ws101__pubsub *ps;
  if (ws == NULL || topic == NULL || !ws->subscribed) return 0;
  if ((ps = hub_of_ws(ws)) == NULL) return 0;
  return ws101__ps_is_on(&ps->topics, ws, topic, strlen(topic));
}

size_t ws101_ws_subscription_count(const ws101_ws *ws) {
  const ws101__pubsub *ps;
  if (ws == NULL || !ws->subscribed || (ps = hub_of_ws(ws)) == NULL) return 0;
  return ws101__ps_count_of(&ps->topics, ws);
}

ws101_server *ws101_ws_server(const ws101_ws *ws) {
  if (ws == NULL || ws->eng.is_client || ws->conn == NULL) return NULL;
  return (ws101_server *)ws->conn->owner;
}

void ws101__pubsub_ws_gone(ws101_ws *ws) {
  ws101__pubsub *ps = hub_of_ws(ws);
  ws->subscribed = 0;
  if (ps != NULL) ws101__ps_drop(&ps->topics, ws);
}

size_t ws101_server_subscribers(const ws101_server *server,
                                const char *topic) {
  const ws101__ps_topic *t;
  if (server == NULL || topic == NULL || server->pubsub == NULL) return 0;
  t = ws101__ps_find(&((ws101__pubsub *)server->pubsub)->topics, topic,
                     strlen(topic));
  return t != NULL ? t->n : 0;
}

uint64_t ws101_server_pubsub_stat(const ws101_server *server, int which) {
  const ws101__pubsub *ps;
  if (server == NULL || server->pubsub == NULL) return 0;
  ps = server->pubsub;
  switch (which) {
  case WS101_PUBSUB_TOPICS: return ps->topics.topics.n;
  case WS101_PUBSUB_SUBSCRIPTIONS: return ps->topics.nsubscriptions;
  case WS101_PUBSUB_MEMORY:
    return sizeof(*ps) + ws101__ps_memory(&ps->topics) + ps->zbuf.cap +
           ps->local.cap;
  default:
    return which >= 1 && which < WS101__PS_NSTATS ? ps->stat[which] : 0;
  }
}

/* ------------------------------------------------------------------------ */
/* Messages                                                                 */

static void free_shared(void *p) {
  ws101__pmd_shared_free((ws101__pmd_shared *)p);
}

/* Deflates `data` with the loop's shared stream into ps->zbuf. The result
 * is what every subscriber deflating with a shared stream would produce
 * itself (same options, empty window per message). Returns 0 or
 * WS101_ENOMEM. */
static int shared_deflate(ws101__pubsub *ps, const char *data, size_t len) {
  ws101_loop *loop = ps->srv->loop;
  if (ps->zpmd == NULL) {
    static const ws101__pmd_params prm = {1, 1, 15, 15};
    if (loop->deflate_shared == NULL) {
      loop->deflate_shared = ws101__pmd_shared_new(&ps->srv->opts);
      if (loop->deflate_shared == NULL) return WS101_ENOMEM;
      loop->deflate_shared_free = free_shared;
    }
    ps->zpmd = ws101__pmd_new(&prm, 1, &ps->srv->opts,
                              (ws101__pmd_shared *)loop->deflate_shared);
    if (ps->zpmd == NULL) return WS101_ENOMEM;
  }
  return ws101__pmd_deflate(ps->zpmd, data ? data : "", len, &ps->zbuf);
}

/* Whether a message is worth deflating before knowing who receives it:
 * in SHARED mode every deflate subscriber takes the shared bytes. */
static int deflate_eagerly(const ws101__pubsub *ps, size_t len) {
  const struct ws101_options *o = &ps->srv->opts;
  return o->deflate && o->deflate_memory == WS101_DEFLATE_SHARED &&
         len >= o->deflate_min_size;
}

/* Builds the message in `mem` (kept by the hub, `keep` = 1: reused for the
 * next publish) or in a fresh allocation. */
static ws101__psmsg *msg_build(ws101__pubsub *ps, ws101__buf *mem,
                               const char *topic, size_t tlen,
                               const char *data, size_t len, int opcode) {
  const char *z = NULL;
  size_t zlen = 0, hn = ws101__ws_hdr_len(len, 0), zn = 0, size;
  ws101__psmsg *m;
  char *p;
  if (ps != NULL && deflate_eagerly(ps, len) &&
      shared_deflate(ps, data, len) == 0) {
    z = ps->zbuf.data;
    zlen = ps->zbuf.len;
    zn = ws101__ws_hdr_len(zlen, 0);
  }
  size = sizeof(*m) + tlen + 1 + hn + len + (z ? zn + zlen : 0);
  if (len > SIZE_MAX / 4 || zlen > SIZE_MAX / 4) return NULL;
  if (mem != NULL) {
    /* A lone server's local publish: nothing outlives the call, so the
     * hub's buffer serves every message (no allocation per publish). */
    mem->len = 0;
    m = ws101__buf_reserve(mem, size) == 0 ? (ws101__psmsg *)(void *)mem->data
                                           : NULL;
  } else {
    m = malloc(size);
  }
  if (m != NULL) {
    atomic_init(&m->refs, 1);
    m->opcode = opcode;
    m->remote = 0;
    m->topic_len = tlen;
    p = m->buf;
    memcpy(p, topic, tlen);
    p[tlen] = '\0';
    m->topic = p;
    p += tlen + 1;
    m->prep.plain = p;
    m->prep.plain_len = hn + len;
    ws101__ws_hdr_encode((uint8_t *)p, 1, 0, opcode, len, NULL);
    if (len) memcpy(p + hn, data, len);
    m->prep.payload = p + hn;
    m->prep.payload_len = len;
    m->prep.opcode = opcode;
    p += hn + len;
    m->prep.z = NULL;
    m->prep.z_len = 0;
    if (z != NULL) {
      ws101__ws_hdr_encode((uint8_t *)p, 1, 1, opcode, zlen, NULL);
      memcpy(p + zn, z, zlen);
      m->prep.z = p;
      m->prep.z_len = zn + zlen;
    }
  }
  if (ps != NULL) ws101__buf_reset(&ps->zbuf, ZBUF_KEEP);
  return m;
}

ws101__psmsg *ws101__psmsg_new(ws101__pubsub *ps, const char *topic,
                               size_t tlen, const char *data, size_t len,
                               int opcode) {
  return msg_build(ps, NULL, topic, tlen, data, len, opcode);
}

void ws101__psmsg_ref(ws101__psmsg *m) { atomic_fetch_add(&m->refs, 1); }

void ws101__psmsg_unref(ws101__psmsg *m) {
  if (m != NULL && atomic_fetch_sub(&m->refs, 1) == 1) free(m);
}

/* ------------------------------------------------------------------------ */
/* Delivery                                                                 */

/* A message that arrived without the deflated frame, on a loop with
 * subscribers that need it: deflate once here, for all of them. The frame
 * is built in ps->zbuf after the payload (header first). */
static int local_z(ws101__pubsub *ps, const ws101__psmsg *m,
                   ws101__ws_prepared *out, ws101__buf *frame) {
  size_t zn;
  int rc = shared_deflate(ps, m->prep.payload, m->prep.payload_len);
  if (rc != 0) return rc;
  zn = ws101__ws_hdr_len(ps->zbuf.len, 0);
  frame->len = 0;
  if (ws101__buf_reserve(frame, zn + ps->zbuf.len) != 0) return WS101_ENOMEM;
  ws101__ws_hdr_encode((uint8_t *)frame->data, 1, 1, m->opcode, ps->zbuf.len,
                       NULL);
  memcpy(frame->data + zn, ps->zbuf.data, ps->zbuf.len);
  frame->len = zn + ps->zbuf.len;
  *out = m->prep;
  out->z = frame->data;
  out->z_len = frame->len;
  return 0;
}

/* Queues `m` to this hub's subscribers. Each one has its own queue and
 * its own policy; nothing here waits for any of them. */
static int deliver_local(ws101__pubsub *ps, const ws101__psmsg *m) {
  static const char why[] = "slow subscriber";
  ws101__ps_topic *t = ws101__ps_find(&ps->topics, m->topic, m->topic_len);
  const ws101__ws_prepared *prep = &m->prep;
  ws101__ws_prepared local;
  ws101__buf frame = {0};
  uint32_t i;
  int n = 0;
  if (t == NULL) return 0;
  /* Sending never removes a subscriber synchronously (a closed connection
   * leaves its topics from its close callback), so t stays valid. */
  for (i = 0; i < t->n; i++) {
    ws101_ws *ws = t->subs[i].sub;
    int rc = ws101__ws_send_prepared(ws, prep);
    if (rc == WS101__WS_NEED_Z) {
      rc = local_z(ps, m, &local, &frame);
      if (rc == 0) {
        prep = &local;
        rc = ws101__ws_send_prepared(ws, prep);
      }
    }
    if (rc == 0) {
      n++;
    } else if (rc == WS101_EBACKPRESSURE &&
               ws->eng.opts->ws_backpressure_policy ==
                   WS101_BACKPRESSURE_CLOSE) {
      ps->stat[WS101_PUBSUB_DROPPED]++;
      ws101_ws_close(ws, 1008, why);
    } else if (rc == WS101_EBACKPRESSURE || rc == WS101_ESTATE) {
      ps->stat[WS101_PUBSUB_SKIPPED]++;
    }
    /* WS101_ECLOSED: closing anyway; ENOMEM closed the connection. */
  }
  ws101__buf_free(&frame);
  ws101__buf_reset(&ps->zbuf, ZBUF_KEEP);
  ps->stat[WS101_PUBSUB_DELIVERED] += (uint64_t)n;
  return n;
}

/* Runs on a worker's loop: finds that worker's hub by its loop (a group
 * has few workers, and this spares an allocation per post). */
typedef struct post_env {
  ws101__ps_group *g;
  ws101__psmsg *m;
} post_env;

static void deliver_posted(ws101_loop *loop, void *arg) {
  post_env *e = arg;
  int i;
  for (i = 0; i < e->g->n; i++) {
    ws101__pubsub *ps = e->g->w[i].ps;
    if (e->g->w[i].loop != loop || ps == NULL) continue;
    ps->stat[WS101_PUBSUB_RECEIVED]++;
    deliver_local(ps, e->m);
  }
  ws101__psmsg_unref(e->m);
  free(e);
}

int ws101__ps_group_deliver(ws101__ps_group *g, ws101__pubsub *self,
                            ws101__psmsg *m) {
  int i, n = 0;
  for (i = 0; i < g->n; i++) {
    post_env *e;
    /* By index: another worker's `ps` is its thread's to read. */
    if (self != NULL && i == self->index) continue;
    e = malloc(sizeof(*e));
    if (e == NULL) continue;
    e->g = g;
    e->m = m;
    ws101__psmsg_ref(m);
    if (ws101_loop_post(g->w[i].loop, deliver_posted, e) != 0) {
      ws101__psmsg_unref(m);
      free(e);
    }
  }
  if (self != NULL) n = deliver_local(self, m);
  return n;
}

int ws101_server_publish(ws101_server *server, const char *topic,
                         const char *data, size_t len, int opcode) {
  ws101__pubsub *ps;
  ws101__psmsg *m;
  size_t tlen;
  int n;
  if (server == NULL || topic == NULL || (data == NULL && len > 0) ||
      (opcode != WS101_OP_TEXT && opcode != WS101_OP_BINARY))
    return WS101_EINVAL;
  tlen = strlen(topic);
  if (tlen == 0 || tlen > WS101__PS_TOPIC_MAX) return WS101_EINVAL;
  if (opcode == WS101_OP_TEXT && !ws101__utf8_valid(data ? data : "", len))
    return WS101_EUTF8;
  ps = ws101__pubsub_of(server);
  if (ps == NULL) return WS101_ENOMEM;
  ps->stat[WS101_PUBSUB_PUBLISHED]++;
  /* Nobody anywhere to send to: a lone server with no subscriber on the
   * topic and no backplane does no work at all. */
  if (ps->group->n == 1 && ps->group->bp == NULL &&
      ws101__ps_find(&ps->topics, topic, tlen) == NULL)
    return 0;
  if (ps->group->n == 1 && ps->group->bp == NULL) {
    m = msg_build(ps, &ps->local, topic, tlen, data, len, opcode);
    if (m == NULL) return WS101_ENOMEM;
    n = deliver_local(ps, m);
    ws101__buf_reset(&ps->local, LOCAL_KEEP);
    return n;
  }
  m = ws101__psmsg_new(ps, topic, tlen, data, len, opcode);
  if (m == NULL) return WS101_ENOMEM;
  n = ws101__ps_group_deliver(ps->group, ps, m);
  if (ps->group->bp != NULL) ws101__redis_publish(ps->group->bp, server->loop, m);
  ws101__psmsg_unref(m);
  return n;
}
