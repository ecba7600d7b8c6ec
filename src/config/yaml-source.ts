import yaml from 'js-yaml';

// Parses YAML with js-yaml and remembers where every node starts, so that a schema error on a key path such
// as policies.0.target_auth.method can name the line it came from. js-yaml reports 'open'/'close' events for
// every node it composes (its `listener` option); mappings list their children as key, value, key, value.

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
    throw new YamlSyntaxError(e.reason ?? e.message, e.mark ? e.mark.line + 1 : undefined);
  }

  const lineAt = (pos: number): number => {
    let line = 1;
    for (let i = 0; i < pos && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
    return line;
  };

  return {
    value,
    lineOf(path) {
      let node = root;
      let best: number | undefined = root ? lineAt(root.pos) : undefined;
      for (const seg of path) {
        if (!node) break;
        if (node.kind === 'mapping') {
          let next: Node | undefined;
          for (let i = 0; i + 1 < node.children.length; i += 2) {
            const key = node.children[i]!;
            if (String(key.result) === String(seg)) {
              best = lineAt(key.pos);
              next = node.children[i + 1];
              break;
            }
          }
          if (!next) break;
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
