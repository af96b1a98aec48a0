"""A fresh venv installs the binding offline with plain pip (in-tree build
backend, no index), imports it from any directory, and uninstalls it
cleanly. Slow (compiles the library): set WS101_SKIP_INSTALL_TEST=1 to skip.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from _support import PYROOT, loud_skip


class InstallTest(unittest.TestCase):
    def test_fresh_venv_offline_install(self):
        if os.environ.get("WS101_SKIP_INSTALL_TEST") == "1":
            loud_skip(self, "WS101_SKIP_INSTALL_TEST=1")
        if not os.path.isfile(os.path.join(PYROOT, "pyproject.toml")):
            loud_skip(self, "the binding's source tree is not next to the "
                      "tests (%s)" % PYROOT)
        # The base interpreter, not the venv we may be running in.
        base = getattr(sys, "_base_executable", sys.executable)
        tmp = tempfile.mkdtemp(prefix="ws101-venv-")
        try:
            venv = os.path.join(tmp, "venv")
            r = subprocess.run([base, "-m", "venv", venv],
                               capture_output=True, text=True)
            if r.returncode != 0:
                loud_skip(self, "cannot create a venv: %s" % r.stderr)
            py = os.path.join(venv, "bin", "python")
            env = dict(os.environ)
            env.pop("PYTHONPATH", None)
            env["PIP_NO_INDEX"] = "1"
            env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
            r = subprocess.run([py, "-m", "pip", "install", "--no-index",
                                PYROOT], capture_output=True, text=True,
                               env=env, timeout=900)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

            code = ("import ws101, sys; print(ws101.__file__); "
                    "print(ws101.version()); "
                    "l = ws101.Loop(); s = ws101.Server(l); "
                    "print(s.listen('127.0.0.1', 0) > 0); l.close()")
            r = subprocess.run([py, "-c", code], capture_output=True,
                               text=True, env=env, cwd="/")
            self.assertEqual(r.returncode, 0, r.stderr)
            path, version, ok = r.stdout.split()
            self.assertTrue(path.startswith(venv), path)
            self.assertEqual(ok, "True")
            pkgdir = os.path.dirname(path)

            r = subprocess.run([py, "-m", "pip", "show", "-f", "ws101"],
                               capture_output=True, text=True, env=env)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("Version: " + version, r.stdout)

            r = subprocess.run([py, "-m", "pip", "uninstall", "-y", "ws101"],
                               capture_output=True, text=True, env=env)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            leftovers = []
            if os.path.exists(pkgdir):
                for dp, dn, fn in os.walk(pkgdir):
                    leftovers += [os.path.join(dp, f) for f in fn
                                  if not f.endswith(".pyc")]
            self.assertEqual(leftovers, [])
            site = os.path.dirname(pkgdir)
            self.assertEqual([d for d in os.listdir(site)
                              if d.startswith("ws101")], [])
            r = subprocess.run([py, "-c", "import ws101"], capture_output=True,
                               text=True, env=env, cwd="/")
            self.assertNotEqual(r.returncode, 0)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
