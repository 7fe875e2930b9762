"""Face detection: the built-in CenterFace detector (registered as a plugin like any other)."""
