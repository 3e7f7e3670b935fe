"""Rehearsal of release.yml with act, after pull request #1 was trained by pr-train.yml and merged.

Three jobs: ``production`` (hosted, Azure) fetches the production model, ``verify`` (edge, rows, no Azure)
reproduces the merged commit from its raw data and scores production on the commit's test split, ``ship``
(hosted, Azure) registers with that figure as the gate's baseline. The merge trains exactly once (in
``verify``, no run cache), reproduces the sha256 the pull request recorded, registers version 1 in the
Azure ML stand-in (through the real azure-ai-ml, logged in with the OIDC exchange), pushes an image to the
loopback registry that is then pulled, started and scores like ``edgetrain serve``; a rerun changes nothing;
a worse candidate (trained on a different test split) fails the gate against production's score on *its*
split and pushes nothing; a manual run overrides with a recorded reason; a commit whose records name a model
its code does not reproduce, or whose params changed without training, stops with one line, pushes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
import subprocess
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
import yaml
from tests.conftest import REPO_ROOT
from tests.image.helpers import STORAGE, load_rehearsal, need_tools
from tests.rehearsal.act import OWNER, ActRun, Rehearsal
from tests.rehearsal.fixtures import PR_BRANCH, PR_NUMBER
from tests.rehearsal.permissions import unused_permissions
from tests.serving.helpers import serve_context

from edgetrain.data.sample import generate, to_csv_bytes
from edgetrain.serving.image import Buildah
from edgetrain.storage.azurite import free_port

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
log = logging.getLogger(__name__)
base_image = load_rehearsal("base_image")
MODEL = "edgetrain-xgb"
REPOSITORY = "edgetrain-scoring"
READY_TIMEOUT_S = 120
TEST_SPLIT = "artifacts/prepared/test.parquet"
WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "release.yml"


def versions(r: Rehearsal) -> dict[str, dict]:
    return dict(r.aml.state.models.get(MODEL, {}))  # type: ignore[attr-defined]


def tags(r: Rehearsal) -> list[str]:
    """The image's tags (the attestations' ``sha256-<hex>`` referrer tags are listed apart)."""
    return [t for t in r.registry.tags(REPOSITORY) if not t.startswith("sha256-")]  # type: ignore[attr-defined]


def authfile(r: Rehearsal, tmp_path: Path) -> Path:
    return r.registry.authfile(tmp_path / "registry-auth.json")  # type: ignore[no-any-return, attr-defined]


def skopeo_inspect(ref: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", *extra, f"docker://{ref}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def homes(r: Rehearsal) -> list[Path]:
    """Every run's HOME (tests/rehearsal/act.py gives each run a fresh one)."""
    return sorted(r.root.glob("run*-home"))


def summary(run: ActRun) -> str:
    return "\n".join(run.summaries.values())


def baseline(run: ActRun) -> dict:
    """The hand-off the edge job gave the registering job (production's score on the commit's split)."""
    return json.loads((run.artifacts / "production-baseline" / "baseline.json").read_text())


def split_md5(r: Rehearsal, ref: str) -> str:
    lock = yaml.safe_load(r.show(ref, "dvc.lock"))
    return next(d["md5"] for d in lock["stages"]["evaluate"]["deps"] if d["path"] == TEST_SPLIT)


