"""
NAME: checksum_artifact.py
DESCRIPTION: Record a file under Data/ as an artifact: write {path, sha256, bytes} to
  ctx[params.key] (default artifacts.report_v1). The ctx holds the file's relative path and
  checksum, never its contents. Newer style: run() returns the envelope dict and raises on
  failure; the runner turns the exception into the error envelope.
USAGE:
  python3 scriptlets/python/steps/checksum_artifact.py --params '{"path":"Data/enriched_numbers.csv"}'
PARAMETERS:
  - path: str, optional: file relative to the project root, inside Data/
  - path_key: str, optional: ctx key holding that path, when path is not given
  - key: str, optional (default "artifacts.report_v1"): ctx key to write
READS: {path_key}? (only when path is not given)
OUTPUTS: {key}
RETURNS:
  {"status":"ok","outputs":["artifacts.report_v1"],"artifacts":["Data/enriched_numbers.csv"],"metrics":{"bytes":91}}
  on failure (standalone): {"status":"error","reason":"...","exit_code":2|3,"step":"checksum_artifact"}
LIMITATIONS:
  - Only regular files inside Data/ (after resolving symlinks and ".."); paths are relative to
    the current directory, which must be the project root (the runner starts steps there).
  - The checksum describes the file when the step ran: a later step that rewrites the file
    should record a new checksum.
EXAMPLES:
  python3 scriptlets/python/steps/checksum_artifact.py --params '{"path":"Data/raw_numbers.csv","key":"artifacts.raw_v1"}'
"""
import argparse
import hashlib
import json
import os
import sys
from typing import Any, Dict

if __package__ in (None, ""):  # run as a file: make `scriptlets.python...` importable from the project root
    sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

from scriptlets.python.core.base import EXIT_DEPENDENCY, EXIT_INVALID, BaseScriptlet, ScriptletError
from scriptlets.python.core.logging_util import get_logger
from scriptlets.python.core.resource import track_resources

logger = get_logger(__name__)

ARTIFACT_DIR = "Data"
CHUNK = 1024 * 1024


class ChecksumArtifact(BaseScriptlet):
    def validate(self, ctx: Any, params: Dict[str, Any]) -> None:
        if not isinstance(params, dict):
            raise ScriptletError("params must be dict", EXIT_INVALID)
        for name in ("path", "path_key", "key"):
            if name in params and (not isinstance(params[name], str) or not params[name]):
                raise ScriptletError("params.%s must be a non-empty str" % name, EXIT_INVALID)
        self._artifact_path(ctx, params)

    @track_resources
    def run(self, ctx: Any, params: Dict[str, Any]) -> Dict[str, Any]:
        self.validate(ctx, params)
        path = self._artifact_path(ctx, params)
        key = params.get("key", "artifacts.report_v1")
        digest = hashlib.sha256()
        size = 0
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                digest.update(chunk)
                size += len(chunk)
        record = {"path": path, "sha256": digest.hexdigest(), "bytes": size}
        ctx.set(key, record, who="checksum_artifact")
        logger.info("%s: sha256 %s, %d bytes", path, record["sha256"], size)
        return {"status": "ok", "outputs": [key], "artifacts": [path], "metrics": {"bytes": size}}

    @staticmethod
    def _artifact_path(ctx: Any, params: Dict[str, Any]) -> str:
        """The artifact's path relative to the project root (POSIX separators), checked to be a file inside Data/."""
        if "path" in params:
            raw = params["path"]
        else:
            if "path_key" not in params:
                raise ScriptletError("params.path or params.path_key required", EXIT_INVALID)
            raw = ctx.get(params["path_key"])
            if not isinstance(raw, str) or not raw:
                raise ScriptletError("ctx %s holds no path (run the step that writes it first)" % params["path_key"], EXIT_DEPENDENCY)
        if os.path.isabs(raw):
            raise ScriptletError("path must be relative to the project root: %s" % raw, EXIT_INVALID)
        root = os.path.realpath(os.getcwd())
        data_dir = os.path.realpath(os.path.join(root, ARTIFACT_DIR))
        resolved = os.path.realpath(os.path.join(root, raw))
        if os.path.commonpath([resolved, data_dir]) != data_dir:
            raise ScriptletError("artifacts live under %s/: %s is outside it" % (ARTIFACT_DIR, raw), EXIT_INVALID)
        if not os.path.isfile(resolved):
            raise ScriptletError("artifact not found: %s" % raw, EXIT_INVALID)
        return os.path.relpath(resolved, root).replace(os.sep, "/")


if __name__ == "__main__":
    from scriptlets.python.core.context import Context

    parser = argparse.ArgumentParser()
    parser.add_argument("--params", required=True, help="JSON string of parameters")
    args = parser.parse_args()
    params = json.loads(args.params)
    try:
        envelope = ChecksumArtifact().run(Context(), params)
        print(json.dumps(envelope))
        sys.exit(0)
    except Exception as e:
        code = getattr(e, "exit_code", 1)
        print(json.dumps({"status": "error", "reason": str(e), "exit_code": code, "step": "checksum_artifact"}))
        sys.exit(code)
