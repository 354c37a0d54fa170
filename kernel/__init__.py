"""The shared kernel every stage may use: settings, MQTT helpers, passwords, progress.

It imports no stage and nothing of the composition root (``sharpeyes``), so any stage can
depend on it; ``make lint`` holds it to that.
"""

__version__ = "0.1.0"
