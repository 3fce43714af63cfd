from __future__ import annotations

from lfs_meta.cli import main

raise SystemExit(main())
