/* options.c - ws101_options: defaults, validated setters, deep copies. */
#include "core/options.h"

#include <stdlib.h>
#include <string.h>

#include "proto/http1_chars.h"
#include "ws101.h"

void ws101__options_defaults(struct ws101_options *o) {
  memset(o, 0, sizeof(*o));
  o->max_request_line = 8192;
  o->max_header_bytes = 16384;
  o->max_headers = 100;
  o->max_body = 1048576;
  o->header_timeout_ms = 10000;
  o->idle_timeout_ms = 60000;
  o->max_keepalive_requests = 1000;
  o->ws_max_message = 16777216;
  o->ws_max_backpressure = 16777216;
  o->ws_backpressure_policy = WS101_BACKPRESSURE_REFUSE;
  o->ws_close_timeout_ms = 5000;
  o->ws_ping_interval_ms = 0;
  o->ws_pong_timeout_ms = 30000;
  o->ws_stream_fragments = 0;
  o->ws_handshake_timeout_ms = 10000;
  o->deflate = 1;
  o->deflate_level = 1;
  o->deflate_window_bits = 15;
  o->deflate_min_size = 64;
  o->deflate_memory = WS101_DEFLATE_DEDICATED;
  o->deflate_mem_level = 8;
  o->connect_timeout_ms = 10000;
  o->response_timeout_ms = 30000;
  /* HTTP/2 */
  o->http2 = 1;
  o->h2c = 1;
  o->h2_max_streams = 100;
  o->h2_stream_window = 262144;
  o->h2_conn_window = 1048576;
  o->tls_ticket_rotate_s = 3600;
  o->output_buffer_limit = 1048576;
  o->send_timeout_ms = 60000;
  o->http_backpressure_policy = WS101_BACKPRESSURE_REFUSE;
  o->max_connections = 0;
}

int ws101_options_new(ws101_options **out) {
  ws101_options *o;
  if (out == NULL) return WS101_EINVAL;
  *out = NULL;
  o = malloc(sizeof(*o));
  if (o == NULL) return WS101_ENOMEM;
  ws101__options_defaults(o);
  *out = o;
  return 0;
}

static void strlist_clear(ws101__strlist *l) {
  size_t i;
  for (i = 0; i < l->count; i++) free(l->items[i]);
  free(l->items);
  l->items = NULL;
  l->count = 0;
}

void ws101__options_clear(struct ws101_options *o) {
  strlist_clear(&o->origins);
  strlist_clear(&o->subprotocols);
  strlist_clear(&o->headers);
  strlist_clear(&o->tls_certs);
  strlist_clear(&o->tls_ca);
}

void ws101_options_free(ws101_options *opts) {
  if (opts == NULL) return;
  ws101__options_clear(opts);
  free(opts);
}

static int strlist_add(ws101__strlist *l, const char *s) {
  char **items;
  char *copy;
  size_t n = strlen(s);
  copy = malloc(n + 1);
  if (copy == NULL) return WS101_ENOMEM;
  memcpy(copy, s, n + 1);
  items = realloc(l->items, (l->count + 1) * sizeof(*items));
  if (items == NULL) {
    free(copy);
    return WS101_ENOMEM;
  }
  items[l->count++] = copy;
  l->items = items;
  return 0;
}

static int strlist_copy(ws101__strlist *dst, const ws101__strlist *src) {
  size_t i;
  dst->items = NULL;
  dst->count = 0;
  for (i = 0; i < src->count; i++)
    if (strlist_add(dst, src->items[i]) != 0) return WS101_ENOMEM;
  return 0;
}

int ws101__options_copy(struct ws101_options *dst,
                        const struct ws101_options *src) {
  if (src == NULL) {
    ws101__options_defaults(dst);
    return 0;
  }
  *dst = *src;
  if (strlist_copy(&dst->origins, &src->origins) != 0 ||
      strlist_copy(&dst->subprotocols, &src->subprotocols) != 0 ||
      strlist_copy(&dst->headers, &src->headers) != 0 ||
      strlist_copy(&dst->tls_certs, &src->tls_certs) != 0 ||
      strlist_copy(&dst->tls_ca, &src->tls_ca) != 0) {
    ws101__options_clear(dst);
    ws101__options_defaults(dst);
    return WS101_ENOMEM;
  }
  return 0;
}

/* One row per option: where it lives, its type and its accepted range, so
 * set and get share the validation and cannot drift apart. */
enum { T_U32, T_U64, T_INT };
typedef struct opt_desc {
  int opt;
  size_t offset;
  int type;
  int64_t min, max;
} opt_desc;

