"""Live anonymization for OBS: the engine process that ``anonfilter live`` runs (see docs/obs.md)."""
