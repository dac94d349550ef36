"""The real-map adapters by name: ``python -m harness.adapters`` builds what it can
and lists each adapter's .so, or why it is unavailable.

The code lives in harness.run.adapters; this module keeps the documented name.
"""

from __future__ import annotations

import sys

from harness.run.adapters import (
    ADAPTERS,
    AdapterError,
    AdapterStatus,
    build_all,
    main,
    resolve,
    status,
)

__all__ = ["ADAPTERS", "AdapterError", "AdapterStatus", "build_all", "main", "resolve", "status"]

if __name__ == "__main__":
    sys.exit(main())
