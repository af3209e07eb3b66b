"""A local API Gateway for template.yaml, without Docker.

Reads the HTTP API routes of the template (the `HttpApi` events of each
function, as `sam local start-api` does) and serves them on 127.0.0.1: each
request becomes an API Gateway HTTP API event (payload format 2.0), handed
to the function the template names through the Lambda Invoke API of a
running `cargo lambda watch`, which runs the function's binary on the real
Lambda runtime API. The function's answer becomes the HTTP response. A path
no route matches answers 404 `{"message":"Not Found"}`, a function error 500
`{"message":"Internal Server Error"}`, as API Gateway does.

A route whose event names a JWT authorizer of the API (`Auth.Authorizer`)
is guarded as API Gateway's JWT authorizer guards it: the token of the
`Authorization` header must be an RS256 JWT signed by a key of the JWKS at
`--jwks-url`, issued by `--jwt-issuer` for one of `--jwt-audience`, and
current; otherwise the answer is 401 `{"message":"Unauthorized"}` and the
function is not invoked. The function gets the token's claims at
`requestContext.authorizer.jwt`. The JWKS URL is a setting because the
issuer's own (https://cognito-idp...) is not the local one (moto's).

    python3 tools/aws/local_api.py --invoke 127.0.0.1:9000 [--port 0] \
        [--jwt-issuer URL --jwt-audience ID[,ID] --jwks-url URL] template.yaml

Prints `listening on http://127.0.0.1:PORT` once it serves. scripts/local-api
starts it with the local AWS stack, `cargo lambda watch` and the MSK triggers.
"""

import argparse
import base64
import http.client
import json
import re
import sys
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

