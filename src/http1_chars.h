/* http1_chars.h - the character classes HTTP/1.1 framing is built on
 * (RFC 9110 §5.6.2, §5.5), shared by the head parser and the body decoder
 * (chunk extensions and trailers obey the same grammar as header fields).
 * Inline because both call them once per byte. */
#ifndef WS101_HTTP1_CHARS_H
#define WS101_HTTP1_CHARS_H

/* tchar: the bytes of a token (method, field name, coding, extension). */
static inline int ws101__h1_is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
      (c >= '0' && c <= '9'))
    return 1;
  switch (c) {
  case '!':
  case '#':
  case '$':
  case '%':
  case '&':
  case '\'':
  case '*':
  case '+':
  case '-':
  case '.':
  case '^':
  case '_':
  case '`':
  case '|':
  case '~':
    return 1;
  default:
    return 0;
  }
}

/* field-value bytes: VCHAR, obs-text, SP, HTAB. Every other control byte
 * (NUL, CR, LF, DEL...) is rejected because peers disagree on them. */
static inline int ws101__h1_is_field_byte(unsigned char c) {
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static inline int ws101__h1_is_ows(unsigned char c) {
  return c == ' ' || c == '\t';
}

/* ASCII only: tolower() would follow the locale. */
static inline int ws101__h1_lower(int c) {
  return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/* A whole NUL-terminated string is a token (non-empty). */
static inline int ws101__h1_is_token(const char *s) {
  if (s == 0 || *s == '\0') return 0;
  for (; *s; s++)
    if (!ws101__h1_is_tchar((unsigned char)*s)) return 0;
  return 1;
}

/* A whole NUL-terminated string may be sent as a field value: this is what
 * stops header injection through CR/LF in application strings. */
static inline int ws101__h1_is_field_value(const char *s) {
  if (s == 0) return 0;
  for (; *s; s++)
    if (!ws101__h1_is_field_byte((unsigned char)*s)) return 0;
  return 1;
}

#endif
