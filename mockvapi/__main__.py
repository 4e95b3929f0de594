from __future__ import annotations

from mockvapi.cli import main

raise SystemExit(main())
