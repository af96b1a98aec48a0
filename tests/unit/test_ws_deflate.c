/* test_ws_deflate.c - permessage-deflate negotiation and compression. */
#include "test.h"
#include "proto/ws_deflate.h"

#include <zlib.h>

static void opts_init(struct ws101_options *o, int memory, int bits) {
  /* Filled by hand so this test does not depend on options.c. */
  memset(o, 0, sizeof(*o));
  o->deflate = 1;
  o->deflate_level = 1;
  o->deflate_window_bits = bits;
  o->deflate_min_size = 64;
  o->deflate_memory = memory;
  o->deflate_mem_level = 8;
  o->ws_max_message = 16777216;
}

/* ------------------------------------------------------------------------ */
/* Negotiation                                                              */
/* ------------------------------------------------------------------------ */

typedef struct neg_case {
  const char *offer;
  int memory, bits;
  int rc;
  const char *resp;
  int snct, cnct, smwb, cmwb;
} neg_case;

static const neg_case k_neg[] = {
    /* Browsers. */
    {"permessage-deflate; client_max_window_bits", 0, 15, 1,
     "permessage-deflate; client_max_window_bits=15", 0, 0, 15, 15},
    {"permessage-deflate", 0, 15, 1, "permessage-deflate", 0, 0, 15, 15},
    {"PerMessage-Deflate; Client_Max_Window_Bits", 0, 15, 1,
     "permessage-deflate; client_max_window_bits=15", 0, 0, 15, 15},
    /* Values. */
    {"permessage-deflate; server_max_window_bits=10; client_max_window_bits=12",
     0, 15, 1,
     "permessage-deflate; server_max_window_bits=10; client_max_window_bits=12",
     0, 0, 10, 12},
    {"permessage-deflate; server_max_window_bits=8", 0, 15, 1,
     "permessage-deflate; server_max_window_bits=8", 0, 0, 8, 15},
    {"permessage-deflate; server_no_context_takeover; "
     "client_no_context_takeover",
     0, 15, 1,
     "permessage-deflate; server_no_context_takeover; "
     "client_no_context_takeover",
     1, 1, 15, 15},
    {"permessage-deflate;server_max_window_bits = 11 ;\tclient_max_window_bits",
     0, 15, 1,
     "permessage-deflate; server_max_window_bits=11; client_max_window_bits=15",
     0, 0, 11, 15},
    /* Our window option limits both answers. */
    {"permessage-deflate; client_max_window_bits", 0, 10, 1,
     "permessage-deflate; client_max_window_bits=10", 0, 0, 15, 10},
    {"permessage-deflate; server_max_window_bits=12; client_max_window_bits=9",
     0, 10, 1,
     "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9",
     0, 0, 10, 9},
    /* Quoted values. */
    {"permessage-deflate; server_max_window_bits=\"10\"", 0, 15, 1,
     "permessage-deflate; server_max_window_bits=10", 0, 0, 10, 15},
    {"permessage-deflate; client_max_window_bits=\"1\\2\"", 0, 15, 1,
     "permessage-deflate; client_max_window_bits=12", 0, 0, 15, 12},
    /* Several offers: the first acceptable one wins. */
    {"permessage-deflate; server_max_window_bits=7, permessage-deflate; "
     "client_max_window_bits",
     0, 15, 1, "permessage-deflate; client_max_window_bits=15", 0, 0, 15, 15},
    {"x-webkit-deflate-frame, permessage-deflate; foo=1, permessage-deflate; "
     "server_no_context_takeover",
     0, 15, 1, "permessage-deflate; server_no_context_takeover", 1, 0, 15, 15},
    {" , ,permessage-deflate ,, ", 0, 15, 1, "permessage-deflate", 0, 0, 15,
     15},
    /* Unacceptable offers are declined, not errors. */
    {"permessage-deflate; server_no_context_takeover; "
     "server_no_context_takeover",
     0, 15, 0, "", 0, 0, 0, 0},
    {"permessage-deflate; client_max_window_bits; client_max_window_bits=10", 0,
     15, 0, "", 0, 0, 0, 0},
    {"permessage-deflate; server_max_window_bits=7", 0, 15, 0, "", 0, 0, 0, 0},
    {"permessage-deflate; server_max_window_bits=16", 0, 15, 0, "", 0, 0, 0, 0},
    {"permessage-deflate; server_max_window_bits=abc", 0, 15, 0, "", 0, 0, 0,
     0},
    {"permessage-deflate; server_max_window_bits=08", 0, 15, 0, "", 0, 0, 0, 0},
    {"permessage-deflate; server_max_window_bits=\"123456789012\"", 0, 15, 0,
     "", 0, 0, 0, 0},
    {"permessage-deflate; client_max_window_bits=7", 0, 15, 0, "", 0, 0, 0, 0},
    {"permessage-deflate; server_max_window_bits", 0, 15, 0, "", 0, 0, 0, 0},
    {"permessage-deflate; server_no_context_takeover=1", 0, 15, 0, "", 0, 0, 0,
     0},
    {"permessage-deflate; foo", 0, 15, 0, "", 0, 0, 0, 0},
    {"x-webkit-deflate-frame", 0, 15, 0, "", 0, 0, 0, 0},
    {"", 0, 15, 0, "", 0, 0, 0, 0},
    /* Malformed headers. */
    {"permessage-deflate;", 0, 15, -1, "", 0, 0, 0, 0},
    {"; client_max_window_bits", 0, 15, -1, "", 0, 0, 0, 0},
    {"permessage-deflate client_max_window_bits", 0, 15, -1, "", 0, 0, 0, 0},
    {"permessage-deflate; client_max_window_bits=", 0, 15, -1, "", 0, 0, 0, 0},
    {"permessage-deflate; client_max_window_bits=\"10", 0, 15, -1, "", 0, 0, 0,
     0},
    {"permessage-deflate; x=\"a b\"", 0, 15, -1, "", 0, 0, 0, 0},
    {"permessage-deflate; x=\"\"", 0, 15, -1, "", 0, 0, 0, 0},
    {"permessage-deflate, @", 0, 15, -1, "", 0, 0, 0, 0},
    /* Shared memory mode always disables context takeover both ways. */
    {"permessage-deflate; client_max_window_bits", 1, 15, 1,
     "permessage-deflate; server_no_context_takeover; "
     "client_no_context_takeover; client_max_window_bits=15",
     1, 1, 15, 15},
    {"permessage-deflate", 1, 15, 1,
     "permessage-deflate; server_no_context_takeover; "
     "client_no_context_takeover",
     1, 1, 15, 15},
};

