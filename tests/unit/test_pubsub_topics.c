/* test_pubsub_topics.c - the pub/sub bookkeeping (server/pubsub_topics.c):
 * both directions agree after every operation, checked against a plain
 * matrix over thousands of random subscribe / unsubscribe / drop steps. */
#include "server/pubsub_topics.h"
#include "test.h"
#include "ws101.h"

#define NSUB 40
#define NTOP 60

static char subs[NSUB]; /* only their addresses are used */

static void name_of(int t, char *buf) { sprintf(buf, "room/%d", t); }

static void basics(void) {
  ws101__ps_topics t;
  char big[WS101__PS_TOPIC_MAX + 2];
  ws101__ps_init(&t);
  ASSERT_EQ(ws101__ps_subscribe(&t, &subs[0], "a", 1), 1);
  ASSERT_EQ(ws101__ps_subscribe(&t, &subs[0], "a", 1), 0); /* already */
  ASSERT_EQ(ws101__ps_subscribe(&t, &subs[1], "a", 1), 1);
  ASSERT_EQ(ws101__ps_subscribe(&t, &subs[0], "b", 1), 1);
  ASSERT_EQ(t.topics.n, 2);
  ASSERT_EQ(t.nsubscriptions, 3);
  ASSERT_EQ(ws101__ps_find(&t, "a", 1)->n, 2);
  ASSERT_STR_EQ(ws101__ps_find(&t, "a", 1)->name, "a");
  ASSERT(ws101__ps_find(&t, "c", 1) == NULL);
  ASSERT_EQ(ws101__ps_count_of(&t, &subs[0]), 2);
  ASSERT_EQ(ws101__ps_is_on(&t, &subs[1], "b", 1), 0);
  ASSERT_EQ(ws101__ps_unsubscribe(&t, &subs[1], "b", 1), 0); /* not on it */
  ASSERT_EQ(ws101__ps_unsubscribe(&t, &subs[1], "a", 1), 1);
  ASSERT_EQ(ws101__ps_drop(&t, &subs[0]), 2);
  /* Empty topics and lists are gone at once. */
  ASSERT_EQ(t.topics.n, 0);
  ASSERT_EQ(t.lists.n, 0);
  ASSERT_EQ(t.nsubscriptions, 0);
  ASSERT_EQ(ws101__ps_drop(&t, &subs[0]), 0);
  /* Names: 1..1024 bytes, any byte values, compared exactly. */
  ASSERT_EQ(ws101__ps_subscribe(&t, &subs[0], "", 0), WS101_EINVAL);
  memset(big, 'x', sizeof big);
  ASSERT_EQ(ws101__ps_subscribe(&t, &subs[0], big, WS101__PS_TOPIC_MAX + 1),
            WS101_EINVAL);
  ASSERT_EQ(ws101__ps_subscribe(&t, &subs[0], big, WS101__PS_TOPIC_MAX), 1);
  ASSERT_EQ(ws101__ps_subscribe(&t, &subs[0], "A", 1), 1);
  ASSERT_EQ(ws101__ps_is_on(&t, &subs[0], "a", 1), 0);
  ws101__ps_free(&t);
}

/* Every direction of the bookkeeping against the model. */
static void check(const ws101__ps_topics *t, unsigned char on[NSUB][NTOP]) {
  size_t total = 0, topics = 0;
  int s, k;
  char name[32];
  for (k = 0; k < NTOP; k++) {
    const ws101__ps_topic *tp;
    size_t n = 0;
    uint32_t i;
    name_of(k, name);
    tp = ws101__ps_find(t, name, strlen(name));
    for (s = 0; s < NSUB; s++) n += on[s][k];
    if (n == 0) {
      ASSERT(tp == NULL);
      continue;
    }
    ASSERT(tp != NULL);
    ASSERT_EQ(tp->n, n);
    topics++;
    total += n;
    /* Each listed subscriber really is on it, exactly once. */
    for (i = 0; i < tp->n; i++) {
      int idx = (int)((char *)tp->subs[i].sub - subs);
      uint32_t j;
      ASSERT(idx >= 0 && idx < NSUB);
      ASSERT(on[idx][k]);
      for (j = i + 1; j < tp->n; j++) ASSERT(tp->subs[j].sub != tp->subs[i].sub);
    }
  }
  for (s = 0; s < NSUB; s++) {
    size_t n = 0;
    for (k = 0; k < NTOP; k++) {
      name_of(k, name);
      ASSERT_EQ(ws101__ps_is_on(t, &subs[s], name, strlen(name)), on[s][k]);
      n += on[s][k];
    }
    ASSERT_EQ(ws101__ps_count_of(t, &subs[s]), n);
  }
  ASSERT_EQ(t->topics.n, topics);
  ASSERT_EQ(t->nsubscriptions, total);
}

static void random_walk(void) {
  static unsigned char on[NSUB][NTOP];
  ws101__ps_topics t;
  uint32_t x = 12345;
  int step;
  char name[32];
  ws101__ps_init(&t);
  memset(on, 0, sizeof on);
  for (step = 0; step < 20000; step++) {
    int s, k, op, rc;
    x = x * 1103515245u + 12345u;
    s = (int)((x >> 8) % NSUB);
    k = (int)((x >> 16) % NTOP);
    op = (int)((x >> 4) % 16);
    name_of(k, name);
    if (op < 9) {
      rc = ws101__ps_subscribe(&t, &subs[s], name, strlen(name));
      ASSERT_EQ(rc, on[s][k] ? 0 : 1);
      on[s][k] = 1;
    } else if (op < 15) {
      rc = ws101__ps_unsubscribe(&t, &subs[s], name, strlen(name));
      ASSERT_EQ(rc, on[s][k]);
      on[s][k] = 0;
    } else {
      size_t n = 0;
      for (k = 0; k < NTOP; k++) n += on[s][k], on[s][k] = 0;
      ASSERT_EQ(ws101__ps_drop(&t, &subs[s]), n);
    }
    if (step % 97 == 0) check(&t, on);
  }
  check(&t, on);
  ASSERT_GT(ws101__ps_memory(&t), 0);
  ws101__ps_free(&t);
}

/* One big room emptied by its subscribers one by one, out of order. */
static void big_room(void) {
  static char many[5000];
  ws101__ps_topics t;
  int i;
  ws101__ps_init(&t);
  for (i = 0; i < 5000; i++)
    ASSERT_EQ(ws101__ps_subscribe(&t, &many[i], "lobby", 5), 1);
  ASSERT_EQ(ws101__ps_find(&t, "lobby", 5)->n, 5000);
  for (i = 0; i < 5000; i += 2) ASSERT_EQ(ws101__ps_drop(&t, &many[i]), 1);
  ASSERT_EQ(ws101__ps_find(&t, "lobby", 5)->n, 2500);
  for (i = 4999; i > 0; i -= 2)
    ASSERT_EQ(ws101__ps_unsubscribe(&t, &many[i], "lobby", 5), 1);
  ASSERT(ws101__ps_find(&t, "lobby", 5) == NULL);
  ASSERT_EQ(t.lists.n, 0);
  ws101__ps_free(&t);
}

int main(void) {
  RUN(basics);
  RUN(random_walk);
  RUN(big_room);
  TEST_DONE();
}
