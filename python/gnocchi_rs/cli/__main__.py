"""``python -m gnocchi_rs.cli``: ``gnocchi-rs`` without its console script
(how ``serve`` starts its children when it was started that way)."""
import sys

from gnocchi_rs.cli import main

sys.exit(main())