def test_trust_split_of_the_job_graph() -> None:
    """Edge job: rows, read-only, no Azure. Hosted jobs: Azure, no rows. Only models and JSON cross."""
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    deploy = [job for job in jobs if job.startswith("deploy-")]  # after ship: tests/rollout/test_workflow.py
    assert [job for job in jobs if job not in deploy] == ["production", "verify", "ship"]
    assert jobs["verify"]["needs"] == "production"
    assert jobs["ship"]["needs"] == "verify"

    def uses(job: str) -> list[str]:
        return [step["uses"].split("@")[0] for step in jobs[job]["steps"] if "uses" in step]

    def runs(job: str) -> str:
        return "\n".join(step.get("run", "") for step in jobs[job]["steps"])

    assert "self-hosted" in jobs["verify"]["runs-on"]
    # id-token only for the storage broker's credential (docs/storage-credentials.md); no Azure login
    assert jobs["verify"]["permissions"] == {"contents": "read", "id-token": "write"}
    assert "azure/login" not in uses("verify")
    assert "--backend azureml" not in runs("verify")
    assert "score-production --from" in runs("verify")
    for job in ("production", "ship"):
        assert jobs[job]["runs-on"] == "ubuntu-latest"
        assert jobs[job]["environment"] == "production"
        assert jobs[job]["permissions"]["id-token"] == "write"
        assert "azure/login" in uses(job)
        assert "dvc" not in runs(job)
        assert "STACKHUB" not in json.dumps(jobs[job])
    assert "contents" in jobs["production"]["permissions"]
    assert set(jobs["production"]["permissions"]) == {"contents", "id-token"}
    assert "--baseline build/baseline/baseline.json" in runs("ship")
    uploads = {
        job: [s["with"]["name"] for s in jobs[job]["steps"] if s.get("uses", "").startswith("actions/upload")]
        for job in jobs
        if job not in deploy
    }
    assert uploads == {
        "production": ["production-model"],
        "verify": ["release-context", "production-baseline"],
        "ship": [],
    }


@pytest.fixture(scope="module")
def release_env(rehearsal_base: Rehearsal) -> Rehearsal:
    need_tools("buildah", "skopeo", "mmdebstrap", "docker-registry")
    buildah = Buildah.from_env(root=STORAGE, env={})
    standin = base_image.prepare(buildah, base_image.CACHE)
    rehearsal_base.extra_env["EDGETRAIN_CONTAINERS_ROOT"] = str(STORAGE)
    # The runner host's buildah builds on the stand-in (release.yml has no switch for its pinned base).
    rehearsal_base.runner_path.insert(0, standin.runner_bin(rehearsal_base.root / "runner-bin"))
    return rehearsal_base


@pytest.fixture(scope="module")
def first(release_env: Rehearsal, trained_pr: ActRun) -> ActRun:
    assert trained_pr.ok, trained_pr.output[-5000:]
    assert trained_pr.then is not None
    assert trained_pr.then.ok, trained_pr.then.output[-5000:]
    release_env.merge(PR_BRANCH, PR_NUMBER)
    # A drop lands between the merge and the release (drops arrive all the time): the release still
    # reproduces exactly what the merged commit pins, and its image is exactly that commit.
    day = date(2031, 1, 1)
    landed = release_env.land(day.isoformat(), to_csv_bytes(generate(200, 8, day, 1)[day.isoformat()]))
    try:
        return release_env.run("release.yml", "push", release_env.push_event())
    finally:
        release_env.unland(landed)


