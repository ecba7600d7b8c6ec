// node --test reporter: prints nothing while the tests run, then every failure with its error and where
// it happened, so the end of a long CI log says what broke (TAP alone buries it in the middle).
import { inspect } from 'node:util';

export default async function* failureSummary(source) {
  const failures = [];
  for await (const event of source) {
    if (event.type !== 'test:fail') continue;
    const { name, file, details } = event.data;
    const error = details?.error;
    // A test cancelled because its suite failed says nothing new; its suite's failure is listed.
    if (error?.failureType === 'cancelledByParent') continue;
    failures.push({ name, file, error });
  }
  if (failures.length === 0) return;
  yield `\n# ${failures.length} failure(s):\n`;
  for (const f of failures) {
    const cause = f.error?.cause ?? f.error;
    yield `\n✖ ${f.name}${f.file ? ` (${f.file})` : ''}\n${inspect(cause, { depth: 4 }).replace(/^/gm, '    ')}\n`;
  }
}
