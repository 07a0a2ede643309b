"""pytest plugin: routing contracts (filled in by the rules work)."""
