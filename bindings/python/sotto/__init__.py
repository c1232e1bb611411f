"""Sotto: end-to-end encryption for direct messages and calls.

The API is uniffi's binding of the `sotto-ffi` crate, generated into
`sotto/sotto.py` (with the native library beside it) by
`bindings/generate.sh python`.
"""

from .sotto import *  # noqa: F401,F403 (the generated module's __all__)
from .sotto import __all__  # noqa: F401
