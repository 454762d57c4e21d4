"""
NAME: context.py
DESCRIPTION: Context for running a scriptlet on its own (`python3 scriptlets/python/steps/x.py --params ...`):
  vitest_recipes.Context when that package is importable, else a small in-memory stand-in with
  the same API: set(key, value, who=...), get, has, keys, get_history, last_modified, to_dict.
  Under vitest-recipes steps never use this class: the runner passes its own ctx.
LIMITATIONS:
  - The fallback keeps values in memory only and checks that they are JSON (no NaN/Infinity);
    it does not enforce the namespace.entity_vN key naming.
"""
import copy
import datetime
import json
from typing import Any, Dict, List, Optional

try:
    from vitest_recipes import Context  # type: ignore[import-not-found]
except ImportError:  # vitest-recipes' python/ folder is not on sys.path: use the stand-in

    class Context:  # type: ignore[no-redef]
        """In-memory ctx: JSON values only, every write attributed (who) and kept in the history."""

        def __init__(self, initial: Optional[Dict[str, Any]] = None) -> None:
            self._values: Dict[str, Any] = copy.deepcopy(dict(initial or {}))
            self._history: List[Dict[str, Any]] = []

        def set(self, key: str, value: Any, who: Optional[str] = None) -> None:
            if not who:
                raise ValueError('ctx.set("%s") needs who="<step or scriptlet name>"' % key)
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError) as error:
                raise ValueError('ctx.set("%s") by "%s": value is not JSON (%s)' % (key, who, error)) from None
            self._history.append({
                "ts": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                "who": who,
                "key": key,
                "before": copy.deepcopy(self._values.get(key)),
                "after": copy.deepcopy(value),
            })
            self._values[key] = copy.deepcopy(value)

        def get(self, key: str, default: Any = None) -> Any:
            return copy.deepcopy(self._values.get(key, default))

        def has(self, key: str) -> bool:
            return key in self._values

        def keys(self) -> List[str]:
            return list(self._values)

        def get_history(self, key: Optional[str] = None) -> List[Dict[str, Any]]:
            return [copy.deepcopy(entry) for entry in self._history if key is None or entry["key"] == key]

        def last_modified(self, key: str) -> Optional[Dict[str, Any]]:
            entries = self.get_history(key)
            return entries[-1] if entries else None

        def to_dict(self) -> Dict[str, Any]:
            return copy.deepcopy(self._values)

        def __contains__(self, key: str) -> bool:
            return self.has(key)

__all__ = ["Context"]
