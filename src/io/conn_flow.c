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
  if (c->flags & WS101__CONN_READING) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->flags &= ~WS101__CONN_READING;
  }
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

/* The kernel took less than everything: a uv_write now waits on the
 * peer. Start the send timeout unless it already runs. */
void ws101__flow_waiting(ws101__conn *c) {
  /* c->x exists: a uv_write is pending (conn.c). */
  if (c->send_timeout_ms == 0 || c->x->send_deadline != 0) return;
  c->x->send_mark = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
  c->x->send_deadline = uv_now(c->loop->uv) + c->send_timeout_ms;
  ws101__conn_timed_update(c);
}

/* A whole uv_write left: that is progress. A next one re-arms afresh. */
void ws101__flow_written(ws101__conn *c) {
  if (c->x != NULL) c->x->send_deadline = 0;
  ws101__conn_timed_update(c);
}

/* The send deadline passed. libuv writes a pending uv_write piecewise and
 * shrinks its write queue size as the kernel accepts bytes: any shrink
 * since the last look is progress (a slow reader, not a dead one) and
 * earns another period; none closes the connection. */
void ws101__flow_send_expired(ws101__conn *c, uint64_t now) {
  size_t q = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
  if (!(c->flags & WS101__CONN_WRITING)) {
    c->x->send_deadline = 0;
    ws101__conn_timed_update(c);
    return;
  }
  if (q < c->x->send_mark) {
    c->x->send_mark = q;
    c->x->send_deadline = now + c->send_timeout_ms;
    ws101__conn_timed_update(c);
    return;
  }
  ws101__conn_close(c, WS101_ETIMEDOUT);
}
