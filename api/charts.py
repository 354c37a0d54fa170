"""PNG charts for reports (matplotlib, headless): weekly statistics (一周一统计) and the
monthly ranking (一月一通报), in English or Chinese.

The words come from the dashboard's catalogues (``api/static/i18n``), so a chart says
what the Reports tab says. Chinese needs a font with its glyphs (:mod:`api.chart_fonts`);
where the machine has none, the chart is drawn in English rather than as empty boxes.
"""

from __future__ import annotations

import functools
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from api.chart_fonts import cjk_family  # noqa: E402

Language = Literal["en", "zh"]
_CATALOGUES = {"en": "en.json", "zh": "zh-CN.json"}
_I18N = Path(__file__).resolve().parent / "static" / "i18n"
# The few words the dashboard does not use (its charts label their axes otherwise).
_OWN = {"en": {"tasks": "tasks", "percent": "{what} (%)", "month": "{year}-{month:02d}",
               "title": "{what} ({by})"},
        "zh": {"tasks": "任务数", "percent": "{what}（%）", "month": "{year}年{month}月",
               "title": "{what}（{by}）"}}
_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]")


@functools.cache
def _catalogue(language: Language) -> dict[str, str]:
    words: dict[str, str] = json.loads((_I18N / _CATALOGUES[language]).read_text("utf-8"))
    return words


def chart_language(wanted: Language) -> Language:
    """The language a chart is drawn in: Chinese only where a font can draw it."""
    return "zh" if wanted == "zh" and cjk_family() is not None else "en"


def _word(language: Language, key: str) -> str:
    return _catalogue(language).get(key) or _catalogue("en").get(key, key)


@contextmanager
def _fonts() -> Iterator[None]:
    """DejaVu first, the CJK font behind it for what DejaVu lacks (names, Chinese words)."""
    family = cjk_family()
    fonts = ["DejaVu Sans", family] if family else ["DejaVu Sans"]
    with plt.rc_context({"font.family": fonts}):
        yield


def _png(fig: Any) -> bytes:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def weekly_chart(weeks: list[dict[str, Any]], by: str, language: Language = "en") -> bytes:
    """Bars of tasks received and accepted on time per week, with the escalation rate."""
    lang = chart_language(language)
    own = _OWN[lang]
    labels = [w["week"] for w in weeks]
    received = [w["received"] for w in weeks]
    on_time = [w["accepted_on_time"] for w in weeks]
    escalation = [100 * (w["escalation_rate"] or 0) for w in weeks]
    with _fonts():
        fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
        try:
            positions = range(len(labels))
            ax.bar([p - 0.2 for p in positions], received, width=0.4,
                   label=_word(lang, "kpi.col.received"))
            ax.bar([p + 0.2 for p in positions], on_time, width=0.4,
                   label=_word(lang, "kpi.col.on_time"))
            ax.set_xticks(list(positions), labels, rotation=30, ha="right", fontsize=8)
            ax.set_ylabel(own["tasks"])
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))   # tasks come whole
            rate = ax.twinx()
            escalated = _word(lang, "kpi.col.escalated")
            rate.plot(list(positions), escalation, color="#d32f2f", marker="o",
                      label=own["percent"].format(what=escalated))
            rate.set_ylim(0, 100)
            rate.set_ylabel(own["percent"].format(what=escalated))
            ax.set_title(own["title"].format(what=_word(lang, "kpi.weekly"),
                                             by=_word(lang, f"kpi.by.{by}")))
            handles = ax.get_legend_handles_labels()[0] + rate.get_legend_handles_labels()[0]
            ax.legend(handles=handles, loc="upper left", fontsize=8)
            return _png(fig)
        finally:
            plt.close(fig)


def _row_label(row: dict[str, Any], lang: Language) -> str:
    """The row's name in the chart's language; its id where no font can draw the name."""
    names = (row.get("name"), row.get("name_latin")) if lang == "zh" else (
        row.get("name_latin"), row.get("name"))
    name = next((n for n in names if n), None) or str(row["key"])
    return str(row["key"]) if _CJK.search(name) and cjk_family() is None else name


def ranking_chart(rows: list[dict[str, Any]], year: int, month: int, by: str,
                  language: Language = "en", top: int = 15) -> bytes:
    """Horizontal bars of the share accepted on time, best first (一月一通报)."""
    lang = chart_language(language)
    own = _OWN[lang]
    shown = rows[:top]
    labels = [f"{r['rank']}. {_row_label(r, lang)}" for r in shown][::-1]
    shares = [100 * r["accepted_on_time"] / r["received"] if r["received"] else 0.0
              for r in shown][::-1]
    with _fonts():
        fig, ax = plt.subplots(figsize=(8, 0.4 * len(shown) + 1.2), dpi=100)
        try:
            ax.barh(labels, shares, color="#1f5fa8")
            ax.set_xlim(0, 100)
            ax.set_xlabel(own["percent"].format(what=_word(lang, "kpi.col.on_time")))
            what = f"{_word(lang, 'kpi.ranking')} {own['month'].format(year=year, month=month)}"
            ax.set_title(own["title"].format(what=what, by=_word(lang, f"kpi.by.{by}")))
            return _png(fig)
        finally:
            plt.close(fig)