#define OFF(field) offsetof(struct ws101_options, field)
static const opt_desc opt_table[] = {
    {WS101_OPT_MAX_REQUEST_LINE, OFF(max_request_line), T_U32, 64, 1 << 20},
    {WS101_OPT_MAX_HEADER_BYTES, OFF(max_header_bytes), T_U32, 256, 1 << 24},
    {WS101_OPT_MAX_HEADERS, OFF(max_headers), T_U32, 1, 10000},
    {WS101_OPT_MAX_BODY, OFF(max_body), T_U64, 0, INT64_MAX},
    {WS101_OPT_HEADER_TIMEOUT_MS, OFF(header_timeout_ms), T_U32, 1, 86400000},
    {WS101_OPT_IDLE_TIMEOUT_MS, OFF(idle_timeout_ms), T_U32, 1, 86400000},
    {WS101_OPT_MAX_KEEPALIVE_REQUESTS, OFF(max_keepalive_requests), T_U32, 0,
     UINT32_MAX},
    {WS101_OPT_WS_MAX_MESSAGE, OFF(ws_max_message), T_U64, 1, INT64_MAX},
    {WS101_OPT_WS_MAX_BACKPRESSURE, OFF(ws_max_backpressure), T_U64, 1,
     INT64_MAX},
    {WS101_OPT_WS_BACKPRESSURE_POLICY, OFF(ws_backpressure_policy), T_INT, 0,
     1},
    {WS101_OPT_WS_CLOSE_TIMEOUT_MS, OFF(ws_close_timeout_ms), T_U32, 1,
     86400000},
    {WS101_OPT_WS_PING_INTERVAL_MS, OFF(ws_ping_interval_ms), T_U32, 0,
     86400000},
    {WS101_OPT_WS_PONG_TIMEOUT_MS, OFF(ws_pong_timeout_ms), T_U32, 1,
     86400000},
    {WS101_OPT_WS_STREAM_FRAGMENTS, OFF(ws_stream_fragments), T_INT, 0, 1},
    {WS101_OPT_WS_HANDSHAKE_TIMEOUT_MS, OFF(ws_handshake_timeout_ms), T_U32, 1,
     86400000},
    {WS101_OPT_DEFLATE, OFF(deflate), T_INT, 0, 1},
    {WS101_OPT_DEFLATE_LEVEL, OFF(deflate_level), T_INT, 0, 9},
    {WS101_OPT_DEFLATE_WINDOW_BITS, OFF(deflate_window_bits), T_INT, 8, 15},
    {WS101_OPT_DEFLATE_MIN_SIZE, OFF(deflate_min_size), T_U32, 0, UINT32_MAX},
    {WS101_OPT_DEFLATE_MEMORY, OFF(deflate_memory), T_INT, 0, 1},
    {WS101_OPT_DEFLATE_MEM_LEVEL, OFF(deflate_mem_level), T_INT, 1, 9},
    {WS101_OPT_CONNECT_TIMEOUT_MS, OFF(connect_timeout_ms), T_U32, 1,
     86400000},
    {WS101_OPT_RESPONSE_TIMEOUT_MS, OFF(response_timeout_ms), T_U32, 1,
     86400000},
    {WS101_OPT_FETCH_BUFFER_BODY, OFF(fetch_buffer_body), T_INT, 0, 1},
    /* HTTP/2 */
    {WS101_OPT_HTTP2, OFF(http2), T_INT, 0, 1},
    {WS101_OPT_H2C, OFF(h2c), T_INT, 0, 1},
    {WS101_OPT_H2_MAX_STREAMS, OFF(h2_max_streams), T_U32, 1, 10000},
    {WS101_OPT_H2_STREAM_WINDOW, OFF(h2_stream_window), T_U32, 65535,
     0x7fffffff},
    {WS101_OPT_H2_CONN_WINDOW, OFF(h2_conn_window), T_U32, 65535, 0x7fffffff},
    {WS101_OPT_CLIENT_HTTP2, OFF(client_http2), T_INT, 0, 2},
    {WS101_OPT_TLS_INSECURE_SKIP_VERIFY, OFF(tls_insecure_skip_verify), T_INT,
     0, 1},
    {WS101_OPT_TLS_CLIENT_CERT, OFF(tls_client_cert), T_INT, 0, 2},
    {WS101_OPT_TLS_TICKET_ROTATE_S, OFF(tls_ticket_rotate_s), T_U32, 0,
     86400 * 30},
    {WS101_OPT_OUTPUT_BUFFER_LIMIT, OFF(output_buffer_limit), T_U64, 0,
     INT64_MAX},
    {WS101_OPT_SEND_TIMEOUT_MS, OFF(send_timeout_ms), T_U32, 0, 86400000},
    {WS101_OPT_HTTP_BACKPRESSURE_POLICY, OFF(http_backpressure_policy), T_INT,
     0, 1},
    {WS101_OPT_MAX_CONNECTIONS, OFF(max_connections), T_U32, 0, UINT32_MAX},
};
#undef OFF

static const opt_desc *find_opt(int opt) {
  size_t i;
  for (i = 0; i < sizeof(opt_table) / sizeof(opt_table[0]); i++)
    if (opt_table[i].opt == opt) return &opt_table[i];
  return NULL;
}

