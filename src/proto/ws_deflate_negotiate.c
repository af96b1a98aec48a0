/* ws_deflate_negotiate.c - permessage-deflate negotiation (RFC 7692 §5, §7.1)
 * over the Sec-WebSocket-Extensions grammar of RFC 6455 §9.1:
 *
 *   extension-list = 1#extension
 *   extension      = token *( OWS ";" OWS param )
 *   param          = token [ OWS "=" OWS ( token / quoted-string ) ]
 *
 * One parser serves both sides: it walks the whole header once (so a syntax
 * error anywhere is reported, even after an acceptable offer) and describes
 * each permessage-deflate element in a pmd_offer. */
#include "proto/ws_deflate.h"
#include "proto/http1_chars.h"

#include <stdio.h>
#include <string.h>

#define PMD_NAME "permessage-deflate"

/* What one extension element said. */
typedef struct pmd_offer {
  int is_pmd;     /* the extension is permessage-deflate */
  int bad;        /* unknown/duplicate param or invalid value */
  int snct, cnct; /* *_no_context_takeover present */
  int smwb, cmwb; /* *_max_window_bits present */
  int smwb_val;   /* value, or 0 if none */
  int cmwb_val;   /* value, or 0 if none (allowed only in offers) */
} pmd_offer;

static const char *skip_ows(const char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  return s;
}

/* RFC 7692 §7.1.2: the value is 1*DIGIT without leading zero, 8..15.
 * Returns the number or 0 if invalid. */
