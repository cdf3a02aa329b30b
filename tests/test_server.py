"""``headstart serve``: many models, one encoder pass per text per feature spec, and no 500 on user input."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import socket
import subprocess
import threading
import time

import httpx
import numpy as np
import pytest
from conftest import headless_chromium, sentiment_data
from fastapi.testclient import TestClient

import headstart
from headstart import FrozenEncoderClassifier, TfidfClassifier
from headstart.cli import main
from headstart.server import Limits, create_app, load_models

TEXTS = ["good great flight", "bad awful service", "the crew was fine", "lost my bag again"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_encoder):
    """Three frozen models on one encoder (one reads other layers: still one pass for all three) and a tfidf model,
    saved as a folder of model folders."""
    texts, labels = sentiment_data(n_per_class=12)
    urgency = ["urgent" if "bad" in t or "awful" in t else "normal" for t in texts]
    folder = tmp_path_factory.mktemp("models")
    FrozenEncoderClassifier(encoder=tiny_encoder, cache=False).fit(texts, labels).save(folder / "sentiment")
    FrozenEncoderClassifier(encoder=tiny_encoder, cache=False, C=0.5).fit(texts, urgency).save(folder / "urgency")
    FrozenEncoderClassifier(encoder=tiny_encoder, cache=False, layers=(-1,)).fit(texts, labels).save(folder / "last")
    TfidfClassifier().fit(texts, labels).save(folder / "words")
    return folder


@pytest.fixture
def app(model_dir):
    return create_app(load_models([model_dir]), Limits(max_texts=8, max_body_bytes=4_000), reload_from=[model_dir])


@pytest.fixture
def client(app):
    with TestClient(app) as client:
        yield client


def passes(client) -> float:
    text = client.get("/metrics").text
    return float(re.search(r"^headstart_encoder_forward_passes_total (\S+)$", text, re.M).group(1))


def test_every_model_answers_every_text_as_it_does_in_python(client, model_dir):
    body = client.post("/v1/classify", json={"texts": TEXTS, "probabilities": True}).json()
    assert body["models"] == ["last", "sentiment", "urgency", "words"]
    for name in body["models"]:
        model = headstart.load(model_dir / name)
        expected = model.predict_proba(TEXTS)
        for row, probabilities in zip(body["results"], expected):
            got = row[name]
            assert got["label"] == model.classes_[probabilities.argmax()]
            assert got["score"] == pytest.approx(probabilities.max(), abs=1e-5)
            assert [got["probabilities"][str(c)] for c in model.classes_] == pytest.approx(probabilities, abs=1e-5)


def test_a_prediction_equals_headstart_predicts(client, model_dir, tmp_path, capsys):
    (tmp_path / "new.txt").write_text("\n".join(TEXTS) + "\n")
    with pytest.raises(SystemExit):
        main(
            ["predict", str(model_dir / "sentiment"), str(tmp_path / "new.txt"), "--proba", "--out", tmp_path / "p.csv"]
        )
    import pandas as pd

    table = pd.read_csv(tmp_path / "p.csv")
    served = client.post("/v1/classify", json={"texts": TEXTS, "models": ["sentiment"], "probabilities": True}).json()
    assert [r["sentiment"]["label"] for r in served["results"]] == table["label"].tolist()
    for row, (_, line) in zip(served["results"], table.iterrows()):
        for label, p in row["sentiment"]["probabilities"].items():
            assert p == pytest.approx(line[f"p_{label}"], abs=1e-5)


def test_models_sharing_a_spec_cost_one_encoder_pass_however_many_are_asked(client, app):
    served = app.state.registry.models
    assert served["sentiment"].model.features_.encoder_ is served["last"].model.features_.encoder_  # one in memory
    start = passes(client)
    client.post("/v1/classify", json={"texts": TEXTS, "models": ["sentiment"]})
    one = passes(client) - start
    client.post("/v1/classify", json={"texts": TEXTS, "models": ["sentiment", "urgency", "last", "words"]})
    assert one >= 1 and passes(client) - start - one == one
    shared = {m["name"]: m["shares_encoder_with"] for m in client.get("/v1/models").json()}
    assert shared == {
        "last": ["sentiment", "urgency"],
        "sentiment": ["last", "urgency"],
        "urgency": ["last", "sentiment"],
        "words": [],
    }


def test_the_models_endpoint_describes_each_model(client):
    models = {m["name"]: m for m in client.get("/v1/models").json()}
    assert models["sentiment"]["strategy"] == "frozen" and sorted(models["sentiment"]["labels"]) == ["neg", "pos"]
    assert models["urgency"]["labels"] == ["normal", "urgent"]
    assert models["last"]["feature_spec"]["layers"] == [-1] and models["words"]["encoder"] is None
    assert models["sentiment"]["summary"].startswith("A text classifier for 2 labels")


def test_the_predict_endpoint_speaks_text_embeddings_inference_shape(client):
    one = client.post("/v1/models/sentiment/predict", json={"inputs": "good great flight"}).json()
    assert [set(x) for x in one] == [{"label", "score"}] * 2 and one[0]["score"] >= one[1]["score"]
    assert sum(x["score"] for x in one) == pytest.approx(1, abs=1e-5)
    many = client.post("/v1/models/sentiment/predict", json={"inputs": TEXTS[:3]}).json()
    # Alone or in a batch, the same text: the same labels, and scores equal up to the rounding that padding to the
    # batch's longest text can change (in bf16).
    assert len(many) == 3 and [x["label"] for x in many[0]] == [x["label"] for x in one]
    assert [x["score"] for x in many[0]] == pytest.approx([x["score"] for x in one], abs=1e-3)


@pytest.mark.parametrize(
    "path, body, status, says",
    [
        ("/v1/classify", {"texts": ["good"], "models": ["nope"]}, 404, "unknown model 'nope'; known: last, sentiment"),
        ("/v1/models/nope/predict", {"inputs": "good"}, 404, "known: last, sentiment, urgency, words"),
        ("/v1/classify", {"text": ["good"]}, 422, "texts: Field required"),
        ("/v1/classify", {"texts": "good"}, 422, "texts: Input should be a valid list"),
        ("/v1/classify", {"texts": ["good", " "]}, 422, "text 1 is empty"),
        ("/v1/classify", {"texts": []}, 422, "texts: List should have at least 1 item"),
        ("/v1/classify", {"texts": ["good"], "models": []}, 422, "models: List should have at least 1 item"),
        ("/v1/classify", {"texts": ["good"], "probabilities": "maybe"}, 422, "probabilities: Input should be"),
        ("/v1/models/sentiment/predict", {"inputs": []}, 422, "empty list"),
        ("/v1/classify", {"texts": ["good"] * 9}, 413, "9 texts in one request; the limit is 8 (--max-texts)"),
        ("/v1/classify", {"texts": ["good " * 1000]}, 413, "over the limit of 4,000 bytes (--max-body-bytes)"),
    ],
)
def test_bad_input_gets_a_clear_4xx_never_a_500(client, path, body, status, says):
    response = client.post(path, json=body)
    assert response.status_code == status and says in response.json()["error"], response.text


def test_malformed_json_is_a_422_that_says_where(client):
    response = client.post("/v1/classify", content=b'{"texts": [', headers={"content-type": "application/json"})
    assert response.status_code == 422 and "JSON decode error" in response.json()["error"]
    response = client.post("/v1/classify", content=b"\xff\xfe{", headers={"content-type": "application/json"})
    assert response.status_code == 422 and "send JSON encoded as UTF-8" in response.json()["error"]


def test_a_full_queue_gets_429_with_retry_after(client, app):
    app.state.batcher.waiting = 10_000  # as if that many requests were queued
    response = client.post("/v1/classify", json={"texts": ["good"]})
    app.state.batcher.waiting = 0
    assert response.status_code == 429 and response.headers["retry-after"] == "1"
    assert "--max-queue" in response.json()["error"]


def test_health_answers_while_the_encoder_works_and_waiting_requests_join_one_batch(client, app, monkeypatch):
    import headstart.server as server

    release, entered, batches = threading.Event(), threading.Event(), []
    real = server.classify

    def slow(texts, models):
        batches.append(len(texts))
        entered.set()
        release.wait(30)
        return real(texts, models)

    monkeypatch.setattr(server, "classify", slow)
    answers = []

    def ask(texts):
        answers.append(client.post("/v1/classify", json={"texts": texts, "models": ["sentiment"]}).status_code)

    first = threading.Thread(target=ask, args=(TEXTS[:1],))
    others = [threading.Thread(target=ask, args=(TEXTS[i : i + 1],)) for i in range(1, 4)]
    first.start()
    try:
        assert entered.wait(30)
        assert client.get("/health").json() == {"status": "ok"}  # the loop is free while the encoder thread works
        for thread in others:
            thread.start()
        deadline = time.monotonic() + 30
        while app.state.batcher.waiting < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        release.set()
        for thread in [first, *others]:
            if thread.is_alive():
                thread.join(30)
    assert answers == [200] * 4 and batches == [1, 3]  # the three that waited ran as one micro-batch


def test_ready_health_and_metrics(client):
    assert client.get("/ready").json() == {"status": "ready", "models": 4}
    client.post("/v1/classify", json={"texts": TEXTS})
    metrics = client.get("/metrics").text
    for name in (
        'headstart_requests_total{endpoint="/v1/classify",status="200"}',
        'headstart_request_seconds_bucket{endpoint="/v1/classify",le="+Inf"}',
        "headstart_batch_texts_count",
        "headstart_queue_depth",
        'headstart_model_texts_total{model="words"} 4.0',
    ):
        assert name in metrics, name
    assert client.get("/docs").status_code == 200 and "/v1/classify" in client.get("/openapi.json").json()["paths"]


def test_admin_endpoints_need_the_token(client):
    assert client.post("/admin/reload").status_code == 403


def test_models_are_added_replaced_and_removed_without_a_restart(model_dir, tmp_path):
    root = tmp_path / "served"
    shutil.copytree(model_dir / "sentiment", root / "sentiment")
    app = create_app(load_models([root]), admin_token="s3cret", reload_from=[root])
    auth = {"authorization": "Bearer s3cret"}
    shutil.copytree(model_dir / "urgency", root / "broken")
    (root / "broken" / "head.safetensors").write_bytes(b"not a tensor file")
    with TestClient(app) as client:
        assert client.put("/admin/models/x", json={"path": str(root / "broken")}).status_code == 401
        response = client.put("/admin/models/urgency", json={"path": str(root / "broken")}, headers=auth)
        assert response.status_code == 422 and "head.safetensors" in response.json()["error"]
        assert client.post("/v1/classify", json={"texts": TEXTS}).json()["models"] == ["sentiment"]
        shutil.copytree(model_dir / "urgency", root / "urgency")
        added = client.put("/admin/models/urgency", json={"path": str(root / "urgency")}, headers=auth)
        assert added.json() == {"name": "urgency", "replaced": False}
        assert client.post("/v1/classify", json={"texts": TEXTS}).json()["models"] == ["sentiment", "urgency"]
        assert client.delete("/admin/models/urgency", headers=auth).json() == {"removed": "urgency"}
        assert client.delete("/admin/models/urgency", headers=auth).status_code == 404
        outcome = client.post("/admin/reload", headers=auth).json()
        assert outcome["loaded"] == ["sentiment", "urgency"] and list(outcome["refused"]) == ["broken"]


def test_models_load_only_from_under_the_folders_served(model_dir, tmp_path):
    root = tmp_path / "served"
    shutil.copytree(model_dir / "sentiment", root / "sentiment")
    (root / "link").symlink_to(model_dir / "urgency")
    app = create_app(load_models([root / "sentiment"]), admin_token="t", reload_from=[root])
    auth = {"authorization": "Bearer t"}
    with TestClient(app) as client:
        for path in (model_dir / "urgency", root / ".." / ".." / model_dir.name / "urgency", root / "link"):
            response = client.put("/admin/models/urgency", json={"path": str(path)}, headers=auth)
            assert response.status_code == 403 and "outside the folders" in response.json()["error"], path
        assert client.get("/v1/models").json()[0]["name"] == "sentiment" and len(client.get("/v1/models").json()) == 1


def test_a_reload_refuses_a_broken_folder_and_keeps_its_old_version_serving(model_dir, tmp_path):
    served = tmp_path / "served"
    shutil.copytree(model_dir / "sentiment", served / "sentiment")
    shutil.copytree(model_dir / "words", served / "words")
    app = create_app(load_models([served]), admin_token="t", reload_from=[served])
    with TestClient(app) as client:
        (served / "words" / "weights.safetensors").write_bytes(b"cut short")
        shutil.copytree(model_dir / "urgency", served / "urgency")
        outcome = client.post("/admin/reload", headers={"authorization": "Bearer t"}).json()
        assert outcome["loaded"] == ["sentiment", "urgency"] and list(outcome["refused"]) == ["words"]
        body = client.post("/v1/classify", json={"texts": TEXTS}).json()
        assert sorted(body["models"]) == ["sentiment", "urgency", "words"]


@contextlib.contextmanager
def live(app):
    """The app on a real uvicorn server on a free port, in a thread; yields its base URL."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def gather(url: str, requests: list[tuple[str, str, dict]], headers: dict | None = None) -> list[httpx.Response]:
    """Send (method, path, json) requests all at once from one async client; the responses, in order."""

    async def send():
        async with httpx.AsyncClient(base_url=url, timeout=120, headers=headers) as client:
            return await asyncio.gather(*(client.request(m, path, json=body) for m, path, body in requests))

    return asyncio.run(send())


