"""The soak driver behind tests/bench/soak: SESSIONS threads, each with its own
pgdoor session, loop over a realistic mix of requests for MINUTES while pgdoor's
RSS and open file descriptors are sampled. Exits 1 on any unexpected answer or
on drift of 5 % or more; writes the per-route table to OUT.

    python3 soak.py BASE PID MINUTES SESSIONS OUT
"""

import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.parse

BASE, PID, MINUTES, SESSIONS, OUT = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
HOST, PORT = urllib.parse.urlsplit(BASE).hostname, urllib.parse.urlsplit(BASE).port
DEADLINE = time.monotonic() + MINUTES * 60

lock = threading.Lock()
latencies = {}  # route -> [seconds]
failures = []   # (route, status, body)


def note(route, seconds, ok, status=None, body=""):
    with lock:
        latencies.setdefault(route, []).append(seconds)
        if not ok:
            failures.append((route, status, body[:300]))


class Tab:
    """One browser tab: a session bound by its cookie, on a keep-alive connection."""

    def __init__(self):
        conn = http.client.HTTPConnection(HOST, PORT, timeout=60)
        conn.request("GET", "/connect/default")
        answer = conn.getresponse()
        answer.read()
        location = answer.getheader("location") or ""
        self.session = location.split("session=")[-1]
        cookie = answer.getheader("set-cookie") or ""
        self.cookie = cookie.split(";")[0]
        if answer.status != 302 or not self.session:
            raise SystemExit(f"/connect answered {answer.status}")
        self.conn = conn

    def call(self, method, path, form=None, read_all=True):
        headers = {"X-Session-ID": self.session, "Cookie": self.cookie}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                answer = self.conn.getresponse()
                data = answer.read() if read_all else b""
                return answer.status, data
            except (http.client.HTTPException, ConnectionError):
                # A keep-alive connection pgdoor closed between requests: open another.
                self.conn.close()
                self.conn = http.client.HTTPConnection(HOST, PORT, timeout=60)
                if attempt:
                    raise
        raise AssertionError("unreachable")


def timed(tab, route, method, path, form=None, expect=200, check=None):
    started = time.monotonic()
    status, data = tab.call(method, path, form)
    seconds = time.monotonic() - started
    text = data.decode("utf-8", "replace")
    ok = status == expect and (check is None or check(text))
    note(route, seconds, ok, status, text)
    return text


def cancel(tab):
    """A slow query on one connection, cancelled from another after 0.2 s."""
    result = {}

    def run():
        other = http.client.HTTPConnection(HOST, PORT, timeout=60)
        started = time.monotonic()
        other.request("POST", "/api/query", body=urllib.parse.urlencode({"query": "SELECT pg_sleep(5)"}),
                      headers={"X-Session-ID": tab.session, "Cookie": tab.cookie,
                               "Content-Type": "application/x-www-form-urlencoded"})
        answer = other.getresponse()
        result["status"], result["body"] = answer.status, answer.read().decode()
        result["seconds"] = time.monotonic() - started
        other.close()

    runner = threading.Thread(target=run)
    runner.start()
    time.sleep(0.2)
    timed(tab, "POST /api/cancel", "POST", "/api/cancel")
    runner.join()
    cancelled = result.get("status") == 400 and '"cancelled"' in result.get("body", "")
    note("POST /api/query (cancelled)", result.get("seconds", 0), cancelled, result.get("status"), result.get("body", ""))


def terminate(tab):
    """Kills the session's server process; the next request must reconnect."""
    info = json.loads(timed(tab, "GET /api/connection", "GET", "/api/connection"))
    pid = info.get("editor_pid")
    if pid:
        subprocess.run(["psql", "-X", "-q", "-U", "postgres", "-d", "postgres", "-c",
                        f"SELECT pg_terminate_backend({int(pid)})"], check=True, capture_output=True)
        time.sleep(0.05)
    timed(tab, "POST /api/query (after terminate)", "POST", "/api/query", {"query": "SELECT 1"},
          check=lambda t: '"reconnected":true' in t.replace(" ", ""))


