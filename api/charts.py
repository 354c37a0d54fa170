"""PNG charts for reports (matplotlib, headless): weekly statistics (一周一统计)."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402


def weekly_chart(weeks: list[dict[str, Any]], title: str) -> bytes:
    """Bars of tasks received and accepted on time per week, with the escalation rate."""
    labels = [w["week"] for w in weeks]
    received = [w["received"] for w in weeks]
    on_time = [w["accepted_on_time"] for w in weeks]
    escalation = [100 * (w["escalation_rate"] or 0) for w in weeks]
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    try:
        positions = range(len(labels))
        ax.bar([p - 0.2 for p in positions], received, width=0.4, label="received")
        ax.bar([p + 0.2 for p in positions], on_time, width=0.4, label="accepted on time")
        ax.set_xticks(list(positions), labels, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("tasks")
        rate = ax.twinx()
        rate.plot(list(positions), escalation, color="#d32f2f", marker="o", label="escalated %")
        rate.set_ylim(0, 100)
        rate.set_ylabel("escalated (%)")
        ax.set_title(title)
        handles = ax.get_legend_handles_labels()[0] + rate.get_legend_handles_labels()[0]
        ax.legend(handles=handles, loc="upper left", fontsize=8)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(fig)


def ranking_chart(rows: list[dict[str, Any]], title: str, top: int = 15) -> bytes:
    """Horizontal bars of the share accepted on time, best first (一月一通报)."""
    shown = rows[:top]
    labels = [f"{r['rank']}. {r['key']}" for r in shown][::-1]
    shares = [100 * r["accepted_on_time"] / r["received"] if r["received"] else 0.0
              for r in shown][::-1]
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(shown) + 1.2), dpi=100)
    try:
        ax.barh(labels, shares, color="#1f5fa8")
        ax.set_xlim(0, 100)
        ax.set_xlabel("accepted on time (%)")
        ax.set_title(title)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(fig)
