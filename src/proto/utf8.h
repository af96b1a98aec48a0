/* utf8.h - incremental UTF-8 validation (RFC 3629) for WebSocket text.
 *
 * Text messages arrive in arbitrary pieces (TCP reads, fragments, inflate
 * output), so validation is a resumable state machine: one state byte per
 * stream, no lookahead, and it reports the exact offending byte so a
 * connection can fail with 1007 as soon as the bad byte is seen. */
#ifndef WS101_UTF8_H
#define WS101_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The state between two bytes: ACCEPT at a code point boundary, REJECT
 * once anything invalid was seen (sticky), other values mid-sequence. */
enum { WS101__UTF8_ACCEPT = 0, WS101__UTF8_REJECT = 8 };

/* Validates s[0..n) continuing from *state. Returns n if every byte is
 * acceptable (then *state tells whether s ended on a boundary), else the
 * index of the first invalid byte (and *state becomes REJECT). Overlong
 * forms, surrogates and code points above U+10FFFF are invalid. */
size_t ws101__utf8_validate(uint8_t *state, const char *s, size_t n);

/* Returns 1 if s[0..n) is complete, valid UTF-8. */
int ws101__utf8_valid(const char *s, size_t n);

/* For bytes that validated but ended mid-sequence: the number of trailing
 * bytes of s[0..n) that belong to the unfinished code point (1..3, or n if
 * the sequence began before s). */
size_t ws101__utf8_tail(const char *s, size_t n);

/* The length of the sequence a valid lead byte starts (1..4). */
static inline unsigned ws101__utf8_seq_len(uint8_t lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

#endif
