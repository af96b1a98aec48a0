"""Ctrl-C (SIGINT) stops loop.run() with KeyboardInterrupt."""
import os
import signal
import subprocess
import sys
import textwrap
import time
import unittest

from _support import ws101  # noqa: F401  (checks the import works)

SCRIPT = textwrap.dedent("""
    import sys, ws101
    loop = ws101.Loop(raise_errors=True)
    server = ws101.Server(loop)
    port = server.listen("127.0.0.1", 0)
    print("listening on http://127.0.0.1:%d/" % port, flush=True)
    try:
        loop.run()
    except KeyboardInterrupt:
        print("KeyboardInterrupt caught", flush=True)
        server.close()
        loop.close()
        sys.exit(3)
    print("run returned normally", flush=True)
""")


class SignalTest(unittest.TestCase):
    def run_and_interrupt(self, script):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        proc = subprocess.Popen([sys.executable, "-c", script],
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env,
                                cwd="/")
        line = proc.stdout.readline()
        self.assertIn("listening on", line, proc.stderr.read()
                      if not line else line)
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            self.fail("SIGINT did not stop loop.run(): %s" % err)
        return proc.returncode, out, err

    def test_sigint_raises_keyboard_interrupt(self):
        rc, out, err = self.run_and_interrupt(SCRIPT)
        self.assertEqual(rc, 3, out + err)
        self.assertIn("KeyboardInterrupt caught", out)

    def test_example_server_stops_on_sigint(self):
        example = os.path.join(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))), "examples", "echo_server.py")
        script = ("import runpy, sys; sys.argv = [%r, '--port', '0']; "
                  "runpy.run_path(%r, run_name='__main__')" % (example, example))
        rc, out, err = self.run_and_interrupt(script)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("interrupted", err)


if __name__ == "__main__":
    unittest.main()
