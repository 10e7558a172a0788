"""An LTI 1.3 platform that launches a tool, as Canvas (or Moodle) does: its course page posts the
third-party-initiated login to the tool, its authorisation endpoint checks the tool's OIDC request and
answers with an auto-submitting form that posts an id_token signed with the platform's own key (RS256,
``kid`` in the header, the key published at its JWKS address), and its token endpoint checks the tool's
assertions against the tool's JWKS (Canvas's ``public_jwk_url``). AGS and NRPS are ``LtiDouble``'s.

Claims as Canvas sends them (its developer documentation's example id_token): issuer
``https://canvas.instructure.com`` whatever the host, ``deployment_id`` "<number>:<hash>", the
resource link, context, roles (institution, membership and system roles together), the AGS endpoint
with ``lineitem`` when the link is an assignment, NRPS, custom fields, name, email and locale.
"""
from __future__ import annotations

import html
import json
import secrets
import time
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lms_doubles.lti import AGS_LINEITEM, AGS_LINEITEM_READ, AGS_SCORE, LtiDouble, _LtiHandler

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
LEARNER = ["http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student",
           "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner",
           "http://purl.imsglobal.org/vocab/lis/v2/system/person#User"]
INSTRUCTOR = ["http://purl.imsglobal.org/vocab/lis/v2/institution/person#Instructor",
              "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor",
              "http://purl.imsglobal.org/vocab/lis/v2/system/person#User"]
_LAUNCH_PATHS = {
    "canvas": {"auth": "/api/lti/authorize_redirect", "jwks": "/api/lti/security/jwks", "course": "/courses/7/launch",
               "issuer": "https://canvas.instructure.com", "deployment": "189:7f956bcc8f67cd076ae464862ce83596"},
    "moodle": {"auth": "/mod/lti/auth.php", "jwks": "/mod/lti/certs.php", "course": "/mod/lti/launch.php",
               "issuer": None, "deployment": "3"},
}


class _LaunchHandler(_LtiHandler):
    double: "LaunchingPlatform"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        paths = self.double.launch_paths
        if url.path == paths["jwks"]:
            self._send(200, {"keys": [self.double.public_jwk]})
        elif url.path == paths["auth"]:
            self._authorize({k: v[0] for k, v in parse_qs(url.query).items()})
        elif url.path == paths["course"]:
            self._course_page(parse_qs(url.query).get("hint", [""])[0])
        else:
            super().do_GET()

    def _course_page(self, hint: str) -> None:
        """The LMS page that starts a launch: it posts the login initiation to the tool."""
        launch = self.double.pending.get(hint)
        if launch is None:
            self._send(404, {"error": "no such launch"})
            return
        fields = {"iss": self.double.issuer, "login_hint": launch["user"], "target_link_uri": launch["target"],
                  "lti_message_hint": hint, "client_id": self.double.client_id,
                  "lti_deployment_id": self.double.deployment_id}
        self._send(200, _autosubmit(launch["tool_login"], fields), "text/html; charset=utf-8")

    def _authorize(self, query: dict) -> None:
        """Security Framework 5.1.1.2 as Canvas checks it; a form_post answer with the signed id_token."""
        launch = self.double.pending.get(query.get("lti_message_hint", ""))
        problem = _bad_request(query, self.double, launch)
        self.double.auth_requests.append(query)
        if problem:
            self._send(400, {"error": "invalid_request", "error_description": problem})
            return
        token = self.double.id_token(launch, query["nonce"])
        self._send(200, _autosubmit(query["redirect_uri"], {"id_token": token, "state": query["state"]}),
                   "text/html; charset=utf-8")


def _bad_request(query: dict, double: "LaunchingPlatform", launch: dict | None) -> str:
    expected = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post", "prompt": "none",
                "client_id": double.client_id}
    for key, value in expected.items():
        if query.get(key) != value:
            return f"{key} must be {value}"
    if query.get("redirect_uri") not in double.redirect_uris:
        return "redirect_uri is not registered for this tool"
    if launch is None or query.get("login_hint") != launch["user"]:
        return "login_hint or lti_message_hint does not match a launch"
    if not query.get("nonce") or not query.get("state"):
        return "nonce and state are required"
    return ""


def _autosubmit(action: str, fields: dict) -> bytes:
    inputs = "".join(f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(str(v))}'>"
                     for k, v in fields.items())
    return (f"<!DOCTYPE html><html><body><form id='f' method='post' action='{html.escape(action)}'>{inputs}"
            "<noscript><button>Continue</button></noscript></form>"
            "<script>document.getElementById('f').submit()</script></body></html>").encode()


