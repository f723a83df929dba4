/**
 * The `input` field of /v1/moderate and /v1/moderations, checked by hand rather than with a zod union
 * so that every rejection names the exact element and limit at fault.
 */
import type { Config } from '../config.js';
import { badRequest } from '../errors.js';
import type { ModerationInput } from '../moderation/moderation.service.js';
import { cleanText } from './validation.js';

type Limits = Config['limits'];

const SHAPE = 'input must be a string, an array of strings, or an array of {"text", "context"?, "external_id"?, "author_id"?, "thread_id"?} objects';
const ITEM_KEYS = new Set(['text', 'context', 'external_id', 'author_id', 'thread_id']);
/** The platform's own ids an input may carry, and where each goes. */
const ID_FIELDS = [
  ['external_id', 'externalId'],
  ['author_id', 'authorId'],
  ['thread_id', 'threadId'],
] as const;

function text(value: unknown, field: string, max: number, limitName: string): string {
  if (typeof value !== 'string') throw badRequest('invalid_request', `${field} must be a string, got ${kind(value)}`);
  if (value.length > max) {
    throw badRequest('text_too_long', `${field} is ${value.length} characters; the limit is ${max} (${limitName})`);
  }
  return cleanText(value, field);
}

export function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : typeof v;
}

function checkCount(n: number, limits: Limits): void {
  if (n === 0) throw badRequest('invalid_request', 'input must contain at least one item');
  if (n > limits.maxInputs) {
    throw badRequest('too_many_inputs', `input has ${n} items; the limit is ${limits.maxInputs} per request (MAX_INPUTS)`);
  }
}

export function parseModerateInput(raw: unknown, limits: Limits): ModerationInput[] {
  if (raw === undefined) throw badRequest('invalid_request', `input is required; ${SHAPE}`);
  if (typeof raw === 'string') return [{ text: text(raw, 'input', limits.maxTextLength, 'MAX_TEXT_LENGTH') }];
  if (!Array.isArray(raw)) throw badRequest('invalid_request', `${SHAPE}; got ${kind(raw)}`);
  checkCount(raw.length, limits);
  return raw.map((item: unknown, i) => {
    const at = `input[${i}]`;
    if (typeof item === 'string') return { text: text(item, at, limits.maxTextLength, 'MAX_TEXT_LENGTH') };
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      throw badRequest('invalid_request', `${at} must be a string or a {"text", "context"?, "external_id"?, "author_id"?, "thread_id"?} object, got ${kind(item)}`);
    }
    const o = item as Record<string, unknown>;
    const unknown = Object.keys(o).filter((k) => !ITEM_KEYS.has(k));
    if (unknown.length) {
      throw badRequest('invalid_request', `${at} has unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')}`);
    }
    if (!('text' in o)) throw badRequest('invalid_request', `${at}.text is required`);
    const out: ModerationInput = { text: text(o.text, `${at}.text`, limits.maxTextLength, 'MAX_TEXT_LENGTH') };
    if (o.context !== undefined && o.context !== null) {
      out.context = text(o.context, `${at}.context`, limits.maxContextLength, 'MAX_CONTEXT_LENGTH');
    }
    for (const [field, key] of ID_FIELDS) {
      if (o[field] === undefined || o[field] === null) continue;
      const id = text(o[field], `${at}.${field}`, 256, 'ids are at most 256 characters');
      if (id.length === 0) throw badRequest('invalid_request', `${at}.${field} must not be empty`);
      out[key] = id;
    }
    return out;
  });
}

/** OpenAI's form: a string, strings, or multimodal parts of which modtune reads only text. */
export function parseOpenAIInput(raw: unknown, limits: Limits): ModerationInput[] {
  if (raw === undefined) throw badRequest('invalid_request', 'input is required');
  if (typeof raw === 'string') return [{ text: text(raw, 'input', limits.maxTextLength, 'MAX_TEXT_LENGTH') }];
  if (!Array.isArray(raw)) throw badRequest('invalid_request', `input must be a string or an array, got ${kind(raw)}`);
  checkCount(raw.length, limits);
  if (raw.every((x) => typeof x === 'string')) {
    return raw.map((s, i) => ({ text: text(s, `input[${i}]`, limits.maxTextLength, 'MAX_TEXT_LENGTH') }));
  }
  // Multimodal parts describe one input together: join the text parts; images are not supported.
  const parts: string[] = [];
  raw.forEach((p: unknown, i) => {
    const o = p as { type?: unknown; text?: unknown } | null;
    if (!o || typeof o !== 'object' || Array.isArray(o)) {
      throw badRequest('invalid_request', `input[${i}] must be a string or a {"type": "text", "text"} part, got ${kind(p)}`);
    }
    if (o.type === 'image_url') throw badRequest('unsupported_input', `input[${i}] is an image; modtune moderates text only`);
    if (o.type !== 'text') throw badRequest('invalid_request', `input[${i}].type must be "text", got ${JSON.stringify(o.type)}`);
    parts.push(text(o.text, `input[${i}].text`, limits.maxTextLength, 'MAX_TEXT_LENGTH'));
  });
  const joined = parts.join('\n');
  if (joined.length > limits.maxTextLength) {
    throw badRequest('text_too_long', `the text parts of input are ${joined.length} characters together; the limit is ${limits.maxTextLength} (MAX_TEXT_LENGTH)`);
  }
  return [{ text: joined }];
}
