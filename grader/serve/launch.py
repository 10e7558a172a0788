"""LTI 1.3 launches (IMS Security Framework 1.0 §5.1.1, LTI Core 1.3 §5.3): the OIDC third-party-initiated
login, and the id_token the platform posts back, checked against the platform's own JWKS.

What is checked, in order: the login's ``state`` was made by this tool for this browser (cookie and
database, single use); the token is RS256, signed by a key of the platform's JWKS (by ``kid``); ``iss``
is the registered issuer; ``aud`` holds our client id (with ``azp`` = client id when it lists several);
``exp``/``iat`` (60 s leeway); ``nonce`` is the one sent with this login; the deployment is registered;
the message is an ``LtiResourceLinkRequest`` of version 1.3.0 naming a resource link.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt

from grader.serve.config import Platform

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
# Roles that see the instructor's pages: the course's teachers, TAs (a sub-role of Instructor),
# administrators and content developers. Everyone else is a student.
STAFF_ROLES = {MEMBERSHIP + "Instructor", MEMBERSHIP + "Administrator", MEMBERSHIP + "ContentDeveloper"}
STAFF_SUBROLES = ("http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#",)
LEEWAY = 60


class LaunchError(ValueError):
    """A launch refused, in one line saying what did not match (shown on the error page, no token content)."""


def login_redirect(platform: Platform, *, login_hint: str, lti_message_hint: str | None, redirect_uri: str,
                   state: str, nonce: str) -> str:
    """Where the browser goes next: the platform's authorisation endpoint (Security Framework §5.1.1.2)."""
    query = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post", "prompt": "none",
             "client_id": platform.client_id, "redirect_uri": redirect_uri, "login_hint": login_hint,
             "state": state, "nonce": nonce}
    if lti_message_hint:
        query["lti_message_hint"] = lti_message_hint
    separator = "&" if "?" in platform.auth_login_url else "?"
    return platform.auth_login_url + separator + urlencode(query)


class KeySets:
    """The platforms' JWKS, fetched when first needed and again when a token names an unknown ``kid``
    (a platform rotating its keys)."""

    def __init__(self) -> None:
        self._clients: dict[str, jwt.PyJWKClient] = {}

    def key_for(self, platform: Platform, token: str):
        client = self._clients.setdefault(platform.key_set_url, jwt.PyJWKClient(
            platform.key_set_url, cache_keys=True, lifespan=3600, timeout=10))
        try:
            return client.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientConnectionError:
            raise LaunchError("the platform's key set could not be fetched; try the launch again") from None
        except (jwt.PyJWKClientError, jwt.DecodeError):
            raise LaunchError("the id_token is not signed by a key of the platform's key set") from None


def verify_id_token(platform: Platform, token: str, nonce: str, keys: KeySets) -> dict:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError:
        raise LaunchError("the id_token is not a JWT") from None
    if header.get("alg") != "RS256":
        raise LaunchError(f"the id_token is signed with {header.get('alg')!r}, not RS256")
    key = keys.key_for(platform, token)
    try:
        claims = jwt.decode(token, key, algorithms=["RS256"], audience=platform.client_id, issuer=platform.issuer,
                            leeway=LEEWAY, options={"require": ["iss", "aud", "exp", "iat", "sub", "nonce"]})
    except jwt.ExpiredSignatureError:
        raise LaunchError("the id_token has expired; launch again from the LMS") from None
    except jwt.InvalidAudienceError:
        raise LaunchError("the id_token is for another tool (aud is not this client id)") from None
    except jwt.InvalidIssuerError:
        raise LaunchError("the id_token's issuer is not the registered platform") from None
    except jwt.PyJWTError as exc:
        raise LaunchError(f"the id_token was refused ({type(exc).__name__})") from None
    _check_claims(platform, claims, nonce)
    return claims


