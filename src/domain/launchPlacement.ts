/**
 * Which node of a Ferry launches instances. A Ferry on a store of its own (SQLite) launches on its own. Nodes that
 * share a store (a cluster on PostgreSQL) launch on exactly one of them, the node FERRY_LAUNCH_NODE names: an
 * instance needs the node that launched it for as long as it lives there (its disks are read from that node's
 * image exports until they are hydrated; its console, guest agent and domain are reached through that host's
 * libvirt), so launching cannot move from node to node the way the scheduler's lease does. Every other node takes
 * the App operations (they only change rows) and leaves the instances to the launch node.
 */
export type LaunchPlacement = { kind: 'here' } | { kind: 'elsewhere'; node: string } | { kind: 'nowhere' };

export function launchPlacement(input: { sharedStore: boolean; nodeId: string; launchNode: string | undefined }): LaunchPlacement {
  if (!input.sharedStore) return { kind: 'here' };
  if (input.launchNode === undefined) return { kind: 'nowhere' };
  return input.launchNode === input.nodeId ? { kind: 'here' } : { kind: 'elsewhere', node: input.launchNode };
}

/** Why launching is impossible in a cluster that names no launch node, as a sentence's end. */
export const NO_LAUNCH_NODE =
  'in a cluster, one node launches instances and none is named: set FERRY_LAUNCH_NODE to that node\'s FERRY_NODE_ID on every node (docs/cluster.md, "Launching")';
