#!/usr/bin/env python3
"""Limits on real OpenAI-API streams (issue #23), over a small random model whose streams run for
seconds (EOS banned): `--max-requests-per-client 2` lets a client hold two /v1 streams and answers a
third with 429 + Retry-After until one ends; a 10x overload of `--max-requests-in-flight 4` with
streamed chat completions gets prompt 503 + Retry-After for every request beyond the bound, while
every admitted stream runs to its end ([DONE], usage = max_tokens), the server's RSS stays bounded
and it serves again afterwards.

usage: stream_limits_test.py GANNET_BIN
"""
import os
import re
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from gannet_test import check, dump_logs, failures, make_long_model, sse_events, start_serve  # noqa: E402


def body(max_tokens):
    return {"model": "long", "messages": [{"role": "user", "content": "Go on."}], "max_tokens": max_tokens,
            "stream": True, "stream_options": {"include_usage": True}, "logit_bias": {"2": -100}}


class Stream(threading.Thread):
    """One streamed request; after the run: status line, head, events, done, usage, error."""

    def __init__(self, port, max_tokens):
        super().__init__()
        self.port, self.max_tokens = port, max_tokens
        self.hang_up = threading.Event()  # set by the test: the client closes its socket mid-stream
        self.status, self.head, self.events, self.done, self.usage, self.error = "", "", 0, False, None, None
        self.streaming = threading.Event()
        self.seconds = None

    def on_head(self, status, head):
        self.status, self.head = status, head

    def run(self):
        t0 = time.time()
        try:
            for data in sse_events(self.port, body(self.max_tokens), {}, on_head=self.on_head):
                if data == "[DONE]":
                    self.done = True
                    continue
                self.events += 1
                if '"usage"' in data and '"choices":[]' in data:
                    self.usage = int(re.search(r'"completion_tokens":(\d+)', data).group(1))
                if self.events >= 2:
                    self.streaming.set()
                if self.hang_up.is_set():
                    return  # closes the socket: the client hangs up mid-stream
        except Exception as e:  # noqa: BLE001 — a refusal (RuntimeError with the status line) is an outcome
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self.seconds = time.time() - t0
            self.streaming.set()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def per_client(gannet, args, work):
    p, port = start_serve(gannet, args + ["--max-requests-per-client", "2"], os.path.join(work, "a.log"))
    try:
        first = Stream(port, 4000)
        second = Stream(port, 4000)
        for s in (first, second):
            s.start()
            s.streaming.wait(60)
        third = Stream(port, 4)
        third.start()
        third.join(30)
        check("per client: a third stream while two stream gets 429 + Retry-After",
              " 429 " in third.status and "retry-after" in third.head.lower(), (third.status, third.head))
        first.hang_up.set()
        first.join(60)
        ok = None
        for _ in range(100):  # the hung-up stream's slot comes back once the server notices the close
            again = Stream(port, 4)
            again.start()
            again.join(30)
            if " 200 " in again.status:
                ok = again
                break
            time.sleep(0.1)
        check("per client: once a stream's client hangs up, a new stream is admitted and ends",
              ok is not None and ok.done and ok.usage == 4, ok and (ok.status, ok.done, ok.usage, ok.error))
        check("per client: the other stream kept streaming", (second.is_alive() and second.error is None) or second.done,
              second.error)
    finally:
        p.kill()
        p.wait()


def overload(gannet, args, work):
    p, port = start_serve(gannet, args + ["--max-requests-in-flight", "4"], os.path.join(work, "b.log"))
    try:
        held = [Stream(port, 2000) for _ in range(4)]
        for s in held:
            s.start()
        for s in held:
            s.streaming.wait(60)
        rss_before = rss_kib(p.pid)
        extra = [Stream(port, 2000) for _ in range(36)]  # 40 at once: 10x the bound
        for s in extra:
            s.start()
        for s in extra:
            s.join(60)
        rss_after = rss_kib(p.pid)
        for s in held:
            s.join(120)
        refused = [s for s in extra if " 503 " in s.status]
        check("overload: the 36 beyond the bound get 503 + Retry-After",
              len(refused) == 36 and all("retry-after" in s.head.lower() for s in refused),
              [s.status.strip() for s in extra if s not in refused][:5])
        check("overload: refusals are prompt (< 5 s each)", all(s.seconds < 5 for s in refused),
              max((s.seconds for s in refused), default=0))
        check("overload: the 4 admitted streams run to their end ([DONE], 2000 tokens each)",
              all(s.done and s.usage == 2000 and not s.error for s in held),
              [(s.done, s.usage, s.error) for s in held])
        check("overload: RSS stays bounded (< 16 MiB growth)", rss_after - rss_before < 16 * 1024,
              f"{rss_before} -> {rss_after} KiB")
        print(f"     RSS {rss_before} -> {rss_after} KiB over {len(refused)} refused streams; admitted streams took "
              f"{max(s.seconds for s in held):.1f} s")
        after = Stream(port, 4)
        after.start()
        after.join(30)
        check("overload: serves again once the admitted streams ended", after.done and after.usage == 4,
              (after.status, after.error))
    finally:
        p.kill()
        p.wait()


def main():
    gannet = sys.argv[1]
    work = tempfile.mkdtemp()
    try:
        model = os.path.join(work, "long.gguf")
        make_long_model(gannet, model)
        args = ["-m", model, "--threads", "1", "--ctx", "4096", "--kv-blocks", "2048",
                "--store", "sqlite:" + os.path.join(work, "store.db")]
        per_client(gannet, args, work)
        overload(gannet, args, work)
    finally:
        dump_logs(work)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
