/* pubsub_topics.h - pub/sub bookkeeping: which subscribers are on which
 * topic, and which topics each subscriber is on.
 *
 * Sans-I/O and blind to what a subscriber is (a `void *`), so it is tested
 * without sockets (tests/unit/test_pubsub_topics.c) and the WebSocket
 * handle needs no field for it: a connection that never subscribes costs
 * nothing here, and one that does is found by its pointer.
 *
 * Both directions are O(1) per subscribe / unsubscribe. A topic holds an
 * array of {subscriber, index in that subscriber's list}; a subscriber's
 * list holds {topic, index in that topic's array}. Removal swaps the last
 * entry into the hole and fixes the one back-index that moved. A topic
 * with no subscriber left is freed at once, so the table holds live topics
 * only, and so does a subscriber list that becomes empty.
 *
 * Both tables are open addressing with linear probing and backward-shift
 * deletion (no tombstones), kept at most 3/4 full. */
#ifndef WS101_PUBSUB_TOPICS_H
#define WS101_PUBSUB_TOPICS_H

#include <stddef.h>
#include <stdint.h>

/* Longest topic name in bytes. Bounded so that a name always fits one
 * Redis channel and one log line; 0-byte names are refused too. */
#define WS101__PS_TOPIC_MAX 1024

typedef struct ws101__ps_topic ws101__ps_topic;

typedef struct ws101__ps_tsub {
  void *sub;
  uint32_t back; /* index of this topic in sub's list */
} ws101__ps_tsub;

struct ws101__ps_topic {
  uint32_t hash;
  uint32_t n, cap;
  ws101__ps_tsub *subs; /* subs[0..n) */
  size_t name_len;
  char name[]; /* NUL-terminated */
};

/* Open-addressing table of objects whose first member is `uint32_t hash`. */
typedef struct ws101__ps_table {
  void **slot;
  size_t cap; /* 0 or a power of two */
  size_t n;
} ws101__ps_table;

typedef struct ws101__ps_topics {
  ws101__ps_table topics; /* ws101__ps_topic *, by name */
  ws101__ps_table lists;  /* subscriber lists, by subscriber pointer */
  size_t nsubscriptions;
} ws101__ps_topics;

void ws101__ps_init(ws101__ps_topics *t);
/* Frees every topic and list (subscribers are not told). */
void ws101__ps_free(ws101__ps_topics *t);

/* Puts `sub` on `name`. Returns 1 if it was added, 0 if it was already
 * there, WS101_EINVAL (empty or longer than WS101__PS_TOPIC_MAX) or
 * WS101_ENOMEM (nothing changed). */
int ws101__ps_subscribe(ws101__ps_topics *t, void *sub, const char *name,
                        size_t len);
/* Takes `sub` off `name`. Returns 1 if it was removed, 0 if it was not on
 * it. */
int ws101__ps_unsubscribe(ws101__ps_topics *t, void *sub, const char *name,
                          size_t len);
/* Takes `sub` off every topic. Returns how many it was on. */
size_t ws101__ps_drop(ws101__ps_topics *t, void *sub);

/* The topic, or NULL if nobody is subscribed to it. */
ws101__ps_topic *ws101__ps_find(const ws101__ps_topics *t, const char *name,
                                size_t len);
/* How many topics `sub` is on. */
size_t ws101__ps_count_of(const ws101__ps_topics *t, const void *sub);
/* 1 if `sub` is on `name`, else 0. */
int ws101__ps_is_on(const ws101__ps_topics *t, const void *sub,
                    const char *name, size_t len);
/* Heap bytes held by the bookkeeping (tables, topics, lists). */
size_t ws101__ps_memory(const ws101__ps_topics *t);

#endif
