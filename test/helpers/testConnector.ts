/**
 * A scripted connector speaking Ferry's connector protocol over real HTTP. It does no disk work: tests decide
 * what it reports. (The real connector arrives with the data plane.)
 */
import { ConnectorError } from '../../src/protocol/connector/messages.ts';

export interface Vm {
  vmId: string;
  vmName: string;
  vmPath?: string;
  replicable?: boolean;
  reason?: string;
}

/** The connector protocol's own refusal type (status, code, message), as the real HTTP transport throws it. */
export { ConnectorError as ConnectorApiError };

export interface ClaimedRun {
  replicationRunId: string;
  replicationJobId: string;
  type: string;
  serverId: string;
  leaseExpiresAt: number;
  parentAmiId: string | null;
  [key: string]: unknown;
}

export class TestConnector {
  readonly url: string;
  readonly token: string;
  readonly connectorId: string;
  constructor(url: string, token: string, connectorId: string) {
    this.url = url;
    this.token = token;
    this.connectorId = connectorId;
  }

  async call<T = Record<string, unknown>>(path: string, body: unknown = {}): Promise<T> {
    const response = await fetch(`${this.url}/ferry/connector/v1${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const payload = (await response.json()) as Record<string, unknown>;
    if (!response.ok) throw new ConnectorError(response.status, String(payload.error), String(payload.message));
    return payload as T;
  }

  register(overrides: Record<string, unknown> = {}) {
    return this.call<{ connectorId: string; heartbeatIntervalSeconds: number; leaseSeconds: number }>('/register', {
      vmManagerType: 'VSPHERE',
      vmManagerName: 'vcenter.test',
      vmManagerId: 'vcenter-1',
      version: '1.0.0',
      capabilities: ['VSPHERE', 'SMS_OPTIMIZED'],
      ipAddress: '10.0.0.5',
      macAddress: '00:11:22:33:44:55',
      ...overrides,
    });
  }

  heartbeat(status?: 'HEALTHY' | 'UNHEALTHY') {
    return this.call<{ catalogImportRequested: boolean; runsWaiting: boolean }>('/heartbeat', status ? { status } : {});
  }

  inventory(vms: Vm[]) {
    return this.call<{ status: string; servers: number }>('/inventory', { vms });
  }

  async claim(max = 1): Promise<ClaimedRun[]> {
    return (await this.call<{ runs: ClaimedRun[] }>('/runs/claim', { max })).runs;
  }

  /** Claims until a run is handed out (clients round "now" to whole seconds, so a seed may lie a moment ahead). */
  async claimWhenDue(timeoutMs = 3000): Promise<ClaimedRun> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [run] = await this.claim();
      if (run) return run;
      if (Date.now() > deadline) throw new Error(`no run became claimable within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  progress(runId: string, stage: string, stageProgress: string, extra: Record<string, unknown> = {}) {
    return this.call<{ leaseExpiresAt: number }>(`/runs/${runId}/progress`, { stage, stageProgress, ...extra });
  }

  complete(runId: string, amiId: string) {
    return this.call(`/runs/${runId}/complete`, { amiId });
  }

  /**
   * Begins and finishes the run's image as a connector that copied an empty one-block disk would (nothing to
   * upload); returns the image's id, the one the run may complete with.
   */
  async finishImage(runId: string, sizeBytes = 512 * 1024): Promise<string> {
    await this.call(`/runs/${runId}/image/begin`, { disks: [{ index: 0, sizeBytes, mode: 'full' }] });
    return (await this.call<{ amiId: string }>(`/runs/${runId}/image/finish`, {})).amiId;
  }

  /** Finishes the run's image (see finishImage) and completes the run with it; returns the image's id. */
  async completeWithImage(runId: string): Promise<string> {
    const image = await this.finishImage(runId);
    await this.complete(runId, image);
    return image;
  }

  fail(runId: string, message: string) {
    return this.call(`/runs/${runId}/fail`, { message });
  }
}

/** `n` VMs named vm-0 … vm-(n-1). */
export function vms(n: number, prefix = 'vm'): Vm[] {
  return Array.from({ length: n }, (_, i) => ({ vmId: `${prefix}-${i}`, vmName: `${prefix}${i}`, vmPath: `/Datacenters/DC1/vm/${prefix}${i}` }));
}

export const amiId = (n: number): string => `ami-${n.toString(16).padStart(17, '0')}`;
