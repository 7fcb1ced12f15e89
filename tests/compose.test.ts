import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { composeFromData } from '../src/compose/index.ts';
import { plainText } from '../src/document/text.ts';
import { listPartners } from '../src/registry/partners.ts';
import { berlinDate, berlinDateTime, capitalize, formatDate, formatEuro, joinGerman } from '../src/compose/format.ts';
import { ValidationError } from '../src/model/agreement.ts';
import { compareWords, normaliseLines, until, words } from './helpers/words.ts';

const REFERENCE = new URL('../../shared/reference/', import.meta.url);
const EXAMPLES = ['aqb-2023-werra-meissner-kreis', 'aqb-2024-landkreis-offenbach', 'sgb2-2023-landkreis-kassel'];

function example(name: string): unknown {
  return JSON.parse(readFileSync(new URL(`../examples/${name}.json`, import.meta.url), 'utf8'));
}

function textOf(data: unknown, today = '2026-11-21'): string {
  return plainText(composeFromData(data, { today }).tree);
}

test('composed wording of each example equals the canonical reference line by line (before the signature block)', () => {
  for (const name of EXAMPLES) {
    const reference = until(normaliseLines(readFileSync(new URL(`${name}.txt`, REFERENCE), 'utf8')), /^Wiesbaden, den/);
    const actual = until(normaliseLines(textOf(example(name))), /^Wiesbaden, den/);
    assert.deepEqual(actual, reference, name);
    assert.equal(compareWords(words(reference), words(actual)).ratio, 1, name);
  }
});

test('the signature block lists every signatory with name, role and organisation', () => {
  const aqb = textOf(example('aqb-2023-werra-meissner-kreis'));
  assert.match(aqb, /^Wiesbaden, den\nKai Klose Staatsminister Hessisches Ministerium für Soziales und Integration\nEschwege, den\nNicole Rathgeber Landrätin des Werra-Meißner-Kreises\n$/m);
  const aqb24 = textOf(example('aqb-2024-landkreis-offenbach'));
  assert.match(aqb24, /Heike Hofmann Staatsministerin Hessisches Ministerium für Arbeit, Integration, Jugend und Soziales\nDietzenbach, den\nCarsten Müller Erster Kreisbeigeordneter des Landkreises Offenbach/);
  const sgb2 = textOf(example('sgb2-2023-landkreis-kassel'));
  assert.match(sgb2, /Wiesbaden, den\nHessisches Ministerium für Soziales und Integration\nBarbara Tiemann Abteilungsleiterin III „Arbeit“\nKassel, den\nLandkreis Kassel\nAndreas Siebert Landrat\nSilke Engler Erste Kreisbeigeordnete\n$/);
});

function aqbInput(partner: string, year: number, extra: object = {}) {
  return {
    type: 'aqb',
    year,
    partner,
    amount: 1000000,
    measures: [{ category: 'qualifizierung', projects: ['Projekt A'] }],
    date: `${year}-03-01`,
    signatories: { partner: [{ name: 'Erika Muster', role: 'Landrätin' }] },
    ...extra,
  };
}

test('grammar: every partner gets its own case forms in every key phrase, for both AQB editions and SGB II', () => {
  const partners = listPartners();
  assert.equal(partners.length, 26);
  for (const p of partners) {
    const Nom = capitalize(p.nominative);
    for (const year of [2023, 2024]) {
      const text = textOf(aqbInput(p.id, year));
      const ministry = year === 2023 ? 'Hessische Ministerium für Soziales und Integration' : 'Hessische Ministerium für Arbeit, Integration, Jugend und Soziales';
      const lines = text.split('\n');
      assert.ok(lines.includes(p.dative), `${p.id} ${year}: title line "${p.dative}"`);
      assert.ok(text.includes(`Ausbildungsstrategie ${p.genitive}.`), `${p.id} ${year}: preamble genitive`);
      assert.ok(text.includes(`Das ${ministry} und ${p.nominative} setzen`), `${p.id} ${year}: § 2 nominative`);
      assert.ok(text.includes(year === 2023 ? `im Kontext der ${p.von} bereits` : `im Kontext der von ${p.dative} bereits`), `${p.id} ${year}: § 2 von-form`);
      assert.ok(text.includes(`stellt ${p.dative} im Jahr ${year} Haushaltsmittel`), `${p.id} ${year}: § 4 dative`);
      assert.ok(lines.includes(`Ziele für die Umsetzung ${year === 2023 ? p.locative : p.genitive}`), `${p.id} ${year}: § 5 heading`);
      assert.ok(text.includes(`${Nom} finanziert mit den Mitteln`), `${p.id} ${year}: § 5 nominative`);
      assert.ok(text.includes(`nach Antragstellung durch ${p.accusative} vom Regierungspräsidium Kassel`), `${p.id} ${year}: accusative`);
      assert.ok(text.includes(`${Nom} beteiligt sich an Umfragen`), `${p.id} ${year}: § 7 nominative`);
      assert.ok(lines.includes(`${p.seat}, den`), `${p.id} ${year}: seat as place of signing`);
      assert.ok(lines.includes(`Erika Muster Landrätin ${p.genitive}`), `${p.id} ${year}: role line with genitive`);
    }
    const sgb2 = textOf({ type: 'sgb2', year: 2023, partner: p.id, date: '2023-01-24', signatories: { partner: [{ name: 'Erika Muster', role: 'Oberbürgermeisterin' }] } });
    assert.ok(sgb2.split('\n').includes(p.dative), `${p.id} sgb2: title dative`);
    assert.ok(sgb2.includes(`${Nom} (im Folgenden: „der kommunale Träger“)`), `${p.id} sgb2: § 2 nominative`);
    assert.ok(sgb2.includes(`(1) ${Nom} beteiligt sich`), `${p.id} sgb2: § 5 nominative`);
    assert.ok(sgb2.split('\n').includes(p.name), `${p.id} sgb2: partner header in the signature block`);
    if (p.gender === 'f') {
      // The classic copy-and-paste error: a dative/genitive form where the nominative belongs.
      for (const t of [textOf(aqbInput(p.id, 2023)), sgb2]) {
        assert.doesNotMatch(t, new RegExp(`(^|\\. |und )Der ${p.name}`, 'm'), `${p.id}: "Der ${p.name}" at sentence start`);
      }
    }
  }
});

