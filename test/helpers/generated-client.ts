/**
 * A client generated from the served OpenAPI document, as an API user would generate one
 * (openapi-typescript), and the TypeScript compiler run over it beside code that uses it: the role
 * matrix types every route's real answer with the generated client's response type and compiles.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import openapiTS, { astToString, type OpenAPI3 } from 'openapi-typescript';
import ts from 'typescript';
import { toOpenApiPath } from '../../src/http/openapi.js';

/** The client's types (`paths`, `components`) generated from the document. */
export async function generateClient(doc: unknown): Promise<string> {
  return astToString(await openapiTS(doc as OpenAPI3));
}

/** TypeScript that types `body` as what the generated client says `METHOD path` answers with `status`. */
export function typedAnswer(name: string, method: string, expressPath: string, status: number, body: unknown): string {
  const type = `paths[${JSON.stringify(toOpenApiPath(expressPath))}][${JSON.stringify(method.toLowerCase())}]['responses'][${status}]['content']['application/json']`;
  return `export const ${name}: ${type} = ${JSON.stringify(body)};`;
}

/**
 * Compiles `client.ts` (the generated client) and `answers.ts` (which imports `paths` from it) with the
 * project's strictness; answers the compiler's errors as `file:line: message`, none when it compiles.
 */
export async function typeCheck(client: string, answers: string): Promise<string[]> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-client-'));
  try {
    await fs.writeFile(path.join(dir, 'client.ts'), client);
    await fs.writeFile(path.join(dir, 'answers.ts'), `import type { paths } from './client.js';\n${answers}\n`);
    const program = ts.createProgram([path.join(dir, 'answers.ts')], {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ['lib.es2022.d.ts'],
      types: [],
      skipLibCheck: false,
    });
    return ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file && d.start !== undefined ? `${path.basename(d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}: ` : '';
      return where + ts.flattenDiagnosticMessageText(d.messageText, '\n').slice(0, 600);
    });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
