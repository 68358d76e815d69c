"""The workshop page (Solara): controls on the left, the month's charts, map and scheme panel.

State is per browser tab (Solara's reactive variables are scoped to a connection): the levers
(`Levers`), the running `Session`, an error line, and whether the model is playing. A lever
change rebuilds the session through the config loader and replays it to the month reached
(sim/app/session.py); a refused value shows its one-line message and the page keeps the
session it had.

A query string sets the starting levers, for a prepared exercise or the screenshot script:
`?scenario=4321&pool.size=0.5&flood=1&return_period=50&months=60` (sim.app.levers.from_query).
"""

from __future__ import annotations

import asyncio
import html
import re
import time
from dataclasses import replace

import ipywidgets
import solara

from ..config import ConfigError
from . import charts, explain
from .levers import CONTROLS, INSTRUMENTS, PRESETS, REPLENISH, RETURN_PERIODS, Levers, from_query, rebalance
from .session import Session

PLAY_SECONDS = 0.4  # pause between months while playing: long enough to watch each one

levers = solara.reactive(Levers.for_scheme("4321"))
session = solara.reactive(None)
error = solara.reactive("")
playing = solara.reactive(False)
tick = solara.reactive(0)  # bumped after each step: the session object itself stays the same

# Where each Hunan prefecture sits on the schematic map (row, column), north at the top.
HUNAN_GRID = {
    "zhangjiajie": (0, 1), "changde": (0, 2), "yueyang": (0, 4),
    "xiangxi": (1, 0), "yiyang": (1, 3), "changsha": (1, 4),
    "huaihua": (2, 1), "loudi": (2, 2), "xiangtan": (2, 3), "zhuzhou": (2, 4),
    "shaoyang": (3, 2), "hengyang": (3, 3),
    "yongzhou": (4, 2), "chenzhou": (4, 3),
}
NPL_TOP = 0.05  # the map's colour scale tops out at 5% (Hunan reports 3.8-4.8%)


def md(text: str, tag: str = "div", classes: list[str] | None = None):
    """Text with **bold**, as HTML. Not solara.Markdown: that loads KaTeX (for formulas) from a
    CDN, which solara-assets does not carry, and the page must work offline."""
    body = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(text, quote=False))
    return solara.HTML(tag=tag, unsafe_innerHTML=body, classes=classes or [],
                       style="margin:4px 0" if tag == "div" else None)


def apply(new: Levers) -> None:
    """Rebuild the session with new levers, replayed to the month reached; on a refused value
    keep the old session and levers and show the message."""
    try:
        current = session.value
        session.value = current.with_levers(new) if current is not None else Session(new)
        levers.value = new
        error.value = ""
    except ConfigError as e:
        error.value = str(e)


def _step(months: int = 1) -> None:
    if session.value is not None:
        session.value.step(months)
        tick.value += 1


def _reset() -> None:
    playing.value = False
    try:
        session.value = Session(levers.value)
        error.value = ""
    except ConfigError as e:
        error.value = str(e)


def _flood_now() -> None:
    try:
        session.value = session.value.flood_now()
        levers.value = session.value.levers
        error.value = ""
    except ConfigError as e:
        error.value = str(e)


def map_html(prefs, title: str) -> str:
    """A schematic map of the prefectures: colour = NPL ratio (不良率), a blue border and a word
    where a flood has struck, the count of suspended guarantors where any is halted."""
    cells = []
    for i, row in prefs.iterrows():
        r, c = HUNAN_GRID.get(row.prefecture, divmod(i, 5))
        share = min(row.npl_ratio / NPL_TOP, 1.0)
        # white (no NPL) to deep red (5% or more)
        colour = f"rgb(255,{int(255 - 190 * share)},{int(255 - 210 * share)})"
        flood = row.flood > 0
        halted = int(row.guarantors_suspended)
        border = "3px solid #1565c0" if flood else "1px solid #999"
        marks = ("<i>flooded 受灾</i><br>" if flood else "") + (
            f"<b style='color:#b71c1c'>{halted}/{row.guarantors} guarantors halted 暂停</b><br>" if halted else "")
        cells.append(
            f'<div class="zyd-tile" data-prefecture="{row.prefecture}" data-npl="{row.npl_ratio:.6f}" '
            f'data-flooded="{int(flood)}" data-halted="{halted}" '
            f'style="grid-row:{r + 1};grid-column:{c + 1};background:{colour};border:{border};'
            f'border-radius:4px;padding:3px;font-size:11px;line-height:1.25">'
            f'<b>{explain.PREFECTURE_ZH.get(row.prefecture, "")} {row.prefecture.title()}</b><br>'
            f'NPL 不良率 {100 * row.npl_ratio:.2f}%<br>{marks}</div>')
    return (f'<div style="font-size:12px;margin-bottom:4px"><b>{html.escape(title)}</b> '
            f'(colour: NPL ratio 不良率, 0 → {100 * NPL_TOP:.0f}%+; blue border: flooded 受灾)</div>'
            '<div style="display:grid;grid-template-columns:repeat(5,1fr);gap:3px">'
            + "".join(cells) + "</div>")


