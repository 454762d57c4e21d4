import { expect, test } from 'vitest'
import { pythonTopLevelNames, typescriptExports } from '../../plugin/recipe/scriptlet-names.ts'

test('python: top-level def, class, assignments and imports, also inside top-level if/try blocks', () => {
  const names = pythonTopLevelNames(`"""Module docstring.
class InDocstring: not code
"""
import os.path, json as j
from typing import (
    Any,
    Dict as D,
)
LIMIT: int = 5
a = b = 1
x, (y, z) = 1, (2, 3)
if a == 1:
    Fallback = None
try:
    from fast import Parser
except ImportError:
    Parser = None


@decorator
class Compute:
    inner = 1

    def run(self, ctx, params):
        local = 2


async def fetch():
    nested = 3
`)
  expect(names?.names.sort()).toEqual(
    ['Compute', 'D', 'Fallback', 'LIMIT', 'Parser', 'a', 'b', 'fetch', 'j', 'os', 'x', 'y', 'z', 'Any'].sort(),
  )
  expect(names?.has('inner')).toBe(false)
  expect(names?.has('local')).toBe(false)
  expect(names?.has('InDocstring')).toBe(false)
})

test('python: names that can appear at run time are not guessed', () => {
  expect(pythonTopLevelNames('from helpers import *\n')).toBeUndefined()
  expect(pythonTopLevelNames('def __getattr__(name):\n    return name\n')).toBeUndefined()
  expect(pythonTopLevelNames('globals()["Made"] = object\n')).toBeUndefined()
})

test('typescript: declarations, lists, re-exports and default', () => {
  const names = typescriptExports(`// export const commented = 1
export default defineScriptlet({})
export class Compute {}
export async function load() {}
export const a = 1, b = 2
export { c as renamed, type T } from './other.ts'
export * as all from './all.ts'
`)
  expect(names?.names.sort()).toEqual(['Compute', 'a', 'all', 'default', 'load', 'renamed', 'T'].sort())
  // Not read by the scan, but present in the text: accepted rather than guessed missing.
  expect(names?.has('b')).toBe(true)
  expect(names?.has('Missing')).toBe(false)
})

test('typescript: export * from another module cannot be checked statically', () => {
  expect(typescriptExports("export * from './steps.ts'\n")).toBeUndefined()
})
