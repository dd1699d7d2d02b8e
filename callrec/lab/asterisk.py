"""Provision and run the lab's Asterisk: a Debian sid chroot on this machine.

Debian's stable releases ship no ``asterisk`` package and installing sid packages on the
host would upgrade its libc, so Asterisk lives in a debootstrapped sid chroot, cached in
``/var/cache/callrec-lab/sid`` (or ``$CALLREC_LAB_DIR/sid``) and built only when missing.
The project's ``asterisk-config/`` and ``sounds/`` are copied into it on every ``up()``.

The debootstrap mirror is read from the host's own apt sources at run time: the lab uses
whatever archive this machine is configured for and names none itself.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from callrec.errors import LabError

DEFAULT_LAB_ROOT = Path("/var/cache/callrec-lab")
LAB_DIR_ENV = "CALLREC_LAB_DIR"
APT_SOURCES = (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"))
CHROOT_PACKAGES = ("asterisk", "asterisk-core-sounds-en-gsm")
# Host command -> Debian package providing it (a fresh machine has none of them).
HOST_TOOLS = {"debootstrap": "debootstrap", "sipp": "sip-tester", "sox": "sox"}
# astdatadir of Debian's asterisk.conf ("Data directory" in "core show settings").
ASTERISK_DATA_DIR = "/usr/share/asterisk"
SOUND_LANGUAGES = ("fi", "sv", "en")
BUILD_TIMEOUT = 1800.0
# Lab-only Asterisk configuration (benchmarks), installed next to asterisk-config/.
LAB_CONFIG_DIR = Path(__file__).resolve().parent / "asterisk-conf"


def _suite_has_sid(suite: str) -> bool:
    # Security and updates suites live elsewhere or carry no sid: skip their URIs.
    return not suite.endswith(("-security", "/updates", "-updates"))


def parse_deb822_mirror(text: str) -> str | None:
    """The first http(s) URI of an enabled ``deb`` stanza of a deb822 ``.sources`` file."""
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = ""
        for line in stanza.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0] in " \t" and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        if not any(_suite_has_sid(s) for s in fields.get("suites", "").split()):
            continue
        for uri in fields.get("uris", "").split():
            if uri.startswith(("http://", "https://")):
                return uri
    return None


def parse_sources_list_mirror(text: str) -> str | None:
    """The first http(s) URI of a ``deb`` line of a one-line-style ``sources.list``."""
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        if words and words[0].startswith("["):
            while words and not words[0].endswith("]"):
                words = words[1:]
            words = words[1:]
        if (len(words) >= 2 and words[0].startswith(("http://", "https://"))
                and _suite_has_sid(words[1])):
            return words[0]
    return None


def find_debian_mirror(sources: tuple[Path, ...] = APT_SOURCES) -> str:
    """The Debian archive this host's apt uses; LabError when none is configured."""
    for path in sources:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        parse = parse_deb822_mirror if path.suffix == ".sources" else parse_sources_list_mirror
        mirror = parse(text)
        if mirror:
            return mirror.rstrip("/")
    raise LabError("no Debian mirror found in " + ", ".join(map(str, sources))
                   + " (hint: configure apt for Debian's archive first)")


def parse_account_id(db_text: str, name: str) -> int:
    """The numeric id (third field) of ``name`` in /etc/passwd or /etc/group text."""
    for line in db_text.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == name:
            return int(fields[2])
    raise LabError(f"no account {name!r} in the chroot (hint: is asterisk installed in it?)")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text("utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _run(argv: list[str], what: str, hint: str, timeout: float = 120.0) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"{what} failed: {exc} (hint: {hint})") from exc
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()[-1500:]
        raise LabError(f"{what} failed (exit {done.returncode}): {output} (hint: {hint})")
    return done.stdout


def _mount_points() -> list[str]:
    points = []
    for line in Path("/proc/mounts").read_text(encoding="utf-8").splitlines():
        # /proc/mounts escapes blanks and backslashes as octal (\040).
        raw = line.split()[1]
        points.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), raw))
    return points


