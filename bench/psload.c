/*
 * psload - a pub/sub broadcast load generator for the libws101 benchmarks.
 *
 * Independent of libws101 (its own handshake and frame code). One thread,
 * epoll, non-blocking sockets. Opens N subscriber connections to
 * ws://HOST:PORT/PATH and one publisher connection (to --pub-port, which
 * may be another node: the Redis hop), then the publisher sends text
 * messages of --size bytes while at most --window messages are not yet
 * received by every subscriber. Every subscriber counts the frames it gets.
 *
 * Reports, as one JSON line: messages published, deliveries (messages
 * received summed over subscribers), deliveries per second of wall time,
 * and, with --pid (repeatable), the CPU seconds those server processes
 * used during the run and deliveries per server CPU-second (the "per core"
 * figure: it does not depend on how many cores the servers had). After the
 * timed part it waits (bounded) for every message to arrive and reports
 * "lost" deliveries, if any.
 *
 * --exec-start / --exec-end run a shell command just before the timed
 * part and after its last message has arrived (bench/pubsub.sh uses them
 * to switch callgrind's instrumentation on and off, so that instructions
 * are counted for exactly `messages` x `subs` deliveries).
 *
 *   psload --port P [--pub-port P2] [--path /chat/bench] --subs N
 *          --size BYTES [--duration S] [--window W] [--pid PID]...
 *          [--exec-start CMD] [--exec-end CMD]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct conn {
  int fd;
  int open;        /* 101 received */
  int is_pub;
  char hs[1024];   /* handshake response so far */
  size_t hs_len;
  uint8_t hdr[10]; /* a frame header split across reads */
  size_t hdr_len;
  uint64_t need;   /* payload bytes left of the current frame */
  uint64_t got;    /* complete frames received */
} conn;

static conn *conns;
static int nsubs, epfd, port, pub_port, msg_size = 32, window = 64;
static double duration = 5;
static const char *path = "/chat/bench";
static const char *exec_start, *exec_end;
static int pids[8], npids;
static uint64_t total_got; /* frames received by subscribers */
static char rbuf[256 * 1024];

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_of(int pid) {
  char p[64], buf[1024], *s;
  unsigned long ut = 0, st = 0;
  FILE *f;
  snprintf(p, sizeof p, "/proc/%d/stat", pid);
  if ((f = fopen(p, "r")) == NULL) return 0;
  if (fgets(buf, sizeof buf, f) == NULL) buf[0] = '\0';
  fclose(f);
  s = strrchr(buf, ')');
  if (s == NULL) return 0;
  /* fields 14 and 15 (utime, stime) after the command name */
  sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
         &st);
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double servers_cpu(void) {
  double t = 0;
  int i;
  for (i = 0; i < npids; i++) t += cpu_of(pids[i]);
  return t;
}

static void die(const char *what) {
  fprintf(stderr, "psload: %s: %s\n", what, strerror(errno));
  exit(1);
}

static int dial(int p) {
  struct sockaddr_in a;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  if (fd < 0) die("socket");
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)p);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 &&
      errno != EINPROGRESS)
    die("connect");
  return fd;
}

static void send_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
      /* Rare (the publisher's own socket is full): wait for room. */
      struct timespec ts = {0, 100000};
      nanosleep(&ts, NULL);
      continue;
    }
    if (w <= 0) die("send");
    p += w;
    n -= (size_t)w;
  }
}

static void start_handshake(conn *c) {
  char req[512];
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n",
                   path);
  send_all(c->fd, req, (size_t)n);
}

/* Counts complete frames in bytes from the server (unmasked). */
static void parse(conn *c, const uint8_t *p, size_t n) {
  while (n > 0) {
    if (c->need > 0) {
      size_t k = c->need < n ? (size_t)c->need : n;
      c->need -= k;
      p += k;
      n -= k;
      if (c->need == 0) {
        c->got++;
        if (!c->is_pub) total_got++;
      }
      continue;
    }
    c->hdr[c->hdr_len++] = *p++;
    n--;
    if (c->hdr_len >= 2) {
      size_t len = c->hdr[1] & 0x7f, hl = len == 126 ? 4 : len == 127 ? 10 : 2;
      if (c->hdr_len < hl) continue;
      if (len == 126) len = ((size_t)c->hdr[2] << 8) | c->hdr[3];
      if (len == 127) {
        size_t i;
        for (len = 0, i = 0; i < 8; i++) len = (len << 8) | c->hdr[2 + i];
      }
      c->hdr_len = 0;
      if ((c->hdr[0] & 0x0f) == 8) {
        fprintf(stderr, "psload: server closed a connection\n");
        exit(1);
      }
      c->need = len;
      if (len == 0) {
        c->got++;
        if (!c->is_pub) total_got++;
      }
    }
  }
}

