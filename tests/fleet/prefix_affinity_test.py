#!/usr/bin/env python3
"""Model servers past one machine: three `gannet serve` behind nginx with consistent hashing on the
agent's identity (the X-Session-Id header; docs/serving.md, "Several servers").

Agents replay growing conversations (a shared system prompt, a task of their own, then turns), each
request's prefix-cache hits read from usage.prompt_tokens_details.cached_tokens:
  1. one server: the reference hit rate;
  2. three servers, nginx `hash $http_x_session_id consistent`: every agent stays on one server and
     the hit rate stays at the one-server level (less only the shared system prompt, which each
     extra server computes once);
  3. the same three with round robin: the hit rate falls (what the hashing buys);
  4. hashed again, one server killed mid-replay: its agents move to one other server each, their
     next request recomputes only their own prefix (hits at most the shared system prompt) and the
     one after hits again; the other agents keep their server and their hits.

usage: prefix_affinity_test.py GANNET_BIN MODEL.gguf   (exit 0 when every check holds)
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

N_AGENTS = 7  # not a multiple of 3, so round robin does not happen to keep agents on one server
N_STEPS = 4
BLOCK = 16  # gannet's KV block: prefix hits come in whole blocks
SYSTEM = ("You are a careful software agent. You run one shell command per turn, read its output, "
          "and stop when the task is done. Keep answers short.")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_http(port, path="/health", timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(0.1)
    return False


def messages(agent, step):
    """Agent `agent`'s conversation before its request number `step` (0-based)."""
    m = [{"role": "system", "content": SYSTEM},
         {"role": "user", "content": f"Task {agent}: find why test_{agent}.py fails and fix module m{agent}."}]
    for k in range(step):
        m.append({"role": "assistant", "content": f"cat m{agent}/part{k}.py"})
        m.append({"role": "user", "content": f"def f{k}(x):\n    return x * {agent + k} + {k}  # part {k} of m{agent}"})
    return m


def ask(port, model, agent, step):
    """One request; returns (prompt_tokens, cached_tokens, upstream that served it)."""
    body = json.dumps({"model": model, "messages": messages(agent, step), "max_tokens": 4,
                       "temperature": 0}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=body, method="POST",
                                 headers={"Content-Type": "application/json", "X-Session-Id": f"agent-{agent}"})
    with urllib.request.urlopen(req, timeout=60) as r:
        upstream = r.headers.get("X-Upstream", "")
        usage = json.loads(r.read())["usage"]
    return usage["prompt_tokens"], usage["prompt_tokens_details"]["cached_tokens"], upstream


class Fleet:
    """n servers, optionally behind nginx (policy: 'hash' or 'round_robin')."""

    def __init__(self, gannet, model, work, n, policy=None):
        self.work, self.procs, self.ports, self.nginx = work, [], [], None
        for i in range(n):
            port = free_port()
            log = open(os.path.join(work, f"s{port}.log"), "w")
            self.procs.append(subprocess.Popen([gannet, "serve", "-m", model, "--port", str(port), "-t", "1",
                                                "--store", f"sqlite:{work}/store{port}.db"],
                                               stdout=log, stderr=subprocess.STDOUT))
            self.ports.append(port)
        for port in self.ports:
            assert wait_http(port), open(os.path.join(work, f"s{port}.log")).read()
        self.port = self.ports[0]
        if policy:
            self.port = free_port()
            conf = os.path.join(work, f"nginx{self.port}.conf")
            balance = "hash $http_x_session_id consistent;" if policy == "hash" else ""
            servers = " ".join(f"server 127.0.0.1:{p} max_fails=1 fail_timeout=30s;" for p in self.ports)
            with open(conf, "w") as f:
                f.write(f"""
pid {work}/nginx{self.port}.pid; error_log {work}/nginx{self.port}.err warn; worker_processes 1;
events {{ worker_connections 256; }}
http {{
  access_log off; client_body_temp_path {work}/b; proxy_temp_path {work}/p; fastcgi_temp_path {work}/f;
  uwsgi_temp_path {work}/u; scgi_temp_path {work}/s;
  upstream models {{ {balance} {servers} }}
  server {{
    listen 127.0.0.1:{self.port};
    location / {{
      proxy_pass http://models; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header Host $http_host;  # the client's Host: /v1 refuses a non-loopback one on a loopback server
      proxy_buffering off; proxy_read_timeout 120s;
      proxy_next_upstream error timeout; proxy_connect_timeout 1s;
      add_header X-Upstream $upstream_addr always;
    }}
  }}
}}
""")
            self.nginx = subprocess.Popen(["nginx", "-c", conf, "-p", work, "-g", "daemon off;"],
                                          stderr=open(os.path.join(work, f"nginx{self.port}.stderr"), "w"))
            end = time.time() + 10
            while time.time() < end:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.05)

    def kill(self, port):
        i = self.ports.index(port)
        self.procs[i].kill()
        self.procs[i].wait()

    def close(self):
        if self.nginx:
            self.nginx.terminate()
            self.nginx.wait()
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                p.wait()


