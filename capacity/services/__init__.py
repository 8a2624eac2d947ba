"""Writes of the capacity app: rollups from Redis counters, and generated demo history."""
