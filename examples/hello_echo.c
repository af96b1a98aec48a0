/* hello_echo.c - the README example: HTTP hello and WebSocket echo. */
#include <stdio.h>
#include <stdlib.h>
#include "ws101.h"

static void hello(ws101_req *req, void *user_data) {
  (void)user_data;
  ws101_req_respond(req, 200, "text/plain", "hello\n", 6);
}

static void echo(ws101_ws *ws, int event, const char *data, size_t len,
                 int arg, void *user_data) {
  int rc;
  (void)arg, (void)user_data;
  if (event != WS101_WS_TEXT && event != WS101_WS_BINARY) return;
  rc = ws101_ws_send(ws, data, len,
                     event == WS101_WS_TEXT ? WS101_OP_TEXT : WS101_OP_BINARY);
  if (rc == 0) return;
  /* A refused send is never dropped silently: say so, and close (1008 if
   * the peer does not read what we send, 1011 otherwise). */
  fprintf(stderr, "echo not sent: %s\n", ws101_strerror(rc));
  if (rc == WS101_EBACKPRESSURE) ws101_ws_close(ws, 1008, "too much queued");
  else if (rc != WS101_ECLOSED) ws101_ws_close(ws, 1011, "echo failed");
}

int main(int argc, char **argv) {
  ws101_loop *loop;
  ws101_server *srv;
  int rc;
  ws101_loop_new(&loop);
  ws101_server_new(loop, NULL, &srv);
  ws101_server_route(srv, "/", 0, hello, NULL);
  ws101_server_websocket(srv, "/ws", echo, NULL);
  rc = ws101_server_listen(srv, "127.0.0.1", argc > 1 ? atoi(argv[1]) : 8080);
  if (rc != 0) return fprintf(stderr, "%s\n", ws101_strerror(rc)), 1;
  printf("listening on http://127.0.0.1:%d/\n", ws101_server_port(srv));
  fflush(stdout);
  return ws101_loop_run(loop);
}