@solara.component
def Controls():
    lv = levers.value
    busy = playing.value

    def set_value(key):
        return lambda v: apply(replace(lv, values={**lv.values, key: v}))

    md("Scheme 风险分担模式", tag="h3")
    solara.Select("scheme preset 预设模式", values=list(PRESETS), value=lv.scenario,
                  on_value=lambda v: apply(Levers.for_scheme(v, base=lv)), disabled=busy)
    solara.Text(PRESETS[lv.scenario][0] + " " + PRESETS[lv.scenario][1])
    md("**Tranches 分担比例** (always 100% 合计)")
    for name, share in lv.tranches.items():
        solara.SliderInt(f"{name} {explain.TRANCHE_ZH.get(name, '')}: {100 * share:.0f}%", value=round(100 * share), min=0, max=100,
                         on_value=lambda v, name=name: apply(replace(
                             lv, tranches=rebalance(lv.tranches, name, v / 100))),
                         disabled=busy or len(lv.tranches) < 2, thumb_label=True)
    solara.Text("sum 合计: " + " + ".join(f"{100 * s:.0f}" for s in lv.tranches.values())
                + f" = {100 * sum(lv.tranches.values()):.0f}%")
    md("Levers 政策杠杆", tag="h3")
    for c in CONTROLS:
        v = lv.values[c.key]
        # the label above its slider: beside it, a long label left the slider no room
        with solara.Column(gap="0px", classes=["zyd-lever"]):
            md(f"{c.label} {c.zh}: **{v:g}** {c.unit}")
            if c.integer:
                solara.SliderInt("", value=int(v), min=int(c.lo), max=int(c.hi), step=int(c.step),
                                 on_value=set_value(c.key), disabled=busy, thumb_label=True)
            else:
                solara.SliderFloat("", value=float(v), min=c.lo, max=c.hi, step=c.step,
                                   on_value=set_value(c.key), disabled=busy, thumb_label=True)
    solara.Select("pool replenishment 资金池补充规则", values=list(REPLENISH), value=lv.replenish,
                  on_value=lambda v: apply(replace(lv, replenish=v)), disabled=busy)
    md("Instruments 政策工具", tag="h3")
    for name, (_, label) in INSTRUMENTS.items():
        solara.Checkbox(label=label, value=name in lv.instruments, disabled=busy,
                        on_value=lambda v, name=name: apply(replace(lv, instruments=tuple(
                            n for n in INSTRUMENTS if (n == name and v) or (n != name and n in lv.instruments)))))
    md("Flood 洪水", tag="h3")
    solara.Checkbox(label="flood 洪水", value=lv.flood,
                    on_value=lambda v: apply(replace(lv, flood=v)), disabled=busy)
    solara.SliderInt(f"flood month 洪水月份: {lv.flood_month}", value=lv.flood_month, min=1, max=60,
                     on_value=lambda v: apply(replace(lv, flood_month=v)),
                     disabled=busy or not lv.flood, thumb_label=True)
    solara.SliderFloat(f"severity 强度: {lv.flood_severity:g} (1 = the 2024 Dongting Lake flood)", value=lv.flood_severity, min=0.0,
                       max=3.0, step=0.1, on_value=lambda v: apply(replace(lv, flood_severity=v)),
                       disabled=busy or not lv.flood, thumb_label=True)
    rp_names = ["severity only"] + [f"1 in {t} years" for t in RETURN_PERIODS[1:]]
    solara.Select("return period 重现期", values=rp_names,
                  value=rp_names[RETURN_PERIODS.index(lv.flood_return_period)],
                  on_value=lambda v: apply(replace(
                      lv, flood_return_period=RETURN_PERIODS[rp_names.index(v)])),
                  disabled=busy or not lv.flood)
    solara.Button("Flood now 立即洪水", on_click=_flood_now, color="primary", outlined=True, disabled=busy,
                  classes=["zyd-flood-now"])
    md("Run 运行", tag="h3")
    solara.InputInt("seed 随机种子", value=lv.seed, on_value=lambda v: apply(replace(lv, seed=v)),
                    disabled=busy)
    off = "off 关"
    solara.Select("side by side with 对比模式", values=[off, *PRESETS],
                  value=lv.compare or off, on_value=lambda v: apply(replace(lv, compare="" if v == off else v)),
                  disabled=busy, classes=["zyd-compare"])
    solara.Text("Two models, the same seed and the same shocks; only the scheme differs (right: the "
                "preset as written). 两个模型:相同随机种子与冲击,仅分担模式不同。")


