"""Citations stay inside the repository: nothing a clone ships cites the maintainers' seed notes
or a folder outside the repository, and every anchor of docs/sources.md cited anywhere points at a
heading of docs/sources.md (GitHub's anchor rules)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ["sim", "conf", "scenarios", "docs", "README.md"]
OUTSIDE = re.compile(r"seed-notes|shared/reference|\.\./shared")
CITE = re.compile(r"docs/sources\.md#([A-Za-z0-9_-]+)")
SUFFIXES = {".py", ".yaml", ".yml", ".md", ".toml", ".txt", ".cfg", ".ipynb"}


def _files(tops) -> list[Path]:
    out = []
    for top in tops:
        p = ROOT / top
        if p.is_file():
            out.append(p)
        elif p.is_dir():
            out += [f for f in sorted(p.rglob("*")) if f.is_file() and f.suffix in SUFFIXES
                    and "__pycache__" not in f.parts]
    return out


def github_anchor(heading: str) -> str:
    """GitHub's heading slug: lowercase, punctuation other than '-' and '_' dropped, spaces to '-'."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors() -> set[str]:
    text = (ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return {github_anchor(h) for h in re.findall(r"^#{1,6}[ \t]+(.+?)[ \t]*#*$", text, re.M)}


def test_anchor_rule():
    assert github_anchor("Hunan report (H)") == "hunan-report-h"
    assert github_anchor("Digital inclusive finance article (D)") == "digital-inclusive-finance-article-d"


@pytest.mark.parametrize("path", _files(SHIPPED), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_citation_outside_the_repository(path):
    hits = [f"{i}: {line.strip()}" for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if OUTSIDE.search(line)]
    assert not hits, hits


def test_every_cited_anchor_exists():
    known = anchors()
    assert {"hunan-report-h", "jiangxi-report-j", "hebei-report-hb", "anhui-report-a",
            "external-context"} <= known
    cited = {}
    for f in _files(["sim", "conf", "scenarios", "docs", "README.md", "tests", "benchmarks", "notebooks"]):
        for a in CITE.findall(f.read_text(encoding="utf-8")):
            cited.setdefault(a, str(f.relative_to(ROOT)))
    assert cited, "nothing cites docs/sources.md"
    missing = {a: f for a, f in cited.items() if a not in known}
    assert not missing, missing
