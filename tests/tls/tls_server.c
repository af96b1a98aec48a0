/* tls_server.c - the TLS test server (public API only): one ws101_server
 * with a TLS listener and, with --plain, a plain one beside it.
 *
 *   tls_server --cert F --key F [--sni HOST CERT KEY]... [--ca F]
 *              [--client-cert optional|require] [--plain] [--pem]
 *              [--reload-cert F --reload-key F] [--header-timeout MS]
 *
 * --pem loads the default certificate from memory (the files are read into
 * strings first), exercising WS101_TLS_PEM_DATA.
 *
 * Routes: /whoami answers "<tls version or plain> <peer subject or ->";
 * /hello answers "hello"; /reload swaps in --reload-cert/--reload-key with
 * ws101_server_reload_tls and answers "reloaded"; /ws echoes messages, and
 * answers the text "whoami" with the peer subject.
 *
 * Prints "tls PORT" (and "plain PORT") then "ready", and stops on SIGTERM
 * or when stdin closes. */
#define _POSIX_C_SOURCE 200809L
#include "ws101.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static ws101_loop *loop;
static ws101_server *server;
static const char *reload_cert, *reload_key;

static void whoami(ws101_req *req, void *ud) {
  char buf[512];
  const char *v = ws101_req_tls_version(req);
  const char *s = ws101_req_tls_peer_subject(req);
  int n = snprintf(buf, sizeof(buf), "%s %s\n", v ? v : "plain", s ? s : "-");
  (void)ud;
  ws101_req_respond(req, 200, "text/plain", buf, (size_t)n);
}

static void hello(ws101_req *req, void *ud) {
  (void)ud;
  ws101_req_respond(req, 200, "text/plain", "hello\n", 6);
}

static void reload(ws101_req *req, void *ud) {
  ws101_options *o;
  char buf[400];
  int rc, n;
  (void)ud;
  ws101_options_new(&o);
  ws101_options_add_tls_cert(o, NULL, reload_cert ? reload_cert : "-",
                             reload_key ? reload_key : "-",
                             WS101_TLS_PEM_FILES);
  rc = ws101_server_reload_tls(server, o);
  ws101_options_free(o);
  n = rc == 0 ? snprintf(buf, sizeof(buf), "reloaded\n")
              : snprintf(buf, sizeof(buf), "%s: %s\n", ws101_err_name(rc),
                         ws101_tls_last_error());
  ws101_req_respond(req, rc == 0 ? 200 : 500, "text/plain", buf, (size_t)n);
}

static void on_ws(ws101_ws *ws, int ev, const char *data, size_t len, int arg,
                  void *ud) {
  (void)arg;
  (void)ud;
  if (ev == WS101_WS_TEXT && len == 6 && memcmp(data, "whoami", 6) == 0) {
    const char *s = ws101_ws_tls_peer_subject(ws);
    ws101_ws_send(ws, s ? s : "-", strlen(s ? s : "-"), WS101_OP_TEXT);
  } else if (ev == WS101_WS_TEXT || ev == WS101_WS_BINARY) {
    ws101_ws_send(ws, data, len,
                  ev == WS101_WS_TEXT ? WS101_OP_TEXT : WS101_OP_BINARY);
  }
}

static void stop_cb(ws101_loop *l, void *ud) {
  (void)l;
  (void)ud;
  ws101_server_close(server, NULL, NULL);
}

static void *stdin_thread(void *arg) {
  char c;
  (void)arg;
  while (read(0, &c, 1) > 0) {
  }
  ws101_loop_post(loop, stop_cb, NULL);
  return NULL;
}

static void *signal_thread(void *arg) {
  sigset_t *set = arg;
  int sig;
  if (sigwait(set, &sig) == 0) ws101_loop_post(loop, stop_cb, NULL);
  return NULL;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  char *s;
  long n;
  if (f == NULL) return NULL;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  s = calloc(1, (size_t)n + 1);
  if (s != NULL && fread(s, 1, (size_t)n, f) != (size_t)n) {
    free(s);
    s = NULL;
  }
  fclose(f);
  return s;
}

