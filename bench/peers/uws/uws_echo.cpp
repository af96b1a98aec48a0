// uws_echo.cpp - the uWebSockets peer for bench/: a WebSocket echo on every
// path and GET /hello, bound to 127.0.0.1 on the port given in argv[1].
// Written for this benchmark against uWS's public App API; built by
// bench/peers/uws/build.sh from ../shared/thirdparty/uWebSockets.
//
//   uws_echo PORT [--deflate]
//   uws_echo_ssl PORT [--deflate] --cert CERT.pem --key KEY.pem
//
// --deflate enables permessage-deflate with a shared compressor, the
// configuration closest to ws101's default shared zlib streams. The _ssl
// build (WS101_UWS_SSL) serves wss/https with the given certificate.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "App.h"

struct PerSocket {};

template <class APP>
static void serve(APP &&app, int port, bool deflate) {
  app.get("/hello", [](auto *res, auto * /*req*/) { res->end("hello"); })
      .template ws<PerSocket>(
          "/*",
          {.compression = deflate ? uWS::SHARED_COMPRESSOR : uWS::DISABLED,
           // ws101's defaults: 16 MiB messages, 16 MiB send buffer.
           .maxPayloadLength = 16 * 1024 * 1024,
           .idleTimeout = 120,
           .maxBackpressure = 16 * 1024 * 1024,
           .message =
               [](auto *ws, std::string_view msg, uWS::OpCode op) {
                 ws->send(msg, op, true);
               }})
      .listen("127.0.0.1", port,
              [port](auto *ls) {
                if (ls) {
                  std::printf("listening on http://127.0.0.1:%d/\n", port);
                  std::fflush(stdout);
                } else {
                  std::fprintf(stderr, "uws_echo: cannot listen on %d\n",
                               port);
                  std::exit(1);
                }
              })
      .run();
}

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: uws_echo PORT [--deflate] [--cert C --key K]\n");
    return 2;
  }
  int port = std::atoi(argv[1]);
  bool deflate = false;
  const char *cert = nullptr, *key = nullptr;
  for (int i = 2; i < argc; i++) {
    if (std::strcmp(argv[i], "--deflate") == 0) deflate = true;
    else if (std::strcmp(argv[i], "--cert") == 0 && i + 1 < argc) cert = argv[++i];
    else if (std::strcmp(argv[i], "--key") == 0 && i + 1 < argc) key = argv[++i];
  }
  // A peer that vanishes must not kill the server mid-benchmark.
  std::signal(SIGPIPE, SIG_IGN);
#ifdef WS101_UWS_SSL
  if (cert == nullptr || key == nullptr) {
    std::fprintf(stderr, "uws_echo_ssl: --cert and --key are required\n");
    return 2;
  }
  serve(uWS::SSLApp({.key_file_name = key, .cert_file_name = cert}), port,
        deflate);
#else
  (void)cert;
  (void)key;
  serve(uWS::App(), port, deflate);
#endif
  return 0;
}
