"""A font with Chinese glyphs for the server-rendered charts, found at run time.

Matplotlib's own fonts (DejaVu) have no CJK glyphs: Chinese labels would be drawn as
empty boxes. Sharp Eyes ships no font; it uses one the machine has: what fontconfig
lists for ``:lang=zh-cn`` (Debian's ``fonts-noto-cjk``, ``fonts-wqy-zenhei``…), else
a file at a known place on Linux, macOS or Windows. With none, charts keep English
labels (:func:`cjk_family` is None). Noto Sans CJK is under the SIL Open Font License
1.1, which allows using it to render images; nothing of it is copied into the project.
"""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess
from pathlib import Path

from matplotlib import font_manager

log = logging.getLogger(__name__)

KNOWN_FILES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",          # Debian, Ubuntu
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",               # Arch
    "/usr/share/fonts/google-noto-sans-cjk-vf-fonts/NotoSansCJK-VF.ttc",  # Fedora
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",                              # macOS
    "/System/Library/Fonts/STHeiti Medium.ttc",
    "C:/Windows/Fonts/msyh.ttc",                                       # Windows
    "C:/Windows/Fonts/simhei.ttf",
)
_SUFFIXES = (".ttf", ".otf", ".ttc")


def _fontconfig_files() -> list[str]:
    """Font files fontconfig says cover simplified Chinese (regular sans first)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return []
    try:
        listed = subprocess.run([fc_list, ":lang=zh-cn", "file", "style"], capture_output=True,
                                text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    entries = [line.partition(":") for line in listed.splitlines()]
    files = [(path.strip(), style) for path, _, style in entries
             if path.strip().lower().endswith(_SUFFIXES)]
    return [path for path, _ in sorted(files, key=lambda f: ("Regular" not in f[1],
                                                               "Serif" in f[0], f[0]))]


def _family_of(path: str) -> str | None:
    """Register the file with matplotlib; its family, the simplified Chinese face if a
    collection has several (Noto Sans CJK has JP, KR, SC, TC, HK)."""
    try:
        font_manager.fontManager.addfont(path)
    except (OSError, RuntimeError, ValueError) as exc:
        log.warning("chart font %s is unusable: %s", path, exc)
        return None
    names = [f.name for f in font_manager.fontManager.ttflist if f.fname == path]
    return next((n for n in names if n.endswith((" SC", " CN", "GB"))), names[0] if names
                else None)


@functools.cache
def cjk_family() -> str | None:
    """The family name to draw Chinese with, or None when the machine has no such font."""
    for path in [*_fontconfig_files(), *KNOWN_FILES]:
        if Path(path).is_file() and (family := _family_of(path)):
            log.info("charts draw Chinese with %s (%s)", family, path)
            return family
    log.warning("no font with Chinese glyphs (install fonts-noto-cjk); charts stay English")
    return None
