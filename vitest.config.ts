import { defineConfig } from 'vitest/config'
import recipes from './plugin/index.ts'

export default defineConfig({
  plugins: [recipes()],
  test: {
    include: ['tests/**/*.test.ts'],
  },
})
