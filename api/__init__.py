"""API stage: FastAPI app, the only way people and integrators touch the system.

Build it with :func:`api.app.create_app`; nothing is created at import time.
"""
