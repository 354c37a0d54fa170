"""Simulators: a sample city, simulated cameras and sensors, scenarios — stand-ins for real devices.

They speak the same MQTT contract as real devices and act through the same API as
people, so every stage is exercised end to end without real cameras.
"""
