"""``python -m vpce_remediator``: the audit and reconcile command line (see cli.py)."""

import sys

from vpce_remediator.cli import main

sys.exit(main())
