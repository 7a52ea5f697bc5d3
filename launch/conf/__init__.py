"""Hydra config tree of the ember command (YAML files; this file makes it importable for Hydra)."""
