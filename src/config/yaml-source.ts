import yaml from 'js-yaml';

// Parses YAML with js-yaml and remembers where every node starts, so that a schema error on a key path such
// as policies.0.target_auth.method can name the line it came from. js-yaml reports 'open'/'close' events for
// every node it composes (its `listener` option); mappings list their children as key, value, key, value.
// Looking a line up costs a binary search over the line starts and one map lookup per path segment, so that
// formatting thousands of errors stays linear in the file size (a SIGHUP must not stall live sessions).

export type KeyPath = readonly (string | number)[];

interface Node {
  readonly pos: number;
  kind?: string;
  result?: unknown;
  readonly children: Node[];
}

export interface ParsedYaml {
  readonly value: unknown;
  /** 1-based line of the key or item at `path`, or of its nearest ancestor that exists. */
  lineOf(path: KeyPath): number | undefined;
}

export class YamlSyntaxError extends Error {
  constructor(message: string, readonly line: number | undefined) {
    super(message);
  }
}

export function parseYaml(text: string, filename: string): ParsedYaml {
  const stack: Node[] = [];
  let root: Node | undefined;
  let value: unknown;
  try {
    value = yaml.load(text, {
      filename,
      schema: yaml.CORE_SCHEMA, // YAML 1.2: no timestamps, no merge keys, "no" stays a string
      json: false,
      listener(event, state) {
        if (event === 'open') {
          stack.push({ pos: state.position, children: [] });
          return;
        }
        const node = stack.pop();
        if (!node) return;
        node.kind = state.kind ?? undefined;
        node.result = state.result;
        const parent = stack[stack.length - 1];
        if (parent) parent.children.push(node);
        else root = node;
      },
    });
  } catch (err) {
    const e = err as { reason?: string; mark?: { line: number }; message: string };
    throw new YamlSyntaxError(e.reason ?? e.message, e.mark ? e.mark.line + 1 : secondDocumentLine(text));
  }

  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  const lineAt = (pos: number): number => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  // Key -> index of the key among a mapping's children, built on the first lookup in that mapping.
  const keyIndex = new Map<Node, Map<string, number>>();
  const indexOf = (node: Node, key: string): number | undefined => {
    let m = keyIndex.get(node);
    if (!m) {
      m = new Map();
      for (let i = 0; i + 1 < node.children.length; i += 2) {
        const k = String(node.children[i]!.result);
        if (!m.has(k)) m.set(k, i);
      }
      keyIndex.set(node, m);
    }
    return m.get(key);
  };

  return {
    value,
    lineOf(path) {
      let node = root;
      let best: number | undefined = root ? lineAt(root.pos) : undefined;
      for (const seg of path) {
        if (!node) break;
        if (node.kind === 'mapping') {
          const i = indexOf(node, String(seg));
          const next = i === undefined ? undefined : node.children[i + 1];
          if (i === undefined || !next) break;
          best = lineAt(node.children[i]!.pos);
          node = next;
        } else if (node.kind === 'sequence' && typeof seg === 'number') {
          const item = node.children[seg];
          if (!item) break;
          best = lineAt(item.pos);
          node = item.kind === undefined || (item.children.length === 1 && item.children[0]!.result === item.result)
            ? (item.children[0] ?? item)
            : item;
        } else {
          break;
        }
      }
      return best;
    },
  };
}

/** js-yaml reports "more than one document" without a position: the line where the second one starts. */
function secondDocumentLine(text: string): number | undefined {
  const lines = text.split('\n');
  const markers = lines.flatMap((l, i) => (/^---(\s|$)/.test(l) ? [i + 1] : []));
  const firstContent = lines.findIndex((l) => l.trim() !== '' && !l.trimStart().startsWith('#') && !l.startsWith('%'));
  const explicitFirst = firstContent >= 0 && markers[0] === firstContent + 1;
  return explicitFirst ? markers[1] : markers[0];
}
