"""
NAME: summarize.py
DESCRIPTION: Reads the greeting and the word count the steps before it wrote, and writes one
  sentence with both to ctx['example.summary_v1'].
READS: example.greeting_v1, example.words_v1
OUTPUTS: example.summary_v1
PARAMETERS: (none)
RETURNS:
  {"status":"ok","outputs":["example.summary_v1"]}
"""


class Summarize:
    def run(self, ctx, params):
        greeting = ctx.get("example.greeting_v1")
        words = ctx.get("example.words_v1")
        ctx.set("example.summary_v1", f"{greeting} ({words} words)", who="summarize")
        return {"status": "ok", "outputs": ["example.summary_v1"]}
