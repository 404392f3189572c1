"""A module for local workers to preload in tests: it records the process that imported it."""

import os

IMPORTED_IN = os.getpid()
