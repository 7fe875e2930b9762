"""Training scripts of the learned replacement methods (need the ``train`` extra: torch)."""
