/** The VmServer a server row describes: what a job stores of its server, and what GetServers shows. */
import type { VmServer } from '@aws-sdk/client-sms';
import type { ServerRow } from '../store/rows.ts';

export function toVmServer(row: ServerRow): VmServer {
  return {
    vmServerAddress: { vmManagerId: row.vm_manager_id, vmId: row.vm_id },
    vmName: row.vm_name,
    vmManagerName: row.vm_manager_name,
    vmManagerType: row.vm_manager_type as VmServer['vmManagerType'],
    vmPath: row.vm_path,
  };
}
