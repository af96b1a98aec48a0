"""Other threads talk to the loop only through call_soon_threadsafe
(ws101_loop_post); the loop releases the GIL while it waits."""
import threading
import time
import unittest

from _support import stats, ws101


class ThreadTest(unittest.TestCase):
    def test_posts_from_threads_in_order(self):
        with ws101.Loop(raise_errors=True) as loop:
            server = ws101.Server(loop)  # keeps the loop alive
            server.listen("127.0.0.1", 0)
            seen = {0: [], 1: [], 2: []}
            loop_thread = threading.get_ident()
            wrong_thread = []

            def record(t, i):
                if threading.get_ident() != loop_thread:
                    wrong_thread.append(i)
                seen[t].append(i)

            def producer(t):
                for i in range(500):
                    loop.call_soon_threadsafe(record, t, i)
                    if i % 100 == 0:
                        time.sleep(0.001)

            threads = [threading.Thread(target=producer, args=(t,))
                       for t in seen]
            for th in threads:
                th.start()

            def stopper():
                for th in threads:
                    th.join()
                loop.stop()  # from another thread: posted
            st = threading.Thread(target=stopper)
            st.start()
            loop.run()
            st.join()
            loop.run_until(lambda: all(len(v) == 500 for v in seen.values()),
                           10)
            for t, got in seen.items():
                self.assertEqual(got, list(range(500)), t)
            self.assertEqual(wrong_thread, [])
            server.close()
        self.assertEqual(stats(), (0, 0))

    def test_thread_sends_to_websocket(self):
        with ws101.Loop(raise_errors=True) as loop:
            server = ws101.Server(loop)
            got = []
            server.websocket("/ws", on_message=lambda ws, d: got.append(d))
            port = server.listen("127.0.0.1", 0)
            ws = ws101.connect("ws://127.0.0.1:%d/ws" % port, loop=loop)
            loop.run_until(lambda: ws.opened, 10)

            def worker():
                for i in range(50):
                    loop.call_soon_threadsafe(ws.send, "m%d" % i)
            th = threading.Thread(target=worker)
            th.start()
            loop.run_until(lambda: len(got) == 50, 10)
            th.join()
            self.assertEqual(got, ["m%d" % i for i in range(50)])
            ws.close()
            server.close()
            loop.run()
        self.assertEqual(stats(), (0, 0))

    def test_gil_released_while_waiting(self):
        with ws101.Loop(raise_errors=True) as loop:
            server = ws101.Server(loop)
            server.listen("127.0.0.1", 0)
            counter = [0]
            done = threading.Event()

            def spin():
                # Pure-Python work that needs the GIL while run() waits.
                end = time.monotonic() + 0.3
                while time.monotonic() < end:
                    counter[0] += 1
                done.set()
                loop.call_soon_threadsafe(loop.stop)
            th = threading.Thread(target=spin)
            th.start()
            loop.run()
            th.join()
            self.assertTrue(done.is_set())
            self.assertGreater(counter[0], 1000)
            server.close()

    def test_post_after_close_raises(self):
        loop = ws101.Loop(raise_errors=True)
        loop.close()
        with self.assertRaises(ws101.Closed):
            loop.call_soon_threadsafe(print)


if __name__ == "__main__":
    unittest.main()
