// uws_pubsub - the uWebSockets pub/sub peer for bench/pubsub.sh: the same
// service as ws101-demo's /chat/ROOM. Every connection on /chat/* is
// subscribed to "chat/bench" on open; every message it sends is published
// with app.publish (the sender included, as in ws101-demo). No compression,
// 16 MiB backpressure limit (ws101's default). Port from argv[1], 127.0.0.1.
#include "App.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>

struct PerSocketData {};

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 9001;
  std::signal(SIGPIPE, SIG_IGN);
  uWS::App app;
  uWS::App *appp = &app;
  app.ws<PerSocketData>(
         "/chat/*",
         {.compression = uWS::DISABLED,
          .maxPayloadLength = 16 * 1024 * 1024,
          .idleTimeout = 0,
          .maxBackpressure = 16 * 1024 * 1024,
          .closeOnBackpressureLimit = false,
          .resetIdleTimeoutOnSend = false,
          .sendPingsAutomatically = false,
          .upgrade = nullptr,
          .open = [](auto *ws) { ws->subscribe("chat/bench"); },
          .message =
              [appp](auto * /*ws*/, std::string_view msg, uWS::OpCode op) {
                appp->publish("chat/bench", msg, op);
              }})
      .listen("127.0.0.1", port, [port](auto *ls) {
        if (ls) {
          std::printf("listening on http://127.0.0.1:%d/\n", port);
          std::fflush(stdout);
        } else {
          std::fprintf(stderr, "uws_pubsub: cannot listen on %d\n", port);
          std::exit(1);
        }
      });
  app.run();
  return 0;
}
