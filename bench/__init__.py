"""Load benchmarks, run by `make bench` (`python -m bench`); not part of the tests."""
