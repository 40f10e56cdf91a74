/**
 * Named points where a crash test can intervene (`consumer.before-offset-commit`,
 * `outbox.after-ack`, …). The library only calls the hook; nothing happens unless a test
 * harness installed one (the CLI does, from `TIDINGS_FAULT`, see src/cli/fault-hook.ts).
 */
export type FaultHook = (point: string) => void;

let hook: FaultHook | undefined;

/** Installs (or with `undefined` removes) the process's fault hook. */
export function setFaultHook(next: FaultHook | undefined): void {
  hook = next;
}

export function faultPoint(name: string): void {
  hook?.(name);
}
