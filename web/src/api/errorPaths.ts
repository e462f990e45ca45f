/** Which form field an API error is about, from the member names and paths its message starts with (no DOM: unit-tested). */

/** Which form field an API validation message is about: messages start with the member name (`frequency must be …`). */
export function fieldOf(message: string, fields: readonly string[]): string | undefined {
  const first = /^([A-Za-z]+)\b/.exec(message)?.[1];
  if (first && fields.includes(first)) return first;
  return fields.find((f) => new RegExp(`\\b${f}\\b`).test(message));
}

/** Where an App configuration message points, by the member path it names (`…Configurations[0].…Configurations[1].instanceType`). */
export interface ConfigErrorPath {
  /** The request's list the path starts in (`serverGroupLaunchConfigurations`, `appValidationConfigurations`…). */
  list: string;
  /** Index in the request's list of server groups, and of servers (or validations) inside it. */
  group?: number;
  entry?: number;
  /** The member names after the indexes, outermost first (`userData`, `s3Location`). */
  members: string[];
}

const CONFIG_PATH = /\b([A-Za-z]+)\[(\d+)\](?:\.([A-Za-z]+)\[(\d+)\])?((?:\.[A-Za-z0-9]+)*)/;

export function configErrorPath(message: string): ConfigErrorPath | undefined {
  const m = CONFIG_PATH.exec(message);
  if (!m) return undefined;
  return {
    list: m[1]!,
    group: Number(m[2]),
    entry: m[4] === undefined ? undefined : Number(m[4]),
    members: (m[5] ?? '').split('.').filter(Boolean),
  };
}

/**
 * The server group, and the server in it, that a configuration error's path points at. Put…Configuration requests
 * list the app's groups and their servers in the app's own order, so the path's indexes are indexes into `groups`.
 */
export function serverOfConfigError(
  path: ConfigErrorPath | undefined,
  groups: readonly { serverGroupId?: string; serverList?: readonly { serverId?: string }[] }[],
): { serverGroupId?: string; serverId?: string } {
  const group = path?.group === undefined ? undefined : groups[path.group];
  return { serverGroupId: group?.serverGroupId, serverId: path?.entry === undefined ? undefined : group?.serverList?.[path.entry]?.serverId };
}

/** The innermost member of `path` that a form has a field for. */
export function memberOf(path: ConfigErrorPath, fields: readonly string[]): string | undefined {
  return [...path.members].reverse().find((m) => fields.includes(m));
}

/** The text an inline field error shows: the API's message without the member path it opens with (the alert has it all). */
export function fieldMessage(problem: { code: string; message: string }): string {
  return `${problem.code}: ${problem.message.replace(/^[A-Za-z]+\[\d+\](?:\.[A-Za-z0-9]+(?:\[\d+\])?)*:\s+/, '')}`;
}