def test_merge_reproduces_and_ships_the_reviewed_model(first: ActRun, release_env: Rehearsal) -> None:
    r = release_env
    assert first.ok, first.output[-8000:]
    verify = first.job_log("verify")
    reproduced = re.search(r"edgetrain: reproduced in (\d+)s", verify)
    assert reproduced is not None
    log.info(
        "release wall time in rehearsal (act, three jobs, first release): %.0fs; verify's reproduction "
        "(dvc repro --force --no-run-cache): %ss",
        first.seconds,
        reproduced[1],
    )
    # retrains exactly once, in verify, and nothing is restored from the run cache
    trained = [ln for ln in first.output.splitlines() if "Running stage 'train'" in ln]
    assert len(trained) == 1
    assert trained[0].startswith("[verify]")
    assert "from run-cache" not in first.output
    assert "is cached" not in first.output
    # it pushes its own outputs to the DVC cache container, and writes nowhere else in storage
    writes = [q for q in first.storage_requests if q.method in {"PUT", "POST", "DELETE"}]
    assert writes
    assert all("/dvc-cache" in q.path for q in writes), sorted({q.path for q in writes})[:5]
    # the model it reproduced is the one the pull request recorded (sha256 in run.json, md5 in dvc.lock)
    recorded = json.loads(r.show("main", "artifacts/model/run.json"))["sha256"]["model.ubj"]
    assert f"artifacts/model/model.ubj: sha256 {recorded} reproduced" in verify
    assert "every output md5 in dvc.lock is equal" in verify
    # no production yet: the record says so, and the hand-off carries no figure
    fetched = first.artifacts / "production-model"
    assert sorted(p.name for p in fetched.iterdir()) == ["production.json"]
    assert json.loads((fetched / "production.json").read_text())["version"] is None
    assert baseline(first)["production_version"] is None
    assert baseline(first)["commit"] == r.rev("main")
    assert baseline(first)["test_split_md5"] == split_md5(r, "main")
    main = r.rev("main")
    lock_text = r.show("main", "dvc.lock")
    lock = yaml.safe_load(lock_text)
    model_md5 = next(o["md5"] for o in lock["stages"]["train"]["outs"] if o["path"].endswith("model.ubj"))
    assert list(versions(r)) == ["1"]
    props = versions(r)["1"]["properties"]
    assert props["tags"]["git_commit"] == main
    assert props["tags"]["pull_request"] == str(PR_NUMBER)
    assert props["tags"]["model_md5"] == model_md5
    assert props["tags"]["dvc_lock_md5"] == hashlib.md5(lock_text.encode()).hexdigest()
    assert props["tags"]["data_md5"] == yaml.safe_load(r.show("main", "data.dvc"))["outs"][0]["md5"]
    assert props["tags"]["param_max_depth"] == "4"
    assert props["tags"]["stage"] == "production"
    assert tags(r) == sorted(["1", main])


def test_every_job_uses_every_permission_it_declares(first: ActRun, release_env: Rehearsal) -> None:
    assert first.ok
    workflow = REPO_ROOT / ".github" / "workflows" / "release.yml"
    assert unused_permissions(workflow, release_env.github.calls) == {}


def test_azure_calls_used_the_oidc_exchange(first: ActRun, release_env: Rehearsal) -> None:
    r = release_env
    assert first.ok
    # Two audiences, each only for the jobs of its environment: Azure's token exchange for the hosted
    # `production` jobs, the storage broker for the edge jobs (`stackhub`).
    environments: dict[str, set[str | None]] = {}
    for token in r.github.state.id_tokens:
        environments.setdefault(token["aud"], set()).add(token.get("environment"))
    assert environments == {
        "api://AzureADTokenExchange": {"production"},
        "edgetrain-storage-broker": {"stackhub"},
    }
    issued = r.github.state.access_tokens
    arm_calls = [c for c in r.aml.log if not c.is_blob and c.path != "/metadata/endpoints"]  # type: ignore[attr-defined]
    assert arm_calls
    assert all(c.headers.get("Authorization", "").removeprefix("Bearer ") in issued for c in arm_calls)
    assert "client_secret" not in json.dumps([c.body for c in r.github.calls if c.path.startswith("/_entra")])


