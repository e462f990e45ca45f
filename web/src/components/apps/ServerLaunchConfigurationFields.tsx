/**
 * One server's launch configuration (SMS's ServerLaunchConfiguration) as fields: instance type (suggested from
 * Ferry's documented table of EC2 sizes, src/domain/instanceTypes.ts, and checked by the API), logical id, key pair,
 * network names, public IP, instance profile, user data and configure script as S3 locations.
 */
import type { ScriptType, ServerLaunchConfiguration } from '@aws-sdk/client-sms';
import { INSTANCE_TYPES, instanceSize } from '../../../../src/domain/instanceTypes.ts';
import { Checkbox, Field, IdentifierInput } from '../fields.tsx';
import { S3LocationField, toS3Location, type BucketChoice, type S3LocationValue } from './S3LocationField.tsx';

export interface ServerLaunchState {
  instanceType: string;
  logicalId: string;
  ec2KeyName: string;
  vpc: string;
  subnet: string;
  securityGroup: string;
  associatePublicIpAddress: boolean;
  iamInstanceProfileName: string;
  userData: S3LocationValue;
  configureScript: S3LocationValue;
  configureScriptType: '' | ScriptType;
}

/** The members an error message can point at, by their API names. */
export const LAUNCH_MEMBERS = [
  'instanceType',
  'logicalId',
  'ec2KeyName',
  'vpc',
  'subnet',
  'securityGroup',
  'associatePublicIpAddress',
  'iamInstanceProfileName',
  'userData',
  'configureScript',
  'configureScriptType',
] as const;

export function serverLaunchState(config: ServerLaunchConfiguration | undefined): ServerLaunchState {
  return {
    instanceType: config?.instanceType ?? '',
    logicalId: config?.logicalId ?? '',
    ec2KeyName: config?.ec2KeyName ?? '',
    vpc: config?.vpc ?? '',
    subnet: config?.subnet ?? '',
    securityGroup: config?.securityGroup ?? '',
    associatePublicIpAddress: config?.associatePublicIpAddress === true,
    iamInstanceProfileName: config?.iamInstanceProfileName ?? '',
    userData: { bucket: config?.userData?.s3Location?.bucket ?? '', key: config?.userData?.s3Location?.key ?? '' },
    configureScript: { bucket: config?.configureScript?.bucket ?? '', key: config?.configureScript?.key ?? '' },
    configureScriptType: config?.configureScriptType ?? '',
  };
}

const text = (value: string) => value.trim() || undefined;

export function toServerLaunchConfiguration(serverId: string, state: ServerLaunchState): ServerLaunchConfiguration {
  const userData = toS3Location(state.userData);
  return {
    server: { serverId },
    instanceType: text(state.instanceType),
    logicalId: text(state.logicalId),
    ec2KeyName: text(state.ec2KeyName),
    vpc: text(state.vpc),
    subnet: text(state.subnet),
    securityGroup: text(state.securityGroup),
    associatePublicIpAddress: state.associatePublicIpAddress || undefined,
    iamInstanceProfileName: text(state.iamInstanceProfileName),
    userData: userData ? { s3Location: userData } : undefined,
    configureScript: toS3Location(state.configureScript),
    configureScriptType: state.configureScriptType || undefined,
  };
}

/** The table's instance types, as suggestions for every instance-type field. */
export function InstanceTypeList(props: { id: string }) {
  return (
    <datalist id={props.id}>
      {[...INSTANCE_TYPES].map(([name, size]) => (
        <option key={name} value={name}>
          {`${size.vcpus} vCPU, ${size.memoryMiB / 1024} GiB`}
        </option>
      ))}
    </datalist>
  );
}

function sizeHint(instanceType: string): string {
  const type = instanceType.trim();
  if (!type) return 'An EC2 instance type from the list (e.g. t3.micro): the instance gets its vCPUs and memory.';
  const size = instanceSize(type);
  return size ? `${type}: ${size.vcpus} vCPU${size.vcpus === 1 ? '' : 's'}, ${size.memoryMiB / 1024} GiB of memory.` : `${type} is not in Ferry's table of EC2 instance types.`;
}

export function ServerLaunchConfigurationFields(props: {
  idPrefix: string;
  name: string;
  serverId: string;
  value: ServerLaunchState;
  onChange: (patch: Partial<ServerLaunchState>) => void;
  errorOf: (member: string) => string | undefined;
  buckets: BucketChoice;
}) {
  const { idPrefix, value, onChange, errorOf } = props;
  const id = (member: string) => `${idPrefix}-${member}`;
  const textField = (member: 'logicalId' | 'ec2KeyName' | 'vpc' | 'subnet' | 'securityGroup' | 'iamInstanceProfileName', label: string, hint: string) => (
    <Field id={id(member)} label={label} hint={hint} error={errorOf(member)}>
      {(aria) => (
        <IdentifierInput aria={aria} value={value[member]} onValue={(text) => onChange({ [member]: text })} />
      )}
    </Field>
  );
  return (
    <fieldset class="server-launch" data-server={props.serverId}>
      <legend>
        {props.name} <code class="muted">{props.serverId}</code>
      </legend>
      <div class="grid">
        <Field id={id('instanceType')} label="Instance type" hint={sizeHint(value.instanceType)} error={errorOf('instanceType')}>
          {(aria) => (
            <IdentifierInput aria={aria} value={value.instanceType} onValue={(text) => onChange({ instanceType: text })} list="instance-types" />
          )}
        </Field>
        {textField('ec2KeyName', 'Key pair', 'A key pair imported with ferry key-pairs import; its public key reaches the guest through cloud-init.')}
        {textField('logicalId', 'Logical id', "The instance's name in the CloudFormation template (letters and digits).")}
      </div>
      <div class="grid">
        {textField('vpc', 'Network (VPC)', 'A libvirt network; blank joins ferry-default, an isolated network.')}
        {textField('subnet', 'Subnet', "A portgroup of that network (or the network's own name).")}
        {textField('securityGroup', 'Security group', 'A libvirt network filter (virsh nwfilter-list).')}
      </div>
      <div class="grid">
        {textField('iamInstanceProfileName', 'IAM instance profile', 'Kept and shown, as SMS does.')}
        <Checkbox
          id={id('associatePublicIpAddress')}
          label="Associate a public IP address"
          hint="Kept and shown in the template."
          checked={value.associatePublicIpAddress}
          onChange={(associatePublicIpAddress) => onChange({ associatePublicIpAddress })}
          error={errorOf('associatePublicIpAddress')}
        />
      </div>
      <S3LocationField
        id={id('userData')}
        legend="User data"
        hint="A cloud-init user-data file: attached to the instance as a NoCloud seed."
        value={value.userData}
        onChange={(userData) => onChange({ userData })}
        error={errorOf('userData')}
        buckets={props.buckets}
      />
      <S3LocationField
        id={id('configureScript')}
        legend="Configure script"
        value={value.configureScript}
        onChange={(configureScript) => onChange({ configureScript })}
        error={errorOf('configureScript')}
        buckets={props.buckets}
      />
      <Field id={id('configureScriptType')} label="Configure script type" error={errorOf('configureScriptType')} class="narrow">
        {(aria) => (
          <select {...aria} value={value.configureScriptType} onChange={(e) => onChange({ configureScriptType: e.currentTarget.value as '' | ScriptType })}>
            <option value="">Not set</option>
            <option value="SHELL_SCRIPT">Shell script</option>
            <option value="POWERSHELL_SCRIPT">PowerShell script</option>
          </select>
        )}
      </Field>
    </fieldset>
  );
}
