/**
 * Images: per job, size, blocks shared with other images (the dedup saving), encryption, and how to export a
 * disk. Export is the `ferry images export` command on the Ferry host (copy button), not a browser download:
 * a disk can be many GiB, and the CLI converts to qcow2/vmdk and verifies every block while it writes.
 */
import { useState } from 'preact/hooks';
import type { FerryImage } from '../api/ferry.ts';
import { listJobs } from '../api/sms.ts';
import { useApi } from '../context.ts';
import { useResource } from '../hooks.ts';
import { formatBytes, formatTime, fromEpochSeconds } from '../format.ts';
import { navigate, useLocation } from '../router.ts';
import { CopyButton, Link, LoadState, Page } from '../components/ui.tsx';

const BLOCK_SIZE = 512 * 1024;
type Format = 'qcow2' | 'vmdk' | 'raw';

export function exportCommand(amiId: string, disk: number, format: Format): string {
  const ext = format === 'raw' ? 'img' : format;
  return `npx ferry images export ${amiId} --disk ${disk} --format ${format} --output ${amiId}-disk${disk}.${ext}`;
}

function ImageCard(props: { image: FerryImage; jobName?: string }) {
  const image = props.image;
  const [format, setFormat] = useState<Format>('qcow2');
  const created = fromEpochSeconds(image.createdAt);
  const sharedBytes = Math.max(0, image.storedBytes - image.exclusiveBytes);
  const sharedPercent = image.storedBytes > 0 ? Math.round((sharedBytes / image.storedBytes) * 100) : 0;
  const formatId = `format-${image.amiId}`;
  return (
    <article class="card image" aria-labelledby={`title-${image.amiId}`} data-testid="image">
      <h3 id={`title-${image.amiId}`}>
        <code>{image.amiId}</code>
      </h3>
      <dl class="details">
        <div>
          <dt>Job</dt>
          <dd>
            <Link to={`/jobs/${image.replicationJobId}`}>{props.jobName ?? image.replicationJobId}</Link>
          </dd>
        </div>
        <div>
          <dt>Run</dt>
          <dd>
            <code>{image.replicationRunId}</code>
          </dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>{formatTime(created)}</dd>
        </div>
        <div>
          <dt>Size</dt>
          <dd>
            {formatBytes(image.sizeBytes)} <span class="muted">({image.disks.length} disk{image.disks.length === 1 ? '' : 's'})</span>
          </dd>
        </div>
        <div>
          <dt>Data</dt>
          <dd>
            {image.dataBlocks} blocks of {formatBytes(BLOCK_SIZE)} <span class="muted">(zero blocks are not stored)</span>
          </dd>
        </div>
        <div>
          <dt>Shared with other images</dt>
          <dd data-testid="shared">
            {image.sharedBlocks} block{image.sharedBlocks === 1 ? '' : 's'}, {formatBytes(sharedBytes)} ({sharedPercent}% of its {formatBytes(image.storedBytes)})
            <div class="sub">
              {sharedBytes > 0
                ? `Dedup: stored once for all the images that use them; ${formatBytes(image.exclusiveBytes)} belong to this image alone.`
                : 'No blocks in common with other images.'}
            </div>
          </dd>
        </div>
        <div>
          <dt>Encryption</dt>
          <dd>
            {image.encrypted ? (
              <>
                Encrypted (AES-256-GCM){image.kmsKeyArn ? <> with <code class="wrap">{image.kmsKeyArn}</code></> : null}
              </>
            ) : (
              'Not encrypted'
            )}
          </dd>
        </div>
        {image.parentAmiId ? (
          <div>
            <dt>Parent image</dt>
            <dd>
              <code>{image.parentAmiId}</code>
            </dd>
          </div>
        ) : null}
      </dl>
      <h4>Export</h4>
      <div class="field inline">
        <label for={formatId}>Format</label>
        <select id={formatId} value={format} onChange={(e) => setFormat(e.currentTarget.value as Format)}>
          <option value="qcow2">qcow2</option>
          <option value="vmdk">vmdk</option>
          <option value="raw">raw</option>
        </select>
      </div>
      <p class="hint">Run on the Ferry host (it reads the image store directly; add <code>--data-dir</code> if Ferry's is not ./ferry-data):</p>
      <ul class="commands">
        {image.disks.map((disk) => {
          const command = exportCommand(image.amiId, disk.index, format);
          return (
            <li key={disk.index}>
              <span class="disk-label">
                Disk {disk.index} · {formatBytes(disk.sizeBytes)} · <code>{disk.snapshotId}</code>
              </span>
              <div class="command">
                <code data-testid="export-command" id={`cmd-${image.amiId}-${disk.index}`}>
                  {command}
                </code>
                <CopyButton
                  text={command}
                  label={`Copy the export command for disk ${disk.index} of ${image.amiId}`}
                  selectId={`cmd-${image.amiId}-${disk.index}`}
                />
              </div>
            </li>
          );
        })}
      </ul>
    </article>
  );
}

export function ImagesPage() {
  const { sms, ferry } = useApi();
  const location = useLocation();
  const jobFilter = location.query.get('job') ?? '';
  const jobs = useResource(() => listJobs(sms), []);
  const images = useResource(() => ferry.listImages(jobFilter || undefined), [jobFilter], 15_000);
  const names = new Map((jobs.data ?? []).map((j) => [j.replicationJobId ?? '', j.vmServer?.vmName ?? j.serverId ?? '']));
  const jobIds = [...new Set([...(jobs.data ?? []).map((j) => j.replicationJobId ?? ''), jobFilter].filter(Boolean))];

  const grouped = new Map<string, FerryImage[]>();
  for (const image of images.data?.images ?? []) {
    const list = grouped.get(image.replicationJobId) ?? [];
    list.push(image);
    grouped.set(image.replicationJobId, list);
  }

  return (
    <Page title="Images">
      <p class="muted">
        Machine images the replication runs created, newest first. Blocks are stored once per encryption key, so an image shares the blocks it has in
        common with other images.
      </p>
      <div class="field inline">
        <label for="image-job">Job</label>
        <select
          id="image-job"
          value={jobFilter}
          onChange={(e) => {
            const value = e.currentTarget.value;
            navigate(value ? `/images?job=${encodeURIComponent(value)}` : '/images', { replace: true });
          }}
        >
          <option value="">All jobs</option>
          {jobIds.map((id) => (
            <option key={id} value={id}>
              {names.get(id) ? `${names.get(id)} (${id})` : id}
            </option>
          ))}
        </select>
      </div>
      <LoadState of={images} what="images" failed="Could not load the images." />
      {images.data && images.data.images.length === 0 ? <p class="empty">No images yet: they appear when a replication run completes.</p> : null}
      {[...grouped].map(([jobId, list]) => (
        <section key={jobId} aria-labelledby={`imgjob-${jobId}`} class="image-group">
          <h2 id={`imgjob-${jobId}`}>
            {names.get(jobId) ?? 'Job'} <code class="muted">{jobId}</code>{' '}
            <span class="muted">
              · {list.length} image{list.length === 1 ? '' : 's'}
            </span>
          </h2>
          <div class="image-list">
            {list.map((image) => (
              <ImageCard key={image.amiId} image={image} jobName={names.get(jobId)} />
            ))}
          </div>
        </section>
      ))}
    </Page>
  );
}