class LaunchingPlatform(LtiDouble):
    handler_class = _LaunchHandler

    def __init__(self, client_id: str, users: list[str], *, flavour: str = "canvas", **kwargs) -> None:
        super().__init__(client_id, b"", users, flavour=flavour, **kwargs)
        self.launch_paths = _LAUNCH_PATHS[flavour]
        self.deployment_id = self.launch_paths["deployment"]
        self.platform_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(8)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.platform_key.public_key()))
        self.public_jwk = {**public, "kid": self.kid, "alg": "RS256", "use": "sig"}
        self.pending: dict[str, dict] = {}
        self.auth_requests: list[dict] = []
        self.issued: list[dict] = []
        self.redirect_uris: list[str] = []
        self.tool_jwks_url = ""
        self._tool_keys: jwt.PyJWKClient | None = None

    @property
    def issuer(self) -> str:
        return self.launch_paths["issuer"] or self.url

    @property
    def auth_url(self) -> str:
        return self.url + self.launch_paths["auth"]

    @property
    def jwks_url(self) -> str:
        return self.url + self.launch_paths["jwks"]

    def register_tool(self, tool_url: str) -> None:
        """What an admin enters for the tool: its redirect URI and its public key's address."""
        self.redirect_uris = [f"{tool_url}/lti/launch"]
        self.tool_jwks_url = f"{tool_url}/lti/jwks"
        self._tool_keys = jwt.PyJWKClient(self.tool_jwks_url, cache_keys=False)

    def tool_public_key(self, assertion: str):
        return self._tool_keys.get_signing_key_from_jwt(assertion).key

    def start_launch(self, tool_url: str, user: str, *, staff: bool = False, link: str = "link-1", name: str = "",
                     email: str = "", locale: str = "en", custom: dict | None = None, lineitem: int | None = 5,
                     context: str = "course-7") -> str:
        """The address of the LMS page that launches ``user`` into the tool from resource link ``link``."""
        hint = secrets.token_urlsafe(16)
        self.pending[hint] = {"user": user, "staff": staff, "link": link, "name": name, "email": email,
                              "locale": locale, "custom": custom or {}, "lineitem": lineitem, "context": context,
                              "tool_login": f"{tool_url}/lti/login", "target": f"{tool_url}/lti/launch"}
        return f"{self.url}{self.launch_paths['course']}?hint={hint}"

    def id_token(self, launch: dict, nonce: str, changes: dict | None = None) -> str:
        now = int(time.time())
        ags = {"scope": [AGS_LINEITEM, AGS_LINEITEM_READ, "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
                         AGS_SCORE], "lineitems": self.lineitems_url}
        if launch["lineitem"] is not None:
            ags["lineitem"] = self.lineitem_url(launch["lineitem"])
        claims = {
            LTI + "message_type": "LtiResourceLinkRequest", LTI + "version": "1.3.0",
            LTI + "resource_link": {"id": launch["link"], "description": None, "title": f"Homework {launch['link']}"},
            "aud": self.client_id, "azp": self.client_id, LTI + "deployment_id": self.deployment_id,
            "exp": now + 3600, "iat": now, "iss": self.issuer, "nonce": nonce, "sub": launch["user"],
            LTI + "target_link_uri": launch["target"], "email": launch["email"], "name": launch["name"],
            "given_name": launch["name"].split(" ")[0], "family_name": launch["name"].split(" ")[-1],
            "locale": launch["locale"], LTI + "roles": INSTRUCTOR if launch["staff"] else LEARNER,
            LTI + "context": {"id": launch["context"], "label": "DLFS3", "title": "Deep Learning from Scratch 3",
                              "type": ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"]},
            LTI + "tool_platform": {"guid": "double", "name": "Double", "version": "cloud",
                                    "product_family_code": self.flavour},
            LTI + "launch_presentation": {"document_target": "iframe", "return_url": f"{self.url}/courses/7",
                                          "locale": launch["locale"]},
            LTI + "custom": launch["custom"],
            "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint": ags,
            "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice": {
                "context_memberships_url": self.url + self.paths["memberships"], "service_versions": ["2.0"]},
            "https://www.instructure.com/placement": "assignment_selection",
        }
        claims.update(changes or {})
        self.issued.append(claims)
        return self.sign(claims)

    def sign(self, claims: dict, key=None, kid: str | None = None) -> str:
        pem = (key or self.platform_key).private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption())
        return jwt.encode(claims, pem, algorithm="RS256", headers={"kid": kid or self.kid})
