"""Write protocols/http/codec/routing-index.json: the routing facts of every
service the gateway recognises, for the installed botocore release.

    python tools/gen_routing_index.py

A gateway reads the file instead of loading every service model at start;
with another botocore release installed it computes the same facts itself
(protocols/http/codec/_index.py), so the file is an optimisation only.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from protocols.http.codec._index import INDEX_PATH, build_index  # noqa: E402
from services.registry import KNOWN_SERVICES  # noqa: E402


def main() -> int:
    doc = build_index(KNOWN_SERVICES)
    INDEX_PATH.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(f"{INDEX_PATH}: {len(doc['services'])} services, botocore {doc['botocore']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