def test_summary_image_labels_and_provenance(first: ActRun, release_env: Rehearsal, tmp_path: Path) -> None:
    r = release_env
    text = summary(first)
    assert "| model version | 1 (registered) |" in text
    ref = next(line for line in text.splitlines() if line.startswith("| image |")).split("`")[1]
    assert ref.startswith(f"{r.registry.address}/{REPOSITORY}@sha256:")  # type: ignore[attr-defined]
    # the registry, like ACR, answers nobody without a login: ship pushed with the ACR token it exchanged
    anonymous = skopeo_inspect(ref)
    assert anonymous.returncode != 0
    assert "unauthorized" in anonymous.stderr.lower() or "authentication required" in anonymous.stderr.lower()
    login = authfile(r, tmp_path)
    raw = skopeo_inspect(ref, "--authfile", str(login))
    assert raw.returncode == 0, raw.stderr
    labels = json.loads(raw.stdout)["Labels"]
    manifest = skopeo_inspect(ref, "--authfile", str(login), "--raw")
    size = sum(int(layer["size"]) for layer in json.loads(manifest.stdout)["layers"])
    log.info("scoring image: %.0f MB compressed in the registry (base stand-in included)", size / 1e6)
    assert labels["org.opencontainers.image.source"] == f"https://github.com/{OWNER}/edgetrain"
    assert labels["org.opencontainers.image.revision"] == r.rev("main")
    statements = list((first.artifacts / "attestations").glob("*.intoto.json"))
    assert len(statements) == 1
    subject = json.loads(statements[0].read_text())["subject"][0]
    image_digest = ref.split("@")[1]
    assert subject["digest"]["sha256"] == image_digest.removeprefix("sha256:")
    # push-to-registry: the attestation sits next to the image, found from the image's digest, pushed with
    # the login the job wrote to ~/.docker/config.json (the only place the real action reads it from)
    referrers = skopeo_inspect(
        f"{r.registry.address}/{REPOSITORY}:{image_digest.replace(':', '-')}",
        "--authfile",
        str(login),
        "--raw",
    )
    assert referrers.returncode == 0, referrers.stderr
    (entry,) = json.loads(referrers.stdout)["manifests"]
    assert entry["artifactType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    attestation = json.loads(
        skopeo_inspect(
            f"{r.registry.address}/{REPOSITORY}@{entry['digest']}", "--authfile", str(login), "--raw"
        ).stdout
    )
    assert attestation["subject"]["digest"] == image_digest
    # ... and the login did not outlive the job
    assert "Forget the registry login" in first.job_log("ship")
    assert not any((home / ".docker" / "config.json").exists() for home in homes(r))


@pytest.fixture
def image_server(first: ActRun, release_env: Rehearsal, tmp_path: Path) -> Iterator[str]:
    text = summary(first)
    ref = next(line for line in text.splitlines() if line.startswith("| image |")).split("`")[1]
    fresh = Buildah.from_env(root=tmp_path / "pull", env={})
    login = str(authfile(release_env, tmp_path))
    container = fresh.run(
        ["from", "--tls-verify=false", "--authfile", login, "--pull=always", "--quiet", f"docker://{ref}"],
        900,
        "pull",
    ).stdout.split()[-1]
    port = free_port()
    argv = ["buildah", *fresh.global_args(), "run", "--isolation", fresh.isolation, "--env", f"PORT={port}"]
    argv += ["--env", "HOST=127.0.0.1", container, "--", "python", "-m", "scoring_server"]
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            pytest.fail(f"image server not ready: {(tmp_path / 'server.log').read_text()[-3000:]}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        subprocess.run(
            ["buildah", *fresh.global_args(), "rm", "--all"], capture_output=True, timeout=300, check=False
        )
        subprocess.run(
            ["buildah", *fresh.global_args(), "rmi", "--all"], capture_output=True, timeout=300, check=False
        )


def _records(r: Rehearsal, rows: int = 8) -> list[dict]:
    from edgetrain.config.edge import load_edge_config
    from edgetrain.storage.connection import blob_service

    work = r.checkout("main", "records")
    cfg = load_edge_config(work / "config" / "edge.yaml")
    features = yaml.safe_load((work / "params.yaml").read_text())["data"]["features"]
    container = blob_service(cfg.storage, r.standin.connection_string).get_container_client(
        cfg.storage.raw_container
    )
    name = next(iter(container.list_blobs())).name
    reader = csv.DictReader(io.StringIO(container.download_blob(name).readall().decode()))
    out = []
    for row, _ in zip(reader, range(rows), strict=False):
        out.append({f: (row[f] if f == "type" else float(row[f])) for f in features})
    return out


