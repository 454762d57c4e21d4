import { LineCounter, parseDocument, YAMLParseError } from 'yaml'
import { expect, test } from 'vitest'
import { RecipeSource } from '../../plugin/recipe/source.ts'
import { syntaxIssues } from '../../plugin/recipe/yaml-issues.ts'

test("yaml running out of stack is one 'nested too deeply' problem: what it reported after that comes from the cut-short parse", () => {
  // yaml's stack depth depends on how far V8 has optimized its parser, so a deep file that reads on
  // an idle machine can overflow on a busy one (seen on CI): the errors then are the overflow and
  // what the aborted parse made of the rest.
  const text = 'steps:\n  - name: a\n    args:\n      deep:\n        k:\n          k: v\n'
  const lines = new LineCounter()
  parseDocument(text, { lineCounter: lines })
  const source = new RecipeSource('recipes/x.yaml', text, lines)
  const errors = [
    new YAMLParseError([40, 41], 'UNEXPECTED_TOKEN', 'Maximum call stack size exceeded'),
    new YAMLParseError([60, 61], 'BAD_INDENT', 'All mapping items must start at the same column'),
  ]
  const issues = syntaxIssues(errors, source)
  expect(issues.map((issue) => issue.code)).toEqual(['RECIPE_TOO_LARGE'])
  expect(issues[0]!.message).toContain('nested too deeply')
})
