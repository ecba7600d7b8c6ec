// The layers of src/, top to bottom: a module may import from its own folder and from folders of a lower
// rank, never from a higher or an equal one. docs/architecture.md explains what each layer holds. `npm test`
// runs this check (npm run lint:deps); a change that needs an arrow against it belongs in another layer.
const LAYERS = [
  ['cli'],
  ['app'],
  ['ssh', 'control', 'demo', 'identity'],
  ['session'],
  ['proxy'],
  ['plugins', 'store'],
  ['config'],
  ['target', 'ssh2x'],
  ['log'],
  ['core'],
];

// src/app.ts is the one top-level file: its "folder" is app.
const folderOf = (name) => (name === 'app' ? 'src/app\\.ts$' : `src/${name}/`);

const layerRules = LAYERS.flatMap((layer, rank) => layer.flatMap((name) => {
  const forbidden = LAYERS.slice(0, rank + 1).flat().filter((other) => other !== name);
  if (forbidden.length === 0) return [];
  return [{
    name: `layer-${name}`,
    comment: `${name} may import only from lower layers (${LAYERS.slice(rank + 1).flat().join(', ') || 'none'})`,
    severity: 'error',
    from: { path: `^${folderOf(name)}` },
    to: { path: `^(${forbidden.map(folderOf).join('|')})` },
  }];
}));

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'no-circular',
      comment: 'no import cycles (type-only imports may point back within a folder: a class and its interfaces)',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'no-unknown-folder',
      comment: 'every source file lives in one of the layers above',
      severity: 'error',
      from: { path: '^src/', pathNot: `^(${LAYERS.flat().map(folderOf).join('|')})` },
      to: {},
    },
    {
      name: 'ssh2-internals-only-in-ssh2x',
      comment: "only src/ssh2x/internals.ts reaches into ssh2's private modules",
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/ssh2x/internals\\.ts$' },
      to: { path: 'node_modules/ssh2/lib/', pathNot: 'node_modules/ssh2/lib/index\\.js$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
    includeOnly: '^(src/|node_modules/ssh2/lib/)',
  },
};
