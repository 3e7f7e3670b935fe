"""New drops are found by content and validated with prepare's reader before DVC records anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.refresh.conftest import land, write_local

from edgetrain.errors import DataError
from edgetrain.refresh.drops import validate_new_drops

pytestmark = pytest.mark.integration


def test_only_drops_missing_from_data_are_new(raw, drops, params, tmp_path: Path, standin) -> None:  # type: ignore[no-untyped-def]
    cfg, container = raw
    names = sorted(drops)
    for name in names:
        land(container, name, drops[name])
    land(container, "notes.txt", b"not a drop")  # prepare reads *.csv only
    land(container, "sub/2026-01-09.csv", b"x")  # nor sub-folders
    data = write_local(tmp_path / "data", {n: drops[n] for n in names[:2]})
    new = validate_new_drops(cfg, params, data, standin.connection_string)
    assert [d.name for d in new] == names[2:]
    assert [d.blob for d in new] == [f"{cfg.raw_container}/raw/{n}" for n in names[2:]]
    assert all(d.rows == drops[d.name].count(b"\n") - 1 and not d.replaces for d in new)


def test_nothing_new_when_data_matches(raw, drops, params, tmp_path: Path, standin) -> None:  # type: ignore[no-untyped-def]
    cfg, container = raw
    for name, payload in drops.items():
        land(container, name, payload)
    data = write_local(tmp_path / "data", drops)
    assert validate_new_drops(cfg, params, data, standin.connection_string) == []


def test_a_rewritten_drop_counts_as_new(raw, drops, params, tmp_path: Path, standin) -> None:  # type: ignore[no-untyped-def]
    cfg, container = raw
    name = sorted(drops)[0]
    land(container, name, drops[name])
    data = write_local(tmp_path / "data", {name: drops[name].replace(b"\n1,", b"\n100001,", 1)})
    [new] = validate_new_drops(cfg, params, data, standin.connection_string)
    assert new.replaces


def _bad_drops(good: bytes) -> dict[str, tuple[bytes, str]]:
    header, first, rest = good.split(b"\n", 2)
    cells = first.split(b",")
    cells[header.split(b",").index(b"torque_nm")] = b"abc"
    return {
        "wrong columns": (
            header.replace(b"torque_nm", b"torque") + b"\n" + first + b"\n" + rest,
            "missing feature column 'torque_nm'",
        ),
        "unparsable cell": (
            header + b"\n" + b",".join(cells) + b"\n" + rest,
            "column 'torque_nm' must be numeric; line 2 has 'abc'",
        ),
        "empty file": (b"", "empty drop"),
    }


@pytest.mark.parametrize("case", ["wrong columns", "unparsable cell", "empty file"])
def test_a_bad_drop_fails_with_one_line_naming_blob_and_column(  # type: ignore[no-untyped-def]  # noqa: PLR0917
    raw, drops, params, tmp_path: Path, standin, case: str
) -> None:
    cfg, container = raw
    names = sorted(drops)
    payload, expected = _bad_drops(drops[names[1]])[case]
    land(container, names[0], drops[names[0]])
    land(container, names[1], payload)
    data = write_local(tmp_path / "data", {names[0]: drops[names[0]]})
    before = sorted(p.name for p in data.iterdir())
    with pytest.raises(DataError) as failure:
        validate_new_drops(cfg, params, data, standin.connection_string)
    message = str(failure.value)
    assert "\n" not in message
    assert message.startswith(f"{cfg.raw_container}/raw/{names[1]}: ")
    assert expected in message
    assert "/tmp" not in message
    assert sorted(p.name for p in data.iterdir()) == before  # nothing landed in data/