static void test_negotiate_table(void) {
  size_t i;
  for (i = 0; i < sizeof(k_neg) / sizeof(k_neg[0]); i++) {
    const neg_case *c = &k_neg[i];
    struct ws101_options o;
    ws101__pmd_params prm;
    char resp[WS101__PMD_RESP_MAX];
    int rc;
    opts_init(&o, c->memory, c->bits);
    memset(&prm, 0, sizeof(prm));
    rc = ws101__pmd_server_negotiate(c->offer, &o, &prm, resp, sizeof(resp));
    if (rc != c->rc)
      FAILF("case %zu \"%s\": rc %d, want %d", i, c->offer, rc, c->rc);
    ASSERT_STR_EQ(resp, c->resp);
    if (rc == 1) {
      ASSERT_EQ(prm.server_no_context_takeover, c->snct);
      ASSERT_EQ(prm.client_no_context_takeover, c->cnct);
      ASSERT_EQ(prm.server_max_window_bits, c->smwb);
      ASSERT_EQ(prm.client_max_window_bits, c->cmwb);
    }
  }
}

static void test_negotiate_misc(void) {
  struct ws101_options o;
  ws101__pmd_params prm;
  char resp[WS101__PMD_RESP_MAX], tiny[20];
  opts_init(&o, 0, 15);
  ASSERT_EQ(ws101__pmd_server_negotiate(NULL, &o, &prm, resp, sizeof(resp)), 0);
  /* Disabled: declined without even parsing. */
  o.deflate = 0;
  ASSERT_EQ(ws101__pmd_server_negotiate("permessage-deflate", &o, &prm, resp,
                                        sizeof(resp)),
            0);
  ASSERT_EQ(ws101__pmd_server_negotiate("permessage-deflate;", &o, &prm, resp,
                                        sizeof(resp)),
            0);
  o.deflate = 1;
  /* A response that does not fit declines rather than truncates. */
  ASSERT_EQ(ws101__pmd_server_negotiate("permessage-deflate; "
                                        "client_max_window_bits",
                                        &o, &prm, tiny, sizeof(tiny)),
            0);
  ASSERT_STR_EQ(tiny, "");
  /* The longest response fits WS101__PMD_RESP_MAX. */
  o.deflate_memory = WS101_DEFLATE_SHARED;
  ASSERT_EQ(ws101__pmd_server_negotiate(
                "permessage-deflate; server_max_window_bits=15; "
                "client_max_window_bits=15",
                &o, &prm, resp, sizeof(resp)),
            1);
  ASSERT_STR_EQ(resp, "permessage-deflate; server_no_context_takeover; "
                      "client_no_context_takeover; server_max_window_bits=15; "
                      "client_max_window_bits=15");
}

