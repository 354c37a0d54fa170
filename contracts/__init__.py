"""The MQTT message contract (v1) that every producer of crowd data speaks.

Topics live in :mod:`contracts.topics`, payload models in :mod:`contracts.payloads`.
Our own video analyser and simulators publish exactly what a third-party camera would.
"""
