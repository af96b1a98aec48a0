/* pubsub_topics.c - topic and subscriber tables (see pubsub_topics.h). */
#include "server/pubsub_topics.h"

#include "ws101.h"

#include <stdlib.h>
#include <string.h>

/* A subscriber's list of topics. */
typedef struct ps_tent {
  ws101__ps_topic *topic;
  uint32_t back; /* index of the subscriber in topic->subs */
} ps_tent;

typedef struct ps_list {
  uint32_t hash; /* first: the table reads it */
  uint32_t n, cap;
  void *sub;
  ps_tent *ent;
} ps_list;

static uint32_t hash_name(const char *s, size_t n) {
  uint32_t h = 2166136261u; /* FNV-1a */
  size_t i;
  for (i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
  return h;
}

static uint32_t hash_ptr(const void *p) {
  uint64_t x = (uint64_t)(uintptr_t)p;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return (uint32_t)x;
}

static uint32_t hash_of(const void *obj) { return *(const uint32_t *)obj; }

/* ------------------------------------------------------------------------ */
/* The table                                                                */

static int table_grow(ws101__ps_table *tb) {
  size_t ncap = tb->cap ? tb->cap * 2 : 16, i;
  void **ns = calloc(ncap, sizeof(*ns));
  if (ns == NULL) return WS101_ENOMEM;
  for (i = 0; i < tb->cap; i++) {
    size_t j;
    if (tb->slot[i] == NULL) continue;
    j = hash_of(tb->slot[i]) & (ncap - 1);
    while (ns[j] != NULL) j = (j + 1) & (ncap - 1);
    ns[j] = tb->slot[i];
  }
  free(tb->slot);
  tb->slot = ns;
  tb->cap = ncap;
  return 0;
}

/* Room for one more entry, growing at 3/4 full. */
static int table_reserve(ws101__ps_table *tb) {
  if ((tb->n + 1) * 4 > tb->cap * 3) return table_grow(tb);
  return 0;
}

static void table_put(ws101__ps_table *tb, void *obj) {
  size_t j = hash_of(obj) & (tb->cap - 1);
  while (tb->slot[j] != NULL) j = (j + 1) & (tb->cap - 1);
  tb->slot[j] = obj;
  tb->n++;
}

/* Removes the entry in slot `i`, shifting back the entries of its probe
 * run that may now sit closer to their home slot. */
static void table_del_at(ws101__ps_table *tb, size_t i) {
  size_t mask = tb->cap - 1, j = i;
  tb->slot[i] = NULL;
  tb->n--;
  for (;;) {
    size_t home;
    j = (j + 1) & mask;
    if (tb->slot[j] == NULL) return;
    home = hash_of(tb->slot[j]) & mask;
    /* Move slot j into the hole i unless its home lies in (i, j]. */
    if ((j > i && (home <= i || home > j)) ||
        (j < i && (home <= i && home > j))) {
      tb->slot[i] = tb->slot[j];
      tb->slot[j] = NULL;
      i = j;
    }
  }
}

static size_t topic_slot(const ws101__ps_table *tb, const char *name,
                         size_t len, uint32_t h) {
  size_t j;
  if (tb->cap == 0) return (size_t)-1;
  for (j = h & (tb->cap - 1); tb->slot[j] != NULL; j = (j + 1) & (tb->cap - 1)) {
    const ws101__ps_topic *t = tb->slot[j];
    if (t->hash == h && t->name_len == len && memcmp(t->name, name, len) == 0)
      return j;
  }
  return (size_t)-1;
}

static size_t list_slot(const ws101__ps_table *tb, const void *sub,
                        uint32_t h) {
  size_t j;
  if (tb->cap == 0) return (size_t)-1;
  for (j = h & (tb->cap - 1); tb->slot[j] != NULL; j = (j + 1) & (tb->cap - 1)) {
    const ps_list *l = tb->slot[j];
    if (l->sub == sub) return j;
  }
  return (size_t)-1;
}

/* ------------------------------------------------------------------------ */
/* Topics and lists                                                         */

void ws101__ps_init(ws101__ps_topics *t) { memset(t, 0, sizeof(*t)); }

void ws101__ps_free(ws101__ps_topics *t) {
  size_t i;
  for (i = 0; i < t->topics.cap; i++) {
    ws101__ps_topic *tp = t->topics.slot[i];
    if (tp == NULL) continue;
    free(tp->subs);
    free(tp);
  }
  for (i = 0; i < t->lists.cap; i++) {
    ps_list *l = t->lists.slot[i];
    if (l == NULL) continue;
    free(l->ent);
    free(l);
  }
  free(t->topics.slot);
  free(t->lists.slot);
  memset(t, 0, sizeof(*t));
}

ws101__ps_topic *ws101__ps_find(const ws101__ps_topics *t, const char *name,
                                size_t len) {
  size_t j = topic_slot(&t->topics, name, len, hash_name(name, len));
  return j == (size_t)-1 ? NULL : t->topics.slot[j];
}

static ps_list *find_list(const ws101__ps_topics *t, const void *sub) {
  size_t j = list_slot(&t->lists, sub, hash_ptr(sub));
  return j == (size_t)-1 ? NULL : t->lists.slot[j];
}

/* Doubles an array of `size`-byte entries when it is full. */
static int room(void **arr, uint32_t n, uint32_t *cap, size_t size) {
  uint32_t ncap;
  void *p;
  if (n < *cap) return 0;
  if (*cap >= UINT32_MAX / 2) return WS101_ENOMEM;
  ncap = *cap ? *cap * 2 : 2;
  p = realloc(*arr, (size_t)ncap * size);
  if (p == NULL) return WS101_ENOMEM;
  *arr = p;
  *cap = ncap;
  return 0;
}

int ws101__ps_subscribe(ws101__ps_topics *t, void *sub, const char *name,
                        size_t len) {
  uint32_t h = hash_name(name, len);
  ws101__ps_topic *tp;
  ps_list *l;
  size_t j;
  int new_topic = 0, new_list = 0;
  if (len == 0 || len > WS101__PS_TOPIC_MAX) return WS101_EINVAL;
  j = topic_slot(&t->topics, name, len, h);
  tp = j == (size_t)-1 ? NULL : t->topics.slot[j];
  l = find_list(t, sub);
  if (tp != NULL && l != NULL) {
    uint32_t i;
    /* A subscriber is on few topics: its own list is the short scan. */
    for (i = 0; i < l->n; i++)
      if (l->ent[i].topic == tp) return 0;
  }
  /* Allocate everything that may be needed first, so a failure changes
   * nothing. */
  if (tp == NULL) {
    if (table_reserve(&t->topics) != 0) return WS101_ENOMEM;
    tp = calloc(1, sizeof(*tp) + len + 1);
    if (tp == NULL) return WS101_ENOMEM;
    tp->hash = h;
    tp->name_len = len;
    memcpy(tp->name, name, len);
    tp->name[len] = '\0';
    new_topic = 1;
  }
  if (l == NULL) {
    if (table_reserve(&t->lists) != 0) goto oom;
    l = calloc(1, sizeof(*l));
    if (l == NULL) goto oom;
    l->hash = hash_ptr(sub);
    l->sub = sub;
    new_list = 1;
  }
  if (room((void **)&tp->subs, tp->n, &tp->cap, sizeof(*tp->subs)) != 0 ||
      room((void **)&l->ent, l->n, &l->cap, sizeof(*l->ent)) != 0)
    goto oom;
  tp->subs[tp->n].sub = sub;
  tp->subs[tp->n].back = l->n;
  l->ent[l->n].topic = tp;
  l->ent[l->n].back = tp->n;
  tp->n++;
  l->n++;
  if (new_topic) table_put(&t->topics, tp);
  if (new_list) table_put(&t->lists, l);
  t->nsubscriptions++;
  return 1;
oom:
  if (new_topic) {
    free(tp->subs);
    free(tp);
  }
  if (new_list) {
    free(l->ent);
    free(l);
  }
  return WS101_ENOMEM;
}

/* Removes entry `i` of list `l` (and its mirror in the topic), freeing the
 * topic if it empties. The list itself is left for the caller. */
static void remove_entry(ws101__ps_topics *t, ps_list *l, uint32_t i) {
  ws101__ps_topic *tp = l->ent[i].topic;
  uint32_t k = l->ent[i].back, last;
  /* Topic side: move its last subscriber into slot k. */
  last = tp->n - 1;
  if (k != last) {
    ws101__ps_tsub moved = tp->subs[last];
    tp->subs[k] = moved;
    /* The moved subscriber's list entry must point at k now. */
    if (moved.sub == l->sub) {
      l->ent[moved.back].back = k;
    } else {
      ps_list *ml = find_list(t, moved.sub);
      ml->ent[moved.back].back = k;
    }
  }
  tp->n--;
  /* List side: move its last entry into slot i. */
  last = l->n - 1;
  if (i != last) {
    ps_tent moved = l->ent[last];
    l->ent[i] = moved;
    moved.topic->subs[moved.back].back = i;
  }
  l->n--;
  t->nsubscriptions--;
  if (tp->n == 0) {
    size_t j = topic_slot(&t->topics, tp->name, tp->name_len, tp->hash);
    table_del_at(&t->topics, j);
    free(tp->subs);
    free(tp);
  } else if (tp->n * 4 < tp->cap && tp->cap > 8) {
    /* A big room that emptied should not pin its array. */
    void *p = realloc(tp->subs, (size_t)(tp->cap / 2) * sizeof(*tp->subs));
    if (p != NULL) {
      tp->subs = p;
      tp->cap /= 2;
    }
  }
}

static void free_list(ws101__ps_topics *t, ps_list *l) {
  size_t j = list_slot(&t->lists, l->sub, l->hash);
  table_del_at(&t->lists, j);
  free(l->ent);
  free(l);
}

int ws101__ps_unsubscribe(ws101__ps_topics *t, void *sub, const char *name,
                          size_t len) {
  ws101__ps_topic *tp = ws101__ps_find(t, name, len);
  ps_list *l;
  uint32_t i;
  if (tp == NULL || (l = find_list(t, sub)) == NULL) return 0;
  for (i = 0; i < l->n; i++) {
    if (l->ent[i].topic != tp) continue;
    remove_entry(t, l, i);
    if (l->n == 0) free_list(t, l);
    return 1;
  }
  return 0;
}

size_t ws101__ps_drop(ws101__ps_topics *t, void *sub) {
  ps_list *l = find_list(t, sub);
  size_t n;
  if (l == NULL) return 0;
  n = l->n;
  while (l->n > 0) remove_entry(t, l, l->n - 1);
  free_list(t, l);
  return n;
}

size_t ws101__ps_count_of(const ws101__ps_topics *t, const void *sub) {
  const ps_list *l = find_list(t, sub);
  return l != NULL ? l->n : 0;
}

int ws101__ps_is_on(const ws101__ps_topics *t, const void *sub,
                    const char *name, size_t len) {
  const ws101__ps_topic *tp = ws101__ps_find(t, name, len);
  const ps_list *l;
  uint32_t i;
  if (tp == NULL || (l = find_list(t, sub)) == NULL) return 0;
  for (i = 0; i < l->n; i++)
    if (l->ent[i].topic == tp) return 1;
  return 0;
}

size_t ws101__ps_memory(const ws101__ps_topics *t) {
  size_t n = (t->topics.cap + t->lists.cap) * sizeof(void *), i;
  for (i = 0; i < t->topics.cap; i++) {
    const ws101__ps_topic *tp = t->topics.slot[i];
    if (tp != NULL)
      n += sizeof(*tp) + tp->name_len + 1 + tp->cap * sizeof(*tp->subs);
  }
  for (i = 0; i < t->lists.cap; i++) {
    const ps_list *l = t->lists.slot[i];
    if (l != NULL) n += sizeof(*l) + l->cap * sizeof(*l->ent);
  }
  return n;
}