static void test_client_offer_accept(void) {
  struct ws101_options o;
  ws101__pmd_params prm;
  char buf[128];
  opts_init(&o, 0, 15);
  ASSERT_EQ(ws101__pmd_client_offer(&o, buf, sizeof(buf)), 42);
  ASSERT_STR_EQ(buf, "permessage-deflate; client_max_window_bits");
  ASSERT_EQ(ws101__pmd_client_offer(&o, buf, 42), -1);
  ASSERT_EQ(ws101__pmd_client_offer(&o, buf, 43), 42);

  ASSERT_EQ(ws101__pmd_client_accept(NULL, &o, &prm), 0);
  ASSERT_EQ(ws101__pmd_client_accept("", &o, &prm), 0);
  ASSERT_EQ(ws101__pmd_client_accept("permessage-deflate", &o, &prm), 1);
  ASSERT_EQ(prm.server_no_context_takeover, 0);
  ASSERT_EQ(prm.client_no_context_takeover, 0);
  ASSERT_EQ(prm.server_max_window_bits, 15);
  ASSERT_EQ(prm.client_max_window_bits, 15);
  ASSERT_EQ(ws101__pmd_client_accept("permessage-deflate; "
                                     "server_no_context_takeover; "
                                     "client_max_window_bits=10",
                                     &o, &prm),
            1);
  ASSERT_EQ(prm.server_no_context_takeover, 1);
  ASSERT_EQ(prm.client_max_window_bits, 10);
  ASSERT_EQ(ws101__pmd_client_accept("permessage-deflate; "
                                     "client_no_context_takeover",
                                     &o, &prm),
            1);
  ASSERT_EQ(prm.client_no_context_takeover, 1);
  /* Unsolicited server_max_window_bits only narrows the server's own window
   * (RFC 7692 7.1.2.1 lets the server add it); Python websockets sends it. */
  ASSERT_EQ(ws101__pmd_client_accept("permessage-deflate; "
                                     "server_max_window_bits=12; "
                                     "client_max_window_bits=12",
                                     &o, &prm),
            1);
  ASSERT_EQ(prm.server_max_window_bits, 12);
  ASSERT_EQ(prm.client_max_window_bits, 12);

  /* Invalid responses fail the connection. */
  ASSERT_EQ(ws101__pmd_client_accept(
                "permessage-deflate; client_max_window_bits", &o, &prm),
            -1);
  ASSERT_EQ(ws101__pmd_client_accept("permessage-deflate; "
                                     "server_max_window_bits",
                                     &o, &prm),
            -1);
  ASSERT_EQ(ws101__pmd_client_accept("permessage-deflate; "
                                     "server_max_window_bits=7",
                                     &o, &prm),
            -1);
  ASSERT_EQ(ws101__pmd_client_accept("permessage-deflate; "
                                     "client_max_window_bits=16",
                                     &o, &prm),
            -1);
  ASSERT_EQ(ws101__pmd_client_accept("permessage-deflate; foo", &o, &prm), -1);
  ASSERT_EQ(ws101__pmd_client_accept("permessage-deflate; "
                                     "server_no_context_takeover; "
                                     "server_no_context_takeover",
                                     &o, &prm),
            -1);
  ASSERT_EQ(ws101__pmd_client_accept("permessage-deflate, permessage-deflate",
                                     &o, &prm),
            -1);
  ASSERT_EQ(ws101__pmd_client_accept("x-webkit-deflate-frame", &o, &prm), -1);
  ASSERT_EQ(ws101__pmd_client_accept("permessage-deflate;", &o, &prm), -1);
  o.deflate = 0;
  ASSERT_EQ(ws101__pmd_client_offer(&o, buf, sizeof(buf)), 0);
  ASSERT_STR_EQ(buf, "");
  ASSERT_EQ(ws101__pmd_client_accept("permessage-deflate", &o, &prm), -1);
  ASSERT_EQ(ws101__pmd_client_accept(NULL, &o, &prm), 0);

  /* Shared mode offers no context takeover both ways and keeps its promise
   * even when the server does not echo client_no_context_takeover. */
  opts_init(&o, WS101_DEFLATE_SHARED, 15);
  ASSERT_GT(ws101__pmd_client_offer(&o, buf, sizeof(buf)), 0);
  ASSERT_STR_EQ(buf, "permessage-deflate; client_max_window_bits; "
                     "server_no_context_takeover; client_no_context_takeover");
  ASSERT_EQ(ws101__pmd_client_accept("permessage-deflate; "
                                     "server_no_context_takeover",
                                     &o, &prm),
            1);
  ASSERT_EQ(prm.server_no_context_takeover, 1);
  ASSERT_EQ(prm.client_no_context_takeover, 1);
}

