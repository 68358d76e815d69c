"""The notebooks run top to bottom (at small size) against the current code, and what they
claim holds: each notebook asserts its own claims in code cells, so a wrong claim is an error."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def execute(path: Path, monkeypatch) -> nbformat.NotebookNode:
    monkeypatch.setenv("SIM_NOTEBOOK_SIZE", "small")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def text_outputs(nb) -> list[str]:
    return [o.get("data", {}).get("text/plain", "") for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", [])]


def test_compare_schemes_notebook(monkeypatch):
    """Runs without error (its claims on credit, pairing, who pays and the flood are asserts
    inside it) and its comparison table has one column per scheme."""
    nb = execute(Path(NOTEBOOKS[0]).parent / "compare_schemes.ipynb", monkeypatch)
    table = next(t for t in text_outputs(nb) if "new_lending_scheme" in t)
    for scheme in ("4321", "2:8", "3:7", "full_guarantee", "bank_only"):
        assert scheme in table, table[:300]
    tranche = next(t for t in text_outputs(nb) if t.startswith("{'guarantor'"))
    assert "'reguarantor': 0.3" in tranche


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_notebook_asserts_a_claim(path):
    """A notebook that checks nothing can pass while it shows nonsense."""
    nb = nbformat.read(path, as_version=4)
    assert any("assert " in c.source for c in nb.cells if c.cell_type == "code"), path.name


def claims_of(nb) -> dict:
    """The `claims` dict a notebook shows in its last checking cell."""
    import ast

    text = next(t for t in reversed(text_outputs(nb)) if t.startswith("{") and "'" in t)
    return ast.literal_eval(text)


def test_sensitivity_notebook(monkeypatch):
    """Its claims are asserts inside it; and the Morris ranking it shows puts the funds'
    patience, inert while the funds never queue, last."""
    nb = execute(Path(NOTEBOOKS[0]).parent / "sensitivity.ipynb", monkeypatch)
    claims = claims_of(nb)
    assert claims["patience_inert"] and claims["appetite_resolved"]
    assert claims["last"] == "pool.patience"


def test_design_search_notebook(monkeypatch):
    """The best design it finds is feasible on the search's seeds and still within the
    P(halt) limit on fresh seeds (asserted inside; checked here too)."""
    nb = execute(Path(NOTEBOOKS[0]).parent / "design_search.ipynb", monkeypatch)
    assert claims_of(nb)["halt_holds_on_fresh_seeds"] is True


def test_quickstart_notebook(monkeypatch):
    """Runs (its claim that the three tables agree is an assert inside it) and shows the
    one-line error of a bad value."""
    nb = execute(Path(NOTEBOOKS[0]).parent / "quickstart.ipynb", monkeypatch)
    streams = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "guarantor.leverage_cap = -3" in streams and "must be a number > 0" in streams


def test_flood_fund_sizing_notebook(monkeypatch):
    """Runs; its claims (the flood raises the claim rate with the return period; the sized fund
    holds on a fresh seed and the bracket below it does not) are asserts inside it."""
    nb = execute(Path(NOTEBOOKS[0]).parent / "flood_fund_sizing.ipynb", monkeypatch)
    fresh = next(t for t in text_outputs(nb) if "'holds'" in t)
    assert "'holds': True" in fresh


def test_every_notebook_is_executed_by_a_test():
    """A new notebook needs its own test above (executing it and checking what it claims)."""
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    for path in NOTEBOOKS:
        assert f'"{path.name}"' in source, f"{path.name} has no test that executes it"
