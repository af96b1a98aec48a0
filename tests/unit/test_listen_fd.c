/* test_listen_fd.c - ws101_server_listen_fd: a server adopts a listening
 * socket the caller bound (as a worker process inheriting its parent's
 * socket does), serves on it, and owns the descriptor whatever the
 * outcome: closed on failure before the call returns, closed with the
 * server on success. */
#include <fcntl.h>

#include "http_harness.h"

static int fd_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

/* A bound, listening TCP socket on 127.0.0.1 and a free port. */
static int bound_listener(int *port) {
  struct sockaddr_in sa;
  socklen_t len = sizeof(sa);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  ASSERT_EQ(listen(fd, 16), 0);
  ASSERT_EQ(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
  *port = ntohs(sa.sin_port);
  return fd;
}

static void test_bad_arguments_close_the_fd(void) {
  hh_server s;
  int port, fd, p[2];
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_listen_fd(s.srv, -1), WS101_EINVAL);
  fd = bound_listener(&port);
  ASSERT_EQ(ws101_server_listen_fd(NULL, fd), WS101_EINVAL);
  ASSERT(!fd_open(fd)); /* owned even when refused */
  /* Not a socket: libuv adopts it, listen() fails, and it is closed. */
  ASSERT_EQ(pipe(p), 0);
  ASSERT_LT(ws101_server_listen_fd(s.srv, p[0]), 0);
  ASSERT(!fd_open(p[0]));
  close(p[1]);
  ASSERT_EQ(ws101_server_port(s.srv), WS101_ESTATE); /* nothing listens */
  hh_run(&s); /* a normal listener still works after the failures */
  hh_stop(&s);
}

static void test_serves_on_the_adopted_socket(void) {
  hh_server s;
  hh_cli *c;
  int port, fd;
  hh_init(&s, NULL);
  ASSERT_EQ(ws101_server_route(s.srv, "/", 0, hh_say, "adopted"), 0);
  fd = bound_listener(&port);
  ASSERT_EQ(ws101_server_listen_fd(s.srv, fd), 0);
  ASSERT_EQ(ws101_server_port(s.srv), port);
  s.port = port;
  ASSERT_EQ(pthread_create(&s.th, NULL, hh_thread, &s), 0);
  c = hh_connect(port);
  hh_send(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  hh_expect(c, 200, "adopted");
  hh_close(c);
  hh_stop(&s);
  ASSERT(!fd_open(fd)); /* closed with the server */
}

int main(void) {
  RUN(test_bad_arguments_close_the_fd);
  RUN(test_serves_on_the_adopted_socket);
  return 0;
}