def test_pulled_image_scores_like_edgetrain_serve(
    image_server: str, first: ActRun, release_env: Rehearsal, tmp_path: Path
) -> None:
    body = _records(release_env)
    in_image = httpx.post(image_server + "/score", json=body, timeout=60)
    assert in_image.status_code == 200, in_image.text
    local = serve_context(first.artifacts / "release-context", tmp_path)
    try:
        served = httpx.post(local.url + "/score", json=body, timeout=60)
    finally:
        local.stop()
    assert served.status_code == 200, served.text
    got, expected = in_image.json(), served.json()
    assert got["predictions"] == expected["predictions"]
    assert got["probabilities"] == expected["probabilities"]


def test_rerun_changes_nothing(first: ActRun, release_env: Rehearsal) -> None:
    r = release_env
    assert first.ok
    before_tags, before = tags(r), versions(r)
    puts = sum(1 for c in r.aml.log if c.method == "PUT" and "/versions/" in c.path)  # type: ignore[attr-defined]
    again = r.run("release.yml", "push", r.push_event())
    assert again.ok, again.output[-8000:]
    assert "| model version | 1 (already_registered) |" in summary(again)
    assert versions(r).keys() == before.keys()
    assert tags(r) == before_tags
    new_puts = [c for c in r.aml.log if c.method == "PUT" and "/versions/" in c.path]  # type: ignore[attr-defined]
    # the only write is promote re-setting the same production tag on version 1
    assert all(c.path.endswith("/versions/1") for c in new_puts[puts:])
    assert "unchanged (already in the registry)" in again.job_log("ship")


def test_worse_candidate_fails_the_gate_and_pushes_nothing(first: ActRun, release_env: Rehearsal) -> None:
    r = release_env
    assert first.ok
    params = yaml.safe_load(r.show("main", "params.yaml"))
    params["train"].update({"max_depth": 1, "num_boost_round": 2, "early_stopping_rounds": 1, "eta": 0.01})
    params["split"]["test_fraction"] = 0.2  # a different test split from the one v1 was evaluated on
    r.commit("worse", {"params.yaml": yaml.safe_dump(params, sort_keys=False)}, "A worse model")
    pr = r.pull_request_round("worse", number=3)
    assert pr.ok, pr.output[-5000:]
    assert pr.then is not None
    assert pr.then.ok, pr.then.output[-5000:]
    r.merge("worse", 3)
    before_tags, before = tags(r), versions(r)
    run = r.run("release.yml", "push", r.push_event())
    assert not run.ok
    assert run.ran("verify")
    text = summary(run)
    assert "Release refused: nothing was pushed" in text
    assert "quality gate" in text.lower() or "gate" in text.lower()
    # the gate compared with production v1 scored by the edge job on the candidate's test split ...
    v1 = versions(r)["1"]["properties"]
    v1_tags = {**v1.get("properties", {}), **v1["tags"]}
    got = baseline(run)
    assert got["commit"] == r.rev("main")
    assert got["test_split_md5"] == split_md5(r, "main") != split_md5(r, v1_tags["git_commit"])
    assert got["production_version"] == "1"
    assert got["production_model_md5"] == v1_tags["model_md5"]
    fetched = run.artifacts / "production-model"
    assert sorted(p.name for p in fetched.iterdir()) == ["metadata.json", "model.ubj", "production.json"]
    assert hashlib.md5((fetched / "model.ubj").read_bytes()).hexdigest() == v1_tags["model_md5"]
    # ... and the summary's gate figure is that score, not the one v1 recorded on its own split
    recorded = float(v1_tags["metric_auc"])
    log.info(
        "gate: production v1 auc %.6g on the candidate's split (recorded %.6g on its own); run %.0fs",
        got["value"],
        recorded,
        run.seconds,
    )
    assert f"{got['value']:.6g}" != f"{recorded:.6g}"
    assert f"production v1 auc={got['value']:.6g}, both on the candidate's test split" in text
    assert f"it recorded {recorded:.6g} on its own split" in text
    assert versions(r).keys() == before.keys()
    assert tags(r) == before_tags
    assert not (run.artifacts / "attestations").exists()


