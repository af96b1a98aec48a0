"""TLS from Python (issue 11): a Server with tls_cert= listening with
listen_tls(), answered by ws101.fetch (https://) and ws101.connect
(wss://) with tls_ca_file=, and by curl; an untrusted server refused with
TLSError carrying OpenSSL's reason; reload_tls(). Certificates are made by
tests/tls/make_certs.sh (the openssl command) at test time."""
import os
import shutil
import subprocess
import tempfile
import unittest

from _support import HERE, need_exe, run_proc_with_loop, stats, ws101

MAKE_CERTS = os.path.join(HERE, "..", "..", "..", "tests", "tls",
                          "make_certs.sh")


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not shutil.which("openssl") or not os.path.exists(MAKE_CERTS):
            raise unittest.SkipTest("openssl or tests/tls/make_certs.sh "
                                    "missing")
        cls.pki = tempfile.mkdtemp(prefix="ws101-py-pki-")
        subprocess.run(["bash", MAKE_CERTS, cls.pki], check=True,
                       timeout=120)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki, ignore_errors=True)

    def p(self, name):
        return os.path.join(self.pki, name)

    def setUp(self):
        self.loop = ws101.Loop()
        self.server = ws101.Server(
            self.loop, tls_cert=(self.p("server.pem"), self.p("server.key")))

        @self.server.route("/hello")
        def hello(req):
            req.respond(200, "hello %s\n" % req.tls_version)

        class Echo:
            def on_message(self, ws, data):
                ws.send(data)
        self.server.websocket("/echo", Echo)
        self.port = self.server.listen_tls("127.0.0.1", 0)

    def tearDown(self):
        self.server.close()
        self.loop.close()
        self.assertEqual(stats(), (0, 0))

    def test_fetch_https(self):
        r = ws101.fetch("https://localhost:%d/hello" % self.port,
                        loop=self.loop, tls_ca_file=self.p("ca.pem"),
                        timeout=20)
        self.assertEqual(r.status, 200)
        self.assertRegex(r.body, rb"^hello TLSv1\.[23]\n$")

    def test_untrusted_refused_with_reason(self):
        with self.assertRaises(ws101.TLSError) as cm:
            ws101.fetch("https://localhost:%d/hello" % self.port,
                        loop=self.loop, timeout=20)
        self.assertIn("certificate verify failed", str(cm.exception))
        r = ws101.fetch("https://localhost:%d/hello" % self.port,
                        loop=self.loop, tls_insecure_skip_verify=True,
                        timeout=20)
        self.assertEqual(r.status, 200)

    def test_connect_wss(self):
        got = []
        ws = ws101.connect("wss://127.0.0.1:%d/echo" % self.port,
                           loop=self.loop, tls_ca_file=self.p("ca.pem"),
                           on_open=lambda ws: ws.send("over tls"),
                           on_message=lambda ws, d: (got.append(d),
                                                     ws.close(1000, "ok")))
        self.loop.run_until(lambda: ws.closed, 20)
        self.assertEqual(got, ["over tls"])
        self.assertEqual(ws.close_code, 1000)

    def test_curl_and_reload(self):
        curl = need_exe(self, "curl")
        argv = [curl, "-sS", "--noproxy", "*", "--cacert", self.p("ca.pem"),
                "--resolve", "other.test:%d:127.0.0.1" % self.port]
        r = run_proc_with_loop(self.loop, argv + [
            "https://localhost:%d/hello" % self.port])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("hello TLS", r.stdout)
        # Before the reload other.test is not served under its own name.
        r = run_proc_with_loop(self.loop, argv + [
            "https://other.test:%d/hello" % self.port])
        self.assertNotEqual(r.returncode, 0)
        self.server.reload_tls(tls_cert=(self.p("other.pem"),
                                         self.p("other.key")))
        r = run_proc_with_loop(self.loop, argv + [
            "https://other.test:%d/hello" % self.port])
        self.assertEqual(r.returncode, 0, r.stderr)
        with self.assertRaises(ws101.TLSError) as cm:
            self.server.reload_tls(tls_cert=("/nonexistent.pem",
                                             self.p("other.key")))
        self.assertIn("/nonexistent.pem", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