/* The server's answer to our own offer is accepted by our client. */
static void test_offer_answer_loop(void) {
  int mem;
  for (mem = 0; mem <= 1; mem++) {
    struct ws101_options o;
    ws101__pmd_params sp, cp;
    char offer[128], resp[WS101__PMD_RESP_MAX];
    opts_init(&o, mem, 15);
    ASSERT_GT(ws101__pmd_client_offer(&o, offer, sizeof(offer)), 0);
    ASSERT_EQ(ws101__pmd_server_negotiate(offer, &o, &sp, resp, sizeof(resp)),
              1);
    ASSERT_EQ(ws101__pmd_client_accept(resp, &o, &cp), 1);
    ASSERT_MEM_EQ(&sp, &cp, sizeof(sp));
  }
}

/* ------------------------------------------------------------------------ */
/* RFC 7692 §7.2.3 examples                                                 */
/* ------------------------------------------------------------------------ */

static ws101__pmd *client_pmd(int snct, int cnct, ws101__pmd_shared *sh) {
  struct ws101_options o;
  ws101__pmd_params prm = {0, 0, 15, 15};
  ws101__pmd *p;
  opts_init(&o, 0, 15);
  prm.server_no_context_takeover = (uint8_t)snct;
  prm.client_no_context_takeover = (uint8_t)cnct;
  p = ws101__pmd_new(&prm, 0, &o, sh);
  ASSERT(p != NULL);
  return p;
}

static void inflate_str(ws101__pmd *p, const char *bytes, size_t n,
                        const char *want) {
  ws101__buf out = {0};
  ASSERT_EQ(ws101__pmd_inflate(p, bytes, n, 1, &out, 1000), 0);
  ASSERT_EQ(out.len, strlen(want));
  ASSERT_MEM_EQ(out.data, want, out.len);
  ws101__buf_free(&out);
}

static void test_rfc_examples(void) {
  static const char hello[] = "\xf2\x48\xcd\xc9\xc9\x07\x00";
  static const char hello2[] = "\xf2\x00\x11\x00\x00";
  static const char stored[] = "\x00\x05\x00\xfa\xff\x48\x65\x6c\x6c\x6f\x00";
  static const char bfinal[] = "\xf3\x48\xcd\xc9\xc9\x07\x00\x00";
  static const char twoblk[] =
      "\xf2\x48\x05\x00\x00\x00\xff\xff\xca\xc9\xc9\x07\x00";
  ws101__buf out = {0};
  ws101__pmd *p = client_pmd(0, 0, NULL);
  /* §7.2.3.1 single message, then §7.2.3.2 the same with context takeover. */
  inflate_str(p, hello, 7, "Hello");
  inflate_str(p, hello2, 5, "Hello");
  /* §7.2.3.1 fragmented. */
  ASSERT_EQ(ws101__pmd_inflate(p, hello, 3, 0, &out, 1000), 0);
  ASSERT_EQ(ws101__pmd_inflate(p, hello + 3, 4, 1, &out, 1000), 0);
  ws101__pmd_free(p);
  ASSERT_EQ(out.len, 5);
  ASSERT_MEM_EQ(out.data, "Hello", 5);
  ws101__buf_free(&out);

  /* §7.2.3.3 stored block, §7.2.3.4 BFINAL, §7.2.3.5 two blocks; a message
   * after a BFINAL block still decodes (the window survives). */
  p = client_pmd(0, 0, NULL);
  inflate_str(p, stored, 11, "Hello");
  inflate_str(p, bfinal, 8, "Hello");
  inflate_str(p, hello2, 5, "Hello");
  inflate_str(p, twoblk, 13, "Hello");
  /* A sender that flushed with Z_FINISH and sent no empty-block byte. */
  inflate_str(p, bfinal, 7, "Hello");
  inflate_str(p, hello2, 5, "Hello");
  /* An empty message. */
  inflate_str(p, "\x00", 1, "");
  inflate_str(p, hello2, 5, "Hello");
  ws101__pmd_free(p);

  /* No context takeover: the second example must now fail, since it refers
   * back to the first message. */
  p = client_pmd(1, 0, NULL);
  inflate_str(p, hello, 7, "Hello");
  ASSERT_EQ(ws101__pmd_inflate(p, hello2, 5, 1, &out, 1000), WS101_EPROTO);
  ws101__pmd_free(p);
  ws101__buf_free(&out);
}

