/**
 * Counts this process's open TCP connections to a port, from /proc (Linux): how many
 * connections a client really holds, whatever its pool says about itself.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** TCP states that hold a connection: ESTABLISHED and SYN_SENT (being opened). */
const OPEN_STATES = new Set(['01', '02']);

export function connectionsTo(port: number): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (match) inodes.add(match[1]!);
    } catch {
      // the descriptor closed while the directory was listed
    }
  }
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  let count = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let lines: string[];
    try {
      lines = readFileSync(table, 'utf8').split('\n').slice(1);
    } catch {
      continue; // no IPv6 table on this machine
    }
    for (const line of lines) {
      const fields = line.trim().split(/\s+/);
      // sl, local_address, rem_address, st, tx:rx, tr:when, retrnsmt, uid, timeout, inode
      if (fields.length < 10) continue;
      const remotePort = fields[2]!.split(':')[1];
      if (remotePort === portHex && OPEN_STATES.has(fields[3]!) && inodes.has(fields[9]!)) count += 1;
    }
  }
  return count;
}
