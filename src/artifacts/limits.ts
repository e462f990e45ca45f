/**
 * Every bound on what an artifact client controls, in one place (README "Artifact buckets" lists them). Where S3
 * has a limit of its own, the default is S3's.
 */

export interface ArtifactLimits {
  /** Largest object, whether written in one request or assembled from parts (S3: 5 GiB for one PUT). */
  maxObjectBytes: number;
  /** Smallest part of a multipart upload, except the last one (S3: 5 MiB). */
  minPartBytes: number;
  /** Part numbers run from 1 to this (S3: 10,000). */
  maxParts: number;
  /** Object keys are 1 to this many bytes of UTF-8 (S3: 1,024). */
  maxKeyBytes: number;
  /** Names plus values of an object's `x-amz-meta-*` headers (S3: 2 KiB). */
  maxMetadataBytes: number;
  /** Buckets one account may own (S3's default quota: 100). */
  maxBucketsPerAccount: number;
  /** Multipart uploads one account may have open at once (S3 has no limit; each holds disk until completed or aborted). */
  maxOpenUploadsPerAccount: number;
  /** Largest page of a listing (S3: 1,000 keys). */
  maxListKeys: number;
}

export const DEFAULT_ARTIFACT_LIMITS: ArtifactLimits = {
  maxObjectBytes: 5 * 1024 ** 3,
  minPartBytes: 5 * 1024 ** 2,
  maxParts: 10_000,
  maxKeyBytes: 1024,
  maxMetadataBytes: 2048,
  maxBucketsPerAccount: 100,
  maxOpenUploadsPerAccount: 1000,
  maxListKeys: 1000,
};

/**
 * Sizes the App operations read into memory (ArtifactStore.getObject's `maxBytes`): user data is capped as EC2 caps
 * it (16 KiB before base64), scripts at 1 MiB.
 */
export const ARTIFACT_READ_LIMITS = {
  userData: 16 * 1024,
  script: 1024 * 1024,
  default: 1024 * 1024,
} as const;
