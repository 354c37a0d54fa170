"""Sharp Eyes: the runtime shared by every stage — settings, embedded services, CLI."""

__version__ = "0.1.0"