def worker(index):
    rng = random.Random(index)
    tab = Tab()
    rounds = 0
    while time.monotonic() < DEADLINE:
        rounds += 1
        timed(tab, "GET /api/objects", "GET", "/api/objects")
        timed(tab, "GET /api/tables/:table", "GET", "/api/tables/soak.items")
        timed(tab, "GET /api/tables/:table/info", "GET", "/api/tables/soak.items/info")
        offset = rng.randrange(0, 49950)
        timed(tab, "GET /api/tables/:table/rows", "GET", f"/api/tables/soak.items/rows?limit=50&offset={offset}")
        category = rng.choice(["books", "games", "tools", "music"])
        timed(tab, "GET rows (filter)", "GET",
              f"/api/tables/soak.items/rows?limit=50&filter_column=category&filter_op=equal&filter_value={category}")
        timed(tab, "GET rows (sort)", "GET", "/api/tables/soak.items/rows?limit=50&sort_column=price&sort_order=DESC")
        timed(tab, "POST /api/query", "POST", "/api/query",
              {"query": f"SELECT category, count(*), avg(price) FROM soak.items WHERE id > {offset} GROUP BY 1"})
        timed(tab, "POST /api/explain", "POST", "/api/explain", {"query": "SELECT * FROM soak.items WHERE id = 7"})
        timed(tab, "POST /api/query?format=csv", "POST", "/api/query?format=csv",
              {"query": f"SELECT * FROM soak.items WHERE id > {offset % 40000} LIMIT 10000"},
              check=lambda t: t.count("\n") == 10001)
        if rounds % 5 == 0:
            cancel(tab)
        if rounds % 25 == 0:
            terminate(tab)
        time.sleep(rng.uniform(0.05, 0.3))


def sample():
    rss = int(next(l for l in open(f"/proc/{PID}/status") if l.startswith("VmRSS")).split()[1])
    fds = len(os.listdir(f"/proc/{PID}/fd"))
    return rss, fds


samples = []


def sampler():
    while time.monotonic() < DEADLINE:
        samples.append(sample())
        time.sleep(5)


threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(SESSIONS)]
watch = threading.Thread(target=sampler, daemon=True)
watch.start()
for t in threads:
    t.start()
for t in threads:
    t.join()
watch.join()


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def drift(index):
    fifth = max(1, len(samples) // 5)
    early = [s[index] for s in samples[fifth:2 * fifth]]
    late = [s[index] for s in samples[-fifth:]]
    return (sum(late) / len(late)) / (sum(early) / len(early)) - 1, sum(early) / len(early), sum(late) / len(late)


rss_drift, rss_early, rss_late = drift(0)
fd_drift, fd_early, fd_late = drift(1)
total = sum(len(v) for v in latencies.values())
lines = ["| route | requests | p50 | p99 |", "|---|---|---|---|"]
for route in sorted(latencies):
    values = latencies[route]
    lines.append(f"| {route} | {len(values):,} | {percentile(values, 50) * 1000:.1f} ms | {percentile(values, 99) * 1000:.1f} ms |")
lines += [
    "",
    "| measure | result | goal |",
    "|---|---|---|",
    f"| requests | {total:,} | – |",
    f"| unexpected answers (5xx or wrong) | {len(failures)} | 0 |",
    f"| RSS, second fifth → last fifth | {rss_early / 1024:.1f} MB → {rss_late / 1024:.1f} MB ({rss_drift * 100:+.1f} %) | < 5 % |",
    f"| open descriptors, second fifth → last fifth | {fd_early:.0f} → {fd_late:.0f} ({fd_drift * 100:+.1f} %) | < 5 % |",
]
with open(OUT, "w") as out:
    out.write("\n".join(lines) + "\n")
print("\n".join(lines))
for route, status, body in failures[:20]:
    print(f"unexpected: {route} answered {status}: {body}", file=sys.stderr)
sys.exit(1 if failures or abs(rss_drift) >= 0.05 or abs(fd_drift) >= 0.05 else 0)