static int usage(void) {
  fprintf(stderr, "usage: tls_server --cert F --key F [--sni H C K]... "
                  "[--ca F] [--client-cert optional|require] [--plain] "
                  "[--pem] [--reload-cert F --reload-key F]\n");
  return 2;
}

int main(int argc, char **argv) {
  ws101_options *o;
  const char *cert = NULL, *key = NULL, *ca = NULL;
  int plain = 0, pem = 0, i, rc;
  char *cert_mem = NULL, *key_mem = NULL;
  sigset_t set;
  pthread_t t1, t2;

  ws101_options_new(&o);
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--cert") == 0 && i + 1 < argc) {
      cert = argv[++i];
    } else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc) {
      key = argv[++i];
    } else if (strcmp(argv[i], "--sni") == 0 && i + 3 < argc) {
      if (ws101_options_add_tls_cert(o, argv[i + 1], argv[i + 2], argv[i + 3],
                                     WS101_TLS_PEM_FILES) != 0)
        return usage();
      i += 3;
    } else if (strcmp(argv[i], "--ca") == 0 && i + 1 < argc) {
      ca = argv[++i];
    } else if (strcmp(argv[i], "--client-cert") == 0 && i + 1 < argc) {
      i++;
      ws101_options_set(o, WS101_OPT_TLS_CLIENT_CERT,
                        strcmp(argv[i], "require") == 0
                            ? WS101_TLS_CLIENT_CERT_REQUIRE
                            : WS101_TLS_CLIENT_CERT_OPTIONAL);
    } else if (strcmp(argv[i], "--plain") == 0) {
      plain = 1;
    } else if (strcmp(argv[i], "--header-timeout") == 0 && i + 1 < argc) {
      ws101_options_set(o, WS101_OPT_HEADER_TIMEOUT_MS, atoi(argv[++i]));
    } else if (strcmp(argv[i], "--pem") == 0) {
      pem = 1;
    } else if (strcmp(argv[i], "--reload-cert") == 0 && i + 1 < argc) {
      reload_cert = argv[++i];
    } else if (strcmp(argv[i], "--reload-key") == 0 && i + 1 < argc) {
      reload_key = argv[++i];
    } else {
      return usage();
    }
  }
  if (cert == NULL || key == NULL) return usage();
  if (pem) {
    cert_mem = slurp(cert);
    key_mem = slurp(key);
    if (cert_mem == NULL || key_mem == NULL) return usage();
    rc = ws101_options_add_tls_cert(o, NULL, cert_mem, key_mem,
                                    WS101_TLS_PEM_DATA);
  } else {
    rc = ws101_options_add_tls_cert(o, NULL, cert, key, WS101_TLS_PEM_FILES);
  }
  if (rc != 0 || (ca != NULL && ws101_options_set_tls_ca(o, ca, NULL) != 0))
    return usage();

  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  if (ws101_loop_new(&loop) != 0 || ws101_server_new(loop, o, &server) != 0)
    return 1;
  ws101_options_free(o);
  free(cert_mem);
  free(key_mem);
  ws101_server_route(server, "/whoami", 0, whoami, NULL);
  ws101_server_route(server, "/hello", 0, hello, NULL);
  ws101_server_route(server, "/reload", 0, reload, NULL);
  ws101_server_websocket(server, "/ws", on_ws, NULL);
  /* Plain first: ws101_server_port names the first listener of all,
   * ws101_server_tls_port the first TLS one. */
  if (plain) {
    if (ws101_server_listen(server, "127.0.0.1", 0) != 0) return 1;
    printf("plain %d\n", ws101_server_port(server));
  }
  rc = ws101_server_listen_tls(server, "127.0.0.1", 0);
  if (rc != 0) {
    fprintf(stderr, "tls_server: listen_tls: %s: %s\n", ws101_strerror(rc),
            ws101_tls_last_error());
    return 1;
  }
  printf("tls %d\n", ws101_server_tls_port(server));
  printf("ready\n");
  fflush(stdout);
  pthread_create(&t1, NULL, stdin_thread, NULL);
  pthread_create(&t2, NULL, signal_thread, &set);
  ws101_loop_run(loop);
  ws101_loop_free(loop);
  _exit(0); /* the helper threads may still be blocked in read/sigwait */
}