def test_fifty_concurrent_requests_over_several_models_are_all_answered_right(app, model_dir):
    names = ["sentiment", "urgency", "last", "words"]
    expected = {name: headstart.load(model_dir / name).predict(TEXTS) for name in names}
    asked = [(i, names[i % 4 :] + names[: i % 4 - 2 if i % 4 > 2 else 0]) for i in range(50)]
    with live(app) as url:
        responses = gather(
            url,
            [("POST", "/v1/classify", {"texts": [TEXTS[i % 4], TEXTS[(i + 1) % 4]], "models": m}) for i, m in asked],
        )
    for (i, models), response in zip(asked, responses):
        assert response.status_code == 200, response.text
        rows = response.json()["results"]
        for name in models:
            assert [row[name]["label"] for row in rows] == [expected[name][i % 4], expected[name][(i + 1) % 4]]


def test_models_are_added_and_removed_under_load_and_no_request_is_dropped(model_dir, tmp_path):
    root = tmp_path / "served"
    for name in ("sentiment", "urgency"):
        shutil.copytree(model_dir / name, root / name)
    app = create_app(load_models([root / "sentiment"]), admin_token="t", reload_from=[root])
    auth = {"authorization": "Bearer t"}
    load = [("POST", "/v1/classify", {"texts": TEXTS, "models": ["sentiment"]})] * 60
    with live(app) as url:
        answered: list[httpx.Response] = []
        under_load = threading.Thread(target=lambda: answered.extend(gather(url, load)))
        under_load.start()
        with httpx.Client(base_url=url, headers=auth, timeout=60) as admin:  # one change after another
            changes = [
                admin.put("/admin/models/urgency", json={"path": str(root / "urgency")}),
                admin.post("/v1/classify", json={"texts": TEXTS, "models": ["urgency"]}),
                admin.post("/admin/reload"),
                admin.delete("/admin/models/urgency"),
            ]
        under_load.join(120)
        after = httpx.get(url + "/v1/models").json()
    assert [r.status_code for r in changes] == [200] * 4, [r.text for r in changes]
    assert [r.status_code for r in answered] == [200] * 60
    assert [m["name"] for m in after] == ["sentiment"]


