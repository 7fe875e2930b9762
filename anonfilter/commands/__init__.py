"""The subcommands of the ``anonfilter`` command line, one module each."""
