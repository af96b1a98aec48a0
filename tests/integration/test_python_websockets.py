#!/usr/bin/python3
"""integ.python_websockets: the Python `websockets` library (an independent
RFC 6455 / RFC 7692 implementation) against the demo's /ws echo endpoint,
plus raw-socket frames no library sends (bad UTF-8, unmasked frames).

Run: /usr/bin/python3 test_python_websockets.py --demo PATH/ws101-demo
"""
import asyncio
import os
import signal
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo  # noqa: E402

DEMO_BIN = demo.find_demo()
try:
    import websockets
    from websockets.extensions.permessage_deflate import PerMessageDeflate
except ImportError as e:
    demo.skip("python websockets is not importable (%s); "
              "apt-get install python3-websockets" % e)

T = 15  # seconds: deadline for any single await


def connect(url, **kw):
    kw.setdefault("max_size", 16 << 20)
    kw.setdefault("open_timeout", T)
    kw.setdefault("close_timeout", T)
    kw.setdefault("ping_interval", None)  # no background pings
    return websockets.connect(url, **kw)


def deflate_negotiated(ws):
    return any(isinstance(e, PerMessageDeflate) for e in ws.extensions)


class Echo:
    """Mixin: the echo checks, run once per compression setting."""
    compression = None

    @classmethod
    def setUpClass(cls):
        cls.d = demo.Demo(DEMO_BIN).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def run_async(self, coro):
        return asyncio.run(asyncio.wait_for(coro, 4 * T))

    def conn(self, **kw):
        kw.setdefault("compression", self.compression)
        return connect(self.d.ws_url, **kw)

    async def echo(self, ws, msg):
        await asyncio.wait_for(ws.send(msg), T)
        got = await asyncio.wait_for(ws.recv(), T)
        self.assertEqual(type(got), type(msg))
        self.assertEqual(len(got), len(msg))
        self.assertTrue(got == msg, "echo differs")
        return got

    def test_extension_negotiation(self):
        async def go():
            async with self.conn() as ws:
                hdr = ws.response_headers.get("Sec-WebSocket-Extensions")
                if self.compression is None:
                    self.assertIsNone(hdr)
                    self.assertFalse(deflate_negotiated(ws))
                else:
                    self.assertIsNotNone(hdr, "deflate offered, none accepted")
                    self.assertIn("permessage-deflate", hdr)
                    self.assertTrue(deflate_negotiated(ws), ws.extensions)
                await self.echo(ws, "after negotiation")
        self.run_async(go())

    def test_text_binary_empty_unicode(self):
        async def go():
            async with self.conn() as ws:
                await self.echo(ws, "hello")
                await self.echo(ws, b"\x00\x01\x02\xff binary")
                await self.echo(ws, "")
                await self.echo(ws, b"")
                await self.echo(ws, "h\u00e9llo w\u00f6rld \u2603 \U0001F600 "
                                    "\u65e5\u672c\u8a9e")
                await self.echo(ws, "x" * 125)
                await self.echo(ws, "y" * 126)
                await self.echo(ws, b"z" * 65535)
                await self.echo(ws, b"w" * 65536)
                # compressible text, larger than any small-message threshold
                await self.echo(ws, "The quick brown fox. " * 5000)
        self.run_async(go())

    def test_large_binary_4mib(self):
        async def go():
            async with self.conn() as ws:
                await self.echo(ws, os.urandom(4 << 20))
                # and a compressible one
                await self.echo(ws, bytes(range(256)) * (16 << 10))
        self.run_async(go())

    def test_many_messages_in_order(self):
        async def go():
            async with self.conn() as ws:
                for i in range(200):
                    await ws.send("m%d" % i)
                for i in range(200):
                    self.assertEqual(await asyncio.wait_for(ws.recv(), T),
                                     "m%d" % i)
        self.run_async(go())

    def test_fragmented_send(self):
        async def go():
            async with self.conn() as ws:
                # websockets sends an iterable as one fragmented message
                await ws.send(["frag", "ment", "ed \u2603"])
                self.assertEqual(await asyncio.wait_for(ws.recv(), T),
                                 "fragmented \u2603")
                await ws.send([b"\x01" * 1000, b"\x02" * 70000, b"\x03"])
                self.assertEqual(await asyncio.wait_for(ws.recv(), T),
                                 b"\x01" * 1000 + b"\x02" * 70000 + b"\x03")
        self.run_async(go())

    def test_ping_pong(self):
        async def go():
            async with self.conn() as ws:
                waiter = await ws.ping(b"are you there")
                await asyncio.wait_for(waiter, T)
                waiter = await ws.ping(b"")
                await asyncio.wait_for(waiter, T)
                await self.echo(ws, "still here")
        self.run_async(go())

    def test_close_1000(self):
        async def go():
            ws = await self.conn()
            await self.echo(ws, "a")
            await asyncio.wait_for(ws.close(1000, "normal"), T)
            self.assertEqual(ws.close_code, 1000)
        self.run_async(go())

    def test_close_4000_bye_echoed(self):
        async def go():
            ws = await self.conn()
            await asyncio.wait_for(ws.close(4000, "bye"), T)
            self.assertEqual(ws.close_code, 4000,
                             "server did not echo the close code")
        self.run_async(go())

    def test_server_close_command(self):
        async def go():
            ws = await self.conn()
            await ws.send("close:4001:done")
            with self.assertRaises(websockets.ConnectionClosed) as cm:
                await asyncio.wait_for(ws.recv(), T)
            self.assertEqual(cm.exception.rcvd.code, 4001)
            self.assertEqual(cm.exception.rcvd.reason, "done")
            await asyncio.wait_for(ws.wait_closed(), T)
            self.assertEqual(ws.close_code, 4001)
            self.assertEqual(ws.close_reason, "done")
        self.run_async(go())


