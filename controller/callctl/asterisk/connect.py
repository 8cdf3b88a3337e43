"""Which Asterisk to talk to, and as whom: the one connection resolution for ARI and AMI.

Each setting comes from the first source that has it: flags, then the environment
(CALLCTL_ARI_*, CALLCTL_AMI_*), then a file (an ARI credentials file, an AMI secret file),
then a running sandbox's state, then (AMI only) the defaults. The sandbox is read through
a provider the caller passes in (e.g. callctl.sandbox.state.load_connection): this layer
imports no feature package. Secrets come from files only their owner can read.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from callctl.asterisk.ami import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_TIMEOUT, AmiConfig
from callctl.asterisk.endpoints import Endpoints
from callctl.errors import CallctlError, UsageError

if TYPE_CHECKING:  # callctl.asterisk.ari pulls in aiohttp: CLIs that only need AMI skip it
    from callctl.asterisk.ari import AriCredentials

DEFAULT_APP = "callctl"
ENV_URL, ENV_USER, ENV_PASSWORD = "CALLCTL_ARI_URL", "CALLCTL_ARI_USER", "CALLCTL_ARI_PASSWORD"

log = logging.getLogger("callctl.asterisk.connect")

AMI_ENV_PREFIX = "CALLCTL_AMI_"


# Returns the sandbox's endpoints; may return None or raise a CallctlError when none runs.
SandboxProvider = Callable[[], Endpoints | None]


def read_private_file(path: Path | str, what: str) -> str:
    """The text of a file holding a secret, refused unless only its owner can read it."""
    p = Path(path)
    try:
        mode = p.stat().st_mode
    except OSError as err:
        raise UsageError(f"cannot read {what} {p}: {err.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UsageError(
            f"{what} {p} is readable by others (mode {stat.S_IMODE(mode):o})",
            hint=f"chmod 600 {p}",
        )
    return p.read_text(encoding="utf-8")


# -- ARI -----------------------------------------------------------------------------------


def ari_from_env(
    environ: Mapping[str, str] | None = None, app: str = DEFAULT_APP
) -> AriCredentials:
    from callctl.asterisk.ari import AriCredentials

    env = os.environ if environ is None else environ
    missing = [k for k in (ENV_URL, ENV_USER, ENV_PASSWORD) if not env.get(k)]
    if missing:
        raise UsageError(f"ARI credentials missing from the environment: {', '.join(missing)}")
    return AriCredentials(env[ENV_URL], env[ENV_USER], env[ENV_PASSWORD], app)


def ari_from_file(path: Path, app: str = DEFAULT_APP) -> AriCredentials:
    """Read `KEY=value` lines (the CALLCTL_ARI_* names) from a file only its owner can read."""
    if not path.exists():
        raise UsageError(f"ARI credentials file {path} does not exist")
    values: dict[str, str] = {}
    text = read_private_file(path, "ARI credentials file")
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise UsageError(f"{path}:{number}: expected KEY=value")
        values[key.strip()] = value.strip()
    return ari_from_env(values, app)


def resolve_ari(
    *,
    credentials_file: Path | None = None,
    sandbox: SandboxProvider | None = None,
    sandbox_named: bool = False,
    env: Mapping[str, str] | None = None,
    app: str = DEFAULT_APP,
) -> AriCredentials:
    """ARI credentials: a credentials file given as a flag, else a sandbox named by a flag
    (`sandbox_named`), else the environment, else the sandbox provider's."""
    environ = os.environ if env is None else env
    if credentials_file is not None:
        return ari_from_file(credentials_file, app)
    if not sandbox_named and environ.get(ENV_URL):
        return ari_from_env(environ, app)
    found = sandbox() if sandbox is not None else None
    if found is None:
        raise UsageError(
            "no ARI connection given",
            hint=f"pass --ari-credentials FILE, set {ENV_URL}/_USER/_PASSWORD, or start "
            "a sandbox with `callctl sandbox up`",
        )
    from callctl.asterisk.ari import AriCredentials

    return AriCredentials(found.ari_url, found.ari_user, found.ari_password, app)


# -- AMI -----------------------------------------------------------------------------------


def _optional_sandbox(sandbox: SandboxProvider | None) -> Endpoints | None:
    if sandbox is None:
        return None
    try:
        return sandbox()
    except CallctlError as err:  # AMI has defaults: no sandbox is no error
        log.debug("no sandbox connection: %s", err.message)
        return None


def resolve_ami(
    *,
    host: str | None = None,
    port: int | None = None,
    user: str | None = None,
    secret: str | None = None,
    secret_file: str | None = None,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    sandbox: SandboxProvider | None = None,
) -> AmiConfig:
    """The AMI config: flags, then CALLCTL_AMI_*, then the secret file, then the sandbox,
    then the defaults. Environment: CALLCTL_AMI_HOST, _PORT, _USER, _SECRET, _SECRET_FILE
    (a 0600 file), _TIMEOUT."""
    environ = os.environ if env is None else env
    box = _optional_sandbox(sandbox)
    sources: list[str] = []

    def pick(explicit: Any, env_key: str, sandbox_key: str | None, default: Any) -> Any:
        if explicit is not None:
            sources.append("flags")
            return explicit
        if environ.get(AMI_ENV_PREFIX + env_key):
            sources.append("env")
            return environ[AMI_ENV_PREFIX + env_key]
        if box is not None and sandbox_key is not None:
            sources.append("sandbox")
            return getattr(box, sandbox_key)
        return default

    r_host = str(pick(host, "HOST", "ami_host", DEFAULT_HOST))
    r_port_raw = pick(port, "PORT", "ami_port", DEFAULT_PORT)
    try:
        r_port = int(r_port_raw)
    except (TypeError, ValueError):
        raise UsageError(f"AMI port is not a number: {r_port_raw!r}") from None
    r_user = str(pick(user, "USER", "ami_user", "callctl"))
    if secret is None and secret_file is None and not environ.get(AMI_ENV_PREFIX + "SECRET"):
        secret_file = environ.get(AMI_ENV_PREFIX + "SECRET_FILE") or None
    if secret is None and secret_file is not None:
        r_secret = read_private_file(secret_file, "AMI secret file").strip()
        sources.append("secret-file")
    else:
        r_secret = str(pick(secret, "SECRET", "ami_secret", ""))
    r_timeout_raw = pick(timeout, "TIMEOUT", None, DEFAULT_TIMEOUT)
    try:
        r_timeout = float(r_timeout_raw)
    except (TypeError, ValueError):
        raise UsageError(f"AMI timeout is not a number: {r_timeout_raw!r}") from None
    source = ",".join(dict.fromkeys(sources)) or "defaults"
    return AmiConfig(r_host, r_port, r_user, r_secret, r_timeout, source)
