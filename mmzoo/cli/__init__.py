"""The ``mmzoo`` command line (see :mod:`mmzoo.cli.main`)."""