class DeflateParameters(unittest.TestCase):
    """RFC 7692 offers with parameters: the server's answer must respect
    them, and compressed echo must still work."""

    @classmethod
    def setUpClass(cls):
        cls.d = demo.Demo(DEMO_BIN).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def offer(self, **params):
        from websockets.extensions.permessage_deflate import (
            ClientPerMessageDeflateFactory)
        factory = ClientPerMessageDeflateFactory(**params)

        async def go():
            async with connect(self.d.ws_url, compression=None,
                               extensions=[factory]) as ws:
                hdr = ws.response_headers.get("Sec-WebSocket-Extensions", "")
                self.assertIn("permessage-deflate", hdr)
                text = "abcabcabc compress me " * 3000
                for i in range(3):
                    await ws.send(text + str(i))
                    self.assertEqual(await asyncio.wait_for(ws.recv(), T),
                                     text + str(i))
                blob = bytes(range(256)) * 4000
                await ws.send(blob)
                self.assertEqual(await asyncio.wait_for(ws.recv(), T), blob)
                return hdr.lower()
        return asyncio.run(asyncio.wait_for(go(), 4 * T))

    def test_server_no_context_takeover(self):
        hdr = self.offer(server_no_context_takeover=True)
        self.assertIn("server_no_context_takeover", hdr)

    def test_client_no_context_takeover(self):
        self.offer(client_no_context_takeover=True)

    def test_server_max_window_bits_10(self):
        hdr = self.offer(server_max_window_bits=10)
        self.assertRegex(hdr, r"server_max_window_bits=(8|9|10)\b")

    def test_server_max_window_bits_8(self):
        # zlib turns a raw deflate window of 8 into 9 when compressing: a
        # server that accepts 8 must still emit streams an 8-bit window can
        # inflate (or answer with a larger value it really uses... which the
        # RFC does not allow, so: decline or compress correctly).
        from websockets.extensions.permessage_deflate import (
            ClientPerMessageDeflateFactory)
        factory = ClientPerMessageDeflateFactory(server_max_window_bits=8)

        async def go():
            async with connect(self.d.ws_url, compression=None,
                               extensions=[factory]) as ws:
                hdr = ws.response_headers.get("Sec-WebSocket-Extensions", "")
                # long-distance repeats: a 512-byte window would use them
                import random
                rnd = random.Random(7)
                unit = bytes(rnd.getrandbits(8) for _ in range(300))
                blob = unit * 200
                for _ in range(3):
                    await ws.send(blob)
                    self.assertEqual(await asyncio.wait_for(ws.recv(), T),
                                     blob)
                return hdr
        asyncio.run(asyncio.wait_for(go(), 4 * T))

    def test_client_max_window_bits_9(self):
        hdr = self.offer(client_max_window_bits=9)
        # client_max_window_bits, if answered, must not exceed the offer
        import re
        m = re.search(r"client_max_window_bits=(\d+)", hdr)
        if m:
            self.assertLessEqual(int(m.group(1)), 9)

    def test_everything(self):
        self.offer(server_no_context_takeover=True,
                   client_no_context_takeover=True,
                   server_max_window_bits=9, client_max_window_bits=12)


