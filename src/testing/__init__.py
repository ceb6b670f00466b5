"""Fixtures that tests, debug configs and the quick demo share: tiny policies and in-process engines on the
tiny random model. Production code never imports this package."""
