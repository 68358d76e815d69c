"""Chinese and English in what people read (sim/i18n.py): translations, the table, and CJK
glyphs that actually render in the plots."""

import warnings

import pytest
from matplotlib.ft2font import FT2Font

import sim
from sim import report
from sim.i18n import ZH, cjk_font, has_cjk, tr


def test_tr_gives_english_chinese_or_both():
    assert tr("claim rate (代偿率)", "en") == "claim rate (代偿率)"
    assert tr("Overdue ratio", "zh") == "逾期率"
    assert tr("Overdue ratio", "both") == "Overdue ratio 逾期率"
    assert tr("first-time borrowers (首贷户)", "both") == "first-time borrowers (首贷户)"  # already both
    assert tr("no such label", "zh") == "no such label"  # a missing translation shows as English


def test_the_font_has_every_glyph_the_translations_use():
    path = cjk_font()
    assert path is not None and path.exists(), "the CJK font (mplfonts) is not installed"
    font = FT2Font(str(path))
    text = "".join(ZH.values())
    missing = sorted({c for c in text if has_cjk(c) and font.get_char_index(ord(c)) == 0})
    assert not missing, f"glyphs missing from {path.name}: {''.join(missing)}"


@pytest.mark.parametrize("lang", ["zh", "both"])
def test_chinese_plots_render_with_no_missing_glyph(tmp_path, lang):
    """Render every plot of a shocked run with Chinese labels; matplotlib warns 'Glyph ...
    missing from font(s)' for any character it cannot draw: that fails the test."""
    res = sim.run("4321", {"firms.n": 2000, "horizon": 12, "mc.replications": 2, "shock.month": 4,
                           "report.lang": lang}, shock="flood")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        files = report.write_plots(res, tmp_path / "plots")
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert not missing, missing[:3]
    assert len(files) == 5 and all((tmp_path / f).stat().st_size > 10_000 for f in files)


def test_the_table_and_report_speak_the_chosen_language(tmp_path):
    sim.run("4321", {"firms.n": 2000, "horizon": 12, "mc.replications": 2, "report.lang": "zh"},
            out_dir=tmp_path / "zh")
    text = (tmp_path / "zh" / "summary.txt").read_text()
    assert "代偿率" in text and "纳入分担机制的新增贷款" in text and "-- 信贷" in text
    assert "new lending covered by the scheme" not in text
    md = (tmp_path / "zh" / "report.md").read_text()
    assert md.startswith("# 情景 4321") and "安徽2015" in md and "## 主要结果" in md
    sim.run("4321", {"firms.n": 2000, "horizon": 12, "mc.replications": 2, "report.lang": "en"},
            out_dir=tmp_path / "en")
    text = (tmp_path / "en" / "summary.txt").read_text()
    assert "new lending covered by the scheme" in text and "纳入分担机制" not in text
    with pytest.raises(sim.ConfigError, match=r"report.lang = 'fr': must be one of en, zh, both"):
        sim.load_config("4321", {"report.lang": "fr"})
