import fs from 'node:fs';
import net from 'node:net';

/**
 * Who holds a loopback port the local stack wants to listen on. A server that answers as the
 * expected one is reused before this is asked; this names anything else, so the message says
 * which process to stop instead of a broker timing out 90 s later.
 */
export interface PortHolder {
  port: number;
  /** `pid 1234 (python3 -m http.server 9092)`, or a vaguer phrase when the process cannot be seen. */
  description: string;
}

/** True when nothing listens on `host:port` (a bind there succeeds). */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Undefined when the port is free; otherwise the process listening on it, as far as it can be seen. */
export async function portHolder(port: number, host = '127.0.0.1'): Promise<PortHolder | undefined> {
  if (await isPortFree(port, host)) return undefined;
  const pid = listeningPid(port);
  if (pid === undefined) return { port, description: 'another process (not visible to this user)' };
  return { port, description: `pid ${pid} (${commandLine(pid)})` };
}

/** Linux: the listening socket's inode from /proc/net/tcp*, then the process with that inode open. */
function listeningPid(port: number): number | undefined {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue; // not Linux, or no IPv6
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      // st 0A = LISTEN
      if (!local || fields[3] !== '0A') continue;
      if (Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port && fields[9]) inodes.add(fields[9]);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const entry of safeReaddir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    for (const fd of safeReaddir(`/proc/${entry}/fd`)) {
      let target: string;
      try {
        target = fs.readlinkSync(`/proc/${entry}/fd/${fd}`);
      } catch {
        continue;
      }
      const match = /^socket:\[(\d+)\]$/.exec(target);
      if (match?.[1] && inodes.has(match[1])) return Number(entry);
    }
  }
  return undefined;
}

function commandLine(pid: number): string {
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
    return cmd.length > 120 ? `${cmd.slice(0, 117)}...` : cmd || 'unknown command';
  } catch {
    return 'unknown command';
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}
