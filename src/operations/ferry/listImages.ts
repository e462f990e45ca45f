import type { Operation } from '../operation.ts';
import { str } from '../../api/schema.ts';
import { ServiceError } from '../../lib/errors.ts';
import { epochDate } from '../../protocol/awsJson.ts';
import type { FerryImage, FerryInput, FerryOutput } from '../../api/ferryWire.ts';

/** The caller's images, newest first; `replicationJobId` narrows to one job. */
export const listImages: Operation<FerryInput<'ListImages'>, FerryOutput<'ListImages', Date>> = {
  input: { replicationJobId: str() },
  async handle(input, { tenant, plane }) {
    if (!plane) throw new ServiceError('NotImplementedException', 'This Ferry runs without an image store.');
    const summaries = (await plane.images.listImages(tenant)).filter(
      (image) => input.replicationJobId === undefined || image.replicationJobId === input.replicationJobId,
    );
    const images: FerryImage<Date>[] = [];
    for (const summary of summaries) {
      const details = await plane.images.getImage(summary.amiId);
      if (!details) continue;
      images.push({
        amiId: details.amiId,
        replicationJobId: details.replicationJobId,
        replicationRunId: details.runId,
        parentAmiId: details.parentAmiId ?? undefined,
        createdAt: epochDate(details.createdAt),
        encrypted: details.encrypted,
        kmsKeyArn: details.encrypted ? details.keyRef : undefined,
        sizeBytes: details.logicalBytes,
        dataBlocks: details.dataBlocks,
        disks: details.disks.map((d) => ({ index: d.index, snapshotId: d.snapshotId, sizeBytes: d.sizeBytes, dataBlocks: d.dataBlocks })),
        storedBytes: details.usage.storedBytes,
        sharedBlocks: details.usage.sharedBlocks,
        exclusiveBytes: details.usage.exclusiveBytes,
      });
    }
    images.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
    return { images };
  },
};
