/* options.h - the internal layout of ws101_options (opaque in the API).
 * Servers, WebSockets and clients copy the whole struct, so reading an
 * option on a hot path is a plain field load. */
#ifndef WS101_OPTIONS_H
#define WS101_OPTIONS_H

#include "ws101.h"

#include <stddef.h>
#include <stdint.h>

/* A NULL-terminated-free list of owned strings (origins, subprotocols). */
typedef struct ws101__strlist {
  char **items;
  size_t count;
} ws101__strlist;

struct ws101_options {
  /* HTTP/1.1 */
  uint32_t max_request_line;
  uint32_t max_header_bytes;
  uint32_t max_headers;
  uint64_t max_body;
  uint32_t header_timeout_ms;
  uint32_t idle_timeout_ms;
  uint32_t max_keepalive_requests;
  /* WebSocket */
  uint64_t ws_max_message;
  uint64_t ws_max_backpressure;
  int ws_backpressure_policy;
  uint32_t ws_close_timeout_ms;
  uint32_t ws_ping_interval_ms;
  uint32_t ws_pong_timeout_ms;
  int ws_stream_fragments;
  uint32_t ws_handshake_timeout_ms;
  /* permessage-deflate */
  int deflate;
  int deflate_level;
  int deflate_window_bits;
  uint32_t deflate_min_size;
  int deflate_memory;
  int deflate_mem_level;
  /* client */
  uint32_t connect_timeout_ms;
  uint32_t response_timeout_ms;
  int fetch_buffer_body;
  /* HTTP/2 */
  int http2;                 /* server: speak HTTP/2 at all */
  int h2c;                   /* server: accept Upgrade: h2c */
  uint32_t h2_max_streams;
  uint32_t h2_stream_window;
  uint32_t h2_conn_window;
  int client_http2;          /* client: 1 = HTTP/2 by prior knowledge */
  /* connection limits and output backpressure */
  uint64_t output_buffer_limit;
  uint32_t send_timeout_ms;
  int http_backpressure_policy;
  uint32_t max_connections;
  /* lists */
  ws101__strlist origins;      /* server: allowed Origins (empty = any) */
  ws101__strlist subprotocols; /* server: accepted; client: offered */
  ws101__strlist headers;      /* client: "name", "value" pairs */
  /* TLS (io/tls.c reads these) */
  int tls_insecure_skip_verify;
  int tls_client_cert;
  uint32_t tls_ticket_rotate_s;
  /* Quads: host name ("" = default), "file" or "pem", cert, key. */
  ws101__strlist tls_certs;
  /* Empty, or exactly two: CA file, CA directory ("" = not set). */
  ws101__strlist tls_ca;
};

/* Fills `o` with every default; lists empty. */
void ws101__options_defaults(struct ws101_options *o);
/* Deep-copies `src` (NULL means defaults) into `dst`. Returns 0 or
 * WS101_ENOMEM (dst then holds defaults and no allocations). */
int ws101__options_copy(struct ws101_options *dst,
                        const struct ws101_options *src);
/* Frees the lists of an embedded options struct. */
void ws101__options_clear(struct ws101_options *o);

#endif
