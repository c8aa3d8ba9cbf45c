# SPDX-License-Identifier: GPL-3.0-or-later
"""What bench/record runs besides the agent: faults to find, benign activity to leave alone, a veth link.

Every workload runs in a child process of its own session with a hard time limit (`run`), so a recording
that is interrupted leaves nothing behind. Faults are labelled anomalous; benign workloads (a cron-like job,
a package-cache burst, log rotation, a steady stream to a network namespace) are labelled normal and must
not be flagged.

Kinds and their parameter:
    cpu        busy cores                       memory     MiB held
    cpu_share  percent of one core (duty cycle) leak       MiB reached at the end, grown linearly
    disk       MiB per fsync'd burst            slow_disk  4 KiB synchronous writes per second
    procs      /bin/true per batch              net        MiB/s to the namespace (loopback without one)
    stall      percent of the stream's usual rate it drops to (a slow peer)
    udp        datagrams per second to a reader that cannot keep up (receive-buffer drops)
    cron       seconds of compression work (benign, every 10 minutes)
    pkgcache   MiB downloaded and verified (benign)
    logrotate  MiB of log compressed (benign)
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

NETNS = "bench-record"
HOST_IF, PEER_IF = "vethrec0", "vethrec1"
HOST_IP, PEER_IP = "10.213.7.1", "10.213.7.2"
STREAM_PORT, SINK_PORT, UDP_PORT = 7401, 7402, 7403
STREAM_MIB_S = 1.0  # the benign stream's usual rate
BENIGN = ("cron", "pkgcache", "logrotate")


def hard_limit(seconds: float) -> None:
    """Die by SIGALRM (default action: terminate) if still alive `seconds` from now."""
    signal.alarm(max(1, int(seconds) + 1))


# ---------------------------------------------------------------- the network namespace

def netns_up() -> bool:
    """Create the namespace and veth pair (root only); False, with nothing left behind, if that fails."""
    netns_down()
    steps = [["ip", "netns", "add", NETNS],
             ["ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", PEER_IF],
             ["ip", "link", "set", PEER_IF, "netns", NETNS],
             ["ip", "addr", "add", f"{HOST_IP}/30", "dev", HOST_IF],
             ["ip", "link", "set", HOST_IF, "up"],
             ["ip", "netns", "exec", NETNS, "ip", "addr", "add", f"{PEER_IP}/30", "dev", PEER_IF],
             ["ip", "netns", "exec", NETNS, "ip", "link", "set", PEER_IF, "up"],
             ["ip", "netns", "exec", NETNS, "ip", "link", "set", "lo", "up"]]
    for step in steps:
        if shutil.which(step[0]) is None or subprocess.run(step, capture_output=True).returncode != 0:
            netns_down()
            return False
    return True


def netns_down() -> None:
    subprocess.run(["ip", "link", "del", HOST_IF], capture_output=True)
    subprocess.run(["ip", "netns", "del", NETNS], capture_output=True)


def in_netns(args: list) -> subprocess.Popen:
    """Start `bench/workloads.py <args>` inside the namespace, in its own session."""
    return subprocess.Popen(["ip", "netns", "exec", NETNS, sys.executable, str(Path(__file__).resolve())] + args,
                            start_new_session=True)


def _serve_sink(port: int) -> None:
    """Accept TCP connections and read each to its end."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(16)

    def drain(conn: socket.socket) -> None:
        with conn:
            while True:
                try:
                    if not conn.recv(1 << 16):
                        return
                except OSError:
                    return

    while True:
        conn, _ = listener.accept()
        threading.Thread(target=drain, args=(conn,), daemon=True).start()


def _read_udp_slowly(sock: socket.socket, deadline: float) -> None:
    """Read datagrams with a pause after each: the small receive buffer overflows (RcvbufErrors)."""
    sock.settimeout(1.0)
    while time.time() < deadline:
        try:
            sock.recv(65536)
        except OSError:
            continue
        time.sleep(0.002)