def test_a_tiny_queue_answers_429_with_retry_after_and_serves_the_rest(model_dir, monkeypatch):
    import headstart.server as server

    real = server.classify
    monkeypatch.setattr(server, "classify", lambda texts, models: (time.sleep(0.3), real(texts, models))[1])
    app = create_app(load_models([model_dir / "sentiment"]), Limits(max_queue=2))
    with live(app) as url:
        responses = gather(url, [("POST", "/v1/classify", {"texts": TEXTS})] * 10)
    codes = sorted(r.status_code for r in responses)
    assert set(codes) == {200, 429} and codes.count(200) >= 2, codes
    assert all(r.headers["retry-after"] == "1" for r in responses if r.status_code == 429)


def test_over_http_a_large_body_gets_413_declared_or_streamed(app):
    def chunks():
        yield b'{"texts": ["'
        for _ in range(100):
            yield b"good " * 20
        yield b'"]}'

    with live(app) as url:
        declared = httpx.post(url + "/v1/classify", json={"texts": ["good " * 1000]})
        streamed = httpx.post(url + "/v1/classify", content=chunks(), headers={"content-type": "application/json"})
    for response in (declared, streamed):
        assert response.status_code == 413 and "4,000 bytes" in response.json()["error"]
    assert "content-length" not in streamed.request.headers


