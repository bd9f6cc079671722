"""Throughput of the whole pipeline through the HTTP endpoint, against the latency limit.

Starts ``apigen-mt serve`` (the sim model) as a subprocess, so the server's CPU is not on
the pipeline's GIL, with latency L and jitter J per request. Then:

1. **Latency-bound**: ``apigen-mt run --env retail`` (a subprocess) over N conversations at
   concurrency C through the endpoint (``max_concurrency: C``). Prints achieved model
   calls/s, the ideal C/L̄ (L̄ = L + J/2, the mean latency: with C requests always in flight
   nothing can do better), efficiency = achieved / ideal over the whole run and over its
   saturated middle, per phase (blueprints, rollouts), the mean number of requests in
   flight at the server (Little's law: calls/s = in-flight / latency), pipeline CPU ms per
   model call (the run process's CPU time / calls), the server's, and the run's peak RSS.
2. **CPU-bound** (zero latency): the pipeline's calls/s next to bare loops of the
   ``openai`` ``AsyncOpenAI`` client at the same concurrency against the same server,
   sending exactly the requests of a recorded run: ``chat.completions.create`` (the SDK's
   usual path) and ``client.post`` of the JSON body (the path the pipeline's adapter
   takes), with the ratios.

By default the server answers from a response cache warmed by a first, zero-latency run
of the same command (``--cold-server``: it computes every answer), so its CPU is not what
is measured. The last line is one JSON object.

The efficiency counts every request the server answered, cancelled work included: a run
that started episodes only to fill its tail would score higher with calls thrown away.

Phase windows: phase 1's runs from the first request to the moment ``run`` prints phase
1's closing line (``… accepted (+…``), which it does as soon as the last blueprint is
committed; phase 2's from there to the process's exit. ``run`` overlaps the phases (first
trials of accepted blueprints play while phase 1 still drafts, on the endpoint slots it
leaves idle), so phase 1's window also holds those rollout requests: each window's
efficiency is every request answered in it over the ideal, i.e. "is the endpoint
saturated while this phase runs", not "how fast is this phase's own work".
``--timeline FILE`` writes the latency-bound run's in-flight count per sample.

    .venv/bin/python scripts/bench_pipeline.py                    # C=64, L=200 ms, N=300
    .venv/bin/python scripts/bench_pipeline.py --n 100 --concurrency 32 --latency-ms 100
    .venv/bin/python scripts/bench_pipeline.py --skip-zero --timeline /tmp/tl.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx2

ROLES = ("drafter", "feedback", "human", "critic", "agent")
# Items (slots, episodes) in flight per request the endpoint may hold: an item spends a
# little time on the client between its requests (tools, judging, bookkeeping) and
# phase-1 slots make 1 to 3 requests at a time, so exactly C items leave the endpoint's
# C slots partly idle. The endpoint cap (`max_concurrency: C`) still bounds requests.
OVERSUBSCRIBE = {"factor": 1.25}


def items_for(c: int) -> int:
    """``--concurrency`` for the run: items in flight for an endpoint that holds ``c``."""
    return max(c, round(c * OVERSUBSCRIBE["factor"]))
TICK = os.sysconf("SC_CLK_TCK")


def start_server(latency_ms: float, jitter_ms: float,
                 cache: Path | None = None) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "apigen_mt.cli.model", "serve", "--port", "0",
           "--latency-ms", str(latency_ms), "--jitter-ms", str(jitter_ms)]
    if cache is not None:
        cmd += ["--cache", str(cache)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    found = re.search(r"(http://\S+)", line)
    if not found:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, found.group(1)


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def stats(url: str) -> dict[str, Any]:
    return httpx2.get(url.rsplit("/v1", 1)[0] + "/stats").json()


def reset(url: str) -> None:
    httpx2.post(url.rsplit("/v1", 1)[0] + "/stats")


def write_config(folder: Path, url: str, concurrency: int, drafter: str = "llm") -> Path:
    roles = "\n".join(f'  {r}: {{model: "local:sim"}}' for r in ROLES)
    path = folder / "bench.yaml"
    path.write_text(f"""roles:
{roles}
  reviewers: [{{model: "local:sim"}}, {{model: "local:sim"}}, {{model: "local:sim"}}]
