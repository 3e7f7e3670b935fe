"""A deterministic predictive-maintenance data set modelled on the public AI4I 2020 data set.

AI4I 2020 (Matzka, UCI ML repository) is a synthetic milling-machine data set: each row is one
process on a product of quality ``L``, ``M`` or ``H`` (50/30/20 %), with air and process
temperature, rotational speed, torque and tool wear, and a ``machine_failure`` flag raised by one
of five documented failure modes:

* TWF, tool wear failure: the tool is replaced or fails at a random wear between 200 and 240 min;
* HDF, heat dissipation: air-process temperature difference below 8.6 K and speed below 1380 rpm;
* PWF, power failure: torque times speed (rad/s) below 3500 W or above 9000 W;
* OSF, overstrain: tool wear times torque above 11000 (L), 12000 (M) or 13000 (H) minNm;
* RNF, random failure: 0.1 % of processes.

:func:`generate` is pure and vectorised (a million rows in about a second); the only loop
walks tool replacements (about one per 75 rows) with ``searchsorted``. Speed is calibrated to the
published summary of the original (mean about 1540 rpm, sd about 180, strongly anti-correlated with
torque, so the nominal power sits well inside the 3500-9000 W window); the failure rate lands near
the original's 3.4 % (3-4 %). :func:`to_csv_bytes` writes a drop as CSV with fixed formatting, so the same
seed always gives the same bytes (and the same DVC md5).
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

COLUMNS = (
    "udi",
    "product_id",
    "type",
    "air_temperature_k",
    "process_temperature_k",
    "rotational_speed_rpm",
    "torque_nm",
    "tool_wear_min",
    "machine_failure",
)
TYPES = np.array(["L", "M", "H"])
TYPE_SHARES = (0.5, 0.3, 0.2)
#: Minutes of tool wear each process adds, by product quality (L, M, H).
WEAR_PER_PROCESS = np.array([2, 3, 5])
#: Overstrain limit (tool wear x torque, minNm) by product quality (L, M, H).
OVERSTRAIN_LIMIT = np.array([11000.0, 12000.0, 13000.0])
TOOL_LIFE_MIN, TOOL_LIFE_MAX = 200, 240
#: Share of tool replacements that are failures (51 of 120 in the original).
TOOL_FAILURE_SHARE = 51 / 120
RANDOM_FAILURE_RATE = 0.001
#: Rows over which temperature drifts stay correlated.
WALK_ROWS = 200


def _walk(rng: np.random.Generator, rows: int, sd: float) -> np.ndarray:
    """A mean-reverting random walk (AR(1) over ~:data:`WALK_ROWS` rows) with standard deviation ``sd``.

    Unlike a plain cumulative sum rescaled to the sample, its texture does not depend on ``rows``:
    a million-row set drifts like ten thousand-row days laid end to end.
    """
    from scipy.signal import lfilter  # noqa: PLC0415 - scipy loads only to generate sample data

    phi = 1.0 - 1.0 / WALK_ROWS
    shocks = rng.standard_normal(rows) * sd * np.sqrt(1.0 - phi * phi)
    shocks[0] = rng.standard_normal() * sd  # start in the stationary distribution
    return np.asarray(lfilter([1.0], [1.0, -phi], shocks))


def _tool_wear(rng: np.random.Generator, type_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tool wear per row and the rows where the tool reached its life (replaced or failed).

    Wear grows by 2/3/5 minutes per process (L/M/H) and resets after the tool reaches a life drawn
    uniformly from 200-240 min. Returns ``(wear, end_of_life)``.
    """
    rows = len(type_idx)
    used = np.cumsum(WEAR_PER_PROCESS[type_idx])  # wear after each row if the tool were never replaced
    wear = np.empty(rows, dtype=np.int64)
    end_of_life = np.zeros(rows, dtype=bool)
    lives = rng.integers(TOOL_LIFE_MIN, TOOL_LIFE_MAX + 1, size=rows // (TOOL_LIFE_MIN // 5) + 2)
    start, tool = 0, 0
    while start < rows:
        base = used[start - 1] if start else 0
        wear[start] = 0
        # Row i > start on this tool carries the wear added before it: used[i - 1] - base.
        first_worn = int(np.searchsorted(used, base + lives[tool], side="left")) + 1
        end = min(first_worn + 1, rows)
        wear[start + 1 : end] = used[start : end - 1] - base
        if first_worn < rows:
            end_of_life[first_worn] = True
        start, tool = end, tool + 1
    return wear, end_of_life


def generate_frame(rows: int, seed: int) -> pd.DataFrame:
    """``rows`` consecutive processes (one machine, one shift pattern), deterministic for ``seed``."""
    if rows < 1:
        raise ValueError("rows must be at least 1")
    rng = np.random.default_rng(seed)
    type_idx = rng.choice(3, size=rows, p=TYPE_SHARES)
    kind = TYPES[type_idx]
    serial = rng.integers(10000, 100000, size=rows)
    air = 300.0 + _walk(rng, rows, 2.0)
    process = air + 10.0 + _walk(rng, rows, 0.7)
    torque = np.clip(rng.normal(40.0, 10.0, size=rows), 0.0, None)
    speed = np.rint(1538.0 - 15.8 * (torque - 40.0) + rng.normal(0.0, 85.0, size=rows))
    speed = np.clip(speed, 1000.0, None)
    # The CSV carries 0.1 precision: decide failures on the values the file will hold.
    air, process, torque = np.round(air, 1), np.round(process, 1), np.round(torque, 1)
    wear, end_of_life = _tool_wear(rng, type_idx)

    twf = end_of_life & (rng.random(rows) < TOOL_FAILURE_SHARE)
    hdf = ((process - air) < 8.6) & (speed < 1380)
    power = torque * speed * (2.0 * np.pi / 60.0)
    pwf = (power < 3500.0) | (power > 9000.0)
    osf = wear * torque > OVERSTRAIN_LIMIT[type_idx]
    rnf = rng.random(rows) < RANDOM_FAILURE_RATE
    failure = (twf | hdf | pwf | osf | rnf).astype(np.int64)

    frame = pd.DataFrame(
        {
            "udi": np.arange(1, rows + 1, dtype=np.int64),
            "product_id": np.char.add(kind, serial.astype(str)),
            "type": kind,
            "air_temperature_k": air,
            "process_temperature_k": process,
            "rotational_speed_rpm": speed.astype(np.int64),
            "torque_nm": torque,
            "tool_wear_min": wear,
            "machine_failure": failure,
        }
    )
    log.info("generated %d rows, failure rate %.2f%%", rows, 100.0 * failure.mean())
    return frame


def generate(rows: int, seed: int, start_day: date, days: int) -> dict[str, pd.DataFrame]:
    """Split ``rows`` processes into ``days`` daily drops keyed by ISO date (``2024-01-01``).

    Rows keep their ``udi`` across drops; drops differ in size by at most one row.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    if rows < days:
        raise ValueError("need at least one row per day")
    frame = generate_frame(rows, seed)
    bounds = np.linspace(0, rows, days + 1).astype(np.int64)
    return {
        (start_day + timedelta(days=i)).isoformat(): frame.iloc[bounds[i] : bounds[i + 1]].reset_index(
            drop=True
        )
        for i in range(days)
    }


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """One drop as UTF-8 CSV bytes: header, ``\\n`` line ends, no index, floats with one decimal."""
    text: str = frame.to_csv(index=False, lineterminator="\n", float_format="%.1f")
    return text.encode("utf-8")
