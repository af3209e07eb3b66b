"""Invokes every Lambda binary through the real Lambda runtime API
(`cargo lambda invoke` against a running `cargo lambda watch`) with the
files in events/, and checks each answer. scripts/lambda-test runs it
against the local AWS stack; it exits non-zero on the first failed check."""

import base64
import json
import subprocess
import sys
import tempfile
import time

PORT = sys.argv[1]


def invoke(function, event):
    """The function's JSON answer to `event` (a dict or an events/ file name)."""
    if isinstance(event, str):
        with open(f"events/{event}") as f:
            event = json.load(f)
    with tempfile.NamedTemporaryFile("w", suffix=".json") as data:
        json.dump(event, data)
        data.flush()
        out = subprocess.run(
            ["cargo", "lambda", "invoke", function, "--invoke-address", "127.0.0.1",
             "--invoke-port", PORT, "--data-file", data.name],
            capture_output=True, text=True, timeout=600,
        )
    if out.returncode != 0:
        sys.exit(f"FAIL {function}: cargo lambda invoke exited {out.returncode}: {out.stderr[-2000:]}")
    return json.loads(out.stdout)


def http(function, event):
    answer = invoke(function, event)
    body = answer.get("body") or ""
    try:
        body = json.loads(body)
    except ValueError:
        pass
    return answer["statusCode"], body


def check(what, condition, detail):
    if not condition:
        sys.exit(f"FAIL {what}: {detail}")
    print(f"ok   {what}")


def event_with(name, **changes):
    with open(f"events/{name}") as f:
        event = json.load(f)
    for key, value in changes.items():
        if key == "body":
            event["body"] = json.dumps(value)
        elif key == "path":
            event["rawPath"] = value
            event["requestContext"]["http"]["path"] = value
    return event


status, user = http("register", "register.json")
check("register: POST /users creates alice", status == 201 and user.get("username") == "alice", (status, user))
status, err = http("register", "register-invalid.json")
check("register: an invalid username is a 422 with a code", status == 422 and err["error"]["code"] == "invalid_username", (status, err))
status, bob = http("register", "register-form.json")
check("register: POST /register takes the HTML form's encoding", status == 201 and bob["username"] == "bob", (status, bob))

with open("events/create-post.json") as f:
    post_body = json.loads(json.load(f)["body"])
status, post = http("create-post", event_with("create-post.json", body={**post_body, "user_id": user["user_id"]}))
check("create-post: alice's post is stored", status == 201 and post["hashtags"] == ["Rust", "rust", "AWS"], (status, post))
status, err = http("create-post", "create-post.json")
check("create-post: an unknown author is a 422", status == 422 and err["error"]["code"] == "unknown_user", (status, err))

report = invoke("hashtag-consumer", "hashtag-consumer.json")
check("hashtag-consumer: counts the good records, sets aside the malformed",
      (report["records"], report["processed"], report["malformed"], report["duplicates"]) == (8, 3, 4, 1), report)
invoke("hashtag-consumer", "hashtag-consumer.json")  # MSK delivers again
status, page = http("summary", "summary.json")
check("summary: GET /tags/rust counts each post once across redeliveries",
      status == 200 and page["total_posts"] == 2 and [p["post_id"] for p in page["top_posts"]] == ["102", "101"], (status, page))
status, legacy = http("summary", "summary-legacy.json")
check("summary: GET /hashtag_summary?hashtag=rust agrees", status == 200 and legacy["total_posts"] == 2, (status, legacy))
status, stored = http("summary", event_with("post.json", path=f"/posts/{post['post_id']}"))
check("summary: GET /posts/{id} reads the post from Aurora", status == 200 and stored["caption"] == post_body["caption"], (status, stored))
status, home = http("summary", "home.json")
check("summary: GET / answers", status == 200, status)

# The mention consumer, on its own consumer group: a post by alice that
# mentions bob twice and carl, minted now (a mention weighs from its post's
# time, so a fixed old id would have decayed away), and a malformed record.
with open("events/hashtag-consumer.json") as f:
    mentions = json.load(f)
minted_now = ((int(time.time() * 1000) - 1_577_836_800_000) << 22) + 7
record = mentions["records"]["posts-0"][0]
event = {"post_id": str(minted_now), "user_id": "11", "author": "alice",
         "caption": "Lunch with @bob and @Bob and @carl", "image_url": "/images/1.svg",
         "created_at": "2026-12-04T00:00:00.000Z"}
good = {**record, "offset": 10, "value": base64.b64encode(json.dumps(event).encode()).decode()}
bad = {**record, "offset": 11, "value": base64.b64encode(b"not json").decode()}
mentions["records"] = {"posts-0": [good, bad]}
report = invoke("mention-consumer", mentions)
check("mention-consumer: one write per edge, a mention counted once per post, the malformed set aside",
      (report["processed"], report["malformed"], report["writes"]) == (1, 1, 2), report)
report = invoke("mention-consumer", mentions)  # MSK delivers again
check("mention-consumer: a redelivery writes nothing", report["writes"] == 0, report)
status, graph = http("summary", event_with("post.json", path="/users/alice/mentions"))
edges = {e["user"]: e["mentions"] for e in graph.get("edges", [])} if status == 200 else None
check("summary: GET /users/alice/mentions reads the edges by weight", edges == {"bob": 1, "carl": 1}, (status, graph))
csv_import = event_with("create-post.json", path="/mentions/import")
csv_import["headers"]["content-type"] = "text/csv"
csv_import["body"] = "text,timestamp,username\nhi @alice,2026-12-01T00:00:00Z,dora\nbad row\n"
status, imported = http("import-mentions", csv_import)
check("import-mentions: POST /mentions/import imports the good rows and reports the bad",
      status == 200 and (imported["imported"], imported["rejected"]) == (1, 1), (status, imported))

report = invoke("top-posts-consumer", "top-posts-consumer.json")
check("top-posts-consumer: applies the ranking, sets aside the malformed record",
      (report["processed"], report["malformed"]) == (1, 1), report)
# A newer ranking that puts the older post first: the page follows it.
with open("events/top-posts-consumer.json") as f:
    rankings = json.load(f)
record = rankings["records"]["top-posts-0"][0]
ranking = json.loads(base64.b64decode(record["value"]))
ranking["generated_at"] = "2026-11-22T13:00:00Z"
ranking["posts"].reverse()
record["value"] = base64.b64encode(json.dumps(ranking).encode()).decode()
record["offset"] = 2
rankings["records"]["top-posts-0"] = [record]
report = invoke("top-posts-consumer", rankings)
check("top-posts-consumer: a newer ranking replaces the older", report["writes"] == 1, report)
status, page = http("summary", "summary.json")
check("summary: the ranking orders the page",
      status == 200 and [p["post_id"] for p in page["top_posts"]] == ["101", "102"], (status, page))
