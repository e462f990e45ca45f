/** Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation. */
import { ArtifactError } from '../../artifacts/errors.ts';
import { childText, xmlDocument } from './xml.ts';
import { S3Error, notImplemented } from './s3Errors.ts';
import { headerValue, malformedXml, readXmlBody, type S3Call, type S3Response } from './s3Request.ts';

/** The region whose buckets have an empty LocationConstraint (S3's historical default). */
const DEFAULT_REGION = 'us-east-1';

export const iso = (ms: number): string => new Date(ms).toISOString();

export async function listBuckets(call: S3Call): Promise<S3Response> {
  const buckets = await call.store.listBuckets(call.caller.accountId);
  const owner = call.caller.accountId;
  return {
    status: 200,
    body: xmlDocument('ListAllMyBucketsResult', [
      ['Owner', [['ID', owner], ['DisplayName', owner]]],
      ['Buckets', buckets.map((b) => ['Bucket', [['Name', b.name], ['CreationDate', iso(b.createdAt)], ['BucketRegion', b.region]]])],
    ]),
  };
}

export async function createBucket(call: S3Call): Promise<S3Response> {
  const acl = headerValue(call.headers, 'x-amz-acl');
  if (acl !== undefined && acl !== 'private') throw notImplemented(`the canned ACL ${acl} (buckets are private to their account)`);
  for (const name of Object.keys(call.headers)) {
    if (/^x-amz-(bucket-object-lock-enabled|grant-)/.test(name)) throw notImplemented(`the ${name} header`);
  }
  const ownership = headerValue(call.headers, 'x-amz-object-ownership');
  if (ownership !== undefined && ownership !== 'BucketOwnerEnforced') throw notImplemented(`object ownership ${ownership} (only BucketOwnerEnforced)`);
  const configuration = await readXmlBody(call);
  let region = call.caller.region;
  if (configuration) {
    if (configuration.name !== 'CreateBucketConfiguration') throw malformedXml('expected <CreateBucketConfiguration>.');
    const constraint = childText(configuration, 'LocationConstraint');
    if (constraint) {
      if (constraint !== call.caller.region) {
        throw new S3Error('IllegalLocationConstraintException', `The ${constraint} location constraint is incompatible with the region the request was signed for (${call.caller.region}).`);
      }
      region = constraint;
    }
  }
  try {
    await call.store.createBucket(call.caller.accountId, call.bucket, region);
  } catch (thrown) {
    // As S3 does: in us-east-1, creating a bucket you already own succeeds (so `mb` there is idempotent).
    if (!(thrown instanceof ArtifactError && thrown.code === 'BucketAlreadyOwnedByYou' && region === DEFAULT_REGION)) throw thrown;
  }
  return { status: 200, headers: { location: `/${call.bucket}` } };
}

export async function headBucket(call: S3Call): Promise<S3Response> {
  const bucket = await call.store.getBucket(call.caller.accountId, call.bucket);
  return { status: 200, headers: { 'x-amz-bucket-region': bucket.region } };
}

export async function deleteBucket(call: S3Call): Promise<S3Response> {
  await call.store.deleteBucket(call.caller.accountId, call.bucket);
  return { status: 204 };
}

export async function getBucketLocation(call: S3Call): Promise<S3Response> {
  const bucket = await call.store.getBucket(call.caller.accountId, call.bucket);
  const constraint = bucket.region === DEFAULT_REGION ? '' : bucket.region;
  return { status: 200, body: xmlDocument('LocationConstraint', constraint) };
}
