#!/usr/bin/python3
"""Result plumbing for bench/run.sh (standard library only).

  report.py wrk FILE             wrk --latency output  -> one JSON line
  report.py h2load FILE          h2load output         -> one JSON line
  report.py summarize RAW OUTDIR [META_JSON]
        RAW is JSON lines, one per measurement, each with "workload",
        "server", "round" and the measured fields. Writes OUTDIR/latest.csv
        and OUTDIR/latest.json (medians over rounds, ratio ws101/peer) and
        prints the table.
"""
import csv
import json
import re
import statistics
import sys


def primary(workload):
    """The primary metric of a workload, its unit, and if higher is better."""
    if workload.startswith("idle"):
        return "bytes_per_conn", "B/conn", False
    if workload.startswith("handshakes"):
        return "handshakes_per_s", "hs/s", True
    if workload.startswith(("http", "h2c")):
        return "msgs_per_s", "req/s", True
    return "msgs_per_s", "msg/s", True


def _dur_us(text):
    m = re.match(r"([\d.]+)(us|ms|s)", text.strip())
    if not m:
        return None
    v = float(m.group(1))
    return v * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]


def _mb(text):
    m = re.match(r"([\d.]+)\s*([KMG]?)B", text.strip())
    if not m:
        return None
    return float(m.group(1)) * {"": 1e-6, "K": 1024 / 1e6, "M": 1048576 / 1e6,
                                "G": 1073741824 / 1e6}[m.group(2)]


def parse_wrk(path):
    out = {"msgs_per_s": None, "mb_per_s": None, "p50_us": None,
           "p99_us": None, "errors": 0}
    for line in open(path, errors="replace"):
        s = line.strip()
        if s.startswith("Requests/sec:"):
            out["msgs_per_s"] = float(s.split()[1])
        elif s.startswith("Transfer/sec:"):
            out["mb_per_s"] = _mb(s.split(":", 1)[1])
        elif s.startswith("50%"):
            out["p50_us"] = _dur_us(s.split()[1])
        elif s.startswith("99%"):
            out["p99_us"] = _dur_us(s.split()[1])
        elif s.startswith("Socket errors:"):
            out["errors"] += sum(int(x) for x in re.findall(r"\d+", s))
        elif s.startswith("Non-2xx"):
            out["errors"] += int(s.split()[-1])
    # with a pipelining script wrk's percentiles can read 0: no data
    for k in ("p50_us", "p99_us"):
        if not out[k]:
            out[k] = None
    return out


def parse_h2load(path):
    out = {"msgs_per_s": None, "mb_per_s": None, "p50_us": None,
           "p99_us": None, "errors": 0}
    for line in open(path, errors="replace"):
        s = line.strip()
        m = re.match(r"finished in [\d.]+\w*, ([\d.]+) req/s, ([\d.]+)([KMG]?)B/s", s)
        if m:
            out["msgs_per_s"] = float(m.group(1))
            out["mb_per_s"] = _mb(m.group(2) + m.group(3) + "B")
        m = re.match(r"requests: .* (\d+) failed, (\d+) errored", s)
        if m:
            out["errors"] += int(m.group(1)) + int(m.group(2))
        if s.startswith("time for request:"):
            # h2load has no percentiles: report its mean as p50 (noted)
            parts = s.split(":", 1)[1].split()
            out["p50_us"] = _dur_us(parts[2])
            out["p50_is_mean"] = True
    return out


# peers the Python binding (server "pyws101") is compared with
PY_PEERS = ("pyws", "aiohttp")
# asyncio rows: ws101.aio ("pyaio") against websockets, and ws101.asgi
# against the other ASGI servers running the same Starlette app
AIO_PEERS = {"pyws": "pyaio", "asgi-uvicorn": "asgi-ws101",
             "asgi-hypercorn": "asgi-ws101"}


def median(vals):
    vals = [v for v in vals if isinstance(v, (int, float))]
    return statistics.median(vals) if vals else None


