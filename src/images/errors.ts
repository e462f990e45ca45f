/** Errors of the image store: one class with a code callers can branch on, and one for corrupt data. */

export type ImageStoreErrorCode =
  | 'NotFound'
  | 'InvalidArgument'
  | 'Conflict'
  | 'ReadOnly'
  | 'MissingBlock'
  | 'Corrupt'
  | 'NoSealer'
  | 'Busy';

export class ImageStoreError extends Error {
  readonly code: ImageStoreErrorCode;
  constructor(code: ImageStoreErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'ImageStoreError';
  }
}

/** A run's image request that does not fit what the service knows (a disk the server catalog never saw, …). */
export class ImageRequestError extends Error {}

/** A block that fails its checks on read; the message names the image, the disk and the byte offset. */
export class CorruptBlockError extends ImageStoreError {
  readonly amiId: string;
  readonly diskIndex: number;
  readonly byteOffset: number;
  constructor(amiId: string, diskIndex: number, byteOffset: number, why: string) {
    super('Corrupt', `Image ${amiId} disk ${diskIndex} is corrupt at byte offset ${byteOffset}: ${why}`);
    this.name = 'CorruptBlockError';
    this.amiId = amiId;
    this.diskIndex = diskIndex;
    this.byteOffset = byteOffset;
  }
}

/** What a stored block failed on, before the caller adds which image and offset it was read for. */
export class BlockCheckError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BlockCheckError';
  }
}
