"""Throughput of ``apigen-mt serve`` (the sim model, zero latency).

Starts the server as a subprocess on a free loopback port, drives it with concurrent
keep-alive connections for a fixed time, prints requests/s and a final JSON line:

    .venv/bin/python scripts/bench_serve.py --concurrency 32 --seconds 5
    .venv/bin/python scripts/bench_serve.py --client openai   # through OpenAIChatModel
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import re
import subprocess
import sys
import time

import httpx2

TOOLS = [{"type": "function", "function": {
    "name": "get_order_details", "description": "Look up an order.",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}},
                   "required": ["order_id"], "additionalProperties": False}}}]
MESSAGES = [{"role": "system", "content": "You are a retail support agent."},
            {"role": "user", "content": "Where is my order #W1000001?"}]


def start_server(extra: list[str]) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "apigen_mt.cli.model", "serve", "--port", "0", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    found = re.search(r"(http://\S+)", line)
    if not found:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, found.group(1)


async def worker_httpx(client: httpx2.AsyncClient, url: str, deadline: float, i: int,
                       counts: list[int]) -> None:
    n = 0
    while time.perf_counter() < deadline:
        body = {"model": "sim", "messages": MESSAGES, "tools": TOOLS, "seed": n,
                "tool_choice": "required" if n % 2 else "auto"}
        r = await client.post(url + "/chat/completions", json=body)
        r.raise_for_status()
        n += 1
    counts[i] = n


async def run_httpx(url: str, concurrency: int, seconds: float) -> tuple[int, float]:
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    counts = [0] * concurrency
    async with httpx2.AsyncClient(limits=limits, timeout=30) as client:
        await client.post(url + "/chat/completions", json={"model": "sim", "messages": MESSAGES})
        started = time.perf_counter()
        await asyncio.gather(*(worker_httpx(client, url, started + seconds, i, counts)
                               for i in range(concurrency)))
        return sum(counts), time.perf_counter() - started


async def run_openai(url: str, concurrency: int, seconds: float) -> tuple[int, float]:
    from apigen_mt.config import Endpoint
    from apigen_mt.llm.base import Settings
    from apigen_mt.llm.openai_adapter import OpenAIChatModel

    model = OpenAIChatModel("local:sim", "sim", Endpoint(base_url=url,
                                                         max_concurrency=concurrency))
    counts = [0] * concurrency

    async def worker(i: int, deadline: float) -> None:
        n = 0
        while time.perf_counter() < deadline:
            await model.complete(MESSAGES, TOOLS, Settings(seed=n))
            n += 1
        counts[i] = n

    await model.complete(MESSAGES)
    started = time.perf_counter()
    await asyncio.gather(*(worker(i, started + seconds) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    await model.runtime.aclose()
    return sum(counts), elapsed


def _client_process(args: tuple[str, str, int, float]) -> tuple[int, float]:
    """(requests, seconds) of one client process, timed from its first request."""
    client, url, concurrency, seconds = args
    run = run_httpx if client == "httpx" else run_openai
    return asyncio.run(run(url, concurrency, seconds))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--client", choices=["httpx", "openai"], default="httpx")
    ap.add_argument("--latency-ms", type=float, default=0.0)
    ap.add_argument("--procs", type=int, default=1,
                    help="client processes (the Python client is slower than the server)")
    args = ap.parse_args()

    proc, url = start_server(["--latency-ms", str(args.latency_ms)])
    try:
        job = (args.client, url, args.concurrency, args.seconds)
        if args.procs == 1:
            results = [_client_process(job)]
        else:
            with multiprocessing.get_context("spawn").Pool(args.procs) as pool:
                results = pool.map(_client_process, [job] * args.procs)
        stats = httpx2.get(url.rsplit("/v1", 1)[0] + "/stats").json()
    finally:
        proc.terminate()
        proc.wait(10)
    total = sum(n for n, _ in results)
    elapsed = max(t for _, t in results)
    rps = sum(n / t for n, t in results)
    conns = args.concurrency * args.procs
    print(f"{total} requests in {elapsed:.2f}s over {conns} connections from {args.procs} "
          f"{args.client} client process(es): {rps:.0f} requests/s")
    print(json.dumps({"requests": total, "seconds": round(elapsed, 3),
                      "requests_per_s": round(rps, 1), "connections": conns,
                      "client_processes": args.procs,
                      "client": args.client, "server_requests": stats["requests"]}))


if __name__ == "__main__":
    main()
