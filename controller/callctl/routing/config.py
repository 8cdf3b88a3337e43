"""Loading and validating the routing config (YAML), naming the line of every problem.

Validation goes on after a problem, so one run of `callctl config check` lists them all.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType

import yaml

from callctl.errors import UsageError
from callctl.routing import names
from callctl.routing.issues import Issue, Issues
from callctl.routing.model import (
    Caller,
    Did,
    GatewaySettings,
    Policy,
    RingMode,
    Route,
    RoutingConfig,
)
from callctl.routing.nodes import Entry, Reader, compose, join
from callctl.routing.numbers import NumberError, NumberingPlan, normalise
from callctl.routing.patterns import Pattern, PatternError, compile_pattern

CONFIG_VERSION = 1
MAX_RING_TIMEOUT = 600
MAX_CALLS = 1000
_INTERNATIONAL_ONLY = NumberingPlan()
_DIGITS = re.compile(r"[0-9]*")


class ConfigError(UsageError):
    """The config has problems; `issues` holds every one, in file order."""

    def __init__(self, filename: str, issues: list[Issue]) -> None:
        first = issues[0].format(filename) if issues else filename
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        super().__init__(
            f"invalid routing config: {first}{more}",
            hint=f"run `callctl config check {filename}` to list every problem",
        )
        self.filename = filename
        self.issues = issues


def parse_config(text: str) -> tuple[RoutingConfig | None, list[Issue]]:
    """Validate config text; the config is returned only when there are no issues."""
    issues = Issues()
    root = compose(text, issues)
    config = None if root is None else _Loader(issues).load(root)
    if issues:
        return None, issues.sorted()
    return config, []


def read_config_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"routing config {path} does not exist") from None
    except OSError as err:
        raise UsageError(f"cannot read routing config {path}: {err.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise UsageError(f"{path}:{line}: the file is not valid UTF-8") from None


def check_file(path: Path) -> tuple[RoutingConfig | None, list[Issue]]:
    return parse_config(read_config_text(path))


def load_config(path: Path) -> RoutingConfig:
    config, issues = check_file(path)
    if config is None:
        raise ConfigError(str(path), issues)
    return config


class _Loader:
    def __init__(self, issues: Issues) -> None:
        self.issues = issues
        self.read = Reader(issues)
        self.trunks_known = False

    def load(self, root: yaml.Node) -> RoutingConfig | None:
        top = self.read.mapping(
            root,
            "",
            required=("version", "trunks", "jingle", "policy"),
            optional=("numbering", "routes", "callers", "dids", "gateway"),
        )
        if top is None:
            return None
        if "version" in top:
            version = self.read.integer(top["version"][1], "version", minimum=0, maximum=99)
            if version is not None and version != CONFIG_VERSION:
                self.issues.at(
                    top["version"][1], "version", f"unsupported version {version} (expected 1)"
                )
        plan = self.numbering(top["numbering"][1]) if "numbering" in top else NumberingPlan()
        before = len(self.issues)
        trunks = self.trunks(top["trunks"][1]) if "trunks" in top else ()
        # With a broken trunk list, "unknown trunk" in routes would only repeat that error.
        self.trunks_known = "trunks" in top and len(self.issues) == before
        routes = self.routes(top["routes"][1], trunks) if "routes" in top else None
        endpoint = self.jingle(top["jingle"][1]) if "jingle" in top else None
        policy = self.policy(top["policy"][1]) if "policy" in top else None
        callers = self.callers(top["callers"][1]) if "callers" in top else {}
        dids = self.dids(top["dids"][1], plan) if "dids" in top else {}
        gateway = self.gateway(top["gateway"][1]) if "gateway" in top else None
        if gateway is not None:
            self.gateway_loops(gateway, dids)
        if self.issues or not trunks or endpoint is None or policy is None:
            return None
        if routes is None:
            routes = (Route("default", (compile_pattern("+"),), trunks),)
        return RoutingConfig(
            plan,
            trunks,
            routes,
            endpoint,
            policy,
            MappingProxyType(callers),
            MappingProxyType(dids),
            gateway,
        )

    # -- sections ---------------------------------------------------------------------------

    def numbering(self, node: yaml.Node) -> NumberingPlan:
        path = "numbering"
        m = self.read.mapping(
            node,
            path,
            required=("country_code",),
            optional=(
                "international_prefixes",
                "national_prefix",
                "national_prefix_required",
                "national_number_lengths",
            ),
        )
        if m is None:
            return NumberingPlan()
        cc = self.digits(m, path, "country_code", 1, 3, "a country code of 1 to 3 digits")
        if cc is not None and cc.startswith("0"):
            self.issues.at(
                m["country_code"][1],
                join(path, "country_code"),
                "a country code never starts with 0",
            )
        intl: tuple[str, ...] = ("00",)
        if "international_prefixes" in m:
            items = self.read.sequence(
                m["international_prefixes"][1], join(path, "international_prefixes")
            )
            found = []
            for i, item in enumerate(items):
                value = self.digit_text(
                    item,
                    join(join(path, "international_prefixes"), i),
                    1,
                    4,
                    "a prefix of 1 to 4 digits",
                )
                if value is not None:
                    found.append(value)
            intl = tuple(found)
        national = ""
        if "national_prefix" in m:
            national = (
                self.digits(m, path, "national_prefix", 0, 2, "a national prefix of up to 2 digits")
                or ""
            )
            if national and national in intl:
                self.issues.at(
                    m["national_prefix"][1],
                    join(path, "national_prefix"),
                    "the national prefix equals an international prefix",
                )
        required = False
        if "national_prefix_required" in m:
            key = join(path, "national_prefix_required")
            required = bool(self.read.boolean(m["national_prefix_required"][1], key))
            if required and not national:
                self.issues.at(
                    m["national_prefix_required"][1],
                    key,
                    "national_prefix_required needs a national_prefix",
                )
        lengths: tuple[int, ...] = ()
        if "national_number_lengths" in m:
            key = join(path, "national_number_lengths")
            values = []
            for i, item in enumerate(self.read.sequence(m["national_number_lengths"][1], key)):
                n = self.read.integer(item, join(key, i), minimum=4, maximum=14)
                if n is not None:
                    values.append(n)
            lengths = tuple(values)
        return NumberingPlan(cc or "", intl, national, required, lengths)

    def trunks(self, node: yaml.Node) -> tuple[str, ...]:
        m = self.read.mapping(node, "trunks", required=("primary",), optional=("fallbacks",))
        if m is None:
            return ()
        found: dict[str, yaml.Node] = {}
        ordered = [("trunks.primary", m["primary"][1])] if "primary" in m else []
        if "fallbacks" in m:
            items = self.read.sequence(m["fallbacks"][1], "trunks.fallbacks", allow_empty=True)
            ordered += [(f"trunks.fallbacks[{i}]", item) for i, item in enumerate(items)]
        for path, item in ordered:
            name = self.name(item, path, "PJSIP endpoint name")
            if name is None:
                continue
            if name in found:
                first = found[name].start_mark.line + 1
                self.issues.at(
                    item, path, f"trunk {name!r} is listed twice (first at line {first})"
                )
                continue
            found[name] = item
        return tuple(found)

    def routes(self, node: yaml.Node, trunks: tuple[str, ...]) -> tuple[Route, ...]:
        routes: list[Route] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(self.read.sequence(node, "routes")):
            path = join("routes", i)
            m = self.read.mapping(item, path, required=("name", "match"), optional=("trunks",))
            if m is None:
                continue
            name = (
                self.name(m["name"][1], join(path, "name"), "route name") if "name" in m else None
            )
            if name is not None:
                self.unique(seen, name, m["name"][1], join(path, "name"), f"route {name!r}")
            patterns = self.patterns(m["match"][1], join(path, "match")) if "match" in m else ()
            order = trunks
            if "trunks" in m:
                order = self.trunk_refs(m["trunks"][1], join(path, "trunks"), trunks)
            if name is not None and patterns and order:
                routes.append(Route(name, patterns, order, item.start_mark.line + 1))
        return tuple(routes)

    def trunk_refs(self, node: yaml.Node, path: str, declared: tuple[str, ...]) -> tuple[str, ...]:
        refs: list[str] = []
        for i, item in enumerate(self.read.sequence(node, path)):
            name = self.name(item, join(path, i), "trunk name")
            if name is None:
                continue
            if self.trunks_known and name not in declared:
                self.issues.at(
                    item, join(path, i), f"unknown trunk {name!r} (declared: {', '.join(declared)})"
                )
            elif name in refs:
                self.issues.at(item, join(path, i), f"trunk {name!r} is listed twice")
            else:
                refs.append(name)
        return tuple(refs)

    def jingle(self, node: yaml.Node) -> str | None:
        m = self.read.mapping(node, "jingle", required=("endpoint",))
        if m is None or "endpoint" not in m:
            return None
        return self.name(m["endpoint"][1], "jingle.endpoint", "motif.conf endpoint name")

    def gateway(self, node: yaml.Node) -> GatewaySettings | None:
        path = "gateway"
        m = self.read.mapping(node, path, required=("domain", "asterisk_jid"), optional=("dtls",))
        if m is None or "domain" not in m or "asterisk_jid" not in m:
            return None
        domain = self.read.text(m["domain"][1], join(path, "domain"), "a domain")
        if domain is not None and not names.is_domain(domain):
            self.issues.at(
                m["domain"][1],
                join(path, "domain"),
                f"invalid domain {domain!r}: lower-case ASCII letters, digits, '-' and '.'",
            )
            domain = None
        jid_node = m["asterisk_jid"][1]
        jid = self.jid(jid_node, join(path, "asterisk_jid"), allow_resource=True)
        if jid is not None and "/" not in jid:
            self.issues.at(
                jid_node,
                join(path, "asterisk_jid"),
                f"{jid} needs the /resource of res_xmpp's login (user@domain/resource)",
            )
            jid = None
        if jid is not None and domain is not None and jid.split("@")[1].split("/")[0] == domain:
            self.issues.at(
                m["domain"][1],
                join(path, "domain"),
                f"the gateway domain {domain} must not be Asterisk's own XMPP domain",
            )
        dtls = False
        if "dtls" in m:
            dtls = bool(self.read.boolean(m["dtls"][1], join(path, "dtls")))
        if domain is None or jid is None:
            return None
        return GatewaySettings(domain, jid, dtls, node.start_mark.line + 1)

    def gateway_loops(self, gateway: GatewaySettings, dids: dict[str, Did]) -> None:
        """A DID ringing a JID on the gateway's own domain would call the gateway itself."""
        for did in dids.values():
            for jid in did.jids:
                if jid.partition("/")[0].partition("@")[2] == gateway.domain:
                    self.issues.add_position(
                        did.line,
                        1,
                        "dids",
                        f"DID {did.number} rings {jid}, on the gateway domain "
                        f"{gateway.domain}: the call would loop back to the gateway",
                    )

    def policy(self, node: yaml.Node) -> Policy | None:
        path = "policy"
        m = self.read.mapping(
            node,
            path,
            required=("allowed_destinations",),
            optional=("denied_destinations", "max_concurrent_calls_per_caller", "ring_timeout"),
        )
        if m is None:
            return None
        allowed: tuple[Pattern, ...] = ()
        if "allowed_destinations" in m:
            allowed = self.patterns(
                m["allowed_destinations"][1], join(path, "allowed_destinations")
            )
        denied: tuple[Pattern, ...] = ()
        if "denied_destinations" in m:
            denied = self.patterns(
                m["denied_destinations"][1], join(path, "denied_destinations"), allow_empty=True
            )
        limit = self.optional_integer(
            m, path, "max_concurrent_calls_per_caller", minimum=0, maximum=MAX_CALLS
        )
        timeout = self.optional_integer(
            m, path, "ring_timeout", minimum=1, maximum=MAX_RING_TIMEOUT
        )
        return Policy(
            allowed,
            denied,
            Policy.max_concurrent_calls_per_caller if limit is None else limit,
            Policy.ring_timeout if timeout is None else timeout,
        )

    def callers(self, node: yaml.Node) -> dict[str, Caller]:
        callers: dict[str, Caller] = {}
        seen: dict[str, int] = {}  # also holds callers with other errors, to catch repeats
        for i, item in enumerate(self.read.sequence(node, "callers", allow_empty=True)):
            path = join("callers", i)
            m = self.read.mapping(
                item,
                path,
                required=("jid", "caller_id"),
                optional=("max_concurrent_calls", "hotline"),
            )
            if m is None:
                continue
            jid = (
                self.jid(m["jid"][1], join(path, "jid"), allow_resource=False)
                if "jid" in m
                else None
            )
            if jid is not None and not self.unique(
                seen, jid, m["jid"][1], join(path, "jid"), f"caller {jid}"
            ):
                jid = None
            number = (
                self.e164(m["caller_id"][1], join(path, "caller_id")) if "caller_id" in m else None
            )
            limit = self.optional_integer(
                m, path, "max_concurrent_calls", minimum=0, maximum=MAX_CALLS
            )
            hotline = None
            if "hotline" in m:
                hotline = self.e164(m["hotline"][1], join(path, "hotline"))
                if hotline is None:
                    continue  # the error is recorded; do not load the caller without it
            if jid is not None and number is not None:
                callers[jid] = Caller(jid, number, limit, item.start_mark.line + 1, hotline)
        return callers

    def dids(self, node: yaml.Node, plan: NumberingPlan) -> dict[str, Did]:
        dids: dict[str, Did] = {}
        seen: dict[str, int] = {}
        for i, item in enumerate(self.read.sequence(node, "dids", allow_empty=True)):
            path = join("dids", i)
            m = self.read.mapping(
                item, path, required=("number", "jids"), optional=("ring", "ring_timeout")
            )
            if m is None:
                continue
            number = self.e164(m["number"][1], join(path, "number")) if "number" in m else None
            if number is not None and not self.unique(
                seen, number, m["number"][1], join(path, "number"), f"DID {number}"
            ):
                number = None
            jids: list[str] = []
            if "jids" in m:
                for j, jid_node in enumerate(self.read.sequence(m["jids"][1], join(path, "jids"))):
                    jid = self.jid(jid_node, join(join(path, "jids"), j), allow_resource=True)
                    if jid is not None and jid in jids:
                        self.issues.at(
                            jid_node, join(join(path, "jids"), j), f"{jid} is listed twice"
                        )
                    elif jid is not None:
                        jids.append(jid)
            ring = RingMode.PARALLEL
            if "ring" in m:
                ring = self.ring_mode(m["ring"][1], join(path, "ring")) or ring
            timeout = self.optional_integer(
                m, path, "ring_timeout", minimum=1, maximum=MAX_RING_TIMEOUT
            )
            if number is not None and jids:
                dids[number] = Did(number, tuple(jids), ring, timeout, item.start_mark.line + 1)
        return dids

    def optional_integer(
        self, m: dict[str, Entry], path: str, key: str, *, minimum: int, maximum: int
    ) -> int | None:
        """The whole number at KEY, or None when KEY is absent or its value is refused (the
        issue is recorded)."""
        if key not in m:
            return None
        return self.read.integer(m[key][1], join(path, key), minimum=minimum, maximum=maximum)

    def unique(self, seen: dict[str, int], key: str, node: yaml.Node, path: str, what: str) -> bool:
        """Record `key`; report it and return False if an earlier entry had it."""
        if key in seen:
            self.issues.at(node, path, f"{what} is defined twice (first at line {seen[key]})")
            return False
        seen[key] = node.start_mark.line + 1
        return True

    # -- values -----------------------------------------------------------------------------

    def name(self, node: yaml.Node, path: str, what: str) -> str | None:
        value = self.read.text(node, path, f"a {what}")
        if value is None:
            return None
        if not names.is_name(value):
            self.issues.at(
                node,
                path,
                f"invalid {what} {value!r}: use a letter, then letters, "
                "digits, '_', '-' or '.' (at most 64)",
            )
            return None
        return value

    def jid(self, node: yaml.Node, path: str, *, allow_resource: bool) -> str | None:
        value = self.read.text(node, path, "a JID")
        if value is None:
            return None
        jid = names.canonical_jid(value, allow_resource=allow_resource)
        if jid is None:
            if not allow_resource and "/" in value:
                why = "a caller is a bare JID (user@domain), without /resource"
            else:
                why = (
                    "use user@domain or user@domain/resource with ASCII letters, digits "
                    "and . _ - + only"
                )
            self.issues.at(node, path, f"invalid JID {value!r}: {why}")
        return jid

    def e164(self, node: yaml.Node, path: str) -> str | None:
        value = self.read.text(node, path, "a phone number")
        if value is None:
            return None
        if not value.startswith("+"):
            self.issues.at(node, path, f"write {value!r} in E.164 form, with '+' and country code")
            return None
        try:
            return normalise(value, _INTERNATIONAL_ONLY)
        except NumberError as err:
            self.issues.at(node, path, f"invalid number {value!r}: {err}")
            return None

    def patterns(
        self, node: yaml.Node, path: str, *, allow_empty: bool = False
    ) -> tuple[Pattern, ...]:
        found: list[Pattern] = []
        for i, item in enumerate(self.read.sequence(node, path, allow_empty=allow_empty)):
            text = self.read.text(item, join(path, i), "a destination pattern")
            if text is None:
                continue
            try:
                found.append(compile_pattern(text, item.start_mark.line + 1))
            except PatternError as err:
                self.issues.at(item, join(path, i), str(err))
        return tuple(found)

    def ring_mode(self, node: yaml.Node, path: str) -> RingMode | None:
        value = self.read.text(node, path, "parallel or sequential")
        if value is None:
            return None
        try:
            return RingMode(value)
        except ValueError:
            self.issues.at(node, path, f"expected parallel or sequential, found {value!r}")
            return None

    def digits(
        self,
        m: dict[str, tuple[yaml.ScalarNode, yaml.Node]],
        path: str,
        key: str,
        shortest: int,
        longest: int,
        what: str,
    ) -> str | None:
        return (
            self.digit_text(m[key][1], join(path, key), shortest, longest, what)
            if key in m
            else None
        )

    def digit_text(
        self, node: yaml.Node, path: str, shortest: int, longest: int, what: str
    ) -> str | None:
        value = self.read.text(node, path, what)
        if value is None:
            return None
        if _DIGITS.fullmatch(value) is None or not shortest <= len(value) <= longest:
            self.issues.at(node, path, f"expected {what}, found {value!r}")
            return None
        return value