class ExtensionOffers(unittest.TestCase):
    """Hand-written Sec-WebSocket-Extensions offers (RFC 7692 section 5/7)."""

    @classmethod
    def setUpClass(cls):
        cls.d = demo.Demo(DEMO_BIN).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def answer(self, offer):
        s, r, resp = demo.ws_handshake(
            self.d.host, self.d.port,
            extra=b"Sec-WebSocket-Extensions: " + offer + b"\r\n")
        try:
            s.sendall(demo.ws_frame(8, struct.pack("!H", 1000)))
            demo.ws_expect_close(r)
        finally:
            s.close()
        vals = resp.header_all("sec-websocket-extensions")
        return ",".join(vals).replace(" ", "").lower()

    def test_bare_offer(self):
        a = self.answer(b"permessage-deflate")
        self.assertEqual(a.split(";")[0], "permessage-deflate")
        # 7.1.2.2: no client_max_window_bits in the answer unless offered
        self.assertNotIn("client_max_window_bits", a)
        self.assertNotIn(",", a, "more than one extension accepted")

    def test_unknown_extension_ignored(self):
        a = self.answer(b"x-webkit-unknown, permessage-deflate; "
                        b"client_max_window_bits")
        self.assertTrue(a.startswith("permessage-deflate"), a)
        self.assertNotIn("x-webkit-unknown", a)

    def test_invalid_first_offer_falls_back(self):
        a = self.answer(b"permessage-deflate; server_max_window_bits=7, "
                        b"permessage-deflate")
        self.assertTrue(a.startswith("permessage-deflate"), a)
        self.assertNotIn("=7", a)

    def test_only_invalid_offers_declined(self):
        for offer in (b"permessage-deflate; foo=bar",
                      b"permessage-deflate; server_max_window_bits=16",
                      b"permessage-deflate; client_max_window_bits=x",
                      b"permessage-deflate; server_no_context_takeover=1",
                      b"permessage-deflate; server_no_context_takeover; "
                      b"server_no_context_takeover"):
            self.assertEqual(self.answer(offer), "", offer)


class EchoNoCompression(Echo, unittest.TestCase):
    compression = None


class EchoDeflate(Echo, unittest.TestCase):
    compression = "deflate"