static void on_readable(conn *c) {
  for (;;) {
    ssize_t r = recv(c->fd, rbuf, sizeof rbuf, 0);
    if (r < 0 && errno == EAGAIN) return;
    if (r <= 0) {
      fprintf(stderr, "psload: connection lost\n");
      exit(1);
    }
    if (!c->open) {
      char *end;
      size_t k = (size_t)r < sizeof c->hs - 1 - c->hs_len
                     ? (size_t)r
                     : sizeof c->hs - 1 - c->hs_len;
      memcpy(c->hs + c->hs_len, rbuf, k);
      c->hs_len += k;
      c->hs[c->hs_len] = '\0';
      end = strstr(c->hs, "\r\n\r\n");
      if (end == NULL) continue;
      if (strncmp(c->hs, "HTTP/1.1 101", 12) != 0) {
        fprintf(stderr, "psload: no 101: %.60s\n", c->hs);
        exit(1);
      }
      c->open = 1;
      {
        size_t head = (size_t)(end + 4 - c->hs);
        parse(c, (const uint8_t *)rbuf + (head - (c->hs_len - k)),
              (size_t)r - (head - (c->hs_len - k)));
      }
      continue;
    }
    parse(c, (const uint8_t *)rbuf, (size_t)r);
  }
}

static void poll_once(int ms) {
  struct epoll_event ev[256];
  int n = epoll_wait(epfd, ev, 256, ms), i;
  for (i = 0; i < n; i++) on_readable(&conns[ev[i].data.u32]);
}

static void add(int idx) {
  struct epoll_event e;
  e.events = EPOLLIN;
  e.data.u32 = (uint32_t)idx;
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, conns[idx].fd, &e) != 0) die("epoll");
}

/* Opens connections [from, to) a batch at a time: a listen backlog of 511
 * must not overflow (SYN retries would cost seconds). */
