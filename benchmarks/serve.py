"""Serving benchmark: ``headstart serve`` against the common recipe (one process per model, sentence-transformers
``encode`` and a scikit-learn head behind FastAPI: ``serve_recipe.py``), in one run, on this machine.

    python benchmarks/serve.py [--clients 16] [--short 400] [--long 64] [--heads 10]

Configurations, each started alone as its own server process(es), then loaded by K concurrent clients sending one
text a request (airline tweets, and bbc articles for long texts):
- (a) headstart serve with 1 frozen head;
- (b) headstart serve with 10 frozen heads on one encoder, every text asked of all 10 in one request;
- (c) the recipe for (b): 10 processes, every text sent to all 10 (a text's latency is its slowest answer);
- (d) the recipe with 1 model.
Throughput is texts answered (by every model asked) per second; peak memory is the peak resident memory (VmHWM) of
the server process, summed over the recipe's processes. Then (a) again at half its measured throughput, open-loop
(a request every 1/rate s, whatever the answers do), for p99 against p50. The load generator shares the machine's
cores with the servers, alike for every configuration. The encoder is all-MiniLM-L6-v2, for both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).parent
OUT = ROOT / "results" / "serve.json"
ENCODER = "all-MiniLM-L6-v2"
PER_CLASS = 64


def train_heads(folder: Path, heads: int) -> list[tuple[Path, Path]]:
    """``heads`` frozen models and, on the same samples, the recipe's heads (on sentence-transformers' vectors)."""
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression

    from headstart import FrozenEncoderClassifier
    from headstart.data import sample_per_class
    from headstart.datasets import load_airline
    from headstart.packaged import MINILM

    texts, labels = load_airline()
    y = np.asarray(labels)
    peer = SentenceTransformer(str(MINILM.folder()), device="cpu")
    made = []
    for seed in range(heads):
        rows = sample_per_class(y, PER_CLASS, seed=seed)
        sample = [texts[i] for i in rows]
        model_dir = folder / "headstart" / f"head{seed}"
        FrozenEncoderClassifier(encoder=ENCODER, seed=seed, cache=False).fit(sample, y[rows]).save(model_dir)
        head = LogisticRegression(max_iter=2000).fit(peer.encode(sample, show_progress_bar=False), y[rows])
        npz = folder / "recipe" / f"head{seed}.npz"
        npz.parent.mkdir(parents=True, exist_ok=True)
        np.savez(npz, coef=head.coef_, intercept=head.intercept_, classes=head.classes_.astype(str))
        made.append((model_dir, npz))
    return made


def start(argv: list[str], port: int) -> subprocess.Popen:
    log = tempfile.TemporaryFile()  # not a pipe: a pipe nobody reads blocks the server once full
    process = subprocess.Popen([sys.executable, *argv], stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(log.read().decode())
    raise RuntimeError(f"server on port {port} did not start")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def headstart_server(models: list[Path], port: int) -> list[subprocess.Popen]:
    argv = ["-c", "from headstart.cli import main; main()", "serve", *map(str, models), "--port", str(port), "-q"]
    argv += ["--max-queue", "100000"]
    return [start(argv, port)]


def recipe_servers(heads: list[Path], first_port: int) -> list[subprocess.Popen]:
    return [
        start([str(ROOT / "serve_recipe.py"), str(h), str(first_port + i)], first_port + i) for i, h in enumerate(heads)
    ]


RETRIED = {"requests": 0}


async def post(client: httpx.AsyncClient, url: str, body: dict) -> httpx.Response:
    """POST, sent again once if the connection drops: with many connections open, uvicorn now and then drops one
    (seen in two of three runs of the recipe's 10 processes). Retries are counted and reported."""
    try:
        return await client.post(url, json=body)
    except (httpx.ReadError, httpx.RemoteProtocolError):
        RETRIED["requests"] += 1
        return await client.post(url, json=body)


def sender(kind: str, ports: list[int], heads: int):
    """An async function sending one text as the configuration's clients do; it checks every answer."""

    async def headstart(client: httpx.AsyncClient, text: str) -> None:
        response = await post(client, f"http://127.0.0.1:{ports[0]}/v1/classify", {"texts": [text]})
        response.raise_for_status()
        assert len(response.json()["results"][0]) == heads

    async def recipe(client: httpx.AsyncClient, text: str) -> None:
        answers = await asyncio.gather(
            *(post(client, f"http://127.0.0.1:{p}/predict", {"inputs": [text]}) for p in ports)
        )
        for response in answers:
            response.raise_for_status()

    return headstart if kind == "headstart" else recipe


async def closed_loop(send, texts: list[str], clients: int) -> dict:
    """``clients`` clients, each sending its next text as soon as its last is answered."""
    latencies, queue = [], list(reversed(texts))
    limits = httpx.Limits(max_connections=clients * 10, max_keepalive_connections=clients * 10)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:

        async def one_client():
            while queue:
                text = queue.pop()
                started = time.perf_counter()
                await send(client, text)
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        seconds = time.perf_counter() - started
    return {"texts_per_second": len(texts) / seconds, **percentiles(latencies)}


async def open_loop(send, texts: list[str], rate: float) -> dict:
    """A request every 1/rate seconds, answered or not: latency at a given load."""
    latencies = []
    async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=1000)) as client:

        async def timed(text):
            started = time.perf_counter()
            await send(client, text)
            latencies.append(time.perf_counter() - started)

        tasks, began = [], time.perf_counter()
        for i, text in enumerate(texts):
            await asyncio.sleep(max(0.0, began + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(timed(text)))
        await asyncio.gather(*tasks)
    return {"rate": rate, **percentiles(latencies)}


def percentiles(latencies: list[float]) -> dict:
    ms = np.asarray(latencies) * 1000
    return {f"p{q}_ms": float(np.percentile(ms, q)) for q in (50, 95, 99)}


def stop(processes: list[subprocess.Popen]) -> float:
    """Their summed peak resident memory, then stop them."""
    memory = sum(peak_rss_mb(p.pid) for p in processes)
    for p in processes:
        p.terminate()
    for p in processes:
        p.wait(60)
    return memory


def main() -> None:
    from headstart.datasets import load_dataset

    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--short", type=int, default=400)
    parser.add_argument("--long", type=int, default=64)
    parser.add_argument("--heads", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    sets = {}
    for name, size in (("airline", args.short), ("bbc", args.long)):
        texts = load_dataset(name)[0]
        sets[name] = [texts[i] for i in rng.choice(len(texts), size=size, replace=False)]
    result = {"clients": args.clients, "heads": args.heads, "texts": {k: len(v) for k, v in sets.items()}, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        made = train_heads(Path(tmp), args.heads)
        models, npzs = [m for m, _ in made], [n for _, n in made]
        configs = {
            "a": ("headstart", lambda: headstart_server(models[:1], 8700), [8700], 1),
            "b": ("headstart", lambda: headstart_server(models, 8700), [8700], args.heads),
            "c": ("recipe", lambda: recipe_servers(npzs, 8800), list(range(8800, 8800 + args.heads)), args.heads),
            "d": ("recipe", lambda: recipe_servers(npzs[:1], 8800), [8800], 1),
        }
        for key, (kind, launch, ports, heads) in configs.items():
            processes, runs = launch(), {}
            try:
                send = sender(kind, ports, heads)
                asyncio.run(closed_loop(send, sets["airline"][:32], args.clients))  # warm-up
                runs |= {name: asyncio.run(closed_loop(send, texts, args.clients)) for name, texts in sets.items()}
                if key == "a":
                    rate = runs["airline"]["texts_per_second"] / 2
                    runs["half_load"] = asyncio.run(open_loop(send, sets["airline"], rate))
            finally:
                runs["peak_rss_mb"] = stop(processes)
            result["runs"][key] = runs
            runs["retried_requests"], RETRIED["requests"] = RETRIED["requests"], 0
            print(key, json.dumps(runs), flush=True)
    result["markdown"] = markdown(result)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(result["markdown"]))


LABELS = {
    "a": "(a) headstart serve, 1 head",
    "b": "(b) headstart serve, {heads} heads on one encoder",
    "c": "(c) recipe, {heads} processes",
    "d": "(d) recipe, 1 process",
}


def markdown(result: dict) -> list[str]:
    runs, heads = result["runs"], result["heads"]

    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**not met**"

    rows = [
        f"| {LABELS[k].format(heads=heads)} | {name} | {r[name]['texts_per_second']:.1f} | {r[name]['p50_ms']:.0f} "
        f"| {r[name]['p95_ms']:.0f} | {r[name]['p99_ms']:.0f} | {r['peak_rss_mb']:.0f} |"
        for k, r in runs.items()
        for name in ("airline", "bbc")
    ]
    lines = [
        "## Serving many heads on one encoder",
        "",
        f"One text a request, {result['clients']} concurrent clients, {result['texts']['airline']} airline tweets and "
        f"{result['texts']['bbc']} bbc articles (truncated at 256 tokens); all-MiniLM-L6-v2 for both servers; the "
        "load generator runs on the same 2 cores (`python benchmarks/serve.py`). Texts/s counts a text once it is "
        "answered by every model asked. Memory is the server's peak resident set, summed over the recipe's "
        "processes.",
        "",
        "| configuration | texts | texts/s | p50 ms | p95 ms | p99 ms | peak RSS MB |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    for name in ("airline", "bbc"):
        speed_bc = runs["b"][name]["texts_per_second"] / runs["c"][name]["texts_per_second"]
        speed_ad = runs["a"][name]["texts_per_second"] / runs["d"][name]["texts_per_second"]
        lines += [
            f"- {name}: (b) / (c) throughput **{speed_bc:.1f}x** (target ≥ 8x): {verdict(speed_bc >= 8)}; "
            f"(a) / (d) **{speed_ad:.2f}x** (target ≥ 1.2x): {verdict(speed_ad >= 1.2)}.",
        ]
    memory = runs["b"]["peak_rss_mb"] / runs["a"]["peak_rss_mb"]
    half = runs["a"]["half_load"]
    tail = half["p99_ms"] / half["p50_ms"]
    lines += [
        f"- Memory (b) / (a): **{memory:.2f}x** (target ≤ 1.3x): {verdict(memory <= 1.3)}; (c) / (b): "
        f"{runs['c']['peak_rss_mb'] / runs['b']['peak_rss_mb']:.1f}x.",
        "- Requests sent again after a dropped connection: "
        + ", ".join(f"({k}) {r.get('retried_requests', 0)}" for k, r in runs.items())
        + ".",
        f"- (a) at half its throughput ({half['rate']:.0f} tweets/s, open loop): p50 {half['p50_ms']:.0f} ms, p99 "
        f"{half['p99_ms']:.0f} ms, p99 / p50 **{tail:.1f}x** (target ≤ 3x): {verdict(tail <= 3)}.",
    ]
    return lines


if __name__ == "__main__":
    main()
