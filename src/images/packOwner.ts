/**
 * Who is appending to an open pack: `host|pid|token`. A pack whose owner is gone (killed, crashed) is recovered by
 * the next writer on that host; packs of other hosts are left to them. The token tells apart two stores opened in
 * one process (tests drop a store without closing it to simulate a crash).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

const liveTokens = new Set<string>();

export function newPackOwner(): { owner: string; release(): void } {
  const token = randomBytes(6).toString('hex');
  liveTokens.add(token);
  return { owner: `${hostname()}|${process.pid}|${token}`, release: () => liveTokens.delete(token) };
}

/** Forgets this process's live owners without closing them: what a kill -9 does to the real thing. */
export function simulateCrashOfLocalOwners(): void {
  liveTokens.clear();
}

export function packOwnerAlive(owner: string): boolean {
  const [host, pidText, token] = owner.split('|');
  if (host !== hostname()) return true; // cannot tell from here
  const pid = Number(pidText);
  if (pid === process.pid) return token !== undefined && liveTokens.has(token);
  try {
    process.kill(pid, 0);
    return true;
  } catch (thrown) {
    return (thrown as NodeJS.ErrnoException).code === 'EPERM';
  }
}
