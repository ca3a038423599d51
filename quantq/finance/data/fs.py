"""Where a store's files live: a local folder, or any URL pyarrow or fsspec can open.

Both kinds give the store the same few primitives.  Atomic replacement of one file is
``os.replace`` locally (POSIX rename); on object stores a finished object upload is atomic by
nature, so a staged object is moved (server-side copy) over the target.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq


class StoreError(Exception):
    """A store that cannot be opened, or data it does not hold."""


class Files(Protocol):
    url: str
    local: bool

    def join(self, *parts: str) -> str: ...
    def exists(self, path: str) -> bool: ...
    def listdir(self, path: str) -> list[str]: ...
    def makedirs(self, path: str) -> None: ...
    def read_bytes(self, path: str) -> bytes: ...
    def write_bytes(self, path: str, data: bytes) -> None: ...
    def read_table(self, path: str) -> pa.Table: ...
    def parquet_metadata(self, path: str) -> pq.FileMetaData: ...
    def write_table(self, path: str, table: pa.Table) -> None: ...
    def replace(self, src: str, dst: str) -> None: ...
    def remove(self, path: str) -> None: ...
    def temp_name(self, final: str) -> str: ...


# random-walk float64 prices barely compress (zstd saved <5% in bench_store.py) but cost
# decode time on every read, so only the timestamps get a cheap codec
def parquet_options(table: pa.Table) -> dict[str, Any]:
    codecs = {f.name: "none" if pa.types.is_float64(f.type) and f.name != "volume" else "zstd" for f in table.schema}
    return {"compression": codecs, "write_statistics": True}


def _temp_name(final: str) -> str:
    # a dot-prefixed sibling: same filesystem (rename stays atomic) and invisible to listings
    head, _, tail = final.rpartition("/")
    return f"{head}/.{tail}.{uuid.uuid4().hex[:12]}.tmp"


class LocalFiles:
    local = True

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(os.path.expanduser(root))
        self.url = self.root

    def join(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(n for n in os.listdir(path) if not n.startswith("."))
        except FileNotFoundError:
            return []

    def makedirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def read_bytes(self, path: str) -> bytes:
        return Path(path).read_bytes()

    def write_bytes(self, path: str, data: bytes) -> None:
        with open(path, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def read_table(self, path: str) -> pa.Table:
        # ParquetFile skips pq.read_table's dataset discovery, ~2x faster for many small files
        return pq.ParquetFile(path, pre_buffer=False).read(use_threads=False)

    def parquet_metadata(self, path: str) -> pq.FileMetaData:
        return pq.read_metadata(path)

    def write_table(self, path: str, table: pa.Table) -> None:
        pq.write_table(table, path, **parquet_options(table))

    def replace(self, src: str, dst: str) -> None:
        os.replace(src, dst)

    def remove(self, path: str) -> None:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass

    def temp_name(self, final: str) -> str:
        return _temp_name(final)


class ArrowFiles:
    """Any filesystem pyarrow knows (s3://, gs://, hdfs://) or fsspec knows (memory://, az://, ...)."""

    local = False

    def __init__(self, url: str, fs: pafs.FileSystem, root: str) -> None:
        self.url = url
        self.fs = fs
        self.root = root.rstrip("/")

    def join(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    def exists(self, path: str) -> bool:
        return self.fs.get_file_info(path).type != pafs.FileType.NotFound

    def listdir(self, path: str) -> list[str]:
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
        except FileNotFoundError:
            return []
        return sorted(n for n in (i.base_name for i in infos) if not n.startswith("."))

    def makedirs(self, path: str) -> None:
        self.fs.create_dir(path, recursive=True)

    def read_bytes(self, path: str) -> bytes:
        with self.fs.open_input_stream(path) as fh:
            return fh.read()

    def write_bytes(self, path: str, data: bytes) -> None:
        with self.fs.open_output_stream(path) as fh:
            fh.write(data)

    def read_table(self, path: str) -> pa.Table:
        with self.fs.open_input_file(path) as fh:
            return pq.ParquetFile(fh).read(use_threads=False)

    def parquet_metadata(self, path: str) -> pq.FileMetaData:
        with self.fs.open_input_file(path) as fh:
            return pq.read_metadata(fh)

    def write_table(self, path: str, table: pa.Table) -> None:
        pq.write_table(table, path, filesystem=self.fs, **parquet_options(table))

    def replace(self, src: str, dst: str) -> None:
        self.fs.move(src, dst)

    def remove(self, path: str) -> None:
        try:
            self.fs.delete_file(path)
        except (FileNotFoundError, OSError):
            pass

    def temp_name(self, final: str) -> str:
        return _temp_name(final)


def open_files(url: str) -> Files:
    """Local path or ``file://`` URL → :class:`LocalFiles`; any other URL → :class:`ArrowFiles`."""
    if "://" not in url:
        return LocalFiles(url)
    if url.startswith("file://"):
        return LocalFiles(url[len("file://") :])
    try:
        fs, root = pafs.FileSystem.from_uri(url)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        try:
            import fsspec
        except ImportError:
            raise StoreError(
                f"cannot open store {url!r}: scheme unknown to pyarrow and fsspec is not installed"
            ) from None
        try:
            fsspec_fs, root = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as exc:
            raise StoreError(f"cannot open store {url!r}: {exc}") from None
        fs = pafs.PyFileSystem(pafs.FSSpecHandler(fsspec_fs))
    except OSError as exc:
        raise StoreError(f"cannot open store {url!r}: {exc}") from None
    return ArrowFiles(url, fs, root)
