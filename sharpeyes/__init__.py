"""Sharp Eyes' composition root: the CLI, the runtime, embedded servers, demo and benches.

It wires the stages together and may import all of them; no stage imports it (``make
lint`` checks both directions). What every stage shares lives in ``kernel``.
"""

from kernel import __version__

__all__ = ["__version__"]
