"""Every seed-report quote cited in the shock and province configs appears verbatim in the
cleaned seed texts (shared/reference/seeds), so a reader can find it. H / J / A / D mark the
report; a quote may be split with "…" around garbled characters, each part checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = [Path("/work/shared/reference/seeds"), ROOT.parent / "shared" / "reference" / "seeds"]
FILES = ["sim/config/schema.py", "sim/shocks.py", "docs/shocks.md", "docs/sources.md", "docs/provinces.md", "tests/test_flood_calibration.py",
         *[str(p.relative_to(ROOT)) for p in sorted((ROOT / "conf").rglob("*.yaml"))]]


def _seeds() -> list[str]:
    for d in SEEDS:
        if d.is_dir():
            return [p.read_text(encoding="utf-8") for p in sorted(d.glob("*.txt"))]
    pytest.skip("seed texts not available")


def quotes(text: str) -> list[str]:
    joined = re.sub(r"\n[ \t]*(#[ \t]*)?", "", text)  # undo line wrapping in comments/docstrings
    return re.findall(r"(?:[HJAD]|…)「(.+?)」", joined)


@pytest.mark.parametrize("name", FILES)
def test_quotes_are_verbatim(name):
    seeds = _seeds()
    qs = quotes((ROOT / name).read_text(encoding="utf-8"))  # a file listed must exist
    missing = [q for q in qs if not any(q in s for s in seeds)]
    assert not missing, missing


def test_the_province_presets_cite_quotes():
    """The Hunan preset's sources are quotes that the test above checks."""
    assert len(quotes((ROOT / "conf" / "province" / "hunan.yaml").read_text(encoding="utf-8"))) >= 5
