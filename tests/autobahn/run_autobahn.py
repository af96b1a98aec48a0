"""Autobahn|Testsuite against libws101: one run, one verdict.

    run_autobahn.py --mode server --peer BUILD/ws101-demo ...
    run_autobahn.py --mode client --peer BUILD/tests/autobahn/ab_client ...

--mode server: the suite's fuzzingclient tests the demo server (started on a
port it picks itself, --port 0). --mode client: the suite's fuzzingserver
listens on a free port and ab_client (the ws101 client) runs every case as
an echo client. --deflate 1 negotiates permessage-deflate in every case
(tests/autobahn/wstest_pmd.py), not only in 12.*/13.*; --deflate 0 runs
the cases as the suite has them. --cases picks a selection (see CASES).

Every case must end OK, or NON-STRICT / INFORMATIONAL (the suite's own
verdicts for behaviour RFC 6455 allows); its close behaviour OK or
INFORMATIONAL. Anything else (FAILED, UNIMPLEMENTED, a case that did not
run) fails the run and prints that case's report. Exit 0 when all pass,
1 when not, 77 (skipped, said loudly) when the suite or its Python
packages are missing.

Runs with any Python 3; the suite itself runs under /usr/bin/python3 with
Debian's python3-autobahn and python3-twisted.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

SUITE_PY = "/usr/bin/python3"
HERE = os.path.dirname(os.path.abspath(__file__))

# Case selections. "ci" is what the test suite runs: the protocol cases
# 1-7 and 10, all 54 performance cases of 9 (issue 20: 16 MiB messages),
# and with deflate the first configuration (16-byte messages) of each of
# the 12 compression groups; "full" is everything, for bench/.
BASE = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*"]
DEFLATE_SAMPLE = ["12.%d.1" % i for i in range(1, 6)] + \
                 ["13.%d.1" % i for i in range(1, 8)]
CASES = {
    "ci": lambda deflate: BASE + (DEFLATE_SAMPLE if deflate else []),
    "full": lambda deflate: BASE + (["12.*", "13.*"] if deflate else []),
}

# Cases that test something forced compression takes away; run only when
# the suite negotiates deflate by itself (--deflate 0). Each with why.
DEFLATE_EXCLUDED = {
    "3.4": "RSV1 is the case's 'reserved' bit, but with permessage-deflate "
           "negotiated it is the compression bit: the frame is then a "
           "compressed message with invalid deflate data (failed with 1007), "
           "not the reserved-bit violation (1002) the case expects",
    "6.4.3": "the suite writes raw octet chops under a frame it marked "
             "compressed (RSV1): that is invalid deflate data, not the "
             "invalid UTF-8 the case is about",
    "6.4.4": "same as 6.4.3",
    "10.1.1": "counts the continuation frames of the suite's own "
              "auto-fragmentation of a 64 KiB message, which compresses "
              "into one frame (and the suite then crashes on a KeyError)",
}

OK_BEHAVIOR = {"OK", "NON-STRICT", "INFORMATIONAL"}
OK_CLOSE = {"OK", "INFORMATIONAL"}


def skip(why):
    print("SKIPPED: %s" % why, flush=True)
    sys.exit(77)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, deadline):
    """Waits until 127.0.0.1:port accepts connections or proc exits."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)  # polling readiness, with a deadline
    return False


def stop(proc, grace=10):
    if proc is None or proc.poll() is not None:
        return proc.returncode if proc else None
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def wstest_cmd(suite, deflate):
    if deflate:
        return [SUITE_PY, os.path.join(HERE, "wstest_pmd.py"), suite]
    return [SUITE_PY, "-W", "ignore", "-c",
            "import sys; sys.path.insert(0, %r); sys.argv[0] = 'wstest'; "
            "from autobahntestsuite import wstest; wstest.run()" % suite]


def sort_key(case_id):
    return [int(x) for x in case_id.split(".")]


