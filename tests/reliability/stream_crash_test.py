#!/usr/bin/env python3
"""kill -9 of `gannet serve` while OpenAI-API responses stream (issue #23), over a small random model
(`gannet make-test-model`, 4096 context, EOS banned by logit_bias so a stream runs for seconds) with
--budgets, so every request leaves a record in the store (SQLite file or Redis): the budget ledger
"budget/<name>" = "SPENT RESERVED".

Promises checked: a client mid-stream sees a clean, prompt error (the chunked body ends early, no
`[DONE]`; every event it did get is whole JSON); the server restarts on the same store; nothing
accepted is lost (the usage of every stream that finished before the kill is in SPENT, exactly) and
no record is partial (SQLite: PRAGMA integrity_check; the ledger record parses; the streams that
died hold exactly their reservations, so the cap holds); the restarted server streams and bills again.

usage: stream_crash_test.py GANNET_BIN sqlite|redis
"""
import http.client
import json
import os
import signal
import socket
import sqlite3
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from gannet_test import check, failures, kill_and_clean, free_port, make_long_model, sse_events, start_serve  # noqa: E402
import gannet_test  # noqa: E402

KEY = "sk-crash-0001"
LIMIT = 10_000_000
HEADERS = {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"}
MESSAGES = [{"role": "user", "content": "Tell me a long story about a gannet."}]


N_CTX = 4096
LONG = 4000  # a cut stream's max_tokens: seconds of generation, so the kill lands mid-stream
EOS = "2"  # the test vocabulary's </s> (banned, so streams run to max_tokens)


def body(max_tokens, stream=True):
    b = {"model": "long", "messages": MESSAGES, "max_tokens": max_tokens, "temperature": 1.0, "seed": 7,
         "logit_bias": {EOS: -100}}
    if stream:
        b.update(stream=True, stream_options={"include_usage": True})
    return b


def budget(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/v1/budget", headers=HEADERS)
    r = conn.getresponse()
    data = json.loads(r.read())
    conn.close()
    return data


class Stream(threading.Thread):
    """One streamed chat completion, read event by event. After the run: events (parsed JSON),
    done ([DONE] seen), usage (the final usage chunk), error (the exception that ended it early),
    bad (event lines that were not whole JSON), seconds."""

    def __init__(self, port, max_tokens):
        super().__init__()
        self.port, self.max_tokens = port, max_tokens
        self.events, self.bad, self.done, self.usage, self.error = [], [], False, None, None
        self.first = threading.Event()
        self.t_end = None

    def run(self):
        try:
            for data in sse_events(self.port, body(self.max_tokens), HEADERS):
                if data == "[DONE]":
                    self.done = True
                    continue
                try:
                    ev = json.loads(data)
                except ValueError:
                    self.bad.append(data)
                    continue
                self.events.append(ev)
                if ev.get("usage"):
                    self.usage = ev["usage"]
                if len(self.events) >= 2:
                    self.first.set()
        except Exception as e:  # noqa: BLE001 — the cut connection's exception is the outcome under test
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self.t_end = time.time()
            self.first.set()


def store_record(kind, store_path, rport):
    """The raw ledger record, read from the store itself (not through gannet)."""
    if kind == "sqlite":
        con = sqlite3.connect(store_path)
        ok = con.execute("PRAGMA integrity_check").fetchone()[0]
        row = con.execute("SELECT value FROM kv WHERE key = 'budget/crash'").fetchone()
        con.close()
        check("sqlite file intact after kill -9", ok == "ok", ok)
        value = row[0] if row else None
    else:
        s = socket.create_connection(("127.0.0.1", rport), timeout=5)
        key = b"budget/crash"
        s.sendall(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(key), key))
        reply = s.recv(4096)
        s.close()
        value = reply.split(b"\r\n")[1] if reply.startswith(b"$") and not reply.startswith(b"$-1") else None
    if isinstance(value, bytes):
        value = value.decode()
    return value


def main():
    gannet, kind = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp()
    procs, redis, rport = [], None, None
    try:
        model = os.path.join(work, "long.gguf")
        make_long_model(gannet, model, N_CTX)
        with open(os.path.join(work, "budgets.json"), "w") as f:
            json.dump({"budgets": [{"name": "crash", "key": KEY, "tokens": LIMIT}]}, f)
        if kind == "redis":
            rport = free_port()
            redis = gannet_test.start_redis(rport, work, ["--appendonly", "yes", "--appendfsync", "always"])
            store, store_path = f"redis://127.0.0.1:{rport}", None
        else:
            store_path = os.path.join(work, "store.db")
            store = "sqlite:" + store_path
        args = ["-m", model, "--budgets", os.path.join(work, "budgets.json"), "--store", store, "--threads", "1",
                "--ctx", str(N_CTX), "--kv-blocks", str(8 * N_CTX // 16)]
        p, port = start_serve(gannet, args, os.path.join(work, "a.log"))
        procs.append(p)

        # Accepted and finished: two whole streams; their usage must be what the ledger holds.
        finished = [Stream(port, 8), Stream(port, 8)]
        for s in finished:
            s.start()
            s.join(60)
        check("streams before the kill finish with [DONE] and usage",
              all(s.done and s.usage and not s.error for s in finished), [(s.done, s.usage, s.error) for s in finished])
        billed = sum(s.usage["total_tokens"] for s in finished if s.usage)
        b = budget(port)
        check("the ledger holds exactly the finished streams' usage", b["spent_tokens"] == billed and
              b["reserved_tokens"] == 0, (b, billed))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/v1/chat/completions", json.dumps(body(1, stream=False)), HEADERS)
        n_prompt = json.loads(conn.getresponse().read())["usage"]["prompt_tokens"]
        conn.close()
        billed += n_prompt + 1

        # Four long streams; kill -9 once each has events on the wire.
        cut = [Stream(port, LONG) for _ in range(4)]
        for s in cut:
            s.start()
        for s in cut:
            s.first.wait(60)
        t_kill = time.time()
        p.send_signal(signal.SIGKILL)
        p.wait()
        for s in cut:
            s.join(30)
        alive = [s for s in cut if s.is_alive()]
        check("no client hangs after the kill", not alive, len(alive))
        ended = [s for s in cut if not s.is_alive()]
        died = [s for s in ended if not s.done]
        check("streams were cut mid-way (no [DONE]) and each client saw an error",
              len(died) == len(cut) and all(s.error and s.events for s in died),
              [(s.done, len(s.events), s.error) for s in cut])
        check("the clients' errors came promptly (< 5 s after the kill)",
              all(s.t_end - t_kill < 5 for s in ended), [round(s.t_end - t_kill, 2) for s in ended])
        check("every event a client got before the cut is whole JSON", not any(s.bad for s in cut),
              [s.bad[:1] for s in cut if s.bad])
        check("no cut stream ended with finish_reason", not any(
            c.get("finish_reason") for s in died for e in s.events for c in e.get("choices", [])))

        record = store_record(kind, store_path, rport)
        parts = (record or "").split(" ")
        check("the ledger record is whole: 'SPENT RESERVED'", len(parts) == 2 and all(x.isdigit() for x in parts),
              record)
        if len(parts) == 2 and all(x.isdigit() for x in parts):
            spent, reserved = int(parts[0]), int(parts[1])
            check("nothing accepted is lost: SPENT is exactly the finished requests' usage", spent == billed,
                  (spent, billed))
            want = len(died) * (n_prompt + LONG)
            check("the streams that died hold their reservations (the cap holds)", reserved == want, (reserved, want))

        p, port = start_serve(gannet, args, os.path.join(work, "b.log"))
        procs.append(p)
        b2 = budget(port)
        check("the restarted server reads the same ledger",
              b2["spent_tokens"] == billed and b2["limit_tokens"] == LIMIT, (b2, billed))
        again = Stream(port, 8)
        again.start()
        again.join(60)
        check("the restarted server streams to the end", again.done and again.usage and not again.error,
              (again.done, again.error))
        b3 = budget(port)
        check("... and bills that stream", again.usage and b3["spent_tokens"] == b2["spent_tokens"] +
              again.usage["total_tokens"], (b2, b3, again.usage))
    finally:
        kill_and_clean(work, procs + [redis])
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
