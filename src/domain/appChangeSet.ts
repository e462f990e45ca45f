/**
 * GenerateChangeSet's document: what would change if the launched app were updated to its current launch
 * configuration. Shaped like CloudFormation's DescribeChangeSet output — `Changes[].ResourceChange` with `Action`
 * (Add | Modify | Remove), `Replacement` and per-attribute `Details` — plus the `TemplateBody` to apply, so it can be
 * reviewed or fed to `aws cloudformation create-change-set`. Pure: both templates come from appTemplate.ts.
 *
 * Whether a property change recreates the instance follows CloudFormation's resource specification for
 * AWS::EC2::Instance ("UpdateType"): Immutable → Always (replacement), Conditional → Conditionally, Mutable → Never.
 */
import type { CfnTemplate, CfnValue } from './appTemplate.ts';

type Recreation = 'Always' | 'Conditionally' | 'Never';

const PROPERTY_RECREATION: Record<string, Recreation> = {
  ImageId: 'Always',
  KeyName: 'Always',
  SubnetId: 'Always',
  NetworkInterfaces: 'Always',
  InstanceType: 'Conditionally',
  SecurityGroupIds: 'Conditionally',
  UserData: 'Conditionally',
  IamInstanceProfile: 'Never',
  Tags: 'Never',
};

export interface ChangeDetail {
  Target: { Attribute: 'Properties' | 'Metadata' | 'Tags'; Name?: string; RequiresRecreation: Recreation };
  Evaluation: 'Static';
  ChangeSource: 'DirectModification';
}

export interface ResourceChange {
  Type: 'Resource';
  ResourceChange: {
    Action: 'Add' | 'Modify' | 'Remove';
    LogicalResourceId: string;
    PhysicalResourceId?: string;
    ResourceType: string;
    Replacement?: 'True' | 'False' | 'Conditional';
    Scope: string[];
    Details: ChangeDetail[];
  };
}

export interface ChangeSetDocument {
  ChangeSetName: string;
  StackName: string;
  StackId: string;
  Description: string;
  Changes: ResourceChange[];
  TemplateBody: CfnTemplate;
}

const same = (a: CfnValue | undefined, b: CfnValue | undefined): boolean => JSON.stringify(a) === JSON.stringify(b);

function replacementOf(details: readonly ChangeDetail[]): 'True' | 'False' | 'Conditional' {
  if (details.some((d) => d.Target.RequiresRecreation === 'Always')) return 'True';
  if (details.some((d) => d.Target.RequiresRecreation === 'Conditionally')) return 'Conditional';
  return 'False';
}

function modifications(before: CfnTemplate['Resources'][string], after: CfnTemplate['Resources'][string]): ChangeDetail[] {
  const details: ChangeDetail[] = [];
  const names = [...new Set([...Object.keys(before.Properties), ...Object.keys(after.Properties)])].sort();
  for (const name of names) {
    if (same(before.Properties[name], after.Properties[name])) continue;
    const attribute = name === 'Tags' ? 'Tags' : 'Properties';
    details.push({
      Target: { Attribute: attribute, ...(attribute === 'Properties' ? { Name: name } : {}), RequiresRecreation: PROPERTY_RECREATION[name] ?? 'Conditionally' },
      Evaluation: 'Static',
      ChangeSource: 'DirectModification',
    });
  }
  if (!same(before.Metadata, after.Metadata)) {
    details.push({ Target: { Attribute: 'Metadata', RequiresRecreation: 'Never' }, Evaluation: 'Static', ChangeSource: 'DirectModification' });
  }
  return details;
}

export interface ChangeSetInput {
  changeSetName: string;
  stackName: string;
  stackId: string;
  launched: CfnTemplate;
  current: CfnTemplate;
  /** Instance ids of the launched resources, by logical id. */
  physicalIds?: ReadonlyMap<string, string>;
}

export function buildChangeSet(input: ChangeSetInput): ChangeSetDocument {
  const { launched, current } = input;
  const changes: ResourceChange[] = [];
  const physical = (logicalId: string) => {
    const id = input.physicalIds?.get(logicalId);
    return id === undefined ? {} : { PhysicalResourceId: id };
  };
  for (const [logicalId, resource] of Object.entries(current.Resources)) {
    const before = launched.Resources[logicalId];
    if (!before) {
      changes.push({ Type: 'Resource', ResourceChange: { Action: 'Add', LogicalResourceId: logicalId, ResourceType: resource.Type, Scope: [], Details: [] } });
      continue;
    }
    const details = modifications(before, resource);
    if (details.length === 0) continue;
    const scope = [...new Set(details.map((d) => d.Target.Attribute))];
    changes.push({
      Type: 'Resource',
      ResourceChange: { Action: 'Modify', LogicalResourceId: logicalId, ...physical(logicalId), ResourceType: resource.Type, Replacement: replacementOf(details), Scope: scope, Details: details },
    });
  }
  for (const [logicalId, resource] of Object.entries(launched.Resources)) {
    if (current.Resources[logicalId]) continue;
    changes.push({ Type: 'Resource', ResourceChange: { Action: 'Remove', LogicalResourceId: logicalId, ...physical(logicalId), ResourceType: resource.Type, Scope: [], Details: [] } });
  }
  const counts = (action: string) => changes.filter((c) => c.ResourceChange.Action === action).length;
  return {
    ChangeSetName: input.changeSetName,
    StackName: input.stackName,
    StackId: input.stackId,
    Description: changes.length === 0
      ? 'The launched app matches its current launch configuration.'
      : `${counts('Add')} to add, ${counts('Modify')} to modify, ${counts('Remove')} to remove.`,
    Changes: changes,
    TemplateBody: current,
  };
}
