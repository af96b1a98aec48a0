/* redis_backplane.c - ws101_redis: pub/sub across processes through Redis
 * (hiredis and its libuv adapter; built only when hiredis is found, see
 * redis_stub.c otherwise).
 *
 * Two connections on one loop: `pub` sends PUBLISH, `sub` holds one
 * PSUBSCRIBE on "<prefix>*". A message published here goes to Redis once
 * (never once per subscriber) as "<16 hex node id><opcode digit><payload>"
 * on channel "<prefix><topic>"; every process receives it once from its
 * `sub` connection, drops the ones carrying its own node id (they were
 * delivered locally when published), frames each remaining one once and
 * delivers it to its workers like a local publish, minus the Redis hop.
 *
 * When either connection is lost both are dropped and rebuilt after a
 * backoff (100 ms doubling to 5 s), each failure reported as
 * WS101_REDIS_DOWN. Messages published while down reach local
 * subscribers only: Redis pub/sub itself keeps nothing for absent
 * subscribers, so there is nothing to replay.
 *
 * CMake defines WS101_HAVE_HIREDIS when it found hiredis; otherwise this
 * file is empty and redis_stub.c provides the functions. */
#ifdef WS101_HAVE_HIREDIS
#include "server/pubsub.h"
#include "server/server.h"

#include "core/random.h"
#include "io/loop.h"
#include "proto/utf8.h"

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
/* A connect attempt that is not up (both replies in) by then is dropped
 * and retried: whatever got stuck, the backplane heals itself. */
#define CONNECT_TIMEOUT_MS 3000
#define NODE_LEN 16

struct ws101_redis {
  ws101__ps_group *g;
  ws101_loop *loop;
  char host[64];
  int port;
  char *prefix;
  size_t prefix_len;
  char node[NODE_LEN + 1];
  ws101_redis_cb cb;
  void *ud;
  redisAsyncContext *sub, *pub;
  int sub_ready, pub_ready, up, shut;
  uv_timer_t *timer; /* its own allocation: it may outlive us while closing */
  uint32_t backoff_ms;
  int connecting; /* the timer bounds a connect attempt */
  ws101__buf out; /* channel + payload of the PUBLISH being built */
};

static void connect_both(ws101_redis *r);
static void lost(ws101_redis *r, const char *why);

static void report(ws101_redis *r, int ev, const char *why, int arg) {
  if (r->cb != NULL) r->cb(r, ev, why, arg, r->ud);
}

/* A backplane connection must not keep ws101_loop_run from returning:
 * like the loop's own helpers, only listeners and connections do. */
static void unref_poll(redisAsyncContext *ac) {
  redisLibuvEvents *e = ac->ev.data;
  if (e != NULL) uv_unref((uv_handle_t *)&e->handle);
}

/* hiredis's libuv adapter drops a poll callback with an error status, and
 * libuv reports a socket error on a poll handle (a refused connect, say)
 * exactly that way, after stopping the handle: the context would then wait
 * forever. Our callback hands the error to hiredis as readiness, so its
 * own read or write finds the error and disconnects. The rest of the
 * adapter (its struct, attach, cleanup) is used as it is. */
static void poll_cb(uv_poll_t *h, int status, int events) {
  redisLibuvEvents *p = h->data;
  if (status < 0) events = UV_READABLE | UV_WRITABLE;
  if (p->context != NULL && (events & UV_READABLE))
    redisAsyncHandleRead(p->context);
  if (p->context != NULL && (events & UV_WRITABLE))
    redisAsyncHandleWrite(p->context);
}

static void poll_set(redisLibuvEvents *p, int add, int ev) {
  if (add)
    p->events |= ev;
  else
    p->events &= ~ev;
  if (p->events)
    uv_poll_start(&p->handle, p->events, poll_cb);
  else
    uv_poll_stop(&p->handle);
}

static void add_read(void *d) { poll_set(d, 1, UV_READABLE); }
static void del_read(void *d) { poll_set(d, 0, UV_READABLE); }
static void add_write(void *d) { poll_set(d, 1, UV_WRITABLE); }
static void del_write(void *d) { poll_set(d, 0, UV_WRITABLE); }

/* The timer either waits out a backoff (then connects) or bounds a connect
 * attempt (then, if not up yet, gives up on it). */
