"""
NAME: base.py
DESCRIPTION: BaseScriptlet, the older framework's base class of Python scriptlets, and
  ScriptletError, an exception that carries the step's exit code.
USAGE:
  from scriptlets.python.core.base import BaseScriptlet, ScriptletError

  class ComputeSomething(BaseScriptlet):
      def validate(self, ctx, params): ...   # raise on bad input; write nothing
      def run(self, ctx, params): ...        # write ctx; print the JSON line and return 0/1,
                                             # or return the envelope dict (newer style)
LIMITATIONS:
  - Under vitest-recipes the runner calls validate(ctx, params) itself, with a read-only ctx,
    before run(ctx, params); older-style run() methods call self.validate again, which is harmless.
  - requires_process / parallelizable are recorded for the older runner; vitest-recipes
    reads `requires_process` and `parallel` from the recipe step instead.
"""
from typing import Any, Dict, Optional

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_DEPENDENCY = 2
EXIT_INVALID = 3


class ScriptletError(Exception):
    """A step failure with its exit code: 1 failed, 2 dependency not satisfied, 3 invalid input or config."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED, details: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.details = dict(details or {})


class BaseScriptlet:
    """One single-responsibility step: validate(ctx, params) then run(ctx, params)."""

    #: The older runner_v2 ran steps with this flag in a process pool.
    requires_process: bool = False
    #: The older runner_v2 ran steps with this flag in a thread pool.
    parallelizable: bool = False

    def validate(self, ctx: Any, params: Dict[str, Any]) -> None:
        """Raise (ValueError, ScriptletError) on bad params or missing ctx keys, before anything is written."""

    def run(self, ctx: Any, params: Dict[str, Any]) -> Any:
        """Do the work; return an exit code (0/1) after printing the JSON line, or an envelope dict."""
        raise NotImplementedError("%s.run(ctx, params) is not implemented" % type(self).__name__)
