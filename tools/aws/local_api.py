"""A local API Gateway for template.yaml, without Docker.

Reads the HTTP API routes of the template (the `HttpApi` events of each
function, as `sam local start-api` does) and serves them on 127.0.0.1: each
request becomes an API Gateway HTTP API event (payload format 2.0), handed
to the function the template names through the Lambda Invoke API of a
running `cargo lambda watch`, which runs the function's binary on the real
Lambda runtime API. The function's answer becomes the HTTP response. A path
no route matches answers 404 `{"message":"Not Found"}`, a function error 500
`{"message":"Internal Server Error"}`, as API Gateway does.

    python3 tools/aws/local_api.py --invoke 127.0.0.1:9000 [--port 0] template.yaml

Prints `listening on http://127.0.0.1:PORT` once it serves. scripts/local-api
starts it with the local AWS stack, `cargo lambda watch` and the MSK triggers.
"""

import argparse
import base64
import http.client
import json
import re
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

import yaml


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
    """(method, path template, binary) of every HttpApi event of the template."""
    with open(path) as f:
        doc = yaml.load(f, Loader=CfnLoader)
    routes = []
    for resource in doc["Resources"].values():
        binary = ((resource.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
        events = (resource.get("Properties") or {}).get("Events") or {}
        for event in events.values():
            if event.get("Type") == "HttpApi" and binary:
                props = event["Properties"]
                routes.append((props["Method"].upper(), props["Path"], binary))
    return routes


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

    def message(self, status, text):
        body = json.dumps({"message": text}).encode()
        self.answer(status, {"Content-Type": "application/json"}, body)

    def handle_request(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        found = next(
            (
                (template, binary, params)
                for method, template, binary in self.routes
                if template != "$default" and method in (self.command, "ANY")
                for params in [path_parameters(template, path)]
                if params is not None
            ),
            None,
        ) or next(
            ((t, b, {}) for _, t, b in self.routes if t == "$default"),
            None,
        )
        if found is None:
            return self.message(404, "Not Found")
        template, binary, params = found
        route = "$default" if template == "$default" else f"{self.command} {template}"
        event = api_event(self, route, params, body)
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
    args = parser.parse_args()
    Gateway.routes = template_routes(args.template)
    Gateway.invoke = args.invoke
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Gateway)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    for method, template, binary in Gateway.routes:
        print(f"  {method} {template} -> {binary}", file=sys.stderr)
    server.serve_forever()


if __name__ == "__main__":
    main()