static void on_timer(uv_timer_t *t) {
  ws101_redis *r = t->data;
  if (r->connecting) {
    r->connecting = 0;
    if (!r->up) lost(r, "no answer from Redis in time");
    return;
  }
  connect_both(r);
}

/* One of the connections failed or is gone: drop the other, tell the
 * application, try again later. */
static void lost(ws101_redis *r, const char *why) {
  char msg[160];
  uint32_t delay = r->backoff_ms;
  if (r->shut) return;
  r->up = 0;
  r->sub_ready = r->pub_ready = 0;
  if (r->sub != NULL) {
    redisAsyncContext *c = r->sub;
    r->sub = NULL;
    c->data = NULL;
    redisAsyncFree(c);
  }
  if (r->pub != NULL) {
    redisAsyncContext *c = r->pub;
    r->pub = NULL;
    c->data = NULL;
    redisAsyncFree(c);
  }
  r->backoff_ms = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
  r->connecting = 0;
  uv_timer_start(r->timer, on_timer, delay, 0);
  snprintf(msg, sizeof msg, "redis %s:%d: %s", r->host, r->port,
           why ? why : "connection lost");
  report(r, WS101_REDIS_DOWN, msg, (int)delay);
}

static void maybe_up(ws101_redis *r) {
  if (r->up || !r->sub_ready || !r->pub_ready) return;
  r->up = 1;
  r->backoff_ms = BACKOFF_MIN_MS;
  r->connecting = 0;
  uv_timer_stop(r->timer);
  report(r, WS101_REDIS_UP, "", 0);
}

/* A message from Redis: deliver it here unless we sent it. */
static void on_pmessage(ws101_redis *r, const redisReply *ch,
                        const redisReply *msg) {
  ws101__pubsub *self = NULL;
  ws101__psmsg *m;
  const char *topic, *data;
  size_t tlen, len;
  int opcode, i;
  if (ch->type != REDIS_REPLY_STRING || msg->type != REDIS_REPLY_STRING)
    return;
  if ((size_t)ch->len <= r->prefix_len ||
      memcmp(ch->str, r->prefix, r->prefix_len) != 0 ||
      (size_t)msg->len < NODE_LEN + 1)
    return;
  if (memcmp(msg->str, r->node, NODE_LEN) == 0) return; /* our own */
  opcode = msg->str[NODE_LEN] - '0';
  topic = ch->str + r->prefix_len;
  tlen = (size_t)ch->len - r->prefix_len;
  data = msg->str + NODE_LEN + 1;
  len = (size_t)msg->len - NODE_LEN - 1;
  /* Another process is not trusted to send valid frames' content. */
  if (tlen > WS101__PS_TOPIC_MAX || memchr(topic, '\0', tlen) != NULL ||
      (opcode != WS101_OP_TEXT && opcode != WS101_OP_BINARY) ||
      (opcode == WS101_OP_TEXT && !ws101__utf8_valid(data, len)))
    return;
  for (i = 0; i < r->g->n; i++)
    if (r->g->w[i].loop == r->loop) self = r->g->w[i].ps;
  m = ws101__psmsg_new(self, topic, tlen, data, len, opcode);
  if (m == NULL) return;
  m->remote = 1;
  if (self != NULL) self->stat[WS101_PUBSUB_RECEIVED]++;
  ws101__ps_group_deliver(r->g, self, m);
  ws101__psmsg_unref(m);
}

static void on_sub_reply(redisAsyncContext *ac, void *reply, void *priv) {
  ws101_redis *r = ac->data;
  const redisReply *rp = reply;
  (void)priv;
  if (r == NULL || rp == NULL || rp->type != REDIS_REPLY_ARRAY ||
      rp->elements < 3 || rp->element[0]->type != REDIS_REPLY_STRING)
    return;
  if (strcmp(rp->element[0]->str, "psubscribe") == 0) {
    r->sub_ready = 1;
    maybe_up(r);
  } else if (strcmp(rp->element[0]->str, "pmessage") == 0 &&
             rp->elements == 4) {
    on_pmessage(r, rp->element[2], rp->element[3]);
  }
}

static void on_connect(const redisAsyncContext *ac, int status) {
  ws101_redis *r = ac->data;
  if (r == NULL) return;
  if (status != REDIS_OK) {
    /* hiredis frees the context after this callback. */
    if (ac == r->sub) r->sub = NULL;
    if (ac == r->pub) r->pub = NULL;
    lost(r, ac->errstr);
    return;
  }
  /* Readiness comes from replies (PING, PSUBSCRIBE), not from here: hiredis
   * reports a connect only once it has something to write. */
}

