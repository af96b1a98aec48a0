/* fuzz_client_peer.h - shared by the client fuzzers: the fuzz input plays
 * the server. ws101__connect_fd_hook hands the client one end of a Unix
 * socketpair instead of a TCP connection; the target writes its input into
 * the other end and half-closes it, so the real client code (client_http.c,
 * client_ws.c, the engines under them) reads it exactly as from a peer,
 * with no network, no TIME_WAIT and tens of thousands of runs a second.
 * The first input byte picks how reads are split (ws101__faults.read_max),
 * so every framing boundary gets tried. */
#ifndef WS101_FUZZ_CLIENT_PEER_H
#define WS101_FUZZ_CLIENT_PEER_H

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/client_connect.h"
#include "io/conn.h"
#include "ws101.h"

#define CHECK(x)                                                               \
  do {                                                                         \
    if (!(x))                                                                  \
      abort();                                                                 \
  } while (0)

static int peer_fd[2] = {-1, -1};
static int peer_taken;

static int peer_hook(const char *host, uint16_t port) {
  (void)host;
  (void)port;
  if (peer_taken) return -1; /* one connection per input */
  peer_taken = 1;
  return peer_fd[0];
}

/* A fresh pair; the client's end is closed by the library (uv_close). */
static void peer_open(void) {
  int sz = 1 << 20;
  signal(SIGPIPE, SIG_IGN);
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, peer_fd) == 0);
  setsockopt(peer_fd[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
  setsockopt(peer_fd[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
  peer_taken = 0;
  ws101__connect_fd_hook = peer_hook;
}

/* Writes the server's bytes and ends its side. */
static void peer_send(const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(peer_fd[1], p, n);
    if (w <= 0) break; /* inputs are capped well below the buffer */
    p += w;
    n -= (size_t)w;
  }
  shutdown(peer_fd[1], SHUT_WR);
}

static void peer_close(void) {
  if (!peer_taken) close(peer_fd[0]);
  close(peer_fd[1]);
  peer_fd[0] = peer_fd[1] = -1;
  ws101__connect_fd_hook = NULL;
  memset(&ws101__faults, 0, sizeof(ws101__faults));
}

/* One loop for every input: creating a loop (epoll, eventfd, the 64 KiB
 * read buffer) per input cost more than the input itself. */
static ws101_loop *shared_loop(void) {
  static ws101_loop *loop;
  if (loop == NULL) CHECK(ws101_loop_new(&loop) == 0);
  return loop;
}

/* After ws101_loop_run returned: let a pooled keep-alive connection see
 * the peer's end and close, so no input leaves state for the next. */
static void settle(ws101_loop *loop) {
  int i;
  for (i = 0; i < 4; i++) ws101_loop_run_once(loop, 0);
}

/* Read splits chosen by the first byte. */
static void peer_splits(uint8_t b) {
  static const size_t sizes[] = {0, 1, 2, 3, 7, 16, 100, 1000};
  ws101__faults.read_max = sizes[b & 7];
}

#endif
