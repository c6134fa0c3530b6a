"""constraints_gen: detect the GPU, select a hardware profile, emit exact locked constraints.

The package reads as the pipeline, one folder per stage, over a few shared leaves:

- :mod:`~constraints_gen.detect`: read this machine (platform, GPUs) into a
  :class:`~constraints_gen.detect.hardware.Hardware` readout, one probe module per source;
- :mod:`~constraints_gen.profiles`: the profile model, the manifest, the project and its
  config, and selecting the exact profile for a readout;
- :mod:`~constraints_gen.locks`: compiling hashed locks (uv, pip-tools), the lock file model,
  freshness, refresh, and emitting constraints from a lock;
- :mod:`~constraints_gen.install`: the wheelhouse, the index client, fill, sync and verify;
- :mod:`~constraints_gen.cli`: the command line on top: parse options, call a stage, render.

The shared leaves (``errors``, ``runner``, ``reporter``, ``fsutil``, ``tomlio``, ``names``,
``uvplatforms``) import no stage. The rule: detect -> profiles -> locks -> install -> cli; a
module imports its own stage and lower ones, never a higher stage (nor the CLI), not even lazily
inside a function or under ``TYPE_CHECKING`` (tests/test_layout.py reads every import). The
stage packages' ``__init__`` files import nothing, so reaching one module costs only that module
(emit is timed).
"""

__version__ = "0.1.0"
