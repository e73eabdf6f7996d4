"""The unit directory's files: reading a directory file (CSV or JSON) into units, and
the generated directory of Xinjiang's administrative shape shipped as test and
benchmark data."""
