import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { listPartners, findPartner, vonForm } from '../src/registry/partners.ts';
import { listMinistries, ministryOn, ministerOn } from '../src/registry/ministries.ts';
import { chooseEdition } from '../src/registry/editions.ts';

const shared = (name: string) => JSON.parse(readFileSync(new URL(`../../shared/reference/${name}`, import.meta.url), 'utf8'));

test('the partner registry carries the reference data for all 26 partners, plus accusative and "von" forms', () => {
  const reference: any[] = shared('partners.json');
  assert.equal(listPartners().length, 26);
  assert.deepEqual(listPartners().map((p) => p.id), reference.map((p) => p.id));
  for (const r of reference) {
    const p = findPartner(r.id)!;
    for (const key of ['name', 'kind', 'gender', 'nominative', 'dative', 'genitive', 'locative', 'seat', 'regierungsbezirk'] as const) {
      assert.equal(p[key], r[key], `${r.id}.${key}`);
    }
    assert.deepEqual(p.headTitle, r.head_title);
    const article = p.gender === 'm' ? 'den' : 'die';
    assert.equal(p.accusative, p.nominative.replace(/^(der|die) /, `${article} `), `${r.id} accusative`);
    assert.equal(p.von, vonForm(p.dative), `${r.id} von-form`);
  }
  assert.equal(findPartner('werra-meissner-kreis')!.accusative, 'den Werra-Meißner-Kreis');
  assert.equal(findPartner('stadt-kassel')!.von, 'von der Stadt Kassel');
  assert.equal(findPartner('hochtaunuskreis')!.seat, 'Bad Homburg v. d. Höhe');
  assert.equal(listPartners().filter((p) => p.kind === 'kreisfreie Stadt').length, 5);
});

test('ministries by date agree with the reference; the renaming falls on 18 January 2024', () => {
  const reference: any[] = shared('ministries.json');
  assert.deepEqual(listMinistries().map((m) => [m.name, m.dative, m.genitive, m.abbreviation, m.validFrom]), reference.map((m) => [m.name, m.dative, m.genitive, m.abbreviation, m.validFrom]));
  assert.equal(ministryOn('2024-01-17')!.name, 'Hessisches Ministerium für Soziales und Integration');
  assert.equal(ministryOn('2024-01-18')!.name, 'Hessisches Ministerium für Arbeit, Integration, Jugend und Soziales');
  assert.equal(ministryOn('2013-12-31'), undefined);
  assert.equal(ministerOn(ministryOn('2016-05-01')!, '2016-05-01')!.name, 'Stefan Grüttner');
  assert.equal(ministerOn(ministryOn('2023-05-30')!, '2023-05-30')!.name, 'Kai Klose');
  assert.equal(ministerOn(ministryOn('2030-01-01')!, '2030-01-01')!.title, 'Staatsministerin');
  for (const m of listMinistries()) assert.equal(m.signatureLines.join(' '), m.name, `${m.id}: signature lines spell the name`);
});

test('edition choice: latest edition not after the year; named editions must exist', () => {
  assert.equal(chooseEdition('aqb', 2023).edition!.edition, '2023');
  assert.equal(chooseEdition('aqb', 2024).edition!.edition, '2024');
  assert.equal(chooseEdition('aqb', 2030).edition!.edition, '2024');
  assert.equal(chooseEdition('sgb2', 2030).edition!.edition, '2023');
  assert.equal(chooseEdition('aqb', 2024, '2023').edition!.edition, '2023');
  assert.match(chooseEdition('aqb', 2020).warning!, /earliest edition \(2023\)/);
  assert.match(chooseEdition('sgb2', 2023, '2024').error!, /unknown edition "2024" for type "sgb2" \(available: 2023\)/);
});