def _process_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return False
    # A zombie is dead for our purposes: it only waits for its parent to reap it.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass(frozen=True)
class LabStatus:
    chroot_present: bool
    running: bool
    pid: int | None
    ari_ok: bool
    asterisk_version: str | None


class AsteriskLab:
    """The lab's Asterisk: build, configure, start, stop and query it."""

    recordings_asterisk_dir = "/var/spool/asterisk/callrec"
    # A separate in-progress directory ([recordings] in_progress_dir), for its tests.
    in_progress_asterisk_dir = "/var/spool/asterisk/callrec-live"
    ari_url = "http://127.0.0.1:8088"
    ari_username = "callrec"
    # The example password of callrec.example.toml: the lab listens on loopback only.
    ari_password = "callrec-example-password"  # noqa: S105
    # AMI (manager.conf), for the secure pause; the example secret as well.
    ami_port, ami_username = 5038, "callrec"
    ami_password = "callrec-ami-example-password"  # noqa: S105

    def __init__(self, project_dir: Path, root: Path | None = None) -> None:
        self.project_dir = project_dir
        root = root or Path(os.environ.get(LAB_DIR_ENV) or DEFAULT_LAB_ROOT)
        self.root, self.chroot = root, root / "sid"
        self.recordings_host_dir = self.chroot / self.recordings_asterisk_dir.lstrip("/")
        self.in_progress_host_dir = self.chroot / self.in_progress_asterisk_dir.lstrip("/")
        self.log_path = root / "asterisk.log"
        self.messages_log = self.chroot / "var/log/asterisk/messages.log"
        # The modules.conf the running Asterisk started with.
        self._modules_started = root / "modules.conf.started"

    def up(self, timeout: float = 120) -> None:
        """Make sure Asterisk runs with the project's configuration and ARI answers."""
        self._require_root()
        self._ensure_host_tools()
        try:
            if not self.chroot.is_dir():
                self._build_chroot()
            self._install_config()
            self._install_sounds()
            self._prepare_dirs()
        except OSError as exc:
            raise LabError(f"preparing {self.chroot} failed: {exc} (hint: disk space? "
                           f"a broken chroot can be removed and is rebuilt)") from exc
        if self._pid() is not None and self._modules_changed_since_start():
            # "core reload" loads no module that autoload=no leaves out: start afresh.
            self.down()
        if self._pid() is not None:
            self.cli("core reload")
        else:
            self._mount_proc()
            self._start()
        self._wait_for_ari(timeout)

    def down(self) -> None:
        """Stop Asterisk and unmount the chroot's /proc; nothing to do when already down."""
        self._require_root()
        pid = self._pid()
        if pid is not None:
            # It may hang or be half-dead: the signals below deal with that.
            with contextlib.suppress(LabError):
                self.cli("core stop now")
            if not self._wait_gone(pid, 15.0):
                os.kill(pid, signal.SIGTERM)
                if not self._wait_gone(pid, 5.0):
                    os.kill(pid, signal.SIGKILL)
                    self._wait_gone(pid, 5.0)
        proc = str(self.chroot / "proc")
        if proc in _mount_points():
            _run(["umount", proc], "unmounting the chroot's /proc", "is a process still in it?")

    def status(self) -> LabStatus:
        pid = self._pid()
        info = self._ari_info() if pid is not None else None
        version = info.get("system", {}).get("version") if info else None
        return LabStatus(self.chroot.is_dir(), pid is not None, pid, info is not None,
                         str(version) if version else None)

    def cli(self, command: str) -> str:
        """Run one Asterisk CLI command in the running lab and return its output."""
        out = _run(["chroot", str(self.chroot), "asterisk", "-rx", command],
                   f"asterisk -rx {command!r}", "is the lab up? (callrec lab up)", 30.0)
        if "Unable to connect to remote asterisk" in out:
            raise LabError(f"asterisk -rx {command!r}: Asterisk is not running "
                           "(hint: callrec lab up)")
        return out

    def swagger_dir(self) -> Path:
        return self.chroot / "usr/share/asterisk/rest-api"

    # ---- provisioning ----

    @staticmethod
    def _require_root() -> None:
        if os.geteuid() != 0:
            raise LabError("the Asterisk lab needs root (chroot, mount) (hint: run as root)")

    @staticmethod
    def _ensure_host_tools() -> None:
        missing = sorted({pkg for tool, pkg in HOST_TOOLS.items() if not shutil.which(tool)})
        if missing:
            hint = "is Debian's archive reachable? see /etc/apt/sources.list.d"
            _run(["apt-get", "update"], "apt-get update", hint, 600.0)
            _run(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y",
                  "--no-install-recommends", *missing], "apt-get install " + " ".join(missing),
                 hint, 900.0)

    def _build_chroot(self) -> None:
        tmp = self.root / "sid.tmp"
        if tmp.exists():
            self._remove_half_built(tmp)
        self.root.mkdir(parents=True, exist_ok=True)
        mirror = find_debian_mirror()
        _run(["debootstrap", "--variant=minbase", "--include=" + ",".join(CHROOT_PACKAGES),
              "sid", str(tmp), mirror], f"debootstrap of Debian sid into {tmp}",
             f"see {tmp}/debootstrap/debootstrap.log; the mirror was {mirror}", BUILD_TIMEOUT)
        if not (tmp / "usr/sbin/asterisk").exists():
            raise LabError(f"debootstrap finished but {tmp} has no usr/sbin/asterisk "
                           "(hint: does Debian sid still ship the asterisk package?)")
        tmp.rename(self.chroot)

    @staticmethod
    def _remove_half_built(tmp: Path) -> None:
        prefix = str(tmp) + "/"
        # Deepest first; rmtree would otherwise walk into a mounted /proc or /dev.
        for point in sorted(filter(lambda p: p.startswith(prefix), _mount_points()),
                            key=len, reverse=True):
            _run(["umount", "-l", point], f"unmounting {point}", "unmount it by hand")
        if any(p.startswith(prefix) for p in _mount_points()):
            raise LabError(f"{tmp} still has mounts (hint: unmount them, remove it)")
        shutil.rmtree(tmp)

    def _ids(self) -> tuple[int, int]:
        passwd, group = (self.chroot / "etc" / name for name in ("passwd", "group"))
        return (parse_account_id(passwd.read_text("utf-8"), "asterisk"),
                parse_account_id(group.read_text("utf-8"), "asterisk"))

    def _install_config(self) -> None:
        source = self.project_dir / "asterisk-config"
        if not (files := sorted(source.glob("*.conf"))):
            raise LabError(f"no *.conf in {source} (hint: pass the project directory)")
        # Lab-only additions (the benchmarks' numbers, queue and agent), which the admin
        # files pull in with #tryinclude "*_lab.conf".
        files += sorted(LAB_CONFIG_DIR.glob("*_lab.conf"))
        _, gid = self._ids()
        for conf in files:
            target = self.chroot / "etc/asterisk" / conf.name
            shutil.copyfile(conf, target)
            # Asterisk reads its configs through its group; ari.conf holds a password.
            os.chown(target, 0, gid)
            target.chmod(0o640)

    def _install_sounds(self) -> None:
        for lang in SOUND_LANGUAGES:
            source = self.project_dir / "sounds" / lang / "callrec" / "notice.wav"
            if not source.is_file():
                raise LabError(f"{source} is missing (hint: run sounds/generate.sh)")
            # sounds/en is an absolute symlink inside the chroot: resolve it there.
            inner = _run(["chroot", str(self.chroot), "readlink", "-m",
                          f"{ASTERISK_DATA_DIR}/sounds/{lang}"],
                         "resolving the sounds directory", "is the chroot complete?").strip()
            target_dir = self.chroot / inner.lstrip("/") / "callrec"
            target_dir.mkdir(parents=True, exist_ok=True)
            target_dir.chmod(0o755)
            shutil.copyfile(source, target_dir / "notice.wav")
            (target_dir / "notice.wav").chmod(0o644)

    def _prepare_dirs(self) -> None:
        uid, gid = self._ids()
        run_dir = self.chroot / "run/asterisk"
        for path, mode in ((run_dir, 0o755), (self.recordings_host_dir, 0o750),
                           (self.recordings_host_dir / "failopen", 0o750),
                           (self.recordings_host_dir / "bench", 0o750),
                           (self.in_progress_host_dir, 0o750)):
            path.mkdir(parents=True, exist_ok=True)
            os.chown(path, uid, gid)
            # Recordings are personal data: other local users are kept out.
            path.chmod(mode)

    def _mount_proc(self) -> None:
        proc = self.chroot / "proc"
        if str(proc) not in _mount_points():
            _run(["mount", "-t", "proc", "proc", str(proc)], "mounting /proc in the chroot",
                 "the lab needs root and a kernel that allows proc mounts")

    # ---- the Asterisk process ----

    def _modules_changed_since_start(self) -> bool:
        installed = self.chroot / "etc/asterisk/modules.conf"
        try:
            return installed.read_bytes() != self._modules_started.read_bytes()
        except OSError:
            return True  # started by an older lab script, or by hand: we cannot tell

    def _start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.chroot / "etc/asterisk/modules.conf", self._modules_started)
        # The shell backgrounds Asterisk and exits, so Asterisk is nobody's child here:
        # it outlives "callrec lab up" and leaves no Popen to reap.
        script = 'log=$1; shift; "$@" </dev/null >>"$log" 2>&1 & echo $!'
        argv = ["sh", "-c", script, "sh", str(self.log_path), "chroot", str(self.chroot),
                "asterisk", "-U", "asterisk", "-G", "asterisk", "-f"]
        try:
            subprocess.run(argv, check=True, capture_output=True, timeout=30,
                           start_new_session=True)
        except (OSError, subprocess.SubprocessError) as exc:
            raise LabError(f"starting Asterisk failed: {exc} (hint: see {self.log_path})"
                           ) from exc

    def _pid(self) -> int | None:
        try:
            pid = int((self.chroot / "run/asterisk/asterisk.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        if not _process_alive(pid):
            return None
        # A stale pid file may name an unrelated process by now.
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/root") == os.path.realpath(self.chroot):
                return pid
        return None

    @staticmethod
    def _wait_gone(pid: int, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while _process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        return not _process_alive(pid)

    def _ari_get(self, path: str) -> tuple[int, bytes]:
        credentials = f"{self.ari_username}:{self.ari_password}".encode()
        headers = {"Authorization": "Basic " + base64.b64encode(credentials).decode()}
        conn = http.client.HTTPConnection("127.0.0.1", 8088, timeout=3)
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def _ari_info(self) -> dict[str, dict[str, object]] | None:
        with contextlib.suppress(OSError):
            status, body = self._ari_get("/ari/asterisk/info")
            if status == 200:
                info: dict[str, dict[str, object]] = json.loads(body)
                return info
        return None

    def _wait_for_ari(self, timeout: float) -> None:
        deadline = (started := time.monotonic()) + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            # Asterisk writes its pid file a moment after it starts.
            if self._pid() is None and time.monotonic() > started + 5:
                raise LabError("Asterisk exited while starting; its log ends:\n"
                               + _tail(self.log_path) + "\nmessages.log ends:\n"
                               + _tail(self.messages_log))
            try:
                status, body = self._ari_get("/ari/asterisk/info")
            except OSError as exc:
                last = str(exc)
            else:
                if status == 200:
                    return
                if status == 401:
                    raise LabError("ARI refused the lab's user (hint: asterisk-config/"
                                   "ari.conf must match the lab's ari_password)")
                last = f"HTTP {status}: {body[:200]!r}"
            time.sleep(0.5)
        raise LabError(f"ARI at {self.ari_url} did not answer within {timeout:.0f} s ({last});"
                       f" messages.log ends:\n{_tail(self.messages_log)}")