def print_report(outdir, case_id, res):
    print("---- case %s: %s / close %s ----" % (case_id, res.get("behavior"),
                                               res.get("behaviorClose")))
    path = os.path.join(outdir, res.get("reportfile", ""))
    try:
        with open(path) as f:
            rep = json.load(f)
    except (OSError, ValueError) as e:
        print("  (no report file %s: %s)" % (path, e))
        return
    for k in ("description", "expectation", "result", "resultClose",
              "expected", "received", "remoteCloseCode", "remoteCloseReason",
              "localCloseCode", "droppedByMe", "wasClean",
              "wasNotCleanReason"):
        if k in rep:
            print("  %s: %s" % (k, str(rep[k]).replace("<br>", " ")[:2000]))
    print("  wire log (first 40 entries):")
    for w in rep.get("wirelog", [])[:40]:
        print("    " + str(w)[:200])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["server", "client"], required=True)
    ap.add_argument("--peer", required=True,
                    help="ws101-demo (server) or ab_client (client)")
    ap.add_argument("--suite", required=True,
                    help="the autobahn-testsuite directory")
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--deflate", type=int, default=0)
    ap.add_argument("--cases", choices=sorted(CASES), default="ci")
    ap.add_argument("--timeout", type=float, default=600,
                    help="seconds for the whole run")
    ap.add_argument("--summary", help="also write the verdicts here (JSON)")
    a = ap.parse_args()
    # The suite runs in the output directory: make every path absolute.
    a.outdir, a.peer, a.suite = (os.path.abspath(p)
                                 for p in (a.outdir, a.peer, a.suite))
    if a.summary:
        a.summary = os.path.abspath(a.summary)

    if not os.path.isfile(os.path.join(a.suite, "autobahntestsuite",
                                       "wstest.py")):
        skip("Autobahn|Testsuite not found at %s (see "
             "../shared/thirdparty/README.md)" % a.suite)
    probe = subprocess.run([SUITE_PY, "-c", "import autobahn, twisted"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        skip("%s lacks autobahn/twisted (apt-get install python3-autobahn "
             "python3-twisted; scripts/deps.sh does): %s"
             % (SUITE_PY, probe.stderr.strip().splitlines()[-1:]))
    if not os.access(a.peer, os.X_OK):
        print("FAIL: %s is not an executable" % a.peer)
        return 1

    shutil.rmtree(a.outdir, ignore_errors=True)
    os.makedirs(a.outdir)
    cases = CASES[a.cases](a.deflate)
    excluded = DEFLATE_EXCLUDED if a.deflate else {}
    for c, why in sorted(excluded.items()):
        print("excluded %s with deflate: %s" % (c, why))
    agent = "ws101-%s%s" % (a.mode, "-deflate" if a.deflate else "")
    deadline = time.monotonic() + a.timeout
    t0 = time.monotonic()
    log_path = os.path.join(a.outdir, "wstest.log")
    # The suite's own handshake timeouts default to 1 s: on a loaded
    # machine a correct close then counts as UNCLEAN. A peer that does not
    # answer still fails, only later.
    slow = {"openHandshakeTimeout": 30, "closeHandshakeTimeout": 30}
    if a.mode == "server":  # the suite is the client: wait for our TCP end
        slow["serverConnectionDropTimeout"] = 30
    spec = {"outdir": a.outdir, "cases": cases, "options": slow,
            "exclude-cases": sorted(excluded), "exclude-agent-cases": {}}
    peer = suite = None
    peer_rc = 0
    log = open(log_path, "w")
    try:
        if a.mode == "server":
            peer = subprocess.Popen([a.peer, "--host", "127.0.0.1", "--port",
                                     "0"], stdout=subprocess.PIPE, text=True)
            line = peer.stdout.readline()  # "listening on http://H:P/"
            if not line.startswith("listening on http://"):
                print("FAIL: the demo did not start: %r" % line)
                return 1
            port = int(line.rstrip().rstrip("/").rsplit(":", 1)[1])
            spec["servers"] = [{"agent": agent,
                                "url": "ws://127.0.0.1:%d/ws" % port}]
            spec_path = os.path.join(a.outdir, "spec.json")
            with open(spec_path, "w") as f:
                json.dump(spec, f, indent=1)
            suite = subprocess.Popen(
                wstest_cmd(a.suite, a.deflate) +
                ["-m", "fuzzingclient", "-s", spec_path],
                stdout=log, stderr=subprocess.STDOUT, cwd=a.outdir)
            try:
                suite.wait(max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print("FAIL: the suite did not finish in %.0f s (see %s)"
                      % (a.timeout, log_path))
                return 1
            # SIGTERM: the demo closes its WebSockets and exits 0.
            peer_rc = stop(peer)
        else:
            port = free_port()
            spec["url"] = "ws://127.0.0.1:%d" % port
            spec_path = os.path.join(a.outdir, "spec.json")
            with open(spec_path, "w") as f:
                json.dump(spec, f, indent=1)
            suite = subprocess.Popen(
                wstest_cmd(a.suite, a.deflate) +
                ["-m", "fuzzingserver", "-u", "0", "-s", spec_path],
                stdout=log, stderr=subprocess.STDOUT, cwd=a.outdir)
            if not wait_port(port, suite, min(deadline,
                                               time.monotonic() + 60)):
                print("FAIL: the suite's fuzzingserver did not listen on "
                      "port %d (see %s)" % (port, log_path))
                return 1
            peer = subprocess.Popen([a.peer, "ws://127.0.0.1:%d" % port,
                                     agent, str(a.deflate)])
            try:
                peer_rc = peer.wait(max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print("FAIL: ab_client did not finish in %.0f s" % a.timeout)
                return 1
    finally:
        stop(peer)
        # The fuzzingserver never exits by itself (its reports are written
        # by /updateReports), and Twisted may sit on SIGTERM: short grace.
        stop(suite, grace=3)
        log.close()
    elapsed = time.monotonic() - t0

    # How many cases the suite selected, from its own log.
    want = None
    with open(log_path) as f:
        for line in f:
            if line.startswith("Ok, will run "):
                want = int(line.split()[3])
    try:
        with open(os.path.join(a.outdir, "index.json")) as f:
            results = json.load(f).get(agent, {})
    except (OSError, ValueError) as e:
        print("FAIL: no index.json from the suite (%s); its log:" % e)
        with open(log_path) as f:
            print(f.read()[-4000:])
        return 1

    bad = [c for c, r in results.items()
           if r.get("behavior") not in OK_BEHAVIOR or
           r.get("behaviorClose") not in OK_CLOSE]
    counts = {}
    for r in results.values():
        k = "%s/%s" % (r.get("behavior"), r.get("behaviorClose"))
        counts[k] = counts.get(k, 0) + 1
    print("autobahn %s deflate=%d: %d cases (%s selected) in %.1f s: %s"
          % (a.mode, a.deflate, len(results), want, elapsed,
             ", ".join("%s %d" % kv for kv in sorted(counts.items()))))
    for c in sorted(results, key=sort_key):
        r = results[c]
        if r.get("behavior") != "OK" or r.get("behaviorClose") != "OK":
            print("  %s: %s / close %s" % (c, r.get("behavior"),
                                          r.get("behaviorClose")))
    if a.summary:
        with open(a.summary, "w") as f:
            json.dump({"mode": a.mode, "deflate": a.deflate,
                       "cases": a.cases, "seconds": round(elapsed, 1),
                       "counts": counts, "excluded": excluded,
                       "results": {c: [results[c].get("behavior"),
                                       results[c].get("behaviorClose"),
                                       results[c].get("duration")]
                                   for c in sorted(results, key=sort_key)}},
                      f, indent=1)
    failed = False
    for c in sorted(bad, key=sort_key):
        print_report(a.outdir, c, results[c])
        failed = True
    if want is None or len(results) != want:
        print("FAIL: %d results for %s selected cases" % (len(results), want))
        failed = True
    if peer_rc != 0:
        print("FAIL: %s exited with %s" % (a.peer, peer_rc))
        failed = True
    print("autobahn: %s" % ("FAILED" if failed else "all cases passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