/* Our compressor produces the RFC's bytes for "Hello". */
static void test_deflate_hello(void) {
  ws101__buf out = {0};
  ws101__pmd *p = client_pmd(0, 0, NULL);
  ASSERT_EQ(ws101__pmd_deflate(p, "Hello", 5, &out), 0);
  ASSERT_EQ(out.len, 7);
  ASSERT_MEM_EQ(out.data, "\xf2\x48\xcd\xc9\xc9\x07\x00", 7);
  ASSERT_EQ(ws101__pmd_deflate(p, "", 0, &out), 0);
  ASSERT_EQ(out.len, 1);
  ASSERT_EQ(out.data[0], 0);
  ws101__pmd_free(p);
  ws101__buf_free(&out);
}

/* ------------------------------------------------------------------------ */
/* Round trips                                                              */
/* ------------------------------------------------------------------------ */

static uint32_t rng_state = 12345;
static uint32_t rnd(void) {
  rng_state = rng_state * 1103515245u + 12345u;
  return rng_state >> 8;
}

static void fill_random(char *b, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    b[i] = (char)(rnd() & 0xff);
}

static void fill_text(char *b, size_t n) {
  static const char *words[] = {"the ",     "quick ", "brown ", "fox ",
                                "jumps ",   "over ",  "lazy ",  "dog ",
                                "{\"id\":", "42, "};
  size_t i = 0;
  while (i < n) {
    const char *w = words[rnd() % 10];
    while (*w && i < n)
      b[i++] = *w++;
  }
}

/* Sends `msg` through `tx`, feeds it to `rx` in `parts` fragments (0 =
 * many small ones) and checks the result. */
static void send_one(ws101__pmd *tx, ws101__pmd *rx, const char *msg,
                     size_t len, int parts, ws101__buf *wire, ws101__buf *out) {
  size_t off = 0, step;
  ASSERT_EQ(ws101__pmd_deflate(tx, msg, len, wire), 0);
  out->len = 0;
  if (parts == 0)
    step = wire->len > 4000 ? 997 : 3;
  else
    step = wire->len / (size_t)parts + 1;
  do {
    size_t n = wire->len - off < step ? wire->len - off : step;
    int fin = off + n == wire->len;
    ASSERT_EQ(ws101__pmd_inflate(rx, wire->data + off, n, fin, out, len + 16),
              0);
    off += n;
  } while (off < wire->len);
  ASSERT_EQ(out->len, len);
  if (len)
    ASSERT_MEM_EQ(out->data, msg, len);
}

static char *g_rand, *g_text;
#define BIG ((size_t)1 << 20)