static void on_pub_pong(redisAsyncContext *ac, void *reply, void *priv) {
  ws101_redis *r = ac->data;
  (void)priv;
  if (r == NULL || reply == NULL || ac != r->pub) return;
  r->pub_ready = 1;
  maybe_up(r);
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
  ws101_redis *r = ac->data;
  (void)status;
  if (r == NULL) return;
  /* hiredis frees the context after this callback. */
  if (ac == r->sub) r->sub = NULL;
  if (ac == r->pub) r->pub = NULL;
  lost(r, ac->errstr[0] ? ac->errstr : "connection closed");
}

static redisAsyncContext *open_one(ws101_redis *r) {
  redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);
  if (ac == NULL) return NULL;
  if (ac->err || redisLibuvAttach(ac, r->loop->uv) != REDIS_OK) {
    redisAsyncFree(ac);
    return NULL;
  }
  ac->data = r;
  ac->ev.addRead = add_read;
  ac->ev.delRead = del_read;
  ac->ev.addWrite = add_write;
  ac->ev.delWrite = del_write;
  unref_poll(ac);
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  return ac;
}

static void connect_both(ws101_redis *r) {
  if (r->shut) return;
  r->sub = open_one(r);
  r->pub = r->sub != NULL ? open_one(r) : NULL;
  if (r->sub == NULL || r->pub == NULL) {
    lost(r, "cannot connect");
    return;
  }
  r->connecting = 1;
  uv_timer_start(r->timer, on_timer, CONNECT_TIMEOUT_MS, 0);
  /* Queued until connected; the reply confirms the subscription. */
  if (redisAsyncCommand(r->sub, on_sub_reply, NULL, "PSUBSCRIBE %b*",
                        r->prefix, r->prefix_len) != REDIS_OK ||
      redisAsyncCommand(r->pub, on_pub_pong, NULL, "PING") != REDIS_OK)
    lost(r, "cannot subscribe");
}

/* ------------------------------------------------------------------------ */
/* Publishing                                                               */

static void publish_here(ws101_redis *r, const ws101__psmsg *m) {
  const char *argv[3];
  size_t argl[3], clen = r->prefix_len + m->topic_len;
  if (!r->up || r->pub == NULL || m->remote) return;
  r->out.len = 0;
  if (ws101__buf_reserve(&r->out, clen + NODE_LEN + 1 + m->prep.payload_len))
    return;
  memcpy(r->out.data, r->prefix, r->prefix_len);
  memcpy(r->out.data + r->prefix_len, m->topic, m->topic_len);
  memcpy(r->out.data + clen, r->node, NODE_LEN);
  r->out.data[clen + NODE_LEN] = (char)('0' + m->opcode);
  if (m->prep.payload_len)
    memcpy(r->out.data + clen + NODE_LEN + 1, m->prep.payload,
           m->prep.payload_len);
  argv[0] = "PUBLISH";
  argl[0] = 7;
  argv[1] = r->out.data;
  argl[1] = clen;
  argv[2] = r->out.data + clen;
  argl[2] = NODE_LEN + 1 + m->prep.payload_len;
  redisAsyncCommandArgv(r->pub, NULL, NULL, 3, argv, argl);
  ws101__buf_reset(&r->out, 64 * 1024);
}

typedef struct pub_env {
  ws101_redis *r;
  ws101__psmsg *m;
} pub_env;

static void publish_posted(ws101_loop *loop, void *arg) {
  pub_env *e = arg;
  (void)loop;
  if (!e->r->shut) publish_here(e->r, e->m);
  ws101__psmsg_unref(e->m);
  free(e);
}

void ws101__redis_publish(ws101_redis *r, ws101_loop *from, ws101__psmsg *m) {
  pub_env *e;
  if (r->shut || m->remote) return;
  if (from == r->loop) {
    publish_here(r, m);
    return;
  }
  e = malloc(sizeof(*e));
  if (e == NULL) return;
  e->r = r;
  e->m = m;
  ws101__psmsg_ref(m);
  if (ws101_loop_post(r->loop, publish_posted, e) != 0) {
    ws101__psmsg_unref(m);
    free(e);
  }
}

