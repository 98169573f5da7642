"""``python -m training``: see ``training/cli.py`` and docs/training.md."""
import sys

from .cli import main

sys.exit(main())
