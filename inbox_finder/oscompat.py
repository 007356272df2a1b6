"""What differs between POSIX systems and Windows, kept in one place.

Nothing here imports a POSIX-only module at import time, so the package imports on Windows.

- File modes: on POSIX a credential file must not be readable by others (checked like ssh
  does) and new files are created 0600. Windows has no mode bits (Python reports 0o666 or
  0o444); access there is governed by NTFS ACLs, and files under the user's profile inherit an
  ACL that grants only the user, SYSTEM and Administrators. So the mode checks run on POSIX only.
- Owners: an existing file's owner and group are kept on POSIX (``fchown``); on Windows the
  replacement inherits the folder's ACL, as any editor's save does.
- ``--exec`` runs through the platform's shell (``/bin/sh`` on POSIX, ``%COMSPEC%`` — cmd.exe —
  on Windows) in a process group of its own, so a timeout stops everything it started.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # subprocess and signal load with the first --exec, not with every lookup
    import subprocess

POSIX = os.name == "posix"

# Open flags that only some systems have; 0 (no effect) where they are missing.
O_NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)
O_NONBLOCK: int = getattr(os, "O_NONBLOCK", 0)
O_CLOEXEC: int = getattr(os, "O_CLOEXEC", 0)
O_DIRECTORY: int = getattr(os, "O_DIRECTORY", 0)
O_BINARY: int = getattr(os, "O_BINARY", 0)  # Windows: no newline translation


def shell_name() -> str:
    """The shell ``--exec`` commands run through on this system."""
    if POSIX:
        return "/bin/sh"
    return os.environ.get("COMSPEC", "cmd.exe")


def own_group_kwargs() -> dict[str, Any]:
    """``subprocess.Popen`` arguments that start the child in a process group of its own."""
    if POSIX:
        return {"start_new_session": True}
    import subprocess

    return {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}


def stop_group(proc: subprocess.Popen[str], grace: float) -> None:
    """Stop ``proc`` and everything it started: politely, then for good after ``grace`` s."""
    import signal
    import subprocess

    if POSIX:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
        # Grandchildren may ignore SIGTERM or outlive the shell: the group goes in any case.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, getattr(signal, "SIGKILL", signal.SIGTERM))
    else:
        # taskkill /T ends the whole tree that cmd.exe started; /F because a console
        # program cannot be asked to stop without a console of its own.
        with contextlib.suppress(OSError):
            subprocess.run(
                ["taskkill", "/F", "/T", "/PID", str(proc.pid)],
                capture_output=True,
                timeout=max(grace, 1.0) + 10,
                check=False,
            )
        with contextlib.suppress(OSError):
            proc.kill()
    proc.wait()
