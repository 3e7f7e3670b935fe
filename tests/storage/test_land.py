"""``edgetrain storage land|clear``: your own CSV drops into the raw container of the strict stand-in."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tests.conftest import REPO_ROOT, STACK_HUB_VERSION

from edgetrain.cli import main
from edgetrain.storage.seed import seed

pytestmark = pytest.mark.integration
EDGE = yaml.safe_load((REPO_ROOT / "config" / "edge.yaml").read_text())
PARAMS = {
    "seed": 1,
    "task": "binary",
    "data": {"target": "churned", "features": ["tenure", "spend", "plan"], "categorical": ["plan"]},
    "split": {"valid_fraction": 0.2, "test_fraction": 0.2},
    "train": {"objective": "binary:logistic", "num_boost_round": 20, "nthread": 1},
    "evaluate": {"threshold": 0.5, "primary_metric": "auc"},
}
GOOD = "tenure,spend,plan,churned\n3,10.5,basic,no\n24,99.0,pro,yes\n12,45.25,basic,no\n"


@pytest.fixture
def setup(tmp_path: Path, standin, storage, clean_env) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    """An edge config for this test's containers, params describing the files, cwd with no DVC creds."""
    data = yaml.safe_load(yaml.safe_dump(EDGE))
    data["storage"].update(
        blob_endpoint=standin.blob_endpoint,
        raw_container=storage.raw_container,
        dvc_container=storage.dvc_container,
    )
    edge = tmp_path / "edge.yaml"
    edge.write_text(yaml.safe_dump(data))
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(PARAMS))
    clean_env.chdir(tmp_path)
    return edge, params


def blobs(standin, storage) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(standin.connection_string)
    container = service.get_container_client(storage.raw_container)
    return {b.name: container.download_blob(b.name).readall() for b in container.list_blobs()}


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_land_replace_and_clear(setup, standin, storage, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    edge, params = setup
    seed(storage, rows=50, days=2, seed_value=3, conn_str=standin.connection_string)
    mine = tmp_path / "mine"
    files = [write(mine, "jan.csv", GOOD), write(mine, "feb.csv", GOOD.replace("basic", "pro"))]
    start = len(standin.requests)
    base = ["storage", "--config", str(edge)]
    assert main([*base, "land", "--params", str(params), *map(str, files)]) == 0
    assert "2 drops in" in capsys.readouterr().out
    found = blobs(standin, storage)
    assert found["raw/jan.csv"] == files[0].read_bytes()
    assert found["raw/feb.csv"] == files[1].read_bytes()
    assert "raw/2026-11-01.csv" in found  # the sample drops are still there

    assert main([*base, "land", "--params", str(params), "--replace", *map(str, files)]) == 0
    assert "(0 uploaded, 2 already there), 6 rows; removed 2 other drops" in capsys.readouterr().out
    assert sorted(blobs(standin, storage)) == ["raw/feb.csv", "raw/jan.csv"]

    assert main([*base, "clear"]) == 0
    assert "removed 2 drops" in capsys.readouterr().out
    assert blobs(standin, storage) == {}
    seen = [r for r in standin.requests[start:] if storage.raw_container in r.path]
    assert {r.version for r in seen} == {STACK_HUB_VERSION}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.csv", GOOD.replace("spend", "spent"), "bad.csv: missing feature column 'spend'"),
        ("bad.csv", GOOD.replace("45.25", "lots"), "bad.csv: numeric feature column 'spend' must be numeric"),
        (
            "bad.csv",
            GOOD.replace("45.25,basic,no", "45.25,basic,"),
            "target column 'churned' is blank in 1 row(s): ",
        ),
        ("bad.txt", GOOD, "bad.txt: not a .csv file"),
        (
            "bad.csv",
            GOOD.replace("spend", "spend[$]"),
            "good.csv: feature column 'spend[$]' contains '[' and ']': XGBoost refuses column names "
            "containing [, ] or < (rename it in the file and in params data.features)",
        ),
        (
            "bad.csv",
            GOOD.replace("churned", "churned<30d"),
            "good.csv: target column 'churned<30d' contains '<': XGBoost refuses",
        ),
    ],
    ids=["missing-column", "not-numeric", "missing-label", "not-csv", "feature-name", "target-name"],
)
def test_a_bad_file_lands_nothing(
    setup, standin, storage, tmp_path: Path, capsys, *, name, text, message
) -> None:  # type: ignore[no-untyped-def]
    edge, params = setup
    good = write(tmp_path / "mine", "good.csv", GOOD)
    bad = write(tmp_path / "mine", name, text)
    if "spend[$]" in text or "churned<30d" in text:  # params and both files name the column so
        named = yaml.safe_dump(PARAMS)
        for old, new in (("spend", "spend[$]"), ("churned", "churned<30d")):
            named = named.replace(old, new) if new in text else named
        params.write_text(named)
        good = write(tmp_path / "mine", "good.csv", text)
    code = main(["storage", "--config", str(edge), "land", "--params", str(params), str(good), str(bad)])
    assert code == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert message in err[0]
    assert blobs(standin, storage) == {}  # not even the good file


def test_deleting_is_refused_on_a_real_account(tmp_path: Path, clean_env, capsys) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(yaml.safe_dump(EDGE))
    data["storage"] = {"account_name": "edgedata", "endpoint_suffix": "local.azurestack.external"}
    edge = tmp_path / "edge.yaml"
    edge.write_text(yaml.safe_dump(data))
    clean_env.setenv(
        "AZURE_STORAGE_CONNECTION_STRING",
        "DefaultEndpointsProtocol=https;AccountName=edgedata;AccountKey=a2V5;EndpointSuffix=local.azurestack.external",
    )
    clean_env.chdir(tmp_path)
    assert main(["storage", "--config", str(edge), "clear"]) == 4
    err = capsys.readouterr().err
    assert "only runs against the embedded stand-in, not account 'edgedata'" in err


def test_blank_targets_are_listed_for_every_file(setup, standin, storage, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    edge, params = setup
    rows = "".join(f"{i},1.0,basic,\n" if i % 2 else f"{i},1.0,pro,no\n" for i in range(30))
    files = [
        write(tmp_path / "mine", "a.csv", GOOD),
        write(tmp_path / "mine", "b.csv", GOOD.replace("99.0,pro,yes", "99.0,pro,")),
        write(tmp_path / "mine", "c.csv", "tenure,spend,plan,churned\n" + rows),
    ]
    code = main(["storage", "--config", str(edge), "land", "--params", str(params), *map(str, files)])
    assert code == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "target column 'churned' is blank in 16 row(s)" in err[0]
    assert f"{files[1]} line 3 (1 rows)" in err[0]
    assert f"{files[2]} lines 3, 5, 7, 9, 11, 13, 15, 17, 19, 21 and 5 more (15 rows)" in err[0]
    assert "a.csv" not in err[0]
    assert "data.missing_target: drop" in err[0]
    assert blobs(standin, storage) == {}

    params.write_text(yaml.safe_dump({**PARAMS, "data": {**PARAMS["data"], "missing_target": "drop"}}))
    assert main(["storage", "--config", str(edge), "land", "--params", str(params), *map(str, files)]) == 0
    assert "3 drops in" in capsys.readouterr().out
    assert sorted(blobs(standin, storage)) == ["raw/a.csv", "raw/b.csv", "raw/c.csv"]  # landed as they are
