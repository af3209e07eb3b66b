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
    """An events/ file with changes: `body` (JSON), `path`, `claims` (merged
    over the file's token claims; None: no token, a request that did not
    pass through the JWT authorizer)."""
    with open(f"events/{name}") as f:
        event = json.load(f)
    for key, value in changes.items():
        if key == "body":
            event["body"] = json.dumps(value)
        elif key == "path":
            event["rawPath"] = value
            event["requestContext"]["http"]["path"] = value
        elif key == "claims" and value is None:
            del event["requestContext"]["authorizer"]
        elif key == "claims":
            event["requestContext"]["authorizer"]["jwt"]["claims"].update(value)
    return event


# The identities of the events' tokens: alice (in the pool's admins group
# where an event says so) and bob, and one nobody registered.
BOB = {"sub": "0b9e7d52-3c1a-4f6e-8d2b-7a6c5e4d3b21", "cognito:username": "bob"}
STRANGER = {"sub": "5d8e2f14-7a3b-4c6d-9e1f-0a2b3c4d5e6f", "cognito:username": "erin"}


def refused(what, function, event, status, code):
    """Checks that `function` refuses `event` with `status` and error `code`."""
    got, body = http(function, event)
    got = (got, body["error"]["code"] if isinstance(body, dict) and "error" in body else body)
    check(what, got == (status, code), got)


status, user = http("register", "register.json")
check("register: POST /users registers alice for her token's identity", status == 201 and user.get("username") == "alice", (status, user))
refused("register: a second username for the same identity is a 409", "register",
        event_with("register.json", body={"username": "alice2"}), 409, "already_registered")
refused("register: without a token it is a 401", "register",
        event_with("register.json", claims=None), 401, "unauthenticated")
status, err = http("register", "register-invalid.json")
check("register: an invalid username is a 422 with a code", status == 422 and err["error"]["code"] == "invalid_username", (status, err))
status, bob = http("register", "register-form.json")
check("register: POST /register takes the HTML form's encoding", status == 201 and bob["username"] == "bob", (status, bob))

with open("events/create-post.json") as f:
    post_body = json.loads(json.load(f)["body"])
status, post = http("create-post", "create-post.json")
check("create-post: alice's post is stored, authored by her token's user",
      status == 201 and post["hashtags"] == ["Rust", "rust", "AWS"] and post["user_id"] == user["user_id"], (status, post))
status, own = http("create-post", event_with("create-post.json", body={**post_body, "user_id": user["user_id"]}))
check("create-post: a body user_id naming the signed-in user is accepted", status == 201, (status, own))
refused("create-post: another user's user_id in the body is a 403", "create-post",
        event_with("create-post.json", body={**post_body, "user_id": bob["user_id"]}), 403, "wrong_user")
refused("create-post: an identity with no registered user is a 403", "create-post",
        event_with("create-post.json", claims=STRANGER), 403, "not_registered")
refused("create-post: without a token it is a 401", "create-post",
        event_with("create-post.json", claims=None), 401, "unauthenticated")

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
with open("events/register.json") as f:
    alice_claims = json.load(f)["requestContext"]["authorizer"]
me = event_with("post.json", path="/me")
me["requestContext"]["authorizer"] = alice_claims
status, who = http("summary", me)
check("summary: GET /me names the user of the token's identity",
      status == 200 and who.get("username") == "alice" and who.get("user_id") == user["user_id"], (status, who))

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
# Reactions: through create-post (which publishes them), counted by the
# reaction consumer from an MSK event, read by summary.
reactions_path = f"/posts/{post['post_id']}/reactions"
status, reacted = http("create-post", event_with("create-post.json", path=reactions_path, body={"emoji": "👍"}))
check("create-post: POST /posts/{id}/reactions adds alice's reaction", status == 201 and reacted["changed"], (status, reacted))
status, again = http("create-post", event_with("create-post.json", path=reactions_path, body={"emoji": "👍"}))
check("create-post: reacting twice is once", status == 200 and not again["changed"], (status, again))
refused("create-post: a reaction that is no emoji is a 422", "create-post",
        event_with("create-post.json", path=reactions_path, body={"emoji": "thumbs"}), 422, "invalid_emoji")
