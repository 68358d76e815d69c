"""The current scheme in plain words, each policy term in English with its Chinese beside it.

Written from the validated config the model runs, never from the page's controls, so the
panel says what the model does.
"""

from __future__ import annotations

from ..config import SimConfig, tranche_payer
from ..instruments import in_force

# Who pays a tranche (sim.config.PAYERS), in words.
PAYER_WORDS = {
    "bank": "the lending bank (贷款银行)",
    "guarantor": "the city/county government guarantor (市县政府性融资担保机构)",
    "reguarantor": "the provincial re-guarantor (省级再担保机构)",
    "national_fund": "the National Financing Guarantee Fund (国家融资担保基金)",
    "pool": "the local government's risk compensation funds (风险补偿资金)",
    "government": "the government budget (财政预算)",
    "borrower": "the firm's own counter-guarantee (企业反担保)",
}
REPLENISH_WORDS = {
    "annual": "gets a fixed yearly appropriation (年度补充)",
    "top_up": "is topped back up to its starting size each year (补足)",
    "performance": "gets its yearly appropriation only after a year of low claims (绩效补充)",
    "none": "is never replenished (不补充)",
}
# Tranche names used by the scenario files, in Chinese (for the sliders).
TRANCHE_ZH = {"guarantor": "担保机构", "reguarantor": "再担保", "bank": "银行", "government": "地方政府",
              "national_fund": "国家融资担保基金", "province": "省级", "firm": "企业", "pool": "补偿资金"}
# Hunan's prefectures (地级市) in Chinese, for the map.
PREFECTURE_ZH = {
    "changsha": "长沙", "zhuzhou": "株洲", "xiangtan": "湘潭", "yueyang": "岳阳", "changde": "常德",
    "yiyang": "益阳", "shaoyang": "邵阳", "yongzhou": "永州", "chenzhou": "郴州", "huaihua": "怀化",
    "xiangxi": "湘西州", "hengyang": "衡阳", "loudi": "娄底", "zhangjiajie": "张家界",
}


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%" if abs(100 * x - round(100 * x)) < 1e-9 else f"{100 * x:.1f}%"


def _bn(x: float) -> str:
    return f"{x / 1e9:.2f} bn yuan"


def scheme_lines(cfg: SimConfig) -> list[str]:
    """Sentences (Markdown) describing the scheme and the levers in force."""
    s, g, p = cfg.scheme, cfg.guarantor, cfg.pool
    payers = [tranche_payer(k, t) for k, t in s.tranches.items()]
    parts = [f"**{_pct(t.share)}** to {PAYER_WORDS[tranche_payer(k, t)]}"
             for k, t in s.tranches.items() if t.share > 0]
    lines = [f"**Scheme {s.name}** (风险分担模式): {s.description}. {s.description_zh}"]
    if payers == ["bank"]:
        lines.append("No guarantee (无担保): the bank lends alone and bears every loss, so it "
                     "lends only to firms it judges safe; the others are rationed (信贷配给) "
                     "and borrow informally (民间借贷).")
    else:
        lines.append("When a covered loan defaults (违约), the loss (损失) is split: "
                     + "; ".join(parts) + ".")
        if "guarantor" in payers:
            lines.append(
                "The guarantor pays the bank at once (代偿) and claims the re-guarantors' and the "
                "funds' shares back later; it stops new business (暂停新增业务) when its "
                f"outstanding claims (代偿余额) reach {g.suspend_claims_multiple:g}x its net assets "
                f"(净资产), and may lend guarantees only up to the leverage cap (放大倍数上限) of "
                f"**{g.leverage_cap:g}x** its net assets.")
            lines.append(f"Firms pay a guarantee fee (担保费) of **{100 * s.guarantee_fee:.2f}%** a year.")
        bank = sum(t.share for k, t in s.tranches.items() if tranche_payer(k, t) == "bank")
        lines.append(f"The bank keeps **{_pct(bank)}** of each loss (银行分担比例): the less it "
                     "keeps, the less carefully it screens (道德风险, moral hazard).")
    if "pool" in payers:
        lines.append(
            f"The compensation funds (风险补偿资金) start with {_bn(p.size)} in the provincial pool "
            f"(省级资金池) and {_bn(p.city_size)} in the prefecture funds (市级补偿资金); the pool "
            f"{REPLENISH_WORDS[p.replenish]}"
            + (f" of {_bn(p.annual_amount)}" if p.replenish in ("annual", "performance") else "")
            + f". They pay claims after {p.payout_delay} months of review (审核时滞), "
            f"{_pct(p.payout_efficiency)} of claims pass review (审核通过率), and claims wait in a "
            "queue (排队) when the funds run short.")
    lines.append(f"Banks see sharp data (征信数据) on {_pct(cfg.bank.data_coverage)} of firms "
                 "(the credit-data platform, 征信平台); the rest they judge by a credit file or "
                 "nothing, and refuse more of them.")
    ev = cfg.shock
    if ev.kind == "flood":
        size = (f"a 1-in-{ev.return_period:g}-year flood" if ev.return_period
                else f"a flood {ev.severity:g}x the 2024 Dongting Lake flood")
        if ev.return_period and ev.severity != 1.0:
            size += f" at {ev.severity:g}x its usual damage"
        year, month = divmod(cfg.start_year * 12 + ev.month - 1, 12)
        lines.append(f"**Flood (洪水)**: {size} strikes in month {ev.month} ({year}-{month + 1:02d}) "
                     "the prefectures around Dongting Lake (洞庭湖); their farm loans fall overdue "
                     "(逾期) and default (违约) more.")
    found = in_force(cfg)
    lines.append("**Instruments in force** (在用政策工具): "
                 + ("; ".join(f"{name} (source: {src})" for name, src in found) if found
                    else "none (the split is fixed)") + ".")
    return lines