def fmt(v, digits=1):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def summarize(raw, outdir, meta_path=None):
    rows = [json.loads(l) for l in open(raw) if l.strip()]
    order_w, order_s, groups = [], {}, {}
    for r in rows:
        w, s = r["workload"], r["server"]
        if w not in order_w:
            order_w.append(w)
        order_s.setdefault(w, [])
        if s not in order_s[w]:
            order_s[w].append(s)
        groups.setdefault((w, s), []).append(r)
    results = []
    for w in order_w:
        key, unit, higher = primary(w)
        no_mb = unit in ("hs/s", "B/conn")
        agg = {}
        for s in order_s[w]:
            g = groups[(w, s)]
            na = next((x.get("na") for x in g if x.get("na")), None)
            agg[s] = {
                "workload": w, "server": s, "unit": unit,
                "higher_is_better": higher, "rounds": len(g),
                "value": None if na else median([x.get(key) for x in g]),
                "mb_per_s": None if na or no_mb else median([x.get("mb_per_s") for x in g]),
                "p50_us": None if na else median([x.get("p50_us") for x in g]),
                "p99_us": None if na else median([x.get("p99_us") for x in g]),
                "errors": sum(int(x.get("errors") or 0) for x in g),
                "samples": [x.get(key) for x in g],
                "na": na,
                "note": next((x.get("note") for x in g if x.get("note")), None),
            }
            if "deflate" in w and not na:
                msgs = sum(int(x.get("messages") or 0) for x in g)
                comp = sum(int(x.get("compressed_echoes") or 0) for x in g)
                neg = median([x.get("deflate_negotiated") for x in g])
                agg[s]["note"] = (f"deflate on {neg:.0f} conns, "
                                  f"{100.0 * comp / msgs if msgs else 0:.0f}% echoes compressed")
        base = agg.get("ws101", {}).get("value")
        pybase = agg.get("pyws101", {}).get("value")
        for s, a in agg.items():
            a["ratio_ws101_over_peer"] = (
                base / a["value"] if s != "ws101" and base and a["value"] else None)
            # the Python binding against the Python peers (same direction)
            a["ratio_pyws101_over_peer"] = (
                pybase / a["value"] if s in PY_PEERS and pybase and a["value"] else None)
            ours = agg.get(AIO_PEERS.get(s, ""), {}).get("value")
            a["ratio_aio_over_peer"] = (
                ours / a["value"] if ours and a["value"] else None)
            results.append(a)

    hdr = ["workload", "server", "value", "unit", "MB/s", "p50 us", "p99 us",
           "errors", "ws101/peer", "pyws101/peer", "aio|asgi/peer", "note"]
    table = [hdr]
    for a in results:
        table.append([
            a["workload"], a["server"],
            a["na"] if a["na"] else fmt(a["value"]), a["unit"],
            fmt(a["mb_per_s"], 2), fmt(a["p50_us"]), fmt(a["p99_us"]),
            str(a["errors"]),
            f"{a['ratio_ws101_over_peer']:.2f}" if a["ratio_ws101_over_peer"] else "",
            f"{a['ratio_pyws101_over_peer']:.2f}" if a["ratio_pyws101_over_peer"] else "",
            f"{a['ratio_aio_over_peer']:.2f}" if a["ratio_aio_over_peer"] else "",
            a["note"] or "",
        ])
    widths = [max(len(r[i]) for r in table) for i in range(len(hdr))]
    for i, r in enumerate(table):
        print("  ".join(c.ljust(widths[j]) if j < 2 or j == 3 else c.rjust(widths[j])
                        for j, c in enumerate(r)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print("value: median over rounds (msg/s, req/s, hs/s: higher is better; "
          "B/conn: lower is better). ratio = ws101 value / peer value; "
          "pyws101/peer = the Python binding / Python websockets or aiohttp; "
          "aio|asgi/peer = ws101.aio (pyaio) / websockets (pyws), "
          "ws101.asgi / uvicorn or hypercorn (same Starlette app).")

    meta = json.load(open(meta_path)) if meta_path else {}
    with open(f"{outdir}/latest.json", "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    with open(f"{outdir}/latest.csv", "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["workload", "server", "value", "unit", "mb_per_s", "p50_us",
                     "p99_us", "errors", "rounds", "ratio_ws101_over_peer",
                     "ratio_pyws101_over_peer", "ratio_aio_over_peer", "na",
                     "note"])
        for a in results:
            wr.writerow([a["workload"], a["server"], a["value"], a["unit"],
                         a["mb_per_s"], a["p50_us"], a["p99_us"], a["errors"],
                         a["rounds"], a["ratio_ws101_over_peer"],
                         a["ratio_pyws101_over_peer"], a["ratio_aio_over_peer"],
                         a["na"] or "",
                         a["note"] or ""])


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "wrk":
        print(json.dumps(parse_wrk(sys.argv[2])))
    elif len(sys.argv) >= 3 and sys.argv[1] == "h2load":
        print(json.dumps(parse_h2load(sys.argv[2])))
    elif len(sys.argv) >= 4 and sys.argv[1] == "summarize":
        summarize(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
