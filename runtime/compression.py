"""Compressed objects: which codec an object uses (by extension, checked by magic bytes), and a
stream that decompresses it piece by piece, so that memory never holds the object whole.

gzip, bzip2 and Hadoop's .deflate (a zlib stream) use the standard library; zstd uses Arrow's
codec, which some Arrow builds (e.g. public Lambda layers) lack: then the error says so.
"""

from __future__ import annotations

import bz2
import io
import zlib
from collections.abc import Iterator

from .errors import BadInputError
from .storage import Storage

# Extension → codec; the order matters only for messages.
EXTENSIONS = {
    ".gz": "gzip",
    ".gzip": "gzip",
    ".zst": "zstd",
    ".bz2": "bzip2",
    ".deflate": "deflate",
}
CODECS = ("gzip", "zstd", "bzip2", "deflate")
_CHUNK = 4 << 20  # compressed bytes fetched per request
_STEP = 1 << 20  # decompressed bytes made per step (what Arrow's CSV reader asks for at once)
_FEED = 1 << 16  # compressed bytes given to a decompressor per call


def codec_of(url: str) -> str | None:
    """The codec an object's name says it uses, or None for an uncompressed name."""
    name = url.rsplit("/", 1)[-1].lower()
    for ext, codec in EXTENSIONS.items():
        if name.endswith(ext):
            return codec
    return None


def sniff(head: bytes) -> str | None:
    """The codec whose magic bytes start `head`, if any (deflate's zlib header is a guess at
    best, so it is only recognised together with its checksum rule)."""
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    if head[:3] == b"BZh" and head[3:4].isdigit():
        return "bzip2"
    if head[:4] == b"PAR1":
        return "parquet"
    if len(head) >= 2 and head[0] & 0x0F == 8 and head[0] >> 4 <= 7:
        if (head[0] << 8 | head[1]) % 31 == 0 and head[0] in (
            0x08,
            0x18,
            0x28,
            0x38,
            0x48,
            0x58,
            0x68,
            0x78,
        ):
            return "deflate"
    return None


def check_magic(url: str, codec: str, head: bytes) -> None:
    """Refuse an object whose first bytes contradict its codec."""
    if not head:
        return
    found = sniff(head)
    if found != codec:
        what = f"{found} data" if found else "not " + codec + " data"
        raise BadInputError(f"{url}: expected {codec} by its name, but its first bytes are {what}")


class _Decompressor:
    """One codec's incremental decompressor behind one small interface, its output bounded per
    call: text compresses 10-20x, so one 4 MB compressed chunk may hold 80 MB of rows.

    An object may hold several streams one after another (gzip members, bzip2 streams, zlib
    streams: parts concatenated, e.g. by `cat` or `hadoop fs -getmerge`); each is read in turn.
    Bytes after a stream's end start the next one, so trailing bytes that are not a stream fail
    its header check instead of being dropped."""

    def __init__(self, codec: str):
        self.codec = codec
        self._input = memoryview(b"")
        self._off = 0  # bytes of _input given to the decompressor
        self.streams = 0
        self._new()

    def _new(self) -> None:
        self.streams += 1
        if self.codec == "gzip":
            self._d = zlib.decompressobj(wbits=31)
        elif self.codec == "deflate":
            self._d = zlib.decompressobj()
        elif self.codec == "bzip2":
            self._d = bz2.BZ2Decompressor()

    def feed(self, data: bytes) -> None:
        """Add compressed bytes (after read() returned nothing: all before are consumed)."""
        rest = self._input[self._off :]
        self._input, self._off = memoryview(bytes(rest) + data if rest else data), 0

    def read(self, limit: int) -> bytes:
        """Up to `limit` decompressed bytes; b"" when it needs more input (or has ended)."""
        while True:
            if self._d.eof:
                if self._off == len(self._input):
                    return b""  # the end, unless more input comes
                self._new()
            # bzip2 keeps input it has not decompressed yet inside; zlib hands it back.
            if self.codec == "bzip2" and not self._d.needs_input:
                piece = b""
            else:
                # Pieces of _FEED bytes bound what zlib copies out as unused or unconsumed
                # (once per call), so many small streams cost time in proportion to their size.
                piece = self._input[self._off : self._off + _FEED]
                if not piece:
                    return b""
                self._off += len(piece)
            out = self._d.decompress(piece, limit)
            # What the decompressor handed back is the end of `piece`: give it again later.
            left = self._d.unused_data if self._d.eof else getattr(self._d, "unconsumed_tail", b"")
            self._off -= len(left)
            if out:
                return out

    def finished(self) -> bool:
        return self._d.eof