static void roundtrip_config(int snct, int cnct, int bits, int shared,
                             int big) {
  struct ws101_options o;
  ws101__pmd_params prm;
  ws101__pmd_shared *sh_s = NULL, *sh_c = NULL;
  ws101__pmd *srv, *cli;
  ws101__buf wire = {0}, out = {0};
  int parts, dir;
  opts_init(&o, shared, bits);
  prm.server_no_context_takeover = (uint8_t)snct;
  prm.client_no_context_takeover = (uint8_t)cnct;
  prm.server_max_window_bits = (uint8_t)bits;
  prm.client_max_window_bits = (uint8_t)bits;
  if (shared) {
    sh_s = ws101__pmd_shared_new(&o);
    sh_c = ws101__pmd_shared_new(&o);
  }
  srv = ws101__pmd_new(&prm, 1, &o, sh_s);
  cli = ws101__pmd_new(&prm, 0, &o, sh_c);
  ASSERT(srv && cli);
  for (dir = 0; dir < 2; dir++) {
    ws101__pmd *tx = dir ? cli : srv, *rx = dir ? srv : cli;
    for (parts = 0; parts <= 2; parts++) {
      send_one(tx, rx, "", 0, parts, &wire, &out);
      send_one(tx, rx, "Hello", 5, parts, &wire, &out);
      send_one(tx, rx, g_text, 1000, parts, &wire, &out);
      send_one(tx, rx, g_text + 1, 1000, parts, &wire, &out);
      send_one(tx, rx, g_rand, 65536, parts, &wire, &out);
      send_one(tx, rx, g_text + 7, 65536, parts, &wire, &out);
      send_one(tx, rx, g_text + 7, 65536, parts, &wire, &out);
      if (big && parts != 1) {
        send_one(tx, rx, g_rand, BIG, parts, &wire, &out);
        send_one(tx, rx, g_text, BIG, parts, &wire, &out);
      }
      send_one(tx, rx, "Hello", 5, parts, &wire, &out);
    }
  }
  ws101__pmd_free(srv);
  ws101__pmd_free(cli);
  ws101__pmd_shared_free(sh_s);
  ws101__pmd_shared_free(sh_c);
  ws101__buf_free(&wire);
  ws101__buf_free(&out);
}

static void test_roundtrip_all(void) {
  int snct, cnct, bits, shared;
  for (shared = 0; shared <= 1; shared++)
    for (snct = 0; snct <= 1; snct++)
      for (cnct = 0; cnct <= 1; cnct++)
        for (bits = 8; bits <= 15; bits++)
          roundtrip_config(snct, cnct, bits, shared, bits == 8 || bits == 15);
}

/* Context takeover actually pays: a repeated message gets tiny. */
static void test_context_takeover_ratio(void) {
  ws101__pmd *tx = client_pmd(0, 0, NULL), *tx2 = client_pmd(0, 1, NULL);
  ws101__buf a = {0}, b = {0};
  ASSERT_EQ(ws101__pmd_deflate(tx, g_rand, 2000, &a), 0);
  ASSERT_EQ(ws101__pmd_deflate(tx, g_rand, 2000, &a), 0);
  ASSERT_LT(a.len, 50);
  ASSERT_EQ(ws101__pmd_deflate(tx2, g_rand, 2000, &b), 0);
  ASSERT_EQ(ws101__pmd_deflate(tx2, g_rand, 2000, &b), 0);
  ASSERT_GT(b.len, 2000);
  ws101__pmd_free(tx);
  ws101__pmd_free(tx2);
  ws101__buf_free(&a);
  ws101__buf_free(&b);
}

/* ------------------------------------------------------------------------ */
/* Hostile input                                                            */
/* ------------------------------------------------------------------------ */

