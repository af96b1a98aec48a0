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
 * copied once into `msg`, which keeps its capacity between messages up to
 * WS101__WSE_KEEP bytes. Only the <= 14 header bytes are ever buffered
 * across reads on their own. */
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

typedef struct ws101__wse {
  const struct ws101_options *opts; /* not owned */
  ws101__pmd *pmd;                  /* lazily created; NULL = not yet */
  ws101__pmd_shared *pmd_shared;    /* per-loop streams, or NULL */
  ws101__buf msg;       /* reassembly, inflate output, split control */
  uint64_t remaining;   /* payload bytes left in the current frame */
  uint64_t msg_len;     /* bytes of the current message so far */
  size_t ctl_off;       /* where a split control payload starts in msg */
  ws101__pmd_params pmdp;
  uint8_t key[4];       /* current frame's masking key */
  uint8_t hdr[14];      /* a header split across reads */
  uint8_t hdr_len;
  uint8_t state;        /* WS101__WSE_S_* (ws_engine.c) */
  uint8_t is_client;    /* we are the client: frames must be unmasked */
  uint8_t has_pmd;      /* permessage-deflate negotiated */
  uint8_t op, fin, masked, key_off; /* current frame */
  uint8_t msg_op;       /* open data message: TEXT/BINARY, or 0 */
  uint8_t msg_z;        /* the open message is compressed */
  uint8_t utf8;         /* validator state of the open text message */
  uint8_t carry_len;    /* streaming text: held-back partial code point */
  uint8_t carry[4];
} ws101__wse;

/* Initializes an engine. `pmd` NULL means no deflate; `shared` is the
 * loop's shared deflate pair (may be NULL). `opts` must outlive it. */
void ws101__wse_init(ws101__wse *e, const struct ws101_options *opts,
                     int is_client, const ws101__pmd_params *pmd,
                     ws101__pmd_shared *shared);

/* Releases the engine's buffers and deflate state. */
void ws101__wse_free(ws101__wse *e);

/* Feeds peer bytes. `data` is modified (unmasked in place). Returns the
 * number of bytes consumed: `len` unless an emit callback asked to stop.
 * After WSE_CLOSE or WSE_FAIL all further input is consumed and ignored. */
size_t ws101__wse_feed(ws101__wse *e, char *data, size_t len,
                       ws101__wse_emit emit, void *ud);

/* The deflate state for sending, created on first use (NULL on OOM or if
 * deflate was not negotiated). */
ws101__pmd *ws101__wse_pmd(ws101__wse *e);

/* 1 if `code` is a close code a peer may send (RFC 6455 7.4). */
int ws101__wse_close_code_ok(unsigned code);

/* Heap bytes held (reassembly buffer, deflate state). */
size_t ws101__wse_memory(const ws101__wse *e);

#endif
