/**
 * What an instance needs before libvirt can start it (the runner's `pending` and `starting` steps, launchSteps.ts):
 * its overlays over an NBD export of the image, its NoCloud seed, and its domain defined. Each is idempotent, so a
 * restart simply does it again.
 */
import { rm, writeFile } from 'node:fs/promises';
import { domainXml, parseDomainMetadata, FERRY_XMLNS } from './domainXml.ts';
import { parsePlan, type InstanceRow, type LaunchInputs } from './instanceRepo.ts';
import { writeSeedIso } from './noCloudSeed.ts';
import { writeQcow2Overlay } from './qcow2Overlay.ts';
import { validationWrapper } from './validationWrapper.ts';
import { configureScriptPart } from './configureScript.ts';
import { CONFIGURE_PART, seedUserData, VALIDATION_PART, type SeedPart } from './seedUserData.ts';
import type { RunnerDeps } from './runnerDeps.ts';

/** Waits for every one of `steps` (none is left running behind a failure), then rejects with the first failure. */
export async function settleAll(steps: readonly Promise<void>[]): Promise<void> {
  const failed = (await Promise.allSettled(steps)).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** The seed's user-data: the user's, then the configure script, then the validations (seedUserData.ts). */
function seedUserDataOf(inputs: LaunchInputs, nonce: string): Buffer {
  const parts: SeedPart[] = [];
  if (inputs.configureScript) {
    const script = Buffer.from(inputs.configureScript.script, 'base64');
    parts.push({ filename: CONFIGURE_PART, contentType: 'text/x-shellscript', body: Buffer.from(configureScriptPart(script, inputs.configureScript.scriptType)) });
  }
  if (inputs.validations.length > 0) {
    const validations = inputs.validations.map((v) => ({ ...v, script: Buffer.from(v.script, 'base64') }));
    parts.push({ filename: VALIDATION_PART, contentType: 'text/x-shellscript', body: Buffer.from(validationWrapper(nonce, validations)) });
  }
  return seedUserData(inputs.userData === null ? null : Buffer.from(inputs.userData, 'base64'), parts);
}

/**
 * Serves the image's disks over NBD and writes one qcow2 overlay per disk whose backing file is that export (the
 * domain opens the export when it starts). Written in this process (qcow2Overlay.ts), not by `qemu-img create`.
 */
export async function makeOverlays(deps: RunnerDeps, row: InstanceRow): Promise<void> {
  const { files, exports } = deps;
  const id = row.instance_id;
  const served = await exports.serve(id, row.ami_id, parsePlan(row).diskSizes.length);
  deps.phases?.report(id, 'NBD export up');
  await Promise.all(served.map((exported, disk) => writeQcow2Overlay(files.overlay(id, disk), exported.uri, exported.sizeBytes)));
  deps.phases?.report(id, 'overlay created');
}

/** Writes the instance's NoCloud seed (when its plan has one) from the inputs kept on its row until then. */
export async function writeSeed(deps: RunnerDeps, row: InstanceRow): Promise<void> {
  const plan = parsePlan(row);
  if (!plan.seed) return;
  const id = row.instance_id;
  const inputs = row.inputs ? (JSON.parse(row.inputs) as LaunchInputs) : { userData: null, sshPublicKey: null, validations: [] };
  await writeSeedIso(deps.files.seed(id), {
    instanceId: id,
    hostname: plan.hostname,
    userData: seedUserDataOf(inputs, row.console_nonce),
    sshPublicKey: inputs.sshPublicKey,
    vendorData: null,
  });
  deps.phases?.report(id, 'seed written');
}

/**
 * Defines the instance's domain. libvirt refuses to define a second domain of the same name (the XML carries no
 * UUID, so it cannot replace one either): when the define fails, a domain of ours by that name (defined before a
 * restart) is accepted as done, and anyone else's is an error.
 */
export async function defineDomain(deps: RunnerDeps, row: InstanceRow): Promise<void> {
  const { virsh, files } = deps;
  const plan = parsePlan(row);
  const id = row.instance_id;
  const owner = await deps.ownerId();
  const xml = domainXml({
    name: row.domain_name,
    virtType: plan.virtType,
    vcpus: plan.vcpus,
    memoryMiB: plan.memoryMiB,
    layout: plan.layout,
    disks: plan.diskSizes.map((_, disk) => files.overlay(id, disk)),
    seed: plan.seed ? files.seed(id) : null,
    network: plan.network,
    consoleLog: files.consoleLog(id),
    metadata: { owner, instanceId: id, accountId: row.account_id, region: row.region, appId: row.app_id, serverId: row.server_id, amiId: row.ami_id, labels: plan.labels },
  });
  await writeFile(files.domainXml(id), xml, { mode: 0o600 });
  try {
    await virsh.define(files.domainXml(id));
  } catch (error) {
    if (!(await virsh.domainState(row.domain_name))) throw error;
    const mine = parseDomainMetadata((await virsh.metadata(row.domain_name, FERRY_XMLNS)) ?? '');
    if (mine.owner !== owner || mine.instanceId !== id) throw new Error(`a libvirt domain named ${row.domain_name} exists and is not this instance's`);
  } finally {
    await rm(files.domainXml(id), { force: true });
  }
  deps.phases?.report(id, 'domain defined');
}
