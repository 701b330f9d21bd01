"""``python -m ormkit.cli``."""

import sys

from ormkit.cli import main

sys.exit(main())
