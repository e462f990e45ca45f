/**
 * How a launch's `vpc` / `subnet` / `securityGroup` map onto libvirt — the documented rules, checked in one place:
 *
 * - `vpc` names a libvirt network (`virsh net-list --all`).
 * - `subnet` names a portgroup of that network. A network without portgroups is its own single subnet: `subnet`
 *   may then be left out or equal the network's name. `subnet` without `vpc` (as in EC2, a subnet implies its VPC)
 *   finds the one network that has a portgroup of that name, or the portgroup-less network of that name.
 * - `securityGroup` names a libvirt network filter (`virsh nwfilter-list`), attached to the NIC as `<filterref>`.
 * - Nothing named: the instance joins `ferry-default`, an isolated network (a bridge, no NAT, no DHCP, so no
 *   dnsmasq needed) that Ferry defines, starts and marks autostart on first use — like an account's default VPC.
 * Whatever is named must exist (InvalidParameterException otherwise, at PutAppLaunchConfiguration through
 * `validateNetwork` and again at launch); a named network must also be active at launch.
 */
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { invalidParameter } from '../lib/errors.ts';
import { VirshError, type Virsh } from './virsh.ts';

export const DEFAULT_NETWORK = 'ferry-default';

export interface NetworkRequest {
  vpc?: string;
  subnet?: string;
  securityGroup?: string;
}

export interface ResolvedNetwork {
  name: string;
  portgroup?: string;
  filter?: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,254}$/;

function portgroupsOf(xml: string): string[] {
  return [...xml.matchAll(/<portgroup\s[^>]*name=['"]([^'"]+)['"]/g)].map((m) => m[1]!);
}

function checkName(value: string | undefined, what: string): void {
  if (value !== undefined && !NAME.test(value)) throw invalidParameter(`${what} ${JSON.stringify(value)} is not a valid libvirt name.`);
}

/** Applies the rules above; throws InvalidParameterException naming what is missing. */
export async function resolveNetwork(virsh: Virsh, request: NetworkRequest | undefined): Promise<ResolvedNetwork> {
  const vpc = request?.vpc || undefined;
  const subnet = request?.subnet || undefined;
  const securityGroup = request?.securityGroup || undefined;
  checkName(vpc, 'The vpc');
  checkName(subnet, 'The subnet');
  checkName(securityGroup, 'The securityGroup');
  let resolved: ResolvedNetwork;
  if (vpc) {
    const xml = await virsh.networkXml(vpc);
    if (xml === undefined) throw invalidParameter(`The vpc "${vpc}" is not a libvirt network on ${virsh.uri} (see virsh net-list --all).`);
    const groups = portgroupsOf(xml);
    if (subnet && groups.length > 0 && !groups.includes(subnet)) {
      throw invalidParameter(`The subnet "${subnet}" is not a portgroup of network "${vpc}" (it has ${groups.map((g) => `"${g}"`).join(', ')}).`);
    }
    if (subnet && groups.length === 0 && subnet !== vpc) {
      throw invalidParameter(`Network "${vpc}" has no portgroups, so it is its own only subnet: leave subnet out or set it to "${vpc}".`);
    }
    resolved = { name: vpc, ...(subnet && groups.length > 0 ? { portgroup: subnet } : {}) };
  } else if (subnet) {
    const matches: ResolvedNetwork[] = [];
    for (const name of await virsh.listNetworks()) {
      const groups = portgroupsOf((await virsh.networkXml(name)) ?? '');
      if (groups.includes(subnet)) matches.push({ name, portgroup: subnet });
      else if (name === subnet && groups.length === 0) matches.push({ name });
    }
    if (matches.length === 0) throw invalidParameter(`No libvirt network on ${virsh.uri} has a portgroup (or is a portgroup-less network) named "${subnet}".`);
    if (matches.length > 1) {
      throw invalidParameter(`The subnet "${subnet}" is a portgroup of several networks (${matches.map((m) => m.name).join(', ')}): name the vpc too.`);
    }
    resolved = matches[0]!;
  } else {
    resolved = { name: DEFAULT_NETWORK };
  }
  if (securityGroup) {
    if (!(await virsh.filterExists(securityGroup))) {
      throw invalidParameter(`The securityGroup "${securityGroup}" is not a libvirt network filter on ${virsh.uri} (see virsh nwfilter-list).`);
    }
    resolved.filter = securityGroup;
  }
  return resolved;
}

/** At launch: the network must be up; `ferry-default` is created and started when it is not. */
export async function ensureNetworkReady(virsh: Virsh, network: ResolvedNetwork): Promise<void> {
  if (network.name === DEFAULT_NETWORK) return ensureDefaultNetwork(virsh);
  const active = await virsh.networkActive(network.name);
  if (active === undefined) throw invalidParameter(`The network "${network.name}" no longer exists on ${virsh.uri}.`);
  if (!active) throw invalidParameter(`The network "${network.name}" is not active: start it with virsh net-start ${network.name}.`);
}

export async function ensureDefaultNetwork(virsh: Virsh): Promise<void> {
  let active = await virsh.networkActive(DEFAULT_NETWORK);
  if (active === undefined) {
    const file = join(tmpdir(), `ferry-network-${randomBytes(6).toString('hex')}.xml`);
    // No <forward> and no <ip>: an isolated bridge, which needs no dnsmasq; libvirt picks the bridge's name.
    await writeFile(file, `<network>\n  <name>${DEFAULT_NETWORK}</name>\n  <bridge stp='on' delay='0'/>\n</network>\n`, { mode: 0o600 });
    try {
      await virsh.netDefine(file);
    } catch (error) {
      // Another Ferry may have defined it a moment ago.
      if (!(error instanceof VirshError) || (await virsh.networkActive(DEFAULT_NETWORK)) === undefined) throw error;
    } finally {
      await rm(file, { force: true });
    }
    await virsh.netAutostart(DEFAULT_NETWORK).catch(() => undefined);
    active = await virsh.networkActive(DEFAULT_NETWORK);
  }
  if (!active) {
    try {
      await virsh.netStart(DEFAULT_NETWORK);
    } catch (error) {
      if (!(await virsh.networkActive(DEFAULT_NETWORK))) throw error;
    }
  }
}
