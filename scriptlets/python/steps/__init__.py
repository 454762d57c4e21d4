"""Atomic Python scriptlets: one CamelCase BaseScriptlet subclass per lower_snake_case file."""
