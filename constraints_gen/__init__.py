"""constraints_gen: detect the GPU, select a hardware profile, emit exact locked constraints."""

__version__ = "0.1.0"
