"""The pytest plugin for routing contracts."""
