import { describe, expect, test } from 'vitest'
import { formatRecipeIssues } from '../../plugin/recipe/errors.ts'
import { parseRecipe, readRecipe } from '../../plugin/recipe/parse.ts'
import { coerce, resolveVars, type VarSources, varSourcesOf } from '../../plugin/recipe/vars.ts'

const FILE = 'recipes/x.yaml'

function problems(text: string, vars: VarSources = {}): string {
  return formatRecipeIssues(readRecipe(text, FILE, { vars }).issues)
}

const DEVICE = `test_meta:
  test_id: "sw-\${{ vars.dut }}"
  description: "\${{ vars.dut }} with \${{ vars.port_count }} ports"
  tags: ["\${{ vars.dut }}"]
vars:
  dut: rack1-sw1
  port_count: 48
  fast: { default: false, description: skip the slow checks }
  note: ""
resources: ["dut:\${{ vars.dut }}"]
steps:
  - name: configure
    type: ts
    module: m.ts
    description: "configure \${{ vars.dut }}"
    resources: ["port:\${{ vars.dut }}/1"]
    cache: { inputs: ["Data/\${{ vars.dut }}.cfg"] }
    cache_key: "\${{ vars.dut }}"
    args:
      ports: "\${{ vars.port_count }}"
      fast: "\${{ vars.fast }}"
      label: "\${{ vars.dut }}:\${{ vars.port_count }}"
      nested: { list: ["\${{ vars.dut }}", 1], literal: "costs $\${{ vars.dut }}" }
  - name: ping
    type: exec
    cmd: [ping, -c, "\${{ vars.port_count }}", "host=\${{ vars.dut }}", "\${{ vars.note }}"]
    args: ["\${{ vars.port_count }}"]
`

