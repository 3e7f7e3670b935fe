"""Direct baseline for ``dvc pull``: download every blob of a container in parallel (azure-storage-blob).

One ``BlobServiceClient`` (one connection pool) shared by a thread pool, one thread per blob up to
``--workers``, each blob streamed to its own file with ``download_blob(max_concurrency=...)``.
Prints ``{"blobs": n, "bytes": b}`` as JSON.

    python bench/direct_download.py --conn "$CONN" --container dvc-cache --dest /tmp/out
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from azure.storage.blob import BlobServiceClient


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conn", required=True, help="storage connection string")
    parser.add_argument("--container", required=True)
    parser.add_argument("--dest", type=Path, required=True)
    parser.add_argument("--api-version", default="2019-07-07")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--max-concurrency", type=int, default=4)
    args = parser.parse_args()

    service = BlobServiceClient.from_connection_string(args.conn, api_version=args.api_version)
    container = service.get_container_client(args.container)
    names = [blob.name for blob in container.list_blobs()]

    def fetch(name: str) -> int:
        path = args.dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            return container.download_blob(name, max_concurrency=args.max_concurrency).readinto(handle)

    with ThreadPoolExecutor(max(1, min(args.workers, len(names)))) as pool:
        sizes = list(pool.map(fetch, names))
    sys.stdout.write(json.dumps({"blobs": len(names), "bytes": sum(sizes)}) + "\n")


if __name__ == "__main__":
    main()
