/* http1_chars.h - the character classes HTTP/1.1 framing is built on
 * (RFC 9110 §5.6.2, §5.5), shared by the head parser and the body decoder
 * (chunk extensions and trailers obey the same grammar as header fields).
 * Inline because both call them once per byte. */
#ifndef WS101_HTTP1_CHARS_H
#define WS101_HTTP1_CHARS_H

/* tchar: the bytes of a token (method, field name, coding, extension).
 * A table, because it runs once per byte of every header name. */
static inline int ws101__h1_is_tchar(unsigned char c) {
  /* Bit i of word c/32 is set when byte c is a tchar: digits, letters and
   * !#$%&'*+-.^_`|~ */
  static const unsigned int tchar_bits[8] = {
      0x00000000u, 0x03ff6cfau, 0xc7fffffeu, 0x57ffffffu, 0, 0, 0, 0};
  return (tchar_bits[c >> 5] >> (c & 31)) & 1u;
}

/* field-value bytes: VCHAR, obs-text, SP, HTAB. Every other control byte
 * (NUL, CR, LF, DEL...) is rejected because peers disagree on them. */
static inline int ws101__h1_is_field_byte(unsigned char c) {
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* n bytes of a field value (ws101__h1_is_field_byte each), eight at a
 * time: every request and response runs its values through here, and
 * the byte loop was ~5 instructions a byte. A word with no byte below
 * 0x20 and none equal to 0x7f is all field bytes (obs-text >= 0x80 is
 * allowed); from a word that may hold one (HTAB is below 0x20 and
 * allowed) on, bytes are decided one by one. */
static inline int ws101__h1_is_field_value_n(const void *p, unsigned long n) {
  const unsigned char *s = (const unsigned char *)p;
  const unsigned long long ones = 0x0101010101010101ull;
  const unsigned long long highs = 0x8080808080808080ull;
  unsigned long i = 0;
  for (; i + 8 <= n; i += 8) {
    unsigned long long x, d;
    __builtin_memcpy(&x, s + i, 8);
    d = x ^ (ones * 0x7f);
    if ((((x - ones * 0x20) & ~x) | ((d - ones) & ~d)) & highs) break;
  }
  for (; i < n; i++)
    if (!ws101__h1_is_field_byte(s[i])) return 0;
  return 1;
}

static inline int ws101__h1_is_ows(unsigned char c) {
  return c == ' ' || c == '\t';
}

/* ASCII only: tolower() would follow the locale. */
static inline int ws101__h1_lower(int c) {
  return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/* a[0..n) equals the NUL-terminated b, ignoring ASCII case (never the
 * locale's: header names are ASCII, and "I" must not meet Turkish rules). */
static inline int ws101__h1_ieq_n(const char *a, unsigned long n,
                                  const char *b) {
  unsigned long i;
  for (i = 0; i < n; i++)
    if (b[i] == '\0' || ws101__h1_lower((unsigned char)a[i]) !=
                            ws101__h1_lower((unsigned char)b[i]))
      return 0;
  return b[n] == '\0';
}

/* Both NUL-terminated strings are equal, ignoring ASCII case. */
static inline int ws101__h1_ieq(const char *a, const char *b) {
  for (; *a != '\0'; a++, b++)
    if (ws101__h1_lower((unsigned char)*a) !=
        ws101__h1_lower((unsigned char)*b))
      return 0;
  return *b == '\0';
}

/* A whole NUL-terminated string is a token (non-empty). */
static inline int ws101__h1_is_token(const char *s) {
  if (s == 0 || *s == '\0')
    return 0;
  for (; *s; s++)
    if (!ws101__h1_is_tchar((unsigned char)*s))
      return 0;
  return 1;
}

/* A whole NUL-terminated string may be sent as a field value: this is what
 * stops header injection through CR/LF in application strings. */
static inline int ws101__h1_is_field_value(const char *s) {
  if (s == 0)
    return 0;
  for (; *s; s++)
    if (!ws101__h1_is_field_byte((unsigned char)*s))
      return 0;
  return 1;
}

#endif
