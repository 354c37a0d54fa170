"""Ingest stage: MQTT messages of the contract → validated, de-duplicated rows in the store.

A message is acknowledged to the broker only after its rows (or its dead letter)
are committed, so nothing received is lost, and the (device, sequence) key makes
a redelivered message a no-op, so nothing is stored twice.
"""
