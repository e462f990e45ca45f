/**
 * A small, safe XML reader for the VM definition files Ferry reads (libvirt domain XML, Hyper-V 2012 XML
 * configurations). It builds a plain element tree and nothing more: no DTDs (a DOCTYPE is rejected, so no entity
 * expansion), no external resources, only the five predefined entities and numeric character references, and a size
 * cap. Namespace prefixes are kept as part of names (`libosinfo:os`).
 *
 * Why not an npm parser: these files are tiny and regular, the reader is ~150 lines, and a dependency for it would be
 * one more thing to audit and keep up to date in a process that reads untrusted files.
 */

export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  /** Concatenated character data directly inside this element (not its descendants), entity-decoded. */
  text: string;
}

export class XmlError extends Error {}

export const MAX_XML_BYTES = 1024 * 1024;

const NAME = /^[A-Za-z_][A-Za-z0-9_.:-]*/;

function decodeEntities(raw: string, at: number): string {
  if (!raw.includes('&')) return raw;
  return raw.replace(/&(?:([^;&\s]{1,10});)?/g, (_all, ref: string | undefined) => {
    if (ref === undefined) throw new XmlError(`bare '&' near offset ${at}`);
    switch (ref) {
      case 'lt':
        return '<';
      case 'gt':
        return '>';
      case 'amp':
        return '&';
      case 'quot':
        return '"';
      case 'apos':
        return "'";
    }
    let code = NaN;
    if (/^#x[0-9a-fA-F]+$/.test(ref)) code = Number.parseInt(ref.slice(2), 16);
    else if (/^#[0-9]+$/.test(ref)) code = Number.parseInt(ref.slice(1), 10);
    if (!Number.isFinite(code) || code <= 0 || code > 0x10ffff) throw new XmlError(`unknown entity &${ref}; near offset ${at}`);
    return String.fromCodePoint(code);
  });
}

/** Parses a whole document and returns its root element. Throws XmlError on anything malformed. */
export function parseXml(input: string): XmlElement {
  if (input.length > MAX_XML_BYTES) throw new XmlError(`document larger than ${MAX_XML_BYTES} bytes`);
  let pos = 0;
  if (input.charCodeAt(0) === 0xfeff) pos = 1;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;

  const fail = (message: string): never => {
    const line = input.slice(0, pos).split('\n').length;
    throw new XmlError(`line ${line}: ${message}`);
  };

  while (pos < input.length) {
    const lt = input.indexOf('<', pos);
    const textEnd = lt === -1 ? input.length : lt;
    if (textEnd > pos) {
      const text = input.slice(pos, textEnd);
      const current = stack.at(-1);
      if (current) current.text += decodeEntities(text, pos);
      else if (text.trim() !== '') fail('text outside the root element');
      pos = textEnd;
      continue;
    }
    // At '<'.
    if (input.startsWith('<!--', pos)) {
      const end = input.indexOf('-->', pos + 4);
      if (end === -1) fail('unterminated comment');
      pos = end + 3;
    } else if (input.startsWith('<?', pos)) {
      const end = input.indexOf('?>', pos + 2);
      if (end === -1) fail('unterminated processing instruction');
      pos = end + 2;
    } else if (input.startsWith('<![CDATA[', pos)) {
      const end = input.indexOf(']]>', pos + 9);
      if (end === -1) fail('unterminated CDATA section');
      const current = stack.at(-1);
      if (!current) fail('CDATA outside the root element');
      current!.text += input.slice(pos + 9, end);
      pos = end + 3;
    } else if (input.startsWith('<!', pos)) {
      fail('DOCTYPE and other declarations are not accepted');
    } else if (input.startsWith('</', pos)) {
      const m = NAME.exec(input.slice(pos + 2, pos + 2 + 256));
      if (!m) fail('bad closing tag');
      const name = m![0];
      const current = stack.pop();
      if (!current || current.name !== name) fail(`closing tag </${name}> does not match <${current?.name ?? ''}>`);
      pos += 2 + name.length;
      while (/\s/.test(input[pos] ?? '')) pos++;
      if (input[pos] !== '>') fail(`expected '>' after </${name}`);
      pos++;
    } else {
      const m = NAME.exec(input.slice(pos + 1, pos + 1 + 256));
      if (!m) fail('bad element name');
      const element: XmlElement = { name: m![0], attributes: {}, children: [], text: '' };
      pos += 1 + element.name.length;
      let selfClosing = false;
      for (;;) {
        const ws = pos;
        while (/\s/.test(input[pos] ?? '')) pos++;
        if (pos >= input.length) fail(`unterminated tag <${element.name}>`);
        if (input.startsWith('/>', pos)) {
          selfClosing = true;
          pos += 2;
          break;
        }
        if (input[pos] === '>') {
          pos++;
          break;
        }
        if (ws === pos) fail(`expected whitespace between attributes of <${element.name}>`);
        const am = NAME.exec(input.slice(pos, pos + 256));
        if (!am) fail(`bad attribute in <${element.name}>`);
        const attr = am![0];
        pos += attr.length;
        while (/\s/.test(input[pos] ?? '')) pos++;
        if (input[pos] !== '=') fail(`expected '=' after attribute ${attr}`);
        pos++;
        while (/\s/.test(input[pos] ?? '')) pos++;
        const quote = input[pos];
        if (quote !== '"' && quote !== "'") fail(`attribute ${attr} value must be quoted`);
        const end = input.indexOf(quote!, pos + 1);
        if (end === -1) fail(`unterminated value of attribute ${attr}`);
        const raw = input.slice(pos + 1, end);
        if (raw.includes('<')) fail(`'<' in the value of attribute ${attr}`);
        if (Object.hasOwn(element.attributes, attr)) fail(`duplicate attribute ${attr}`);
        element.attributes[attr] = decodeEntities(raw, pos);
        pos = end + 1;
      }
      const parent = stack.at(-1);
      if (parent) parent.children.push(element);
      else if (root) fail('more than one root element');
      else root = element;
      if (!selfClosing) stack.push(element);
      if (stack.length > 64) fail('elements nested too deeply');
    }
  }
  if (stack.length > 0) throw new XmlError(`unclosed element <${stack.at(-1)!.name}>`);
  if (!root) throw new XmlError('no root element');
  return root;
}

/** Direct children named `name`. */
export function childrenNamed(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((c) => c.name === name);
}

/** The first direct child named `name`. */
export function child(element: XmlElement, name: string): XmlElement | undefined {
  return element.children.find((c) => c.name === name);
}

/** Follows a path of child names (`child(child(e, a), b)`…). */
export function childPath(element: XmlElement, ...names: string[]): XmlElement | undefined {
  let current: XmlElement | undefined = element;
  for (const name of names) {
    if (!current) return undefined;
    current = child(current, name);
  }
  return current;
}

/** Every descendant (depth first, document order) matching the predicate. */
export function findAll(element: XmlElement, predicate: (e: XmlElement) => boolean): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement) => {
    for (const c of e.children) {
      if (predicate(c)) out.push(c);
      walk(c);
    }
  };
  walk(element);
  return out;
}