refused("create-post: a reaction to no post is a 404", "create-post",
        event_with("create-post.json", path="/posts/12345/reactions", body={"emoji": "👍"}), 404, "not_found")
report = invoke("reaction-consumer", "reaction-consumer.json")
check("reaction-consumer: the sample event's three changes of a post and a live reaction counted, the malformed set aside",
      (report["processed"], report["malformed"], report["writes"]) == (4, 1, 1), report)
with open("events/hashtag-consumer.json") as f:
    reactions = json.load(f)
now_ms = int(time.time() * 1000)
record = {**reactions["records"]["posts-0"][0], "topic": "reactions", "timestamp": now_ms}
def encoded(offset, value):
    return {**record, "offset": offset, "value": base64.b64encode(json.dumps(value).encode()).decode()}
def reaction(offset, user_id, emoji):
    # Reacted now, to the post's tags (the ranker re-ranks them).
    return encoded(offset, {"post_id": post["post_id"], "user_id": user_id, "emoji": emoji, "delta": 1,
                            "seq": offset + 1, "at_ms": now_ms, "tags": post["hashtags"], "cover": "/images/1.svg"})
live = encoded(4, {"message_id": "9", "user_id": user["user_id"], "emoji": "🎉", "at_ms": now_ms})
reactions["records"] = {"reactions-0": [reaction(0, user["user_id"], "👍"), reaction(1, bob["user_id"], "🔥"),
                                         {**record, "offset": 2, "value": base64.b64encode(b"{}").decode()}]}
# The outbox published change 2 again: a later offset, the same number.
reactions["records"]["reactions-0"] += [{**reaction(1, bob["user_id"], "🔥"), "offset": 3}, live]
report = invoke("reaction-consumer", reactions)
check("reaction-consumer: one write for the post's two reactions, the malformed set aside, the post's tags ranked",
      (report["processed"], report["malformed"], report["writes"], report["late"]) == (4, 1, 1, 0)
      and report["rankings"] == len({t.lower() for t in post["hashtags"]}), report)
report = invoke("reaction-consumer", reactions)  # MSK delivers again
check("reaction-consumer: a redelivery writes nothing", report["writes"] == 0, report)
status, counts = http("summary", event_with("post.json", path=reactions_path))
check("summary: GET /posts/{id}/reactions reads the counts",
      status == 200 and counts["counts"] == {"👍": 1, "🔥": 1} and counts["total"] == 2, (status, counts))
status, windows = http("summary", event_with("post.json", path="/emoji/windows"))
totals = {} if status != 200 else {e: n for w in windows["windows"] for e, n in w["counts"].items()}
check("summary: GET /emoji/windows counts each record once in its window (the republished 🔥 under its new offset too), the live one too",
      totals == {"👍": 1, "🔥": 2, "🎉": 1}, (status, windows))
# The seed's live stream and health, through create-post (which publishes).
status, received = http("create-post", event_with("create-post.json", path="/emoji", body={"emoji_type": "🎉"}))
check("create-post: POST /emoji answers the seed's {status, message_id}",
      status == 202 and received["status"] == "Emoji received" and received["message_id"], (status, received))
refused("create-post: POST /emoji with no emoji is a 422", "create-post",
        event_with("create-post.json", path="/emoji", body={"emoji_type": "party"}), 422, "invalid_emoji")
status, health = http("create-post", event_with("post.json", path="/health"))
check("create-post: GET /health reports the broker connected and the outbox's backlog",
      status == 200 and health["broker_connected"] and isinstance(health["waiting_to_publish"], int), (status, health))

csv_import = event_with("create-post.json", path="/mentions/import", claims={"cognito:groups": "[admins]"})
csv_import["headers"]["content-type"] = "text/csv"
csv_import["body"] = "text,timestamp,username\nhi @alice,2026-12-01T00:00:00Z,dora\nbad row\n"
status, imported = http("import-mentions", csv_import)
check("import-mentions: POST /mentions/import by an admin imports the good rows and reports the bad",
      status == 200 and (imported["imported"], imported["rejected"]) == (1, 1), (status, imported))
csv_import["requestContext"]["authorizer"]["jwt"]["claims"].update({**BOB, "cognito:groups": "[]"})
refused("import-mentions: a user who is not an admin gets a 403", "import-mentions", csv_import, 403, "admin_only")

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