static void test_bomb(void) {
  size_t n = (size_t)10 << 20, limit = (size_t)1 << 20;
  char *zeros = (char *)calloc(1, n);
  ws101__buf wire = {0}, out = {0};
  struct ws101_options o;
  ws101__pmd_params prm = {0, 0, 15, 15};
  ws101__pmd_shared *sh;
  ws101__pmd *tx = client_pmd(0, 0, NULL), *rx;
  int shared;
  ASSERT(zeros != NULL);
  ASSERT_EQ(ws101__pmd_deflate(tx, zeros, n, &wire), 0);
  ASSERT_LT(wire.len, 100000);
  opts_init(&o, 1, 15);
  sh = ws101__pmd_shared_new(&o);
  for (shared = 0; shared <= 1; shared++) {
    prm.server_no_context_takeover = prm.client_no_context_takeover =
        (uint8_t)shared;
    rx = ws101__pmd_new(&prm, 1, &o, shared ? sh : NULL);
    out.len = 0;
    /* Even a single-fragment bomb stops at the limit. */
    ASSERT_EQ(ws101__pmd_inflate(rx, wire.data, wire.len, 1, &out, limit),
              WS101_ETOOBIG);
    ASSERT_LE(out.len, limit + 1);
    ASSERT_LE(out.cap, limit + 1);
    /* Fragmented: the error comes on the fragment that passes the limit. */
    ws101__pmd_free(rx);
    rx = ws101__pmd_new(&prm, 1, &o, shared ? sh : NULL);
    ws101__buf_free(&out);
    {
      size_t off = 0;
      int rc = 0;
      while (off < wire.len && rc == 0) {
        size_t k = wire.len - off < 1000 ? wire.len - off : 1000;
        rc = ws101__pmd_inflate(rx, wire.data + off, k, off + k == wire.len,
                                &out, limit);
        off += k;
      }
      ASSERT_EQ(rc, WS101_ETOOBIG);
      ASSERT_LE(out.cap, limit + 1);
    }
    ws101__pmd_free(rx);
  }
  /* Shared mode buffers fragments: compressed bytes are bounded too. */
  prm.server_no_context_takeover = prm.client_no_context_takeover = 1;
  rx = ws101__pmd_new(&prm, 1, &o, sh);
  {
    int rc = 0, i;
    for (i = 0; i < 100 && rc == 0; i++)
      rc = ws101__pmd_inflate(rx, zeros, 1000, 0, &out, 10000);
    ASSERT_EQ(rc, WS101_ETOOBIG);
    ASSERT_LT(ws101__pmd_memory(rx), 64000);
  }
  ws101__pmd_free(rx);
  ws101__pmd_shared_free(sh);
  ws101__pmd_free(tx);
  ws101__buf_free(&wire);
  ws101__buf_free(&out);
  free(zeros);
}

static void test_corrupt(void) {
  struct ws101_options o;
  ws101__pmd_params prm = {1, 1, 15, 15};
  ws101__pmd_shared *sh;
  ws101__pmd *a, *b;
  ws101__buf out = {0};
  int shared;
  opts_init(&o, 1, 15);
  sh = ws101__pmd_shared_new(&o);
  for (shared = 0; shared <= 1; shared++) {
    a = ws101__pmd_new(&prm, 1, &o, shared ? sh : NULL);
    b = ws101__pmd_new(&prm, 1, &o, shared ? sh : NULL);
    /* Reserved block type 11. */
    ASSERT_EQ(ws101__pmd_inflate(a, "\xff\xff\xff\xff", 4, 1, &out, 1000),
              WS101_EPROTO);
    /* A distance beyond anything seen. */
    ASSERT_EQ(ws101__pmd_inflate(a, "\xf2\x00\x11\x00\x00", 5, 1, &out, 1000),
              WS101_EPROTO);
    /* Truncated inside a stored block: caught when the tail cannot close
     * the block, instead of garbling later messages. */
    ASSERT_EQ(
        ws101__pmd_inflate(a, "\x00\x05\x00\xfa\xff\x48\x65", 7, 1, &out, 1000),
        WS101_EPROTO);
    /* Another connection (and, in shared mode, the shared stream) is fine. */
    inflate_str(b, "\xf2\x48\xcd\xc9\xc9\x07\x00", 7, "Hello");
    ws101__pmd_free(a);
    ws101__pmd_free(b);
  }
  ws101__pmd_shared_free(sh);
  ws101__buf_free(&out);
}

/* ------------------------------------------------------------------------ */
/* Memory                                                                   */
/* ------------------------------------------------------------------------ */

static size_t one_conn_memory(int mode, ws101__pmd_shared *sh, size_t *idle) {
  struct ws101_options o;
  ws101__pmd_params prm;
  char resp[WS101__PMD_RESP_MAX];
  ws101__pmd *srv, *cli;
  ws101__buf wire = {0}, out = {0};
  size_t m;
  opts_init(&o, mode, 15);
  ASSERT_EQ(ws101__pmd_server_negotiate("permessage-deflate; "
                                        "client_max_window_bits",
                                        &o, &prm, resp, sizeof(resp)),
            1);
  srv = ws101__pmd_new(&prm, 1, &o, sh);
  cli = ws101__pmd_new(&prm, 0, &o, NULL);
  *idle = ws101__pmd_memory(srv);
  ASSERT_EQ(ws101__pmd_deflate(srv, g_text, 5000, &wire), 0);
  ASSERT_EQ(ws101__pmd_inflate(cli, wire.data, wire.len, 1, &out, 10000), 0);
  ASSERT_EQ(ws101__pmd_deflate(cli, g_text, 5000, &wire), 0);
  out.len = 0;
  ASSERT_EQ(ws101__pmd_inflate(srv, wire.data, wire.len, 1, &out, 10000), 0);
  m = ws101__pmd_memory(srv);
  ws101__pmd_free(srv);
  ws101__pmd_free(cli);
  ws101__buf_free(&wire);
  ws101__buf_free(&out);
  return m;
}

