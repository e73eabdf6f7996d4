"""The ``petition`` command line."""
