/* ws_engine.h - the sans-I/O WebSocket receiver (RFC 6455 + RFC 7692).
 *
 * The engine turns peer bytes into events: it parses frame headers,
 * unmasks payloads in place, reassembles fragmented messages, inflates
 * compressed ones, validates UTF-8 as bytes arrive and checks every rule
 * whose violation fails the connection. It never writes: replies (pong,
 * close echo, failure close) are the caller's job, told by the events.
 *
 * Memory: a complete unfragmented, uncompressed message inside one read is
 * delivered straight from the caller's (mutable) buffer. Anything else is
 * copied once into the reassembly buffer. Only the <= 14 header bytes are
 * ever buffered across reads on their own.
 *
 * An idle connection (at a frame boundary, no message open) holds only the
 * small ws101__wse. The receive state of a frame or message in progress
 * (ws101__wse_part) lives on the stack during a feed and moves to a block
 * of its own only when the feed ends mid-frame or mid-message, or when the
 * reassembly buffer is needed; the block goes back to a per-loop cache
 * (ws101__wse_ctx) as soon as the connection is at a boundary again. */
#ifndef WS101_WS_ENGINE_H
#define WS101_WS_ENGINE_H

#include "proto/buf.h"
#include "core/options.h"
#include "proto/ws_deflate.h"

#include <stddef.h>
#include <stdint.h>

/* Reassembly capacity kept between messages; larger buffers are freed so
 * one big message does not pin memory on an idle connection. */
#define WS101__WSE_KEEP (16 * 1024)

/* Events beyond the public WS101_WS_TEXT/BINARY/FRAGMENT/PING/PONG. */
enum {
  /* The peer's close frame, validated: arg = its code (1005 if none),
   * data/len = its reason. The engine ignores input after it. */
  WS101__WSE_CLOSE = 100,
  /* The connection must fail: arg = our close code (1002, 1007, 1009,
   * 1011), data/len = a static reason. The engine ignores input after it. */
  WS101__WSE_FAIL = 101
};

/* Receives each event. `data` points into the fed buffer or the engine's
 * own buffer and is valid only during the call. Returning non-zero stops
 * the current ws101__wse_feed right after this event (e.g. the
 * application paused reading); the rest of the input is left unconsumed. */
typedef int (*ws101__wse_emit)(void *ud, int event, char *data, size_t len,
                               int arg);

/* What only a connection inside a frame or a message needs. */
typedef struct ws101__wse_part {
  ws101__buf msg;       /* reassembly, inflate output, split control */
  uint64_t remaining;   /* payload bytes left in the current frame */
  uint64_t msg_len;     /* bytes of the current message so far */
  size_t ctl_off;       /* where a split control payload starts in msg */
  struct ws101__wse_part *next; /* in the cache's free list */
  uint8_t key[4];       /* current frame's masking key */
  uint8_t hdr[14];      /* a header split across reads */
  uint8_t hdr_len;
  uint8_t op, fin, masked, key_off; /* current frame */
  uint8_t msg_op;       /* open data message: TEXT/BINARY, or 0 */
  uint8_t msg_z;        /* the open message is compressed */
  uint8_t utf8;         /* validator state of the open text message */
  uint8_t carry_len;    /* streaming text: held-back partial code point */
  uint8_t carry[4];
} ws101__wse_part;

/* Released part blocks kept per loop (with their reassembly buffers up to
 * WS101__WSE_KEEP bytes), so a connection taking one does not malloc. */
#define WS101__WSE_CACHE 8

/* Per-loop (one thread's) engine state, shared by its connections. */
typedef struct ws101__wse_ctx {
  ws101__pmd_shared *pmd_shared; /* the loop's deflate pair, or NULL */
  ws101__wse_part *free;         /* released blocks */
  unsigned nfree;
  size_t taken;                  /* blocks held by engines right now */
} ws101__wse_ctx;

typedef struct ws101__wse {
  const struct ws101_options *opts; /* not owned */
  ws101__pmd *pmd;                  /* lazily created; NULL = not yet */
  ws101__wse_part *part;            /* NULL while idle */
  ws101__pmd_params pmdp;
  uint8_t state;        /* WS101__WSE_S_* (ws_engine.c) */
  uint8_t is_client;    /* we are the client: frames must be unmasked */
  uint8_t has_pmd;      /* permessage-deflate negotiated */
  uint8_t feeding;      /* inside ws101__wse_feed */
} ws101__wse;

/* The per-loop context is not kept in the engine (8 bytes in every idle
 * connection): the caller passes its loop's to each call that may need it.
 * NULL is allowed everywhere: part blocks are then malloc'd and freed, and
 * there is no shared deflate pair. */

/* Initializes an engine. `pmd` NULL means no deflate. `opts` must outlive
 * it. */
void ws101__wse_init(ws101__wse *e, const struct ws101_options *opts,
                     int is_client, const ws101__pmd_params *pmd);

/* Releases the engine's buffers and deflate state. The part block, if
 * any, is freed, not cached (`ctx`, its loop's, only keeps count; NULL on
 * another thread). Called during a feed (from an event), it stops the
 * engine and the feed releases the block as it returns. */
void ws101__wse_free(ws101__wse *e, ws101__wse_ctx *ctx);

/* Feeds peer bytes. `data` is modified (unmasked in place). Returns the
 * number of bytes consumed: `len` unless an emit callback asked to stop.
 * After WSE_CLOSE or WSE_FAIL all further input is consumed and ignored.
 * `ctx`: the loop's context (the same one on every call). */
size_t ws101__wse_feed(ws101__wse *e, ws101__wse_ctx *ctx, char *data,
                       size_t len, ws101__wse_emit emit, void *ud);

/* The deflate state for sending, created on first use (NULL on OOM or if
 * deflate was not negotiated), with `ctx`'s shared pair if any. */
ws101__pmd *ws101__wse_pmd(ws101__wse *e, ws101__wse_ctx *ctx);

/* 1 if `code` is a close code a peer may send (RFC 6455 7.4). */
int ws101__wse_close_code_ok(unsigned code);

/* Heap bytes held (part block, reassembly buffer, deflate state); 0 for
 * an idle engine without deflate. */
size_t ws101__wse_memory(const ws101__wse *e);

/* Frees the blocks a cache keeps (the ctx itself is the caller's). */
void ws101__wse_ctx_clear(ws101__wse_ctx *ctx);

#endif
