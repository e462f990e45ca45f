/**
 * The XML S3 speaks, both ways: a writer for response documents, and a small strict reader for the few request
 * bodies S3 takes (CreateBucketConfiguration, CompleteMultipartUpload, Delete). The reader accepts elements,
 * attributes, text, CDATA, comments and the XML declaration; it refuses DOCTYPEs (so no entity expansion of any
 * kind) and anything malformed, which the caller reports as MalformedXML.
 */

export const S3_NAMESPACE = 'http://s3.amazonaws.com/doc/2006-03-01/';

/** A child element: its name and either text or further children. Undefined and empty arrays are left out. */
export type XmlContent = string | number | boolean | XmlNode[] | undefined;
export type XmlNode = [name: string, content: XmlContent];

/** Characters XML 1.0 cannot carry even as references; a caller that may hold them uses URL encoding first. */
const NOT_XML = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g;

export function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/\r/g, '&#13;')
    .replace(NOT_XML, (ch) => `&#${ch.codePointAt(0)};`);
}

function writeNodes(nodes: readonly XmlNode[]): string {
  let out = '';
  for (const [name, content] of nodes) {
    if (content === undefined) continue;
    out += Array.isArray(content) ? `<${name}>${writeNodes(content)}</${name}>` : `<${name}>${escapeXml(String(content))}</${name}>`;
  }
  return out;
}

/** A complete response document holding elements or text, with the S3 namespace on its root (null: none). */
export function xmlDocument(root: string, content: readonly XmlNode[] | string, namespace: string | null = S3_NAMESPACE): Buffer {
  const ns = namespace ? ` xmlns="${namespace}"` : '';
  const inner = typeof content === 'string' ? escapeXml(content) : writeNodes(content);
  return Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n<${root}${ns}>${inner}</${root}>`, 'utf8');
}

// ——— Reading ———

export interface XmlElement {
  name: string;
  children: XmlElement[];
  text: string;
}

export class XmlSyntaxError extends Error {}

const NAME = /^[A-Za-z_][\w.:-]*/;
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const MAX_DEPTH = 16;

function decodeText(raw: string): string {
  return raw.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-z]+);|&/g, (match, entity: string | undefined) => {
    if (entity === undefined) throw new XmlSyntaxError('A bare & in text.');
    if (entity.startsWith('#')) {
      const code = entity[1] === 'x' ? parseInt(entity.slice(2), 16) : parseInt(entity.slice(1), 10);
      if (!(code > 0 && code <= 0x10ffff) || (code >= 0xd800 && code <= 0xdfff)) throw new XmlSyntaxError(`Bad character reference ${match}.`);
      return String.fromCodePoint(code);
    }
    const value = ENTITIES[entity];
    if (value === undefined) throw new XmlSyntaxError(`Unknown entity ${match}.`);
    return value;
  });
}

/** Parses a whole document into its root element (namespace prefixes are dropped from names). */
export function parseXml(source: string): XmlElement {
  let at = 0;
  const skipMisc = () => {
    for (;;) {
      const ws = /^\s*/.exec(source.slice(at))![0].length;
      at += ws;
      if (source.startsWith('<?', at)) {
        const end = source.indexOf('?>', at);
        if (end < 0) throw new XmlSyntaxError('Unterminated processing instruction.');
        at = end + 2;
      } else if (source.startsWith('<!--', at)) {
        const end = source.indexOf('-->', at);
        if (end < 0) throw new XmlSyntaxError('Unterminated comment.');
        at = end + 3;
      } else if (source.startsWith('<!', at)) {
        throw new XmlSyntaxError('DOCTYPE and other declarations are not accepted.');
      } else {
        return;
      }
    }
  };

  const element = (depth: number): XmlElement => {
    if (depth > MAX_DEPTH) throw new XmlSyntaxError('The document nests too deeply.');
    if (source[at] !== '<') throw new XmlSyntaxError(`Expected an element at offset ${at}.`);
    at++;
    const name = NAME.exec(source.slice(at, at + 256))?.[0];
    if (!name) throw new XmlSyntaxError(`Expected an element name at offset ${at}.`);
    at += name.length;
    const tagEnd = /^(?:\s+[A-Za-z_][\w.:-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*\s*(\/?)>/.exec(source.slice(at));
    if (!tagEnd) throw new XmlSyntaxError(`Malformed start tag <${name}>.`);
    at += tagEnd[0].length;
    const node: XmlElement = { name: name.replace(/^.*:/, ''), children: [], text: '' };
    if (tagEnd[1] === '/') return node;
    for (;;) {
      const next = source.indexOf('<', at);
      if (next < 0) throw new XmlSyntaxError(`Element <${name}> is not closed.`);
      node.text += decodeText(source.slice(at, next));
      at = next;
      if (source.startsWith('</', at)) {
        const close = new RegExp(`^</${name.replace(/[.]/g, '\\.')}\\s*>`).exec(source.slice(at, at + name.length + 64));
        if (!close) throw new XmlSyntaxError(`Element <${name}> is closed by another tag.`);
        at += close[0].length;
        return node;
      }
      if (source.startsWith('<![CDATA[', at)) {
        const end = source.indexOf(']]>', at);
        if (end < 0) throw new XmlSyntaxError('Unterminated CDATA section.');
        node.text += source.slice(at + 9, end);
        at = end + 3;
      } else if (source.startsWith('<!--', at)) {
        const end = source.indexOf('-->', at);
        if (end < 0) throw new XmlSyntaxError('Unterminated comment.');
        at = end + 3;
      } else if (source.startsWith('<?', at) || source.startsWith('<!', at)) {
        throw new XmlSyntaxError('Declarations are not accepted inside elements.');
      } else {
        node.children.push(element(depth + 1));
      }
    }
  };

  skipMisc();
  const root = element(0);
  skipMisc();
  if (at !== source.length) throw new XmlSyntaxError('Content after the root element.');
  return root;
}

/** The children of `parent` named `name`. */
export function childrenNamed(parent: XmlElement, name: string): XmlElement[] {
  return parent.children.filter((c) => c.name === name);
}

/** The text of the one child named `name`, or undefined; more than one is malformed. */
export function childText(parent: XmlElement, name: string): string | undefined {
  const found = childrenNamed(parent, name);
  if (found.length > 1) throw new XmlSyntaxError(`<${parent.name}> has more than one <${name}>.`);
  return found[0]?.text.trim();
}
