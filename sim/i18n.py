"""Chinese and English for what a user reads: table rows, sections, units, plot titles, axes,
legends and captions, report headings.

`tr(text, lang)` gives the English text (`en`), its Chinese (`zh`), or both (`both`: "English
中文"). Labels are kept in English inside the program (tables are indexed by them); only the
text written for people is translated, at the moment it is written. A label with no entry
here stays English in every language, so a missing translation shows, it does not break.

Plots in Chinese need a font with CJK glyphs: `cjk_font()` registers Noto Sans CJK SC, shipped
by the `mplfonts` package (SIL Open Font License), and matplotlib falls back to it for the
characters its default font lacks.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

LANGS = ("en", "zh", "both")

ZH = {
    # sections
    "credit": "信贷", "leverage": "杠杆", "depletion": "资金耗尽", "funds": "风险补偿资金",
    "losses": "损失", "who pays": "谁承担损失", "public money": "财政资金", "risk": "风险",
    # headline rows
    "new lending covered by the scheme": "纳入分担机制的新增贷款",
    "new direct bank lending": "银行自主新增贷款",
    "outstanding credit, monthly mean": "贷款余额(月均)",
    "first-time borrowers (首贷户)": "首贷户",
    "applications rationed": "被拒贷款申请",
    "guarantor leverage (放大倍数), mean": "担保放大倍数(均值)",
    "guarantor leverage, peak single agency": "单一担保机构放大倍数峰值",
    "pool leverage (scheme loans / pool)": "资金池杠杆(担保贷款/资金池)",
    "fiscal leverage (credit / fiscal yuan)": "财政资金杠杆(贷款/财政资金)",
    "P(any guarantor runs dry)": "任一担保机构资本耗尽的概率",
    "P(compensation pool runs dry)": "风险补偿资金池耗尽的概率",
    "P(any prefecture fund runs dry)": "任一市级补偿资金耗尽的概率",
    "P(provincial re-guarantor runs dry)": "省级再担保机构资本耗尽的概率",
    "P(national fund runs dry)": "国家融资担保基金份额耗尽的概率",
    "P(any guarantor suspended)": "任一担保机构暂停业务的概率",
    "compensation arrival rate (到位率)": "补偿到位率",
    "P(a fund's queue lasts over 12 months)": "补偿排队超过12个月的概率",
    "fund queue, peak": "补偿排队金额峰值",
    "claims abandoned": "放弃的补偿申请",
    "wait for compensation, median": "补偿等待时间(中位数)",
    "wait for compensation, 90th percentile": "补偿等待时间(90%分位)",
    "prefecture funds unpaid two years running": "连续两年未拨付的市级资金",
    "net loss: bank": "净损失:银行",
    "net loss: guarantors": "净损失:担保机构",
    "net loss: provincial re-guarantor": "净损失:省级再担保",
    "net loss: national fund": "净损失:国家融资担保基金",
    "net loss: compensation pool": "净损失:风险补偿资金",
    "net loss: government budget": "净损失:财政预算",
    "net loss: firms' counter-guarantee": "净损失:企业反担保",
    "shortfall (unpaid, to the bearer)": "缺口(无人支付,由承担方承担)",
    "bank share of scheme losses": "银行承担的分担贷款损失比例",
    "claim rate (代偿率)": "代偿率",
    "NPL ratio (不良率), monthly mean": "不良率(月均)",
    "fiscal cost (funds, budget, subsidies, injections, rewards)": "财政成本(补偿资金、预算、补贴、注资、奖励)",
    # units
    "bn yuan": "十亿元", "k firms": "千户", "x": "倍", "months": "月", "count": "个",
    "% (95% Wilson CI)": "%(95% Wilson 区间)",
    # plots
    "Outstanding credit by channel": "分渠道贷款余额",
    "direct bank loans": "银行自主贷款",
    "covered by the scheme": "纳入分担机制的贷款",
    "Guarantor leverage (liability balance / net assets) vs cap": "担保放大倍数(责任余额/净资产)与上限",
    "x net assets": "净资产倍数",
    "Guarantor leverage vs cap": "担保放大倍数与上限",
    "all guarantors": "全部担保机构",
    "highest single guarantor": "最高的单一担保机构",
    "leverage cap": "放大倍数上限",
    "Compensation funds: balances and queue": "风险补偿资金:余额与排队",
    "provincial pool": "省级资金池",
    "prefecture funds, together": "市级补偿资金合计",
    "claims waiting in the queues": "排队中的补偿申请",
    "Cumulative net losses by party": "各方累计净损失",
    "banks, direct loans": "银行:自主贷款",
    "banks, scheme loans": "银行:分担贷款",
    "guarantors": "担保机构",
    "provincial re-guarantor": "省级再担保",
    "national fund": "国家融资担保基金",
    "compensation pool": "风险补偿资金",
    "government budget": "财政预算",
    "firms' counter-guarantee": "企业反担保",
    "of which shortfall": "其中缺口",
    "shock window": "冲击期",
    "overdue loans resolve": "逾期贷款处置期",
    "line: median over replications; bands: middle 50% and 90%": "线:各次模拟的中位数;阴影:中间50%与90%",
    "Overdue ratio": "逾期率",
    "Claims paid by the guarantee system": "担保体系代偿",
    "Provincial pool balance": "省级补偿资金池余额",
    "Net assets of the guarantors where the shock hits": "受冲击地区担保机构净资产",
    "without the shock": "无冲击",
    "with the shock": "有冲击",
    "bn yuan / month": "十亿元/月",
    "vs the same seeds without it": "与相同随机数下无冲击情形对比",
    # report headings
    "Scenario": "情景",
    "Headline table": "主要结果",
    "Plots": "图表",
    "Instruments in force": "在用政策工具",
}

_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")


def tr(text: str, lang: str = "en") -> str:
    """`text` in `lang` (en | zh | both); text with no translation stays as it is."""
    if lang == "en" or text not in ZH:
        return text
    zh = ZH[text]
    if lang == "zh":
        return zh
    # both: the English, then the Chinese unless the English already carries it
    return text if zh in text else f"{text} {zh}"


def has_cjk(text: str) -> bool:
    return bool(_HAN.search(text))


@lru_cache(maxsize=1)
def cjk_font() -> Path | None:
    """Register Noto Sans CJK SC (from the mplfonts package) with matplotlib and put it after
    the default font, so CJK characters fall back to it; return its path (None without it)."""
    try:
        import mplfonts
    except ImportError:
        return None
    import matplotlib
    from matplotlib import font_manager

    path = Path(mplfonts.__file__).parent / "fonts" / "NotoSansCJKsc-Regular.otf"
    if not path.exists():
        return None
    font_manager.fontManager.addfont(str(path))
    name = font_manager.FontProperties(fname=str(path)).get_name()
    # a list of families: matplotlib takes each glyph from the first family that has it
    matplotlib.rcParams["font.family"] = ["DejaVu Sans", name]
    return path
