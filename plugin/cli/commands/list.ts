import { EXIT_INVALID, EXIT_OK } from '../../scriptlet/envelope.ts'
import { parseCommandArgs } from '../args.ts'
import { type CliIo, maskedIo } from '../io.ts'
import { findRecipeFiles, loadProject, loadRecipe } from '../project.ts'
import { combinationLabels } from '../../recipe/matrix.ts'
import { createRedactor } from '../../runtime/redact.ts'

export const LIST_HELP = `Usage: recipes list [files or folders...] [--json]

Lists the recipes (all of them when none is given) and their steps in execution order.

Options:
  --json       Print JSON instead of text
  -h, --help   Show this help`

export async function listCommand(args: string[], given: CliIo): Promise<number> {
  let io = given
  const { values, positionals } = parseCommandArgs(
    args,
    { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    'list',
  )
  if (values.help) {
    io.stdout(`${LIST_HELP}\n`)
    return EXIT_OK
  }
  const project = await loadProject(io.cwd)
  const recipes = findRecipeFiles(project, positionals).map((file) => loadRecipe(project, file))
  // A combination's values may be a secret's: masked in all the list says.
  const mask = createRedactor([
    ...recipes.flatMap(({ recipe, draft }) => (recipe ?? draft)?.secrets ?? []),
    ...(project.options.secrets ?? []),
  ]).text
  io = maskedIo(given, mask)
  if (values.json) {
    const listed = recipes.map(({ file, recipe, issues }) => ({
      file,
      testId: recipe?.testMeta.test_id,
      description: recipe?.testMeta.description,
      valid: issues.length === 0,
      ...(recipe?.matrix ? { matrix: recipe.matrix.combinations } : {}),
      steps:
        recipe?.steps.map((step) => ({
          idx: step.idx,
          name: step.name,
          type: step.type,
          needs: step.needs,
          line: step.locations.step.line,
        })) ?? [],
    }))
    io.stdout(`${JSON.stringify(listed, null, 2)}\n`)
  } else {
    for (const { file, recipe, issues } of recipes) {
      io.stdout(
        `${file}${recipe ? ` — ${recipe.testMeta.test_id}${recipe.testMeta.description ? `: ${recipe.testMeta.description}` : ''}` : ''}\n`,
      )
      const matrix = recipe?.matrix
      // A matrix recipe runs its steps once per combination.
      if (matrix)
        io.stdout(
          `  matrix: ${matrix.combinations.length} combinations, ${matrix.parallel} side by side: ${combinationLabels(matrix.combinations, mask).join(' | ')}\n`,
        )
      for (const step of recipe?.steps ?? [])
        io.stdout(`  ${String(step.idx).padStart(3)} ${step.name.padEnd(28)} ${step.type}\n`)
      if (issues.length) io.stdout(`  invalid: ${issues.length} problem(s); see recipes validate ${file}\n`)
    }
  }
  return recipes.some((loaded) => loaded.issues.length > 0) ? EXIT_INVALID : EXIT_OK
}
