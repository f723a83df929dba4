import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { createWithFallback, skipReason, vulkanDrivers } from '../../src/inference/providers.js';

function icd(dir: string, name: string, lib: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: lib, api_version: '1.3.0' } }));
  return f;
}

test('WebGPU is skipped with no Vulkan driver or only software ones, tried with a hardware ICD', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modtune-icd-'));
  const lvp = icd(dir, 'lvp_icd.x86_64.json', '/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so');
  const nv = icd(dir, 'nvidia_icd.json', 'libGLX_nvidia.so.0');
  assert.match(skipReason('webgpu', { VK_DRIVER_FILES: path.join(dir, 'none.json') }) ?? '', /no Vulkan driver/);
  assert.match(skipReason('webgpu', { VK_DRIVER_FILES: lvp }) ?? '', /only software Vulkan drivers found \(lvp_icd/);
  assert.equal(skipReason('webgpu', { VK_DRIVER_FILES: `${lvp}:${nv}` }), null);
  assert.deepEqual(vulkanDrivers({ VK_ICD_FILENAMES: `${lvp}:${nv}` }), { hardware: ['nvidia_icd.json'], software: ['lvp_icd.x86_64.json'] });
  assert.equal(skipReason('cpu', {}), null);
  assert.equal(skipReason('cuda', {}), null);
});

test('createWithFallback tries providers in order and records why each failed', async () => {
  const tried: string[] = [];
  const r = await createWithFallback(
    ['cuda', 'webgpu', 'cpu'],
    async (p) => {
      tried.push(p);
      if (p === 'cuda') throw new Error('OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library\nmore');
      return `session on ${p}`;
    },
    { VK_DRIVER_FILES: '/nonexistent.json' },
  );
  assert.equal(r.value, 'session on cpu');
  assert.equal(r.provider, 'cpu');
  assert.deepEqual(tried, ['cuda', 'cpu'], 'webgpu was not even tried without a Vulkan driver');
  assert.deepEqual(
    r.attempts.map((a) => a.provider),
    ['cuda', 'webgpu'],
  );
  assert.equal(r.attempts[0].error, 'OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library');
  await assert.rejects(
    createWithFallback(['cuda'], async () => {
      throw new Error('no');
    }),
    /no execution provider could run the model \(cuda: no\)/,
  );
});
