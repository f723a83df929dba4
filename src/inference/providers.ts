/**
 * Execution-provider selection. ORT throws when a provider's library is missing, so selection is an
 * explicit try-in-order. WebGPU is skipped when the only Vulkan drivers are software rasterisers
 * (lavapipe, SwiftShader): a CPU emulating a GPU is slower than ORT's own CPU provider.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Provider } from './protocol.js';

const ICD_DIRS = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d', '/usr/local/nvidia/share/vulkan/icd.d'];
const SOFTWARE_ICD = /lvp|lavapipe|llvmpipe|swiftshader|swrast/i;

export function vulkanDrivers(env: NodeJS.ProcessEnv = process.env): { hardware: string[]; software: string[] } {
  const explicit = (env.VK_DRIVER_FILES ?? env.VK_ICD_FILENAMES ?? '').split(':').filter(Boolean);
  const files = explicit.length
    ? explicit
    : ICD_DIRS.flatMap((d) => {
        try {
          return fs.readdirSync(d).filter((f) => f.endsWith('.json')).map((f) => path.join(d, f));
        } catch {
          return [];
        }
      });
  const hardware: string[] = [];
  const software: string[] = [];
  for (const f of files) {
    let lib = '';
    try {
      lib = String((JSON.parse(fs.readFileSync(f, 'utf8')) as { ICD?: { library_path?: string } }).ICD?.library_path ?? '');
    } catch {
      continue;
    }
    (SOFTWARE_ICD.test(f) || SOFTWARE_ICD.test(lib) ? software : hardware).push(path.basename(f));
  }
  return { hardware, software };
}

/** Why a provider should not even be tried on this host, or null to try it. */
export function skipReason(provider: Provider, env: NodeJS.ProcessEnv = process.env): string | null {
  if (provider === 'webgpu') {
    const { hardware, software } = vulkanDrivers(env);
    if (hardware.length === 0) {
      return software.length
        ? `only software Vulkan drivers found (${software.join(', ')}); the CPU provider is faster`
        : 'no Vulkan driver found (a GPU host needs libvulkan1 and the vendor ICD)';
    }
  }
  return null;
}

export function sessionProviderOptions(provider: Provider): unknown[] {
  if (provider === 'cuda') return [{ name: 'cuda', deviceId: 0 }];
  if (provider === 'webgpu') return [{ name: 'webgpu' }];
  return ['cpu'];
}

/** Tries each provider in order with `create`; returns the first that works and why the others did not. */
export async function createWithFallback<T>(
  providers: Provider[],
  create: (p: Provider) => Promise<T>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ value: T; provider: Provider; attempts: { provider: Provider; error: string }[] }> {
  const attempts: { provider: Provider; error: string }[] = [];
  for (const p of providers) {
    const skip = skipReason(p, env);
    if (skip) {
      attempts.push({ provider: p, error: `skipped: ${skip}` });
      continue;
    }
    try {
      return { value: await create(p), provider: p, attempts };
    } catch (err) {
      attempts.push({ provider: p, error: firstLine(err) });
    }
  }
  const detail = attempts.map((a) => `${a.provider}: ${a.error}`).join('; ');
  throw Object.assign(new Error(`no execution provider could run the model (${detail})`), { attempts });
}

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0].slice(0, 300);
}
