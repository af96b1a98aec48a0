"""The Python client against the C demo server (WS101_DEMO_BIN)."""
import os
import re
import subprocess
import unittest

from _support import loud_skip, stats, ws101


class DemoServerTest(unittest.TestCase):
    def setUp(self):
        demo = os.environ.get("WS101_DEMO_BIN")
        if not demo or not os.access(demo, os.X_OK):
            loud_skip(self, "WS101_DEMO_BIN is not set to the ws101-demo "
                      "executable (got %r)" % demo)
        self.proc = subprocess.Popen([demo, "--host", "127.0.0.1", "--port",
                                      "0"], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on http://([^/]+):(\d+)/", line)
        if not m:
            self.proc.kill()
            self.fail("demo printed %r" % line)
        self.port = int(m.group(2))
        self.loop = ws101.Loop(raise_errors=True)

    def tearDown(self):
        self.loop.close()
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.assertEqual(stats(), (0, 0))

    def test_echo(self):
        words = ["alpha", "βeta", b"\x00binary\xff", "x" * 70000]
        got = []

        def on_open(ws):
            ws.send(words[0])

        def on_message(ws, data):
            got.append(data)
            if len(got) < len(words):
                ws.send(words[len(got)])
            else:
                ws.close(1000, "bye")
        ws = ws101.connect("ws://127.0.0.1:%d/ws" % self.port, loop=self.loop,
                           on_open=on_open, on_message=on_message)
        self.loop.run_until(lambda: ws.closed, 15)
        self.assertIsNone(ws.error)
        self.assertEqual(got, words)
        self.assertEqual(ws.close_code, 1000)

    def test_fetch_root(self):
        r = ws101.fetch("http://127.0.0.1:%d/" % self.port, loop=self.loop,
                        timeout=10)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.body)

    def test_example_client_script(self):
        script = os.path.join(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))), "examples", "client.py")
        r = subprocess.run([__import__("sys").executable, script,
                            "ws://127.0.0.1:%d/ws" % self.port, "a", "b"],
                           capture_output=True, text=True, timeout=30,
                           cwd="/")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), ["a", "b"])


if __name__ == "__main__":
    unittest.main()
