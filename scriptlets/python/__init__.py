"""Python scriptlets in the older framework's layout: core/ (shared helpers), steps/ (one scriptlet per file).

Recipes name them by dotted path from the project root, e.g.
`module: scriptlets.python.steps.compute_numbers` with `class: ComputeNumbers`.
"""
