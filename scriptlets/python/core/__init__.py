"""Shared helpers of the Python scriptlets: BaseScriptlet, the standalone Context, logging, resource tracking."""