/* ------------------------------------------------------------------------ */
/* Life                                                                     */

static int parse_url(ws101_redis *r, const char *url) {
  const char *h, *colon;
  size_t hl;
  if (strncmp(url, "redis://", 8) != 0) return WS101_EURL;
  h = url + 8;
  colon = strrchr(h, ':');
  hl = colon ? (size_t)(colon - h) : strlen(h);
  if (hl > 0 && h[hl - 1] == '/') hl--;
  if (hl == 0 || hl >= sizeof r->host) return WS101_EURL;
  memcpy(r->host, h, hl);
  r->host[hl] = '\0';
  if (strcmp(r->host, "localhost") == 0) strcpy(r->host, "127.0.0.1");
  r->port = 6379;
  if (colon != NULL) {
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || (*end != '\0' && *end != '/') || p < 1 ||
        p > 65535)
      return WS101_EURL;
    r->port = (int)p;
  }
  {
    /* Names would need a blocking lookup inside hiredis: addresses only. */
    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    if (uv_ip4_addr(r->host, r->port, &a4) != 0 &&
        uv_ip6_addr(r->host, r->port, &a6) != 0)
      return WS101_EURL;
  }
  return 0;
}

int ws101_redis_attach(ws101_server *server, const char *url,
                       const char *channel_prefix, ws101_redis_cb cb,
                       void *user_data, ws101_redis **out) {
  ws101__pubsub *ps;
  ws101_redis *r;
  uint8_t id[NODE_LEN / 2];
  int rc, i;
  if (out != NULL) *out = NULL;
  if (server == NULL || url == NULL) return WS101_EINVAL;
  if (channel_prefix == NULL) channel_prefix = "ws101:";
  if (strlen(channel_prefix) > 256 || strchr(channel_prefix, '*') ||
      strchr(channel_prefix, '?') || strchr(channel_prefix, '['))
    return WS101_EINVAL;
  ps = ws101__pubsub_of(server);
  if (ps == NULL) return WS101_ENOMEM;
  if (ps->group->bp != NULL) return WS101_ESTATE;
  r = calloc(1, sizeof(*r));
  if (r == NULL) return WS101_ENOMEM;
  if ((rc = parse_url(r, url)) != 0) {
    free(r);
    return rc;
  }
  r->prefix = strdup(channel_prefix);
  r->timer = malloc(sizeof(*r->timer));
  if (r->prefix == NULL || r->timer == NULL ||
      ws101__random_bytes(id, sizeof id) != 0) {
    free(r->prefix);
    free(r->timer);
    free(r);
    return WS101_ENOMEM;
  }
  for (i = 0; i < (int)sizeof id; i++)
    snprintf(r->node + 2 * i, 3, "%02x", id[i]);
  r->prefix_len = strlen(r->prefix);
  r->g = ps->group;
  r->loop = server->loop;
  r->cb = cb;
  r->ud = user_data;
  r->backoff_ms = BACKOFF_MIN_MS;
  uv_timer_init(r->loop->uv, r->timer);
  r->timer->data = r;
  uv_unref((uv_handle_t *)r->timer);
  ps->group->bp = r;
  ps->group->bp_loop = r->loop;
  connect_both(r);
  if (out != NULL) *out = r;
  return 0;
}

int ws101_redis_connected(const ws101_redis *r) { return r != NULL && r->up; }

void ws101__redis_shutdown(ws101_redis *r) {
  if (r->shut) return;
  r->shut = 1;
  r->up = 0;
  if (r->sub != NULL) {
    r->sub->data = NULL;
    redisAsyncFree(r->sub);
    r->sub = NULL;
  }
  if (r->pub != NULL) {
    r->pub->data = NULL;
    redisAsyncFree(r->pub);
    r->pub = NULL;
  }
  uv_close((uv_handle_t *)r->timer, (uv_close_cb)free);
  r->timer = NULL;
}

void ws101__redis_free(ws101_redis *r) {
  if (r == NULL) return;
  /* A group whose backplane loop never freed its server (never ran). */
  if (!r->shut) ws101__redis_shutdown(r);
  ws101__buf_free(&r->out);
  free(r->prefix);
  free(r);
}

#else
/* Built without hiredis: see redis_stub.c. */
typedef int ws101__no_redis_backplane;
#endif /* WS101_HAVE_HIREDIS */
