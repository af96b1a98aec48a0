#!/usr/bin/python3
"""tls.chromium: headless Chromium over https:// and wss:// against the
demo server with --tls-cert, the test CA trusted through Chromium's
--ignore-certificate-errors-spki-list (the CA's key hash; the demo sends
the chain with the CA). Runs tests/integration/chromium_test.js, which
checks the page, WebSocket echoes (window.ws101Echo and its own wss://
socket with permessage-deflate), fetches, and the TLS details.
"""
import base64
import hashlib
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tlshelp  # noqa: E402
from tlshelp import demo  # noqa: E402

DEMO = os.environ.get("WS101_DEMO_BIN")
if not DEMO or not os.access(DEMO, os.X_OK):
    demo.skip("WS101_DEMO_BIN (ws101-demo) is not built")
NODE = shutil.which("node")
if NODE is None:
    demo.skip("node is not installed")
HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "integration", "chromium_test.js")


def spki_sha256(pem):
    der = subprocess.run(
        "openssl x509 -in '%s' -pubkey -noout | openssl pkey -pubin "
        "-outform der" % pem, shell=True, check=True,
        capture_output=True).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def main():
    pki = tlshelp.make_pki()
    try:
        d = demo.Demo(DEMO, extra_args=[
            "--tls-cert", os.path.join(pki, "chain-server.pem"),
            "--tls-key", os.path.join(pki, "server.key")]).start()
        try:
            assert d.url.startswith("https://"), d.url
            env = dict(os.environ, WS101_DEMO_URL=d.url,
                       WS101_TEST_CA_SPKI=spki_sha256(
                           os.path.join(pki, "ca.pem")))
            rc = subprocess.call([NODE, SCRIPT], env=env, timeout=150)
        finally:
            d.stop()
        return rc
    finally:
        shutil.rmtree(pki, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