def test_manual_run_may_override_the_gate_with_a_recorded_reason(
    first: ActRun, release_env: Rehearsal
) -> None:
    r = release_env
    assert first.ok
    assert yaml.safe_load(r.show("main", "params.yaml"))["train"]["max_depth"] == 1  # the worse candidate
    reason = "accept the lower auc while the new sensor settles (INC-1234)"
    event = {**r.push_event(), "inputs": {"force-gate": "true", "reason": reason}}  # strings, as GitHub sends
    run = r.run("release.yml", "workflow_dispatch", event, inputs={"force-gate": "true", "reason": reason})
    assert run.ok, run.output[-8000:]
    assert set(versions(r)) == {"1", "2"}
    forced = versions(r)["2"]["properties"]["tags"]
    assert forced["forced"] == "true"
    assert forced["force_reason"] == reason
    assert forced["stage"] == "production"
    assert "2" in tags(r)
    assert "| model version | 2 (registered) |" in summary(run)
    got = baseline(run)
    assert got["production_version"] == "1"
    assert got["test_split_md5"] == split_md5(r, "main")
    assert f"| gate baseline | production v1 auc={got['value']:.6g} on this commit's test split |" in summary(
        run
    )


def test_recorded_model_that_does_not_reproduce_stops_the_release(
    first: ActRun, release_env: Rehearsal
) -> None:
    """main's dvc.lock/run.json edited to v1's digests: the release's own training produces another model."""
    r = release_env
    assert first.ok
    # runs after the worse candidate's merge (file order): main's model is not v1's, whose digests it plants
    assert yaml.safe_load(r.show("main", "params.yaml"))["train"]["max_depth"] == 1
    v1_commit = versions(r)["1"]["properties"]["tags"]["git_commit"]
    lock_text, run_text = r.show("main", "dvc.lock"), r.show("main", "artifacts/model/run.json")
    honest = json.loads(run_text)["sha256"]["model.ubj"]
    planted_run = r.show(v1_commit, "artifacts/model/run.json")
    planted = json.loads(planted_run)["sha256"]["model.ubj"]
    assert planted != honest

    def outs(text: str) -> dict[str, dict]:
        return {o["path"]: o for o in yaml.safe_load(text)["stages"]["train"]["outs"]}

    now, then = outs(lock_text), outs(r.show(v1_commit, "dvc.lock"))
    for path in ("artifacts/model/model.ubj", "artifacts/model/run.json"):
        lock_text = lock_text.replace(now[path]["md5"], then[path]["md5"])
        lock_text = lock_text.replace(f"size: {now[path]['size']}\n", f"size: {then[path]['size']}\n")
    r.commit(
        "main", {"dvc.lock": lock_text, "artifacts/model/run.json": planted_run}, "Records of another model"
    )
    before_tags, before = tags(r), versions(r)
    run = r.run("release.yml", "push", r.push_event())
    assert not run.ok
    assert not run.ran("ship")
    lines = [ln for ln in summary(run).splitlines() if "does not reproduce" in ln]
    assert len(lines) == 1, summary(run)
    assert f"sha256 {planted} recorded, {honest} reproduced" in lines[0]
    assert "params, data, code and engine are equal" in lines[0]
    assert not [q for q in run.storage_requests if q.method in {"PUT", "POST", "DELETE"}]
    assert versions(r).keys() == before.keys()
    assert tags(r) == before_tags
    # back to the honest records for the next test
    r.commit(
        "main", {"dvc.lock": r.show("main~1", "dvc.lock"), "artifacts/model/run.json": run_text}, "Revert"
    )


def test_params_changed_without_training_stop_the_release_with_one_line(
    first: ActRun, release_env: Rehearsal
) -> None:
    r = release_env
    assert first.ok
    params = yaml.safe_load(r.show("main", "params.yaml"))
    params["train"]["eta"] = 0.2
    r.commit("main", {"params.yaml": yaml.safe_dump(params, sort_keys=False)}, "Change eta without training")
    before_tags, before = tags(r), versions(r)
    run = r.run("release.yml", "push", r.push_event())
    assert not run.ok
    assert not run.ran("ship")
    lines = [ln for ln in summary(run).splitlines() if "does not reproduce" in ln]
    assert len(lines) == 1
    assert "params (params.yaml)" in lines[0]
    assert "nothing was registered or pushed" in lines[0]
    assert not [q for q in run.storage_requests if q.method in {"PUT", "POST", "DELETE"}]
    assert versions(r).keys() == before.keys()
    assert tags(r) == before_tags


