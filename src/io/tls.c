/* tls.c - the TLS filter of a connection, and the OpenSSL contexts behind
 * it (see tls.h for the design). */
#include "io/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/conn.h"

/* Plaintext of one record (at most 16 KiB) is decrypted at a time. */
#define PLAIN_SIZE (16 * 1024)
/* Client sessions remembered per loop (one per origin). */
#define SESSIONS_MAX 64

/* ---- per-thread error text ---------------------------------------------- */

static _Thread_local char last_error[512];

const char *ws101_tls_last_error(void) { return last_error; }

static void set_error_text(char *buf, size_t size, const char *what) {
  unsigned long e, first = 0;
  char reason[160];
  /* The earliest error is the cause; later ones are OpenSSL unwinding. */
  while ((e = ERR_get_error()) != 0)
    if (first == 0) first = e;
  if (first != 0) {
    const char *r = ERR_reason_error_string(first);
    if (r == NULL) {
      ERR_error_string_n(first, reason, sizeof(reason));
      r = reason;
    }
    snprintf(buf, size, "%.300s: %.180s", what, r);
  } else {
    snprintf(buf, size, "%.300s", what);
  }
}

int ws101__tls_error(const char *what) {
  set_error_text(last_error, sizeof(last_error), what);
  return WS101_ETLS;
}

/* ---- contexts ------------------------------------------------------------ */

/* A certificate chain and key, for the default or one SNI name. */
typedef struct cert_entry {
  char *host; /* NULL for the default; "*.x.y" wildcards one label */
  X509 *leaf;
  EVP_PKEY *key;
  STACK_OF(X509) *chain;
} cert_entry;

/* Session-ticket keys: the current one encrypts, the previous one still
 * decrypts (and asks for a renewed ticket) for one more period. */
typedef struct ticket_key {
  unsigned char name[16];
  unsigned char aes[32];
  unsigned char hmac[32];
  time_t created;
  int set;
} ticket_key;

typedef struct client_session {
  char *origin;
  SSL_SESSION *sess;
  unsigned long used; /* LRU tick */
} client_session;

struct ws101__tls_ctx {
  SSL_CTX *ssl;
  int server;
  /* server */
  cert_entry *certs;
  size_t ncerts;
  unsigned char *alpn_wire; /* ALPN list in wire format */
  unsigned alpn_len;
  ticket_key ticket[2]; /* [0] current, [1] previous */
  uint32_t rotate_s;
  /* client */
  char *key; /* cache key: "insecure|cafile|cadir" */
  client_session sessions[SESSIONS_MAX];
  unsigned long tick;
  struct ws101__tls_ctx *next; /* loop's list of client contexts */
};

static int ctx_index = -1;  /* SSL_CTX ex_data: ws101__tls_ctx * */
static int conn_index = -1; /* SSL ex_data: ws101__conn * */
static pthread_once_t index_once = PTHREAD_ONCE_INIT;

static void release(ws101__tls_ctx *ctx);

/* Our context lives exactly as long as OpenSSL's: connections that still
 * use an SSL_CTX after a reload keep its callbacks' data alive too. */
static void on_ctx_gone(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                        long argl, void *argp) {
  (void)parent;
  (void)ad;
  (void)idx;
  (void)argl;
  (void)argp;
  if (ptr != NULL) release(ptr);
}