static void test_memory(void) {
  struct ws101_options o;
  ws101__pmd_shared *sh;
  size_t idle_d, idle_s, ded, shr;
  opts_init(&o, 1, 15);
  sh = ws101__pmd_shared_new(&o);
  ded = one_conn_memory(WS101_DEFLATE_DEDICATED, NULL, &idle_d);
  shr = one_conn_memory(WS101_DEFLATE_SHARED, sh, &idle_s);
  fprintf(stderr,
          "    memory per connection: dedicated idle %zu, active %zu; "
          "shared idle %zu, active %zu; shared pair per loop %zu\n",
          idle_d, ded, idle_s, shr, ws101__pmd_shared_memory(sh));
  ASSERT_LT(idle_d, 256);
  ASSERT_GT(ded, 100000);
  ASSERT_LT(shr, 256);
  ASSERT_GT(ws101__pmd_shared_memory(sh), 100000);
  ws101__pmd_shared_free(sh);
}

/* server_no_context_takeover with a window below the shared deflater's:
 * the connection needs a deflater of its own, and since nothing survives a
 * message it is released after each one, so an idle connection holds no
 * zlib state. Every message still decodes, and alike inputs compress
 * alike (no context carried over). */
static void test_memory_nct_small_window(void) {
  struct ws101_options o;
  ws101__pmd_params prm;
  char resp[WS101__PMD_RESP_MAX];
  ws101__pmd_shared *sh;
  ws101__pmd *srv, *cli;
  ws101__buf wire = {0}, first = {0}, out = {0};
  int i;
  opts_init(&o, WS101_DEFLATE_DEDICATED, 15);
  sh = ws101__pmd_shared_new(&o);
  ASSERT_EQ(ws101__pmd_server_negotiate("permessage-deflate; "
                                        "server_no_context_takeover; "
                                        "server_max_window_bits=10",
                                        &o, &prm, resp, sizeof(resp)),
            1);
  srv = ws101__pmd_new(&prm, 1, &o, sh);
  cli = ws101__pmd_new(&prm, 0, &o, NULL);
  ASSERT(!ws101__pmd_deflates_shared(srv));
  for (i = 0; i < 3; i++) {
    ASSERT_EQ(ws101__pmd_deflate(srv, g_text, 5000, &wire), 0);
    ASSERT_LT(ws101__pmd_memory(srv), 256);
    if (i == 0) {
      ASSERT_EQ(ws101__buf_append(&first, wire.data, wire.len), 0);
    } else {
      ASSERT_EQ(wire.len, first.len);
      ASSERT_MEM_EQ(wire.data, first.data, wire.len);
    }
    out.len = 0;
    ASSERT_EQ(ws101__pmd_inflate(cli, wire.data, wire.len, 1, &out, 10000), 0);
    ASSERT_EQ(out.len, 5000);
    ASSERT_MEM_EQ(out.data, g_text, 5000);
  }
  ws101__pmd_free(srv);
  ws101__pmd_free(cli);
  ws101__pmd_shared_free(sh);
  ws101__buf_free(&wire);
  ws101__buf_free(&first);
  ws101__buf_free(&out);
}

int main(void) {
  g_rand = (char *)malloc(BIG + 64);
  g_text = (char *)malloc(BIG + 64);
  ASSERT(g_rand && g_text);
  fill_random(g_rand, BIG + 64);
  fill_text(g_text, BIG + 64);
  RUN(test_negotiate_table);
  RUN(test_negotiate_misc);
  RUN(test_client_offer_accept);
  RUN(test_offer_answer_loop);
  RUN(test_rfc_examples);
  RUN(test_deflate_hello);
  RUN(test_context_takeover_ratio);
  RUN(test_corrupt);
  RUN(test_bomb);
  RUN(test_memory);
  RUN(test_memory_nct_small_window);
  RUN(test_roundtrip_all);
  free(g_rand);
  free(g_text);
  TEST_DONE();
}
