/**
 * Do Ferry's two hand-written fast paths still pay for themselves? Each is timed against the general path it
 * replaced, in the bench's own process, on the same input (issue 12 item 8):
 *
 * - SigV4: protocol/sigv4.ts recomputes an SMS request's signature with node:crypto and a cached signing key; the
 *   general path is the AWS SDK's signer (@smithy/signature-v4) computing the same signature.
 * - GetReplicationJobs: operations/jobPageJson.ts writes the page's JSON straight from one joined query's rows;
 *   the general path maps the rows to the SDK's shapes (mappedJobPage) and serialises them (encodeBody). And a page
 *   asked again while nothing committed (its rows kept by the store, its text by the operation) against the same
 *   page read and written anew.
 *
 * Their equivalence is tested elsewhere (test/unit/sigv4.test.ts, test/unit/jobPageEncoding.test.ts).
 */
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import { verifySigV4, type SignedRequest } from '../src/protocol/sigv4.ts';
import { encodedJobPage, mappedJobPage } from '../src/operations/getReplicationJobs.ts';
import { encodeBody } from '../src/protocol/awsJson.ts';
import { fingerprintOf } from '../src/core/paginate.ts';
import type { Core } from '../src/core/context.ts';
import type { Tenant } from '../src/domain/tenant.ts';

export interface FastPathFigure {
  name: string;
  /** µs per request on the fast path and on the general one. */
  fastUs: number;
  generalUs: number;
}

/** Rounds each path is timed in; the figure is a path's median round (the machine is shared: one slow round is noise). */
const ROUNDS = 5;

/**
 * µs per call of each path: after a warm-up of each (JIT, statement caches, memo), ROUNDS rounds in which every path
 * runs `calls / ROUNDS` calls, in an order that rotates each round, so that a burst of load elsewhere on the machine
 * falls on every path alike instead of on whichever ran at that moment. Each path's median round.
 */
async function timeInRounds(calls: number, paths: readonly (() => Promise<unknown>)[]): Promise<number[]> {
  for (const fn of paths) for (let i = 0; i < Math.min(200, calls); i++) await fn();
  const perRound = Math.max(1, Math.round(calls / ROUNDS));
  const rounds: number[][] = paths.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < paths.length; k++) {
      const index = (k + round) % paths.length;
      const started = performance.now();
      for (let i = 0; i < perRound; i++) await paths[index]!();
      rounds[index]!.push(((performance.now() - started) * 1000) / perRound);
    }
  }
  return rounds.map((times) => times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!);
}

export async function measureSigV4(calls = 3000): Promise<FastPathFigure> {
  const keys = { accessKeyId: 'AKIAFERRYBENCHSIGV41', secretAccessKey: 'bench/sigv4/secret/0123456789abcdefghij' };
  const signer = new SignatureV4({ credentials: keys, region: 'us-east-1', service: 'sms', sha256: Hash.bind(null, 'sha256') });
  const now = Date.now();
  const body = Buffer.from(JSON.stringify({ maxResults: 50 }));
  const unsigned = {
    method: 'POST',
    protocol: 'http:',
    hostname: '127.0.0.1',
    port: 7676,
    path: '/',
    query: {},
    headers: { host: '127.0.0.1:7676', 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSServerMigrationService_V2016_10_24.GetReplicationJobs' },
    body,
  };
  const signed = await signer.sign(unsigned, { signingDate: new Date(now) });
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers)) headers[name.toLowerCase()] = String(value);
  const request: SignedRequest = { method: 'POST', url: '/', headers, body };
  const lookup = async (id: string) => (id === keys.accessKeyId ? { secretAccessKey: keys.secretAccessKey, accountId: '123456789012' } : undefined);
  const [fastUs, generalUs] = await timeInRounds(calls, [() => verifySigV4(request, lookup, now, 'sms'), () => signer.sign(unsigned, { signingDate: new Date(now) })]);
  return { name: 'SigV4 check of an SMS request', fastUs, generalUs };
}

/**
 * The page is timed at ever other positions (nextTokens to 400 different sequences, more than the store keeps), so
 * neither path is served a result kept from an unchanged database (store/sqlite/unchangedReads.ts); what that
 * saves is the third figure: the same page asked again, against the page read and written anew.
 */
export async function measureJobPage(core: Core, tenant: Tenant, calls = 400): Promise<FastPathFigure[]> {
  const fingerprint = fingerprintOf('GetReplicationJobs', tenant, null);
  const seqs = (await core.db.selectFrom('jobs').select('seq').where('account_id', '=', tenant.accountId).where('region', '=', tenant.region).orderBy('seq').execute()).map((r) => r.seq);
  const positions = Math.max(1, Math.min(calls, seqs.length - 50));
  const tokens = Array.from({ length: positions }, (_, i) => Buffer.from(JSON.stringify({ v: 1, s: seqs[i]!, f: fingerprint })).toString('base64url'));
  let next = 0;
  const token = () => tokens[next++ % tokens.length];
  // A first pass over every position on each path: the per-job text memo and the statement caches are warm in both.
  for (let i = 0; i < tokens.length; i++) {
    await encodedJobPage({ core, tenant }, { nextToken: token() });
    await mappedJobPage({ core, tenant }, { nextToken: token() });
  }
  const [fastUs, generalUs, keptUs] = await timeInRounds(calls, [
    async () => (await encodedJobPage({ core, tenant }, { nextToken: token() })).text,
    async () => encodeBody(await mappedJobPage({ core, tenant }, { nextToken: token() })),
    async () => (await encodedJobPage({ core, tenant }, {})).text,
  ]);
  return [
    { name: 'GetReplicationJobs page of 50', fastUs, generalUs },
    { name: 'same page, database unchanged', fastUs: keptUs, generalUs: fastUs },
  ];
}
