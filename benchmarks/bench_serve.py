"""A deadline rush on ``grader serve``: N submissions of mixed kinds sent within M minutes by a bounded load
generator on 127.0.0.1, with the arrival rate rising towards the deadline; upload-to-result latency (p50,
p95, p99, max), and a check in the service's own database that none was lost and none graded twice.

    python3 benchmarks/bench_serve.py                          # 2,000 in 10 minutes, embedded queue, 2 workers
    python3 benchmarks/bench_serve.py --queue redis            # the same through Celery on a throwaway Redis
    python3 benchmarks/bench_serve.py --queue redis --postgres # ... recording in a throwaway PostgreSQL
    python3 benchmarks/bench_serve.py --count 200 --minutes 1  # a quick look

Arrivals: submission i is sent at M * sqrt(i / N) minutes, so the rate grows linearly to twice the average
at the deadline (6.7 per second for 2,000 in 10 minutes). At most --concurrency requests are in flight
(uploads and status polls together). Latency is measured twice: by the client (from the start of the upload
to the first poll that sees the result, so it includes up to one poll interval) and by the service
(``submitted_at`` to the grading's ``finished_at``).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import httpx  # noqa: E402

from serve_support import ServeProcess, postgres_server, redis_server, zipped  # noqa: E402

EXAMPLES = ROOT / "examples"
STAGE1, STAGE2 = "stage1_autodiff", "stage2_natural_code"
POLL_SECONDS = 0.5


def kinds() -> list[tuple[float, str, str, str, bytes]]:
    """(share, label, assignment, file name, bytes) of a realistic class's uploads."""
    correct = (EXAMPLES / "submissions" / "correct.py").read_bytes()
    reference2 = (ROOT / "reference" / "dezero_stage2.py").read_bytes()
    core = reference2.rstrip()[: -len(b"setup_variable()")]
    init = (b"from dezero.core_simple import Variable, Function, using_config, no_grad, as_array, as_variable\n"
            b"from dezero.core_simple import setup_variable\n\nsetup_variable()\n")
    buggy1 = sorted((ROOT / "assignments" / STAGE1 / "variants" / "buggy").glob("*.py"))
    buggy2 = sorted((ROOT / "assignments" / STAGE2 / "variants" / "buggy").glob("*.py"))
    hostile = EXAMPLES / "hostile"
    found = [
        (0.30, "py correct", STAGE1, "dezero_stage1.py", correct),
        (0.10, "notebook", STAGE1, "dezero_stage1.ipynb", (EXAMPLES / "submissions" / "correct_notebook.ipynb").read_bytes()),
        (0.08, "folder zip", STAGE1, "hw1.zip", zipped({"hw1/dezero_stage1.py": correct, "hw1/README.txt": b"mine"})),
        (0.12, "py buggy", STAGE1, "dezero_stage1.py", b""),  # one of the buggy variants, chosen per upload
        (0.05, "py broken", STAGE1, "dezero_stage1.py", (EXAMPLES / "submissions" / "syntax_error.py").read_bytes()),
        (0.12, "package zip", STAGE2, "dezero.zip", zipped({"repo/dezero/__init__.py": init, "repo/dezero/core_simple.py": core})),
        (0.12, "py stage 2", STAGE2, "dezero_stage2.py", reference2),
        (0.06, "py stage 2 buggy", STAGE2, "dezero_stage2.py", b""),
        (0.04, "hostile, fast", STAGE1, "dezero_stage1.py", b""),
        (0.01, "hostile, slow", STAGE1, "dezero_stage1.py", (hostile / "loop_in_backward.py").read_bytes()),
    ]
    pools = {"py buggy": [p.read_bytes() for p in buggy1], "py stage 2 buggy": [p.read_bytes() for p in buggy2],
             "hostile, fast": [(hostile / n).read_bytes() for n in ("fork_and_daemon.py", "network.py",
                                                                      "monkeypatch.py", "fake_exit.py")]}
    return found, pools


def plan(count: int, seed: int = 20) -> list[tuple[str, str, str, bytes]]:
    found, pools = kinds()
    rng = random.Random(seed)
    shares = [share for share, *_ in found]
    uploads = []
    for n in range(count):
        _, label, assignment, name, data = rng.choices(found, weights=shares)[0]
        data = rng.choice(pools[label]) if label in pools else data
        if not name.endswith(".zip") and not name.endswith(".ipynb"):
            data += f"\n# upload {n}\n".encode()  # every upload different, as students' are
        uploads.append((label, assignment, name, data))
    return uploads


