import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Tests run compiled from build/test; fixtures and shipped files live in the source tree.

function findRoot(): string {
  for (let d = dirname(fileURLToPath(import.meta.url)); ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json')) && existsSync(join(d, 'src'))) return d;
    if (dirname(d) === d) throw new Error('repository root not found');
  }
}

export const ROOT = findRoot();
export const FIXTURES = join(ROOT, 'test', 'fixtures');
export const ASKPASS = join(FIXTURES, 'askpass.sh');
/** The `gatehouse` command as the test build compiled it (npm test builds into build/). */
export const CLI = join(ROOT, 'build', 'src', 'cli', 'main.js');