def replay(fleet, model, steps, on_step=None):
    """Every agent's requests `steps`, agents interleaved; returns {(agent, step): (prompt, cached, upstream)}."""
    out = {}
    for step in steps:
        if on_step:
            on_step(step, out)
        for agent in range(N_AGENTS):
            out[(agent, step)] = ask(fleet.port, model, agent, step)
    return out


def hit_rate(results):
    return sum(c for _, c, _ in results.values()) / sum(p for p, _, _ in results.values())


def main():
    gannet, model_path = sys.argv[1], sys.argv[2]
    model = os.path.basename(model_path)[:-len(".gguf")]
    work = tempfile.mkdtemp()
    failures = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            failures.append(what)

    fleets = []
    try:
        one = Fleet(gannet, model_path, work, 1)
        fleets.append(one)
        r1 = replay(one, model, range(N_STEPS))
        one.close()
        h1 = hit_rate(r1)
        system_tokens = r1[(0, 0)][0]  # a whole first prompt
        # The shared prefix all agents hit: what agent 1's first request found cached after agent 0's.
        shared = r1[(1, 0)][1]
        check(shared > 0 and shared % BLOCK == 0, f"one server: agents share the system prompt ({shared} tokens)")
        check(shared < system_tokens, "the shared prefix is shorter than a whole first prompt")

        hashed = Fleet(gannet, model_path, work, 3, "hash")
        fleets.append(hashed)
        r3 = replay(hashed, model, range(N_STEPS))
        hashed.close()
        h3 = hit_rate(r3)
        total = sum(p for p, _, _ in r3.values())
        sticky = all(len({r3[(a, s)][2] for s in range(N_STEPS)}) == 1 for a in range(N_AGENTS))
        check(sticky, "hash: every agent stays on one server")
        used = {r3[(a, 0)][2] for a in range(N_AGENTS)}
        check(len(used) >= 2, f"hash: agents spread over {len(used)} servers")
        # Each server beyond the first computes the shared prefix once more; nothing else may be lost.
        floor = h1 - (len(used) - 1) * shared / total - 1e-9
        check(h3 >= floor, f"hash: hit rate {h3:.3f} vs one server {h1:.3f} (floor {floor:.3f})")

        rr = Fleet(gannet, model_path, work, 3, "round_robin")
        fleets.append(rr)
        r_rr = replay(rr, model, range(N_STEPS))
        rr.close()
        h_rr = hit_rate(r_rr)
        check(h_rr < h3, f"round robin: hit rate {h_rr:.3f} is below hashing's {h3:.3f}")

        killed = {}
        fleet = Fleet(gannet, model_path, work, 3, "hash")
        fleets.append(fleet)

        def kill_before_step_2(step, out):
            if step == 2:
                victim = out[(0, 1)][2]  # agent 0's server
                killed["addr"] = victim
                fleet.kill(int(victim.rsplit(":", 1)[1]))

        rk = replay(fleet, model, range(N_STEPS), kill_before_step_2)
        fleet.close()
        victim = killed["addr"]
        moved = [a for a in range(N_AGENTS) if rk[(a, 1)][2] == victim]
        stayed = [a for a in range(N_AGENTS) if a not in moved]
        check(all(rk[(a, s)][0] > 0 for a in range(N_AGENTS) for s in range(N_STEPS)),
              "kill: every request of every agent was answered")
        for a in moved:
            # nginx reports the dead upstream too on the retried request: the last address served it.
            new = {rk[(a, s)][2].split(",")[-1].strip() for s in (2, 3)}
            check(len(new) == 1 and victim not in new, f"kill: agent {a} moved to one other server {new}")
            check(rk[(a, 2)][1] <= shared, f"kill: agent {a}'s first request there hits only the shared prefix "
                                           f"({rk[(a, 2)][1]} <= {shared})")
            want = (rk[(a, 2)][0] // BLOCK) * BLOCK
            check(rk[(a, 3)][1] >= want - BLOCK, f"kill: agent {a} hits again next ({rk[(a, 3)][1]} of "
                                                 f"{rk[(a, 3)][0]}, its previous prompt {rk[(a, 2)][0]})")
        for a in stayed:
            check({rk[(a, s)][2] for s in range(N_STEPS)} == {rk[(a, 0)][2]}, f"kill: agent {a} kept its server")
            check(rk[(a, 3)][1] >= (rk[(a, 2)][0] // BLOCK - 1) * BLOCK, f"kill: agent {a} kept its hits")
        check(len(moved) >= 1, f"kill: {len(moved)} agents were on the killed server")
    finally:
        for f in fleets:
            f.close()
        if not failures:
            shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"{len(failures)} checks failed; logs in {work}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
