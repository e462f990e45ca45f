/** CompleteMultipartUpload's rules: which uploaded parts make the object, and its size and ETag. */
import { createHash } from 'node:crypto';
import { ArtifactError } from '../errors.ts';
import type { ArtifactLimits } from '../limits.ts';
import type { ArtifactPartsTable, Segment } from '../../store/artifacts/artifactTables.ts';

export interface CompletionPlan {
  segments: Segment[];
  size: number;
  /** S3's multipart ETag: the MD5 of the parts' binary MD5s, then `-<number of parts>`. */
  etag: string;
}

const bareEtag = (etag: string): string => etag.trim().replace(/^"|"$/g, '').toLowerCase();

export function completionPlan(
  requested: readonly { partNumber: number; etag: string }[],
  uploaded: readonly ArtifactPartsTable[],
  limits: ArtifactLimits,
): CompletionPlan {
  if (requested.length === 0) throw new ArtifactError('InvalidArgument', 'You must specify at least one part.', { ArgumentName: 'Part' });
  const byNumber = new Map(uploaded.map((p) => [p.part_number, p]));
  const segments: Segment[] = [];
  const digests: Buffer[] = [];
  let size = 0;
  // The order of the whole list is checked first: it is a property of the request, the rest of the stored parts.
  requested.forEach((wanted, index) => {
    if (index > 0 && wanted.partNumber <= requested[index - 1]!.partNumber) {
      throw new ArtifactError('InvalidPartOrder', 'The list of parts was not in ascending order. Parts must be ordered by part number.', {
        PartNumber: String(wanted.partNumber),
      });
    }
  });
  for (const [index, wanted] of requested.entries()) {
    const part = byNumber.get(wanted.partNumber);
    if (!part || bareEtag(part.etag) !== bareEtag(wanted.etag)) {
      throw new ArtifactError(
        'InvalidPart',
        'One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part\'s entity tag.',
        { PartNumber: String(wanted.partNumber), ETag: wanted.etag },
      );
    }
    const isLast = index === requested.length - 1;
    if (!isLast && Number(part.size) < limits.minPartBytes) {
      throw new ArtifactError('EntityTooSmall', `Your proposed upload is smaller than the minimum allowed size: part ${part.part_number} is ${part.size} bytes; every part but the last must be at least ${limits.minPartBytes}.`, {
        PartNumber: String(part.part_number),
        ProposedSize: String(part.size),
        MinSizeAllowed: String(limits.minPartBytes),
      });
    }
    size += Number(part.size);
    segments.push([part.blob_id, Number(part.size)]);
    digests.push(Buffer.from(bareEtag(part.etag), 'hex'));
  }
  if (size > limits.maxObjectBytes) {
    throw new ArtifactError('EntityTooLarge', `Your proposed upload exceeds the maximum allowed object size of ${limits.maxObjectBytes} bytes.`, {
      ProposedSize: String(size),
      MaxSizeAllowed: String(limits.maxObjectBytes),
    });
  }
  const etag = `"${createHash('md5').update(Buffer.concat(digests)).digest('hex')}-${segments.length}"`;
  return { segments, size, etag };
}