static int window_bits(const char *v, size_t n) {
  if (n == 1 && v[0] >= '8' && v[0] <= '9')
    return v[0] - '0';
  if (n == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5')
    return 10 + v[1] - '0';
  return 0;
}

/* Records one param of a permessage-deflate element. `val` is NULL when the
 * param has no value; unescaped (vlen bytes) otherwise. */
static void pmd_param(pmd_offer *o, const char *name, size_t nlen,
                      const char *val, size_t vlen) {
  if (ws101__h1_ieq_n(name, nlen, "server_no_context_takeover")) {
    if (o->snct || val != NULL)
      o->bad = 1;
    o->snct = 1;
  } else if (ws101__h1_ieq_n(name, nlen, "client_no_context_takeover")) {
    if (o->cnct || val != NULL)
      o->bad = 1;
    o->cnct = 1;
  } else if (ws101__h1_ieq_n(name, nlen, "server_max_window_bits")) {
    /* A value is mandatory for this one in both directions. */
    if (o->smwb || val == NULL)
      o->bad = 1;
    o->smwb = 1;
    if (val != NULL && (o->smwb_val = window_bits(val, vlen)) == 0)
      o->bad = 1;
  } else if (ws101__h1_ieq_n(name, nlen, "client_max_window_bits")) {
    if (o->cmwb)
      o->bad = 1;
    o->cmwb = 1;
    if (val != NULL && (o->cmwb_val = window_bits(val, vlen)) == 0)
      o->bad = 1;
  } else {
    o->bad = 1;
  }
}

/* Called for each extension element; returns nonzero to stop early. */
typedef int (*ext_cb)(const pmd_offer *o, void *ud);

/* Parses the whole header. Returns the number of non-empty elements, or -1
 * on a syntax error. */
static int parse_extensions(const char *s, ext_cb cb, void *ud) {
  int count = 0, stopped = 0;
  for (;;) {
    pmd_offer o;
    const char *name;
    s = skip_ows(s);
    if (*s == ',') { /* empty list element (RFC 7230 §7) */
      s++;
      continue;
    }
    if (*s == '\0')
      break;
    memset(&o, 0, sizeof(o));
    name = s;
    while (ws101__h1_is_tchar((unsigned char)*s))
      s++;
    if (s == name)
      return -1;
    o.is_pmd = ws101__h1_ieq_n(name, (size_t)(s - name), PMD_NAME);
    s = skip_ows(s);
    while (*s == ';') {
      const char *pn, *val = NULL;
      size_t pnlen, vlen = 0;
      /* Quoted values are unescaped here; anything longer than a window
       * value is irrelevant to us, so only its syntax is checked. */
      char qbuf[8];
      s = skip_ows(s + 1);
      pn = s;
      while (ws101__h1_is_tchar((unsigned char)*s))
        s++;
      if (s == pn)
        return -1;
      pnlen = (size_t)(s - pn);
      s = skip_ows(s);
      if (*s == '=') {
        s = skip_ows(s + 1);
        if (*s == '"') {
          size_t q = 0;
          s++;
          for (;;) {
            unsigned char c = (unsigned char)*s;
            if (c == '"')
              break;
            if (c == '\\')
              c = (unsigned char)*++s;
            /* RFC 6455 §9.1: the unescaped value must be a token. */
            if (!ws101__h1_is_tchar(c))
              return -1;
            if (q < sizeof(qbuf))
              qbuf[q] = (char)c;
            q++;
            s++;
          }
          s++;
          if (q == 0)
            return -1;
          val = qbuf;
          /* Too long for qbuf: certainly not a valid window value, and
           * an invalid-length value keeps window_bits() failing. */
          vlen = q < sizeof(qbuf) ? q : sizeof(qbuf);
        } else {
          val = s;
          while (ws101__h1_is_tchar((unsigned char)*s))
            s++;
          vlen = (size_t)(s - val);
          if (vlen == 0)
            return -1;
        }
        s = skip_ows(s);
      }
      if (o.is_pmd)
        pmd_param(&o, pn, pnlen, val, vlen);
    }
    if (*s != ',' && *s != '\0')
      return -1;
    count++;
    if (!stopped && cb != NULL && cb(&o, ud))
      stopped = 1;
  }
  return count;
}

static int clamp_bits(int v) { return v < 8 ? 8 : v > 15 ? 15 : v; }

/* Appends `lit` at *pos; returns -1 if it does not fit (NUL included). */
static int put(char *buf, size_t size, size_t *pos, const char *lit) {
  size_t n = strlen(lit);
  if (size == 0 || n >= size - *pos)
    return -1;
  memcpy(buf + *pos, lit, n + 1);
  *pos += n;
  return 0;
}

typedef struct server_pick {
  int found;
  pmd_offer o;
} server_pick;

static int server_cb(const pmd_offer *o, void *ud) {
  server_pick *pick = (server_pick *)ud;
  if (!o->is_pmd || o->bad)
    return 0;
  pick->found = 1;
  pick->o = *o;
  return 1;
}

int ws101__pmd_server_negotiate(const char *offers,
                                const struct ws101_options *opts,
                                ws101__pmd_params *out, char *resp,
                                size_t resp_size) {
  server_pick pick;
  int shared, ours, smwb, cmwb;
  size_t pos = 0;
  char num[48];
  if (resp != NULL && resp_size > 0)
    resp[0] = '\0';
  if (opts == NULL || !opts->deflate || offers == NULL)
    return 0;
  memset(&pick, 0, sizeof(pick));
  if (parse_extensions(offers, server_cb, &pick) < 0)
    return -1;
  if (!pick.found || resp == NULL)
    return 0;

  shared = opts->deflate_memory == WS101_DEFLATE_SHARED;
  ours = clamp_bits(opts->deflate_window_bits);
  smwb = pick.o.smwb ? (pick.o.smwb_val < ours ? pick.o.smwb_val : ours) : 15;
  cmwb = 15;
  if (pick.o.cmwb)
    cmwb = pick.o.cmwb_val && pick.o.cmwb_val < ours ? pick.o.cmwb_val : ours;

  if (put(resp, resp_size, &pos, PMD_NAME) < 0)
    goto nofit;
  if ((shared || pick.o.snct) &&
      put(resp, resp_size, &pos, "; server_no_context_takeover") < 0)
    goto nofit;
  if ((shared || pick.o.cnct) &&
      put(resp, resp_size, &pos, "; client_no_context_takeover") < 0)
    goto nofit;
  if (pick.o.smwb) {
    snprintf(num, sizeof(num), "; server_max_window_bits=%d", smwb);
    if (put(resp, resp_size, &pos, num) < 0)
      goto nofit;
  }
  if (pick.o.cmwb) {
    snprintf(num, sizeof(num), "; client_max_window_bits=%d", cmwb);
    if (put(resp, resp_size, &pos, num) < 0)
      goto nofit;
  }
  if (out != NULL) {
    out->server_no_context_takeover = (uint8_t)(shared || pick.o.snct);
    out->client_no_context_takeover = (uint8_t)(shared || pick.o.cnct);
    out->server_max_window_bits = (uint8_t)smwb;
    out->client_max_window_bits = (uint8_t)cmwb;
  }
  return 1;
nofit:
  resp[0] = '\0';
  return 0;
}

int ws101__pmd_client_offer(const struct ws101_options *opts, char *buf,
                            size_t size) {
  size_t pos = 0;
  if (buf == NULL || size == 0)
    return -1;
  buf[0] = '\0';
  if (opts == NULL || !opts->deflate)
    return 0;
  if (put(buf, size, &pos, PMD_NAME "; client_max_window_bits") < 0)
    goto nofit;
  if (opts->deflate_memory == WS101_DEFLATE_SHARED &&
      put(buf, size, &pos,
          "; server_no_context_takeover; client_no_context_takeover") < 0)
    goto nofit;
  return (int)pos;
nofit:
  buf[0] = '\0';
  return -1;
}

typedef struct client_seen {
  int n;
  pmd_offer o;
} client_seen;

static int client_cb(const pmd_offer *o, void *ud) {
  client_seen *seen = (client_seen *)ud;
  if (seen->n++ == 0)
    seen->o = *o;
  return 0;
}

int ws101__pmd_client_accept(const char *response,
                             const struct ws101_options *opts,
                             ws101__pmd_params *out) {
  client_seen seen;
  int n;
  if (response == NULL)
    return 0;
  memset(&seen, 0, sizeof(seen));
  n = parse_extensions(response, client_cb, &seen);
  if (n < 0)
    return -1;
  if (n == 0)
    return 0;
  /* We offer at most one extension, so anything else is unsolicited. */
  if (opts == NULL || !opts->deflate || n != 1 || !seen.o.is_pmd || seen.o.bad)
    return -1;
  /* A server may add server_max_window_bits although we did not offer it
   * (RFC 7692 §7.1.2.1): it only narrows the server's own window, which our
   * 15-bit inflater covers. In a response both window parameters need a
   * value (§7.1.2.2). */
  if ((seen.o.smwb && seen.o.smwb_val == 0) ||
      (seen.o.cmwb && seen.o.cmwb_val == 0))
    return -1;
  if (out != NULL) {
    out->server_no_context_takeover = (uint8_t)seen.o.snct;
    out->client_no_context_takeover =
        (uint8_t)(seen.o.cnct || opts->deflate_memory == WS101_DEFLATE_SHARED);
    out->server_max_window_bits =
        (uint8_t)(seen.o.smwb ? seen.o.smwb_val : 15);
    out->client_max_window_bits = (uint8_t)(seen.o.cmwb ? seen.o.cmwb_val : 15);
  }
  return 1;
}
