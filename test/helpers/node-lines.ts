import path from 'node:path';

/** One declared Node.js line as scripts/node-lines.cjs lists it. */
export interface DeclaredNodeLine {
  readonly line: number;
  /** Lowest release of the line that package.json's engines range admits. */
  readonly minimum: string;
  /** Exact release the tests run when the line is not the running node. */
  readonly pinned: string;
  /** Whether a running release of this line (at or above `minimum`) replaces the pin. */
  readonly acceptRunning: boolean;
}

/** A runtime ready to run: `node` is the path of its binary. */
export interface NodeRuntime {
  line: number;
  version: string;
  node: string;
}

interface NodeLinesScript {
  DECLARED_LINES: readonly DeclaredNodeLine[];
  ensureNodeLines(): Promise<NodeRuntime[]>;
  enginesRange(): string;
}

export const nodeLinesScript = path.resolve(__dirname, '../../scripts/node-lines.cjs');

// A plain CommonJS script with no declarations: the interface above is its type.
const script = require(nodeLinesScript) as NodeLinesScript;

export const declaredNodeLines: readonly DeclaredNodeLine[] = script.DECLARED_LINES;

/** The runtime of every declared line, installing missing ones into the cache first. */
export function nodeLines(): Promise<NodeRuntime[]> {
  return script.ensureNodeLines();
}

/** The package.json `engines.node` range the declared lines add up to. */
export function declaredEnginesRange(): string {
  return script.enginesRange();
}