class _Chunks(io.RawIOBase):
    """An object's bytes read sequentially by ranged requests, counting the bytes read."""

    def __init__(self, storage: Storage, url: str, size: int | None):
        self.storage, self.url, self.size, self.pos, self.nbytes = storage, url, size, 0, 0

    def readable(self) -> bool:
        return True

    def next_chunk(self) -> bytes:
        end = self.pos + _CHUNK if self.size is None else min(self.pos + _CHUNK, self.size)
        data = self.storage.read_range(self.url, self.pos, end) if end > self.pos else b""
        self.pos += len(data)
        self.nbytes += len(data)
        return data


class DecompressedStream(io.RawIOBase):
    """A readable stream of an object's decompressed bytes; truncation is a BadInputError."""

    def __init__(self, storage: Storage, url: str, codec: str, size: int | None = None):
        self.url, self.codec = url, codec
        self._src = _Chunks(storage, url, size)
        self._buf, self._off = b"", 0
        self._done = False
        first = self._src.next_chunk()
        check_magic(url, codec, first[:8])
        if codec == "zstd":
            self._zstd(first, storage, size)
        else:
            self._d = _Decompressor(codec)
            self._pending = first

    def _zstd(self, first: bytes, storage: Storage, size: int | None) -> None:
        import pyarrow as pa

        if not pa.Codec.is_available("zstd"):
            raise BadInputError(
                f"{self.url}: this Arrow build has no zstd codec; decompress the object or use "
                "a pyarrow with zstd"
            )
        raw = _Prefixed(first, self._src)
        self._stream = pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), "zstd")

    def peek_line(self, limit: int = 1 << 16) -> bytes:
        """The start of the decompressed data, up to its first newline, without consuming it."""
        while b"\n" not in self._buf[self._off : self._off + limit] and not self._done:
            if len(self._buf) - self._off >= limit:
                break
            self._buf, self._off = self._buf[self._off :], 0
            self._fill()
        return bytes(self._buf[self._off : self._off + limit])

    @property
    def compressed_bytes(self) -> int:
        """Compressed bytes fetched so far."""
        return self._src.nbytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        want = len(buffer)
        if len(self._buf) - self._off < want and not self._done:
            self._buf, self._off = self._buf[self._off :], 0  # keep the unread tail only
            while len(self._buf) < want and not self._done:
                self._fill()
        n = min(want, len(self._buf) - self._off)
        buffer[:n] = memoryview(self._buf)[self._off : self._off + n]
        self._off += n
        return n

    def _fill(self) -> None:
        if self.codec == "zstd":
            try:
                data = self._stream.read(_CHUNK)
            except OSError as e:
                raise BadInputError(f"{self.url}: corrupt or truncated zstd data ({e})") from None
            self._done = not data
            self._buf += data
            return
        try:
            out = self._d.read(_STEP)
            while not out:
                data, self._pending = self._pending or self._src.next_chunk(), b""
                if not data:
                    self._done = True
                    if not self._d.finished():
                        raise BadInputError(
                            f"{self.url}: the {self.codec} data ends early (truncated object?) "
                            f"after {self._src.nbytes} compressed bytes"
                        )
                    return
                self._d.feed(data)
                out = self._d.read(_STEP)
        except (zlib.error, OSError, EOFError) as e:
            ended = self._d.streams - 1
            where = f" after the end of stream {ended} (trailing bytes?)" if ended else ""
            raise BadInputError(f"{self.url}: corrupt {self.codec} data{where} ({e})") from None
        self._buf += out


class _Prefixed(io.RawIOBase):
    """A chunk already fetched, followed by the rest of a _Chunks source."""

    def __init__(self, first: bytes, src: _Chunks):
        self._buf, self._src = first, src

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self._buf:
            self._buf = self._src.next_chunk()
        n = min(len(buffer), len(self._buf))
        buffer[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def line_blocks(stream: DecompressedStream, size: int) -> Iterator[tuple[int, bytes]]:
    """An incremental split of the decompressed bytes at line ends: blocks of about `size`
    bytes (more only by the line that crosses `size`), each ending with a newline but the last,
    with the offset of its first byte in the decompressed data. Memory holds one block and the
    pieces it is joined from, never the object."""
    offset, carry, ended = 0, b"", False
    while not ended:
        pieces, total = [carry], len(carry)
        # Whole pieces up to `size`, then up to one holding a newline (carry holds none).
        while not ended and (total < size or b"\n" not in pieces[-1]):
            piece = stream.read(_STEP)
            ended = not piece
            pieces.append(piece)
            total += len(piece)
        last = pieces.pop()
        cut = len(last) if ended else last.rfind(b"\n") + 1
        carry = last[cut:]
        pieces.append(last[:cut])
        block = b"".join(pieces)
        del pieces, last
        if block:
            yield offset, block
            offset += len(block)
