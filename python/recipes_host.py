"""
NAME: recipes_host.py
DESC: The warm Python interpreter of vitest-recipes. One host per recipe file runs every
      python step of that recipe: it imports the step's module, calls validate(ctx, params)
      then run(ctx, params), and answers with what happened. It speaks JSON lines: requests
      on a private copy of stdin, answers on a private copy of stdout. fd 1 points at stderr
      and sys.stdout is captured (one stream, emptied for each step) while a step runs, so a scriptlet that prints its envelope
      (the older style) cannot corrupt the protocol; fd 0 and sys.stdin read /dev/null, so a
      scriptlet that reads stdin gets end-of-file at once instead of the protocol. A
      scriptlet's sys.exit(n) ends its step with exit code n, not the host.
USAGE: started by vitest-recipes; not meant to be run by hand.
"""
import importlib
import io
import json
import os
import resource
import sys

PROTOCOL = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr
REQUESTS = os.fdopen(os.dup(0), "r", encoding="utf-8")
_NO_INPUT = os.open(os.devnull, os.O_RDONLY)
os.dup2(_NO_INPUT, 0)
os.close(_NO_INPUT)
# Subprocesses a scriptlet starts inherit fd 0 too: they read /dev/null, never the protocol.
EMPTY_STDIN = open(0, "r", encoding="utf-8", closefd=False)
sys.stdin = EMPTY_STDIN


def empty_stdin():
    """The stdin every step starts with (a new one if a scriptlet closed it)."""
    global EMPTY_STDIN
    if EMPTY_STDIN.closed:
        EMPTY_STDIN = open(0, "r", encoding="utf-8", closefd=False)
    return EMPTY_STDIN


class _StepBytes(io.BytesIO):
    """What a step writes to stdout, as bytes; a scriptlet closing sys.stdout does not lose them."""

    def close(self):
        pass


STEP_BYTES = _StepBytes()


def new_step_stdout():
    return io.TextIOWrapper(STEP_BYTES, encoding="utf-8", errors="backslashreplace", write_through=True)


# The one sys.stdout of every step: a logging handler or a module that kept sys.stdout at import
# writes into the step that runs now, and it is a real text stream (buffer, reconfigure, encoding).
STEP_STDOUT = new_step_stdout()


def start_step_stdout():
    global STEP_STDOUT
    if STEP_STDOUT.closed:
        STEP_STDOUT = new_step_stdout()
    STEP_STDOUT.flush()
    STEP_BYTES.seek(0)
    STEP_BYTES.truncate()
    return STEP_STDOUT


def take_step_stdout():
    """What the step printed; bytes that are not UTF-8 read as U+FFFD, as a shell step's output does."""
    if not STEP_STDOUT.closed:
        STEP_STDOUT.flush()
    text = STEP_BYTES.getvalue().decode("utf-8", "replace")
    STEP_BYTES.seek(0)
    STEP_BYTES.truncate()
    return text


# Written on fd 2 after each step (plugin/executors/python-host.ts removes it).
STEP_END_MARK = b"\x1erecipes-step-end\x1e\n"


def send(message):
    PROTOCOL.write(json.dumps(message, allow_nan=False) + "\n")
    PROTOCOL.flush()


# What the context takes (plugin/context/json-value.ts), said as Python sees it: shared with vitest_recipes.Context.
from vitest_recipes.json_values import DEPTH_ADVICE, MAX_JSON_DEPTH, json_problem, key_problem  # noqa: E402


def envelope_problem(envelope):
    """Where a returned envelope is not JSON: its ctx values strictly (they go to the context), the rest as json.dumps reads it."""
    for name, field in envelope.items():
        if name == "ctx" and isinstance(field, dict):
            for key, value in field.items():
                problem = json_problem(value, 'ctx["%s"]' % key) if isinstance(key, str) else key_problem("ctx", key)
                if problem:
                    return problem
        else:
            problem = json_problem(field, str(name), strict=False)
            if problem:
                return problem
    return None


def printed_envelope_problem(stdout):
    """Where the envelope a scriptlet printed (its last JSON line with a status) holds what the
    runner cannot read as it is: json.dumps writes NaN and Infinity, and integers past 2**53 would be rounded."""
    if '"status"' not in stdout:
        return None
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if not line.startswith("{") or '"status"' not in line:
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and "status" in value:
            return envelope_problem(value)
    return None


class ContextError(Exception):
    """A ctx operation the runner refused (bad value, key or writer; a write in validate)."""


