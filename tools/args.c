/* args.c - the tool's command-line parsing: option tables, values given as
 * "--name value", "--name=value" or "-xVALUE", unknown options answered
 * with the nearest known one, and the number/duration/header parsers the
 * commands share. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void cli_parser_init(cli_parser *p, const char *cmd, const cli_opt *opts,
                     int argc, char **argv) {
  memset(p, 0, sizeof(*p));
  p->cmd = cmd;
  p->opts = opts;
  p->argc = argc;
  p->argv = argv;
}

int cli_usage_error(const char *cmd, const char *msg, const char *arg) {
  fprintf(stderr, "ws101 %s: %s%s%s%s\nTry 'ws101 %s --help'.\n", cmd, msg,
          arg ? " '" : "", arg ? arg : "", arg ? "'" : "", cmd);
  return CLI_EXIT_USAGE;
}

/* Optimal string alignment distance (Levenshtein plus adjacent swaps), the
 * usual typo measure. Words longer than 63 bytes are never suggested for. */
static size_t distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b), i, j;
  size_t d[64][64];
  if (la >= 64 || lb >= 64) return (size_t)-1;
  for (i = 0; i <= la; i++) d[i][0] = i;
  for (j = 0; j <= lb; j++) d[0][j] = j;
  for (i = 1; i <= la; i++) {
    for (j = 1; j <= lb; j++) {
      size_t cost = a[i - 1] != b[j - 1], best = d[i - 1][j - 1] + cost;
      if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
          d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  }
  return d[la][lb];
}

const char *cli_nearest(const char *word, const char *const *cands,
                        size_t n) {
  const char *best = NULL, *prefixed = NULL;
  size_t i, bestd = (size_t)-1, wl = strlen(word), limit;
  int prefixes = 0;
  for (i = 0; i < n; i++) {
    size_t d;
    if (cands[i] == NULL) continue;
    if (wl > 2 && strncmp(cands[i], word, wl) == 0) {
      prefixes++;
      prefixed = cands[i];
    }
    d = distance(word, cands[i]);
    if (d < bestd) {
      bestd = d;
      best = cands[i];
    }
  }
  /* "--proto" abbreviates exactly one option: that one (we never accept
   * abbreviations silently: a new option could make them ambiguous). */
  if (prefixes == 1) return prefixed;
  /* Two edits for short words, about a third of the word for long ones;
   * beyond that a suggestion is more confusing than none. */
  limit = wl / 3 > 2 ? wl / 3 : 2;
  return bestd <= limit ? best : NULL;
}

static int unknown_option(cli_parser *p, const char *arg, size_t len) {
  const char *cands[64];
  char word[64];
  const char *near;
  size_t n = 0, i;
  if (len >= sizeof(word)) len = sizeof(word) - 1;
  memcpy(word, arg, len);
  word[len] = '\0';
  for (i = 0; p->opts[i].id != 0 && n + 2 <= 64; i++) {
    cands[n++] = p->opts[i].name;
    cands[n++] = p->opts[i].alias;
  }
  near = cli_nearest(word, cands, n);
  if (near != NULL)
    fprintf(stderr, "ws101 %s: unknown option '%s'; did you mean '%s'?\n",
            p->cmd, word, near);
  else
    fprintf(stderr, "ws101 %s: unknown option '%s'\n", p->cmd, word);
  fprintf(stderr, "Try 'ws101 %s --help'.\n", p->cmd);
  return CLI_BAD;
}

int cli_next(cli_parser *p, const char **value) {
  const char *arg, *eq;
  size_t len, i;
  *value = NULL;
  if (p->i >= p->argc) return CLI_END;
  arg = p->argv[p->i++];
  if (p->only_positional || arg[0] != '-' || arg[1] == '\0') {
    *value = arg; /* "-" alone is a value (stdin, by convention) */
    return CLI_POSITIONAL;
  }
  if (strcmp(arg, "--") == 0) {
    p->only_positional = 1;
    return cli_next(p, value);
  }
  eq = arg[1] == '-' ? strchr(arg, '=') : NULL;
  len = eq ? (size_t)(eq - arg) : strlen(arg);
  for (i = 0; p->opts[i].id != 0; i++) {
    const cli_opt *o = &p->opts[i];
    const char *names[2];
    int k;
    names[0] = o->name;
    names[1] = o->alias;
    for (k = 0; k < 2; k++) {
      const char *nm = names[k];
      size_t nl;
      if (nm == NULL) continue;
      nl = strlen(nm);
      if (nl == len && strncmp(arg, nm, len) == 0) {
        if (o->metavar == NULL) {
          if (eq != NULL) {
            fprintf(stderr, "ws101 %s: option '%s' takes no value\n", p->cmd,
                    nm);
            return CLI_BAD;
          }
          return o->id;
        }
        if (eq != NULL) {
          *value = eq + 1;
        } else if (p->i < p->argc) {
          *value = p->argv[p->i++];
        } else {
          fprintf(stderr, "ws101 %s: option '%s' needs a value (%s)\n",
                  p->cmd, nm, o->metavar);
          fprintf(stderr, "Try 'ws101 %s --help'.\n", p->cmd);
          return CLI_BAD;
        }
        return o->id;
      }
      /* "-Hvalue": a one-letter option with its value attached. */
      if (nl == 2 && nm[1] != '-' && o->metavar != NULL && eq == NULL &&
          strncmp(arg, nm, 2) == 0 && arg[2] != '\0') {
        *value = arg + 2;
        return o->id;
      }
    }
  }
  return unknown_option(p, arg, len);
}