test('cities read "Die Stadt Kassel finanziert", "nach Antragstellung durch die Stadt Kassel", "Oberbürgermeisterin der Stadt Kassel"', () => {
  const text = textOf(aqbInput('stadt-kassel', 2023, { signatories: { partner: [{ name: 'Ilona Friedrich', role: 'Oberbürgermeisterin' }] } }));
  assert.ok(text.includes('Die Stadt Kassel finanziert'));
  assert.ok(text.includes('nach Antragstellung durch die Stadt Kassel vom Regierungspräsidium Kassel'));
  assert.ok(text.includes('Ilona Friedrich Oberbürgermeisterin der Stadt Kassel'));
  assert.ok(text.includes('Ziele für die Umsetzung in der Stadt Kassel'));
  assert.ok(textOf(aqbInput('hochtaunuskreis', 2024)).includes('Ziele für die Umsetzung des Hochtaunuskreises'));
});

test('the ministry follows the date: renamed on 18 January 2024, abbreviation overridable', () => {
  const before = textOf(aqbInput('landkreis-fulda', 2024, { date: '2024-01-17', edition: '2023' }));
  const after = textOf(aqbInput('landkreis-fulda', 2024, { date: '2024-01-18' }));
  assert.ok(before.includes('dem Hessischen Ministerium für Soziales und Integration'));
  assert.ok(before.includes('Kai Klose Staatsminister'), 'default ministry signatory = minister in office');
  assert.ok(after.includes('dem Hessischen Ministerium für Arbeit, Integration, Jugend und Soziales'));
  assert.ok(after.includes('Heike Hofmann Staatsministerin'));
  const abbr = textOf(aqbInput('landkreis-fulda', 2024, { ministry: { abbreviation: 'HMAIJS' } }));
  assert.ok(abbr.includes('(HMAIJS) regionale Handlungs'));
  assert.ok(!/\bHMSI\b/.test(abbr));
});

test('editions: latest edition not after the year, explicit edition, § 6 variants', () => {
  const c2025 = composeFromData(aqbInput('landkreis-fulda', 2025), { today: '2026-11-21' });
  assert.equal(c2025.resolved.edition.edition, '2024');
  assert.equal(c2025.resolved.steering, 'exchange');
  const c2016 = composeFromData(aqbInput('landkreis-fulda', 2016), { today: '2026-11-21' });
  assert.equal(c2016.resolved.edition.edition, '2023');
  assert.match(c2016.resolved.warnings.join(), /earliest edition/);
  assert.ok(plainText(c2016.tree).includes('Stefan Grüttner Staatsminister'));
  const dialog2024 = textOf(aqbInput('landkreis-fulda', 2024, { steering: 'dialog' }));
  assert.ok(dialog2024.includes('Zielsteuerungsdialoge\nDer Landkreis Fulda und das HMSI führen im Jahr 2024 einen Zielsteuerungsdialog'));
  const exchange2023 = textOf(aqbInput('landkreis-fulda', 2023, { steering: 'exchange' }));
  assert.ok(exchange2023.includes('Zielsteuerung\nDer Landkreis Fulda und das HMSI bleiben über die Entwicklung des Budgets 2023 im engen Austausch.'));
  assert.throws(() => composeFromData(aqbInput('landkreis-fulda', 2023, { edition: '2022' })), (e: ValidationError) =>
    e.problems.some((p) => p.path === 'edition' && /unknown edition "2022".*2023, 2024/.test(p.message)),
  );
});