static void make_indexes(void) {
  ctx_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, on_ctx_gone);
  conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static SSL_CTX *base_ctx(int server) {
  SSL_CTX *ssl = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (ssl == NULL) return NULL;
  SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
  /* Renegotiation is a DoS vector and nothing we serve needs it. */
  SSL_CTX_set_options(ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  /* Idle connections give their record buffers back. Partial writes are
   * never needed: the write BIO always takes everything. */
  SSL_CTX_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
  return ssl;
}

static void cert_entry_clear(cert_entry *e) {
  free(e->host);
  X509_free(e->leaf);
  EVP_PKEY_free(e->key);
  sk_X509_pop_free(e->chain, X509_free);
  memset(e, 0, sizeof(*e));
}

static BIO *open_pem(const char *kind, const char *src, char *what,
                     size_t wsize, const char *label) {
  BIO *b;
  if (strcmp(kind, "pem") == 0) {
    b = BIO_new_mem_buf(src, -1);
    snprintf(what, wsize, "%s (PEM in memory)", label);
  } else {
    b = BIO_new_file(src, "r");
    snprintf(what, wsize, "%s %s", label, src);
  }
  return b;
}

/* Reads leaf + chain and the key of one quad of options.tls_certs. */
static int load_cert(cert_entry *e, const char *host, const char *kind,
                     const char *cert, const char *key) {
  char what[300];
  BIO *b;
  X509 *x;
  memset(e, 0, sizeof(*e));
  if (*host != '\0') {
    e->host = strdup(host);
    if (e->host == NULL) return WS101_ENOMEM;
  }
  b = open_pem(kind, cert, what, sizeof(what), "certificate");
  if (b == NULL) return ws101__tls_error(what);
  e->leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
  if (e->leaf == NULL) {
    BIO_free(b);
    return ws101__tls_error(what);
  }
  e->chain = sk_X509_new_null();
  while (e->chain != NULL &&
         (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
    sk_X509_push(e->chain, x);
  ERR_clear_error(); /* the end of the file reads as "no start line" */
  BIO_free(b);
  b = open_pem(kind, key, what, sizeof(what), "private key");
  if (b == NULL) return ws101__tls_error(what);
  e->key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
  BIO_free(b);
  if (e->key == NULL) return ws101__tls_error(what);
  if (X509_check_private_key(e->leaf, e->key) != 1)
    return ws101__tls_error("certificate and private key do not match");
  return 0;
}

static int host_matches(const char *pattern, const char *name) {
  if (pattern[0] == '*' && pattern[1] == '.') {
    const char *dot = strchr(name, '.');
    /* One label only: "*.example.com" is not "example.com" nor
     * "a.b.example.com". */
    return dot != NULL && dot != name && OPENSSL_strcasecmp(dot + 1, pattern + 2) == 0;
  }
  return OPENSSL_strcasecmp(pattern, name) == 0;
}

/* SNI: swap in the certificate for the name the client asked for. An
 * unknown name gets the default certificate (the client then decides). */
static int on_servername(SSL *ssl, int *alert, void *arg) {
  ws101__tls_ctx *ctx = arg;
  const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  size_t i;
  (void)alert;
  if (name == NULL) return SSL_TLSEXT_ERR_NOACK;
  for (i = 0; i < ctx->ncerts; i++) {
    cert_entry *e = &ctx->certs[i];
    if (e->host == NULL || !host_matches(e->host, name)) continue;
    if (SSL_use_cert_and_key(ssl, e->leaf, e->key, e->chain, 1) != 1)
      return SSL_TLSEXT_ERR_ALERT_FATAL;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_OK;
}

static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned inlen, void *arg) {
  ws101__tls_ctx *ctx = arg;
  unsigned char *o;
  (void)ssl;
  /* Server preference: SSL_select_next_proto walks our list first. */
  if (SSL_select_next_proto(&o, outlen, ctx->alpn_wire, ctx->alpn_len, in,
                            inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK; /* no common protocol: carry on without */
  *out = o;
  return SSL_TLSEXT_ERR_OK;
}

static int new_ticket_key(ticket_key *k) {
  if (RAND_bytes(k->name, sizeof(k->name)) != 1 ||
      RAND_bytes(k->aes, sizeof(k->aes)) != 1 ||
      RAND_bytes(k->hmac, sizeof(k->hmac)) != 1)
    return -1;
  k->created = time(NULL);
  k->set = 1;
  return 0;
}

static int ticket_mac_init(EVP_MAC_CTX *hctx, const ticket_key *k) {
  OSSL_PARAM params[2];
  params[0] = OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0);
  params[1] = OSSL_PARAM_construct_end();
  return EVP_MAC_init(hctx, k->hmac, sizeof(k->hmac), params);
}

/* Session tickets under our own keys, rotated every rotate_s seconds, so
 * a stolen key exposes at most two periods of sessions. */
static int on_ticket(SSL *ssl, unsigned char name[16], unsigned char *iv,
                     EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc) {
  ws101__tls_ctx *ctx =
      SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_index);
  time_t now = time(NULL);
  int i;
  if (ctx == NULL) return -1;
  if (now - ctx->ticket[0].created >= (time_t)ctx->rotate_s) {
    ticket_key fresh;
    if (new_ticket_key(&fresh) == 0) {
      ctx->ticket[1] = ctx->ticket[0];
      ctx->ticket[0] = fresh;
    }
  }
  if (enc) {
    const ticket_key *k = &ctx->ticket[0];
    if (RAND_bytes(iv, 16) != 1) return -1;
    memcpy(name, k->name, 16);
    if (EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1 ||
        ticket_mac_init(hctx, k) != 1)
      return -1;
    return 1;
  }
  for (i = 0; i < 2; i++) {
    const ticket_key *k = &ctx->ticket[i];
    if (!k->set || memcmp(name, k->name, 16) != 0) continue;
    if (ticket_mac_init(hctx, k) != 1 ||
        EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1)
      return -1;
    return i == 0 ? 1 : 2; /* 2: valid, but issue a ticket under the new key */
  }
  return 0; /* unknown key: full handshake */
}

static int load_ca(SSL_CTX *ssl, const struct ws101_options *o, int server) {
  const char *file = NULL, *dir = NULL;
  if (o->tls_ca.count == 2) {
    if (*o->tls_ca.items[0]) file = o->tls_ca.items[0];
    if (*o->tls_ca.items[1]) dir = o->tls_ca.items[1];
  }
  if (file == NULL && dir == NULL) {
    if (server) return 0;
    if (SSL_CTX_set_default_verify_paths(ssl) != 1)
      return ws101__tls_error("cannot load the system CA store");
    return 0;
  }
  if (SSL_CTX_load_verify_locations(ssl, file, dir) != 1) {
    char what[300];
    snprintf(what, sizeof(what), "cannot load CA %s%s%s", file ? file : "",
             file && dir ? " / " : "", dir ? dir : "");
    return ws101__tls_error(what);
  }
  if (server && file != NULL) {
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(file);
    if (names != NULL) SSL_CTX_set_client_CA_list(ssl, names);
  }
  return 0;
}

void ws101__tls_ctx_free(ws101__tls_ctx *ctx) {
  if (ctx == NULL) return;
  if (ctx->ssl != NULL)
    SSL_CTX_free(ctx->ssl); /* on_ctx_gone releases ctx with the last ref */
  else
    release(ctx);
}

static void release(ws101__tls_ctx *ctx) {
  size_t i;
  for (i = 0; i < ctx->ncerts; i++) cert_entry_clear(&ctx->certs[i]);
  free(ctx->certs);
  free(ctx->alpn_wire);
  for (i = 0; i < SESSIONS_MAX; i++) {
    free(ctx->sessions[i].origin);
    SSL_SESSION_free(ctx->sessions[i].sess);
  }
  free(ctx->key);
  OPENSSL_cleanse(ctx->ticket, sizeof(ctx->ticket));
  free(ctx);
}

static int build_alpn(ws101__tls_ctx *ctx, const char *const *alpn) {
  size_t n = 0, i;
  for (i = 0; alpn != NULL && alpn[i] != NULL; i++) n += 1 + strlen(alpn[i]);
  if (n == 0) return 0;
  ctx->alpn_wire = malloc(n);
  if (ctx->alpn_wire == NULL) return WS101_ENOMEM;
  n = 0;
  for (i = 0; alpn[i] != NULL; i++) {
    size_t l = strlen(alpn[i]);
    ctx->alpn_wire[n++] = (unsigned char)l;
    memcpy(ctx->alpn_wire + n, alpn[i], l);
    n += l;
  }
  ctx->alpn_len = (unsigned)n;
  return 0;
}

int ws101__tls_server_ctx_new(const struct ws101_options *o,
                              const char *const *alpn,
                              const ws101__tls_ctx *prev,
                              ws101__tls_ctx **out) {
  ws101__tls_ctx *ctx;
  const cert_entry *def = NULL;
  size_t i, n = o->tls_certs.count / 4;
  static const unsigned char sid_ctx[] = "ws101";
  int rc;
  *out = NULL;
  pthread_once(&index_once, make_indexes);
  if (n == 0)
    return ws101__tls_error(
        "no certificate: add one with ws101_options_add_tls_cert");
  ctx = calloc(1, sizeof(*ctx));
  if (ctx == NULL) return WS101_ENOMEM;
  ctx->server = 1;
  ctx->certs = calloc(n, sizeof(*ctx->certs));
  ctx->ssl = base_ctx(1);
  if (ctx->ssl != NULL) SSL_CTX_set_ex_data(ctx->ssl, ctx_index, ctx);
  if (ctx->certs == NULL || ctx->ssl == NULL) {
    rc = ctx->ssl == NULL ? ws101__tls_error("SSL_CTX_new") : WS101_ENOMEM;
    ws101__tls_ctx_free(ctx);
    return rc;
  }
  for (i = 0; i < n; i++) {
    char **q = &o->tls_certs.items[4 * i];
    rc = load_cert(&ctx->certs[i], q[0], q[1], q[2], q[3]);
    ctx->ncerts++;
    if (rc != 0) {
      ws101__tls_ctx_free(ctx);
      return rc;
    }
    if (ctx->certs[i].host == NULL) def = &ctx->certs[i];
  }
  /* Without a default the first certificate serves unknown names. */
  if (def == NULL) def = &ctx->certs[0];
  if (SSL_CTX_use_cert_and_key(ctx->ssl, def->leaf, def->key, def->chain,
                               1) != 1) {
    ws101__tls_ctx_free(ctx);
    return ws101__tls_error("cannot use the certificate");
  }
  SSL_CTX_set_tlsext_servername_callback(ctx->ssl, on_servername);
  SSL_CTX_set_tlsext_servername_arg(ctx->ssl, ctx);
  SSL_CTX_set_cipher_list(ctx->ssl, "HIGH:!aNULL:!MD5:!RC4:!3DES");
  SSL_CTX_set_options(ctx->ssl, SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (build_alpn(ctx, alpn) != 0) {
    ws101__tls_ctx_free(ctx);
    return WS101_ENOMEM;
  }
  if (ctx->alpn_len > 0) SSL_CTX_set_alpn_select_cb(ctx->ssl, on_alpn, ctx);
  SSL_CTX_set_session_id_context(ctx->ssl, sid_ctx, sizeof(sid_ctx) - 1);
  ctx->rotate_s = o->tls_ticket_rotate_s;
  if (ctx->rotate_s == 0) {
    SSL_CTX_set_options(ctx->ssl, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx->ssl, 0);
    SSL_CTX_set_session_cache_mode(ctx->ssl, SSL_SESS_CACHE_OFF);
  } else {
    /* Stateless resumption only: no server-side session cache to grow. */
    SSL_CTX_set_session_cache_mode(ctx->ssl, SSL_SESS_CACHE_OFF);
    if (prev != NULL && prev->ticket[0].set) {
      ctx->ticket[0] = prev->ticket[0];
      ctx->ticket[1] = prev->ticket[1];
    } else if (new_ticket_key(&ctx->ticket[0]) != 0) {
      ws101__tls_ctx_free(ctx);
      return ws101__tls_error("cannot create a session-ticket key");
    }
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx->ssl, on_ticket);
  }
  if (o->tls_client_cert != WS101_TLS_CLIENT_CERT_NONE) {
    rc = load_ca(ctx->ssl, o, 1);
    if (rc != 0) {
      ws101__tls_ctx_free(ctx);
      return rc;
    }
    SSL_CTX_set_verify(ctx->ssl,
                       SSL_VERIFY_PEER |
                           (o->tls_client_cert == WS101_TLS_CLIENT_CERT_REQUIRE
                                ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                : 0),
                       NULL);
  }
  *out = ctx;
  return 0;
}

/* Client sessions: one per origin, the newest wins (TLS 1.3 servers send
 * new tickets after the handshake; each replaces the last). */
static client_session *session_slot(ws101__tls_ctx *ctx, const char *origin,
                                    int create) {
  size_t i, lru = 0;
  for (i = 0; i < SESSIONS_MAX; i++)
    if (ctx->sessions[i].origin != NULL &&
        strcmp(ctx->sessions[i].origin, origin) == 0)
      return &ctx->sessions[i];
  if (!create) return NULL;
  for (i = 0; i < SESSIONS_MAX; i++) {
    if (ctx->sessions[i].origin == NULL) {
      lru = i;
      break;
    }
    if (ctx->sessions[i].used < ctx->sessions[lru].used) lru = i;
  }
  free(ctx->sessions[lru].origin);
  SSL_SESSION_free(ctx->sessions[lru].sess);
  ctx->sessions[lru].sess = NULL;
  ctx->sessions[lru].origin = strdup(origin);
  return ctx->sessions[lru].origin != NULL ? &ctx->sessions[lru] : NULL;
}

static int on_new_session(SSL *ssl, SSL_SESSION *sess);

typedef struct client_ctxs {
  ws101__tls_ctx *list;
} client_ctxs;

static void client_ctxs_free(void *p) {
  client_ctxs *cc = p;
  while (cc->list != NULL) {
    ws101__tls_ctx *next = cc->list->next;
    ws101__tls_ctx_free(cc->list);
    cc->list = next;
  }
  free(cc);
}

ws101__tls_ctx *ws101__tls_client_ctx(ws101_loop *loop,
                                      const struct ws101_options *o) {
  client_ctxs *cc = loop->tls_clients;
  ws101__tls_ctx *ctx;
  char key[2048];
  static const unsigned char alpn[] = "\x08http/1.1";
  pthread_once(&index_once, make_indexes);
  snprintf(key, sizeof(key), "%d|%s|%s", o->tls_insecure_skip_verify,
           o->tls_ca.count == 2 ? o->tls_ca.items[0] : "",
           o->tls_ca.count == 2 ? o->tls_ca.items[1] : "");
  if (cc == NULL) {
    cc = calloc(1, sizeof(*cc));
    if (cc == NULL) return NULL;
    loop->tls_clients = cc;
    loop->tls_clients_free = client_ctxs_free;
  }
  for (ctx = cc->list; ctx != NULL; ctx = ctx->next)
    if (strcmp(ctx->key, key) == 0) return ctx;
  ctx = calloc(1, sizeof(*ctx));
  if (ctx == NULL) return NULL;
  ctx->key = strdup(key);
  ctx->ssl = base_ctx(0);
  if (ctx->ssl != NULL) SSL_CTX_set_ex_data(ctx->ssl, ctx_index, ctx);
  if (ctx->key == NULL || ctx->ssl == NULL) {
    ws101__tls_error("SSL_CTX_new");
    ws101__tls_ctx_free(ctx);
    return NULL;
  }
  if (!o->tls_insecure_skip_verify) {
    if (load_ca(ctx->ssl, o, 0) != 0) {
      ws101__tls_ctx_free(ctx);
      return NULL;
    }
    SSL_CTX_set_verify(ctx->ssl, SSL_VERIFY_PEER, NULL);
  }
  SSL_CTX_set_alpn_protos(ctx->ssl, alpn, sizeof(alpn) - 1);
  SSL_CTX_set_session_cache_mode(ctx->ssl, SSL_SESS_CACHE_CLIENT |
                                               SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx->ssl, on_new_session);
  ctx->next = cc->list;
  cc->list = ctx;
  return ctx;
}

/* ---- the per-connection filter ------------------------------------------ */

struct ws101__tls {
  SSL *ssl;
  ws101__outbuf cipher; /* records waiting for the socket */
  /* Ciphertext being fed to OpenSSL: a window of the loop's read buffer
   * during ws101__tls_input, or of `stash` while reading is paused. */
  const char *in;
  size_t in_len;
  char *stash;
  size_t stash_len, stash_cap;
  ws101__conn_tls_ready_cb on_ready;
  char *origin;       /* client: the session cache key */
  char *peer_subject; /* verified peer certificate, RFC 2253 */
  int handshake_done;
  int notify_sent;
  int notify_received;
  char alpn[16];
  char *err; /* why it failed (allocated then), else NULL */
};

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static int bio_write(BIO *b, const char *data, int len) {
  ws101__conn *c = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (len <= 0) return 0;
  if (ws101__outbuf_append(c->loop, &c->tls->cipher, data, (size_t)len) != 0)
    return -1;
  return len;
}

static int bio_read(BIO *b, char *out, int len) {
  ws101__conn *c = BIO_get_data(b);
  ws101__tls *t = c->tls;
  size_t take;
  BIO_clear_retry_flags(b);
  if (len <= 0) return 0;
  if (t->in_len == 0) {
    BIO_set_retry_read(b);
    return -1;
  }
  take = t->in_len < (size_t)len ? t->in_len : (size_t)len;
  memcpy(out, t->in, take);
  t->in += take;
  t->in_len -= take;
  return (int)take;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)b;
  (void)num;
  (void)ptr;
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

static void make_bio_method(void) {
  bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
                            "ws101 transport");
  if (bio_method == NULL) return;
  BIO_meth_set_write(bio_method, bio_write);
  BIO_meth_set_read(bio_method, bio_read);
  BIO_meth_set_ctrl(bio_method, bio_ctrl);
  BIO_meth_set_create(bio_method, bio_create);
}

static int attach(ws101__conn *c, ws101__tls_ctx *ctx) {
  ws101__tls *t;
  BIO *bio;
  pthread_once(&bio_once, make_bio_method);
  if (bio_method == NULL) return ws101__tls_error("BIO_meth_new");
  t = calloc(1, sizeof(*t));
  if (t == NULL) return WS101_ENOMEM;
  t->ssl = SSL_new(ctx->ssl);
  bio = BIO_new(bio_method);
  if (t->ssl == NULL || bio == NULL) {
    SSL_free(t->ssl);
    BIO_free(bio);
    free(t);
    return ws101__tls_error("SSL_new");
  }
  BIO_set_data(bio, c);
  SSL_set_bio(t->ssl, bio, bio); /* one BIO both ways: one reference */
  SSL_set_ex_data(t->ssl, conn_index, c);
  c->tls = t;
  return 0;
}

int ws101__conn_tls_server(ws101__conn *c, ws101__tls_ctx *ctx,
                           ws101__conn_tls_ready_cb on_ready) {
  int rc = attach(c, ctx);
  if (rc != 0) return rc;
  c->tls->on_ready = on_ready;
  SSL_set_accept_state(c->tls->ssl);
  return 0;
}

static int is_ip_literal(const char *host) {
  ASN1_OCTET_STRING *ip = a2i_IPADDRESS(host);
  if (ip == NULL) return 0;
  ASN1_OCTET_STRING_free(ip);
  return 1;
}

static void handshake(ws101__conn *c);

int ws101__conn_tls_client(ws101__conn *c, ws101__tls_ctx *ctx,
                           const char *host, const char *origin) {
  return ws101__conn_tls_client_h2(c, ctx, host, origin, NULL);
}

int ws101__conn_tls_client_h2(ws101__conn *c, ws101__tls_ctx *ctx,
                              const char *host, const char *origin,
                              ws101__conn_tls_ready_cb on_ready) {
  /* h2 first: a server that speaks both should pick it (RFC 9113 3.2);
   * "http/1.1" keeps servers that only speak it on the same connection. */
  static const unsigned char h2_alpn[] = "\x02h2\x08http/1.1";
  ws101__tls *t;
  client_session *s;
  int rc = attach(c, ctx), ip;
  if (rc != 0) return rc;
  t = c->tls;
  t->origin = strdup(origin);
  if (t->origin == NULL) return WS101_ENOMEM;
  t->on_ready = on_ready;
  /* Per connection, over the context's "http/1.1"-only list (note that
   * SSL_set_alpn_protos returns 0 on success). */
  if (on_ready != NULL &&
      SSL_set_alpn_protos(t->ssl, h2_alpn, sizeof(h2_alpn) - 1) != 0)
    return ws101__tls_error("cannot offer ALPN h2");
  SSL_set_connect_state(t->ssl);
  ip = is_ip_literal(host);
  /* SNI carries DNS names only (RFC 6066 3); IP literals are verified
   * against the certificate's IP-address SANs instead. */
  if (!ip) SSL_set_tlsext_host_name(t->ssl, host);
  if (SSL_get_verify_mode(t->ssl) & SSL_VERIFY_PEER) {
    X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
    if (ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1
           : SSL_set1_host(t->ssl, host) != 1)
      return ws101__tls_error("cannot set the host name to verify");
  }
  s = session_slot(ctx, origin, 0);
  if (s != NULL && s->sess != NULL) {
    SSL_set_session(t->ssl, s->sess);
    s->used = ++ctx->tick;
  }
  handshake(c); /* the ClientHello goes out now */
  if (!(c->flags & WS101__CONN_CLOSING)) ws101__conn_flush(c);
  return 0;
}

static int on_new_session(SSL *ssl, SSL_SESSION *sess) {
  ws101__conn *c = SSL_get_ex_data(ssl, conn_index);
  ws101__tls_ctx *ctx = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_index);
  client_session *s;
  if (c == NULL || ctx == NULL || c->tls == NULL || c->tls->origin == NULL)
    return 0;
  s = session_slot(ctx, c->tls->origin, 1);
  if (s == NULL) return 0;
  SSL_SESSION_free(s->sess);
  s->sess = sess; /* returning 1: the reference is ours */
  s->used = ++ctx->tick;
  return 1;
}

/* Records why the connection fails and closes it, after trying to get the
 * alert OpenSSL queued onto the wire. */
static void fail(ws101__conn *c, const char *what) {
  ws101__tls *t = c->tls;
  long vr = SSL_get_verify_result(t->ssl);
  if (vr != X509_V_OK && !t->handshake_done) {
    snprintf(last_error, sizeof(last_error),
             "%.100s: certificate verify failed: %.200s", what,
             X509_verify_cert_error_string(vr));
    ERR_clear_error();
  } else {
    set_error_text(last_error, sizeof(last_error), what);
  }
  free(t->err);
  t->err = strdup(last_error);
  if (t->cipher.len > t->cipher.off)
    ws101__conn_write_now(c, t->cipher.data + t->cipher.off,
                          t->cipher.len - t->cipher.off);
  ws101__conn_close(c, WS101_ETLS);
}

static void capture_peer(ws101__tls *t) {
  X509 *peer = SSL_get1_peer_certificate(t->ssl);
  BIO *b;
  if (peer == NULL) return;
  if (SSL_get_verify_result(t->ssl) == X509_V_OK &&
      (b = BIO_new(BIO_s_mem())) != NULL) {
    char *p;
    long n;
    X509_NAME_print_ex(b, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253);
    n = BIO_get_mem_data(b, &p);
    t->peer_subject = malloc((size_t)n + 1);
    if (t->peer_subject != NULL) {
      memcpy(t->peer_subject, p, (size_t)n);
      t->peer_subject[n] = '\0';
    }
    BIO_free(b);
  }
  X509_free(peer);
}

/* Advances the handshake; on completion reports readiness. */
static void handshake(ws101__conn *c) {
  ws101__tls *t = c->tls;
  int r;
  /* SSL_get_error reads the thread's error queue: a stale entry left by
   * an unrelated call would fail this healthy connection. */
  ERR_clear_error();
  r = SSL_do_handshake(t->ssl);
  if (r == 1) {
    const unsigned char *p;
    unsigned n;
    t->handshake_done = 1;
    capture_peer(t);
    SSL_get0_alpn_selected(t->ssl, &p, &n);
    if (n > 0 && n < sizeof(t->alpn)) {
      memcpy(t->alpn, p, n);
      t->alpn[n] = '\0';
    }
    if (t->on_ready != NULL) t->on_ready(c);
    return;
  }
  switch (SSL_get_error(t->ssl, r)) {
  case SSL_ERROR_WANT_READ:
  case SSL_ERROR_WANT_WRITE:
    return;
  default:
    fail(c, "TLS handshake failed");
  }
}

void ws101__tls_input(ws101__conn *c, const char *data, size_t len) {
  ws101__tls *t = c->tls;
  char *plain;
  int from_stash = 0;
  if (len > 0) {
    if (t->stash_len > 0) { /* keep the order: older bytes first */
      if (t->stash_len + len > t->stash_cap) {
        size_t cap = t->stash_len + len;
        char *s = realloc(t->stash, cap);
        if (s == NULL) {
          ws101__conn_close(c, WS101_ENOMEM);
          return;
        }
        t->stash = s;
        t->stash_cap = cap;
      }
      memcpy(t->stash + t->stash_len, data, len);
      t->stash_len += len;
    } else {
      t->in = data;
      t->in_len = len;
    }
  }
  if (t->stash_len > 0) {
    t->in = t->stash;
    t->in_len = t->stash_len;
    from_stash = 1;
  }
  if (!t->handshake_done) {
    handshake(c);
    if (!t->handshake_done || (c->flags & WS101__CONN_CLOSING)) goto out;
  }
  if (c->loop->tls_plain == NULL) {
    c->loop->tls_plain = malloc(PLAIN_SIZE);
    if (c->loop->tls_plain == NULL) {
      ws101__conn_close(c, WS101_ENOMEM);
      return;
    }
  }
  plain = c->loop->tls_plain;
  ERR_clear_error(); /* see handshake() */
  while (!(c->flags & (WS101__CONN_CLOSING | WS101__CONN_PAUSED |
                       WS101__CONN_ENDING))) {
    int n = SSL_read(t->ssl, plain, PLAIN_SIZE);
    if (n > 0) {
      c->flags |= WS101__CONN_IN_READ;
      c->proto->on_read(c, plain, (size_t)n);
      c->flags &= ~WS101__CONN_IN_READ;
      continue;
    }
    switch (SSL_get_error(t->ssl, n)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      goto out;
    case SSL_ERROR_ZERO_RETURN: /* close_notify: an orderly end */
      t->notify_received = 1;
      ws101__conn_peer_ended(c, WS101_EEOF);
      goto out;
    default:
      fail(c, "TLS error");
      return;
    }
  }
out:
  if (c->flags & WS101__CONN_CLOSING) return;
  /* Keep what OpenSSL has not taken yet (reading was paused), at the start
   * of the stash. */
  if (from_stash) {
    if (t->in_len > 0) memmove(t->stash, t->in, t->in_len);
    t->stash_len = t->in_len;
  } else if (t->in_len > 0) {
    if (t->in_len > t->stash_cap) {
      char *s = realloc(t->stash, t->in_len);
      if (s == NULL) {
        ws101__conn_close(c, WS101_ENOMEM);
        return;
      }
      t->stash = s;
      t->stash_cap = t->in_len;
    }
    memcpy(t->stash, t->in, t->in_len);
    t->stash_len = t->in_len;
  }
  if (t->stash_len == 0 && t->stash != NULL) {
    free(t->stash);
    t->stash = NULL;
    t->stash_cap = 0;
  }
  t->in = NULL;
  t->in_len = 0;
}

/* OpenSSL cuts plaintext into records of at most this many bytes, each
 * framed with at most RECORD_OVERHEAD more (header, nonce, tag, padding). */
#define RECORD_PLAIN 16384
#define RECORD_OVERHEAD 96

/* Encrypts p[0..n) into `cipher`, whose room for all of its records is
 * made first: the write BIO appends record by record, and growing the
 * buffer on the way would copy what is already in it at every doubling.
 * Returns 0, or an error after which the connection is closed. */
static int seal(ws101__conn *c, const char *p, size_t n) {
  ws101__tls *t = c->tls;
  if (ws101__outbuf_reserve(c->loop, &t->cipher,
                            n + (n / RECORD_PLAIN + 1) * RECORD_OVERHEAD) != 0) {
    ws101__conn_close(c, WS101_ENOMEM);
    return WS101_ENOMEM;
  }
  ERR_clear_error(); /* see handshake() */
  while (n > 0) {
    int chunk = n > (size_t)1 << 30 ? 1 << 30 : (int)n;
    int w = SSL_write(t->ssl, p, chunk);
    if (w <= 0) {
      fail(c, "TLS write failed");
      return WS101_ETLS;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int ws101__tls_write_direct(ws101__conn *c, const uv_buf_t *bufs, unsigned n) {
  ws101__tls *t = c->tls;
  ws101__outbuf *o;
  size_t live, skip = 0;
  unsigned i = 0;
  int rc;
  if (!t->handshake_done || t->notify_sent) return 0;
  o = ws101__conn_cork(c);
  if (o == NULL) goto nomem;
  live = o->len - o->off;
  /* Bytes corked before, leading small buffers (a frame header) and the
   * start of the first big one make the first record together, instead
   * of records of their own. */
  for (; live < RECORD_PLAIN && i < n && bufs[i].len < RECORD_PLAIN - live;
       i++) {
    if (bufs[i].len == 0) continue;
    if (ws101__outbuf_append(c->loop, o, bufs[i].base, bufs[i].len) != 0)
      goto nomem;
    live += bufs[i].len;
  }
  if (live > 0) {
    if (i < n && live < RECORD_PLAIN) {
      skip = RECORD_PLAIN - live;
      if (ws101__outbuf_append(c->loop, o, bufs[i].base, skip) != 0)
        goto nomem;
    }
    rc = seal(c, o->data + o->off, o->len - o->off);
    ws101__outbuf_release(c->loop, o);
    if (rc != 0) return rc;
  }
  for (; i < n; i++, skip = 0) {
    rc = seal(c, bufs[i].base + skip, bufs[i].len - skip);
    if (rc != 0) return rc;
  }
  return 1;
nomem:
  ws101__conn_close(c, WS101_ENOMEM);
  return WS101_ENOMEM;
}

int ws101__tls_encrypt(ws101__conn *c, int ending) {
  ws101__tls *t = c->tls;
  ws101__outbuf *o = c->x != NULL ? &c->x->out : NULL;
  if (!t->handshake_done) return 0;
  if (o != NULL && o->len > o->off) {
    /* One SSL_write for the whole cork buffer: OpenSSL cuts it into
     * 16 KiB records, and the write BIO never refuses. */
    int rc = seal(c, o->data + o->off, o->len - o->off);
    if (rc != 0) return rc;
    ws101__outbuf_release(c->loop, o);
  }
  if (ending && !t->notify_sent) {
    t->notify_sent = 1;
    SSL_shutdown(t->ssl); /* queues close_notify; we do not wait for theirs */
    ERR_clear_error();
  }
  return 0;
}

ws101__outbuf *ws101__tls_cipher(ws101__tls *t) { return &t->cipher; }
int ws101__tls_has_input(const ws101__tls *t) { return t->stash_len > 0; }
int ws101__tls_handshake_done(const ws101__tls *t) {
  return t->handshake_done;
}
int ws101__tls_peer_notified(const ws101__tls *t) {
  return t->notify_received;
}

void ws101__tls_free(ws101_loop *loop, ws101__tls *t) {
  if (t == NULL) return;
  SSL_free(t->ssl);
  ws101__outbuf_release(loop, &t->cipher);
  free(t->stash);
  free(t->origin);
  free(t->peer_subject);
  free(t->err);
  free(t);
}

/* ---- what a connection reports ------------------------------------------- */

const char *ws101__conn_alpn(const ws101__conn *c) {
  if (c->tls == NULL || c->tls->alpn[0] == '\0') return NULL;
  return c->tls->alpn;
}

const char *ws101__conn_tls_version(const ws101__conn *c) {
  return c->tls != NULL ? SSL_get_version(c->tls->ssl) : NULL;
}

const char *ws101__conn_tls_peer_subject(const ws101__conn *c) {
  return c->tls != NULL ? c->tls->peer_subject : NULL;
}

int ws101__conn_tls_resumed(const ws101__conn *c) {
  return c->tls != NULL && SSL_session_reused(c->tls->ssl);
}

const char *ws101__conn_tls_error(const ws101__conn *c) {
  return c->tls != NULL && c->tls->err != NULL ? c->tls->err : "";
}
