"""``python -m hwmodel.cli``: the same command as ``hwmodel``."""

import sys

from hwmodel.cli import main

sys.exit(main())