class HostContext:
    """The ctx a python scriptlet sees: the older framework's API, backed by the recipe's context."""

    def __init__(self, phase):
        self._phase = phase
        self._rid = 0

    def _call(self, method, **args):
        self._rid += 1
        send({"type": "ctx", "rid": self._rid, "phase": self._phase, "method": method, **args})
        line = REQUESTS.readline()
        if not line:
            raise SystemExit(0)
        answer = json.loads(line)
        if not answer.get("ok"):
            raise ContextError(answer.get("error", "ctx call failed"))
        return answer.get("value")

    def set(self, key, value, who=None):
        problem = json_problem(value)
        if problem:
            rule = "" if problem.endswith(DEPTH_ADVICE) else "; the context holds JSON values only"
            raise ContextError('ctx.set("%s") by "%s": %s%s' % (key, who, problem, rule))
        self._call("set", key=key, value=value, who=who)

    def get(self, key, default=None):
        value = self._call("get", key=key)
        return default if value is None else value

    def has(self, key):
        return self._call("has", key=key)

    def keys(self):
        return self._call("keys")

    def get_history(self, key=None):
        return self._call("history", key=key)

    def last_modified(self, key):
        return self._call("last_modified", key=key)

    def to_dict(self):
        return self._call("to_dict")

    def __contains__(self, key):
        return self.has(key)

    def __getitem__(self, key):
        value = self.get(key)
        if value is None and not self.has(key):
            raise KeyError(key)
        return value


def load(module_name, attribute):
    module = importlib.import_module(module_name)
    if attribute is None:
        for name in ("run", "main"):
            if callable(getattr(module, name, None)):
                return getattr(module, name)
        raise AttributeError("module %s has no run() and the step names no class or function" % module_name)
    if not hasattr(module, attribute):
        names = sorted(name for name in vars(module) if not name.startswith("_"))
        raise AttributeError('module %s has no "%s"; it defines: %s' % (module_name, attribute, ", ".join(names)))
    return getattr(module, attribute)


def takes_only_params(function):
    """True for the older runner's function variant run(params): it cannot take (ctx, params)."""
    bound = 1 if getattr(function, "__self__", None) is not None and hasattr(function, "__func__") else 0
    function = getattr(function, "__func__", function)
    while hasattr(function, "__wrapped__"):  # functools.wraps: the decorated function says what it takes
        function = function.__wrapped__
    code = getattr(function, "__code__", None)
    if code is None or code.co_flags & 0x04:  # not plain Python, or it takes *args
        return False
    return code.co_argcount - bound < 2


def call(function, ctx, params):
    return function(params) if takes_only_params(function) else function(ctx, params)


def user_traceback(error):
    """The traceback without the host's own frames: the user's code is what failed."""
    import traceback  # only when a step failed: importing it costs every host start a few ms

    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if os.path.abspath(frame.filename) != os.path.abspath(__file__)]
    lines = ["Traceback (most recent call last):\n"] if frames else []
    return "".join(lines + traceback.format_list(frames) + traceback.format_exception_only(type(error), error))


# Set in the environment of every process a step starts (STEP_TOKEN_VARIABLE in plugin/executors/process-tree.ts):
# the runner finds them by it, after a timeout or when the recipe file ends.
STEP_TOKEN_VARIABLE = "RECIPES_STEP_TOKEN"


def usage():
    """CPU seconds and lifetime peak RSS (bytes) of this interpreter so far, from the kernel."""
    rusage = resource.getrusage(resource.RUSAGE_SELF)
    return rusage.ru_utime + rusage.ru_stime, rusage.ru_maxrss * 1024


def reset_peak_rss():
    """Resets the kernel's peak RSS of this process (VmHWM) to its current RSS; False where that is not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def peak_rss_since_reset():
    """VmHWM from /proc/self/status, in bytes: the peak since reset_peak_rss()."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def run_step(request):
    cpu_start, lifetime_peak = usage()
    peak_was_reset = reset_peak_rss()
    token = request.get("token")
    # The host's own token (<worker prefix>.host) comes back after the step.
    host_token = os.environ.get(STEP_TOKEN_VARIABLE)
    if token:
        os.environ[STEP_TOKEN_VARIABLE] = token
    # The run's ctx server (RECIPES_CTX_URL, RECIPES_CTX_TOKEN, RECIPES_RUN_ID), for this step and what it starts.
    env = request.get("env") or {}
    os.environ.update(env)
    try:
        answer = run_scriptlet(request)
    finally:
        os.environ.pop(STEP_TOKEN_VARIABLE, None)
        for name in env:
            os.environ.pop(name, None)
        if host_token:
            os.environ[STEP_TOKEN_VARIABLE] = host_token
    cpu, lifetime_peak_after = usage()
    # The step's own peak: the kernel's, reset before the step; else the lifetime peak if the step raised it; else unknown.
    peak = peak_rss_since_reset() if peak_was_reset else None
    if peak is None and lifetime_peak_after > lifetime_peak:
        peak = lifetime_peak_after
    answer["resources"] = {"cpuMs": round((cpu - cpu_start) * 1000, 3), "peakRssBytes": peak}
    return answer


# The exit status of a Python process that a KeyboardInterrupt ended.
INTERRUPTED = 130


