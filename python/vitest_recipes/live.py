"""
The running recipe's ctx from Python, mid-step: the run's ctx server, found through the
RECIPES_CTX_URL and RECIPES_CTX_TOKEN variables every step gets (the older framework's
update_state.sh operations, from Python).

    from vitest_recipes import live
    live.set("lab.link_state_v1", "up")          # who: the step (RECIPES_STEP), else "api"
    live.append("data.samples_v1", 42)
    live.get("lab.link_state_v1")                # "up"
    live.pop("data.samples_v1")                  # 42
    live.delete("lab.link_state_v1")
    live.full()                                  # {"values": {...}, "revisions": {...}}

The client runs inside a step, which needs real values: it asks for secrets in clear
(?reveal=1; the run masks what the step prints). What a person reads with `recipes ctx` is
masked (***{NAME}).

Writes may pass revision=<n> (the key's revision they expect; 0: it must not exist yet);
a write that lost the race raises LiveCtxError with status 409 and the current revision.
"""
import json
import os
import urllib.error
import urllib.parse
import urllib.request

__all__ = ["LiveCtxError", "full", "get", "set", "append", "delete", "pop", "revision"]


class LiveCtxError(Exception):
    """What the ctx server refused (status, code, revision), or that it cannot be reached (status None)."""

    def __init__(self, message, status=None, code=None, revision=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.revision = revision


def _endpoint():
    url = os.environ.get("RECIPES_CTX_URL")
    token = os.environ.get("RECIPES_CTX_TOKEN")
    if not url or not token:
        raise LiveCtxError(
            "no ctx server: RECIPES_CTX_URL and RECIPES_CTX_TOKEN are set only inside a step of a running recipe"
        )
    return url.rstrip("/"), token


def _call(method, path, body=None, timeout=10):
    url, token = _endpoint()
    data = None if body is None else json.dumps(body).encode("utf-8")
    # A step needs the real values (what it prints is masked by the run): ask for them in clear.
    request = urllib.request.Request(url + path + "?reveal=1", data=data, method=method)
    request.add_header("Authorization", "Bearer " + token)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        try:
            problem = json.loads(error.read().decode("utf-8")).get("error", {})
        except ValueError:
            problem = {}
        raise LiveCtxError(
            problem.get("message", "the ctx server answered %d" % error.code),
            status=error.code,
            code=problem.get("code"),
            revision=problem.get("revision"),
        ) from None
    except urllib.error.URLError as error:
        raise LiveCtxError("the ctx server at %s cannot be reached (%s)" % (url, error.reason)) from None


def _key_path(key, action=""):
    return "/v1/ctx/" + urllib.parse.quote(key, safe="") + action


def _write_body(who, revision, **fields):
    body = dict(fields)
    body["who"] = who or os.environ.get("RECIPES_STEP") or "api"
    if revision is not None:
        body["revision"] = revision
    return body


def full():
    """Every key's value and revision: {"values": {...}, "revisions": {...}}."""
    return _call("GET", "/v1/ctx")


def get(key, default=None):
    """The value of key, or default when the ctx has no such key."""
    try:
        return _call("GET", _key_path(key))["value"]
    except LiveCtxError as error:
        if error.status == 404:
            return default
        raise


def revision(key):
    """The key's revision (0 when it does not exist)."""
    try:
        return _call("GET", _key_path(key))["revision"]
    except LiveCtxError as error:
        if error.status == 404:
            return 0
        raise


def set(key, value, who=None, revision=None):  # noqa: A001 - the operation's name in the older framework
    """Writes a JSON value; returns the key's new revision."""
    return _call("PUT", _key_path(key), _write_body(who, revision, value=value))["revision"]


def append(key, value, who=None, revision=None):
    """Appends to a list (a missing key becomes a list of one); returns the list."""
    return _call("POST", _key_path(key, "/append"), _write_body(who, revision, value=value))["value"]


def delete(key, who=None, revision=None):
    """Removes the key (LiveCtxError 404 when there is none)."""
    _call("DELETE", _key_path(key), _write_body(who, revision))


def pop(key, index=None, who=None, revision=None):
    """Removes an item of a list (the last, or the one at index) and returns it."""
    fields = {} if index is None else {"index": index}
    return _call("POST", _key_path(key, "/pop"), _write_body(who, revision, **fields))["popped"]