@solara.component
def Page():
    router = solara.use_router()

    def start():
        # first render of this tab: the levers of the query string (or the defaults)
        if session.value is None:
            try:
                lv, months = from_query(router.search or "")
                s = Session(lv)
                s.step(months)
                levers.value, session.value = lv, s
            except ConfigError as e:
                error.value = str(e)
                session.value = Session(levers.value)

    solara.use_effect(start, [])

    async def play():
        # on the server's event loop, as Mesa's SolaraViz plays (no thread: a month takes
        # milliseconds, the chart a fraction of a second)
        while playing.value and session.value is not None and not session.value.finished:
            t0 = time.perf_counter()
            _step()
            await asyncio.sleep(max(0.05, PLAY_SECONDS - (time.perf_counter() - t0)))
        playing.value = False

    solara.lab.use_task(play, dependencies=[playing.value], prefer_threaded=False)

    solara.Title("政银担 workshop")
    solara.Style(".zyd-page, .zyd-page * { font-family: 'Noto Sans', 'Noto Sans CJK SC', sans-serif; }")
    with solara.Sidebar():
        with solara.Column(classes=["zyd-page"]):
            Controls()
    with solara.Column(classes=["zyd-page"]):
        if error.value:
            solara.Error(error.value, classes=["zyd-error"])
        Month()


@solara.component
def Month():
    """The month's buttons, charts, maps and scheme panels: the one part redrawn each month
    (it alone reads `tick`, so the controls are not re-rendered while the model plays)."""
    s = session.value
    tick.value  # noqa: B018  (read to subscribe: redraw after each step)
    # hooks before any early return (Solara's rules of hooks): the month's chart, drawn once
    runs = list(zip(s.names, s.timeseries(), s.configs)) if s is not None else []
    png = solara.use_memo(lambda: charts.png(runs, s.horizon) if s is not None else b"",
                          [id(s), s.month if s is not None else -1, tick.value])
    if s is None:
        solara.Text("Building the model…")
        return
    year, month = divmod(s.configs[0].start_year * 12 + max(s.month, 1) - 1, 12)
    with solara.Row():
        solara.Button("Step 1 month 单步", on_click=_step, disabled=playing.value or s.finished,
                      classes=["zyd-step"])
        solara.Button("Pause 暂停" if playing.value else "Run 运行",
                      on_click=lambda: playing.set(not playing.value), disabled=s.finished,
                      classes=["zyd-run"])
        solara.Button("Run to end 运行到底", on_click=lambda: _step(s.horizon), classes=["zyd-run-to-end"],
                      disabled=playing.value or s.finished)
        solara.Button("Reset 重置", on_click=_reset, classes=["zyd-reset"])
        solara.HTML(tag="div", unsafe_innerHTML=f"<b>Month 月份 <span class='zyd-month'>{s.month}</span> / "
                    f"{s.horizon}</b> ({year}-{month + 1:02d})", style="padding-top:6px")
    with solara.Div(classes=["zyd-charts"]):
        ipywidgets.Image.element(value=png, format="png", layout={"max_width": "100%"})
    with solara.Columns([1] * len(runs)):
        for (name, _, cfg), p in zip(runs, s.prefectures()):
            with solara.Column():
                solara.HTML(tag="div", unsafe_innerHTML=map_html(p, f"{name}: prefectures 地级市"),
                            classes=["zyd-map"])
                with solara.Card(f"Scheme {name} in plain words 模式说明", classes=["zyd-explain"]):
                    for line in explain.scheme_lines(cfg):
                        md(line)