int cli_parse_size(const char *cmd, const char *opt, const char *s,
                   uint64_t max, uint64_t *out) {
  char *end;
  unsigned long long v;
  uint64_t mul = 1;
  errno = 0;
  if (*s < '0' || *s > '9') goto bad;
  v = strtoull(s, &end, 10);
  if (errno != 0) goto bad;
  if (*end == 'k' || *end == 'K') mul = 1024, end++;
  else if (*end == 'm' || *end == 'M') mul = 1024 * 1024, end++;
  else if (*end == 'g' || *end == 'G') mul = 1024 * 1024 * 1024, end++;
  if (*end != '\0' || v > max / mul) goto bad;
  *out = (uint64_t)v * mul;
  return 0;
bad:
  fprintf(stderr, "ws101 %s: %s wants a number up to %llu (k/M suffixes "
                  "allowed), got '%s'\n",
          cmd, opt, (unsigned long long)max, s);
  return -1;
}

int cli_parse_ms(const char *cmd, const char *opt, const char *s,
                 uint64_t bare_unit_ms, uint64_t *out) {
  char *end;
  double v;
  uint64_t unit = bare_unit_ms;
  errno = 0;
  if ((*s < '0' || *s > '9') && *s != '.') goto bad;
  v = strtod(s, &end);
  if (errno != 0 || v < 0) goto bad;
  if (strcmp(end, "ms") == 0) unit = 1;
  else if (strcmp(end, "s") == 0) unit = 1000;
  else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0) unit = 60000;
  else if (*end != '\0') goto bad;
  v *= (double)unit;
  if (v > 1e12) goto bad;
  *out = (uint64_t)(v + 0.5);
  return 0;
bad:
  fprintf(stderr, "ws101 %s: %s wants a duration such as 500ms or 2s "
                  "(a bare number is %s), got '%s'\n",
          cmd, opt, bare_unit_ms == 1 ? "milliseconds" : "seconds", s);
  return -1;
}

int cli_add_header(ws101_options *o, const char *cmd, const char *arg) {
  const char *colon = strchr(arg, ':');
  char name[256];
  size_t n;
  int rc;
  if (colon == NULL || colon == arg || (size_t)(colon - arg) >= sizeof(name)) {
    fprintf(stderr, "ws101 %s: -H wants 'Name: value', got '%s'\n", cmd, arg);
    return -1;
  }
  n = (size_t)(colon - arg);
  memcpy(name, arg, n);
  name[n] = '\0';
  colon++;
  while (*colon == ' ' || *colon == '\t') colon++;
  rc = ws101_options_add_header(o, name, colon);
  if (rc != 0) {
    fprintf(stderr, "ws101 %s: bad header '%s': %s\n", cmd, arg,
            ws101_strerror(rc));
    return -1;
  }
  return 0;
}

int cli_set_option(ws101_options *o, const char *cmd, const char *opt,
                   ws101_opt which, int64_t value) {
  int rc = ws101_options_set(o, which, value);
  if (rc != 0) {
    fprintf(stderr, "ws101 %s: %s %lld refused: %s\n", cmd, opt,
            (long long)value, ws101_strerror(rc));
    return -1;
  }
  return 0;
}

int cli_set_cafile(ws101_options *o, const char *cmd, const char *file) {
  int rc = ws101_options_set_tls_ca(o, file, NULL);
  if (rc != 0) {
    fprintf(stderr, "ws101 %s: --cafile '%s': %s\n", cmd, file,
            ws101_strerror(rc));
    return -1;
  }
  return 0;
}
