/**
 * The S3 API in detail through boto3 (Debian's python3-boto3, run by the system python): one Python process makes
 * every call and asserts on what botocore parsed — buckets, objects, metadata, ranges, conditional GETs, copies,
 * both listing versions through botocore's paginators (with its automatic url encoding of keys), multipart uploads
 * by hand and through the transfer manager, presigned GET and PUT, tenancy, and each error code.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { SYSTEM_PYTHON, awsEnv, run } from '../helpers/process.ts';
import type { AccountKeys } from '../../src/core/accounts.ts';

const boto3S3 = spawnSync(SYSTEM_PYTHON, ['-c', 'import boto3; boto3.client("s3", region_name="us-east-1")'], { encoding: 'utf8', timeout: 20_000 }).status === 0;
const SKIP = boto3S3 ? false : `skipped: boto3 is not importable by ${SYSTEM_PYTHON}; install Debian's python3-boto3 (CI does, see .ci/run)`;
const MAX_OBJECT = 16 * 1024 * 1024;

const SCRIPT = String.raw`
import hashlib, io, json, os, sys, urllib.request, urllib.error
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from boto3.s3.transfer import TransferConfig

endpoint = os.environ['FERRY_URL']
config = Config(s3={'addressing_style': 'path'}, retries={'mode': 'standard', 'max_attempts': 1})
def client(key, secret, region='us-east-1'):
    return boto3.client('s3', endpoint_url=endpoint, region_name=region, aws_access_key_id=key, aws_secret_access_key=secret, config=config)
s3 = client(os.environ['AWS_ACCESS_KEY_ID'], os.environ['AWS_SECRET_ACCESS_KEY'])
bob = client(os.environ['BOB_KEY'], os.environ['BOB_SECRET'])
checks = []

def error_of(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except ClientError as e:
        return e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode']
    raise AssertionError('expected an error from %s' % call.__name__)

def expect_error(code, status, call, *args, **kwargs):
    got = error_of(call, *args, **kwargs)
    assert got == (code, status), 'expected %s %s, got %s' % (code, status, got)
    checks.append(code)

# Buckets
s3.create_bucket(Bucket='boto-bucket')
s3.create_bucket(Bucket='boto-bucket')  # us-east-1: creating a bucket you own succeeds, as in S3
eu = client(os.environ['AWS_ACCESS_KEY_ID'], os.environ['AWS_SECRET_ACCESS_KEY'], 'eu-west-1')
eu.create_bucket(Bucket='boto-eu', CreateBucketConfiguration={'LocationConstraint': 'eu-west-1'})
expect_error('BucketAlreadyOwnedByYou', 409, eu.create_bucket, Bucket='boto-eu', CreateBucketConfiguration={'LocationConstraint': 'eu-west-1'})
expect_error('IllegalLocationConstraintException', 400, s3.create_bucket, Bucket='boto-other', CreateBucketConfiguration={'LocationConstraint': 'eu-west-1'})
assert s3.get_bucket_location(Bucket='boto-eu')['LocationConstraint'] == 'eu-west-1'
assert s3.get_bucket_location(Bucket='boto-bucket')['LocationConstraint'] is None
assert s3.head_bucket(Bucket='boto-eu')['ResponseMetadata']['HTTPHeaders']['x-amz-bucket-region'] == 'eu-west-1'
listed = s3.list_buckets()
assert [b['Name'] for b in listed['Buckets']] == ['boto-bucket', 'boto-eu'], listed['Buckets']
assert listed['Owner']['ID'] == os.environ['ROOT_ACCOUNT']
expect_error('InvalidBucketName', 400, s3.create_bucket, Bucket='Bad_Name')
expect_error('BucketAlreadyExists', 409, bob.create_bucket, Bucket='boto-bucket')
expect_error('NoSuchBucket', 404, s3.list_objects_v2, Bucket='no-such-bucket')

# Objects: metadata, ranges, conditional GETs, response overrides, copies
put = s3.put_object(Bucket='boto-bucket', Key='docs/readme.txt', Body=b'0123456789', ContentType='text/plain', Metadata={'owner': 'ops'})
assert put['ETag'] == '"%s"' % hashlib.md5(b'0123456789').hexdigest()
got = s3.get_object(Bucket='boto-bucket', Key='docs/readme.txt')
assert (got['Body'].read(), got['ContentType'], got['Metadata'], got['ContentLength']) == (b'0123456789', 'text/plain', {'owner': 'ops'}, 10)
ranged = s3.get_object(Bucket='boto-bucket', Key='docs/readme.txt', Range='bytes=-3')
assert (ranged['Body'].read(), ranged['ContentRange'], ranged['ResponseMetadata']['HTTPStatusCode']) == (b'789', 'bytes 7-9/10', 206)
expect_error('InvalidRange', 416, s3.get_object, Bucket='boto-bucket', Key='docs/readme.txt', Range='bytes=10-20')
expect_error('304', 304, s3.get_object, Bucket='boto-bucket', Key='docs/readme.txt', IfNoneMatch=put['ETag'])
expect_error('PreconditionFailed', 412, s3.get_object, Bucket='boto-bucket', Key='docs/readme.txt', IfMatch='"0000"')
assert s3.get_object(Bucket='boto-bucket', Key='docs/readme.txt', IfMatch=put['ETag'])['Body'].read() == b'0123456789'
override = s3.get_object(Bucket='boto-bucket', Key='docs/readme.txt', ResponseContentType='application/x-ferry', ResponseContentDisposition='attachment; filename="r.txt"')
assert (override['ContentType'], override['ContentDisposition']) == ('application/x-ferry', 'attachment; filename="r.txt"')
head = s3.head_object(Bucket='boto-bucket', Key='docs/readme.txt')
assert (head['ContentLength'], head['ETag']) == (10, put['ETag'])
expect_error('404', 404, s3.head_object, Bucket='boto-bucket', Key='nothing')
expect_error('NoSuchKey', 404, s3.get_object, Bucket='boto-bucket', Key='nothing')
copy = s3.copy_object(Bucket='boto-eu', Key='copied.txt', CopySource={'Bucket': 'boto-bucket', 'Key': 'docs/readme.txt'}, MetadataDirective='REPLACE', ContentType='text/x-copy', Metadata={'copied': 'yes'})
assert copy['CopyObjectResult']['ETag'] == put['ETag']
copied = s3.head_object(Bucket='boto-eu', Key='copied.txt')
assert (copied['ContentType'], copied['Metadata']) == ('text/x-copy', {'copied': 'yes'})
expect_error('InvalidRequest', 400, s3.copy_object, Bucket='boto-bucket', Key='docs/readme.txt', CopySource={'Bucket': 'boto-bucket', 'Key': 'docs/readme.txt'})
s3.copy_object(Bucket='boto-bucket', Key='docs/readme.txt', CopySource={'Bucket': 'boto-bucket', 'Key': 'docs/readme.txt'}, MetadataDirective='REPLACE', ContentType='text/plain', Metadata={'owner': 'ops'})
bob.create_bucket(Bucket='bob-bucket')
expect_error('AccessDenied', 403, bob.copy_object, Bucket='bob-bucket', Key='stolen', CopySource={'Bucket': 'boto-bucket', 'Key': 'docs/readme.txt'})
s3.put_object(Bucket='boto-bucket', Key='acl-private', Body=b'x', ACL='private', StorageClass='STANDARD')
expect_error('NotImplemented', 501, s3.put_object, Bucket='boto-bucket', Key='acl-public', Body=b'x', ACL='public-read')
expect_error('NotImplemented', 501, s3.put_object, Bucket='boto-bucket', Key='glacier', Body=b'x', StorageClass='GLACIER')
expect_error('KeyTooLongError', 400, s3.put_object, Bucket='boto-bucket', Key='k' * 1025, Body=b'x')
expect_error('MetadataTooLarge', 400, s3.put_object, Bucket='boto-bucket', Key='meta', Body=b'x', Metadata={'big': 'v' * 2100})
expect_error('BadDigest', 400, s3.put_object, Bucket='boto-bucket', Key='digest', Body=b'abc', ContentMD5='rL0Y20zC+Fzt72VPzMSk2A==')
expect_error('NotImplemented', 501, s3.get_object_acl, Bucket='boto-bucket', Key='docs/readme.txt')
expect_error('NotImplemented', 501, s3.put_bucket_versioning, Bucket='boto-bucket', VersioningConfiguration={'Status': 'Enabled'})

# Listings through botocore's paginators; keys with characters XML cannot carry survive its url encoding.
odd = ['odd/ctrl\x01char', 'odd/sp ace+plus', 'odd/uni\u00e9\U0001F600', 'odd//double', 'odd/../dots', 'odd/amp&<lt>']
for key in odd:
    s3.put_object(Bucket='boto-bucket', Key=key, Body=key.encode())
for i in range(7):
    s3.put_object(Bucket='boto-bucket', Key='many/%02d' % i, Body=b'x')
pages = list(s3.get_paginator('list_objects_v2').paginate(Bucket='boto-bucket', Prefix='odd/', PaginationConfig={'PageSize': 2}))
assert len(pages) == 3, len(pages)
assert sorted(o['Key'] for p in pages for o in p.get('Contents', [])) == sorted(odd)
for key in odd:
    assert s3.get_object(Bucket='boto-bucket', Key=key)['Body'].read() == key.encode(), key
grouped = list(s3.get_paginator('list_objects_v2').paginate(Bucket='boto-bucket', Delimiter='/', PaginationConfig={'PageSize': 1}))
assert [c['Prefix'] for p in grouped for c in p.get('CommonPrefixes', [])] == ['docs/', 'many/', 'odd/']
after = s3.list_objects_v2(Bucket='boto-bucket', Prefix='many/', StartAfter='many/04', MaxKeys=1)
assert ([o['Key'] for o in after['Contents']], after['IsTruncated'], after['KeyCount']) == (['many/05'], True, 1)
resumed = s3.list_objects_v2(Bucket='boto-bucket', Prefix='many/', ContinuationToken=after['NextContinuationToken'])
assert [o['Key'] for o in resumed['Contents']] == ['many/06']
expect_error('InvalidArgument', 400, s3.list_objects_v2, Bucket='boto-bucket', ContinuationToken='not*a*token')
v1 = list(s3.get_paginator('list_objects').paginate(Bucket='boto-bucket', Delimiter='/', PaginationConfig={'PageSize': 1}))
assert [c['Prefix'] for p in v1 for c in p.get('CommonPrefixes', [])] == ['docs/', 'many/', 'odd/']
v1keys = list(s3.get_paginator('list_objects').paginate(Bucket='boto-bucket', Prefix='many/', PaginationConfig={'PageSize': 3}))
assert [o['Key'] for p in v1keys for o in p['Contents']] == ['many/%02d' % i for i in range(7)]
expect_error('BucketNotEmpty', 409, s3.delete_bucket, Bucket='boto-bucket')
deleted = s3.delete_objects(Bucket='boto-bucket', Delete={'Objects': [{'Key': 'many/%02d' % i} for i in range(7)]})
assert len(deleted['Deleted']) == 7
quiet = s3.delete_objects(Bucket='boto-bucket', Delete={'Objects': [{'Key': 'odd/' + 'x'}], 'Quiet': True})
assert 'Deleted' not in quiet
assert s3.list_objects_v2(Bucket='boto-bucket', Prefix='many/')['KeyCount'] == 0

# Multipart: by hand, then through the transfer manager (12 MiB in 5 MiB parts), both ways.
part = os.urandom(5 * 1024 * 1024)
upload = s3.create_multipart_upload(Bucket='boto-bucket', Key='mp/by-hand', ContentType='application/x-raw', Metadata={'job': 'sms-job-9'})
p1 = s3.upload_part(Bucket='boto-bucket', Key='mp/by-hand', UploadId=upload['UploadId'], PartNumber=1, Body=part)
p2 = s3.upload_part(Bucket='boto-bucket', Key='mp/by-hand', UploadId=upload['UploadId'], PartNumber=2, Body=b'tail')
parts = s3.list_parts(Bucket='boto-bucket', Key='mp/by-hand', UploadId=upload['UploadId'], MaxParts=1)
assert ([p['PartNumber'] for p in parts['Parts']], parts['IsTruncated'], parts['NextPartNumberMarker']) == ([1], True, 1)
rest = s3.list_parts(Bucket='boto-bucket', Key='mp/by-hand', UploadId=upload['UploadId'], PartNumberMarker=1)
assert [(p['PartNumber'], p['Size']) for p in rest['Parts']] == [(2, 4)]
expect_error('InvalidPart', 400, s3.complete_multipart_upload, Bucket='boto-bucket', Key='mp/by-hand', UploadId=upload['UploadId'], MultipartUpload={'Parts': [{'PartNumber': 1, 'ETag': p2['ETag']}]})
expect_error('InvalidPartOrder', 400, s3.complete_multipart_upload, Bucket='boto-bucket', Key='mp/by-hand', UploadId=upload['UploadId'], MultipartUpload={'Parts': [{'PartNumber': 2, 'ETag': p2['ETag']}, {'PartNumber': 1, 'ETag': p1['ETag']}]})
expect_error('EntityTooSmall', 400, s3.complete_multipart_upload, Bucket='boto-bucket', Key='mp/by-hand', UploadId=upload['UploadId'], MultipartUpload={'Parts': [{'PartNumber': 2, 'ETag': p2['ETag']}, {'PartNumber': 3, 'ETag': p2['ETag']}]})
done = s3.complete_multipart_upload(Bucket='boto-bucket', Key='mp/by-hand', UploadId=upload['UploadId'], MultipartUpload={'Parts': [{'PartNumber': 1, 'ETag': p1['ETag']}, {'PartNumber': 2, 'ETag': p2['ETag']}]})
expected = hashlib.md5(hashlib.md5(part).digest() + hashlib.md5(b'tail').digest()).hexdigest() + '-2'
assert done['ETag'] == '"%s"' % expected, done['ETag']
assert done['Location'].endswith('/boto-bucket/mp/by-hand'), done['Location']
whole = s3.get_object(Bucket='boto-bucket', Key='mp/by-hand')
assert (whole['Body'].read() == part + b'tail', whole['ContentType'], whole['Metadata']) == (True, 'application/x-raw', {'job': 'sms-job-9'})
expect_error('NoSuchUpload', 404, s3.upload_part, Bucket='boto-bucket', Key='mp/by-hand', UploadId=upload['UploadId'], PartNumber=3, Body=b'late')
aborted = s3.create_multipart_upload(Bucket='boto-bucket', Key='mp/aborted')
s3.abort_multipart_upload(Bucket='boto-bucket', Key='mp/aborted', UploadId=aborted['UploadId'])
expect_error('NoSuchUpload', 404, s3.list_parts, Bucket='boto-bucket', Key='mp/aborted', UploadId=aborted['UploadId'])
data = os.urandom(12 * 1024 * 1024)
transfer = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
s3.upload_fileobj(io.BytesIO(data), 'boto-bucket', 'mp/managed.bin', Config=transfer)
assert s3.head_object(Bucket='boto-bucket', Key='mp/managed.bin')['ETag'].endswith('-3"')
out = io.BytesIO()
s3.download_fileobj('boto-bucket', 'mp/managed.bin', out, Config=transfer)
assert out.getvalue() == data
expect_error('EntityTooLarge', 400, s3.put_object, Bucket='boto-bucket', Key='too-big', Body=b'\0' * (int(os.environ['MAX_OBJECT']) + 1))

# Presigned URLs, GET and PUT (SigV4; this botocore presigns with SigV2 unless told, which S3 no longer accepts either)
v2_url = s3.generate_presigned_url('get_object', Params={'Bucket': 'boto-bucket', 'Key': 'docs/readme.txt'}, ExpiresIn=60)
try:
    urllib.request.urlopen(v2_url)
    raise AssertionError('a SigV2 presigned URL was accepted')
except urllib.error.HTTPError as e:
    body = e.read().decode()
    assert e.code == 400 and '<Code>InvalidRequest</Code>' in body and 'AWS4-HMAC-SHA256' in body, (e.code, body)
s3 = boto3.client('s3', endpoint_url=endpoint, region_name='us-east-1', config=config.merge(Config(signature_version='s3v4')))
url = s3.generate_presigned_url('get_object', Params={'Bucket': 'boto-bucket', 'Key': 'docs/readme.txt'}, ExpiresIn=60)
assert urllib.request.urlopen(url).read() == b'0123456789'
put_url = s3.generate_presigned_url('put_object', Params={'Bucket': 'boto-bucket', 'Key': 'presigned/put.txt'}, ExpiresIn=60)
urllib.request.urlopen(urllib.request.Request(put_url, data=b'put by url', method='PUT')).read()
assert s3.get_object(Bucket='boto-bucket', Key='presigned/put.txt')['Body'].read() == b'put by url'

# Tenancy and signatures
for call, kwargs in [(bob.get_object, {'Key': 'docs/readme.txt'}), (bob.put_object, {'Key': 'planted', 'Body': b'x'}), (bob.list_objects_v2, {}), (bob.delete_object, {'Key': 'docs/readme.txt'}), (bob.delete_bucket, {}), (bob.create_multipart_upload, {'Key': 'k'})]:
    expect_error('AccessDenied', 403, call, Bucket='boto-bucket', **kwargs)
expect_error('403', 403, bob.head_bucket, Bucket='boto-bucket')
assert [b['Name'] for b in bob.list_buckets()['Buckets']] == ['bob-bucket']
assert bob.list_objects_v2(Bucket='bob-bucket')['KeyCount'] == 0
expect_error('SignatureDoesNotMatch', 403, client(os.environ['AWS_ACCESS_KEY_ID'], 'not-the-secret').list_buckets)
expect_error('InvalidAccessKeyId', 403, client('AKIANOTAKEYINFERRY00', 'x').list_buckets)

print(json.dumps({'errors_checked': checks}))
`;

describe('boto3 against the S3 endpoint', { skip: SKIP }, () => {
  let t: TestFerry;
  let home: string;
  let bob: AccountKeys;

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'ferry-s3boto-'));
    t = await startTestFerry({ artifactLimits: { maxObjectBytes: MAX_OBJECT } });
    bob = await t.createAccount('bob');
  });

  after(async () => {
    await t?.close();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  test('every operation and error code, as botocore parses them', async () => {
    const result = await run(SYSTEM_PYTHON, ['-c', SCRIPT], {
      env: {
        ...awsEnv(t.ferry.root, home),
        FERRY_URL: t.ferry.url,
        ROOT_ACCOUNT: t.ferry.root.accountId,
        BOB_KEY: bob.accessKeyId,
        BOB_SECRET: bob.secretAccessKey,
        MAX_OBJECT: String(MAX_OBJECT),
      },
      timeoutMs: 180_000,
    });
    assert.equal(result.code, 0, `boto3 script failed:\n${result.stderr}`);
    const { errors_checked: checked } = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as { errors_checked: string[] };
    for (const code of ['AccessDenied', 'BucketAlreadyExists', 'BucketAlreadyOwnedByYou', 'BucketNotEmpty', 'EntityTooLarge', 'EntityTooSmall', 'InvalidBucketName', 'InvalidPart', 'InvalidPartOrder', 'InvalidRange', 'NoSuchBucket', 'NoSuchKey', 'NoSuchUpload', 'SignatureDoesNotMatch', 'InvalidAccessKeyId', 'PreconditionFailed', 'NotImplemented', 'KeyTooLongError', 'BadDigest']) {
      assert.ok(checked.includes(code), `${code} was checked`);
    }
  });
});
