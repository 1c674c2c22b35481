"""A pseudo-terminal pair and the thread that plays a serial device on its master side.

The driver opens the slave side by name with pyserial, exactly as it opens
``/dev/ttyUSB0``; the emulator reads and writes the master file descriptor. Nothing in
between is faked: termios, the kernel's tty buffers and pyserial's timeouts are real.
"""

from __future__ import annotations

import errno
import os
import pty
import select
import threading
import tty

from wardlink.hardware.errors import BusError


class PtyPair:
    """An open pty pair in raw mode; ``port`` is the slave's device name."""

    def __init__(self) -> None:
        self.master_fd, self.slave_fd = pty.openpty()
        # Raw mode before anyone writes: no echo back to the master, no CR/LF translation.
        tty.setraw(self.slave_fd)
        tty.setraw(self.master_fd)
        os.set_blocking(self.master_fd, False)
        self.port = os.ttyname(self.slave_fd)
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once both ends are closed."""
        return self._closed

    def close(self) -> None:
        """Close both ends; calling it again does nothing."""
        if not self._closed:
            self._closed = True
            for fd in (self.master_fd, self.slave_fd):
                os.close(fd)

    def __enter__(self) -> PtyPair:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class PtyEmulator:
    """Base for device emulators: a thread serving the master side of its own pty pair.

    Subclasses override :meth:`on_bytes` (data the driver sent) and :meth:`on_idle`
    (called about every ``tick`` seconds). The emulator owns its pty: :meth:`stop` joins
    the thread and closes both ends, so a test never leaks descriptors.
    """

    tick = 0.005

    def __init__(self) -> None:
        self.pty = PtyPair()
        self.port = self.pty.port
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._out = bytearray()
        self._lock = threading.Lock()
        self.error: BaseException | None = None

    def start(self) -> PtyEmulator:
        """Start serving; return self so ``emu = Emulator().start()`` reads naturally."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and close the pty; calling it again does nothing."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.pty.close()

    @property
    def running(self) -> bool:
        """True while the serving thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def send(self, data: bytes) -> None:
        """Queue bytes for the driver; the thread writes them as the tty accepts them."""
        with self._lock:
            self._out += data

    @property
    def pending(self) -> int:
        """Return how many queued bytes have not reached the tty yet."""
        with self._lock:
            return len(self._out)

    def on_bytes(self, data: bytes) -> None:
        """Handle bytes the driver wrote (subclasses override)."""

    def on_idle(self) -> None:
        """Do timed work such as printing the next line (subclasses override)."""

    def _run(self) -> None:
        fd = self.pty.master_fd
        try:
            while not self._stop.is_set():
                want_write = [fd] if self.pending else []
                readable, writable, _ = select.select([fd], want_write, [], self.tick)
                if readable:
                    data = self._read(fd)
                    if data:
                        self.on_bytes(data)
                if writable:
                    self._write(fd)
                self.on_idle()
        except BaseException as exc:  # surfaced to the test through .error
            self.error = exc

    @staticmethod
    def _read(fd: int) -> bytes:
        try:
            return os.read(fd, 4096)
        except BlockingIOError:
            return b""
        except OSError as exc:
            # EIO: no process holds the slave open right now (the driver closed it).
            if exc.errno == errno.EIO:
                return b""
            raise BusError(exc.errno, f"pty master read failed: {exc}") from exc

    def _write(self, fd: int) -> None:
        with self._lock:
            chunk = bytes(self._out[:4096])
        try:
            written = os.write(fd, chunk)
        except BlockingIOError:
            return
        with self._lock:
            del self._out[:written]
