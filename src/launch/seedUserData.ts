/**
 * The `user-data` of an instance's NoCloud seed. Without anything Ferry must add it is the launch's user data, byte
 * for byte. With one shell script to add and no user data of the launch's own (USERDATA validations alone, the
 * usual case) it is that script itself: cloud-init runs a `#!` user-data in the same scripts-user stage as a part,
 * and a guest need not split a MIME message first (under software emulation each program a small guest's /init
 * runs to split one costs tens of milliseconds, between its boot and its validation result). Otherwise it is a
 * MIME multipart message — cloud-init's own way of combining several parts — in this order:
 *
 *   1. the launch's user data, unchanged (base64 in transit; its content type as cloud-init would detect it, so a
 *      `#cloud-config` stays cloud-config and a `#!` script stays a script; a MIME message is nested as it is);
 *   2. `zzz-ferry-1-configure-script`: runs the configure script (configureScript.ts);
 *   3. `zzz-ferry-2-validation`: runs the validation scripts and prints their results (validationWrapper.ts).
 *
 * cloud-init runs a multipart's shell parts in its scripts-user stage in the byte order of their file names; the
 * `zzz-ferry-` names sort after cloud-init's own `part-NNN` names and after the names people usually give theirs, so
 * the configure script runs after the user data, and the validations after both (they check what those set up).
 * The sample guests' /init runs the same parts in order (src/agent/sample/guestInit.ts).
 */
import { randomBytes } from 'node:crypto';

export interface SeedPart {
  filename: string;
  contentType: string;
  body: Buffer;
}

export const CONFIGURE_PART = 'zzz-ferry-1-configure-script';
export const VALIDATION_PART = 'zzz-ferry-2-validation';

/** cloud-init's content types by the first line of user data (its `find_ctype`), and gzip by its magic bytes. */
const STARTS = [
  ['#!', 'text/x-shellscript'],
  ['#cloud-config-archive', 'text/cloud-config-archive'],
  ['#cloud-config', 'text/cloud-config'],
  ['#cloud-boothook', 'text/cloud-boothook'],
  ['#include-once', 'text/x-include-once-url'],
  ['#include', 'text/x-include-url'],
  ['#part-handler', 'text/part-handler'],
  ['#upstart-job', 'text/upstart-job'],
  ['## template: jinja', 'text/jinja2'],
] as const;

/** True when the bytes are already a MIME message (cloud-init reads them as one). */
export function isMimeMessage(data: Buffer): boolean {
  const head = data.subarray(0, 1024).toString('latin1');
  return /^(content-type|mime-version):/i.test(head);
}

export function userDataContentType(data: Buffer): string {
  if (data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b) return 'application/x-gzip';
  const head = data.subarray(0, 64).toString('latin1');
  for (const [start, type] of STARTS) if (head.startsWith(start)) return type;
  return 'text/plain';
}

function base64Lines(data: Buffer): string {
  return (data.toString('base64').match(/.{1,76}/g) ?? []).join('\n');
}

/**
 * The seed's user-data: `userData` as is when there is nothing to add, the one script to add when there is no user
 * data, else the multipart described above. `boundary` is random unless given (tests).
 */
export function seedUserData(userData: Buffer | null, added: readonly SeedPart[], boundary = `==FERRY-${randomBytes(12).toString('hex')}==`): Buffer {
  if (added.length === 0) return userData ?? Buffer.alloc(0);
  const only = added.length === 1 ? added[0]! : undefined;
  if ((userData === null || userData.length === 0) && only?.contentType === 'text/x-shellscript' && only.body.subarray(0, 2).toString('latin1') === '#!') return only.body;
  if (!/^[A-Za-z0-9=_-]{1,70}$/.test(boundary)) throw new Error('bad MIME boundary');
  const sections: string[] = [];
  if (userData && userData.length > 0) {
    if (isMimeMessage(userData)) {
      // A message of the user's own: nested as its own entity (headers, blank line, body). Its boundary is not ours.
      if (userData.includes(`--${boundary}`)) throw new Error('the user data contains the MIME boundary chosen for it');
      sections.push(userData.toString('latin1').replace(/\r?\n$/, ''));
    } else {
      sections.push(part({ filename: 'part-001', contentType: userDataContentType(userData), body: userData }));
    }
  }
  for (const p of added) sections.push(part(p));
  const text = [`Content-Type: multipart/mixed; boundary="${boundary}"`, 'MIME-Version: 1.0', '', ...sections.map((s) => `--${boundary}\n${s}`), `--${boundary}--`, ''].join('\n');
  return Buffer.from(text, 'latin1');
}

function part(p: SeedPart): string {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(p.filename)) throw new Error(`bad part file name ${p.filename}`);
  return [
    `Content-Type: ${p.contentType}; charset="utf-8"`,
    'MIME-Version: 1.0',
    'Content-Transfer-Encoding: base64',
    `Content-Disposition: attachment; filename="${p.filename}"`,
    '',
    base64Lines(p.body),
  ].join('\n');
}
