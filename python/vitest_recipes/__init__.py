"""
Helpers for Python scriptlets run by vitest-recipes (importable inside the Python host).

- BaseScriptlet: the older framework's base class: override validate(ctx, params) and
  run(ctx, params).
- Context: an in-memory ctx with the same API as the one the host passes to steps
  (set(key, value, who=...), get, get_history, last_modified, to_dict), for running a
  scriptlet on its own from the command line.
- ScriptletError: raise it with exit_code=2 or 3 to choose the step's exit code.
"""
import copy
import datetime

from .json_values import json_problem

__all__ = ["BaseScriptlet", "Context", "ScriptletError"]


class ScriptletError(Exception):
    def __init__(self, message, exit_code=1):
        super().__init__(message)
        self.exit_code = exit_code


class BaseScriptlet:
    def validate(self, ctx, params):
        """Raise on bad input, before anything is written."""

    def run(self, ctx, params):
        raise NotImplementedError


class Context:
    def __init__(self, initial=None):
        self._values = dict(initial or {})
        self._history = []

    def set(self, key, value, who=None):
        if not who:
            raise ValueError('ctx.set("%s") needs who="<step or scriptlet name>"' % key)
        problem = json_problem(value)
        if problem:
            raise ValueError('ctx.set("%s") by "%s": %s' % (key, who, problem))
        entry = {"ts": datetime.datetime.now(datetime.timezone.utc).isoformat(), "who": who, "key": key,
                 "before": self._values.get(key), "after": copy.deepcopy(value)}
        self._history.append(entry)
        self._values[key] = copy.deepcopy(value)

    def get(self, key, default=None):
        return copy.deepcopy(self._values.get(key, default))

    def has(self, key):
        return key in self._values

    def keys(self):
        return list(self._values)

    def get_history(self, key=None):
        return [dict(entry) for entry in self._history if key is None or entry["key"] == key]

    def last_modified(self, key):
        entries = self.get_history(key)
        return entries[-1] if entries else None

    def to_dict(self):
        return copy.deepcopy(self._values)
