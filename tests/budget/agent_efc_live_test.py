#!/usr/bin/env python3
"""EFC live inside `gannet agent` (#22), end to end: a real `gannet serve --no-model --tools workspace`
serves the tools; the model is a small real HTTP server in this file that speaks the OpenAI chat API
with scripted tool calls (the shipped model never calls tools, so a deterministic tool-calling model
has to be scripted; nothing else is replaced).

Asserts: every tool_call line of the transcript carries its axis verdicts and the run ends with an
"efc" event; the transcript's EFC equals, per agent, `gannet agent efc-replay` (the scorer run
offline on the logged events) and the summary line; a run that follows fresh results earns credit
and is never stalled; a run whose tool results repeat is sent exactly one replan note (which reaches
the model) and then stopped with stop_reason "efc_stall", while without --efc-stop it runs to
--max-steps.

usage: agent_efc_live_test.py GANNET_BIN
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from gannet_test import check, failures, start_serve  # noqa: E402

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo",
         "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform"]
REQUESTS = []  # every chat request the scripted model received: (model, messages)


def tool_call(n, path):
    return {"id": f"call_{n}", "type": "function",
            "function": {"name": "read_file", "arguments": json.dumps({"path": path})}}


def scripted_reply(model, messages):
    """model "repeat": reads note.txt forever. model "chain": reads the file the last result names and
    quotes the token it found (so the result is retained); answers when a file names no next one."""
    n = sum(1 for m in messages if m["role"] == "assistant")
    if model == "repeat":
        return "Reading note.txt again.", [tool_call(n, "note.txt")]
    tools = [m for m in messages if m["role"] == "tool"]
    if not tools:
        return "Starting at f1.txt.", [tool_call(n, "f1.txt")]
    last = tools[-1]["content"]
    token = re.search(r"token_\w+", last)
    nxt = re.search(r"next_file (\S+)", last)
    said = f"Found {token.group(0)}." if token else "Found nothing."
    if nxt:
        return said + f" Now reading {nxt.group(1)}.", [tool_call(n, nxt.group(1))]
    return said + " Done.", []


class Model(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.send_json(200, {"object": "list", "data": [{"id": "chain", "object": "model"}]})

    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        REQUESTS.append((req["model"], req["messages"]))
        content, calls = scripted_reply(req["model"], req["messages"])
        msg = {"role": "assistant", "content": content}
        if calls:
            msg["tool_calls"] = calls
        self.send_json(200, {"id": "x", "object": "chat.completion", "model": req["model"],
                             "choices": [{"index": 0, "message": msg,
                                          "finish_reason": "tool_calls" if calls else "stop"}],
                             "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})


def start_gannet(gannet, workspace, log_path):
    return start_serve(gannet, ["--no-model", "--tools", "workspace", "--workspace", workspace], log_path)


def run_agent(gannet, model_port, mcp_port, model, transcript, extra=()):
    cmd = [gannet, "agent", "--task", "Find the number that note.txt or the f*.txt chain leads to.",
           "--endpoint", f"http://127.0.0.1:{model_port}/v1", "--mcp", f"http://127.0.0.1:{mcp_port}/mcp",
           "--model", model, "--max-steps", "8", "--budget", "100000", "--transcript", transcript] + list(extra)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError(f"gannet agent failed ({p.returncode}): {p.stderr}")
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    events = [json.loads(line) for line in open(transcript)]
    return summary, events


def replay(gannet, transcript):
    p = subprocess.run([gannet, "agent", "efc-replay", "--transcript", transcript], capture_output=True, text=True,
                       timeout=60)
    if p.returncode != 0:
        raise RuntimeError("efc-replay failed: " + p.stderr)
    return json.loads(p.stdout.strip().splitlines()[-1])["agents"]


def check_live_equals_offline(name, gannet, summary, events, transcript):
    final = [e for e in events if e["event"] == "efc"]
    check(f"{name}: one efc event", len(final) == 1, final)
    calls = [e for e in events if e["event"] == "tool_call"]
    check(f"{name}: every tool_call has its axis verdicts",
          calls and all({"informative", "valid", "non_redundant", "provisional", "efc_so_far"} <= set(e["efc"])
                        for e in calls), calls[:1])
    offline = replay(gannet, transcript)["0"]
    check(f"{name}: transcript EFC == offline scorer", abs(final[0]["efc"] - offline["efc"]) < 1e-9,
          (final[0]["efc"], offline))
    check(f"{name}: D_task and event count match offline",
          final[0]["d_task"] == offline["d_task"] and final[0]["n_events"] == offline["n_events"] == len(calls),
          (final[0], offline))
    check(f"{name}: summary EFC == transcript", abs(summary["efc"] - final[0]["efc"]) < 1e-9, summary)
    return final[0]


def main():
    gannet = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="agent_efc_live.")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Model)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    model_port = server.server_address[1]
    ws = tmp + "/ws"
    subprocess.run(["mkdir", "-p", ws], check=True)
    with open(ws + "/note.txt", "w") as f:
        f.write("the answer is 42\n")
    for i in range(1, 6):
        words = " ".join(WORDS[(i * 4 + k) % len(WORDS)] + str(k) for k in range(4))
        nxt = f"next_file f{i + 1}.txt\n" if i < 5 else ""
        with open(f"{ws}/f{i}.txt", "w") as f:
            f.write(f"{words} token_{WORDS[i]}_{i}{i}{i}\n{nxt}")
    proc, mcp_port = start_gannet(gannet, ws, tmp + "/serve.log")
    try:
        s, ev = run_agent(gannet, model_port, mcp_port, "chain", tmp + "/chain.jsonl",
                          ["--efc-stop", "--efc-window", "3", "--efc-min-credit", "0.5"])
        fin = check_live_equals_offline("chain", gannet, s, ev, tmp + "/chain.jsonl")
        check("chain: answers after 5 reads, never stalled",
              s["stop_reason"] == "answer" and s["n_tool_calls"] == 5 and s["efc_replans"] == 0, s)
        check("chain: every read is credited (retained by the next action)",
              fin["efc"] > 0 and all(e["credit"] > 0 for e in fin["events"]), fin)

        s, ev = run_agent(gannet, model_port, mcp_port, "repeat", tmp + "/plain.jsonl")
        check_live_equals_offline("repeat without --efc-stop", gannet, s, ev, tmp + "/plain.jsonl")
        check("repeat without --efc-stop runs to --max-steps", s["stop_reason"] == "max_steps"
              and s["n_model_calls"] == 8 and not any(e["event"] == "efc_replan" for e in ev), s)
        flags = [e["efc"] for e in ev if e["event"] == "tool_call"]
        check("repeated results are redundant after the first",
              all(not f["non_redundant"] and f["provisional"] == 0 for f in flags[1:]), flags)

        REQUESTS.clear()
        s, ev = run_agent(gannet, model_port, mcp_port, "repeat", tmp + "/stop.jsonl",
                          ["--efc-stop", "--efc-window", "3", "--efc-min-credit", "0.5", "--efc-replans", "1"])
        check_live_equals_offline("repeat with --efc-stop", gannet, s, ev, tmp + "/stop.jsonl")
        replans = [e for e in ev if e["event"] == "efc_replan"]
        check("one replan after 3 stalled results, then a stop after 3 more",
              len(replans) == 1 and replans[0]["step"] == 2 and s["stop_reason"] == "efc_stall"
              and s["n_tool_calls"] == 6 and s["n_model_calls"] == 6, (s, replans))
        seen = [any(m["role"] == "user" and m["content"].startswith("[harness]") for m in msgs)
                for _, msgs in REQUESTS]
        check("the replan note reaches the model from the 4th call on", seen == [False] * 3 + [True] * 3, seen)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        server.shutdown()
    if failures:
        print(f"{len(failures)} check(s) failed; files kept in {tmp}")
        return 1
    shutil.rmtree(tmp)
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
