"""``sharpeyes simulate render-sample``: the contact sheet of synthetic frames for the README."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kernel.settings import Settings


def register(simulate_sub: Any) -> None:
    sample = simulate_sub.add_parser(
        "render-sample", help="PNG contact sheet of frames at several densities, zones drawn")
    sample.add_argument("--out", type=Path, default=Path("docs/img/contact_sheet.png"))
    sample.add_argument("--seed", type=int, default=7)
    sample.set_defaults(handler=_render_sample)


def _render_sample(args: argparse.Namespace, settings: Settings) -> int:
    from simulators.render import contact_sheet

    args.out.parent.mkdir(parents=True, exist_ok=True)
    path = contact_sheet(args.out, seed=args.seed)
    sys.stdout.write(f"wrote {path}\n")
    return 0