static void open_range(int from, int to, int p) {
  int i, opened = from;
  for (i = from; i < to; i++) {
    int k;
    conns[i].fd = dial(p);
    add(i);
    /* Non-blocking connect on loopback completes at once or shortly. */
    for (k = 0; k < 1000; k++) {
      int err = 0;
      socklen_t el = sizeof err;
      if (getsockopt(conns[i].fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 &&
          err == 0) {
        struct sockaddr_in peer;
        socklen_t pl = sizeof peer;
        if (getpeername(conns[i].fd, (struct sockaddr *)&peer, &pl) == 0)
          break;
      }
      poll_once(1);
    }
    start_handshake(&conns[i]);
    if (i - opened >= 200) {
      double end = now() + 30;
      int j;
      for (;;) {
        int all = 1;
        for (j = opened; j <= i && all; j++) all = conns[j].open;
        if (all) break;
        if (now() > end) {
          fprintf(stderr, "psload: handshakes timed out\n");
          exit(1);
        }
        poll_once(10);
      }
      opened = i + 1;
    }
  }
  {
    double end = now() + 30;
    for (;;) {
      int all = 1, j;
      for (j = from; j < to && all; j++) all = conns[j].open;
      if (all) break;
      if (now() > end) {
        fprintf(stderr, "psload: handshakes timed out\n");
        exit(1);
      }
      poll_once(10);
    }
  }
}

int main(int argc, char **argv) {
  char *frame;
  size_t flen;
  uint64_t sent = 0, expect;
  double t0, t1, c0, c1, end;
  struct rlimit rl;
  int i;
  static const uint8_t key[4] = {0x11, 0x22, 0x33, 0x44};
  for (i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
    if (!strcmp(a, "--port")) port = atoi(v), i++;
    else if (!strcmp(a, "--pub-port")) pub_port = atoi(v), i++;
    else if (!strcmp(a, "--path")) path = v, i++;
    else if (!strcmp(a, "--subs")) nsubs = atoi(v), i++;
    else if (!strcmp(a, "--size")) msg_size = atoi(v), i++;
    else if (!strcmp(a, "--duration")) duration = atof(v), i++;
    else if (!strcmp(a, "--window")) window = atoi(v), i++;
    else if (!strcmp(a, "--pid") && npids < 8) pids[npids++] = atoi(v), i++;
    else if (!strcmp(a, "--exec-start")) exec_start = v, i++;
    else if (!strcmp(a, "--exec-end")) exec_end = v, i++;
    else {
      fprintf(stderr, "psload: unknown argument %s\n", a);
      return 2;
    }
  }
  if (port <= 0 || nsubs <= 0 || msg_size < 0 || msg_size > 65535) {
    fprintf(stderr, "usage: psload --port P --subs N --size B ...\n");
    return 2;
  }
  if (pub_port <= 0) pub_port = port;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  conns = calloc((size_t)nsubs + 1, sizeof(*conns));
  epfd = epoll_create1(0);
  open_range(0, nsubs, port);
  conns[nsubs].is_pub = 1;
  open_range(nsubs, nsubs + 1, pub_port);

  /* One masked text frame, sent again and again. */
  flen = (size_t)msg_size + (msg_size < 126 ? 6 : 8);
  frame = malloc(flen);
  {
    size_t h = 0, k;
    frame[h++] = (char)0x81;
    if (msg_size < 126) {
      frame[h++] = (char)(0x80 | msg_size);
    } else {
      frame[h++] = (char)(0x80 | 126);
      frame[h++] = (char)(msg_size >> 8);
      frame[h++] = (char)msg_size;
    }
    memcpy(frame + h, key, 4);
    h += 4;
    for (k = 0; k < (size_t)msg_size; k++)
      frame[h + k] = (char)("abcdefghijklmnop"[k % 16] ^ key[k & 3]);
  }

  /* Warm-up probe: proves every subscriber is subscribed before timing. */
  send_all(conns[nsubs].fd, frame, flen);
  sent = 1;
  end = now() + 30;
  while (total_got < (uint64_t)nsubs) {
    if (now() > end) {
      fprintf(stderr, "psload: probe reached %llu of %d subscribers\n",
              (unsigned long long)total_got, nsubs);
      return 1;
    }
    poll_once(10);
  }
  {
    uint64_t base_sent = sent, base_got = total_got;
    if (exec_start != NULL && system(exec_start) != 0)
      fprintf(stderr, "psload: --exec-start failed\n");
    t0 = now();
    c0 = servers_cpu();
    while ((t1 = now()) - t0 < duration) {
      /* Sliding window over "received by everybody", in total. */
      while ((sent - base_sent) * (uint64_t)nsubs - (total_got - base_got) <
             (uint64_t)window * (uint64_t)nsubs) {
        send_all(conns[nsubs].fd, frame, flen);
        sent++;
      }
      poll_once(1);
    }
    c1 = servers_cpu();
    {
      uint64_t msgs = sent - base_sent, dels = total_got - base_got;
      double wall = t1 - t0, cpu = c1 - c0;
      expect = sent * (uint64_t)nsubs;
      end = now() + 30;
      while (total_got < expect && now() < end) poll_once(10);
      if (exec_end != NULL && system(exec_end) != 0)
        fprintf(stderr, "psload: --exec-end failed\n");
      printf("{\"subs\":%d,\"size\":%d,\"seconds\":%.3f,\"messages\":%llu,"
             "\"deliveries\":%llu,\"deliveries_per_s\":%.0f,"
             "\"server_cpu_s\":%.3f,\"deliveries_per_cpu_s\":%.0f,"
             "\"lost\":%llu}\n",
             nsubs, msg_size, wall, (unsigned long long)msgs,
             (unsigned long long)dels, (double)dels / wall, cpu,
             cpu > 0 ? (double)dels / cpu : 0.0,
             (unsigned long long)(expect - total_got));
    }
  }
  return 0;
}
