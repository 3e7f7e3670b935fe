"""pytest fixtures for workflow rehearsals: ``from rehearsal.fixtures import rehearsal_base`` in a conftest.

``rehearsal_base`` (session): a :class:`~rehearsal.act.Rehearsal` whose ``main`` has the rehearsal drops
imported, trained and pushed to the strict Stack Hub stand-in (the ``standin`` fixture of
``tests/conftest.py``). Cases share it and add branches, so the training on ``main`` happens once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rehearsal.act import Rehearsal

BASE_ROWS = 3000


@pytest.fixture(scope="session")
def rehearsal_base(tmp_path_factory: pytest.TempPathFactory, standin) -> Iterator[Rehearsal]:  # type: ignore[no-untyped-def]
    with Rehearsal(tmp_path_factory.mktemp("rehearsal"), standin=standin) as r:
        r.seed_base(rows=BASE_ROWS)
        yield r
