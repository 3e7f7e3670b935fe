"""The AI4I-style sample generator: deterministic, complete, and failing for the documented reasons."""

from __future__ import annotations

import io
from datetime import date

import numpy as np
import pandas as pd
import pytest

from edgetrain.data import sample


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return sample.generate_frame(20_000, seed=11)


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    first = sample.generate(3000, seed=5, start_day=date(2024, 3, 1), days=3)
    again = sample.generate(3000, seed=5, start_day=date(2024, 3, 1), days=3)
    other = sample.generate(3000, seed=6, start_day=date(2024, 3, 1), days=3)
    assert list(first) == ["2024-03-01", "2024-03-02", "2024-03-03"]
    for day in first:
        assert sample.to_csv_bytes(first[day]) == sample.to_csv_bytes(again[day])
    assert sample.to_csv_bytes(first["2024-03-01"]) != sample.to_csv_bytes(other["2024-03-01"])


def test_columns_and_types(frame: pd.DataFrame) -> None:
    assert tuple(frame.columns) == sample.COLUMNS
    assert frame["udi"].tolist() == list(range(1, len(frame) + 1))
    assert set(frame["type"]) == {"L", "M", "H"}
    assert frame["product_id"].str.match(r"^[LMH]\d{5}$").all()
    assert (frame["product_id"].str[0] == frame["type"]).all()
    assert set(frame["machine_failure"].unique()) == {0, 1}
    assert (frame["torque_nm"] >= 0).all()
    assert not frame.isna().any().any()


def test_distributions_roughly_like_ai4i(frame: pd.DataFrame) -> None:
    shares = frame["type"].value_counts(normalize=True)
    assert shares["L"] == pytest.approx(0.5, abs=0.02)
    assert shares["M"] == pytest.approx(0.3, abs=0.02)
    assert shares["H"] == pytest.approx(0.2, abs=0.02)
    assert frame["air_temperature_k"].mean() == pytest.approx(300, abs=1.0)
    diff = frame["process_temperature_k"] - frame["air_temperature_k"]
    assert diff.mean() == pytest.approx(10, abs=0.3)
    assert frame["torque_nm"].mean() == pytest.approx(40, abs=0.5)
    assert frame["torque_nm"].std() == pytest.approx(10, abs=0.5)
    assert frame["rotational_speed_rpm"].corr(frame["torque_nm"]) < -0.8
    assert 0.02 <= frame["machine_failure"].mean() <= 0.05


def test_every_documented_failure_condition_fails(frame: pd.DataFrame) -> None:
    air, proc = frame["air_temperature_k"], frame["process_temperature_k"]
    speed, torque, wear = frame["rotational_speed_rpm"], frame["torque_nm"], frame["tool_wear_min"]
    failed = frame["machine_failure"] == 1
    hdf = ((proc - air) < 8.6) & (speed < 1380)
    power = torque * speed * 2 * np.pi / 60
    pwf = (power < 3500) | (power > 9000)
    limit = frame["type"].map({"L": 11000, "M": 12000, "H": 13000})
    osf = wear * torque > limit
    for mode in (hdf, pwf, osf):
        assert mode.sum() > 0
        assert failed[mode].all()
    explained = hdf | pwf | osf
    # The rest are tool-wear failures (at high wear) and rare random failures.
    rest = frame[failed & ~explained]
    assert len(rest) > 0
    assert (rest["tool_wear_min"] >= 200).mean() > 0.7


def test_tool_wear_grows_by_quality_and_resets(frame: pd.DataFrame) -> None:
    wear = frame["tool_wear_min"].to_numpy()
    step = np.diff(wear)
    added = frame["type"].map({"L": 2, "M": 3, "H": 5}).to_numpy()[:-1]
    fresh = wear[1:] == 0
    assert (step[~fresh] == added[~fresh]).all()
    assert fresh.sum() > 50  # tools are replaced
    assert wear.max() <= 240 + 5
    before_reset = wear[:-1][fresh]
    assert (before_reset >= 200).all()


def test_days_split_rows_evenly_and_keep_udi() -> None:
    drops = sample.generate(10, seed=1, start_day=date(2024, 12, 30), days=3)
    assert list(drops) == ["2024-12-30", "2024-12-31", "2025-01-01"]
    assert [len(d) for d in drops.values()] == [3, 3, 4]
    assert pd.concat(drops.values())["udi"].tolist() == list(range(1, 11))
    assert all(d.index[0] == 0 for d in drops.values())


def test_csv_bytes_format() -> None:
    df = sample.generate_frame(50, seed=2)
    data = sample.to_csv_bytes(df)
    assert b"\r" not in data
    lines = data.decode().split("\n")
    assert lines[0] == ",".join(sample.COLUMNS)
    assert lines[-1] == ""
    first = lines[1].split(",")
    assert first[0] == "1"
    assert len(first[3].split(".")[1]) == 1  # air temperature with one decimal
    back = pd.read_csv(io.BytesIO(data))
    assert back["udi"].tolist() == df["udi"].tolist()
    np.testing.assert_allclose(back["torque_nm"], df["torque_nm"], atol=0.05)


@pytest.mark.parametrize(("rows", "days"), [(0, 1), (5, 0), (2, 3)])
def test_rejects_bad_sizes(rows: int, days: int) -> None:
    with pytest.raises(ValueError, match="at least"):
        sample.generate(rows, seed=1, start_day=date(2024, 1, 1), days=days)


def test_million_rows_vectorised() -> None:
    df = sample.generate_frame(1_000_000, seed=3)
    assert len(df) == 1_000_000
    assert 0.02 <= df["machine_failure"].mean() <= 0.05
