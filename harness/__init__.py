"""mapfuzz: a race-detection fuzzer for concurrent hash maps."""

__version__ = "0.1.0"
