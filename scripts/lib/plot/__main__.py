# SPDX-License-Identifier: MIT
"""python3 -m plot RUN_DIR (with scripts/lib on the path): what scripts/plot runs."""
import sys

from .cli import main

sys.exit(main(sys.argv[1:]))