def test_opting_out_of_reproduction_ships_the_recorded_model_as_not_reproduced(
    first: ActRun, release_env: Rehearsal
) -> None:
    """``release.reproduce: false``: without the broker's dvc-pr grant the release stops with one line; with
    it, the release trains nothing, ships the pull request's outputs and the version says so."""
    r = release_env
    assert first.ok
    v1_commit = versions(r)["1"]["properties"]["tags"]["git_commit"]
    params = yaml.safe_load(r.show(v1_commit, "params.yaml"))
    params["train"]["eta"] = 0.25  # a model no version has yet
    edge = yaml.safe_load(r.show("main", "config/edge.yaml"))
    edge["release"] = {"reproduce": False}
    changes = {
        "params.yaml": yaml.safe_dump(params, sort_keys=False),
        "config/edge.yaml": yaml.safe_dump(edge, sort_keys=False),
    }
    r.commit("slow-training", changes, "Train too long to repeat: release the recorded outputs")
    pr = r.pull_request_round("slow-training", number=5)
    assert pr.ok, pr.output[-5000:]
    assert pr.then is not None
    assert pr.then.ok, pr.then.output[-5000:]
    r.merge("slow-training", 5)
    before_tags, before = tags(r), versions(r)

    # the default policy: no release reads the pull-request container
    assert "dvc-pr" not in next(x for x in r.broker.policy.rules if x.name == "release").grants
    refused = r.run("release.yml", "push", r.push_event())
    assert not refused.ok
    assert not refused.ran("ship")
    lines = [ln for ln in summary(refused).splitlines() if "release.reproduce is false" in ln]
    assert len(lines) == 1, summary(refused)
    assert "the broker policy's release rule must grant dvc-pr: rl" in lines[0]
    assert not [q for q in refused.storage_requests if q.method in {"PUT", "POST", "DELETE"}]
    assert (versions(r).keys(), tags(r)) == (before.keys(), before_tags)

    r.broker.grant("release", "dvc-pr", "rl")  # the operator's reviewed decision, on the VM
    try:
        run = r.run("release.yml", "push", r.push_event())
    finally:
        r.broker.grant("release", "dvc-pr", None)
    assert run.ok, run.output[-8000:]
    assert "Running stage" not in run.job_log("verify")  # nothing trained
    assert "(pulled, not reproduced)" in run.job_log("verify")
    new = sorted(versions(r).keys() - before.keys())
    assert len(new) == 1
    version = versions(r)[new[0]]["properties"]
    assert version["tags"]["reproduced"] == "false"
    assert "Not reproduced by the release" in version["description"]
    recorded = json.loads(r.show("main", "artifacts/model/run.json"))["sha256"]["model.ubj"]
    assert f"artifacts/model/model.ubj: sha256 {recorded} as commit" in run.job_log("verify")
    lock = yaml.safe_load(r.show("main", "dvc.lock"))
    model_md5 = next(o["md5"] for o in lock["stages"]["train"]["outs"] if o["path"].endswith("model.ubj"))
    assert version["tags"]["model_md5"] == model_md5
    assert "| reproduced | no: release.reproduce is false" in summary(run)
    # it read the pull-request container and wrote only to the DVC cache container
    writes = [q for q in run.storage_requests if q.method in {"PUT", "POST", "DELETE"}]
    assert writes
    assert all("/dvc-cache" in q.path for q in writes), sorted({q.path for q in writes})[:5]
    assert any("/dvc-pr" in q.path for q in run.storage_requests if q.method == "GET")