async def rush(url: str, tokens: list[str], uploads: list, seconds: float, concurrency: int) -> list[dict]:
    slots = asyncio.Semaphore(concurrency)
    start = time.monotonic()
    records: list[dict] = []

    async def one(n: int, client: httpx.AsyncClient) -> None:
        label, assignment, name, data = uploads[n]
        await asyncio.sleep(max(0.0, start + seconds * math.sqrt(n / len(uploads)) - time.monotonic()))
        token = tokens[n % len(tokens)]
        headers = {"Authorization": f"Bearer {token}"}
        record = {"n": n, "kind": label, "sent": time.monotonic() - start}
        async with slots:
            began = time.monotonic()
            try:  # an upload is never sent twice (it would be a second submission): a failure is counted
                answer = await client.post(f"{url}/api/v1/submissions", headers=headers, files={"file": (name, data)},
                                           data={"assignment": assignment})
            except httpx.TransportError as error:
                record.update(upload_status=0, error=f"{type(error).__name__}")
                records.append(record)
                return
        record["upload_status"] = answer.status_code
        if answer.status_code != 202:
            record["error"] = answer.text[:200]
            records.append(record)
            return
        ident = answer.json()["id"]
        record["id"] = ident
        while True:
            await asyncio.sleep(POLL_SECONDS)
            async with slots:
                try:
                    status = (await client.get(f"{url}/api/v1/submissions/{ident}", headers=headers)).json()["status"]
                except httpx.TransportError:
                    continue  # a status read is safe to repeat
            if status in ("done", "error"):
                record.update(status=status, client_seconds=time.monotonic() - began)
                break
        records.append(record)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=30)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        await asyncio.gather(*(one(n, client) for n in range(len(uploads))))
    return records


def check_database(url: str, idents: list[str]) -> dict:
    """From the service's own records: lost (not done), graded twice, interrupted, and its latency."""
    from grader.serve.storage import Store

    store = Store(url)
    lost, twice, retried, server_seconds = [], [], 0, []
    for ident in idents:
        gradings = store.gradings_of(ident)
        graded = [e for e in store.events_of(ident) if e["kind"] == "graded"]
        if len(gradings) != 1 or gradings[0]["status"] not in ("done", "error"):
            lost.append(ident)
        if len(graded) > 1:
            twice.append(ident)
        retried += gradings[0]["attempts"] > 1
        finished = gradings[0]["finished_at"]
        if finished:
            submitted = store.submission(ident)["submitted_at"]
            server_seconds.append((datetime.fromisoformat(finished) - datetime.fromisoformat(submitted)).total_seconds())
    store.close()
    return {"lost": len(lost), "graded_twice": len(twice), "retried": retried, "server_seconds": server_seconds}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))] if ordered else float("nan")


def summary(records: list[dict], checked: dict, elapsed: float) -> dict:
    client = [r["client_seconds"] for r in records if "client_seconds" in r]
    server = checked["server_seconds"]
    by_kind: dict[str, list[float]] = {}
    for record in records:
        if "client_seconds" in record:
            by_kind.setdefault(record["kind"], []).append(record["client_seconds"])
    return {
        "submissions": len(records), "accepted": sum(r["upload_status"] == 202 for r in records),
        "refused": sorted({(r["upload_status"], r.get("error", "")[:80]) for r in records if r["upload_status"] != 202}),
        "wall_seconds": round(elapsed, 1),
        "client_p50": round(percentile(client, 50), 2), "client_p95": round(percentile(client, 95), 2),
        "client_p99": round(percentile(client, 99), 2), "client_max": round(max(client, default=float("nan")), 2),
        "server_p50": round(percentile(server, 50), 2), "server_p95": round(percentile(server, 95), 2),
        "server_max": round(max(server, default=float("nan")), 2),
        "lost": checked["lost"], "graded_twice": checked["graded_twice"], "interrupted_and_regraded": checked["retried"],
        "p95_by_kind": {k: round(percentile(v, 95), 2) for k, v in sorted(by_kind.items())},
        "count_by_kind": {k: len(v) for k, v in sorted(by_kind.items())},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--students", type=int, default=400, help="demo students the uploads come from")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight at most")
    parser.add_argument("--queue", choices=("embedded", "redis"), default="embedded")
    parser.add_argument("--postgres", action="store_true", help="record in a throwaway PostgreSQL, not SQLite")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    uploads = plan(args.count)
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-serve-") as folder:
        extra = []
        if args.queue == "redis":
            extra += ["--queue", stack.enter_context(redis_server())]
        database = f"sqlite:///{Path(folder) / 'grader.sqlite3'}"
        if args.postgres:
            database = stack.enter_context(postgres_server())
            extra += ["--database", database]
        server = stack.enter_context(ServeProcess("--demo", "--demo-students", str(args.students), "--data", folder,
                                                  "--workers", str(args.workers), *extra))
        print(f"{args.count} uploads over {args.minutes:g} min from {args.students} students, {args.queue} queue, "
              f"{args.workers} workers, {'PostgreSQL' if args.postgres else 'SQLite'}, at most {args.concurrency} "
              f"requests in flight", flush=True)
        started = time.monotonic()
        records = asyncio.run(rush(server.url, server.students, uploads, args.minutes * 60, args.concurrency))
        elapsed = time.monotonic() - started
        checked = check_database(database, [r["id"] for r in records if "id" in r])
    figures = summary(records, checked, elapsed)
    print(json.dumps(figures, indent=1))
    met = figures["client_p95"] <= 5 and figures["lost"] == 0 and figures["graded_twice"] == 0 \
        and figures["accepted"] == args.count
    print(f"goal (p95 <= 5 s, none lost, none graded twice, every upload accepted): {'met' if met else 'NOT MET'}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
