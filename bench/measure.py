#!/usr/bin/env python3
"""Sequential latency of em-metrics GET endpoints, and the server's memory.

usage: measure.py BASE_URL TOKEN PID RUNS  PATH [PATH ...]
Prints one line per path: median, p90, max (ms), then the server's RSS.
Standard library only, so it runs anywhere the service does.
"""
import http.client
import statistics
import sys
import time
import urllib.parse


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def main():
    base, token, pid, runs, paths = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:]
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"}
    for path in paths:
        timings = []
        for i in range(runs + 1):
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = response.read()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != 200:
                sys.exit(f"{path}: HTTP {response.status}: {body[:200]!r}")
            if i > 0:  # the first request warms the page cache and the statement cache
                timings.append(elapsed)
        timings.sort()
        p90 = timings[min(len(timings) - 1, int(0.9 * len(timings)))]
        print(f"{path}\n    median {statistics.median(timings):8.1f} ms   p90 {p90:8.1f} ms   "
              f"max {timings[-1]:8.1f} ms   ({runs} runs, {len(body)} bytes)")
    print(f"server RSS now {rss_kib(pid, 'VmRSS') / 1024:.1f} MiB, peak {rss_kib(pid, 'VmHWM') / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
