"""``python -m tools.dr_drill``: see ``cli.py``."""

import sys

from .cli import main

sys.exit(main())
