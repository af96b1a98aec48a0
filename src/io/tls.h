/* tls.h - TLS as a filter inside the transport (OpenSSL).
 *
 * A connection with TLS (c->tls != NULL) keeps the plain path's shape:
 * protocols still write plaintext into the cork buffer and read plaintext
 * in on_read; conn.c hands ciphertext from the socket to
 * ws101__tls_input, which decrypts record by record into the loop's
 * plaintext buffer and calls proto->on_read, and at flush time
 * ws101__tls_encrypt turns the whole cork buffer into records with ONE
 * SSL_write (records of up to 16 KiB) whose output lands in `cipher`, the
 * buffer conn.c then writes to the socket instead of `out`.
 *
 * OpenSSL talks to us through two tiny custom BIOs rather than memory BIOs:
 * the read BIO serves ciphertext straight from the loop's read buffer (no
 * copy besides OpenSSL's own into its record buffer), and the write BIO
 * appends to `cipher`, a pool-lent buffer released as soon as it is sent.
 * With SSL_MODE_RELEASE_BUFFERS an idle TLS connection holds neither
 * record buffers nor output memory.
 *
 * Contexts (ws101__tls_ctx) are built from ws101_options: a server context
 * (certificates with SNI, tickets with rotating keys, ALPN, optional client
 * certificates) or a client context (trust store, session cache for the
 * keep-alive pool). OpenSSL reference-counts them, so a reload replaces the
 * server's context while open connections keep the old one. */
#ifndef WS101_TLS_H
#define WS101_TLS_H

#include "core/options.h"
#include "io/loop.h"

#include <stddef.h>

struct ws101__conn;
typedef struct ws101__tls ws101__tls;
typedef struct ws101__tls_ctx ws101__tls_ctx;

/* ---- contexts ----------------------------------------------------------- */

/* Builds a server context from the certificates, CA and WS101_OPT_TLS_*
 * values of `o`. `alpn` is the server's ALPN preference list (NULL-ended);
 * the first entry the client also offers is chosen. `prev`, if not NULL,
 * is the context this one replaces: its session-ticket keys carry over so
 * tickets issued before a reload still resume. Returns 0 or WS101_ETLS /
 * WS101_ENOMEM (the reason is in ws101_tls_last_error()). */
int ws101__tls_server_ctx_new(const struct ws101_options *o,
                              const char *const *alpn,
                              const ws101__tls_ctx *prev,
                              ws101__tls_ctx **out);

/* The loop's client context for the trust settings of `o`, created on
 * first use and cached per loop (so TLS sessions are shared by every
 * connection to the same origin). Borrowed: valid until ws101_loop_free.
 * NULL on failure, with the reason in ws101_tls_last_error(). */
ws101__tls_ctx *ws101__tls_client_ctx(ws101_loop *loop,
                                      const struct ws101_options *o);

void ws101__tls_ctx_free(ws101__tls_ctx *ctx);

/* ---- per connection (called by conn.c) ---------------------------------- */

/* Feeds ciphertext read from the socket (data may be NULL with len 0 to
 * continue with input kept while the connection was paused). Runs the
 * handshake, decrypts, calls proto->on_read per record, honours
 * close_notify (proto->on_read_end(c, WS101_EEOF)) and closes the
 * connection with WS101_ETLS on a protocol error. */
void ws101__tls_input(struct ws101__conn *c, const char *data, size_t len);

/* Encrypts the cork buffer into `cipher` (one SSL_write), once the
 * handshake is done. With `ending`, also queues close_notify once. Returns
 * 0, or an error after which the connection is closed. */
int ws101__tls_encrypt(struct ws101__conn *c, int ending);

/* A big write with nothing corked before it: encrypts `bufs` straight
 * from the caller's memory into `cipher` (a short leading buffer, the frame
 * header, shares the first record with the payload's first bytes instead
 * of being a record of its own). Returns 1 when done, 0 when not possible
 * now (handshake not done: the caller copies as usual), or
 * an error after which the connection is closed. */
int ws101__tls_write_direct(struct ws101__conn *c, const uv_buf_t *bufs,
                            unsigned n);

/* The ciphertext waiting for the socket. */
struct ws101__outbuf *ws101__tls_cipher(ws101__tls *t);
/* Ciphertext kept while reading was paused (to resume with). */
int ws101__tls_has_input(const ws101__tls *t);
int ws101__tls_handshake_done(const ws101__tls *t);
/* Whether the peer's close_notify arrived (a FIN without it is a
 * truncation). */
int ws101__tls_peer_notified(const ws101__tls *t);

void ws101__tls_free(ws101_loop *loop, ws101__tls *t);

/* ---- per-thread error text ----------------------------------------------- */

/* Records "what: OpenSSL reason" (draining OpenSSL's error queue) for
 * ws101_tls_last_error() and returns WS101_ETLS. */
int ws101__tls_error(const char *what);

#endif
