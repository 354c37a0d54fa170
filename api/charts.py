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
