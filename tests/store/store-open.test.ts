import { expect, test } from 'vitest'
import { MIGRATIONS, SCHEMA_VERSION } from '../../plugin/store/store-open.ts'

test('every SQLite migration only adds tables, indexes and columns: a store is completed from what it lacks of them', () => {
  const adding = /^(CREATE TABLE \w+ \(|CREATE (UNIQUE )?INDEX \w+ ON |ALTER TABLE \w+ ADD COLUMN )/i
  for (let version = 1; version <= SCHEMA_VERSION; version++) {
    const statements = MIGRATIONS[version]!.split(';')
      .map((statement) => statement.replace(/\s+/g, ' ').trim())
      .filter(Boolean)
    expect(statements.length, `migration ${version}`).toBeGreaterThan(0)
    for (const statement of statements) expect(statement, `migration ${version}`).toMatch(adding)
  }
})
