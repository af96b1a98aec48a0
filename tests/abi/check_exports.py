#!/usr/bin/env python3
"""Checks the dynamic symbol table of libws101.so against the public header.

    check_exports.py LIBRARY HEADER [VERSION_NODE]

Passes when
  - every defined dynamic symbol is a function named ws101_* at the default
    version VERSION_NODE (`ws101_x@@WS101_1.0`), apart from the version
    node's own absolute symbol: no data, no other names, no other node;
  - every function HEADER declares with WS101_EXTERN is exported (a
    declared function without WS101_EXTERN, or a missing definition, is
    caught here rather than by a user's link);
  - nothing is exported that the header does not declare.
The symbol table is read with `nm -D --defined-only`, as a user would.
"""
import re
import subprocess
import sys


def declared_functions(header):
    text = open(header, encoding="utf-8").read()
    # Comments may mention WS101_EXTERN or contain parentheses.
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    # Preprocessor lines (the macro's own #define, the X-macro tables).
    text = re.sub(r"\\\n", " ", text)
    text = re.sub(r"(?m)^\s*#.*$", " ", text)
    names = []
    for m in re.finditer(r"\bWS101_EXTERN\b([^;{]*)[;{]", text):
        decl = m.group(1)
        fn = re.search(r"\b(ws101_\w+)\s*\(", decl)
        if fn is None:
            sys.exit("check_exports: cannot parse declaration: WS101_EXTERN%s"
                     % " ".join(decl.split()))
        names.append(fn.group(1))
    if len(names) != len(set(names)):
        dup = sorted({n for n in names if names.count(n) > 1})
        sys.exit("check_exports: declared twice in %s: %s" % (header, dup))
    return set(names)


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    lib, header = sys.argv[1], sys.argv[2]
    node = sys.argv[3] if len(sys.argv) == 4 else "WS101_1.0"
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                         capture_output=True, text=True).stdout
    exported, bad = set(), []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 3:
            bad.append(line)
            continue
        kind, sym = parts[1], parts[2]
        if kind == "A" and sym == node:
            continue
        name, sep, ver = sym.partition("@@")
        if kind == "T" and name.startswith("ws101_") and sep and ver == node:
            exported.add(name)
        else:
            bad.append(line)
    problems = []
    if bad:
        problems.append("%d exported symbols are not ws101_* functions at "
                        "@@%s:\n  %s" % (len(bad), node, "\n  ".join(bad)))
    declared = declared_functions(header)
    missing = sorted(declared - exported)
    if missing:
        problems.append("declared in %s but not exported (forgotten "
                        "WS101_EXTERN or definition?):\n  %s"
                        % (header, "\n  ".join(missing)))
    extra = sorted(exported - declared)
    if extra:
        problems.append("exported but not declared in %s:\n  %s"
                        % (header, "\n  ".join(extra)))
    if problems:
        print("FAIL: " + "\nFAIL: ".join(problems), file=sys.stderr)
        return 1
    print("ok: %d functions exported, all ws101_*@@%s, exactly the %d "
          "declared in %s" % (len(exported), node, len(declared), header))
    return 0


if __name__ == "__main__":
    sys.exit(main())
