import type { TestModule } from 'vitest/node'
import type { RecipeStepMeta } from '../../runtime/meta.ts'
import { didYouMean } from '../../recipe/did-you-mean.ts'
import { loadResumeSnapshot } from '../../store/resume.ts'
import { createRedactor } from '../../runtime/redact.ts'
import { RUN_OPTIONS_KEY, type RunOptions } from '../../runtime/spec.ts'
import { EXIT_DEPENDENCY, EXIT_FAILED, EXIT_INVALID, EXIT_OK } from '../../scriptlet/envelope.ts'
import { parseCommandArgs, splitList, UsageError } from '../args.ts'
import type { CliIo } from '../io.ts'
import { refuseResume } from '../preflight.ts'
import { findRecipeFiles, loadProject, loadRecipe, withStore } from '../project.ts'
import { planCommand } from './plan.ts'
import { refuseVarsNoneDeclares, withCliVars } from '../var-flags.ts'

export const RUN_HELP = `Usage: recipes run [files...] [options] [-- vitest options]

Runs recipes with Vitest (all recipes when no file or folder is given) and exits
0 all passed, 1 a step failed, 2 a dependency was not satisfied (a step blocked by a
--skip, or nothing to resume from), 3 an invalid recipe or option.

Options:
  --only <a,b>         Run only these steps; the steps they need run first as setup
  --skip <a,b>         Do not run these steps; steps that need their outputs are blocked
                       unless the ctx already holds them
  --resume-from <s>    Start at step s with the ctx of the last run at the end of the step
                       before it; earlier steps do not run. Secrets come back from the
                       environment; a key that cannot (a value derived at run time) stops
                       it only when a step that will run reads it, or declares no reads
  --no-cache           Run cached steps again (fresh results are still cached)
  --debug              Log each step's params and ctx diff
  --var <name=value>   Give a recipe var a value (repeatable); wins over the environment
                       (RECIPES_VAR_<NAME>), the plugin option vars and the recipe's default
  --dry-run            Print the plan instead (recipes plan; --format text|json|mermaid)
  -h, --help           Show this help

Everything after -- goes to Vitest, for example: recipes run -- --reporter=junit

Examples:
  recipes run recipes/11_resilience_controls.yaml --skip inject_failure
  recipes run recipes/11_resilience_controls.yaml --resume-from compute_metrics_v2`

const OPTIONS = {
  only: { type: 'string', multiple: true },
  skip: { type: 'string', multiple: true },
  'resume-from': { type: 'string' },
  'no-cache': { type: 'boolean' },
  debug: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  var: { type: 'string', multiple: true },
  format: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

export async function runCommand(args: string[], io: CliIo): Promise<number> {
  const split = args.indexOf('--')
  const own = split === -1 ? args : args.slice(0, split)
  const forwarded = split === -1 ? [] : args.slice(split + 1)
  const { values, positionals } = parseCommandArgs(own, OPTIONS, 'run')
  if (values.help) {
    io.stdout(`${RUN_HELP}\n`)
    return EXIT_OK
  }
  return withCliVars(values.var, () => runWithVars(own, values, positionals, forwarded, io))
}

async function runWithVars(
  own: string[],
  values: ReturnType<typeof parseCommandArgs<typeof OPTIONS>>['values'],
  positionals: string[],
  forwarded: string[],
  io: CliIo,
): Promise<number> {
  if (values['dry-run'])
    return planCommand(
      own.filter((arg) => arg !== '--dry-run'),
      io,
    )
  const project = await loadProject(io.cwd)
  const files = findRecipeFiles(project, positionals)
  if (files.length === 0)
    throw new UsageError(
      `no recipe found${positionals.length ? ` in ${positionals.join(', ')}` : ''} (recipes match ${(project.options.include ?? ['recipes/**/*.{yaml,yml}']).join(', ')})`,
    )

  const only = splitList(values.only)
  const skip = splitList(values.skip)
  const resumeFrom = values['resume-from']
  const recipes = files.map((file) => loadRecipe(project, file))
  refuseVarsNoneDeclares(values.var, recipes)
  const stepNames = new Set(recipes.flatMap((loaded) => loaded.recipe?.steps.map((step) => step.name) ?? []))
  for (const [flag, names] of [
    ['--only', only],
    ['--skip', skip],
    ['--resume-from', resumeFrom ? [resumeFrom] : []],
  ] as const) {
    const unknown = names.filter((name) => !stepNames.has(name))
    if (unknown.length === 0) continue
    const suggestion = didYouMean(unknown[0]!, stepNames)
    throw new UsageError(
      `${flag}: no selected recipe has a step named ${unknown.map((name) => `"${name}"`).join(', ')}${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
    )
  }
  if (resumeFrom !== undefined) {
    for (const loaded of recipes) {
      const steps = loaded.recipe?.steps ?? []
      const index = steps.findIndex((step) => step.name === resumeFrom)
      if (index === -1) continue
      // A matrix recipe resumes each combination from its own last run.
      for (const combination of loaded.recipe!.matrix?.combinations ?? [{}]) {
        // A secret value is masked as the store keeps it, and in what is said.
        const mask = createRedactor([...loaded.recipe!.secrets, ...(project.options.secrets ?? [])]).text
        const snapshot = await withStore(project, (store) =>
          loadResumeSnapshot(store, loaded.file, steps[index - 1]?.name, undefined, process.env, combination, mask),
        )
        const refused = await refuseResume(project, loaded.recipe!, snapshot, index, skip)
        if (refused !== undefined) {
          io.stderr(`recipes: cannot resume from "${resumeFrom}": ${refused}\n`)
          return EXIT_DEPENDENCY
        }
      }
    }
  }

  // A store that cannot be opened (damaged, read-only) stops the run here with exit 3, before any step fails on it.
  await withStore(project, async () => undefined)
  const runOptions: RunOptions = {
    skip,
    noCache: values['no-cache'] ?? false,
    debug: values.debug ?? false,
    ...(resumeFrom ? { resumeFrom } : {}),
  }
  const { parseCLI, startVitest } = await import('vitest/node')
  const vitestArgs = parseCLI(['vitest', ...forwarded])
  const vitest = await startVitest('test', [...files, ...vitestArgs.filter], {
    ...vitestArgs.options,
    root: project.root,
    watch: false,
    run: true,
    // A matrix combination's steps are named after its group's (`dut=rack1-sw2 configure`): any combination's.
    ...(only.length
      ? { testNamePattern: `^(?:[A-Za-z_][A-Za-z0-9_]*=.* )?(?:${only.map(escapeRegExp).join('|')})$` }
      : {}),
    provide: { [RUN_OPTIONS_KEY]: runOptions } as never,
  })
  await vitest.close()
  return exitCodeOf(vitest.state.getTestModules())
}

/**
 * 3 when a recipe could not compile, else 1 when a step failed (or Vitest reported an
 * error), else 2 when a step was blocked by a skipped one, else 0.
 */
function exitCodeOf(modules: TestModule[]): number {
  let code = EXIT_OK
  for (const module of modules) {
    if (module.errors().some((error) => error.name === 'RecipeError')) return EXIT_INVALID
    if (module.state() === 'failed') code = EXIT_FAILED
    for (const test of module.children.allTests()) {
      const meta = (test.meta() as { recipeStep?: RecipeStepMeta }).recipeStep
      if (test.result().state === 'failed') code = EXIT_FAILED
      else if (code === EXIT_OK && meta?.status === 'blocked' && meta.blockedReason === 'skipped')
        code = EXIT_DEPENDENCY
    }
  }
  return code
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
