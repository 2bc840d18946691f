"""The committed shared vectors are exactly what their generator writes, and agree with the server.

The generator computes every expected median from a sorted list and exact fractions, so these
tests also hold the Python reference and the server to the same answers.
"""

from __future__ import annotations

import json
import runpy
from typing import Any

from tests.servers import ROOT

VECTORS = ROOT / "tests" / "vectors"


def test_committed_vectors_match_their_generator() -> None:
    generator = runpy.run_path(str(VECTORS / "generate.py"))
    cases: list[dict[str, Any]] = generator["cases"]()
    committed = {path.stem: json.loads(path.read_text()) for path in VECTORS.glob("*.json")}
    assert sorted(committed) == sorted(case["name"] for case in cases)
    for case in cases:
        assert committed[case["name"]] == json.loads(json.dumps(case)), case["name"]


def test_vectors_cover_every_kind_of_case() -> None:
    cases = [json.loads(path.read_text()) for path in VECTORS.glob("*.json")]
    plain = [case["plain"] for case in cases]
    assert {p.get("error") for p in plain} >= {None, "INVALID_ARGUMENT", "NOT_FOUND"}
    assert any("bad_token" in p for p in plain)
    assert any(case["batch"] == 1 for case in cases)
    assert any(len(case["running"]["lines"]) > 2 for case in cases)
