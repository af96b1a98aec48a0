/* conn_flow.c - output flow control of a transport: stop reading while too
 * much output waits for a peer that does not read, resume when it drained,
 * and close a peer that accepts nothing for the send timeout.
 *
 * This is the one place that bounds the output memory of a connection,
 * whatever protocol speaks on it: HTTP/1.1 (pipelined requests are not
 * dispatched while the queue is full, because their input is not read),
 * streamed responses and uploads (which also see the queue through
 * ws101_req_buffered / ws101_fetch_buffered), and upgraded WebSockets
 * (whose send policy in ws.c sits on top of the same queue). */
#include "io/conn.h"

void ws101__conn_set_flow(ws101__conn *c, size_t out_limit,
                          uint32_t send_timeout_ms) {
  c->out_limit = out_limit;
  c->send_timeout_ms = send_timeout_ms;
}

int ws101__conn_out_full(const ws101__conn *c) {
  return (c->flags & WS101__CONN_OUT_FULL) != 0;
}

/* New output was queued: past the limit, stop taking input from the peer,
 * since input is what makes us produce output. */
void ws101__flow_queued(ws101__conn *c) {
  if (c->out_limit == 0 || (c->flags & WS101__CONN_OUT_FULL)) return;
  if (ws101__conn_buffered(c) <= c->out_limit) return;
  c->flags |= WS101__CONN_OUT_FULL;
  if (c->flags & WS101__CONN_READING) ws101__conn_read_stop(c);
}

/* The queue is empty: the peer keeps up again. Resuming only when empty
 * (not at a low-water mark) costs nothing, because the kernel's socket
 * buffer still holds data, and it lets the protocols react in on_drain,
 * which comes right after. Returns 1 if reading was stopped by us. */
int ws101__flow_emptied(ws101__conn *c) {
  if (c->x != NULL) c->x->send_deadline = 0;
  ws101__conn_timed_update(c);
  if (!(c->flags & WS101__CONN_OUT_FULL)) return 0;
  c->flags &= ~WS101__CONN_OUT_FULL;
  if (!(c->flags & (WS101__CONN_CLOSING | WS101__CONN_ENDING)))
    ws101__conn_start(c);
  return 1;
}

/* The kernel took less than everything: the rest (x->inflight) now waits
 * on the peer. Start the send timeout unless it already runs. */
static size_t waiting_bytes(const ws101__conn *c) {
  return c->x->inflight.len - c->x->inflight.off;
}

void ws101__flow_waiting(ws101__conn *c) {
  /* c->x exists: output is waiting (conn.c). */
  if (c->send_timeout_ms == 0 || c->x->send_deadline != 0) return;
  c->x->send_mark = waiting_bytes(c);
  c->x->send_deadline = uv_now(c->loop->uv) + c->send_timeout_ms;
  ws101__conn_timed_update(c);
}

/* All that waited left: that is progress. A next wait re-arms afresh. */
void ws101__flow_written(ws101__conn *c) {
  if (c->x != NULL) c->x->send_deadline = 0;
  ws101__conn_timed_update(c);
}

/* The send deadline passed. What waits is written piecewise as the kernel
 * accepts bytes: any shrink since the last look is progress (a slow
 * reader, not a dead one) and earns another period; none closes the
 * connection. */
void ws101__flow_send_expired(ws101__conn *c, uint64_t now) {
  size_t q;
  if (!(c->flags & WS101__CONN_WRITING)) {
    c->x->send_deadline = 0;
    ws101__conn_timed_update(c);
    return;
  }
  q = waiting_bytes(c);
  if (q < c->x->send_mark) {
    c->x->send_mark = q;
    c->x->send_deadline = now + c->send_timeout_ms;
    ws101__conn_timed_update(c);
    return;
  }
  ws101__conn_close(c, WS101_ETIMEDOUT);
}