class RawFrames(unittest.TestCase):
    """Protocol errors a library will not produce."""

    @classmethod
    def setUpClass(cls):
        cls.d = demo.Demo(DEMO_BIN).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def expect_fail_close(self, frames, code):
        s, r, _ = demo.ws_handshake(self.d.host, self.d.port)
        try:
            s.sendall(b"".join(frames))
            got, _ = demo.ws_expect_close(r)
            self.assertEqual(got, code)
            # answer the close; the server must then end the TCP connection
            try:
                s.sendall(demo.ws_frame(8, struct.pack("!H", code)))
            except (BrokenPipeError, ConnectionResetError):
                pass
            r.expect_eof()
        finally:
            s.close()

    def test_raw_echo_sanity(self):
        s, r, _ = demo.ws_handshake(self.d.host, self.d.port)
        s.sendall(demo.ws_frame(1, b"raw hello"))
        fin, op, payload = demo.ws_read_frame(r)
        self.assertEqual((fin, op, payload), (True, 1, b"raw hello"))
        # fragmented with a ping in the middle
        s.sendall(demo.ws_frame(2, b"ab", fin=False) + demo.ws_frame(9, b"p") +
                  demo.ws_frame(0, b"cd", fin=True))
        frames = [demo.ws_read_frame(r), demo.ws_read_frame(r)]
        self.assertIn((True, 10, b"p"), frames)
        self.assertIn((True, 2, b"abcd"), frames)
        s.sendall(demo.ws_frame(8, struct.pack("!H", 1000)))
        code, _ = demo.ws_expect_close(r)
        self.assertEqual(code, 1000)
        r.expect_eof()
        s.close()

    def test_invalid_utf8_text_1007(self):
        self.expect_fail_close([demo.ws_frame(1, b"ok \xff\xfe bad")], 1007)

    def test_invalid_utf8_across_fragments_1007(self):
        self.expect_fail_close([demo.ws_frame(1, b"abc\xe2", fin=False),
                                demo.ws_frame(0, b"\x28\xa1", fin=True)], 1007)

    def test_unmasked_frame_1002(self):
        self.expect_fail_close([demo.ws_frame(1, b"naked", mask=False)], 1002)

    def test_reserved_opcode_1002(self):
        self.expect_fail_close([demo.ws_frame(3, b"x")], 1002)

    def test_rsv_bits_without_extension_1002(self):
        self.expect_fail_close([demo.ws_frame(1, b"x", rsv=2)], 1002)

    def test_fragmented_control_1002(self):
        self.expect_fail_close([demo.ws_frame(9, b"x", fin=False)], 1002)

    def test_continuation_without_start_1002(self):
        self.expect_fail_close([demo.ws_frame(0, b"x", fin=True)], 1002)

    def test_new_message_inside_fragmented_1002(self):
        self.expect_fail_close([demo.ws_frame(1, b"a", fin=False),
                                demo.ws_frame(1, b"b", fin=True)], 1002)

    def test_control_frame_too_long_1002(self):
        self.expect_fail_close([demo.ws_frame(9, b"p" * 126)], 1002)

    def test_close_payload_one_byte_1002(self):
        self.expect_fail_close([demo.ws_frame(8, b"\x03")], 1002)

    def test_close_code_invalid_1002(self):
        # 1005 and 999 may never appear on the wire (RFC 6455 7.4)
        self.expect_fail_close([demo.ws_frame(8, struct.pack("!H", 1005))],
                               1002)
        self.expect_fail_close([demo.ws_frame(8, struct.pack("!H", 999))],
                               1002)

    def test_close_reason_invalid_utf8(self):
        s, r, _ = demo.ws_handshake(self.d.host, self.d.port)
        try:
            s.sendall(demo.ws_frame(8, struct.pack("!H", 1000) + b"\xff"))
            code, _ = demo.ws_expect_close(r)
            self.assertIn(code, (1002, 1007))
            r.expect_eof()
        finally:
            s.close()

    def test_client_close_then_tcp_end(self):
        # the server answers a close and then ends the TCP connection itself
        s, r, _ = demo.ws_handshake(self.d.host, self.d.port)
        try:
            s.sendall(demo.ws_frame(8, struct.pack("!H", 4321) + b"why"))
            code, _ = demo.ws_expect_close(r)
            self.assertEqual(code, 4321)
            r.expect_eof()
        finally:
            s.close()

    def test_message_too_big_1009(self):
        # default WS101_OPT_WS_MAX_MESSAGE is 16 MiB; announce more in one
        # frame header and the server must fail the connection with 1009
        # without waiting for the payload.
        s, r, _ = demo.ws_handshake(self.d.host, self.d.port)
        try:
            n = (16 << 20) + 1
            hdr = struct.pack("!BBQ", 0x82, 0x80 | 127, n) + os.urandom(4)
            s.sendall(hdr + b"\0" * 4096)
            code, _ = demo.ws_expect_close(r)
            self.assertEqual(code, 1009)
        finally:
            s.close()


class Shutdown(unittest.TestCase):
    """SIGTERM/SIGINT: open WebSockets get 1001, idle keep-alive HTTP
    connections are closed, and the demo exits 0 (clean under ASan)."""

    def shutdown_with_open_ws(self, sig):
        d = demo.Demo(DEMO_BIN).start()
        try:
            async def go():
                ws1 = await connect(d.ws_url)
                ws2 = await connect(d.ws_url, compression=None)
                await ws1.send("before shutdown")
                self.assertEqual(await asyncio.wait_for(ws1.recv(), T),
                                 "before shutdown")
                # an idle keep-alive HTTP connection must not hold it up
                s = demo.connect(d.host, d.port)
                s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                r = demo.Reader(s)
                self.assertEqual(demo.read_response(r).status, 200)
                d.send_signal(sig)
                for ws in (ws1, ws2):
                    with self.assertRaises(websockets.ConnectionClosed) as cm:
                        await asyncio.wait_for(ws.recv(), T)
                    self.assertIsNotNone(cm.exception.rcvd,
                                         "no close frame from the server")
                    self.assertEqual(cm.exception.rcvd.code, 1001)
                    await asyncio.wait_for(ws.wait_closed(), T)
                await asyncio.get_running_loop().run_in_executor(
                    None, r.expect_eof)
                s.close()
            asyncio.run(asyncio.wait_for(go(), 4 * T))
            rc = d.wait_exit()
            d.check_clean_exit(rc)
        except BaseException:
            d._kill()
            raise

    def test_sigterm_closes_websockets_1001(self):
        self.shutdown_with_open_ws(signal.SIGTERM)

    def test_sigint_closes_websockets_1001(self):
        self.shutdown_with_open_ws(signal.SIGINT)


if __name__ == "__main__":
    demo.run_unittest()