int ws101_options_set(ws101_options *opts, ws101_opt opt, int64_t value) {
  const opt_desc *d = find_opt((int)opt);
  char *field;
  if (opts == NULL || d == NULL) return WS101_EINVAL;
  if (value < d->min || value > d->max) return WS101_EINVAL;
  field = (char *)opts + d->offset;
  switch (d->type) {
  case T_U32:
    *(uint32_t *)(void *)field = (uint32_t)value;
    break;
  case T_U64:
    *(uint64_t *)(void *)field = (uint64_t)value;
    break;
  default:
    *(int *)(void *)field = (int)value;
    break;
  }
  return 0;
}

int ws101_options_get(const ws101_options *opts, ws101_opt opt,
                      int64_t *value) {
  const opt_desc *d = find_opt((int)opt);
  const char *field;
  if (opts == NULL || d == NULL || value == NULL) return WS101_EINVAL;
  field = (const char *)opts + d->offset;
  switch (d->type) {
  case T_U32:
    *value = *(const uint32_t *)(const void *)field;
    break;
  case T_U64:
    *value = (int64_t) * (const uint64_t *)(const void *)field;
    break;
  default:
    *value = *(const int *)(const void *)field;
    break;
  }
  return 0;
}

int ws101_options_add_origin(ws101_options *opts, const char *origin) {
  if (opts == NULL || origin == NULL || *origin == '\0' ||
      !ws101__h1_is_field_value(origin))
    return WS101_EINVAL;
  return strlist_add(&opts->origins, origin);
}

int ws101_options_add_subprotocol(ws101_options *opts, const char *protocol) {
  if (opts == NULL || !ws101__h1_is_token(protocol) || strlen(protocol) > 128)
    return WS101_EINVAL;
  return strlist_add(&opts->subprotocols, protocol);
}

int ws101_options_add_header(ws101_options *opts, const char *name,
                             const char *value) {
  int rc;
  if (opts == NULL || !ws101__h1_is_token(name) || value == NULL ||
      !ws101__h1_is_field_value(value))
    return WS101_EINVAL;
  rc = strlist_add(&opts->headers, name);
  if (rc != 0) return rc;
  rc = strlist_add(&opts->headers, value);
  if (rc != 0) {
    free(opts->headers.items[--opts->headers.count]);
    return rc;
  }
  return 0;
}

/* ---- TLS ----------------------------------------------------------------- */

static int strlist_set(ws101__strlist *l, size_t i, const char *s) {
  size_t n = strlen(s);
  char *copy = malloc(n + 1);
  if (copy == NULL) return WS101_ENOMEM;
  memcpy(copy, s, n + 1);
  free(l->items[i]);
  l->items[i] = copy;
  return 0;
}

static int tls_host_ok(const char *h) {
  const unsigned char *p = (const unsigned char *)h;
  if (*p == '\0' || strlen(h) > 253) return 0;
  for (; *p; p++)
    if (*p <= ' ' || *p >= 0x7f) return 0;
  return 1;
}

int ws101_options_add_tls_cert(ws101_options *opts, const char *host_name,
                               const char *cert, const char *key, int flags) {
  const char *kind = flags == WS101_TLS_PEM_DATA ? "pem" : "file";
  const char *host = host_name != NULL ? host_name : "";
  const char *v[4];
  size_t i, j, base = (size_t)-1;
  int rc;
  if (opts == NULL || cert == NULL || key == NULL || *cert == '\0' ||
      *key == '\0' || (flags != WS101_TLS_PEM_FILES &&
                        flags != WS101_TLS_PEM_DATA) ||
      (host_name != NULL && !tls_host_ok(host_name)))
    return WS101_EINVAL;
  v[0] = host;
  v[1] = kind;
  v[2] = cert;
  v[3] = key;
  for (i = 0; i + 3 < opts->tls_certs.count; i += 4)
    if (ws101__h1_ieq(opts->tls_certs.items[i], host)) base = i;
  if (base != (size_t)-1) { /* replace the earlier entry for this name */
    for (j = 1; j < 4; j++) {
      rc = strlist_set(&opts->tls_certs, base + j, v[j]);
      if (rc != 0) return rc;
    }
    return 0;
  }
  for (j = 0; j < 4; j++) {
    rc = strlist_add(&opts->tls_certs, v[j]);
    if (rc != 0) {
      while (j-- > 0) free(opts->tls_certs.items[--opts->tls_certs.count]);
      return rc;
    }
  }
  return 0;
}

int ws101_options_set_tls_ca(ws101_options *opts, const char *ca_file,
                             const char *ca_dir) {
  ws101__strlist l = {NULL, 0};
  if (opts == NULL) return WS101_EINVAL;
  if (ca_file != NULL || ca_dir != NULL) {
    if (strlist_add(&l, ca_file != NULL ? ca_file : "") != 0 ||
        strlist_add(&l, ca_dir != NULL ? ca_dir : "") != 0) {
      strlist_clear(&l);
      return WS101_ENOMEM;
    }
  }
  strlist_clear(&opts->tls_ca);
  opts->tls_ca = l;
  return 0;
}
