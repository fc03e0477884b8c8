"""``python -m regproxy`` runs the command-line interface."""

from regproxy.cli import main

raise SystemExit(main())