def _send_udp(port: int, per_second: int) -> None:
    """From inside the namespace: send `per_second` 1 KiB datagrams to the host side until killed."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    payload = b"u" * 1024
    while True:
        tick_end = time.time() + 0.1
        for _ in range(max(1, per_second // 10)):
            try:
                sock.sendto(payload, (HOST_IP, port))
            except OSError:
                pass
        time.sleep(max(0.0, tick_end - time.time()))


def _send_at(conn: socket.socket, bytes_per_s: float, seconds: float, rate_of=None) -> None:
    """Send to `conn` at `bytes_per_s` (or `rate_of()` of it, checked every 0.1 s) for `seconds`."""
    payload = b"x" * 8192
    end = time.time() + seconds
    while time.time() < end:
        tick_end = time.time() + 0.1
        budget = bytes_per_s * 0.1 * (rate_of() if rate_of else 1.0)
        sent = 0
        while sent < budget and time.time() < tick_end:
            sent += conn.send(payload[:max(1, min(len(payload), int(budget - sent)))])
        time.sleep(max(0.0, tick_end - time.time()))


def stream(seconds: float, control: str) -> None:
    """The benign steady stream: STREAM_MIB_S to the namespace, at the rate share written in `control`."""
    sink = in_netns(["--sink", str(STREAM_PORT)])
    try:
        for _ in range(50):
            try:
                conn = socket.create_connection((PEER_IP, STREAM_PORT), timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise SystemExit("the stream's sink in the namespace does not answer")

        def rate_of() -> float:
            try:
                share, until = Path(control).read_text().split()
                return float(share) if time.time() < float(until) else 1.0
            except (OSError, ValueError):
                return 1.0

        with conn:
            _send_at(conn, STREAM_MIB_S * 1024 * 1024, seconds, rate_of)
    finally:
        os.killpg(sink.pid, signal.SIGKILL)


# ---------------------------------------------------------------- faults

def _cpu(deadline: float, cores: int) -> None:
    workers = []
    for _ in range(cores):
        pid = os.fork()
        if pid == 0:
            hard_limit(deadline - time.time() + 5)
            x = 0
            while time.time() < deadline:
                for _ in range(100000):
                    x += 1
            os._exit(0)
        workers.append(pid)
    for pid in workers:
        os.waitpid(pid, 0)


def _cpu_share(deadline: float, percent: int) -> None:
    period = 0.05
    while time.time() < deadline:
        busy_until = time.time() + period * percent / 100
        while time.time() < busy_until:
            pass
        time.sleep(period * (100 - percent) / 100)


def _memory(deadline: float, mib: int) -> None:
    size = mib * 1024 * 1024
    block = bytearray(size)
    for offset in range(0, size, 4096):  # touch every page so it is resident
        block[offset] = 1
    while time.time() < deadline:
        time.sleep(0.5)


def _leak(deadline: float, mib: int) -> None:
    start, held = time.time(), []
    while time.time() < deadline:
        want = int(mib * (time.time() - start) / max(1.0, deadline - start))
        while len(held) < want:
            chunk = bytearray(1024 * 1024)
            for offset in range(0, len(chunk), 4096):
                chunk[offset] = 1
            held.append(chunk)
        time.sleep(1.0)


def _disk(deadline: float, mib: int, directory: str) -> None:
    chunk = os.urandom(1024 * 1024)
    fd, path = tempfile.mkstemp(prefix="bench-record-", dir=directory)
    try:
        while time.time() < deadline:
            os.lseek(fd, 0, os.SEEK_SET)
            for _ in range(mib):
                os.write(fd, chunk)
                if time.time() >= deadline:
                    break
            os.fsync(fd)
            os.ftruncate(fd, 0)
            os.fsync(fd)
            time.sleep(min(1.0, max(0.0, deadline - time.time())))
    finally:
        os.close(fd)
        os.unlink(path)


def _slow_disk(deadline: float, per_second: int, directory: str) -> None:
    block = os.urandom(4096)
    fd, path = tempfile.mkstemp(prefix="bench-record-", dir=directory)
    try:
        n = 0
        while time.time() < deadline:
            os.pwrite(fd, block, (n % 2048) * 4096)
            os.fsync(fd)
            n += 1
            time.sleep(max(0.0, 1.0 / per_second - 0.0005))
    finally:
        os.close(fd)
        os.unlink(path)


def _procs(deadline: float, batch: int) -> None:
    true = shutil.which("true") or "/bin/true"
    while time.time() < deadline:
        for child in [subprocess.Popen([true]) for _ in range(batch)]:
            child.wait()


def _net(deadline: float, mib_s: int, veth: bool) -> None:
    if veth:
        sink, address = in_netns(["--sink", str(SINK_PORT)]), (PEER_IP, SINK_PORT)
    else:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        address, sink = listener.getsockname(), None
        threading.Thread(target=lambda: _drain_all(listener), daemon=True).start()
    try:
        for _ in range(50):
            try:
                conn = socket.create_connection(address, timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        else:
            return
        with conn:
            _send_at(conn, mib_s * 1024 * 1024, deadline - time.time())
    finally:
        if sink is not None:
            os.killpg(sink.pid, signal.SIGKILL)


def _drain_all(listener: socket.socket) -> None:
    while True:
        conn, _ = listener.accept()
        with conn:
            while conn.recv(1 << 16):
                pass


def _stall(deadline: float, percent: int, control: str) -> None:
    Path(control).write_text(f"{percent / 100} {deadline}")
    while time.time() < deadline:
        time.sleep(0.5)


def _udp(deadline: float, per_second: int) -> None:
    """Datagrams from the namespace to a host socket read too slowly: drops the host's kernel counts."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.bind((HOST_IP, UDP_PORT))
    sender = in_netns(["--udp-sender", str(UDP_PORT), str(per_second)])
    try:
        _read_udp_slowly(sock, deadline)
    finally:
        os.killpg(sender.pid, signal.SIGKILL)
        sock.close()


