import { expect, test } from 'vitest'
import { resolveDeclaredKeys } from '../../plugin/recipe/declarations.ts'
import { headerDeclaration } from '../../plugin/recipe/header-declarations.ts'

test('a shell header declares reads, outputs and params, each at its line', () => {
  const text = `#!/usr/bin/env bash
# NAME: copy.sh
# DESC: copies
# READS: numbers.raw_v1, {src_key}?,
#        lab.count_v1? (kept between runs)
# OUTPUTS: {CTX_KEY} numbers.copy_v1
# PARAMS:
#   - INPUT: str, required: file to read
#   - RETRIES: int, optional (default 3): how often
#       to try before giving up
#   - MODE: bool (default true): strict mode
#   - LIMIT: float: a limit
#   - ODD: weird, optional: an unknown type
# RETURNS: {"status":"ok"}
READS: this is code, not the header
`
  const declaration = headerDeclaration(text, 'scriptlets/copy.sh', 'shell')
  expect(declaration.reads).toEqual(['numbers.raw_v1', '{src_key}?', 'lab.count_v1?'])
  expect(declaration.outputs).toEqual(['{CTX_KEY}', 'numbers.copy_v1'])
  expect(declaration.lines).toEqual({ reads: 4, outputs: 6, params: 7 })
  expect(declaration.params).toEqual([
    { name: 'INPUT', type: 'string', required: true, description: 'file to read' },
    { name: 'RETRIES', type: 'integer', required: false, default: 3, description: 'how often to try before giving up' },
    { name: 'MODE', type: 'boolean', required: false, default: true, description: 'strict mode' },
    { name: 'LIMIT', type: 'number', required: true, description: 'a limit' },
    { name: 'ODD', type: 'any', required: false, description: 'an unknown type' },
  ])
})

test('a Python module docstring declares the same fields; none is the empty list; no field is undefined', () => {
  const text = `# -*- coding: utf-8 -*-
"""
NAME: stats.py
READS: none
OUTPUTS: numbers.stats_v1
PARAMETERS:
  - src_key: str, optional (default "numbers.clean_path_v1"): ctx key holding the path
  - strict: bool, optional (default False): refuse empty cells
  - extra: dict, optional (default None): anything
"""
import json
`
  const declaration = headerDeclaration(text, 'scriptlets/stats.py', 'python')
  expect(declaration.reads).toEqual([])
  expect(declaration.outputs).toEqual(['numbers.stats_v1'])
  expect(declaration.lines).toEqual({ reads: 4, outputs: 5, params: 6 })
  expect(declaration.params?.map((param) => [param.name, param.type, param.default])).toEqual([
    ['src_key', 'string', 'numbers.clean_path_v1'],
    ['strict', 'boolean', false],
    ['extra', 'object', null],
  ])
  const bare = headerDeclaration('import os\n"""READS: a.b_v1"""\n', 'x.py', 'python')
  expect(bare).toEqual({ file: 'x.py', lines: {} })
  expect(headerDeclaration('#!/bin/sh\n# NAME: x.sh\necho\n', 'x.sh', 'shell')).toEqual({ file: 'x.sh', lines: {} })
})

test('keys named by a parameter resolve from the args, then the declared default; an optional one left out names nothing', () => {
  const declared = [
    { name: 'src_key', type: 'string' as const, required: false, default: 'numbers.clean_path_v1' },
    { name: 'CTX_KEY', type: 'string' as const, required: false },
    { name: 'KEY', type: 'string' as const, required: true },
  ]
  expect(resolveDeclaredKeys(['{src_key}?', 'a.b_v1'], {}, declared)).toEqual({
    keys: [
      { key: 'numbers.clean_path_v1', optional: true },
      { key: 'a.b_v1', optional: false },
    ],
    unresolved: [],
  })
  expect(resolveDeclaredKeys(['{src_key}'], { src_key: 'lab.path_v1' }, declared).keys).toEqual([
    { key: 'lab.path_v1', optional: false },
  ])
  expect(resolveDeclaredKeys(['{CTX_KEY}', '{KEY}', '{OTHER}'], {}, declared)).toEqual({
    keys: [],
    unresolved: ['{KEY}', '{OTHER}'],
  })
  expect(resolveDeclaredKeys(['{KEY}'], [1, 2], declared).unresolved).toEqual(['{KEY}'])
})