describe('substitution', () => {
  test('a reference alone in args keeps its type; in longer text, and everywhere else, it is text', () => {
    const recipe = parseRecipe(DEVICE, FILE)
    expect(recipe.vars).toEqual({ dut: 'rack1-sw1', port_count: 48, fast: false, note: '' })
    expect(recipe.varsFrom).toEqual({ dut: 'default', port_count: 'default', fast: 'default', note: 'default' })
    expect(recipe.testMeta).toEqual({
      test_id: 'sw-rack1-sw1',
      description: 'rack1-sw1 with 48 ports',
      tags: ['rack1-sw1'],
    })
    expect(recipe.resources).toEqual(['dut:rack1-sw1'])
    const [configure, ping] = recipe.steps
    expect(configure!.params).toEqual({
      ports: 48,
      fast: false,
      label: 'rack1-sw1:48',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: $${{ is a literal var reference
      nested: { list: ['rack1-sw1', 1], literal: 'costs ${{ vars.dut }}' },
    })
    expect([configure!.resources, configure!.cacheInputs, configure!.cacheKey, configure!.description]).toEqual([
      ['port:rack1-sw1/1'],
      ['Data/rack1-sw1.cfg'],
      'rack1-sw1',
      'configure rack1-sw1',
    ])
    expect(ping!.command).toEqual(['ping', '-c', '48', 'host=rack1-sw1', ''])
    expect(ping!.params).toEqual([48])
  })

  test('a value from outside is used verbatim: quotes, $(...) and spaces stay text', () => {
    const value = `a "b" 'c' $(rm -rf /) \`x\`  \${HOME}`
    const recipe = parseRecipe(DEVICE, FILE, { vars: { env: { RECIPES_VAR_NOTE: value } } })
    expect(recipe.steps[1]!.command).toEqual(['ping', '-c', '48', 'host=rack1-sw1', value])
  })

  test('a value that makes a field invalid is refused there, saying what the field read with its vars', () => {
    expect(problems(DEVICE, { cli: { dut: 'rack 1' } })).toMatchInlineSnapshot(`
      "2 problems in this recipe:

      recipes/x.yaml:10:13 RECIPE_SCHEMA: a resource is kind:name, for example dut:rack3-sw1; with its vars it reads "dut:rack 1" (at resources[0])
        10 | resources: ["dut:\${{ vars.dut }}"]
           |             ^^^^^^^^^^^^^^^^^^^^^
        See the recipe schema (vitest-recipes/schema/recipe.schema.json) for the allowed values.

      recipes/x.yaml:16:17 RECIPE_SCHEMA: a resource is kind:name, for example dut:rack3-sw1; with its vars it reads "port:rack 1/1" (at steps[0].resources[0])
        16 |     resources: ["port:\${{ vars.dut }}/1"]
           |                 ^^^^^^^^^^^^^^^^^^^^^^^^
        See the recipe schema (vitest-recipes/schema/recipe.schema.json) for the allowed values."
    `)
  })

  test('a recipe without vars and without ${{ reads as before', () => {
    const recipe = parseRecipe('steps:\n  - { name: a, type: ts, module: m.ts, args: { x: "$HOME {{x}}" } }\n', FILE)
    expect(recipe.vars).toEqual({})
    expect(recipe.steps[0]!.params).toEqual({ x: '$HOME {{x}}' })
  })
})

describe('precedence: --var > RECIPES_VAR_<NAME> > the plugin option > the default', () => {
  const declarations = [{ name: 'dut', type: 'string' as const, default: 'd' }]
  test.each([
    [{ cli: { dut: 'c' }, env: { RECIPES_VAR_DUT: 'e' }, option: { dut: 'o' } }, 'c', 'cli'],
    [{ env: { RECIPES_VAR_DUT: 'e' }, option: { dut: 'o' } }, 'e', 'env'],
    [{ option: { dut: 'o' } }, 'o', 'option'],
    [{}, 'd', 'default'],
  ])('%j gives %s', (sources, value, from) => {
    expect(resolveVars(declarations, sources).values.get('dut')).toEqual({ value, from })
  })

  test('the environment name is RECIPES_VAR_ and the name upper-cased; --var comes down as RECIPES_CLI_VARS', () => {
    const sources = varSourcesOf(
      { port_count: 24 },
      {
        RECIPES_VAR_PORT_COUNT: '12',
        RECIPES_CLI_VARS: JSON.stringify({ port_count: '6' }),
      },
    )
    const declarations = [{ name: 'port_count', type: 'number' as const, default: 48 }]
    expect(resolveVars(declarations, sources).values.get('port_count')).toEqual({ value: 6, from: 'cli' })
    expect(resolveVars(declarations, { ...sources, cli: {} }).values.get('port_count')).toEqual({
      value: 12,
      from: 'env',
    })
  })

  test('text from outside takes the type of the default, or is refused', () => {
    expect([coerce(' 42 ', 'number'), coerce('1e3', 'number'), coerce('', 'number'), coerce('4x', 'number')]).toEqual([
      42,
      1000,
      undefined,
      undefined,
    ])
    expect([coerce('true', 'boolean'), coerce('false', 'boolean'), coerce('yes', 'boolean')]).toEqual([
      true,
      false,
      undefined,
    ])
    expect([coerce(' 007 ', 'string'), coerce(7, 'string'), coerce(true, 'number')]).toEqual([' 007 ', '7', undefined])
  })

  test('a value that does not read as its type is an error naming the var and where the value came from', () => {
    const text =
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a recipe's text
      'vars:\n  port_count: 48\nsteps:\n  - { name: a, type: ts, module: m.ts, args: { n: "${{ vars.port_count }}" } }\n'
    expect(problems(text, { cli: { port_count: 'many' } })).toMatchInlineSnapshot(`
      "recipes/x.yaml:2:3 RECIPE_VAR_VALUE: var "port_count" takes a number (its default is 48), but --var port_count=many is not one (at vars.port_count)
        2 |   port_count: 48
          |   ^^^^^^^^^^
        Give a number with --var port_count=<value>."
    `)
    expect(problems(text, { env: { RECIPES_VAR_PORT_COUNT: '4 8' } })).toMatchInlineSnapshot(`
      "recipes/x.yaml:2:3 RECIPE_VAR_VALUE: var "port_count" takes a number (its default is 48), but RECIPES_VAR_PORT_COUNT="4 8" (the environment) is not one (at vars.port_count)
        2 |   port_count: 48
          |   ^^^^^^^^^^
        Give a number in RECIPES_VAR_PORT_COUNT."
    `)
    expect(problems(text, { option: { port_count: true } })).toMatchInlineSnapshot(`
      "recipes/x.yaml:2:3 RECIPE_VAR_VALUE: var "port_count" takes a number (its default is 48), but the plugin option vars.port_count = true is not one (at vars.port_count)
        2 |   port_count: 48
          |   ^^^^^^^^^^
        Give a number in the plugin option vars.port_count."
    `)
  })
})

describe('refused at their line and column', () => {
  test('an unknown var, with a did-you-mean', () => {
    expect(
      problems(`vars:
  dut: rack1-sw1
steps:
  - name: a
    type: ts
    module: m.ts
    args: { x: "on \${{ vars.dtu }}" }
`),
    ).toMatchInlineSnapshot(`
      "recipes/x.yaml:7:20 RECIPE_UNKNOWN_VAR: "dtu" is not a var of this recipe (at steps[0].args.x)
        7 |     args: { x: "on \${{ vars.dtu }}" }
          |                    ^^^^^^^^^^^^^^^
        Did you mean "dut"?"
    `)
  })

  test('an unset var, at each use, or at its declaration when nothing uses it', () => {
    expect(
      problems(`vars:
  switch_ip: { description: address of the switch }
  port: { type: number }
resources: ["ip:\${{ vars.switch_ip }}"]
steps:
  - { name: a, type: ts, module: m.ts }
`),
    ).toMatchInlineSnapshot(`
      "2 problems in this recipe:

      recipes/x.yaml:4:17 RECIPE_UNSET_VAR: var "switch_ip" is not set: it has no default and no value was given (at resources[0])
        4 | resources: ["ip:\${{ vars.switch_ip }}"]
          |                 ^^^^^^^^^^^^^^^^^^^^^
        Give it with recipes run --var switch_ip=..., the environment variable RECIPES_VAR_SWITCH_IP or the plugin option vars, or give it a default under vars:.

      recipes/x.yaml:3:3 RECIPE_UNSET_VAR: var "port" is not set: it has no default and no value was given (at vars.port)
        3 |   port: { type: number }
          |   ^^^^
        Give it with recipes run --var port=..., the environment variable RECIPES_VAR_PORT or the plugin option vars, or give it a default under vars:."
    `)
  })

  test('expressions other than vars.NAME, and an unclosed one', () => {
    expect(
      problems(`steps:
  - name: a
    type: ts
    module: m.ts
    args: { a: "\${{ env.HOME }}", b: "\${{ vars. }}", c: "x \${{ vars.dut" }
`),
    ).toMatchInlineSnapshot(`
      "3 problems in this recipe:

      recipes/x.yaml:5:17 RECIPE_VAR_EXPRESSION: "\${{ env.HOME }}" is not a var reference: write \${{ vars.NAME }} (at steps[0].args.a)
        5 |     args: { a: "\${{ env.HOME }}", b: "\${{ vars. }}", c: "x \${{ vars.dut" }
          |                 ^^^^^^^^^^^^^^^
        Only vars can be used in \${{ }} (an environment value comes in as a var through RECIPES_VAR_<NAME>, a secret through secrets:); write $\${{ for a literal \${{.

      recipes/x.yaml:5:39 RECIPE_VAR_EXPRESSION: "\${{ vars. }}" is not a var reference: write \${{ vars.NAME }} (at steps[0].args.b)
        5 |     args: { a: "\${{ env.HOME }}", b: "\${{ vars. }}", c: "x \${{ vars.dut" }
          |                                       ^^^^^^^^^^^^
        Only vars can be used in \${{ }} (an environment value comes in as a var through RECIPES_VAR_<NAME>, a secret through secrets:); write $\${{ for a literal \${{.

      recipes/x.yaml:5:60 RECIPE_VAR_EXPRESSION: "\${{ vars.dut" has no closing }} (at steps[0].args.c)
        5 |     args: { a: "\${{ env.HOME }}", b: "\${{ vars. }}", c: "x \${{ vars.dut" }
          |                                                            ^^^^^^^^^^^^
        Only vars can be used in \${{ }} (an environment value comes in as a var through RECIPES_VAR_<NAME>, a secret through secrets:); write $\${{ for a literal \${{."
    `)
  })

  test('where vars cannot be used: step names, the scriptlet, the program, keys, other fields', () => {
    expect(
      problems(`vars: { dut: x, other: "\${{ vars.dut }}" }
steps:
  - name: "conf \${{ vars.dut }}"
    type: ts
    module: "scriptlets/\${{ vars.dut }}.ts"
    args: { "\${{ vars.dut }}": 1 }
  - { name: b, type: exec, cmd: ["\${{ vars.dut }}", x], timeout: "\${{ vars.dut }}" }
`),
    ).toMatchInlineSnapshot(`
      "6 problems in this recipe:

      recipes/x.yaml:1:25 RECIPE_VAR_NOT_ALLOWED: vars cannot be used here: a var’s default is a value, not built from other vars (at vars.other)
        1 | vars: { dut: x, other: "\${{ vars.dut }}" }
          |                         ^^^^^^^^^^^^^^^
        Write the value out; vars can be used in test_meta, resources, and in a step’s args (or params), resources, cmd arguments after the program, cache inputs, cache_key and description.

      recipes/x.yaml:3:17 RECIPE_VAR_NOT_ALLOWED: vars cannot be used here: step names are test names and stay the same in every run (-t, the VS Code explorer) (at steps[0].name)
        3 |   - name: "conf \${{ vars.dut }}"
          |                 ^^^^^^^^^^^^^^^
        Write the value out; vars can be used in test_meta, resources, and in a step’s args (or params), resources, cmd arguments after the program, cache inputs, cache_key and description.

      recipes/x.yaml:5:25 RECIPE_VAR_NOT_ALLOWED: vars cannot be used here: the scriptlet a step runs (module) stays as written (at steps[0].module)
        5 |     module: "scriptlets/\${{ vars.dut }}.ts"
          |                         ^^^^^^^^^^^^^^^
        Write the value out; vars can be used in test_meta, resources, and in a step’s args (or params), resources, cmd arguments after the program, cache inputs, cache_key and description.

      recipes/x.yaml:6:13 RECIPE_VAR_NOT_ALLOWED: vars cannot be used in a key: keys stay as written (at steps[0].args["\${{ vars.dut }}"])
        6 |     args: { "\${{ vars.dut }}": 1 }
          |             ^^^^^^^^^^^^^^^^^
        Put the value in the key's value instead; vars can be used in test_meta, resources, and in a step’s args (or params), resources, cmd arguments after the program, cache inputs, cache_key and description.

      recipes/x.yaml:7:35 RECIPE_VAR_NOT_ALLOWED: vars cannot be used here: the program a step runs stays as written; pass the value as a later cmd item or in args (at steps[1].cmd[0])
        7 |   - { name: b, type: exec, cmd: ["\${{ vars.dut }}", x], timeout: "\${{ vars.dut }}" }
          |                                   ^^^^^^^^^^^^^^^
        Write the value out; vars can be used in test_meta, resources, and in a step’s args (or params), resources, cmd arguments after the program, cache inputs, cache_key and description.

      recipes/x.yaml:7:67 RECIPE_VAR_NOT_ALLOWED: vars cannot be used here: steps[1].timeout stays as written (at steps[1].timeout)
        7 |   - { name: b, type: exec, cmd: ["\${{ vars.dut }}", x], timeout: "\${{ vars.dut }}" }
          |                                                                   ^^^^^^^^^^^^^^^
        Write the value out; vars can be used in test_meta, resources, and in a step’s args (or params), resources, cmd arguments after the program, cache inputs, cache_key and description."
    `)
  })

  test('declarations: a secret-like name, names one environment variable cannot tell apart, a default of the wrong type', () => {
    expect(
      problems(`vars:
  api_token: abc
  dut: a
  DUT: b
  n: { type: number, default: "x" }
  bad-name: 1
  list: [1]
steps:
  - { name: a, type: ts, module: m.ts }
`),
    ).toMatchInlineSnapshot(`
      "5 problems in this recipe:

      recipes/x.yaml:5:6 RECIPE_SCHEMA: var "n" is of type number, but its default "x" is a string (at vars.n)
        5 |   n: { type: number, default: "x" }
          |      ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
        Give a number default, or change "type".

      recipes/x.yaml:2:3 RECIPE_SCHEMA: var "api_token" is named like a secret: vars are recorded with the run and shown in its reports (at vars.api_token)
        2 |   api_token: abc
          |   ^^^^^^^^^
        Vars are not secrets: list the environment variable under secrets: and let the scriptlet read it from the environment.

      recipes/x.yaml:4:3 RECIPE_SCHEMA: vars "dut" and "DUT" would both be read from RECIPES_VAR_DUT (at vars.DUT)
        4 |   DUT: b
          |   ^^^
        Give vars names that differ by more than upper and lower case.

      recipes/x.yaml:6:3 RECIPE_SCHEMA: "bad-name" is not a var name (at vars["bad-name"])
        6 |   bad-name: 1
          |   ^^^^^^^^
        A var name is letters, digits and "_", not starting with a digit (it is also read from RECIPES_VAR_<NAME>).

      recipes/x.yaml:7:9 RECIPE_SCHEMA: expected a default value (text, number, true or false) or a mapping {default, type, description} (at vars.list)
        7 |   list: [1]
          |         ^^^
        See the recipe schema (vitest-recipes/schema/recipe.schema.json) for the allowed values."
    `)
  })
})
