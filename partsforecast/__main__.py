"""``python -m partsforecast`` runs the command line."""

import sys

from partsforecast.cli import main

sys.exit(main())