def _check_claims(platform: Platform, claims: dict, nonce: str) -> None:
    audience = claims["aud"]
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != platform.client_id:
        raise LaunchError("the id_token names several audiences but not this tool as its azp")
    if claims["nonce"] != nonce:
        raise LaunchError("the id_token's nonce is not the one this login sent (a replayed launch?)")
    deployment = claims.get(LTI + "deployment_id")
    if not deployment or (platform.deployment_ids and deployment not in platform.deployment_ids):
        raise LaunchError(f"deployment {deployment!r} is not registered for this platform")
    if claims.get(LTI + "message_type") != "LtiResourceLinkRequest":
        raise LaunchError(f"message type {claims.get(LTI + 'message_type')!r} is not a resource link launch")
    if claims.get(LTI + "version") != "1.3.0":
        raise LaunchError(f"LTI version {claims.get(LTI + 'version')!r} is not 1.3.0")
    if not (claims.get(LTI + "resource_link") or {}).get("id"):
        raise LaunchError("the launch names no resource link")


@dataclass
class Launch:
    """What the service keeps from a verified launch."""

    subject: str
    name: str
    email: str
    locale: str
    staff: bool
    context_id: str
    context_title: str
    resource_link_id: str
    resource_link_title: str
    deployment_id: str
    lineitem: str = ""
    lineitems: str = ""
    ags_scopes: str = ""
    memberships_url: str = ""
    target_link_uri: str = ""
    custom: dict = field(default_factory=dict)

    @property
    def assignment(self) -> str:
        """The kit's assignment this link is for, when the link says: its custom field ``assignment``, or
        ``?assignment=`` in its target link URI. Otherwise the instructor chooses on first launch."""
        if self.custom.get("assignment"):
            return str(self.custom["assignment"])
        return (parse_qs(urlsplit(self.target_link_uri).query).get("assignment") or [""])[0]

    @property
    def due_at(self) -> str:
        """The LMS's due date (custom field ``due_at`` = $Canvas.assignment.dueAt.iso8601), if it sent one."""
        value = self.custom.get("due_at")
        return str(value) if _substituted(value) else ""

    @property
    def lms_assignment_id(self) -> str:
        """The LMS's own assignment id ($Canvas.assignment.id): the Canvas gradebook export's column."""
        value = self.custom.get("canvas_assignment_id")
        return str(value) if _substituted(value) else ""

    @property
    def lms_ids(self) -> dict:
        """Canvas's own ids, when the tool's custom fields ask for them ($Canvas.user.id)."""
        return {"canvas_user_id": str(self.custom["canvas_user_id"])} if _substituted(self.custom.get("canvas_user_id")) else {}


def read_launch(claims: dict) -> Launch:
    roles = claims.get(LTI + "roles") or []
    context = claims.get(LTI + "context") or {}
    link = claims.get(LTI + "resource_link") or {}
    ags = claims.get(AGS_CLAIM) or {}
    nrps = claims.get(NRPS_CLAIM) or {}
    custom = {str(k): str(v) for k, v in (claims.get(LTI + "custom") or {}).items()}
    name = claims.get("name") or " ".join(p for p in (claims.get("given_name"), claims.get("family_name")) if p)
    return Launch(
        subject=str(claims["sub"]), name=str(name or ""), email=str(claims.get("email") or ""),
        locale=str(claims.get("locale") or ""), staff=is_staff(roles),
        context_id=str(context.get("id") or link["id"]), context_title=str(context.get("title") or ""),
        resource_link_id=str(link["id"]), resource_link_title=str(link.get("title") or ""),
        deployment_id=str(claims.get(LTI + "deployment_id")), lineitem=str(ags.get("lineitem") or ""),
        lineitems=str(ags.get("lineitems") or ""), ags_scopes=" ".join(ags.get("scope") or []),
        memberships_url=str(nrps.get("context_memberships_url") or ""),
        target_link_uri=str(claims.get(LTI + "target_link_uri") or ""), custom=custom)


def is_staff(roles: list) -> bool:
    return any(role in STAFF_ROLES or str(role).startswith(STAFF_SUBROLES) for role in roles)


def _substituted(value: str | None) -> bool:
    """A custom field the platform filled in (an unknown variable is sent back as written: "$Canvas.user.id")."""
    return bool(value) and not str(value).startswith("$")
