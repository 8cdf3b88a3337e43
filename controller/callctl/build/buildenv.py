"""The environment build steps run in (pure): what of the caller's environment reaches
configure and make, and so what of it enters the cache key.

configure and Asterisk's Makefiles read many variables (CC, CFLAGS, LDFLAGS, CONFIG_SITE,
ac_cv_* cache answers, MAKEFLAGS overrides, ASTCFLAGS...). Steps get only the variables
below: the harmless ones are passed as they are; the ones that change what is built are
passed AND hashed into the cache key, so an `-O0 -fno-stack-protector` build never reuses
(or is reused as) the normal one. Everything else is dropped.
"""

from __future__ import annotations

from collections.abc import Mapping

# Where tools are found, temp files, locale, terminal: they do not change the output
# (the compiler's identity enters the key separately, as its --version line).
PASSED = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "TMPDIR", "TERM", "LANG", "TZ")

# Read by autoconf's configure, pkg-config, or Asterisk's Makefiles: they change the build.
KEYED = (
    "CC",
    "CPP",
    "CXX",
    "LD",
    "AR",
    "NM",
    "RANLIB",
    "STRIP",
    "OBJCOPY",
    "CFLAGS",
    "CPPFLAGS",
    "CXXFLAGS",
    "LDFLAGS",
    "LIBS",
    "PKG_CONFIG",
    "PKG_CONFIG_PATH",
    "PKG_CONFIG_LIBDIR",
    "PKG_CONFIG_SYSROOT_DIR",
    "ASTCFLAGS",
    "ASTLDFLAGS",
    "OPTIMIZE",
)


def keyed_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The build-changing variables that are set, for the cache key."""
    return {k: environ[k] for k in KEYED if k in environ}


def step_environment(environ: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """The whole environment of a build step: passed + keyed variables, then `extra`."""
    env = {k: environ[k] for k in PASSED if k in environ}
    env.update(keyed_environment(environ))
    env.update(extra)
    return env
