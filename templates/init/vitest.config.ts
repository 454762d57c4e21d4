import { defineConfig } from 'vitest/config'
import recipes from 'vitest-recipes'

// Every recipes/**/*.yaml becomes a test file: one test per step, sharing one ctx.
// Run them with `npx vitest run recipes/`; reports go to reports/<run_id>/.
export default defineConfig({
  plugins: [recipes()],
})
