import { describe, expect, test } from 'vitest'
import { dotString, MAX_GRAPH_STEPS, stepGraphDot, storedGraph } from '../../plugin/charts/step-graph.ts'
import { runOf, stepRow } from './steps.ts'

test('dotString escapes what would end or bend a DOT string, and drops what XML cannot hold', () => {
  expect(dotString('say "hi"')).toBe('"say \\"hi\\""')
  expect(dotString('C:\\N\\temp')).toBe('"C:\\\\N\\\\temp"')
  expect(dotString('two\nlines\r\nend')).toBe('"two\\nlines\\nend"')
  expect(dotString('bell\u0007tab\there <b>&amp; ü 漢')).toBe('"belltabhere <b>&amp; ü 漢"')
})

describe('stepGraphDot', () => {
  const graph = [
    { step: 'boot', needs: [], parallel: false },
    { step: 'port_a', needs: ['boot'], parallel: true },
    { step: 'port_b', needs: ['boot'], parallel: true },
    { step: 'merge', needs: ['port_a', 'port_b'], parallel: false },
    { step: 'archive', needs: ['merge'], parallel: false },
  ]
  const steps = [
    stepRow('boot', 1),
    stepRow('port_a', 2, { status: 'failed', durationMs: 1500 }),
    stepRow('port_b', 3),
    stepRow('merge', 4, { status: 'blocked', durationMs: 0, attempts: 0 }),
  ]

  test('edges from each step it needs, parallel steps in one dashed box, boxes in the status colours', () => {
    const { dot, note } = stepGraphDot(runOf(steps, { steps_graph: graph }))
    expect(note).toBeUndefined()
    expect(dot).toContain('s0 -> s1')
    expect(dot).toContain('s0 -> s2')
    expect(dot).toContain('s1 -> s3')
    expect(dot).toContain('s2 -> s3')
    expect(dot).toContain('s3 -> s4')
    expect(dot).toMatch(/subgraph cluster_parallel_0 \{ label="parallel";.* s1; s2 \}/)
    expect(dot).toContain('s1 [label="2. port_a\\nfailed · 1.50 s", fillcolor="#FFC7CE"]')
    expect(dot).toContain('s3 [label="4. merge\\nblocked", fillcolor="#FFEB9C"]')
    // In the graph, not in the rows: the run ended before it (interrupted).
    expect(dot).toContain('s4 [label="5. archive\\nnot recorded", fillcolor="#FFFFFF", style="rounded,dashed"]')
  })

  test('a run stored without its graph is drawn as a chain in recipe order, and the picture says so', () => {
    const { dot, note } = stepGraphDot(runOf(steps))
    expect(note).toBe('dependencies not recorded: steps drawn in recipe order')
    expect(dot.match(/->/g)).toHaveLength(3)
    expect(dot).toContain('label="Step graph\\ndependencies not recorded: steps drawn in recipe order"')
    expect(dot).not.toContain('cluster')
    expect(stepGraphDot(runOf([])).note).toBeUndefined()
  })

  test('names with quotes, backslashes and markup stay inside their label', () => {
    const { dot } = stepGraphDot(runOf([stepRow('say "<b>hi</b>" \\ & bye', 1)]))
    expect(dot).toContain('label="1. say \\"<b>hi</b>\\" \\\\ & bye\\npassed · 10.0 ms"')
  })

  test(`a graph of more than ${MAX_GRAPH_STEPS} steps draws the first ones and says how many there are`, () => {
    const many = Array.from({ length: 1200 }, (_, i) => stepRow(`s${i}`, i + 1))
    const { dot, note } = stepGraphDot(runOf(many))
    expect(dot.match(/\[label=/g)).toHaveLength(MAX_GRAPH_STEPS)
    expect(note).toContain(`the first ${MAX_GRAPH_STEPS} of 1200 steps`)
  })

  test('a stored graph of another shape is not trusted', () => {
    expect(storedGraph({ steps_graph: [{ step: 'a', needs: ['b', 3], parallel: 'yes' }] })).toEqual([
      { step: 'a', needs: ['b'], parallel: false },
    ])
    expect(storedGraph({ steps_graph: [{ needs: [] }] })).toBeUndefined()
    expect(storedGraph({ steps_graph: 'a -> b' })).toBeUndefined()
    expect(storedGraph({})).toBeUndefined()
  })
})