test('SGB II reporting deadlines follow the year', () => {
  const text = textOf({ type: 'sgb2', year: 2027, partner: 'stadt-kassel', signatories: { partner: [{ name: 'X Y', role: 'Oberbürgermeister' }] } });
  assert.equal((text.match(/bis zum 15\.\sFebruar\s2028/g) ?? []).length, 2);
  assert.ok(!text.includes('2024'));
  assert.ok(text.startsWith('Zielvereinbarung 2027\n'));
});

test('default date: today when today lies in the year, else 1 July of the year', () => {
  const input = { ...aqbInput('landkreis-fulda', 2026), date: undefined };
  assert.equal(composeFromData(input, { today: '2026-11-21' }).resolved.date, '2026-11-21');
  assert.equal(composeFromData({ ...input, year: 2025 }, { today: '2026-11-21' }).resolved.date, '2025-07-01');
});

test('values never become structure: markup characters in projects and names print literally', () => {
  const tricky = ['**Neu** # 1', '1. Preis', '- kein Punkt', '<b>fett</b> &amp; {{x}} [link](http://x) `code` \\ _u_', '> Zitat', '::: title'];
  const c = composeFromData(aqbInput('landkreis-fulda', 2023, { measures: [{ category: 'ausbildung', projects: tricky }], signatories: { partner: [{ name: '*Erika* {{Muster}}', role: 'Landrätin <i>' }] } }));
  const list = c.tree.blocks.find((b) => b.kind === 'list');
  assert.ok(list && list.kind === 'list');
  const items = list.items[0].children!.items.map((i) => i.runs);
  assert.deepEqual(items.map((runs) => runs.map((r) => r.text).join('')), tricky);
  assert.ok(items.every((runs) => runs.every((r) => !r.bold && !r.italic)));
  assert.ok(plainText(c.tree).includes('*Erika* {{Muster}} Landrätin <i> des Landkreises Fulda'));
});

test('measures are printed in canonical category order with canonical titles, only those given', () => {
  const text = textOf(aqbInput('landkreis-fulda', 2023, {
    measures: [
      { category: 'weiterbildung', projects: ['W'] },
      { category: 'ausbildungsvorbereitung', projects: ['V'] },
    ],
  }));
  const i = text.indexOf('Ausbildungsvorbereitung\nV\nWeiterbildungsmaßnahmen für Personal der Landkreise und kreisfreien Städte');
  assert.ok(i > 0, text);
  assert.ok(!text.includes('Qualifizierungsprojekte zur Arbeitsmarktintegration, Fachkräftesicherung'));
});

test('an unlisted partner object with its own case forms', () => {
  const text = textOf(aqbInput('x', 2023, {
    partner: {
      id: 'stadt-musterstadt', name: 'Stadt Musterstadt', gender: 'f', nominative: 'die Stadt Musterstadt', accusative: 'die Stadt Musterstadt',
      dative: 'der Stadt Musterstadt', genitive: 'der Stadt Musterstadt', locative: 'in der Stadt Musterstadt', seat: 'Musterstadt',
    },
  }));
  assert.ok(text.includes('Die Stadt Musterstadt finanziert'));
  assert.ok(text.includes('im Kontext der von der Stadt Musterstadt bereits'));
  assert.ok(text.includes('Musterstadt, den'));
});

test('German number and date formats', () => {
  assert.deepEqual([[], ['A'], ['A', 'B'], ['A', 'B', 'C']].map(joinGerman), ['', 'A', 'A und B', 'A, B und C']);
  // Hessen's local time, summer and winter, for stamps, mails, pages and the Signaturprotokoll.
  const summer = new Date('2023-05-30T12:05:09Z');
  assert.equal(berlinDateTime(summer), '30.05.2023, 14:05 MESZ');
  assert.equal(berlinDateTime(summer, { seconds: true }), '30.05.2023, 14:05:09 MESZ');
  assert.equal(berlinDateTime(new Date('2026-12-21T23:30:00Z'), { zone: false }), '22.12.2026, 00:30');
  assert.equal(berlinDate(new Date('2026-12-21T23:30:00Z')), '22.12.2026');
  assert.equal(formatEuro(444000), '444.000 Euro');
  assert.equal(formatEuro(1341400), '1.341.400 Euro');
  assert.equal(formatEuro(27700000.5), '27.700.000,50 Euro');
  assert.equal(formatEuro(0.07), '0,07 Euro');
  assert.equal(formatDate('2023-05-30', 'long'), '30. Mai 2023');
  assert.equal(formatDate('2023-01-24', 'numeric'), '24.01.2023');
  assert.equal(formatDate('2024-03-01', 'long'), '1. März 2024');
});
