/** The S3 XML writer and the small strict reader for request bodies. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { childrenNamed, childText, escapeXml, parseXml, xmlDocument, XmlSyntaxError } from '../../src/server/s3/xml.ts';

test('documents are written with the S3 namespace, escaped text, and empty members left out', () => {
  const xml = xmlDocument('ListBucketResult', [
    ['Name', 'b'],
    ['Prefix', 'a&b<c>"d"'],
    ['Delimiter', undefined],
    ['IsTruncated', false],
    ['Contents', [['Key', 'k\r1'], ['Size', 3]]],
  ]).toString('utf8');
  assert.equal(
    xml,
    '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>a&amp;b&lt;c&gt;&quot;d&quot;</Prefix><IsTruncated>false</IsTruncated><Contents><Key>k&#13;1</Key><Size>3</Size></Contents></ListBucketResult>',
  );
  assert.equal(xmlDocument('Error', [['Code', 'X']], null).toString('utf8'), '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>X</Code></Error>');
  assert.equal(xmlDocument('LocationConstraint', 'eu-west-1').toString('utf8').endsWith('>eu-west-1</LocationConstraint>'), true);
  assert.equal(escapeXml('tab\tok\u0001'), 'tab\tok&#1;');
});

test('request bodies parse: declaration, namespaces, attributes, entities, CDATA, comments', () => {
  const root = parseXml(`<?xml version="1.0" encoding="UTF-8"?>
    <!-- a comment -->
    <CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
      <Part><PartNumber>1</PartNumber><ETag>&quot;abc&quot;</ETag></Part>
      <Part attr='x'><PartNumber> 2 </PartNumber><ETag><![CDATA["d<e>f"]]></ETag></Part>
      <s3:Part xmlns:s3="x"><s3:PartNumber>3</s3:PartNumber><s3:ETag>&#x41;&#66;</s3:ETag></s3:Part>
      <Empty/>
    </CompleteMultipartUpload>`);
  assert.equal(root.name, 'CompleteMultipartUpload');
  const parts = childrenNamed(root, 'Part').map((p) => [childText(p, 'PartNumber'), childText(p, 'ETag')]);
  assert.deepEqual(parts, [
    ['1', '"abc"'],
    ['2', '"d<e>f"'],
    ['3', 'AB'],
  ]);
});

test('malformed or dangerous documents are refused', () => {
  const bad = [
    '',
    '<a>',
    '<a></b>',
    '<a>x</a><b/>',
    '<a>&unknown;</a>',
    '<a>& bare</a>',
    '<a>&#0;</a>',
    '<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>',
    '<a><!DOCTYPE b></a>',
    '<a attr=noquotes/>',
    `${'<a>'.repeat(40)}${'</a>'.repeat(40)}`,
    '<a><b>1</b><b>2</b></a>',
  ];
  for (const source of bad) {
    assert.throws(
      () => {
        const root = parseXml(source);
        childText(root, 'b');
      },
      XmlSyntaxError,
      JSON.stringify(source),
    );
  }
});
