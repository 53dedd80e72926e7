"""``python -m mmzoo`` runs the command line."""

import sys

from mmzoo.cli.main import main

sys.exit(main())