endpoints:
  local: {{base_url: "{url}", api_key_required: false, timeout_s: 120, max_retries: 2,
          max_concurrency: {concurrency}}}
blueprint: {{drafter: {drafter}, example_lag: {2 * items_for(concurrency)}}}
""")
    return path


class Sampler:
    """Polls the server's counters every ``period`` s while a run goes on."""

    def __init__(self, url: str, server_pid: int, period: float = 0.25):
        self.url = url
        self.pid = server_pid
        self.client_pid: int | None = None  # the pipeline process, once started
        self.period = period
        # (t, requests, busy_s, server CPU s, pipeline CPU s)
        self.samples: list[tuple[float, int, float, float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        with httpx2.Client() as client:
            root = self.url.rsplit("/v1", 1)[0] + "/stats"
            while not self._stop.is_set():
                s = client.get(root).json()
                try:
                    mine = cpu_seconds(self.client_pid) if self.client_pid else 0.0
                except (FileNotFoundError, ProcessLookupError):  # it has exited
                    mine = self.samples[-1][4] if self.samples else 0.0
                self.samples.append((time.perf_counter(), s["requests"], s["busy_s"],
                                     cpu_seconds(self.pid), mine))
                self._stop.wait(self.period)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def between(self, t0: float, t1: float) -> tuple[int, float, float, float, float]:
        """(requests, mean in flight, seconds, server and pipeline CPU shares of a core)
        between two times (nearest samples)."""
        a = min(self.samples, key=lambda s: abs(s[0] - t0))
        b = min(self.samples, key=lambda s: abs(s[0] - t1))
        dt = max(b[0] - a[0], 1e-9)
        return (b[1] - a[1], (b[2] - a[2]) / dt, dt, (b[3] - a[3]) / dt,
                (b[4] - a[4]) / dt)

    def middle(self, lo: float = 0.1,
               hi: float = 0.9) -> tuple[int, float, float, float, float]:
        """The same between the moments lo and hi of all the calls were made."""
        total = self.samples[-1][1]
        a = next(s for s in self.samples if s[1] >= lo * total)
        b = next(s for s in self.samples if s[1] >= hi * total)
        return self.between(a[0], b[0])

    def first_request_time(self) -> float:
        return next(s[0] for s in self.samples if s[1] > 0)


def run_cli(args: list[str], env: dict[str, str], sampler: Sampler | None = None) -> dict[str, Any]:
    """One `apigen-mt` subprocess: wall time, its CPU time and peak RSS (wait4), and its
    output lines with the time each appeared."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "apigen_mt", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if sampler is not None:
        sampler.client_pid = proc.pid
    stamps: list[tuple[float, str]] = []

    def read() -> None:
        for line in proc.stdout or []:
            stamps.append((time.perf_counter(), line))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    reader.join()
    err = proc.stderr.read() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"`apigen-mt {' '.join(args)}` failed: {err.strip()}")
    return {"started": started, "ended": started + wall, "wall_s": wall,
            "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024,
            "stamps": stamps}


def warm_cache(cache: Path, n: int, c: int, work: Path, drafter: str) -> None:
    """Run the same command once against a zero-latency server that caches its answers:
    the measured run then gets every answer from that cache, so the served sim costs
    the server no CPU and the benchmark measures the pipeline, not the sim."""
    server, url = start_server(0, 0, cache)
    try:
        config = write_config(work, url, c, drafter)
        env = {k: v for k, v in os.environ.items() if not k.startswith("APIGEN_MT_")}
        env.update(APIGEN_MT_RUNS=str(work / "runs"), COLUMNS="200")
        run_cli(["run", "--env", "retail", "--n", str(n), "--quiet", "--concurrency",
                 str(items_for(c)),
                 "--out", str(work / f"warm-{n}-{c}"), "--config", str(config)], env)
    finally:
        server.terminate()
        server.wait(10)


def pipeline(url: str, server_pid: int, n: int, c: int, work: Path, tag: str,
             ideal: float | None, drafter: str = "llm") -> dict[str, Any]:
    """`apigen-mt run` through the endpoint; figures from the server's counters."""
    config = write_config(work, url, c, drafter)
    env = {k: v for k, v in os.environ.items() if not k.startswith("APIGEN_MT_")}
    env.update(APIGEN_MT_RUNS=str(work / "runs"), COLUMNS="200")
    reset(url)
    server_cpu = cpu_seconds(server_pid)
    with Sampler(url, server_pid) as sampler:
        r = run_cli(["run", "--env", "retail", "--n", str(n), "--quiet", "--concurrency",
                     str(items_for(c)), "--out", str(work / f"run-{tag}"), "--config",
                     str(config)], env, sampler)
    server_cpu = cpu_seconds(server_pid) - server_cpu
    calls = stats(url)["requests"]
    first = sampler.first_request_time()
    # phase 1 ends when `run` prints the blueprint phase's closing line
    boundary = next((t for t, line in r["stamps"] if " accepted (+" in line), r["ended"])
    p1 = sampler.between(first, boundary)
    p2 = sampler.between(boundary, r["ended"])
    mid = sampler.middle()
    timeline = {"boundary_s": boundary - first, "end_s": r["ended"] - first,
                "samples": [[round(b[0] - first, 3), b[1],
                             round((b[2] - a[2]) / max(b[0] - a[0], 1e-9), 1)]
                            for a, b in itertools.pairwise(sampler.samples)]}
    out = {**r, "timeline": timeline, "calls": calls, "calls_per_s": calls / r["wall_s"],
           "serving_s": r["ended"] - first, "startup_s": first - r["started"],
           "cpu_ms_per_call": r["cpu_s"] / max(calls, 1) * 1000,
           "server_cpu_ms_per_call": server_cpu / max(calls, 1) * 1000,
           "phases": {}}
    for name, (reqs, inflight, dt, server_busy, own_busy) in (
            ("blueprints", p1), ("rollouts", p2), ("middle", mid)):
        out["phases"][name] = {"calls": reqs, "seconds": dt, "calls_per_s": reqs / dt,
                               "in_flight": inflight, "server_cpu": server_busy,
                               "pipeline_cpu": own_busy,
                               "efficiency": reqs / dt / ideal if ideal else None}
    return out


def drain(timeline: dict[str, Any], c: int) -> dict[str, Any]:
    """The run's end: from the last sample with 90 % of the slots busy to exit, and the
    share of phase 2's ideal calls (its window at C/L̄) that this tail left idle."""
    samples, end, boundary = timeline["samples"], timeline["end_s"], timeline["boundary_s"]
    last = next((i for i in range(len(samples) - 1, -1, -1) if samples[i][2] >= 0.9 * c),
                0)
    start = samples[last][0]
    calls = samples[-1][1] - samples[last][1]
    window = max(end - boundary, 1e-9)
    idle = sum((c - s[2]) * (s[0] - p[0]) for p, s in itertools.pairwise(samples[last:]))
    return {"seconds": end - start, "calls": calls,
            "lost_share": idle / (c * window)}


def phase2_counts(stamps: list[tuple[float, str]]) -> dict[str, int]:
    """Episodes phase 2 started and cancelled, from `run`'s closing line for it."""
    text = " ".join(line.strip() for _, line in stamps)
    scheduled = re.search(r"(\d+) episodes\s+scheduled", text)
    cancelled = re.search(r"(\d+) cancelled\s+at the\s+stop of (\d+) episodes", text)
    return {"scheduled": int(scheduled.group(1)) if scheduled else -1,
            "cancelled": int(cancelled.group(1)) if cancelled else 0}


# --- the bare client ---------------------------------------------------------------------------

RECORD = """
import json, sys
from apigen_mt.config import Endpoint
from apigen_mt.llm.openai_adapter import OpenAIChatModel
from apigen_mt.sim import SimModel
shape = OpenAIChatModel("local:sim", "sim", Endpoint(base_url="http://127.0.0.1:9/v1"))
bodies = []
_complete = SimModel.complete
async def complete(self, messages, tools=None, settings=None):
    bodies.append(shape._request(messages, tools, settings))  # exactly what the adapter sends
    return await _complete(self, messages, tools, settings)
SimModel.complete = complete
from apigen_mt.cli import app
try:
    app(["run", "--env", "retail", "--n", sys.argv[2], "--quiet", "--out", sys.argv[3]],
        standalone_mode=False)
finally:
    with open(sys.argv[1], "w") as fh:
        fh.writelines(json.dumps(b) + "\\n" for b in bodies)
"""


def record_requests(work: Path, n: int) -> Path:
    """The requests of a real run of ``n`` conversations, as the endpoint receives them."""
    path = work / "requests.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("APIGEN_MT_")}
    env["APIGEN_MT_RUNS"] = str(work / "runs")
    subprocess.run([sys.executable, "-c", RECORD, str(path), str(n), str(work / "recorded")],
                   env=env, check=True, capture_output=True)
    return path


BARE = """
import asyncio, json, sys, time
import httpx2, openai, orjson
url, concurrency, path, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
bodies = [json.loads(line) for line in open(path)]
async def main():
    http = openai.DefaultAsyncHttpx2Client(limits=httpx2.Limits(
        max_connections=max(100, 2 * concurrency),
        max_keepalive_connections=max(100, 2 * concurrency)))
    client = openai.AsyncOpenAI(base_url=url, api_key="EMPTY", max_retries=0, timeout=120,
                                http_client=http)
    from apigen_mt.llm.openai_adapter import EndpointRuntime
    from apigen_mt.llm.settings import Endpoint
    runtime = EndpointRuntime("local", Endpoint(base_url=url, max_concurrency=concurrency))
    poster = runtime.ensure().poster
    async def call(body):
        if mode == "sdk":  # the SDK's usual path: keyword arguments, transformed and encoded
            await client.chat.completions.with_raw_response.create(**body)
        elif mode == "post":  # the same request, its JSON body posted by the SDK's client
            await client.post("/chat/completions", cast_to=httpx2.Response,
                              content=orjson.dumps(body),
                              options={"headers": {"Content-Type": "application/json"}})
        else:  # the same JSON body through the adapter's own HTTP client, nothing else
            reply = await poster.post("/chat/completions", orjson.dumps(body))
            assert reply.status == 200, reply.status
    await call(bodies[0])
    queue = iter(bodies)
    async def worker():
        for body in queue:
            await call(body)
    cpu0, started = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    print(json.dumps({"calls": len(bodies), "seconds": wall, "cpu_s": cpu}))
    await runtime.aclose()
asyncio.run(main())
"""


def bare_client(url: str, concurrency: int, requests: Path, mode: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", BARE, url, str(concurrency), str(requests), mode],
                         check=True, capture_output=True, text=True)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    data["calls_per_s"] = data["calls"] / data["seconds"]
    data["cpu_ms_per_call"] = data["cpu_s"] / max(data["calls"], 1) * 1000
    return data


def _phase_line(name: str, p: dict[str, Any], c: int) -> str:
    eff = f", efficiency {p['efficiency']:.3f}" if p["efficiency"] is not None else ""
    return (f"  {name:<22} {p['calls']:>6} calls in {p['seconds']:6.1f}s: "
            f"{p['calls_per_s']:6.1f} calls/s, {p['in_flight']:5.1f} of {c} in flight, "
            f"CPU: pipeline {p['pipeline_cpu']:.0%}, server {p['server_cpu']:.0%}{eff}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="conversations (latency-bound run)")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--latency-ms", type=float, default=200.0)
    ap.add_argument("--jitter-ms", type=float, default=20.0)
    ap.add_argument("--zero-n", type=int, default=100,
                    help="conversations of the zero-latency runs")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--skip-zero", action="store_true")
    ap.add_argument("--skip-sdk", action="store_true",
                    help="zero latency: leave out the slow bare loop of the SDK's "
                         "chat.completions.create (ratio_to_bare_client is then null)")
    ap.add_argument("--drafter", choices=["llm", "walk"], default="llm",
                    help="walk: phase 1 drafts without the model")
    ap.add_argument("--cold-server", action="store_true",
                    help="no warm response cache in the server: the served sim computes "
                         "every answer (its drafter is CPU-heavy and then bounds phase 1)")
    ap.add_argument("--timeline", type=Path, default=None,
                    help="write the latency-bound run's samples (seconds from the first "
                         "request, requests so far, requests in flight) and the phase "
                         "boundary to this JSON file")
    ap.add_argument("--oversubscribe", type=float, default=1.25,
                    help="items in flight per endpoint slot (the run's --concurrency is "
                         "C times this; the endpoint still holds at most C requests)")
    args = ap.parse_args()
    OVERSUBSCRIBE["factor"] = args.oversubscribe
    c, lat, jit = args.concurrency, args.latency_ms, args.jitter_ms
    result: dict[str, Any] = {"concurrency": c, "latency_ms": lat, "jitter_ms": jit,
                              "cores": os.cpu_count(), "efficiency": None,
                              "ratio_to_bare_client": None,
                              "load_avg_1m_at_start": round(os.getloadavg()[0], 2)}

    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        work = Path(tmp)
        if not args.skip_latency:
            ideal = c / ((lat + jit / 2) / 1000)
            cache = None if args.cold_server else work / "server-cache"
            if cache is not None:
                warm_cache(cache, args.n, c, work, args.drafter)
            server, url = start_server(lat, jit, cache)
            try:
                r = pipeline(url, server.pid, args.n, c, work, "latency", ideal, args.drafter)
            finally:
                server.terminate()
                server.wait(10)
            if args.timeline is not None:
                args.timeline.write_text(json.dumps(r["timeline"]))
            eff = r["calls_per_s"] / ideal
            serving_eff = r["calls"] / r["serving_s"] / ideal
            ph = r["phases"]
            print(f"latency-bound: run --n {args.n} at C={c}, L={lat:g}±{jit:g} ms, "
                  f"drafter {args.drafter}, server {'cold' if args.cold_server else 'warm'}, "
                  f"run --concurrency {items_for(c)} "
                  f"(ideal C/L̄ = {ideal:.1f} calls/s): {r['calls']} model calls in "
                  f"{r['wall_s']:.1f}s")
            print(f"  whole run (process start to exit): {r['calls_per_s']:.1f} calls/s, "
                  f"efficiency {eff:.3f}; from the first request ({r['startup_s']:.1f}s of "
                  f"start-up): efficiency {serving_eff:.3f}")
            print(_phase_line("phase 1 (blueprints)", ph["blueprints"], c))
            print(_phase_line("phase 2 (rollouts)", ph["rollouts"], c))
            print(_phase_line("middle (10%–90% calls)", ph["middle"], c))
            tail = drain(r["timeline"], c)
            played = phase2_counts(r["stamps"])
            print(f"  the end's drain: {tail['seconds']:.1f}s from the last sample with "
                  f"{int(0.9 * c)}+ in flight to exit ({tail['calls']} calls in it, "
                  f"{tail['lost_share']:.0%} of the phase-2 window's ideal left idle); "
                  f"phase 2 started {played['scheduled']} episodes, "
                  f"{played['cancelled']} cancelled unfinished at the stop")
            demand = (r["cpu_ms_per_call"] + r["server_cpu_ms_per_call"]) * ideal / 1000
            print(f"  CPU per model call: pipeline {r['cpu_ms_per_call']:.2f} ms, server "
                  f"{r['server_cpu_ms_per_call']:.2f} ms; at the ideal rate that is "
                  f"{demand:.2f} of {os.cpu_count()} cores. Peak RSS {r['peak_rss_mb']:.0f} MB")
            result.update(
                n=args.n, drafter=args.drafter, warm_server=not args.cold_server,
                run_concurrency=items_for(c),
                calls=r["calls"], wall_s=round(r["wall_s"], 2),
                calls_per_s=round(r["calls_per_s"], 1), ideal_calls_per_s=round(ideal, 1),
                efficiency=round(eff, 3), efficiency_from_first_request=round(serving_eff, 3),
                efficiency_phase1=round(ph["blueprints"]["efficiency"], 3),
                efficiency_phase2=round(ph["rollouts"]["efficiency"], 3),
                efficiency_middle=round(ph["middle"]["efficiency"], 3),
                in_flight_middle=round(ph["middle"]["in_flight"], 1),
                cpu_ms_per_call=round(r["cpu_ms_per_call"], 3),
                server_cpu_ms_per_call=round(r["server_cpu_ms_per_call"], 3),
                cpu_cores_needed_at_ideal=round(demand, 2),
                peak_rss_mb=round(r["peak_rss_mb"], 1),
                drain_s=round(tail["seconds"], 2), drain_lost_share=round(tail["lost_share"], 3),
                episodes_scheduled=played["scheduled"], episodes_cancelled=played["cancelled"])

        if not args.skip_zero:
            requests = record_requests(work, args.zero_n)
            cache = None if args.cold_server else work / "server-cache-zero"
            if cache is not None:
                warm_cache(cache, args.zero_n, c, work, "llm")
            server, url = start_server(0, 0, cache)
            try:
                z = pipeline(url, server.pid, args.zero_n, c, work, "zero", None)
                if cache is not None:  # the bare loops' requests into the server's cache too
                    bare_client(url, c, requests, "post")
                sdk = bare_client(url, c, requests, "sdk") if not args.skip_sdk else None
                post = bare_client(url, c, requests, "post")
                own = bare_client(url, c, requests, "adapter")
            finally:
                server.terminate()
                server.wait(10)
            pipe = z["calls"] / z["serving_s"]
            print(f"zero latency, C={c}: pipeline run --n {args.zero_n}: {z['calls']} calls, "
                  f"{pipe:.0f} calls/s from the first request to exit "
                  f"({z['phases']['middle']['calls_per_s']:.0f} in the middle), "
                  f"CPU {z['cpu_ms_per_call']:.2f} ms per call (server "
                  f"{z['server_cpu_ms_per_call']:.2f} ms)")
            sdk_line = (f"chat.completions.create {sdk['calls_per_s']:.0f} calls/s (CPU "
                        f"{sdk['cpu_ms_per_call']:.2f} ms per call); " if sdk else "")
            print(f"  bare AsyncOpenAI, the {post['calls']} requests of a recorded run --n "
                  f"{args.zero_n}: {sdk_line}client.post of the JSON body "
                  f"{post['calls_per_s']:.0f} calls/s (CPU {post['cpu_ms_per_call']:.2f} ms)")
            print(f"  bare adapter HTTP client (apigen_mt/llm/http.py), the same bodies: "
                  f"{own['calls_per_s']:.0f} calls/s (CPU {own['cpu_ms_per_call']:.2f} ms)")
            ratio = pipe / sdk["calls_per_s"] if sdk else None
            sdk_ratio = f"{ratio:.2f} (SDK path), " if ratio is not None else ""
            print(f"  ratio pipeline / bare client: {sdk_ratio}"
                  f"{pipe / post['calls_per_s']:.2f} (the SDK client's raw post), "
                  f"{pipe / own['calls_per_s']:.2f} (the adapter's own HTTP client)")
            result.update(
                zero_latency_calls_per_s=round(pipe, 1),
                zero_latency_middle_calls_per_s=round(z["phases"]["middle"]["calls_per_s"], 1),
                zero_latency_cpu_ms_per_call=round(z["cpu_ms_per_call"], 3),
                bare_client_calls_per_s=round(sdk["calls_per_s"], 1) if sdk else None,
                bare_client_cpu_ms_per_call=round(sdk["cpu_ms_per_call"], 3) if sdk else None,
                bare_post_calls_per_s=round(post["calls_per_s"], 1),
                bare_post_cpu_ms_per_call=round(post["cpu_ms_per_call"], 3),
                bare_adapter_calls_per_s=round(own["calls_per_s"], 1),
                bare_adapter_cpu_ms_per_call=round(own["cpu_ms_per_call"], 3),
                ratio_to_bare_client=round(ratio, 3) if ratio is not None else None,
                ratio_to_bare_post=round(pipe / post["calls_per_s"], 3),
                ratio_to_bare_adapter=round(pipe / own["calls_per_s"], 3))
            if args.skip_latency:
                result.update(cpu_ms_per_call=round(z["cpu_ms_per_call"], 3),
                              peak_rss_mb=round(z["peak_rss_mb"], 1))
    result["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)  # > ~1.2: not alone here
    print(json.dumps(result))


if __name__ == "__main__":
    main()
