"""The OBS side of live anonymization: the script OBS loads (``anonfilter_obs.py``) and the bridge
it shares with the ``anonfilter live`` engine (``bridge.py``). Both need only the standard library."""
