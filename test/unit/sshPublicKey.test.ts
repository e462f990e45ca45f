/** OpenSSH public keys for `ferry key-pairs import` (domain/sshPublicKey.ts), checked against ssh-keygen's own. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSshPublicKey, PublicKeyError } from '../../src/domain/sshPublicKey.ts';

const SSH_KEYGEN = '/usr/bin/ssh-keygen';
const noKeygen = existsSync(SSH_KEYGEN) ? false : `${SSH_KEYGEN} is not installed (Debian openssh-client)`;
let dir = '';
before(() => void (dir = mkdtempSync(join(tmpdir(), 'ferry-sshkey-'))));
after(() => rmSync(dir, { recursive: true, force: true }));

function keygen(type: string, bits?: number): { line: string; fingerprint: string } {
  const file = join(dir, `${type}-${bits ?? 0}`);
  execFileSync(SSH_KEYGEN, ['-q', '-t', type, ...(bits ? ['-b', String(bits)] : []), '-N', '', '-C', 'ops@example', '-f', file]);
  const fingerprint = execFileSync(SSH_KEYGEN, ['-l', '-E', 'sha256', '-f', `${file}.pub`], { encoding: 'utf8' }).split(' ')[1]!;
  return { line: readFileSync(`${file}.pub`, 'utf8'), fingerprint };
}

test('ED25519, RSA and ECDSA keys made by ssh-keygen: accepted, same fingerprint as ssh-keygen -l', { skip: noKeygen }, () => {
  for (const [type, bits, keyType] of [['ed25519', undefined, 'ed25519'], ['rsa', 2048, 'rsa'], ['ecdsa', 256, 'ecdsa'], ['ecdsa', 521, 'ecdsa']] as const) {
    const made = keygen(type, bits);
    const parsed = parseSshPublicKey(made.line);
    assert.equal(parsed.keyType, keyType);
    assert.equal(parsed.fingerprint, made.fingerprint, `${type} ${bits ?? ''}`);
    assert.equal(parsed.line, made.line.trim());
  }
});

/** An ssh-rsa line for a key of `bits` bits, encoded by hand (ssh-keygen refuses to make weak ones). */
function rsaLine(bits: number): string {
  const jwk = generateKeyPairSync('rsa', { modulusLength: bits }).publicKey.export({ format: 'jwk' }) as { n: string; e: string };
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, (b.length >> 8) & 255, b.length & 255]), b]);
  const mpint = (b64: string) => {
    const raw = Buffer.from(b64, 'base64url');
    return str(raw[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), raw]) : raw);
  };
  return `ssh-rsa ${Buffer.concat([str(Buffer.from('ssh-rsa')), mpint(jwk.e), mpint(jwk.n)]).toString('base64')}`;
}

test('RSA below 1024 bits is refused; 1024 is accepted', () => {
  assert.throws(() => parseSshPublicKey(rsaLine(512)), (e: unknown) => e instanceof PublicKeyError && /at least 1024 bits; this one has 512/.test(e.message));
  assert.equal(parseSshPublicKey(rsaLine(1024)).keyType, 'rsa');
});

const sshString = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
/** An ssh-ed25519 line whose key is `key` (normally 32 bytes). */
const edLine = (key: Buffer) => `ssh-ed25519 ${Buffer.concat([sshString(Buffer.from('ssh-ed25519')), sshString(key)]).toString('base64')}`;

test('what is not one public key line is refused with a reason', () => {
  const ed = edLine(Buffer.alloc(32, 7));
  const cases: [string, RegExp][] = [
    ['', /exactly one/],
    [`${ed}\n${ed}`, /exactly one/],
    ['-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----', /exactly one|unsupported key type/],
    ['ssh-dss AAAAB3NzaC1kc3M=', /unsupported key type "ssh-dss"/],
    ['ssh-ed25519 not*base64', /not base64/],
    [`ssh-rsa ${ed.split(' ')[1]}`, /is a ssh-ed25519 key, not ssh-rsa/],
    [edLine(Buffer.alloc(16, 7)), /32 bytes/],
    [ed.slice(0, 40), /truncated/],
    ['x'.repeat(20000), /at most/],
  ];
  for (const [text, reason] of cases) assert.throws(() => parseSshPublicKey(text), (e: unknown) => e instanceof PublicKeyError && reason.test(e.message), text.slice(0, 40));
});

test('comments and blank lines around the key are fine', () => {
  const ed = edLine(Buffer.alloc(32, 9));
  const parsed = parseSshPublicKey(`# my key\n\n${ed}   me@host  \n`);
  assert.equal(parsed.line, `${ed} me@host`);
});