def exit_status(code):
    """What sys.exit(code) means as a process exit status: None is 0, an int is itself, anything else (a message) is 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return int(code)
    return 1


def run_scriptlet(request):
    params = request.get("params")
    sys.stdout = start_step_stdout()
    # A scriptlet may have replaced sys.stdin; every step starts with the empty one.
    sys.stdin = empty_stdin()
    try:
        target = load(request["module"], request.get("attr"))
        instance = target() if isinstance(target, type) else None
        validate = getattr(instance, "validate", None) if instance is not None else None
        run = instance.run if instance is not None else target
        phase = "validate"
        if callable(validate):
            call(validate, HostContext("validate"), params)
        phase = "run"
        result = call(run, HostContext("run"), params)
        if result is not None and not isinstance(result, (dict, int)):
            raise TypeError("run() returned %s; return an envelope dict, an exit code or None" % type(result).__name__)
        problem = envelope_problem(result) if isinstance(result, dict) else None
        if problem:
            raise TypeError("run() returned an envelope that is not JSON: %s" % problem)
        stdout = take_step_stdout()
        problem = printed_envelope_problem(stdout) if not isinstance(result, dict) else None
        if problem:
            message = "the envelope printed on stdout is not JSON: %s" % problem
            return {"type": "done", "error": {"type": "TypeError", "message": message, "phase": "run", "exit_code": None, "traceback": ""}, "stdout": stdout}
        return {"type": "done", "result": result, "stdout": stdout}
    except SystemExit as error:
        # The older scriptlets end with sys.exit(main()): the step ends as the process would have.
        code = exit_status(error.code)
        if not isinstance(error.code, (int, type(None))):
            print(error.code, file=sys.stderr)  # as Python does when sys.exit("message") ends a process
        return {"type": "done", "result": code, "sys_exit": {"code": code, "argument": repr(error.code)}, "stdout": take_step_stdout()}
    except BaseException as error:  # noqa: BLE001 - every failure is reported as the step's
        exit_code = getattr(error, "exit_code", None) if isinstance(getattr(error, "exit_code", None), int) else None
        if isinstance(error, KeyboardInterrupt):
            # A scriptlet's KeyboardInterrupt ends its step, not the host, with the status a standalone run
            # ends with (128 + SIGINT). Ctrl-C never reaches the host: it has a process group of its own.
            exit_code = INTERRUPTED
        return {
            "type": "done",
            "error": {
                "type": type(error).__name__,
                "message": str(error),
                "phase": locals().get("phase", "load"),
                "exit_code": exit_code,
                # A structured failure (it carries its exit code) is expected: its message says it all.
                "traceback": "" if isinstance(getattr(error, "exit_code", None), int) else user_traceback(error),
            },
            "stdout": take_step_stdout(),
        }
    finally:
        sys.stdout = sys.stderr
        sys.stdin = empty_stdin()


def outline(path):
    """What a scriptlet file defines, read without running it (recipes step decides how to run it by this):
    its top-level classes (with whether each has run(), its own or a base's of the same file), functions
    and imported names, and whether it has an `if __name__ == "__main__":` block."""
    import ast  # only for recipes step: a recipe names what to run

    try:
        with open(path, "rb") as source:
            tree = ast.parse(source.read(), filename=path)
    except SyntaxError as error:
        return {"type": "outline", "error": {"message": error.msg, "line": error.lineno, "column": error.offset}}
    except OSError as error:
        return {"type": "outline", "error": {"message": str(error)}}
    classes, functions, imported, main_block = {}, [], [], False
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            own = any(isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == "run" for item in node.body)
            bases = [base.id for base in node.bases if isinstance(base, ast.Name)]
            classes[node.name] = {"run": own, "bases": bases}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions.append(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            imported.extend((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.If) and "__main__" in ast.dump(node.test) and "__name__" in ast.dump(node.test):
            main_block = True

    def has_run(name, seen=()):
        found = classes.get(name)
        if found is None or name in seen:
            return False
        return found["run"] or any(has_run(base, seen + (name,)) for base in found["bases"])

    return {
        "type": "outline",
        "classes": [{"name": name, "run": has_run(name)} for name in classes],
        "functions": functions,
        "imported": imported,
        "main_block": main_block,
    }


def main():
    for root in reversed(json.loads(os.environ.get("RECIPES_PYTHON_PATH", "[]"))):
        if root not in sys.path:
            sys.path.insert(0, root)
    send({"type": "ready", "python": sys.version.split()[0]})
    for line in REQUESTS:
        if not line.strip():
            continue
        request = json.loads(line)
        if request.get("type") == "outline":
            send(outline(request["file"]))
        elif request.get("type") == "run":
            answer = run_step(request)
            # stderr and the protocol are two pipes: the mark tells the runner it has all of the step's stderr.
            sys.stderr.flush()
            os.write(2, STEP_END_MARK)
            try:
                send(answer)
            except (TypeError, ValueError, RecursionError) as error:
                why = "it is nested deeper than %d levels" % MAX_JSON_DEPTH if isinstance(error, RecursionError) else error
                send({"type": "done", "error": {"type": "TypeError", "message": "run() returned a value that is not JSON: %s" % why, "phase": "run", "traceback": ""}, "stdout": answer.get("stdout", "")})


if __name__ == "__main__":
    main()
