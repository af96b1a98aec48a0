#!/usr/bin/env python3
"""Checks what Doxygen does not: that the guide is true to the tree.

    check_guide.py SOURCE_DIR

- Every \\dontinclude excerpt of docs/*.md is found in its file: each \\skip,
  \\until and \\line pattern matches a later line than the previous one
  (Doxygen shows an empty excerpt, silently, when a pattern is not there).
  The files are the examples the test suite runs, so the code shown runs.
- The error table of docs/guide.md lists every code of WS101_ERRNO_MAP in
  include/ws101.h with its value, and nothing else.
"""
import glob
import os
import re
import sys

src = sys.argv[1] if len(sys.argv) > 1 else "."
example_dirs = ["examples", "bindings/python/examples", "bindings/lua/examples"]
problems = []


def find_example(name):
    for d in example_dirs:
        p = os.path.join(src, d, name)
        if os.path.isfile(p):
            return p
    return None


for md in sorted(glob.glob(os.path.join(src, "docs", "*.md"))):
    lines, pos, where, broken = None, 0, None, False
    for n, line in enumerate(open(md, encoding="utf-8"), 1):
        m = re.match(r"\s*\\(dontinclude|include|skip|until|line|skipline)\s+(.*?)\s*$",
                     line)
        if not m:
            continue
        cmd, arg = m.groups()
        here = "%s:%d" % (os.path.relpath(md, src), n)
        if cmd in ("dontinclude", "include"):
            path = find_example(arg)
            if path is None:
                problems.append("%s: no example file %s" % (here, arg))
                lines = None
                continue
            lines, pos, where = open(path, encoding="utf-8").read().splitlines(), 0, arg
            broken = False
            continue
        if broken:  # already reported: the rest of this excerpt is moot
            continue
        if lines is None:
            problems.append("%s: \\%s without \\dontinclude" % (here, cmd))
            continue
        # \skip moves to the matching line; \until/\line/\skipline include it.
        start = pos if cmd == "skip" else pos + 1 if cmd != "until" else pos
        hit = next((i for i in range(start, len(lines)) if arg in lines[i]), None)
        if hit is None:
            problems.append("%s: \\%s %r not found in %s after line %d"
                            % (here, cmd, arg, where, pos + 1))
            broken = True
            continue
        pos = hit

header = open(os.path.join(src, "include", "ws101.h"), encoding="utf-8").read()
codes = dict((n, int(v)) for n, v in
             re.findall(r"XX\((E[A-Z0-9]+),\s*(-\d+),", header))
guide = open(os.path.join(src, "docs", "guide.md"), encoding="utf-8").read()
table = dict((n, int(v)) for n, v in
             re.findall(r"^\| `WS101_(E[A-Z0-9]+)` \| (-\d+) \|", guide, re.M))
for name, value in sorted(codes.items(), key=lambda kv: -kv[1]):
    if table.get(name) != value:
        problems.append("docs/guide.md: the error table %s WS101_%s (%d)"
                        % ("has a wrong value for" if name in table
                           else "lacks", name, value))
for name in sorted(set(table) - set(codes)):
    problems.append("docs/guide.md: the error table lists WS101_%s, which "
                    "WS101_ERRNO_MAP does not have" % name)

if problems:
    print("FAIL: " + "\nFAIL: ".join(problems), file=sys.stderr)
    sys.exit(1)
print("ok: the guide's excerpts are in their example files, and its error "
      "table matches WS101_ERRNO_MAP (%d codes)" % len(codes))
