#!/usr/bin/env python3
"""`gannet agent` end to end against `gannet serve --budgets` with the default model and the workspace
tools: a parent delegates to 4 sub-agents that run concurrently on split budgets.

Asserts the harness and ledger mechanics (the shipped model is not trained for tool use, so task
success is not asserted): the children's shares and the parent's part sum to the budget; the
children overlap in time; nobody spends past its share; the server's ledger equals, to the token,
the usage in the transcript plus the tool costs, and the agent's own summary; a budget too small for
a call stops the agents without a request; a server budget smaller than the agent's is refused
with 429 and reported as such; `gannet agent budget-experiment` (2 runs per arm) reports that copied
counters overshoot and split budgets do not.

usage: agent_e2e_test.py GANNET_BIN
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from gannet_test import check, failures, start_serve as start_server  # noqa: E402,F401

MODEL_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "gannet-default.gguf")


def ledger(port, key):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/budget", headers={"Authorization": "Bearer " + key})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def run_agent(gannet, port, key, budget, transcript, extra=()):
    cmd = [gannet, "agent", "--task", "Read note.txt and report the number it contains.", "--endpoint",
           f"http://127.0.0.1:{port}/v1", "--api-key", key, "--budget", str(budget), "--delegate", "4",
           "--tool-cost", "3", "--max-steps", "3", "--max-tokens", "32", "--transcript", transcript] + list(extra)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    lines = p.stdout.strip().splitlines()
    summary = json.loads(lines[-1]) if lines else {}
    events = [json.loads(l) for l in open(transcript)] if os.path.exists(transcript) else []
    return p, summary, events


def main():
    gannet = sys.argv[1]
    work = tempfile.mkdtemp()
    ws = os.path.join(work, "ws")
    os.makedirs(ws)
    open(os.path.join(ws, "note.txt"), "w").write("the number is 42\n")
    open(os.path.join(work, "budgets.json"), "w").write(json.dumps({
        "budgets": [{"name": "agent", "key": "sk-agent-0001", "tokens": 1000000},
                    {"name": "tight", "key": "sk-tight-0001", "tokens": 150}],
        "tool_costs": {"default": 3}}))
    p, port = start_server(gannet, ["--budgets", os.path.join(work, "budgets.json"), "--tools", "workspace",
                                    "--workspace", ws, "--store", f"sqlite:{work}/ledger.db"],
                           os.path.join(work, "server.log"))
    try:
        budget = 40000
        proc, s, events = run_agent(gannet, port, "sk-agent-0001", budget, os.path.join(work, "t1.jsonl"))
        check("agent exits 0 with a JSON summary", proc.returncode == 0 and "spent_tokens" in s, proc.stderr)
        delegate = [e for e in events if e["event"] == "delegate"]
        check("the parent delegates to 4 children",
              len(delegate) == 1 and delegate[0]["n_children"] == 4 and len(s.get("children", [])) == 4, delegate)
        share = delegate[0]["share_tokens"] if delegate else 0
        check("the split conserves the budget", delegate and 4 * share + delegate[0]["kept_tokens"] == budget,
              delegate)
        starts = {e["agent"]: e["t_ms"] for e in events if e["event"] == "start"}
        finishes = {e["agent"]: e["t_ms"] for e in events if e["event"] == "finish"}
        kids = [a for a in starts if a.startswith("0.")]
        check("the children run concurrently (each starts before any finishes)",
              len(kids) == 4 and max(starts[a] for a in kids) < min(finishes[a] for a in kids), (starts, finishes))
        calls = [e for e in events if e["event"] == "model_call" and e["http_status"] == 200]
        tools = [e for e in events if e["event"] == "tool_call" and e["is_called"]]
        used = sum(e["usage"]["prompt_tokens"] + e["usage"]["completion_tokens"] for e in calls)
        check("every call was billed no more than it reserved",
              all(e["usage"]["prompt_tokens"] + e["usage"]["completion_tokens"] <= e["reserved_tokens"] for e in calls))
        for kid in s.get("children", []):
            check(f"child {kid['agent']} spent within its share", kid["spent_tokens"] <= share, kid)
        l = ledger(port, "sk-agent-0001")
        check("ledger == transcript usage + tool costs, to the token", l["spent_tokens"] == used + 3 * len(tools),
              (l, used, len(tools)))
        check("ledger == the agent's own accounting",
              l["spent_tokens"] == s["spent_tokens"] and s["billed_tokens"] == used and s["violations"] == 0, (l, s))
        check("leftover == budget - spent", s["leftover_tokens"] == budget - s["spent_tokens"], s)
        check("nothing left reserved in the ledger", l["reserved_tokens"] == 0, l)
        check("at least 5 model calls (4 children + the parent)", len(calls) >= 5, len(calls))

        # The tokenizer estimator is exact: every reservation's prompt part equals the billed prompt.
        proc, s, events = run_agent(gannet, port, "sk-agent-0001", budget, os.path.join(work, "t4.jsonl"),
                                    ["--estimator", "adaptive", "--tokenizer", MODEL_FILE])
        calls = [e for e in events if e["event"] == "model_call" and e["http_status"] == 200]
        check("--estimator adaptive: prompt estimates are exact",
              proc.returncode == 0 and calls and all(e["prompt_estimate"] == e["usage"]["prompt_tokens"] for e in calls),
              [(e["prompt_estimate"], e["usage"]["prompt_tokens"]) for e in calls][:5])

        # A budget too small for one reservation: every agent stops before calling.
        before = ledger(port, "sk-agent-0001")["spent_tokens"]
        proc, s, events = run_agent(gannet, port, "sk-agent-0001", 50, os.path.join(work, "t2.jsonl"))
        check("a too-small budget stops every agent without a request",
              proc.returncode == 0 and s["stop_reason"] == "budget" and s["n_model_calls"] == 0
              and all(k["stop_reason"] == "budget" for k in s["children"])
              and ledger(port, "sk-agent-0001")["spent_tokens"] == before, s)

        # The server's budget for this key (150) is below the agent's: the server refuses with 429.
        proc, s, events = run_agent(gannet, port, "sk-tight-0001", budget, os.path.join(work, "t3.jsonl"))
        refused = [e for e in events if e["event"] == "model_call" and e["http_status"] == 429]
        t = ledger(port, "sk-tight-0001")
        check("the server refuses calls past its own budget (429), reported as server_refused",
              proc.returncode == 0 and refused and any(k["stop_reason"] == "server_refused" for k in s["children"]),
              (s, refused[:1]))
        check("the server's cap holds", t["spent_tokens"] <= 150 and t["reserved_tokens"] == 0, t)

        # The paper's experiments, briefly: copied counters overshoot, split budgets never do.
        exp = subprocess.run([gannet, "agent", "budget-experiment", "--endpoint", f"http://127.0.0.1:{port}/v1",
                              "--api-key", "sk-agent-0001", "--runs", "2", "--stratified-runs", "12", "--json",
                              "--tokenizer", MODEL_FILE],
                             capture_output=True, text=True, timeout=300)
        last = json.loads(exp.stdout.strip().splitlines()[-1]) if exp.returncode == 0 else {}
        check("budget-experiment: the last line has the summary keys",
              all(k in last for k in ("runs", "naive_overshoot", "split_overshoot", "violations", "false_refusals",
                                      "over_reservation")), exp.stderr[-500:])
        check("budget-experiment: naive fan-out overshoots, split does not, no violations",
              last.get("naive_overshoot") == 2 and last.get("split_overshoot") == 0 and last.get("violations") == 0
              and last.get("stratified_runs", 0) >= 12, last)
    finally:
        p.terminate()
        p.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
