import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { afterAll, expect, test } from 'vitest'
import {
  locatePythonModule,
  pythonFileImport,
  pythonModuleFile,
  pythonSearchPath,
} from '../../plugin/recipe/python-module.ts'

const root = mkdtempSync(join(tmpdir(), 'vitest-recipes-pymod-'))
mkdirSync(join(root, 'orchestrator/steps'), { recursive: true })
mkdirSync(join(root, 'pkg'), { recursive: true })
writeFileSync(join(root, 'orchestrator/steps/compute.py'), '')
writeFileSync(join(root, 'pkg/__init__.py'), '')
afterAll(() => rmSync(root, { recursive: true, force: true }))

test('python.path first, then PYTHONPATH, relative entries from the root, without repeats', () => {
  expect(pythonSearchPath(['.'], root, ['.', 'orchestrator', '/opt/lib'].join(delimiter))).toEqual([
    root,
    join(root, 'orchestrator'),
    '/opt/lib',
  ])
  expect(pythonSearchPath(['.'], root, '')).toEqual([root])
})

test('a module is a .py file or a package __init__.py under a folder of the search path', () => {
  const searchPath = pythonSearchPath(['.'], root, 'orchestrator')
  expect(pythonModuleFile('steps.compute', searchPath, root)).toBe(join(root, 'orchestrator/steps/compute.py'))
  expect(pythonModuleFile('pkg', searchPath, root)).toBe(join(root, 'pkg/__init__.py'))
  expect(pythonModuleFile('steps.missing', searchPath, root)).toBeUndefined()
})

test('a module is located with the search-path folder that has it and the package __init__.py files above it', () => {
  mkdirSync(join(root, 'pkg/sub'), { recursive: true })
  writeFileSync(join(root, 'pkg/sub/leaf.py'), '')
  expect(locatePythonModule('pkg.sub.leaf', pythonSearchPath(['.'], root, ''), root)).toEqual({
    folder: root,
    file: join(root, 'pkg/sub/leaf.py'),
    // pkg/sub has no __init__.py (a namespace package): only pkg's runs.
    packageInits: [join(root, 'pkg/__init__.py')],
  })
  expect(locatePythonModule('pkg.sub.gone', [root], root)).toBeUndefined()
})

test('a python file given by its path imports by its dotted name from the first search folder that loads this very file', () => {
  mkdirSync(join(root, 'tools'), { recursive: true })
  writeFileSync(join(root, 'tools/compute.py'), '')
  writeFileSync(join(root, 'tools/my-step.py'), '')
  const searchPath = pythonSearchPath(['.'], root, 'orchestrator')
  expect(pythonFileImport(join(root, 'orchestrator/steps/compute.py'), searchPath, root)).toEqual({
    module: 'orchestrator.steps.compute',
  })
  expect(pythonFileImport(join(root, 'pkg/__init__.py'), searchPath, root)).toEqual({ module: 'pkg' })
  // Only from its own folder when the search path would load another file by that name, or none.
  const shadowed = pythonSearchPath(['orchestrator/steps', '.'], root, '')
  expect(pythonFileImport(join(root, 'tools/compute.py'), shadowed, root)).toEqual({ module: 'tools.compute' })
  expect(
    pythonFileImport(join(root, 'tools/compute.py'), pythonSearchPath(['orchestrator/steps'], root, ''), root),
  ).toEqual({
    module: 'compute',
    folder: join(root, 'tools'),
  })
  expect(pythonFileImport(join(root, 'tools/my-step.py'), searchPath, root)).toBeUndefined()
})
