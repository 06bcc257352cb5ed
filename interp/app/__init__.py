"""The application: the ``interp`` command line, its subcommands, the quickstart, reports and analysis runs."""
