/**
 * Writing a generated document (template, change set) in the requested OutputFormat: JSON, or YAML through the
 * `yaml` library (a well-kept YAML 1.2 implementation; CloudFormation reads its output, long-form intrinsics such as
 * `Fn::Base64:` included).
 */
import { stringify } from 'yaml';
import type { OutputFormat } from '../../domain/appEnums.ts';

export interface RenderedDocument {
  body: Buffer;
  contentType: string;
  extension: 'json' | 'yaml';
}

export function renderDocument(document: unknown, format: OutputFormat): RenderedDocument {
  if (format === 'YAML') {
    return { body: Buffer.from(stringify(document, { lineWidth: 0 })), contentType: 'application/yaml', extension: 'yaml' };
  }
  return { body: Buffer.from(`${JSON.stringify(document, null, 2)}\n`), contentType: 'application/json', extension: 'json' };
}