# ---------------------------------------------------------------- benign activity

def _cron(deadline: float, seconds: int, directory: str) -> None:
    """A nightly-style job: compress generated text for `seconds` at about 60% of a core, write it out."""
    end = min(deadline, time.time() + seconds)
    text = b"".join(b"%d GET /index.html 200 %d\n" % (i, i * 7 % 1000) for i in range(20000))
    with tempfile.TemporaryFile(dir=directory) as out:
        while time.time() < end:
            busy_until = time.time() + 0.06
            while time.time() < busy_until:
                out.write(zlib.compress(text, 6))
            time.sleep(0.04)
        out.flush()
        os.fsync(out.fileno())


def _pkgcache(deadline: float, mib: int, directory: str) -> None:
    """Download-like writes at ~25 MiB/s into a cache directory, then a checksum read of each, then rm."""
    folder = tempfile.mkdtemp(prefix="bench-record-cache-", dir=directory)
    try:
        chunk = os.urandom(1024 * 1024)
        names = []
        for i in range(0, mib, 4):
            if time.time() >= deadline:
                break
            name = os.path.join(folder, f"pkg{i}.deb")
            with open(name, "wb") as stream:
                for _ in range(4):
                    stream.write(chunk)
            names.append(name)
            time.sleep(0.16)
        os.sync()
        for name in names:
            with open(name, "rb") as stream:
                hashlib.sha256(stream.read()).hexdigest()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _logrotate(deadline: float, mib: int, directory: str) -> None:
    """Write a log of `mib` MiB over a few seconds, gzip it to a second file, delete both."""
    line = b"Dec  2 03:00:00 host app[123]: request served in 12 ms status=200 path=/api/v1/data\n"
    with tempfile.TemporaryDirectory(dir=directory) as folder:
        log = os.path.join(folder, "app.log")
        with open(log, "wb") as stream:
            block = line * (1024 * 1024 // len(line))
            for _ in range(mib):
                stream.write(block)
        compressor = zlib.compressobj(6)
        with open(log, "rb") as src, open(log + ".1.gz", "wb") as dst:
            while time.time() < deadline:
                data = src.read(1 << 20)
                if not data:
                    break
                dst.write(compressor.compress(data))
            dst.write(compressor.flush())
            dst.flush()
            os.fsync(dst.fileno())


def run(kind: str, seconds: float, param: int, directory: str, control: str, veth: bool) -> None:
    """Run one workload for at most `seconds` (the caller kills its process group after that)."""
    deadline = time.time() + seconds
    hard_limit(seconds + 10)
    if kind == "stream":
        stream(seconds, control)
        return
    kinds = {
        "cpu": lambda: _cpu(deadline, param), "cpu_share": lambda: _cpu_share(deadline, param),
        "memory": lambda: _memory(deadline, param), "leak": lambda: _leak(deadline, param),
        "disk": lambda: _disk(deadline, param, directory), "slow_disk": lambda: _slow_disk(deadline, param, directory),
        "procs": lambda: _procs(deadline, param), "net": lambda: _net(deadline, param, veth),
        "stall": lambda: _stall(deadline, param, control), "udp": lambda: _udp(deadline, param),
        "cron": lambda: _cron(deadline, param, directory), "pkgcache": lambda: _pkgcache(deadline, param, directory),
        "logrotate": lambda: _logrotate(deadline, param, directory),
    }
    if kind not in kinds:
        raise SystemExit(f"unknown workload {kind}")
    kinds[kind]()


if __name__ == "__main__":  # helpers started inside the namespace
    if sys.argv[1] == "--sink":
        _serve_sink(int(sys.argv[2]))
    elif sys.argv[1] == "--udp-sender":
        _send_udp(int(sys.argv[2]), int(sys.argv[3]))