import yaml
# cryptography comes with moto (tools/aws/requirements.txt).
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !GetAtt, ...) read as plain values."""


def _cfn_tag(loader, _suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


CfnLoader.add_multi_constructor("!", _cfn_tag)


def template_routes(path):
    """(method, path template, binary, guarded) of every HttpApi event of the
    template; `guarded` when the route needs a token (its event's authorizer,
    or the API's default one, is a JWT authorizer). A route naming another
    kind of authorizer is refused rather than served open."""
    with open(path) as f:
        doc = yaml.load(f, Loader=CfnLoader)
    resources = doc["Resources"]
    routes = []
    for resource in resources.values():
        binary = ((resource.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
        events = (resource.get("Properties") or {}).get("Events") or {}
        for event in events.values():
            if event.get("Type") == "HttpApi" and binary:
                props = event["Properties"]
                api_auth = (resources.get(props.get("ApiId"), {}).get("Properties") or {}).get("Auth") or {}
                name = (props.get("Auth") or {}).get("Authorizer") or api_auth.get("DefaultAuthorizer")
                guarded = name not in (None, "NONE")
                if guarded and "JwtConfiguration" not in (api_auth.get("Authorizers") or {}).get(name, {}):
                    route = f"{props['Method']} {props['Path']}"
                    raise SystemExit(f"{route}: {name} is not a JWT authorizer of its API")
                routes.append((props["Method"].upper(), props["Path"], binary, guarded))
    return routes


def b64url(text):
    """The bytes of unpadded base64url `text` (JWT segments)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Jwks:
    """The issuer's signing keys by `kid`: fetched from the JWKS URL on first
    use, and again when a token names a kid not seen yet (the issuer may have
    rotated its keys)."""

    def __init__(self, url):
        self.url = url
        self.keys = {}
        self.lock = threading.Lock()

    def key(self, kid):
        with self.lock:
            if kid not in self.keys:
                with urllib.request.urlopen(self.url, timeout=10) as res:
                    jwks = json.load(res)
                self.keys = {
                    k["kid"]: rsa.RSAPublicNumbers(
                        int.from_bytes(b64url(k["e"]), "big"), int.from_bytes(b64url(k["n"]), "big")
                    ).public_key()
                    for k in jwks["keys"]
                    if k.get("kty") == "RSA" and "kid" in k
                }
            return self.keys.get(kid)


def verified_claims(authorization, jwks, issuer, audiences, now):
    """The claims of the token in an `Authorization` header value (with or
    without `Bearer `), or None unless API Gateway's JWT authorizer would
    accept it: RS256, signed by the JWKS key its `kid` names, `iss` the
    issuer, `aud` or `client_id` an accepted audience, `exp` after now, and
    `nbf` and `iat`, if there, not after now."""
    token = authorization.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    try:
        head, body, signature = token.split(".")
        header, claims = json.loads(b64url(head)), json.loads(b64url(body))
        signature = b64url(signature)
    except ValueError:  # not three base64url segments of JSON
        return None
    if not isinstance(header, dict) or header.get("alg") != "RS256" or not isinstance(claims, dict):
        return None
    kid = header.get("kid")
    key = jwks.key(kid) if isinstance(kid, str) else None
    if key is None:
        return None
    try:
        key.verify(signature, f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return None
    aud = claims.get("aud", claims.get("client_id"))
    aud = aud if isinstance(aud, list) else [aud]

    def not_after_now(name):  # nbf and iat are optional
        value = claims.get(name, now)
        return isinstance(value, (int, float)) and value <= now

    exp = claims.get("exp")
    current = isinstance(exp, (int, float)) and exp > now and not_after_now("nbf") and not_after_now("iat")
    if claims.get("iss") != issuer or not any(a in audiences for a in aud) or not current:
        return None
    return claims


def claim_string(value):
    """A claim as API Gateway hands it to the function: a string; an array
    as `[a b]`, booleans and numbers as JSON writes them."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + " ".join(claim_string(v) for v in value) + "]"
    return json.dumps(value)


def authorizer_context(claims):
    """`requestContext.authorizer` for verified `claims`: each claim as a
    string, and the scopes of the `scope` claim (null without one)."""
    scope = claims.get("scope")
    return {
        "jwt": {
            "claims": {name: claim_string(value) for name, value in claims.items()},
            "scopes": scope.split() if isinstance(scope, str) else None,
        }
    }


def path_parameters(template, path):
    """The parameters of `path` under `template` (`/tags/{name}`), or None."""
    names = re.findall(r"\{([^/{}]+)\}", template)
    pattern = "^" + re.sub(r"\\\{[^/{}]+\\\}", "([^/]+)", re.escape(template)) + "$"
    m = re.match(pattern, path)
    if not m:
        return None
    return {name: unquote(value) for name, value in zip(names, m.groups())}


def api_event(handler, route_key, params, body):
    """The API Gateway HTTP API (2.0) event of a request to route `route_key`."""
    method = handler.command
    url = urlsplit(handler.path)
    headers, cookies = {}, []
    for name, value in handler.headers.items():
        if name.lower() == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
        else:
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
    now = time.time()
    event = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": url.path,
        "rawQueryString": url.query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": headers.get("host", "localhost"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": url.path,
                "protocol": "HTTP/1.1",
                "sourceIp": handler.client_address[0],
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": bool(body),
    }
    if cookies:
        event["cookies"] = cookies
    if url.query:
        query = {}
        for k, v in parse_qsl(url.query, keep_blank_values=True):
            query[k] = f"{query[k]},{v}" if k in query else v
        event["queryStringParameters"] = query
    if params:
        event["pathParameters"] = params
    if body:
        event["body"] = base64.b64encode(body).decode()
    return event


class Gateway(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    routes = []
    invoke = ""
    jwks = None
    jwt_issuer = ""
    jwt_audiences = []

    def log_message(self, fmt, *args):
        sys.stderr.write("local-api: " + (fmt % args) + "\n")

    def answer(self, status, headers, body, cookies=()):
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        for cookie in cookies:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def message(self, status, text, headers=()):
        """API Gateway's own answer: `{"message":...}`, byte for byte."""
        body = json.dumps({"message": text}, separators=(",", ":")).encode()
        self.answer(status, {"Content-Type": "application/json", **dict(headers)}, body)

    def handle_request(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        found = next(
            (
                (template, binary, guarded, params)
                for method, template, binary, guarded in self.routes
                if template != "$default" and method in (self.command, "ANY")
                for params in [path_parameters(template, path)]
                if params is not None
            ),
            None,
        ) or next(
            ((t, b, g, {}) for _, t, b, g in self.routes if t == "$default"),
            None,
        )
        if found is None:
            return self.message(404, "Not Found")
        template, binary, guarded, params = found
        route = "$default" if template == "$default" else f"{self.command} {template}"
        event = api_event(self, route, params, body)
        if guarded:
            try:
                authorization = self.headers.get("Authorization") or ""
                claims = verified_claims(
                    authorization, self.jwks, self.jwt_issuer, self.jwt_audiences, time.time()
                )
            except (OSError, ValueError) as e:
                self.log_message("fetching the JWKS from %s failed: %s", self.jwks.url, e)
                return self.message(500, "Internal Server Error")
            if claims is None:
                return self.message(401, "Unauthorized", {"www-authenticate": "Bearer"})
            event["requestContext"]["authorizer"] = authorizer_context(claims)
        try:
            answer = self.call(binary, event)
        except (OSError, ValueError) as e:
            self.log_message("invoking %s failed: %s", binary, e)
            return self.message(500, "Internal Server Error")
        if not isinstance(answer, dict) or "errorType" in answer or "statusCode" not in answer:
            self.log_message("%s answered %s", binary, str(answer)[:500])
            return self.message(500, "Internal Server Error")
        out = answer.get("body") or ""
        out = base64.b64decode(out) if answer.get("isBase64Encoded") else out.encode()
        headers = dict(answer.get("headers") or {})
        for name, values in (answer.get("multiValueHeaders") or {}).items():
            headers.setdefault(name, ",".join(values))
        self.answer(int(answer["statusCode"]), headers, out, answer.get("cookies") or [])

    def call(self, binary, event):
        host, port = self.invoke.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=600)
        try:
            conn.request(
                "POST",
                f"/2015-03-31/functions/{binary}/invocations",
                body=json.dumps(event),
                headers={"Content-Type": "application/json"},
            )
            return json.loads(conn.getresponse().read() or b"null")
        finally:
            conn.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_request


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template")
    parser.add_argument("--invoke", required=True, help="host:port of cargo lambda watch")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--jwt-issuer", default="", help="the `iss` guarded routes accept")
    parser.add_argument("--jwt-audience", default="", help="`aud` or `client_id` values accepted (a,b)")
    parser.add_argument("--jwks-url", default="", help="where the issuer's signing keys are served locally")
    args = parser.parse_args()
    Gateway.routes = template_routes(args.template)
    guarded = any(guarded for *_, guarded in Gateway.routes)
    if guarded and not (args.jwt_issuer and args.jwt_audience and args.jwks_url):
        parser.error("the template has JWT-guarded routes: give --jwt-issuer, --jwt-audience and --jwks-url")
    Gateway.invoke = args.invoke
    Gateway.jwks = Jwks(args.jwks_url)
    Gateway.jwt_issuer = args.jwt_issuer
    Gateway.jwt_audiences = [a for a in args.jwt_audience.split(",") if a]
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Gateway)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    for method, template, binary, guarded in Gateway.routes:
        print(f"  {method} {template} -> {binary}{' (JWT)' if guarded else ''}", file=sys.stderr)
    server.serve_forever()


if __name__ == "__main__":
    main()
