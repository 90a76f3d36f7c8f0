"""A throwaway PostgreSQL server for tests: `initdb` in a temporary folder, `pg_ctl start` on a free
localhost port, stopped afterwards. Debian's `postgresql` package provides the programs; the server
refuses to run as root, so it runs as the `postgres` user the package creates."""
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

DEBIAN_BINARIES = Path("/usr/lib/postgresql")


def binary(name):
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(DEBIAN_BINARIES.glob(f"*/bin/{name}"))
    if not versions:
        raise FileNotFoundError(f"{name} not found: install Debian's postgresql package")
    return str(versions[-1])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_server_user(command, user, **kwargs):
    entry = pwd.getpwnam(user)

    def drop():
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
    return subprocess.run(command, preexec_fn=drop if os.geteuid() == 0 else None, check=True,
                          capture_output=True, text=True, timeout=120, **kwargs)


@contextlib.contextmanager
def postgres(database="course", user="postgres"):
    """Yield the SQLAlchemy URL of a fresh database on a fresh server."""
    folder = Path(tempfile.mkdtemp(prefix="pg-"))
    data = folder / "data"
    if os.geteuid() == 0:
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    port = free_port()
    as_server_user([binary("initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8"], user)
    as_server_user([binary("pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w", "start",
                    "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"], user)
    try:
        as_server_user([binary("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user, database], user)
        yield f"postgresql+psycopg://{user}@127.0.0.1:{port}/{database}"
    finally:
        as_server_user([binary("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], user)
        shutil.rmtree(folder, ignore_errors=True)
