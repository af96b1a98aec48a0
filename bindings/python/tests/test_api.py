"""The public Python API is documented, typed and versioned (issue 19):
every public name of ws101, ws101.aio and ws101.asgi (classes, their
public methods and properties, functions) has a docstring that help()
shows and annotated signatures; the package ships the py.typed marker;
ws101.__version__ is the C library's version string, in the package
metadata too."""
import importlib.metadata
import inspect
import os
import pydoc
import subprocess
import sys
import typing
import unittest

from _support import HERE, SYSTEM_PYTHON, loud_skip, ws101

import ws101.aio
import ws101.asgi

MODULES = (ws101, ws101.aio, ws101.asgi)


def public_objects():
    """(qualified name, object) for every public function, class and
    class member of MODULES."""
    for mod in MODULES:
        for name in mod.__all__:
            obj = getattr(mod, name)
            qual = "%s.%s" % (mod.__name__, name)
            if inspect.isclass(obj):
                yield qual, obj
                for m, v in vars(obj).items():
                    if m.startswith("_"):
                        continue
                    if isinstance(v, property):
                        yield qual + "." + m, v.fget
                    elif isinstance(v, (staticmethod, classmethod)):
                        yield qual + "." + m, v.__func__
                    elif inspect.isfunction(v):
                        yield qual + "." + m, v
            elif inspect.isfunction(obj) or inspect.isbuiltin(obj):
                yield qual, obj


class ApiTest(unittest.TestCase):
    def test_every_public_name_has_a_docstring(self):
        missing = [q for q, o in public_objects()
                   if not (o.__doc__ or "").strip()]
        self.assertEqual(missing, [])
        # help() renders them (pydoc is what help() uses).
        text = pydoc.render_doc(ws101.asgi.run, renderer=pydoc.plaintext)
        self.assertIn("workers", text)
        self.assertIn("listening on", text)

    def test_every_public_callable_is_annotated(self):
        unannotated = []
        for q, o in public_objects():
            if not inspect.isfunction(o):
                continue
            sig = inspect.signature(o)
            hints = typing.get_type_hints(o)
            params = [p for p in sig.parameters.values()
                      if p.name not in ("self", "cls")
                      and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
            if "return" not in hints and o.__name__ != "__init__" or \
                    any(p.name not in hints for p in params):
                unannotated.append(q)
        self.assertEqual(unannotated, [])

    def test_py_typed_marker_is_installed(self):
        pkg = os.path.dirname(ws101.__file__)
        self.assertTrue(os.path.isfile(os.path.join(pkg, "py.typed")))

    def test_mypy_uses_the_hints(self):
        """A user program checks clean, a wrong one is caught (so the
        hints are read, not ignored as an untyped package)."""
        r = subprocess.run([SYSTEM_PYTHON, "-m", "mypy", "--version"],
                           capture_output=True)
        if r.returncode != 0:
            loud_skip(self, "mypy not available to %s (apt-get install "
                      "python3-mypy)" % SYSTEM_PYTHON)
        samples = os.path.join(HERE, "typing_samples")

        def mypy(name):
            return subprocess.run(
                [SYSTEM_PYTHON, "-m", "mypy", "--no-incremental",
                 "--python-executable", sys.executable,
                 os.path.join(samples, name)],
                capture_output=True, text=True, timeout=240, cwd=samples)
        ok = mypy("ok_program.py")
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        bad = mypy("bad_program.py")
        self.assertEqual(bad.returncode, 1, bad.stdout + bad.stderr)
        self.assertIn("bad_program.py:7: error: Incompatible types in "
                      "assignment", bad.stdout)

    def test_version_is_the_c_librarys(self):
        c = ws101._ws101
        s = c.ws101_version_string()
        self.assertEqual(ws101.__version__, s)
        self.assertEqual(ws101.version(), s)
        v = c.ws101_version()
        self.assertEqual(s, "%d.%d.%d" % (v >> 16, (v >> 8) & 0xff, v & 0xff))
        # The header the binding was compiled against says the same.
        self.assertEqual(v, c.WS101_VERSION_HEX)
        self.assertEqual(importlib.metadata.version("ws101"), s)


if __name__ == "__main__":
    unittest.main()
