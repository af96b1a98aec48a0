/* loop.h - the internal layout of ws101_loop. */
#ifndef WS101_LOOP_H
#define WS101_LOOP_H

#include "ws101.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct ws101__conn;
struct ws101__post;

/* Something a higher layer owns on this loop that ws101_loop_free must
 * close (a server today). The loop knows it only through this hook, so io/
 * never calls up into server/ or client/. `close` starts an orderly,
 * possibly asynchronous close; the owner unlinks the entry with
 * ws101__loop_remove_closable once it is really gone, and ws101_loop_free
 * runs the loop until the list is empty. */
typedef struct ws101__closable {
  void (*close)(struct ws101__closable *self);
  struct ws101__closable *prev, *next;
} ws101__closable;

/* Something the application still holds after what carried it is gone:
 * a server request whose connection or HTTP/2 stream ended before the
 * answer. Its answer, whenever it comes, frees it; if none comes,
 * ws101_loop_free calls `release` once every connection is closed and the
 * last posted callbacks ran (the application cannot use it after that).
 * The loop only keeps the list. */
typedef struct ws101__orphan {
  void (*release)(struct ws101__orphan *self);
  struct ws101_loop *loop; /* NULL while not on a loop's list */
  struct ws101__orphan *prev, *next;
} ws101__orphan;

/* One shared read buffer per loop: libuv reads into it, protocols consume
 * it during the callback and copy only what they must keep. */
#define WS101__READ_BUF_SIZE (64 * 1024)

struct ws101_loop {
  uv_loop_t *uv;
  uv_loop_t own_uv;
  int owns_uv;
  int running;  /* inside ws101_loop_run / run_once */
  int freeing;  /* ws101_loop_free in progress */
  int stopped;  /* ws101_loop_stop was called during this run */
  char *rbuf;   /* WS101__READ_BUF_SIZE bytes */
  int rbuf_busy;
  /* Thread-safe posts. */
  uv_async_t async;
  uv_mutex_t post_mu;
  struct ws101__post *post_head, *post_tail;
  int post_closed;
  /* Output flushing once per iteration. */
  uv_prepare_t flush_prepare;
  uv_check_t flush_check;
  struct ws101__conn *dirty;
  /* Deadlines. */
  uv_timer_t sweep;
  struct ws101__conn *timed;
  /* The sweep's list of expired connections (kept between sweeps). */
  struct ws101__conn **texp;
  size_t texp_cap;
  /* How many connections are open (their list is libuv's handle queue,
   * see ws101__conn_foreach). */
  size_t nconns;
  /* The TEXT message a WebSocket callback is being handed (NULL outside
   * one): the engine validated it, so ws101_ws_send skips UTF-8 for
   * exactly these bytes (handles/ws.c). */
  const char *rx_text;
  size_t rx_text_len;
  /* The cached HTTP Date value ("Sun, 06 Nov 1994 08:49:37 GMT"). */
  char date[32];
  uint64_t date_sec;
  /* Cache of released pending-write states (ws101__conn_x, conn.c), so
   * connections that start and stop having output do not call malloc
   * each time. */
  void *req_cache;
  size_t req_cache_len;
  /* Pool of output buffers lent to connections while they have output. */
  char *out_pool;
  size_t out_pool_len;
  /* Per-loop shared state of other modules, created on first use. */
  void *deflate_shared;        /* ws101__pmd_shared * */
  void (*deflate_shared_free)(void *);
  void *ws_scratch;            /* ws.c's per-loop state (its loop_ws) */
  void (*ws_scratch_free)(void *);
  void *client_pool;           /* HTTP client keep-alive pool */
  void (*client_pool_free)(void *);
  /* Servers (and whatever else registers) still open, closed by
   * ws101_loop_free. */
  ws101__closable *closables;
  /* TLS (io/tls.c): the plaintext buffer records are decrypted into
   * (the read buffer still holds the ciphertext), and the client contexts
   * with their session caches. */
  char *tls_plain;
  void *tls_clients;
  void (*tls_clients_free)(void *);
  /* Timers not yet closed (timer.c), closed by ws101_loop_free. */
  struct ws101_timer *timers;
  /* Held by the application, released by ws101_loop_free. */
  ws101__orphan *orphans;
};

/* The loop's Date header value, refreshed at most once per second. */
const char *ws101__loop_date(ws101_loop *loop);

/* Starts the deadline sweep timer if it is not running. */
void ws101__loop_arm_sweep(ws101_loop *loop);

/* Registers / unregisters something ws101_loop_free must close. */
void ws101__loop_add_closable(ws101_loop *loop, ws101__closable *c);
void ws101__loop_remove_closable(ws101_loop *loop, ws101__closable *c);

/* Puts `o` (its release set) on the loop's orphan list; remove takes it
 * off (a no-op when it is on none). */
void ws101__loop_add_orphan(ws101_loop *loop, ws101__orphan *o);
void ws101__loop_remove_orphan(ws101__orphan *o);

/* Closes every timer still open (timer.c); ws101_loop_free calls it. */
void ws101__timer_close_all(ws101_loop *loop);

/* Maps a libuv error to a WS101_E* code. */
int ws101__uv_err(int uverr);

#endif
