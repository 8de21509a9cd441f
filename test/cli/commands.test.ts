import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { commands } from '../../src/cli/commands.ts';

describe('command registry', () => {
  it('loads every command, whose spec has the listed name and summary', async () => {
    for (const entry of commands) {
      const spec = await entry.load();
      assert.equal(spec.name, entry.name);
      assert.equal(spec.summary, entry.summary, `summary of ${entry.name} differs from its spec`);
    }
  });

  it('has unique names', () => {
    const names = commands.map((c) => c.name);
    assert.equal(new Set(names).size, names.length);
  });
});
