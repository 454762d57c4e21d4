"""
The JSON values the context of vitest-recipes keeps (plugin/context/json-value.ts), as Python
sees them: json_problem(value) says where a value is not one, naming the spot (value.a[1]),
including what json.dumps would change without a word (a tuple, a dict key that is not a
string, an integer a JSON number does not hold exactly).
"""

# The context's depth limit (MAX_JSON_DEPTH in plugin/context/json-value.ts).
MAX_JSON_DEPTH = 1000
# The largest integer a JSON number (an IEEE double, as the runner reads it) holds exactly.
MAX_SAFE_INTEGER = 2**53 - 1
DEPTH_ADVICE = " (flatten it, or store it as a file under Data/ and put its path in ctx)"


def _a(name):
    return ("an " if name[:1].lower() in "aeiou" else "a ") + name


def key_problem(path, key):
    return "%s has the key %r, %s (JSON keys are strings: use str(key))" % (path, key, _a(type(key).__name__))


def json_problem(value, path="value", strict=True):
    """Where `value` is not a JSON value the runner keeps as it is, or None. strict: tuples and
    non-string dict keys count too (json.dumps turns them into lists and strings without a word)."""
    active = set()

    def check(value, path, depth):
        if value is None or isinstance(value, (str, bool)):
            return None
        if isinstance(value, int):
            if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                return None
            return "%s is %d, beyond the 2**53 - 1 a JSON number holds exactly (store it as a string)" % (path, value)
        if isinstance(value, float):
            if value == value and value not in (float("inf"), float("-inf")):
                return None
            return "%s is %r (only finite numbers are JSON)" % (path, value)
        if isinstance(value, (bytes, bytearray)):
            return "%s is bytes (decode them, or store them as a file under Data/ and put its path in ctx)" % path
        if isinstance(value, (list, tuple, dict)):
            if isinstance(value, tuple) and strict:
                return "%s is a tuple (store a list)" % path
            if depth >= MAX_JSON_DEPTH:
                return "%s is nested deeper than %d levels%s" % (path, MAX_JSON_DEPTH, DEPTH_ADVICE)
            if id(value) in active:
                return "%s is a circular reference" % path
            active.add(id(value))
            if isinstance(value, dict):
                for key, item in value.items():
                    if not isinstance(key, str) and (strict or not (key is None or isinstance(key, (int, float)))):
                        return key_problem(path, key)
                    problem = check(item, "%s.%s" % (path, key), depth + 1)
                    if problem:
                        return problem
            else:
                for index, item in enumerate(value):
                    problem = check(item, "%s[%d]" % (path, index), depth + 1)
                    if problem:
                        return problem
            active.discard(id(value))
            return None
        if isinstance(value, (set, frozenset)):
            advice = " (store a list)"
        elif hasattr(value, "isoformat"):
            advice = " (store value.isoformat())"
        else:
            advice = "; JSON holds None, booleans, numbers, strings, lists and dicts"
        return "%s is %s%s" % (path, _a(type(value).__name__), advice)

    try:
        return check(value, path, 0)
    except RecursionError:
        return "%s is nested deeper than %d levels%s" % (path, MAX_JSON_DEPTH, DEPTH_ADVICE)
