import { test } from 'node:test';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCscServer } from './helpers/csc-server.ts';
import { agreementPdf, AQB_EXAMPLE, zv } from './helpers/signing.ts';
import { tempDir, run } from './helpers/tools.ts';

test('explore csc', async () => {
  const { dir } = tempDir();
  const csc = await startCscServer({ credentials: [{ id: 'klose-qes', owner: 'klose', cn: 'Kai Klose', pin: '4711', otp: '123456' }], users: { klose: 'geheim' } });
  writeFileSync(join(dir, 'ca.pem'), csc.ca.pem);
  writeFileSync(join(dir, 'in.pdf'), await agreementPdf(AQB_EXAMPLE));
  const env = { ZV_CSC_URL: csc.base, ZV_CSC_USER: 'klose', ZV_CSC_PASSWORD: 'geheim', ZV_CSC_PIN: '4711', ZV_CSC_OTP: '123456' };
  const r = await zv(['sign', join(dir, 'in.pdf'), '--signatory', 'ministry:1', '-o', join(dir, 'out.pdf'), '--key', 'csc:klose-qes'], env);
  console.log(r.code, r.stdout, r.stderr);
  console.log(run('pdfsig', ['-nocert', join(dir, 'out.pdf')], { allowExit: [1, 2] }));
  const v = await zv(['verify', join(dir, 'out.pdf'), '--trust', join(dir, 'ca.pem')]);
  console.log(v.code, v.stdout.split('\n').filter(l=>/Ergebnis|GÜLTIG|Zertifikat/.test(l)).join('\n'));
  const bad = await zv(['sign', join(dir, 'in.pdf'), '--signatory', 'ministry:1', '-o', join(dir, 'x.pdf'), '--key', 'csc:klose-qes'], { ...env, ZV_CSC_PIN: '0000' });
  console.log(bad.code, bad.stderr);
  csc.knobs.signOtherHash = true;
  const other = await zv(['sign', join(dir, 'in.pdf'), '--signatory', 'ministry:1', '-o', join(dir, 'x.pdf'), '--key', 'csc:klose-qes'], env);
  console.log(other.code, other.stderr);
  await csc.close();
  const down = await zv(['sign', join(dir, 'in.pdf'), '--signatory', 'ministry:1', '-o', join(dir, 'x.pdf'), '--key', 'csc:klose-qes'], env);
  console.log(down.code, down.stderr);
  console.log(csc.log.map(l => `${l.path} ${l.status}`).join('\n'));
});