def test_an_api_key_covers_the_v1_endpoints_but_not_health(model_dir):
    app = create_app(load_models([model_dir / "sentiment"]), api_key="k3y")
    with live(app) as url:
        assert httpx.post(url + "/v1/classify", json={"texts": ["good"]}).status_code == 401
        wrong = httpx.get(url + "/v1/models", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "API key" in wrong.json()["error"]
        right = httpx.post(url + "/v1/classify", json={"texts": ["good"]}, headers={"authorization": "Bearer k3y"})
        assert right.status_code == 200
        assert httpx.get(url + "/health").status_code == 200 and httpx.get(url + "/ready").status_code == 200


def test_the_page_shows_each_models_label_with_probability_bars(app, tmp_path):
    chromium, flags = headless_chromium(tmp_path)
    with live(app) as url:
        page = f"{url}/?models=sentiment,words&text=good+great+flight&text=lost+my+bag"
        dom = subprocess.run(
            [chromium, *flags, "--virtual-time-budget=20000", "--dump-dom", page],
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    assert 'data-done="1"' in dom, dom[-2000:]
    bars = re.findall(r'class="bar( best)?" data-label="(\w+)" data-probability="([\d.]+)"', dom)
    assert len(bars) == 2 * 2 * 2  # texts x models x labels
    assert sum(1 for best, _, _ in bars if best) == 4  # one best label per text and model
    assert np.isclose(sum(float(p) for _, _, p in bars), 4, atol=1e-4)


def test_serve_refuses_bad_folders_and_a_busy_port_in_one_line(tmp_path, model_dir, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", str(tmp_path / "nope")])
    assert exit_info.value.code == 2 and "model folder not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", str(tmp_path / "empty")])
    assert exit_info.value.code == 2 and "neither a headstart model folder" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(SystemExit) as exit_info:
            main(["serve", str(model_dir), "--port", str(busy.getsockname()[1])])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "choose another --port" in err and "Traceback" not in err


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_a_fuzz_run_against_the_openapi_schema_finds_no_500_and_no_schema_violation(model_dir, mode):
    """schemathesis generates requests from the server's own OpenAPI schema (valid ones, and ones that break it), and
    checks every response: no 5xx, a status, content type and body the schema declares. (Driven by hypothesis
    directly: schemathesis's pytest plugin does not run on this pytest.)"""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.checks import not_a_server_error
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    app = create_app(load_models([model_dir]), Limits(max_texts=8, max_body_bytes=4_000), reload_from=[model_dir])
    with live(app) as url:
        schema = schemathesis.openapi.from_url(url + "/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) == 9
        fuzzed = 0
        for operation in operations:

            @given(case=operation.as_strategy(GenerationMode(mode)))
            @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def call(case):
                case.call_and_validate(base_url=url, checks=checks)

            try:
                call()
                fuzzed += 1
            except Unsatisfiable:  # an operation with no input to break (GET /health) has no negative cases
                assert mode == "negative"
        assert fuzzed >= (9 if mode == "positive" else 3)


@pytest.mark.filterwarnings("ignore:full collapsed")  # one epoch on toy data: its probabilities still compare
def test_a_fine_tuned_a_zero_shot_and_a_token_head_model_are_served_each_on_its_pass(model_dir, tmp_path, tiny_encoder):
    texts, labels = sentiment_data(n_per_class=12)
    descriptions = {"pos": "great love", "neg": "awful hate"}
    others = {
        "tuned": headstart.build("full", encoder=tiny_encoder, epochs=1, cache=False),
        "zero": headstart.build("zero-shot", encoder=tiny_encoder, label_descriptions=descriptions, cache=False),
        "tokens": FrozenEncoderClassifier(encoder=tiny_encoder, head="tokens", cache=False),
    }
    for name, model in others.items():
        model.fit(texts, labels).save(tmp_path / name)
    app = create_app(load_models([model_dir / "sentiment", *(tmp_path / name for name in others)]))
    with TestClient(app) as client:
        shared = {m["name"]: m["shares_encoder_with"] for m in client.get("/v1/models").json()}
        # zero-shot reads the frozen encoder's pass (other layers); θ trained, or token states, mean a pass of its own
        assert shared == {"sentiment": ["zero"], "zero": ["sentiment"], "tuned": [], "tokens": []}
        body = client.post("/v1/classify", json={"texts": TEXTS, "probabilities": True}).json()
    for name in others:
        expected = headstart.load(tmp_path / name).predict_proba(TEXTS)
        got = [[row[name]["probabilities"][c] for c in ("neg", "pos")] for row in body["results"]]
        assert np.allclose(got, expected, atol=1e-5)


def test_sighup_reloads_the_models_of_a_running_server(model_dir, tmp_path):
    import os
    import signal
    import sys

    root = tmp_path / "served"
    shutil.copytree(model_dir / "sentiment", root / "sentiment")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", "from headstart.cli import main; main()", "serve", str(root), "--port", str(port), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        names = wait_for_models(url, lambda names: names == ["sentiment"])
        shutil.copytree(model_dir / "words", root / "words")
        os.kill(process.pid, signal.SIGHUP)
        names = wait_for_models(url, lambda names: "words" in names)
        assert names == ["sentiment", "words"]
        answer = httpx.post(url + "/v1/classify", json={"texts": TEXTS[:1]}).json()
        assert set(answer["results"][0]) == {"sentiment", "words"}
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert "Traceback" not in output, output


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_models(url: str, done, seconds: float = 60) -> list[str]:
    deadline, names = time.monotonic() + seconds, None
    while time.monotonic() < deadline:
        try:
            names = [m["name"] for m in httpx.get(url + "/v1/models").json()]
            if done(names):
                return names
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the server did not get there in {seconds} s; it serves {names}")
